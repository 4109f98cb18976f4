/* ops_string.c: MOVS/CMPS/STOS/LODS/SCAS with REP/REPE/REPNE (SDM Vol 2
 * REP). Each iteration commits rSI/rDI/rCX before the next one, so a
 * fault leaves them describing the remaining work and the restarted
 * instruction carries on. A REP op also stops by itself after a bounded
 * number of iterations (and restarts: next_rip = rip) so that interrupts
 * and the run budget are honoured; the decoder ends its block there. */
#include "ops.h"

#define REP_CHUNK 4096

static uint64_t areg(struct cpu *c, const struct insn *i, int r)
{
    return c->regs[r] & addr_mask(i);
}

static void areg_step(struct cpu *c, const struct insn *i, int r, int64_t d)
{
    reg_set(c, i, r, i->addrsize, c->regs[r] + (uint64_t)d);
}

static int64_t step(struct cpu *c, const struct insn *i)
{
    return (c->eflags & F_DF) ? -(int64_t)i->opsize : i->opsize;
}

/* Runs body() while the count allows it. body returns false to stop
 * (REPE/REPNE condition). */
#define REP_LOOP(c, i, body)                                               \
    do {                                                                   \
        if (!(i)->rep) {                                                   \
            (void)(body);                                                  \
            break;                                                         \
        }                                                                  \
        for (int n_ = 0;; n_++) {                                          \
            if (areg(c, i, R_RCX) == 0)                                    \
                break;                                                     \
            if (n_ == REP_CHUNK) {                                         \
                (c)->next_rip = (c)->rip; /* resume later */               \
                break;                                                     \
            }                                                              \
            bool go_ = (body);                                             \
            areg_step(c, i, R_RCX, -1);                                    \
            if (!go_)                                                      \
                break;                                                     \
        }                                                                  \
    } while (0)

static bool movs1(struct cpu *c, const struct insn *i, int64_t d)
{
    uint64_t v = mem_read(c, i->seg, areg(c, i, R_RSI), i->opsize);
    mem_write(c, S_ES, areg(c, i, R_RDI), i->opsize, v);
    areg_step(c, i, R_RSI, d);
    areg_step(c, i, R_RDI, d);
    return true;
}

void op_movs(struct cpu *c, const struct insn *i)
{
    int64_t d = step(c, i);
    REP_LOOP(c, i, movs1(c, i, d));
}

static bool stos1(struct cpu *c, const struct insn *i, int64_t d)
{
    mem_write(c, S_ES, areg(c, i, R_RDI), i->opsize,
              reg_get(c, i, R_RAX, i->opsize));
    areg_step(c, i, R_RDI, d);
    return true;
}

void op_stos(struct cpu *c, const struct insn *i)
{
    int64_t d = step(c, i);
    REP_LOOP(c, i, stos1(c, i, d));
}

static bool lods1(struct cpu *c, const struct insn *i, int64_t d)
{
    uint64_t v = mem_read(c, i->seg, areg(c, i, R_RSI), i->opsize);
    reg_set(c, i, R_RAX, i->opsize, v);
    areg_step(c, i, R_RSI, d);
    return true;
}

void op_lods(struct cpu *c, const struct insn *i)
{
    int64_t d = step(c, i);
    REP_LOOP(c, i, lods1(c, i, d));
}

/* Whether a REPE (F3) / REPNE (F2) loop goes on after a compare. */
static bool rep_cond(struct cpu *c, const struct insn *i)
{
    bool zf = lf_cond(&c->lf, 4);
    return i->rep == 0xf3 ? zf : !zf;
}

/* CMPS: compares [seg:rSI] with [ES:rDI] (flags of src - dst). */
static bool cmps1(struct cpu *c, const struct insn *i, int64_t d)
{
    int sz = i->opsize;
    uint64_t a = mem_read(c, i->seg, areg(c, i, R_RSI), sz);
    uint64_t b = mem_read(c, S_ES, areg(c, i, R_RDI), sz);
    areg_step(c, i, R_RSI, d);
    areg_step(c, i, R_RDI, d);
    lf_set(&c->lf, LF_SUB, sz, (a - b) & size_mask(sz), a, b);
    return rep_cond(c, i);
}

void op_cmps(struct cpu *c, const struct insn *i)
{
    int64_t d = step(c, i);
    REP_LOOP(c, i, cmps1(c, i, d));
}

static bool scas1(struct cpu *c, const struct insn *i, int64_t d)
{
    int sz = i->opsize;
    uint64_t a = reg_get(c, i, R_RAX, sz);
    uint64_t b = mem_read(c, S_ES, areg(c, i, R_RDI), sz);
    areg_step(c, i, R_RDI, d);
    lf_set(&c->lf, LF_SUB, sz, (a - b) & size_mask(sz), a, b);
    return rep_cond(c, i);
}

void op_scas(struct cpu *c, const struct insn *i)
{
    int64_t d = step(c, i);
    REP_LOOP(c, i, scas1(c, i, d));
}
