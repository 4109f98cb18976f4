/* priv.c: privilege transitions other than IRETQ/INT (SDM Vol 3A 5.8):
 *   - far RET (LRETQ) to CPL3, and its #GP checks on CS and SS;
 *   - a 64-bit call gate from CPL3 to CPL0 (stack switch to RSP0, SS null,
 *     the caller's SS:RSP:CS:RIP pushed) and LRETQ back;
 *   - SYSRET to compatibility mode (CS = STAR[63:48] | 3);
 *   - POPF/IRETQ at CPL3 cannot change IOPL, nor IF unless CPL <= IOPL;
 *     IN/OUT at CPL3 need IOPL 3 (the kit's TSS has no I/O bitmap).
 * Code at CPL3 returns through `int $0x80` (the kit's USER_RET_VECTOR),
 * which ends the surrounding try_call.
 */
#include "kit.h"

#define GATE_SEL GDT_FREE0        /* 16-byte call gate: GDT_FREE0 and +8 */

USER_DATA u64 user_result;   /* also written by the asm below */
u64 gate_cs, gate_ss, gate_rsp, gate_frame[4];
u64 lret_rip, lret_cs, lret_rsp, lret_ss;

void gate_target(void);
void user_code(void);
void user_gate_caller(void);
void compat_user(void);
asm(".text\n"
    /* CPL0 end of the call gate: record, then return to CPL3. */
    ".globl gate_target\n"
    "gate_target:\n"
    "    movq %cs, %rax\n"
    "    movq %rax, gate_cs(%rip)\n"
    "    movq %ss, %rax\n"
    "    movq %rax, gate_ss(%rip)\n"
    "    movq %rsp, gate_rsp(%rip)\n"
    "    movq 0(%rsp), %rax\n"
    "    movq %rax, gate_frame+0(%rip)\n"
    "    movq 8(%rsp), %rax\n"
    "    movq %rax, gate_frame+8(%rip)\n"
    "    movq 16(%rsp), %rax\n"
    "    movq %rax, gate_frame+16(%rip)\n"
    "    movq 24(%rsp), %rax\n"
    "    movq %rax, gate_frame+24(%rip)\n"
    "    lretq\n"
    /* CPL0: far return to CPL3 with the frame in lret_* (try_call fn). */
    ".globl do_lret\n"
    "do_lret:\n"
    "    pushq lret_ss(%rip)\n"
    "    pushq lret_rsp(%rip)\n"
    "    pushq lret_cs(%rip)\n"
    "    pushq lret_rip(%rip)\n"
    "    lretq\n"
    ".section .user.text, \"ax\"\n"
    /* CPL3: report CS, come back. */
    ".globl user_code\n"
    "user_code:\n"
    "    movq %cs, %rax\n"
    "    movq %rax, user_result(%rip)\n"
    "    int $0x80\n"
    /* CPL3: call through the gate, then come back. */
    ".globl user_gate_caller\n"
    "user_gate_caller:\n"
    "    lcall *gate_ptr(%rip)\n"
    "    movq $0x600d, user_result(%rip)\n"
    "    int $0x80\n"
    "    .balign 8\n"
    "gate_ptr: .long 0\n"
    "    .word 0x5b\n"                      /* GATE_SEL | 3 */
    /* CPL3, compatibility mode, entered by SYSRETL. */
    ".code32\n"
    ".globl compat_user\n"
    "compat_user:\n"
    "    movl %cs, %edi\n"
    "    movl %ss, %eax\n"
    "    shll $16, %eax\n"
    "    orl %eax, %edi\n"
    "    int $0x81\n"                     /* record EDI */
    "    int $0x80\n"
    ".code64\n"
    ".text\n");
void do_lret(void *arg);

static void set_call_gate(u16 sel, u64 target, u16 target_sel, int dpl)
{
    /* 64-bit call gate (type 0xC), SDM Figure 5-8. */
    gdt[sel >> 3] = (target & 0xffff) | (u64)target_sel << 16 |
                    (u64)(0x80 | dpl << 5 | 0xc) << 40 | (target >> 16 & 0xffff) << 48;
    gdt[(sel >> 3) + 1] = target >> 32;
}

static int lret_to(u64 rip, u16 cs, u64 rsp, u16 ss)
{
    lret_rip = rip;
    lret_cs = cs;
    lret_rsp = rsp;
    lret_ss = ss;
    return try_call(do_lret, NULL);
}

static void test_lret(void)
{
    user_result = 0;
    int v = lret_to((u64)user_code, USER_CS | 3, (u64)user_stack_top, USER_DS | 3);
    report(v == -1 && user_result == (USER_CS | 3), "lretq to CPL3: runs with CS %lx", user_result);
    v = lret_to((u64)user_code, KERNEL_CS | 3, (u64)user_stack_top, USER_DS | 3);
    report(v == GP_VECTOR && ex_last.error_code == KERNEL_CS,
           "lretq to a DPL0 code segment with RPL3: #GP(sel)");
    v = lret_to((u64)user_code, USER_CS | 3, (u64)user_stack_top, USER_DS);
    report(v == GP_VECTOR && ex_last.error_code == USER_DS,
           "lretq to CPL3 with SS RPL0: #GP(ss sel)");
    v = lret_to((u64)user_code, USER_CS | 3, (u64)user_stack_top, KERNEL_DS | 3);
    report(v == GP_VECTOR && ex_last.error_code == KERNEL_DS,
           "lretq to CPL3 with a DPL0 SS: #GP(ss sel)");
}

/* IRETQ with EFLAGS.NT=1 in IA-32e mode: #GP(0) (SDM IRET: task return
 * is not supported in IA-32e mode). */
static void iret_nt(void *arg)
{
    (void)arg;
    asm volatile("pushfq\n\t"
                 "orq $0x4000, (%%rsp)\n\t"
                 "popfq\n\t"
                 "movq %%rsp, %%rax\n\t"
                 "pushq $0x10\n\t"
                 "pushq %%rax\n\t"
                 "pushq $2\n\t"
                 "pushq $0x08\n\t"
                 "leaq 1f(%%rip), %%rax\n\t"
                 "pushq %%rax\n\t"
                 "iretq\n"
                 "1:"
                 ::: "rax", "memory", "cc");
}

static int run_gate_caller(void)
{
    return lret_to((u64)user_gate_caller, USER_CS | 3, (u64)user_stack_top, USER_DS | 3);
}

static void test_iret_nt(void)
{
    int v = try_call(iret_nt, NULL);
    report(v == GP_VECTOR && ex_last.error_code == 0, "iretq with NT=1 in IA-32e mode: #GP(0)");
    report(!(read_rflags() & X86_EFLAGS_NT), "NT clear again");
}

static void test_call_gate(void)
{
    set_call_gate(GATE_SEL, (u64)gate_target, KERNEL_CS, 3);
    user_result = 0;
    int v = run_gate_caller();
    report(v == -1 && user_result == 0x600d, "call gate from CPL3 and lretq back");
    report(gate_cs == KERNEL_CS && gate_ss == 0, "call gate: CPL0 code, null SS");
    report(gate_rsp == tss.rsp0 - 32, "call gate: stack switched to RSP0, 4 qwords pushed");
    report(gate_frame[1] == (USER_CS | 3) && gate_frame[3] == (USER_DS | 3) &&
           gate_frame[2] <= (u64)user_stack_top && gate_frame[2] > (u64)user_stack_top - 64,
           "call gate: caller's CS, SS and RSP on the new stack");
    /* A DPL0 gate cannot be used from CPL3: #GP(gate selector). */
    set_call_gate(GATE_SEL, (u64)gate_target, KERNEL_CS, 0);
    v = run_gate_caller();
    report(v == GP_VECTOR && ex_last.error_code == GATE_SEL && (ex_last.cs & 3) == 3,
           "call gate with DPL0 from CPL3: #GP(gate) (vector %d error %lx cs %lx)", v,
           ex_last.error_code, ex_last.cs);
    gdt[GATE_SEL >> 3] = gdt[(GATE_SEL >> 3) + 1] = 0;
}

static u64 compat_seen;
static void do_sysretl(void *arg)
{
    (void)arg;
    asm volatile("movq %0, %%rcx\n\t"
                 "movq $2, %%r11\n\t"
                 "sysretl"
                 :: "r"((u64)compat_user) : "rcx", "r11", "memory");
}

static void seen_compat(struct ex_regs *r)
{
    compat_seen = r->rdi & 0xffffffff;   /* CS | SS << 16, from compat_user */
}

static void test_sysret_compat(void)
{
    u64 efer = rdmsr(MSR_EFER);
    wrmsr(MSR_EFER, efer | EFER_SCE);
    wrmsr(MSR_STAR, STAR_VALUE);
    handle_exception(0x81, seen_compat);
    idt_set_dpl(0x81, 3);
    compat_seen = 0;
    int v = try_call(do_sysretl, NULL);
    report(v == -1, "sysretl to compatibility mode and back by int $0x80");
    report((compat_seen & 0xffff) == (USER_CS32 | 3) && compat_seen >> 16 == (USER_DS | 3),
           "sysretl: CS %lx (STAR[63:48]|3), SS %lx", compat_seen & 0xffff, compat_seen >> 16);
    wrmsr(MSR_EFER, efer);
}

/* POPF at CPL3 of "everything set"; returns RFLAGS read back. */
USER_TEXT static long user_popf(long v)
{
    u64 f;
    asm volatile("pushq %1; popfq; pushfq; popq %0" : "=r"(f) : "r"((u64)v) : "cc");
    asm volatile("pushq %0; popfq" :: "r"(f & ~(u64)X86_EFLAGS_AC) : "cc");
    return (long)f;
}

/* IRETQ to CPL3 itself with the given RFLAGS; returns RFLAGS after. */
USER_TEXT static long user_iret(long v)
{
    u64 f;
    asm volatile("movq %%rsp, %%rax\n\t"
                 "pushq $0x23\n\t"         /* SS */
                 "pushq %%rax\n\t"         /* RSP */
                 "pushq %1\n\t"            /* RFLAGS */
                 "pushq $0x2b\n\t"         /* CS */
                 "leaq 1f(%%rip), %%rax\n\t"
                 "pushq %%rax\n\t"
                 "iretq\n"
                 "1: pushfq; popq %0"
                 : "=r"(f) : "r"((u64)v) : "rax", "cc", "memory");
    return (long)f;
}

USER_TEXT static long user_inb(long port)
{
    u8 v;
    asm volatile("inb %w1, %0" : "=a"(v) : "Nd"((u16)port));
    return v;
}

static void test_iopl(void)
{
    long f = 0;
    const u64 want_set = X86_EFLAGS_IF | X86_EFLAGS_IOPL | X86_EFLAGS_DF | X86_EFLAGS_CF;
    int v = run_user(user_popf, (long)(X86_EFLAGS_FIXED | want_set), &f);
    report(v == -1 && !(f & (X86_EFLAGS_IF | X86_EFLAGS_IOPL)) && (f & X86_EFLAGS_DF) &&
           (f & X86_EFLAGS_CF), "popf at CPL3, IOPL 0: IF and IOPL unchanged, DF CF set (%lx)",
           (u64)f);
    v = run_user_flags(user_popf, (long)(X86_EFLAGS_FIXED | X86_EFLAGS_IF), &f, X86_EFLAGS_IOPL);
    report(v == -1 && (f & X86_EFLAGS_IF) && (f & X86_EFLAGS_IOPL) == X86_EFLAGS_IOPL,
           "popf at CPL3, IOPL 3: IF can be set, IOPL stays 3 (%lx)", (u64)f);
    v = run_user(user_iret, (long)(X86_EFLAGS_FIXED | want_set), &f);
    report(v == -1 && !(f & (X86_EFLAGS_IF | X86_EFLAGS_IOPL)) && (f & X86_EFLAGS_CF),
           "iretq at CPL3, IOPL 0: IF and IOPL unchanged (%lx)", (u64)f);
    u64 saved = read_rflags();
    write_rflags((saved & ~X86_EFLAGS_IOPL) | (2ull << 12));
    report((read_rflags() & X86_EFLAGS_IOPL) == (2ull << 12), "popf at CPL0 changes IOPL");
    write_rflags(saved);

    v = run_user(user_inb, 0x3f8 + 5, &f);
    report(v == GP_VECTOR && ex_last.error_code == 0, "in at CPL3, IOPL 0, no I/O bitmap: #GP(0)");
    v = run_user_flags(user_inb, 0x3f8 + 5, &f, X86_EFLAGS_IOPL);
    report(v == -1 && (f & 0x20), "in at CPL3, IOPL 3: reads the UART LSR");
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    test_lret();
    test_iret_nt();
    test_call_gate();
    test_sysret_compat();
    test_iopl();
    return report_summary();
}
