/* insns.c: integer instructions against a model of the SDM's definitions.
 *
 * Each (instruction, operand size) runs over a grid of edge-case operands
 * (or shift counts), once with all arithmetic flags clear on input and once
 * with all set. The result and the flags the SDM defines for that
 * instruction (undefined ones are masked out) are compared with the C model
 * below; one line per (instruction, size) gives the case count and a hash
 * of what the CPU produced, so the QEMU/pinvm transcripts are compared too.
 * Then: string instructions with REP (both directions, overlapping MOVSB,
 * REPE CMPSB, REPNE SCASB, ECX with an address-size prefix), and a checksum
 * of an -O2 compiled workload (sort, FNV-1a, CRC-32, 64-bit division),
 * checked against what the same C code computes on the host.
 */
#include "kit.h"

#define F_CF X86_EFLAGS_CF
#define F_PF X86_EFLAGS_PF
#define F_AF X86_EFLAGS_AF
#define F_ZF X86_EFLAGS_ZF
#define F_SF X86_EFLAGS_SF
#define F_OF X86_EFLAGS_OF
#define F_ALL X86_EFLAGS_ARITH

typedef unsigned __int128 u128;
typedef __int128 s128;

static const u64 vals[] = {
    0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
    0x80000000, 0xffffffff, 0x7fffffffffffffffull, 0x8000000000000000ull,
    0xffffffffffffffffull, 0x123456789abcdef0ull, 0xfedcba9876543210ull,
    0x5555555555555555ull, 0xaaaaaaaaaaaaaaaaull, 0x0f0f0f0f0f0f0f0full,
};
static const u8 counts[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65 };
static const u64 flags_in[] = { X86_EFLAGS_FIXED, X86_EFLAGS_FIXED | F_ALL };

/* ---- the model ------------------------------------------------------------ */
static u64 mask_of(int n) { return n == 64 ? ~0ull : (1ull << n) - 1; }
static u64 sign_of(int n) { return 1ull << (n - 1); }
static s64 sext(u64 v, int n) { return n == 64 ? (s64)v : (s64)(v << (64 - n)) >> (64 - n); }

/* hi:lo / d for hi < d, by shift-and-subtract (no libgcc in the kernel). */
static u64 udiv128(u64 hi, u64 lo, u64 d, u64 *rem)
{
    u64 q = 0;
    for (int i = 63; i >= 0; i--) {
        bool top = hi >> 63;
        hi = (hi << 1) | (lo >> 63);
        lo <<= 1;
        q <<= 1;
        if (top || hi >= d) {
            hi -= d;
            q |= 1;
        }
    }
    *rem = hi;
    return q;
}

static u64 szp(u64 r, int n)
{
    u64 f = 0;
    r &= mask_of(n);
    if (!r)
        f |= F_ZF;
    if (r & sign_of(n))
        f |= F_SF;
    if (!(__builtin_popcount((unsigned)(r & 0xff)) & 1))
        f |= F_PF;
    return f;
}

static u64 add_flags(u64 a, u64 b, u64 c, int n, u64 *res)
{
    u64 m = mask_of(n);
    a &= m;
    b &= m;
    u128 full = (u128)a + b + c;
    u64 r = (u64)full & m;
    u64 f = szp(r, n);
    if (full > m)
        f |= F_CF;
    if ((a ^ r) & (b ^ r) & sign_of(n))
        f |= F_OF;
    if ((a ^ b ^ r) & 0x10)
        f |= F_AF;
    *res = r;
    return f;
}

static u64 sub_flags(u64 a, u64 b, u64 c, int n, u64 *res)
{
    u64 m = mask_of(n);
    a &= m;
    b &= m;
    u64 r = (a - b - c) & m;
    u64 f = szp(r, n);
    if ((u128)a < (u128)b + c)
        f |= F_CF;
    if ((a ^ b) & (a ^ r) & sign_of(n))
        f |= F_OF;
    if ((a ^ b ^ r) & 0x10)
        f |= F_AF;
    *res = r;
    return f;
}

enum op {
    ADD, ADC, SUB, SBB, CMP, AND, OR, XOR, TEST, INC, DEC, NEG, NOT,
    SHL, SHR, SAR, ROL, ROR, RCL, RCR, BT, BTS, BTR, BTC, BSF, BSR,
    MUL, IMUL1, IMUL2, DIV, IDIV, CMPXCHG, XADD, NOPS
};
static const char *const op_names[NOPS] = {
    "add", "adc", "sub", "sbb", "cmp", "and", "or", "xor", "test", "inc", "dec",
    "neg", "not", "shl", "shr", "sar", "rol", "ror", "rcl", "rcr", "bt", "bts",
    "btr", "btc", "bsf", "bsr", "mul", "imul1", "imul2", "div", "idiv",
    "cmpxchg", "xadd",
};

/* What an instruction produces: r (destination), r2 (second output: high
 * half, remainder, accumulator, XADD source), f (flags), fmask (defined). */
struct out { u64 r, r2, f, fmask; bool skip; };

static struct out model_shift(enum op op, int n, u64 a, unsigned cnt, u64 fin)
{
    struct out o = { 0, 0, 0, F_ALL, false };
    u64 m = mask_of(n), t;
    if (!cnt) {            /* count 0: nothing changes (SDM SAL/SAR/SHL/SHR) */
        o.r = a;
        o.f = fin & F_ALL;
        return o;
    }
    if (op == SHL) {
        o.r = cnt >= (unsigned)n ? 0 : (a << cnt) & m;
        t = cnt <= (unsigned)n ? (a >> (n - cnt)) & 1 : 0;
        o.f = szp(o.r, n) | (t ? F_CF : 0);
        if (((o.r & sign_of(n)) != 0) != (t != 0))
            o.f |= F_OF;   /* count 1: OF = MSB(result) XOR CF */
    } else if (op == SHR) {
        o.r = cnt >= (unsigned)n ? 0 : a >> cnt;
        t = cnt <= (unsigned)n ? (a >> (cnt - 1)) & 1 : 0;
        o.f = szp(o.r, n) | (t ? F_CF : 0) | ((a & sign_of(n)) ? F_OF : 0);
    } else {
        unsigned c = cnt >= (unsigned)n ? (unsigned)n - 1 : cnt;
        o.r = (u64)(sext(a, n) >> c) & m;
        t = (u64)(sext(a, n) >> (cnt >= (unsigned)n ? (unsigned)n - 1 : cnt - 1)) & 1;
        o.f = szp(o.r, n) | (t ? F_CF : 0);   /* count 1: OF = 0 */
    }
    o.fmask = F_CF | F_OF | F_SF | F_ZF | F_PF;     /* AF undefined */
    if (cnt != 1)
        o.fmask &= ~F_OF;
    if (op != SAR && cnt >= (unsigned)n)
        o.fmask &= ~F_CF;  /* undefined for SHL/SHR when count >= size */
    return o;
}

static struct out model_rotate(enum op op, int n, u64 a, unsigned cnt, u64 fin)
{
    /* Rotates change only CF and OF; OF is defined for 1-bit rotates. */
    struct out o = { a, 0, fin & F_ALL, F_ALL, false };
    u64 m = mask_of(n), cf = (fin & F_CF) ? 1 : 0;
    if (!cnt)
        return o;
    if (op == ROL || op == ROR) {
        unsigned c = cnt % n;
        o.f &= ~(F_CF | F_OF);
        if (op == ROL) {
            o.r = c ? ((a << c) | (a >> (n - c))) & m : a;
            o.f |= (o.r & 1) ? F_CF : 0;
            if (((o.r >> (n - 1)) ^ o.r) & 1)
                o.f |= F_OF;
        } else {
            o.r = c ? ((a >> c) | (a << (n - c))) & m : a;
            o.f |= (o.r & sign_of(n)) ? F_CF : 0;
            if (((o.r >> (n - 1)) ^ (o.r >> (n - 2))) & 1)
                o.f |= F_OF;
        }
    } else {
        /* RCL/RCR rotate CF:dest, count mod 9/17 for 8/16 bits. */
        unsigned c = n == 8 ? cnt % 9 : n == 16 ? cnt % 17 : cnt;
        u64 x = a, of = 0;
        if (op == RCR)
            of = ((x >> (n - 1)) ^ cf) & 1;    /* before the rotation */
        for (unsigned i = 0; i < c; i++) {
            u64 tmp;
            if (op == RCL) {
                tmp = (x >> (n - 1)) & 1;
                x = ((x << 1) | cf) & m;
            } else {
                tmp = x & 1;
                x = (x >> 1) | (cf << (n - 1));
            }
            cf = tmp;
        }
        if (op == RCL)
            of = ((x >> (n - 1)) ^ cf) & 1;
        o.r = x;
        o.f = (o.f & ~(F_CF | F_OF)) | (cf ? F_CF : 0) | (of ? F_OF : 0);
    }
    if (cnt != 1)
        o.fmask &= ~F_OF;
    return o;
}

static struct out model(enum op op, int n, u64 a, u64 b, u64 fin)
{
    struct out o = { 0, 0, 0, F_ALL, false };
    u64 m = mask_of(n), cf = fin & F_CF, t;
    a &= m;
    b &= m;
    unsigned cnt = (unsigned)b & (n == 64 ? 63 : 31);
    switch (op) {
    case ADD: o.f = add_flags(a, b, 0, n, &o.r); break;
    case ADC: o.f = add_flags(a, b, cf, n, &o.r); break;
    case SUB: o.f = sub_flags(a, b, 0, n, &o.r); break;
    case SBB: o.f = sub_flags(a, b, cf, n, &o.r); break;
    case CMP: o.f = sub_flags(a, b, 0, n, &t); o.r = a; break;
    case AND: o.r = a & b; o.f = szp(o.r, n); o.fmask &= ~F_AF; break;
    case OR: o.r = a | b; o.f = szp(o.r, n); o.fmask &= ~F_AF; break;
    case XOR: o.r = a ^ b; o.f = szp(o.r, n); o.fmask &= ~F_AF; break;
    case TEST: o.r = a; o.f = szp(a & b, n); o.fmask &= ~F_AF; break;
    case INC: o.f = (add_flags(a, 1, 0, n, &o.r) & ~F_CF) | cf; break;
    case DEC: o.f = (sub_flags(a, 1, 0, n, &o.r) & ~F_CF) | cf; break;
    case NEG: o.f = sub_flags(0, a, 0, n, &o.r); break;
    case NOT: o.r = ~a & m; o.f = fin & F_ALL; break;
    case SHL: case SHR: case SAR: o = model_shift(op, n, a, cnt, fin); break;
    case ROL: case ROR: case RCL: case RCR: o = model_rotate(op, n, a, cnt, fin); break;
    case BT: case BTS: case BTR: case BTC: {
        /* Register bit offset: modulo the operand size. CF = the bit, ZF
         * unaffected; OF SF AF PF undefined (SDM BT). */
        unsigned bit = (unsigned)b & (n - 1);
        o.f = (((a >> bit) & 1) ? F_CF : 0) | (fin & F_ZF);
        o.r = op == BT ? a : op == BTS ? a | (1ull << bit) : op == BTR ? a & ~(1ull << bit)
                                                                    : a ^ (1ull << bit);
        o.fmask = F_CF | F_ZF;
        break;
    }
    case BSF: case BSR:
        /* Source a; the destination is undefined when a == 0 (ZF=1). */
        o.f = a ? 0 : F_ZF;
        o.fmask = F_ZF;
        o.r = !a ? 0 : op == BSF ? (u64)__builtin_ctzll(a) : (u64)(63 - __builtin_clzll(a));
        break;
    case MUL: {
        u128 full = (u128)a * b;
        o.r = (u64)full & m;
        o.r2 = n == 64 ? (u64)(full >> 64) : (u64)(full >> n) & m;
        o.f = o.r2 ? F_CF | F_OF : 0;
        o.fmask = F_CF | F_OF;
        break;
    }
    case IMUL1: case IMUL2: {
        s128 full = (s128)sext(a, n) * sext(b, n);
        o.r = (u64)full & m;
        o.r2 = op == IMUL2 ? 0 : n == 64 ? (u64)((u128)full >> 64) : (u64)(full >> n) & m;
        o.f = full != (s128)sext(o.r, n) ? F_CF | F_OF : 0;
        o.fmask = F_CF | F_OF;
        break;
    }
    case DIV: {
        /* Dividend hi:a with hi = (a >> 3) % b, so the quotient fits. */
        if (!b) {
            o.skip = true;
            break;
        }
        u64 hi = (a >> 3) % b;
        if (n == 64) {
            o.r = udiv128(hi, a, b, &o.r2);
        } else {
            u64 dividend = (hi << n) | a;
            o.r = dividend / b;
            o.r2 = dividend % b;
        }
        o.fmask = 0;
        break;
    }
    case IDIV: {
        /* Dividend = a sign-extended into the high half. */
        s64 d = sext(b, n), x = sext(a, n);
        if (!d || (d == -1 && x == sext(sign_of(n), n))) {
            o.skip = true;
            break;
        }
        o.r = (u64)(x / d) & m;
        o.r2 = (u64)(x % d) & m;
        o.fmask = 0;
        break;
    }
    case CMPXCHG:
        /* Accumulator a, destination b, source 0x5a. */
        o.f = sub_flags(a, b, 0, n, &t);
        o.r = a == b ? 0x5a : b;
        o.r2 = a == b ? a : b;
        break;
    case XADD:
        o.f = add_flags(a, b, 0, n, &o.r);
        o.r2 = a;
        break;
    default:
        break;
    }
    o.f &= o.fmask;
    return o;
}

/* ---- the CPU ---------------------------------------------------------------- */
#define FL_IN  "pushq %[fin]\n\tpopfq\n\t"
#define FL_OUT "\n\tpushfq\n\tpopq %[f]"

#define BIN(name, mn, T, sfx)                                                  \
    static u64 name(u64 a, u64 b, u64 fin, u64 *f)                             \
    {                                                                          \
        T x = (T)a, y = (T)b;                                                  \
        asm volatile(FL_IN mn sfx " %[y], %[x]" FL_OUT                         \
                     : [x] "+r"(x), [f] "=&r"(*f) : [y] "r"(y), [fin] "r"(fin) \
                     : "cc");                                                  \
        return x;                                                              \
    }
#define UN(name, mn, T, sfx)                                                   \
    static u64 name(u64 a, u64 b, u64 fin, u64 *f)                             \
    {                                                                          \
        T x = (T)a;                                                            \
        (void)b;                                                               \
        asm volatile(FL_IN mn sfx " %[x]" FL_OUT                               \
                     : [x] "+r"(x), [f] "=&r"(*f) : [fin] "r"(fin) : "cc");    \
        return x;                                                              \
    }
#define SHIFT(name, mn, T, sfx)                                                \
    static u64 name(u64 a, u64 b, u64 fin, u64 *f)                             \
    {                                                                          \
        T x = (T)a;                                                            \
        asm volatile(FL_IN mn sfx " %%cl, %[x]" FL_OUT                         \
                     : [x] "+r"(x), [f] "=&r"(*f) : "c"((u8)b), [fin] "r"(fin) \
                     : "cc");                                                  \
        return x;                                                              \
    }
/* BSF/BSR: the destination starts as a marker; when the source is 0 it is
 * undefined, and the model ignores it. */
#define BITSCAN(name, mn, T, sfx)                                              \
    static u64 name(u64 a, u64 b, u64 fin, u64 *f)                             \
    {                                                                          \
        T x = (T)0x3c, y = (T)a;                                               \
        (void)b;                                                               \
        asm volatile(FL_IN mn sfx " %[y], %[x]" FL_OUT                         \
                     : [x] "+r"(x), [f] "=&r"(*f) : [y] "r"(y), [fin] "r"(fin) \
                     : "cc");                                                  \
        return a ? x : 0;                                                      \
    }

#define ALL_SIZES(M, name, mn)                                                 \
    M(name##8, mn, u8, "b") M(name##16, mn, u16, "w")                           \
    M(name##32, mn, u32, "l") M(name##64, mn, u64, "q")
#define WIDE_SIZES(M, name, mn)                                                \
    M(name##16, mn, u16, "w") M(name##32, mn, u32, "l") M(name##64, mn, u64, "q")

ALL_SIZES(BIN, add, "add") ALL_SIZES(BIN, adc, "adc") ALL_SIZES(BIN, sub, "sub")
ALL_SIZES(BIN, sbb, "sbb") ALL_SIZES(BIN, cmp, "cmp") ALL_SIZES(BIN, and, "and")
ALL_SIZES(BIN, or, "or") ALL_SIZES(BIN, xor, "xor") ALL_SIZES(BIN, test, "test")
ALL_SIZES(UN, inc, "inc") ALL_SIZES(UN, dec, "dec") ALL_SIZES(UN, neg, "neg")
ALL_SIZES(UN, not, "not")
ALL_SIZES(SHIFT, shl, "shl") ALL_SIZES(SHIFT, shr, "shr") ALL_SIZES(SHIFT, sar, "sar")
ALL_SIZES(SHIFT, rol, "rol") ALL_SIZES(SHIFT, ror, "ror") ALL_SIZES(SHIFT, rcl, "rcl")
ALL_SIZES(SHIFT, rcr, "rcr")
WIDE_SIZES(BIN, bt, "bt") WIDE_SIZES(BIN, bts, "bts") WIDE_SIZES(BIN, btr, "btr")
WIDE_SIZES(BIN, btc, "btc") WIDE_SIZES(BIN, imul2_, "imul")
WIDE_SIZES(BITSCAN, bsf, "bsf") WIDE_SIZES(BITSCAN, bsr, "bsr")

/* One-operand MUL/IMUL/DIV/IDIV on rDX:rAX; the high half / remainder goes
 * to r2_out. */
static u64 r2_out;
#define MULDIV(name, mn, T, sfx, hi_init)                                      \
    static u64 name(u64 a, u64 b, u64 fin, u64 *f)                             \
    {                                                                          \
        T lo = (T)a, hi = (T)(hi_init), y = (T)b;                              \
        asm volatile(FL_IN mn sfx " %[y]" FL_OUT                               \
                     : "+a"(lo), "+d"(hi), [f] "=&r"(*f)                       \
                     : [y] "r"(y), [fin] "r"(fin) : "cc");                     \
        r2_out = (u64)hi;                                                      \
        return lo;                                                             \
    }
#define DIV_HI(n) ((((a) & mask_of(n)) >> 3) % ((b) & mask_of(n)))
#define IDIV_HI(n) (sext((a) & mask_of(n), n) < 0 ? ~0ull : 0)
MULDIV(mul16, "mul", u16, "w", 0) MULDIV(mul32, "mul", u32, "l", 0)
MULDIV(mul64, "mul", u64, "q", 0)
MULDIV(imul1_16, "imul", u16, "w", 0) MULDIV(imul1_32, "imul", u32, "l", 0)
MULDIV(imul1_64, "imul", u64, "q", 0)
MULDIV(div16, "div", u16, "w", DIV_HI(16)) MULDIV(div32, "div", u32, "l", DIV_HI(32))
MULDIV(div64, "div", u64, "q", DIV_HI(64))
MULDIV(idiv16, "idiv", u16, "w", IDIV_HI(16)) MULDIV(idiv32, "idiv", u32, "l", IDIV_HI(32))
MULDIV(idiv64, "idiv", u64, "q", IDIV_HI(64))

/* The 8-bit forms use AX as a whole. */
#define MULDIV8(name, mn, ax_init)                                             \
    static u64 name(u64 a, u64 b, u64 fin, u64 *f)                             \
    {                                                                          \
        u16 ax = (u16)(ax_init);                                               \
        u8 y = (u8)b;                                                          \
        asm volatile(FL_IN mn " %[y]" FL_OUT : "+a"(ax), [f] "=&r"(*f)         \
                     : [y] "q"(y), [fin] "r"(fin) : "cc");                     \
        r2_out = ax >> 8;                                                      \
        return ax & 0xff;                                                      \
    }
MULDIV8(mul8, "mulb", (u8)a)
MULDIV8(imul1_8, "imulb", (u8)a)
MULDIV8(div8, "divb", (DIV_HI(8) << 8) | (a & 0xff))
MULDIV8(idiv8, "idivb", (s16)(s8)(u8)a)

#define CMPXCHG_FN(name, T, sfx)                                               \
    static u64 name(u64 a, u64 b, u64 fin, u64 *f)                             \
    {                                                                          \
        T acc = (T)a, dst = (T)b, src = 0x5a;                                  \
        asm volatile(FL_IN "cmpxchg" sfx " %[src], %[dst]" FL_OUT              \
                     : "+a"(acc), [dst] "+m"(dst), [f] "=&r"(*f)               \
                     : [src] "r"(src), [fin] "r"(fin) : "cc");                 \
        r2_out = acc;                                                          \
        return dst;                                                            \
    }
CMPXCHG_FN(cmpxchg8, u8, "b") CMPXCHG_FN(cmpxchg16, u16, "w")
CMPXCHG_FN(cmpxchg32, u32, "l") CMPXCHG_FN(cmpxchg64, u64, "q")

#define XADD_FN(name, T, sfx)                                                  \
    static u64 name(u64 a, u64 b, u64 fin, u64 *f)                             \
    {                                                                          \
        T dst = (T)a, src = (T)b;                                              \
        asm volatile(FL_IN "xadd" sfx " %[src], %[dst]" FL_OUT                 \
                     : [dst] "+m"(dst), [src] "+r"(src), [f] "=&r"(*f)         \
                     : [fin] "r"(fin) : "cc");                                 \
        r2_out = src;                                                          \
        return dst;                                                            \
    }
XADD_FN(xadd8, u8, "b") XADD_FN(xadd16, u16, "w") XADD_FN(xadd32, u32, "l")
XADD_FN(xadd64, u64, "q")

typedef u64 (*insn_fn)(u64 a, u64 b, u64 fin, u64 *f);
#define ROW4(p) { p##8, p##16, p##32, p##64 }
#define ROW3(p) { NULL, p##16, p##32, p##64 }
static const insn_fn fns[NOPS][4] = {
    [ADD] = ROW4(add), [ADC] = ROW4(adc), [SUB] = ROW4(sub), [SBB] = ROW4(sbb),
    [CMP] = ROW4(cmp), [AND] = ROW4(and), [OR] = ROW4(or), [XOR] = ROW4(xor),
    [TEST] = ROW4(test), [INC] = ROW4(inc), [DEC] = ROW4(dec), [NEG] = ROW4(neg),
    [NOT] = ROW4(not), [SHL] = ROW4(shl), [SHR] = ROW4(shr), [SAR] = ROW4(sar),
    [ROL] = ROW4(rol), [ROR] = ROW4(ror), [RCL] = ROW4(rcl), [RCR] = ROW4(rcr),
    [BT] = ROW3(bt), [BTS] = ROW3(bts), [BTR] = ROW3(btr), [BTC] = ROW3(btc),
    [BSF] = ROW3(bsf), [BSR] = ROW3(bsr),
    [MUL] = ROW4(mul), [IMUL1] = { imul1_8, imul1_16, imul1_32, imul1_64 },
    [IMUL2] = { NULL, imul2_16, imul2_32, imul2_64 },
    [DIV] = ROW4(div), [IDIV] = ROW4(idiv),
    [CMPXCHG] = ROW4(cmpxchg), [XADD] = ROW4(xadd),
};

static bool has_r2(enum op op)
{
    return op == MUL || op == IMUL1 || op == DIV || op == IDIV || op == CMPXCHG || op == XADD;
}

static bool is_shift(enum op op) { return op >= SHL && op <= RCR; }

static u64 fnv(u64 h, u64 v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void run_op(enum op op, int si)
{
    int n = 8 << si;
    insn_fn fn = fns[op][si];
    unsigned cases = 0, bad = 0;
    u64 h = 0xcbf29ce484222325ull;
    unsigned nb = is_shift(op) ? ARRAY_SIZE(counts) : ARRAY_SIZE(vals);
    for (unsigned fi = 0; fi < ARRAY_SIZE(flags_in); fi++) {
        for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
            for (unsigned j = 0; j < nb; j++) {
                u64 a = vals[i] & mask_of(n);
                u64 b = is_shift(op) ? counts[j] : vals[j] & mask_of(n);
                struct out want = model(op, n, a, b, flags_in[fi]);
                if (want.skip)
                    continue;
                u64 f = 0;
                r2_out = 0;
                u64 r = fn(a, b, flags_in[fi], &f) & mask_of(n);
                u64 r2 = has_r2(op) ? r2_out & mask_of(n) : 0;
                f &= want.fmask;
                cases++;
                h = fnv(fnv(fnv(h, r), r2), f);
                if (r != want.r || r2 != want.r2 || f != want.f) {
                    if (bad < 3)
                        printf("  %s%d a=%lx b=%lx fin=%lx: got %lx %lx f=%lx, want %lx %lx f=%lx\n",
                               op_names[op], n, a, b, flags_in[fi], r, r2, f, want.r,
                               want.r2, want.f);
                    bad++;
                }
            }
        }
    }
    report(!bad, "%s%d: %u cases, %u wrong, hash %08x", op_names[op], n, cases, bad,
           (u32)(h ^ (h >> 32)));
}

/* ---- conditions: SETcc, CMOVcc, Jcc over all 64 OSZAPC combinations -------- */
static bool cond_model(int cc, u64 f)
{
    bool cf = f & F_CF, pf = f & F_PF, zf = f & F_ZF, sf = f & F_SF, of = f & F_OF;
    bool r;
    switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf || sf != of; break;
    }
    return (cc & 1) ? !r : r;
}

/* Bit 0: SETcc, bit 1: CMOVcc moved, bit 2: Jcc taken. */
#define CC_FN(cc)                                                              \
    static u64 cc_##cc(u64 fin)                                                \
    {                                                                          \
        u8 s;                                                                  \
        u64 m = 1, r = 2, j;                                                   \
        asm volatile(FL_IN "set" #cc " %[s]\n\t"                               \
                     "cmov" #cc " %[m], %[r]\n\t"                              \
                     "movq $4, %[j]\n\t"                                       \
                     "j" #cc " 1f\n\t"                                         \
                     "movq $0, %[j]\n"                                         \
                     "1:"                                                      \
                     : [s] "=&q"(s), [r] "+r"(r), [j] "=&r"(j)                 \
                     : [m] "r"(m), [fin] "r"(fin) : "cc");                     \
        return s | (r == 1 ? 2 : 0) | j;                                       \
    }
CC_FN(o) CC_FN(no) CC_FN(b) CC_FN(ae) CC_FN(e) CC_FN(ne) CC_FN(be) CC_FN(a)
CC_FN(s) CC_FN(ns) CC_FN(p) CC_FN(np) CC_FN(l) CC_FN(ge) CC_FN(le) CC_FN(g)
static u64 (*const cc_fns[16])(u64) = {
    cc_o, cc_no, cc_b, cc_ae, cc_e, cc_ne, cc_be, cc_a,
    cc_s, cc_ns, cc_p, cc_np, cc_l, cc_ge, cc_le, cc_g,
};

static void test_conditions(void)
{
    static const u64 bits[6] = { F_CF, F_PF, F_AF, F_ZF, F_SF, F_OF };
    unsigned bad = 0;
    u64 h = 0xcbf29ce484222325ull;
    for (int combo = 0; combo < 64; combo++) {
        u64 f = X86_EFLAGS_FIXED;
        for (int b = 0; b < 6; b++)
            if (combo & (1 << b))
                f |= bits[b];
        for (int cc = 0; cc < 16; cc++) {
            u64 got = cc_fns[cc](f), want = cond_model(cc, f) ? 7 : 0;
            h = fnv(h, got);
            if (got != want && bad++ < 3)
                printf("  cc %d flags %lx: got %lx want %lx\n", cc, f, got, want);
        }
    }
    report(!bad, "setcc/cmovcc/jcc: 16 conditions x 64 flag sets, %u wrong, hash %08x", bad,
           (u32)(h ^ (h >> 32)));

    /* CMOVcc with 32-bit operands writes (zero-extends) the destination
     * even when the condition is false (SDM CMOVcc, 64-bit mode). */
    u64 r = 0xffffffff00000002ull;
    u32 src = 5;
    asm volatile("xorl %%eax, %%eax\n\tcmovnel %k[s], %k[r]" /* ZF=1: no move */
                 : [r] "+r"(r) : [s] "r"(src) : "rax", "cc");
    report(r == 2, "cmovne r32 not taken still clears bits 63:32 (%lx)", r);
}

/* ---- SHLD/SHRD (3 operands) ---------------------------------------------------- */
static struct out model_shd(bool left, int n, u64 d, u64 s, unsigned cnt, u64 fin)
{
    struct out o = { d, 0, fin & F_ALL, F_ALL, false };
    u64 m = mask_of(n);
    if (!cnt)
        return o;
    if (cnt > (unsigned)n || (n == 16 && cnt >= 16)) {
        o.skip = true; /* result undefined when count > size (16-bit) */
        return o;
    }
    u64 cf;
    if (left) {
        o.r = ((d << cnt) | (s >> (n - cnt))) & m;
        cf = (d >> (n - cnt)) & 1;
    } else {
        o.r = ((d >> cnt) | (s << (n - cnt))) & m;
        cf = (d >> (cnt - 1)) & 1;
    }
    o.f = szp(o.r, n) | (cf ? F_CF : 0) | (((o.r ^ d) & sign_of(n)) ? F_OF : 0);
    o.fmask = F_CF | F_OF | F_SF | F_ZF | F_PF;
    if (cnt != 1)
        o.fmask &= ~F_OF;
    o.f &= o.fmask;
    return o;
}

#define SHD_FN(name, mn, T)                                                    \
    static u64 name(u64 d, u64 s, u8 c, u64 fin, u64 *f)                       \
    {                                                                          \
        T x = (T)d, y = (T)s;                                                  \
        asm volatile(FL_IN mn " %%cl, %[y], %[x]" FL_OUT                       \
                     : [x] "+r"(x), [f] "=&r"(*f)                              \
                     : [y] "r"(y), "c"(c), [fin] "r"(fin) : "cc");             \
        return x;                                                              \
    }
SHD_FN(shld16, "shldw", u16) SHD_FN(shld32, "shldl", u32) SHD_FN(shld64, "shldq", u64)
SHD_FN(shrd16, "shrdw", u16) SHD_FN(shrd32, "shrdl", u32) SHD_FN(shrd64, "shrdq", u64)

static void test_shd(void)
{
    static u64 (*const fn[2][3])(u64, u64, u8, u64, u64 *) = {
        { shld16, shld32, shld64 }, { shrd16, shrd32, shrd64 },
    };
    for (int dir = 0; dir < 2; dir++)
        for (int si = 0; si < 3; si++) {
            int n = 16 << si;
            unsigned cases = 0, bad = 0;
            u64 h = 0xcbf29ce484222325ull;
            for (unsigned fi = 0; fi < ARRAY_SIZE(flags_in); fi++)
                for (unsigned i = 0; i < ARRAY_SIZE(vals); i++)
                    for (unsigned j = 0; j < ARRAY_SIZE(counts); j++) {
                        u64 d = vals[i] & mask_of(n);
                        u64 src = vals[(i * 7 + j) % ARRAY_SIZE(vals)] & mask_of(n);
                        unsigned cnt = counts[j] & (n == 64 ? 63 : 31);
                        struct out want = model_shd(dir == 0, n, d, src, cnt, flags_in[fi]);
                        if (want.skip)
                            continue;
                        u64 f;
                        u64 r = fn[dir][si](d, src, counts[j], flags_in[fi], &f) & mask_of(n);
                        f &= want.fmask;
                        cases++;
                        h = fnv(fnv(h, r), f);
                        if ((r != want.r || f != want.f) && bad++ < 3)
                            printf("  %s%d d=%lx s=%lx c=%u: got %lx f=%lx want %lx f=%lx\n",
                                   dir ? "shrd" : "shld", n, d, src, counts[j], r, f,
                                   want.r, want.f);
                    }
            report(!bad, "%s%d: %u cases, %u wrong, hash %08x", dir ? "shrd" : "shld", n,
                   cases, bad, (u32)(h ^ (h >> 32)));
        }
}

/* ---- extensions and byte swaps ------------------------------------------------- */
static void test_extend(void)
{
    unsigned bad = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
        u64 v = vals[i], r;
        u32 r32;
        asm("movsbq %b1, %0" : "=r"(r) : "r"(v));
        bad += r != (u64)(s64)(s8)v;
        asm("movswq %w1, %0" : "=r"(r) : "r"(v));
        bad += r != (u64)(s64)(s16)v;
        asm("movslq %k1, %0" : "=r"(r) : "r"(v));
        bad += r != (u64)(s64)(s32)v;
        asm("movzbl %b1, %k0" : "=r"(r) : "r"(v), "0"(~0ull));
        bad += r != (u8)v;        /* a 32-bit write zero-extends */
        asm("movzwq %w1, %0" : "=r"(r) : "r"(v));
        bad += r != (u16)v;
        asm("bswapl %0" : "=r"(r32) : "0"((u32)v));
        bad += r32 != __builtin_bswap32((u32)v);
        asm("bswapq %0" : "=r"(r) : "0"(v));
        bad += r != __builtin_bswap64(v);
        u64 a = v, d = 0x1234;
        asm("cqto" : "+a"(a), "=d"(d));
        bad += d != ((s64)v < 0 ? ~0ull : 0);
        a = v;
        asm("cltq" : "+a"(a));
        bad += a != (u64)(s64)(s32)v;
        a = v;
        asm("cwtl" : "+a"(a));
        bad += a != (u64)(u32)(s32)(s16)v;   /* CWDE writes EAX: zero-extends */
        a = v;
        asm("cbtw" : "+a"(a));
        bad += a != ((v & ~0xffffull) | (u16)(s16)(s8)v); /* CBW keeps 63:16 */
        a = v;
        d = 0xffffffffffff0000ull;
        asm("cwtd" : "+a"(a), "+d"(d));
        bad += d != (0xffffffffffff0000ull | ((s16)v < 0 ? 0xffff : 0));
    }
    report(!bad, "movsx/movzx/bswap/cbw/cwde/cdqe/cwd/cqo: %u wrong", bad);
}

/* ---- string instructions ----------------------------------------------------- */
static u8 sbuf[256], dbuf[256];

static void test_strings(void)
{
    for (int i = 0; i < 256; i++)
        sbuf[i] = (u8)(i * 7 + 3);
    memset(dbuf, 0, sizeof(dbuf));

    u8 *si = sbuf, *di = dbuf;
    u64 cx = 37;
    asm volatile("cld; rep movsb" : "+S"(si), "+D"(di), "+c"(cx) :: "memory");
    report(cx == 0 && si == sbuf + 37 && di == dbuf + 37 && !memcmp(dbuf, sbuf, 37) &&
           dbuf[37] == 0, "rep movsb forward: 37 bytes, rsi/rdi advanced");

    /* Backward: DF=1, starting at the last element. */
    u64 *sq = (u64 *)sbuf + 9, *dq = (u64 *)dbuf + 9;
    cx = 5;
    memset(dbuf, 0, sizeof(dbuf));
    asm volatile("std; rep movsq; cld" : "+S"(sq), "+D"(dq), "+c"(cx) :: "memory");
    report(cx == 0 && sq == (u64 *)sbuf + 4 && dq == (u64 *)dbuf + 4 &&
           !memcmp(dbuf + 40, sbuf + 40, 40) && ((u64 *)dbuf)[4] == 0,
           "rep movsq backward (DF=1): 5 qwords");

    /* An overlapping forward copy moves byte by byte: it replicates. */
    memcpy(dbuf, "abcd", 4);
    si = dbuf;
    di = dbuf + 1;
    cx = 8;
    asm volatile("cld; rep movsb" : "+S"(si), "+D"(di), "+c"(cx) :: "memory");
    report(!memcmp(dbuf, "aaaaaaaaa", 9), "rep movsb overlapping by 1 replicates");

    u32 *dl = (u32 *)dbuf;
    cx = 9;
    asm volatile("cld; rep stosl" : "+D"(dl), "+c"(cx) : "a"(0xdeadbeef) : "memory");
    bool ok = cx == 0 && dl == (u32 *)dbuf + 9;
    for (int i = 0; i < 9; i++)
        ok &= ((u32 *)dbuf)[i] == 0xdeadbeef;
    report(ok, "rep stosl: 9 dwords");

    /* REPE CMPSB stops after the first difference (index 13). */
    memcpy(dbuf, sbuf, 64);
    dbuf[13] ^= 0x80;
    si = sbuf;
    di = dbuf;
    cx = 64;
    u64 fl, dummy;
    asm volatile("cld; repe cmpsb; pushfq; popq %3"
                 : "+S"(si), "+D"(di), "+c"(cx), "=r"(fl) :: "memory", "cc");
    u64 want_f = sub_flags(sbuf[13], dbuf[13], 0, 8, &dummy);
    report(cx == 64 - 14 && si == sbuf + 14 && (fl & F_ALL) == want_f,
           "repe cmpsb: stops after index 13, rcx %lu, flags %x", cx, (u32)(fl & F_ALL));

    /* REPNE SCASB finds 0x42 at index 20. */
    memset(dbuf, 0x11, 64);
    dbuf[20] = 0x42;
    di = dbuf;
    cx = 64;
    asm volatile("cld; repne scasb; pushfq; popq %2"
                 : "+D"(di), "+c"(cx), "=r"(fl) : "a"(0x42) : "memory", "cc");
    report(cx == 64 - 21 && di == dbuf + 21 && (fl & F_ZF), "repne scasb: found at 20");

    /* REP with RCX=0 does nothing: flags kept. */
    si = sbuf;
    di = dbuf;
    cx = 0;
    asm volatile("pushq %4; popfq; cld; repe cmpsb; pushfq; popq %3"
                 : "+S"(si), "+D"(di), "+c"(cx), "=r"(fl)
                 : "r"(X86_EFLAGS_FIXED | F_ZF | F_CF) : "memory", "cc");
    report(si == sbuf && di == dbuf && (fl & F_ALL) == (F_ZF | F_CF),
           "repe cmpsb with rcx=0: no-op, flags kept");

    u64 v;
    u64 *lq = (u64 *)sbuf;
    asm volatile("cld; lodsq" : "=a"(v), "+S"(lq) :: "memory");
    report(v == ((u64 *)sbuf)[0] && lq == (u64 *)sbuf + 1, "lodsq");

    /* Address-size prefix: the count is ECX (upper half of RCX ignored), and
     * the instruction writes ECX, zeroing RCX's upper half. */
    di = dbuf;
    cx = 0xffffffff00000003ull;
    asm volatile("cld; .byte 0x67; rep stosb" : "+D"(di), "+c"(cx) : "a"(0x77) : "memory");
    report(cx == 0 && di == dbuf + 3 && dbuf[2] == 0x77 && dbuf[3] == 0x11,
           "addr32 rep stosb: counts ECX");
}

/* ---- compiled workload --------------------------------------------------------- */
static u32 work[512];

static void sort_u32(u32 *a, int n)
{
    /* Shell sort: compares, branches and indexed accesses. */
    for (int gap = n / 2; gap > 0; gap /= 2)
        for (int i = gap; i < n; i++) {
            u32 t = a[i];
            int j = i;
            for (; j >= gap && a[j - gap] > t; j -= gap)
                a[j] = a[j - gap];
            a[j] = t;
        }
}

static u32 crc32(const u8 *p, size_t n)
{
    u32 c = 0xffffffff;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c;
}

static u64 workload(void)
{
    u64 x = 0x9e3779b97f4a7c15ull, h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 512; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        work[i] = (u32)(x >> 16);
    }
    sort_u32(work, 512);
    bool sorted = true;
    for (int i = 1; i < 512; i++)
        sorted &= work[i - 1] <= work[i];
    for (int i = 0; i < 512; i++)
        h = fnv(h, work[i]);
    u64 q = 0;
    for (u64 i = 1; i < 200; i++)
        q += (h / i) ^ (h % (i * 977)) ^ (u64)((s64)h / -(s64)i);
    return (sorted ? 0 : 1) ^ h ^ ((u64)crc32((u8 *)work, sizeof(work)) << 32) ^ q;
}

/* What workload() (with fnv, sort_u32, crc32) returns when built for the
 * host (gcc -O2 and clang -O0 agree). */
#define WORKLOAD_EXPECTED 0xe2105ad6e8523940ull

int main(struct mb_info *mbi)
{
    (void)mbi;
    for (int op = 0; op < NOPS; op++)
        for (int si = 0; si < 4; si++)
            if (fns[op][si])
                run_op((enum op)op, si);
    test_conditions();
    test_shd();
    test_extend();
    test_strings();
    u64 w = workload();
    report(w == WORKLOAD_EXPECTED, "compiled workload checksum %lx", w);
    return report_summary();
}
