/* port92.c: see port92.h (QEMU hw/i386/pc.c port92_*). */
#include "port92.h"

#include "vmstate.h"

void port92_init(struct port92 *p, struct sysreq *req)
{
    p->req = req;
    port92_ops.reset(p);
}

static void port92_reset(void *dev)
{
    struct port92 *p = dev;
    p->outport = 0x02; /* A20 enabled, as the Multiboot entry state says */
}

uint64_t port92_read(void *dev, uint64_t off, int size)
{
    struct port92 *p = dev;
    (void)off, (void)size;
    return p->outport;
}

void port92_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct port92 *p = dev;
    uint8_t old = p->outport;
    (void)off, (void)size;
    p->outport = (uint8_t)val & ~1u;
    /* A 0 -> 1 transition of bit 0 resets the CPU; the bit reads back 0
     * afterwards (it self-clears on a PC after the reset). */
    if ((val & 1) && !(old & 1))
        sysreq_raise(p->req, SYSREQ_RESET, 0, "port 0x92");
}

static void port92_save(const void *dev, struct vmstate *s)
{
    const struct port92 *p = dev;
    vmstate_put_u8(s, p->outport);
}

static int port92_load(void *dev, struct vmstate *s)
{
    struct port92 *p = dev;
    uint8_t v = vmstate_get_u8(s);
    if (!vmstate_ok(s)) {
        port92_reset(p);
        return -1;
    }
    p->outport = v & ~1u;
    return 0;
}

const struct device_ops port92_ops = {
    .name = "port92",
    .reset = port92_reset,
    .save = port92_save,
    .load = port92_load,
};
