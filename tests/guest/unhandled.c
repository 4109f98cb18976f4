/* unhandled.c: an exception nothing expects prints the vector, RIP, error
 * code and CR2, and exits with EXIT_ABORT (0x7e). */
// @exit: 126
#include "kit.h"

int main(struct mb_info *mbi)
{
    (void)mbi;
    report(true, "about to fault with no handler");
    report_summary();
    *(volatile u64 *)0x300000008ull = 1;   /* #PF(W) */
    return 0;
}
