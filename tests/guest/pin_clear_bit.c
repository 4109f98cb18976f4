/* The seed's rule is "a write that changes a pinned bit fails", so a bit
 * pinned while clear can never be set afterwards. The guest half therefore
 * pins only bits that are set; this test shows both sides. */
#include "kit.h"
#include "crpin.h"

int main(struct mb_info *mbi)
{
    u64 cr4, cr4p = ~0ull;

    (void)mbi;
    write_cr4(read_cr4() & ~(X86_CR4_SMAP | X86_CR4_SMEP | X86_CR4_UMIP));
    write_cr4(read_cr4() | X86_CR4_UMIP);
    int ret = crpin_pin_this_cpu(NULL, &cr4p);
    report(ret == 0 && cr4p == X86_CR4_UMIP,
           "crpin_pin_this_cpu pins only the set bit (0x%llx)", (unsigned long long)cr4p);
    cr4 = read_cr4();
    report(write_cr4_safe(cr4 | X86_CR4_SMAP) < 0, "so SMAP can still be set");
    report(write_cr4_safe(cr4) < 0, "and cleared again");

    /* Pinning SMAP while it is clear is accepted by the MSR ... */
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_SMAP) < 0, "pin SMAP while clear");
    /* ... and then setting it changes a pinned bit: #GP, forever. */
    report(write_cr4_safe(cr4 | X86_CR4_SMAP) == GP_VECTOR && read_cr4() == cr4,
           "setting a bit pinned while clear is #GP");
    report(write_cr4_safe(cr4 | X86_CR4_SMAP | X86_CR4_SMEP) == GP_VECTOR &&
           read_cr4() == cr4, "even together with an unpinned bit");
    report(write_cr4_safe(cr4 | X86_CR4_SMEP) < 0 && (read_cr4() & X86_CR4_SMEP),
           "SMEP (not pinned) still sets");
    return report_summary();
}
