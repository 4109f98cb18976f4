/* lapic.h: the local APIC register page of one vCPU (xAPIC MMIO mode,
 * SDM Vol 3A 10.4). Registers are stored and read back; no interrupts,
 * IPIs or timer yet (they come with SMP). The machine maps the page where
 * the vCPU's IA32_APIC_BASE says, only while its global-enable bit is 1. */
#ifndef PINVM_LAPIC_H
#define PINVM_LAPIC_H

#include <stdint.h>

#include "device.h"

#define LAPIC_DEFAULT_BASE 0xFEE00000ull
#define LAPIC_VERSION      0x00050014u /* max LVT entry 5, version 0x14 */

enum { LVT_CMCI, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1,
       LVT_ERROR, LVT_NUM };

struct lapic {
    uint8_t apic_id; /* configuration: reset value of the ID register */
    uint32_t id, tpr, ldr, dfr, svr, esr, icr_lo, icr_hi;
    uint32_t lvt[LVT_NUM];
    uint32_t timer_initial, timer_divide;
};

extern const struct device_ops lapic_ops;

void lapic_init(struct lapic *a, uint8_t apic_id);
void lapic_reset(void *dev);
/* off is within the 4 KiB page. */
uint64_t lapic_read(void *dev, uint64_t off, int size);
void lapic_write(void *dev, uint64_t off, int size, uint64_t val);

#endif
