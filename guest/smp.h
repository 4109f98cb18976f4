/* smp.h: multiprocessor support for test kernels: the local APIC (xAPIC
 * MMIO at 0xFEE00000), IPIs, and AP bring-up with the INIT-SIPI-SIPI
 * protocol (SDM Vol 3A 8.4.4). Works on pinvm and QEMU (-smp N).
 *
 * An AP started with smp_start_ap() runs the kit's trampoline (copied to
 * SMP_TRAMPOLINE, below 1 MiB: real mode -> protected mode -> 64-bit mode
 * with the BSP's page tables, the kit's GDT and IDT, CR0 = PG|WP|ET|PE,
 * CR4 = PAE, EFER = LME (+NXE as on the BSP)), then calls fn(cpu, arg) on
 * its own stack with interrupts off. When fn returns the AP parks (CLI;
 * HLT) with smp_cpu_done(cpu) true. The AP has no TR loaded (exceptions
 * without an IST work: ASM_TRY, handle_exception), and must not print:
 * only the BSP writes to the serial port. Start APs one at a time (the
 * trampoline's parameters are shared); smp_start_ap() waits until the AP
 * has reported in. */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "processor.h"

#define SMP_MAX_CPUS    64
#define SMP_TRAMPOLINE  0x70000u  /* SIPI vector 0x70 */
#define SMP_SIPI_VECTOR (SMP_TRAMPOLINE >> 12)

#define APIC_BASE   0xFEE00000ul
#define APIC_ID     0x020
#define APIC_VER    0x030
#define APIC_TPR    0x080
#define APIC_PPR    0x0a0
#define APIC_EOI    0x0b0
#define APIC_LDR    0x0d0
#define APIC_DFR    0x0e0
#define APIC_SVR    0x0f0
#define APIC_ISR    0x100
#define APIC_TMR    0x180
#define APIC_IRR    0x200
#define APIC_ESR    0x280
#define APIC_ICR    0x300
#define APIC_ICR2   0x310
#define APIC_LVTT   0x320
#define APIC_LVT0   0x350
#define APIC_LVT1   0x360
#define APIC_LVTERR 0x370
#define APIC_TMICT  0x380
#define APIC_TMCCT  0x390
#define APIC_TDCR   0x3e0

#define APIC_SVR_ENABLE   (1u << 8)
#define APIC_LVT_MASKED   (1u << 16)
#define APIC_LVT_PERIODIC (1u << 17)

/* ICR low word */
#define APIC_DM_FIXED    0x000
#define APIC_DM_LOWEST   0x100
#define APIC_DM_SMI      0x200
#define APIC_DM_NMI      0x400
#define APIC_DM_INIT     0x500
#define APIC_DM_STARTUP  0x600
#define APIC_DEST_LOGICAL (1u << 11)
#define APIC_ICR_BUSY    (1u << 12)
#define APIC_INT_ASSERT  (1u << 14)
#define APIC_INT_LEVEL   (1u << 15)
#define APIC_DEST_SELF   (1u << 18)
#define APIC_DEST_ALL    (2u << 18)
#define APIC_DEST_OTHERS (3u << 18)

static inline void cpu_relax(void) { asm volatile("pause" ::: "memory"); }

static inline u32 apic_read(u32 reg)
{
    return *(volatile u32 *)(APIC_BASE + reg);
}

static inline void apic_write(u32 reg, u32 v)
{
    *(volatile u32 *)(APIC_BASE + reg) = v;
}

/* This CPU's APIC ID (ID register bits 31:24). */
static inline u32 apic_id(void) { return apic_read(APIC_ID) >> 24; }

/* Software-enable this CPU's APIC (SVR bit 8, spurious vector 0xFF). */
void apic_enable(void);
/* Send an IPI: ICR high = dest << 24, then ICR low = lo; waits until the
 * delivery status is idle. */
void apic_send_ipi(u32 dest, u32 lo);
static inline void apic_eoi(void) { apic_write(APIC_EOI, 0); }

/* Number of CPUs the firmware reports (fw_cfg FW_CFG_NB_CPUS). */
int smp_cpu_count(void);

typedef void (*smp_fn)(int cpu, void *arg);
/* INIT-SIPI-SIPI the CPU with APIC ID apic_id and run fn(cpu, arg) on it
 * (cpu: the caller's index, 1..SMP_MAX_CPUS-1, selects the stack).
 * Returns 0 once the AP is in fn, -1 if it never reported in. */
int smp_start_ap(int cpu, u32 apic_id, smp_fn fn, void *arg);
/* Start CPUs 1..smp_cpu_count()-1 in turn (APIC ID = index, as QEMU and
 * pinvm number them). Returns how many reported in. */
int smp_boot_aps(smp_fn fn, void *arg);
/* fn has returned on that AP (it is parked). */
bool smp_cpu_done(int cpu);
/* Wait (bounded) until smp_cpu_done(cpu); returns it. */
bool smp_wait_done(int cpu);
/* INIT only: the AP drops whatever it runs and waits for a SIPI. */
void smp_send_init(u32 apic_id);
/* SIPI only, with a startup vector of the caller's choosing. */
void smp_send_sipi(u32 apic_id, u8 vector);

/* A bounded spin: true once *flag == want, false after many tries. */
bool smp_wait_u32(volatile u32 *flag, u32 want);

#endif
