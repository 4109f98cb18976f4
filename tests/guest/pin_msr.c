/* Every rule of the four pin MSRs, from the guest side. The guest cannot
 * read the pinned set, so "what is pinned" is checked by behaviour: a CR
 * write that flips a pinned bit is #GP, an unpinned bit flips freely. */
#include "kit.h"
#include "crpin.h"

/* Would flipping `bit` of CR4 (and flipping it back) fault? Leaves CR4 as
 * it was either way. */
static bool cr4_bit_pinned(u64 bit)
{
    u64 cr4 = read_cr4();
    int vec = write_cr4_safe(cr4 ^ bit);
    if (vec < 0)
        write_cr4(cr4);
    return vec == GP_VECTOR && read_cr4() == cr4;
}

static bool cr0_bit_pinned(u64 bit)
{
    u64 cr0 = read_cr0();
    int vec = write_cr0_safe(cr0 ^ bit);
    if (vec < 0)
        write_cr0(cr0);
    return vec == GP_VECTOR && read_cr0() == cr0;
}

int main(struct mb_info *mbi)
{
    struct crpin_info info;
    u64 v;

    (void)mbi;
    if (!crpin_detect(&info)) {
        report(false, "CR pinning advertised");
        return report_summary();
    }
    /* Set every pinnable bit first so that pinning never pins a clear bit. */
    write_cr0(read_cr0() | X86_CR0_WP);
    write_cr4(read_cr4() | X86_CR4_SMEP | X86_CR4_UMIP);

    report_prefix("allowed");
    report(rdmsr_safe(MSR_KVM_CR0_PIN_ALLOWED, &v) < 0 && v == X86_CR0_WP, "CR0 read");
    report(rdmsr_safe(MSR_KVM_CR4_PIN_ALLOWED, &v) < 0 && v == CRPIN_CR4_ALLOWED_RFC,
           "CR4 read");
    report(wrmsr_safe(MSR_KVM_CR0_PIN_ALLOWED, X86_CR0_WP) == GP_VECTOR,
           "CR0 write of its own value is #GP");
    report(wrmsr_safe(MSR_KVM_CR4_PIN_ALLOWED, 0) == GP_VECTOR, "CR4 write of 0 is #GP");
    report(wrmsr_safe(MSR_KVM_CR4_PIN_ALLOWED, ~0ull) == GP_VECTOR, "CR4 write of ~0 is #GP");
    report(rdmsr_safe(MSR_KVM_CR0_PIN_ALLOWED, &v) < 0 && v == X86_CR0_WP &&
           rdmsr_safe(MSR_KVM_CR4_PIN_ALLOWED, &v) < 0 && v == CRPIN_CR4_ALLOWED_RFC,
           "unchanged after the writes");

    report_prefix("pinned");
    v = 0x5a5a;
    report(rdmsr_safe(MSR_KVM_CR0_PINNED, &v) == GP_VECTOR && v == 0x5a5a,
           "CR0 read is #GP (write-only for the guest)");
    report(rdmsr_safe(MSR_KVM_CR4_PINNED, &v) == GP_VECTOR, "CR4 read is #GP");

    /* Nothing pinned yet. */
    report(!cr4_bit_pinned(X86_CR4_SMEP) && !cr0_bit_pinned(X86_CR0_WP),
           "nothing pinned at boot");

    /* A value with a bit outside the allowed mask: #GP and no change, not
     * even of the allowed bits in the same value. */
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_SMEP | X86_CR4_PGE) == GP_VECTOR,
           "CR4 SMEP|PGE is #GP");
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_SMEP | BIT(40)) == GP_VECTOR,
           "CR4 SMEP|bit40 is #GP");
    report(wrmsr_safe(MSR_KVM_CR0_PINNED, X86_CR0_WP | X86_CR0_PG) == GP_VECTOR,
           "CR0 WP|PG is #GP");
    report(wrmsr_safe(MSR_KVM_CR0_PINNED, X86_CR0_TS) == GP_VECTOR, "CR0 TS is #GP");
    report(!cr4_bit_pinned(X86_CR4_SMEP) && !cr0_bit_pinned(X86_CR0_WP),
           "refused writes pinned nothing");

    /* Writing 0 is accepted and pins nothing. */
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, 0) < 0 && wrmsr_safe(MSR_KVM_CR0_PINNED, 0) < 0,
           "write of 0 accepted");
    report(!cr4_bit_pinned(X86_CR4_SMEP), "and pins nothing");

    /* OR semantics: pin SMEP, then UMIP; both stay pinned. */
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_SMEP) < 0, "pin SMEP");
    report(cr4_bit_pinned(X86_CR4_SMEP), "SMEP is pinned");
    report(!cr4_bit_pinned(X86_CR4_UMIP), "UMIP is not");
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_UMIP) < 0, "pin UMIP");
    report(cr4_bit_pinned(X86_CR4_SMEP) && cr4_bit_pinned(X86_CR4_UMIP),
           "SMEP and UMIP both pinned (writes OR in)");
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, 0) < 0 && cr4_bit_pinned(X86_CR4_SMEP),
           "write of 0 does not unpin");
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_SMAP | BIT(7)) == GP_VECTOR &&
           cr4_bit_pinned(X86_CR4_SMEP) && cr4_bit_pinned(X86_CR4_UMIP),
           "refused write leaves earlier pins alone");

    /* CR0 pinning is independent of CR4's. */
    report(!cr0_bit_pinned(X86_CR0_WP), "CR0.WP not pinned by CR4 pins");
    report(wrmsr_safe(MSR_KVM_CR0_PINNED, X86_CR0_WP) < 0 && cr0_bit_pinned(X86_CR0_WP),
           "pin CR0.WP");
    report(!cr4_bit_pinned(X86_CR4_PGE) && !cr0_bit_pinned(X86_CR0_TS),
           "unpinned bits (CR4.PGE, CR0.TS) still flip");
    v = 0;
    report(rdmsr_safe(MSR_KVM_CR4_PINNED, &v) == GP_VECTOR && v == 0,
           "still unreadable once set");
    report_prefix(NULL);
    return report_summary();
}
