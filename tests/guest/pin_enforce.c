/* Enforcement on every CR0/CR4 write path once WP, SMEP and UMIP are
 * pinned: MOV to CR (several encodings, 64-bit and compatibility mode),
 * LMSW (register and memory), CLTS, CPL3, and the bits left unpinned.
 * A blocked write is #GP(0) at the instruction and changes nothing. */
#include "kit.h"
#include "crpin.h"

/* ---- MOV to CR in 64-bit mode -------------------------------------- */

/* Run the raw MOV-to-CR bytes `bytes` with the source value in every
 * register the encodings below use; return the vector (-1: none) and
 * check that a fault reports the instruction's own address. */
static bool fault_rip_ok;
#define TRY_MOV_CR(bytes, val)                                               \
    ({                                                                       \
        u64 v_ = (val), at_;                                                 \
        register u64 r8_ asm("r8") = v_;                                     \
        register u64 r15_ asm("r15") = v_;                                   \
        asm volatile("lea 2f(%%rip), %[at]\n\t" ASM_TRY("1f")                \
                     "2: .byte " bytes "\n1:"                                \
                     : [at] "=&r"(at_)                                       \
                     : "a"(v_), "D"(v_), "r"(r8_), "r"(r15_)                 \
                     : "memory");                                            \
        fault_rip_ok = exception_vector() < 0 || ex_last.rip == at_;         \
        exception_vector();                                                  \
    })

static void check_blocked(int vec, u64 cr_before, u64 cr_after, const char *what)
{
    report(vec == GP_VECTOR && exception_error_code() == 0 && fault_rip_ok &&
           cr_after == cr_before,
           "%s: #GP(0) at the insn, register unchanged (vec %d)", what, vec);
}

static void mov_cr4_64(void)
{
    u64 cr4 = read_cr4(), bad = cr4 & ~X86_CR4_SMEP;
    int vec;

    report_prefix("mov cr4 64-bit");
    vec = TRY_MOV_CR("0x0f,0x22,0xe0", bad);          /* mov %rax,%cr4 */
    check_blocked(vec, cr4, read_cr4(), "mov %rax,%cr4 clearing SMEP");
    vec = TRY_MOV_CR("0x41,0x0f,0x22,0xe0", bad);     /* mov %r8,%cr4 */
    check_blocked(vec, cr4, read_cr4(), "mov %r8,%cr4 (REX.B)");
    vec = TRY_MOV_CR("0x49,0x0f,0x22,0xe7", bad);     /* mov %r15,%cr4 */
    check_blocked(vec, cr4, read_cr4(), "mov %r15,%cr4 (REX.WB)");
    vec = TRY_MOV_CR("0x0f,0x22,0xe7", bad);          /* mov %rdi,%cr4 */
    check_blocked(vec, cr4, read_cr4(), "mov %rdi,%cr4");
    /* 66 is ignored: MOV CR is always 64-bit here (SDM Vol 2B, MOV CR) */
    vec = TRY_MOV_CR("0x66,0x0f,0x22,0xe0", bad);
    check_blocked(vec, cr4, read_cr4(), "66 mov %rax,%cr4");
    vec = TRY_MOV_CR("0x0f,0x22,0xe0", cr4 & ~X86_CR4_UMIP);
    check_blocked(vec, cr4, read_cr4(), "clearing UMIP");
    /* MOV CR ignores ModRM.mod (SDM Vol 2B, MOV CR: "the 2 bits in the mod
     * field are ignored"), so these are mov %rax,%cr4 too, 3 bytes long:
     * a decoder that took them as memory forms would be a way around. */
    vec = TRY_MOV_CR("0x0f,0x22,0x20", bad);
    check_blocked(vec, cr4, read_cr4(), "0f 22 20 (mod=00)");
    vec = TRY_MOV_CR("0x0f,0x22,0x60", bad);
    check_blocked(vec, cr4, read_cr4(), "0f 22 60 (mod=01)");
    vec = TRY_MOV_CR("0x0f,0x22,0xa0", bad);
    check_blocked(vec, cr4, read_cr4(), "0f 22 a0 (mod=10)");
    /* A write flipping a pinned and an unpinned bit changes neither. */
    vec = TRY_MOV_CR("0x0f,0x22,0xe0", (cr4 ^ X86_CR4_PGE) & ~X86_CR4_SMEP);
    check_blocked(vec, cr4, read_cr4(), "SMEP and PGE together");

    /* Unpinned bits still change, through the same encodings. */
    vec = TRY_MOV_CR("0x0f,0x22,0xe0", cr4 ^ X86_CR4_PGE);
    report(vec < 0 && read_cr4() == (cr4 ^ X86_CR4_PGE), "PGE flips (mov %%rax,%%cr4)");
    vec = TRY_MOV_CR("0x41,0x0f,0x22,0xe0", cr4);
    report(vec < 0 && read_cr4() == cr4, "PGE flips back (mov %%r8,%%cr4)");
    vec = TRY_MOV_CR("0x0f,0x22,0xe0", cr4);
    report(vec < 0 && read_cr4() == cr4, "rewriting the same value is fine");

    /* mod=01 allowed write: no displacement byte, so the next instruction
     * (mov $7,%ecx) runs from the 4th byte on. */
    u64 ecx = 0;
    asm volatile(ASM_TRY("1f") ".byte 0x0f,0x22,0x60\n\t.byte 0xb9,7,0,0,0\n1:"
                 : "=c"(ecx) : "a"(cr4 ^ X86_CR4_PGE), "c"(0ul) : "memory");
    report(exception_vector() < 0 && read_cr4() == (cr4 ^ X86_CR4_PGE) && ecx == 7,
           "0f 22 60 flips PGE and is 3 bytes long");
    write_cr4(cr4);
}

static void mov_cr0_64(void)
{
    u64 cr0 = read_cr0();
    int vec;

    report_prefix("mov cr0 64-bit");
    vec = TRY_MOV_CR("0x0f,0x22,0xc0", cr0 & ~X86_CR0_WP);      /* mov %rax,%cr0 */
    check_blocked(vec, cr0, read_cr0(), "mov %rax,%cr0 clearing WP");
    vec = TRY_MOV_CR("0x41,0x0f,0x22,0xc0", cr0 & ~X86_CR0_WP); /* mov %r8,%cr0 */
    check_blocked(vec, cr0, read_cr0(), "mov %r8,%cr0 (REX.B)");
    vec = TRY_MOV_CR("0x0f,0x22,0xc0", (cr0 | X86_CR0_TS) & ~X86_CR0_WP);
    check_blocked(vec, cr0, read_cr0(), "WP and TS together");
    vec = TRY_MOV_CR("0x0f,0x22,0xc0", cr0 | X86_CR0_TS);
    report(vec < 0 && read_cr0() == (cr0 | X86_CR0_TS), "TS sets");
    vec = TRY_MOV_CR("0x0f,0x22,0xc0", cr0 & ~X86_CR0_TS);
    report(vec < 0 && read_cr0() == (cr0 & ~X86_CR0_TS), "TS clears");
}

/* ---- MOV to CR4 in compatibility mode ------------------------------- */

/* compat_write_cr4(val): far-return into the 32-bit KERNEL_CS32 segment,
 * run `mov %eax,%cr4` (0f 22 e0) there with a fault-catch entry, and come
 * back to 64-bit mode. The vector is left in ex_last. */
void compat_write_cr4(u32 val);
asm(".pushsection .text\n"
    ".globl compat_write_cr4\n"
    "compat_write_cr4:\n\t"
    "push %rbx\n\t"
    "mov %rsp, %rbx\n\t"
    /* compatibility mode checks DS/SS like protected mode: make them valid */
    "mov $0x10, %eax\n\t"
    "mov %eax, %ds\n\t"
    "mov %eax, %es\n\t"
    "mov %eax, %ss\n\t"
    "pushq $0x30\n\t"             /* KERNEL_CS32 */
    "lea 1f(%rip), %rax\n\t"
    "push %rax\n\t"
    "lretq\n"
    ".code32\n"
    "1:\tmovl $-1, ex_last\n\t"
    "mov %edi, %eax\n"
    "2:\tmov %eax, %cr4\n"
    "3:\tpushl $0x08\n\t"         /* KERNEL_CS */
    "pushl $4f\n\t"
    "lret\n"
    ".code64\n"
    "4:\tmov %rbx, %rsp\n\t"
    "pop %rbx\n\t"
    "ret\n"
    ".pushsection .data.ex, \"aw\"\n\t"
    ".quad 2b, 3b\n"
    ".popsection\n"
    ".popsection\n");

static void mov_cr4_compat(void)
{
    u64 cr4 = read_cr4();

    report_prefix("mov cr4 compat");
    compat_write_cr4((u32)(cr4 & ~X86_CR4_SMEP));
    report(exception_vector() == GP_VECTOR && exception_error_code() == 0 &&
           ex_last.cs == KERNEL_CS32 && read_cr4() == cr4,
           "mov %%eax,%%cr4 clearing SMEP in compatibility mode: #GP(0), unchanged");
    compat_write_cr4((u32)(cr4 ^ X86_CR4_PGE));
    report(exception_vector() < 0 && read_cr4() == (cr4 ^ X86_CR4_PGE),
           "PGE flips in compatibility mode");
    write_cr4(cr4);
}

/* ---- LMSW and CLTS -------------------------------------------------- */

/* LMSW loads only PE, MP, EM and TS (SDM Vol 2A, LMSW) and CLTS only
 * clears TS, so neither can reach CR0.WP: they must keep working with WP
 * pinned, and WP must stay set. */
static void lmsw_clts(void)
{
    u64 cr0 = read_cr0() & ~X86_CR0_TS;
    u16 msw = (u16)(cr0 | X86_CR0_TS);
    int vec;

    report_prefix("lmsw/clts");
    write_cr0(cr0);
    asm volatile(ASM_TRY("1f") "lmsw %w0\n1:" :: "r"(msw) : "memory");
    vec = exception_vector();
    report(vec < 0 && read_cr0() == (cr0 | X86_CR0_TS), "lmsw reg sets TS, WP kept");
    asm volatile(ASM_TRY("1f") "clts\n1:" ::: "memory");
    report(exception_vector() < 0 && read_cr0() == cr0, "clts clears TS, WP kept");
    asm volatile(ASM_TRY("1f") "lmsw %0\n1:" :: "m"(msw) : "memory");
    report(exception_vector() < 0 && read_cr0() == (cr0 | X86_CR0_TS),
           "lmsw mem sets TS, WP kept");
    msw = (u16)cr0;
    asm volatile(ASM_TRY("1f") "lmsw %0\n1:" :: "m"(msw) : "memory");
    report(exception_vector() < 0 && read_cr0() == cr0, "lmsw mem clears TS");
    report(read_cr0() & X86_CR0_WP, "WP still set");
}

/* ---- CPL3 ----------------------------------------------------------- */

USER_TEXT static long user_mov_cr4(long v)
{
    asm volatile("mov %0, %%cr4" :: "r"(v) : "memory");
    return 0;
}

static void cpl3(void)
{
    u64 cr4 = read_cr4();
    int vec;

    report_prefix("cpl3");
    vec = run_user(user_mov_cr4, (long)(cr4 & ~X86_CR4_SMEP), NULL);
    report(vec == GP_VECTOR && read_cr4() == cr4, "clearing SMEP at CPL3 is #GP");
    vec = run_user(user_mov_cr4, (long)cr4, NULL);
    report(vec == GP_VECTOR, "any MOV to CR4 at CPL3 is #GP");
}

/* ---- SMAP, pinned last because run_user touches user memory -------- */

static void smap(void)
{
    u64 cr4;

    report_prefix("smap");
    write_cr4(read_cr4() | X86_CR4_SMAP);
    cr4 = read_cr4();
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_SMAP) < 0, "pin SMAP (while set)");
    report(write_cr4_safe(cr4 & ~X86_CR4_SMAP) == GP_VECTOR && read_cr4() == cr4,
           "clearing SMAP is #GP");
    report(write_cr4_safe(cr4 & ~X86_CR4_SMEP) == GP_VECTOR && read_cr4() == cr4,
           "SMEP still pinned");
}

int main(struct mb_info *mbi)
{
    u64 cr0p = 0, cr4p = 0;

    (void)mbi;
    if (!cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMEP) || !cpuid_bit(7, 0, 'c', CPUID_7_ECX_UMIP) ||
        !cpuid_bit(7, 0, 'b', CPUID_7_EBX_SMAP)) {
        report(false, "CPU has SMEP, SMAP and UMIP");
        return report_summary();
    }
    write_cr0(read_cr0() | X86_CR0_WP);
    write_cr4(read_cr4() | X86_CR4_SMEP | X86_CR4_UMIP);
    report(crpin_pin_this_cpu(&cr0p, &cr4p) == 0 && cr0p == X86_CR0_WP &&
           cr4p == (X86_CR4_SMEP | X86_CR4_UMIP), "pinned WP, SMEP, UMIP");

    mov_cr4_64();
    mov_cr0_64();
    mov_cr4_compat();
    lmsw_clts();
    cpl3();
    smap();
    report_prefix(NULL);
    return report_summary();
}
