/* task.c: 32-bit hardware task switch (SDM Vol 3A 7.3). First version:
 * not implemented, the guest gets #GP(TSS selector). */
#include "sys.h"

void task_switch(struct cpu *c, uint16_t sel, const struct desc *d, int how,
                 int32_t err, uint64_t ret_eip)
{
    (void)d; (void)how; (void)err; (void)ret_eip;
    if (log_on(c->log, LOG_GUEST_ERROR))
        log_printf(c->log, "task switch to TSS 0x%04x is not supported\n", sel);
    cpu_raise(c, EXC_GP, sel_err(sel));
}
