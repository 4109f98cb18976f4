/* apm.c: APM control/status ports and the SMM "firmware" step; see apm.h
 * and docs/smm.md. QEMU: hw/isa/apm.c (the SMI goes to the CPU that did
 * the write, as on ICH9 with the broadcast feature off). */
#include "apm.h"

#include <string.h>

#include "cpu/cpu.h"
#include "cpu/smm_handler.h"
#include "cpu/smm_smram.h"
#include "vmstate.h"

void apm_init(struct apm *a)
{
    apm_ops.reset(a);
}

static void apm_reset(void *dev)
{
    struct apm *a = dev;
    a->cnt = a->sts = 0;
    a->smi_request = false;
}

uint64_t apm_read(void *dev, uint64_t off, int size)
{
    const struct apm *a = dev;
    (void)size;
    return off == 0 ? a->cnt : a->sts;
}

void apm_write(void *dev, uint64_t off, int size, uint64_t val)
{
    struct apm *a = dev;
    (void)size;
    if (off == 0) {
        a->cnt = (uint8_t)val;
        a->smi_request = true;
    } else {
        a->sts = (uint8_t)val;
    }
}

static void apm_save(const void *dev, struct vmstate *s)
{
    const struct apm *a = dev;
    vmstate_put_u8(s, a->cnt);
    vmstate_put_u8(s, a->sts);
}

static int apm_load(void *dev, struct vmstate *s)
{
    struct apm *a = dev;
    uint8_t cnt = vmstate_get_u8(s), sts = vmstate_get_u8(s);
    if (!vmstate_ok(s)) {
        apm_reset(a);
        return -1;
    }
    a->cnt = cnt;
    a->sts = sts;
    a->smi_request = false;
    return 0;
}

const struct device_ops apm_ops = {
    .name = "apm",
    .reset = apm_reset,
    .save = apm_save,
    .load = apm_load,
};

static void put_handler(struct cpu *c, uint64_t smbase)
{
    uint64_t at = smbase + SMM_ENTRY_OFF;
    size_t n = smm_handler_size();
    if (!smbase_valid(smbase) || at + n > c->ram_size)
        return;
    memcpy(c->ram + at, pinvm_smm_handler, n); /* host write, like a loader */
}

void apm_smm_firmware(struct cpu *c)
{
    if (c->cpu_index < 0 || (uint64_t)c->cpu_index * SMBASE_STRIDE >= 0x10000u)
        return;
    c->smbase = SMBASE_DEFAULT + (uint32_t)c->cpu_index * SMBASE_STRIDE;
    put_handler(c, c->smbase);
    put_handler(c, c->smbase + 0x10000u); /* handler command 0xE1 */
    icache_flush(c);
}
