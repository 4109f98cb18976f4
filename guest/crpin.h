/* crpin.h: the guest half of paravirtualized CR pinning (the ABI of the
 * 2019 KVM RFC "KVM: X86: Add CR pin MSRs"; see docs/cr-pinning.md).
 *
 * A kernel calls crpin_pin_this_cpu() on each CPU once that CPU's CR0/CR4
 * hold their final values (the BSP after enabling SMEP/SMAP/UMIP/WP, each
 * AP on its own bring-up path, since INIT clears a CPU's pins). */
#ifndef GUEST_CRPIN_H
#define GUEST_CRPIN_H

#include "processor.h"

#define HV_CPUID_SIGNATURE 0x40000000u
#define HV_CPUID_FEATURES  0x40000001u
#define KVM_FEATURE_CR_PIN 14

#define MSR_KVM_CR0_PIN_ALLOWED 0x4b564d06u
#define MSR_KVM_CR4_PIN_ALLOWED 0x4b564d07u
#define MSR_KVM_CR0_PINNED      0x4b564d08u
#define MSR_KVM_CR4_PINNED      0x4b564d09u

/* What the RFC allows today; a guest must read the MSRs, not assume. */
#define CRPIN_CR0_ALLOWED_RFC X86_CR0_WP
#define CRPIN_CR4_ALLOWED_RFC (X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_UMIP)

enum crpin_sig {
    CRPIN_SIG_NONE = 0,
    CRPIN_SIG_KVM,   /* "KVMKVMKVM\0\0\0": the seed ABI */
    CRPIN_SIG_PINVM, /* "PinVMPinVM\0\0": -cpu ...,+pinvm-sig */
};

struct crpin_info {
    enum crpin_sig sig;
    u32 max_leaf;      /* CPUID 0x40000000 EAX */
    bool present;      /* signature, leaf 0x40000001 and bit 14 */
    u64 cr0_allowed;   /* from the ALLOWED MSRs (0 if !present) */
    u64 cr4_allowed;
};

/* Which hypervisor signature CPUID 0x40000000 reports. */
enum crpin_sig crpin_signature(u32 *max_leaf);
/* Detect the feature and read the allowed masks. Returns info->present.
 * A feature bit whose ALLOWED MSRs #GP counts as absent. */
bool crpin_detect(struct crpin_info *info);

/* Pin the bits of CR0/CR4 that are allowed AND currently set, on the
 * calling CPU only. Never pins a clear bit: the rule is "a write that
 * changes a pinned bit fails", so a bit pinned while clear could never be
 * set again. Prints one line saying what was pinned. Returns 0, -1 if the
 * feature is absent, or the vector a pin-MSR write raised. The masks
 * written are stored through cr0_pinned and cr4_pinned when not NULL. */
int crpin_pin_this_cpu(u64 *cr0_pinned, u64 *cr4_pinned);

#endif
