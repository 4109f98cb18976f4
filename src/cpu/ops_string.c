/* ops_string.c: MOVS/CMPS/STOS/LODS/SCAS with REP/REPE/REPNE (SDM Vol 2
 * REP). Each iteration commits rSI/rDI/rCX before the next one, so a
 * fault leaves them describing the remaining work and the restarted
 * instruction carries on. A REP op also stops by itself after a bounded
 * number of iterations (and restarts: next_rip = rip) so that interrupts
 * and the run budget are honoured; the decoder ends its block there. */
#include <string.h>

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

/* REP STOS upwards (DF=0), the way kernels clear BSS and pages: each run
 * of whole elements inside one page that the inline segment test and the
 * write TLB accept (RAM, D set, no decoded code there: mem_rmw_ptr) is
 * filled at once; on a miss one element goes the slow way, which fills
 * the TLB (or faults, with rDI/rCX committed as REP_LOOP leaves them).
 * Stops after a second miss in a row (REP_LOOP does the rest one by one)
 * and after 64 KiB, to take interrupts as REP_LOOP does. Returns the
 * bytes done. */
#define STOS_FAST_MAX 0x10000u

/* bytes (a multiple of sz) at p := the sz-byte value v over and over */
static void fill(uint8_t *p, uint64_t v, int sz, uint64_t bytes)
{
    static const uint64_t rep[9] = { [1] = 0x0101010101010101ull,
                                     [2] = 0x0001000100010001ull,
                                     [4] = 0x0000000100000001ull, [8] = 1 };
    uint64_t pat = v * rep[sz]; /* v repeated across 8 bytes */
    if (pat == (uint8_t)pat * rep[1]) { /* all bytes alike: zero, say */
        memset(p, (int)(uint8_t)pat, bytes);
        return;
    }
    uint64_t k = 0;
    for (; k + 8 <= bytes; k += 8) /* 8 is a multiple of sz: in phase */
        memcpy(p + k, &pat, 8);
    memcpy(p + k, &pat, bytes - k); /* little-endian: the first elements */
}

/* One element as REP_LOOP does it: store (may fault), then rDI, rCX. */
static void stos_one(struct cpu *c, const struct insn *i)
{
    stos1(c, i, i->opsize);
    areg_step(c, i, R_RCX, -1);
}

static uint64_t stos_fast(struct cpu *c, const struct insn *i)
{
    int sz = i->opsize;
    uint64_t v = reg_get(c, i, R_RAX, sz), done = 0;
    bool missed = false;
    while (done < STOS_FAST_MAX) {
        uint64_t cnt = areg(c, i, R_RCX), di = areg(c, i, R_RDI);
        uint64_t lin = c->mode == MODE_LONG ? di : c->seg[S_ES].base + di;
        uint64_t room = 0x1000 - (lin & 0xfff);  /* bytes left in the page */
        uint64_t wrap = addr_mask(i) - di + 1;    /* before rDI wraps */
        uint64_t n = room / (unsigned)sz;
        if (wrap / (unsigned)sz < n)
            n = wrap / (unsigned)sz;
        if (cnt < n)
            n = cnt;
        if (cnt == 0)
            break;
        if (n == 0) { /* the element crosses the page or wraps rDI */
            stos_one(c, i);
            done += (unsigned)sz;
            continue;
        }
        uint8_t *p = mem_rmw_ptr(c, S_ES, di, (int)(n * (unsigned)sz));
        if (!p) {
            /* a TLB miss (a new page) or not RAM: one element the slow
             * way, which walks and fills the TLB, or faults; then retry
             * once, and leave the rest to REP_LOOP if that misses too */
            if (missed)
                break;
            missed = true;
            stos_one(c, i);
            done += (unsigned)sz;
            continue;
        }
        missed = false;
        fill(p, v, sz, n * (unsigned)sz);
        areg_step(c, i, R_RDI, (int64_t)(n * (unsigned)sz));
        areg_step(c, i, R_RCX, -(int64_t)n);
        done += n * (unsigned)sz;
    }
    return done;
}

void op_stos(struct cpu *c, const struct insn *i)
{
    int64_t d = step(c, i);
    if (i->rep && d > 0 && stos_fast(c, i) >= STOS_FAST_MAX &&
        areg(c, i, R_RCX) != 0) {
        c->next_rip = c->rip; /* more to do: resume, as REP_LOOP does */
        return;
    }
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
