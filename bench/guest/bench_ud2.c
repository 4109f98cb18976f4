/* bench_ud2.c: n UD2 faults at CPL0, each handled by a raw stub that
 * counts, steps over the 2-byte UD2 and IRETs, so the time is #UD delivery
 * + IRETQ. ops = faults; result = the count. */
#include "bench.h"

asm(".pushsection .text\n"
    "ud_stub:\n\t"
    "incq bench_count(%rip)\n\t"
    "addq $2, (%rsp)\n\t"         /* skip ud2 (0f 0b) */
    "iretq\n"
    ".popsection");
extern char ud_stub[];

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 n = bench_arg("n", 1000000);
    bench_setup(false);
    idt_set_target(UD_VECTOR, (u64)ud_stub, KERNEL_CS, 14);
    for (u64 i = 0; i < n; i++)
        asm volatile("ud2" ::: "memory");
    bench_report("ud2", n, bench_count, 0, bench_count);
    return 0;
}
