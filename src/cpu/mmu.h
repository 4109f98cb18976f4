/* mmu.h: guest memory access: segmentation checks, paging, software TLB.
 * OWNED BY core-mmu (mmu.c). The names below are the contract with the rest
 * of the core; the fast paths are static inline at the end of this file.
 *
 * ---- What core-sys must do for the TLB to stay coherent ----
 *  - MOV CR3 (and task switches loading CR3): tlb_flush_nonglobal(), and in
 *    PAE mode mmu_load_pdptrs() (#GP if it returns -1).
 *  - Any change of CR0.PG/WP/PE, CR4.PSE/PAE/PGE/SMEP/SMAP, EFER.NXE/LMA
 *    (simplest: every CR0/CR4/EFER write, RSM, SMM entry): tlb_flush_all();
 *    and mmu_load_pdptrs() when PAE paging is (still) on afterwards.
 *  - INVLPG: tlb_flush_page(linear address).
 *  - cpu_state_changed()/reset: tlb_flush_all() (+ mmu_load_pdptrs in PAE).
 *  - CPL, EFLAGS.AC and CR0.AM changes need NO call: the fast path picks
 *    the TLB set (user / supervisor / supervisor+AC / user with alignment
 *    checks) from c->cpl, c->eflags and c->cr0 on every access.
 *  - A segment register that may not be used (null selector loaded in
 *    protected mode) must have SEG_ATTR_P clear in its hidden attr: any
 *    access through it outside 64-bit mode is #GP(0) (#SS(0) for SS).
 *    Real mode: only base and limit are applied (attr type ignored).
 */
#ifndef PINVM_MMU_H
#define PINVM_MMU_H

#include <stdbool.h>
#include <stdint.h>

/* Physical-address width advertised in CPUID 0x80000008 (core-sys) and
 * used for reserved-bit checks in paging entries. */
#define CPU_MAXPHYADDR 40

/* ---- Software TLB ----
 * Direct-mapped, one array per access kind (read, write, fetch) and per
 * permission context (CPL3; CPL0-2 with EFLAGS.AC=0; CPL0-2 with AC=1), so a
 * hit needs no permission check: an entry exists only if that kind of
 * access is allowed in that context (for writes: D is already set and the
 * page holds no decoded code). A fourth context, CPL3 with alignment
 * checking on (CR0.AM, EFLAGS.AC), is never filled: every access then
 * takes the slow path, which raises #AC(0) (SDM 6.15) and translates with
 * the CPL3 rights.
 *
 * Entry tag (one compare on the fast path):
 *
 *   63                     12  11     10 .. 0
 *   +------------------------+-----+-----------+
 *   | linear page number     |  V  | generation|
 *   +------------------------+-----+-----------+
 *
 * V is always set in a valid tag, so an all-zero (never filled) entry can
 * not match. Flushing bumps the kind's generation: O(1). When a generation
 * wraps (every 2048 flushes) that kind's arrays are cleared.
 * host = addend + linear address (a pointer into guest RAM). MMIO pages are
 * never entered. Global pages also go into a small side table (gtlb) with
 * its own generation, which tlb_flush_nonglobal() leaves alone; a miss in
 * the main arrays refills from it. */
#define TLB_BITS     11
#define TLB_SIZE     (1u << TLB_BITS)
#define GTLB_BITS    9
#define GTLB_SIZE    (1u << GTLB_BITS)
#define TLB_TAG_V    0x800u
#define TLB_GEN_MASK 0x7ffu

enum { TLB_READ = 0, TLB_WRITE = 1, TLB_FETCH = 2, TLB_NKIND };
enum {
    TLB_CTX_USER = 0, TLB_CTX_SUP = 1, TLB_CTX_SUP_AC = 2,
    TLB_CTX_USER_ALIGN = 3, /* never filled: see above */
    TLB_NCTX
};

struct tlb_entry {
    uint64_t tag;
    uintptr_t addend;
};

/* Global-page side table: a cached translation, checked against the
 * permission context when it refills a main entry. */
struct gtlb_entry {
    uint64_t tag;   /* linear page | V | ggen */
    uint64_t pa;    /* physical page address */
    uint32_t flags; /* effective U/S, R/W, D, XD (XL_* in mmu.c) */
    uint32_t pad;
};

/* Paging-structure cache (SDM 4.10.3, the "PDE cache"): for PAE and
 * 4-level paging, lin[63:21] -> the page table that maps it and the rights
 * of the levels above, so a 4K-page TLB miss reads one entry. Filled only
 * from walks that set the upper A bits; dropped by every flush incl.
 * INVLPG (which must drop paging-structure caches too, SDM 4.10.4.1). */
#define PSC_BITS 9
#define PSC_SIZE (1u << PSC_BITS)
struct psc_entry {
    uint64_t tag;   /* (lin >> 21) << 12 | V | pgen */
    uint64_t pt_pa; /* physical address of the page table */
    uint32_t allow; /* AND of R/W and U/S above the PTE */
    uint32_t nx;    /* OR of XD above the PTE (bit 31) */
};

struct tlb {
    uint32_t gen[TLB_NKIND]; /* current generation per kind (11 bits) */
    uint32_t ggen;           /* generation of gtlb */
    uint32_t pgen;           /* generation of psc */
    /* Range covering every large page cached (QEMU's trick): INVLPG inside
     * it flushes everything, since one large page fills many 4K entries. */
    uint64_t lp_addr, lp_mask;
    bool lp_valid;
    uint64_t pdpte[4]; /* PAE PDPTE registers (SDM 4.4.1) */
    struct tlb_entry e[TLB_NKIND][TLB_NCTX][TLB_SIZE];
    struct gtlb_entry g[GTLB_SIZE];
    struct psc_entry psc[PSC_SIZE];
};

/* ---- The contract with the rest of the core ----
 * All accesses apply segmentation (base, limit, type, canonical checks)
 * then paging with the permission rules of the current CPL, and cpu_raise()
 * on a fault before anything is written. Accesses that cross a page are
 * split correctly. Implemented as static inline fast paths (bottom of this
 * file) over out-of-line slow paths.
 *
 * uint8_t  mem_read8 (struct cpu *c, int seg, uint64_t off);
 * uint16_t mem_read16(struct cpu *c, int seg, uint64_t off);
 * uint32_t mem_read32(struct cpu *c, int seg, uint64_t off);
 * uint64_t mem_read64(struct cpu *c, int seg, uint64_t off);
 * void mem_write8 (struct cpu *c, int seg, uint64_t off, uint8_t v);
 * void mem_write16(struct cpu *c, int seg, uint64_t off, uint16_t v);
 * void mem_write32(struct cpu *c, int seg, uint64_t off, uint32_t v);
 * void mem_write64(struct cpu *c, int seg, uint64_t off, uint64_t v);
 * uint64_t mem_read(struct cpu *c, int seg, uint64_t off, int size);
 * void mem_write(struct cpu *c, int seg, uint64_t off, int size, uint64_t v);
 *     (size is 1, 2, 4 or 8)
 * void mem_check_write(struct cpu *c, int seg, uint64_t off, int size);
 *     Fault now (without writing) if off..off+size-1 is not writable: lets
 *     a read-modify-write or a multi-part store check before committing.
 *     size may be anything from 1 to 4096 (e.g. 16 for CMPXCHG16B). It may
 *     set the D bits (as the store that follows would).
 * void cpu_push(struct cpu *c, uint64_t v, int size);
 * uint64_t cpu_pop(struct cpu *c, int size);
 *     Stack: SS and the current stack size; RSP changes only after success.
 */
struct cpu;

/* Instruction fetch at linear address lin (CS base already added): copies
 * up to n bytes but never past the end of lin's page, returns how many
 * (>= 1), faults (#PF with I/D bit, #GP) if the first byte is not
 * executable. *phys receives the physical address of lin; it may lie
 * outside RAM (bytes then come from the bus): check phys < ram_size before
 * indexing code_pages. Outside SMM, for SMRAM, it is ~0 (never cached). */
int cpu_fetch_code(struct cpu *c, uint64_t lin, uint8_t *buf, int n,
                   uint64_t *phys);

/* Linear accesses for system structures (descriptor tables, IDT, TSS):
 * implicit supervisor accesses (SDM 4.6.1: SMAP applies whatever AC and
 * CPL are, U/S bit of the error code is 0). No segmentation; in long mode
 * a non-canonical lin is #GP(0). */
uint64_t lin_read_sys(struct cpu *c, uint64_t lin, int size);
void lin_write_sys(struct cpu *c, uint64_t lin, int size, uint64_t v);

/* Physical accesses (RAM or MMIO via the bus). Out-of-RAM reads without a
 * bus callback return all-ones; writes are dropped. */
uint64_t phys_read(struct cpu *c, uint64_t pa, int size);
void phys_write(struct cpu *c, uint64_t pa, int size, uint64_t v);

/* TLB maintenance: see the top of this file for when to call them. */
void tlb_flush_all(struct cpu *c);      /* including global pages */
void tlb_flush_nonglobal(struct cpu *c);/* MOV CR3 */
void tlb_flush_page(struct cpu *c, uint64_t lin); /* INVLPG */

/* PAE paging (CR4.PAE=1, not IA-32e): load the four PDPTEs from CR3
 * (bits 31:5) into c->tlb.pdpte, as MOV CR3 / CR0 / CR4 do (SDM 4.4.1).
 * Returns -1 (and loads nothing) if a present PDPTE has a reserved bit set:
 * the caller raises #GP(0) and leaves the CR unchanged. */
int mmu_load_pdptrs(struct cpu *c);

/* Decoded-code tracking: exec.c sets c->code_pages[pfn] = 1 when it caches
 * code from RAM page pfn and then calls mmu_code_page_added(), after which
 * every write to that page must take the slow path; the slow path calls
 * icache_invalidate_page() (exec.c) which drops the page's blocks and
 * clears the flag. */
void mmu_code_page_added(struct cpu *c, uint64_t pfn);
void icache_invalidate_page(struct cpu *c, uint64_t pfn);
void icache_flush(struct cpu *c);

/* ---- Slow paths (mmu.c), called by the inline fast paths ---- */
enum { MMU_ACC_READ = 0, MMU_ACC_WRITE = 1 };
uint64_t mmu_seg_slow(struct cpu *c, int seg, uint64_t off, int size,
                      int acc);
uint64_t mmu_read_slow(struct cpu *c, uint64_t lin, int size);
void mmu_write_slow(struct cpu *c, uint64_t lin, int size, uint64_t v);
void mmu_check_write_lin(struct cpu *c, uint64_t lin, int size);

#endif /* PINVM_MMU_H */

/* ---- Inline fast paths: need the complete struct cpu, so they are
 * compiled on the second inclusion, from the end of cpu.h. Besides the
 * contract above, others use mmu_tlb_hit() (exec.c: fetch fast path, with
 * TLB_FETCH and TLB_CTX_USER/SUP) and mmu_sp_mask() (seg.c, except.c):
 * keep those names too. ---- */
#if defined(PINVM_CPU_COMPLETE) && !defined(PINVM_MMU_INLINE_H)
#define PINVM_MMU_INLINE_H

#include <string.h>

#if defined(__GNUC__)
#define MMU_LIKELY(x)   __builtin_expect(!!(x), 1)
#define MMU_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define MMU_LIKELY(x)   (x)
#define MMU_UNLIKELY(x) (x)
#endif

/* Which TLB set serves explicit data accesses at the current CPL/AC. */
static inline unsigned mmu_ctx(const struct cpu *c)
{
    if (c->cpl == 3)
        return MMU_UNLIKELY((c->eflags & F_AC) && (c->cr0 & CR0_AM))
                   ? TLB_CTX_USER_ALIGN : TLB_CTX_USER;
    return (c->eflags & F_AC) ? TLB_CTX_SUP_AC : TLB_CTX_SUP;
}

/* Segment base + checks. The common cases stay inline: 64-bit mode with a
 * canonical result, or a present expand-up data segment (writable for a
 * write) with the access inside the limit. That is also right in real mode,
 * where only the limit counts: the inline test accepts a subset. Everything
 * else (code segments, expand-down, faults) goes to mmu_seg_slow(). */
static inline uint64_t mmu_seg_lin(struct cpu *c, int seg, uint64_t off,
                                   int size, int acc)
{
    if (MMU_LIKELY(c->mode == MODE_LONG)) {
        uint64_t lin = off;
        if ((unsigned)(seg - S_FS) < 2u)
            lin += c->seg[seg].base;
        /* lin and lin+size-1 both canonical (bits 63:47 equal), SDM 3.3.7.1 */
        if (MMU_LIKELY(lin + (1ull << 47) <= (1ull << 48) - (uint64_t)size))
            return lin;
    } else {
        const struct seg *s = &c->seg[seg];
        /* type: bit 3 code, bit 2 expand-down (data), bit 1 writable */
        unsigned need = SEG_ATTR_P | SEG_ATTR_S | (acc == MMU_ACC_WRITE ? 2u : 0u);
        unsigned mask = SEG_ATTR_P | SEG_ATTR_S | 0xcu | (need & 2u);
        if (MMU_LIKELY((s->attr & mask) == need &&
                       off + (uint64_t)size - 1 <= s->limit))
            return (uint32_t)(s->base + off);
    }
    return mmu_seg_slow(c, seg, off, size, acc);
}

/* TLB hit for a same-page access of size bytes at lin: *host = where the
 * bytes are. (A bool rather than a NULL test saves a compare per access.) */
static inline bool mmu_tlb_lookup(struct cpu *c, int kind, unsigned ctx,
                                  uint64_t lin, int size, uint8_t **host)
{
    const struct tlb_entry *e =
        &c->tlb.e[kind][ctx][(lin >> 12) & (TLB_SIZE - 1)];
    if (MMU_LIKELY(e->tag == ((lin & ~0xfffull) | TLB_TAG_V | c->tlb.gen[kind]) &&
                   (lin & 0xfff) <= 0x1000u - (unsigned)size)) {
        *host = (uint8_t *)(e->addend + (uintptr_t)lin);
        return true;
    }
    return false;
}

/* Host pointer for a same-page access of size bytes at lin, or NULL. */
static inline uint8_t *mmu_tlb_hit(struct cpu *c, int kind, unsigned ctx,
                                   uint64_t lin, int size)
{
    uint8_t *p;
    return mmu_tlb_lookup(c, kind, ctx, lin, size, &p) ? p : NULL;
}

/* cpu_peek_code() (cpu.h) for the instruction at lin, which the CPU has
 * just fetched (audit records of blocked CR writes): on a supervisor fetch
 * TLB hit for all n bytes it copies them from there, through the
 * translation the CPU fetched them with (an entry exists only for an
 * executable RAM page outside closed SMRAM), instead of walking the page
 * tables again. Else cpu_peek_code(). Never faults, no side effects. */
static inline int cpu_peek_insn(struct cpu *c, uint64_t lin, uint8_t *buf,
                                int n)
{
    bool wrap32 = !(c->efer & EFER_LMA);
    uint64_t l = wrap32 ? (lin & 0xffffffffull) : lin;
    if (wrap32 || l + (1ull << 47) <= (1ull << 48) - (uint64_t)n) {
        const uint8_t *h = mmu_tlb_hit(c, TLB_FETCH, TLB_CTX_SUP, l, n);
        if (h) {
            memcpy(buf, h, (size_t)n);
            return n;
        }
    }
    return cpu_peek_code(c, lin, buf, n);
}

static inline uint64_t mmu_read_lin(struct cpu *c, uint64_t lin, int size)
{
    uint8_t *p;
    if (MMU_LIKELY(mmu_tlb_lookup(c, TLB_READ, mmu_ctx(c), lin, size, &p))) {
        switch (size) {
        case 1: return *p;
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
        default: { uint64_t v; memcpy(&v, p, 8); return v; }
        }
    }
    return mmu_read_slow(c, lin, size);
}

static inline void mmu_write_lin(struct cpu *c, uint64_t lin, int size,
                                 uint64_t v)
{
    uint8_t *p;
    if (MMU_LIKELY(mmu_tlb_lookup(c, TLB_WRITE, mmu_ctx(c), lin, size, &p))) {
        switch (size) {
        case 1: *p = (uint8_t)v; return;
        case 2: { uint16_t w = (uint16_t)v; memcpy(p, &w, 2); return; }
        case 4: { uint32_t w = (uint32_t)v; memcpy(p, &w, 4); return; }
        default: memcpy(p, &v, 8); return;
        }
    }
    mmu_write_slow(c, lin, size, v);
}

/* Read-modify-write fast path (ADD/INC/... to memory): the host bytes of a
 * size-byte access at seg:off that the inline segment test and the write
 * TLB both accept, else NULL, and the caller does mem_read() then
 * mem_write(), which fault as needed. A write entry implies the read is
 * allowed too: x86 paging has no write-only pages (SDM Vol 3A 4.6), and
 * the inline test takes only writable data segments, which are readable.
 * Never faults. */
static inline uint8_t *mem_rmw_ptr(struct cpu *c, int seg, uint64_t off,
                                   int size)
{
    uint64_t lin;
    if (MMU_LIKELY(c->mode == MODE_LONG)) {
        lin = off;
        if ((unsigned)(seg - S_FS) < 2u)
            lin += c->seg[seg].base;
        if (!(lin + (1ull << 47) <= (1ull << 48) - (uint64_t)size))
            return NULL;
    } else {
        const struct seg *s = &c->seg[seg];
        unsigned need = SEG_ATTR_P | SEG_ATTR_S | 2u;
        if ((s->attr & (need | 0xcu)) != need ||
            off + (uint64_t)size - 1 > s->limit)
            return NULL;
        lin = (uint32_t)(s->base + off);
    }
    return mmu_tlb_hit(c, TLB_WRITE, mmu_ctx(c), lin, size);
}

static inline uint64_t rmw_load(const uint8_t *p, int size)
{
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static inline void rmw_store(uint8_t *p, int size, uint64_t v)
{
    switch (size) {
    case 1: *p = (uint8_t)v; return;
    case 2: { uint16_t w = (uint16_t)v; memcpy(p, &w, 2); return; }
    case 4: { uint32_t w = (uint32_t)v; memcpy(p, &w, 4); return; }
    default: memcpy(p, &v, 8); return;
    }
}

static inline uint64_t mem_read(struct cpu *c, int seg, uint64_t off, int size)
{
    return mmu_read_lin(c, mmu_seg_lin(c, seg, off, size, MMU_ACC_READ), size);
}
static inline void mem_write(struct cpu *c, int seg, uint64_t off, int size,
                             uint64_t v)
{
    mmu_write_lin(c, mmu_seg_lin(c, seg, off, size, MMU_ACC_WRITE), size, v);
}
static inline uint8_t mem_read8(struct cpu *c, int seg, uint64_t off)
{
    return (uint8_t)mem_read(c, seg, off, 1);
}
static inline uint16_t mem_read16(struct cpu *c, int seg, uint64_t off)
{
    return (uint16_t)mem_read(c, seg, off, 2);
}
static inline uint32_t mem_read32(struct cpu *c, int seg, uint64_t off)
{
    return (uint32_t)mem_read(c, seg, off, 4);
}
static inline uint64_t mem_read64(struct cpu *c, int seg, uint64_t off)
{
    return mem_read(c, seg, off, 8);
}
static inline void mem_write8(struct cpu *c, int seg, uint64_t off, uint8_t v)
{
    mem_write(c, seg, off, 1, v);
}
static inline void mem_write16(struct cpu *c, int seg, uint64_t off, uint16_t v)
{
    mem_write(c, seg, off, 2, v);
}
static inline void mem_write32(struct cpu *c, int seg, uint64_t off, uint32_t v)
{
    mem_write(c, seg, off, 4, v);
}
static inline void mem_write64(struct cpu *c, int seg, uint64_t off, uint64_t v)
{
    mem_write(c, seg, off, 8, v);
}

static inline void mem_check_write(struct cpu *c, int seg, uint64_t off,
                                   int size)
{
    uint64_t lin = mmu_seg_lin(c, seg, off, size, MMU_ACC_WRITE);
    uint8_t *p;
    if (MMU_LIKELY(mmu_tlb_lookup(c, TLB_WRITE, mmu_ctx(c), lin, size, &p)))
        return;
    mmu_check_write_lin(c, lin, size);
}

/* Stack pointer arithmetic at the current stack size (SS.B / long mode):
 * a 16-bit stack wraps within SP and keeps RSP's upper bits. */
static inline uint64_t mmu_sp_mask(const struct cpu *c)
{
    return c->stack_size == 8 ? ~0ull
         : c->stack_size == 4 ? 0xffffffffull : 0xffffull;
}

static inline void cpu_push(struct cpu *c, uint64_t v, int size)
{
    uint64_t mask = mmu_sp_mask(c);
    uint64_t sp = (c->regs[R_RSP] - (uint64_t)size) & mask;
    mem_write(c, S_SS, sp, size, v);
    c->regs[R_RSP] = (c->regs[R_RSP] & ~mask) | sp;
}

static inline uint64_t cpu_pop(struct cpu *c, int size)
{
    uint64_t mask = mmu_sp_mask(c);
    uint64_t sp = c->regs[R_RSP] & mask;
    uint64_t v = mem_read(c, S_SS, sp, size);
    c->regs[R_RSP] = (c->regs[R_RSP] & ~mask) | ((sp + (uint64_t)size) & mask);
    return v;
}

#endif /* PINVM_MMU_INLINE_H */
