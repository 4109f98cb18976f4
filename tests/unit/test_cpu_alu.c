/* Integer ALU instructions and their flags (SDM Vol 2), run in 64-bit,
 * 32-bit and real mode through the harness. */
#include "cpu_harness.h"
#include "unit.h"

#define ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

static struct harness h;

static void run64(const uint8_t *code, size_t len)
{
    h_init(&h, H_LONG);
    h_load(&h, code, len);
    h_run(&h);
}

/* ---- ADD/ADC/SUB/SBB ---- */

GUEST_ASM(add_wrap, ".code64", "mov $0xffffffff, %eax\n add $1, %eax\n hlt");
TEST(add_sets_cf_zf_af_pf)
{
    run64(add_wrap, GUEST_LEN(add_wrap));
    CHECK_EQ(h.c.regs[R_RAX], 0);
    CHECK_EQ(h_flags(&h) & ARITH, F_CF | F_ZF | F_AF | F_PF);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    h_free(&h);
}

GUEST_ASM(add_of, ".code64", "mov $0x7fffffff, %eax\n add $1, %eax\n hlt");
TEST(add_signed_overflow_sets_of_sf)
{
    run64(add_of, GUEST_LEN(add_of));
    CHECK_EQ(h.c.regs[R_RAX], 0x80000000u);
    CHECK_EQ(h_flags(&h) & ARITH, F_OF | F_SF | F_AF | F_PF);
    h_free(&h);
}

/* 128-bit add and subtract through the carry */
GUEST_ASM(adc_chain, ".code64",
          "mov $-1, %rax\n xor %ebx, %ebx\n add $1, %rax\n adc $0, %rbx\n"
          "xor %ecx, %ecx\n mov $5, %edx\n sub $1, %rcx\n sbb $0, %rdx\n"
          "stc\n mov $7, %esi\n adc $0, %esi\n"   /* 7 + 0 + CF = 8 */
          "stc\n mov $0x80, %dil\n sbb $0, %dil\n" /* 0x80 - 0 - 1: OF */
          "hlt");
TEST(adc_sbb_propagate_carry)
{
    run64(adc_chain, GUEST_LEN(adc_chain));
    CHECK_EQ(h.c.regs[R_RAX], 0);
    CHECK_EQ(h.c.regs[R_RBX], 1);
    CHECK_EQ(h.c.regs[R_RCX], ~0ull);
    CHECK_EQ(h.c.regs[R_RDX], 4);
    CHECK_EQ(h.c.regs[R_RSI], 8);
    CHECK_EQ(h.c.regs[R_RDI] & 0xff, 0x7f);
    CHECK_EQ(h_flags(&h) & (F_OF | F_CF | F_SF), F_OF);
    h_free(&h);
}

GUEST_ASM(cmp_jcc, ".code64",
          "xor %r8d, %r8d\n"
          "mov $-1, %eax\n cmp $1, %eax\n jl 1f\n or $1, %r8d\n"   /* signed: -1 < 1 */
          "1: cmp $1, %eax\n ja 2f\n or $2, %r8d\n"                /* unsigned: big */
          "2: mov $5, %ecx\n cmp $5, %ecx\n jbe 3f\n or $4, %r8d\n"
          "3: cmp $6, %ecx\n jge 4f\n jle 5f\n 4: or $8, %r8d\n"
          "5: test %ecx, %ecx\n js 6f\n jg 7f\n 6: or $16, %r8d\n"
          "7: hlt");
TEST(jcc_signed_unsigned_conditions)
{
    run64(cmp_jcc, GUEST_LEN(cmp_jcc));
    CHECK_EQ(h.c.regs[R_R8], 0);
    h_free(&h);
}

/* ---- INC/DEC/NEG ---- */

GUEST_ASM(incdec_cf, ".code64",
          "stc\n mov $0x7fffffff, %eax\n inc %eax\n setc %bl\n seto %bh\n"
          "clc\n xor %ecx, %ecx\n dec %ecx\n setc %dl\n sets %dh\n"
          "mov $5, %esi\n neg %esi\n setc %r9b\n hlt");
TEST(inc_dec_preserve_cf_neg_sets_it)
{
    run64(incdec_cf, GUEST_LEN(incdec_cf));
    CHECK_EQ(h.c.regs[R_RAX], 0x80000000u);
    CHECK_EQ(h.c.regs[R_RBX] & 0xffff, 0x0101); /* CF kept, OF set */
    CHECK_EQ(h.c.regs[R_RCX], 0xffffffffu);
    CHECK_EQ(h.c.regs[R_RDX] & 0xffff, 0x0100); /* CF kept clear, SF */
    CHECK_EQ(h.c.regs[R_RSI], 0xfffffffbu);
    CHECK_EQ(h.c.regs[R_R9] & 0xff, 1);
    h_free(&h);
}

/* The same on 32/64-bit memory operands (op_inc_m32/m64: one write-TLB
 * probe), after an ADD record (CF from its operands) and after an ADC one
 * (the generic path), and a DEC into an unmapped page faults with the
 * flags of the instruction before it. */
GUEST_ASM(incdec_mem, ".code64",
          "mov $0x100000, %rdi\n movl $0x7fffffff, (%rdi)\n movq $0, 8(%rdi)\n"
          "mov $-1, %eax\n add $1, %eax\n"          /* CF=1 from an ADD */
          "incl (%rdi)\n setc %bl\n seto %bh\n"
          "clc\n adc $0, %eax\n"                     /* an ADC record, CF=0 */
          "decq 8(%rdi)\n setc %cl\n sets %ch\n"
          "stc\n mov $0x400000, %rsi\n"
          "incdec_mem_at: decq (%rsi)\n hlt");
extern const uint8_t incdec_mem_at[];
TEST(inc_dec_memory_keep_cf_and_fault_cleanly)
{
    run64(incdec_mem, GUEST_LEN(incdec_mem));
    CHECK_EQ(h_r32(&h, 0x100000), 0x80000000u);
    CHECK_EQ(h_r64(&h, 0x100008), ~0ull);
    CHECK_EQ(h.c.regs[R_RBX] & 0xffff, 0x0101); /* CF kept, OF set */
    CHECK_EQ(h.c.regs[R_RCX] & 0xffff, 0x0100); /* CF kept clear, SF */
    CHECK_EQ(h_vector(&h), EXC_PF);
    CHECK_EQ(h_frame(&h, 1), H_CODE + (uint64_t)(incdec_mem_at - incdec_mem));
    CHECK_EQ(h_frame(&h, 3) & F_CF, F_CF); /* STC's CF, DEC did not run */
    h_free(&h);
}

/* ---- shifts and rotates ---- */

GUEST_ASM(shift_of, ".code64",
          "mov $0x40000000, %eax\n shl $1, %eax\n seto %bl\n setc %bh\n"
          "mov $0x80000000, %ecx\n shl $1, %ecx\n seto %dl\n setc %dh\n"
          "mov $0x80000000, %esi\n shr $1, %esi\n seto %r8b\n"
          "mov $0x80000001, %edi\n sar $1, %edi\n seto %r9b\n setc %r10b\n"
          "hlt");
TEST(shift_by_one_sets_of)
{
    run64(shift_of, GUEST_LEN(shift_of));
    CHECK_EQ(h.c.regs[R_RAX], 0x80000000u);
    CHECK_EQ(h.c.regs[R_RBX] & 0xffff, 0x0001); /* OF=1 CF=0 */
    CHECK_EQ(h.c.regs[R_RCX], 0);
    CHECK_EQ(h.c.regs[R_RDX] & 0xffff, 0x0101); /* OF=1 CF=1 */
    CHECK_EQ(h.c.regs[R_RSI], 0x40000000u);
    CHECK_EQ(h.c.regs[R_R8] & 0xff, 1);
    CHECK_EQ(h.c.regs[R_RDI], 0xc0000000u);
    CHECK_EQ(h.c.regs[R_R9] & 0xff, 0);
    CHECK_EQ(h.c.regs[R_R10] & 0xff, 1);
    h_free(&h);
}

GUEST_ASM(shift_count, ".code64",
          "mov $0x12345678, %eax\n xor %ecx, %ecx\n stc\n shl %cl, %eax\n setc %bl\n" /* count 0: flags kept */
          "mov $33, %cl\n mov $1, %edx\n shl %cl, %edx\n"     /* masked to 1 */
          "mov $65, %cl\n mov $1, %rsi\n shl %cl, %rsi\n"     /* masked to 1 */
          "mov $0x81, %r8b\n mov $9, %cl\n shl %cl, %r8b\n"   /* byte: 9 < 32 */
          "hlt");
TEST(shift_count_masking_and_zero_count)
{
    run64(shift_count, GUEST_LEN(shift_count));
    CHECK_EQ(h.c.regs[R_RAX], 0x12345678);
    CHECK_EQ(h.c.regs[R_RBX] & 0xff, 1);
    CHECK_EQ(h.c.regs[R_RDX], 2);
    CHECK_EQ(h.c.regs[R_RSI], 2);
    CHECK_EQ(h.c.regs[R_R8] & 0xff, 0);
    h_free(&h);
}

GUEST_ASM(rotates, ".code64",
          "mov $0x81, %al\n rol $1, %al\n setc %bl\n"           /* 0x03, CF=1 */
          "mov $0x01, %cl\n ror $1, %cl\n setc %bh\n seto %dl\n" /* 0x80, CF=1, OF=1 */
          "clc\n mov $0x80, %sil\n rcl $1, %sil\n setc %dh\n"   /* 0x00, CF=1 */
          "stc\n mov $0x00, %dil\n rcr $1, %dil\n"              /* 0x80 */
          "stc\n mov $0x1, %r8w\n rcl $17, %r8w\n"              /* 17 mod 17 = 0 */
          "mov $0x12345678, %r9d\n mov $0x9abcdef0, %r10d\n shld $8, %r10d, %r9d\n"
          "mov $0x12345678, %r11d\n shrd $8, %r10d, %r11d\n"
          "hlt");
TEST(rotates_and_double_shifts)
{
    run64(rotates, GUEST_LEN(rotates));
    CHECK_EQ(h.c.regs[R_RAX] & 0xff, 0x03);
    CHECK_EQ(h.c.regs[R_RBX] & 0xffff, 0x0101);
    CHECK_EQ(h.c.regs[R_RCX] & 0xff, 0x80);
    CHECK_EQ(h.c.regs[R_RDX] & 0xffff, 0x0101);
    CHECK_EQ(h.c.regs[R_RSI] & 0xff, 0x00);
    CHECK_EQ(h.c.regs[R_RDI] & 0xff, 0x80);
    CHECK_EQ(h.c.regs[R_R8] & 0xffff, 0x1);
    CHECK_EQ(h.c.regs[R_R9], 0x3456789a);
    CHECK_EQ(h.c.regs[R_R11], 0xf0123456);
    h_free(&h);
}

/* ---- MUL/IMUL/DIV/IDIV ---- */

GUEST_ASM(muls, ".code64",
          "mov $0x80000000, %eax\n mov $2, %ecx\n mul %ecx\n seto %bl\n setc %bh\n"
          "mov %eax, %r8d\n mov %edx, %r9d\n"
          "mov $0x40000000, %esi\n imul $2, %esi, %esi\n seto %r10b\n"
          "mov $-1, %edi\n imul $2, %edi, %edi\n seto %r11b\n"
          "mov $-3, %rax\n mov $5, %rcx\n imul %rcx\n"
          "mov $7, %r12\n imul $-3, %r12\n"
          "hlt");
TEST(mul_imul_results_and_cf_of)
{
    run64(muls, GUEST_LEN(muls));
    CHECK_EQ(h.c.regs[R_R8], 0);
    CHECK_EQ(h.c.regs[R_R9], 1);
    CHECK_EQ(h.c.regs[R_RBX] & 0xffff, 0x0101);
    CHECK_EQ(h.c.regs[R_RSI], 0x80000000u);
    CHECK_EQ(h.c.regs[R_R10] & 0xff, 1);
    CHECK_EQ(h.c.regs[R_RDI], 0xfffffffeu);
    CHECK_EQ(h.c.regs[R_R11] & 0xff, 0);
    CHECK_EQ(h.c.regs[R_RAX], (uint64_t)-15);
    CHECK_EQ(h.c.regs[R_RDX], ~0ull);
    CHECK_EQ(h.c.regs[R_R12], (uint64_t)-21);
    h_free(&h);
}

GUEST_ASM(divs, ".code64",
          "xor %edx, %edx\n mov $100, %eax\n mov $7, %ecx\n div %ecx\n mov %eax, %r8d\n mov %edx, %r9d\n"
          "mov $-100, %rax\n cqo\n mov $7, %rcx\n idiv %rcx\n mov %rax, %r10\n mov %rdx, %r11\n"
          "mov $1000, %ax\n mov $10, %bl\n div %bl\n"
          "hlt");
TEST(div_idiv_quotient_remainder)
{
    run64(divs, GUEST_LEN(divs));
    CHECK_EQ(h.c.regs[R_R8], 14);
    CHECK_EQ(h.c.regs[R_R9], 2);
    CHECK_EQ(h.c.regs[R_R10], (uint64_t)-14);
    CHECK_EQ(h.c.regs[R_R11], (uint64_t)-2);
    CHECK_EQ(h.c.regs[R_RAX] & 0xffff, 100);
    h_free(&h);
}

GUEST_ASM(div_overflow, ".code64",
          "mov $1, %edx\n xor %eax, %eax\n mov $1, %ecx\n"
          "div %ecx\n"          /* offset 11: quotient 2^32 does not fit */
          "hlt");
TEST(div_overflow_is_de_at_the_div)
{
    run64(div_overflow, GUEST_LEN(div_overflow));
    CHECK_EQ(h_vector(&h), EXC_DE);
    CHECK_EQ(h_frame(&h, 0), H_CODE + 12);
    CHECK_EQ(h.c.regs[R_RAX], 0); /* unchanged */
    CHECK_EQ(h.c.regs[R_RDX], 1);
    h_free(&h);
}

GUEST_ASM(div_zero, ".code64", "mov $5, %eax\n xor %ecx, %ecx\n div %ecx\n hlt");
TEST(div_by_zero_is_de)
{
    run64(div_zero, GUEST_LEN(div_zero));
    CHECK_EQ(h_vector(&h), EXC_DE);
    CHECK_EQ(h_frame(&h, 0), H_CODE + 7);
    h_free(&h);
}

GUEST_ASM(idiv_min, ".code64",
          "mov $0x80000000, %eax\n cdq\n mov $-1, %ecx\n idiv %ecx\n hlt");
TEST(idiv_int_min_by_minus_one_is_de)
{
    run64(idiv_min, GUEST_LEN(idiv_min));
    CHECK_EQ(h_vector(&h), EXC_DE);
    h_free(&h);
}

/* ---- bit scans and counts ---- */

GUEST_ASM(bitscan, ".code64",
          "mov $5, %eax\n xor %ecx, %ecx\n bsf %ecx, %eax\n setz %r8b\n"
          "mov $0x18, %ecx\n bsf %ecx, %ebx\n setz %r9b\n bsr %ecx, %edx\n"
          "popcnt %ecx, %esi\n tzcnt %ecx, %edi\n lzcnt %ecx, %r10d\n"
          "xor %ecx, %ecx\n lzcnt %ecx, %r11d\n setc %r12b\n"
          "hlt");
TEST(bsf_bsr_zf_and_counts)
{
    run64(bitscan, GUEST_LEN(bitscan));
    CHECK_EQ(h.c.regs[R_RAX], 5); /* zero source: destination kept */
    CHECK_EQ(h.c.regs[R_R8] & 0xff, 1);
    CHECK_EQ(h.c.regs[R_RBX], 3);
    CHECK_EQ(h.c.regs[R_R9] & 0xff, 0);
    CHECK_EQ(h.c.regs[R_RDX], 4);
    CHECK_EQ(h.c.regs[R_RSI], 2);
    CHECK_EQ(h.c.regs[R_RDI], 3);
    CHECK_EQ(h.c.regs[R_R10], 27);
    CHECK_EQ(h.c.regs[R_R11], 32);
    CHECK_EQ(h.c.regs[R_R12] & 0xff, 1);
    h_free(&h);
}

GUEST_ASM(bittest, ".code64",
          "mov $0x100000, %rbx\n movl $0x80000001, (%rbx)\n movl $0, 4(%rbx)\n"
          "mov $31, %eax\n bt %eax, (%rbx)\n setc %r8b\n"
          "mov $35, %eax\n bts %eax, (%rbx)\n"        /* bit 3 of the next dword */
          "mov $-1, %rax\n lea 8(%rbx), %rcx\n btr %rax, (%rcx)\n setc %r9b\n" /* bit 63 of (rbx) */
          "mov $0xf0, %edx\n btc $4, %edx\n setc %r10b\n"
          "hlt");
TEST(bt_family_with_memory_bit_offsets)
{
    run64(bittest, GUEST_LEN(bittest));
    CHECK_EQ(h.c.regs[R_R8] & 0xff, 1);
    CHECK_EQ(h_r32(&h, H_DATA + 4), 8); /* bts hit bit 3 of the next dword */
    CHECK_EQ(h.c.regs[R_R9] & 0xff, 0);
    CHECK_EQ(h.c.regs[R_RDX], 0xe0);
    CHECK_EQ(h.c.regs[R_R10] & 0xff, 1);
    h_free(&h);
}

/* ---- BCD and 16/32-bit modes ---- */

GUEST_ASM(bcd32, ".code32",
          "mov $0x79, %al\n add $0x35, %al\n daa\n setc %bl\n"     /* 79+35 = 114 */
          "mov %eax, %ecx\n"
          "mov $0x0109, %ax\n aad $10\n mov %eax, %edx\n"           /* 19 */
          "mov $47, %al\n aam $10\n mov %eax, %esi\n"               /* 0x0407 */
          "hlt");
TEST(bcd_adjustments_in_32bit)
{
    h_init(&h, H_PROT32);
    h_load(&h, bcd32, GUEST_LEN(bcd32));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RCX] & 0xff, 0x14);
    CHECK_EQ(h.c.regs[R_RBX] & 0xff, 1);
    CHECK_EQ(h.c.regs[R_RDX] & 0xffff, 19);
    CHECK_EQ(h.c.regs[R_RSI] & 0xffff, 0x0407);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    h_free(&h);
}

GUEST_ASM(aam0, ".code32", "mov $5, %al\n aam $0\n hlt");
TEST(aam_zero_is_de)
{
    h_init(&h, H_PROT32);
    h_load(&h, aam0, GUEST_LEN(aam0));
    h_run(&h);
    CHECK_EQ(h_vector(&h), EXC_DE);
    h_free(&h);
}

static const uint8_t daa64[] = { 0x27, 0xf4 };
TEST(bcd_is_ud_in_64bit)
{
    run64(daa64, sizeof(daa64));
    CHECK_EQ(h_vector(&h), EXC_UD);
    CHECK_EQ(h_frame(&h, 0), H_CODE);
    h_free(&h);
}

GUEST_ASM(real16, ".code16",
          "mov $0x12340000, %eax\n mov $0xffff, %ax\n add $1, %ax\n"
          "setc %dl\n setz %dh\n"
          "mov $0x1234, %cx\n"
          "mov $0xfff0, %bx\n mov $0x20, %si\n movw $0xbeef, (%bx,%si)\n"   /* wraps to 0x0010 */
          "mov $0x200, %bp\n movw $0x1111, 2(%bp)\n"                         /* SS:0x202 */
          "hlt");
TEST(real_mode_16bit_ops_and_addressing)
{
    h_init(&h, H_REAL);
    h_load(&h, real16, GUEST_LEN(real16));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RAX], 0x12340000); /* upper half of EAX kept */
    CHECK_EQ(h_r16(&h, 0x10), 0xbeef);
    CHECK_EQ(h_r16(&h, 0x202), 0x1111);
    CHECK_EQ(h.c.regs[R_RCX] & 0xffff, 0x1234);
    CHECK_EQ(h.c.regs[R_RDX] & 0xffff, 0x0101);
    CHECK_EQ(h_vector(&h), H_NOVEC);
    CHECK_EQ(h.c.rip, GUEST_LEN(real16)); /* IP after HLT */
    h_free(&h);
}

GUEST_ASM(salc_bound, ".code32",
          "stc\n .byte 0xd6\n mov %al, %bl\n clc\n .byte 0xd6\n mov %al, %bh\n"
          "mov $0x100000, %esi\n movl $-5, (%esi)\n movl $10, 4(%esi)\n"
          "mov $-5, %eax\n bound %eax, (%esi)\n mov $10, %eax\n bound %eax, (%esi)\n"
          "mov $11, %eax\n bound_fail: bound %eax, (%esi)\n hlt");
extern const uint8_t bound_fail[];
TEST(salc_and_bound_in_32bit)
{
    h_init(&h, H_PROT32);
    h_load(&h, salc_bound, GUEST_LEN(salc_bound));
    h_run(&h);
    CHECK_EQ(h.c.regs[R_RBX] & 0xffff, 0x00ff);
    CHECK_EQ(h_vector(&h), EXC_BR); /* 11 > upper bound 10: #BR, a fault */
    CHECK_EQ(h_frame(&h, 0), H_CODE + (uint64_t)(bound_fail - salc_bound));
    h_free(&h);
}

static const struct unit_test tests[] = {
    T(inc_dec_memory_keep_cf_and_fault_cleanly),
    T(salc_and_bound_in_32bit),
    T(add_sets_cf_zf_af_pf), T(add_signed_overflow_sets_of_sf),
    T(adc_sbb_propagate_carry), T(jcc_signed_unsigned_conditions),
    T(inc_dec_preserve_cf_neg_sets_it), T(shift_by_one_sets_of),
    T(shift_count_masking_and_zero_count), T(rotates_and_double_shifts),
    T(mul_imul_results_and_cf_of), T(div_idiv_quotient_remainder),
    T(div_overflow_is_de_at_the_div), T(div_by_zero_is_de),
    T(idiv_int_min_by_minus_one_is_de), T(bsf_bsr_zf_and_counts),
    T(bt_family_with_memory_bit_offsets), T(bcd_adjustments_in_32bit),
    T(aam_zero_is_de), T(bcd_is_ud_in_64bit),
    T(real_mode_16bit_ops_and_addressing),
};
UNIT_MAIN(tests)
