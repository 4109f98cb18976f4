/* apm.h: the APM control and status ports of PC chipsets (PIIX4 / ICH9
 * "APMC" and "APMS"): a write to 0xB2 raises an SMI on the vCPU that
 * wrote it; 0xB3 is a read/write scratch byte (the SMI handler's status).
 * docs/smm.md. */
#ifndef PINVM_APM_H
#define PINVM_APM_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define APM_CNT_PORT 0xb2
#define APM_STS_PORT 0xb3

struct apm {
    uint8_t cnt, sts;
    /* set by a write to 0xB2; machine_io_out() moves it to the writing
     * vCPU's smi_pending (the port callbacks do not know the vCPU) */
    bool smi_request;
};

extern const struct device_ops apm_ops;

void apm_init(struct apm *a);
uint64_t apm_read(void *dev, uint64_t off, int size);
void apm_write(void *dev, uint64_t off, int size, uint64_t val);

struct cpu;
/* The built-in SMI handler ("firmware"): give vCPU c its SMBASE (SMRAM
 * base + index * stride, as firmware relocates them) and copy the
 * handler to its SMM entry point and to the relocation-test target. Run
 * at machine start and after every reset, after cpu_reset(). */
void apm_smm_firmware(struct cpu *c);

#endif
