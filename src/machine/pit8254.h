/* pit8254.h: the 8254 programmable interval timer at ports 0x40-0x43
 * (Intel 231164): three 16-bit counters at 1.193182 MHz on the machine's
 * virtual clock (one tick = 1 ns, docs/smp.md). Counter 0 drives IRQ0
 * (8259 input 0, I/O APIC input 2, as QEMU wires it). Modes 2 and 3
 * repeat; the others count once. Counter latch commands and lo/hi byte
 * access are modelled; read-back and gates are not. */
#ifndef PINVM_PIT8254_H
#define PINVM_PIT8254_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "irq.h"

#define PIT_HZ 1193182u

struct pit_channel {
    uint32_t count;      /* reload value, 1..65536 */
    uint8_t mode, access;/* access: 1 lo, 2 hi, 3 lo then hi */
    bool write_hi;       /* lo/hi: next write is the high byte */
    bool read_hi;        /* lo/hi: next read is the high byte */
    bool latched;
    uint16_t latch;
    uint8_t pending_lo;
    bool running;
    uint64_t load_time;  /* clock when the count was loaded */
};

struct pit8254 {
    struct pit_channel ch[3];
    uint64_t next_irq;   /* clock of counter 0's next IRQ0; 0: none */
    struct irq_line irq0;
    uint64_t (*now)(void *opaque);
    void *now_opaque;
};

extern const struct device_ops pit8254_ops;

void pit8254_init(struct pit8254 *p, uint64_t (*now)(void *), void *opaque,
                  struct irq_line irq0);
void pit8254_reset(void *dev);
uint64_t pit8254_read(void *dev, uint64_t off, int size);
void pit8254_write(void *dev, uint64_t off, int size, uint64_t val);
/* Raise IRQ0 if counter 0 has reached its terminal count by `now`. */
void pit8254_update(struct pit8254 *p, uint64_t now);
/* The clock of the next IRQ0, or 0. */
uint64_t pit8254_next(const struct pit8254 *p);

#endif
