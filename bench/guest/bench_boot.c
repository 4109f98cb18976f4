/* bench_boot.c: start-up. Does the common setup and exits at once, so its
 * wall time is the monitor's start-up plus the kit's early boot. */
#include "bench.h"

int main(struct mb_info *mbi)
{
    (void)mbi;
    bench_setup(false);
    bench_report("boot", 0, 0, 0, 0);
    return 0;
}
