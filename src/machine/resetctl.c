/* resetctl.c: see resetctl.h (QEMU hw/isa/piix3.c rcr_write). */
#include "resetctl.h"

#include "vmstate.h"

void resetctl_init(struct resetctl *r, struct sysreq *req)
{
    r->req = req;
    resetctl_ops.reset(r);
}

static void resetctl_reset(void *dev)
{
    struct resetctl *r = dev;
    r->rcr = 0;
}

uint64_t resetctl_read(void *dev, uint64_t off, int size)
{
    struct resetctl *r = dev;
    (void)off, (void)size;
    return r->rcr;
}

void resetctl_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct resetctl *r = dev;
    (void)off, (void)size;
    if (val & 4) {
        sysreq_raise(r->req, SYSREQ_RESET, 0, "port 0xcf9");
        return;
    }
    r->rcr = val & 2;
}

static void resetctl_save(const void *dev, struct vmstate *s)
{
    const struct resetctl *r = dev;
    vmstate_put_u8(s, r->rcr);
}

static int resetctl_load(void *dev, struct vmstate *s)
{
    struct resetctl *r = dev;
    uint8_t v = vmstate_get_u8(s);
    if (!vmstate_ok(s)) {
        resetctl_reset(r);
        return -1;
    }
    r->rcr = v & 2;
    return 0;
}

const struct device_ops resetctl_ops = {
    .name = "piix-rcr",
    .reset = resetctl_reset,
    .save = resetctl_save,
    .load = resetctl_load,
};
