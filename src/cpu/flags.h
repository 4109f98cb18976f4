/* flags.h: lazy arithmetic flags (OSZAPC). OWNED BY core-exec.
 *
 * A flag-setting instruction records what it did instead of computing six
 * flags: the kind of operation, the operand width, the (width-truncated)
 * operands and result. Most results are consumed only by the next Jcc or
 * SETcc, which lf_cond() answers straight from the record (CMP+JB is one
 * unsigned compare). cpu_get_eflags() materialises everything.
 *
 *   op = kind << 2 | log2(width in bytes)
 *
 * kind       src1, src2, res              aux
 * LF_EAGER   -                            all six flags, already computed
 * LF_ADD     a, b, a+b                    -
 * LF_ADC     a, b, a+b+CF                 -
 * LF_SUB     a, b, a-b  (CMP, NEG: 0-b)   -
 * LF_SBB     a, b, a-b-CF                 -
 * LF_LOGIC   -, -, res  (CF=OF=AF=0)      -
 * LF_INC     a, 1, a+1                    old CF (INC/DEC keep CF)
 * LF_DEC     a, 1, a-1                    old CF
 * LF_RESAUX  -, -, res  (ZF/SF/PF of res) CF/OF/AF (shifts, MUL, ...)
 *
 * The carry-out formulas below hold with a carry/borrow in as well, so ADC
 * and SBB differ from ADD/SUB only in the fast paths of lf_cond(). */
#ifndef PINVM_FLAGS_H
#define PINVM_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

struct lazyflags {
    uint64_t res;  /* result of the last flag-setting operation */
    uint64_t src1; /* first operand */
    uint64_t src2; /* second operand */
    uint32_t op;   /* kind << 2 | size index */
    uint32_t aux;  /* per kind, see above */
};

enum {
    LF_EAGER = 0,
    LF_ADD,
    LF_ADC,
    LF_SUB,
    LF_SBB,
    LF_LOGIC,
    LF_INC,
    LF_DEC,
    LF_RESAUX,
};

/* EFLAGS bit positions used here (same values as F_* in cpu.h). */
#define LF_CF 0x001u
#define LF_PF 0x004u
#define LF_AF 0x010u
#define LF_ZF 0x040u
#define LF_SF 0x080u
#define LF_OF 0x800u
#define LF_ALL (LF_CF | LF_PF | LF_AF | LF_ZF | LF_SF | LF_OF)

/* log2 of an operand size 1, 2, 4, 8 */
static inline unsigned lf_szidx(int size)
{
    return (unsigned)__builtin_ctz((unsigned)size);
}

static inline uint64_t lf_sign(unsigned szidx)
{
    return 1ull << ((8u << szidx) - 1);
}

static inline void lf_set(struct lazyflags *lf, unsigned kind, int size,
                          uint64_t res, uint64_t a, uint64_t b)
{
    lf->op = kind << 2 | lf_szidx(size);
    lf->res = res;
    lf->src1 = a;
    lf->src2 = b;
}

static inline void lf_set_resaux(struct lazyflags *lf, int size, uint64_t res,
                                 uint32_t aux)
{
    lf->op = LF_RESAUX << 2 | lf_szidx(size);
    lf->res = res;
    lf->aux = aux;
}

static inline void lf_set_eager(struct lazyflags *lf, uint32_t flags)
{
    lf->op = LF_EAGER << 2;
    lf->aux = flags & LF_ALL;
    lf->res = 0;
}

/* All six flags of the record (alu_flags.c). */
uint32_t lf_flags(const struct lazyflags *lf);

static inline bool lf_cf(const struct lazyflags *lf)
{
    unsigned kind = lf->op >> 2;
    /* an if-chain, not a switch: no jump table on INC/DEC's hot path */
    if (kind == LF_SUB)
        return lf->src1 < lf->src2;
    if (kind == LF_ADD)
        return lf->res < lf->src1;
    if (kind == LF_LOGIC)
        return false;
    if (kind >= LF_INC || kind == LF_EAGER) /* INC, DEC, RESAUX, EAGER */
        return lf->aux & LF_CF;
    return lf_flags(lf) & LF_CF;
}

/* CF of a record that is not ADC/SBB (those need lf_flags): no call, so
 * INC/DEC's fast path needs no stack frame. */
static inline bool lf_cf_nocall(const struct lazyflags *lf, unsigned kind)
{
    if (kind == LF_SUB)
        return lf->src1 < lf->src2;
    if (kind == LF_ADD)
        return lf->res < lf->src1;
    return kind != LF_LOGIC && (lf->aux & LF_CF);
}

static inline int64_t lf_sext(uint64_t v, unsigned szidx)
{
    unsigned sh = 64 - (8u << szidx);
    return (int64_t)(v << sh) >> sh;
}

/* Condition code cc (the low nibble of Jcc/SETcc/CMOVcc, SDM Vol 1 B.1):
 * fast paths for the combinations compilers emit. */
static inline bool lf_cond(const struct lazyflags *lf, unsigned cc)
{
    unsigned kind = lf->op >> 2, sz = lf->op & 3;
    bool r;
    switch (cc >> 1) {
    case 1: /* B: CF */
        r = lf_cf(lf);
        break;
    case 2: /* E: ZF */
        r = kind == LF_EAGER ? (lf->aux & LF_ZF) != 0 : lf->res == 0;
        break;
    case 3: /* BE: CF|ZF */
        if (kind == LF_SUB)
            r = lf->src1 <= lf->src2;
        else if (kind == LF_LOGIC)
            r = lf->res == 0;
        else
            r = (lf_flags(lf) & (LF_CF | LF_ZF)) != 0;
        break;
    case 4: /* S */
        r = kind == LF_EAGER ? (lf->aux & LF_SF) != 0
                             : (lf->res & lf_sign(sz)) != 0;
        break;
    case 6: /* L: SF != OF */
        if (kind == LF_SUB)
            r = lf_sext(lf->src1, sz) < lf_sext(lf->src2, sz);
        else if (kind == LF_LOGIC)
            r = (lf->res & lf_sign(sz)) != 0;
        else {
            uint32_t f = lf_flags(lf);
            r = !(f & LF_SF) != !(f & LF_OF);
        }
        break;
    case 7: /* LE: ZF | SF != OF */
        if (kind == LF_SUB)
            r = lf_sext(lf->src1, sz) <= lf_sext(lf->src2, sz);
        else if (kind == LF_LOGIC)
            r = lf->res == 0 || (lf->res & lf_sign(sz));
        else {
            uint32_t f = lf_flags(lf);
            r = (f & LF_ZF) || !(f & LF_SF) != !(f & LF_OF);
        }
        break;
    case 0: /* O */
        r = (lf_flags(lf) & LF_OF) != 0;
        break;
    default: /* 5: P */
        r = (lf_flags(lf) & LF_PF) != 0;
        break;
    }
    return r ^ (cc & 1);
}

#endif
