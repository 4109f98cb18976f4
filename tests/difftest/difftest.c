/* difftest.c: differential testing of pinvm's CPU against the host CPU.
 *
 * A generator builds a random sequence of 1..8 instructions from the
 * integer encodings pinvm implements (ALU, shifts/rotates, SHLD/SHRD,
 * MUL/IMUL/DIV/IDIV, bit ops, BSF/BSR/POPCNT/LZCNT/TZCNT, MOV/MOVZX/MOVSX/
 * MOVSXD/LEA/XCHG/XADD/CMPXCHG/BSWAP, SETcc/CMOVcc/Jcc, CBW..CQO, LAHF/
 * SAHF, CLC/STC/CMC, PUSH/POP, MOVS/STOS/LODS/CMPS/SCAS with and without
 * REP/REPE/REPNE), in every operand size, register and
 * memory forms, with random registers, flags and data memory. Each case
 * runs
 *   - natively, in a forked child: the code is copied to an executable
 *     page at the same address pinvm uses (H_CODE), the data page is at
 *     H_DATA, a trampoline loads all 16 registers and RFLAGS and jumps in;
 *     the sequence ends in INT3, and the SIGTRAP (or the SIGFPE/SIGSEGV/
 *     SIGILL of a fault) handler, on its own stack, reads every register
 *     from the signal context and copies the data page to shared memory;
 *   - in pinvm's CPU (tests/unit/cpu_harness.h, 64-bit mode, CPL0), where
 *     the sequence ends in HLT and a fault goes to the harness's stub;
 * and the 16 registers, RIP, the arithmetic flags and DF, the data page and
 * the exception vector are compared. RSP and RSI are reserved: RSI is the
 * base of every memory operand, RSP points into the data page (PUSH/POP).
 *
 * Flags: the generator tracks which arithmetic flags the SDM leaves
 * undefined after each instruction (the table entries below cite the SDM
 * Vol 2 instruction pages); only those are masked. An instruction that
 * reads flags never reads an undefined one: the generator first emits a
 * CMP, which defines all six.
 *
 *   difftest [-n N] [-s SEED] [-c CASE] [-v] [--regress FILE]
 *
 * Case k of seed s is generated from (s, k) alone, so a failure prints a
 * one-line reproducer `difftest -s S -c K` plus the bytes. With no
 * arguments (as the suite runs it, $(BUILD)/tests/test_difftest) it runs
 * DT_DEFAULT_N cases of seed 1 and the regression file; the last line is
 * "N passed, M failed". */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <cpuid.h>
#include <ucontext.h>
#include <unistd.h>

#include "cpu_harness.h"

#if !defined(__x86_64__) || !defined(__linux__)
int main(void)
{
    printf("difftest: needs an x86-64 Linux host; skipped\n0 passed, 0 failed\n");
    return 0;
}
#else

#define DT_DEFAULT_N 2000
#define DATA_SIZE 4096
#define STACK_TOP (H_DATA + 0xc00)
#define MAX_INSNS 8
#define CODE_MAX 256

/* ---- random numbers ---------------------------------------------------- */

static uint64_t rng;
static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

/* Operand values: edge values a quarter of the time. */
static uint64_t rvalue(void)
{
    static const uint64_t edge[] = {
        0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
        0x80000000, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull,
        0x8000000000000000ull, ~0ull, ~1ull };
    uint64_t x = rnd();
    switch (x & 7) {
    case 0: case 1: return edge[(x >> 8) % (sizeof edge / sizeof edge[0])];
    case 2: return (x >> 8) & 0xff;
    case 3: return (uint64_t)(int64_t)(int8_t)(x >> 8);
    default: return rnd();
    }
}

/* ---- the generator ------------------------------------------------------ */

#define FL_ALL (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define FL_CMP (FL_ALL | F_DF)  /* compared: arithmetic flags and DF */

struct gen {
    uint8_t code[CODE_MAX];
    int n;                 /* bytes so far */
    int ninsn;
    int off[MAX_INSNS * 3 + 2];      /* start of each instruction */
    uint32_t undef_before[MAX_INSNS * 3 + 2];
    uint32_t undef;        /* flags undefined now */
    char text[512];        /* mnemonic list, for reports */
};

static void emit(struct gen *g, uint8_t b) { g->code[g->n++] = b; }
static void emit32(struct gen *g, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        emit(g, (uint8_t)(v >> 8 * k));
}
static void note(struct gen *g, const char *s)
{
    size_t l = strlen(g->text);
    snprintf(g->text + l, sizeof g->text - l, "%s%s", l ? "; " : "", s);
}
static void begin(struct gen *g)
{
    g->off[g->ninsn] = g->n;
    g->undef_before[g->ninsn] = g->undef;
    g->ninsn++;
}

/* Writable registers: all but RSP (4) and RSI (6). */
static int rdst(void)
{
    static const int r[] = { 0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    return r[rn(14)];
}
static int rsrc(void) { return (int)rn(16); }
static int rsize(void)
{
    static const int s[] = { 1, 2, 4, 8 };
    return s[rn(4)];
}

/* One ModRM instruction: size (1: byte opcode opc8, else opc+0x66/REX.W),
 * reg field (register number or /digit), and either a register rm (>=0)
 * or a memory operand [rsi+disp] (rm = -1). Byte registers 4..7: without
 * REX they are AH..BH; the generator uses that form only with legacy
 * registers (nolegacy8 = 0 and both < 8), else it emits a REX so they are
 * SPL..DIL (SPL/SIL never as destinations: see rdst). */
struct modrm_op {
    int size;
    const uint8_t *opc;   /* opcode bytes (after prefixes/REX) */
    int nopc;
    int reg, rm;          /* rm < 0: memory */
    int imm_bytes;
    uint64_t imm;
    bool legacy8;         /* byte registers without REX (AH..BH) */
};

static void emit_modrm(struct gen *g, const struct modrm_op *o)
{
    int rex = 0;
    if (o->size == 2)
        emit(g, 0x66);
    if (o->size == 8)
        rex |= 0x48;
    if (o->reg & 8)
        rex |= 0x44;
    if (o->rm >= 0 && (o->rm & 8))
        rex |= 0x41;
    if (o->size == 1 && !o->legacy8)
        rex |= 0x40;
    if (rex)
        emit(g, (uint8_t)rex);
    for (int k = 0; k < o->nopc; k++)
        emit(g, o->opc[k]);
    if (o->rm >= 0) {
        emit(g, (uint8_t)(0xc0 | (o->reg & 7) << 3 | (o->rm & 7)));
    } else {
        /* [rsi + disp8] or [rsi + disp32]: RSI points at H_DATA+0x400..0x4ff */
        int disp = (int)rn(512) - 256;
        if (disp >= -128 && disp < 128 && rn(2)) {
            emit(g, (uint8_t)(0x40 | (o->reg & 7) << 3 | 6));
            emit(g, (uint8_t)disp);
        } else {
            emit(g, (uint8_t)(0x80 | (o->reg & 7) << 3 | 6));
            emit32(g, (uint32_t)disp);
        }
    }
    for (int k = 0; k < o->imm_bytes; k++)
        emit(g, (uint8_t)(o->imm >> 8 * k));
}

static const char *szname(int size)
{
    return size == 1 ? "b" : size == 2 ? "w" : size == 4 ? "l" : "q";
}

/* Flags an instruction reads: make sure none is undefined. CMP r,r defines
 * all six (SDM Vol 2A, CMP: "The CF, OF, SF, ZF, AF, and PF flags are set
 * according to the result"). */
static void need_flags(struct gen *g, uint32_t reads)
{
    if (!(g->undef & reads))
        return;
    begin(g);
    struct modrm_op o = { .size = 8, .opc = (const uint8_t[]){ 0x39 }, .nopc = 1,
                          .reg = rsrc(), .rm = rsrc() };
    emit_modrm(g, &o);
    g->undef = 0;
    note(g, "cmp");
}

/* Flags a condition code reads (SDM Vol 1, Appendix B). */
static uint32_t cc_reads(int cc)
{
    static const uint32_t r[8] = { F_OF, F_CF, F_ZF, F_CF | F_ZF, F_SF, F_PF,
                                   F_SF | F_OF, F_ZF | F_SF | F_OF };
    return r[(cc >> 1) & 7];
}

/* After an instruction: `defined` flags now have a defined value, `undef`
 * flags are undefined (SDM), others unchanged. */
static void flags_after(struct gen *g, uint32_t defined, uint32_t undef)
{
    g->undef = (g->undef & ~defined) | undef;
}

static void gen_one(struct gen *g, int depth);

static void gen_alu(struct gen *g)
{
    /* ADD OR ADC SBB AND SUB XOR CMP (SDM Vol 2A: ADD, OR, ADC, SBB, AND,
     * SUB, XOR, CMP): arithmetic ones define all six flags; logic ones
     * clear OF/CF, set SF/ZF/PF, and leave AF undefined. */
    int op = (int)rn(8), size = rsize(), form = (int)rn(4);
    char t[64];
    if (op == 2 || op == 3)
        need_flags(g, F_CF);
    begin(g);
    struct modrm_op o = { .size = size, .reg = 0, .rm = rdst() };
    uint8_t opc[1];
    o.opc = opc;
    o.nopc = 1;
    o.legacy8 = size == 1 && rn(4) == 0;
    if (form == 0 || form == 1) {          /* r/m, reg  or  reg, r/m */
        opc[0] = (uint8_t)(op << 3 | (form ? 2 : 0) | (size > 1));
        o.reg = form ? rdst() : rsrc();
        o.rm = form ? rsrc() : rdst();
        if (rn(3) == 0)
            o.rm = -1;
    } else {                               /* 80/81/83 /op imm */
        o.reg = op;
        if (rn(4) == 0)
            o.rm = -1;
        if (size == 1) {
            opc[0] = 0x80;
            o.imm_bytes = 1;
        } else if (form == 2) {
            opc[0] = 0x83;
            o.imm_bytes = 1;
        } else {
            opc[0] = 0x81;
            o.imm_bytes = size == 2 ? 2 : 4;
        }
        o.imm = rvalue();
    }
    if (o.legacy8) {
        o.reg &= 7;
        if (o.rm >= 0)
            o.rm &= 7;
    }
    emit_modrm(g, &o);
    static const char *nm[] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
    snprintf(t, sizeof t, "%s%s", nm[op], szname(size));
    note(g, t);
    bool logic = op == 1 || op == 4 || op == 6;
    flags_after(g, logic ? FL_ALL & ~F_AF : FL_ALL, logic ? F_AF : 0);
}

static void gen_unary(struct gen *g)
{
    /* INC DEC (FE/FF /0 /1: CF unaffected, others defined), NOT NEG
     * (F6/F7 /2 /3: NOT affects no flags; NEG defines all six). */
    static const struct { uint8_t opc8, digit; const char *nm; } t[] = {
        { 0xfe, 0, "inc" }, { 0xfe, 1, "dec" }, { 0xf6, 2, "not" }, { 0xf6, 3, "neg" } };
    int k = (int)rn(4), size = rsize();
    begin(g);
    uint8_t opc = (uint8_t)(t[k].opc8 | (size > 1));
    struct modrm_op o = { .size = size, .opc = &opc, .nopc = 1, .reg = t[k].digit,
                          .rm = rn(4) ? rdst() : -1 };
    emit_modrm(g, &o);
    note(g, t[k].nm);
    if (k < 2)
        flags_after(g, FL_ALL & ~F_CF, 0);
    else if (k == 3)
        flags_after(g, FL_ALL, 0);
}

static void gen_shift(struct gen *g)
{
    /* ROL ROR RCL RCR SHL SHR SAR (C0/C1 imm8, D0/D1 by 1, D2/D3 by CL).
     * SDM Vol 2B "RCL/RCR/ROL/ROR": count masked to 5 bits (6 with REX.W);
     * a masked count of 0 affects no flags; only CF and OF are affected, OF
     * only defined for a count of 1. "SAL/SAR/SHL/SHR": count 0 affects no
     * flags; CF undefined for SHL/SHR when count >= operand size; OF
     * defined only for a count of 1; AF undefined for a non-zero count;
     * SF/ZF/PF defined. */
    int digit = (int)rn(7), size = rsize(), form = (int)rn(3);
    if (digit == 6)
        digit = 7;
    unsigned count;
    if (form == 1) {
        count = 1;
    } else {
        count = rn(3) ? rn(size * 8 + 2) : (unsigned)rnd() & 0xff;
    }
    if (digit == 2 || digit == 3)
        need_flags(g, F_CF);
    if (form == 2) {               /* mov $count, %cl: B1 ib */
        begin(g);
        emit(g, 0xb1);
        emit(g, (uint8_t)count);
        note(g, "movb cl");
    }
    begin(g);
    uint8_t opc = (uint8_t)((form == 0 ? 0xc0 : form == 1 ? 0xd0 : 0xd2) | (size > 1));
    struct modrm_op o = { .size = size, .opc = &opc, .nopc = 1, .reg = digit,
                          .rm = rn(4) ? rdst() : -1 };
    if (o.rm == 1 && form == 2)
        o.rm = 0;                  /* keep the count register intact */
    if (form == 0) {
        o.imm_bytes = 1;
        o.imm = count;
    }
    emit_modrm(g, &o);
    static const char *nm[] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "", "sar" };
    char t[32];
    snprintf(t, sizeof t, "%s%s $%u", nm[digit], szname(size), count);
    note(g, t);
    unsigned m = count & (size == 8 ? 63 : 31);
    if (m == 0)
        return;
    if (digit < 4) {
        flags_after(g, F_CF | (m == 1 ? F_OF : 0), m == 1 ? 0 : F_OF);
    } else {
        uint32_t u = F_AF | (m == 1 ? 0 : F_OF);
        if (digit != 7 && m >= (unsigned)size * 8)
            u |= F_CF;
        flags_after(g, FL_ALL & ~u, u);
    }
}

static void gen_shxd(struct gen *g)
{
    /* SHLD/SHRD (0F A4/AC imm8, 0F A5/AD CL), SDM Vol 2B "SHLD"/"SHRD":
     * count masked to 5 bits (6 with REX.W); count 0: nothing changes; a
     * count greater than the operand size makes result and flags
     * undefined (the generator avoids it); CF defined; OF defined only for
     * a count of 1; AF undefined; SF/ZF/PF defined. */
    int size = 2 << rn(3), right = (int)rn(2), cl = (int)rn(2);
    unsigned count = rn(size * 8 + 1);
    if (size == 2 && rn(2))
        count = rn(17);
    if (cl) {
        begin(g);
        emit(g, 0xb1);
        /* bits above the mask must be ignored */
        emit(g, (uint8_t)(count | (size != 8 && rn(2) ? 0xc0 : 0)));
        note(g, "movb cl");
    }
    begin(g);
    uint8_t opc[2] = { 0x0f, (uint8_t)((right ? 0xac : 0xa4) | cl) };
    struct modrm_op o = { .size = size, .opc = opc, .nopc = 2, .reg = rsrc(),
                          .rm = rn(4) ? rdst() : -1 };
    if (o.rm == 1 && cl)
        o.rm = 0;
    if (!cl) {
        o.imm_bytes = 1;
        o.imm = count | (size != 8 && rn(2) ? 0xc0 : 0);
    }
    emit_modrm(g, &o);
    char t[32];
    snprintf(t, sizeof t, "sh%sd%s $%u", right ? "r" : "l", szname(size), count);
    note(g, t);
    unsigned m = count & (size == 8 ? 63 : 31);
    if (m == 0)
        return;
    uint32_t u = F_AF | (m == 1 ? 0 : F_OF);
    flags_after(g, FL_ALL & ~u, u);
}

static void gen_muldiv(struct gen *g)
{
    /* MUL/IMUL (F6/F7 /4 /5), IMUL r,r/m (0F AF), IMUL r,r/m,imm (69/6B):
     * SDM Vol 2A "MUL"/"IMUL": CF and OF defined, SF ZF AF PF undefined.
     * DIV/IDIV (/6 /7): all six undefined ("DIV"/"IDIV": "The CF, OF, SF,
     * ZF, AF, and PF flags are undefined"); #DE on overflow or zero. */
    int kind = (int)rn(5), size = rsize();
    char t[32];
    if (kind >= 3) {               /* DIV/IDIV: sometimes clear RDX first */
        if (rn(2)) {
            begin(g);
            emit(g, 0x31);
            emit(g, 0xd2);         /* xor %edx,%edx */
            note(g, "xor edx");
            flags_after(g, FL_ALL & ~F_AF, F_AF);
        }
    }
    begin(g);
    if (kind == 0 || kind >= 3) {
        uint8_t opc = (uint8_t)(0xf6 | (size > 1));
        int digit = kind == 0 ? 4 + (int)rn(2) : 6 + (kind - 3);
        struct modrm_op o = { .size = size, .opc = &opc, .nopc = 1, .reg = digit,
                              .rm = rn(4) ? rsrc() : -1 };
        emit_modrm(g, &o);
        static const char *nm[] = { "", "", "", "", "mul", "imul", "div", "idiv" };
        snprintf(t, sizeof t, "%s%s", nm[digit], szname(size));
        flags_after(g, digit < 6 ? F_CF | F_OF : 0,
                    digit < 6 ? F_SF | F_ZF | F_AF | F_PF : FL_ALL);
    } else if (kind == 1) {
        if (size == 1)
            size = 4;
        uint8_t opc[2] = { 0x0f, 0xaf };
        struct modrm_op o = { .size = size, .opc = opc, .nopc = 2, .reg = rdst(),
                              .rm = rn(4) ? rsrc() : -1 };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "imul2%s", szname(size));
        flags_after(g, F_CF | F_OF, F_SF | F_ZF | F_AF | F_PF);
    } else {
        if (size == 1)
            size = 8;
        uint8_t opc = rn(2) ? 0x69 : 0x6b;
        struct modrm_op o = { .size = size, .opc = &opc, .nopc = 1, .reg = rdst(),
                              .rm = rn(4) ? rsrc() : -1,
                              .imm_bytes = opc == 0x6b ? 1 : size == 2 ? 2 : 4,
                              .imm = rvalue() };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "imul3%s", szname(size));
        flags_after(g, F_CF | F_OF, F_SF | F_ZF | F_AF | F_PF);
    }
    note(g, t);
}

/* Host features the generator relies on: without them the host runs
 * F3 0F BC/BD as BSF/BSR and F3 0F B8 is #UD. */
static bool host_lzcnt, host_tzcnt, host_popcnt;
static void host_features(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d))
        host_popcnt = c >> 23 & 1;
    if (__get_cpuid(0x80000001, &a, &b, &c, &d))
        host_lzcnt = c >> 5 & 1;   /* ABM/LZCNT */
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
        host_tzcnt = b >> 3 & 1;   /* BMI1 */
}

static void gen_bits(struct gen *g)
{
    /* BT/BTS/BTR/BTC (0F A3/AB/B3/BB reg, 0F BA /4-7 imm8), register
     * destination only (a memory bit string would reach outside the data
     * page): SDM Vol 2A "BT": CF defined, ZF unaffected, OF SF AF PF
     * undefined. BSF/BSR (0F BC/BD): ZF defined, the others undefined, and
     * the destination undefined for a zero source, so the source gets a
     * set bit first (BTS imm). POPCNT (F3 0F B8): all six defined (cleared
     * but ZF). LZCNT/TZCNT (F3 0F BD/BC): CF ZF defined, OF SF PF AF
     * undefined. */
    int kind = (int)rn(5), size = 2 << rn(3);
    char t[32];
    uint8_t opc[3] = { 0x0f, 0, 0 };
    if (kind == 0 || kind == 1) {
        int bt = (int)rn(4);
        begin(g);
        struct modrm_op o = { .size = size, .opc = opc, .nopc = 2, .rm = rdst() };
        if (kind == 0) {
            opc[1] = (uint8_t)(0xa3 | bt << 3);
            o.reg = rsrc();
        } else {
            opc[1] = 0xba;
            o.reg = 4 + bt;
            o.imm_bytes = 1;
            o.imm = rnd() & 0xff;
        }
        emit_modrm(g, &o);
        static const char *nm[] = { "bt", "bts", "btr", "btc" };
        snprintf(t, sizeof t, "%s%s", nm[bt], szname(size));
        note(g, t);
        flags_after(g, F_CF, F_OF | F_SF | F_AF | F_PF);
        return;
    }
    int src = rdst();
    if (kind == 2) {               /* bts $k, src; bsf/bsr src, dst */
        begin(g);
        struct modrm_op o = { .size = size, .opc = (const uint8_t[]){ 0x0f, 0xba }, .nopc = 2,
                              .reg = 5, .rm = src, .imm_bytes = 1,
                              .imm = rn(size * 8) };
        emit_modrm(g, &o);
        note(g, "bts");
        flags_after(g, F_CF, F_OF | F_SF | F_AF | F_PF);
        begin(g);
        opc[1] = rn(2) ? 0xbc : 0xbd;
        struct modrm_op p = { .size = size, .opc = opc, .nopc = 2, .reg = rdst(), .rm = src };
        emit_modrm(g, &p);
        note(g, opc[1] == 0xbc ? "bsf" : "bsr");
        flags_after(g, F_ZF, F_CF | F_OF | F_SF | F_AF | F_PF);
        return;
    }
    uint8_t op = kind == 3 ? 0xb8 : rn(2) ? 0xbc : 0xbd;
    if ((op == 0xb8 && !host_popcnt) || (op == 0xbc && !host_tzcnt) ||
        (op == 0xbd && !host_lzcnt)) {
        flags_after(g, 0, 0);      /* the host lacks it: emit nothing */
        return;
    }
    begin(g);
    emit(g, 0xf3);                 /* mandatory prefix before REX */
    opc[1] = op;
    struct modrm_op o = { .size = size, .opc = opc, .nopc = 2, .reg = rdst(),
                          .rm = rn(4) ? rsrc() : -1 };
    emit_modrm(g, &o);             /* F3 [66] [REX] 0F xx */
    snprintf(t, sizeof t, "%s%s", kind == 3 ? "popcnt" : opc[1] == 0xbc ? "tzcnt" : "lzcnt",
             szname(size));
    note(g, t);
    if (kind == 3)
        flags_after(g, FL_ALL, 0);
    else
        flags_after(g, F_CF | F_ZF, F_OF | F_SF | F_PF | F_AF);
}

static void gen_mov(struct gen *g)
{
    /* Moves and friends; none of these affects a flag except XADD and
     * CMPXCHG, which set all six like ADD and CMP (SDM Vol 2B "XADD",
     * Vol 2A "CMPXCHG"). */
    int kind = (int)rn(11), size = rsize();
    char t[32];
    begin(g);
    switch (kind) {
    case 0: {                      /* 88/89/8A/8B */
        int dir = (int)rn(2);
        uint8_t opc = (uint8_t)(0x88 | dir << 1 | (size > 1));
        struct modrm_op o = { .size = size, .opc = &opc, .nopc = 1,
                              .reg = dir ? rdst() : rsrc(), .rm = dir ? rsrc() : rdst() };
        if (rn(3) == 0)
            o.rm = -1;
        o.legacy8 = size == 1 && rn(4) == 0;
        if (o.legacy8) {           /* AL..BH: 4..7 are AH..BH, all writable */
            o.reg &= 7;
            if (o.rm >= 0)
                o.rm &= 7;
        }
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "mov%s", szname(size));
        break;
    }
    case 1: {                      /* B8+r imm (movabs with REX.W), C7 /0 */
        int r = rdst();
        if (rn(2)) {
            if (size == 8)
                emit(g, (uint8_t)(0x48 | (r >> 3)));
            else if (size == 2)
                emit(g, 0x66);
            if (size != 8 && (r & 8))
                emit(g, 0x41);
            if (size == 1) {
                /* B0+r: with a REX for r>=8, else legacy AL..BH (no SPL/SIL) */
                emit(g, (uint8_t)(0xb0 | (r & 7)));
                emit(g, (uint8_t)rnd());
            } else {
                emit(g, (uint8_t)(0xb8 | (r & 7)));
                uint64_t v = rvalue();
                for (int k = 0; k < size; k++)
                    emit(g, (uint8_t)(v >> 8 * k));
            }
        } else {
            uint8_t opc = (uint8_t)(0xc6 | (size > 1));
            struct modrm_op o = { .size = size, .opc = &opc, .nopc = 1, .reg = 0,
                                  .rm = rn(2) ? r : -1,
                                  .imm_bytes = size == 1 ? 1 : size == 2 ? 2 : 4,
                                  .imm = rvalue() };
            emit_modrm(g, &o);
        }
        snprintf(t, sizeof t, "movi%s", szname(size));
        break;
    }
    case 2: case 3: {              /* MOVZX/MOVSX 0F B6/B7/BE/BF */
        int w = (int)rn(2), dsize = 2 << rn(3);
        if (w && dsize == 2)
            dsize = 4;
        uint8_t opc[2] = { 0x0f, (uint8_t)((kind == 2 ? 0xb6 : 0xbe) | w) };
        struct modrm_op o = { .size = dsize, .opc = opc, .nopc = 2, .reg = rdst(),
                              .rm = rn(3) ? rsrc() : -1 };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "mov%cx%c%s", kind == 2 ? 'z' : 's', w ? 'w' : 'b', szname(dsize));
        break;
    }
    case 4: {                      /* MOVSXD 63 /r with REX.W */
        uint8_t opc = 0x63;
        struct modrm_op o = { .size = 8, .opc = &opc, .nopc = 1, .reg = rdst(),
                              .rm = rn(3) ? rsrc() : -1 };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "movsxd");
        break;
    }
    case 5: {                      /* LEA 8D: [rsi+disp] */
        if (size == 1)
            size = 8;
        uint8_t opc = 0x8d;
        struct modrm_op o = { .size = size, .opc = &opc, .nopc = 1, .reg = rdst(), .rm = -1 };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "lea%s", szname(size));
        break;
    }
    case 6: {                      /* XCHG 86/87 */
        uint8_t opc = (uint8_t)(0x86 | (size > 1));
        struct modrm_op o = { .size = size, .opc = &opc, .nopc = 1, .reg = rdst(),
                              .rm = rn(3) ? rdst() : -1 };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "xchg%s", szname(size));
        break;
    }
    case 7: {                      /* XADD 0F C0/C1 */
        uint8_t opc[2] = { 0x0f, (uint8_t)(0xc0 | (size > 1)) };
        struct modrm_op o = { .size = size, .opc = opc, .nopc = 2, .reg = rdst(),
                              .rm = rn(3) ? rdst() : -1 };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "xadd%s", szname(size));
        flags_after(g, FL_ALL, 0);
        break;
    }
    case 8: {                      /* CMPXCHG 0F B0/B1 */
        uint8_t opc[2] = { 0x0f, (uint8_t)(0xb0 | (size > 1)) };
        struct modrm_op o = { .size = size, .opc = opc, .nopc = 2, .reg = rsrc(),
                              .rm = rn(3) ? rdst() : -1 };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "cmpxchg%s", szname(size));
        flags_after(g, FL_ALL, 0);
        break;
    }
    case 9: {                      /* BSWAP 0F C8+r (32/64) */
        int r = rdst(), w = (int)rn(2);
        if (w || (r & 8))
            emit(g, (uint8_t)(0x40 | w << 3 | (r >> 3)));
        emit(g, 0x0f);
        emit(g, (uint8_t)(0xc8 | (r & 7)));
        snprintf(t, sizeof t, "bswap");
        break;
    }
    default: {                     /* CBW/CWDE/CDQE (98), CWD/CDQ/CQO (99) */
        int s = 2 << rn(3);
        if (s == 2)
            emit(g, 0x66);
        else if (s == 8)
            emit(g, 0x48);
        emit(g, rn(2) ? 0x98 : 0x99);
        snprintf(t, sizeof t, "cbw/cwd");
        break;
    }
    }
    note(g, t);
}

static void gen_cond(struct gen *g, int depth)
{
    /* SETcc (0F 90+cc), CMOVcc (0F 40+cc), Jcc rel8 (70+cc) over the next
     * instruction, LAHF/SAHF, CLC/STC/CMC: read flags, so defined first.
     * SAHF loads SF ZF AF PF CF from AH (SDM Vol 2B "SAHF"); CLC/STC/CMC
     * change only CF. */
    int kind = (int)rn(6), cc = (int)rn(16);
    char t[32];
    switch (kind) {
    case 0: {
        need_flags(g, cc_reads(cc));
        begin(g);
        struct modrm_op o = { .size = 1, .opc = (const uint8_t[]){ 0x0f, (uint8_t)(0x90 | cc) },
                              .nopc = 2, .reg = 0, .rm = rn(4) ? rdst() : -1 };
        o.legacy8 = rn(3) == 0;
        if (o.legacy8 && o.rm >= 0)
            o.rm &= 7;
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "set%x", cc);
        break;
    }
    case 1: {
        int size = 2 << rn(3);
        need_flags(g, cc_reads(cc));
        begin(g);
        struct modrm_op o = { .size = size, .opc = (const uint8_t[]){ 0x0f, (uint8_t)(0x40 | cc) },
                              .nopc = 2, .reg = rdst(), .rm = rn(4) ? rsrc() : -1 };
        emit_modrm(g, &o);
        snprintf(t, sizeof t, "cmov%x%s", cc, szname(size));
        break;
    }
    case 2: {
        if (depth > 0)
            return;
        need_flags(g, cc_reads(cc));
        begin(g);
        int at = g->n;
        emit(g, (uint8_t)(0x70 | cc));
        emit(g, 0);
        snprintf(t, sizeof t, "j%x", cc);
        note(g, t);
        uint32_t before = g->undef;
        gen_one(g, depth + 1);
        g->code[at + 1] = (uint8_t)(g->n - at - 2);
        g->undef |= before;        /* either path */
        return;
    }
    case 3:
        need_flags(g, F_SF | F_ZF | F_AF | F_PF | F_CF);
        begin(g);
        emit(g, 0x9f);
        snprintf(t, sizeof t, "lahf");
        break;
    case 4:
        begin(g);
        emit(g, 0x9e);
        snprintf(t, sizeof t, "sahf");
        flags_after(g, F_SF | F_ZF | F_AF | F_PF | F_CF, 0);
        break;
    default: {
        int k = (int)rn(3);
        if (k == 2)
            need_flags(g, F_CF);
        begin(g);
        emit(g, k == 0 ? 0xf8 : k == 1 ? 0xf9 : 0xf5);
        snprintf(t, sizeof t, "%s", k == 0 ? "clc" : k == 1 ? "stc" : "cmc");
        flags_after(g, F_CF, 0);
        break;
    }
    }
    note(g, t);
}

static void gen_stack(struct gen *g)
{
    /* PUSH/POP r64 (50+r/58+r), PUSH imm (6A/68), POP r/m (8F /0),
     * PUSH r/m (FF /6). No flags. */
    int kind = (int)rn(4), r = kind == 1 ? rdst() : rsrc();
    begin(g);
    switch (kind) {
    case 0: case 1:
        if (r & 8)
            emit(g, 0x41);
        emit(g, (uint8_t)((kind ? 0x58 : 0x50) | (r & 7)));
        note(g, kind ? "pop" : "push");
        break;
    case 2:
        if (rn(2)) {
            emit(g, 0x6a);
            emit(g, (uint8_t)rnd());
        } else {
            emit(g, 0x68);
            emit32(g, (uint32_t)rvalue());
        }
        note(g, "pushi");
        break;
    default: {
        struct modrm_op o = { .size = 4, .opc = (const uint8_t[]){ 0xff }, .nopc = 1,
                              .reg = 6, .rm = -1 };
        emit_modrm(g, &o);
        note(g, "push m");
        break;
    }
    }
}

static void gen_string(struct gen *g)
{
    /* MOVS STOS LODS CMPS SCAS (A4-AF), with or without REP/REPE/REPNE,
     * every operand size, DF as it comes: RDI = RSI + disp8 (LEA), ECX =
     * 0..4 (MOV), so both stay inside the data page (RSI drifts by at most
     * 32 bytes per op). CMPS/SCAS set all six flags like CMP when they
     * compare at least once (SDM Vol 2A "CMPS", Vol 2B "SCAS"); with a
     * count of 0 under REP nothing changes. The others change no flag. */
    static const uint8_t ops[5] = { 0xa4, 0xaa, 0xac, 0xa6, 0xae };
    int k = (int)rn(5), size = rsize(), rep = (int)rn(3);
    unsigned n = rn(5);
    bool cmp = k >= 3;
    begin(g);
    emit(g, 0x48);                 /* lea d8(%rsi), %rdi */
    emit(g, 0x8d);
    emit(g, 0x7e);
    emit(g, (uint8_t)(rn(256) - 128));
    note(g, "lea rdi");
    begin(g);
    emit(g, 0xb9);                 /* mov $n, %ecx */
    emit32(g, n);
    note(g, "mov ecx");
    begin(g);
    if (rep)
        emit(g, rep == 1 || !cmp ? 0xf3 : 0xf2);
    if (size == 2)
        emit(g, 0x66);
    else if (size == 8)
        emit(g, 0x48);
    emit(g, (uint8_t)(ops[k] | (size > 1)));
    static const char *nm[5] = { "movs", "stos", "lods", "cmps", "scas" };
    char t[32];
    snprintf(t, sizeof t, "%s%s%s", rep ? (cmp ? (rep == 1 ? "repe " : "repne ") : "rep ") : "",
             nm[k], szname(size));
    note(g, t);
    if (cmp && (!rep || n > 0))
        flags_after(g, FL_ALL, 0);
}

static void gen_one(struct gen *g, int depth)
{
    if (rn(14) == 0) {
        gen_string(g);
        return;
    }
    switch (rn(12)) {
    case 0: case 1: case 2: gen_alu(g); break;
    case 3: gen_unary(g); break;
    case 4: case 5: gen_shift(g); break;
    case 6: gen_shxd(g); break;
    case 7: gen_muldiv(g); break;
    case 8: gen_bits(g); break;
    case 9: case 10: gen_mov(g); break;
    default:
        if (rn(3))
            gen_cond(g, depth);
        else
            gen_stack(g);
        break;
    }
}

/* ---- a case: code + initial state -------------------------------------- */

struct state {
    uint64_t r[16];
    uint64_t rflags;
    uint64_t rip;
};

struct tcase {
    struct gen g;
    struct state in;
    uint8_t data[DATA_SIZE];
};

static void make_state(struct tcase *t)
{
    for (int r = 0; r < 16; r++)
        t->in.r[r] = rvalue();
    t->in.r[R_RSP] = STACK_TOP;
    t->in.r[R_RSI] = H_DATA + 0x400 + (rnd() & 0xff);
    t->in.rflags = 2 | (rnd() & (FL_ALL | F_DF));
    t->in.rip = H_CODE;
    for (int k = 0; k < DATA_SIZE; k += 8) {
        uint64_t v = rvalue();
        memcpy(t->data + k, &v, 8);
    }
}

static void make_case(struct tcase *t, uint64_t seed, uint64_t index)
{
    memset(t, 0, sizeof *t);
    rng = seed * 0x9e3779b97f4a7c15ull ^ (index + 1) * 0xd1b54a32d192ed03ull;
    int n = 1 + (int)rn(MAX_INSNS);
    for (int k = 0; k < n; k++)
        gen_one(&t->g, 0);
    make_state(t);
}

/* ---- native run ---------------------------------------------------------- */

struct result {
    uint64_t r[16];
    uint64_t rip, rflags;
    int vector;            /* -1: reached the end */
    int err_code;
    uint64_t frame_lo, frame_hi; /* pinvm: where the exception frame went */
    uint8_t data[DATA_SIZE];
};

static struct state nat_in;
__attribute__((visibility("hidden"))) uint64_t dt_target;
static struct result *shared_res;
static uint8_t *nat_code, *nat_data;
static long nat_code_len;

void dt_native_enter(struct state *s);
__asm__(".pushsection .text\n"
        ".globl dt_native_enter\n"
        "dt_native_enter:\n"
        "mov 128(%rdi), %rax\n push %rax\n popfq\n"
        "mov 136(%rdi), %rax\n mov %rax, dt_target(%rip)\n"
        "mov 0(%rdi), %rax\n mov 8(%rdi), %rcx\n mov 16(%rdi), %rdx\n"
        "mov 24(%rdi), %rbx\n mov 32(%rdi), %rsp\n mov 40(%rdi), %rbp\n"
        "mov 48(%rdi), %rsi\n mov 64(%rdi), %r8\n mov 72(%rdi), %r9\n"
        "mov 80(%rdi), %r10\n mov 88(%rdi), %r11\n mov 96(%rdi), %r12\n"
        "mov 104(%rdi), %r13\n mov 112(%rdi), %r14\n mov 120(%rdi), %r15\n"
        "mov 56(%rdi), %rdi\n"
        "jmp *dt_target(%rip)\n"
        ".popsection\n");

__attribute__((no_sanitize("address")))
static void copy_plain(uint8_t *d, const volatile uint8_t *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        d[k] = s[k];
}

static void nat_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)si;
    ucontext_t *uc = ctx;
    greg_t *gr = uc->uc_mcontext.gregs;
    struct result *r = shared_res;
    static const int map[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP,
                                 REG_RBP, REG_RSI, REG_RDI, REG_R8, REG_R9,
                                 REG_R10, REG_R11, REG_R12, REG_R13, REG_R14,
                                 REG_R15 };
    for (int k = 0; k < 16; k++)
        r->r[k] = (uint64_t)gr[map[k]];
    r->rip = (uint64_t)gr[REG_RIP];
    r->rflags = (uint64_t)gr[REG_EFL];
    r->vector = (int)gr[REG_TRAPNO];
    r->err_code = (int)gr[REG_ERR];
    if (sig == SIGTRAP && r->vector == 3)
        r->vector = -1, r->rip--;  /* our INT3: the end */
    copy_plain(r->data, nat_data, DATA_SIZE);
    _exit(0);
}

static int native_init(void)
{
    nat_code = mmap((void *)(uintptr_t)H_CODE, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    nat_data = mmap((void *)(uintptr_t)H_DATA, DATA_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    shared_res = mmap(NULL, sizeof *shared_res, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (nat_code != (void *)(uintptr_t)H_CODE || nat_data != (void *)(uintptr_t)H_DATA ||
        shared_res == MAP_FAILED) {
        fprintf(stderr, "difftest: cannot map the code/data pages at %#x/%#x: %s\n",
                H_CODE, H_DATA, strerror(errno));
        return -1;
    }
    return 0;
}

/* Run in a forked child; 0 and *r filled, or -1 (child died otherwise). */
static int run_native(const struct tcase *t, struct result *r)
{
    memset(nat_code, 0xcc, 4096);
    memcpy(nat_code, t->g.code, (size_t)t->g.n);
    nat_code_len = t->g.n;
    memcpy(nat_data, t->data, DATA_SIZE);
    nat_in = t->in;
    memset(shared_res, 0, sizeof *shared_res);
    shared_res->vector = -2;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        static uint8_t altstack[64 << 10];
        stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
        sigaltstack(&ss, NULL);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = nat_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigfillset(&sa.sa_mask);
        int sigs[] = { SIGTRAP, SIGSEGV, SIGFPE, SIGILL, SIGBUS };
        for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
            sigaction(sigs[k], &sa, NULL);
        alarm(10);                 /* a hang in the generated code: SIGALRM ends the child */
        dt_native_enter(&nat_in);
        _exit(3);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || shared_res->vector == -2)
        return -1;
    *r = *shared_res;
    return 0;
}

/* ---- pinvm run ------------------------------------------------------------ */

static struct harness hh;
static int dt_plant, dt_quiet;

static void run_pinvm(const struct tcase *t, struct result *r)
{
    struct harness *h = &hh;
    uint8_t code[CODE_MAX + 1];
    memcpy(code, t->g.code, (size_t)t->g.n);
    code[t->g.n] = 0xf4;           /* HLT */
    memset(h->ram + H_CODE, 0xf4, 4096);
    h_load(h, code, (size_t)t->g.n + 1);
    memcpy(h->ram + H_DATA, t->data, DATA_SIZE);
    h->ram[H_VECTOR] = H_NOVEC;
    for (int k = 0; k < 16; k++)
        h->c.regs[k] = t->in.r[k];
    h->c.rip = t->in.rip;
    h->c.halted = false;
    cpu_set_eflags(&h->c, (uint32_t)t->in.rflags);
    cpu_state_changed(&h->c);
    cpu_run(&h->c, 10000);
    if (dt_plant)                  /* self-check: a planted difference */
        h->c.regs[R_RAX] ^= 1;
    for (int k = 0; k < 16; k++)
        r->r[k] = h->c.regs[k];
    r->rflags = h_flags(h);
    r->rip = h->c.rip;
    r->vector = h_vector(h) == H_NOVEC ? -1 : h_vector(h);
    r->err_code = 0;
    if (r->vector >= 0) {
        /* the stub halted with the frame on the stack: [err], RIP, CS, RFLAGS, RSP, SS */
        static const uint32_t has_err = 1u << 8 | 1u << 10 | 1u << 11 | 1u << 12 |
                                        1u << 13 | 1u << 14 | 1u << 17;
        int e = r->vector < 32 && (has_err >> r->vector & 1);
        uint64_t sp = h->c.regs[R_RSP];
        if (e)
            r->err_code = (int)h_r64(h, sp);
        r->rip = h_r64(h, sp + 8u * e);
        r->rflags = h_r64(h, sp + 8u * (e + 2));
        r->r[R_RSP] = h_r64(h, sp + 8u * (e + 3));
    } else if (h->c.halted) {
        r->rip -= 1;               /* past the HLT */
    } else {
        r->vector = -3;            /* did not finish */
    }
    memcpy(r->data, h->ram + H_DATA, DATA_SIZE);
    r->frame_lo = r->frame_hi = 0;
    if (r->vector >= 0) {          /* the frame pinvm pushed (Linux pushes none) */
        r->frame_lo = h->c.regs[R_RSP];
        r->frame_hi = r->frame_lo + 48;
    }
}

/* ---- comparison ----------------------------------------------------------- */

static int verbose;

static void print_case(const struct tcase *t, FILE *f)
{
    fprintf(f, "    bytes:");
    for (int k = 0; k < t->g.n; k++)
        fprintf(f, " %02x", t->g.code[k]);
    fprintf(f, "\n    insns: %s\n    in:", t->g.text);
    for (int k = 0; k < 16; k++)
        fprintf(f, " r%d=%" PRIx64, k, t->in.r[k]);
    fprintf(f, " fl=%03" PRIx64 "\n", t->in.rflags);
}

static const char *rname[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi",
                                 "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
                                 "r14", "r15" };

/* 0: agree; 1: mismatch (printed); 2: native run failed */
static int compare(const struct tcase *t, const char *repro)
{
    struct result nat, pv;
    if (run_native(t, &nat) < 0) {
        printf("  difftest: native run died: %s\n", repro);
        print_case(t, stdout);
        return 2;
    }
    run_pinvm(t, &pv);
    char why[512] = "";
    size_t wl = 0;
#define WHY(...) (wl += (size_t)snprintf(why + wl, wl < sizeof why ? sizeof why - wl : 0, __VA_ARGS__))
    if (nat.vector != pv.vector)
        WHY(" vector native %d pinvm %d;", nat.vector, pv.vector);
    uint64_t off = nat.rip - H_CODE;
    if (nat.rip != pv.rip)
        WHY(" rip native +%" PRIx64 " pinvm +%" PRIx64 ";", off, pv.rip - H_CODE);
    /* flags undefined at the end (or before the faulting instruction) */
    uint32_t undef = t->g.undef;
    if (nat.vector >= 0)
        for (int k = 0; k < t->g.ninsn; k++)
            if ((uint64_t)t->g.off[k] == off)
                undef = t->g.undef_before[k];
    for (int k = 0; k < 16; k++)
        if (nat.r[k] != pv.r[k])
            WHY(" %s native %" PRIx64 " pinvm %" PRIx64 ";", rname[k], nat.r[k], pv.r[k]);
    uint32_t cmpmask = FL_CMP & ~undef;
    if ((nat.rflags ^ pv.rflags) & cmpmask)
        WHY(" flags native %03" PRIx64 " pinvm %03" PRIx64 " (compared %03x);",
            nat.rflags & 0xfff, pv.rflags & 0xfff, cmpmask);
    if (nat.vector >= 0 && nat.vector == pv.vector && (nat.vector == 13 || nat.vector == 14) &&
        nat.err_code != pv.err_code)
        WHY(" error code native %x pinvm %x;", nat.err_code, pv.err_code);
    for (uint64_t a = pv.frame_lo; a < pv.frame_hi; a++)
        if (a >= H_DATA && a < H_DATA + DATA_SIZE)
            pv.data[a - H_DATA] = nat.data[a - H_DATA];
    for (int k = 0; k < DATA_SIZE; k += 8)
        if (memcmp(nat.data + k, pv.data + k, 8)) {
            uint64_t a, b;
            memcpy(&a, nat.data + k, 8);
            memcpy(&b, pv.data + k, 8);
            WHY(" mem %#x native %" PRIx64 " pinvm %" PRIx64 ";", H_DATA + k, a, b);
            break;
        }
    if (!wl) {
        if (verbose > 1)
            printf("  ok %s: %s (vec %d)\n", repro, t->g.text, nat.vector);
        return 0;
    }
    if (dt_quiet)
        return 1;
    printf("  MISMATCH %s:%s\n", repro, why);
    print_case(t, stdout);
    return 1;
}

/* ---- regression cases ----------------------------------------------------
 * tests/difftest/regress.txt: one case per line, "SEED CASE [xfail REASON]"
 * for a generated case (with this generator), or "hex BYTES [state SEED]
 * [xfail REASON]" for a fixed byte sequence with a generated state (flags
 * all compared except those a "mask HEX" word names). A line with xfail is
 * a known pinvm bug (docs/known-issues.md): its mismatch is counted as
 * expected; if it starts to agree the run fails so the marker is removed. */
static int run_regress(const char *path, int *pass, int *fail)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int lineno = 0;
    static struct tcase t;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || !*p)
            continue;
        char *xf = strstr(p, "xfail");
        if (xf)
            *xf = 0;
        char repro[128];
        snprintf(repro, sizeof repro, "%s:%d", path, lineno);
        if (!strncmp(p, "hex", 3)) {
            uint64_t sseed = 1;
            char *st = strstr(p, "state");
            if (st)
                sseed = strtoull(st + 5, NULL, 0);
            make_case(&t, sseed, 0);
            memset(&t.g, 0, sizeof t.g);
            char *q = p + 3;
            while (*q) {
                while (*q == ' ')
                    q++;
                char *e;
                unsigned long b = strtoul(q, &e, 16);
                if (e == q || (st && q >= st))
                    break;
                t.g.code[t.g.n++] = (uint8_t)b;
                q = e;
            }
            char *mk = strstr(p, "mask");
            if (mk)
                t.g.undef = (uint32_t)strtoul(mk + 4, NULL, 16);
            snprintf(t.g.text, sizeof t.g.text, "(fixed bytes)");
        } else {
            uint64_t s = strtoull(p, &p, 0), k = strtoull(p, NULL, 0);
            make_case(&t, s, k);
            snprintf(repro, sizeof repro, "%s:%d (difftest -s %" PRIu64 " -c %" PRIu64 ")",
                     path, lineno, s, k);
        }
        int rc = compare(&t, repro);
        if (xf && rc == 1) {
            printf("  XFAIL %s: %s", repro, xf + 5);
            (*pass)++;
        } else if (xf && rc == 0) {
            printf("  XPASS %s: agrees now; drop the xfail marker\n", repro);
            (*fail)++;
        } else if (rc) {
            (*fail)++;
        } else {
            (*pass)++;
        }
    }
    fclose(f);
    return 1;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, n = DT_DEFAULT_N, only = ~0ull;
    const char *regress = "tests/difftest/regress.txt";
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "-n") && k + 1 < argc)
            n = strtoull(argv[++k], NULL, 0);
        else if (!strcmp(argv[k], "-s") && k + 1 < argc)
            seed = strtoull(argv[++k], NULL, 0);
        else if (!strcmp(argv[k], "-c") && k + 1 < argc)
            only = strtoull(argv[++k], NULL, 0);
        else if (!strcmp(argv[k], "-v"))
            verbose++;
        else if (!strcmp(argv[k], "--regress") && k + 1 < argc)
            regress = argv[++k];
        else {
            fprintf(stderr, "usage: %s [-n N] [-s SEED] [-c CASE] [-v] [--regress FILE]\n", argv[0]);
            return 2;
        }
    }
    host_features();
    if (native_init() < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    h_init(&hh, H_LONG);
    int pass = 0, fail = 0, cases_bad = 0;
    static struct tcase t;
    uint64_t first = only == ~0ull ? 0 : only, last = only == ~0ull ? n : only + 1;
    for (uint64_t k = first; k < last; k++) {
        make_case(&t, seed, k);
        if (verbose && only != ~0ull)
            print_case(&t, stdout);
        char repro[96];
        snprintf(repro, sizeof repro, "difftest -s %" PRIu64 " -c %" PRIu64, seed, k);
        int rc = compare(&t, repro);
        if (rc)
            cases_bad++;
        if (cases_bad > 20) {
            printf("  ... stopping after 20 failing cases\n");
            break;
        }
    }
    printf("difftest: seed %" PRIu64 ", %" PRIu64 " cases, %d disagree\n", seed, last - first,
           cases_bad);
    if (cases_bad)
        fail++;
    else
        pass++;
    if (only == ~0ull && regress[0])
        run_regress(regress, &pass, &fail);
    /* The comparison itself: a difference planted in pinvm's result (RAX
     * bit 0) must be reported. */
    make_case(&t, seed, 0);
    dt_plant = dt_quiet = 1;
    if (compare(&t, "planted") == 1) {
        pass++;
    } else {
        printf("  FAIL: a planted RAX difference was not reported\n");
        fail++;
    }
    dt_plant = dt_quiet = 0;
    h_free(&hh);
    printf("%d passed, %d failed\n", pass, fail);
    return fail != 0;
}
#endif
