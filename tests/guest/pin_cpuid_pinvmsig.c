// @pinvm-args: -cpu max,+pinvm-sig
/* With +pinvm-sig the same leaves and MSRs sit under the signature
 * "PinVMPinVM\0\0", so a stock Linux guest sees no KVM (and does not try
 * async page faults through the colliding MSR numbers). */
#include "kit.h"
#include "crpin.h"

int main(struct mb_info *mbi)
{
    struct crpin_info info;
    struct cpuid r = cpuid(HV_CPUID_SIGNATURE);
    u32 max_leaf = 0;
    u64 cr4_pinned = 0;

    (void)mbi;
    report(r.b == 0x566e6950 && r.c == 0x6e69504d && r.d == 0x00004d56,
           "EBX,ECX,EDX spell PinVMPinVM\\0\\0 (0x%x 0x%x 0x%x)", r.b, r.c, r.d);
    report(crpin_signature(&max_leaf) == CRPIN_SIG_PINVM, "not the KVM signature");
    report(max_leaf >= HV_CPUID_FEATURES &&
           ((cpuid(HV_CPUID_FEATURES).a >> KVM_FEATURE_CR_PIN) & 1),
           "CPUID 0x40000001 EAX bit 14 still set");
    report(crpin_detect(&info) && info.sig == CRPIN_SIG_PINVM &&
           info.cr4_allowed == CRPIN_CR4_ALLOWED_RFC,
           "crpin_detect accepts the PinVM signature");

    /* and the MSRs behave the same: pin SMEP, then clearing it is #GP */
    write_cr4(read_cr4() | X86_CR4_SMEP);
    report(crpin_pin_this_cpu(NULL, &cr4_pinned) == 0 && (cr4_pinned & X86_CR4_SMEP),
           "SMEP pinned");
    report(write_cr4_safe(read_cr4() & ~X86_CR4_SMEP) == GP_VECTOR &&
           (read_cr4() & X86_CR4_SMEP), "clearing pinned SMEP is #GP");
    return report_summary();
}
