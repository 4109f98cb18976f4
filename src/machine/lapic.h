/* lapic.h: the local APIC of one vCPU (SDM Vol 3A ch. 10): xAPIC (MMIO
 * page) and x2APIC (MSRs 0x800-0x8ff, 10.12) modes, IRR/ISR/TMR with
 * priorities and EOI, the timer (one-shot, periodic and TSC-deadline, on
 * the machine's virtual clock) and the ICR,
 * whose writes the machine turns into IPIs (smp.c). It also holds the
 * vCPU's INIT state: running, or waiting for a SIPI (SDM 8.4, 10.4.7.3).
 * The machine maps the page where the vCPU's IA32_APIC_BASE says, only
 * while its global-enable bit is 1. */
#ifndef PINVM_LAPIC_H
#define PINVM_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define LAPIC_DEFAULT_BASE 0xFEE00000ull
#define LAPIC_VERSION      0x00050014u /* max LVT entry 5, version 0x14 */

enum { LVT_CMCI, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1,
       LVT_ERROR, LVT_NUM };

#define LVT_MASKED        (1u << 16)
#define LVT_TIMER_PERIODIC (1u << 17)
#define LVT_TIMER_MODE     (3u << 17)
#define LVT_TIMER_TSCDL    (2u << 17) /* TSC-deadline (10.5.4.1) */
#define SVR_ENABLE        (1u << 8)

/* ICR low word (SDM figure 10-12) */
#define ICR_VECTOR      0x000000ffu
#define ICR_DM_SHIFT    8
#define ICR_DM_MASK     (7u << ICR_DM_SHIFT)
#define ICR_DESTMODE    (1u << 11)  /* 1 = logical */
#define ICR_LEVEL       (1u << 14)  /* 1 = assert */
#define ICR_TRIGGER     (1u << 15)  /* 1 = level */
#define ICR_SH_SHIFT    18
#define ICR_SH_MASK     (3u << ICR_SH_SHIFT)
enum { DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5,
       DM_SIPI = 6, DM_EXTINT = 7 };
enum { SH_NONE = 0, SH_SELF = 1, SH_ALL = 2, SH_OTHERS = 3 };

/* ESR bits (SDM figure 10-9) */
#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)
#define ESR_ILLEGAL_REG  (1u << 7)

/* INIT state of the vCPU (run_state). */
enum { LAPIC_RUN = 0, LAPIC_WAIT_SIPI = 1 };

struct lapic;
/* The machine's side: the ICR was written (send the IPI it describes),
 * and the virtual clock (monotonic ticks; the timer counts one per tick
 * before the divider). */
struct lapic_host {
    void *opaque;
    void (*send_ipi)(void *opaque, struct lapic *src, uint32_t icr_lo,
                     uint32_t icr_hi);
    uint64_t (*now)(void *opaque);
    /* EOI of a level-triggered vector (for the I/O APIC); may be NULL. */
    void (*eoi)(void *opaque, int vec);
    /* The TSC-deadline timer fired at clock tick `now` for deadline tsc:
     * the machine keeps the vCPU's TSC >= tsc. May be NULL. */
    void (*tsc_fired)(void *opaque, struct lapic *a, uint64_t tsc);
};

struct lapic {
    uint8_t apic_id; /* configuration: reset value of the ID register */
    /* x2APIC mode (IA32_APIC_BASE.EXTD, mirrored by lapic_set_mode);
     * kept by INIT (SDM 10.12.5.1), cleared by reset. */
    bool x2apic;
    bool bsp;        /* configuration: starts running (not WAIT_SIPI) */
    const struct lapic_host *host; /* configuration; may be NULL (tests) */

    uint32_t id, tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi;
    uint32_t lvt[LVT_NUM];
    uint32_t timer_initial, timer_divide;
    uint32_t irr[8], isr[8], tmr[8];
    uint64_t timer_deadline; /* clock tick of the next expiry; 0: not armed */
    uint64_t tsc_deadline;   /* IA32_TSC_DEADLINE as armed; 0: not armed */

    /* INIT/SIPI: handled by the machine between slices, never inside the
     * target's instruction (smp.c). */
    uint8_t run_state;   /* LAPIC_RUN or LAPIC_WAIT_SIPI */
    bool init_pending;
    int16_t sipi_pending; /* startup vector, -1 if none */
};

extern const struct device_ops lapic_ops;

void lapic_init(struct lapic *a, uint8_t apic_id, bool bsp,
                const struct lapic_host *host);
void lapic_reset(void *dev);
/* INIT (SDM 10.4.7.3): like reset, but the ID register is kept and the
 * vCPU goes to the wait-for-SIPI state unless it is the BSP. */
void lapic_init_reset(struct lapic *a);
/* off is within the 4 KiB page. */
uint64_t lapic_read(void *dev, uint64_t off, int size);
void lapic_write(void *dev, uint64_t off, int size, uint64_t val);

/* An interrupt arrives (fixed/lowest-priority delivery): set IRR. Vectors
 * 0-15 are illegal (SDM 10.5.3): latched as a receive error, dropped. */
void lapic_accept(struct lapic *a, int vec, bool level);
/* The vector the CPU would take now (highest IRR above the processor
 * priority, SDM 10.8.3.1), or -1. */
int lapic_pending(const struct lapic *a);
/* The CPU takes vec: IRR -> ISR. */
void lapic_ack(struct lapic *a, int vec);
/* Fire the timer if its deadline has come (between slices). */
void lapic_timer_update(struct lapic *a, uint64_t now);
/* The clock tick the timer next fires at, or 0 if firing would change
 * nothing (LVT masked, or its vector already waiting in IRR). */
uint64_t lapic_timer_next(const struct lapic *a);
/* Destination matching for an IPI (SDM 10.6.2): physical (APIC ID, 0xFF
 * = all) or logical (flat or cluster model against LDR/DFR). An APIC in
 * x2APIC mode matches 8-bit messages (I/O APIC) physically by its ID,
 * logically only on 0xFF or cluster 0. */
bool lapic_match_dest(const struct lapic *a, uint8_t dest, bool logical);
/* The same for an x2APIC-format message (SDM 10.12.9): 32-bit physical ID
 * (0xFFFFFFFF = all) or logical cluster (31:16) + bitmap (15:0) against
 * the x2APIC LDR derived from the ID (10.12.10.2). */
bool lapic_match_dest_x2(const struct lapic *a, uint32_t dest, bool logical);

/* IA32_APIC_BASE changed from old to new (already validated by the CPU):
 * entering x2APIC mode, or leaving it (the xAPIC ID returns to the
 * initial APIC ID). */
void lapic_set_mode(struct lapic *a, uint64_t old_base, uint64_t new_base);
/* x2APIC register MSRs (0x800-0x8ff, SDM 10.12.1.2 table 10-6). Returns
 * 0, or -1 for #GP: not in x2APIC mode, a reserved or write-only register
 * read, a read-only one written, bits 63:32 set (except the ICR), a
 * non-zero EOI/ESR write, reserved SELF IPI bits. */
int lapic_msr_read(struct lapic *a, uint32_t msr, uint64_t *val);
int lapic_msr_write(struct lapic *a, uint32_t msr, uint64_t val);
/* IA32_TSC_DEADLINE (10.5.4.1). Reads the armed value (0 when disarmed
 * or not in TSC-deadline mode). A write in TSC-deadline mode arms the
 * timer for TSC value `val` (0 disarms); tsc is the vCPU's TSC now, and
 * the deadline maps onto the clock as now() + (val - tsc). Elsewhere
 * writes are ignored. */
uint64_t lapic_tsc_deadline_read(const struct lapic *a);
void lapic_tsc_deadline_write(struct lapic *a, uint64_t val, uint64_t tsc);

#endif
