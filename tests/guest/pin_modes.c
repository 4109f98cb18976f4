/* Pins hold in every mode, not just 64-bit: with WP and SMEP pinned the
 * kernel leaves IA-32e mode (CR0.PG=0, which the pins allow) and tries to
 * clear them from legacy 32-bit protected mode and from real mode. Each
 * attempt must be #GP with the register unchanged, while unpinned bits
 * (PG, PE, CR4.PGE) still change. #GP is caught by a 32-bit IDT and then
 * a real-mode IVT built for the trip; the handlers step over the 3-byte
 * MOV and count. The trip follows modes.c: trampoline at 0x8000, results
 * at 0x7e00. */
#include "kit.h"
#include "crpin.h"

#define TRAMP 0x8000
#define RES   0x7e00
#define IDT32 0x7c00 /* vectors 0..13, 8 bytes each */
#define IVT   0x7b00 /* vectors 0..13, 4 bytes each */

struct res {
    u32 pm32_cr0;       /* 0x00: CR0 after PG=0 */
    u32 pm32_cr4_gp;    /* 0x04: #GP count after mov %eax,%cr4 (SMEP off) */
    u32 pm32_cr4;       /* 0x08: CR4 after it */
    u32 pm32_cr0_gp;    /* 0x0c: #GP count after mov %eax,%cr0 (WP off) */
    u32 pm32_cr0_after; /* 0x10 */
    u32 pm32_pge_gp;    /* 0x14: #GP count after flipping PGE */
    u32 pm32_pge_cr4;   /* 0x18 */
    u32 pm32_err;       /* 0x1c: last #GP error code */
    u32 rm_cr4_gp;      /* 0x20: #GP count after mov %eax,%cr4 (SMEP off) */
    u32 rm_cr4;         /* 0x24 */
    u32 rm_cr0_gp;      /* 0x28: #GP count after mov %eax,%cr0 (WP off) */
    u32 rm_cr0;         /* 0x2c */
    u32 rm_cr0_pe;      /* 0x30: CR0 read in real mode */
    u32 gp_count;       /* 0x34: bumped by both handlers */
} __attribute__((packed));

u64 pm_saved_rsp;
struct dtr pm_saved_idtr;
void pin_modes_trip(void);
extern char tramp_start[], tramp_end[], t_gp32[], t_gp16[];

asm(".set TRAMP, 0x8000\n"
    ".set RES, 0x7e00\n"
    ".set SMEP, 0x100000\n"
    ".set WP, 0x10000\n"
    ".set PGE, 0x80\n"
    ".text\n"
    ".globl pin_modes_trip\n"
    "pin_modes_trip:\n"
    "    pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "    sidt pm_saved_idtr(%rip)\n"
    "    movq %rsp, pm_saved_rsp(%rip)\n"
    "    pushq $0x30\n"                                   /* KERNEL_CS32 */
    "    pushq $(TRAMP + t_pm32 - tramp_start)\n"
    "    lretq\n"
    "pm_back64:\n"
    "    movl $0x10, %eax; movl %eax, %ds; movl %eax, %es; movl %eax, %ss\n"
    "    movq pm_saved_rsp(%rip), %rsp\n"
    "    lidt pm_saved_idtr(%rip)\n"
    "    popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx\n"
    "    ret\n"

    ".section .rodata\n"
    ".globl tramp_start, tramp_end, t_gp32, t_gp16\n"
    "tramp_start:\n"
    ".code32\n"
    "t_pm32:\n"                     /* compatibility mode, CS=0x30 */
    "    movl $0x10, %eax; movl %eax, %ds; movl %eax, %es; movl %eax, %ss\n"
    "    movl %cr0, %eax\n"
    "    andl $0x7fffffff, %eax\n"
    "    movl %eax, %cr0\n"         /* PG=0: legacy 32-bit PM (WP kept) */
    "    movl %cr0, %eax\n"
    "    movl %eax, RES+0x00\n"
    "    lidt (TRAMP + idt32_desc - tramp_start)\n"
    /* mov %eax,%cr4 with SMEP cleared */
    "    movl %cr4, %eax\n"
    "    andl $~SMEP, %eax\n"
    "    movl %eax, %cr4\n"         /* 0f 22 e0: the handler skips 3 */
    "    movl RES+0x34, %eax\n"
    "    movl %eax, RES+0x04\n"
    "    movl %cr4, %eax\n"
    "    movl %eax, RES+0x08\n"
    /* mov %eax,%cr0 with WP cleared */
    "    movl %cr0, %eax\n"
    "    andl $~WP, %eax\n"
    "    movl %eax, %cr0\n"
    "    movl RES+0x34, %eax\n"
    "    movl %eax, RES+0x0c\n"
    "    movl %cr0, %eax\n"
    "    movl %eax, RES+0x10\n"
    /* an unpinned bit still flips */
    "    movl %cr4, %eax\n"
    "    xorl $PGE, %eax\n"
    "    movl %eax, %cr4\n"
    "    movl RES+0x34, %eax\n"
    "    movl %eax, RES+0x14\n"
    "    movl %cr4, %eax\n"
    "    movl %eax, RES+0x18\n"
    "    xorl $PGE, %eax\n"
    "    movl %eax, %cr4\n"
    "    ljmp $0x38, $(TRAMP + t_pm16 - tramp_start)\n"
    "t_gp32:\n"                     /* #GP in legacy 32-bit PM */
    "    popl RES+0x1c\n"           /* error code */
    "    incl RES+0x34\n"
    "    addl $3, (%esp)\n"
    "    iretl\n"
    ".code16\n"
    "t_pm16:\n"                     /* 16-bit protected mode */
    "    movw $0x40, %ax\n"
    "    movw %ax, %ds\n"
    "    movw %ax, %es\n"
    "    movw %ax, %ss\n"
    "    movw $0x7000, %sp\n"
    "    movl %cr0, %eax\n"
    "    andl $0xfffffffe, %eax\n"
    "    movl %eax, %cr0\n"         /* PE=0 (WP kept) */
    "    ljmp $0, $(TRAMP + t_real - tramp_start)\n"
    "t_real:\n"                     /* real mode */
    "    xorw %ax, %ax\n"
    "    movw %ax, %ds\n"
    "    movw %ax, %es\n"
    "    movw %ax, %ss\n"
    "    movw $0x7000, %sp\n"
    "    lidtl (TRAMP + ivt_desc - tramp_start)\n"
    "    movl %cr0, %eax\n"
    "    movl %eax, RES+0x30\n"
    "    movl %cr4, %eax\n"
    "    andl $~SMEP, %eax\n"
    "    movl %eax, %cr4\n"         /* 0f 22 e0 in 16-bit code too */
    "    movl RES+0x34, %eax\n"
    "    movl %eax, RES+0x20\n"
    "    movl %cr4, %eax\n"
    "    movl %eax, RES+0x24\n"
    "    movl %cr0, %eax\n"
    "    andl $~WP, %eax\n"
    "    movl %eax, %cr0\n"
    "    movl RES+0x34, %eax\n"
    "    movl %eax, RES+0x28\n"
    "    movl %cr0, %eax\n"
    "    movl %eax, RES+0x2c\n"
    "    movl %cr0, %eax\n"
    "    orl $1, %eax\n"
    "    movl %eax, %cr0\n"         /* PE=1 */
    "    ljmp $0x30, $(TRAMP + t_back32 - tramp_start)\n"
    "t_gp16:\n"                     /* #GP in real mode: no error code */
    "    incl RES+0x34\n"
    "    pushw %bp\n"
    "    movw %sp, %bp\n"
    "    addw $3, 2(%bp)\n"
    "    popw %bp\n"
    "    iretw\n"
    ".code32\n"
    "t_back32:\n"
    "    movl $0x10, %eax\n"
    "    movl %eax, %ds\n"
    "    movl %eax, %es\n"
    "    movl %eax, %ss\n"
    "    movl %cr0, %eax\n"
    "    orl $0x80000000, %eax\n"
    "    movl %eax, %cr0\n"         /* PG=1: LMA=1, compatibility mode */
    "    ljmp $0x08, $pm_back64\n"
    "idt32_desc:\n"
    "    .word 14 * 8 - 1\n"
    "    .long 0x7c00\n"
    "ivt_desc:\n"
    "    .word 14 * 4 - 1\n"
    "    .long 0x7b00\n"
    "tramp_end:\n"
    ".code64\n"
    ".text\n");

static u32 tramp_addr(const char *sym)
{
    return (u32)(TRAMP + (sym - tramp_start));
}

int main(struct mb_info *mbi)
{
    volatile struct res *r = (volatile struct res *)RES;
    u64 cr0p = 0, cr4p = 0, cr0, cr4;

    (void)mbi;
    write_cr0(read_cr0() | X86_CR0_WP);
    write_cr4(read_cr4() | X86_CR4_SMEP);
    cr0 = read_cr0();
    cr4 = read_cr4();
    int ret = crpin_pin_this_cpu(&cr0p, &cr4p);
    report(ret == 0 && cr0p == X86_CR0_WP && (cr4p & X86_CR4_SMEP), "WP and SMEP pinned");

    memset((void *)RES, 0, sizeof(struct res));
    memcpy((void *)TRAMP, tramp_start, tramp_end - tramp_start);
    /* 32-bit interrupt gates (type 0xe, P=1, DPL0) to t_gp32 for 0..13:
     * anything but #GP shows up as a wrong count. */
    volatile u64 *idt32 = (volatile u64 *)IDT32;
    volatile u32 *ivt = (volatile u32 *)IVT;
    u32 gp32 = tramp_addr(t_gp32), gp16 = tramp_addr(t_gp16);
    for (int v = 0; v < 14; v++) {
        idt32[v] = (gp32 & 0xffff) | ((u64)KERNEL_CS32 << 16) | (0x8eull << 40) |
                   ((u64)(gp32 >> 16) << 48);
        ivt[v] = gp16; /* segment 0, offset gp16 (< 64 KiB) */
    }
    pin_modes_trip();

    report((r->pm32_cr0 & (X86_CR0_PG | X86_CR0_PE | X86_CR0_WP)) == (X86_CR0_PE | X86_CR0_WP),
           "legacy 32-bit PM reached: PG=0 with WP pinned is allowed (cr0 0x%x)", r->pm32_cr0);
    report(r->pm32_cr4_gp == 1 && r->pm32_err == 0 && r->pm32_cr4 == (u32)cr4,
           "legacy 32-bit PM: clearing SMEP is #GP(0), CR4 unchanged");
    report(r->pm32_cr0_gp == 2 && r->pm32_cr0_after == r->pm32_cr0,
           "legacy 32-bit PM: clearing WP is #GP, CR0 unchanged");
    report(r->pm32_pge_gp == 2 && r->pm32_pge_cr4 == ((u32)cr4 ^ X86_CR4_PGE),
           "legacy 32-bit PM: PGE still flips");
    report(!(r->rm_cr0_pe & X86_CR0_PE) && (r->rm_cr0_pe & X86_CR0_WP),
           "real mode reached: PE=0 with WP pinned is allowed");
    report(r->rm_cr4_gp == 3 && r->rm_cr4 == (u32)cr4,
           "real mode: clearing SMEP is #GP, CR4 unchanged");
    report(r->rm_cr0_gp == 4 && r->rm_cr0 == r->rm_cr0_pe,
           "real mode: clearing WP is #GP, CR0 unchanged");
    report(r->gp_count == 4, "four #GPs in all (%u)", r->gp_count);
    report(read_cr0() == cr0 && read_cr4() == cr4 && read_cs() == KERNEL_CS,
           "back in 64-bit mode with CR0/CR4 as before");
    report(write_cr4_safe(cr4 & ~X86_CR4_SMEP) == GP_VECTOR, "SMEP still pinned");
    return report_summary();
}
