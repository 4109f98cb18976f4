/* pic8259.c: 8259A command sequences after the Intel datasheet
 * (231468, "Programming the 8259A"): a write to the command port with
 * bit 4 set is ICW1 and starts the ICW2..ICW4 sequence on the data port;
 * otherwise bit 3 selects OCW3, else OCW2. Data-port writes outside the
 * sequence are OCW1 (the mask). */
#include "pic8259.h"

#include <string.h>

#include "vmstate.h"

void pic8259_init(struct pic8259 *p)
{
    memset(p, 0, sizeof *p);
    pic8259_reset(p);
}

void pic8259_reset(void *dev)
{
    struct pic8259 *p = dev;
    memset(p, 0, sizeof *p); /* IMR 0, as QEMU's pic_reset */
}

static int highest_isr(const struct pic8259 *p)
{
    for (int i = 0; i < 8; i++) /* fixed priority: IR0 highest */
        if (p->isr & (1u << i))
            return i;
    return -1;
}

int pic8259_pending(const struct pic8259 *p)
{
    uint8_t req = p->irr & (uint8_t)~p->imr;
    int in_service = highest_isr(p);
    if (p->special_mask)
        req &= (uint8_t)~p->isr;
    for (int i = 0; i < 8; i++) {
        if (in_service >= 0 && i >= in_service && !p->special_mask)
            return -1; /* fixed priority: nothing below the one in service */
        if (req & (1u << i))
            return i;
    }
    return -1;
}

int pic8259_ack(struct pic8259 *p, int irq)
{
    irq &= 7;
    uint8_t bit = (uint8_t)(1u << irq);
    p->irr &= (uint8_t)~bit; /* edge triggered: the request is consumed */
    if (!p->auto_eoi)
        p->isr |= bit;
    return p->vector_base + irq;
}

uint64_t pic8259_read(void *dev, uint64_t off, int size)
{
    struct pic8259 *p = dev;
    (void)size;
    if (off == 1)
        return p->imr;
    return p->read_isr ? p->isr : p->irr;
}

void pic8259_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct pic8259 *p = dev;
    uint8_t v = (uint8_t)val;
    (void)size;
    if (off == 0) {
        if (v & 0x10) { /* ICW1: re-initialise */
            p->imr = p->isr = 0;
            p->irr = 0;
            p->read_isr = p->special_mask = p->auto_eoi = false;
            p->icw4_needed = v & 0x01;
            p->single = v & 0x02;
            p->init_state = 1;
        } else if (v & 0x08) { /* OCW3 */
            if (v & 0x02)
                p->read_isr = v & 0x01;
            if (v & 0x40)
                p->special_mask = (v >> 5) & 1;
        } else { /* OCW2 */
            int cmd = v >> 5, irq;
            switch (cmd) {
            case 1: /* non-specific EOI */
            case 5: /* rotate on non-specific EOI (no rotation modelled) */
                irq = highest_isr(p);
                if (irq >= 0)
                    p->isr &= (uint8_t)~(1u << irq);
                break;
            case 3: /* specific EOI */
            case 7: /* rotate on specific EOI */
                p->isr &= (uint8_t)~(1u << (v & 7));
                break;
            default: /* priority commands: accepted, no effect */
                break;
            }
        }
        return;
    }
    switch (p->init_state) {
    case 1: /* ICW2: vector base (low 3 bits are the IRQ number) */
        p->vector_base = v & 0xf8;
        p->init_state = p->single ? (p->icw4_needed ? 3 : 0) : 2;
        break;
    case 2: /* ICW3: cascade wiring */
        p->icw3 = v;
        p->init_state = p->icw4_needed ? 3 : 0;
        break;
    case 3: /* ICW4 */
        p->auto_eoi = (v >> 1) & 1;
        p->init_state = 0;
        break;
    default: /* OCW1 */
        p->imr = v;
        break;
    }
}

void pic8259_set_irq(void *dev, int n, int level)
{
    struct pic8259 *p = dev;
    if (n < 0 || n > 7)
        return;
    uint8_t bit = (uint8_t)(1u << n);
    if (level && !(p->last_level & bit))
        p->irr |= bit; /* edge triggered */
    if (level)
        p->last_level |= bit;
    else
        p->last_level &= (uint8_t)~bit;
}

static void pic8259_save(const void *dev, struct vmstate *s)
{
    const struct pic8259 *p = dev;
    vmstate_put_u8(s, p->irr);
    vmstate_put_u8(s, p->isr);
    vmstate_put_u8(s, p->imr);
    vmstate_put_u8(s, p->last_level);
    vmstate_put_u8(s, p->vector_base);
    vmstate_put_u8(s, p->init_state);
    vmstate_put_u8(s, p->icw3);
    vmstate_put_u8(s, (uint8_t)(p->icw4_needed | p->single << 1 |
                                p->auto_eoi << 2 | p->read_isr << 3 |
                                p->special_mask << 4));
}

static int pic8259_load(void *dev, struct vmstate *s)
{
    struct pic8259 *p = dev, t;
    memset(&t, 0, sizeof t);
    t.irr = vmstate_get_u8(s);
    t.isr = vmstate_get_u8(s);
    t.imr = vmstate_get_u8(s);
    t.last_level = vmstate_get_u8(s);
    t.vector_base = vmstate_get_u8(s);
    t.init_state = vmstate_get_u8(s);
    t.icw3 = vmstate_get_u8(s);
    uint8_t f = vmstate_get_u8(s);
    if (!vmstate_ok(s) || t.init_state > 3 || (t.vector_base & 7) || f > 0x1f) {
        pic8259_reset(p);
        return -1;
    }
    t.icw4_needed = f & 1;
    t.single = f & 2;
    t.auto_eoi = f & 4;
    t.read_isr = f & 8;
    t.special_mask = f & 16;
    *p = t;
    return 0;
}

const struct device_ops pic8259_ops = {
    .name = "i8259",
    .reset = pic8259_reset,
    .save = pic8259_save,
    .load = pic8259_load,
};
