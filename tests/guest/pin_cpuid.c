/* CR pinning discovery with the default ABI: the KVM signature, CPUID
 * 0x40000001 EAX bit 14, the bits that can be pinned exist (leaf 7), and
 * the ALLOWED MSRs name exactly WP and SMEP|SMAP|UMIP. */
#include "kit.h"
#include "crpin.h"

int main(struct mb_info *mbi)
{
    struct crpin_info info;
    u32 max_leaf = 0;
    u64 v = 0;

    (void)mbi;
    report(cpuid_bit(1, 0, 'c', CPUID_1_ECX_HYPERVISOR),
           "CPUID.1:ECX.hypervisor is set");
    report(crpin_signature(&max_leaf) == CRPIN_SIG_KVM,
           "CPUID 0x40000000 signature is KVMKVMKVM\\0\\0\\0");
    report(max_leaf >= HV_CPUID_FEATURES, "max hypervisor leaf 0x%x >= 0x40000001",
           max_leaf);
    report((cpuid(HV_CPUID_FEATURES).a >> KVM_FEATURE_CR_PIN) & 1,
           "CPUID 0x40000001 EAX bit 14 (KVM_FEATURE_CR_PIN)");
    report(cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP), "leaf 7: SMEP");
    report(cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMAP), "leaf 7: SMAP");
    report(cpuid_bit(7, 0, 'c', CPUID_7_ECX_UMIP), "leaf 7: UMIP");

    report(rdmsr_safe(MSR_KVM_CR0_PIN_ALLOWED, &v) < 0 && v == X86_CR0_WP,
           "CR0_PIN_ALLOWED reads WP (0x%llx)", (unsigned long long)v);
    report(rdmsr_safe(MSR_KVM_CR4_PIN_ALLOWED, &v) < 0 &&
           v == (X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_UMIP),
           "CR4_PIN_ALLOWED reads SMEP|SMAP|UMIP (0x%llx)", (unsigned long long)v);

    report(crpin_detect(&info) && info.sig == CRPIN_SIG_KVM &&
           info.cr0_allowed == CRPIN_CR0_ALLOWED_RFC &&
           info.cr4_allowed == CRPIN_CR4_ALLOWED_RFC,
           "crpin_detect finds the feature and both masks");
    return report_summary();
}
