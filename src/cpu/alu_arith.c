/* alu_arith.c: ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, TEST, INC/DEC, NOT/NEG,
 * MUL/IMUL/DIV/IDIV (SDM Vol 2). Flags are recorded lazily (flags.h) and
 * only after the destination was written, so a faulting store leaves
 * EFLAGS as it was. */
#include "ops.h"

enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP };

static const uint8_t alu_kind[8] = {
    LF_ADD, LF_LOGIC, LF_ADC, LF_SBB, LF_LOGIC, LF_SUB, LF_LOGIC, LF_SUB,
};

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE uint64_t alu_calc(int op, uint64_t a, uint64_t b,
                                       uint64_t cf, uint64_t m)
{
    switch (op) {
    case A_ADD: return (a + b) & m;
    case A_OR: return a | b;
    case A_ADC: return (a + b + cf) & m;
    case A_SBB: return (a - b - cf) & m;
    case A_AND: return a & b;
    case A_XOR: return a ^ b;
    default: return (a - b) & m; /* SUB, CMP */
    }
}

/* dest (r/m or register) OP= b */
static ALWAYS_INLINE void alu_rm(struct cpu *c, const struct insn *i, int op,
                                 uint64_t b)
{
    int sz = i->opsize;
    uint64_t m = size_mask(sz), a, r;
    uint64_t cf = (op == A_ADC || op == A_SBB) ? lf_cf(&c->lf) : 0;
    if (i->mod == 3) {
        a = reg_get(c, i, i->rm, sz);
        r = alu_calc(op, a, b, cf, m);
        if (op != A_CMP)
            reg_set(c, i, i->rm, sz, r);
    } else {
        uint64_t ea = ea_fast(c, i);
        uint8_t *p = op != A_CMP ? mem_rmw_ptr(c, i->seg, ea, sz) : NULL;
        if (likely(p != NULL)) {
            a = rmw_load(p, sz);
            r = alu_calc(op, a, b, cf, m);
            rmw_store(p, sz, r);
        } else {
            a = mem_read(c, i->seg, ea, sz);
            r = alu_calc(op, a, b, cf, m);
            if (op != A_CMP)
                mem_write(c, i->seg, ea, sz, r);
        }
    }
    lf_set(&c->lf, alu_kind[op], sz, r, a, b);
}

static ALWAYS_INLINE void alu_reg(struct cpu *c, const struct insn *i, int op,
                                  unsigned reg, uint64_t b)
{
    int sz = i->opsize;
    uint64_t m = size_mask(sz);
    uint64_t cf = (op == A_ADC || op == A_SBB) ? lf_cf(&c->lf) : 0;
    uint64_t a = reg_get(c, i, reg, sz);
    uint64_t r = alu_calc(op, a, b, cf, m);
    if (op != A_CMP)
        reg_set(c, i, reg, sz, r);
    lf_set(&c->lf, alu_kind[op], sz, r, a, b);
}

#define ALU_HANDLERS(name, OP)                                             \
    void op_##name##_EG(struct cpu *c, const struct insn *i)               \
    {                                                                      \
        alu_rm(c, i, OP, op_get_reg(c, i, i->opsize));                     \
    }                                                                      \
    void op_##name##_GE(struct cpu *c, const struct insn *i)               \
    {                                                                      \
        alu_reg(c, i, OP, i->reg, op_get_rm(c, i, i->opsize));             \
    }                                                                      \
    void op_##name##_AI(struct cpu *c, const struct insn *i)               \
    {                                                                      \
        alu_reg(c, i, OP, R_RAX, i->imm & size_mask(i->opsize));           \
    }                                                                      \
    void op_##name##_EI(struct cpu *c, const struct insn *i)               \
    {                                                                      \
        alu_rm(c, i, OP, i->imm & size_mask(i->opsize));                   \
    }

ALU_HANDLERS(add, A_ADD)
ALU_HANDLERS(or, A_OR)
ALU_HANDLERS(adc, A_ADC)
ALU_HANDLERS(sbb, A_SBB)
ALU_HANDLERS(and, A_AND)
ALU_HANDLERS(sub, A_SUB)
ALU_HANDLERS(xor, A_XOR)
ALU_HANDLERS(cmp, A_CMP)

/* Register-register forms at one size (decode.c specialise()). */
#define ALU_R32(name, OP)                                                  \
    void op_##name##_r32_r32(struct cpu *c, const struct insn *i)          \
    {                                                                      \
        uint64_t a = (uint32_t)c->regs[i->rm], b = (uint32_t)c->regs[i->reg]; \
        uint64_t r = alu_calc(OP, a, b, 0, 0xffffffffu);                   \
        if (OP != A_CMP)                                                   \
            c->regs[i->rm] = r;                                            \
        lf_set(&c->lf, alu_kind[OP], 4, r, a, b);                          \
    }
#define ALU_R64(name, OP)                                                  \
    void op_##name##_r64_r64(struct cpu *c, const struct insn *i)          \
    {                                                                      \
        uint64_t a = c->regs[i->rm], b = c->regs[i->reg];                  \
        uint64_t r = alu_calc(OP, a, b, 0, ~0ull);                         \
        if (OP != A_CMP)                                                   \
            c->regs[i->rm] = r;                                            \
        lf_set(&c->lf, alu_kind[OP], 8, r, a, b);                          \
    }
ALU_R32(add, A_ADD)
ALU_R32(sub, A_SUB)
ALU_R32(xor, A_XOR)
ALU_R32(and, A_AND)
ALU_R32(or, A_OR)
ALU_R32(cmp, A_CMP)
ALU_R64(add, A_ADD)
ALU_R64(sub, A_SUB)
ALU_R64(xor, A_XOR)
ALU_R64(cmp, A_CMP)

/* OP r32/r64, imm (80/81/83 with a register) */
#define ALU_RI(name, OP, sz, T)                                            \
    void op_##name##_r##sz##_i(struct cpu *c, const struct insn *i)        \
    {                                                                      \
        uint64_t a = (T)c->regs[i->rm], b = (T)i->imm;                     \
        uint64_t r = alu_calc(OP, a, b, 0, (T)~0ull);                      \
        if (OP != A_CMP)                                                   \
            c->regs[i->rm] = r;                                            \
        lf_set(&c->lf, alu_kind[OP], sz / 8, r, a, b);                     \
    }
ALU_RI(add, A_ADD, 32, uint32_t)
ALU_RI(sub, A_SUB, 32, uint32_t)
ALU_RI(and, A_AND, 32, uint32_t)
ALU_RI(cmp, A_CMP, 32, uint32_t)
ALU_RI(add, A_ADD, 64, uint64_t)
ALU_RI(sub, A_SUB, 64, uint64_t)
ALU_RI(and, A_AND, 64, uint64_t)
ALU_RI(cmp, A_CMP, 64, uint64_t)

void op_test_r32_r32(struct cpu *c, const struct insn *i)
{
    uint64_t r = (uint32_t)(c->regs[i->rm] & c->regs[i->reg]);
    lf_set(&c->lf, LF_LOGIC, 4, r, 0, 0);
}

void op_test_r64_r64(struct cpu *c, const struct insn *i)
{
    uint64_t r = c->regs[i->rm] & c->regs[i->reg];
    lf_set(&c->lf, LF_LOGIC, 8, r, 0, 0);
}

/* TEST: AND without writing. */
void op_test_EG(struct cpu *c, const struct insn *i)
{
    uint64_t r = op_get_rm(c, i, i->opsize) & op_get_reg(c, i, i->opsize);
    lf_set(&c->lf, LF_LOGIC, i->opsize, r, 0, 0);
}

void op_test_AI(struct cpu *c, const struct insn *i)
{
    uint64_t r = reg_get(c, i, R_RAX, i->opsize) & i->imm & size_mask(i->opsize);
    lf_set(&c->lf, LF_LOGIC, i->opsize, r, 0, 0);
}

void op_test_EI(struct cpu *c, const struct insn *i)
{
    uint64_t r = op_get_rm(c, i, i->opsize) & i->imm & size_mask(i->opsize);
    lf_set(&c->lf, LF_LOGIC, i->opsize, r, 0, 0);
}

/* INC/DEC: like ADD/SUB 1 but CF is preserved (SDM Vol 2 INC). */
static ALWAYS_INLINE void incdec(struct cpu *c, const struct insn *i, bool dec)
{
    int sz = i->opsize;
    uint64_t m = size_mask(sz), a, r;
    uint32_t cf = lf_cf(&c->lf) ? LF_CF : 0;
    if (i->mod == 3) {
        a = reg_get(c, i, i->rm, sz);
        r = (dec ? a - 1 : a + 1) & m;
        reg_set(c, i, i->rm, sz, r);
    } else {
        uint64_t ea = ea_fast(c, i);
        uint8_t *p = mem_rmw_ptr(c, i->seg, ea, sz);
        if (likely(p != NULL)) {
            a = rmw_load(p, sz);
            r = (dec ? a - 1 : a + 1) & m;
            rmw_store(p, sz, r);
        } else {
            a = mem_read(c, i->seg, ea, sz);
            r = (dec ? a - 1 : a + 1) & m;
            mem_write(c, i->seg, ea, sz, r);
        }
    }
    lf_set(&c->lf, dec ? LF_DEC : LF_INC, sz, r, a, 1);
    c->lf.aux = cf;
}

void op_inc_E(struct cpu *c, const struct insn *i) { incdec(c, i, false); }
void op_dec_E(struct cpu *c, const struct insn *i) { incdec(c, i, true); }
/* 40+r / 48+r: the decoder put the register in rm with mod = 3 */
void op_inc_Z(struct cpu *c, const struct insn *i) { incdec(c, i, false); }
void op_dec_Z(struct cpu *c, const struct insn *i) { incdec(c, i, true); }

static __attribute__((noinline)) void incdec_slow(struct cpu *c,
                                                  const struct insn *i, bool dec)
{
    incdec(c, i, dec);
}

/* INC/DEC of a 32/64-bit register: CF is kept from the previous flags
 * record (SDM INC/DEC: CF unaffected), read without a call unless that
 * record is ADC/SBB, which the generic path handles. */
static ALWAYS_INLINE void incdec_reg(struct cpu *c, const struct insn *i,
                                     bool dec, int size)
{
    unsigned kind = c->lf.op >> 2;
    if (unlikely(kind == LF_ADC || kind == LF_SBB)) {
        incdec_slow(c, i, dec); /* CF needs lf_flags: the generic path */
        return;
    }
    uint32_t cf = lf_cf_nocall(&c->lf, kind) ? LF_CF : 0;
    uint64_t a = c->regs[i->rm], r = dec ? a - 1 : a + 1;
    if (size == 4) {
        a = (uint32_t)a;
        r = (uint32_t)r;
    }
    c->regs[i->rm] = r;
    lf_set(&c->lf, dec ? LF_DEC : LF_INC, size, r, a, 1);
    c->lf.aux = cf;
}

/* INC/DEC of a 32/64-bit memory operand (counters, reference counts): one
 * write-TLB probe, CF kept as above; anything else (a TLB miss, an ADC/SBB
 * record, a fault) takes the generic path, which does the same work. */
static ALWAYS_INLINE void incdec_mem(struct cpu *c, const struct insn *i,
                                     bool dec, int size)
{
    unsigned kind = c->lf.op >> 2;
    uint8_t *p;
    if (unlikely(kind == LF_ADC || kind == LF_SBB) ||
        unlikely(!(p = mem_rmw_ptr(c, i->seg, ea_fast(c, i), size)))) {
        incdec_slow(c, i, dec);
        return;
    }
    uint32_t cf = lf_cf_nocall(&c->lf, kind) ? LF_CF : 0;
    uint64_t a = rmw_load(p, size), r = dec ? a - 1 : a + 1;
    if (size == 4)
        r = (uint32_t)r;
    rmw_store(p, size, r);
    lf_set(&c->lf, dec ? LF_DEC : LF_INC, size, r, a, 1);
    c->lf.aux = cf;
}

void op_inc_m32(struct cpu *c, const struct insn *i) { incdec_mem(c, i, false, 4); }
void op_dec_m32(struct cpu *c, const struct insn *i) { incdec_mem(c, i, true, 4); }
void op_inc_m64(struct cpu *c, const struct insn *i) { incdec_mem(c, i, false, 8); }
void op_dec_m64(struct cpu *c, const struct insn *i) { incdec_mem(c, i, true, 8); }

void op_dec_r32(struct cpu *c, const struct insn *i) { incdec_reg(c, i, true, 4); }
void op_inc_r32(struct cpu *c, const struct insn *i) { incdec_reg(c, i, false, 4); }
void op_dec_r64(struct cpu *c, const struct insn *i) { incdec_reg(c, i, true, 8); }
void op_inc_r64(struct cpu *c, const struct insn *i) { incdec_reg(c, i, false, 8); }

void op_not(struct cpu *c, const struct insn *i)
{
    op_set_rm(c, i, i->opsize, ~op_get_rm(c, i, i->opsize));
}

/* NEG: 0 - x, so CF = (x != 0) (SDM Vol 2 NEG). */
void op_neg(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t a, r, ea = 0;
    if (i->mod == 3) {
        a = reg_get(c, i, i->rm, sz);
        r = -a & size_mask(sz);
        reg_set(c, i, i->rm, sz, r);
    } else {
        ea = insn_ea(c, i);
        a = mem_read(c, i->seg, ea, sz);
        r = -a & size_mask(sz);
        mem_write(c, i->seg, ea, sz, r);
    }
    lf_set(&c->lf, LF_SUB, sz, r, 0, a);
}

/* MUL/IMUL: CF = OF = "the upper half is significant"; SF/ZF/PF follow
 * the low half and AF is 0, as on QEMU (undefined in the SDM). */
static void mul_flags(struct cpu *c, int sz, uint64_t lo, bool of)
{
    lf_set_resaux(&c->lf, sz, lo & size_mask(sz), of ? (LF_CF | LF_OF) : 0);
}

void op_mul(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t b = op_get_rm(c, i, sz);
    uint64_t *r = c->regs;
    switch (sz) {
    case 1: {
        uint64_t p = (r[R_RAX] & 0xff) * b;
        r[R_RAX] = (r[R_RAX] & ~0xffffull) | (p & 0xffff);
        mul_flags(c, 1, p, p >> 8);
        break;
    }
    case 2: {
        uint64_t p = (r[R_RAX] & 0xffff) * b;
        r[R_RAX] = (r[R_RAX] & ~0xffffull) | (p & 0xffff);
        r[R_RDX] = (r[R_RDX] & ~0xffffull) | ((p >> 16) & 0xffff);
        mul_flags(c, 2, p, p >> 16);
        break;
    }
    case 4: {
        uint64_t p = (r[R_RAX] & 0xffffffff) * b;
        r[R_RAX] = (uint32_t)p;
        r[R_RDX] = p >> 32;
        mul_flags(c, 4, p, p >> 32);
        break;
    }
    default: {
        unsigned __int128 p = (unsigned __int128)r[R_RAX] * b;
        r[R_RAX] = (uint64_t)p;
        r[R_RDX] = (uint64_t)(p >> 64);
        mul_flags(c, 8, (uint64_t)p, (p >> 64) != 0);
        break;
    }
    }
}

void op_imul1(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    int64_t b = lf_sext(op_get_rm(c, i, sz), lf_szidx(sz));
    uint64_t *r = c->regs;
    switch (sz) {
    case 1: {
        int64_t p = (int64_t)(int8_t)r[R_RAX] * b;
        r[R_RAX] = (r[R_RAX] & ~0xffffull) | (uint16_t)p;
        mul_flags(c, 1, (uint64_t)p, p != (int8_t)p);
        break;
    }
    case 2: {
        int64_t p = (int64_t)(int16_t)r[R_RAX] * b;
        r[R_RAX] = (r[R_RAX] & ~0xffffull) | (uint16_t)p;
        r[R_RDX] = (r[R_RDX] & ~0xffffull) | (uint16_t)(p >> 16);
        mul_flags(c, 2, (uint64_t)p, p != (int16_t)p);
        break;
    }
    case 4: {
        int64_t p = (int64_t)(int32_t)r[R_RAX] * b;
        r[R_RAX] = (uint32_t)p;
        r[R_RDX] = (uint32_t)((uint64_t)p >> 32);
        mul_flags(c, 4, (uint64_t)p, p != (int32_t)p);
        break;
    }
    default: {
        __int128 p = (__int128)(int64_t)r[R_RAX] * b;
        r[R_RAX] = (uint64_t)p;
        r[R_RDX] = (uint64_t)((unsigned __int128)p >> 64);
        mul_flags(c, 8, (uint64_t)p, p != (int64_t)p);
        break;
    }
    }
}

/* Truncating signed product; of = it does not fit the operand size. */
static uint64_t imul_trunc(int sz, uint64_t a, uint64_t b, bool *of)
{
    unsigned s = lf_szidx(sz);
    __int128 p = (__int128)lf_sext(a, s) * lf_sext(b, s);
    uint64_t lo = (uint64_t)p & size_mask(sz);
    *of = p != (__int128)lf_sext(lo, s);
    return lo;
}

void op_imul_GE(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    bool of;
    uint64_t r = imul_trunc(sz, op_get_reg(c, i, sz), op_get_rm(c, i, sz), &of);
    reg_set(c, i, i->reg, sz, r);
    mul_flags(c, sz, r, of);
}

void op_imul_GEI(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    bool of;
    uint64_t r = imul_trunc(sz, op_get_rm(c, i, sz), i->imm & size_mask(sz), &of);
    reg_set(c, i, i->reg, sz, r);
    mul_flags(c, sz, r, of);
}

/* DIV/IDIV: #DE for a zero divisor or a quotient that does not fit
 * (SDM Vol 2 DIV). Flags are left alone (undefined; QEMU keeps them). */
void op_div(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t d = op_get_rm(c, i, sz);
    uint64_t *r = c->regs;
    if (d == 0)
        cpu_raise(c, EXC_DE, CPU_NOERR);
    switch (sz) {
    case 1: {
        uint64_t n = r[R_RAX] & 0xffff, q = n / d;
        if (q > 0xff)
            cpu_raise(c, EXC_DE, CPU_NOERR);
        r[R_RAX] = (r[R_RAX] & ~0xffffull) | q | (n % d) << 8;
        break;
    }
    case 2: {
        uint64_t n = (r[R_RDX] & 0xffff) << 16 | (r[R_RAX] & 0xffff), q = n / d;
        if (q > 0xffff)
            cpu_raise(c, EXC_DE, CPU_NOERR);
        r[R_RAX] = (r[R_RAX] & ~0xffffull) | q;
        r[R_RDX] = (r[R_RDX] & ~0xffffull) | (n % d);
        break;
    }
    case 4: {
        uint64_t n = (r[R_RDX] & 0xffffffff) << 32 | (r[R_RAX] & 0xffffffff);
        uint64_t q = n / d;
        if (q > 0xffffffff)
            cpu_raise(c, EXC_DE, CPU_NOERR);
        r[R_RAX] = q;
        r[R_RDX] = n % d;
        break;
    }
    default: {
        unsigned __int128 n = (unsigned __int128)r[R_RDX] << 64 | r[R_RAX];
        unsigned __int128 q = n / d;
        if (q >> 64)
            cpu_raise(c, EXC_DE, CPU_NOERR);
        r[R_RAX] = (uint64_t)q;
        r[R_RDX] = (uint64_t)(n % d);
        break;
    }
    }
}

void op_idiv(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    unsigned s = lf_szidx(sz);
    int64_t d = lf_sext(op_get_rm(c, i, sz), s);
    uint64_t *r = c->regs;
    if (d == 0)
        cpu_raise(c, EXC_DE, CPU_NOERR);
    if (sz == 8) {
        __int128 n = (__int128)((unsigned __int128)r[R_RDX] << 64 | r[R_RAX]);
        /* INT128_MIN / -1 overflows in C too: it is #DE anyway */
        if (d == -1 && n == (__int128)((unsigned __int128)1 << 127))
            cpu_raise(c, EXC_DE, CPU_NOERR);
        __int128 q = n / d, m = n % d;
        if (q != (int64_t)q)
            cpu_raise(c, EXC_DE, CPU_NOERR);
        r[R_RAX] = (uint64_t)q;
        r[R_RDX] = (uint64_t)m;
        return;
    }
    int64_t n;
    if (sz == 1)
        n = (int16_t)r[R_RAX];
    else if (sz == 2)
        n = (int32_t)((r[R_RDX] & 0xffff) << 16 | (r[R_RAX] & 0xffff));
    else
        n = (int64_t)((r[R_RDX] & 0xffffffff) << 32 | (r[R_RAX] & 0xffffffff));
    if (d == -1 && n == INT64_MIN)
        cpu_raise(c, EXC_DE, CPU_NOERR);
    int64_t q = n / d, m = n % d;
    if (q != lf_sext((uint64_t)q & size_mask(sz), s))
        cpu_raise(c, EXC_DE, CPU_NOERR);
    switch (sz) {
    case 1:
        r[R_RAX] = (r[R_RAX] & ~0xffffull) | (uint8_t)q | (uint64_t)(uint8_t)m << 8;
        break;
    case 2:
        r[R_RAX] = (r[R_RAX] & ~0xffffull) | (uint16_t)q;
        r[R_RDX] = (r[R_RDX] & ~0xffffull) | (uint16_t)m;
        break;
    default:
        r[R_RAX] = (uint32_t)q;
        r[R_RDX] = (uint32_t)m;
        break;
    }
}

/* ---- specialised register forms (decode.c): same results and flags as
 * op_inc_E/op_dec_E/op_not/op_neg/op_imul_GE(I) without the operand-kind
 * switches. */

void op_not_r32(struct cpu *c, const struct insn *i)
{
    c->regs[i->rm] = (uint32_t)~c->regs[i->rm];
}

void op_not_r64(struct cpu *c, const struct insn *i)
{
    c->regs[i->rm] = ~c->regs[i->rm];
}

void op_neg_r32(struct cpu *c, const struct insn *i)
{
    uint64_t a = (uint32_t)c->regs[i->rm], r = (uint32_t)-a;
    c->regs[i->rm] = r;
    lf_set(&c->lf, LF_SUB, 4, r, 0, a);
}

void op_neg_r64(struct cpu *c, const struct insn *i)
{
    uint64_t a = c->regs[i->rm], r = -a;
    c->regs[i->rm] = r;
    lf_set(&c->lf, LF_SUB, 8, r, 0, a);
}

static inline void imul32(struct cpu *c, unsigned dst, int32_t a, int32_t b)
{
    int64_t p = (int64_t)a * b;
    c->regs[dst] = (uint32_t)p;
    lf_set_resaux(&c->lf, 4, (uint32_t)p, p != (int32_t)p ? (LF_CF | LF_OF) : 0);
}

static inline void imul64(struct cpu *c, unsigned dst, int64_t a, int64_t b)
{
    int64_t p;
    bool of = __builtin_mul_overflow(a, b, &p);
    c->regs[dst] = (uint64_t)p;
    lf_set_resaux(&c->lf, 8, (uint64_t)p, of ? (LF_CF | LF_OF) : 0);
}

void op_imul_r32_r32(struct cpu *c, const struct insn *i)
{
    imul32(c, i->reg, (int32_t)c->regs[i->reg], (int32_t)c->regs[i->rm]);
}

void op_imul_r64_r64(struct cpu *c, const struct insn *i)
{
    imul64(c, i->reg, (int64_t)c->regs[i->reg], (int64_t)c->regs[i->rm]);
}

void op_imul_r32_ri(struct cpu *c, const struct insn *i)
{
    imul32(c, i->reg, (int32_t)c->regs[i->rm], (int32_t)i->imm);
}

void op_imul_r64_ri(struct cpu *c, const struct insn *i)
{
    imul64(c, i->reg, (int64_t)c->regs[i->rm], (int64_t)i->imm);
}

/* CMP AL, imm8 (3C): bytecode dispatch loops compare opcodes this way */
void op_cmp_al_i(struct cpu *c, const struct insn *i)
{
    uint64_t a = (uint8_t)c->regs[R_RAX], b = (uint8_t)i->imm;
    lf_set(&c->lf, LF_SUB, 1, (a - b) & 0xff, a, b);
}

/* Threaded twins (ops.h): the entries cached blocks run. */
THREADED(op_add_r32_r32)
THREADED(op_sub_r32_r32)
THREADED(op_xor_r32_r32)
THREADED(op_and_r32_r32)
THREADED(op_or_r32_r32)
THREADED(op_cmp_r32_r32)
THREADED(op_add_r64_r64)
THREADED(op_sub_r64_r64)
THREADED(op_xor_r64_r64)
THREADED(op_cmp_r64_r64)
THREADED(op_add_r32_i)
THREADED(op_sub_r32_i)
THREADED(op_and_r32_i)
THREADED(op_cmp_r32_i)
THREADED(op_add_r64_i)
THREADED(op_sub_r64_i)
THREADED(op_and_r64_i)
THREADED(op_cmp_r64_i)
THREADED(op_test_r32_r32)
THREADED(op_test_r64_r64)
THREADED(op_cmp_al_i)
THREADED(op_dec_r32)
THREADED(op_inc_r32)
THREADED(op_dec_r64)
THREADED(op_inc_r64)
THREADED(op_not_r32)
THREADED(op_not_r64)
THREADED(op_neg_r32)
THREADED(op_neg_r64)
THREADED(op_imul_r32_r32)
THREADED(op_imul_r64_r64)
THREADED(op_imul_r32_ri)
THREADED(op_imul_r64_ri)
THREADED(op_add_GE)
THREADED(op_or_GE)
THREADED(op_adc_GE)
THREADED(op_sbb_GE)
THREADED(op_and_GE)
THREADED(op_sub_GE)
THREADED(op_xor_GE)
THREADED(op_cmp_GE)
THREADED(op_add_AI)
THREADED(op_or_AI)
THREADED(op_adc_AI)
THREADED(op_sbb_AI)
THREADED(op_and_AI)
THREADED(op_sub_AI)
THREADED(op_xor_AI)
THREADED(op_cmp_AI)
THREADED(op_cmp_EG)
THREADED(op_cmp_EI)
THREADED(op_test_EG)
THREADED(op_test_EI)
THREADED(op_test_AI)
THREADED(op_imul_GE)
THREADED(op_imul_GEI)
THREADED(op_mul)
THREADED(op_imul1)
THREADED(op_div)
THREADED(op_idiv)
THREADED_STORE(op_add_EG)
THREADED_STORE(op_or_EG)
THREADED_STORE(op_adc_EG)
THREADED_STORE(op_sbb_EG)
THREADED_STORE(op_and_EG)
THREADED_STORE(op_sub_EG)
THREADED_STORE(op_xor_EG)
THREADED_STORE(op_add_EI)
THREADED_STORE(op_or_EI)
THREADED_STORE(op_adc_EI)
THREADED_STORE(op_sbb_EI)
THREADED_STORE(op_and_EI)
THREADED_STORE(op_sub_EI)
THREADED_STORE(op_xor_EI)
THREADED_STORE(op_inc_E)
THREADED_STORE(op_inc_m32)
THREADED_STORE(op_dec_m32)
THREADED_STORE(op_inc_m64)
THREADED_STORE(op_dec_m64)
THREADED_STORE(op_dec_E)
THREADED_STORE(op_inc_Z)
THREADED_STORE(op_dec_Z)
THREADED_STORE(op_not)
THREADED_STORE(op_neg)

/* Flag-free twins (threaded.c): what a block runs when no flag these
 * instructions write is read before it is overwritten. CMP/TEST then do
 * nothing at all (t_op_nop). */
#define NF(name, body)                                                     \
    void tn_##name(struct cpu *c, const struct insn *i)                    \
    {                                                                      \
        body;                                                              \
        THREAD_NEXT(c, i);                                                 \
    }
#define R(n) c->regs[i->n]
NF(op_add_r32_r32, R(rm) = (uint32_t)(R(rm) + R(reg)))
NF(op_sub_r32_r32, R(rm) = (uint32_t)(R(rm) - R(reg)))
NF(op_xor_r32_r32, R(rm) = (uint32_t)(R(rm) ^ R(reg)))
NF(op_and_r32_r32, R(rm) = (uint32_t)(R(rm) & R(reg)))
NF(op_or_r32_r32, R(rm) = (uint32_t)(R(rm) | R(reg)))
NF(op_add_r64_r64, R(rm) += R(reg))
NF(op_sub_r64_r64, R(rm) -= R(reg))
NF(op_xor_r64_r64, R(rm) ^= R(reg))
NF(op_add_r32_i, R(rm) = (uint32_t)(R(rm) + i->imm))
NF(op_sub_r32_i, R(rm) = (uint32_t)(R(rm) - i->imm))
NF(op_and_r32_i, R(rm) = (uint32_t)(R(rm) & i->imm))
NF(op_add_r64_i, R(rm) += i->imm)
NF(op_sub_r64_i, R(rm) -= i->imm)
NF(op_and_r64_i, R(rm) &= i->imm)
NF(op_inc_r32, R(rm) = (uint32_t)(R(rm) + 1))
NF(op_dec_r32, R(rm) = (uint32_t)(R(rm) - 1))
NF(op_inc_r64, R(rm) += 1)
NF(op_dec_r64, R(rm) -= 1)
NF(op_neg_r32, R(rm) = (uint32_t)-R(rm))
NF(op_neg_r64, R(rm) = -R(rm))
/* the low half of a product is the same signed or unsigned */
NF(op_imul_r32_r32, R(reg) = (uint32_t)((uint32_t)R(reg) * (uint32_t)R(rm)))
NF(op_imul_r64_r64, R(reg) = R(reg) * R(rm))
NF(op_imul_r32_ri, R(reg) = (uint32_t)((uint32_t)R(rm) * (uint32_t)i->imm))
NF(op_imul_r64_ri, R(reg) = R(rm) * i->imm)
#undef R
#undef NF
