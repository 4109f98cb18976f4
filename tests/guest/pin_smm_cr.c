/* Pinning and SMM (docs/cr-pinning.md, decision (c)): with CR0.WP and
 * CR4.SMEP/SMAP/UMIP pinned, an SMI round trip keeps them and the pins,
 * with no #GP; inside SMM the handler can clear and set the pinned bits
 * (APM command 0xE0 of pinvm's built-in handler); outside SMM the pins
 * hold as before. Tampering with the saved pinned bits: tests/smm/run.sh. */
#include "kit.h"
#include "crpin.h"

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 set = X86_CR4_UMIP * cpuid_bit(7, 0, 'c', 2);
    if (cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP))
        set |= X86_CR4_SMEP;
    if (cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMAP))
        set |= X86_CR4_SMAP;
    write_cr4(read_cr4() | set);
    u64 cr0p = 0, cr4p = 0;
    int ret = crpin_pin_this_cpu(&cr0p, &cr4p);
    report(ret == 0 && cr0p == X86_CR0_WP && cr4p == set, "pinned WP and CR4 0x%llx",
           (unsigned long long)cr4p);
    u64 cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);

    outb(0xb2, 0x10);
    report(read_cr0() == cr0 && read_cr3() == cr3 && read_cr4() == cr4 &&
           rdmsr(MSR_EFER) == efer, "SMI round trip: CR0, CR3, CR4, EFER intact");
    report(exception_vector() < 0, "no exception on the way");

    outb(0xb2, 0xe0);
    report(inb(0xb3) == 0x5a, "inside SMM the handler cleared and set the pinned bits");
    report(read_cr0() == cr0 && read_cr4() == cr4, "RSM restored them as pinned");

    report(write_cr4_safe(cr4 & ~set) == GP_VECTOR && read_cr4() == cr4,
           "after RSM the CR4 pins are enforced again");
    report(write_cr0_safe(cr0 & ~X86_CR0_WP) == GP_VECTOR && read_cr0() == cr0,
           "and the CR0.WP pin");
    for (int k = 0; k < 10; k++)
        outb(0xb2, (u8)(0xe0 - 10 + k));
    report(read_cr0() == cr0 && read_cr4() == cr4, "10 more SMIs: pinned bits intact");
    return report_summary();
}
