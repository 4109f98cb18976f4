/* alu_bits.c: BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT, POPCNT, BSWAP. */
#include "ops.h"

enum { BT_TEST, BT_SET, BT_RESET, BT_COMPL };

/* CF = the bit; the other flags keep their values (ZF is unaffected per
 * the SDM; OF/SF/AF/PF are undefined). */
static void bt_finish(struct cpu *c, uint64_t bit)
{
    uint32_t f = lf_flags(&c->lf) & ~LF_CF;
    lf_set_eager(&c->lf, f | (bit ? LF_CF : 0));
}

static uint64_t bt_apply(int op, uint64_t v, uint64_t mask)
{
    switch (op) {
    case BT_SET: return v | mask;
    case BT_RESET: return v & ~mask;
    case BT_COMPL: return v ^ mask;
    default: return v;
    }
}

/* Register bit offset: with a memory operand it is a signed offset that
 * can reach outside the addressed operand (SDM Vol 2 BT, "bit base"). */
static void bt_reg(struct cpu *c, const struct insn *i, int op)
{
    int sz = i->opsize, bits = sz * 8;
    uint64_t off = op_get_reg(c, i, sz);
    if (i->mod == 3) {
        uint64_t v = reg_get(c, i, i->rm, sz), mask = 1ull << (off & (bits - 1));
        if (op != BT_TEST)
            reg_set(c, i, i->rm, sz, bt_apply(op, v, mask));
        bt_finish(c, v & mask);
        return;
    }
    int64_t soff = lf_sext(off, lf_szidx(sz));
    uint64_t ea = insn_ea(c, i) + (uint64_t)((soff >> (3 + lf_szidx(sz))) * sz);
    ea &= size_mask(i->addrsize);
    uint64_t v = mem_read(c, i->seg, ea, sz), mask = 1ull << (off & (bits - 1));
    if (op != BT_TEST)
        mem_write(c, i->seg, ea, sz, bt_apply(op, v, mask));
    bt_finish(c, v & mask);
}

static void bt_imm(struct cpu *c, const struct insn *i, int op)
{
    int sz = i->opsize;
    uint64_t ea = 0, v, mask = 1ull << (i->imm & (sz * 8 - 1));
    if (i->mod == 3) {
        v = reg_get(c, i, i->rm, sz);
        if (op != BT_TEST)
            reg_set(c, i, i->rm, sz, bt_apply(op, v, mask));
    } else {
        ea = insn_ea(c, i);
        v = mem_read(c, i->seg, ea, sz);
        if (op != BT_TEST)
            mem_write(c, i->seg, ea, sz, bt_apply(op, v, mask));
    }
    bt_finish(c, v & mask);
}

void op_bt_G(struct cpu *c, const struct insn *i) { bt_reg(c, i, BT_TEST); }
void op_bts_G(struct cpu *c, const struct insn *i) { bt_reg(c, i, BT_SET); }
void op_btr_G(struct cpu *c, const struct insn *i) { bt_reg(c, i, BT_RESET); }
void op_btc_G(struct cpu *c, const struct insn *i) { bt_reg(c, i, BT_COMPL); }
void op_bt_I(struct cpu *c, const struct insn *i) { bt_imm(c, i, BT_TEST); }
void op_bts_I(struct cpu *c, const struct insn *i) { bt_imm(c, i, BT_SET); }
void op_btr_I(struct cpu *c, const struct insn *i) { bt_imm(c, i, BT_RESET); }
void op_btc_I(struct cpu *c, const struct insn *i) { bt_imm(c, i, BT_COMPL); }

/* TZCNT/LZCNT (F3 prefix): CF = source was 0, ZF = result is 0; we also
 * give SF from the result and clear OF/AF/PF, as QEMU does. */
static void cnt_flags(struct cpu *c, int sz, uint64_t src, uint64_t res)
{
    uint32_t f = (src == 0 ? LF_CF : 0) | (res == 0 ? LF_ZF : 0);
    if (res & lf_sign(lf_szidx(sz)))
        f |= LF_SF;
    lf_set_eager(&c->lf, f);
}

/* BSF/BSR: a zero source sets ZF and leaves the destination unchanged
 * (AMD documents it, Intel hardware does it). The other flags come from
 * the source like a logical op, matching QEMU. */
void op_bsf(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t v = op_get_rm(c, i, sz);
    if (i->rep == 0xf3) {
        uint64_t n = v ? (uint64_t)__builtin_ctzll(v) : (uint64_t)sz * 8;
        reg_set(c, i, i->reg, sz, n);
        cnt_flags(c, sz, v, n);
        return;
    }
    if (v)
        reg_set(c, i, i->reg, sz, (uint64_t)__builtin_ctzll(v));
    lf_set(&c->lf, LF_LOGIC, sz, v, 0, 0);
}

void op_bsr(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t v = op_get_rm(c, i, sz);
    if (i->rep == 0xf3) {
        uint64_t n = v ? (uint64_t)(__builtin_clzll(v) - (64 - sz * 8)) : (uint64_t)sz * 8;
        reg_set(c, i, i->reg, sz, n);
        cnt_flags(c, sz, v, n);
        return;
    }
    if (v)
        reg_set(c, i, i->reg, sz, (uint64_t)(63 - __builtin_clzll(v)));
    lf_set(&c->lf, LF_LOGIC, sz, v, 0, 0);
}

/* POPCNT: ZF = source is 0, the other five flags cleared. */
void op_popcnt(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t v = op_get_rm(c, i, sz);
    reg_set(c, i, i->reg, sz, (uint64_t)__builtin_popcountll(v));
    lf_set_eager(&c->lf, v ? 0 : LF_ZF);
}

/* BSWAP r16 is undefined; like QEMU we store the low half of the 32-bit
 * swap. */
void op_bswap(struct cpu *c, const struct insn *i)
{
    uint64_t *r = &c->regs[i->rm];
    if (i->opsize == 8)
        *r = __builtin_bswap64(*r);
    else if (i->opsize == 4)
        *r = __builtin_bswap32((uint32_t)*r);
    else
        *r = (*r & ~0xffffull) | (__builtin_bswap32((uint32_t)*r) & 0xffff);
}

/* Threaded twins (ops.h): the entries cached blocks run. */
THREADED(op_bt_G)
THREADED(op_bt_I)
THREADED(op_bsf)
THREADED(op_bsr)
THREADED(op_popcnt)
THREADED(op_bswap)
THREADED_STORE(op_bts_G)
THREADED_STORE(op_btr_G)
THREADED_STORE(op_btc_G)
THREADED_STORE(op_bts_I)
THREADED_STORE(op_btr_I)
THREADED_STORE(op_btc_I)
