/* SMI round trips through the APM control port 0xB2: after each SMI the
 * guest runs on with every register as it was (GPRs, RSP, RFLAGS, CR0,
 * CR3, CR4, EFER, segment registers, descriptor tables, FS/GS bases), and
 * RSM outside SMM is #UD (SDM Vol 2B RSM; AMD APM Vol 3). Runs on QEMU
 * too, where SeaBIOS's SMI handler does the round trip (it ignores
 * command bytes it does not know, like 0x42 here). docs/smm.md. */
#include "kit.h"

struct snap {
    u64 cr0, cr3, cr4, efer, fsbase, gsbase, kgsbase, rflags;
    u16 cs, ds, es, ss, fs, gs, tr, ldtr;
    struct { u16 limit; u64 base; } __attribute__((packed)) gdt, idt;
};

static void take(struct snap *s)
{
    memset(s, 0, sizeof *s);
    s->cr0 = read_cr0();
    s->cr3 = read_cr3();
    s->cr4 = read_cr4();
    s->efer = rdmsr(MSR_EFER);
    s->fsbase = rdmsr(0xc0000100);
    s->gsbase = rdmsr(0xc0000101);
    s->kgsbase = rdmsr(0xc0000102);
    s->rflags = read_rflags();
    asm volatile("mov %%cs,%0; mov %%ds,%1; mov %%es,%2; mov %%ss,%3; mov %%fs,%4; mov %%gs,%5"
                 : "=m"(s->cs), "=m"(s->ds), "=m"(s->es), "=m"(s->ss), "=m"(s->fs), "=m"(s->gs));
    asm volatile("str %0; sldt %1; sgdt %2; sidt %3"
                 : "=m"(s->tr), "=m"(s->ldtr), "=m"(s->gdt), "=m"(s->idt));
}

static bool same(const struct snap *a, const struct snap *b, const char *what)
{
    bool ok = memcmp(a, b, sizeof *a) == 0;
    if (!ok)
        printf("  %s: cr0 %llx/%llx cr4 %llx/%llx efer %llx/%llx rflags %llx/%llx\n", what,
               (unsigned long long)a->cr0, (unsigned long long)b->cr0,
               (unsigned long long)a->cr4, (unsigned long long)b->cr4,
               (unsigned long long)a->efer, (unsigned long long)b->efer,
               (unsigned long long)a->rflags, (unsigned long long)b->rflags);
    return ok;
}

/* Fill every GPR with a pattern, SMI, and store them: out[k] for the 14
 * registers besides RSP and RDI (the pointer), then RSP before/after. */
static u64 out[16];
static void smi_with_patterns(u8 cmd)
{
    asm volatile("push %%rbp\n\t"
                 "mov %%rsp, 15*8(%%rdi)\n\t"
                 "mov $0x1111111111111111, %%rbx\n\t"
                 "mov $0x2222222222222222, %%rcx\n\t"
                 "mov $0x3333333333333333, %%rdx\n\t"
                 "mov $0x4444444444444444, %%rsi\n\t"
                 "mov $0x5555555555555555, %%rbp\n\t"
                 "mov $0x8888888888888888, %%r8\n\t"
                 "mov $0x9999999999999999, %%r9\n\t"
                 "mov $0xaaaaaaaaaaaaaaaa, %%r10\n\t"
                 "mov $0xbbbbbbbbbbbbbbbb, %%r11\n\t"
                 "mov $0xcccccccccccccccc, %%r12\n\t"
                 "mov $0xdddddddddddddddd, %%r13\n\t"
                 "mov $0xeeeeeeeeeeeeeeee, %%r14\n\t"
                 "mov $0xffffffffffffffff, %%r15\n\t"
                 "mov %%eax, %%eax\n\t"
                 "outb %%al, $0xb2\n\t"
                 "mov %%rbx, 0(%%rdi); mov %%rcx, 8(%%rdi); mov %%rdx, 16(%%rdi)\n\t"
                 "mov %%rsi, 24(%%rdi); mov %%rbp, 32(%%rdi); mov %%r8, 40(%%rdi)\n\t"
                 "mov %%r9, 48(%%rdi); mov %%r10, 56(%%rdi); mov %%r11, 64(%%rdi)\n\t"
                 "mov %%r12, 72(%%rdi); mov %%r13, 80(%%rdi); mov %%r14, 88(%%rdi)\n\t"
                 "mov %%r15, 96(%%rdi); mov %%rax, 104(%%rdi)\n\t"
                 "mov %%rsp, 14*8(%%rdi)\n\t"
                 "pop %%rbp"
                 : : "D"(out), "a"((u64)cmd)
                 : "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12",
                   "r13", "r14", "r15", "memory");
}

static bool gprs_ok(u8 cmd)
{
    static const u64 want[13] = {
        0x1111111111111111, 0x2222222222222222, 0x3333333333333333,
        0x4444444444444444, 0x5555555555555555, 0x8888888888888888,
        0x9999999999999999, 0xaaaaaaaaaaaaaaaa, 0xbbbbbbbbbbbbbbbb,
        0xcccccccccccccccc, 0xdddddddddddddddd, 0xeeeeeeeeeeeeeeee,
        0xffffffffffffffff};
    for (int k = 0; k < 13; k++)
        if (out[k] != want[k])
            return false;
    return out[13] == cmd && out[14] == out[15];
}

static void round_trip(const char *what)
{
    struct snap a, b;
    take(&a);
    smi_with_patterns(0x42);
    take(&b);
    report(same(&a, &b, what), "%s: CRs, EFER, RFLAGS, segments, tables intact", what);
    report(gprs_ok(0x42), "%s: GPRs and RSP intact", what);
}

/* An SMI taken at CPL3 (IOPL 3 lets user code write the port): RSM
 * returns to CPL3 with the user CS/SS and the register intact. */
USER_TEXT static long user_smi(long arg)
{
    u16 cs, ss;
    u64 r = (u64)arg;
    asm volatile("outb %%al, $0xb2" : "+a"(r) :: "memory");
    asm volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(cs), "=r"(ss));
    return r == (u64)arg && cs == 0x2b && ss == 0x23 ? 1 : 0;
}

/* An SMI taken in compatibility mode (CS = KERNEL_CS32, CS.L = 0, IA-32e
 * still active): RSM returns there, then a far return to 64-bit mode. */
u32 compat_cs, compat_eax;
void compat_smi(u32 cmd);
asm(".text\n"
    ".globl compat_smi\n"
    "compat_smi:\n"
    "    pushq %rbx\n"
    "    movl %edi, %eax\n"
    "    pushq $0x30\n"                    /* KERNEL_CS32 */
    "    leaq 1f(%rip), %rbx\n"
    "    pushq %rbx\n"
    "    lretq\n"
    ".code32\n"
    "1:  outb %al, $0xb2\n"
    "    movl %eax, compat_eax\n"
    "    movl %cs, %ebx\n"
    "    movl %ebx, compat_cs\n"
    "    pushl $0x08\n"                    /* KERNEL_CS */
    "    pushl $2f\n"
    "    lretl\n"
    ".code64\n"
    "2:  popq %rbx\n"
    "    ret\n");

static void do_rsm(void *arg)
{
    (void)arg;
    asm volatile("rsm");
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    round_trip("64-bit, kit state");

    /* Bits SMI entry clears (CR4 entirely, CR0.PG, EFER) come back. */
    u64 cr4 = read_cr4(), more = X86_CR4_PGE;
    if (cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP))
        more |= X86_CR4_SMEP;
    write_cr4(cr4 | more);
    wrmsr(0xc0000100, 0xffff800012345000ull);
    wrmsr(0xc0000102, 0x0000700000001000ull);
    asm volatile("std");
    round_trip("PGE/SMEP, FS base, DF");
    asm volatile("cld");
    write_cr4(cr4);

    for (int k = 0; k < 20; k++)
        smi_with_patterns((u8)(0x50 + k));
    report(gprs_ok(0x50 + 19), "20 SMIs in a row");

    struct snap a, b;
    take(&a);
    compat_smi(0x46);
    take(&b);
    report(compat_cs == 0x30 && compat_eax == 0x46 && same(&a, &b, "compat"),
           "SMI in compatibility mode: back there, state intact");

    long ret = 0;
    int v = run_user_flags(user_smi, 0x4243, &ret, X86_EFLAGS_IOPL);
    report(v < 0 && ret == 1, "SMI at CPL3: back at CPL3, state intact");

    report(try_call(do_rsm, NULL) == UD_VECTOR, "RSM outside SMM is #UD");
    return report_summary();
}
