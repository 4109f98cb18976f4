/* smm.c: System Management Mode, first version.
 *
 * pinvm has no firmware and no separate SMRAM yet, so there is no SMM
 * handler to run: an SMI is taken by a null handler that returns at once
 * (entry, then RSM with the state unchanged). What is already real is
 * the rule RSM must follow for pinned bits (docs/cr-pinning.md, "SMM is
 * exempt; RSM must restore the pinned bits"): after RSM every pinned CR0/
 * CR4 bit must equal its value at SMI entry, else RSM fails with shutdown
 * (SDM Vol 2B RSM: invalid saved state enters the shutdown state).
 * Full SMM (state-save map, SMBASE relocation, SMRAM) is a later issue. */
#include "sys.h"

/* The RSM pin rule: may CR0/CR4 be restored to these values? */
static bool rsm_pins_ok(const struct cpu *c, uint64_t entry_cr0,
                        uint64_t entry_cr4, uint64_t cr0, uint64_t cr4)
{
    return !((entry_cr0 ^ cr0) & crpin_mask(&c->pin, 0)) &&
           !((entry_cr4 ^ cr4) & crpin_mask(&c->pin, 4));
}

void smm_enter(struct cpu *c)
{
    c->smi_pending = false;
    if (c->in_smm)
        return; /* SMIs are latched while in SMM; ours completes at once */
    uint64_t cr0 = c->cr0, cr4 = c->cr4;
    if (log_on(c->log, LOG_SMM))
        log_printf(c->log, "SMM: enter (CPU %d) at %04x:%016llx\n", c->cpu_index,
                   c->seg[S_CS].sel, (unsigned long long)c->rip);
    c->in_smm = true;
    /* null SMM handler: nothing changes, then RSM */
    bool ok = rsm_pins_ok(c, cr0, cr4, c->cr0, c->cr4);
    c->in_smm = false;
    if (!ok)
        c->shutdown = true;
    if (log_on(c->log, LOG_SMM))
        log_printf(c->log, "SMM: after RSM (CPU %d)%s\n", c->cpu_index,
                   ok ? "" : ": pinned bits differ, shutdown");
}

bool smm_rsm(struct cpu *c)
{
    /* Never reached while SMM handlers do not run guest code: there is no
     * saved state to restore. */
    c->in_smm = false;
    return false;
}
