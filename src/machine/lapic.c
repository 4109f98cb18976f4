/* lapic.c: see lapic.h. Register offsets from SDM Vol 3A table 10-1;
 * access rules as QEMU's hw/intc/apic.c: registers are 32 bits wide at
 * 16-byte strides, accesses narrower than 4 bytes read 0 and are ignored
 * on write, reserved registers read 0. */
#include "lapic.h"

#include <string.h>

#include "vmstate.h"

#define LVT_MASKED  (1u << 16)
#define SVR_ENABLE  (1u << 8)

/* Writable bits of each LVT (vector, delivery mode, pin polarity, trigger
 * mode, mask, timer mode) - SDM figure 10-8. */
static const uint32_t lvt_bits[LVT_NUM] = {
    [LVT_CMCI] = 0x000107ff, [LVT_TIMER] = 0x000700ff,
    [LVT_THERMAL] = 0x000107ff, [LVT_PERF] = 0x000107ff,
    [LVT_LINT0] = 0x0001a7ff, [LVT_LINT1] = 0x0001a7ff,
    [LVT_ERROR] = 0x000100ff,
};

void lapic_init(struct lapic *a, uint8_t apic_id)
{
    memset(a, 0, sizeof *a);
    a->apic_id = apic_id;
    lapic_reset(a);
}

void lapic_reset(void *dev)
{
    struct lapic *a = dev;
    uint8_t apic_id = a->apic_id;
    memset(a, 0, sizeof *a);
    a->apic_id = apic_id;
    a->id = (uint32_t)apic_id << 24;
    a->dfr = 0xffffffffu; /* flat model */
    a->svr = 0xff;        /* software-disabled, spurious vector 0xFF */
    for (int i = 0; i < LVT_NUM; i++)
        a->lvt[i] = LVT_MASKED;
}

/* Register index (offset >> 4) of each LVT. */
static int lvt_index(unsigned reg)
{
    switch (reg) {
    case 0x2f: return LVT_CMCI;
    case 0x32: return LVT_TIMER;
    case 0x33: return LVT_THERMAL;
    case 0x34: return LVT_PERF;
    case 0x35: return LVT_LINT0;
    case 0x36: return LVT_LINT1;
    case 0x37: return LVT_ERROR;
    }
    return -1;
}

uint64_t lapic_read(void *dev, uint64_t off, int size)
{
    struct lapic *a = dev;
    unsigned reg = (unsigned)(off >> 4) & 0xff;
    int l;
    if (size < 4)
        return 0;
    switch (reg) {
    case 0x02: return a->id;
    case 0x03: return LAPIC_VERSION;
    case 0x08: return a->tpr;
    case 0x09: return 0;            /* APR */
    case 0x0a: return a->tpr & 0xf0;/* PPR: no interrupt in service */
    case 0x0d: return a->ldr;
    case 0x0e: return a->dfr;
    case 0x0f: return a->svr;
    case 0x28: return a->esr;
    case 0x30: return a->icr_lo;
    case 0x31: return a->icr_hi;
    case 0x38: return a->timer_initial;
    case 0x39: return 0;            /* current count: timer not running */
    case 0x3e: return a->timer_divide;
    }
    /* ISR 0x10-0x17, TMR 0x18-0x1f, IRR 0x20-0x27: nothing pending. */
    l = lvt_index(reg);
    return l >= 0 ? a->lvt[l] : 0;
}

void lapic_write(void *dev, uint64_t off, int size, uint64_t val64)
{
    struct lapic *a = dev;
    unsigned reg = (unsigned)(off >> 4) & 0xff;
    uint32_t val = (uint32_t)val64;
    int l;
    if (size < 4)
        return;
    switch (reg) {
    case 0x02: a->id = val & 0xff000000u; return;
    case 0x08: a->tpr = val & 0xff; return;
    case 0x0b: return; /* EOI: nothing in service yet */
    case 0x0d: a->ldr = val & 0xff000000u; return;
    case 0x0e: a->dfr = val | 0x0fffffffu; return;
    case 0x0f:
        a->svr = val & 0x1ff;
        /* Software disable masks every LVT (SDM 10.4.7.2). */
        if (!(a->svr & SVR_ENABLE))
            for (int i = 0; i < LVT_NUM; i++)
                a->lvt[i] |= LVT_MASKED;
        return;
    case 0x28: a->esr = 0; return; /* write re-arms; no errors latched */
    case 0x30: a->icr_lo = val & 0x000cefffu; return; /* no IPIs yet */
    case 0x31: a->icr_hi = val & 0xff000000u; return;
    case 0x38: a->timer_initial = val; return;
    case 0x3e: a->timer_divide = val & 0xb; return;
    }
    l = lvt_index(reg);
    if (l >= 0) {
        a->lvt[l] = val & lvt_bits[l];
        if (!(a->svr & SVR_ENABLE))
            a->lvt[l] |= LVT_MASKED;
    }
}

static void lapic_save(const void *dev, struct vmstate *s)
{
    const struct lapic *a = dev;
    vmstate_put_u32(s, a->id);
    vmstate_put_u32(s, a->tpr);
    vmstate_put_u32(s, a->ldr);
    vmstate_put_u32(s, a->dfr);
    vmstate_put_u32(s, a->svr);
    vmstate_put_u32(s, a->esr);
    vmstate_put_u32(s, a->icr_lo);
    vmstate_put_u32(s, a->icr_hi);
    for (int i = 0; i < LVT_NUM; i++)
        vmstate_put_u32(s, a->lvt[i]);
    vmstate_put_u32(s, a->timer_initial);
    vmstate_put_u32(s, a->timer_divide);
}

static int lapic_load(void *dev, struct vmstate *s)
{
    struct lapic *a = dev;
    struct lapic t = *a;
    t.id = vmstate_get_u32(s);
    t.tpr = vmstate_get_u32(s);
    t.ldr = vmstate_get_u32(s);
    t.dfr = vmstate_get_u32(s);
    t.svr = vmstate_get_u32(s);
    t.esr = vmstate_get_u32(s);
    t.icr_lo = vmstate_get_u32(s);
    t.icr_hi = vmstate_get_u32(s);
    for (int i = 0; i < LVT_NUM; i++)
        t.lvt[i] = vmstate_get_u32(s);
    t.timer_initial = vmstate_get_u32(s);
    t.timer_divide = vmstate_get_u32(s);
    if (!vmstate_ok(s)) {
        lapic_reset(a);
        return -1;
    }
    *a = t;
    return 0;
}

const struct device_ops lapic_ops = {
    .name = "lapic",
    .reset = lapic_reset,
    .save = lapic_save,
    .load = lapic_load,
};
