/* bench_syscall.c: n SYSCALL/SYSRET round trips from CPL3. The user loop
 * is "syscall; dec; jnz"; the LSTAR entry counts and SYSRETQs at once (no
 * stack switch needed, it touches no stack). ops = round trips; result =
 * the count. */
#include "bench.h"

asm(".pushsection .text\n"
    "sys_entry:\n\t"
    "incq bench_count(%rip)\n\t"
    "sysretq\n"
    ".popsection");
extern char sys_entry[];

static long USER_TEXT user_loop(long n)
{
    asm volatile("1: syscall\n\t"
                 "dec %0\n\t"
                 "jnz 1b"
                 : "+r"(n) :: "rcx", "r11", "memory", "cc");
    return n;
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 n = bench_arg("n", 1000000);
    bench_setup(false);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    wrmsr(MSR_STAR, STAR_VALUE);
    wrmsr(MSR_LSTAR, (u64)sys_entry);
    /* Linux's mask: TF, DF, IF, IOPL, NT, AC cleared on entry. */
    wrmsr(MSR_SYSCALL_MASK, 0x47700);
    long ret = -1;
    if (n) {
        int v = run_user(user_loop, (long)n, &ret);
        if (v != -1)
            abort_msg("bench syscall: exception %d at cpl3 rip %llx\n", v,
                      (unsigned long long)ex_last.rip);
    }
    bench_report("syscall", n, bench_count, 0, bench_count);
    return 0;
}
