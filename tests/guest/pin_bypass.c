/* pin_bypass: the pin bypass corpus. Every way we know to change a pinned
 * CR0/CR4 bit, tried with CR0.WP and CR4.SMEP/UMIP (and at the end SMAP)
 * pinned; each attempt must fail and leave the register unchanged. This is
 * the single list (pin_enforce.c and pin_modes.c test the same paths in
 * more depth); each report line is one numbered technique:
 *
 *   B1  MOV to CR0/CR4 from each of the 15 usable GPRs (RSP aside: it is
 *       the stack), in four encodings each: plain, REX.W, 66 (operand size
 *       is ignored) and ModRM.mod=00 (mod is ignored, SDM Vol 2B MOV CR);
 *       each encoding first flips an unpinned bit (CR0.TS, CR4.PGE) to
 *       prove it reaches the register, then tries the pinned one
 *   B2  LOCK MOV CR0 (AMD's alternative CR8 encoding): never CR0
 *   B3  REX.R MOV to CR12/CR8 with the CR4/CR0 value: never CR4/CR0
 *   B4  MOV CR with reserved bits set together with a pinned bit cleared
 *   B5  MOV CR0 clearing WP and PG at once (leaving IA-32e mode)
 *   B6  LMSW with a memory and a register operand (all 16 bits set/clear)
 *   B7  CLTS
 *   B8  task switch: far JMP/CALL to a 32-bit TSS in IA-32e mode is #GP
 *       (no task switch happens there, so nothing loads CR0/CR3)
 *   B9  IRET with NT=1 (task return) in IA-32e mode is #GP
 *   B10 IRETQ to compatibility mode, then MOV to CR4/CR0 (32-bit operands)
 *   B11 CPL3: MOV to CR0/CR4, LMSW, CLTS, WRMSR to the pin MSRs
 *   B12 the MSRs: writing 0 (accepted, changes nothing), a bit outside
 *       ALLOWED (#GP), writing ALLOWED (#GP), reading PINNED (#GP)
 *   B13 RSM outside SMM is #UD
 *   B14 SMAP pinned last, then cleared with every encoding of B1
 *   B15 an SMI (self-IPI, delivery mode SMI): SMM entry clears CR4 and RSM
 *       reloads it; afterwards every pin still holds
 *   B16 a second vCPU (-smp 2): pins are per CPU. The AP pins SMEP and
 *       cannot clear it; it writes 0 to its PINNED MSRs; INIT-SIPI-SIPI of
 *       the AP clears the AP's pins (by design: the RFC has each CPU pin on
 *       its own bring-up path) while the BSP's pins hold throughout
 *
 *   TODO(smm): SMI with a tampered SMRAM save state (CR0/CR4 images with a
 *       pinned bit cleared), then RSM: must fail with shutdown (smm.c keeps
 *       the save area host-side for now, so a guest cannot edit it yet).
 *   TODO(smp): an AP sending INIT to the BSP: the BSP restarts unpinned
 *       (by design) but also loses this test; needs a kernel built around
 *       it.
 *   TODO(snapshot): a snapshot whose saved CR0/CR4 or pin masks were
 *       edited must be refused or restore the pins (after snapshots land).
 *   (The legacy-mode 32-bit task switch with a different CR3 and the
 *   CR0.TS write it makes is in pin_modes' territory: TODO(task32).)
 */
#include "kit.h"
#include "crpin.h"
#include "smp.h"

// @pinvm-args: -smp 2

/* ---- B1: one stub per (CR, register, encoding) ------------------------
 * crstub(val): loads val into every GPR but RSP, runs one MOV to CR, and
 * returns; a fault resumes after it (ex_last has the vector). */
#define REGS "0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15"
#define STUBS(cr, enc) ".irp r, " REGS "\ncrstub " #cr ", \\r, " #enc "\n.endr\n"
#define TABLE(cr, enc) ".irp r, " REGS "\n.quad crstub_" #cr "_\\r\\()_" #enc "\n.endr\n"
asm(".macro crstub cr, r, enc\n"
    "crstub_\\cr\\()_\\r\\()_\\enc:\n"
    "    push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
    "    mov %rdi, %rax; mov %rdi, %rbx; mov %rdi, %rcx; mov %rdi, %rdx\n"
    "    mov %rdi, %rsi; mov %rdi, %rbp; mov %rdi, %r8; mov %rdi, %r9\n"
    "    mov %rdi, %r10; mov %rdi, %r11; mov %rdi, %r12; mov %rdi, %r13\n"
    "    mov %rdi, %r14; mov %rdi, %r15\n"
    "    movl $-1, ex_last(%rip)\n"
    "1:\n"
    "    .if \\enc == 2\n"
    "    .byte 0x66\n"
    "    .endif\n"
    "    .if \\enc == 1\n"
    "    .byte 0x48 | (\\r >> 3)\n"
    "    .elseif \\r >= 8\n"
    "    .byte 0x41\n"
    "    .endif\n"
    "    .if \\enc == 3\n"
    "    .byte 0x0f, 0x22, 0x00 | (\\cr << 3) | (\\r & 7)\n"
    "    .else\n"
    "    .byte 0x0f, 0x22, 0xc0 | (\\cr << 3) | (\\r & 7)\n"
    "    .endif\n"
    "2:\n"
    "    pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
    "    ret\n"
    "    .pushsection .data.ex, \"aw\"\n"
    "    .quad 1b, 2b\n"
    "    .popsection\n"
    ".endm\n"
    ".text\n"
    STUBS(0, 0) STUBS(0, 1) STUBS(0, 2) STUBS(0, 3)
    STUBS(4, 0) STUBS(4, 1) STUBS(4, 2) STUBS(4, 3)
    ".section .rodata\n"
    ".globl crstub_table\n"
    "crstub_table:\n"
    TABLE(0, 0) TABLE(0, 1) TABLE(0, 2) TABLE(0, 3)
    TABLE(4, 0) TABLE(4, 1) TABLE(4, 2) TABLE(4, 3)
    ".text\n");

#define NREG 15
#define NENC 4
extern void (*const crstub_table[2][NENC][NREG])(u64);
static const char *const reg_names[NREG] = { "rax", "rcx", "rdx", "rbx", "rbp", "rsi", "rdi",
                                             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
static const char *const enc_names[NENC] = { "", "REX.W ", "66 ", "mod=00 " };

static int stub_write(int cr4, int enc, int r, u64 val)
{
    crstub_table[cr4][enc][r](val);
    return exception_vector();
}

/* B1 / B14: every stub; `pinned` is the bit to clear, `flip` an unpinned
 * bit whose flip must go through (0: skip that part). */
static void all_encodings(int cr4, u64 pinned, u64 flip, const char *what)
{
    int bad = 0, tried = 0;
    for (int enc = 0; enc < NENC; enc++)
        for (int r = 0; r < NREG; r++) {
            u64 before = cr4 ? read_cr4() : read_cr0();
            int v1 = -1, v2 = -1, v3;
            u64 after_flip = before;
            if (flip) {
                v1 = stub_write(cr4, enc, r, before ^ flip);
                after_flip = cr4 ? read_cr4() : read_cr0();
                v2 = stub_write(cr4, enc, r, before);
            }
            v3 = stub_write(cr4, enc, r, before & ~pinned);
            u64 after = cr4 ? read_cr4() : read_cr0();
            tried++;
            if (v1 != -1 || v2 != -1 || (flip && after_flip != (before ^ flip)) ||
                v3 != GP_VECTOR || exception_error_code() != 0 || after != before) {
                bad++;
                printf("  %smov %%%s,%%cr%d: flip vec %d (%s), clear %s vec %d, cr %lx -> %lx\n",
                       enc_names[enc], reg_names[r], cr4 ? 4 : 0, v1,
                       after_flip == (before ^ flip) ? "went through" : "did not",
                       what, v3, (unsigned long)before, (unsigned long)after);
            }
        }
    report(bad == 0, "mov to cr%d clearing %s: %d encodings, each #GP(0), unchanged",
           cr4 ? 4 : 0, what, tried);
}

/* ---- B2..B5: odd encodings and combined writes ------------------------ */

#define TRY_BYTES(bytes, val)                                                \
    ({                                                                       \
        u64 v_ = (val);                                                      \
        asm volatile(ASM_TRY("1f") ".byte " bytes "\n1:"                     \
                     :: "a"(v_) : "memory");                                 \
        exception_vector();                                                  \
    })

static void odd_encodings(void)
{
    u64 cr0 = read_cr0(), cr4 = read_cr4(), cr8 = read_cr8();
    int vec;

    report_prefix("B2");
    vec = TRY_BYTES("0xf0,0x0f,0x22,0xc0", cr0 & ~X86_CR0_WP);   /* lock mov %rax,%cr0 */
    report(read_cr0() == cr0 && (vec == UD_VECTOR || vec == GP_VECTOR || vec < 0),
           "lock mov %%rax,%%cr0 (AMD CR8 alias): CR0 unchanged (vec %d)", vec);
    write_cr8(cr8);

    report_prefix("B3");
    vec = TRY_BYTES("0x44,0x0f,0x22,0xe0", cr4 & ~X86_CR4_SMEP); /* mov %rax,%cr12 */
    report(vec == UD_VECTOR && read_cr4() == cr4, "mov %%rax,%%cr12 (REX.R): #UD, CR4 unchanged");
    vec = TRY_BYTES("0x44,0x0f,0x22,0xc0", 0);                    /* mov %rax,%cr8 */
    report(vec < 0 && read_cr0() == cr0 && read_cr8() == 0,
           "mov %%rax,%%cr8 (REX.R, CR0's field) writes CR8 only");
    write_cr8(cr8);

    report_prefix("B4");
    vec = TRY_BYTES("0x0f,0x22,0xe0", (cr4 & ~X86_CR4_SMEP) | (1ull << 40));
    report(vec == GP_VECTOR && read_cr4() == cr4, "cr4: reserved bit 40 + SMEP clear: #GP, unchanged");
    vec = TRY_BYTES("0x0f,0x22,0xe0", (cr4 & ~X86_CR4_SMEP) | X86_CR4_VMXE);
    report(vec == GP_VECTOR && read_cr4() == cr4, "cr4: VMXE + SMEP clear: #GP, unchanged");
    vec = TRY_BYTES("0x0f,0x22,0xc0", (cr0 & ~X86_CR0_WP) | (1ull << 32));
    report(vec == GP_VECTOR && read_cr0() == cr0, "cr0: bit 32 + WP clear: #GP, unchanged");

    report_prefix("B5");
    vec = TRY_BYTES("0x0f,0x22,0xc0", cr0 & ~(X86_CR0_WP | X86_CR0_PG));
    report(vec == GP_VECTOR && read_cr0() == cr0,
           "cr0: WP and PG cleared at once (leaving IA-32e): #GP, unchanged");
    report_prefix(NULL);
}

/* ---- B6, B7: LMSW, CLTS ----------------------------------------------- */

static void lmsw_clts(void)
{
    u64 cr0 = read_cr0();
    u16 all = 0xffff, none = 0x0001; /* LMSW cannot clear PE */
    report_prefix("B6");
    asm volatile(ASM_TRY("1f") "lmsw %0\n1:" :: "m"(none) : "memory");
    report(exception_vector() < 0 && (read_cr0() & X86_CR0_WP) &&
           (read_cr0() & ~0xfull) == (cr0 & ~0xfull), "lmsw mem 0x0001: WP kept, only MSW bits");
    asm volatile(ASM_TRY("1f") "lmsw %0\n1:" :: "m"(all) : "memory");
    report(exception_vector() < 0 && (read_cr0() & X86_CR0_WP) &&
           (read_cr0() & ~0xfull) == (cr0 & ~0xfull), "lmsw mem 0xffff: WP kept, only MSW bits");
    asm volatile(ASM_TRY("1f") "lmsw %w0\n1:" :: "r"(none) : "memory");
    report(exception_vector() < 0 && (read_cr0() & X86_CR0_WP), "lmsw reg: WP kept");
    report_prefix("B7");
    asm volatile(ASM_TRY("1f") "clts\n1:" ::: "memory");
    report(exception_vector() < 0 && (read_cr0() & X86_CR0_WP), "clts: WP kept");
    write_cr0(cr0);
    report_prefix(NULL);
}

/* ---- B8, B9: task switches -------------------------------------------- */

static u8 tss32[104] __attribute__((aligned(16)));

static void task_switch(void)
{
    u64 cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4();
    struct { u32 off; u16 sel; } __attribute__((packed)) far = { 0, GDT_FREE0 };

    report_prefix("B8");
    memset(tss32, 0, sizeof tss32);
    /* CR3 and a CR0-relevant image in the TSS: a task switch that happened
     * would load CR3 (offset 28) and set CR0.TS */
    *(u32 *)(tss32 + 28) = 0x1000;
    gdt_set_entry(GDT_FREE0, (u32)(uintptr_t)tss32, sizeof tss32 - 1, 0x89, 0); /* 32-bit TSS */
    asm volatile(ASM_TRY("1f") "ljmpl *%0\n1:" :: "m"(far) : "memory");
    report(exception_vector() == GP_VECTOR && read_cr0() == cr0 && read_cr3() == cr3,
           "far jmp to a 32-bit TSS in IA-32e mode: #GP, CR0/CR3 unchanged");
    asm volatile(ASM_TRY("1f") "lcalll *%0\n1:" :: "m"(far) : "memory");
    report(exception_vector() == GP_VECTOR && read_cr0() == cr0 && read_cr3() == cr3,
           "far call to a 32-bit TSS in IA-32e mode: #GP, CR0/CR3 unchanged");
    gdt_set_entry(GDT_FREE0, 0, 0, 0, 0);

    report_prefix("B9");
    u64 nt = 1ull << 14;
    asm volatile("pushfq\n\t"
                 "orq %0, (%%rsp)\n\t"
                 "popfq\n\t"
                 "mov %%rsp, %%rcx\n\t"
                 "pushq %1\n\t"       /* SS */
                 "pushq %%rcx\n\t"    /* RSP */
                 "pushfq\n\t"
                 "pushq %2\n\t"       /* CS */
                 "lea 1f(%%rip), %%rcx\n\t"
                 "pushq %%rcx\n\t"
                 ASM_TRY("1f")
                 "iretq\n"
                 "1:\n\t"
                 "pushfq\n\t"
                 "notq %0\n\t"
                 "andq %0, (%%rsp)\n\t"
                 "popfq"
                 : "+r"(nt) : "i"(KERNEL_DS), "i"(KERNEL_CS) : "rcx", "memory", "cc");
    report(exception_vector() == GP_VECTOR && read_cr0() == cr0 && read_cr4() == cr4,
           "iretq with NT=1 (task return): #GP, CR0/CR4 unchanged");
    report_prefix(NULL);
}

/* ---- B10: IRETQ into compatibility mode, then write -------------------- */

/* iret_compat_write(cr4?, val): IRETQ to KERNEL_CS32, run mov %eax,%crN
 * there (fault caught, resuming in compatibility mode), far-return to
 * 64-bit mode. The vector is in ex_last. */
void iret_compat_write(u64 which, u64 val);
asm(".pushsection .text\n"
    ".globl iret_compat_write\n"
    "iret_compat_write:\n\t"
    "push %rbx\n\t"
    "mov %rsp, %rbx\n\t"
    "mov $0x10, %eax\n\t"
    "mov %eax, %ds\n\t"
    "mov %eax, %es\n\t"
    "mov %rsi, %rdx\n\t"
    "mov %rsp, %rcx\n\t"
    "pushq $0x10\n\t"            /* SS */
    "pushq %rcx\n\t"             /* RSP */
    "pushfq\n\t"
    "pushq $0x30\n\t"            /* KERNEL_CS32 */
    "lea 1f(%rip), %rax\n\t"
    "pushq %rax\n\t"
    "iretq\n"
    ".code32\n"
    "1:\tmovl $-1, ex_last\n\t"
    "mov %edx, %eax\n\t"
    "test %edi, %edi\n\t"
    "jz 5f\n"
    "2:\tmov %eax, %cr4\n\t"
    "jmp 3f\n"
    "5:\n"
    "6:\tmov %eax, %cr0\n"
    "3:\tpushl $0x08\n\t"        /* KERNEL_CS */
    "pushl $4f\n\t"
    "lret\n"
    ".code64\n"
    "4:\tmov %rbx, %rsp\n\t"
    "pop %rbx\n\t"
    "ret\n"
    ".pushsection .data.ex, \"aw\"\n\t"
    ".quad 2b, 3b\n\t"
    ".quad 6b, 3b\n"
    ".popsection\n"
    ".popsection\n");

static void iret_compat(void)
{
    u64 cr0 = read_cr0(), cr4 = read_cr4();

    report_prefix("B10");
    iret_compat_write(1, (u32)(cr4 ^ X86_CR4_PGE));
    report(exception_vector() < 0 && read_cr4() == (cr4 ^ X86_CR4_PGE),
           "after iretq to compatibility mode: PGE flips (the path works)");
    write_cr4(cr4);
    iret_compat_write(1, (u32)(cr4 & ~X86_CR4_SMEP));
    report(exception_vector() == GP_VECTOR && ex_last.cs == KERNEL_CS32 && read_cr4() == cr4,
           "after iretq to compatibility mode: mov %%eax,%%cr4 clearing SMEP: #GP, unchanged");
    iret_compat_write(0, (u32)(cr0 & ~X86_CR0_WP));
    report(exception_vector() == GP_VECTOR && ex_last.cs == KERNEL_CS32 && read_cr0() == cr0,
           "after iretq to compatibility mode: mov %%eax,%%cr0 clearing WP: #GP, unchanged");
    report_prefix(NULL);
}

/* ---- B11: CPL3 ---------------------------------------------------------- */

USER_TEXT static long u_cr4(long v) { asm volatile("mov %0, %%cr4" :: "r"(v) : "memory"); return 0; }
USER_TEXT static long u_cr0(long v) { asm volatile("mov %0, %%cr0" :: "r"(v) : "memory"); return 0; }
USER_TEXT static long u_lmsw(long v) { asm volatile("lmsw %w0" :: "r"(v) : "memory"); return 0; }
USER_TEXT static long u_clts(long v) { (void)v; asm volatile("clts" ::: "memory"); return 0; }
USER_TEXT static long u_wrmsr(long v)
{
    asm volatile("wrmsr" :: "c"(0x4b564d09u), "a"((u32)v), "d"(0) : "memory");
    return 0;
}

static void cpl3(void)
{
    u64 cr0 = read_cr0(), cr4 = read_cr4();

    report_prefix("B11");
    report(run_user(u_cr4, (long)(cr4 & ~X86_CR4_SMEP), NULL) == GP_VECTOR && read_cr4() == cr4,
           "CPL3 mov to cr4: #GP, unchanged");
    report(run_user(u_cr0, (long)(cr0 & ~X86_CR0_WP), NULL) == GP_VECTOR && read_cr0() == cr0,
           "CPL3 mov to cr0: #GP, unchanged");
    report(run_user(u_lmsw, 1, NULL) == GP_VECTOR && read_cr0() == cr0, "CPL3 lmsw: #GP");
    report(run_user(u_clts, 0, NULL) == GP_VECTOR && read_cr0() == cr0, "CPL3 clts: #GP");
    report(run_user(u_wrmsr, 0, NULL) == GP_VECTOR, "CPL3 wrmsr to CR4_PINNED: #GP");
    report_prefix(NULL);
}

/* ---- B12, B13: the MSRs, RSM -------------------------------------------- */

static void msrs(void)
{
    u64 cr4 = read_cr4(), v;

    report_prefix("B12");
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, 0) < 0 && wrmsr_safe(MSR_KVM_CR0_PINNED, 0) < 0,
           "writing 0 to the PINNED MSRs is accepted ...");
    report(write_cr4_safe(cr4 & ~X86_CR4_SMEP) == GP_VECTOR && read_cr4() == cr4,
           "... and unpins nothing");
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_PGE) == GP_VECTOR &&
           wrmsr_safe(MSR_KVM_CR0_PINNED, X86_CR0_PG) == GP_VECTOR,
           "a bit outside ALLOWED: #GP");
    report(wrmsr_safe(MSR_KVM_CR4_PIN_ALLOWED, ~0ull) == GP_VECTOR &&
           wrmsr_safe(MSR_KVM_CR0_PIN_ALLOWED, ~0ull) == GP_VECTOR, "widening ALLOWED: #GP");
    report(rdmsr_safe(MSR_KVM_CR4_PINNED, &v) == GP_VECTOR &&
           rdmsr_safe(MSR_KVM_CR0_PINNED, &v) == GP_VECTOR, "reading PINNED: #GP");
    report_prefix("B13");
    asm volatile(ASM_TRY("1f") "rsm\n1:" ::: "memory");
    report(exception_vector() == UD_VECTOR && read_cr4() == cr4, "rsm outside SMM: #UD");
    report_prefix(NULL);
}

/* ---- B16: a second vCPU ------------------------------------------------- */

static volatile u32 ap_pin_rc, ap_clear_vec, ap_cr4_after, ap_zero_vec, ap_unpinned_vec;

static void ap_pin(int cpu, void *arg)
{
    (void)cpu; (void)arg;
    u64 cr4 = read_cr4() | X86_CR4_SMEP;
    write_cr4(cr4);
    ap_pin_rc = (u32)wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_SMEP);
    ap_zero_vec = (u32)wrmsr_safe(MSR_KVM_CR4_PINNED, 0);
    ap_clear_vec = (u32)write_cr4_safe(cr4 & ~X86_CR4_SMEP);
    ap_cr4_after = (u32)read_cr4();
}

static void ap_after_init(int cpu, void *arg)
{
    (void)cpu; (void)arg;
    u64 cr4 = read_cr4() | X86_CR4_SMEP;
    write_cr4(cr4);
    ap_unpinned_vec = (u32)write_cr4_safe(cr4 & ~X86_CR4_SMEP);
}

static void second_cpu(void)
{
    u64 cr0 = read_cr0(), cr4 = read_cr4();

    report_prefix("B16");
    if (smp_cpu_count() < 2) {
        report_skip("needs -smp 2");
        report_prefix(NULL);
        return;
    }
    apic_enable();
    bool up = smp_start_ap(1, 1, ap_pin, NULL) == 0 && smp_wait_done(1);
    report(up && ap_pin_rc == (u32)-1 && ap_zero_vec == (u32)-1 && ap_clear_vec == GP_VECTOR &&
           (ap_cr4_after & X86_CR4_SMEP),
           "AP: pins SMEP, writes 0 to PINNED, clearing SMEP is #GP");
    up = smp_start_ap(1, 1, ap_after_init, NULL) == 0 && smp_wait_done(1);
    report(up && ap_unpinned_vec == (u32)-1,
           "AP after INIT-SIPI: its pins are cleared (by design), SMEP clears");
    report(read_cr0() == cr0 && read_cr4() == cr4 &&
           write_cr4_safe(cr4 & ~X86_CR4_SMEP) == GP_VECTOR &&
           write_cr0_safe(cr0 & ~X86_CR0_WP) == GP_VECTOR && read_cr4() == cr4 &&
           read_cr0() == cr0, "BSP: SMEP and WP still pinned after all that");
    report_prefix(NULL);
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

    report_prefix("B1");
    all_encodings(0, X86_CR0_WP, X86_CR0_TS, "WP");
    all_encodings(1, X86_CR4_SMEP, X86_CR4_PGE, "SMEP");
    all_encodings(1, X86_CR4_UMIP, 0, "UMIP");
    report_prefix(NULL);
    odd_encodings();
    lmsw_clts();
    task_switch();
    iret_compat();
    cpl3();
    msrs();

    /* B14: SMAP last (run_user above touches user pages from the kernel) */
    write_cr4(read_cr4() | X86_CR4_SMAP);
    report_prefix("B14");
    report(wrmsr_safe(MSR_KVM_CR4_PINNED, X86_CR4_SMAP) < 0, "pin SMAP (while set)");
    all_encodings(1, X86_CR4_SMAP, 0, "SMAP");
    report_prefix(NULL);
    /* B15: an SMI round trip */
    report_prefix("B15");
    u64 cr0 = read_cr0(), cr4 = read_cr4();
    apic_enable();
    apic_send_ipi(apic_id(), APIC_DM_SMI | APIC_INT_ASSERT);
    for (volatile int k = 0; k < 1000; k++)
        ;
    report(read_cr0() == cr0 && read_cr4() == cr4, "after an SMI: CR0/CR4 as before");
    report(write_cr4_safe(cr4 & ~X86_CR4_SMEP) == GP_VECTOR && read_cr4() == cr4 &&
           write_cr0_safe(cr0 & ~X86_CR0_WP) == GP_VECTOR && read_cr0() == cr0,
           "after an SMI: SMEP and WP still pinned");
    report_prefix(NULL);
    second_cpu();
    report_skip("TODO(smm): SMI with a tampered save state (after the SMM issue)");
    report_skip("TODO(smp): an AP sending INIT to the BSP (it resets the BSP, ending this test)");
    report_skip("TODO(snapshot): snapshot tampering (after snapshots)");
    report_skip("TODO(task32): legacy-mode 32-bit task switch with another CR3");
    return report_summary();
}
