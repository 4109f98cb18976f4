/* insns_random.c: a differential test of random integer code.
 *
 * A seeded generator writes straight-line sequences of 24 instructions
 * (ALU reg/reg, reg/imm and with memory operands, INC/DEC/NEG/NOT,
 * shifts and rotates by an immediate, IMUL, MUL, DIV, SETcc, CMOVcc, BT,
 * BSF/BSR, BSWAP, LEA, MOVZX/MOVSX/MOVSXD, CBW..CQO, XCHG, XADD, CMPXCHG,
 * PUSH/POP, REP STOS/MOVS/CMPS/SCAS; 8- to 64-bit, AH..BH too; registers
 * rax..r9 without rsp/rbp, memory at R10+disp8) into one code page,
 * runs each from random registers and flags, and hashes the registers
 * and the flags the SDM defines at the end. The generator tracks which
 * flags are undefined after each instruction and never lets a later
 * instruction read one, so every result is architectural.
 *
 * Each sequence runs twice (the second run may come from a decoded-code
 * cache; the page is rewritten for every sequence, so stale code shows up
 * as a mismatch). The printed hashes are what QEMU and pinvm must agree on.
 *
 * To find a difference: run with -append "trace=B" to print every
 * sequence's hash in block B, then -append "trace=B seq=S" to print, for
 * each prefix of sequence S, the instruction bytes and the registers after
 * it; diff the two emulators' output.
 */
#include "kit.h"

#define SEQ_LEN   24
#define PER_LINE  64
#define LINES     12

#define CF X86_EFLAGS_CF
#define PF X86_EFLAGS_PF
#define AF X86_EFLAGS_AF
#define ZF X86_EFLAGS_ZF
#define SF X86_EFLAGS_SF
#define OF X86_EFLAGS_OF
#define ALL X86_EFLAGS_ARITH

/* Register file: rax rcx rdx rbx rsi rdi r8 r9, flags, and R10 = a
 * 128-byte scratch buffer for memory operands (see gen_run). */
static const u8 regnum[8] = { 0, 1, 2, 3, 6, 7, 8, 9 };
struct regs { u64 r[8]; u64 flags; u64 mem; };
#define MEM_SIZE 128

void gen_run(struct regs *regs, const void *code);
asm(".text\n"
    ".globl gen_run\n"
    "gen_run:\n"
    "    pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "    pushq %rdi\n"
    "    movq %rsi, %r15\n"
    "    movq 0(%rdi), %rax\n"
    "    movq 8(%rdi), %rcx\n"
    "    movq 16(%rdi), %rdx\n"
    "    movq 24(%rdi), %rbx\n"
    "    movq 32(%rdi), %rsi\n"
    "    movq 48(%rdi), %r8\n"
    "    movq 56(%rdi), %r9\n"
    "    movq 72(%rdi), %r10\n"
    "    pushq 64(%rdi)\n"
    "    popfq\n"
    "    movq 40(%rdi), %rdi\n"
    "    call *%r15\n"
    "    pushfq\n"
    "    pushq %rdi\n"
    "    movq 16(%rsp), %rdi\n"
    "    popq 40(%rdi)\n"
    "    popq 64(%rdi)\n"
    "    movq %rax, 0(%rdi)\n"
    "    movq %rcx, 8(%rdi)\n"
    "    movq %rdx, 16(%rdi)\n"
    "    movq %rbx, 24(%rdi)\n"
    "    movq %rsi, 32(%rdi)\n"
    "    movq %r8, 48(%rdi)\n"
    "    movq %r9, 56(%rdi)\n"
    "    addq $8, %rsp\n"
    "    popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx\n"
    "    ret\n");

static u64 rng;
static u64 rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static unsigned pick(unsigned n) { return (unsigned)(rnd() % n); }

/* Flags each condition code reads (cc = 0..15: o no b ae e ne be a s ns p
 * np l ge le g). */
static u64 cc_reads(unsigned cc)
{
    static const u64 r[8] = { OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF };
    return r[cc >> 1];
}

struct gen {
    u8 *p;
    u64 undef;   /* flags currently undefined */
    u8 *insn[SEQ_LEN + 1];
    u64 undef_after[SEQ_LEN + 1];
};

static void rex_modrm(struct gen *g, bool w, unsigned reg, unsigned rm, bool force_rex,
                      const u8 *op, unsigned oplen)
{
    u8 rex = 0x40 | (w ? 8 : 0) | (reg & 8 ? 4 : 0) | (rm & 8 ? 1 : 0);
    if (rex != 0x40 || force_rex)
        *g->p++ = rex;
    for (unsigned i = 0; i < oplen; i++)
        *g->p++ = op[i];
    *g->p++ = 0xc0 | (reg & 7) << 3 | (rm & 7);
}

/* Emit one instruction whose flag reads are all defined; update g->undef. */
static bool gen_one(struct gen *g)
{
    bool w = rnd() & 1;
    unsigned a = regnum[pick(8)], b = regnum[pick(8)];
    u64 reads = 0, def = 0, undef = 0;
    u8 *start = g->p;
    unsigned kind = pick(28);
    switch (kind) {
    case 0: { /* ALU reg, reg: add or adc sbb and sub xor cmp */
        static const u8 ops[8] = { 0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39 };
        unsigned o = pick(8);
        reads = (o == 2 || o == 3) ? CF : 0;
        def = ALL;
        if (o == 1 || o == 4 || o == 6) {
            def = ALL & ~AF;
            undef = AF;
        }
        rex_modrm(g, w, b, a, false, &ops[o], 1);
        break;
    }
    case 1: { /* ALU reg, imm32 / imm8 (81 /n id, 83 /n ib) */
        unsigned o = pick(8);
        bool imm8 = rnd() & 1;
        u8 op = imm8 ? 0x83 : 0x81;
        reads = (o == 2 || o == 3) ? CF : 0;
        def = ALL;
        if (o == 1 || o == 4 || o == 6) {
            def = ALL & ~AF;
            undef = AF;
        }
        rex_modrm(g, w, o, a, false, &op, 1);
        u32 imm = (u32)rnd();
        for (unsigned i = 0; i < (imm8 ? 1u : 4u); i++)
            *g->p++ = (u8)(imm >> (8 * i));
        break;
    }
    case 2: { /* INC DEC (FF /0 /1), NOT NEG (F7 /2 /3) */
        unsigned o = pick(4);
        u8 op = o < 2 ? 0xff : 0xf7;
        rex_modrm(g, w, o < 2 ? o : o, a, false, &op, 1);
        def = o < 2 ? ALL & ~CF : o == 2 ? 0 : ALL;
        break;
    }
    case 3: { /* shifts and rotates by imm8: C1 /n ib */
        static const unsigned ext[7] = { 0, 1, 2, 3, 4, 5, 7 };
        unsigned o = ext[pick(7)];
        u8 cnt = (u8)pick(70), op = 0xc1;
        unsigned c = cnt & (w ? 63 : 31);
        if (o == 2 || o == 3)
            reads = CF;
        rex_modrm(g, w, o, a, false, &op, 1);
        *g->p++ = cnt;
        if (c) {
            if (o <= 3) {          /* rotates: CF, and OF if count 1 */
                def = c == 1 ? CF | OF : CF;
                undef = c == 1 ? 0 : OF;
            } else {               /* shifts: CF SF ZF PF, OF if 1, AF undef */
                def = CF | SF | ZF | PF | (c == 1 ? OF : 0);
                undef = AF | (c == 1 ? 0 : OF);
            }
        }
        break;
    }
    case 4: { /* IMUL reg, reg (0F AF): CF OF defined, SF ZF AF PF not */
        static const u8 op[2] = { 0x0f, 0xaf };
        rex_modrm(g, w, a, b, false, op, 2);
        def = CF | OF;
        undef = SF | ZF | AF | PF;
        break;
    }
    case 5: { /* MUL / IMUL one operand (F7 /4 /5): rdx:rax */
        u8 op = 0xf7;
        rex_modrm(g, w, 4 + pick(2), b, false, &op, 1);
        def = CF | OF;
        undef = SF | ZF | AF | PF;
        break;
    }
    case 6: { /* SETcc r8 (0F 90+cc /0), always with REX: SIL/DIL not DH/BH */
        unsigned cc = pick(16);
        u8 op[2] = { 0x0f, (u8)(0x90 + cc) };
        reads = cc_reads(cc);
        rex_modrm(g, false, 0, a, true, op, 2);
        break;
    }
    case 7: { /* CMOVcc (0F 40+cc) */
        unsigned cc = pick(16);
        u8 op[2] = { 0x0f, (u8)(0x40 + cc) };
        reads = cc_reads(cc);
        rex_modrm(g, w, a, b, false, op, 2);
        break;
    }
    case 8: { /* BT reg, imm8 (0F BA /4 ib): CF; ZF kept; OF SF AF PF undef */
        static const u8 op[2] = { 0x0f, 0xba };
        rex_modrm(g, w, 4 + pick(4), a, false, op, 2); /* bt bts btr btc */
        *g->p++ = (u8)pick(256);
        def = CF;
        undef = OF | SF | AF | PF;
        break;
    }
    case 9: { /* BSWAP (0F C8+r) */
        u8 rex = 0x40 | (w ? 8 : 0) | (a & 8 ? 1 : 0);
        if (rex != 0x40)
            *g->p++ = rex;
        *g->p++ = 0x0f;
        *g->p++ = (u8)(0xc8 + (a & 7));
        break;
    }
    case 10: { /* LEA a, [b + c*scale + disp8] (8D /r, SIB) */
        unsigned c = regnum[pick(8)];
        u8 rex = 0x40 | (w ? 8 : 0) | (a & 8 ? 4 : 0) | (c & 8 ? 2 : 0) | (b & 8 ? 1 : 0);
        if (rex != 0x40)
            *g->p++ = rex;
        *g->p++ = 0x8d;
        *g->p++ = 0x44 | (a & 7) << 3;              /* mod 01, rm 100: SIB + disp8 */
        *g->p++ = (u8)(pick(4) << 6 | (c & 7) << 3 | (b & 7));
        *g->p++ = (u8)rnd();
        break;
    }
    case 11: { /* MOVZX / MOVSX from a byte or word register */
        static const u8 ops[4] = { 0xb6, 0xb7, 0xbe, 0xbf };
        u8 op[2] = { 0x0f, ops[pick(4)] };
        rex_modrm(g, w, a, b, true, op, 2);
        break;
    }
    case 12: { /* XCHG reg, reg (87) */
        u8 op = 0x87;
        rex_modrm(g, w, a, b, false, &op, 1);
        break;
    }
    case 13: { /* TEST reg, reg (85): AF undefined */
        u8 op = 0x85;
        rex_modrm(g, w, a, b, false, &op, 1);
        def = ALL & ~AF;
        undef = AF;
        break;
    }
    case 14: { /* 16-bit ALU (66 prefix): add/sub/xor keep bits 63:16 */
        static const u8 ops[3] = { 0x01, 0x29, 0x31 };
        unsigned o = pick(3);
        *g->p++ = 0x66;
        rex_modrm(g, false, b, a, false, &ops[o], 1);
        def = o == 2 ? ALL & ~AF : ALL;
        undef = o == 2 ? AF : 0;
        break;
    }
    case 15: { /* 8-bit ALU with REX (low bytes): add adc sub */
        static const u8 ops[3] = { 0x00, 0x10, 0x28 };
        unsigned o = pick(3);
        reads = o == 1 ? CF : 0;
        rex_modrm(g, false, b, a, true, &ops[o], 1);
        def = ALL;
        break;
    }
    case 16: { /* ALU with memory: op [r10+d8], reg (01..39) or reg, [r10+d8] (03..3b) */
        static const u8 ops[8] = { 0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39 };
        unsigned o = pick(8);
        u8 op = (u8)(ops[o] + ((rnd() & 1) ? 2 : 0));
        reads = (o == 2 || o == 3) ? CF : 0;
        def = (o == 1 || o == 4 || o == 6) ? ALL & ~AF : ALL;
        undef = (o == 1 || o == 4 || o == 6) ? AF : 0;
        *g->p++ = (u8)(0x41 | (w ? 8 : 0) | (a & 8 ? 4 : 0)); /* REX.B: r10 */
        *g->p++ = op;
        *g->p++ = (u8)(0x42 | (a & 7) << 3);                  /* mod 01, rm r10 */
        *g->p++ = (u8)pick(MEM_SIZE - 8); /* disp8 is signed: keep < 128 */
        break;
    }
    case 17: { /* MOV / XCHG / XADD / CMPXCHG with memory */
        static const u8 ops[4][2] = { { 0x89, 0 }, { 0x8b, 0 }, { 0x87, 0 }, { 0x0f, 0xc1 } };
        unsigned o = pick(5);
        *g->p++ = (u8)(0x41 | (w ? 8 : 0) | (a & 8 ? 4 : 0));
        if (o == 4) {            /* cmpxchg [r10+d8], reg: flags as CMP rax */
            *g->p++ = 0x0f;
            *g->p++ = 0xb1;
            def = ALL;
        } else {
            *g->p++ = ops[o][0];
            if (ops[o][1])
                *g->p++ = ops[o][1];
            if (o == 3)
                def = ALL;       /* xadd: flags as ADD */
        }
        *g->p++ = (u8)(0x42 | (a & 7) << 3);
        *g->p++ = (u8)pick(MEM_SIZE - 8); /* disp8 is signed: keep < 128 */
        break;
    }
    case 18: { /* INC/DEC/NOT/NEG [r10+d8], and shifts of memory by 1 (D1 /n) */
        unsigned o = pick(5);
        *g->p++ = (u8)(0x41 | (w ? 8 : 0));
        if (o < 4) {
            *g->p++ = o < 2 ? 0xff : 0xf7;
            *g->p++ = (u8)(0x42 | (o < 2 ? o : o) << 3);
            def = o < 2 ? ALL & ~CF : o == 2 ? 0 : ALL;
        } else {                 /* shl [mem], 1: OF defined, AF not */
            *g->p++ = 0xd1;
            *g->p++ = (u8)(0x42 | 4 << 3);
            def = CF | OF | SF | ZF | PF;
            undef = AF;
        }
        *g->p++ = (u8)pick(MEM_SIZE - 8); /* disp8 is signed: keep < 128 */
        break;
    }
    case 19: { /* PUSH a; POP b (one unit, so a trace never splits them) */
        if (a & 8)
            *g->p++ = 0x41;
        *g->p++ = (u8)(0x50 + (a & 7));
        if (b & 8)
            *g->p++ = 0x41;
        *g->p++ = (u8)(0x58 + (b & 7));
        break;
    }
    case 20: { /* 8/16-bit shifts and rotates by imm8 (C0 /n ib, 66 C1 /n ib) */
        static const unsigned ext[7] = { 0, 1, 2, 3, 4, 5, 7 };
        unsigned o = ext[pick(7)], bits = (rnd() & 1) ? 16 : 8;
        u8 cnt = (u8)pick(40), op = bits == 8 ? 0xc0 : 0xc1;
        unsigned c = cnt & 31;
        if (bits == 16)
            *g->p++ = 0x66;
        reads = (o == 2 || o == 3) ? CF : 0;
        rex_modrm(g, false, o, a, bits == 8, &op, 1);
        *g->p++ = cnt;
        if (c) {
            if (o <= 3) {
                def = c == 1 ? CF | OF : CF;
                undef = c == 1 ? 0 : OF;
            } else {
                /* SHL/SHR: CF undefined once the count reaches the size. */
                bool cf_ok = o == 7 || c < bits;
                def = SF | ZF | PF | (cf_ok ? CF : 0) | (c == 1 ? OF : 0);
                undef = AF | (cf_ok ? 0 : CF) | (c == 1 ? 0 : OF);
            }
        }
        break;
    }
    case 21: { /* 8-bit ALU without REX: AL..BL and AH..BH */
        static const u8 ops[4] = { 0x00, 0x28, 0x30, 0x88 }; /* add sub xor mov */
        unsigned o = pick(4);
        *g->p++ = ops[o];
        *g->p++ = (u8)(0xc0 | pick(8) << 3 | pick(8));
        def = o == 3 ? 0 : o == 2 ? ALL & ~AF : ALL;
        undef = o == 2 ? AF : 0;
        break;
    }
    case 22: { /* BSF/BSR of a non-zero source (mov $imm, b first) */
        u8 rex = 0x40 | (b & 8 ? 1 : 0);
        if (rex != 0x40)
            *g->p++ = rex;
        *g->p++ = (u8)(0xb8 + (b & 7));
        u32 imm = (u32)rnd() | (1u << pick(32));
        for (int i = 0; i < 4; i++)
            *g->p++ = (u8)(imm >> (8 * i));
        u8 op[2] = { 0x0f, (u8)((rnd() & 1) ? 0xbc : 0xbd) };
        rex_modrm(g, w, a, b, false, op, 2);
        def = ZF;
        undef = CF | OF | SF | AF | PF;
        break;
    }
    case 23: { /* MOVSXD, CBW/CWDE/CDQE, CWD/CDQ/CQO */
        unsigned o = pick(3);
        if (o == 0) {
            u8 op = 0x63;
            rex_modrm(g, true, a, b, false, &op, 1);
        } else {
            unsigned sz = pick(3);              /* 16, 32, 64 */
            if (sz == 0)
                *g->p++ = 0x66;
            else if (sz == 2)
                *g->p++ = 0x48;
            *g->p++ = o == 1 ? 0x98 : 0x99;
        }
        break;
    }
    case 24: { /* DIV r by a non-zero divisor with RDX = 0: mov $imm, d;
                * xor %edx, %edx; div d. All flags undefined after. */
        static const u8 divs[6] = { 1, 3, 6, 7, 8, 9 };   /* not rax, rdx */
        unsigned d = divs[pick(6)];
        u8 rex = 0x40 | (d & 8 ? 1 : 0);
        if (rex != 0x40)
            *g->p++ = rex;
        *g->p++ = (u8)(0xb8 + (d & 7));
        u32 imm = (u32)rnd() | 1;
        for (int i = 0; i < 4; i++)
            *g->p++ = (u8)(imm >> (8 * i));
        *g->p++ = 0x31;                           /* xor %edx, %edx */
        *g->p++ = 0xd2;
        u8 op = 0xf7;
        rex_modrm(g, w, 6, d, false, &op, 1);     /* div */
        undef = ALL;
        break;
    }
    case 25: { /* REP STOSB / MOVSB inside the buffer (DF=0: not in ALL) */
        unsigned n = 1 + pick(40), o1 = pick(MEM_SIZE - 48), o2 = pick(MEM_SIZE - 48);
        /* lea o2(%r10), %rdi */
        *g->p++ = 0x49; *g->p++ = 0x8d; *g->p++ = 0x7a; *g->p++ = (u8)o2;
        *g->p++ = 0xb9;                           /* mov $n, %ecx */
        for (int i = 0; i < 4; i++)
            *g->p++ = (u8)(n >> (8 * i));
        if (rnd() & 1) {
            *g->p++ = 0xf3;                       /* rep stosb */
            *g->p++ = 0xaa;
        } else {
            /* lea o1(%r10), %rsi; rep movsb (overlap allowed: byte order) */
            *g->p++ = 0x49; *g->p++ = 0x8d; *g->p++ = 0x72; *g->p++ = (u8)o1;
            *g->p++ = 0xf3;
            *g->p++ = 0xa4;
        }
        break;
    }
    case 26: { /* REPE CMPSB / REPNE SCASB with n >= 1: flags of the last compare */
        unsigned n = 1 + pick(40), o1 = pick(MEM_SIZE - 48), o2 = pick(MEM_SIZE - 48);
        *g->p++ = 0x49; *g->p++ = 0x8d; *g->p++ = 0x7a; *g->p++ = (u8)o2;
        *g->p++ = 0xb9;
        for (int i = 0; i < 4; i++)
            *g->p++ = (u8)(n >> (8 * i));
        if (rnd() & 1) {
            *g->p++ = 0x49; *g->p++ = 0x8d; *g->p++ = 0x72; *g->p++ = (u8)o1;
            *g->p++ = 0xf3;                       /* repe cmpsb */
            *g->p++ = 0xa6;
        } else {
            *g->p++ = 0xf2;                       /* repne scasb (AL) */
            *g->p++ = 0xae;
        }
        def = ALL;
        break;
    }
    default: { /* MOV reg, imm64 / imm32 */
        u8 rex = 0x40 | (w ? 8 : 0) | (a & 8 ? 1 : 0);
        if (rex != 0x40)
            *g->p++ = rex;
        *g->p++ = (u8)(0xb8 + (a & 7));
        u64 imm = rnd();
        for (unsigned i = 0; i < (w ? 8u : 4u); i++)
            *g->p++ = (u8)(imm >> (8 * i));
        break;
    }
    }
    if (reads & g->undef) {
        g->p = start; /* would read an undefined flag: try another */
        return false;
    }
    g->undef = (g->undef & ~def) | undef;
    return true;
}

static u64 fnv(u64 h, u64 v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static u8 code[4096] __aligned(4096);
static u8 mem_init[MEM_SIZE], mem1[MEM_SIZE], mem2[MEM_SIZE];

/* The number after "key=" on the command line, or -1. */
static int cmd_num(const char *key)
{
    const char *c = cmdline();
    size_t k = strlen(key);
    for (; *c; c++) {
        if ((c == cmdline() || c[-1] == ' ') && !strncmp(c, key, k) && c[k] == '=') {
            int v = 0;
            for (c += k + 1; *c >= '0' && *c <= '9'; c++)
                v = v * 10 + (*c - '0');
            return v;
        }
    }
    return -1;
}

static void trace_seq(struct gen *g, const struct regs *init)
{
    for (int k = 1; k <= SEQ_LEN; k++) {
        u8 saved = *g->insn[k];
        *g->insn[k] = 0xc3;
        struct regs r = *init;
        memcpy(mem1, mem_init, MEM_SIZE);
        r.mem = (u64)mem1;
        gen_run(&r, code);
        *g->insn[k] = saved;
        printf("  insn %2d:", k - 1);
        for (u8 *b = g->insn[k - 1]; b < g->insn[k]; b++)
            printf(" %02x", *b);
        printf("\n   ");
        for (int i = 0; i < 8; i++)
            printf(" %lx", r.r[i]);
        u64 mh = 0xcbf29ce484222325ull;
        for (int i = 0; i < MEM_SIZE; i += 8)
            mh = fnv(mh, *(u64 *)(mem1 + i));
        printf(" fl %lx mem %08x\n", r.flags & ALL & ~g->undef_after[k],
               (u32)(mh ^ (mh >> 32)));
    }
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    rng = 0x2545f4914f6cdd1dull;
    int trace_line = cmd_num("trace"), trace_s = cmd_num("seq");
    for (int line = 0; line < LINES; line++) {
        u64 h = 0xcbf29ce484222325ull;
        unsigned bad = 0;
        for (int s = 0; s < PER_LINE; s++) {
            struct gen g = { .p = code };
            for (int i = 0; i < SEQ_LEN;) {
                g.insn[i] = g.p;
                if (gen_one(&g))
                    g.undef_after[++i] = g.undef;
            }
            g.insn[SEQ_LEN] = g.p;
            *g.p++ = 0xc3;
            struct regs init, r1, r2;
            for (int i = 0; i < 8; i++)
                init.r[i] = rnd();
            init.flags = X86_EFLAGS_FIXED | (rnd() & ALL);
            for (int i = 0; i < MEM_SIZE; i += 8)
                *(u64 *)(mem_init + i) = rnd();
            /* Both runs use the same buffer (string ops leave addresses in
             * registers): run, keep the result in mem2, reset, run again. */
            memcpy(mem1, mem_init, MEM_SIZE);
            r1 = init;
            r1.mem = (u64)mem1;
            gen_run(&r1, code);
            memcpy(mem2, mem1, MEM_SIZE);
            memcpy(mem1, mem_init, MEM_SIZE);
            r2 = init;
            r2.mem = (u64)mem1;
            gen_run(&r2, code);
            u64 mask = ALL & ~g.undef;
            bool same = (r1.flags & mask) == (r2.flags & mask);
            for (int i = 0; i < 8; i++) {
                same &= r1.r[i] == r2.r[i];
                h = fnv(h, r1.r[i]);
            }
            h = fnv(h, r1.flags & mask);
            same &= !memcmp(mem1, mem2, MEM_SIZE);
            for (int i = 0; i < MEM_SIZE; i += 8)
                h = fnv(h, *(u64 *)(mem2 + i));
            if (line == trace_line && trace_s < 0)
                printf("  seq %d: %08x\n", s, (u32)(h ^ (h >> 32)));
            if (line == trace_line && s == trace_s)
                trace_seq(&g, &init);
            if (!same && bad++ == 0)
                printf("  line %d seq %d: second run differs\n", line, s);
        }
        report(!bad, "random block %d: %d sequences, hash %08x", line, PER_LINE,
               (u32)(h ^ (h >> 32)));
    }
    return report_summary();
}
