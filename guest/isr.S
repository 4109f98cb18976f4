/* isr.S: the 256 exception/interrupt entry stubs, the common entry path,
 * and the try_call / run_user_flags context switches (see desc.h).
 *
 * Stubs for vectors where the CPU pushes an error code (8, 10-14, 17, 21,
 * 29, 30: SDM Vol 3A 6.13) push only the vector; the others push a 0 first
 * so every frame is struct ex_regs. (So INT n to one of those vectors from
 * software, which pushes no error code, is not supported by the stubs.)
 */
    .section .data.isr_stubs, "aw"
    .align 8
    .globl isr_stubs
isr_stubs:

    .set vec, 0
    .rept 256
    .section .data.isr_stubs, "aw"
    .quad 1f
    .text
    .align 16
1:
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

    .text
isr_common:
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    cld
    movq %rsp, %rdi
    movq %rsp, %rbp             /* rbp is callee-saved: survives the call */
    andq $-16, %rsp
    call ex_dispatch
    movq %rbp, %rsp
    popq %rax
    popq %rbx
    popq %rcx
    popq %rdx
    popq %rsi
    popq %rdi
    popq %rbp
    popq %r8
    popq %r9
    popq %r10
    popq %r11
    popq %r12
    popq %r13
    popq %r14
    popq %r15
    addq $16, %rsp              /* vector, error code */
    iretq

/* A try frame on the kernel stack (try_sp points at it):
 *   [pad][ret pointer][outer try_sp][r15 r14 r13 r12 rbp rbx][return addr]
 * ex_dispatch resumes at try_resume with RSP = try_sp, EAX = vector (-1 if
 * none), RDI = run_user's return value. */
    .macro TRY_ENTER
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq try_sp(%rip)
    pushq %rdx
    subq $8, %rsp
    movq %rsp, try_sp(%rip)
    .endm

/* int try_call(void (*fn)(void *), void *arg) */
    .globl try_call
try_call:
    xorl %edx, %edx
    TRY_ENTER
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax
    movl $-1, ex_last(%rip)
    movl $-1, %eax
    xorl %edi, %edi
    .globl try_resume
try_resume:
    movl $0x10, %ecx            /* KERNEL_DS */
    movl %ecx, %ds
    movl %ecx, %es
    addq $8, %rsp
    popq %rdx
    cmpl $-1, %eax
    jne 1f
    testq %rdx, %rdx
    jz 1f
    movq %rdi, (%rdx)
1:  popq try_sp(%rip)
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    ret

/* int run_user_flags(long (*fn)(long), long arg, long *ret, u64 rflags_set) */
    .globl run_user_flags
run_user_flags:
    TRY_ENTER
    /* DS/ES = USER_DS|3 so IRET to CPL3 has nothing to null (SDM IRET). */
    movl $0x23, %eax
    movl %eax, %ds
    movl %eax, %es
    pushq $0x23                 /* SS = USER_DS|3 */
    leaq user_stack_top(%rip), %rax
    pushq %rax                  /* RSP */
    movq %rcx, %rax
    orq $2, %rax
    pushq %rax                  /* RFLAGS */
    pushq $0x2b                 /* CS = USER_CS|3 */
    leaq user_trampoline(%rip), %rax
    pushq %rax                  /* RIP */
    movq %rdi, %rax
    movq %rsi, %rdi
    iretq

    .section .user.text, "ax"
user_trampoline:
    call *%rax
    movq %rax, %rdi
    int $0x80                   /* USER_RET_VECTOR, a DPL3 gate */
    ud2

    .section .user.data, "aw"
    .align 16
user_stack:
    .skip 16384
    .globl user_stack_top
user_stack_top:

    .data
    .align 8
    .globl try_sp
try_sp: .quad 0

    .section .note.GNU-stack, "", @progbits
