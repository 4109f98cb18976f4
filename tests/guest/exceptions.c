/* exceptions.c: exception delivery in IA-32e mode (SDM Vol 3A ch. 6):
 * vectors and error codes of #DE #UD #BP #OF #GP #PF #NP #SS, INT n
 * through a DPL0 gate from CPL3, stack switches (RSP0, IST, 16-byte
 * alignment), #DF from a fault during delivery, IRETQ to CPL3. */
// @qemu-differs: QEMU 7.2 puts vector*16+2 (not the IDT index, vector*8+2) in the error code of a gate fault in 64-bit mode, accepts LOCK MOV, raises #GP (not #SS) for a non-canonical SS-relative access, has no alignment check (#AC)
// @qemu-args: -append qemu
#include "kit.h"

static void report_ex_sdm(int got, int vec, u64 err, const char *what)
{
    report_sdm(got == vec && ex_last.error_code == err,
               "%s: vector %d error %lx (want %d %lx)", what, got,
               got >= 0 ? ex_last.error_code : 0, vec, err);
}

static void report_ex(int got, int vec, u64 err, const char *what)
{
    report(got == vec && ex_last.error_code == err,
           "%s: vector %d error %lx (want %d %lx)", what, got,
           got >= 0 ? ex_last.error_code : 0, vec, err);
}

/* ---- #DE ---------------------------------------------------------------- */
static void do_div0(void *arg)
{
    u32 d = (u32)(u64)arg, a = 1, dx = 0;
    asm volatile("divl %2" : "+a"(a), "+d"(dx) : "r"(d));
}

static void do_idiv_overflow(void *arg)
{
    (void)arg;
    /* INT64_MIN / -1 does not fit: #DE (SDM IDIV). */
    u64 a = 0x8000000000000000ull, d = 0xffffffffffffffffull, s = -1;
    asm volatile("idivq %2" : "+a"(a), "+d"(d) : "r"(s));
}

/* ---- #UD ---------------------------------------------------------------- */
#define UD_FN(name, bytes)                                   \
    static void name(void *arg)                              \
    {                                                        \
        (void)arg;                                           \
        asm volatile(".byte " bytes ::: "memory");           \
    }
UD_FN(ud_ud2, "0x0f, 0x0b")
UD_FN(ud_push_es, "0x06")            /* PUSH ES: invalid in 64-bit mode */
UD_FN(ud_into64, "0xce")             /* INTO: invalid in 64-bit mode */
UD_FN(ud_lock_nop, "0xf0, 0x90")     /* LOCK on a non-memory insn */
UD_FN(ud_lock_mov, "0xf0, 0x89, 0xc0") /* LOCK MOV reg, reg */
UD_FN(ud_lock_add_reg, "0xf0, 0x01, 0xc0") /* LOCK ADD reg, reg */
UD_FN(ud_ud1, "0x0f, 0xb9, 0xc0")    /* UD1 */
UD_FN(ud_aaa, "0x37")                /* AAA: invalid in 64-bit mode */

/* ---- #BP, and INTO from compatibility mode -------------------------------- */
static void do_int3(void *arg)
{
    (void)arg;
    asm volatile("int3\n.globl after_int3\nafter_int3:" ::: "memory");
}
extern char after_int3[];

/* into_compat(overflow): far return into KERNEL_CS32 (compatibility mode),
 * EAX = 0x7fffffff + overflow sets OF (or not), INTO, far jump back. */
void into_compat(u64 overflow);
extern char after_into[];
asm(".text\n"
    ".globl into_compat\n"
    "into_compat:\n"
    "    pushq %rbx\n"
    "    movq %rdi, %rbx\n"
    "    pushq $0x30\n"              /* KERNEL_CS32 */
    "    leaq 1f(%rip), %rax\n"
    "    pushq %rax\n"
    "    lretq\n"
    ".code32\n"
    "1:  movl $0x7fffffff, %eax\n"
    "    addl %ebx, %eax\n"
    "    into\n"
    ".globl after_into\n"
    "after_into:\n"
    "    ljmp $0x08, $2f\n"          /* KERNEL_CS */
    ".code64\n"
    "2:  popq %rbx\n"
    "    ret\n");

static void do_into(void *arg) { into_compat((u64)arg); }

/* ---- #GP, #NP, #SS ------------------------------------------------------------ */
static void load_ds(void *arg)
{
    u16 sel = (u16)(u64)arg;
    asm volatile("mov %0, %%ds" :: "r"(sel) : "memory");
}

static void load_ss(void *arg)
{
    u16 sel = (u16)(u64)arg, old;
    asm volatile("mov %%ss, %0; mov %1, %%ss; mov %0, %%ss"
                 : "=&r"(old) : "r"(sel) : "memory");
}

static void read_at(void *arg)
{
    u64 v;
    asm volatile("movq (%1), %0" : "=r"(v) : "r"(arg) : "memory");
}

static void read_ss_at(void *arg)
{
    u64 v;
    asm volatile("movq %%ss:(%1), %0" : "=r"(v) : "r"(arg) : "memory");
}

static void write_at(void *arg)
{
    asm volatile("movq $1, (%0)" :: "r"(arg) : "memory");
}

static void call_at(void *arg)
{
    asm volatile("call *%0" :: "r"(arg) : "memory", "rax", "rcx", "rdx", "rsi",
                 "rdi", "r8", "r9", "r10", "r11");
}

static void soft_int(void *arg)
{
    switch ((u64)arg) {
    case 0x21: asm volatile("int $0x21"); break;
    case 0x82: asm volatile("int $0x82"); break;
    case 0x83: asm volatile("int $0x83"); break;
    }
}

/* Far JMP through a memory pointer (m16:32) to selector `arg`. */
static void far_jmp(void *arg)
{
    struct __attribute__((packed)) { u32 off; u16 sel; } fp = { 0, (u16)(u64)arg };
    asm volatile("ljmp *%0" :: "m"(fp) : "memory");
}

/* ---- CPL3 ------------------------------------------------------------------ */
USER_DATA static u8 user_buf[16];
USER_TEXT static long user_misaligned(long n)
{
    return *(volatile u32 *)(user_buf + n);
}

USER_TEXT static long user_int(long n)
{
    if (n == 0x40)
        asm volatile("int $0x40");
    else if (n == 13)
        asm volatile("int $13");
    else if (n == 3)
        asm volatile("int3");
    else if (n == 0x81)
        asm volatile("int $0x81");
    return 42;
}

USER_TEXT static long user_priv(long n)
{
    u64 v = 0;
    if (n == 0)
        asm volatile("hlt");
    else if (n == 1)
        asm volatile("mov %%cr0, %0" : "=r"(v));
    else if (n == 2)
        asm volatile("cli");
    return (long)v;
}

USER_TEXT static long user_segs(long n)
{
    u16 cs, ss;
    (void)n;
    asm volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(cs), "=r"(ss));
    return cs << 16 | ss;
}

/* The 0x81 handler records where its frame landed. */
static struct ex_regs *frame81;
static u64 frame81_cs, frame81_ss, frame81_cur_ss, frame81_rsp;
static void h81(struct ex_regs *r)
{
    frame81 = r;
    frame81_cs = r->cs;
    frame81_ss = r->ss;
    frame81_rsp = r->rsp;
    frame81_cur_ss = read_ss();
}

static u64 handler_rflags;
static void record_rflags(struct ex_regs *r)
{
    (void)r;
    handler_rflags = read_rflags();
}

static struct ex_regs *frame_seen;
static void record_frame(struct ex_regs *r) { frame_seen = r; }

/* struct ex_regs ends with the hardware frame: it sits right below the
 * 16-byte aligned top of the stack the CPU switched to. */
static u64 frame_at(u64 stack_top)
{
    return (stack_top & ~15ull) - sizeof(struct ex_regs);
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    int v;

    /* #DE */
    report_ex(try_call(do_div0, (void *)0), DE_VECTOR, 0, "div by zero");
    report_ex(try_call(do_idiv_overflow, NULL), DE_VECTOR, 0, "idiv overflow");
    report(try_call(do_div0, (void *)3) == -1, "div by 3 does not fault");
    u32 q = 100, r = 0;
    asm volatile(ASM_TRY("1f") "divl %2\n1:" : "+a"(q), "+d"(r) : "r"(0u));
    report(exception_vector() == DE_VECTOR, "ASM_TRY catches #DE");

    /* #UD */
    static const struct { void (*fn)(void *); const char *what; } uds[] = {
        { ud_ud2, "ud2" }, { ud_push_es, "push es (64-bit)" },
        { ud_into64, "into (64-bit)" }, { ud_lock_nop, "lock nop" },
        { ud_lock_add_reg, "lock add reg,reg" }, { ud_ud1, "ud1" },
        { ud_aaa, "aaa (64-bit)" },
    };
    for (unsigned i = 0; i < ARRAY_SIZE(uds); i++)
        report_ex(try_call(uds[i].fn, NULL), UD_VECTOR, 0, uds[i].what);
    /* SDM MOV: "#UD If the LOCK prefix is used." */
    report_ex_sdm(try_call(ud_lock_mov, NULL), UD_VECTOR, 0, "lock mov reg,reg");

    /* #BP is a trap: the saved RIP is the next instruction. */
    v = try_call(do_int3, NULL);
    report(v == BP_VECTOR && ex_last.rip == (u64)after_int3, "int3: #BP, rip after");

    /* #OF from compatibility mode (INTO is #UD in 64-bit mode, above). */
    v = try_call(do_into, (void *)1);
    report(v == OF_VECTOR && ex_last.rip == (u64)after_into &&
           ex_last.cs == KERNEL_CS32, "into with OF=1 in compat mode: #OF, rip after, cs 0x30");
    report(try_call(do_into, (void *)0) == -1, "into with OF=0: no trap");

    /* #GP with selector error codes (SDM 6.13: index|TI|IDT|EXT). */
    report_ex(try_call(load_ds, (void *)0x100), GP_VECTOR, 0x100, "mov ds, beyond GDT limit");
    report_ex(try_call(load_ds, (void *)(u64)GDT_FREE0), GP_VECTOR, GDT_FREE0,
              "mov ds, system descriptor");
    report_ex(try_call(load_ds, (void *)0x104), GP_VECTOR, 0x104, "mov ds, LDT selector (no LDT)");
    report_ex(try_call(load_ss, (void *)(u64)(USER_DS | 3)), GP_VECTOR, USER_DS,
              "mov ss, RPL3 at CPL0");
    report_ex(try_call(load_ss, (void *)(u64)KERNEL_CS), GP_VECTOR, KERNEL_CS,
              "mov ss, code segment");
    report_ex(try_call(read_at, (void *)0x0000800000000000ull), GP_VECTOR, 0,
              "non-canonical read");
    report(try_call(load_ds, (void *)0) == -1, "mov ds, null is fine in 64-bit mode");
    report_ex(try_call(far_jmp, (void *)(u64)KERNEL_DS), GP_VECTOR, KERNEL_DS,
              "far jmp to a data segment");
    report_ex(try_call(far_jmp, (void *)0), GP_VECTOR, 0, "far jmp to the null selector");
    report_ex(try_call(far_jmp, (void *)(u64)(USER_CS | 3)), GP_VECTOR, USER_CS,
              "far jmp to a DPL3 code segment at CPL0");
    write_ds(KERNEL_DS);

    /* #NP: a not-present data segment, and a not-present IDT gate. */
    gdt_set_entry(GDT_FREE0 + 8, 0, 0xfffff, 0x13, 0xc); /* data, P=0 */
    report_ex(try_call(load_ds, (void *)(u64)(GDT_FREE0 + 8)), NP_VECTOR,
              GDT_FREE0 + 8, "mov ds, not-present segment");
    idt[0x21 * 2] &= ~BIT(47);
    report_ex_sdm(try_call(soft_int, (void *)0x21), NP_VECTOR, 0x21 * 8 + 2,
              "int 0x21, not-present gate: #NP(n*8+2)");
    idt[0x21 * 2] |= BIT(47);

    /* #SS: not-present stack segment, non-canonical SS-relative access. */
    gdt_set_entry(GDT_FREE0 + 16, 0, 0xfffff, 0x13, 0xc);
    report_ex(try_call(load_ss, (void *)(u64)(GDT_FREE0 + 16)), SS_VECTOR,
              GDT_FREE0 + 16, "mov ss, not-present segment");
    /* SDM 6.15 #SS: "a memory operand effective address which is outside
     * the canonical address space and references the SS segment". */
    report_ex_sdm(try_call(read_ss_at, (void *)0x0000800000000000ull), SS_VECTOR, 0,
                  "non-canonical ss: access");

    /* #PF error codes and CR2. */
    u64 va = 0x100000000ull;
    u8 *page = alloc_page();
    map_4k(va, virt_to_phys(page), PT_PRESENT);
    report(try_call(read_at, (void *)va) == -1, "read of read-only page");
    v = try_call(write_at, (void *)(va + 8));
    report_ex(v, PF_VECTOR, PFERR_P | PFERR_W, "write to read-only page, WP=1");
    report(ex_last.cr2 == va + 8, "cr2 = faulting address");
    unmap(va);
    v = try_call(read_at, (void *)(va + 0x10));
    report_ex(v, PF_VECTOR, 0, "read of not-present page");
    report(ex_last.cr2 == va + 0x10, "cr2 = faulting address (not present)");
    map_4k(va, virt_to_phys(page), PT_PRESENT | PT_WRITABLE | PT_NX);
    page[0] = 0xc3; /* ret */
    v = try_call(call_at, (void *)va);
    report_ex(v, PF_VECTOR, PFERR_P | PFERR_I, "fetch from NX page");
    report(ex_last.rip == va && ex_last.cr2 == va, "fetch fault: rip = cr2 = page");
    pte_clear(va, PT_NX);
    report(try_call(call_at, (void *)va) == -1, "fetch from executable page");

    /* CPL3: INT n through a DPL0 gate is #GP(n*8+2) (SDM 6.12.1.1). */
    long ret = 0;
    v = run_user(user_int, 0x40, &ret);
    report(v == GP_VECTOR, "int 0x40 at CPL3, DPL0 gate: #GP");
    report_ex_sdm(v, GP_VECTOR, 0x40 * 8 + 2, "int 0x40 at CPL3, DPL0 gate");
    report((ex_last.cs & 3) == 3, "#GP taken from CPL3");
    v = run_user(user_int, 13, &ret);
    report(v == GP_VECTOR, "int 13 at CPL3, DPL0 gate: #GP");
    report_ex_sdm(v, GP_VECTOR, 13 * 8 + 2, "int 13 at CPL3, DPL0 gate");
    v = run_user(user_int, 3, &ret);
    report(v == BP_VECTOR && (ex_last.cs & 3) == 3, "int3 at CPL3 through DPL3 gate: #BP");
    v = run_user(user_priv, 0, &ret);
    report_ex(v, GP_VECTOR, 0, "hlt at CPL3");
    v = run_user(user_priv, 1, &ret);
    report_ex(v, GP_VECTOR, 0, "mov from cr0 at CPL3");
    v = run_user(user_priv, 2, &ret);
    report_ex(v, GP_VECTOR, 0, "cli at CPL3, IOPL 0");
    ret = 0;
    v = run_user_flags(user_priv, 2, &ret, X86_EFLAGS_IOPL);
    report(v == -1, "cli at CPL3, IOPL 3");

    /* #AC(0): CR0.AM=1, EFLAGS.AC=1, CPL3, misaligned (SDM 6.15, #AC). */
    write_cr0(read_cr0() | X86_CR0_AM);
    v = run_user_flags(user_misaligned, 1, &ret, X86_EFLAGS_AC);
    report_ex_sdm(v, AC_VECTOR, 0, "misaligned read at CPL3 with AM=1 AC=1");
    report(run_user_flags(user_misaligned, 1, &ret, 0) == -1, "misaligned read, AC=0: no #AC");
    report(run_user_flags(user_misaligned, 4, &ret, X86_EFLAGS_AC) == -1,
           "aligned read, AM=1 AC=1: no #AC");
    write_cr0(read_cr0() & ~X86_CR0_AM);
    report(run_user_flags(user_misaligned, 1, &ret, X86_EFLAGS_AC) == -1,
           "misaligned read, AM=0: no #AC");

    /* IRETQ to CPL3 and back; the privilege change uses RSP0, loads a null
     * SS (SDM 6.14.4), and the handler's IRETQ returns to CPL3. */
    ret = 0;
    v = run_user(user_segs, 0, &ret);
    report(v == -1 && ret == ((USER_CS | 3) << 16 | (USER_DS | 3)),
           "iretq to CPL3: cs %lx ss %lx", (u64)ret >> 16, (u64)ret & 0xffff);
    handle_exception(0x81, h81);
    idt_set_dpl(0x81, 3);
    ret = 0;
    v = run_user(user_int, 0x81, &ret);
    report(v == -1 && ret == 42, "int 0x81 at CPL3, handler returns to CPL3");
    report((u64)frame81 == frame_at(tss.rsp0), "CPL3 -> CPL0 frame on RSP0");
    report(frame81_cs == (USER_CS | 3) && frame81_ss == (USER_DS | 3),
           "frame has user cs/ss");
    report(frame81_rsp > (u64)user_stack_top - 16384 && frame81_rsp <= (u64)user_stack_top,
           "frame has the user rsp");
    report(frame81_cur_ss == 0, "SS is null in the handler");

    /* IST: the frame goes on the IST stack, aligned down to 16 bytes. */
    handle_exception(0x82, record_frame);
    idt_set_ist(0x82, 3);
    frame_seen = NULL;
    try_call(soft_int, (void *)0x82);
    report((u64)frame_seen == frame_at(tss.ist[3]), "IST3 frame at ist3 top");
    u64 saved = tss.ist[3];
    tss.ist[3] = saved - 8;
    frame_seen = NULL;
    try_call(soft_int, (void *)0x82);
    report((u64)frame_seen == frame_at(saved - 8), "IST rsp aligned down to 16");
    tss.ist[3] = saved;
    handle_exception(0x83, record_frame);
    frame_seen = NULL;
    u64 here = (u64)&here;
    try_call(soft_int, (void *)0x83);
    report((u64)frame_seen < here && (u64)frame_seen > here - 4096,
           "no IST, same CPL: frame on the current stack");

    /* An interrupt gate clears IF, a trap gate leaves it (SDM 6.12.1.3).
     * All PIC lines are masked, so IF=1 lets nothing in. */
    handle_exception(0x84, record_rflags);
    u64 fl = read_rflags();
    handler_rflags = 0;
    asm volatile("sti; int $0x84; cli" ::: "memory");
    report(!(handler_rflags & X86_EFLAGS_IF), "interrupt gate: IF clear in the handler");
    idt_set_target(0x84, isr_stubs[0x84], KERNEL_CS, 15);
    handler_rflags = 0;
    asm volatile("sti; int $0x84; cli" ::: "memory");
    report(handler_rflags & X86_EFLAGS_IF, "trap gate: IF still set in the handler");
    idt_set_target(0x84, isr_stubs[0x84], KERNEL_CS, 14);
    write_rflags(fl);

    /* #DF: #DE whose gate is not present raises #NP during delivery; two
     * contributory exceptions make #DF(0) (SDM Table 6-5). */
    idt[DE_VECTOR * 2] &= ~BIT(47);
    v = try_call(do_div0, (void *)0);
    idt[DE_VECTOR * 2] |= BIT(47);
    report_ex(v, DF_VECTOR, 0, "#DE with not-present gate -> #DF");
    /* #PF followed by a contributory exception is #DF too. */
    idt[PF_VECTOR * 2] &= ~BIT(47);
    v = try_call(read_at, (void *)0x200000000ull);
    idt[PF_VECTOR * 2] |= BIT(47);
    report_ex(v, DF_VECTOR, 0, "#PF with not-present gate -> #DF");
    /* #GP with its gate not present: contributory + contributory. */
    idt[GP_VECTOR * 2] &= ~BIT(47);
    v = try_call(read_at, (void *)0x0000800000000000ull);
    idt[GP_VECTOR * 2] |= BIT(47);
    report_ex(v, DF_VECTOR, 0, "#GP with not-present gate -> #DF");
    /* #BP (benign) with a not-present gate: just #NP. */
    idt[BP_VECTOR * 2] &= ~BIT(47);
    v = try_call(do_int3, NULL);
    idt[BP_VECTOR * 2] |= BIT(47);
    report(v == NP_VECTOR, "int3 with not-present gate -> #NP");
    report_ex_sdm(v, NP_VECTOR, BP_VECTOR * 8 + 2,
              "int3 with not-present gate -> #NP (EXT=0: software)");

    return report_summary();
}
