/* machine.h: the PC. RAM at physical 0, the vCPUs, port-I/O and MMIO
 * dispatch, and the devices; nothing global, everything hangs off one
 * struct machine passed explicitly.
 *
 *   ports  0x20-0x21, 0xA0-0xA1  8259 PIC pair (INTR to the BSP's LINT0)
 *          0x40-0x43             8254 PIT (IRQ0)
 *          0x60, 0x64            i8042 (reset line only)
 *          0x80, 0xED            POST / delay ports: ignored
 *          0x92                  System Control Port A (fast reset)
 *          0xF4 (iosize 4)       isa-debug-exit (-device moves it)
 *          0x3F8-0x3FF           COM1, 16550 UART
 *          0x510-0x511           fw_cfg (legacy I/O)
 *          0xB2-0xB3             APM control (write: SMI) / status
 *          0xCF9                 PIIX reset control register
 *          anything else         reads all ones, writes ignored
 *   MMIO   each vCPU's local APIC page where its IA32_APIC_BASE puts it
 *          (default 0xFEE00000), while its global-enable bit is set;
 *          0xFEC00000: the I/O APIC; anything else outside RAM reads all
 *          ones, writes ignored.
 *   ISA IRQ n goes to 8259 input n and I/O APIC input n (IRQ0: input 2).
 *   BIOS   an MP table (floating pointer at 0xF0000) and ACPI RSDP (at
 *          0xF1000), RSDT and MADT naming the vCPUs.
 */
#ifndef PINVM_MACHINE_H
#define PINVM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "boot/multiboot.h"
#include "cpu/cpu.h"
#include "pin/audit.h"
#include "util/log.h"

#include "apm.h"
#include "chardev.h"
#include "cmdline.h"
#include "debugexit.h"
#include "device.h"
#include "fwcfg.h"
#include "i8042.h"
#include "iomap.h"
#include "ioapic.h"
#include "lapic.h"
#include "pic8259.h"
#include "pit8254.h"
#include "port92.h"
#include "resetctl.h"
#include "smp.h"
#include "sysreq.h"
#include "uart16550.h"

/* vCPUs run interleaved on one host thread (docs/smp.md). */
#define MACHINE_MAX_CPUS 64
#define MACHINE_MAX_DEVICES (16 + MACHINE_MAX_CPUS)
/* Instructions per cpu_run() call with one vCPU: a slice short enough to
 * notice host events, long enough that the loop costs nothing. */
#define MACHINE_SLICE 100000
/* With several vCPUs, each runs this many instructions per turn: short,
 * so a vCPU spinning on a lock or flag hands over soon (docs/smp.md). */
#ifndef MACHINE_SMP_QUANTUM
#define MACHINE_SMP_QUANTUM 2000
#endif

#define APIC_BASE_BSP    (1ull << 8)
#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_BASE_ADDR   0x000ffffffffff000ull

struct ctl; /* QMP control socket (src/ctl), NULL without -qmp */

struct machine_device {
    const struct device_ops *ops;
    void *dev;
};

struct machine {
    const struct pinvm_config *cfg;

    uint8_t *ram;
    uint64_t ram_size;
    uint8_t *code_pages; /* one byte per RAM page (cpu.h) */

    int ncpus;
    struct cpu *cpus[MACHINE_MAX_CPUS];
    struct lapic lapic[MACHINE_MAX_CPUS];
    struct lapic_host lapic_host; /* smp.c: IPIs and the clock */
    uint64_t vclock;      /* virtual clock at the start of this round */
    int cur_cpu;          /* vCPU in cpu_run(), -1 between slices */
    uint64_t slice_start; /* its icount when its slice began */
    struct cpu_bus bus;

    struct pv_log log;
    struct pin_audit audit;

    struct iomap io;
    struct iomap mmio;
    struct machine_device devs[MACHINE_MAX_DEVICES];
    int ndevs;

    struct chardev serial_out;
    struct uart16550 com1;
    struct debugexit dbgexit;
    struct pic8259 pic[2];
    bool pic_offered;       /* smp.c: the BSP's pending IRQ is the PIC's */
    struct ioapic ioapic;
    struct ioapic_host ioapic_host;
    struct pit8254 pit;
    struct fwcfg fwcfg;
    struct i8042 kbd;
    struct port92 port92;
    struct resetctl rcr;
    struct apm apm;         /* ports 0xB2/0xB3: SMI (apm.c) */

    struct sysreq req;      /* pending device request (exit/reset) */
    struct mb_result boot;  /* what the kernel load produced */
    /* RAM the loader wrote, restored on reset: [image_start, end) and the
     * low area (GDT, memory map, info structure). */
    uint8_t *boot_blob;
    uint8_t boot_low[MB_LOW_END - MB_LOW_START];
    uint64_t resets;        /* guest-requested resets so far */
    uint64_t icount_at_boot;/* vCPU 0's icount at the last (re)boot */
    struct ctl *ctl;        /* -qmp: see src/ctl/qmp_machine.h */
};

/* Build the machine from a parsed config: RAM, devices, dispatch tables
 * (no vCPU yet). The serial backend is opened here (file:PATH). Returns 0
 * or -1 with a one-line message in err. */
int machine_init(struct machine *m, const struct pinvm_config *cfg,
                 char *err, size_t errlen);
void machine_destroy(struct machine *m);

/* Port I/O and MMIO as the vCPU sees them (also the cpu_bus callbacks).
 * c may be NULL for host-side accesses (tests): no LAPIC then. */
uint32_t machine_io_in(struct machine *m, struct cpu *c, uint16_t port,
                       int size);
void machine_io_out(struct machine *m, struct cpu *c, uint16_t port,
                    int size, uint32_t val);
uint64_t machine_mmio_read(struct machine *m, struct cpu *c, uint64_t pa,
                           int size);
void machine_mmio_write(struct machine *m, struct cpu *c, uint64_t pa,
                        int size, uint64_t val);

/* Between slices: move host input that is ready into COM1's receiver,
 * only as much as it can hold (the host side waits, nothing is lost). */
void machine_poll_input(struct machine *m);

/* Every device's state, in device-list order, each framed as
 *   u8 name length, name, u32 blob length, blob
 * so that a load can name the device whose state is bad. */
void machine_save_devices(const struct machine *m, struct vmstate *s);
/* Returns 0, or -1 with a one-line message (devices that were not loaded
 * are left as they were; the one that failed is in its reset state). */
int machine_load_devices(struct machine *m, struct vmstate *s, char *err,
                         size_t errlen);

/* ISA interrupt line n (0..15) to level: an irq_line set() callback with
 * the machine as opaque. */
void machine_isa_irq(void *opaque, int n, int level);

/* Every device's reset (the vCPUs are machine_run.c's). */
void machine_reset_devices(struct machine *m);

/* ---- machine_run.c ---- */
/* Create the vCPUs, load the kernel and enter it. 0 or -1 + err. */
int machine_start(struct machine *m, char *err, size_t errlen);
/* System reset: devices, vCPUs (pins cleared), kernel image and boot
 * information restored as first loaded and re-entered; RAM otherwise kept,
 * as QEMU does with -kernel. */
int machine_reset(struct machine *m, char *err, size_t errlen);
/* Run until the guest ends the machine; returns the host exit status. */
int machine_run(struct machine *m);

/* ---- mptable.c ---- */
#define MPTABLE_ADDR 0xF0000u
#define ACPI_ADDR    0xF1000u
/* Write the MP floating pointer and configuration table, and the ACPI
 * RSDP, RSDT and MADT, into RAM (at every boot, as the firmware would). */
void mptable_write(struct machine *m);

/* ---- cpudump.c ---- */
/* QEMU-style register dump (as -d cpu_reset prints). */
void cpu_dump_state(struct cpu *c, FILE *f);

#endif
