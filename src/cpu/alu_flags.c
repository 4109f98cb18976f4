/* alu_flags.c: materialising the lazy flags (flags.h) and EFLAGS as a
 * whole. */
#include "ops.h"

static inline uint32_t parity_flag(uint64_t res)
{
    /* PF: set if the low byte has an even number of ones (SDM Vol 1 3.4.3.1) */
    return __builtin_parity((unsigned)(res & 0xff)) ? 0 : LF_PF;
}

uint32_t lf_flags(const struct lazyflags *lf)
{
    unsigned kind = lf->op >> 2, sz = lf->op & 3;
    uint64_t sign = lf_sign(sz);
    uint64_t r = lf->res, a = lf->src1, b = lf->src2;
    uint32_t f;

    if (kind == LF_EAGER)
        return lf->aux & LF_ALL;
    f = parity_flag(r);
    if (r == 0)
        f |= LF_ZF;
    if (r & sign)
        f |= LF_SF;
    switch (kind) {
    case LF_ADD:
    case LF_ADC:
        /* carry out of the top bit = majority(a, b, carry into it) */
        if (((a & b) | ((a | b) & ~r)) & sign)
            f |= LF_CF;
        if ((a ^ r) & (b ^ r) & sign)
            f |= LF_OF;
        f |= (a ^ b ^ r) & LF_AF;
        break;
    case LF_SUB:
    case LF_SBB:
        if (((~a & b) | ((~a | b) & r)) & sign)
            f |= LF_CF;
        if ((a ^ b) & (a ^ r) & sign)
            f |= LF_OF;
        f |= (a ^ b ^ r) & LF_AF;
        break;
    case LF_INC:
        f |= lf->aux & LF_CF;
        if (r == sign)
            f |= LF_OF;
        f |= (a ^ r) & LF_AF;
        break;
    case LF_DEC:
        f |= lf->aux & LF_CF;
        if (a == sign)
            f |= LF_OF;
        f |= (a ^ r) & LF_AF;
        break;
    case LF_RESAUX:
        f |= lf->aux & (LF_CF | LF_OF | LF_AF);
        break;
    default: /* LF_LOGIC: CF = OF = 0; AF undefined, 0 as on QEMU */
        break;
    }
    return f;
}

uint32_t cpu_get_eflags(struct cpu *c)
{
    return (c->eflags & ~F_ARITH) | lf_flags(&c->lf) | 2;
}

/* Raw write: reserved bits read as 0 except bit 1 (SDM Vol 1 3.4.3). */
void cpu_set_eflags(struct cpu *c, uint32_t v)
{
    v = (v & 0x3f7fd7) | 2;
    lf_set_eager(&c->lf, v & F_ARITH);
    c->eflags = v & ~F_ARITH;
}
