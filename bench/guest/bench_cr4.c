/* bench_cr4.c: the TLB-flush idiom, n pairs of CR4 writes turning PGE off
 * and on (each write flushes the whole TLB, SDM Vol 3A 4.10.4.1).
 * ops = CR4 writes (2n). Pinned bits are left as they are, so with "pin"
 * this times the pin check on the allowed path. */
#include "bench.h"

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 n = bench_arg("n", 1000000);
    bench_setup(false);
    u64 on = read_cr4() | X86_CR4_PGE, off = on & ~X86_CR4_PGE;
    write_cr4(on);
    for (u64 i = 0; i < n; i++) {
        write_cr4(off);
        write_cr4(on);
    }
    bench_report("cr4", n, 2 * n, 0, read_cr4());
    return 0;
}
