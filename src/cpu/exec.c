/* exec.c: the run loop and the decoded-block cache.
 *
 * A block is a straight run of decoded instructions inside one guest
 * page, keyed by the physical address of its first byte and the code size
 * (16/32/64). It ends at a branch or system instruction
 * (INSN_F_ENDBLOCK), at the page end, or after BLOCK_MAX instructions;
 * but it goes on past a Jcc, which, taken, leaves it early (a side exit:
 * one block covers a fall-through path of several basic blocks).
 * Blocks live in one arena; a flush resets it (and bumps ic->epoch). Per
 * RAM page we keep the list of blocks decoded from it, so a store into the
 * page (icache_invalidate_page, called by the MMU's slow write path) drops
 * exactly those; with several vCPUs the cpu_bus.code_page hook tells the
 * others (icache_drop_page).
 *
 * Running a block: threaded (ops.h, threaded.c), one tail call from each
 * instruction's handler to the next; see exec_block().
 *
 * Chaining: a block that ends in a near branch (or runs into the next
 * page) remembers its last two successors. The next lookup takes the link
 * instead of the hash table when the IP matches and the translation still
 * holds: a successor on the same page (struct slink), or else one that the
 * fetch TLB maps to the same host byte (struct blink). System instructions
 * never chain. step() follows same-page links itself, block after block.
 *
 * Self-modifying code inside the running block: the invalidation clears
 * ic->end and the loop stops after the storing instruction; the next
 * lookup decodes the new bytes. Dropped blocks stay readable until the
 * arena is reused, which only happens between blocks.
 *
 * Code outside RAM (MMIO, ROM served by the bus) and instructions that
 * cross a page (or wrap a 16-bit IP) are not cached: they are fetched and
 * decoded each time they run, one instruction at a time. Nothing there
 * needs write tracking, and a device can never crash us by changing.
 * So are instructions run under EFLAGS.TF, DR7 breakpoints or an
 * STI/MOV SS shadow (exec_debug). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "util/disasm.h"

#define BLOCK_MAX 64
#define HASH_BITS 14
#define ARENA_SIZE (16u << 20)

/* A direct link to a successor block, taken when the next IP is rip and
 * the fetch TLB still maps it to the same host byte. */
struct blink {
    uint64_t rip;
    struct block *to;
    const uint8_t *host;
};

/* A successor on the same page, keyed by its linear address: made only
 * when, at the time, the block was entered on the same linear page as lin
 * and both lie in the same physical page. Then, whenever the block is
 * entered again on lin's linear page, lin maps to the same physical page
 * as the block itself does, so to is right if it is still alive. */
struct slink {
    uint64_t lin;
    struct block *to;
};
/* A block spans several basic blocks (it goes on past a Jcc that is not
 * taken), so it may have a successor per Jcc plus its end. */
#define NEXT_SLOTS 2

struct block {
    uint64_t phys;        /* physical address of the first byte */
    struct block *hnext;  /* hash chain */
    struct block *pnext;  /* blocks of the same page */
    uint8_t code_size;
    bool dead;            /* invalidated: links to it are not followed */
    bool chains;          /* ends in a near branch or runs into the next */
    uint16_t n;           /* instructions */
    struct blink link[2];
    uint8_t next_rr;      /* next[] slot to replace next */
    struct slink next[NEXT_SLOTS]; /* if chains */
    struct insn insns[];
};

/* An empty slink: no linear address reaches NO_LIN (non-canonical, and
 * above 4 GiB outside long mode), and its block is dead. */
#define NO_LIN 0x8000000000000001ull
static struct block no_block = { .dead = true };

struct icache {
    struct block *hash[1u << HASH_BITS];
    struct block **page_head; /* per RAM page */
    uint64_t npages;
    uint8_t *arena;
    size_t used;
    const struct block *cur; /* executing now */
    uint64_t cur_rip;        /* IP of its first instruction */
    const struct insn *end;  /* where cur stops; NULL once invalidated */
    struct block *prev;      /* block just run, if it may chain */
    uint64_t prev_lin;       /* linear address it was entered at */
    uint64_t epoch;          /* bumped by flushes: blocks are reused */
    uint64_t prev_epoch;
};

static size_t block_bytes(unsigned n)
{
    size_t sz = sizeof(struct block) + (n + 1) * sizeof(struct insn); /* + sentinel */
    return (sz + 15) & ~(size_t)15;
}

static unsigned hash_of(uint64_t phys, int code_size)
{
    uint64_t h = (phys ^ (uint64_t)code_size << 60) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> (64 - HASH_BITS));
}

int cpu_init(struct cpu *c, int index, uint8_t *ram, uint64_t ram_size,
             uint8_t *code_pages, const struct cpu_bus *bus,
             struct pv_log *log)
{
    memset(c, 0, sizeof(*c));
    c->cpu_index = index;
    c->ram = ram;
    c->ram_size = ram_size;
    c->code_pages = code_pages;
    c->bus = bus;
    c->log = log;
    c->fault_vec = -1;
    c->delivering = -1;
    c->eflags = 2;

    struct icache *ic = calloc(1, sizeof(*ic));
    if (!ic)
        return -1;
    ic->npages = ram_size >> 12;
    ic->page_head = calloc(ic->npages ? ic->npages : 1, sizeof(*ic->page_head));
    ic->arena = malloc(ARENA_SIZE);
    if (!ic->page_head || !ic->arena) {
        free(ic->page_head);
        free(ic->arena);
        free(ic);
        return -1;
    }
    c->ic = ic;
    return 0;
}

void cpu_destroy(struct cpu *c)
{
    if (!c->ic)
        return;
    free(c->ic->page_head);
    free(c->ic->arena);
    free(c->ic);
    c->ic = NULL;
}

/* ---- cache maintenance ---- */

static void hash_unlink(struct icache *ic, struct block *b)
{
    struct block **pp = &ic->hash[hash_of(b->phys, b->code_size)];
    while (*pp) {
        if (*pp == b) {
            *pp = b->hnext;
            return;
        }
        pp = &(*pp)->hnext;
    }
}

void icache_invalidate_page(struct cpu *c, uint64_t pfn)
{
    icache_drop_page(c, pfn);
    if (c->bus && c->bus->code_page)
        c->bus->code_page(c->bus->opaque, c, pfn, false);
}

void icache_drop_page(struct cpu *c, uint64_t pfn)
{
    struct icache *ic = c->ic;
    if (!ic || pfn >= ic->npages)
        return;
    for (struct block *b = ic->page_head[pfn]; b; b = b->pnext) {
        hash_unlink(ic, b);
        b->dead = true;
        if (b == ic->cur) {
            ic->end = NULL; /* stop after the current instruction */
            c->block_stop = true;
        }
    }
    ic->page_head[pfn] = NULL;
    if (c->code_pages)
        c->code_pages[pfn] = 0;
}

void icache_flush(struct cpu *c)
{
    struct icache *ic = c->ic;
    if (!ic)
        return;
    /* walk the arena: every block's page loses its code flag */
    for (size_t off = 0; off < ic->used;) {
        struct block *b = (struct block *)(ic->arena + off);
        uint64_t pfn = b->phys >> 12;
        if (pfn < ic->npages) {
            ic->page_head[pfn] = NULL;
            /* Shared with other vCPUs (SMP): they may still cache code
             * there, so the flag stays; the next write clears it. */
            if (c->code_pages && !(c->bus && c->bus->code_page))
                c->code_pages[pfn] = 0;
        }
        off += block_bytes(b->n);
    }
    memset(ic->hash, 0, sizeof(ic->hash));
    ic->used = 0;
    ic->epoch++;
    ic->prev = NULL;
    if (ic->cur) {
        ic->end = NULL;
        c->block_stop = true;
    }
}

/* ---- decoding ---- */

static uint64_t ip_mask(int code_size)
{
    return code_size == 8 ? ~0ull : code_size == 4 ? 0xffffffffull : 0xffffull;
}

/* One -d in_asm line in QEMU 7.2's layout (disas/capstone.c): address,
 * up to 8 code bytes padded to a column, mnemonic padded to 8, operands;
 * longer instructions continue their bytes on extra lines. */
static void log_insn(struct cpu *c, const uint8_t *bytes, int len,
                     uint64_t rip, int code_size)
{
    char text[128], line[256];
    disasm_one(bytes, (size_t)len, rip, code_size, text, sizeof(text));
    char *ops = strchr(text, ' ');
    if (ops)
        *ops++ = 0;
    int n = snprintf(line, sizeof(line), "0x%08" PRIx64 ": ", rip);
    for (int k = 0; k < len && k < 8; k++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, " %02x", bytes[k]);
    log_printf(c->log, "%s%*s  %-8s %s\n", line, len < 8 ? (8 - len) * 3 : 0,
               "", text, ops ? ops : "");
    for (int k = 8; k < len; k += 8) {
        n = snprintf(line, sizeof(line), "0x%08" PRIx64 ": ", rip + (uint64_t)k);
        for (int j = k; j < len && j < k + 8; j++)
            n += snprintf(line + n, sizeof(line) - (size_t)n, " %02x", bytes[j]);
        log_printf(c->log, "%s\n", line);
    }
}

static void log_block(struct cpu *c, const struct block *b, uint64_t rip,
                      const uint8_t *bytes)
{
    log_printf(c->log, "----------------\nIN: \n");
    for (unsigned k = 0; k < b->n; k++) {
        const struct insn *i = &b->insns[k];
        log_insn(c, bytes, i->len, rip, b->code_size);
        bytes += i->len;
        rip += i->len;
    }
    log_printf(c->log, "\n");
}

/* Decode a block at phys (in RAM) for IP rip. NULL if not even the first
 * instruction fits in the page (run it uncached). */
static __attribute__((noinline)) struct block *build_block(struct cpu *c, uint64_t phys, uint64_t rip)
{
    struct icache *ic = c->ic;
    int cs = c->code_size;
    if (ic->used + block_bytes(BLOCK_MAX) > ARENA_SIZE)
        icache_flush(c);
    struct block *b = (struct block *)(ic->arena + ic->used);
    const uint8_t *src = c->ram + phys;
    int left = 0x1000 - (int)(phys & 0xfff);
    uint64_t ip_room = ip_mask(cs) - (rip & ip_mask(cs)) + 1;
    if (ip_room < (uint64_t)left)
        left = (int)ip_room; /* IP wraps before the page ends */
    int off = 0;
    unsigned n = 0;
    while (n < BLOCK_MAX && off < left) {
        struct insn *i = &b->insns[n];
        bool more;
        int len = decode_insn(i, src + off, left - off, cs, &more);
        if (more)
            break; /* continues on the next page: not in this block */
        if (len == 0) {
            i->len = i->len ? i->len : 1;
            n++;
            break; /* #UD/#GP: nothing after it runs */
        }
        off += len;
        n++;
        /* A forward Jcc does not end the block: taken, it leaves early (a
         * side exit); not taken, the block goes on along the fall-through
         * path, so one block spans several basic blocks. A backward Jcc
         * (a loop, mostly taken) still ends it: a side exit costs more
         * than the block end it replaces. */
        if ((i->flags & INSN_F_ENDBLOCK) &&
            (!(i->flags & INSN_F_CONDBR) || (int64_t)i->imm < 0))
            break;
    }
    if (n == 0)
        return NULL;
    for (unsigned k = 0; k < n; k++)
        b->insns[k].after = (uint8_t)(n - 1 - k);
    thread_block(b->insns, n);
    {
        /* a loop onto itself: a Jcc back to the first byte (off is the
         * block's length in bytes), with no IP truncation */
        struct insn *last = &b->insns[n - 1];
        unsigned cc = last->opcode & 15;
        if ((last->flags & INSN_F_CONDBR) && last->run == t_op_jcc_by_cc[cc] &&
            last->opsize == cs && (int64_t)off + (int64_t)last->imm == 0) {
            last->imm2 = n;
            last->run = t_op_jcc_loop_by_cc[cc];
        }
    }
    b->phys = phys;
    b->code_size = (uint8_t)cs;
    b->n = (uint16_t)n;
    b->dead = false;
    {
        const struct insn *last = &b->insns[n - 1];
        b->chains = (last->flags & INSN_F_NEARBR) || !(last->flags & INSN_F_ENDBLOCK);
    }
    memset(b->link, 0, sizeof(b->link));
    for (int k = 0; k < NEXT_SLOTS; k++)
        b->next[k] = (struct slink){ NO_LIN, &no_block };
    b->next_rr = 0;
    ic->used += block_bytes(n);

    unsigned h = hash_of(phys, cs);
    b->hnext = ic->hash[h];
    ic->hash[h] = b;
    uint64_t pfn = phys >> 12;
    b->pnext = ic->page_head[pfn];
    ic->page_head[pfn] = b;
    if (c->code_pages && !c->code_pages[pfn]) {
        c->code_pages[pfn] = 1;
        mmu_code_page_added(c, pfn);
        if (c->bus && c->bus->code_page)
            c->bus->code_page(c->bus->opaque, c, pfn, true);
    }
    if (log_on(c->log, LOG_IN_ASM))
        log_block(c, b, rip, src);
    return b;
}

/* b's same-page link for linear address lin, or NULL. */
static inline const struct slink *next_link(const struct block *b, uint64_t lin)
{
    for (int k = 0; k < NEXT_SLOTS; k++)
        if (b->next[k].lin == lin)
            return &b->next[k];
    return NULL;
}

static inline struct block *lookup(struct icache *ic, uint64_t phys, int cs)
{
    for (struct block *b = ic->hash[hash_of(phys, cs)]; b; b = b->hnext)
        if (b->phys == phys && b->code_size == cs)
            return b;
    return NULL;
}

/* b's link for IP rip whose code the fetch TLB now maps at host byte p,
 * if its block still lives and has code size cs. Any block, also one that
 * ended in a system instruction: the probe just translated the IP in the
 * current context, and the link holds only if that gives the host byte it
 * was made with. */
static inline struct block *blink_find(const struct block *b, uint64_t rip,
                                       const uint8_t *p, int cs)
{
    const struct blink *l = &b->link[b->link[0].rip == rip ? 0 : 1];
    if (l->rip == rip && l->host == p && l->to && !l->to->dead &&
        l->to->code_size == cs)
        return l->to;
    return NULL;
}

static void blink_set(struct block *b, uint64_t rip, struct block *to,
                      const uint8_t *p)
{
    struct blink *l = &b->link[b->link[0].to && b->link[0].rip != rip ? 1 : 0];
    l->rip = rip;
    l->to = to;
    l->host = p;
}

/* Link b to its same-page successor to at lin (the slink rule above). */
static void set_next_link(struct block *b, uint64_t lin, struct block *to)
{
    struct slink *s = (struct slink *)next_link(b, lin);
    if (!s) {
        s = &b->next[b->next_rr];
        b->next_rr = (uint8_t)((b->next_rr + 1) % NEXT_SLOTS);
    }
    s->lin = lin;
    s->to = to;
}

/* The chain loop's slow path: b's successor at linear address nlin when
 * no same-page link has it (b chains, entered at lin). On lin's page the
 * successor's physical address follows from b's, as the translation has
 * not changed since b was entered, so the hash table finds it and a link
 * is made. On another page, a link the fetch TLB confirms, or a lookup of
 * the address the TLB gives. NULL: leave it to step() (a block to decode,
 * a TLB miss, code outside RAM). */
static __attribute__((noinline)) struct block *
chain_miss(struct cpu *c, struct block *b, uint64_t lin, uint64_t nlin)
{
    struct icache *ic = c->ic;
    struct block *to;
    if (((nlin ^ lin) >> 12) == 0) {
        to = lookup(ic, (b->phys & ~0xfffull) | (nlin & 0xfff), c->code_size);
        if (to)
            set_next_link(b, nlin, to);
        return to;
    }
    unsigned ctx = c->cpl == 3 ? TLB_CTX_USER : TLB_CTX_SUP;
    const uint8_t *p = mmu_tlb_hit(c, TLB_FETCH, ctx, nlin, 1);
    if (!p || (uint64_t)(p - c->ram) >> 12 >= ic->npages)
        return NULL;
    to = blink_find(b, c->rip, p, c->code_size);
    if (!to && (to = lookup(ic, (uint64_t)(p - c->ram), c->code_size)))
        blink_set(b, c->rip, to, p);
    return to;
}

static void ic_prev_reset(struct cpu *c)
{
    c->ic->prev = NULL;
}

/* ---- execution ---- */

/* How many instructions of the current block lie before rip: those that
 * completed before a fault at rip (all n if rip is not in the block). */
static unsigned insns_before(const struct icache *ic, uint64_t rip)
{
    const struct block *b = ic->cur;
    uint64_t r = ic->cur_rip;
    unsigned k = 0;
    while (k < b->n && r != rip)
        r += b->insns[k++].len;
    return k;
}

/* Run up to n instructions of b from c->rip.
 *
 * The whole block: threaded (ops.h), entered at the first instruction's
 * run, which jumps from handler to handler until the sentinel returns.
 * The retired count is added once at the end; an instruction that leaves
 * early (a taken Jcc, a stop) first takes back the ones after it
 * (insn.after). A store that invalidates the block (self-modifying code)
 * or reaches a device sets c->block_stop and the block ends after it.
 * A fault longjmps out: cpu_run() then credits the instructions before
 * the faulting one (count_retired).
 *
 * Fewer than the whole block (the run budget ends inside it): one at a
 * time through the plain handlers. The IP of the next instruction stays
 * in a register and the loop bound lives in ic->end so that
 * icache_invalidate_page() can stop the block after the store that
 * overwrote it. */
static inline bool exec_block(struct cpu *c, const struct block *b, unsigned n)
{
    struct icache *ic = c->ic;
    const struct insn *i = b->insns;
    uint64_t rip = c->rip;
    ic->cur = b;
    ic->cur_rip = rip;
    if (likely(n == b->n)) {
        i->run(c, i);
        /* a block that stopped early took back what did not run (ops.h) */
        bool stop = c->block_stop;
        if (unlikely(stop))
            c->block_stop = false;
        c->icount += n; /* ic->cur stays: run_loop() clears it */
        if (c->code_size != 8)
            c->rip &= ip_mask(c->code_size);
        return !stop;
    }
    ic->end = i + n;
    do {
        c->rip = rip;
        rip += i->len;
        c->next_rip = rip;
        i->fn(c, i);
        i++;
        if (unlikely(c->next_rip != rip))
            break; /* a Jcc inside the block was taken */
    } while (i < ic->end);
    bool whole = ic->end != NULL;
    c->icount += (uint64_t)(i - b->insns);
    c->block_stop = false;
    ic->cur = NULL;
    c->rip = c->next_rip & ip_mask(c->code_size);
    return whole;
}

/* After a fault inside the current block: count the instructions that
 * completed before the faulting one (at c->rip). */
static void count_retired(struct cpu *c)
{
    struct icache *ic = c->ic;
    c->block_stop = false;
    if (!ic->cur)
        return;
    c->icount += insns_before(ic, c->rip);
    ic->cur = NULL;
}

/* One instruction fetched and decoded now, not cached (MMIO code,
 * instructions that cross a page or wrap the IP). */
static __attribute__((noinline)) void exec_uncached(struct cpu *c, uint64_t lin,
                                                    struct insn *out)
{
    int cs = c->code_size;
    uint64_t mask = ip_mask(cs), phys;
    uint8_t buf[16];
    uint64_t room = mask - (c->rip & mask) + 1;
    int want = room < 15 ? (int)room : 15;
    int n = cpu_fetch_code(c, lin, buf, want, &phys);
    struct insn ins;
    bool more;
    decode_insn(&ins, buf, n, cs, &more);
    if (more) {
        /* the rest comes from the next page, or from CS:0 after a wrap */
        uint64_t lin2 = c->seg[S_CS].base + ((c->rip + (uint64_t)n) & mask);
        if (!cpu_long_mode(c))
            lin2 &= 0xffffffffull;
        n += cpu_fetch_code(c, lin2, buf + n, 15 - n, &phys);
        decode_insn(&ins, buf, n, cs, &more);
    }
    if (ins.len == 0)
        ins.len = 1;
    if (log_on(c->log, LOG_IN_ASM)) {
        log_printf(c->log, "----------------\nIN: \n");
        log_insn(c, buf, ins.len, c->rip, cs);
        log_printf(c->log, "\n");
    }
    if (out)
        *out = ins;
    c->next_rip = c->rip + ins.len;
    ins.fn(c, &ins);
    c->icount++;
    c->rip = c->next_rip & ip_mask(c->code_size);
}

/* False only when cpu_check_interrupts() (except.c) would do nothing:
 * no SMI or NMI pending and IF clear or no interrupt controller. Saves its
 * call (~20 host insns) per block while the guest runs with IF=0. Keep in
 * step with the tests there. */
static inline bool irq_maybe(const struct cpu *c)
{
    return c->smi_pending || c->nmi_pending ||
           ((c->eflags & F_IF) && c->irq_pending);
}

static bool debug_mode(const struct cpu *c);

/* Find or build the block at c->rip and run at most budget instructions
 * of it. The block that ran before (ic->prev) remembers its successors:
 * when its link matches, the hash lookup is skipped, and the next block's
 * first instructions need not wait for it. */
static inline __attribute__((always_inline)) void step(struct cpu *c, uint64_t end)
{
    uint64_t budget = end - c->icount;
    struct icache *ic = c->ic;
    uint64_t lin = c->seg[S_CS].base + c->rip, phys;
    if (!cpu_long_mode(c))
        lin &= 0xffffffffull;
    struct block *b = NULL, *prev = ic->prev;
    ic->prev = NULL;
    /* Same page as the block that just ran, with no system instruction
     * since: the translation it was fetched with still holds (a PTE edit
     * without INVLPG may be ignored, SDM Vol 3A 4.10.4.3), so the link
     * needs no TLB probe. */
    if (prev && ((lin ^ ic->prev_lin) >> 12) == 0 && ic->prev_epoch == ic->epoch &&
        prev->code_size == c->code_size) {
        const struct slink *l = next_link(prev, lin);
        if (likely(l != NULL) && !l->to->dead) {
            b = l->to;
            goto run;
        }
    }
    unsigned ctx = c->cpl == 3 ? TLB_CTX_USER : TLB_CTX_SUP;
    const uint8_t *p = mmu_tlb_hit(c, TLB_FETCH, ctx, lin, 1);
    if (likely(p != NULL)) {
        if (prev && ic->prev_epoch == ic->epoch)
            b = blink_find(prev, c->rip, p, c->code_size);
        phys = (uint64_t)(p - c->ram);
    } else {
        uint8_t byte;
        cpu_fetch_code(c, lin, &byte, 1, &phys); /* faults here if need be */
    }
    if (!b) {
        /* only whole RAM pages are cached (a partial last page is not) */
        if (unlikely((phys >> 12) >= ic->npages)) {
            exec_uncached(c, lin, NULL);
            return;
        }
        b = lookup(ic, phys, c->code_size);
        if (unlikely(!b)) {
            b = build_block(c, phys, c->rip);
            if (!b) {
                exec_uncached(c, lin, NULL);
                return;
            }
        }
        /* link prev -> b (prev survived: no flush since it ran) */
        if (prev && p && ic->prev_epoch == ic->epoch &&
            prev->code_size == b->code_size) {
            blink_set(prev, c->rip, b, p);
            if (((lin ^ ic->prev_lin) >> 12) == 0 && ((prev->phys ^ phys) >> 12) == 0)
                set_next_link(prev, lin, b);
        }
    }
run:
    if (unlikely(log_on(c->log, LOG_EXEC))) {
        /* -d exec: one block per trip round run_loop(), each one logged */
        log_printf(c->log, "Trace %d: [%016" PRIx64 "/%016" PRIx64 "]\n",
                   c->cpu_index, c->seg[S_CS].base, c->rip);
        c->loop_left = 0; /* a self-loop block returns after each pass */
        if (exec_block(c, b, b->n < budget ? b->n : (unsigned)budget) &&
            b->chains) {
            ic->prev = b;
            ic->prev_lin = lin;
            ic->prev_epoch = ic->epoch;
        }
        return;
    }
    /* A chaining block ran no system instruction, so CS, the mode, the
     * code size and the translation of this page still hold, and so does
     * all the run state run_loop() checked: shutdown, halted, TF/DR7/
     * shadow, IF, and pending SMI/NMI/interrupts. Those change only through
     * system instructions (I/O included), faults (which leave by longjmp),
     * device accesses (MMIO ends the block: block_stop) or the machine
     * between two cpu_run() calls (timers, other vCPUs, the host). */
    const uint64_t cs_base = c->seg[S_CS].base;
    const uint64_t lmask = cpu_long_mode(c) ? ~0ull : 0xffffffffull;
    for (;;) {
        if (!exec_block(c, b, b->n < budget ? b->n : (unsigned)budget) ||
            !b->chains)
            return;
        /* The successor, and no event for run_loop(): run it without
         * going round run_loop(). Links join blocks of one code size (see
         * the linking above). */
        uint64_t nlin = (cs_base + c->rip) & lmask;
        const struct slink *l = next_link(b, nlin);
        struct block *to;
        if (likely(l != NULL) && ((nlin ^ lin) >> 12) == 0 && !l->to->dead)
            to = l->to;
        else
            to = chain_miss(c, b, lin, nlin);
        if (unlikely(!to || c->icount >= end || c->exit_request)) {
            ic->prev = b;
            ic->prev_lin = lin;
            ic->prev_epoch = ic->epoch;
            return;
        }
        b = to;
        lin = nlin;
        budget = end - c->icount;
    }
}

/* ---- debug: single-step and instruction breakpoints (SDM Vol 3A 18) ----
 * While EFLAGS.TF is set, an instruction breakpoint is armed in DR7, or an
 * STI/MOV SS shadow is pending, instructions run one at a time through
 * exec_debug(). */

#define DR6_BS (1u << 14)

static bool debug_mode(const struct cpu *c)
{
    return c->intr_shadow || (c->eflags & F_TF) || (c->dr[7] & 0xff);
}

/* DR0-3 execute breakpoints (R/Wn = 00, Ln or Gn set) at lin: DR6 B bits */
static unsigned exec_bp_hits(const struct cpu *c, uint64_t lin)
{
    unsigned hits = 0;
    for (int n = 0; n < 4; n++) {
        uint64_t dr7 = c->dr[7];
        if ((dr7 >> (2 * n)) & 3 && !((dr7 >> (16 + 4 * n)) & 3) &&
            c->dr[n] == lin)
            hits |= 1u << n;
    }
    return hits;
}

/* Data breakpoints (R/Wn = 01 write, 11 read/write): we see a write by
 * the bytes changing across the instruction, so a store of the same value
 * and plain reads do not trigger (a documented approximation). */
struct watch {
    uint64_t val[4];
    bool ok[4];
};

static int bp_len(uint64_t dr7, int n)
{
    static const int len[4] = { 1, 2, 8, 4 }; /* LENn encoding */
    return len[(dr7 >> (18 + 4 * n)) & 3];
}

static bool data_bp(uint64_t dr7, int n)
{
    return ((dr7 >> (2 * n)) & 3) && ((dr7 >> (16 + 4 * n)) & 1);
}

static void watch_read(struct cpu *c, struct watch *w)
{
    for (int n = 0; n < 4; n++) {
        w->val[n] = 0;
        w->ok[n] = false;
        if (data_bp(c->dr[7], n)) {
            int len = bp_len(c->dr[7], n);
            w->ok[n] = cpu_peek_code(c, c->dr[n] & ~(uint64_t)(len - 1),
                                     (uint8_t *)&w->val[n], len) == len;
        }
    }
}

static unsigned watch_hits(struct cpu *c, const struct watch *before)
{
    struct watch now;
    unsigned hits = 0;
    watch_read(c, &now);
    for (int n = 0; n < 4; n++)
        if (before->ok[n] && now.ok[n] && before->val[n] != now.val[n])
            hits |= 1u << n;
    return hits;
}

static void raise_db_now(struct cpu *c)
{
    c->fault_vec = EXC_DB;
    c->fault_err = CPU_NOERR;
    cpu_deliver_pending(c);
}

/* MOV SS and POP SS hold the single-step trap back for one instruction
 * (SDM Vol 3A 6.8.3); STI does not. */
static bool loads_ss(const struct insn *i)
{
    return i->map == 0 && ((i->opcode == 0x8e && (i->reg & 7) == S_SS) ||
                           i->opcode == 0x17);
}

/* INT n/INT3/INTO/INT1 clear TF on delivery: no single-step trap after
 * them (QEMU does the same). */
static bool is_soft_int(const struct insn *i)
{
    return i->map == 0 && (i->opcode == 0xcc || i->opcode == 0xcd ||
                           i->opcode == 0xce || i->opcode == 0xf1);
}

static __attribute__((noinline)) void exec_debug(struct cpu *c)
{
    bool tf = (c->eflags & F_TF) != 0, shadow = c->intr_shadow;
    uint64_t lin = c->seg[S_CS].base + c->rip;
    if (!cpu_long_mode(c))
        lin &= 0xffffffffull;
    /* An instruction breakpoint is a fault before the instruction; RF=1
     * (set by the handler through IRET) lets it run once (SDM 18.3.1.1). */
    unsigned hits = (c->dr[7] & 0xff) && !(c->eflags & F_RF) ? exec_bp_hits(c, lin) : 0;
    if (hits) {
        c->dr[6] = (c->dr[6] & ~0xfull) | hits;
        raise_db_now(c);
        return;
    }
    struct insn ins;
    struct watch w;
    bool watching = (c->dr[7] & 0xff) != 0;
    if (watching)
        watch_read(c, &w);
    ic_prev_reset(c);
    exec_uncached(c, lin, &ins);
    unsigned dhits = watching ? watch_hits(c, &w) : 0;
    if (!(ins.map == 0 && ins.opcode == 0xcf)) /* IRET may have loaded RF */
        c->eflags &= ~F_RF;
    if (shadow)
        c->intr_shadow = false;
    bool step_trap = tf && !loads_ss(&ins) && !is_soft_int(&ins) &&
                     !c->halted && !c->shutdown;
    if (dhits || step_trap) {
        /* one #DB trap after the instruction reports both causes */
        if (dhits)
            c->dr[6] = (c->dr[6] & ~0xfull) | dhits;
        if (step_trap)
            c->dr[6] |= DR6_BS;
        raise_db_now(c);
    }
}

/* The loop between blocks: one function with step() inlined, so the
 * per-block path has no call besides the handlers and the interrupt
 * check. */
static __attribute__((noinline)) enum cpu_exit run_loop(struct cpu *c,
                                                        uint64_t end)
{
    for (;;) {
        c->ic->cur = NULL; /* no block runs: a fault here counts nothing */
        if (unlikely(c->exit_request))
            return CPU_EXIT_REQUEST;
        if (unlikely(c->shutdown))
            return CPU_EXIT_SHUTDOWN;
        if (unlikely(debug_mode(c))) {
            /* STI / MOV SS: exactly one more instruction before any
             * interrupt (SDM Vol 3A 6.8.3); TF / DR7: one at a time */
            if (!c->intr_shadow)
                cpu_check_interrupts(c);
            if (c->shutdown)
                return CPU_EXIT_SHUTDOWN;
            if (c->halted)
                return CPU_EXIT_HLT;
            if (c->icount >= end)
                return CPU_EXIT_BUDGET;
            exec_debug(c);
            continue;
        }
        if (unlikely(irq_maybe(c))) {
            uint64_t rip = c->rip;
            cpu_check_interrupts(c);
            if (unlikely(c->rip != rip))
                c->ic->prev = NULL; /* an event was delivered: CS/CPL may differ */
            if (unlikely(c->shutdown))
                return CPU_EXIT_SHUTDOWN;
        }
        if (unlikely(c->halted))
            return CPU_EXIT_HLT;
        if (unlikely(c->icount >= end))
            return CPU_EXIT_BUDGET;
        step(c, end);
    }
}

enum cpu_exit cpu_run(struct cpu *c, uint64_t max_insns)
{
    const uint64_t end = c->icount + max_insns;
    cpu_jmp_buf jb, *const outer = c->fault_jmp;

    c->run_end = end;
    c->ic->prev = NULL; /* the host may have changed anything in between */
    c->fault_jmp = &jb;
    if (CPU_SETJMP(jb)) {
        /* an instruction faulted: c->rip names it; deliver the event */
        count_retired(c);
        c->ic->prev = NULL;
        c->intr_shadow = false;
        cpu_deliver_pending(c);
    }
    enum cpu_exit why = run_loop(c, end);
    c->fault_jmp = outer;
    return why;
}
