/* crpin: the paravirtualized control-register pinning policy.
 *
 * Pure module: no emulator dependency, only <stdint.h>/<stdbool.h>. It
 * implements the ABI of the 2019 KVM RFC "KVM: X86: Add CR pin MSRs" and
 * could be dropped into a hypervisor as is. See docs/cr-pinning.md.
 */
#ifndef PINVM_CRPIN_H
#define PINVM_CRPIN_H

#include <stdbool.h>
#include <stdint.h>

/* MSR numbers from the seed RFC (they collide with today's upstream KVM:
 * see docs/cr-pinning.md, "ABI collision"). */
#define MSR_KVM_CR0_PIN_ALLOWED 0x4b564d06u
#define MSR_KVM_CR4_PIN_ALLOWED 0x4b564d07u
#define MSR_KVM_CR0_PINNED      0x4b564d08u
#define MSR_KVM_CR4_PINNED      0x4b564d09u

/* CPUID 0x40000001 EAX bit. */
#define KVM_FEATURE_CR_PIN 14

#define CRPIN_CR0_WP   (1ull << 16)
#define CRPIN_CR4_UMIP (1ull << 11)
#define CRPIN_CR4_SMEP (1ull << 20)
#define CRPIN_CR4_SMAP (1ull << 21)

#define CRPIN_CR0_ALLOWED CRPIN_CR0_WP                                   /* 65536 */
#define CRPIN_CR4_ALLOWED (CRPIN_CR4_SMEP | CRPIN_CR4_SMAP | CRPIN_CR4_UMIP) /* 3147776 */

/* Per-vCPU pin state. */
struct crpin {
    uint64_t cr0_pinned;
    uint64_t cr4_pinned;
};

/* Who performs an MSR access: the guest (RDMSR/WRMSR) or host userspace
 * (control socket, snapshot restore). */
enum crpin_origin { CRPIN_GUEST = 0, CRPIN_HOST = 1 };

/* Result of an MSR access or CR write check. */
enum crpin_result {
    CRPIN_OK = 0,
    CRPIN_GP = 1,        /* the access must raise #GP(0); nothing changed */
    CRPIN_NOT_MINE = 2,  /* not a pinning MSR: caller handles it */
};

/* Clear every pin (every kind of reset; the RFC requires it of userspace). */
void crpin_reset(struct crpin *p);

/* Is msr one of the four pinning MSRs? */
bool crpin_is_msr(uint32_t msr);

/* RDMSR of a pinning MSR. Guest reads of the PINNED MSRs get #GP (the RFC:
 * "the guest may never read pinned bits"); ALLOWED MSRs read for anyone. */
enum crpin_result crpin_msr_read(const struct crpin *p, uint32_t msr,
                                 enum crpin_origin who, uint64_t *val);

/* WRMSR of a pinning MSR. ALLOWED MSRs are read-only (#GP). A value with a
 * bit outside the allowed set is #GP and changes nothing. A guest write ORs
 * into the pinned set; a host write sets it exactly. */
enum crpin_result crpin_msr_write(struct crpin *p, uint32_t msr,
                                  enum crpin_origin who, uint64_t val);

/* The one check every CR0/CR4 write path goes through. cr is 0 or 4.
 * Returns CRPIN_GP when, outside SMM, the write would change a pinned bit.
 * Note the seed's rule is "changes", not "clears": a bit pinned while clear
 * can never be set. */
enum crpin_result crpin_check_cr_write(const struct crpin *p, int cr,
                                       uint64_t old_val, uint64_t new_val,
                                       bool in_smm);

/* Mask of pinned bits for cr (0 or 4); 0 for any other register. */
uint64_t crpin_mask(const struct crpin *p, int cr);

#endif
