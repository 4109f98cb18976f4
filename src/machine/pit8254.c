/* pit8254.c: see pit8254.h. */
#include "pit8254.h"

#include <string.h>

#include "vmstate.h"

static uint64_t now(const struct pit8254 *p)
{
    return p->now ? p->now(p->now_opaque) : 0;
}

/* Clock ticks (ns) for n PIT counts, and back. */
static uint64_t counts_to_ticks(uint64_t n)
{
    return (uint64_t)(((unsigned __int128)n * 1000000000u) / PIT_HZ);
}

static uint64_t ticks_to_counts(uint64_t t)
{
    return (uint64_t)(((unsigned __int128)t * PIT_HZ) / 1000000000u);
}

static bool periodic(const struct pit_channel *c)
{
    return (c->mode & 3) == 2; /* modes 2, 3 (and their aliases 6, 7) */
}

void pit8254_init(struct pit8254 *p, uint64_t (*nowfn)(void *), void *opaque,
                  struct irq_line irq0)
{
    memset(p, 0, sizeof *p);
    p->now = nowfn;
    p->now_opaque = opaque;
    p->irq0 = irq0;
    pit8254_reset(p);
}

void pit8254_reset(void *dev)
{
    struct pit8254 *p = dev;
    memset(p->ch, 0, sizeof p->ch);
    for (int i = 0; i < 3; i++) {
        p->ch[i].count = 65536;
        p->ch[i].access = 3;
    }
    p->next_irq = 0;
}

static uint16_t current(const struct pit8254 *p, const struct pit_channel *c)
{
    if (!c->running)
        return (uint16_t)c->count;
    uint64_t e = ticks_to_counts(now(p) - c->load_time);
    if (periodic(c))
        return (uint16_t)(c->count - e % c->count);
    return (uint16_t)(c->count - e); /* mode 0 wraps on through 0 */
}

static void load(struct pit8254 *p, int i, uint32_t v)
{
    struct pit_channel *c = &p->ch[i];
    c->count = v ? v : 65536;
    c->running = true;
    c->load_time = now(p);
    if (i == 0) {
        p->next_irq = c->load_time + counts_to_ticks(c->count);
        if (!p->next_irq)
            p->next_irq = 1;
    }
}

uint64_t pit8254_read(void *dev, uint64_t off, int size)
{
    struct pit8254 *p = dev;
    (void)size;
    if (off > 2)
        return 0xff; /* the control port is write-only */
    struct pit_channel *c = &p->ch[off];
    uint16_t v = c->latched ? c->latch : current(p, c);
    uint8_t b;
    switch (c->access) {
    case 1: b = (uint8_t)v; c->latched = false; break;
    case 2: b = (uint8_t)(v >> 8); c->latched = false; break;
    default:
        b = c->read_hi ? (uint8_t)(v >> 8) : (uint8_t)v;
        if (c->read_hi)
            c->latched = false;
        c->read_hi = !c->read_hi;
        break;
    }
    return b;
}

void pit8254_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct pit8254 *p = dev;
    uint8_t v = (uint8_t)val;
    (void)size;
    if (off == 3) {
        unsigned sc = v >> 6, rw = (v >> 4) & 3;
        if (sc == 3)
            return; /* read-back: not modelled */
        struct pit_channel *c = &p->ch[sc];
        if (rw == 0) { /* counter latch */
            if (!c->latched) {
                c->latch = current(p, c);
                c->latched = true;
            }
            return;
        }
        c->access = (uint8_t)rw;
        c->mode = (v >> 1) & 7;
        c->write_hi = c->read_hi = c->latched = false;
        c->running = false; /* a new mode waits for its count */
        if (sc == 0)
            p->next_irq = 0;
        return;
    }
    if (off > 2)
        return;
    struct pit_channel *c = &p->ch[off];
    switch (c->access) {
    case 1: load(p, (int)off, v); break;
    case 2: load(p, (int)off, (uint32_t)v << 8); break;
    default:
        if (!c->write_hi) {
            c->pending_lo = v;
            c->write_hi = true;
        } else {
            c->write_hi = false;
            load(p, (int)off, c->pending_lo | (uint32_t)v << 8);
        }
        break;
    }
}

void pit8254_update(struct pit8254 *p, uint64_t t)
{
    if (!p->next_irq || t < p->next_irq)
        return;
    struct pit_channel *c = &p->ch[0];
    /* An edge on IRQ0 (the output's rising edge, 8254 datasheet). */
    irq_set(&p->irq0, 0);
    irq_set(&p->irq0, 1);
    if (periodic(c)) {
        uint64_t period = counts_to_ticks(c->count);
        if (!period)
            period = 1;
        p->next_irq += period * ((t - p->next_irq) / period + 1);
    } else {
        p->next_irq = 0;
    }
}

uint64_t pit8254_next(const struct pit8254 *p)
{
    return p->next_irq;
}

static void pit8254_save(const void *dev, struct vmstate *s)
{
    const struct pit8254 *p = dev;
    for (int i = 0; i < 3; i++) {
        const struct pit_channel *c = &p->ch[i];
        vmstate_put_u32(s, c->count);
        vmstate_put_u8(s, c->mode);
        vmstate_put_u8(s, c->access);
        vmstate_put_u8(s, (uint8_t)(c->write_hi | c->read_hi << 1 |
                                    c->latched << 2 | c->running << 3));
        vmstate_put_u32(s, c->latch);
        vmstate_put_u8(s, c->pending_lo);
        vmstate_put_u64(s, c->load_time);
    }
    vmstate_put_u64(s, p->next_irq);
}

static int pit8254_load(void *dev, struct vmstate *s)
{
    struct pit8254 *p = dev, t = *p;
    bool bad = false;
    for (int i = 0; i < 3; i++) {
        struct pit_channel *c = &t.ch[i];
        c->count = vmstate_get_u32(s);
        c->mode = vmstate_get_u8(s);
        c->access = vmstate_get_u8(s);
        uint8_t f = vmstate_get_u8(s);
        uint32_t latch = vmstate_get_u32(s);
        c->pending_lo = vmstate_get_u8(s);
        c->load_time = vmstate_get_u64(s);
        bad |= c->count < 1 || c->count > 65536 || c->mode > 7 ||
               c->access < 1 || c->access > 3 || f > 15 || latch > 0xffff;
        c->write_hi = f & 1;
        c->read_hi = f & 2;
        c->latched = f & 4;
        c->running = f & 8;
        c->latch = (uint16_t)latch;
    }
    t.next_irq = vmstate_get_u64(s);
    if (!vmstate_ok(s) || bad) {
        pit8254_reset(p);
        return -1;
    }
    *p = t;
    return 0;
}

const struct device_ops pit8254_ops = {
    .name = "i8254",
    .reset = pit8254_reset,
    .save = pit8254_save,
    .load = pit8254_load,
};
