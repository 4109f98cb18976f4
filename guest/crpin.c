/* crpin.c: detect CR pinning and pin this CPU's security bits. */
#include "crpin.h"

#include "kit.h"

enum crpin_sig crpin_signature(u32 *max_leaf)
{
    struct cpuid r = cpuid(HV_CPUID_SIGNATURE);
    char sig[12];

    memcpy(sig + 0, &r.b, 4);
    memcpy(sig + 4, &r.c, 4);
    memcpy(sig + 8, &r.d, 4);
    if (max_leaf)
        *max_leaf = r.a;
    if (memcmp(sig, "KVMKVMKVM\0\0\0", 12) == 0)
        return CRPIN_SIG_KVM;
    if (memcmp(sig, "PinVMPinVM\0\0", 12) == 0)
        return CRPIN_SIG_PINVM;
    return CRPIN_SIG_NONE;
}

bool crpin_detect(struct crpin_info *info)
{
    memset(info, 0, sizeof *info);
    /* Leaves 0x40000000+ mean something only under a hypervisor
     * (CPUID.1:ECX bit 31); bare metal returns data of its highest leaf. */
    if (!cpuid_bit(1, 0, 'c', CPUID_1_ECX_HYPERVISOR))
        return false;
    info->sig = crpin_signature(&info->max_leaf);
    if (info->sig == CRPIN_SIG_NONE || info->max_leaf < HV_CPUID_FEATURES)
        return false;
    if (!((cpuid(HV_CPUID_FEATURES).a >> KVM_FEATURE_CR_PIN) & 1))
        return false;
    if (rdmsr_safe(MSR_KVM_CR0_PIN_ALLOWED, &info->cr0_allowed) >= 0 ||
        rdmsr_safe(MSR_KVM_CR4_PIN_ALLOWED, &info->cr4_allowed) >= 0) {
        info->cr0_allowed = info->cr4_allowed = 0;
        return false;
    }
    info->present = true;
    return true;
}

int crpin_pin_this_cpu(u64 *cr0_pinned, u64 *cr4_pinned)
{
    struct crpin_info info;
    u64 cr0, cr4;
    int vec;

    if (cr0_pinned)
        *cr0_pinned = 0;
    if (cr4_pinned)
        *cr4_pinned = 0;
    if (!crpin_detect(&info)) {
        printf("crpin: not available, nothing pinned\n");
        return -1;
    }
    cr0 = read_cr0() & info.cr0_allowed;
    cr4 = read_cr4() & info.cr4_allowed;
    vec = wrmsr_safe(MSR_KVM_CR0_PINNED, cr0);
    if (vec < 0)
        vec = wrmsr_safe(MSR_KVM_CR4_PINNED, cr4);
    if (vec >= 0) {
        printf("crpin: pinning failed with vector %d\n", vec);
        return vec;
    }
    if (cr0_pinned)
        *cr0_pinned = cr0;
    if (cr4_pinned)
        *cr4_pinned = cr4;
    printf("crpin: pinned cr0=0x%llx cr4=0x%llx (signature %s)\n",
           (unsigned long long)cr0, (unsigned long long)cr4,
           info.sig == CRPIN_SIG_PINVM ? "PinVMPinVM" : "KVMKVMKVM");
    return 0;
}
