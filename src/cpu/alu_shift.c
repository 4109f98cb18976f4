/* alu_shift.c: SHL/SHR/SAR, ROL/ROR/RCL/RCR, SHLD/SHRD (SDM Vol 2 SAL/SAR/
 * SHL/SHR, RCL/RCR/ROL/ROR, SHLD, SHRD).
 *
 * The count is masked to 5 bits (6 with REX.W); a masked count of 0
 * changes nothing, not even flags. Where the SDM leaves OF undefined
 * (counts > 1) or AF undefined, we produce what QEMU does, since guest
 * output is compared against it: OF from the last one-bit step, AF = 0. */
#include "ops.h"

static unsigned shift_count(struct cpu *c, const struct insn *i)
{
    /* D2/D3 and 0F A5/AD take the count from CL, the others from imm */
    bool cl = i->map == 0 ? (i->opcode & 0xfe) == 0xd2 : (i->opcode & 1);
    unsigned n = cl ? (unsigned)c->regs[R_RCX] : (unsigned)i->imm;
    return n & (i->opsize == 8 ? 0x3f : 0x1f);
}

/* Read the destination; *ea receives its address for the write back. */
static uint64_t dst_read(struct cpu *c, const struct insn *i, uint64_t *ea)
{
    if (i->mod == 3)
        return reg_get(c, i, i->rm, i->opsize);
    *ea = insn_ea(c, i);
    return mem_read(c, i->seg, *ea, i->opsize);
}

static void dst_write(struct cpu *c, const struct insn *i, uint64_t ea,
                      uint64_t v)
{
    if (i->mod == 3)
        reg_set(c, i, i->rm, i->opsize, v);
    else
        mem_write(c, i->seg, ea, i->opsize, v);
}

/* A masked count of 0 changes no flags, but the destination is still
 * written: a 32-bit register is zero-extended (as hardware and QEMU do). */
static void count_zero(struct cpu *c, const struct insn *i)
{
    if (i->mod == 3 && i->opsize == 4)
        c->regs[i->rm] = (uint32_t)c->regs[i->rm];
}

static uint32_t of_bit(uint64_t x, int bits)
{
    return ((x >> (bits - 1)) & 1) ? LF_OF : 0;
}

enum { SH_SHL, SH_SHR, SH_SAR };

static void shift(struct cpu *c, const struct insn *i, int kind)
{
    int sz = i->opsize, bits = sz * 8;
    unsigned n = shift_count(c, i);
    uint64_t m = size_mask(sz), ea = 0;
    uint64_t a = dst_read(c, i, &ea), t, r;
    if (!n) {
        count_zero(c, i);
        return;
    }
    uint32_t cf;
    /* t: the value after n-1 one-bit steps; the last step gives r and CF */
    if (kind == SH_SHL) {
        t = n - 1 >= 64 ? 0 : (a << (n - 1)) & m;
        r = (t << 1) & m;
        cf = (t >> (bits - 1)) & 1;
    } else if (kind == SH_SHR) {
        t = a >> (n - 1);
        r = t >> 1;
        cf = t & 1;
    } else {
        int64_t sa = lf_sext(a, lf_szidx(sz));
        t = (uint64_t)(sa >> (n - 1)) & m;
        r = (uint64_t)(sa >> n) & m;
        cf = t & 1;
    }
    dst_write(c, i, ea, r);
    lf_set_resaux(&c->lf, sz, r, cf | of_bit(t ^ r, bits));
}

void op_shl(struct cpu *c, const struct insn *i) { shift(c, i, SH_SHL); }
void op_shr(struct cpu *c, const struct insn *i) { shift(c, i, SH_SHR); }
void op_sar(struct cpu *c, const struct insn *i) { shift(c, i, SH_SAR); }

/* Rotates change only CF and OF. Still lazy: ZF/SF/PF depend only on
 * the previous record's result and size, so it becomes a LF_RESAUX record
 * of that result with the new CF/OF and the old AF (the AF formulas of
 * lf_flags). Saves materialising all six flags (~60 host insns). */
static inline void set_cf_of(struct cpu *c, uint32_t cf, uint32_t of)
{
    struct lazyflags *lf = &c->lf;
    uint32_t co = (cf ? LF_CF : 0) | (of ? LF_OF : 0), af;
    switch (lf->op >> 2) {
    case LF_EAGER:
        lf->aux = (lf->aux & ~(LF_CF | LF_OF)) | co;
        return;
    case LF_RESAUX:
        af = lf->aux & LF_AF;
        break;
    case LF_LOGIC:
        af = 0;
        break;
    case LF_INC:
    case LF_DEC:
        af = (uint32_t)(lf->src1 ^ lf->res) & LF_AF;
        break;
    default: /* ADD, ADC, SUB, SBB */
        af = (uint32_t)(lf->src1 ^ lf->src2 ^ lf->res) & LF_AF;
        break;
    }
    lf->op = LF_RESAUX << 2 | (lf->op & 3);
    lf->aux = co | af;
}

void op_rol(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize, bits = sz * 8;
    unsigned n = shift_count(c, i);
    uint64_t m = size_mask(sz), ea = 0, a = dst_read(c, i, &ea), r;
    if (!n) {
        count_zero(c, i);
        return;
    }
    unsigned k = n % bits;
    r = k ? ((a << k) | (a >> (bits - k))) & m : a;
    dst_write(c, i, ea, r);
    set_cf_of(c, r & 1, ((r >> (bits - 1)) ^ r) & 1);
}

void op_ror(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize, bits = sz * 8;
    unsigned n = shift_count(c, i);
    uint64_t m = size_mask(sz), ea = 0, a = dst_read(c, i, &ea), r;
    if (!n) {
        count_zero(c, i);
        return;
    }
    unsigned k = n % bits;
    r = k ? ((a >> k) | (a << (bits - k))) & m : a;
    dst_write(c, i, ea, r);
    set_cf_of(c, (r >> (bits - 1)) & 1, ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1);
}

/* RCL/RCR rotate through CF: a bits+1 wide rotation, the count taken
 * modulo 9 / 17 for byte / word operands (SDM Vol 2 RCL). */
static void rcx(struct cpu *c, const struct insn *i, bool left)
{
    int sz = i->opsize, bits = sz * 8;
    unsigned n = shift_count(c, i);
    uint64_t ea = 0, a = dst_read(c, i, &ea);
    if (sz < 4)
        n %= bits + 1;
    if (!n) {
        count_zero(c, i);
        return;
    }
    unsigned __int128 w = ((unsigned __int128)1 << (bits + 1)) - 1;
    unsigned __int128 v = (unsigned __int128)(lf_cf(&c->lf) ? 1 : 0) << bits | a;
    if (left)
        v = ((v << n) | (v >> (bits + 1 - n))) & w;
    else
        v = ((v >> n) | (v << (bits + 1 - n))) & w;
    uint64_t r = (uint64_t)v & size_mask(sz);
    dst_write(c, i, ea, r);
    set_cf_of(c, (uint32_t)(v >> bits) & 1, ((a ^ r) >> (bits - 1)) & 1);
}

void op_rcl(struct cpu *c, const struct insn *i) { rcx(c, i, true); }
void op_rcr(struct cpu *c, const struct insn *i) { rcx(c, i, false); }

/* SHLD/SHRD. A 16-bit count above 16 has an undefined result; like QEMU
 * we shift the 48-bit dest:src:dest pattern (Intel's behaviour). */
static void shxd(struct cpu *c, const struct insn *i, bool left)
{
    int sz = i->opsize, bits = sz * 8;
    unsigned n = shift_count(c, i);
    uint64_t ea = 0, a = dst_read(c, i, &ea), b = op_get_reg(c, i, sz);
    uint64_t t, r;
    if (!n) {
        count_zero(c, i);
        return;
    }
    if (sz == 8) {
        if (left) {
            unsigned __int128 v = (unsigned __int128)a << 64 | b;
            t = (uint64_t)((v << (n - 1)) >> 64);
            r = (uint64_t)((v << n) >> 64);
        } else {
            unsigned __int128 v = (unsigned __int128)b << 64 | a;
            t = (uint64_t)(v >> (n - 1));
            r = (uint64_t)(v >> n);
        }
    } else {
        /* 32 bits: dest:src (left) or src:dest (right) in 64 bits. 16 bits:
         * dest:src:dest, shifted the same way (QEMU's choice). */
        uint64_t v = sz == 2 ? a << 32 | (b & 0xffff) << 16 | a
                   : left ? a << 32 | b : b << 32 | a;
        if (left) {
            t = (v << (n - 1)) >> 32;
            r = (v << n) >> 32;
        } else {
            t = v >> (n - 1);
            r = v >> n;
        }
        t &= size_mask(sz);
        r &= size_mask(sz);
    }
    dst_write(c, i, ea, r);
    uint32_t cf = left ? (t >> (bits - 1)) & 1 : t & 1;
    lf_set_resaux(&c->lf, sz, r, cf | of_bit(t ^ r, bits));
}

void op_shld(struct cpu *c, const struct insn *i) { shxd(c, i, true); }
void op_shrd(struct cpu *c, const struct insn *i) { shxd(c, i, false); }

/* ---- specialised: shift/rotate of a 32/64-bit register by a nonzero
 * immediate count (decode.c picks these; count 0 stays generic). Same
 * results and flags as shift()/op_rol()/op_ror() without the operand-kind
 * switches. */

#define SHIFT_RI(name, T, ST, bits)                                          \
void op_shl_##name(struct cpu *c, const struct insn *i)                      \
{                                                                            \
    unsigned n = (unsigned)i->imm & (bits - 1);                              \
    T a = (T)c->regs[i->rm], t = (T)(a << (n - 1)), r = (T)(t << 1);         \
    c->regs[i->rm] = r;                                                      \
    lf_set_resaux(&c->lf, bits / 8, r,                                       \
                  (uint32_t)(t >> (bits - 1)) | of_bit(t ^ r, bits));        \
}                                                                            \
void op_shr_##name(struct cpu *c, const struct insn *i)                      \
{                                                                            \
    unsigned n = (unsigned)i->imm & (bits - 1);                              \
    T a = (T)c->regs[i->rm], t = (T)(a >> (n - 1)), r = (T)(t >> 1);         \
    c->regs[i->rm] = r;                                                      \
    lf_set_resaux(&c->lf, bits / 8, r, (uint32_t)(t & 1) | of_bit(t ^ r, bits)); \
}                                                                            \
void op_sar_##name(struct cpu *c, const struct insn *i)                      \
{                                                                            \
    unsigned n = (unsigned)i->imm & (bits - 1);                              \
    ST a = (ST)c->regs[i->rm];                                               \
    T t = (T)(a >> (n - 1)), r = (T)(a >> n);                                \
    c->regs[i->rm] = r;                                                      \
    lf_set_resaux(&c->lf, bits / 8, r, (uint32_t)(t & 1) | of_bit(t ^ r, bits)); \
}                                                                            \
void op_rol_##name(struct cpu *c, const struct insn *i)                      \
{                                                                            \
    unsigned n = (unsigned)i->imm & (bits - 1);                              \
    T a = (T)c->regs[i->rm], r = (T)((a << n) | (a >> (bits - n)));          \
    c->regs[i->rm] = r;                                                      \
    set_cf_of(c, r & 1, ((r >> (bits - 1)) ^ r) & 1);                        \
}                                                                            \
void op_ror_##name(struct cpu *c, const struct insn *i)                      \
{                                                                            \
    unsigned n = (unsigned)i->imm & (bits - 1);                              \
    T a = (T)c->regs[i->rm], r = (T)((a >> n) | (a << (bits - n)));          \
    c->regs[i->rm] = r;                                                      \
    set_cf_of(c, (r >> (bits - 1)) & 1, ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1); \
}

SHIFT_RI(r32_i, uint32_t, int32_t, 32)
SHIFT_RI(r64_i, uint64_t, int64_t, 64)
#undef SHIFT_RI

/* Threaded twins (ops.h): the entries cached blocks run. */
THREADED(op_shl_r32_i)
THREADED(op_shr_r32_i)
THREADED(op_sar_r32_i)
THREADED(op_rol_r32_i)
THREADED(op_ror_r32_i)
THREADED(op_shl_r64_i)
THREADED(op_shr_r64_i)
THREADED(op_sar_r64_i)
THREADED(op_rol_r64_i)
THREADED(op_ror_r64_i)
THREADED_STORE(op_shl)
THREADED_STORE(op_shr)
THREADED_STORE(op_sar)
THREADED_STORE(op_rol)
THREADED_STORE(op_ror)
THREADED_STORE(op_rcl)
THREADED_STORE(op_rcr)
THREADED_STORE(op_shld)
THREADED_STORE(op_shrd)

/* Flag-free twins (threaded.c) of the shifts by a nonzero immediate. */
#define NF_SHIFT(name, T, ST, bits)                                          \
void tn_op_shl_##name(struct cpu *c, const struct insn *i)                   \
{                                                                            \
    c->regs[i->rm] = (T)((T)c->regs[i->rm] << (i->imm & (bits - 1)));       \
    THREAD_NEXT(c, i);                                                       \
}                                                                            \
void tn_op_shr_##name(struct cpu *c, const struct insn *i)                   \
{                                                                            \
    c->regs[i->rm] = (T)c->regs[i->rm] >> (i->imm & (bits - 1));            \
    THREAD_NEXT(c, i);                                                       \
}                                                                            \
void tn_op_sar_##name(struct cpu *c, const struct insn *i)                   \
{                                                                            \
    c->regs[i->rm] = (T)((ST)c->regs[i->rm] >> (i->imm & (bits - 1)));      \
    THREAD_NEXT(c, i);                                                       \
}                                                                            \
void tn_op_rol_##name(struct cpu *c, const struct insn *i)                   \
{                                                                            \
    unsigned n = (unsigned)i->imm & (bits - 1); /* nonzero */                \
    T a = (T)c->regs[i->rm];                                                 \
    c->regs[i->rm] = (T)((a << n) | (a >> (bits - n)));                      \
    THREAD_NEXT(c, i);                                                       \
}                                                                            \
void tn_op_ror_##name(struct cpu *c, const struct insn *i)                   \
{                                                                            \
    unsigned n = (unsigned)i->imm & (bits - 1);                              \
    T a = (T)c->regs[i->rm];                                                 \
    c->regs[i->rm] = (T)((a >> n) | (a << (bits - n)));                      \
    THREAD_NEXT(c, i);                                                       \
}
NF_SHIFT(r32_i, uint32_t, int32_t, 32)
NF_SHIFT(r64_i, uint64_t, int64_t, 64)
#undef NF_SHIFT
