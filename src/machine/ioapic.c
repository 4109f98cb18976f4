/* ioapic.c: see ioapic.h. */
#include "ioapic.h"

#include <string.h>

#include "vmstate.h"

void ioapic_init(struct ioapic *io, const struct ioapic_host *host)
{
    memset(io, 0, sizeof *io);
    io->host = host;
    ioapic_reset(io);
}

void ioapic_reset(void *dev)
{
    struct ioapic *io = dev;
    io->id = io->sel = 0;
    for (int i = 0; i < IOAPIC_PINS; i++)
        io->rte[i] = IOAPIC_RTE_MASKED;
    /* input levels belong to the devices: kept */
}

static void service(struct ioapic *io, int n)
{
    uint64_t e = io->rte[n];
    if ((e & IOAPIC_RTE_MASKED) || !(io->level & (1u << n)))
        return;
    bool level = (e & IOAPIC_RTE_LEVEL) != 0;
    if (level) {
        if (e & IOAPIC_RTE_REMOTE_IRR)
            return;
        io->rte[n] |= IOAPIC_RTE_REMOTE_IRR;
    }
    if (io->host && io->host->deliver)
        io->host->deliver(io->host->opaque, (uint8_t)(e >> 56),
                          (e & IOAPIC_RTE_LOGICAL) != 0,
                          (unsigned)(e >> 8) & 7, (int)(e & 0xff), level);
}

void ioapic_set_irq(void *dev, int n, int level)
{
    struct ioapic *io = dev;
    if (n < 0 || n >= IOAPIC_PINS)
        return;
    uint32_t bit = 1u << n;
    bool was = (io->level & bit) != 0;
    if (level)
        io->level |= bit;
    else
        io->level &= ~bit;
    if (!level)
        return;
    /* edge: a rising edge; level: while high and not in service */
    if (!was || (io->rte[n] & IOAPIC_RTE_LEVEL))
        service(io, n);
}

void ioapic_eoi(struct ioapic *io, int vec)
{
    for (int n = 0; n < IOAPIC_PINS; n++) {
        uint64_t e = io->rte[n];
        if ((e & 0xff) != (uint64_t)(vec & 0xff) || !(e & IOAPIC_RTE_LEVEL))
            continue;
        io->rte[n] &= ~IOAPIC_RTE_REMOTE_IRR;
        service(io, n); /* still asserted: again */
    }
}

uint64_t ioapic_read(void *dev, uint64_t off, int size)
{
    struct ioapic *io = dev;
    if (size != 4)
        return 0;
    if (off == 0x00)
        return io->sel;
    if (off != 0x10)
        return 0;
    uint32_t r = io->sel & 0xff;
    switch (r) {
    case 0x00: return io->id;
    case 0x01: return ((uint32_t)(IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
    case 0x02: return 0; /* arbitration ID */
    }
    if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
        uint64_t e = io->rte[(r - 0x10) / 2];
        return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
    }
    return 0;
}

void ioapic_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct ioapic *io = dev;
    uint32_t v = (uint32_t)val;
    if (size != 4)
        return;
    if (off == 0x00) {
        io->sel = v & 0xff;
        return;
    }
    if (off != 0x10)
        return;
    uint32_t r = io->sel & 0xff;
    if (r == 0x00) {
        io->id = v & 0x0f000000u;
        return;
    }
    if (r < 0x10 || r >= 0x10 + 2 * IOAPIC_PINS)
        return;
    int n = (int)(r - 0x10) / 2;
    uint64_t e = io->rte[n];
    if (r & 1) {
        e = (e & 0xffffffffull) | ((uint64_t)(v & 0xff000000u) << 32);
    } else {
        /* Delivery status (12) and Remote IRR (14) are read-only. */
        const uint64_t ro = (1ull << 12) | IOAPIC_RTE_REMOTE_IRR;
        e = (e & ~0xffffffffull) | (e & ro) | (v & 0x1afffu);
        if (!(e & IOAPIC_RTE_LEVEL))
            e &= ~IOAPIC_RTE_REMOTE_IRR;
    }
    io->rte[n] = e;
    if (!(e & IOAPIC_RTE_MASKED) && (e & IOAPIC_RTE_LEVEL))
        service(io, n); /* a high level line unmasked fires */
}

static void ioapic_save(const void *dev, struct vmstate *s)
{
    const struct ioapic *io = dev;
    vmstate_put_u32(s, io->id);
    vmstate_put_u32(s, io->sel);
    for (int i = 0; i < IOAPIC_PINS; i++)
        vmstate_put_u64(s, io->rte[i]);
    vmstate_put_u32(s, io->level);
}

static int ioapic_load(void *dev, struct vmstate *s)
{
    struct ioapic *io = dev, t = *io;
    t.id = vmstate_get_u32(s) & 0x0f000000u;
    t.sel = vmstate_get_u32(s) & 0xff;
    for (int i = 0; i < IOAPIC_PINS; i++)
        t.rte[i] = vmstate_get_u64(s);
    t.level = vmstate_get_u32(s) & ((1u << IOAPIC_PINS) - 1);
    if (!vmstate_ok(s)) {
        ioapic_reset(io);
        return -1;
    }
    *io = t;
    return 0;
}

const struct device_ops ioapic_ops = {
    .name = "ioapic",
    .reset = ioapic_reset,
    .save = ioapic_save,
    .load = ioapic_load,
};
