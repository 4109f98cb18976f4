/* i8042.c: see i8042.h; command numbers and status bits as QEMU's
 * hw/input/pckbd.c. */
#include "i8042.h"

#include "vmstate.h"

#define STAT_OBF      0x01
#define STAT_SELFTEST 0x04 /* "system flag": POST passed */
#define STAT_CMD      0x08 /* last write was to 0x64 */
#define STAT_UNLOCKED 0x10

#define CMD_READ_MODE   0x20
#define CMD_WRITE_MODE  0x60
#define CMD_SELF_TEST   0xAA
#define CMD_KBD_TEST    0xAB
#define CMD_READ_OUTPORT  0xD0
#define CMD_WRITE_OUTPORT 0xD1
#define CMD_RESET       0xFE

void i8042_init(struct i8042 *k, struct sysreq *req)
{
    k->req = req;
    i8042_ops.reset(k);
}

static void i8042_reset(void *dev)
{
    struct i8042 *k = dev;
    /* The state a BIOS leaves: self-test passed, interrupts and
     * translation on. */
    k->status = STAT_SELFTEST | STAT_CMD | STAT_UNLOCKED;
    k->cmdbyte = 0x61;
    k->out = 0;
    k->pending = 0;
}

static void reply(struct i8042 *k, uint8_t v)
{
    k->out = v;
    k->status |= STAT_OBF;
}

uint64_t i8042_data_read(void *dev, uint64_t off, int size)
{
    struct i8042 *k = dev;
    (void)off, (void)size;
    k->status &= (uint8_t)~STAT_OBF;
    return k->out;
}

void i8042_data_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct i8042 *k = dev;
    (void)off, (void)size;
    k->status &= (uint8_t)~STAT_CMD;
    switch (k->pending) {
    case CMD_WRITE_MODE:
        k->cmdbyte = (uint8_t)val;
        break;
    case CMD_WRITE_OUTPORT:
        /* Output port bit 0 drives the CPU's RESET line (active low). */
        if (!(val & 1))
            sysreq_raise(k->req, SYSREQ_RESET, 0, "keyboard controller");
        break;
    default: /* a keyboard command: there is no keyboard */
        break;
    }
    k->pending = 0;
}

uint64_t i8042_cmd_read(void *dev, uint64_t off, int size)
{
    struct i8042 *k = dev;
    (void)off, (void)size;
    return k->status;
}

void i8042_cmd_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct i8042 *k = dev;
    uint8_t cmd = (uint8_t)val;
    (void)off, (void)size;
    k->status |= STAT_CMD;
    k->pending = 0;
    /* 0xF0-0xFF pulse output-port bits 0-3 low; bit 0 is RESET. */
    if ((cmd & 0xf0) == 0xf0) {
        if (!(cmd & 1))
            sysreq_raise(k->req, SYSREQ_RESET, 0, "keyboard controller");
        return;
    }
    switch (cmd) {
    case CMD_READ_MODE: reply(k, k->cmdbyte); break;
    case CMD_WRITE_MODE:
    case CMD_WRITE_OUTPORT: k->pending = cmd; break;
    case CMD_SELF_TEST: reply(k, 0x55); break;
    case CMD_KBD_TEST: reply(k, 0x00); break;
    case CMD_READ_OUTPORT: reply(k, 0x03); break; /* A20 on, not in reset */
    default: break;
    }
}

static void i8042_save(const void *dev, struct vmstate *s)
{
    const struct i8042 *k = dev;
    vmstate_put_u8(s, k->status);
    vmstate_put_u8(s, k->cmdbyte);
    vmstate_put_u8(s, k->out);
    vmstate_put_u8(s, k->pending);
}

static int i8042_load(void *dev, struct vmstate *s)
{
    struct i8042 *k = dev;
    uint8_t st = vmstate_get_u8(s), cb = vmstate_get_u8(s);
    uint8_t out = vmstate_get_u8(s), pend = vmstate_get_u8(s);
    if (!vmstate_ok(s) ||
        (pend != 0 && pend != CMD_WRITE_MODE && pend != CMD_WRITE_OUTPORT)) {
        i8042_reset(k);
        return -1;
    }
    k->status = st;
    k->cmdbyte = cb;
    k->out = out;
    k->pending = pend;
    return 0;
}

const struct device_ops i8042_ops = {
    .name = "i8042",
    .reset = i8042_reset,
    .save = i8042_save,
    .load = i8042_load,
};
