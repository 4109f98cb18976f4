/* bench_int3.c: n INT3 traps at CPL0, each handled by a raw stub that
 * counts and IRETs (INT3 is a trap: the saved RIP is already past it), so
 * the time is #BP delivery + IRETQ. ops = traps; result = the count. */
#include "bench.h"

asm(".pushsection .text\n"
    "bp_stub:\n\t"
    "incq bench_count(%rip)\n\t"
    "iretq\n"
    ".popsection");
extern char bp_stub[];

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 n = bench_arg("n", 1000000);
    bench_setup(false);
    idt_set_target(BP_VECTOR, (u64)bp_stub, KERNEL_CS, 14);
    for (u64 i = 0; i < n; i++)
        asm volatile("int3" ::: "memory");
    bench_report("int3", n, bench_count, 0, bench_count);
    return 0;
}
