/* desc.h: GDT layout, TSS, IDT, exception catching, and running code at
 * CPL3.
 *
 * GDT (built by entry.S; the order fits SYSCALL/SYSRET, SDM Vol 3A 5.8.8):
 *
 *   0x00  null
 *   0x08  KERNEL_CS    64-bit code, DPL0        STAR[47:32] = 0x08
 *   0x10  KERNEL_DS    data, DPL0 (flat 4 GiB)  SYSCALL SS = 0x08 + 8
 *   0x18  USER_CS32    32-bit code, DPL3        STAR[63:48] = 0x18 (SYSRET to
 *   0x20  USER_DS      data, DPL3                 32-bit: CS 0x18, SS 0x20;
 *   0x28  USER_CS      64-bit code, DPL3          64-bit: CS 0x28, SS 0x20)
 *   0x30  KERNEL_CS32  32-bit code, DPL0 (flat 4 GiB)
 *   0x38  KERNEL_CS16  16-bit code, DPL0, base 0, limit 0xffff
 *   0x40  KERNEL_DS16  16-bit data, DPL0, base 0, limit 0xffff
 *   0x48  TSS          64-bit available TSS (16 bytes: 0x48 and 0x50)
 *   0x58..0x78  GDT_FREE0..4: zero, free for tests (gdt_set_entry)
 *
 * User selectors are used with RPL 3: USER_CS|3 = 0x2b etc.
 */
#ifndef GUEST_DESC_H
#define GUEST_DESC_H

#include "processor.h"

#define KERNEL_CS    0x08
#define KERNEL_DS    0x10
#define USER_CS32    0x18
#define USER_DS      0x20
#define USER_CS      0x28
#define KERNEL_CS32  0x30
#define KERNEL_CS16  0x38
#define KERNEL_DS16  0x40
#define TSS_SEL      0x48
#define GDT_FREE0    0x58
#define GDT_ENTRIES  16
#define STAR_VALUE   ((u64)USER_CS32 << 48 | (u64)KERNEL_CS << 32)

/* Exception vectors */
#define DE_VECTOR 0
#define DB_VECTOR 1
#define NMI_VECTOR 2
#define BP_VECTOR 3
#define OF_VECTOR 4
#define BR_VECTOR 5
#define UD_VECTOR 6
#define NM_VECTOR 7
#define DF_VECTOR 8
#define TS_VECTOR 10
#define NP_VECTOR 11
#define SS_VECTOR 12
#define GP_VECTOR 13
#define PF_VECTOR 14
#define MF_VECTOR 16
#define AC_VECTOR 17
#define MC_VECTOR 18
#define XM_VECTOR 19
#define CP_VECTOR 21

/* DPL3 interrupt gate that run_user()'s trampoline uses to come back. */
#define USER_RET_VECTOR 0x80

/* #PF error code bits (SDM Vol 3A 4.7) */
#define PFERR_P     BIT(0)
#define PFERR_W     BIT(1)
#define PFERR_U     BIT(2)
#define PFERR_RSVD  BIT(3)
#define PFERR_I     BIT(4)
#define PFERR_PK    BIT(5)

extern u64 gdt[GDT_ENTRIES];

/* Write a code/data descriptor. access = byte 5 (P|DPL|S|type), flags =
 * the high nibble of byte 6 (G|D/B|L|AVL). */
void gdt_set_entry(u16 sel, u32 base, u32 limit, u8 access, u8 flags);

struct __attribute__((packed)) tss64 {
    u32 reserved0;
    u64 rsp0, rsp1, rsp2;
    u64 ist[8];     /* ist[1]..ist[7] = IST1..7; ist[0] is reserved */
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;
};
extern struct tss64 tss;
_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS layout (SDM Fig. 8-11)");
/* Default stacks: RSP0 and each IST slot point at the top of their own
 * 4 KiB+ stack (set up by kit_init). #DF uses IST1. */
#define DF_IST 1

/* Saved state of an exception, as seen by handlers. Fields may be changed
 * (e.g. rip) and are restored on return. */
struct ex_regs {
    u64 rax, rbx, rcx, rdx, rsi, rdi, rbp;
    u64 r8, r9, r10, r11, r12, r13, r14, r15;
    u64 vector, error_code;
    u64 rip, cs, rflags, rsp, ss;  /* the hardware frame */
};

typedef void (*ex_handler_t)(struct ex_regs *regs);

/* Install a handler for `vec` (NULL = none); returns the previous one. */
ex_handler_t handle_exception(int vec, ex_handler_t fn);

/* IDT gate for vector `vec`: all 256 point at the kit's stubs; these change
 * the gate's DPL, IST slot (0 = none), or target (for tests that need raw
 * entry code; the kit's stub addresses are in isr_stubs[]). */
void idt_set_dpl(int vec, int dpl);
void idt_set_ist(int vec, int ist);
void idt_set_target(int vec, u64 target, u16 sel, int type);
extern u64 isr_stubs[256];
extern u64 idt[512];

/* The last exception caught by try_call, run_user or ASM_TRY. */
struct ex_info {
    int vector;        /* -1: none */
    u64 error_code;    /* 0 if the vector pushes none */
    u64 cr2;           /* CR2 at delivery (meaningful for #PF) */
    u64 rip;           /* faulting RIP from the frame */
    u64 cs, rsp, ss;   /* rest of the frame */
};
extern struct ex_info ex_last;

/* Run fn(arg) at CPL0; returns the vector of the first exception it raised
 * (execution of fn is abandoned at that point), or -1 if it returned.
 * Details of the exception are in ex_last. Nests. */
int try_call(void (*fn)(void *), void *arg);

/* ASM_TRY("1f"): the instruction right after it, if it faults, resumes at
 * label 1 instead, and exception_vector() returns the vector (-1 if the
 * instruction did not fault). Example:
 *     asm volatile(ASM_TRY("1f") "mov (%[p]), %[v]\n1:" : ...);
 *     if (exception_vector() == PF_VECTOR) ...
 */
#define ASM_TRY(catch)                                    \
    "movl $-1, ex_last(%%rip)\n\t"                        \
    ".pushsection .data.ex, \"aw\"\n\t"                   \
    ".quad 1111f, " catch "\n\t"                          \
    ".popsection\n\t"                                     \
    "1111:"
/* The barrier makes the compiler reload ex_last after the asm statement,
 * which wrote it behind its back. */
static inline int exception_vector(void)
{
    asm volatile("" ::: "memory");
    return ex_last.vector;
}
static inline u64 exception_error_code(void)
{
    asm volatile("" ::: "memory");
    return ex_last.error_code;
}

/* ---- CPL3 ---------------------------------------------------------- */

/* Code and data that run or are touched at CPL3 must live in user pages:
 * mark functions USER_TEXT and variables USER_DATA. These sections are
 * mapped with U=1; everything else is supervisor-only (so SMEP/SMAP tests
 * see a realistic kernel). USER_TEXT functions must not call kit functions. */
#define USER_TEXT __attribute__((section(".user.text"), noinline, used))
#define USER_DATA __attribute__((section(".user.data")))

/* Run fn(arg) at CPL3 (CS = USER_CS|3, SS = USER_DS|3, on the kit's user
 * stack) with RFLAGS = 0x2 | rflags_set. Returns -1 and stores fn's return
 * value in *ret (if ret != NULL) when fn returns, or the vector of the
 * exception that ended it (details in ex_last). */
int run_user_flags(long (*fn)(long), long arg, long *ret, u64 rflags_set);
static inline int run_user(long (*fn)(long), long arg, long *ret)
{
    return run_user_flags(fn, arg, ret, 0);
}
/* Top of the user stack (in .user.data). */
extern u8 user_stack_top[];

#endif
