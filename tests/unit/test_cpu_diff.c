/* Differential tests against the host CPU (x86-64): each instruction runs
 * with the same random operands and input flags in pinvm and natively,
 * and the results and the flags the SDM defines must agree. Undefined
 * flags (and AF after logic ops, OF after multi-bit shifts ...) are
 * masked, since they differ between Intel, AMD and QEMU. */
#include "cpu_harness.h"
#include "unit.h"

#if defined(__x86_64__)

/* In: rax, rbx, rcx (CL is the shift count), rdx = flags to load.
 * Out: the same registers, rdx = flags after. host_NAME(r) runs the same
 * text natively on r[0..3] = rax, rbx, rcx, flags. */
#define DIFF_OP(name, insn)                                                \
    GUEST_ASM(g_##name, ".code64",                                         \
              "push %rdx\n popfq\n" insn "\n pushfq\n pop %rdx\n hlt");    \
    void host_##name(uint64_t r[4]);                                       \
    __asm__(".pushsection .text\n" "host_" #name ":\n"                     \
            "push %rbx\n mov %rdi, %r8\n"                                  \
            "mov (%r8), %rax\n mov 8(%r8), %rbx\n mov 16(%r8), %rcx\n"      \
            "mov 24(%r8), %rdx\n push %rdx\n popfq\n" insn "\n"             \
            "pushfq\n pop %rdx\n mov %rax, (%r8)\n mov %rbx, 8(%r8)\n"       \
            "mov %rcx, 16(%r8)\n mov %rdx, 24(%r8)\n pop %rbx\n ret\n"       \
            ".popsection\n");

#define ALL (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define LOGIC (F_CF | F_PF | F_ZF | F_SF | F_OF)
#define SZPC (F_CF | F_PF | F_ZF | F_SF)

DIFF_OP(add32, "add %ebx, %eax")
DIFF_OP(add8, "add %bl, %al")
DIFF_OP(adc64, "adc %rbx, %rax")
DIFF_OP(adc16, "adc %bx, %ax")
DIFF_OP(sub32, "sub %ebx, %eax")
DIFF_OP(sbb8, "sbb %bl, %al")
DIFF_OP(sbb64, "sbb %rbx, %rax")
DIFF_OP(cmp16, "cmp %bx, %ax")
DIFF_OP(and64, "and %rbx, %rax")
DIFF_OP(or8, "or %bl, %ah")
DIFF_OP(xor16, "xor %bx, %ax")
DIFF_OP(test32, "test %ebx, %eax")
DIFF_OP(inc8, "inc %al")
DIFF_OP(dec16, "dec %ax")
DIFF_OP(neg32, "neg %eax")
DIFF_OP(neg64, "neg %rax")
DIFF_OP(not16, "not %ax")
DIFF_OP(shl32, "shl %cl, %eax")
DIFF_OP(shl8, "shl %cl, %al")
DIFF_OP(shr16, "shr %cl, %ax")
DIFF_OP(shr64, "shr %cl, %rax")
DIFF_OP(sar8, "sar %cl, %al")
DIFF_OP(sar32, "sar %cl, %eax")
DIFF_OP(rol16, "rol %cl, %ax")
DIFF_OP(ror32, "ror %cl, %eax")
DIFF_OP(rol64, "rol %cl, %rax")
DIFF_OP(rcl8, "rcl %cl, %al")
DIFF_OP(rcl32, "rcl %cl, %eax")
DIFF_OP(rcr16, "rcr %cl, %ax")
DIFF_OP(rcr64, "rcr %cl, %rax")
DIFF_OP(shld32, "shld %cl, %ebx, %eax")
DIFF_OP(shrd64, "shrd %cl, %rbx, %rax")
DIFF_OP(shld16, "shld %cl, %bx, %ax")
DIFF_OP(shrd16, "shrd %cl, %bx, %ax")
DIFF_OP(shrd32, "shrd %cl, %ebx, %eax")
DIFF_OP(shld64, "shld %cl, %rbx, %rax")
DIFF_OP(mul32, "mul %ebx")
DIFF_OP(mul8, "mul %bl")
DIFF_OP(imul64, "imul %rbx")
DIFF_OP(imul16_2, "imul %bx, %ax")
DIFF_OP(imul32_3, "imul $-77, %ebx, %eax")
DIFF_OP(bsf32, "bsf %ebx, %eax")
DIFF_OP(bsr64, "bsr %rbx, %rax")
DIFF_OP(bt32, "bt %ebx, %eax")
DIFF_OP(bts64, "bts %rbx, %rax")
DIFF_OP(btc16, "btc %bx, %ax")
DIFF_OP(popcnt64, "popcnt %rbx, %rax")
DIFF_OP(lzcnt32, "lzcnt %ebx, %eax")
DIFF_OP(tzcnt16, "tzcnt %bx, %ax")
DIFF_OP(movsx, "movsbq %bl, %rax")
DIFF_OP(cmov, "cmp %ecx, %ebx\n cmovl %ebx, %eax")
DIFF_OP(setcc, "cmp %cl, %bl\n setbe %al\n setg %ah")
DIFF_OP(xadd, "xadd %ebx, %eax")
DIFF_OP(cmpxchg, "cmpxchg %cx, %bx")
DIFF_OP(bswap, "bswap %eax")
DIFF_OP(cbw, "cwde\n cqo")
DIFF_OP(lahf, "sahf\n lahf")
DIFF_OP(addi32, "add $-5, %eax")
DIFF_OP(subi64, "sub $0x7fff, %rax")
DIFF_OP(andi64, "and $-16, %rax")
DIFF_OP(cmpi32, "cmp $0x80, %eax")
DIFF_OP(cmpi64, "cmp $-1, %rax")
DIFF_OP(test64, "test %rbx, %rax")
DIFF_OP(sbbi8, "sbb $0x81, %al")
/* register forms with specialised handlers (decode.c specialise) */
DIFF_OP(shli64, "shl $13, %rax")
DIFF_OP(shli32_1, "shl $1, %eax")
DIFF_OP(shri64, "shr $3, %rax")
DIFF_OP(shri32, "shr $31, %eax")
DIFF_OP(sari64, "sar $63, %rax")
DIFF_OP(sari32_1, "sar $1, %eax")
DIFF_OP(roli64, "rol $13, %rax")
DIFF_OP(roli32_1, "rol $1, %eax")
DIFF_OP(rori64_1, "ror $1, %rax")
DIFF_OP(rori32, "ror $7, %eax")
DIFF_OP(noti64, "not %rax")
DIFF_OP(noti32, "not %eax")
DIFF_OP(neg64b, "neg %rbx")
DIFF_OP(incr64, "inc %rax")
DIFF_OP(decr64, "dec %rbx")
DIFF_OP(imul64_2, "imul %rbx, %rax")
DIFF_OP(imul32_2, "imul %ebx, %eax")
DIFF_OP(imul64_3, "imul $0x2545f491, %rbx, %rax")
DIFF_OP(imul64_3b, "imul $-3, %rax, %rax")
DIFF_OP(imul32_3b, "imul $0x12345, %ebx, %eax")
/* rotates keep SF/ZF/AF/PF of the lazy record before them */
DIFF_OP(add_rol, "add %rbx, %rax\n rol $13, %rax")
DIFF_OP(sub_ror, "sub %ebx, %eax\n ror $1, %eax")
DIFF_OP(adc_rol, "adc %bx, %ax\n rol $13, %rax")
DIFF_OP(inc_rol, "inc %rax\n rol $1, %rax")
DIFF_OP(dec_ror, "dec %al\n ror $9, %rax")
DIFF_OP(and_rol, "and %rbx, %rax\n rol $5, %eax")
DIFF_OP(shl_ror, "shl $3, %ebx\n ror $2, %rax")
DIFF_OP(add_rolcl, "add %ebx, %eax\n rol %cl, %rax")
DIFF_OP(sub_rcr, "sub %rbx, %rax\n rcr %cl, %eax")
DIFF_OP(rol_rol, "rol $1, %rax\n rol $3, %rbx")
/* rAX, imm32 forms (05/25/2D/3D) */
DIFF_OP(addai64, "add $0x12345, %rax")
DIFF_OP(andai32, "and $0x12345678, %eax")
DIFF_OP(cmpai64, "cmp $-0x12345, %rax")
DIFF_OP(subai32, "sub $0x7ff00000, %eax")
DIFF_OP(cmpal, "cmp $0x80, %al")
DIFF_OP(cmpal2, "cmp $0x3, %al")
DIFF_OP(movzxm32, "push %rbx\n movzbl 3(%rsp), %eax\n pop %rbx")
DIFF_OP(movzxm64, "push %rbx\n movzbq (%rsp), %rax\n pop %rbx")
/* INC/DEC keep CF of the lazy record before them (ADC/SBB: generic path) */
DIFF_OP(adc_dec, "adc %rbx, %rax\n dec %rax")
DIFF_OP(sbb_inc, "sbb %ebx, %eax\n inc %eax")
DIFF_OP(sub_dec, "sub %rbx, %rax\n dec %rbx")
DIFF_OP(add_inc, "add %ebx, %eax\n inc %ebx")
DIFF_OP(and_dec, "and %rbx, %rax\n dec %eax")
DIFF_OP(shl_inc, "shl $1, %rbx\n inc %rax")
DIFF_OP(lea_bi, "lea 7(%rax,%rax,2), %rax")
DIFF_OP(lea_bi2, "lea -0x12345(%rbx,%rcx,8), %rax")
DIFF_OP(lea_b, "lea -5(%rbx), %rax")
DIFF_OP(lea_i, "lea 0x10(,%rbx,4), %rax")

/* Which flags are defined for this op and count (SDM Vol 2). */
enum { K_PLAIN, K_SHIFT, K_ROT, K_SHXD };
struct diffcase {
    const char *name;
    const uint8_t *code, *code_end;
    void (*host)(uint64_t r[4]);
    uint32_t defined;
    int kind;   /* flags that depend on the count */
    int width;  /* operand bits (shift/rotate kinds) */
};

#define C(n, def, kind, w) { #n, g_##n, g_##n##_end, host_##n, def, kind, w }

static struct diffcase cases[] = {
    C(add32, ALL, K_PLAIN, 0), C(add8, ALL, K_PLAIN, 0),
    C(adc64, ALL, K_PLAIN, 0), C(adc16, ALL, K_PLAIN, 0),
    C(sub32, ALL, K_PLAIN, 0), C(sbb8, ALL, K_PLAIN, 0),
    C(sbb64, ALL, K_PLAIN, 0), C(cmp16, ALL, K_PLAIN, 0),
    C(and64, LOGIC, K_PLAIN, 0), C(or8, LOGIC, K_PLAIN, 0),
    C(xor16, LOGIC, K_PLAIN, 0), C(test32, LOGIC, K_PLAIN, 0),
    C(inc8, ALL, K_PLAIN, 0), C(dec16, ALL, K_PLAIN, 0),
    C(neg32, ALL, K_PLAIN, 0), C(neg64, ALL, K_PLAIN, 0),
    C(not16, ALL, K_PLAIN, 0),
    C(shl32, SZPC | F_OF, K_SHIFT, 32), C(shl8, SZPC | F_OF, K_SHIFT, 8),
    C(shr16, SZPC | F_OF, K_SHIFT, 16), C(shr64, SZPC | F_OF, K_SHIFT, 64),
    C(sar8, SZPC | F_OF, K_SHIFT, 8), C(sar32, SZPC | F_OF, K_SHIFT, 32),
    C(rol16, F_CF | F_OF, K_ROT, 16), C(ror32, F_CF | F_OF, K_ROT, 32),
    C(rol64, F_CF | F_OF, K_ROT, 64), C(rcl8, F_CF | F_OF, K_ROT, 8),
    C(rcl32, F_CF | F_OF, K_ROT, 32), C(rcr16, F_CF | F_OF, K_ROT, 16),
    C(rcr64, F_CF | F_OF, K_ROT, 64),
    C(shld32, SZPC | F_OF, K_SHXD, 32), C(shrd64, SZPC | F_OF, K_SHXD, 64),
    C(shld16, SZPC | F_OF, K_SHXD, 16), C(shrd16, SZPC | F_OF, K_SHXD, 16),
    C(shrd32, SZPC | F_OF, K_SHXD, 32), C(shld64, SZPC | F_OF, K_SHXD, 64),
    C(mul32, F_CF | F_OF, K_PLAIN, 0), C(mul8, F_CF | F_OF, K_PLAIN, 0),
    C(imul64, F_CF | F_OF, K_PLAIN, 0), C(imul16_2, F_CF | F_OF, K_PLAIN, 0),
    C(imul32_3, F_CF | F_OF, K_PLAIN, 0),
    C(bsf32, F_ZF, K_PLAIN, 0), C(bsr64, F_ZF, K_PLAIN, 0),
    C(bt32, F_CF, K_PLAIN, 0), C(bts64, F_CF, K_PLAIN, 0),
    C(btc16, F_CF, K_PLAIN, 0),
    C(popcnt64, ALL, K_PLAIN, 0), C(lzcnt32, F_CF | F_ZF, K_PLAIN, 0),
    C(tzcnt16, F_CF | F_ZF, K_PLAIN, 0),
    C(movsx, ALL, K_PLAIN, 0), C(cmov, ALL, K_PLAIN, 0),
    C(setcc, ALL, K_PLAIN, 0), C(xadd, ALL, K_PLAIN, 0),
    C(cmpxchg, ALL, K_PLAIN, 0), C(bswap, ALL, K_PLAIN, 0),
    C(cbw, ALL, K_PLAIN, 0), C(lahf, ALL, K_PLAIN, 0),
    C(addi32, ALL, K_PLAIN, 0), C(subi64, ALL, K_PLAIN, 0),
    C(andi64, LOGIC, K_PLAIN, 0), C(cmpi32, ALL, K_PLAIN, 0),
    C(cmpi64, ALL, K_PLAIN, 0), C(test64, LOGIC, K_PLAIN, 0),
    C(sbbi8, ALL, K_PLAIN, 0),
    C(shli64, SZPC, K_PLAIN, 0), C(shli32_1, SZPC | F_OF, K_PLAIN, 0),
    C(shri64, SZPC, K_PLAIN, 0), C(shri32, SZPC, K_PLAIN, 0),
    C(sari64, SZPC, K_PLAIN, 0), C(sari32_1, SZPC | F_OF, K_PLAIN, 0),
    C(roli64, ALL & ~F_OF, K_PLAIN, 0), C(roli32_1, ALL, K_PLAIN, 0),
    C(rori64_1, ALL, K_PLAIN, 0), C(rori32, ALL & ~F_OF, K_PLAIN, 0),
    C(noti64, ALL, K_PLAIN, 0), C(noti32, ALL, K_PLAIN, 0),
    C(neg64b, ALL, K_PLAIN, 0), C(incr64, ALL, K_PLAIN, 0),
    C(decr64, ALL, K_PLAIN, 0), C(imul64_2, F_CF | F_OF, K_PLAIN, 0),
    C(imul32_2, F_CF | F_OF, K_PLAIN, 0), C(imul64_3, F_CF | F_OF, K_PLAIN, 0),
    C(imul64_3b, F_CF | F_OF, K_PLAIN, 0), C(imul32_3b, F_CF | F_OF, K_PLAIN, 0),
    C(add_rol, ALL & ~F_OF, K_PLAIN, 0), C(sub_ror, ALL, K_PLAIN, 0),
    C(adc_rol, ALL & ~F_OF, K_PLAIN, 0), C(inc_rol, ALL, K_PLAIN, 0),
    C(dec_ror, ALL & ~F_OF, K_PLAIN, 0), C(and_rol, LOGIC & ~F_OF, K_PLAIN, 0),
    C(shl_ror, SZPC, K_PLAIN, 0), C(add_rolcl, ALL, K_ROT, 64),
    C(sub_rcr, ALL, K_ROT, 32), C(rol_rol, ALL & ~F_OF, K_PLAIN, 0),
    C(addai64, ALL, K_PLAIN, 0), C(andai32, LOGIC, K_PLAIN, 0),
    C(cmpai64, ALL, K_PLAIN, 0), C(subai32, ALL, K_PLAIN, 0),
    C(cmpal, ALL, K_PLAIN, 0), C(cmpal2, ALL, K_PLAIN, 0),
    C(movzxm32, ALL, K_PLAIN, 0), C(movzxm64, ALL, K_PLAIN, 0),
    C(adc_dec, ALL, K_PLAIN, 0), C(sbb_inc, ALL, K_PLAIN, 0),
    C(sub_dec, ALL, K_PLAIN, 0), C(add_inc, ALL, K_PLAIN, 0),
    C(and_dec, ALL, K_PLAIN, 0), C(shl_inc, ALL, K_PLAIN, 0),
    C(lea_bi, ALL, K_PLAIN, 0), C(lea_bi2, ALL, K_PLAIN, 0),
    C(lea_b, ALL, K_PLAIN, 0), C(lea_i, ALL, K_PLAIN, 0),
};

static uint32_t defined_flags(const struct diffcase *d, uint64_t rcx)
{
    unsigned mask = d->width == 64 ? 63 : 31;
    unsigned n = (unsigned)rcx & mask;
    uint32_t def = d->defined;
    switch (d->kind) {
    case K_SHIFT:
        if (n == 0)
            return ALL;              /* nothing changes */
        if (n != 1)
            def &= ~F_OF;
        if (n > (unsigned)d->width)  /* 8-bit by up to 31: CF undefined */
            def &= ~F_CF;
        return def;
    case K_ROT:
        if (n == 0)
            return ALL;
        return n == 1 ? def : def & ~F_OF;
    case K_SHXD:
        if (n == 0)
            return ALL;
        if (n > (unsigned)d->width)
            return 0;                /* result and flags undefined */
        return n == 1 ? def : def & ~F_OF;
    default:
        return def;
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = unit_xorshift64(&rng_state);
    /* edge values a quarter of the time */
    static const uint64_t edge[] = { 0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000,
                                     0xffff, 0x7fffffff, 0x80000000,
                                     0xffffffff, 0x7fffffffffffffffull,
                                     0x8000000000000000ull, ~0ull };
    if ((x & 3) == 0)
        return edge[(x >> 8) % (sizeof(edge) / sizeof(edge[0]))];
    return x;
}

TEST(instructions_match_the_host_cpu)
{
    struct harness h;
    h_init(&h, H_LONG);
    int bad_total = 0;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct diffcase *d = &cases[k];
        int bad = 0;
        h_load(&h, d->code, (size_t)(d->code_end - d->code));
        for (int it = 0; it < 400 && bad < 3; it++) {
            uint64_t in[4] = { rnd(), rnd(), rnd(), 2 | (rnd() & ALL) };
            if (it & 1) /* small counts are the interesting ones */
                in[2] = (in[2] & ~0xffull) | (in[2] & 0x27);
            uint64_t want[4] = { in[0], in[1], in[2], in[3] };
            d->host(want);
            h.c.regs[R_RAX] = in[0];
            h.c.regs[R_RBX] = in[1];
            h.c.regs[R_RCX] = in[2];
            h.c.regs[R_RDX] = in[3];
            h.c.regs[R_RSP] = H_STACK;
            h.c.rip = H_CODE;
            h.c.halted = false;
            h_run(&h);
            uint32_t def = defined_flags(d, in[2]);
            bool regs_ok = def == 0 ||
                (h.c.regs[R_RAX] == want[0] && h.c.regs[R_RBX] == want[1] &&
                 h.c.regs[R_RCX] == want[2]);
            bool flags_ok = ((h.c.regs[R_RDX] ^ want[3]) & def) == 0;
            if (h_vector(&h) != H_NOVEC || !regs_ok || !flags_ok) {
                printf("  %s: in rax=%016llx rbx=%016llx rcx=%016llx fl=%03llx\n"
                       "    pinvm rax=%016llx rbx=%016llx rcx=%016llx fl=%03llx vec=%d\n"
                       "    host  rax=%016llx rbx=%016llx rcx=%016llx fl=%03llx (defined %03x)\n",
                       d->name, (unsigned long long)in[0], (unsigned long long)in[1],
                       (unsigned long long)in[2], (unsigned long long)in[3],
                       (unsigned long long)h.c.regs[R_RAX], (unsigned long long)h.c.regs[R_RBX],
                       (unsigned long long)h.c.regs[R_RCX], (unsigned long long)(h.c.regs[R_RDX] & 0xfff),
                       h_vector(&h),
                       (unsigned long long)want[0], (unsigned long long)want[1],
                       (unsigned long long)want[2], (unsigned long long)(want[3] & 0xfff), def);
                bad++;
                h.ram[H_VECTOR] = H_NOVEC;
            }
        }
        bad_total += bad;
    }
    CHECK_EQ(bad_total, 0);
    h_free(&h);
}

static const struct unit_test tests[] = {
    T(instructions_match_the_host_cpu),
};
#else
TEST(skipped_not_x86_64) {}
static const struct unit_test tests[] = { T(skipped_not_x86_64) };
#endif
UNIT_MAIN(tests)
