/* A guest hammering the pin check: every one of many blocked writes is
 * #GP and CR4 never changes. On the host side the audit trail counts all
 * of them but logs only a burst plus a "suppressed K records" line (rate
 * limit, docs/cr-pinning.md decision f): run with -d pin to see it. */
#include "kit.h"
#include "crpin.h"

#define TRIES 20000

int main(struct mb_info *mbi)
{
    u64 cr4, cr4p = 0;
    unsigned gp = 0, changed = 0;

    (void)mbi;
    write_cr4(read_cr4() | X86_CR4_SMEP);
    cr4 = read_cr4();
    int ret = crpin_pin_this_cpu(NULL, &cr4p);
    report(ret == 0 && (cr4p & X86_CR4_SMEP), "SMEP pinned");
    for (unsigned i = 0; i < TRIES; i++) {
        /* vary the value too: any write flipping SMEP must fail */
        u64 v = (cr4 & ~X86_CR4_SMEP) ^ ((i & 1) ? X86_CR4_PGE : 0);
        gp += write_cr4_safe(v) == GP_VECTOR;
        changed += read_cr4() != cr4;
    }
    report(gp == TRIES, "all %u writes clearing SMEP were #GP (%u)", TRIES, gp);
    report(changed == 0, "CR4 never changed");
    report(write_cr4_safe(cr4 ^ X86_CR4_PGE) < 0 && write_cr4_safe(cr4) < 0,
           "PGE still flips afterwards");
    return report_summary();
}
