/* smm.c: System Management Mode, first version.
 *
 * pinvm has no firmware and no SMRAM yet, so there is no SMM handler to
 * run. An SMI still does what the CPU does around a handler: SMI entry
 * loads the SMM state through the CR chokepoints (CR0.PE/PG cleared, CR4
 * cleared: this is why pins are not enforced while in_smm, SDM Vol 3C
 * 32.5.1), a null handler runs, and RSM restores the saved state. The save
 * area is kept host-side (the guest cannot edit it yet).
 *
 * The RSM pin rule (docs/cr-pinning.md, "SMM is exempt; RSM must restore
 * the pinned bits"): every pinned CR0/CR4 bit restored by RSM must equal
 * its value at SMI entry, else RSM fails with shutdown, as for any invalid
 * saved state (SDM Vol 2B RSM). Full SMM (state-save map in SMRAM, SMBASE
 * relocation, handlers) is a later issue. */
#include <string.h>

#include "sys.h"

struct smm_save {
    uint64_t cr0, cr3, cr4, efer, rip, dr7;
    uint32_t eflags;
    struct seg seg[S_NSEG];
};

/* The RSM pin rule: may CR0/CR4 be restored to these values? */
static bool rsm_pins_ok(const struct cpu *c, uint64_t entry_cr0,
                        uint64_t entry_cr4, uint64_t cr0, uint64_t cr4)
{
    return !((entry_cr0 ^ cr0) & crpin_mask(&c->pin, 0)) &&
           !((entry_cr4 ^ cr4) & crpin_mask(&c->pin, 4));
}

/* SMI entry state (SDM Vol 3C table 32-4). */
static void smm_load_entry_state(struct cpu *c)
{
    for (int s = S_ES; s <= S_GS; s++) {
        c->seg[s].sel = 0;
        c->seg[s].base = 0;
        c->seg[s].limit = 0xffffffffu;
        c->seg[s].attr = SEG_ATTR_P | SEG_ATTR_S | 0x3;
    }
    c->seg[S_CS].sel = (uint16_t)(c->smbase >> 4);
    c->seg[S_CS].base = c->smbase;
    c->seg[S_CS].attr = SEG_ATTR_P | SEG_ATTR_S | 0xb;
    cpu_set_eflags(c, 2);
    c->rip = c->next_rip = 0x8000;
    /* CS.L is now 0: in IA-32e mode this is compatibility mode, where
     * CR0.PG may be cleared (the chokepoint refuses it in 64-bit mode) */
    cpu_update_mode(c);
    cpu_write_cr0(c, c->cr0 & ~(CR0_PE | CR0_EM | CR0_TS | CR0_PG));
    cpu_write_cr4(c, 0);
    c->efer = 0;
    c->dr[7] = 0x400;
    tlb_flush_all(c);
    cpu_update_mode(c);
}

/* RSM: restore through the chokepoints. EFER first (LME, and LMA as
 * saved), then CR4 (PAE), CR3, then CR0 (PG) while CS.L is still 0. */
static void smm_restore(struct cpu *c, const struct smm_save *s)
{
    c->efer = s->efer;
    cpu_write_cr4(c, s->cr4);
    cpu_write_cr3(c, s->cr3);
    cpu_write_cr0(c, s->cr0);
    memcpy(c->seg, s->seg, sizeof c->seg);
    cpu_set_eflags(c, s->eflags);
    c->rip = c->next_rip = s->rip;
    c->dr[7] = s->dr7;
    tlb_flush_all(c);
    cpu_update_mode(c);
}

void smm_enter(struct cpu *c)
{
    c->smi_pending = false;
    if (c->in_smm)
        return; /* SMIs are latched while in SMM; ours completes at once */

    struct smm_save s = {c->cr0, c->cr3, c->cr4, c->efer, c->rip, c->dr[7],
                         cpu_get_eflags(c), {{0}}};
    memcpy(s.seg, c->seg, sizeof s.seg);
    bool nmi_blocked = c->nmi_blocked;
    if (log_on(c->log, LOG_SMM))
        log_printf(c->log, "SMM: enter (CPU %d) at %04x:%016llx\n", c->cpu_index,
                   c->seg[S_CS].sel, (unsigned long long)c->rip);

    jmp_buf saved;
    memcpy(saved, c->fault_jmp, sizeof saved);
    volatile bool ok = true;
    if (setjmp(c->fault_jmp) == 0) {
        c->in_smm = true;
        c->nmi_blocked = true; /* SMM entry blocks NMIs (SDM 32.8) */
        smm_load_entry_state(c);
        /* null SMM handler; then RSM */
        if (!rsm_pins_ok(c, s.cr0, s.cr4, s.cr0, s.cr4))
            ok = false;
        else
            smm_restore(c, &s);
    } else {
        ok = false; /* a saved value the chokepoints refuse */
        c->fault_vec = -1;
    }
    memcpy(c->fault_jmp, saved, sizeof saved);
    c->in_smm = false;
    c->nmi_blocked = nmi_blocked;
    if (!ok)
        c->shutdown = true;
    if (log_on(c->log, LOG_SMM))
        log_printf(c->log, "SMM: after RSM (CPU %d)%s\n", c->cpu_index,
                   ok ? "" : ": invalid saved state, shutdown");
}

bool smm_rsm(struct cpu *c)
{
    /* Unreachable while no SMM handler runs guest code: RSM is #UD
     * outside SMM (system.c), and SMM never lasts past smm_enter(). */
    c->in_smm = false;
    return false;
}
