/* lapic.c: see lapic.h. Register offsets from SDM Vol 3A table 10-1;
 * access rules as QEMU's hw/intc/apic.c: registers are 32 bits wide at
 * 16-byte strides, accesses narrower than 4 bytes read 0 and are ignored
 * on write, reserved registers read 0. */
#include "lapic.h"

#include <stddef.h>
#include <string.h>

#include "vmstate.h"

/* Writable bits of each LVT (vector, delivery mode, pin polarity, trigger
 * mode, mask, timer mode) - SDM figure 10-8. Timer modes (bits 18:17):
 * one-shot, periodic, TSC-deadline (CPUID.1:ECX[24] is advertised). */
static const uint32_t lvt_bits[LVT_NUM] = {
    [LVT_CMCI] = 0x000107ff, [LVT_TIMER] = 0x000700ff,
    [LVT_THERMAL] = 0x000107ff, [LVT_PERF] = 0x000107ff,
    [LVT_LINT0] = 0x0001a7ff, [LVT_LINT1] = 0x0001a7ff,
    [LVT_ERROR] = 0x000100ff,
};

void lapic_init(struct lapic *a, uint8_t apic_id, bool bsp,
                const struct lapic_host *host)
{
    memset(a, 0, sizeof *a);
    a->apic_id = apic_id;
    a->bsp = bsp;
    a->host = host;
    lapic_reset(a);
}

static void regs_reset(struct lapic *a)
{
    memset(&a->tpr, 0, sizeof *a - offsetof(struct lapic, tpr));
    a->dfr = 0xffffffffu; /* flat model */
    a->svr = 0xff;        /* software-disabled, spurious vector 0xFF */
    for (int i = 0; i < LVT_NUM; i++)
        a->lvt[i] = LVT_MASKED;
    a->sipi_pending = -1;
    a->run_state = a->bsp ? LAPIC_RUN : LAPIC_WAIT_SIPI;
}

void lapic_reset(void *dev)
{
    struct lapic *a = dev;
    a->id = (uint32_t)a->apic_id << 24;
    a->x2apic = false;
    regs_reset(a);
}

void lapic_init_reset(struct lapic *a)
{
    /* SDM 10.4.7.3: the APIC ID is unaffected by INIT. */
    regs_reset(a);
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

static int highest(const uint32_t v[8])
{
    for (int i = 7; i >= 0; i--)
        if (v[i])
            return i * 32 + 31 - __builtin_clz(v[i]);
    return -1;
}

static void set_bit(uint32_t v[8], int n) { v[n >> 5] |= 1u << (n & 31); }
static void clr_bit(uint32_t v[8], int n) { v[n >> 5] &= ~(1u << (n & 31)); }

/* Processor priority (SDM 10.8.3.1). */
static uint32_t ppr(const struct lapic *a)
{
    int isrv = highest(a->isr);
    uint32_t ic = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    return (a->tpr & 0xf0) >= ic ? a->tpr & 0xff : ic;
}

/* Divide configuration (SDM figure 10-10): bits 0, 1 and 3. */
static uint64_t divisor(const struct lapic *a)
{
    unsigned v = (a->timer_divide & 3) | ((a->timer_divide >> 1) & 4);
    return 1ull << ((v + 1) & 7);
}

static uint64_t now(const struct lapic *a)
{
    return a->host && a->host->now ? a->host->now(a->host->opaque) : 0;
}

static uint32_t current_count(const struct lapic *a)
{
    uint64_t t = now(a), d = divisor(a);
    if (!a->timer_deadline || t >= a->timer_deadline)
        return 0;
    uint64_t left = (a->timer_deadline - t + d - 1) / d;
    return left > a->timer_initial ? a->timer_initial : (uint32_t)left;
}

void lapic_accept(struct lapic *a, int vec, bool level)
{
    vec &= 0xff;
    if (vec < 16) {
        a->esr_pending |= ESR_RECV_ILLEGAL;
        return;
    }
    set_bit(a->irr, vec);
    if (level)
        set_bit(a->tmr, vec);
    else
        clr_bit(a->tmr, vec);
}

int lapic_pending(const struct lapic *a)
{
    if (!(a->svr & SVR_ENABLE))
        return -1;
    int v = highest(a->irr);
    if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr(a) & 0xf0))
        return -1;
    return v;
}

void lapic_ack(struct lapic *a, int vec)
{
    vec &= 0xff;
    clr_bit(a->irr, vec);
    set_bit(a->isr, vec);
}

static bool tsc_mode(const struct lapic *a)
{
    return (a->lvt[LVT_TIMER] & LVT_TIMER_MODE) == LVT_TIMER_TSCDL;
}

void lapic_timer_update(struct lapic *a, uint64_t t)
{
    if (!a->timer_deadline || t < a->timer_deadline)
        return;
    uint32_t lvt = a->lvt[LVT_TIMER];
    if (!(lvt & LVT_MASKED))
        lapic_accept(a, (int)(lvt & 0xff), false);
    if (tsc_mode(a)) {
        /* Fired: IA32_TSC_DEADLINE reads 0 again (10.5.4.1). The guest
         * must see TSC >= the deadline from now on. */
        uint64_t tsc = a->tsc_deadline;
        a->tsc_deadline = 0;
        a->timer_deadline = 0;
        if (a->host && a->host->tsc_fired)
            a->host->tsc_fired(a->host->opaque, a, tsc);
    } else if ((lvt & LVT_TIMER_PERIODIC) && a->timer_initial) {
        /* Periods missed while nobody looked collapse into one interrupt
         * (the IRR bit is a single bit anyway). */
        uint64_t period = (uint64_t)a->timer_initial * divisor(a);
        a->timer_deadline += period * ((t - a->timer_deadline) / period + 1);
    } else {
        a->timer_deadline = 0;
    }
}

uint64_t lapic_timer_next(const struct lapic *a)
{
    uint32_t lvt = a->lvt[LVT_TIMER];
    int vec = (int)(lvt & 0xff);
    /* Masked, or its vector still pending: firing changes nothing. */
    if ((lvt & LVT_MASKED) || (a->irr[vec >> 5] & (1u << (vec & 31))))
        return 0;
    return a->timer_deadline;
}

/* The x2APIC logical ID (SDM 10.12.10.2): cluster ID (x2APIC ID 19:4) in
 * bits 31:16, a bit for ID 3:0 in bits 15:0. */
static uint32_t x2_ldr(const struct lapic *a)
{
    return ((uint32_t)(a->apic_id >> 4) << 16) | (1u << (a->apic_id & 0xf));
}

bool lapic_match_dest_x2(const struct lapic *a, uint32_t dest, bool logical)
{
    if (dest == 0xffffffffu)
        return true;
    if (!logical)
        return dest == a->apic_id;
    uint32_t ldr = x2_ldr(a);
    return (ldr >> 16) == (dest >> 16) && (ldr & dest & 0xffff) != 0;
}

bool lapic_match_dest(const struct lapic *a, uint8_t dest, bool logical)
{
    if (a->x2apic)
        return lapic_match_dest_x2(a, dest == 0xff ? 0xffffffffu : dest,
                                   logical);
    if (!logical)
        return dest == 0xff || dest == (uint8_t)(a->id >> 24);
    uint8_t ldr = (uint8_t)(a->ldr >> 24);
    if (dest == 0xff)
        return true;
    if ((a->dfr >> 28) == 0xf) /* flat model: a bit per APIC */
        return (ldr & dest) != 0;
    /* cluster model: high nibble names the cluster, low nibble the APICs */
    return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0x0f) != 0;
}

static uint32_t reg_read(struct lapic *a, unsigned reg)
{
    int l;
    switch (reg) {
    case 0x02: return a->id;
    case 0x03: return LAPIC_VERSION;
    case 0x08: return a->tpr;
    case 0x09: return 0;            /* APR */
    case 0x0a: return ppr(a);
    case 0x0d: return a->ldr;
    case 0x0e: return a->dfr;
    case 0x0f: return a->svr;
    case 0x28: return a->esr;
    case 0x30: return a->icr_lo;    /* delivery status: always idle */
    case 0x31: return a->icr_hi;
    case 0x38: return a->timer_initial;
    case 0x39: return tsc_mode(a) ? 0 : current_count(a);
    case 0x3e: return a->timer_divide;
    }
    if (reg >= 0x10 && reg < 0x18)
        return a->isr[reg - 0x10];
    if (reg >= 0x18 && reg < 0x20)
        return a->tmr[reg - 0x18];
    if (reg >= 0x20 && reg < 0x28)
        return a->irr[reg - 0x20];
    l = lvt_index(reg);
    return l >= 0 ? a->lvt[l] : 0;
}

uint64_t lapic_read(void *dev, uint64_t off, int size)
{
    struct lapic *a = dev;
    /* x2APIC mode: the page is not decoded (SDM 10.12.1.2): reads see
     * nothing there (all ones), writes are dropped. */
    if (a->x2apic)
        return ~0ull;
    if (size < 4)
        return 0;
    return reg_read(a, (unsigned)(off >> 4) & 0xff);
}

/* The timer LVT: a change between TSC-deadline and the count modes
 * disarms the timer (SDM 10.5.4.1); mode 11b is reserved, taken as
 * periodic (bit 18 dropped). */
static void write_lvt_timer(struct lapic *a, uint32_t val)
{
    if ((val & LVT_TIMER_MODE) == LVT_TIMER_MODE)
        val &= ~(1u << 18);
    bool was_tsc = tsc_mode(a);
    a->lvt[LVT_TIMER] = val;
    if (was_tsc != tsc_mode(a)) {
        a->timer_initial = 0;
        a->timer_deadline = 0;
        a->tsc_deadline = 0;
    }
}

static void reg_write(struct lapic *a, unsigned reg, uint32_t val)
{
    int l;
    switch (reg) {
    case 0x02: a->id = val & 0xff000000u; return;
    case 0x08: a->tpr = val & 0xff; return;
    case 0x0b: { /* EOI: retire the highest in-service vector (10.8.5) */
        int v = highest(a->isr);
        if (v >= 0) {
            bool level = a->tmr[v >> 5] & (1u << (v & 31));
            clr_bit(a->isr, v);
            clr_bit(a->tmr, v);
            if (level && a->host && a->host->eoi)
                a->host->eoi(a->host->opaque, v);
        }
        return;
    }
    case 0x0d: a->ldr = val & 0xff000000u; return;
    case 0x0e: a->dfr = val | 0x0fffffffu; return;
    case 0x0f:
        a->svr = val & 0x1ff;
        /* Software disable masks every LVT (SDM 10.4.7.2). */
        if (!(a->svr & SVR_ENABLE))
            for (int i = 0; i < LVT_NUM; i++)
                a->lvt[i] |= LVT_MASKED;
        return;
    case 0x28: /* a write latches the errors seen since the last (10.5.3) */
        a->esr = a->esr_pending;
        a->esr_pending = 0;
        return;
    case 0x30:
        a->icr_lo = val & 0x000ccfffu;
        if (a->host && a->host->send_ipi)
            a->host->send_ipi(a->host->opaque, a, a->icr_lo, a->icr_hi);
        return;
    case 0x31: a->icr_hi = val & 0xff000000u; return;
    case 0x38: /* a write (re)starts the count; 0 stops it (10.5.4) */
        if (tsc_mode(a))
            return; /* ignored in TSC-deadline mode (10.5.4.1) */
        a->timer_initial = val;
        a->timer_deadline = val ? now(a) + (uint64_t)val * divisor(a) : 0;
        if (a->timer_deadline == 0 && val)
            a->timer_deadline = 1;
        return;
    case 0x3e: a->timer_divide = val & 0xb; return;
    }
    l = lvt_index(reg);
    if (l >= 0) {
        val &= lvt_bits[l];
        if (!(a->svr & SVR_ENABLE))
            val |= LVT_MASKED;
        if (l == LVT_TIMER)
            write_lvt_timer(a, val);
        else
            a->lvt[l] = val;
    }
}

void lapic_write(void *dev, uint64_t off, int size, uint64_t val64)
{
    struct lapic *a = dev;
    if (a->x2apic || size < 4)
        return;
    reg_write(a, (unsigned)(off >> 4) & 0xff, (uint32_t)val64);
}

#define APIC_BASE_EN_BIT   (1ull << 11)
#define APIC_BASE_EXTD_BIT (1ull << 10)

void lapic_set_mode(struct lapic *a, uint64_t old_base, uint64_t new_base)
{
    bool was = (old_base & APIC_BASE_EXTD_BIT) != 0;
    bool now_x2 = (new_base & APIC_BASE_EXTD_BIT) &&
                  (new_base & APIC_BASE_EN_BIT);
    if (was && !now_x2)
        a->id = (uint32_t)a->apic_id << 24; /* back to the initial ID */
    a->x2apic = now_x2;
}

/* x2APIC MSR -> register index (MMIO offset >> 4); SDM table 10-6. */
int lapic_msr_read(struct lapic *a, uint32_t msr, uint64_t *val)
{
    if (!a->x2apic || msr < 0x800 || msr > 0x8ff)
        return -1;
    unsigned reg = msr - 0x800;
    switch (reg) {
    case 0x02: *val = a->apic_id; return 0; /* the 32-bit x2APIC ID */
    case 0x0d: *val = x2_ldr(a); return 0;
    case 0x30: *val = (uint64_t)a->icr_hi << 32 | a->icr_lo; return 0;
    case 0x03: case 0x08: case 0x0a: case 0x0f: case 0x28: case 0x38:
    case 0x39: case 0x3e:
        *val = reg_read(a, reg);
        return 0;
    }
    if ((reg >= 0x10 && reg < 0x28) || lvt_index(reg) >= 0) {
        *val = reg_read(a, reg);
        return 0;
    }
    return -1; /* EOI, SELF IPI (write-only), APR, RRD, DFR, 0x831, reserved */
}

int lapic_msr_write(struct lapic *a, uint32_t msr, uint64_t val)
{
    if (!a->x2apic || msr < 0x800 || msr > 0x8ff)
        return -1;
    unsigned reg = msr - 0x800;
    if (reg == 0x30) { /* ICR: one 64-bit register, destination in 63:32 */
        a->icr_hi = (uint32_t)(val >> 32);
        a->icr_lo = (uint32_t)val & 0x000ccfffu;
        if (a->host && a->host->send_ipi)
            a->host->send_ipi(a->host->opaque, a, a->icr_lo, a->icr_hi);
        return 0;
    }
    if (val >> 32)
        return -1; /* bits 63:32 reserved in every other register */
    uint32_t v = (uint32_t)val;
    switch (reg) {
    case 0x0b: /* EOI */
    case 0x28: /* ESR */
        if (v)
            return -1; /* non-zero write: #GP (10.12.1.2) */
        reg_write(a, reg, 0);
        return 0;
    case 0x3f: /* SELF IPI: vector in 7:0, fixed, edge (10.12.11) */
        if (v & ~0xffu)
            return -1;
        if (a->host && a->host->send_ipi)
            a->host->send_ipi(a->host->opaque, a,
                              v | (uint32_t)SH_SELF << ICR_SH_SHIFT, 0);
        return 0;
    case 0x08: case 0x0f: case 0x38: case 0x3e:
        reg_write(a, reg, v);
        return 0;
    }
    if (lvt_index(reg) >= 0) {
        reg_write(a, reg, v);
        return 0;
    }
    return -1; /* read-only (ID, version, PPR, LDR, ISR/TMR/IRR, current
                  count) or not present */
}

#define TSC_DL_CLOCK_CAP (1ull << 62)

uint64_t lapic_tsc_deadline_read(const struct lapic *a)
{
    return tsc_mode(a) ? a->tsc_deadline : 0;
}

void lapic_tsc_deadline_write(struct lapic *a, uint64_t val, uint64_t tsc)
{
    if (!tsc_mode(a))
        return; /* ignored in the other timer modes (10.5.4.1) */
    a->tsc_deadline = val;
    if (!val) {
        a->timer_deadline = 0;
        return;
    }
    /* The vCPU's TSC and the clock advance together while it runs: the
     * deadline is (val - tsc) ticks from now; one already passed fires at
     * the next check. Tick 0 means "not armed": use 1. */
    uint64_t t = now(a);
    uint64_t d = val > tsc ? val - tsc : 0;
    /* Far deadlines are capped at clock tick 2^62: the idle clock jumps
     * to an expiry, and must stay far from wrapping whatever the guest
     * arms. The TSC catch-up at expiry still gives TSC >= val. */
    if (t >= TSC_DL_CLOCK_CAP)
        a->timer_deadline = t;
    else
        a->timer_deadline = d > TSC_DL_CLOCK_CAP - t ? TSC_DL_CLOCK_CAP : t + d;
    if (!a->timer_deadline)
        a->timer_deadline = 1;
}

static void put_vec(struct vmstate *s, const uint32_t v[8])
{
    for (int i = 0; i < 8; i++)
        vmstate_put_u32(s, v[i]);
}

static void get_vec(struct vmstate *s, uint32_t v[8])
{
    for (int i = 0; i < 8; i++)
        v[i] = vmstate_get_u32(s);
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
    vmstate_put_u32(s, a->esr_pending);
    vmstate_put_u32(s, a->icr_lo);
    vmstate_put_u32(s, a->icr_hi);
    for (int i = 0; i < LVT_NUM; i++)
        vmstate_put_u32(s, a->lvt[i]);
    vmstate_put_u32(s, a->timer_initial);
    vmstate_put_u32(s, a->timer_divide);
    put_vec(s, a->irr);
    put_vec(s, a->isr);
    put_vec(s, a->tmr);
    vmstate_put_u64(s, a->timer_deadline);
    vmstate_put_u8(s, a->run_state);
    vmstate_put_u8(s, a->init_pending);
    vmstate_put_u32(s, (uint32_t)(int32_t)a->sipi_pending);
    vmstate_put_u8(s, a->x2apic);
    vmstate_put_u64(s, a->tsc_deadline);
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
    t.esr_pending = vmstate_get_u32(s);
    t.icr_lo = vmstate_get_u32(s);
    t.icr_hi = vmstate_get_u32(s);
    for (int i = 0; i < LVT_NUM; i++)
        t.lvt[i] = vmstate_get_u32(s);
    t.timer_initial = vmstate_get_u32(s);
    t.timer_divide = vmstate_get_u32(s);
    get_vec(s, t.irr);
    get_vec(s, t.isr);
    get_vec(s, t.tmr);
    t.timer_deadline = vmstate_get_u64(s);
    t.run_state = vmstate_get_u8(s);
    uint8_t ip = vmstate_get_u8(s);
    int32_t sp = (int32_t)vmstate_get_u32(s);
    uint8_t x2 = vmstate_get_u8(s);
    t.tsc_deadline = vmstate_get_u64(s);
    if (!vmstate_ok(s) || t.run_state > LAPIC_WAIT_SIPI || ip > 1 ||
        sp < -1 || sp > 0xff || x2 > 1) {
        lapic_reset(a);
        return -1;
    }
    t.init_pending = ip;
    t.x2apic = x2;
    t.sipi_pending = (int16_t)sp;
    for (int i = 0; i < LVT_NUM; i++)
        t.lvt[i] &= lvt_bits[i] | LVT_MASKED;
    if ((t.lvt[LVT_TIMER] & LVT_TIMER_MODE) == LVT_TIMER_MODE)
        t.lvt[LVT_TIMER] &= ~(1u << 18);
    *a = t;
    return 0;
}

const struct device_ops lapic_ops = {
    .name = "lapic",
    .reset = lapic_reset,
    .save = lapic_save,
    .load = lapic_load,
};
