/* threaded.c: the threaded entry of each cached instruction (ops.h) and
 * dead-flag elimination.
 *
 * A block's instructions run as a chain of tail calls through insn.run.
 * Handlers listed in THREADED_OPS have a twin that does this; the others
 * run through t_generic, which keeps the plain handlers' next_rip
 * contract.
 *
 * Flags liveness: walking the block backwards, a flag is live if a later
 * instruction of the block may read it before it is overwritten; at the
 * block end all are. An instruction from NOFLAG_OPS whose written flags
 * are all dead runs its flag-free twin, which leaves the lazy-flags record
 * (flags.h) alone; flags it does not write keep passing through, so they
 * stay right. Any instruction not known to be flag-transparent counts as
 * reading every flag, and that includes everything that can fault: at a
 * fault EFLAGS is architecturally visible, so every flag is live there.
 * Events and interrupts are taken only between blocks, where all flags are
 * exact. A run that ends inside a block (the budget) uses the plain
 * handlers, which always compute flags. QEMU's TCG drops dead flag
 * computations the same way (liveness of cc_op). */
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* Handlers without a twin: run the plain handler as the old loop did
 * (next_rip set, branches may change it), then go on. */
static void t_generic(struct cpu *c, const struct insn *i)
{
    c->next_rip = c->rip + i->len;
    i->fn(c, i);
    c->rip = c->next_rip;
    if (unlikely(c->block_stop)) {
        /* ends here, whatever c->rip became: exec_block() adds the whole
         * block, so take back the instructions after this one */
        c->icount -= i->after;
        return;
    }
    i[1].run(c, i + 1);
}

/* The sentinel after a block's last instruction. */
static void t_end(struct cpu *c, const struct insn *i)
{
    (void)c;
    (void)i;
}

enum twin_kind {
    TW_OPAQUE,   /* may read flags or fault: every flag is live before it */
    TW_FLAGLESS, /* reads and writes no flag, cannot fault */
    TW_NOFLAG,   /* writes `writes`, reads none, cannot fault; has nf */
};

/* fn -> entries, an open-addressed table filled on first use. */
#define TWIN_BITS 9
#define TWIN_MASK ((1u << TWIN_BITS) - 1)
static struct twin {
    op_fn fn, run, nf;
    uint16_t writes;
    uint8_t kind;
} twins[1u << TWIN_BITS];

static unsigned twin_slot(op_fn fn)
{
    uint64_t h = (uint64_t)(uintptr_t)fn * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> (64 - TWIN_BITS));
}

static struct twin *twin_find(op_fn fn, bool add)
{
    unsigned k = twin_slot(fn);
    while (twins[k].fn && twins[k].fn != fn)
        k = (k + 1) & TWIN_MASK;
    if (!twins[k].fn) {
        if (!add)
            return NULL;
        twins[k].fn = fn;
    }
    return &twins[k];
}

static void twin_add(op_fn fn, op_fn run)
{
    struct twin *t = twin_find(fn, true);
    t->run = run;
    t->kind = TW_OPAQUE;
}

static void twin_kind(op_fn fn, unsigned kind, op_fn nf, unsigned writes)
{
    struct twin *t = twin_find(fn, false);
    if (!t)
        abort(); /* a list in ops.h names a handler without a twin */
    t->kind = (uint8_t)kind;
    t->nf = nf;
    t->writes = (uint16_t)writes;
}

static void twins_init(void)
{
#define ADD(n) twin_add(n, t_##n);
    THREADED_OPS(ADD)
#undef ADD
    for (int k = 0; k < 16; k++)
        twin_add(op_jcc_by_cc[k], t_op_jcc_by_cc[k]);
#define FLAGLESS(n) twin_kind(n, TW_FLAGLESS, NULL, 0);
    FLAGLESS_OPS(FLAGLESS)
#undef FLAGLESS
#define NOFLAG(n, w) twin_kind(n, TW_NOFLAG, tn_##n, w);
    NOFLAG_OPS(NOFLAG)
#undef NOFLAG
#define NOFLAG_NOP(n, w) twin_kind(n, TW_NOFLAG, t_op_nop, w);
    NOFLAG_NOP_OPS(NOFLAG_NOP)
#undef NOFLAG_NOP
}

void thread_block(struct insn *insns, unsigned n)
{
    static bool ready;
    if (unlikely(!ready)) {
        twins_init();
        ready = true;
    }
    unsigned live = LF_ALL;
    for (unsigned k = n; k-- > 0;) {
        struct insn *i = &insns[k];
        const struct twin *t = twin_find(i->fn, false);
        if (!t) {
            i->run = t_generic;
            live = LF_ALL;
            continue;
        }
        switch (t->kind) {
        case TW_NOFLAG:
            if (!(live & t->writes)) {
                i->run = t->nf; /* live stays: nothing read or written */
            } else {
                i->run = t->run;
                live &= ~t->writes;
            }
            break;
        case TW_FLAGLESS:
            i->run = t->run;
            break;
        default:
            i->run = t->run;
            live = LF_ALL;
            break;
        }
    }
    memset(&insns[n], 0, sizeof(insns[n]));
    insns[n].run = t_end;
}
