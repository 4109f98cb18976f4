/* mmu.c: segmentation checks on access, paging, the software TLB.
 *
 * Fast paths are inline in mmu.h; this file holds what runs on a miss:
 *   mmu_seg_slow   full segment checks (SDM Vol 3A 3.4, 5.3)
 *   translate      TLB miss: global side table, else a page walk, then fill
 *   walk           32-bit, PAE and 4-level paging (SDM Vol 3A ch. 4)
 * Guest RAM is c->ram[0 .. ram_size); every physical access outside it goes
 * to the bus, so no guest value can make us touch other host memory.
 * SMRAM (smm_smram.h) is closed to a vCPU outside SMM: reads all ones,
 * writes dropped, never a TLB entry or a decoded block (docs/smm.md).
 */
#include <string.h>

#include "cpu.h"
#include "smm_smram.h"

/* Paging-structure entry bits (SDM Vol 3A 4.3-4.5). */
#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A  (1ull << 5)
#define PTE_D  (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_G  (1ull << 8)
#define PTE_NX (1ull << 63)

/* Physical-address bits 39:12 of an entry, and bits 51:MAXPHYADDR that
 * must be zero (PAE entries: 62:M; 4-level: 51:M, 62:52 are ignored). */
#define PA_MASK     (((1ull << CPU_MAXPHYADDR) - 1) & ~0xfffull)
#define RSVD_HI_4L  (((1ull << 52) - 1) & ~((1ull << CPU_MAXPHYADDR) - 1))
#define RSVD_HI_PAE (((1ull << 63) - 1) & ~((1ull << CPU_MAXPHYADDR) - 1))

/* Effective rights of a translation (xlate.fl, gtlb_entry.flags):
 * U and W are the AND over all levels, NX the OR (only when NXE applies),
 * D the leaf's dirty bit, G global (leaf G and CR4.PGE). */
#define XL_W  ((uint32_t)PTE_RW)
#define XL_U  ((uint32_t)PTE_US)
#define XL_D  ((uint32_t)PTE_D)
#define XL_G  ((uint32_t)PTE_G)
#define XL_NX (1u << 31)

struct xlate {
    uint64_t pa;    /* physical address of lin */
    uint64_t psize; /* page size: 4K, 2M, 4M or 1G */
    uint32_t fl;
};

/* ------------------------------------------------------------------ */
/* Physical memory                                                     */
/* ------------------------------------------------------------------ */

/* Is [pa, pa + len) SMRAM that c may not see (not in SMM)? */
static inline bool smram_closed(const struct cpu *c, uint64_t pa, uint64_t len)
{
    return smram_overlaps(pa, len) && !c->in_smm;
}

static inline uint8_t *ram_ptr(struct cpu *c, uint64_t pa, unsigned len)
{
    if (pa < c->ram_size && len <= c->ram_size - pa && !smram_closed(c, pa, len))
        return c->ram + pa;
    return NULL;
}

static inline bool is_code_page(const struct cpu *c, uint64_t pfn)
{
    return c->code_pages && pfn < (c->ram_size >> 12) && c->code_pages[pfn];
}

static uint64_t size_mask(int size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Little-endian load/store of 1..8 bytes; constant-size copies for the
 * usual sizes so they compile to single moves. */
static inline uint64_t host_load(const uint8_t *p, int size)
{
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
    default: { uint64_t v = 0; memcpy(&v, p, (size_t)size); return v; }
    }
}

static inline void host_store(uint8_t *p, int size, uint64_t v)
{
    switch (size) {
    case 1: *p = (uint8_t)v; return;
    case 2: { uint16_t w = (uint16_t)v; memcpy(p, &w, 2); return; }
    case 4: { uint32_t w = (uint32_t)v; memcpy(p, &w, 4); return; }
    case 8: memcpy(p, &v, 8); return;
    default: memcpy(p, &v, (size_t)size); return;
    }
}

uint64_t phys_read(struct cpu *c, uint64_t pa, int size)
{
    if ((unsigned)(size - 1) > 7u) /* 1..8 bytes: a caller bug otherwise */
        size = size < 1 ? 1 : 8;
    uint8_t *p = ram_ptr(c, pa, (unsigned)size);
    if (p)
        return host_load(p, size);
    if (smram_closed(c, pa, (uint64_t)size))
        return size_mask(size);
    if (c->bus && c->bus->mmio_read) {
        c->block_stop = true; /* as for writes below: devices may act on reads */
        return c->bus->mmio_read(c->bus->opaque, c, pa, size) & size_mask(size);
    }
    return size_mask(size);
}

void phys_write(struct cpu *c, uint64_t pa, int size, uint64_t v)
{
    if ((unsigned)(size - 1) > 7u)
        size = size < 1 ? 1 : 8;
    uint8_t *p = ram_ptr(c, pa, (unsigned)size);
    if (p) {
        /* a size <= 8 write touches at most two pages */
        if (is_code_page(c, pa >> 12))
            icache_invalidate_page(c, pa >> 12);
        if (((pa + (uint64_t)size - 1) >> 12) != pa >> 12 &&
            is_code_page(c, (pa >> 12) + 1))
            icache_invalidate_page(c, (pa >> 12) + 1);
        host_store(p, size, v);
        return;
    }
    if (smram_closed(c, pa, (uint64_t)size))
        return;
    if (c->bus && c->bus->mmio_write) {
        c->bus->mmio_write(c->bus->opaque, c, pa, size, v & size_mask(size));
        /* a device may have raised an event for this CPU (an IPI, INIT):
         * end the running block so that the run loop looks */
        c->block_stop = true;
    }
}

/* ------------------------------------------------------------------ */
/* Software TLB                                                        */
/* ------------------------------------------------------------------ */

static void gen_bump(struct tlb *t, int kind)
{
    t->gen[kind] = (t->gen[kind] + 1) & TLB_GEN_MASK;
    if (t->gen[kind] == 0) /* wrapped: old tags could match again */
        memset(t->e[kind], 0, sizeof(t->e[kind]));
}

static void psc_bump(struct tlb *t)
{
    t->pgen = (t->pgen + 1) & TLB_GEN_MASK;
    if (t->pgen == 0)
        memset(t->psc, 0, sizeof(t->psc));
}

void tlb_flush_nonglobal(struct cpu *c)
{
    for (int k = 0; k < TLB_NKIND; k++)
        gen_bump(&c->tlb, k);
    psc_bump(&c->tlb);
}

void tlb_flush_all(struct cpu *c)
{
    struct tlb *t = &c->tlb;
    tlb_flush_nonglobal(c);
    t->ggen = (t->ggen + 1) & TLB_GEN_MASK;
    if (t->ggen == 0)
        memset(t->g, 0, sizeof(t->g));
    t->lp_valid = false;
}

void tlb_flush_page(struct cpu *c, uint64_t lin)
{
    struct tlb *t = &c->tlb;
    uint64_t page = lin & ~0xfffull;
    /* A large page is cached as many 4K entries: drop them all. */
    if (t->lp_valid && (lin & t->lp_mask) == t->lp_addr) {
        tlb_flush_all(c);
        return;
    }
    psc_bump(t); /* INVLPG drops paging-structure caches, SDM 4.10.4.1 */
    unsigned idx = (unsigned)(lin >> 12) & (TLB_SIZE - 1);
    for (int k = 0; k < TLB_NKIND; k++)
        for (int x = 0; x < TLB_NCTX; x++)
            if ((t->e[k][x][idx].tag & ~0xfffull) == page)
                t->e[k][x][idx].tag = 0;
    struct gtlb_entry *g = &t->g[(lin >> 12) & (GTLB_SIZE - 1)];
    if ((g->tag & ~0xfffull) == page)
        g->tag = 0;
}

/* Future writes to pfn must take the slow path. Which virtual pages map
 * pfn is unknown (aliases), so drop every write entry: O(1). */
void mmu_code_page_added(struct cpu *c, uint64_t pfn)
{
    (void)pfn;
    gen_bump(&c->tlb, TLB_WRITE);
}

/* Widen the large-page range to cover [page, page + size). */
static void lp_add(struct tlb *t, uint64_t lin, uint64_t size)
{
    uint64_t mask = ~(size - 1);
    if (!t->lp_valid) {
        t->lp_valid = true;
        t->lp_addr = lin & mask;
        t->lp_mask = mask;
        return;
    }
    mask &= t->lp_mask;
    while (((t->lp_addr ^ lin) & mask) != 0)
        mask <<= 1;
    t->lp_mask = mask;
    t->lp_addr &= mask;
}

/* One main-array entry: only whole RAM pages get a host pointer (MMIO
 * always misses), and no write entry for a page holding decoded code. */
static inline void tlb_set(struct cpu *c, uint64_t lin, int kind,
                           unsigned ctx, uint64_t pa)
{
    struct tlb *t = &c->tlb;
    uint64_t pa_page = pa & ~0xfffull;
    uint64_t lin_page = lin & ~0xfffull;
    if (pa_page >= (c->ram_size & ~0xfffull))
        return;
    if (smram_closed(c, pa_page, 0x1000))
        return; /* every access to it takes the slow path */
    if (kind == TLB_WRITE && is_code_page(c, pa_page >> 12))
        return;
    struct tlb_entry *e = &t->e[kind][ctx][(lin >> 12) & (TLB_SIZE - 1)];
    e->tag = lin_page | TLB_TAG_V | t->gen[kind];
    e->addend = (uintptr_t)(c->ram + pa_page) - (uintptr_t)lin_page;
}

/* ------------------------------------------------------------------ */
/* Page walk                                                           */
/* ------------------------------------------------------------------ */

/* Access rights, SDM Vol 3A 4.6.1. Returns true if the access faults.
 * ctx: TLB_CTX_USER = CPL3 explicit access; TLB_CTX_SUP = supervisor with
 * AC=0 or implicit supervisor access; TLB_CTX_SUP_AC = explicit supervisor
 * access with AC=1.
 *
 *   access      page U=0 (supervisor)        page U=1 (user)
 *   user read   fault                        ok
 *   user write  fault                        W
 *   user fetch  fault                        !NX
 *   sup read    ok                           !SMAP || AC (explicit)
 *   sup write   W || !WP                     (!SMAP || AC) && (W || !WP)
 *   sup fetch   !NX                          !NX && !SMEP
 */
static inline bool perm_fault(const struct cpu *c, uint32_t fl, int kind,
                       unsigned ctx)
{
    bool upage = (fl & XL_U) != 0;
    if (ctx == TLB_CTX_USER) {
        if (!upage)
            return true;
        if (kind == TLB_WRITE)
            return !(fl & XL_W);
        if (kind == TLB_FETCH)
            return (fl & XL_NX) != 0;
        return false;
    }
    if (kind == TLB_FETCH)
        return (fl & XL_NX) || (upage && (c->cr4 & CR4_SMEP));
    if (upage && (c->cr4 & CR4_SMAP) && ctx != TLB_CTX_SUP_AC)
        return true;
    if (kind == TLB_WRITE)
        return !(fl & XL_W) && (c->cr0 & CR0_WP);
    return false;
}

/* Cache a fresh walk result: large-page range, global side table, and the
 * entry for this access. A write that is allowed implies a read is (SDM
 * 4.6.1: same U/S and SMAP rules, reads need no R/W), so a write fills the
 * read entry too; a read fills the write entry when a write would pass and
 * D is already set, which saves the second walk of a read-modify-write. */
static void tlb_fill(struct cpu *c, uint64_t lin, int kind, unsigned ctx,
                     const struct xlate *x)
{
    struct tlb *t = &c->tlb;
    if (x->psize > 0x1000)
        lp_add(t, lin, x->psize);
    if (x->fl & XL_G) {
        struct gtlb_entry *g = &t->g[(lin >> 12) & (GTLB_SIZE - 1)];
        g->tag = (lin & ~0xfffull) | TLB_TAG_V | t->ggen;
        g->pa = x->pa & ~0xfffull;
        g->flags = x->fl;
    }
    tlb_set(c, lin, kind, ctx, x->pa);
    if (kind == TLB_WRITE)
        tlb_set(c, lin, TLB_READ, ctx, x->pa);
    else if (kind == TLB_READ && (x->fl & XL_D) &&
             !perm_fault(c, x->fl, TLB_WRITE, ctx))
        tlb_set(c, lin, TLB_WRITE, ctx, x->pa);
}

/* walk() result: 0 = translated, else WALK_FAULT | page-fault error code
 * (an error code can itself be 0: a supervisor read of a not-present page). */
#define WALK_FAULT (1u << 31)

/* Page-fault error code, SDM Vol 3A 4.7. I/D only when SMEP or (PAE/4-level
 * and NXE), i.e. when fetch rights can differ from read rights. */
static uint32_t pf_err(const struct cpu *c, uint32_t p_rsvd, int kind,
                       unsigned ctx)
{
    uint32_t err = WALK_FAULT | p_rsvd;
    if (kind == TLB_WRITE)
        err |= PFEC_W;
    if (ctx == TLB_CTX_USER)
        err |= PFEC_U;
    if (kind == TLB_FETCH &&
        ((c->cr4 & CR4_SMEP) ||
         ((c->cr4 & CR4_PAE) && (c->efer & EFER_NXE))))
        err |= PFEC_I;
    return err;
}

/* A paging-structure entry: a host pointer when it is in RAM (so A/D
 * updates are a store), else read through the bus and never written. */
struct pte_ref {
    uint8_t *p;
    uint64_t pa;
};

static inline uint64_t pte_load(struct cpu *c, uint64_t pa, int size,
                                struct pte_ref *r)
{
    r->pa = pa;
    r->p = ram_ptr(c, pa, (unsigned)size);
    if (r->p) {
        if (size == 8) {
            uint64_t v;
            memcpy(&v, r->p, 8);
            return v;
        }
        uint32_t v;
        memcpy(&v, r->p, 4);
        return v;
    }
    return phys_read(c, pa, size);
}

/* Set bits in an entry (A, D): only when they change, SDM 4.8. */
static inline void pte_set(struct cpu *c, const struct pte_ref *r, int size,
                           uint64_t old, uint64_t bits)
{
    if ((old & bits) == bits || !r->p)
        return;
    if (is_code_page(c, r->pa >> 12))
        icache_invalidate_page(c, r->pa >> 12);
    if (size == 8) {
        uint64_t v = old | bits;
        memcpy(r->p, &v, 8);
    } else {
        uint32_t v = (uint32_t)(old | bits);
        memcpy(r->p, &v, 4);
    }
}

/* Translate lin with paging on. Returns 0 and fills *x, or WALK_FAULT |
 * the page-fault error code. peek: no permission checks and no A/D updates.
 * A bits of non-leaf entries are set as they are used, the leaf's A (and D
 * for a write) only once the access is known to be allowed (as QEMU). */
static inline __attribute__((always_inline)) uint32_t
walk(struct cpu *c, uint64_t lin, int kind, unsigned ctx, bool peek,
     struct xlate *x)
{
    struct pte_ref r;
    uint64_t e, pa_leaf;
    uint32_t allow = XL_U | XL_W;
    uint64_t nx = 0;
    int esize = 8;

    if (c->cr4 & CR4_PAE) {
        /* 4-level paging (IA-32e): lin[47:39] PML4, [38:30] PDPT, [29:21]
         * PD, [20:12] PT, 9 bits each, 8-byte entries.
         * PAE paging: lin[31:30] picks a PDPTE register, then PD and PT.
         * PDPTEs carry no access rights and were checked at load time. */
        bool lma = (c->efer & EFER_LMA) != 0;
        uint64_t rsvd = (lma ? RSVD_HI_4L : RSVD_HI_PAE) |
                        ((c->efer & EFER_NXE) ? 0 : PTE_NX);
        struct psc_entry *pe = &c->tlb.psc[(lin >> 21) & (PSC_SIZE - 1)];
        uint64_t ptag = ((lin >> 21) << 12) | TLB_TAG_V | c->tlb.pgen;
        uint64_t table;
        int shift;
        if (pe->tag == ptag) {
            table = pe->pt_pa;
            allow = pe->allow;
            nx = (uint64_t)pe->nx << 32;
            shift = 12;
        } else if (lma) {
            table = c->cr3 & PA_MASK;
            shift = 39;
        } else {
            e = c->tlb.pdpte[(lin >> 30) & 3];
            if (!(e & PTE_P))
                return pf_err(c, 0, kind, ctx);
            table = e & PA_MASK;
            shift = 21;
        }
        for (;;) {
            e = pte_load(c, table + ((lin >> shift) & 511) * 8, 8, &r);
            if (!(e & PTE_P))
                return pf_err(c, 0, kind, ctx);
            uint64_t rs = rsvd;
            if (shift == 39)
                rs |= PTE_PS;                     /* PML4E.PS reserved */
            else if (shift == 30 && (e & PTE_PS))
                rs |= 0x3fffe000ull;              /* 1G: bits 29:13 */
            else if (shift == 21 && (e & PTE_PS))
                rs |= 0x1fe000ull;                /* 2M: bits 20:13 */
            if (e & rs)
                return pf_err(c, PFEC_P | PFEC_RSVD, kind, ctx);
            allow &= (uint32_t)e;
            nx |= e;
            if (shift == 12 || (e & PTE_PS))
                break;
            if (!peek)
                pte_set(c, &r, 8, e, PTE_A);
            table = e & PA_MASK;
            shift -= 9;
            if (shift == 12 && !peek) {
                pe->tag = ptag;
                pe->pt_pa = table;
                pe->allow = allow;
                pe->nx = (uint32_t)(nx >> 32) & (uint32_t)(PTE_NX >> 32);
            }
        }
        x->psize = 1ull << shift;
        pa_leaf = (e & PA_MASK & ~(x->psize - 1)) | (lin & (x->psize - 1));
    } else {
        /* 32-bit paging: lin[31:22] PD, [21:12] PT, 4-byte entries, no NX.
         * A 4M PDE (CR4.PSE) holds PA[31:22] in bits 31:22 and PA[39:32]
         * in bits 20:13 (PSE-36); bit 21 is reserved (MAXPHYADDR 40). */
        esize = 4;
        uint32_t l32 = (uint32_t)lin;
        e = pte_load(c, (c->cr3 & 0xfffff000u) + (l32 >> 22) * 4, 4, &r);
        if (!(e & PTE_P))
            return pf_err(c, 0, kind, ctx);
        if ((e & PTE_PS) && (c->cr4 & CR4_PSE)) {
            if (e & (1u << 21))
                return pf_err(c, PFEC_P | PFEC_RSVD, kind, ctx);
            x->psize = 4ull << 20;
            pa_leaf = (e & 0xffc00000u) | (((e >> 13) & 0xff) << 32) |
                      (l32 & 0x3fffff);
        } else {
            allow &= (uint32_t)e;
            if (!peek)
                pte_set(c, &r, 4, e, PTE_A);
            e = pte_load(c, (e & 0xfffff000u) + ((l32 >> 12) & 0x3ff) * 4, 4,
                         &r);
            if (!(e & PTE_P))
                return pf_err(c, 0, kind, ctx);
            x->psize = 0x1000;
            pa_leaf = (e & 0xfffff000u) | (l32 & 0xfff);
        }
        allow &= (uint32_t)e;
        nx = 0;
    }

    x->fl = (allow & (XL_U | XL_W)) | ((uint32_t)e & XL_D);
    if ((nx & PTE_NX) && (c->efer & EFER_NXE))
        x->fl |= XL_NX;
    if ((e & PTE_G) && (c->cr4 & CR4_PGE))
        x->fl |= XL_G;
    x->pa = pa_leaf;
    if (peek)
        return 0;
    if (perm_fault(c, x->fl, kind, ctx))
        return pf_err(c, PFEC_P, kind, ctx);
    uint64_t set = PTE_A | (kind == TLB_WRITE ? PTE_D : 0);
    pte_set(c, &r, esize, e, set);
    x->fl |= (uint32_t)(set & PTE_D);
    return 0;
}

static _Noreturn void page_fault(struct cpu *c, uint64_t lin, uint32_t err)
{
    c->cr2 = lin;
    cpu_raise(c, EXC_PF, (int32_t)err);
}

/* TLB miss: translate lin for (kind, ctx), fill the TLB, return the
 * physical address, or raise #PF. */
static uint64_t translate(struct cpu *c, uint64_t lin, int kind, unsigned ctx)
{
    struct xlate x;
    if (!(c->cr0 & CR0_PG)) {
        uint64_t pa = lin & 0xffffffffull; /* no paging: linear = physical */
        tlb_set(c, lin, kind, ctx, pa);
        if (kind != TLB_FETCH) /* reads and writes alike */
            tlb_set(c, lin, kind ^ 1, ctx, pa);
        return pa;
    }
    const struct gtlb_entry *g = &c->tlb.g[(lin >> 12) & (GTLB_SIZE - 1)];
    if (g->tag == ((lin & ~0xfffull) | TLB_TAG_V | c->tlb.ggen) &&
        !perm_fault(c, g->flags, kind, ctx) &&
        (kind != TLB_WRITE || (g->flags & XL_D))) {
        uint64_t pa = g->pa | (lin & 0xfff);
        tlb_set(c, lin, kind, ctx, pa);
        return pa;
    }
    uint32_t err = walk(c, lin, kind, ctx, false, &x);
    if (err)
        page_fault(c, lin, err & ~WALK_FAULT);
    tlb_fill(c, lin, kind, ctx, &x);
    return x.pa;
}

/* ------------------------------------------------------------------ */
/* Linear accesses (slow paths of mmu.h)                               */
/* ------------------------------------------------------------------ */

/* Pieces of an access: one per page touched (at most two). */
struct span {
    uint64_t pa[2];
    int n[2];
};

static void split(struct cpu *c, uint64_t lin, int size, int kind,
                  unsigned ctx, bool wrap32, struct span *s)
{
    unsigned in_page = 0x1000u - (unsigned)(lin & 0xfff);
    if ((unsigned)size <= in_page) {
        s->n[0] = size;
        s->n[1] = 0;
        s->pa[0] = translate(c, lin, kind, ctx);
        return;
    }
    /* Both pages are translated (and may fault) before any byte moves. */
    uint64_t lin2 = lin + in_page;
    if (wrap32)
        lin2 &= 0xffffffffull;
    s->n[0] = (int)in_page;
    s->n[1] = size - (int)in_page;
    s->pa[0] = translate(c, lin, kind, ctx);
    s->pa[1] = translate(c, lin2, kind, ctx);
}

static uint64_t span_read(struct cpu *c, const struct span *s)
{
    if (!s->n[1])
        return phys_read(c, s->pa[0], s->n[0]);
    uint64_t lo = phys_read(c, s->pa[0], s->n[0]);
    uint64_t hi = phys_read(c, s->pa[1], s->n[1]);
    return lo | (hi << (8 * s->n[0]));
}

static void span_write(struct cpu *c, const struct span *s, uint64_t v)
{
    if (!s->n[1]) {
        phys_write(c, s->pa[0], s->n[0], v);
        return;
    }
    phys_write(c, s->pa[0], s->n[0], v);
    phys_write(c, s->pa[1], s->n[1], v >> (8 * s->n[0]));
}

/* Explicit data accesses: the context for translation, after the #AC
 * check. SDM 6.15: with CR0.AM=1, EFLAGS.AC=1 at CPL3, an operand of 2, 4
 * or 8 bytes must be aligned to its size, else #AC(0). #GP/#SS (segment)
 * and #PF come first (SDM 6.9 priorities), so the check follows the
 * translation. */
static inline unsigned data_ctx(const struct cpu *c)
{
    unsigned ctx = mmu_ctx(c);
    return ctx == TLB_CTX_USER_ALIGN ? TLB_CTX_USER : ctx;
}

static inline void align_check(struct cpu *c, uint64_t lin, int size)
{
    if (MMU_UNLIKELY(mmu_ctx(c) == TLB_CTX_USER_ALIGN) &&
        (size == 2 || size == 4 || size == 8) &&
        (lin & (uint64_t)(size - 1)))
        cpu_raise(c, EXC_AC, 0);
}

uint64_t mmu_read_slow(struct cpu *c, uint64_t lin, int size)
{
    if ((lin & 0xfff) <= 0x1000u - (unsigned)size) {
        uint64_t pa = translate(c, lin, TLB_READ, data_ctx(c));
        align_check(c, lin, size);
        uint8_t *p = ram_ptr(c, pa, (unsigned)size);
        return p ? host_load(p, size) : phys_read(c, pa, size);
    }
    struct span s;
    split(c, lin, size, TLB_READ, data_ctx(c), c->mode != MODE_LONG, &s);
    align_check(c, lin, size);
    return span_read(c, &s);
}

void mmu_write_slow(struct cpu *c, uint64_t lin, int size, uint64_t v)
{
    if ((lin & 0xfff) <= 0x1000u - (unsigned)size) {
        uint64_t pa = translate(c, lin, TLB_WRITE, data_ctx(c));
        align_check(c, lin, size);
        phys_write(c, pa, size, v);
        return;
    }
    struct span s;
    split(c, lin, size, TLB_WRITE, data_ctx(c), c->mode != MODE_LONG, &s);
    align_check(c, lin, size);
    span_write(c, &s, v);
}

void mmu_check_write_lin(struct cpu *c, uint64_t lin, int size)
{
    struct span s;
    split(c, lin, size, TLB_WRITE, data_ctx(c), c->mode != MODE_LONG, &s);
    align_check(c, lin, size);
}

/* System-structure accesses: implicit supervisor (TLB_CTX_SUP, so SMAP
 * applies whatever AC is and the error code has U/S = 0). In IA-32e mode
 * they use 64-bit linear addresses (non-canonical: #GP(0)), else 32-bit. */
static uint64_t sys_lin(struct cpu *c, uint64_t lin, int size)
{
    if (!(c->efer & EFER_LMA))
        return lin & 0xffffffffull;
    if (lin + (1ull << 47) > (1ull << 48) - (uint64_t)size)
        cpu_raise(c, EXC_GP, 0);
    return lin;
}

uint64_t lin_read_sys(struct cpu *c, uint64_t lin, int size)
{
    lin = sys_lin(c, lin, size);
    uint8_t *p = mmu_tlb_hit(c, TLB_READ, TLB_CTX_SUP, lin, size);
    if (p) /* fixed-size moves: a variable memcpy is a libc call */
        return host_load(p, size);
    struct span s;
    split(c, lin, size, TLB_READ, TLB_CTX_SUP, !(c->efer & EFER_LMA), &s);
    return span_read(c, &s);
}

void lin_write_sys(struct cpu *c, uint64_t lin, int size, uint64_t v)
{
    lin = sys_lin(c, lin, size);
    uint8_t *p = mmu_tlb_hit(c, TLB_WRITE, TLB_CTX_SUP, lin, size);
    if (p) {
        host_store(p, size, v);
        return;
    }
    struct span s;
    split(c, lin, size, TLB_WRITE, TLB_CTX_SUP, !(c->efer & EFER_LMA), &s);
    span_write(c, &s, v);
}

/* ------------------------------------------------------------------ */
/* Instruction fetch                                                   */
/* ------------------------------------------------------------------ */

int cpu_fetch_code(struct cpu *c, uint64_t lin, uint8_t *buf, int n,
                   uint64_t *phys)
{
    unsigned ctx = c->cpl == 3 ? TLB_CTX_USER : TLB_CTX_SUP; /* AC: data only */
    int avail = 0x1000 - (int)(lin & 0xfff);
    if (n > avail)
        n = avail;
    if (n < 0)
        n = 0; /* still checks that lin is executable */
    uint8_t *p = mmu_tlb_hit(c, TLB_FETCH, ctx, lin, 1);
    if (p) {
        memcpy(buf, p, (size_t)n);
        *phys = (uint64_t)(p - c->ram);
        return n;
    }
    if (c->efer & EFER_LMA) {
        if (lin + (1ull << 47) >= (1ull << 48)) /* non-canonical RIP */
            cpu_raise(c, EXC_GP, 0);
    } else {
        lin &= 0xffffffffull;
    }
    uint64_t pa = translate(c, lin, TLB_FETCH, ctx);
    /* Closed SMRAM: the bytes are all ones, and *phys must not let the
     * decoded-code cache read the real ones from RAM. */
    *phys = smram_closed(c, pa, (uint64_t)n ? (uint64_t)n : 1) ? ~0ull : pa;
    uint8_t *q = ram_ptr(c, pa, (unsigned)n);
    if (q) {
        memcpy(buf, q, (size_t)n);
    } else {
        for (int k = 0; k < n; k++)
            buf[k] = (uint8_t)phys_read(c, pa + (uint64_t)k, 1);
    }
    return n;
}

int cpu_peek_code(struct cpu *c, uint64_t lin, uint8_t *buf, int n)
{
    int got = 0;
    bool wrap32 = !(c->efer & EFER_LMA);
    while (got < n) {
        uint64_t pa = wrap32 ? (lin & 0xffffffffull) : lin;
        if (c->cr0 & CR0_PG) {
            struct xlate x;
            if (!wrap32 && lin + (1ull << 47) >= (1ull << 48))
                break;
            if (walk(c, pa, TLB_FETCH, TLB_CTX_SUP, true, &x))
                break;
            pa = x.pa;
        }
        int chunk = 0x1000 - (int)(lin & 0xfff);
        if (chunk > n - got)
            chunk = n - got;
        uint8_t *q = ram_ptr(c, pa, (unsigned)chunk);
        if (q) { /* all in RAM, none in closed SMRAM: one copy */
            memcpy(buf + got, q, (size_t)chunk);
        } else {
            for (int k = 0; k < chunk; k++) {
                q = ram_ptr(c, pa + (uint64_t)k, 1);
                buf[got + k] = q ? *q : (uint8_t)phys_read(c, pa + (uint64_t)k, 1);
            }
        }
        got += chunk;
        lin += (uint64_t)chunk;
    }
    return got;
}

/* ------------------------------------------------------------------ */
/* PAE PDPTE registers                                                 */
/* ------------------------------------------------------------------ */

int mmu_load_pdptrs(struct cpu *c)
{
    /* SDM 4.4.1: PDPTE bits 2:1, 8:5 and 63:MAXPHYADDR are reserved. */
    const uint64_t rsvd = 0x1e6ull | ~((1ull << CPU_MAXPHYADDR) - 1);
    uint64_t base = c->cr3 & 0xffffffe0u;
    uint64_t v[4];
    for (int k = 0; k < 4; k++) {
        v[k] = phys_read(c, base + 8u * (unsigned)k, 8);
        if ((v[k] & PTE_P) && (v[k] & rsvd))
            return -1;
    }
    /* PDE-cache entries were derived from the old PDPTEs */
    if (memcmp(c->tlb.pdpte, v, sizeof(v)) != 0)
        psc_bump(&c->tlb);
    memcpy(c->tlb.pdpte, v, sizeof(v));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Segmentation (SDM Vol 3A 3.4.5, 5.3)                                */
/* ------------------------------------------------------------------ */

/* All cases the inline check in mmu.h does not settle. Returns the linear
 * address or raises #GP(0) / #SS(0). */
uint64_t mmu_seg_slow(struct cpu *c, int seg, uint64_t off, int size, int acc)
{
    int exc = seg == S_SS ? EXC_SS : EXC_GP;
    uint64_t last = off + (uint64_t)size - 1;

    if (c->mode == MODE_LONG) {
        /* 64-bit mode: only FS/GS have a base, no limits; the address
         * must be canonical (SDM 3.3.7.1), #SS(0) if SS-relative. */
        uint64_t lin = off;
        if (seg == S_FS || seg == S_GS)
            lin += c->seg[seg].base;
        if (lin + (1ull << 47) > (1ull << 48) - (uint64_t)size)
            cpu_raise(c, exc, 0);
        return lin;
    }

    const struct seg *s = &c->seg[seg];
    unsigned type = s->attr & SEG_ATTR_TYPE;
    bool code = (s->attr & SEG_ATTR_S) && (type & 8);
    bool expand_down = (s->attr & SEG_ATTR_S) && !(type & 8) && (type & 4);

    if (c->mode != MODE_REAL && c->mode != MODE_V86) {
        /* A null selector leaves the register unusable (P=0). */
        if (!(s->attr & SEG_ATTR_P))
            cpu_raise(c, exc, 0);
        /* SDM 5.5: no writes to code or read-only data segments, no data
         * reads from execute-only code segments. */
        if (!(s->attr & SEG_ATTR_S))
            cpu_raise(c, exc, 0);
        if (acc == MMU_ACC_WRITE && (code || !(type & 2)))
            cpu_raise(c, exc, 0);
        if (acc == MMU_ACC_READ && code && !(type & 2))
            cpu_raise(c, exc, 0);
    } else {
        expand_down = false;
    }

    if (expand_down) {
        /* Valid offsets are limit+1 .. 0xffff (B=0) or 0xffffffff (B=1). */
        uint64_t upper = (s->attr & SEG_ATTR_DB) ? 0xffffffffull : 0xffffull;
        if (off <= s->limit || last > upper)
            cpu_raise(c, exc, 0);
    } else if (last > s->limit && s->limit != 0xffffffffu) {
        /* SDM 5.3: with a 4G limit an access that wraps past 4G may or
         * may not fault; we wrap (as QEMU does). */
        cpu_raise(c, exc, 0);
    }
    /* Outside 64-bit mode the linear address wraps at 4G. */
    return (uint32_t)(s->base + off);
}
