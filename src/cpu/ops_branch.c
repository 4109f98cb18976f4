/* ops_branch.c: near branches, LOOP/JCXZ, PUSH/POP, PUSHA/POPA,
 * ENTER/LEAVE (SDM Vol 2). Every handler that touches the stack reads and
 * checks first and moves rSP last, so a #SS/#PF restarts cleanly. */
#include "ops.h"

/* A near branch to a non-canonical address faults on the branch itself,
 * before anything is pushed (SDM Vol 2 JMP/CALL: #GP(0) "if the target
 * offset is non-canonical"). */
static inline void check_target(struct cpu *c, uint64_t t)
{
    if (unlikely(c->code_size == 8 && (uint64_t)((int64_t)(t << 16) >> 16) != t))
        cpu_raise(c, EXC_GP, 0);
}

static void jump(struct cpu *c, const struct insn *i, uint64_t t)
{
    t &= size_mask(i->opsize);
    check_target(c, t);
    c->next_rip = t;
}

void op_jcc(struct cpu *c, const struct insn *i)
{
    if (lf_cond(&c->lf, i->opcode & 15))
        jump(c, i, c->next_rip + i->imm);
}

/* One handler per condition (decode.c picks it): lf_cond() folds to the
 * one test. */
#define JCC(n)                                                             \
    static void op_jcc_##n(struct cpu *c, const struct insn *i)            \
    {                                                                      \
        if (lf_cond(&c->lf, n))                                            \
            jump(c, i, c->next_rip + i->imm);                              \
    }
JCC(0) JCC(1) JCC(2) JCC(3) JCC(4) JCC(5) JCC(6) JCC(7)
JCC(8) JCC(9) JCC(10) JCC(11) JCC(12) JCC(13) JCC(14) JCC(15)
const op_fn op_jcc_by_cc[16] = {
    op_jcc_0, op_jcc_1, op_jcc_2, op_jcc_3, op_jcc_4, op_jcc_5, op_jcc_6,
    op_jcc_7, op_jcc_8, op_jcc_9, op_jcc_10, op_jcc_11, op_jcc_12,
    op_jcc_13, op_jcc_14, op_jcc_15,
};

void op_jmp(struct cpu *c, const struct insn *i)
{
    jump(c, i, c->next_rip + i->imm);
}

void op_jmp_E(struct cpu *c, const struct insn *i)
{
    jump(c, i, op_get_rm(c, i, i->opsize));
}

void op_call(struct cpu *c, const struct insn *i)
{
    uint64_t t = (c->next_rip + i->imm) & size_mask(i->opsize);
    check_target(c, t);
    cpu_push(c, c->next_rip, i->opsize);
    c->next_rip = t;
}

void op_call_E(struct cpu *c, const struct insn *i)
{
    uint64_t t = op_get_rm(c, i, i->opsize) & size_mask(i->opsize);
    check_target(c, t);
    cpu_push(c, c->next_rip, i->opsize);
    c->next_rip = t;
}

/* rSP at the current stack-address size (SS.B or 64-bit mode). */
static void sp_set(struct cpu *c, uint64_t v)
{
    /* as cpu_push/cpu_pop do: bits above the stack size are kept */
    uint64_t m = size_mask(c->stack_size);
    c->regs[R_RSP] = (c->regs[R_RSP] & ~m) | (v & m);
}

static uint64_t sp_addr(struct cpu *c, uint64_t v)
{
    return v & size_mask(c->stack_size);
}

/* C3 / C2 iw: the pop and the release of imm16 bytes. */
void op_ret(struct cpu *c, const struct insn *i)
{
    uint64_t t = mem_read(c, S_SS, sp_addr(c, c->regs[R_RSP]), i->opsize);
    t &= size_mask(i->opsize);
    check_target(c, t);
    sp_set(c, c->regs[R_RSP] + i->opsize + (i->imm & 0xffff));
    c->next_rip = t;
}

/* LOOP/LOOPE/LOOPNE/JrCXZ count in rCX at the address size. */
static bool loop_dec(struct cpu *c, const struct insn *i)
{
    uint64_t n = (c->regs[R_RCX] - 1) & addr_mask(i);
    reg_set(c, i, R_RCX, i->addrsize, n);
    return n != 0;
}

void op_loop(struct cpu *c, const struct insn *i)
{
    if (loop_dec(c, i))
        jump(c, i, c->next_rip + i->imm);
}

void op_loope(struct cpu *c, const struct insn *i)
{
    if (loop_dec(c, i) && lf_cond(&c->lf, 4))
        jump(c, i, c->next_rip + i->imm);
}

void op_loopne(struct cpu *c, const struct insn *i)
{
    if (loop_dec(c, i) && lf_cond(&c->lf, 5))
        jump(c, i, c->next_rip + i->imm);
}

void op_jcxz(struct cpu *c, const struct insn *i)
{
    if ((c->regs[R_RCX] & addr_mask(i)) == 0)
        jump(c, i, c->next_rip + i->imm);
}

void op_push_Z(struct cpu *c, const struct insn *i)
{
    cpu_push(c, reg_get(c, i, i->rm, i->opsize), i->opsize);
}

/* POP rSP leaves the popped value in rSP (SDM Vol 2 POP). */
void op_pop_Z(struct cpu *c, const struct insn *i)
{
    uint64_t v = cpu_pop(c, i->opsize);
    reg_set(c, i, i->rm, i->opsize, v);
}

void op_push_I(struct cpu *c, const struct insn *i)
{
    cpu_push(c, i->imm, i->opsize);
}

void op_push_E(struct cpu *c, const struct insn *i)
{
    cpu_push(c, op_get_rm(c, i, i->opsize), i->opsize);
}

/* 8F /0: POP r/m. A memory destination addressed through rSP uses the
 * incremented rSP (SDM Vol 2 POP); rSP changes only once the store has
 * succeeded. */
void op_pop_E(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    if (i->mod == 3) {
        uint64_t v = cpu_pop(c, sz);
        reg_set(c, i, i->rm, sz, v);
        return;
    }
    uint64_t old = c->regs[R_RSP];
    uint64_t v = mem_read(c, S_SS, sp_addr(c, old), sz);
    sp_set(c, old + sz);
    uint64_t ea = insn_ea(c, i);
    uint64_t nsp = c->regs[R_RSP];
    c->regs[R_RSP] = old;
    mem_write(c, i->seg, ea, sz, v);
    c->regs[R_RSP] = nsp;
}

/* PUSHA/PUSHAD: AX CX DX BX (original SP) BP SI DI. All eight slots are
 * checked before the first store. */
void op_pusha(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t sp = c->regs[R_RSP];
    for (int k = 1; k <= 8; k++)
        mem_check_write(c, S_SS, sp_addr(c, sp - (uint64_t)k * sz), sz);
    for (int k = 0; k < 8; k++)
        mem_write(c, S_SS, sp_addr(c, sp - (uint64_t)(k + 1) * sz), sz,
                  c->regs[k] & size_mask(sz));
    sp_set(c, sp - 8u * sz);
}

/* POPA/POPAD: the stored SP is skipped. */
void op_popa(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t sp = c->regs[R_RSP], v[8];
    for (int k = 0; k < 8; k++)
        v[7 - k] = mem_read(c, S_SS, sp_addr(c, sp + (uint64_t)k * sz), sz);
    for (int k = 0; k < 8; k++)
        if (k != R_RSP)
            reg_set(c, i, k, sz, v[k]);
    sp_set(c, sp + 8u * sz);
}

/* ENTER imm16, imm8 (SDM Vol 2 ENTER): level is taken modulo 32. The
 * level-1 frame pointers are read first, then every slot is checked, then
 * stored. */
void op_enter(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    unsigned level = (unsigned)i->imm2 & 31;
    uint64_t size = i->imm & 0xffff;
    uint64_t sp = c->regs[R_RSP], bp = c->regs[R_RBP];
    uint64_t slots[33];
    unsigned n = 0;
    slots[n++] = bp & size_mask(sz);
    uint64_t frame = sp - sz;
    if (level > 0) {
        for (unsigned k = 1; k < level; k++) {
            uint64_t a = bp - (uint64_t)k * sz;
            slots[n++] = mem_read(c, S_SS, sp_addr(c, a), sz);
        }
        slots[n++] = frame & size_mask(sz);
    }
    for (unsigned k = 0; k < n; k++)
        mem_check_write(c, S_SS, sp_addr(c, sp - (uint64_t)(k + 1) * sz), sz);
    for (unsigned k = 0; k < n; k++)
        mem_write(c, S_SS, sp_addr(c, sp - (uint64_t)(k + 1) * sz), sz, slots[k]);
    /* rBP gets FrameTemp at the stack-address size */
    uint64_t nsp = sp - (uint64_t)n * sz - size;
    uint64_t m = size_mask(c->stack_size);
    c->regs[R_RBP] = (bp & ~m) | (frame & m);
    sp_set(c, nsp);
}

/* LEAVE: rSP = rBP, then POP rBP; nothing changes if the read faults. */
void op_leave(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t bp = c->regs[R_RBP];
    uint64_t v = mem_read(c, S_SS, sp_addr(c, bp), sz);
    sp_set(c, bp + sz);
    reg_set(c, i, R_RBP, sz, v);
}

/* Threaded twins (ops.h): the entries cached blocks run. */
THREADED(op_pop_Z)
THREADED(op_leave)
THREADED_STORE(op_push_Z)
THREADED_STORE(op_push_I)
THREADED_STORE(op_push_E)
THREADED_STORE(op_pop_E)
THREADED_LAST(op_jmp)
THREADED_LAST(op_jmp_E)
THREADED_LAST(op_call)
THREADED_LAST(op_call_E)
THREADED_LAST(op_ret)
THREADED_LAST(op_loop)
THREADED_LAST(op_loope)
THREADED_LAST(op_loopne)
THREADED_LAST(op_jcxz)
/* Jcc twins. A Jcc need not end its block (exec.c): taken, it leaves the
 * block at once, and takes back from icount the instructions after it,
 * which exec_block() counts with the whole block; not taken, the block
 * goes on (at the end, into the sentinel). c->rip stays on the Jcc until
 * the target is known to be canonical, so a #GP names it; no next_rip. */
static inline uint64_t jcc_target(struct cpu *c, const struct insn *i)
{
    uint64_t t = (c->rip + i->len + i->imm) & size_mask(i->opsize);
    check_target(c, t);
    return t;
}

#define JCC_T(n)                                                           \
    static void t_op_jcc_##n(struct cpu *c, const struct insn *i)          \
    {                                                                      \
        if (lf_cond(&c->lf, n)) {                                          \
            c->rip = jcc_target(c, i);                                     \
            if (i->after) /* not at the end: no icount round trip there */ \
                c->icount -= i->after;                                     \
            return;                                                        \
        }                                                                  \
        c->rip += i->len;                                                  \
        i[1].run(c, i + 1);                                                \
    }
JCC_T(0) JCC_T(1) JCC_T(2) JCC_T(3) JCC_T(4) JCC_T(5) JCC_T(6) JCC_T(7)
JCC_T(8) JCC_T(9) JCC_T(10) JCC_T(11) JCC_T(12) JCC_T(13) JCC_T(14) JCC_T(15)

/* The Jcc that ends a block and jumps back to the block's first
 * instruction (exec.c build_block(): imm2 = the block's length). Taken, it
 * counts the pass just done and runs the block again at once instead of
 * returning to the chain loop, while: the next pass fits in the run's
 * budget, nothing asked the block to end (block_stop: a device access, a
 * store into the code), the host wants nothing (exit_request), and at
 * most 64 times per entry, which bounds the stack where a call in tail
 * position is not a jump (-O1, sanitizers). Nothing else can raise an
 * event inside a chain (exec.c step()). exec_block() counts the last pass. */
#define LOOP_PASSES 64
#define JCC_LOOP(n)                                                        \
    static void t_op_jcc_loop_##n(struct cpu *c, const struct insn *i)     \
    {                                                                      \
        if (lf_cond(&c->lf, n)) {                                          \
            c->rip = jcc_target(c, i);                                     \
            uint64_t done = c->icount + i->imm2;                           \
            if (likely(done + i->imm2 <= c->run_end && !c->block_stop &&   \
                       !c->exit_request && c->loop_left)) {                \
                c->loop_left--;                                            \
                c->icount = done;                                          \
                const struct insn *first = i + 1 - i->imm2;                \
                first->run(c, first);                                      \
                return;                                                    \
            }                                                              \
            c->loop_left = LOOP_PASSES; /* the deepest pass refills it */  \
            return;                                                        \
        }                                                                  \
        c->rip += i->len;                                                  \
        i[1].run(c, i + 1);                                                \
    }
JCC_LOOP(0) JCC_LOOP(1) JCC_LOOP(2) JCC_LOOP(3) JCC_LOOP(4) JCC_LOOP(5)
JCC_LOOP(6) JCC_LOOP(7) JCC_LOOP(8) JCC_LOOP(9) JCC_LOOP(10) JCC_LOOP(11)
JCC_LOOP(12) JCC_LOOP(13) JCC_LOOP(14) JCC_LOOP(15)
const op_fn t_op_jcc_loop_by_cc[16] = {
    t_op_jcc_loop_0, t_op_jcc_loop_1, t_op_jcc_loop_2, t_op_jcc_loop_3,
    t_op_jcc_loop_4, t_op_jcc_loop_5, t_op_jcc_loop_6, t_op_jcc_loop_7,
    t_op_jcc_loop_8, t_op_jcc_loop_9, t_op_jcc_loop_10, t_op_jcc_loop_11,
    t_op_jcc_loop_12, t_op_jcc_loop_13, t_op_jcc_loop_14, t_op_jcc_loop_15,
};
const op_fn t_op_jcc_by_cc[16] = {
    t_op_jcc_0, t_op_jcc_1, t_op_jcc_2, t_op_jcc_3, t_op_jcc_4, t_op_jcc_5,
    t_op_jcc_6, t_op_jcc_7, t_op_jcc_8, t_op_jcc_9, t_op_jcc_10, t_op_jcc_11,
    t_op_jcc_12, t_op_jcc_13, t_op_jcc_14, t_op_jcc_15,
};
