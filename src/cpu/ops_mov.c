/* ops_mov.c: data movement, exchange, conversion, SETcc/CMOVcc, flag
 * instructions, XLAT and the BCD adjustments (SDM Vol 2). */
#include "ops.h"

void op_mov_EG(struct cpu *c, const struct insn *i)
{
    op_set_rm(c, i, i->opsize, op_get_reg(c, i, i->opsize));
}

void op_mov_GE(struct cpu *c, const struct insn *i)
{
    reg_set(c, i, i->reg, i->opsize, op_get_rm(c, i, i->opsize));
}

void op_mov_r32_r32(struct cpu *c, const struct insn *i)
{
    c->regs[i->rm] = (uint32_t)c->regs[i->reg];
}

void op_mov_r64_r64(struct cpu *c, const struct insn *i)
{
    c->regs[i->rm] = c->regs[i->reg];
}

/* loads and stores of whole 32/64-bit registers */
void op_mov_r32_m(struct cpu *c, const struct insn *i)
{
    c->regs[i->reg] = (uint32_t)mem_read(c, i->seg, ea_fast(c, i), 4);
}

void op_mov_r64_m(struct cpu *c, const struct insn *i)
{
    c->regs[i->reg] = mem_read(c, i->seg, ea_fast(c, i), 8);
}

void op_mov_m_r32(struct cpu *c, const struct insn *i)
{
    mem_write(c, i->seg, ea_fast(c, i), 4, (uint32_t)c->regs[i->reg]);
}

void op_mov_m_r64(struct cpu *c, const struct insn *i)
{
    mem_write(c, i->seg, ea_fast(c, i), 8, c->regs[i->reg]);
}

void op_lea64(struct cpu *c, const struct insn *i)
{
    c->regs[i->reg] = ea_fast(c, i);
}

/* LEA r64 with a 64-bit address, a base and no RIP: the EA without the
 * none/RIP tests and the address-size mask (decode.c). */
void op_lea64_b(struct cpu *c, const struct insn *i)
{
    c->regs[i->reg] = c->regs[i->base] + (uint64_t)(int64_t)i->disp;
}

void op_lea64_bi(struct cpu *c, const struct insn *i)
{
    c->regs[i->reg] = c->regs[i->base] + (c->regs[i->index] << i->scale) +
                      (uint64_t)(int64_t)i->disp;
}

void op_mov_EI(struct cpu *c, const struct insn *i)
{
    op_set_rm(c, i, i->opsize, i->imm);
}

/* B0+r ib, B8+r iw/id/io (REX.W: the only 64-bit immediate) */
void op_mov_ZI(struct cpu *c, const struct insn *i)
{
    reg_set(c, i, i->rm, i->opsize, i->imm);
}

/* A0/A1: AL/rAX = moffs; A2/A3: moffs = AL/rAX. imm holds the offset. */
void op_mov_AO(struct cpu *c, const struct insn *i)
{
    reg_set(c, i, R_RAX, i->opsize, mem_read(c, i->seg, i->imm, i->opsize));
}

void op_mov_OA(struct cpu *c, const struct insn *i)
{
    mem_write(c, i->seg, i->imm, i->opsize, reg_get(c, i, R_RAX, i->opsize));
}

void op_movzx_b(struct cpu *c, const struct insn *i)
{
    reg_set(c, i, i->reg, i->opsize, op_get_rm(c, i, 1));
}

/* MOVZX r32/r64, m8: both write the whole register (decode.c) */
void op_movzx_r_m8(struct cpu *c, const struct insn *i)
{
    c->regs[i->reg] = (uint8_t)mem_read(c, i->seg, ea_fast(c, i), 1);
}

void op_movzx_w(struct cpu *c, const struct insn *i)
{
    reg_set(c, i, i->reg, i->opsize, op_get_rm(c, i, 2));
}

void op_movsx_b(struct cpu *c, const struct insn *i)
{
    reg_set(c, i, i->reg, i->opsize, (uint64_t)(int64_t)(int8_t)op_get_rm(c, i, 1));
}

void op_movsx_w(struct cpu *c, const struct insn *i)
{
    reg_set(c, i, i->reg, i->opsize, (uint64_t)(int64_t)(int16_t)op_get_rm(c, i, 2));
}

/* 63 /r in 64-bit mode; without REX.W it is a plain 32/16-bit move. */
void op_movsxd(struct cpu *c, const struct insn *i)
{
    uint64_t v = op_get_rm(c, i, i->opsize == 2 ? 2 : 4);
    if (i->opsize == 8)
        v = (uint64_t)(int64_t)(int32_t)v;
    reg_set(c, i, i->reg, i->opsize, v);
}

void op_lea(struct cpu *c, const struct insn *i)
{
    reg_set(c, i, i->reg, i->opsize, insn_ea(c, i));
}

/* XCHG with memory is always locked; the store comes first so that a
 * fault leaves the register alone. */
void op_xchg_EG(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t b = op_get_reg(c, i, sz);
    if (i->mod == 3) {
        uint64_t a = reg_get(c, i, i->rm, sz);
        reg_set(c, i, i->rm, sz, b);
        reg_set(c, i, i->reg, sz, a);
        return;
    }
    uint64_t ea = insn_ea(c, i);
    uint64_t a = mem_read(c, i->seg, ea, sz);
    mem_write(c, i->seg, ea, sz, b);
    reg_set(c, i, i->reg, sz, a);
}

/* 90+r: XCHG r, rAX. 90 itself (also with F3: PAUSE) is NOP and does not
 * zero-extend EAX in 64-bit mode (SDM Vol 2 NOP/XCHG). */
void op_xchg_ZA(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    if (i->rm == 0) {
        /* PAUSE (F3 90) in a spin loop: with several vCPUs, end this
         * one's turn so the one it waits for runs (docs/smp.md). */
        if (i->rep == 0xf3 && c->pause_yields)
            c->exit_request = 1;
        return;
    }
    uint64_t a = reg_get(c, i, i->rm, sz), b = reg_get(c, i, R_RAX, sz);
    reg_set(c, i, i->rm, sz, b);
    reg_set(c, i, R_RAX, sz, a);
}

/* CMPXCHG: flags as CMP acc, dest. A memory destination is always
 * written (with its old value on mismatch), before the accumulator. */
void op_cmpxchg(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t acc = reg_get(c, i, R_RAX, sz), src = op_get_reg(c, i, sz);
    uint64_t ea = 0, d;
    if (i->mod == 3) {
        d = reg_get(c, i, i->rm, sz);
        if (d == acc)
            reg_set(c, i, i->rm, sz, src);
    } else {
        ea = insn_ea(c, i);
        d = mem_read(c, i->seg, ea, sz);
        mem_write(c, i->seg, ea, sz, d == acc ? src : d);
    }
    if (d != acc)
        reg_set(c, i, R_RAX, sz, d);
    lf_set(&c->lf, LF_SUB, sz, (acc - d) & size_mask(sz), acc, d);
}

/* CMPXCHG8B m64 / CMPXCHG16B m128 (REX.W; #GP(0) unless 16-byte
 * aligned, SDM Vol 2 CMPXCHG8B). Only ZF changes. */
void op_cmpxchg8b(struct cpu *c, const struct insn *i)
{
    uint64_t ea = insn_ea(c, i), *r = c->regs;
    bool eq;
    if (i->rex & 8) {
        if (ea & 15)
            cpu_raise(c, EXC_GP, 0);
        mem_check_write(c, i->seg, ea, 8);
        mem_check_write(c, i->seg, ea + 8, 8);
        uint64_t lo = mem_read(c, i->seg, ea, 8), hi = mem_read(c, i->seg, ea + 8, 8);
        eq = lo == r[R_RAX] && hi == r[R_RDX];
        if (eq) {
            mem_write(c, i->seg, ea, 8, r[R_RBX]);
            mem_write(c, i->seg, ea + 8, 8, r[R_RCX]);
        } else {
            mem_write(c, i->seg, ea, 8, lo);
            mem_write(c, i->seg, ea + 8, 8, hi);
            r[R_RAX] = lo;
            r[R_RDX] = hi;
        }
    } else {
        uint64_t v = mem_read(c, i->seg, ea, 8);
        uint64_t cmp = (r[R_RDX] & 0xffffffff) << 32 | (r[R_RAX] & 0xffffffff);
        eq = v == cmp;
        mem_write(c, i->seg, ea, 8,
                  eq ? (r[R_RCX] & 0xffffffff) << 32 | (r[R_RBX] & 0xffffffff) : v);
        if (!eq) {
            r[R_RAX] = (uint32_t)v;
            r[R_RDX] = v >> 32;
        }
    }
    uint32_t f = lf_flags(&c->lf) & ~LF_ZF;
    lf_set_eager(&c->lf, f | (eq ? LF_ZF : 0));
}

/* XADD: tmp = src + dest; src = dest; dest = tmp (dest written last, so
 * XADD r, r with one register leaves the sum). */
void op_xadd(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t b = op_get_reg(c, i, sz), a, r;
    if (i->mod == 3) {
        a = reg_get(c, i, i->rm, sz);
        r = (a + b) & size_mask(sz);
        reg_set(c, i, i->reg, sz, a);
        reg_set(c, i, i->rm, sz, r);
    } else {
        uint64_t ea = insn_ea(c, i);
        a = mem_read(c, i->seg, ea, sz);
        r = (a + b) & size_mask(sz);
        mem_write(c, i->seg, ea, sz, r);
        reg_set(c, i, i->reg, sz, a);
    }
    lf_set(&c->lf, LF_ADD, sz, r, a, b);
}

/* 98: CBW/CWDE/CDQE */
void op_cbw(struct cpu *c, const struct insn *i)
{
    uint64_t a = c->regs[R_RAX];
    switch (i->opsize) {
    case 2: reg_set(c, i, R_RAX, 2, (uint64_t)(int64_t)(int8_t)a); break;
    case 4: reg_set(c, i, R_RAX, 4, (uint64_t)(int64_t)(int16_t)a); break;
    default: c->regs[R_RAX] = (uint64_t)(int64_t)(int32_t)a; break;
    }
}

/* 99: CWD/CDQ/CQO */
void op_cwd(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t a = reg_get(c, i, R_RAX, sz);
    reg_set(c, i, R_RDX, sz, (a & lf_sign(lf_szidx(sz))) ? ~0ull : 0);
}

void op_setcc(struct cpu *c, const struct insn *i)
{
    op_set_rm(c, i, 1, lf_cond(&c->lf, i->opcode & 15));
}

/* CMOVcc reads its source even when false, and a 32-bit destination is
 * zero-extended either way in 64-bit mode (SDM Vol 2 CMOVcc). */
void op_cmovcc(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t v = op_get_rm(c, i, sz);
    if (lf_cond(&c->lf, i->opcode & 15))
        reg_set(c, i, i->reg, sz, v);
    else if (sz == 4)
        c->regs[i->reg] = (uint32_t)c->regs[i->reg];
}

/* LAHF: AH = SF:ZF:0:AF:0:PF:1:CF */
void op_lahf(struct cpu *c, const struct insn *i)
{
    (void)i;
    uint32_t f = lf_flags(&c->lf);
    uint8_t *ah = (uint8_t *)&c->regs[R_RAX] + 1;
    *ah = (uint8_t)((f & (LF_SF | LF_ZF | LF_AF | LF_PF | LF_CF)) | 2);
}

void op_sahf(struct cpu *c, const struct insn *i)
{
    (void)i;
    const uint32_t m = LF_SF | LF_ZF | LF_AF | LF_PF | LF_CF;
    uint32_t ah = (uint32_t)(c->regs[R_RAX] >> 8) & 0xff;
    lf_set_eager(&c->lf, (lf_flags(&c->lf) & ~m) | (ah & m));
}

static void set_cf(struct cpu *c, int how) /* 0 clear, 1 set, 2 flip */
{
    uint32_t f = lf_flags(&c->lf);
    f = how == 0 ? f & ~LF_CF : how == 1 ? f | LF_CF : f ^ LF_CF;
    lf_set_eager(&c->lf, f);
}

void op_clc(struct cpu *c, const struct insn *i) { (void)i; set_cf(c, 0); }
void op_stc(struct cpu *c, const struct insn *i) { (void)i; set_cf(c, 1); }
void op_cmc(struct cpu *c, const struct insn *i) { (void)i; set_cf(c, 2); }
void op_cld(struct cpu *c, const struct insn *i) { (void)i; c->eflags &= ~F_DF; }
void op_std(struct cpu *c, const struct insn *i) { (void)i; c->eflags |= F_DF; }

/* XLAT: AL = [seg:rBX + AL] */
void op_xlat(struct cpu *c, const struct insn *i)
{
    uint64_t ea = (c->regs[R_RBX] + (c->regs[R_RAX] & 0xff)) & addr_mask(i);
    *(uint8_t *)&c->regs[R_RAX] = mem_read8(c, i->seg, ea);
}

/* ---- BCD (invalid in 64-bit mode: the decoder gives #UD). These follow
 * QEMU's helpers so flag results, including the undefined OF, match. */

static void set_al(struct cpu *c, uint8_t al)
{
    *(uint8_t *)&c->regs[R_RAX] = al;
}

static uint32_t szp8(uint8_t al)
{
    uint32_t f = __builtin_parity(al) ? 0 : LF_PF;
    if (!al)
        f |= LF_ZF;
    return f | (al & LF_SF);
}

void op_daa(struct cpu *c, const struct insn *i)
{
    (void)i;
    uint32_t old = lf_flags(&c->lf), f = 0;
    uint8_t al = (uint8_t)c->regs[R_RAX];
    if ((al & 0x0f) > 9 || (old & LF_AF)) {
        al += 6;
        f |= LF_AF;
    }
    if (al > 0x9f || (old & LF_CF)) {
        al += 0x60;
        f |= LF_CF;
    }
    set_al(c, al);
    lf_set_eager(&c->lf, f | szp8(al));
}

void op_das(struct cpu *c, const struct insn *i)
{
    (void)i;
    uint32_t old = lf_flags(&c->lf), f = 0;
    uint8_t al = (uint8_t)c->regs[R_RAX], al1 = al;
    if ((al & 0x0f) > 9 || (old & LF_AF)) {
        f |= LF_AF;
        if (al < 6 || (old & LF_CF))
            f |= LF_CF;
        al -= 6;
    }
    if (al1 > 0x99 || (old & LF_CF)) {
        al -= 0x60;
        f |= LF_CF;
    }
    set_al(c, al);
    lf_set_eager(&c->lf, f | szp8(al));
}

static void aaa_aas(struct cpu *c, bool sub)
{
    uint32_t f = lf_flags(&c->lf);
    uint8_t al = (uint8_t)c->regs[R_RAX], ah = (uint8_t)(c->regs[R_RAX] >> 8);
    if ((al & 0x0f) > 9 || (f & LF_AF)) {
        if (sub) {
            ah = (uint8_t)(ah - 1 - (al < 6));
            al = (al - 6) & 0x0f;
        } else {
            ah = (uint8_t)(ah + 1 + (al > 0xf9));
            al = (al + 6) & 0x0f;
        }
        f |= LF_CF | LF_AF;
    } else {
        f &= ~(LF_CF | LF_AF);
        al &= 0x0f;
    }
    c->regs[R_RAX] = (c->regs[R_RAX] & ~0xffffull) | al | (uint64_t)ah << 8;
    lf_set_eager(&c->lf, f);
}

void op_aaa(struct cpu *c, const struct insn *i) { (void)i; aaa_aas(c, false); }
void op_aas(struct cpu *c, const struct insn *i) { (void)i; aaa_aas(c, true); }

/* AAM imm8: AH = AL / imm, AL = AL % imm; imm 0 is #DE. */
void op_aam(struct cpu *c, const struct insn *i)
{
    uint8_t base = (uint8_t)i->imm, al = (uint8_t)c->regs[R_RAX];
    if (!base)
        cpu_raise(c, EXC_DE, CPU_NOERR);
    uint8_t q = al / base, r = al % base;
    c->regs[R_RAX] = (c->regs[R_RAX] & ~0xffffull) | r | (uint64_t)q << 8;
    lf_set(&c->lf, LF_LOGIC, 1, r, 0, 0);
}

/* AAD imm8: AL = AL + AH * imm, AH = 0. */
void op_aad(struct cpu *c, const struct insn *i)
{
    uint8_t base = (uint8_t)i->imm;
    uint8_t al = (uint8_t)c->regs[R_RAX], ah = (uint8_t)(c->regs[R_RAX] >> 8);
    al = (uint8_t)(al + ah * base);
    c->regs[R_RAX] = (c->regs[R_RAX] & ~0xffffull) | al;
    lf_set(&c->lf, LF_LOGIC, 1, al, 0, 0);
}

/* D6 SALC (undocumented, not in 64-bit mode): AL = CF ? FF : 00, flags
 * unchanged. Every Intel/AMD CPU and QEMU have it. */
void op_salc(struct cpu *c, const struct insn *i)
{
    (void)i;
    set_al(c, lf_cf(&c->lf) ? 0xff : 0);
}

/* 62 /r BOUND r, m16&16 / m32&32: #BR (a fault) unless lower <= index <=
 * upper, all signed (SDM Vol 2 BOUND). */
void op_bound(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    unsigned s = lf_szidx(sz);
    uint64_t ea = insn_ea(c, i);
    int64_t lo = lf_sext(mem_read(c, i->seg, ea, sz), s);
    int64_t hi = lf_sext(mem_read(c, i->seg, (ea + (uint64_t)sz) & addr_mask(i), sz), s);
    int64_t idx = lf_sext(op_get_reg(c, i, sz), s);
    if (idx < lo || idx > hi)
        cpu_raise(c, EXC_BR, CPU_NOERR);
}

/* Threaded twins (ops.h): the entries cached blocks run. */
THREADED(op_mov_GE)
THREADED(op_mov_r32_r32)
THREADED(op_mov_r64_r64)
THREADED(op_mov_r32_m)
THREADED(op_mov_r64_m)
THREADED(op_lea64)
THREADED(op_lea64_b)
THREADED(op_lea64_bi)
THREADED(op_mov_ZI)
THREADED(op_mov_AO)
THREADED(op_movzx_b)
THREADED(op_movzx_r_m8)
THREADED(op_movzx_w)
THREADED(op_movsx_b)
THREADED(op_movsx_w)
THREADED(op_movsxd)
THREADED(op_lea)
THREADED(op_cmovcc)
THREADED(op_cbw)
THREADED(op_cwd)
THREADED_STORE(op_mov_EG)
THREADED_STORE(op_mov_m_r32)
THREADED_STORE(op_mov_m_r64)
THREADED_STORE(op_mov_EI)
THREADED_STORE(op_mov_OA)
THREADED_STORE(op_setcc)
THREADED_STORE(op_xchg_EG)
