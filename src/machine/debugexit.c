/* debugexit.c: see debugexit.h (QEMU hw/misc/debugexit.c). */
#include "debugexit.h"

#include "vmstate.h"

void debugexit_init(struct debugexit *d, uint16_t iobase, uint16_t iosize,
                    struct sysreq *req)
{
    d->iobase = iobase;
    d->iosize = iosize;
    d->req = req;
}

uint64_t debugexit_read(void *dev, uint64_t off, int size)
{
    (void)dev, (void)off, (void)size;
    return 0; /* QEMU's debug_exit_read returns 0 */
}

void debugexit_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct debugexit *d = dev;
    (void)off, (void)size;
    /* QEMU calls exit((val << 1) | 1); the host keeps the low 8 bits. */
    sysreq_raise(d->req, SYSREQ_EXIT, (int)(((val << 1) | 1) & 0xff), NULL);
}

static void debugexit_reset(void *dev)
{
    (void)dev; /* stateless */
}

static void debugexit_save(const void *dev, struct vmstate *s)
{
    (void)dev, (void)s;
}

static int debugexit_load(void *dev, struct vmstate *s)
{
    (void)dev;
    return vmstate_ok(s) ? 0 : -1;
}

const struct device_ops debugexit_ops = {
    .name = "isa-debug-exit",
    .reset = debugexit_reset,
    .save = debugexit_save,
    .load = debugexit_load,
};
