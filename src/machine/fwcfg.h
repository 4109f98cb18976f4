/* fwcfg.h: QEMU's firmware configuration device, legacy I/O interface
 * (docs/specs/fw_cfg.txt in QEMU): write a 16-bit key to 0x510, then read
 * the item byte by byte from 0x511. No DMA, no file directory yet. */
#ifndef PINVM_FWCFG_H
#define PINVM_FWCFG_H

#include <stdint.h>

#include "device.h"

#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_SIGNATURE  0x00
#define FW_CFG_ID         0x01
#define FW_CFG_RAM_SIZE   0x03
#define FW_CFG_NB_CPUS    0x05
#define FW_CFG_MAX_CPUS   0x0f

struct fwcfg {
    /* configuration */
    uint64_t ram_size;
    uint16_t nb_cpus, max_cpus;
    /* state */
    uint16_t key;
    uint32_t offset;
};

extern const struct device_ops fwcfg_ops;

void fwcfg_init(struct fwcfg *f, uint64_t ram_size, uint16_t nb_cpus,
                uint16_t max_cpus);
/* Region of 2 ports at 0x510: offset 0 selector, offset 1 data. */
uint64_t fwcfg_read(void *dev, uint64_t off, int size);
void fwcfg_write(void *dev, uint64_t off, int size, uint64_t val);

#endif
