/* crpin: pure pinning policy. See crpin.h and docs/cr-pinning.md. */
#include "crpin.h"

void crpin_reset(struct crpin *p)
{
    p->cr0_pinned = 0;
    p->cr4_pinned = 0;
}

bool crpin_is_msr(uint32_t msr)
{
    return msr >= MSR_KVM_CR0_PIN_ALLOWED && msr <= MSR_KVM_CR4_PINNED;
}

uint64_t crpin_mask(const struct crpin *p, int cr)
{
    if (cr == 0)
        return p->cr0_pinned;
    if (cr == 4)
        return p->cr4_pinned;
    return 0;
}

enum crpin_result crpin_msr_read(const struct crpin *p, uint32_t msr,
                                 enum crpin_origin who, uint64_t *val)
{
    switch (msr) {
    case MSR_KVM_CR0_PIN_ALLOWED:
        *val = CRPIN_CR0_ALLOWED;
        return CRPIN_OK;
    case MSR_KVM_CR4_PIN_ALLOWED:
        *val = CRPIN_CR4_ALLOWED;
        return CRPIN_OK;
    case MSR_KVM_CR0_PINNED:
    case MSR_KVM_CR4_PINNED:
        /* RFC: write-only for the guest, so an attacker cannot learn which
         * bits are safe to flip. */
        if (who != CRPIN_HOST)
            return CRPIN_GP;
        *val = msr == MSR_KVM_CR0_PINNED ? p->cr0_pinned : p->cr4_pinned;
        return CRPIN_OK;
    default:
        return CRPIN_NOT_MINE;
    }
}

enum crpin_result crpin_msr_write(struct crpin *p, uint32_t msr,
                                  enum crpin_origin who, uint64_t val)
{
    uint64_t allowed, *slot;

    switch (msr) {
    case MSR_KVM_CR0_PIN_ALLOWED:
    case MSR_KVM_CR4_PIN_ALLOWED:
        return CRPIN_GP; /* read-only, for host and guest alike */
    case MSR_KVM_CR0_PINNED:
        allowed = CRPIN_CR0_ALLOWED;
        slot = &p->cr0_pinned;
        break;
    case MSR_KVM_CR4_PINNED:
        allowed = CRPIN_CR4_ALLOWED;
        slot = &p->cr4_pinned;
        break;
    default:
        return CRPIN_NOT_MINE;
    }
    if (val & ~allowed)
        return CRPIN_GP;
    if (who == CRPIN_HOST)
        *slot = val;  /* host userspace may clear or change pins at any time */
    else
        *slot |= val; /* the guest may add pins, never remove one */
    return CRPIN_OK;
}

enum crpin_result crpin_check_cr_write(const struct crpin *p, int cr,
                                       uint64_t old_val, uint64_t new_val,
                                       bool in_smm)
{
    /* SMM entry clears CR0/CR4 bits unconditionally; the RFC exempts SMM so
     * an SMI cannot shut the vCPU down. RSM's restore is checked separately
     * by the caller against the values saved at SMI entry. */
    if (in_smm)
        return CRPIN_OK;
    if ((old_val ^ new_val) & crpin_mask(p, cr))
        return CRPIN_GP;
    return CRPIN_OK;
}
