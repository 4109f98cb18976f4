/* entry.S: Multiboot v1 header and the 32-bit entry that brings the kit up
 * to 64-bit mode, then calls kit_main() (kit.c).
 *
 * At entry (Multiboot spec 3.2): 32-bit protected mode, flat CS/DS, paging
 * off, EAX = 0x2BADB002, EBX = physical address of struct mb_info. We save
 * both, clear BSS, load our GDT, identity-map 4 GiB with 2 MiB pages, set
 * CR4.PAE, EFER.LME (+NXE if CPUID has NX), CR0.PG|WP, and far-jump to the
 * 64-bit code segment (SDM Vol 3A 10.8.5, "Initializing IA-32e Mode").
 * Selector values are documented in desc.h.
 */
    .section .multiboot, "a"
    .align 4
mb_header:
    .long 0x1BADB002            /* magic */
    .long 0x00000003            /* flags: page-align modules, want mem info */
    .long -(0x1BADB002 + 0x00000003)

    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    movl %eax, boot_magic
    movl %ebx, boot_info_phys

    /* Clear BSS (page tables and stacks live there). */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    lgdt gdt_desc               /* 32-bit LGDT reads limit + low 4 base bytes */
    ljmp $0x30, $1f             /* KERNEL_CS32 */
1:  movl $0x10, %eax            /* KERNEL_DS */
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movl $boot_stack_top, %esp

    /* PML4[0] -> PDPT; PDPT[0..3] -> 4 page directories; 2048 x 2 MiB. */
    movl $boot_pdpt + 7, kit_pml4_table     /* P | RW | U */
    movl $boot_pd + 7, %eax
    xorl %ecx, %ecx
2:  movl %eax, boot_pdpt(, %ecx, 8)
    addl $4096, %eax
    incl %ecx
    cmpl $4, %ecx
    jb 2b
    movl $0x83, %eax            /* P | RW | PS, supervisor */
    xorl %ecx, %ecx
3:  movl %eax, boot_pd(, %ecx, 8)
    addl $0x200000, %eax
    incl %ecx
    cmpl $2048, %ecx
    jb 3b

    movl $0x20, %eax            /* CR4 = PAE only */
    movl %eax, %cr4
    movl $kit_pml4_table, %eax
    movl %eax, %cr3

    movl $0x80000001, %eax
    cpuid
    movl %edx, %esi
    movl $0xc0000080, %ecx      /* EFER */
    rdmsr
    orl $0x100, %eax            /* LME */
    btl $20, %esi               /* CPUID.80000001H:EDX.NX */
    jnc 4f
    orl $0x800, %eax            /* NXE */
4:  wrmsr

    movl $0x80010011, %eax      /* PG | WP | ET | PE */
    movl %eax, %cr0
    ljmp $0x08, $start64        /* KERNEL_CS: now in 64-bit mode */

    .code64
start64:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    call kit_main
5:  cli
    hlt
    jmp 5b

    .section .data
    .align 16
    .globl gdt
gdt:
    .quad 0                     /* 0x00 null */
    .quad 0x00af9b000000ffff    /* 0x08 KERNEL_CS: 64-bit code, DPL0 */
    .quad 0x00cf93000000ffff    /* 0x10 KERNEL_DS */
    .quad 0x00cffb000000ffff    /* 0x18 USER_CS32: 32-bit code, DPL3 */
    .quad 0x00cff3000000ffff    /* 0x20 USER_DS, DPL3 */
    .quad 0x00affb000000ffff    /* 0x28 USER_CS: 64-bit code, DPL3 */
    .quad 0x00cf9b000000ffff    /* 0x30 KERNEL_CS32 */
    .quad 0x00009b000000ffff    /* 0x38 KERNEL_CS16: base 0, limit 64K */
    .quad 0x000093000000ffff    /* 0x40 KERNEL_DS16 */
    .quad 0, 0                  /* 0x48 TSS, filled by tss_init() */
    .quad 0, 0, 0, 0, 0         /* 0x58..0x78 free for tests */
gdt_end:
    .globl gdt_desc
gdt_desc:
    .word gdt_end - gdt - 1
    .quad gdt

    .globl boot_magic, boot_info_phys
    .align 4
boot_magic:     .long 0
boot_info_phys: .long 0

    .section .bss
    .align 4096
    .globl kit_pml4_table
kit_pml4_table: .skip 4096
boot_pdpt:      .skip 4096
boot_pd:        .skip 4 * 4096
    .align 16
boot_stack:     .skip 16384
    .globl boot_stack_top
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
