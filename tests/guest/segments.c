/* segments.c: segmentation where it still applies (SDM Vol 3A ch. 3, 5.3,
 * 5.4): in compatibility mode data accesses use the descriptor's base and
 * are checked against its limit (expand-up and expand-down) and type
 * (read-only, execute-only code); SS accesses beyond the limit are #SS. In
 * 64-bit mode bases (except FS/GS) and limits are ignored.
 *
 * QEMU 7.2 TCG does not check segment limits or write permission on each
 * access (its documentation says so): those checks are report_sdm.
 */
// @qemu-differs: QEMU 7.2 TCG does not check segment limits or the writable bit on data accesses
// @qemu-args: -append qemu
#include "kit.h"

#define SEG_RW    (GDT_FREE0 + 0x00)  /* data RW, base 0x10000, limit 0xfff */
#define SEG_RO    (GDT_FREE0 + 0x08)  /* data read-only, same range */
#define SEG_DOWN  (GDT_FREE0 + 0x10)  /* data RW expand-down, limit 0xfff, B=1 */
#define SEG_XO    (GDT_FREE0 + 0x18)  /* code execute-only */
#define SEG_XR    (GDT_FREE0 + 0x20)  /* code execute/read, base 0x10000 */
#define BASE      0x10000

enum { OP_READ, OP_WRITE, OP_PUSH, OP_READB };

u64 compat_saved_rsp;
u32 compat_result;
/* compat_op(op, offset, selector, value): in compatibility mode, load DS
 * (or SS for OP_PUSH) with `selector` and do one access at `offset`;
 * compat_result gets what was read (or ESP after the push). */
void compat_op(u64 op, u64 off, u64 sel, u64 val);
asm(".text\n"
    ".globl compat_op\n"
    "compat_op:\n"
    "    pushq %rbx\n"
    "    pushq %rbp\n"
    "    movq %rsp, compat_saved_rsp(%rip)\n"
    "    pushq $0x30\n"
    "    leaq 1f(%rip), %rax\n"
    "    pushq %rax\n"
    "    lretq\n"
    ".code32\n"
    "1:  cmpl $1, %edi\n"
    "    je 3f\n"
    "    cmpl $2, %edi\n"
    "    je 4f\n"
    "    cmpl $3, %edi\n"
    "    je 5f\n"
    "    movw %dx, %ds\n"             /* OP_READ */
    "    movl (%esi), %eax\n"
    "    jmp 6f\n"
    "3:  movw %dx, %ds\n"             /* OP_WRITE */
    "    movl %ecx, (%esi)\n"
    "    jmp 6f\n"
    "4:  movw %dx, %ss\n"             /* OP_PUSH */
    "    movl %esi, %esp\n"
    "    pushl %ecx\n"
    "    movl %esp, %eax\n"
    "    jmp 6f\n"
    "5:  movw %dx, %ds\n"             /* OP_READB */
    "    movzbl (%esi), %eax\n"
    "6:  movl $0x10, %ebx\n"
    "    movw %bx, %ds\n"
    "    movw %bx, %ss\n"
    "    movl %eax, compat_result\n"
    "    ljmp $0x08, $2f\n"
    ".code64\n"
    "2:  movq compat_saved_rsp(%rip), %rsp\n"
    "    popq %rbp\n"
    "    popq %rbx\n"
    "    ret\n");

struct op_args { u64 op, off, sel, val; };
static void do_op(void *p)
{
    struct op_args *a = p;
    compat_op(a->op, a->off, a->sel, a->val);
}

/* Run one compat-mode access; the vector it raised (-1 if none). */
static int op(u64 o, u64 off, u64 sel, u64 val)
{
    struct op_args a = { o, off, sel, val };
    int v = try_call(do_op, &a);
    write_ds(KERNEL_DS);
    return v;
}

static void report_vec(bool sdm, int got, int want, u64 err, const char *what)
{
    bool ok = got == want && (want < 0 || ex_last.error_code == err);
    if (sdm)
        report_sdm(ok, "%s: got vector %d (want %d)", what, got, want);
    else
        report(ok, "%s: vector %d", what, got);
}

static void test_compat(void)
{
    /* Base: a write through DS:0x10 lands at BASE + 0x10. */
    *(volatile u32 *)(BASE + 0x10) = 0;
    report_vec(false, op(OP_WRITE, 0x10, SEG_RW, 0xfeedf00d), -1, 0, "write DS:0x10 (base 0x10000)");
    report(*(volatile u32 *)(BASE + 0x10) == 0xfeedf00d, "compat mode: segment base applied");
    *(volatile u32 *)(BASE + 0xffc) = 0x12345678;
    report_vec(false, op(OP_READ, 0xffc, SEG_RW, 0), -1, 0, "read 4 bytes ending at the limit");
    report(compat_result == 0x12345678, "compat mode: read through the base");

    /* Limit (SDM 5.3: the last byte accessed must be within the limit). */
    report_vec(true, op(OP_READ, 0xffd, SEG_RW, 0), GP_VECTOR, 0, "read 4 bytes crossing the limit: #GP(0)");
    report_vec(true, op(OP_READB, 0x1000, SEG_RW, 0), GP_VECTOR, 0, "read 1 byte past the limit: #GP(0)");
    report_vec(true, op(OP_WRITE, 0x2000, SEG_RW, 0), GP_VECTOR, 0, "write past the limit: #GP(0)");

    /* Type (SDM 5.4.1). */
    report_vec(false, op(OP_READ, 0x10, SEG_RO, 0), -1, 0, "read a read-only segment");
    report_vec(true, op(OP_WRITE, 0x10, SEG_RO, 0), GP_VECTOR, 0, "write a read-only segment: #GP(0)");
    report_vec(false, op(OP_READ, 0x10, SEG_XO, 0), GP_VECTOR, SEG_XO,
               "load DS with execute-only code: #GP(sel)");
    report_vec(false, op(OP_READ, 0x10, SEG_XR, 0), -1, 0, "read through execute/read code");
    report_vec(true, op(OP_WRITE, 0x10, SEG_XR, 0), GP_VECTOR, 0, "write through a code segment: #GP(0)");

    /* Expand-down, B=1: valid offsets are limit+1 .. 0xffffffff. */
    *(volatile u32 *)(BASE + 0x2000) = 0xd0d0d0d0;
    report_vec(false, op(OP_READ, 0x2000, SEG_DOWN, 0), -1, 0, "expand-down: read above the limit");
    report(compat_result == 0xd0d0d0d0, "expand-down: read through the base");
    report_vec(true, op(OP_READ, 0x500, SEG_DOWN, 0), GP_VECTOR, 0,
               "expand-down: read at or below the limit: #GP(0)");

    /* SS: a push below the limit of an expand-up stack segment is #SS(0). */
    report_vec(false, op(OP_PUSH, 0x1000, SEG_RW, 0xabcd), -1, 0, "push with ESP at the limit + 1");
    report(compat_result == 0xffc && *(volatile u32 *)(BASE + 0xffc) == 0xabcd,
           "push: ESP 0xffc, value at base + 0xffc");
    report_vec(true, op(OP_PUSH, 0x2002, SEG_RW, 0), SS_VECTOR, 0, "push beyond the SS limit: #SS(0)");
    report(read_ss() == KERNEL_DS, "SS restored");
}

static void test_64bit(void)
{
    /* 64-bit mode: DS base and limit are ignored (SDM 3.4.4). */
    *(volatile u32 *)0x68000 = 0x64646464; /* not 0x30000: SMRAM on pinvm */
    u16 sel = SEG_RW;
    u32 v;
    asm volatile("movw %1, %%ds\n\t"
                 "movl (%2), %0\n\t"
                 "movw %3, %%ds"
                 : "=&r"(v) : "r"(sel), "r"(0x68000ul), "r"((u16)KERNEL_DS) : "memory");
    report(v == 0x64646464, "64-bit mode: DS base and limit ignored");

    /* FS/GS bases still apply, from the MSRs. */
    static u64 fs_data[2] = { 0x1111, 0x2222 };
    wrmsr(MSR_FS_BASE, (u64)fs_data);
    u64 r;
    asm volatile("movq %%fs:8, %0" : "=r"(r) :: "memory");
    report(r == 0x2222, "64-bit mode: FS base from MSR_FS_BASE");
    wrmsr(MSR_FS_BASE, 0);
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    gdt_set_entry(SEG_RW, BASE, 0xfff, 0x93, 0x4);    /* P, S, data RW, accessed */
    gdt_set_entry(SEG_RO, BASE, 0xfff, 0x91, 0x4);    /* data read-only */
    gdt_set_entry(SEG_DOWN, BASE, 0xfff, 0x97, 0x4);  /* data RW expand-down, B=1 */
    gdt_set_entry(SEG_XO, BASE, 0xfffff, 0x99, 0xc);  /* code execute-only */
    gdt_set_entry(SEG_XR, BASE, 0xfffff, 0x9b, 0xc);  /* code execute/read */
    test_compat();
    test_64bit();
    return report_summary();
}
