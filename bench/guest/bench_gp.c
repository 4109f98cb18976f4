/* bench_gp.c: n CR4 writes rejected with #GP(0).
 *
 * Default (pinvm): pins are set and each write clears pinned CR4.SMEP, the
 * pinning-violation path. "la57" (QEMU, which has no pinning, and pinvm for
 * a same-shape comparison): each write sets CR4.LA57, which #GPs in IA-32e
 * mode (SDM Vol 3A 2.5, MOV to CR4). A reserved CR4 bit would be the
 * obvious choice, but QEMU 7.2 TCG loops on it (a bogus SVM exit) instead
 * of raising #GP. Either way the faulting instruction
 * is the 3-byte "mov %rax,%cr4" and the handler is a raw stub that counts,
 * steps over it and IRETs, so the time is #GP delivery + IRETQ.
 * ops = #GPs taken (n); result = the count, which must equal n. */
#include "bench.h"

asm(".pushsection .text\n"
    "gp_stub:\n\t"
    "incq bench_count(%rip)\n\t"
    "addq $8, %rsp\n\t"           /* error code */
    "addq $3, (%rsp)\n\t"         /* skip mov %rax,%cr4 (0f 22 e0) */
    "iretq\n"
    ".popsection");
extern char gp_stub[];

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 n = bench_arg("n", 1000000);
    bool la57 = cmdline_has("la57");
    bench_setup(!la57);
    u64 bad = la57 ? read_cr4() | X86_CR4_LA57 : read_cr4() & ~X86_CR4_SMEP;
    if (!la57 && !(read_cr4() & X86_CR4_SMEP))
        abort_msg("bench gp: no SMEP to violate\n");
    idt_set_target(GP_VECTOR, (u64)gp_stub, KERNEL_CS, 14);
    for (u64 i = 0; i < n; i++)
        asm volatile("mov %0, %%cr4" :: "a"(bad) : "memory");
    bench_report(la57 ? "gp-la57" : "gp-pin", n, bench_count, 0, bench_count);
    return 0;
}
