/* debug.c: the debug exception #DB (SDM Vol 3A ch. 18):
 *   - single-step: EFLAGS.TF set by POPF traps after the instruction that
 *     follows POPF, then after every instruction, with DR6.BS set;
 *   - MOV SS delays the single-step trap by one instruction (6.8.3);
 *   - INT1 (F1) is a trap to vector 1;
 *   - DR0 instruction breakpoint: a fault before the instruction, resumed
 *     with EFLAGS.RF=1; DR1 data write breakpoint: a trap after the write,
 *     DR6.B0/B1 tell which.
 */
// @qemu-differs: QEMU 7.2 raises #UD for INT1 (F1) unless built with WANT_ICEBP; SDM Vol 2 INT1: a #DB trap
// @qemu-args: -append qemu
#include "kit.h"

#define DR6_B0 BIT(0)
#define DR6_B1 BIT(1)
#define DR6_BS BIT(14)

static u64 read_dr6(void) { u64 v; asm volatile("mov %%dr6, %0" : "=r"(v)); return v; }
static void write_dr6(u64 v) { asm volatile("mov %0, %%dr6" :: "r"(v)); }
static void write_dr7(u64 v) { asm volatile("mov %0, %%dr7" :: "r"(v)); }
static void write_dr0(u64 v) { asm volatile("mov %0, %%dr0" :: "r"(v)); }
static void write_dr1(u64 v) { asm volatile("mov %0, %%dr1" :: "r"(v)); }

#define MAX_TRAPS 16
static u64 trap_rip[MAX_TRAPS], trap_dr6[MAX_TRAPS];
static int ntraps;
static bool stop_at_marker;
extern char ss_end[], ss_a[], ss_b[], ss_c[], movss_after[], movss_next[], int1_after[];
extern char bp_insn[], wr_after[];

static void db_handler(struct ex_regs *r)
{
    if (ntraps < MAX_TRAPS) {
        trap_rip[ntraps] = r->rip;
        trap_dr6[ntraps] = read_dr6();
    }
    ntraps++;
    write_dr6(0xffff0ff0);            /* DR6's reset value: clear B0-3, BS */
    if (r->rip == (u64)ss_end || stop_at_marker)
        r->rflags &= ~X86_EFLAGS_TF;
    if (r->rip == (u64)bp_insn)
        r->rflags |= X86_EFLAGS_RF;   /* resume past the instruction breakpoint */
}

static void test_single_step(void)
{
    ntraps = 0;
    asm volatile("pushfq\n\t"
                 "orq $0x100, (%%rsp)\n\t"
                 "popfq\n\t"                 /* TF=1 from here */
                 ".globl ss_a\nss_a: nop\n\t"    /* no trap before it: the trap */
                 ".globl ss_b\nss_b: nop\n\t"    /* comes after it, at ss_b */
                 ".globl ss_c\nss_c: nop\n\t"
                 ".globl ss_end\nss_end:"
                 ::: "memory", "cc");
    report(ntraps == 3, "single-step: 3 traps (%d)", ntraps);
    report(trap_rip[0] == (u64)ss_b && trap_rip[1] == (u64)ss_c && trap_rip[2] == (u64)ss_end,
           "single-step: traps after the instruction following POPF, then each one");
    report((trap_dr6[0] & DR6_BS) && (trap_dr6[2] & DR6_BS), "single-step: DR6.BS set");
    report(!(read_rflags() & X86_EFLAGS_TF), "TF cleared by the handler");

    /* MOV SS: no single-step trap between it and the next instruction. */
    ntraps = 0;
    stop_at_marker = false;
    asm volatile("pushfq\n\t"
                 "orq $0x100, (%%rsp)\n\t"
                 "popfq\n\t"
                 "nop\n\t"                   /* trap after this one (1) */
                 "mov %%ss, %%eax\n\t"       /* trap after this one (2) */
                 "mov %%eax, %%ss\n\t"       /* shadow: no trap here */
                 ".globl movss_after\nmovss_after: nop\n\t"
                 ".globl movss_next\nmovss_next: nop\n\t"
                 "nop\n\t"
                 ".globl ss_end2\nss_end2:"
                 ::: "rax", "memory", "cc");
    bool seen_after = false, seen_next = false;
    for (int i = 0; i < ntraps && i < MAX_TRAPS; i++) {
        seen_after |= trap_rip[i] == (u64)movss_after;
        seen_next |= trap_rip[i] == (u64)movss_next;
    }
    write_rflags(read_rflags() & ~X86_EFLAGS_TF);
    report(!seen_after && seen_next, "mov ss: the trap skips the instruction after it");
}

static void do_int1(void *arg)
{
    (void)arg;
    asm volatile(".byte 0xf1\n\t.globl int1_after\nint1_after:" ::: "memory");
}

static void test_int1(void)
{
    ntraps = 0;
    stop_at_marker = true;
    int v = try_call(do_int1, NULL);
    stop_at_marker = false;
    report_sdm(v == -1 && ntraps == 1 && trap_rip[0] == (u64)int1_after,
               "int1 (f1): #DB trap, rip after (got vector %d, %d traps)", v, ntraps);
}

static volatile u64 watched;

static void test_breakpoints(void)
{
    /* DR0: execute breakpoint on bp_insn (R/W0=00, LEN0=00, L0=1). */
    ntraps = 0;
    write_dr0((u64)bp_insn);
    write_dr7(BIT(0));
    asm volatile("nop\n\t.globl bp_insn\nbp_insn: nop\n\tnop" ::: "memory");
    write_dr7(0);
    report(ntraps == 1 && trap_rip[0] == (u64)bp_insn && (trap_dr6[0] & DR6_B0),
           "DR0 execute breakpoint: fault at the instruction, DR6.B0");

    /* DR1: 8-byte data write breakpoint (R/W1=01, LEN1=10, L1=1). */
    ntraps = 0;
    write_dr1((u64)&watched);
    write_dr7(BIT(2) | (1ull << 20) | (2ull << 22));
    asm volatile("movq $5, %0\n\t.globl wr_after\nwr_after:" : "=m"(watched) :: "memory");
    u64 r = watched;  /* reads do not trigger a write breakpoint */
    write_dr7(0);
    report(ntraps == 1 && trap_rip[0] == (u64)wr_after && (trap_dr6[0] & DR6_B1) && r == 5,
           "DR1 write breakpoint: trap after the write, DR6.B1");
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    handle_exception(DB_VECTOR, db_handler);
    test_single_step();
    test_int1();
    test_breakpoints();
    return report_summary();
}
