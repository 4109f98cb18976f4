/* ops.h: private to core-exec. Operand access helpers shared by the
 * integer-instruction handlers (ops_*.c, alu*.c) and their declarations
 * for the decode table. */
#ifndef PINVM_OPS_H
#define PINVM_OPS_H

#include "cpu.h"
#include "decode.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline uint64_t size_mask(int size)
{
    return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Byte register r: without any REX prefix, 4..7 name AH, CH, DH, BH
 * (SDM Vol 1 3.7.2.1); with one they name SPL, BPL, SIL, DIL. */
static inline uint8_t *reg8p(struct cpu *c, unsigned r, unsigned rex)
{
    if (!rex && (r & 0xc) == 4)
        return (uint8_t *)&c->regs[r & 3] + 1; /* little-endian host */
    return (uint8_t *)&c->regs[r];
}

static inline uint64_t reg_get(struct cpu *c, const struct insn *i,
                               unsigned r, int size)
{
    switch (size) {
    case 1: return *reg8p(c, r, i->rex);
    case 2: return (uint16_t)c->regs[r];
    case 4: return (uint32_t)c->regs[r];
    default: return c->regs[r];
    }
}

/* Writes of 32-bit results zero-extend to 64 bits; 8- and 16-bit ones
 * leave the rest of the register alone (SDM Vol 1 3.4.1.1). */
static inline void reg_set(struct cpu *c, const struct insn *i, unsigned r,
                           int size, uint64_t v)
{
    switch (size) {
    case 1: *reg8p(c, r, i->rex) = (uint8_t)v; break;
    case 2: c->regs[r] = (c->regs[r] & ~0xffffull) | (uint16_t)v; break;
    case 4: c->regs[r] = (uint32_t)v; break;
    default: c->regs[r] = v; break;
    }
}

/* insn_ea() inlined: saves the call on the memory-operand hot paths. */
static inline uint64_t ea_fast(const struct cpu *c, const struct insn *i)
{
    uint64_t ea = (uint64_t)(int64_t)i->disp;
    if (i->base != 0xff)
        ea += c->regs[i->base];
    if (i->index != 0xff)
        ea += c->regs[i->index] << i->scale;
    if (unlikely(i->flags & INSN_F_RIPREL))
        ea += c->rip + i->len; /* next_rip is only set for block ends */
    return ea & size_mask(i->addrsize);
}

/* Register operand of the ModRM reg field, and the r/m operand. */
static inline uint64_t op_get_reg(struct cpu *c, const struct insn *i, int sz)
{
    return reg_get(c, i, i->reg, sz);
}

static inline uint64_t op_get_rm(struct cpu *c, const struct insn *i, int sz)
{
    if (i->mod == 3)
        return reg_get(c, i, i->rm, sz);
    return mem_read(c, i->seg, ea_fast(c, i), sz);
}

static inline void op_set_rm(struct cpu *c, const struct insn *i, int sz,
                             uint64_t v)
{
    if (i->mod == 3)
        reg_set(c, i, i->rm, sz, v);
    else
        mem_write(c, i->seg, ea_fast(c, i), sz, v);
}

/* Mask an address by the address size (string ops, XLAT, LOOP). */
static inline uint64_t addr_mask(const struct insn *i)
{
    return size_mask(i->addrsize);
}

/* The instruction pointer wraps at the operand size of a near branch
 * (SDM Vol 2 JMP: "IF OperandSize = 16 THEN EIP := tempEIP AND FFFFH").
 * In 64-bit mode near branches always use 64 bits. */
static inline void branch_to(struct cpu *c, const struct insn *i, uint64_t t)
{
    c->next_rip = t & size_mask(i->opsize);
}

#define OP(name) void name(struct cpu *c, const struct insn *i)

/* ---- threaded dispatch (exec.c) ----
 * Inside a cached block, insn.run is the entry point: it executes the
 * instruction and then jumps straight into the next instruction's run
 * (a call in tail position, which gcc and clang turn into a jump at -O2),
 * so a block runs without going back to a dispatch loop; the block's
 * sentinel (exec.c) returns. On entry c->rip is the instruction's
 * address (faults and RIP-relative operands need it); c->next_rip is NOT
 * set for these twins, so only handlers that never read it get one.
 *
 * Where a call in tail position stays a call (-O0/-O1, sanitizers), the
 * stack grows by one frame per instruction of a block (at most 64), times
 * the passes a self-loop block makes per entry (at most 64: ops_branch.c).
 *
 * THREADED: register or load-only handlers. THREADED_STORE: handlers that
 * may store to memory, where the store can invalidate the running block
 * (self-modifying code): icache_drop_page() sets c->block_stop and the
 * block ends after the store (so does a store to a device: the run loop
 * must look at events it may have raised). THREADED_LAST: near jumps,
 * calls, returns and loops, always the last instruction of a block: they
 * get next_rip like plain handlers and return. (Jcc has its own twins in
 * ops_branch.c.) THREADED twins inline their handler (flatten): they are
 * the small hot ones; the others call it. */
#define THREAD_NEXT(c, i)                                                  \
    do {                                                                   \
        (c)->rip += (i)->len;                                              \
        (i)[1].run((c), (i) + 1);                                          \
    } while (0)
#define THREADED(name)                                                     \
    __attribute__((flatten))                                               \
    void t_##name(struct cpu *c, const struct insn *i)                     \
    {                                                                      \
        name(c, i);                                                        \
        THREAD_NEXT(c, i);                                                 \
    }
#define THREADED_STORE(name)                                               \
    void t_##name(struct cpu *c, const struct insn *i)                     \
    {                                                                      \
        name(c, i);                                                        \
        if (unlikely(c->block_stop)) {                                     \
            c->icount -= i->after; /* exec_block() adds the whole block */ \
            c->rip += i->len;                                              \
            return;                                                        \
        }                                                                  \
        THREAD_NEXT(c, i);                                                 \
    }
#define THREADED_LAST(name)                                                \
    void t_##name(struct cpu *c, const struct insn *i)                     \
    {                                                                      \
        c->next_rip = c->rip + i->len;                                     \
        name(c, i);                                                        \
        c->rip = c->next_rip;                                              \
    }

/* misc */
OP(op_ud);
OP(op_gp0);
OP(op_nop);
OP(op_nop90);
OP(op_ud_lock);

/* ALU (alu_arith.c) */
#define ALU_DECL(n) OP(op_##n##_EG); OP(op_##n##_GE); OP(op_##n##_AI); OP(op_##n##_EI);
ALU_DECL(add) ALU_DECL(or) ALU_DECL(adc) ALU_DECL(sbb)
ALU_DECL(and) ALU_DECL(sub) ALU_DECL(xor) ALU_DECL(cmp)
#undef ALU_DECL
OP(op_add_r32_r32); OP(op_sub_r32_r32); OP(op_xor_r32_r32);
OP(op_and_r32_r32); OP(op_or_r32_r32); OP(op_cmp_r32_r32);
OP(op_add_r64_r64); OP(op_sub_r64_r64); OP(op_xor_r64_r64);
OP(op_cmp_r64_r64);
OP(op_add_r32_i); OP(op_sub_r32_i); OP(op_and_r32_i); OP(op_cmp_r32_i);
OP(op_add_r64_i); OP(op_sub_r64_i); OP(op_and_r64_i); OP(op_cmp_r64_i);
OP(op_test_r32_r32); OP(op_test_r64_r64);
OP(op_test_EG); OP(op_test_AI); OP(op_test_EI);
OP(op_cmp_al_i);
OP(op_inc_E); OP(op_dec_E); OP(op_inc_Z); OP(op_dec_Z);
OP(op_dec_r32); OP(op_inc_r32);
OP(op_not); OP(op_neg);
OP(op_mul); OP(op_imul1); OP(op_div); OP(op_idiv);
OP(op_imul_GE); OP(op_imul_GEI);
OP(op_dec_r64); OP(op_inc_r64); OP(op_not_r32); OP(op_not_r64);
OP(op_neg_r32); OP(op_neg_r64);
OP(op_inc_m32); OP(op_dec_m32); OP(op_inc_m64); OP(op_dec_m64);
OP(op_imul_r32_r32); OP(op_imul_r64_r64); OP(op_imul_r32_ri); OP(op_imul_r64_ri);

/* shifts, bits (alu_shift.c, alu_bits.c) */
OP(op_rol); OP(op_ror); OP(op_rcl); OP(op_rcr);
OP(op_shl); OP(op_shr); OP(op_sar);
OP(op_shl_r32_i); OP(op_shr_r32_i); OP(op_sar_r32_i); OP(op_rol_r32_i); OP(op_ror_r32_i);
OP(op_shl_r64_i); OP(op_shr_r64_i); OP(op_sar_r64_i); OP(op_rol_r64_i); OP(op_ror_r64_i);
OP(op_shld); OP(op_shrd);
OP(op_bt_G); OP(op_bts_G); OP(op_btr_G); OP(op_btc_G);
OP(op_bt_I); OP(op_bts_I); OP(op_btr_I); OP(op_btc_I);
OP(op_bsf); OP(op_bsr); OP(op_popcnt); OP(op_bswap);

/* data movement (ops_mov.c) */
OP(op_mov_EG); OP(op_mov_GE); OP(op_mov_EI); OP(op_mov_ZI);
OP(op_mov_AO); OP(op_mov_OA);
OP(op_mov_r32_r32); OP(op_mov_r64_r64);
OP(op_mov_r32_m); OP(op_mov_r64_m); OP(op_mov_m_r32); OP(op_mov_m_r64);
OP(op_lea64); OP(op_lea64_b); OP(op_lea64_bi);
OP(op_movzx_b); OP(op_movzx_w); OP(op_movsx_b); OP(op_movsx_w);
OP(op_movzx_r_m8);
OP(op_movsxd);
OP(op_lea);
OP(op_xchg_EG); OP(op_xchg_ZA);
OP(op_cmpxchg); OP(op_cmpxchg8b); OP(op_xadd);
OP(op_cbw); OP(op_cwd);
OP(op_setcc); OP(op_cmovcc);
OP(op_lahf); OP(op_sahf);
OP(op_clc); OP(op_stc); OP(op_cmc); OP(op_cld); OP(op_std);
OP(op_xlat);
OP(op_daa); OP(op_das); OP(op_aaa); OP(op_aas); OP(op_aam); OP(op_aad);
OP(op_salc); OP(op_bound);

/* control flow and stack (ops_branch.c) */
OP(op_jcc); OP(op_jmp);
extern const op_fn op_jcc_by_cc[16]; OP(op_jmp_E); OP(op_call); OP(op_call_E);
OP(op_ret); OP(op_loop); OP(op_loope); OP(op_loopne); OP(op_jcxz);
OP(op_push_Z); OP(op_pop_Z); OP(op_push_I); OP(op_push_E); OP(op_pop_E);
OP(op_pusha); OP(op_popa); OP(op_enter); OP(op_leave);

/* strings (ops_string.c) */
OP(op_movs); OP(op_cmps); OP(op_stos); OP(op_lods); OP(op_scas);

/* Every handler with a threaded twin t_<name> (threaded.c's table); the
 * Jcc twins are t_op_jcc_by_cc[]. */
#define THREADED_OPS(X) X(op_add_r32_r32) X(op_sub_r32_r32)                \
    X(op_xor_r32_r32) X(op_and_r32_r32) X(op_or_r32_r32) X(op_cmp_r32_r32) \
    X(op_add_r64_r64) X(op_sub_r64_r64) X(op_xor_r64_r64)                  \
    X(op_cmp_r64_r64) X(op_add_r32_i) X(op_sub_r32_i) X(op_and_r32_i)      \
    X(op_cmp_r32_i) X(op_add_r64_i) X(op_sub_r64_i) X(op_and_r64_i)        \
    X(op_cmp_r64_i) X(op_test_r32_r32) X(op_test_r64_r64) X(op_cmp_al_i)   \
    X(op_dec_r32) X(op_inc_r32) X(op_dec_r64) X(op_inc_r64) X(op_not_r32)  \
    X(op_not_r64) X(op_neg_r32) X(op_neg_r64) X(op_imul_r32_r32)           \
    X(op_imul_r64_r64) X(op_imul_r32_ri) X(op_imul_r64_ri) X(op_add_GE)    \
    X(op_or_GE) X(op_adc_GE) X(op_sbb_GE) X(op_and_GE) X(op_sub_GE)        \
    X(op_xor_GE) X(op_cmp_GE) X(op_add_AI) X(op_or_AI) X(op_adc_AI)        \
    X(op_sbb_AI) X(op_and_AI) X(op_sub_AI) X(op_xor_AI) X(op_cmp_AI)       \
    X(op_cmp_EG) X(op_cmp_EI) X(op_test_EG) X(op_test_EI) X(op_test_AI)    \
    X(op_imul_GE) X(op_imul_GEI) X(op_mul) X(op_imul1) X(op_div)           \
    X(op_idiv) X(op_add_EG) X(op_or_EG) X(op_adc_EG) X(op_sbb_EG)          \
    X(op_and_EG) X(op_sub_EG) X(op_xor_EG) X(op_add_EI) X(op_or_EI)        \
    X(op_adc_EI) X(op_sbb_EI) X(op_and_EI) X(op_sub_EI) X(op_xor_EI)       \
    X(op_inc_E) X(op_dec_E) X(op_inc_Z) X(op_dec_Z) X(op_not) X(op_neg)    \
    X(op_inc_m32) X(op_dec_m32) X(op_inc_m64) X(op_dec_m64)                \
    X(op_shl_r32_i) X(op_shr_r32_i) X(op_sar_r32_i) X(op_rol_r32_i)        \
    X(op_ror_r32_i) X(op_shl_r64_i) X(op_shr_r64_i) X(op_sar_r64_i)        \
    X(op_rol_r64_i) X(op_ror_r64_i) X(op_shl) X(op_shr) X(op_sar)          \
    X(op_rol) X(op_ror) X(op_rcl) X(op_rcr) X(op_shld) X(op_shrd)          \
    X(op_bt_G) X(op_bt_I) X(op_bsf) X(op_bsr) X(op_popcnt) X(op_bswap)     \
    X(op_bts_G) X(op_btr_G) X(op_btc_G) X(op_bts_I) X(op_btr_I)            \
    X(op_btc_I) X(op_mov_GE) X(op_mov_r32_r32) X(op_mov_r64_r64)           \
    X(op_mov_r32_m) X(op_mov_r64_m) X(op_lea64) X(op_lea64_b)              \
    X(op_lea64_bi) X(op_mov_ZI) X(op_mov_AO) X(op_movzx_b)                 \
    X(op_movzx_r_m8) X(op_movzx_w) X(op_movsx_b) X(op_movsx_w)             \
    X(op_movsxd) X(op_lea) X(op_cmovcc) X(op_cbw) X(op_cwd) X(op_mov_EG)   \
    X(op_mov_m_r32) X(op_mov_m_r64) X(op_mov_EI) X(op_mov_OA) X(op_setcc)  \
    X(op_xchg_EG) X(op_pop_Z) X(op_leave) X(op_push_Z) X(op_push_I)        \
    X(op_push_E) X(op_pop_E) X(op_jmp) X(op_jmp_E) X(op_call) X(op_call_E) \
    X(op_ret) X(op_loop) X(op_loope) X(op_loopne) X(op_jcxz) X(op_nop)     \
    X(op_nop90)
#define THREADED_DECL(n) OP(t_##n);
THREADED_OPS(THREADED_DECL)
#undef THREADED_DECL
extern const op_fn t_op_jcc_by_cc[16];
/* Jcc twins for a block that loops to its own start (exec.c) */
extern const op_fn t_op_jcc_loop_by_cc[16];

/* Threaded handlers whose flags liveness can drop (threaded.c): X(name,
 * flags written). Each has a flag-free twin tn_<name>; CMP/TEST use
 * t_op_nop. None of them reads a flag or can fault. */
#define LF_NOCF (LF_ALL & ~LF_CF)
#define LF_CFOF (LF_CF | LF_OF)
#define NOFLAG_OPS(X)                                                      \
    X(op_add_r32_r32, LF_ALL) X(op_sub_r32_r32, LF_ALL)                    \
    X(op_xor_r32_r32, LF_ALL) X(op_and_r32_r32, LF_ALL)                    \
    X(op_or_r32_r32, LF_ALL) X(op_add_r64_r64, LF_ALL)                     \
    X(op_sub_r64_r64, LF_ALL) X(op_xor_r64_r64, LF_ALL)                    \
    X(op_add_r32_i, LF_ALL) X(op_sub_r32_i, LF_ALL) X(op_and_r32_i, LF_ALL) \
    X(op_add_r64_i, LF_ALL) X(op_sub_r64_i, LF_ALL) X(op_and_r64_i, LF_ALL) \
    X(op_inc_r32, LF_NOCF) X(op_dec_r32, LF_NOCF)                          \
    X(op_inc_r64, LF_NOCF) X(op_dec_r64, LF_NOCF)                          \
    X(op_neg_r32, LF_ALL) X(op_neg_r64, LF_ALL)                            \
    X(op_imul_r32_r32, LF_ALL) X(op_imul_r64_r64, LF_ALL)                  \
    X(op_imul_r32_ri, LF_ALL) X(op_imul_r64_ri, LF_ALL)                    \
    X(op_shl_r32_i, LF_ALL) X(op_shr_r32_i, LF_ALL) X(op_sar_r32_i, LF_ALL) \
    X(op_rol_r32_i, LF_CFOF) X(op_ror_r32_i, LF_CFOF)                      \
    X(op_shl_r64_i, LF_ALL) X(op_shr_r64_i, LF_ALL) X(op_sar_r64_i, LF_ALL) \
    X(op_rol_r64_i, LF_CFOF) X(op_ror_r64_i, LF_CFOF)
/* ... and those whose flag-free form is no operation at all */
#define NOFLAG_NOP_OPS(X)                                                  \
    X(op_cmp_r32_r32, LF_ALL) X(op_cmp_r64_r64, LF_ALL)                    \
    X(op_cmp_r32_i, LF_ALL) X(op_cmp_r64_i, LF_ALL)                        \
    X(op_test_r32_r32, LF_ALL) X(op_test_r64_r64, LF_ALL)                  \
    X(op_cmp_al_i, LF_ALL)
/* Threaded handlers that neither read nor write flags and cannot fault:
 * flags liveness passes through them. */
#define FLAGLESS_OPS(X)                                                    \
    X(op_mov_r32_r32) X(op_mov_r64_r64) X(op_lea64) X(op_lea64_b)          \
    X(op_lea64_bi) X(op_lea) X(op_mov_ZI) X(op_not_r32) X(op_not_r64)      \
    X(op_nop) X(op_nop90) X(op_bswap)
#define NOFLAG_DECL(n, w) OP(tn_##n);
NOFLAG_OPS(NOFLAG_DECL)
#undef NOFLAG_DECL

/* threaded.c: point insns[0..n-1].run at their threaded entries, with
 * flag-free twins where flags liveness allows, and make insns[n] the
 * sentinel that ends the block. */
void thread_block(struct insn *insns, unsigned n);

#undef OP
#endif
