/* modes.c: arithmetic in every operating mode reachable from the kit's
 * 64-bit start (SDM Vol 3A 10.8.5 and 10.9):
 *   - 64-bit mode (0x40 is a REX prefix there),
 *   - compatibility mode: far return to the 32-bit KERNEL_CS32 and far jump
 *     back (0x40 is INC EAX there), 32-bit PUSH,
 *   - a 16-bit code segment under IA-32e (compatibility mode, CS.D=0),
 *   - legacy 32-bit protected mode: compatibility mode, CR0.PG=0 (LMA=0),
 *   - 16-bit protected mode (KERNEL_CS16/KERNEL_DS16),
 *   - real mode: CR0.PE=0, far jump to 0000:xxxx, segment arithmetic,
 *   and back up: PE=1, far jump to KERNEL_CS32, PG=1 (LMA=1 again, since
 *   EFER.LME and CR4.PAE stayed set), far jump to KERNEL_CS.
 * The real-mode path runs from a copy of `tramp` at 0x8000; results land
 * in a table at 0x7e00.
 */
#include "kit.h"

#define TRAMP 0x8000
#define RES   0x7e00

/* Result table at RES (offsets). */
struct res {
    u32 pm32_imul;      /* 0x00 */
    u32 pm32_efer;      /* 0x04 */
    u16 pm16_ax;        /* 0x08 */
    u16 pm16_flags;     /* 0x0a */
    u16 pm16_push;      /* 0x0c: SP bytes used by PUSH AX */
    u16 pad0;
    u16 rm_seg_write;   /* 0x10: written through DS=0x07e0:0x0010 */
    u16 pad1;
    u16 rm_mul_ax;      /* 0x14 */
    u16 rm_mul_dx;      /* 0x16 */
    u16 rm_msw;         /* 0x18 */
    u16 rm_cs;          /* 0x1a */
    u16 rm_seg_read;    /* 0x1c: read back through DS=0 */
    u16 rm_push;        /* 0x1e */
    u16 c16_ax;         /* 0x20 */
    u16 c16_dx;         /* 0x22 */
    u32 pm32_cr0;       /* 0x24 */
    u16 rm_shl;         /* 0x28 */
    u16 c16_inc;        /* 0x2a */
} __attribute__((packed));

u64 modes_saved_rsp;
void enter_real_mode_trip(void);
void enter_c16(void);
void compat_test(u32 *out);
extern char tramp_start[], tramp_end[];

asm(".set TRAMP, 0x8000\n"
    ".set RES, 0x7e00\n"
    ".text\n"
    /* 64-bit: go to the low-memory trampoline in compatibility mode. */
    ".globl enter_real_mode_trip\n"
    "enter_real_mode_trip:\n"
    "    pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "    movq %rsp, modes_saved_rsp(%rip)\n"
    "    pushq $0x30\n"                                   /* KERNEL_CS32 */
    "    pushq $(TRAMP + t_pm32 - tramp_start)\n"
    "    lretq\n"
    "back64:\n"
    "    movl $0x10, %eax; movl %eax, %ds; movl %eax, %es; movl %eax, %ss\n"
    "    movq modes_saved_rsp(%rip), %rsp\n"
    "    popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx\n"
    "    ret\n"
    /* 64-bit: run the 16-bit code segment under IA-32e. */
    ".globl enter_c16\n"
    "enter_c16:\n"
    "    pushq %rbx; pushq %rbp\n"
    "    movq %rsp, modes_saved_rsp(%rip)\n"
    "    pushq $0x38\n"                                   /* KERNEL_CS16 */
    "    pushq $(TRAMP + t_c16 - tramp_start)\n"
    "    lretq\n"
    "back64_c16:\n"
    "    movl $0x10, %eax; movl %eax, %ds; movl %eax, %es; movl %eax, %ss\n"
    "    movq modes_saved_rsp(%rip), %rsp\n"
    "    popq %rbp; popq %rbx\n"
    "    ret\n"
    /* 64-bit -> compatibility mode in place (kernel text, paging on). */
    ".globl compat_test\n"
    "compat_test:\n"
    "    pushq %rbx; pushq %rbp\n"
    "    movq %rsp, modes_saved_rsp(%rip)\n"
    "    pushq $0x30\n"
    "    leaq 1f(%rip), %rax\n"
    "    pushq %rax\n"
    "    lretq\n"
    ".code32\n"
    "1:  movl $0x12345678, %eax\n"
    "    addl $0x9abcdef0, %eax\n"
    "    pushfl\n"
    "    popl %ecx\n"
    "    movl %eax, (%edi)\n"
    "    movl %ecx, 4(%edi)\n"
    "    movl %esp, %edx\n"
    "    pushl %eax\n"
    "    subl %esp, %edx\n"
    "    popl %eax\n"
    "    movl %edx, 8(%edi)\n"
    "    movl $41, %eax\n"
    "    .byte 0x40\n"                                   /* INC EAX here */
    "    movl %eax, 12(%edi)\n"
    "    ljmp $0x08, $2f\n"
    ".code64\n"
    "2:  movl $0x10, %eax; movl %eax, %ds; movl %eax, %es; movl %eax, %ss\n"
    "    movq modes_saved_rsp(%rip), %rsp\n"
    "    popq %rbp; popq %rbx\n"
    "    ret\n"

    /* The trampoline: copied to TRAMP, position-dependent on TRAMP. */
    ".section .rodata\n"
    ".globl tramp_start, tramp_end\n"
    "tramp_start:\n"
    ".code32\n"
    "t_pm32:\n"                     /* compatibility mode, CS=0x30 */
    "    movl %cr0, %eax\n"
    "    andl $0x7fffffff, %eax\n"
    "    movl %eax, %cr0\n"         /* PG=0: IA-32e off, LMA=0 (legacy PM) */
    "    movl $7, %eax\n"
    "    movl $6, %ecx\n"
    "    imull %ecx, %eax\n"
    "    movl %eax, RES+0x00\n"
    "    movl $0xc0000080, %ecx\n"
    "    rdmsr\n"
    "    movl %eax, RES+0x04\n"
    "    movl %cr0, %eax\n"
    "    movl %eax, RES+0x24\n"
    "    ljmp $0x38, $(TRAMP + t_pm16 - tramp_start)\n"
    ".code16\n"
    "t_pm16:\n"                     /* 16-bit protected mode */
    "    movw $0x40, %ax\n"
    "    movw %ax, %ds\n"
    "    movw %ax, %es\n"
    "    movw %ax, %ss\n"
    "    movw $0x7000, %sp\n"
    "    movw $0xffff, %ax\n"
    "    addw $2, %ax\n"            /* 1, CF=1 */
    "    pushfw\n"
    "    popw %bx\n"
    "    movw %ax, RES+0x08\n"
    "    movw %bx, RES+0x0a\n"
    "    movw %sp, %dx\n"
    "    pushw %ax\n"
    "    subw %sp, %dx\n"
    "    popw %ax\n"
    "    movw %dx, RES+0x0c\n"
    "    movl %cr0, %eax\n"
    "    andl $0xfffffffe, %eax\n"
    "    movl %eax, %cr0\n"         /* PE=0 */
    "    ljmp $0, $(TRAMP + t_real - tramp_start)\n"
    "t_real:\n"                     /* real mode */
    "    xorw %ax, %ax\n"
    "    movw %ax, %ds\n"
    "    movw %ax, %es\n"
    "    movw %ax, %ss\n"
    "    movw $0x7000, %sp\n"
    "    movw $0x07e0, %ax\n"
    "    movw %ax, %ds\n"
    "    movw $0x1234, 0x10\n"      /* 0x07e0 * 16 + 0x10 = RES + 0x10 */
    "    xorw %ax, %ax\n"
    "    movw %ax, %ds\n"
    "    movw RES+0x10, %ax\n"
    "    movw %ax, RES+0x1c\n"
    "    movw $300, %ax\n"
    "    movw $300, %bx\n"
    "    mulw %bx\n"                /* 90000 = 0x0001:5f90 */
    "    movw %ax, RES+0x14\n"
    "    movw %dx, RES+0x16\n"
    "    smsw RES+0x18\n"
    "    movw %cs, RES+0x1a\n"
    "    movw %sp, %dx\n"
    "    pushw %ax\n"
    "    subw %sp, %dx\n"
    "    popw %ax\n"
    "    movw %dx, RES+0x1e\n"
    "    movw $0x0101, %ax\n"
    "    movb $4, %cl\n"
    "    shlw %cl, %ax\n"
    "    movw %ax, RES+0x28\n"
    "    movl %cr0, %eax\n"
    "    orl $1, %eax\n"
    "    movl %eax, %cr0\n"         /* PE=1 */
    "    ljmp $0x30, $(TRAMP + t_back32 - tramp_start)\n"
    ".code32\n"
    "t_back32:\n"
    "    movl $0x10, %eax\n"
    "    movl %eax, %ds\n"
    "    movl %eax, %es\n"
    "    movl %eax, %ss\n"
    "    movl %cr0, %eax\n"
    "    orl $0x80000000, %eax\n"
    "    movl %eax, %cr0\n"         /* PG=1: LMA=1, compatibility mode */
    "    ljmp $0x08, $back64\n"
    ".code16\n"
    "t_c16:\n"                      /* 16-bit code segment under IA-32e */
    "    movw $0x40, %ax\n"
    "    movw %ax, %ds\n"
    "    movw $1000, %ax\n"
    "    movw $70, %cx\n"
    "    mulw %cx\n"                /* 70000 = 0x0001:1170 */
    "    movw %ax, RES+0x20\n"
    "    movw %dx, RES+0x22\n"
    "    movw $41, %ax\n"
    "    .byte 0x40\n"              /* INC AX */
    "    movw %ax, RES+0x2a\n"
    "    ljmpl $0x08, $back64_c16\n"
    "tramp_end:\n"
    ".code64\n"
    ".text\n");

int main(struct mb_info *mbi)
{
    (void)mbi;
    volatile struct res *r = (volatile struct res *)RES;

    /* 64-bit mode: 0x40 is a REX prefix (of NOP here), not INC. */
    u64 x = 41;
    asm volatile(".byte 0x40, 0x90" : "+r"(x));
    u64 big = 0x123456789ull * 0x10;
    report(x == 41 && big == 0x1234567890ull, "64-bit mode: REX 0x40 is a prefix, 64-bit arithmetic");
    report(rdmsr(MSR_EFER) & EFER_LMA, "64-bit mode: EFER.LMA=1");

    static u32 out[4];
    compat_test(out);
    report(out[0] == 0xacf13568, "compat mode: 32-bit add = %x", out[0]);
    report((out[1] & X86_EFLAGS_ARITH) == X86_EFLAGS_SF,
           "compat mode: flags %x (SF)", out[1] & (u32)X86_EFLAGS_ARITH);
    report(out[2] == 4, "compat mode: push is 4 bytes (%u)", out[2]);
    report(out[3] == 42, "compat mode: 0x40 is INC EAX (%u)", out[3]);

    memset((void *)RES, 0, sizeof(struct res));
    memcpy((void *)TRAMP, tramp_start, tramp_end - tramp_start);
    enter_c16();
    report(r->c16_ax == 0x1170 && r->c16_dx == 1, "16-bit segment under IA-32e: mul %x:%x",
           r->c16_dx, r->c16_ax);
    report(r->c16_inc == 42, "16-bit segment under IA-32e: 0x40 is INC AX (%u)", r->c16_inc);

    enter_real_mode_trip();
    report(r->pm32_imul == 42, "legacy 32-bit PM: imul = %u", r->pm32_imul);
    report((r->pm32_efer & (EFER_LME | EFER_LMA)) == EFER_LME,
           "legacy 32-bit PM: EFER.LME=1 LMA=0");
    report((r->pm32_cr0 & (X86_CR0_PG | X86_CR0_PE)) == X86_CR0_PE, "legacy 32-bit PM: PG=0 PE=1");
    report(r->pm16_ax == 1 && (r->pm16_flags & X86_EFLAGS_CF), "16-bit PM: 0xffff + 2 = %x, CF=1",
           r->pm16_ax);
    report(r->pm16_push == 2, "16-bit PM: push is 2 bytes (%u)", r->pm16_push);
    report(r->rm_seg_write == 0x1234 && r->rm_seg_read == 0x1234,
           "real mode: 07e0:0010 is linear 0x7e10");
    report(r->rm_mul_ax == 0x5f90 && r->rm_mul_dx == 1, "real mode: 300 * 300 = %x:%x",
           r->rm_mul_dx, r->rm_mul_ax);
    report(!(r->rm_msw & 1), "real mode: MSW.PE=0 (msw %x)", r->rm_msw);
    report(r->rm_cs == 0, "real mode: CS = %x", r->rm_cs);
    report(r->rm_push == 2, "real mode: push is 2 bytes (%u)", r->rm_push);
    report(r->rm_shl == 0x1010, "real mode: shl = %x", r->rm_shl);
    report((rdmsr(MSR_EFER) & EFER_LMA) && (read_cr0() & X86_CR0_PG) && read_cs() == KERNEL_CS,
           "back in 64-bit mode: LMA=1 PG=1 CS=0x08");
    /* Exceptions still work after the trip. */
    u32 q = 1, d = 0;
    asm volatile(ASM_TRY("1f") "divl %2\n1:" : "+a"(q), "+d"(d) : "r"(0u));
    report(exception_vector() == DE_VECTOR, "IDT still works after the trip");
    return report_summary();
}
