/* i8042.h: the keyboard controller, only as far as firmware-less guests
 * use it: status polling, the command byte, self-test, and the CPU reset
 * line (command 0xFE, a pulse command with bit 0 clear, or an output-port
 * write with bit 0 clear). No keyboard or mouse. */
#ifndef PINVM_I8042_H
#define PINVM_I8042_H

#include <stdint.h>

#include "device.h"
#include "sysreq.h"

struct i8042 {
    uint8_t status;  /* 0x64 read */
    uint8_t cmdbyte; /* controller command byte */
    uint8_t out;     /* output buffer (valid when status bit 0) */
    uint8_t pending; /* command waiting for its data byte on 0x60, or 0 */
    struct sysreq *req;
};

extern const struct device_ops i8042_ops;

void i8042_init(struct i8042 *k, struct sysreq *req);
/* Two regions: port 0x60 (data, off 0) and 0x64 (command/status, off 0):
 * separate callbacks. */
uint64_t i8042_data_read(void *dev, uint64_t off, int size);
void i8042_data_write(void *dev, uint64_t off, int size, uint64_t val);
uint64_t i8042_cmd_read(void *dev, uint64_t off, int size);
void i8042_cmd_write(void *dev, uint64_t off, int size, uint64_t val);

#endif
