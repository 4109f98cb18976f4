/* debugexit.h: QEMU's isa-debug-exit. Any write of V ends pinvm with exit
 * status (V << 1) | 1, so a test kernel can report pass/fail to its host
 * and never be confused with a clean exit 0. */
#ifndef PINVM_DEBUGEXIT_H
#define PINVM_DEBUGEXIT_H

#include <stdint.h>

#include "device.h"
#include "sysreq.h"

struct debugexit {
    uint16_t iobase, iosize; /* configuration, not state */
    struct sysreq *req;
};

extern const struct device_ops debugexit_ops;

void debugexit_init(struct debugexit *d, uint16_t iobase, uint16_t iosize,
                    struct sysreq *req);
uint64_t debugexit_read(void *dev, uint64_t off, int size);
void debugexit_write(void *dev, uint64_t off, int size, uint64_t val);

#endif
