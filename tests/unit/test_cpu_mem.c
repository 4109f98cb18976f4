/* Memory-operand instructions: string ops with REP and DF, atomics,
 * MOVSX/MOVZX, RIP-relative and 16/32-bit addressing, the stack. */
#include "cpu_harness.h"
#include "unit.h"

static struct harness h;

static void run(int mode, const uint8_t *code, size_t len)
{
    h_init(&h, mode);
    h_load(&h, code, len);
    h_run(&h);
}

/* ---- strings ---- */

GUEST_ASM(rep_movs, ".code64",
          "cld\n mov $0x100000, %rsi\n mov $0x101000, %rdi\n mov $100, %ecx\n rep movsb\n"
          "mov %rsi, %r8\n mov %rdi, %r9\n mov %rcx, %r10\n"
          /* backwards: 4 dwords ending at 0x102010 */
          "std\n mov $0x10200c, %rdi\n mov $0xa5a5a5a5, %eax\n mov $4, %ecx\n rep stosl\n cld\n"
          "mov %rdi, %r11\n"
          "hlt");
TEST(rep_movsb_forward_and_stosd_backward)
{
    h_init(&h, H_LONG);
    for (int k = 0; k < 100; k++)
        h.ram[H_DATA + k] = (uint8_t)(k * 3 + 1);
    h_load(&h, rep_movs, GUEST_LEN(rep_movs));
    h_run(&h);
    CHECK(memcmp(h.ram + H_DATA, h.ram + H_DATA + 0x1000, 100) == 0);
    CHECK_EQ(h.ram[H_DATA + 0x1000 + 100], 0);
    CHECK_EQ(h.c.regs[R_R8], H_DATA + 100);
    CHECK_EQ(h.c.regs[R_R9], H_DATA + 0x1000 + 100);
    CHECK_EQ(h.c.regs[R_R10], 0);
    CHECK_EQ(h_r32(&h, 0x102000), 0xa5a5a5a5);
    CHECK_EQ(h_r32(&h, 0x10200c), 0xa5a5a5a5);
    CHECK_EQ(h_r32(&h, 0x102010), 0);
    CHECK_EQ(h_r32(&h, 0x101ffc), 0);
    CHECK_EQ(h.c.regs[R_R11], 0x101ffc);
    CHECK_EQ(h_flags(&h) & F_DF, 0);
    h_free(&h);
}

GUEST_ASM(rep_scas_cmps, ".code64",
          "mov $0x100000, %rdi\n mov $'x', %al\n mov $64, %ecx\n repne scasb\n"
          "mov %rcx, %r8\n mov %rdi, %r9\n"
          "mov $0x100000, %rsi\n mov $0x100100, %rdi\n mov $16, %ecx\n repe cmpsb\n"
          "mov %rcx, %r10\n mov %rsi, %r11\n setb %r12b\n"
          "hlt");
TEST(repne_scasb_and_repe_cmpsb_stop_on_condition)
{
    h_init(&h, H_LONG);
    memcpy(h.ram + H_DATA, "hello, world: x marks the spot", 30);
    memcpy(h.ram + H_DATA + 0x100, "hello, wOrld", 12);
    h_load(&h, rep_scas_cmps, GUEST_LEN(rep_scas_cmps));
    h_run(&h);
    /* 'x' at index 14: 15 bytes scanned */
    CHECK_EQ(h.c.regs[R_R8], 64 - 15);
    CHECK_EQ(h.c.regs[R_R9], H_DATA + 15);
    /* mismatch at index 8 ('o' > 'O'): 9 compared */
    CHECK_EQ(h.c.regs[R_R10], 16 - 9);
    CHECK_EQ(h.c.regs[R_R11], H_DATA + 9);
    CHECK_EQ(h.c.regs[R_R12] & 0xff, 0);
    h_free(&h);
}

/* A REP MOVS that faults half-way (#PF on an unmapped destination page)
 * leaves RCX/RSI/RDI describing the remaining work, and the fault names
 * the REP instruction. */
GUEST_ASM(rep_fault, ".code64",
          "mov $0x3ffff0, %rdi\n mov $0x100000, %rsi\n mov $32, %ecx\n"
          "rep_fault_at: rep movsb\n"
          "hlt");
extern const uint8_t rep_fault_at[];
TEST(rep_movs_fault_keeps_registers_consistent)
{
    run(H_LONG, rep_fault, GUEST_LEN(rep_fault));
    CHECK_EQ(h_vector(&h), EXC_PF);
    CHECK_EQ(h_frame(&h, 1), H_CODE + (uint64_t)(rep_fault_at - rep_fault));
    CHECK_EQ(h.c.regs[R_RCX], 16);
    CHECK_EQ(h.c.regs[R_RDI], 0x400000);
    CHECK_EQ(h.c.regs[R_RSI], 0x100010);
    CHECK_EQ(h.c.cr2, 0x400000);
    h_free(&h);
}

GUEST_ASM(lods16, ".code16",
          "mov $0x100, %si\n lodsw\n mov %ax, %bx\n std\n lodsb\n cld\n hlt");
TEST(lods_in_real_mode_with_df)
{
    h_init(&h, H_REAL);
    h_w16(&h, 0x100, 0x1234);
    h_w8(&h, 0x102, 0x56);
    h_load(&h, lods16, GUEST_LEN(lods16));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RBX] & 0xffff, 0x1234);
    CHECK_EQ(h.c.regs[R_RAX] & 0xff, 0x56);
    CHECK_EQ(h.c.regs[R_RSI] & 0xffff, 0x101);
    h_free(&h);
}

/* ---- atomics ---- */

GUEST_ASM(atomics, ".code64",
          "mov $0x100000, %rbx\n movq $10, (%rbx)\n"
          "mov $10, %eax\n mov $20, %ecx\n lock cmpxchg %rcx, (%rbx)\n setz %r8b\n"   /* hit */
          "mov $10, %eax\n mov $30, %ecx\n lock cmpxchg %rcx, (%rbx)\n setz %r9b\n"   /* miss: rax=20 */
          "mov %rax, %r10\n"
          "mov $5, %edx\n lock xadd %rdx, (%rbx)\n"                                  /* mem 25, rdx 20 */
          "mov $99, %esi\n xchg %rsi, (%rbx)\n"                                       /* mem 99, rsi 25 */
          "mov $0x12345678, %eax\n mov $0x12345678, %edx\n mov $1, %ecx\n mov $2, %edi\n"
          "hlt");
TEST(cmpxchg_xadd_xchg)
{
    run(H_LONG, atomics, GUEST_LEN(atomics));
    CHECK_EQ(h.c.regs[R_R8] & 0xff, 1);
    CHECK_EQ(h.c.regs[R_R9] & 0xff, 0);
    CHECK_EQ(h.c.regs[R_R10], 20);
    CHECK_EQ(h.c.regs[R_RDX], 0x12345678);
    CHECK_EQ(h.c.regs[R_RSI], 25);
    CHECK_EQ(h_r64(&h, H_DATA), 99);
    h_free(&h);
}

GUEST_ASM(cx8, ".code64",
          "mov $0x100000, %rsi\n"
          "mov $0x11111111, %eax\n mov $0x22222222, %edx\n mov $0x33333333, %ebx\n mov $0x44444444, %ecx\n"
          "lock cmpxchg8b (%rsi)\n setz %r8b\n"
          "lock cmpxchg8b (%rsi)\n setz %r9b\n"  /* now differs: edx:eax = memory */
          "mov %eax, %r11d\n mov %edx, %r12d\n"
          "mov $0x100010, %rdi\n xor %eax, %eax\n xor %edx, %edx\n lock cmpxchg16b (%rdi)\n setz %r10b\n"
          "hlt");
TEST(cmpxchg8b_and_16b)
{
    h_init(&h, H_LONG);
    h_w64(&h, H_DATA, 0x2222222211111111ull);
    h_load(&h, cx8, GUEST_LEN(cx8));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_R8] & 0xff, 1);
    CHECK_EQ(h.c.regs[R_R9] & 0xff, 0);
    CHECK_EQ(h_r64(&h, H_DATA), 0x4444444433333333ull);
    CHECK_EQ(h.c.regs[R_R11], 0x33333333);
    CHECK_EQ(h.c.regs[R_R12], 0x44444444);
    CHECK_EQ(h.c.regs[R_R10] & 0xff, 1); /* 16 zero bytes matched rdx:rax = 0 */
    CHECK_EQ(h_r64(&h, H_DATA + 0x10), 0x0000000033333333ull);
    CHECK_EQ(h_r64(&h, H_DATA + 0x18), 0x0000000044444444ull);
    h_free(&h);
}

GUEST_ASM(cx16_misaligned, ".code64", "mov $0x100008, %rdi\n lock cmpxchg16b (%rdi)\n hlt");
TEST(cmpxchg16b_misaligned_is_gp)
{
    run(H_LONG, cx16_misaligned, GUEST_LEN(cx16_misaligned));
    CHECK_EQ(h_vector(&h), EXC_GP);
    h_free(&h);
}

/* ---- moves and conversions ---- */

GUEST_ASM(movx, ".code64",
          "mov $0x100000, %rbx\n movl $0x8080f0f0, (%rbx)\n"
          "movzbl (%rbx), %eax\n movsbl (%rbx), %ecx\n movzwq 2(%rbx), %r14\n movswq 2(%rbx), %rsi\n"
          "movslq (%rbx), %rdi\n"
          "mov $-1, %r8\n movb $0x7f, %r8b\n"         /* byte write keeps the rest */
          "mov $-1, %r9\n movl $1, %r9d\n"            /* dword write zero-extends */
          "mov $-1, %r10\n movw $2, %r10w\n"
          "mov $0x8000, %eax\n cwde\n mov %rax, %r11\n cdqe\n mov %rax, %r12\n cqo\n"
          "mov $0x1122334455667788, %r13\n"
          "mov $0xff, %ah\n"                          /* legacy high byte */
          "hlt");
TEST(movzx_movsx_movsxd_and_partial_writes)
{
    run(H_LONG, movx, GUEST_LEN(movx));
    CHECK_EQ(h.c.regs[R_RCX], 0xfffffff0u);
    CHECK_EQ(h.c.regs[R_R14], 0x8080);
    CHECK_EQ(h.c.regs[R_RSI], 0xffffffffffff8080ull);
    CHECK_EQ(h.c.regs[R_RDI], 0xffffffff8080f0f0ull);
    CHECK_EQ(h.c.regs[R_R8], 0xffffffffffffff7full);
    CHECK_EQ(h.c.regs[R_R9], 1);
    CHECK_EQ(h.c.regs[R_R10], 0xffffffffffff0002ull);
    CHECK_EQ(h.c.regs[R_R11], 0xffff8000u);
    CHECK_EQ(h.c.regs[R_R12], 0xffffffffffff8000ull);
    CHECK_EQ(h.c.regs[R_RDX], ~0ull); /* cqo of a negative RAX */
    CHECK_EQ(h.c.regs[R_R13], 0x1122334455667788ull);
    CHECK_EQ(h.c.regs[R_RAX], 0xffffffffffffff00ull);
    h_free(&h);
}

GUEST_ASM(riprel, ".code64",
          "lea data(%rip), %rax\n mov data(%rip), %ebx\n incl data+4(%rip)\n mov data+4(%rip), %ecx\n hlt\n"
          "data: .long 0xcafef00d, 41\n");
TEST(rip_relative_addressing)
{
    run(H_LONG, riprel, GUEST_LEN(riprel));
    CHECK_EQ(h.c.regs[R_RAX], H_CODE + GUEST_LEN(riprel) - 8);
    CHECK_EQ(h.c.regs[R_RBX], 0xcafef00d);
    CHECK_EQ(h.c.regs[R_RCX], 42);
    h_free(&h);
}

GUEST_ASM(sib32, ".code32",
          "mov $0x100000, %ebx\n mov $3, %esi\n movl $7, 8(%ebx,%esi,4)\n"
          "lea 0x10(,%esi,8), %eax\n mov 0x14(%ebx), %ecx\n"
          "mov $0x100, %edx\n movl $0xdead, 0x100000(%edx)\n"
          "hlt");
TEST(sib_and_disp32_addressing_in_32bit)
{
    run(H_PROT32, sib32, GUEST_LEN(sib32));
    CHECK_EQ(h_r32(&h, H_DATA + 20), 7);
    CHECK_EQ(h.c.regs[R_RAX], 0x28);
    CHECK_EQ(h.c.regs[R_RCX], 7);
    CHECK_EQ(h_r32(&h, H_DATA + 0x100), 0xdead);
    h_free(&h);
}

GUEST_ASM(setcmov, ".code64",
          "mov $3, %eax\n mov $-2, %ebx\n cmp %ebx, %eax\n"
          "setg %cl\n seta %dl\n"
          "mov $100, %esi\n mov $-1, %rdi\n cmovl %esi, %edi\n"   /* false, still zero-extends */
          "mov $-1, %r8\n cmovg %rsi, %r8\n"
          "hlt");
TEST(setcc_and_cmovcc)
{
    run(H_LONG, setcmov, GUEST_LEN(setcmov));
    CHECK_EQ(h.c.regs[R_RCX] & 0xff, 1);
    CHECK_EQ(h.c.regs[R_RDX] & 0xff, 0);
    CHECK_EQ(h.c.regs[R_RDI], 0xffffffffu);
    CHECK_EQ(h.c.regs[R_R8], 100);
    h_free(&h);
}

/* ---- stack and calls ---- */

GUEST_ASM(calls64, ".code64",
          "mov $1, %eax\n call f\n add $10, %eax\n"
          "lea g(%rip), %rbx\n call *%rbx\n"
          "push $-5\n pop %rcx\n"
          "push %rsp\n pop %rdx\n"
          "mov %rsp, %r15\n"
          "enter $16, $0\n mov %rsp, %r8\n mov %rbp, %r9\n leave\n"
          "hlt\n"
          "f: add %eax, %eax\n ret\n"
          "g: add $100, %eax\n ret $0\n");
TEST(call_ret_push_pop_enter_leave_64)
{
    run(H_LONG, calls64, GUEST_LEN(calls64));
    CHECK_EQ(h.c.regs[R_RAX], 112);
    CHECK_EQ(h.c.regs[R_RCX], (uint64_t)-5);
    CHECK_EQ(h.c.regs[R_RDX], H_STACK);
    CHECK_EQ(h.c.regs[R_R15], H_STACK);
    CHECK_EQ(h.c.regs[R_R9], H_STACK - 8);
    CHECK_EQ(h.c.regs[R_R8], H_STACK - 8 - 16);
    CHECK_EQ(h.c.regs[R_RSP], H_STACK);
    h_free(&h);
}

GUEST_ASM(pusha32, ".code32",
          "mov $1, %eax\n mov $2, %ecx\n mov $3, %edx\n mov $4, %ebx\n mov $5, %ebp\n mov $6, %esi\n mov $7, %edi\n"
          "pusha\n"
          "xor %eax, %eax\n xor %ecx, %ecx\n xor %edx, %edx\n xor %ebx, %ebx\n xor %ebp, %ebp\n xor %esi, %esi\n xor %edi, %edi\n"
          "popa\n"
          "enter $8, $2\n mov %esp, %ecx\n leave\n"
          "mov $10, %ecx\n xor %eax, %eax\n 1: add %ecx, %eax\n loop 1b\n"
          "hlt");
TEST(pusha_popa_enter_nested_loop_32)
{
    run(H_PROT32, pusha32, GUEST_LEN(pusha32));
    CHECK_EQ(h.c.regs[R_RDX], 3);
    CHECK_EQ(h.c.regs[R_RBX], 4);
    CHECK_EQ(h.c.regs[R_RBP], 5);
    CHECK_EQ(h.c.regs[R_RDI], 7);
    CHECK_EQ(h.c.regs[R_RSP], H_STACK);
    CHECK_EQ(h.c.regs[R_RAX], 55);
    CHECK_EQ(h.c.regs[R_RCX], 0);
    /* enter $8,$2: push ebp, copy one frame pointer, push frame, then 8 */
    CHECK_EQ(h_r32(&h, H_STACK - 4), 5);
    CHECK_EQ(h_r32(&h, H_STACK - 12), H_STACK - 4);
    h_free(&h);
}

GUEST_ASM(call16, ".code16",
          "mov $0x7000, %sp\n call 1f\n hlt\n 1: pop %ax\n push %ax\n ret\n");
TEST(call_ret_in_real_mode)
{
    run(H_REAL, call16, GUEST_LEN(call16));
    CHECK_EQ(h.c.regs[R_RAX] & 0xffff, 6);   /* return IP = after the 3-byte call */
    CHECK_EQ(h.c.rip, 7);                    /* after the HLT at offset 6 */
    CHECK_EQ(h.c.regs[R_RSP] & 0xffff, 0x7000);
    h_free(&h);
}

GUEST_ASM(xlat32, ".code32",
          "mov $0x100000, %ebx\n mov $3, %al\n xlat\n hlt");
TEST(xlat_reads_table)
{
    h_init(&h, H_PROT32);
    memcpy(h.ram + H_DATA, "abcdef", 6);
    h_load(&h, xlat32, GUEST_LEN(xlat32));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RAX] & 0xff, 'd');
    h_free(&h);
}

/* REP STOSD upwards over 16 pages (stos_fast: a page at a time),
 * misaligned so that an element straddles each page boundary, into the
 * unmapped page at 4 MiB: the straddling element there faults, and every
 * element before it is written and counted, as one by one. */
GUEST_ASM(stos_pages, ".code64",
          "cld\n mov $0x3f0002, %rdi\n mov $0x11223344, %eax\n mov $0x10000, %ecx\n"
          "stos_pages_at: rep stosl\n hlt");
extern const uint8_t stos_pages_at[];
TEST(rep_stos_fills_pages_and_faults_at_the_crossing_element)
{
    run(H_LONG, stos_pages, GUEST_LEN(stos_pages));
    CHECK_EQ(h_vector(&h), EXC_PF);
    CHECK_EQ(h_frame(&h, 1), H_CODE + (uint64_t)(stos_pages_at - stos_pages));
    CHECK_EQ(h.c.cr2, 0x400000);
    /* (0x400000 - 0x3f0002) / 4: 16383 whole dwords fit before 4 MiB */
    CHECK_EQ(h.c.regs[R_RCX], 0x10000 - 16383);
    CHECK_EQ(h.c.regs[R_RDI], 0x3ffffe);
    CHECK_EQ(h_r32(&h, 0x3f0002), 0x11223344);
    CHECK_EQ(h_r32(&h, 0x3f0ffe), 0x11223344); /* straddles a page */
    CHECK_EQ(h_r32(&h, 0x3ffffa), 0x11223344);
    CHECK_EQ(h_r16(&h, 0x3ffffe), 0);
    CHECK_EQ(h_r16(&h, 0x3f0000), 0);
    h_free(&h);
}

/* A fill that ends inside a page leaves the next byte alone. */
GUEST_ASM(stos_short, ".code64",
          "cld\n mov $0x100ffc, %rdi\n mov $0xaabbccdd, %eax\n mov $3, %ecx\n"
          "rep stosl\n hlt");
TEST(rep_stos_stops_at_the_count)
{
    run(H_LONG, stos_short, GUEST_LEN(stos_short));
    CHECK_EQ(h_vector(&h), H_NOVEC);
    CHECK_EQ(h.c.regs[R_RCX], 0);
    CHECK_EQ(h.c.regs[R_RDI], 0x101008);
    CHECK_EQ(h_r32(&h, 0x100ffc), 0xaabbccdd);
    CHECK_EQ(h_r32(&h, 0x101004), 0xaabbccdd);
    CHECK_EQ(h_r32(&h, 0x101008), 0);
    h_free(&h);
}

static const struct unit_test tests[] = {
    T(rep_stos_fills_pages_and_faults_at_the_crossing_element),
    T(rep_stos_stops_at_the_count),
    T(rep_movsb_forward_and_stosd_backward),
    T(repne_scasb_and_repe_cmpsb_stop_on_condition),
    T(rep_movs_fault_keeps_registers_consistent),
    T(lods_in_real_mode_with_df), T(cmpxchg_xadd_xchg), T(cmpxchg8b_and_16b),
    T(cmpxchg16b_misaligned_is_gp), T(movzx_movsx_movsxd_and_partial_writes),
    T(rip_relative_addressing), T(sib_and_disp32_addressing_in_32bit),
    T(setcc_and_cmovcc), T(call_ret_push_pop_enter_leave_64),
    T(pusha_popa_enter_nested_loop_32), T(call_ret_in_real_mode),
    T(xlat_reads_table),
};
UNIT_MAIN(tests)
