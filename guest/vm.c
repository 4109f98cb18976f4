/* vm.c: page-table helpers over the kit's identity map (see vm.h). */
#include "kit.h"

extern u64 kit_pml4_table[512];
u64 *kit_pml4 = kit_pml4_table;

/* Page-table pool: page tables for splits and new mappings, and pages
 * handed out by alloc_page(). */
#define POOL_PAGES 192
static u8 pool[POOL_PAGES][PAGE_SIZE] __aligned(4096);
static unsigned pool_used;

void *alloc_page(void)
{
    if (pool_used == POOL_PAGES)
        abort_msg("alloc_page: pool of %d pages exhausted\n", POOL_PAGES);
    void *p = pool[pool_used++];
    memset(p, 0, PAGE_SIZE);
    return p;
}

static inline u64 *table_of(u64 entry)
{
    return (u64 *)(entry & PT_ADDR_MASK);
}

static inline unsigned index_of(u64 va, int level)
{
    return (va >> (12 + 9 * (level - 1))) & 511;
}

u64 *pte_at(u64 va, int level)
{
    u64 *t = (u64 *)(read_cr3() & PT_ADDR_MASK);
    for (int l = 4; l > level; l--) {
        u64 e = t[index_of(va, l)];
        if (!(e & PT_PRESENT) || (l < 4 && (e & PT_PS)))
            return NULL;
        t = table_of(e);
    }
    return &t[index_of(va, level)];
}

u64 *get_pte(u64 va, int *level)
{
    u64 *t = (u64 *)(read_cr3() & PT_ADDR_MASK);
    for (int l = 4; l >= 1; l--) {
        u64 *e = &t[index_of(va, l)];
        if (!(*e & PT_PRESENT))
            return NULL;
        if (l == 1 || (l < 4 && (*e & PT_PS))) {
            if (level)
                *level = l;
            return e;
        }
        t = table_of(*e);
    }
    return NULL;
}

/* Split the large page in *e (a level-`level` entry, level 2 or 3). */
static void split_entry(u64 *e, int level, u64 va)
{
    u64 *t = alloc_page();
    u64 step = level == 3 ? HUGE_PAGE_SIZE / 512 : PAGE_SIZE;
    u64 flags = *e & ~PT_ADDR_MASK;
    u64 base = *e & PT_ADDR_MASK & ~((level == 3 ? HUGE_PAGE_SIZE : LARGE_PAGE_SIZE) - 1);
    u64 pat = *e & BIT(12);
    if (level == 2) {
        /* The PAT bit moves from bit 12 (large) to bit 7 (4K) (SDM 4.9.2). */
        flags &= ~PT_PS;
        if (pat)
            flags |= PT_PS;
    } else {
        flags |= pat;   /* 1G -> 2M: PAT stays at bit 12 */
    }
    for (int i = 0; i < 512; i++)
        t[i] = (base + i * step) | flags;
    /* The new table inherits the large page's permissions at the leaves;
     * the entry pointing to it is fully permissive so leaves decide. */
    *e = (u64)t | PT_PRESENT | PT_WRITABLE | PT_USER;
    (void)va;
    flush_tlb();
}

/* Walk to the entry at `level` for va, creating tables and splitting large
 * pages above it. */
static u64 *walk_create(u64 va, int level)
{
    u64 *t = (u64 *)(read_cr3() & PT_ADDR_MASK);
    for (int l = 4; l > level; l--) {
        u64 *e = &t[index_of(va, l)];
        if (!(*e & PT_PRESENT))
            *e = (u64)alloc_page() | PT_PRESENT | PT_WRITABLE | PT_USER;
        else if (l < 4 && (*e & PT_PS))
            split_entry(e, l, va);
        t = table_of(*e);
    }
    return &t[index_of(va, level)];
}

static u64 *map_level(u64 va, u64 pa, u64 flags, int level)
{
    u64 *e = walk_create(va, level);
    *e = pa | flags | (level > 1 ? PT_PS : 0);
    invlpg((void *)va);
    return e;
}

u64 *map_4k(u64 va, u64 pa, u64 flags) { return map_level(va, pa, flags, 1); }
u64 *map_2m(u64 va, u64 pa, u64 flags) { return map_level(va, pa, flags, 2); }
u64 *map_1g(u64 va, u64 pa, u64 flags) { return map_level(va, pa, flags, 3); }

void split_large_page(u64 va)
{
    int level;
    u64 *e = get_pte(va, &level);
    if (e && level > 1)
        split_entry(e, level, va);
}

void unmap(u64 va)
{
    u64 *e = get_pte(va, NULL);
    if (e) {
        *e = 0;
        invlpg((void *)va);
    }
}

u64 pte_get(u64 va)
{
    u64 *e = get_pte(va, NULL);
    return e ? *e : 0;
}

u64 pte_set(u64 va, u64 bits)
{
    u64 *e = get_pte(va, NULL);
    if (!e)
        abort_msg("pte_set: %lx not mapped\n", va);
    u64 old = *e;
    *e = old | bits;
    invlpg((void *)va);
    return old;
}

u64 pte_clear(u64 va, u64 bits)
{
    u64 *e = get_pte(va, NULL);
    if (!e)
        abort_msg("pte_clear: %lx not mapped\n", va);
    u64 old = *e;
    *e = old & ~bits;
    invlpg((void *)va);
    return old;
}

void vm_init(void)
{
    /* 4K pages for the kernel's first 2 MiB, then U=1 on the user pages. */
    split_large_page((u64)__kernel_start);
    for (u64 va = (u64)__user_start; va < (u64)__user_end; va += PAGE_SIZE) {
        split_large_page(va);
        pte_set(va, PT_USER);
    }
}
