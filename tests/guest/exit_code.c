/* exit_code.c: main's return value reaches the debug-exit port: status
 * (42 << 1) | 1 = 85 on both emulators. */
// @exit: 42
#include "kit.h"

int main(struct mb_info *mbi)
{
    (void)mbi;
    report(true, "returning 42 from main");
    report_summary();
    return 42;
}
