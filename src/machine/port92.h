/* port92.h: System Control Port A (0x92): bit 0 fast reset, bit 1 A20
 * gate. pinvm RAM has no A20 wrap-around, so A20 is always on; the bit is
 * stored and read back. */
#ifndef PINVM_PORT92_H
#define PINVM_PORT92_H

#include <stdint.h>

#include "device.h"
#include "sysreq.h"

struct port92 {
    uint8_t outport;
    struct sysreq *req;
};

extern const struct device_ops port92_ops;

void port92_init(struct port92 *p, struct sysreq *req);
uint64_t port92_read(void *dev, uint64_t off, int size);
void port92_write(void *dev, uint64_t off, int size, uint64_t val);

#endif
