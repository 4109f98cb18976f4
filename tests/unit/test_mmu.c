/* Unit tests of the MMU (src/cpu/mmu.c, mmu.h): segmentation on access,
 * the three paging modes, A/D bits, reserved bits, the SDM 4.6 permission
 * matrix against a reference formula, TLB flush semantics, MMIO routing,
 * page-crossing accesses and the self-modifying-code write path.
 *
 * Page tables are built by hand in a RAM buffer; faults are caught with
 * CPU_SETJMP on a buffer that c->fault_jmp points to (cpu_raise jumps
 * there). */
#include <sys/mman.h>
#include <time.h>

#include "cpu/cpu.h"
#include "unit.h"

#define RAM_SIZE (16u << 20)
#define PT_BASE  (8u << 20) /* page tables are allocated from here up */
#define MMIO_PA  0x100000000ull

enum { KR = TLB_READ, KW = TLB_WRITE, KX = TLB_FETCH };

struct env {
    struct cpu *c;
    uint8_t *ram;
    uint8_t *code_pages;
    uint64_t next_pt;
    struct cpu_bus bus;
    /* MMIO log */
    int n_mmio;
    uint64_t last_pa, last_val;
    int last_size, last_write;
    uint64_t mmio_value; /* what reads return */
};

static uint64_t bus_read(void *opaque, struct cpu *c, uint64_t pa, int size)
{
    struct env *e = opaque;
    (void)c;
    e->n_mmio++;
    e->last_pa = pa;
    e->last_size = size;
    e->last_write = 0;
    return e->mmio_value;
}

static void bus_write(void *opaque, struct cpu *c, uint64_t pa, int size,
                      uint64_t v)
{
    struct env *e = opaque;
    (void)c;
    e->n_mmio++;
    e->last_pa = pa;
    e->last_size = size;
    e->last_val = v;
    e->last_write = 1;
}

static const struct seg flat_data = {0x10, 0xc093, 0xffffffffu, 0};
static const struct seg flat_code = {0x08, 0xc09b, 0xffffffffu, 0};

/* 32-bit protected mode, flat segments, CPL0, paging off. */
static void set_prot32(struct cpu *c)
{
    for (int s = 0; s < 6; s++)
        c->seg[s] = flat_data;
    c->seg[S_CS] = flat_code;
    c->cr0 = CR0_PE | CR0_ET;
    c->cr4 = 0;
    c->efer = 0;
    c->mode = MODE_PROT;
    c->cpl = 0;
    c->code_size = 4;
    c->stack_size = 4;
    c->eflags = 2;
    tlb_flush_all(c);
}

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    e->ram = calloc(1, RAM_SIZE);
    e->code_pages = calloc(1, RAM_SIZE >> 12);
    e->c = calloc(1, sizeof(struct cpu));
    e->bus.opaque = e;
    e->bus.mmio_read = bus_read;
    e->bus.mmio_write = bus_write;
    e->next_pt = PT_BASE;
    e->mmio_value = 0x1122334455667788ull;
    CHECK(e->ram && e->code_pages && e->c);
    CHECK_EQ(cpu_init(e->c, 0, e->ram, RAM_SIZE, e->code_pages, &e->bus, NULL), 0);
    set_prot32(e->c);
}

static void env_free(struct env *e)
{
    cpu_destroy(e->c);
    free(e->c);
    free(e->ram);
    free(e->code_pages);
}

static uint64_t pt_alloc(struct env *e)
{
    uint64_t pa = e->next_pt;
    e->next_pt += 0x1000;
    memset(e->ram + pa, 0, 0x1000);
    return pa;
}

static uint64_t rd64(struct env *e, uint64_t pa)
{
    uint64_t v;
    memcpy(&v, e->ram + pa, 8);
    return v;
}
static void wr64(struct env *e, uint64_t pa, uint64_t v) { memcpy(e->ram + pa, &v, 8); }
static uint32_t rd32(struct env *e, uint64_t pa)
{
    uint32_t v;
    memcpy(&v, e->ram + pa, 4);
    return v;
}
static void wr32(struct env *e, uint64_t pa, uint32_t v) { memcpy(e->ram + pa, &v, 4); }

#define P   1ull
#define RW  2ull
#define US  4ull
#define PWT 8ull
#define A   0x20ull
#define D   0x40ull
#define PS  0x80ull
#define G   0x100ull
#define NX  (1ull << 63)

/* ---- 4-level paging builder ----
 * map4(e, lin, pa, level, upper, leaf): level 1 = 4K PTE, 2 = 2M PDE,
 * 3 = 1G PDPTE. Intermediate entries get `upper` (| P); returns the
 * physical address of the leaf entry. */
static uint64_t map4(struct env *e, uint64_t lin, uint64_t pa, int level,
                     uint64_t upper, uint64_t leaf)
{
    uint64_t table = e->c->cr3 & ~0xfffull;
    for (int l = 4; l > level; l--) {
        uint64_t ea = table + ((lin >> (12 + 9 * (l - 1))) & 511) * 8;
        uint64_t ent = rd64(e, ea);
        if (!(ent & P)) {
            ent = pt_alloc(e) | upper | P;
            wr64(e, ea, ent);
        } else {
            ent = (ent & ~0xfffull & ~NX) | upper | P;
            wr64(e, ea, ent);
        }
        table = ent & 0x000ffffffffff000ull;
    }
    uint64_t ea = table + ((lin >> (12 + 9 * (level - 1))) & 511) * 8;
    wr64(e, ea, pa | leaf | (level > 1 ? PS : 0));
    return ea;
}

static void set_long(struct env *e)
{
    struct cpu *c = e->c;
    if (!c->cr3)
        c->cr3 = pt_alloc(e);
    c->cr0 = CR0_PE | CR0_PG | CR0_ET;
    c->cr4 = CR4_PAE;
    c->efer = EFER_LME | EFER_LMA | EFER_NXE;
    c->mode = MODE_LONG;
    c->code_size = 8;
    c->stack_size = 8;
    c->seg[S_CS].attr = 0xa09b;
    tlb_flush_all(c);
}

/* Run stmt; return the exception vector it raised or -1. The previous
 * fault target (the test's GUARD) is restored afterwards, so a fault
 * outside any TRY never jumps back into a finished TRY. */
#define TRY(e, stmt)                                                         \
    ({                                                                       \
        volatile int r_ = -1;                                                \
        cpu_jmp_buf jb_, *const saved_ = (e)->c->fault_jmp;                  \
        (e)->c->fault_vec = -1;                                              \
        (e)->c->fault_jmp = &jb_;                                            \
        if (CPU_SETJMP(jb_) == 0) {                                          \
            stmt;                                                            \
        } else {                                                             \
            r_ = (e)->c->fault_vec;                                          \
        }                                                                    \
        (e)->c->fault_jmp = saved_;                                          \
        r_;                                                                  \
    })

/* At the top of every test: an unexpected fault fails the test. */
#define GUARD(e)                                                             \
    do {                                                                     \
        static cpu_jmp_buf guard_jb_;                                        \
        (e)->c->fault_jmp = &guard_jb_;                                      \
        if (CPU_SETJMP(guard_jb_) != 0) {                                    \
            printf("  FAIL %s:%d: unexpected exception %d err %#x cr2 %#llx\n", \
                   __FILE__, __LINE__, (e)->c->fault_vec,                    \
                   (unsigned)(e)->c->fault_err,                              \
                   (unsigned long long)(e)->c->cr2);                         \
            unit_failed_now = 1;                                             \
            env_free(e);                                                     \
            return;                                                          \
        }                                                                    \
    } while (0)

/* ------------------------------------------------------------------ */

TEST(flat_no_paging_rw_and_crossing)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    CHECK_EQ(TRY(&e, mem_write32(c, S_DS, 0x1000, 0xdeadbeef)), -1);
    CHECK_EQ(rd32(&e, 0x1000), 0xdeadbeef);
    CHECK_EQ(mem_read8(c, S_DS, 0x1003), 0xde);
    CHECK_EQ(mem_read16(c, S_ES, 0x1001), 0xadbe);
    /* a qword across a page boundary */
    mem_write64(c, S_DS, 0x2ffc, 0x0102030405060708ull);
    CHECK_EQ(rd32(&e, 0x2ffc), 0x05060708);
    CHECK_EQ(rd32(&e, 0x3000), 0x01020304);
    CHECK_EQ(mem_read64(c, S_DS, 0x2ffc), 0x0102030405060708ull);
    CHECK_EQ(mem_read(c, S_DS, 0x2ffe, 4), 0x03040506);
    /* segment base applies, and base+offset wraps at 4G */
    c->seg[S_FS].base = 0xfffff000u;
    mem_write16(c, S_FS, 0x2000, 0xbeef);
    CHECK_EQ(rd32(&e, 0x1000) & 0xffff, 0xbeef);
    CHECK_EQ(e.n_mmio, 0);
    env_free(&e);
}

TEST(mmio_routing_outside_ram)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    volatile uint64_t v = 0;
    CHECK_EQ(TRY(&e, v = mem_read32(c, S_DS, 0xfee00030)), -1);
    CHECK_EQ(v, 0x55667788);
    CHECK_EQ(e.last_pa, 0xfee00030);
    CHECK_EQ(e.last_size, 4);
    mem_write16(c, S_DS, 0xfee000b0, 0x1234);
    CHECK_EQ(e.last_write, 1);
    CHECK_EQ(e.last_pa, 0xfee000b0);
    CHECK_EQ(e.last_size, 2);
    CHECK_EQ(e.last_val, 0x1234);
    /* repeated MMIO never gets a fast-path entry */
    int n = e.n_mmio;
    for (int k = 0; k < 3; k++)
        (void)mem_read8(c, S_DS, 0xfee00000);
    CHECK_EQ(e.n_mmio, n + 3);
    /* an access straddling the end of RAM: RAM part and bus part */
    e.mmio_value = 0xaa;
    e.ram[RAM_SIZE - 1] = 0x55;
    CHECK_EQ(mem_read16(c, S_DS, RAM_SIZE - 1), 0xaa55);
    /* phys_read/phys_write route too */
    CHECK_EQ(phys_read(c, 0xfec00000, 1), 0xaa);
    phys_write(c, 0x10, 4, 0x01020304);
    CHECK_EQ(rd32(&e, 0x10), 0x01020304);
    env_free(&e);
}

TEST(segment_limits_types_and_null)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    /* expand-up limit 0xfff */
    c->seg[S_DS].limit = 0xfff;
    CHECK_EQ(TRY(&e, mem_read16(c, S_DS, 0xffe)), -1);
    CHECK_EQ(TRY(&e, mem_read16(c, S_DS, 0xfff)), EXC_GP);
    CHECK_EQ(c->fault_err, 0);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0x1000)), EXC_GP);
    /* SS violations are #SS(0) */
    c->seg[S_SS].limit = 0xfff;
    CHECK_EQ(TRY(&e, mem_write32(c, S_SS, 0xffe, 1)), EXC_SS);
    CHECK_EQ(c->fault_err, 0);
    /* expand-down, B=1: valid offsets limit+1 .. 4G-1 */
    c->seg[S_ES] = (struct seg){0x10, 0xc097, 0xfff, 0};
    CHECK_EQ(TRY(&e, mem_read32(c, S_ES, 0x1000)), -1);
    CHECK_EQ(TRY(&e, mem_read32(c, S_ES, 0xffe)), EXC_GP);
    CHECK_EQ(TRY(&e, mem_read32(c, S_ES, 0xfffffffc)), -1);
    /* expand-down, B=0: upper bound 0xffff */
    c->seg[S_ES].attr = 0x0097;
    CHECK_EQ(TRY(&e, mem_read16(c, S_ES, 0xfffe)), -1);
    CHECK_EQ(TRY(&e, mem_read32(c, S_ES, 0xfffe)), EXC_GP);
    /* read-only data: reads ok, writes #GP */
    c->seg[S_FS] = (struct seg){0x10, 0xc091, 0xffffffffu, 0};
    CHECK_EQ(TRY(&e, mem_read8(c, S_FS, 0x100)), -1);
    CHECK_EQ(TRY(&e, mem_write8(c, S_FS, 0x100, 1)), EXC_GP);
    CHECK_EQ(TRY(&e, mem_check_write(c, S_FS, 0x100, 1)), EXC_GP);
    /* execute-only code: no reads; readable code: reads, never writes */
    c->seg[S_GS] = (struct seg){0x08, 0xc099, 0xffffffffu, 0};
    CHECK_EQ(TRY(&e, mem_read8(c, S_GS, 0x100)), EXC_GP);
    c->seg[S_GS].attr = 0xc09b;
    CHECK_EQ(TRY(&e, mem_read8(c, S_GS, 0x100)), -1);
    CHECK_EQ(TRY(&e, mem_write8(c, S_GS, 0x100, 1)), EXC_GP);
    /* null selector (unusable, P=0) */
    c->seg[S_GS] = (struct seg){0, 0, 0, 0};
    CHECK_EQ(TRY(&e, mem_read8(c, S_GS, 0)), EXC_GP);
    /* real mode: attr ignored, limit applies */
    c->mode = MODE_REAL;
    c->cr0 = 0;
    c->seg[S_GS] = (struct seg){0x1000, 0, 0xffff, 0x10000};
    CHECK_EQ(TRY(&e, mem_write16(c, S_GS, 0x10, 0x4242)), -1);
    CHECK_EQ(rd32(&e, 0x10010) & 0xffff, 0x4242);
    CHECK_EQ(TRY(&e, mem_read16(c, S_GS, 0xffff)), EXC_GP);
    /* real mode ignores the type: a read-only or code attr still writes */
    c->seg[S_GS].attr = 0x0091;
    CHECK_EQ(TRY(&e, mem_write8(c, S_GS, 0x20, 1)), -1);
    c->seg[S_GS].attr = 0x009b;
    CHECK_EQ(TRY(&e, mem_write8(c, S_GS, 0x20, 1)), -1);
    CHECK_EQ(TRY(&e, mem_write8(c, S_GS, 0x10000, 1)), EXC_GP);
    env_free(&e);
}

TEST(long_mode_canonical_and_bases)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    map4(&e, 0x400000, 0x400000, 2, RW, P | RW);
    map4(&e, 0x00007ffffffff000ull, 0x5000, 1, RW, P | RW);
    map4(&e, 0xffff800000000000ull, 0x6000, 1, RW, P | RW);
    /* DS base is ignored in 64-bit mode, FS base applies */
    c->seg[S_DS].base = 0x100000;
    c->seg[S_FS].base = 0x1000;
    wr32(&e, 0x401000, 0xcafe);
    CHECK_EQ(mem_read32(c, S_DS, 0x401000), 0xcafe);
    CHECK_EQ(mem_read32(c, S_FS, 0x400000), 0xcafe);
    /* non-canonical: #GP(0), or #SS(0) via SS */
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0x0000800000000000ull)), EXC_GP);
    CHECK_EQ(c->fault_err, 0);
    CHECK_EQ(TRY(&e, mem_read8(c, S_SS, 0x8000000000000000ull)), EXC_SS);
    /* last byte non-canonical */
    CHECK_EQ(TRY(&e, mem_read64(c, S_DS, 0x00007ffffffffffcull)), EXC_GP);
    CHECK_EQ(TRY(&e, mem_read32(c, S_DS, 0x00007ffffffffffcull)), -1);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0xffff800000000000ull)), -1);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0xffff7fffffffffffull)), EXC_GP);
    /* a non-canonical FS base + offset */
    c->seg[S_FS].base = 0x0000800000000000ull;
    CHECK_EQ(TRY(&e, mem_read8(c, S_FS, 0)), EXC_GP);
    /* system accesses: non-canonical is #GP */
    CHECK_EQ(TRY(&e, lin_read_sys(c, 0x0000800000000000ull, 8)), EXC_GP);
    CHECK_EQ(TRY(&e, lin_read_sys(c, 0x401000, 4)), -1);
    env_free(&e);
}

TEST(paging_32bit_4k_4m_pse36)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    c->cr3 = pt_alloc(&e);
    uint64_t pt = pt_alloc(&e);
    /* PDE 1 -> page table; PTE 5 -> frame 0x123000 */
    wr32(&e, c->cr3 + 1 * 4, (uint32_t)(pt | P | RW));
    wr32(&e, pt + 5 * 4, 0x123000 | P | RW);
    /* PDE 2: 4M page at 0x800000 (if PSE) */
    wr32(&e, c->cr3 + 2 * 4, 0x800000 | P | RW | PS);
    /* PDE 3: 4M page with PA[39:32] = 1 (PSE-36): PA 0x1_00c00000 */
    wr32(&e, c->cr3 + 3 * 4, 0xc00000 | (1u << 13) | P | RW | PS);
    /* PDE 4: reserved bit 21 */
    wr32(&e, c->cr3 + 4 * 4, 0x1000000 | (1u << 21) | P | RW | PS);
    c->cr0 |= CR0_PG;
    c->cr4 = CR4_PSE;
    tlb_flush_all(c);

    wr32(&e, 0x123abc, 0x11111111);
    CHECK_EQ(mem_read32(c, S_DS, 0x405abc), 0x11111111);
    wr32(&e, 0x8abcd0, 0x2222);
    CHECK_EQ(mem_read32(c, S_DS, 0x8abcd0), 0x2222);
    (void)mem_read8(c, S_DS, 0xc00010);
    CHECK_EQ(e.last_pa, 0x100c00010ull);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0x1000000)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD);
    CHECK_EQ(c->cr2, 0x1000000);
    /* A bits: PDE and PTE for the 4K page, D only on write */
    CHECK(rd32(&e, c->cr3 + 4) & A);
    CHECK(rd32(&e, pt + 5 * 4) & A);
    CHECK(!(rd32(&e, pt + 5 * 4) & D));
    mem_write8(c, S_DS, 0x405000, 1);
    CHECK(rd32(&e, pt + 5 * 4) & D);
    CHECK(!(rd32(&e, c->cr3 + 4) & D)); /* D is a leaf-only bit */
    /* without CR4.PSE the PS bit is ignored: PDE 2 points to a table */
    c->cr4 = 0;
    tlb_flush_all(c);
    wr32(&e, 0x800000 + 0xab * 4, 0x77000 | P);
    wr32(&e, 0x77cd0, 0x3333);
    CHECK_EQ(mem_read32(c, S_DS, 0x8abcd0), 0x3333);
    /* not present PTE: P=0, W and U reported */
    c->cpl = 3;
    c->seg[S_DS].attr = 0xc0f3;
    wr32(&e, pt + 6 * 4, 0);
    CHECK_EQ(TRY(&e, mem_write8(c, S_DS, 0x406001, 1)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_W | PFEC_U);
    CHECK_EQ(c->cr2, 0x406001);
    env_free(&e);
}

TEST(paging_pae_pdptes_and_reserved)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    uint64_t pdpt = pt_alloc(&e) + 0x40; /* 32-byte aligned is enough */
    uint64_t pd = pt_alloc(&e), ptab = pt_alloc(&e);
    c->cr3 = pdpt;
    wr64(&e, pdpt + 1 * 8, pd | P);
    wr64(&e, pd + 2 * 8, ptab | P | RW);
    wr64(&e, ptab + 3 * 8, 0x200000 | P | RW);
    wr64(&e, pd + 3 * 8, 0x600000 | P | RW | PS);        /* 2M */
    wr64(&e, pd + 4 * 8, 0x600000 | P | RW | PS | (1u << 13)); /* rsvd */
    wr64(&e, pd + 5 * 8, (1ull << 40) | ptab | P | RW);  /* > MAXPHYADDR */
    wr64(&e, pd + 6 * 8, ptab | P | RW | NX);
    c->cr4 = CR4_PAE;
    c->cr0 |= CR0_PG;
    CHECK_EQ(mmu_load_pdptrs(c), 0);
    tlb_flush_all(c);
    uint64_t base = 1ull << 30;
    wr32(&e, 0x200010, 0xabcd);
    CHECK_EQ(mem_read32(c, S_DS, base + (2 << 21) + (3 << 12) + 0x10), 0xabcd);
    wr32(&e, 0x612345, 0x5678);
    CHECK_EQ(mem_read32(c, S_DS, base + (3 << 21) + 0x12345), 0x5678);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, base + (4 << 21))), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, base + (5 << 21))), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD);
    /* NX set while EFER.NXE=0 is a reserved bit */
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, base + (6 << 21))), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD);
    c->efer = EFER_NXE;
    tlb_flush_all(c);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, base + (6 << 21) + (3 << 12))), -1);
    /* new PDPTEs without a TLB flush (MOV CR0 toggling CD does that): a
     * page not in the TLB must be walked through the new PDPTE, not a PDE
     * cached from the old one */
    uint64_t pd2 = pt_alloc(&e), ptab2 = pt_alloc(&e);
    wr64(&e, ptab + 4 * 8, 0x201000 | P | RW);
    wr64(&e, ptab2 + 4 * 8, 0x202000 | P | RW);
    wr64(&e, pd2 + 2 * 8, ptab2 | P | RW);
    wr32(&e, 0x201000, 0x1111);
    wr32(&e, 0x202000, 0x2222);
    CHECK_EQ(mem_read32(c, S_DS, base + (2 << 21) + (3 << 12) + 0x10), 0xabcd);
    wr64(&e, pdpt + 1 * 8, pd2 | P);
    CHECK_EQ(mmu_load_pdptrs(c), 0);
    CHECK_EQ(mem_read32(c, S_DS, base + (2 << 21) + (4 << 12)), 0x2222);
    wr64(&e, pdpt + 1 * 8, pd | P);
    CHECK_EQ(mmu_load_pdptrs(c), 0);
    tlb_flush_all(c);
    /* PDPTE 0 not present */
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0x1000)), EXC_PF);
    CHECK_EQ(c->fault_err, 0);
    /* the PDPTEs are registers: changing memory has no effect until reload */
    wr64(&e, pdpt + 1 * 8, 0);
    tlb_flush_all(c);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, base + (3 << 21))), -1);
    CHECK_EQ(mmu_load_pdptrs(c), 0);
    tlb_flush_all(c);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, base + (3 << 21))), EXC_PF);
    /* reserved PDPTE bits refuse the load and keep the old registers */
    wr64(&e, pdpt + 1 * 8, pd | P);
    wr64(&e, pdpt + 2 * 8, pd | P | RW);
    uint64_t old = c->tlb.pdpte[1];
    CHECK_EQ(mmu_load_pdptrs(c), -1);
    CHECK_EQ(c->tlb.pdpte[1], old);
    wr64(&e, pdpt + 2 * 8, pd | P | NX);
    CHECK_EQ(mmu_load_pdptrs(c), -1);
    wr64(&e, pdpt + 2 * 8, pd | (1ull << 45)); /* not present: no check */
    CHECK_EQ(mmu_load_pdptrs(c), 0);
    env_free(&e);
}

TEST(paging_4level_sizes_and_reserved)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    map4(&e, 0x7f0000001000ull, 0x300000, 1, RW, P | RW);
    map4(&e, 0x7f0000400000ull, 0x400000, 2, RW, P | RW);
    map4(&e, 0x7f0040000000ull, 0, 3, RW, P | RW);
    wr32(&e, 0x300ff0, 1);
    wr32(&e, 0x4abcd0, 2);
    wr32(&e, 0xabcde0, 3);
    CHECK_EQ(mem_read32(c, S_DS, 0x7f0000001ff0ull), 1);
    CHECK_EQ(mem_read32(c, S_DS, 0x7f00004abcd0ull), 2);
    CHECK_EQ(mem_read32(c, S_DS, 0x7f0040abcde0ull), 3);
    /* A on every level, D only on the leaf that was written */
    uint64_t pte = map4(&e, 0x7f0000002000ull, 0x301000, 1, RW, P | RW);
    uint64_t pml4e = (c->cr3 & ~0xfffull) + ((0x7f0000000000ull >> 39) & 511) * 8;
    wr64(&e, pml4e, rd64(&e, pml4e) & ~A);
    tlb_flush_all(c);
    mem_write8(c, S_DS, 0x7f0000002000ull, 9);
    CHECK_EQ(rd64(&e, pte) & (A | D), A | D);
    CHECK(rd64(&e, pml4e) & A);
    CHECK(!(rd64(&e, pml4e) & D));
    /* reserved: PS in a PML4E, 1G bits 29:13, 2M bits 20:13, bit 51:40 */
    volatile uint64_t v = rd64(&e, pml4e);
    wr64(&e, pml4e, v | PS);
    tlb_flush_all(c);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0x7f0000001000ull)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD);
    wr64(&e, pml4e, v);
    map4(&e, 0x7f0080000000ull, 0x40000000, 3, RW, P | RW | (1u << 20));
    CHECK_EQ(TRY(&e, mem_write8(c, S_DS, 0x7f0080000000ull, 0)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD | PFEC_W);
    map4(&e, 0x7f0000600000ull, 0x600000, 2, RW, P | RW | (1u << 14));
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0x7f0000600000ull)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD);
    map4(&e, 0x7f0000003000ull, 0x302000 | (1ull << 40), 1, RW, P | RW);
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0x7f0000003000ull)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD);
    /* bits 62:52 are ignored in 4-level paging */
    map4(&e, 0x7f0000004000ull, 0x303000 | (0x7ffull << 52), 1, RW, P | RW);
    wr32(&e, 0x303000, 0x44);
    volatile uint32_t got = 0;
    CHECK_EQ(TRY(&e, got = mem_read32(c, S_DS, 0x7f0000004000ull)), -1);
    CHECK_EQ(got, 0x44);
    /* not present at the PML4 level */
    CHECK_EQ(TRY(&e, mem_read8(c, S_DS, 0x7e0000000000ull)), EXC_PF);
    CHECK_EQ(c->fault_err, 0);
    CHECK_EQ(c->cr2, 0x7e0000000000ull);
    /* leaf A is not set by a faulting access */
    uint64_t ro = map4(&e, 0x7f0000005000ull, 0x304000, 1, RW, P);
    c->cr0 |= CR0_WP;
    tlb_flush_all(c);
    CHECK_EQ(TRY(&e, mem_write8(c, S_DS, 0x7f0000005000ull, 0)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_W);
    CHECK(!(rd64(&e, ro) & A));
    env_free(&e);
}

/* One access of the matrix: explicit (mem_*, cpu_fetch_code) or implicit
 * supervisor (lin_*_sys). Returns the vector raised or -1. */
static int do_access(struct env *e, int kind, bool implicit, uint64_t lin)
{
    struct cpu *c = e->c;
    uint8_t buf[4];
    uint64_t phys;
    if (implicit)
        return kind == KW ? TRY(e, lin_write_sys(c, lin, 4, 0x1234))
                          : TRY(e, (void)lin_read_sys(c, lin, 4));
    if (kind == KR)
        return TRY(e, (void)mem_read32(c, S_DS, lin));
    if (kind == KW)
        return TRY(e, mem_write32(c, S_DS, lin, 0x1234));
    return TRY(e, (void)cpu_fetch_code(c, lin, buf, 4, &phys));
}

/* ---- The permission matrix, SDM Vol 3A 4.6.1 / 4.7 ---- */
struct pcase {
    int kind;        /* KR, KW, KX */
    bool cpl3, implicit;
    bool u, w, nx;   /* effective page rights */
    bool wp, smep, smap, ac, nxe, pae;
    bool at_pde;     /* restrictive U/W/NX bits in the PDE instead of PTE */
};

/* Reference: the expected page-fault error code, or 0 when allowed. */
static uint32_t ref_pfec(const struct pcase *m)
{
    bool user = m->cpl3 && !m->implicit;
    bool rd = m->kind == KR, wr = m->kind == KW, ex = m->kind == KX;
    uint32_t ec = PFEC_P;
    if (wr) ec |= PFEC_W;
    if (user) ec |= PFEC_U;
    if (ex && (m->smep || (m->pae && m->nxe))) ec |= PFEC_I;
    if (m->nx && !m->nxe)
        return ec | PFEC_RSVD;
    bool xd = m->nx && m->nxe;
    bool ok;
    if (user) {
        ok = m->u && (rd || (wr && m->w) || (ex && !xd));
    } else if (ex) {
        ok = !xd && !(m->u && m->smep);
    } else {
        bool smap_blocks = m->u && m->smap && (m->implicit || !m->ac);
        bool wp_blocks = wr && m->wp && !m->w;
        ok = !smap_blocks && !wp_blocks;
    }
    return ok ? 0 : ec;
}

static void run_case(struct env *e, const struct pcase *m, uint64_t pde_pa,
                     uint64_t pte_pa, uint64_t lin, int *bad)
{
    struct cpu *c = e->c;
    uint64_t leafbits = P | (m->u ? US : 0) | (m->w ? RW : 0) | (m->nx ? NX : 0);
    uint64_t pde = rd64(e, pde_pa) & ~(US | RW | NX | A);
    uint64_t pte = rd64(e, pte_pa) & ~(US | RW | NX | A | D);
    if (m->at_pde) {
        wr64(e, pde_pa, pde | leafbits);
        wr64(e, pte_pa, pte | P | US | RW);
    } else {
        wr64(e, pde_pa, pde | P | US | RW);
        wr64(e, pte_pa, pte | leafbits);
    }
    c->cr0 = CR0_PE | CR0_PG | (m->wp ? CR0_WP : 0);
    c->cr4 = CR4_PAE | (m->smep ? CR4_SMEP : 0) | (m->smap ? CR4_SMAP : 0);
    c->efer = EFER_LME | EFER_LMA | (m->nxe ? EFER_NXE : 0);
    c->cpl = m->cpl3 ? 3 : 0;
    c->eflags = 2 | (m->ac ? F_AC : 0);
    tlb_flush_all(c);
    int vec = do_access(e, m->kind, m->implicit, lin);
    uint32_t want = ref_pfec(m);
    uint32_t got = vec == EXC_PF ? (uint32_t)c->fault_err : 0;
    bool ok = (want == 0) ? vec == -1 : (vec == EXC_PF && got == want &&
                                         c->cr2 == lin);
    /* A/D: set on success (D only for writes), leaf A untouched on fault */
    uint64_t leaf = rd64(e, pte_pa);
    if (want == 0)
        ok = ok && (leaf & A) && !!(leaf & D) == (m->kind == KW);
    else
        ok = ok && !(leaf & A);
    if (!ok) {
        if (*bad < 10)
            printf("  perm case kind=%d cpl3=%d impl=%d u=%d w=%d nx=%d wp=%d "
                   "smep=%d smap=%d ac=%d nxe=%d pde=%d: want %#x got vec %d "
                   "err %#x leaf %#llx\n",
                   m->kind, m->cpl3, m->implicit, m->u, m->w, m->nx, m->wp,
                   m->smep, m->smap, m->ac, m->nxe, m->at_pde, want, vec, got,
                   (unsigned long long)leaf);
        (*bad)++;
    }
}

TEST(permission_matrix_4level)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    set_long(&e);
    uint64_t lin = 0x40201000ull;
    uint64_t pte_pa = map4(&e, lin, 0x500000, 1, RW | US, P | RW | US);
    /* find the PDE by walking the tables built by map4 */
    uint64_t pml4e = rd64(&e, (e.c->cr3 & ~0xfffull) + ((lin >> 39) & 511) * 8);
    uint64_t pdpte = rd64(&e, (pml4e & 0xffffff000ull) + ((lin >> 30) & 511) * 8);
    uint64_t pde_pa = (pdpte & 0xffffff000ull) + ((lin >> 21) & 511) * 8;
    CHECK_EQ(rd64(&e, pde_pa) & 0xffffff000ull, pte_pa & ~0xfffull);
    int bad = 0, n = 0;
    for (unsigned bits = 0; bits < (1u << 12); bits++) {
        struct pcase m = {
            .kind = (int)(bits % 3),
            .cpl3 = bits >> 2 & 1, .u = bits >> 3 & 1, .w = bits >> 4 & 1,
            .nx = bits >> 5 & 1, .wp = bits >> 6 & 1, .smep = bits >> 7 & 1,
            .smap = bits >> 8 & 1, .ac = bits >> 9 & 1, .nxe = bits >> 10 & 1,
            .at_pde = bits >> 11 & 1, .pae = true,
        };
        if ((bits & 3) == 3) { /* implicit supervisor accesses (no fetch) */
            m.implicit = true;
            for (int k = KR; k <= KW; k++) {
                m.kind = k;
                run_case(&e, &m, pde_pa, pte_pa, lin, &bad);
                n++;
            }
            continue;
        }
        run_case(&e, &m, pde_pa, pte_pa, lin, &bad);
        n++;
    }
    CHECK(n > 3000);
    CHECK_EQ(bad, 0);
    env_free(&e);
}

TEST(permission_matrix_32bit)
{
    /* 32-bit paging: no NX, I/D only with SMEP (EFER.NXE alone does not
     * set it: SDM 4.7 wants PAE or 4-level paging for that) */
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    c->cr3 = pt_alloc(&e);
    uint64_t pt = pt_alloc(&e);
    uint64_t lin = 0x00803000;
    uint64_t pde_pa = c->cr3 + (lin >> 22) * 4, pte_pa = pt + ((lin >> 12) & 0x3ff) * 4;
    int bad = 0;
    for (unsigned bits = 0; bits < (1u << 11); bits++) {
        struct pcase m = {
            .kind = (int)(bits % 3), .cpl3 = bits >> 2 & 1, .u = bits >> 3 & 1,
            .w = bits >> 4 & 1, .wp = bits >> 5 & 1, .smep = bits >> 6 & 1,
            .smap = bits >> 7 & 1, .ac = bits >> 8 & 1, .at_pde = bits >> 9 & 1,
            .nxe = bits >> 10 & 1, .implicit = (bits & 3) == 3,
        };
        if (m.implicit) /* kind from a bit the other fields leave free */
            m.kind = (bits >> 3 & 1) ^ (bits >> 9 & 1) ? KW : KR;
        uint32_t r = P | (m.u ? US : 0) | (m.w ? RW : 0);
        wr32(&e, pde_pa, (uint32_t)(pt | (m.at_pde ? r : P | US | RW)));
        wr32(&e, pte_pa, 0x500000 | (m.at_pde ? P | US | RW : r));
        c->cr0 = CR0_PE | CR0_PG | (m.wp ? CR0_WP : 0);
        c->cr4 = (m.smep ? CR4_SMEP : 0) | (m.smap ? CR4_SMAP : 0);
        c->efer = m.nxe ? EFER_NXE : 0;
        c->cpl = m.cpl3 ? 3 : 0;
        c->eflags = 2 | (m.ac ? F_AC : 0);
        tlb_flush_all(c);
        int vec = do_access(&e, m.kind, m.implicit, lin);
        uint32_t want = ref_pfec(&m);
        uint32_t got = vec == EXC_PF ? (uint32_t)c->fault_err : 0;
        if ((want == 0 && vec != -1) || (want && (vec != EXC_PF || got != want))) {
            if (bad++ < 10)
                printf("  32-bit case bits=%#x: want %#x got vec %d err %#x\n",
                       bits, want, vec, got);
        }
    }
    CHECK_EQ(bad, 0);
    env_free(&e);
}

TEST(ad_bits_written_only_when_they_change)
{
    /* Observed through the SMC hook: a store into a page holding decoded
     * code invalidates it, so a page table flagged as code tells us
     * whether the walker wrote an entry. */
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    uint64_t pte = map4(&e, 0x1300000, 0x100000, 1, RW, P | RW | A | D);
    uint64_t ptpfn = pte >> 12;
    /* upper levels: make A already set everywhere */
    CHECK_EQ(mem_read8(c, S_DS, 0x1300000), 0);
    tlb_flush_all(c);
    e.code_pages[ptpfn] = 1;
    CHECK_EQ(mem_read8(c, S_DS, 0x1300000), 0);
    mem_write8(c, S_DS, 0x1300001, 5);
    CHECK_EQ(e.code_pages[ptpfn], 1); /* A and D were set: no PTE write */
    wr64(&e, pte, 0x100000 | P | RW | A);
    tlb_flush_all(c);
    CHECK_EQ(mem_read8(c, S_DS, 0x1300001), 5);
    CHECK_EQ(e.code_pages[ptpfn], 1); /* read: A already set */
    mem_write8(c, S_DS, 0x1300001, 6);
    CHECK_EQ(e.code_pages[ptpfn], 0); /* D changed: written */
    CHECK(rd64(&e, pte) & D);
    env_free(&e);
}

TEST(read_fill_never_grants_a_write)
{
    /* A read walk also fills the write entry when a write would pass and
     * D is set: check the cases where it must not. */
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    c->cr0 |= CR0_WP;
    uint64_t ro = map4(&e, 0x1400000, 0x100000, 1, RW, P | A | D);
    uint64_t clean = map4(&e, 0x1401000, 0x101000, 1, RW, P | RW | A);
    map4(&e, 0x1402000, 0x102000, 1, RW | US, P | RW | US | A | D);
    tlb_flush_all(c);
    CHECK_EQ(mem_read8(c, S_DS, 0x1400000), 0);
    CHECK_EQ(TRY(&e, mem_write8(c, S_DS, 0x1400000, 1)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_W);
    CHECK_EQ(rd64(&e, ro) & RW, 0);
    /* D clear: the write must walk and set it */
    CHECK_EQ(mem_read8(c, S_DS, 0x1401000), 0);
    mem_write8(c, S_DS, 0x1401000, 1);
    CHECK(rd64(&e, clean) & D);
    /* a user page read by the kernel with AC=1 under SMAP: the AC=0 write
     * entry must stay empty */
    c->cr4 |= CR4_SMAP;
    tlb_flush_all(c);
    c->eflags = 2 | F_AC;
    CHECK_EQ(mem_read8(c, S_DS, 0x1402000), 0);
    c->eflags = 2;
    CHECK_EQ(TRY(&e, mem_write8(c, S_DS, 0x1402000, 1)), EXC_PF);
    /* a write fills the read entry: reading back needs no walk, and sees
     * the same frame */
    c->eflags = 2 | F_AC;
    mem_write8(c, S_DS, 0x1402000, 0x5a);
    CHECK_EQ(mem_read8(c, S_DS, 0x1402000), 0x5a);
    CHECK_EQ(e.ram[0x102000], 0x5a);
    env_free(&e);
}

TEST(alignment_check_at_cpl3)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    map4(&e, 0x1500000, 0x100000, 1, RW | US, P | RW | US);
    map4(&e, 0x1501000, 0x101000, 1, RW | US, P | RW | US);
    tlb_flush_all(c);
    c->cpl = 3;
    c->cr0 |= CR0_AM;
    c->eflags = 2 | F_AC;
    /* fill the user TLB first: the #AC context must not use it */
    c->eflags = 2;
    CHECK_EQ(TRY(&e, (void)mem_read32(c, S_DS, 0x1500001)), -1);
    c->eflags = 2 | F_AC;
    CHECK_EQ(TRY(&e, (void)mem_read32(c, S_DS, 0x1500001)), EXC_AC);
    CHECK_EQ(c->fault_err, 0);
    CHECK_EQ(TRY(&e, mem_write16(c, S_DS, 0x1500003, 1)), EXC_AC);
    CHECK_EQ(TRY(&e, (void)mem_read64(c, S_DS, 0x1500ffc)), EXC_AC); /* crossing */
    CHECK_EQ(TRY(&e, mem_check_write(c, S_DS, 0x1500004, 8)), EXC_AC);
    c->regs[R_RSP] = 0x1500102;
    CHECK_EQ(TRY(&e, cpu_push(c, 1, 8)), EXC_AC);
    CHECK_EQ(c->regs[R_RSP], 0x1500102);
    /* aligned accesses and bytes are fine, and hit the same memory */
    CHECK_EQ(TRY(&e, mem_write32(c, S_DS, 0x1500008, 0x12345678)), -1);
    CHECK_EQ(TRY(&e, (void)mem_read8(c, S_DS, 0x1500009)), -1);
    CHECK_EQ(mem_read64(c, S_DS, 0x1500008), 0x12345678);
    /* a page fault comes before #AC (SDM 6.9 priorities) */
    CHECK_EQ(TRY(&e, (void)mem_read32(c, S_DS, 0x1502001)), EXC_PF);
    /* no #AC: AM=0, or CPL0, or implicit supervisor accesses */
    c->cr0 &= ~CR0_AM;
    CHECK_EQ(TRY(&e, (void)mem_read32(c, S_DS, 0x1500001)), -1);
    c->cr0 |= CR0_AM;
    CHECK_EQ(TRY(&e, (void)lin_read_sys(c, 0x1500001, 4)), -1);
    c->cpl = 0;
    CHECK_EQ(TRY(&e, (void)mem_read32(c, S_DS, 0x1500001)), -1);
    env_free(&e);
}

TEST(tlb_context_cpl_and_ac_are_not_shared)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    c->cr4 |= CR4_SMAP;
    map4(&e, 0x600000, 0x600000, 1, RW | US, P | RW | US); /* user page */
    map4(&e, 0x601000, 0x601000, 1, RW | US, P | RW);      /* supervisor */
    tlb_flush_all(c);
    /* supervisor with AC=1 may read the user page ... */
    c->eflags = 2 | F_AC;
    CHECK_EQ(TRY(&e, (void)mem_read8(c, S_DS, 0x600000)), -1);
    /* ... and the cached entry must not serve AC=0 */
    c->eflags = 2;
    CHECK_EQ(TRY(&e, (void)mem_read8(c, S_DS, 0x600000)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P);
    /* implicit accesses ignore AC */
    c->eflags = 2 | F_AC;
    CHECK_EQ(TRY(&e, (void)lin_read_sys(c, 0x600000, 8)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P);
    /* a supervisor page read at CPL0 must not serve CPL3 */
    c->eflags = 2;
    CHECK_EQ(TRY(&e, (void)mem_read8(c, S_DS, 0x601000)), -1);
    c->cpl = 3;
    CHECK_EQ(TRY(&e, (void)mem_read8(c, S_DS, 0x601000)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_U);
    /* implicit access from CPL3 is supervisor: U/S=0 in the error code */
    CHECK_EQ(TRY(&e, (void)lin_read_sys(c, 0x601000, 8)), -1);
    CHECK_EQ(TRY(&e, lin_write_sys(c, 0x600000, 8, 0)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_W);
    env_free(&e);
}

TEST(global_pages_survive_nonglobal_flush)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    c->cr4 |= CR4_PGE;
    uint64_t gpte = map4(&e, 0x700000, 0x100000, 1, RW, P | RW | G);
    uint64_t npte = map4(&e, 0x701000, 0x101000, 1, RW, P | RW);
    uint64_t g2m = map4(&e, 0x40000000, 0x200000, 2, RW, P | RW | G);
    tlb_flush_all(c);
    wr32(&e, 0x100000, 1);
    wr32(&e, 0x101000, 2);
    wr32(&e, 0x300000, 3);
    wr32(&e, 0x302000, 4);
    wr32(&e, 0x210000, 7);
    CHECK_EQ(mem_read32(c, S_DS, 0x700000), 1);
    CHECK_EQ(mem_read32(c, S_DS, 0x701000), 2);
    CHECK_EQ(mem_read32(c, S_DS, 0x40010000), 7);
    /* retarget both PTEs: the guest "forgot" INVLPG, then writes CR3 */
    wr64(&e, gpte, 0x300000 | P | RW | G | A);
    wr64(&e, npte, 0x302000 | P | RW | A);
    wr64(&e, g2m, 0x400000 | P | RW | G | PS | A);
    tlb_flush_nonglobal(c);
    CHECK_EQ(mem_read32(c, S_DS, 0x700000), 1);     /* global: still old */
    CHECK_EQ(mem_read32(c, S_DS, 0x701000), 4);     /* non-global: new */
    CHECK_EQ(mem_read32(c, S_DS, 0x40010000), 7);   /* global 2M: old */
    tlb_flush_all(c);
    CHECK_EQ(mem_read32(c, S_DS, 0x700000), 3);
    /* G is ignored without CR4.PGE */
    wr64(&e, gpte, 0x100000 | P | RW | G | A);
    c->cr4 &= ~CR4_PGE;
    tlb_flush_all(c);
    CHECK_EQ(mem_read32(c, S_DS, 0x700000), 1);
    wr64(&e, gpte, 0x300000 | P | RW | G | A);
    tlb_flush_nonglobal(c);
    CHECK_EQ(mem_read32(c, S_DS, 0x700000), 3);
    env_free(&e);
}

TEST(invlpg_drops_page_and_covering_large_page)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    c->cr4 |= CR4_PGE;
    uint64_t p1 = map4(&e, 0x800000, 0x100000, 1, RW, P | RW);
    uint64_t p2 = map4(&e, 0x801000, 0x101000, 1, RW, P | RW | G);
    uint64_t big = map4(&e, 0x40000000, 0x200000, 2, RW, P | RW);
    tlb_flush_all(c);
    wr32(&e, 0x100000, 1);
    wr32(&e, 0x101000, 2);
    wr32(&e, 0x300000, 3);
    wr32(&e, 0x301000, 4);
    wr32(&e, 0x2f0000, 5);
    wr32(&e, 0x4f0000, 6);
    CHECK_EQ(mem_read32(c, S_DS, 0x800000), 1);
    CHECK_EQ(mem_read32(c, S_DS, 0x801000), 2);
    CHECK_EQ(mem_read32(c, S_DS, 0x400f0000), 5);
    wr64(&e, p1, 0x300000 | P | RW | A);
    wr64(&e, p2, 0x301000 | P | RW | G | A);
    wr64(&e, big, 0x400000 | P | RW | PS | A);
    /* cached until invalidated */
    CHECK_EQ(mem_read32(c, S_DS, 0x800000), 1);
    tlb_flush_page(c, 0x800abc);
    CHECK_EQ(mem_read32(c, S_DS, 0x800000), 3);
    /* INVLPG drops a global page too */
    tlb_flush_page(c, 0x801000);
    CHECK_EQ(mem_read32(c, S_DS, 0x801000), 4);
    /* INVLPG of one 4K piece drops the whole 2M page */
    tlb_flush_page(c, 0x40000000);
    CHECK_EQ(mem_read32(c, S_DS, 0x400f0000), 6);
    env_free(&e);
}

TEST(invlpg_and_cr3_drop_paging_structure_cache)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    map4(&e, 0x1200000, 0x100000, 1, RW, P | RW);
    map4(&e, 0x1201000, 0x101000, 1, RW, P | RW);
    wr32(&e, 0x100000, 1);
    wr32(&e, 0x101000, 2);
    wr32(&e, 0x102000, 3);
    wr32(&e, 0x103000, 4);
    CHECK_EQ(mem_read32(c, S_DS, 0x1200000), 1);
    /* a second page table for the same 2M region */
    uint64_t pt2 = pt_alloc(&e);
    wr64(&e, pt2 + 0 * 8, 0x102000 | P | RW);
    wr64(&e, pt2 + 1 * 8, 0x103000 | P | RW);
    uint64_t pml4e = rd64(&e, c->cr3 & ~0xfffull);
    uint64_t pdpte = rd64(&e, (pml4e & 0xffffff000ull) + 0 * 8);
    uint64_t pde_pa = (pdpte & 0xffffff000ull) + ((0x1200000 >> 21) & 511) * 8;
    uint64_t old_pde = rd64(&e, pde_pa);
    wr64(&e, pde_pa, pt2 | P | RW);
    /* INVLPG of 0x1200000 must also forget the cached PDE, so the
     * neighbouring (never cached) page 0x1201000 walks the new table */
    tlb_flush_page(c, 0x1200000);
    CHECK_EQ(mem_read32(c, S_DS, 0x1200000), 3);
    CHECK_EQ(mem_read32(c, S_DS, 0x1201000), 4);
    /* and a CR3 write forgets it as well */
    wr64(&e, pde_pa, old_pde);
    tlb_flush_nonglobal(c);
    CHECK_EQ(mem_read32(c, S_DS, 0x1201000), 2);
    env_free(&e);
}

TEST(cr3_switch_flushes)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    uint64_t cr3a = c->cr3;
    map4(&e, 0x900000, 0x100000, 1, RW, P | RW);
    uint64_t cr3b = pt_alloc(&e);
    c->cr3 = cr3b;
    map4(&e, 0x900000, 0x101000, 1, RW, P | RW);
    wr32(&e, 0x100000, 0xa);
    wr32(&e, 0x101000, 0xb);
    c->cr3 = cr3a;
    tlb_flush_nonglobal(c);
    CHECK_EQ(mem_read32(c, S_DS, 0x900000), 0xa);
    c->cr3 = cr3b;
    tlb_flush_nonglobal(c);
    CHECK_EQ(mem_read32(c, S_DS, 0x900000), 0xb);
    /* many flushes: generations wrap without stale hits */
    for (int k = 0; k < 5000; k++) {
        c->cr3 = (k & 1) ? cr3a : cr3b;
        tlb_flush_nonglobal(c);
        if (mem_read32(c, S_DS, 0x900000) != ((k & 1) ? 0xau : 0xbu)) {
            CHECK(0);
            break;
        }
    }
    env_free(&e);
}

TEST(pte_outside_ram_uses_bus_never_host_memory)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    /* CR3 far outside RAM: the bus returns all-ones = reserved bits set */
    e.mmio_value = ~0ull;
    c->cr3 = 0xff00000000ull;
    tlb_flush_all(c);
    CHECK_EQ(TRY(&e, (void)mem_read8(c, S_DS, 0x1000)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_RSVD);
    CHECK(e.last_pa >= 0xff00000000ull);
    /* ... or zero: not present */
    e.mmio_value = 0;
    CHECK_EQ(TRY(&e, (void)mem_read8(c, S_DS, 0x1000)), EXC_PF);
    CHECK_EQ(c->fault_err, 0);
    /* a PDE pointing to a table just past the end of RAM */
    c->cr3 = pt_alloc(&e);
    map4(&e, 0x1000, 0x1000, 1, RW, P | RW);
    uint64_t pml4e = rd64(&e, c->cr3);
    uint64_t pdpte = rd64(&e, (pml4e & ~0xfffull));
    wr64(&e, pdpte & 0xffffff000ull, RAM_SIZE | P | RW); /* PDE */
    e.mmio_value = 0x5000 | P | RW;  /* the "PTE" the bus returns */
    tlb_flush_all(c);
    wr32(&e, 0x5000 + 0x1000 * 0, 0x77);
    CHECK_EQ(TRY(&e, (void)mem_read8(c, S_DS, 0)), -1);
    CHECK(e.last_pa >= RAM_SIZE);
    /* a leaf frame outside RAM is MMIO, also for fetch */
    c->cr3 = pt_alloc(&e);
    map4(&e, 0x2000, 0xfee00000, 1, RW, P | RW);
    tlb_flush_all(c);
    e.mmio_value = 0x90;
    uint8_t buf[16];
    uint64_t phys = 0;
    volatile int n = -1;
    CHECK_EQ(TRY(&e, n = cpu_fetch_code(c, 0x2ff8, buf, 16, &phys)), -1);
    CHECK_EQ(n, 8);
    CHECK_EQ(phys, 0xfee00ff8);
    CHECK_EQ(buf[0], 0x90);
    env_free(&e);
}

TEST(page_crossing_faults_before_writing)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    map4(&e, 0xa00000, 0x120000, 1, RW, P | RW);
    map4(&e, 0xa01000, 0x150000, 1, RW, P | RW); /* not contiguous */
    map4(&e, 0xa03000, 0x160000, 1, RW, P | RW);
    map4(&e, 0xa04000, 0x170000, 1, RW, P);      /* read-only */
    c->cr0 |= CR0_WP;
    tlb_flush_all(c);
    mem_write64(c, S_DS, 0xa00ffd, 0x1122334455667788ull);
    CHECK_EQ(e.ram[0x120ffd], 0x88);
    CHECK_EQ(e.ram[0x120fff], 0x66);
    CHECK_EQ(e.ram[0x150000], 0x55);
    CHECK_EQ(e.ram[0x150004], 0x11);
    CHECK_EQ(mem_read64(c, S_DS, 0xa00ffd), 0x1122334455667788ull);
    /* second page not present: #PF with CR2 = its first byte, nothing written */
    e.ram[0x150ffe] = 0xee;
    CHECK_EQ(TRY(&e, mem_write32(c, S_DS, 0xa01ffe, 0)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_W);
    CHECK_EQ(c->cr2, 0xa02000);
    CHECK_EQ(e.ram[0x150ffe], 0xee);
    /* second page read-only */
    e.ram[0x160fff] = 0xdd;
    CHECK_EQ(TRY(&e, mem_write16(c, S_DS, 0xa03fff, 0)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_W);
    CHECK_EQ(c->cr2, 0xa04000);
    CHECK_EQ(e.ram[0x160fff], 0xdd);
    CHECK_EQ(TRY(&e, mem_check_write(c, S_DS, 0xa03ffc, 8)), EXC_PF);
    CHECK_EQ(TRY(&e, mem_check_write(c, S_DS, 0xa03ff8, 8)), -1);
    CHECK_EQ(TRY(&e, (void)mem_read16(c, S_DS, 0xa03fff)), -1);
    /* 32-bit: crossing at 4G wraps to linear 0 */
    set_prot32(c);
    e.ram[0] = 0xab;
    e.mmio_value = 0xcd;
    CHECK_EQ(mem_read16(c, S_DS, 0xffffffff), 0xabcd);
    env_free(&e);
}

TEST(fetch_clips_to_page_and_reports_phys_and_id_bit)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    map4(&e, 0xb00000, 0x180000, 1, RW, P | RW);
    map4(&e, 0xb01000, 0x181000, 1, RW, P | RW | NX);
    tlb_flush_all(c);
    for (int k = 0; k < 16; k++)
        e.ram[0x180ff8 + k] = (uint8_t)k;
    uint8_t buf[16] = {0};
    uint64_t phys = 0;
    int n = cpu_fetch_code(c, 0xb00ff8, buf, 15, &phys);
    CHECK_EQ(n, 8);
    CHECK_EQ(phys, 0x180ff8);
    CHECK_EQ(buf[7], 7);
    n = cpu_fetch_code(c, 0xb00100, buf, 15, &phys); /* TLB hit path */
    CHECK_EQ(n, 15);
    CHECK_EQ(phys, 0x180100);
    /* NX: #PF with I/D */
    CHECK_EQ(TRY(&e, (void)cpu_fetch_code(c, 0xb01000, buf, 15, &phys)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_P | PFEC_I);
    /* not present fetch: I/D is set when NXE=1 ... */
    CHECK_EQ(TRY(&e, (void)cpu_fetch_code(c, 0xb05000, buf, 15, &phys)), EXC_PF);
    CHECK_EQ(c->fault_err, PFEC_I);
    /* ... and clear with NXE=0 and SMEP=0 */
    c->efer &= ~EFER_NXE;
    tlb_flush_all(c);
    CHECK_EQ(TRY(&e, (void)cpu_fetch_code(c, 0xb05000, buf, 15, &phys)), EXC_PF);
    CHECK_EQ(c->fault_err, 0);
    /* non-canonical RIP */
    CHECK_EQ(TRY(&e, (void)cpu_fetch_code(c, 0x0000800000000000ull, buf, 1, &phys)), EXC_GP);
    env_free(&e);
}

TEST(smc_write_invalidates_code_page)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    map4(&e, 0xc00000, 0x190000, 1, RW, P | RW);
    map4(&e, 0xd00000, 0x190000, 1, RW, P | RW); /* alias of the same frame */
    map4(&e, 0xc01000, 0x191000, 1, RW, P | RW);
    tlb_flush_all(c);
    /* page in the write TLB first */
    mem_write8(c, S_DS, 0xc00000, 1);
    mem_write8(c, S_DS, 0xd00000, 1);
    /* exec caches code from the frame */
    e.code_pages[0x190] = 1;
    mmu_code_page_added(c, 0x190);
    /* a write through the alias must reach icache_invalidate_page */
    mem_write8(c, S_DS, 0xd00010, 0xcc);
    CHECK_EQ(e.code_pages[0x190], 0);
    CHECK_EQ(e.ram[0x190010], 0xcc);
    /* a fresh write TLB fill must not cover a code page */
    e.code_pages[0x190] = 1;
    mmu_code_page_added(c, 0x190);
    mem_write32(c, S_DS, 0xc00ffe, 0x01020304); /* crossing, first page code */
    CHECK_EQ(e.code_pages[0x190], 0);
    e.code_pages[0x190] = 1;
    mmu_code_page_added(c, 0x190);
    lin_write_sys(c, 0xc00020, 8, 0);
    CHECK_EQ(e.code_pages[0x190], 0);
    e.code_pages[0x190] = 1;
    phys_write(c, 0x190030, 1, 0);
    CHECK_EQ(e.code_pages[0x190], 0);
    /* other frames are untouched */
    e.code_pages[0x191] = 1;
    mem_write8(c, S_DS, 0xc00000, 2);
    CHECK_EQ(e.code_pages[0x191], 1);
    env_free(&e);
}

TEST(push_pop_stack_sizes)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    /* 32-bit stack */
    c->regs[R_RSP] = 0x2000;
    cpu_push(c, 0xaabbccdd, 4);
    CHECK_EQ(c->regs[R_RSP], 0x1ffc);
    CHECK_EQ(rd32(&e, 0x1ffc), 0xaabbccdd);
    CHECK_EQ(cpu_pop(c, 4), 0xaabbccdd);
    CHECK_EQ(c->regs[R_RSP], 0x2000);
    /* 16-bit stack wraps within SP and keeps the upper bits */
    c->stack_size = 2;
    c->seg[S_SS].attr = 0x0093;
    c->seg[S_SS].limit = 0xffff;
    c->seg[S_SS].base = 0x10000;
    c->regs[R_RSP] = 0x12340000;
    cpu_push(c, 0xbeef, 2);
    CHECK_EQ(c->regs[R_RSP], 0x1234fffe);
    CHECK_EQ(rd32(&e, 0x1fffe) & 0xffff, 0xbeef);
    CHECK_EQ(cpu_pop(c, 2), 0xbeef);
    CHECK_EQ(c->regs[R_RSP], 0x12340000);
    /* a faulting push leaves RSP alone */
    c->seg[S_SS].limit = 0x7fff;
    c->regs[R_RSP] = 0x9000;
    CHECK_EQ(TRY(&e, cpu_push(c, 1, 2)), EXC_SS);
    CHECK_EQ(c->regs[R_RSP], 0x9000);
    /* 64-bit stack */
    set_long(&e);
    map4(&e, 0xe00000, 0x1a0000, 1, RW, P | RW);
    tlb_flush_all(c);
    c->regs[R_RSP] = 0xe00008;
    cpu_push(c, 0x1122334455667788ull, 8);
    CHECK_EQ(c->regs[R_RSP], 0xe00000);
    CHECK_EQ(rd64(&e, 0x1a0000), 0x1122334455667788ull);
    CHECK_EQ(TRY(&e, cpu_push(c, 1, 8)), EXC_PF);
    CHECK_EQ(c->regs[R_RSP], 0xe00000);
    CHECK_EQ(cpu_pop(c, 8), 0x1122334455667788ull);
    env_free(&e);
}

TEST(peek_code_no_side_effects)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    set_long(&e);
    uint64_t p1 = map4(&e, 0xf00000, 0x1b0000, 1, RW, P | RW | US | NX);
    map4(&e, 0xf01000, 0x1c0000, 1, RW, P | RW);
    tlb_flush_all(c);
    e.ram[0x1b0fff] = 0x0f;
    e.ram[0x1c0000] = 0x0b;
    uint8_t buf[8];
    CHECK_EQ(cpu_peek_code(c, 0xf00fff, buf, 2), 2);
    CHECK_EQ(buf[0], 0x0f);
    CHECK_EQ(buf[1], 0x0b);
    CHECK(!(rd64(&e, p1) & A));
    CHECK_EQ(cpu_peek_code(c, 0xf01ffe, buf, 8), 2); /* next page unmapped */
    CHECK_EQ(cpu_peek_code(c, 0xf05000, buf, 8), 0);
    CHECK_EQ(cpu_peek_code(c, 0x0000800000000000ull, buf, 8), 0);
    env_free(&e);
}

/* Random bytes as page tables, random CR3/modes/addresses: every access
 * must end in a value or an exception, never a host crash (run under
 * ASan in make test-asan). */
static int random_access(struct env *e, int which, uint64_t lin, int size,
                         uint64_t v)
{
    struct cpu *c = e->c;
    uint8_t buf[16];
    uint64_t phys;
    switch (which) {
    case 0: return TRY(e, (void)mem_read(c, S_DS, lin, size));
    case 1: return TRY(e, mem_write(c, S_DS, lin, size, v));
    case 2: return TRY(e, (void)cpu_fetch_code(c, lin, buf, 15, &phys));
    case 3: return TRY(e, (void)lin_read_sys(c, lin, size));
    default: return cpu_peek_code(c, lin, buf, 16) >= 0 ? -1 : 99;
    }
}

TEST(random_tables_never_escape)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    uint64_t st = 0x9e3779b97f4a7c15ull;
    /* the top 4 MiB of RAM: random entries, biased to point into RAM */
    for (uint64_t pa = RAM_SIZE - (4u << 20); pa < RAM_SIZE; pa += 8) {
        uint64_t r = unit_xorshift64(&st);
        if (r & 1)
            r = (r & 0x8000000000000fffull) | (unit_xorshift64(&st) % RAM_SIZE & ~0xfffull);
        wr64(&e, pa, r);
    }
    int outcomes[32] = {0};
    for (int k = 0; k < 20000; k++) {
        uint64_t r = unit_xorshift64(&st);
        e.mmio_value = unit_xorshift64(&st);
        c->cr3 = (r & 1) ? unit_xorshift64(&st) & 0xffffffffff000ull
                         : RAM_SIZE - (4u << 20) + (unit_xorshift64(&st) & 0x3ff000);
        c->cr0 = CR0_PE | CR0_PG | ((r & 2) ? CR0_WP : 0);
        c->cr4 = ((r & 4) ? CR4_PAE : 0) | ((r & 8) ? CR4_PSE : 0) |
                 ((r & 16) ? CR4_SMEP | CR4_SMAP : 0) | ((r & 32) ? CR4_PGE : 0);
        c->efer = (r & 64) ? EFER_NXE : 0;
        c->mode = MODE_PROT;
        if ((r & 4) && (r & 128)) {
            c->efer |= EFER_LME | EFER_LMA;
            c->mode = MODE_LONG;
        }
        c->cpl = (r & 256) ? 3 : 0;
        c->eflags = 2 | ((r & 512) ? F_AC : 0);
        if (c->mode != MODE_LONG && (c->cr4 & CR4_PAE))
            (void)mmu_load_pdptrs(c);
        if (r & 1024)
            tlb_flush_all(c);
        uint64_t lin = unit_xorshift64(&st);
        if (c->mode != MODE_LONG)
            lin &= 0xffffffffull;
        else
            lin = (uint64_t)((int64_t)(lin << 16) >> 16);
        int size = 1 << (unit_xorshift64(&st) % 4);
        int vec = random_access(&e, (int)((r >> 11) % 5), lin, size, r);
        outcomes[vec < 0 ? 0 : vec & 31]++;
        if (vec >= 0 && vec != EXC_PF && vec != EXC_GP && vec != EXC_SS)
            CHECK_EQ(vec, EXC_PF);
    }
    /* the mix exercised both outcomes */
    CHECK(outcomes[0] > 100);
    CHECK(outcomes[EXC_PF] > 100);
    env_free(&e);
}

/* Not an assertion on time (shared machine): prints ns/access for a 4K
 * stride over 64 MiB, where TLB misses dominate, and for TLB hits. */
TEST(bench_tlb_miss_stride)
{
    struct env e;
    env_init(&e);
    GUARD(&e);
    struct cpu *c = e.c;
    free(e.ram);
    free(e.code_pages);
    uint64_t ram = 80u << 20;
    /* guest RAM as machine.c maps it; MMU_BENCH_THP=1 adds MADV_HUGEPAGE */
    uint8_t *map = mmap(NULL, ram, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(map != MAP_FAILED);
    if (getenv("MMU_BENCH_THP"))
        madvise(map, ram, MADV_HUGEPAGE);
    uint8_t *small = calloc(1, 1); /* env_free frees this one */
    e.ram = map; /* map4 writes through e.ram */
    e.code_pages = calloc(1, ram >> 12);
    c->ram = map;
    c->ram_size = ram;
    c->code_pages = e.code_pages;
    /* SMRAM (0x30000-0x5FFFF, docs/smm.md) reads all ones outside SMM and
     * never enters the TLB: this benchmark wants plain RAM everywhere. */
    c->in_smm = true;
    e.next_pt = 70u << 20;
    set_long(&e);
    for (uint64_t off = 0; off < (64u << 20); off += 0x1000)
        map4(&e, 0x10000000 + off, off, 1, RW, P | RW);
    tlb_flush_all(c);
    memset(e.ram, 0, 64u << 20); /* fault the host pages in before timing */
    struct timespec t0, t1;
    uint64_t sum = 0;
    int rounds = getenv("MMU_BENCH_ROUNDS") ? atoi(getenv("MMU_BENCH_ROUNDS")) : 8;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int r = 0; r < rounds; r++)
        for (uint64_t off = 0; off < (64u << 20); off += 0x1000)
            sum += mem_read32(c, S_DS, 0x10000000 + off);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
                (rounds * 16384.0);
    /* the host's own cost for the same pattern (cache and host-TLB misses) */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int r = 0; r < rounds; r++)
        for (uint64_t off = 0; off < (64u << 20); off += 0x1000)
            sum += *(volatile uint32_t *)(e.ram + off);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double native = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
                    (rounds * 16384.0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int r = 0; r < 1000000; r++)
        sum += mem_read32(c, S_DS, 0x10000000 + (uint64_t)(r & 63) * 64);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double hit = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e6;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int r = 0; r < 1000000; r++)
        tlb_flush_nonglobal(c);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double fl = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e6;
    printf("  bench: 4K-stride miss %.1f ns/access (host alone %.1f), hit %.2f ns, "
           "flush %.1f ns (sum %llx)\n", ns, native, hit, fl, (unsigned long long)sum);
    CHECK_EQ(sum, 0);
    e.ram = small;
    munmap(map, ram);
    env_free(&e);
}

static const struct unit_test tests[] = {
    T(flat_no_paging_rw_and_crossing),
    T(mmio_routing_outside_ram),
    T(segment_limits_types_and_null),
    T(long_mode_canonical_and_bases),
    T(paging_32bit_4k_4m_pse36),
    T(paging_pae_pdptes_and_reserved),
    T(paging_4level_sizes_and_reserved),
    T(permission_matrix_4level),
    T(permission_matrix_32bit),
    T(ad_bits_written_only_when_they_change),
    T(read_fill_never_grants_a_write),
    T(alignment_check_at_cpl3),
    T(tlb_context_cpl_and_ac_are_not_shared),
    T(global_pages_survive_nonglobal_flush),
    T(invlpg_drops_page_and_covering_large_page),
    T(invlpg_and_cr3_drop_paging_structure_cache),
    T(cr3_switch_flushes),
    T(pte_outside_ram_uses_bus_never_host_memory),
    T(page_crossing_faults_before_writing),
    T(fetch_clips_to_page_and_reports_phys_and_id_bit),
    T(smc_write_invalidates_code_page),
    T(push_pop_stack_sizes),
    T(peek_code_no_side_effects),
    T(random_tables_never_escape),
    T(bench_tlb_miss_stride),
};
UNIT_MAIN(tests)
