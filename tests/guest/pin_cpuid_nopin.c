// @pinvm-args: -cpu max,-cr-pin
/* With -cpu max,-cr-pin the feature is gone: bit 14 clear, and the four
 * pin MSRs do not exist (#GP on read and on write, like any unknown MSR). */
#include "kit.h"
#include "crpin.h"

static const u32 pin_msrs[] = {
    MSR_KVM_CR0_PIN_ALLOWED, MSR_KVM_CR4_PIN_ALLOWED,
    MSR_KVM_CR0_PINNED, MSR_KVM_CR4_PINNED,
};

int main(struct mb_info *mbi)
{
    struct crpin_info info;
    u32 max_leaf = 0;
    u64 v;

    (void)mbi;
    /* The hypervisor leaves may stay; only the feature bit must go. */
    if (crpin_signature(&max_leaf) != CRPIN_SIG_NONE && max_leaf >= HV_CPUID_FEATURES)
        report(!((cpuid(HV_CPUID_FEATURES).a >> KVM_FEATURE_CR_PIN) & 1),
               "CPUID 0x40000001 EAX bit 14 is clear");
    else
        report(true, "no hypervisor feature leaf, so no CR pin bit");
    for (unsigned i = 0; i < ARRAY_SIZE(pin_msrs); i++) {
        report(rdmsr_safe(pin_msrs[i], &v) == GP_VECTOR, "rdmsr 0x%x is #GP", pin_msrs[i]);
        report(wrmsr_safe(pin_msrs[i], 0) == GP_VECTOR, "wrmsr 0x%x is #GP", pin_msrs[i]);
    }
    report(!crpin_detect(&info), "crpin_detect reports no feature");
    report(crpin_pin_this_cpu(NULL, NULL) == -1, "crpin_pin_this_cpu pins nothing");
    /* and nothing got pinned: SMEP still toggles */
    if (cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP)) {
        u64 cr4 = read_cr4();
        report(write_cr4_safe(cr4 | X86_CR4_SMEP) < 0 && write_cr4_safe(cr4 & ~X86_CR4_SMEP) < 0,
               "SMEP can be set and cleared");
        write_cr4(cr4);
    }
    return report_summary();
}
