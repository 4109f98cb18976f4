/* ioapic.h: the I/O APIC (82093AA datasheet; QEMU's hw/intc/ioapic.c):
 * IOREGSEL at +0x00, IOWIN at +0x10 of its page at 0xFEC00000; ID,
 * version (24 redirection entries) and arbitration registers, and the
 * redirection table. An input that rises (edge) or is high (level, while
 * Remote IRR is clear) sends the entry's message to the local APICs
 * through the machine (smp.c); a level-triggered entry waits for the
 * EOI of its vector before it can fire again. */
#ifndef PINVM_IOAPIC_H
#define PINVM_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define IOAPIC_BASE    0xFEC00000ull
#define IOAPIC_PINS    24
#define IOAPIC_VERSION 0x20

#define IOAPIC_RTE_MASKED    (1ull << 16)
#define IOAPIC_RTE_LEVEL     (1ull << 15)
#define IOAPIC_RTE_REMOTE_IRR (1ull << 14)
#define IOAPIC_RTE_LOGICAL   (1ull << 11)

struct ioapic_host {
    void *opaque;
    /* Send a message: destination, logical?, delivery mode, vector. */
    void (*deliver)(void *opaque, uint8_t dest, bool logical, unsigned dm,
                    int vec, bool level);
};

struct ioapic {
    const struct ioapic_host *host;
    uint32_t id, sel;
    uint64_t rte[IOAPIC_PINS];
    uint32_t level; /* input levels */
};

extern const struct device_ops ioapic_ops;

void ioapic_init(struct ioapic *io, const struct ioapic_host *host);
void ioapic_reset(void *dev);
uint64_t ioapic_read(void *dev, uint64_t off, int size);
void ioapic_write(void *dev, uint64_t off, int size, uint64_t val);
/* Input n to level (an irq_line set() callback). */
void ioapic_set_irq(void *dev, int n, int level);
/* A local APIC retired level-triggered vector vec (EOI broadcast). */
void ioapic_eoi(struct ioapic *io, int vec);

#endif
