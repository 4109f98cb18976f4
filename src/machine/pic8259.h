/* pic8259.h: one Intel 8259A programmable interrupt controller. A PC has
 * two (master at 0x20, slave at 0xA0 cascaded on IRQ2). The ICW/OCW
 * programming is modelled; the machine (smp.c) asks the pair for the
 * interrupt to deliver when the BSP's LINT0 takes ExtINT. */
#ifndef PINVM_PIC8259_H
#define PINVM_PIC8259_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

struct pic8259 {
    uint8_t irr, isr, imr;
    uint8_t last_level; /* input levels, for edge detection */
    uint8_t vector_base;
    uint8_t init_state; /* 0: ready; 1, 2, 3: expecting ICW2, ICW3, ICW4 */
    bool icw4_needed, single, auto_eoi, read_isr, special_mask;
    uint8_t icw3;
};

extern const struct device_ops pic8259_ops;

void pic8259_init(struct pic8259 *p);
void pic8259_reset(void *dev);
/* Port offset 0 (command) or 1 (data), byte accesses. */
uint64_t pic8259_read(void *dev, uint64_t off, int size);
void pic8259_write(void *dev, uint64_t off, int size, uint64_t val);
/* The highest-priority request that is unmasked and above the one in
 * service (fixed priority, IR0 highest), or -1. */
int pic8259_pending(const struct pic8259 *p);
/* INTA: the request irq goes in service (unless auto-EOI); returns its
 * vector. */
int pic8259_ack(struct pic8259 *p, int irq);
/* Input line n (0..7) to level; an irq_line set() callback. */
void pic8259_set_irq(void *dev, int n, int level);

#endif
