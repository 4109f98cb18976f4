/* resetctl.h: the PIIX3 Reset Control Register at port 0xCF9 (Intel
 * 82371SB datasheet 4.1.5): a write with bit 2 (RST_CPU) set resets the
 * system; bit 1 (SRST, hard vs soft reset) is stored and read back. */
#ifndef PINVM_RESETCTL_H
#define PINVM_RESETCTL_H

#include <stdint.h>

#include "device.h"
#include "sysreq.h"

struct resetctl {
    uint8_t rcr;
    struct sysreq *req;
};

extern const struct device_ops resetctl_ops;

void resetctl_init(struct resetctl *r, struct sysreq *req);
uint64_t resetctl_read(void *dev, uint64_t off, int size);
void resetctl_write(void *dev, uint64_t off, int size, uint64_t val);

#endif
