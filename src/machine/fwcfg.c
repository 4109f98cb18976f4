/* fwcfg.c: see fwcfg.h. */
#include "fwcfg.h"

#include <string.h>

#include "vmstate.h"

#define FW_CFG_ARCH_LOCAL  0x8000
#define FW_CFG_ENTRY_MASK  0x3fff /* without the write and arch bits */
#define FW_CFG_ID_TRADITIONAL 1   /* bit 0: legacy I/O; no DMA (bit 1) */

void fwcfg_init(struct fwcfg *f, uint64_t ram_size, uint16_t nb_cpus,
                uint16_t max_cpus)
{
    memset(f, 0, sizeof *f);
    f->ram_size = ram_size;
    f->nb_cpus = nb_cpus;
    f->max_cpus = max_cpus;
}

static void put_le(uint8_t *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* The item's bytes (fixed-size, built on demand); returns its length, 0
 * for a key we do not have. */
static uint32_t item(const struct fwcfg *f, uint16_t key, uint8_t buf[8])
{
    if (key & FW_CFG_ARCH_LOCAL)
        return 0;
    switch (key & FW_CFG_ENTRY_MASK) {
    case FW_CFG_SIGNATURE:
        memcpy(buf, "QEMU", 4);
        return 4;
    case FW_CFG_ID:
        put_le(buf, FW_CFG_ID_TRADITIONAL, 4);
        return 4;
    case FW_CFG_RAM_SIZE:
        put_le(buf, f->ram_size, 8);
        return 8;
    case FW_CFG_NB_CPUS:
        put_le(buf, f->nb_cpus, 2);
        return 2;
    case FW_CFG_MAX_CPUS:
        put_le(buf, f->max_cpus, 2);
        return 2;
    }
    return 0;
}

uint64_t fwcfg_read(void *dev, uint64_t off, int size)
{
    struct fwcfg *f = dev;
    uint8_t buf[8];
    (void)off;
    /* QEMU accepts only byte reads (fw_cfg_comb_valid); wider ones hit
     * nothing. Any byte read returns the next data byte. */
    if (size != 1)
        return ~0ull;
    uint32_t len = item(f, f->key, buf);
    if (f->offset >= len)
        return 0; /* unknown key or past the end */
    return buf[f->offset++];
}

void fwcfg_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct fwcfg *f = dev;
    (void)off;
    /* A 16-bit write selects; byte writes are the retired data-write
     * interface, ignored as in QEMU >= 2.4. */
    if (size == 2) {
        f->key = (uint16_t)val;
        f->offset = 0;
    }
}

static void fwcfg_reset(void *dev)
{
    struct fwcfg *f = dev;
    f->key = 0;
    f->offset = 0;
}

static void fwcfg_save(const void *dev, struct vmstate *s)
{
    const struct fwcfg *f = dev;
    vmstate_put_u16(s, f->key);
    vmstate_put_u32(s, f->offset);
}

static int fwcfg_load(void *dev, struct vmstate *s)
{
    struct fwcfg *f = dev;
    uint16_t key = vmstate_get_u16(s);
    uint32_t offset = vmstate_get_u32(s);
    if (!vmstate_ok(s)) {
        fwcfg_reset(f);
        return -1;
    }
    f->key = key;
    f->offset = offset; /* any value is safe: reads past the end give 0 */
    return 0;
}

const struct device_ops fwcfg_ops = {
    .name = "fw_cfg",
    .reset = fwcfg_reset,
    .save = fwcfg_save,
    .load = fwcfg_load,
};
