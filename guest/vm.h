/* vm.h: 4-level paging helpers (SDM Vol 3A 4.5).
 *
 * At entry the kit identity-maps the first 4 GiB with 2 MiB pages, U=1 R/W=1
 * at every non-leaf level so a leaf alone decides the permission. The first
 * 2 MiB is split into 4 KiB pages; the kit's USER_TEXT/USER_DATA pages are
 * U=1, every other leaf is supervisor. Helpers allocate missing tables and
 * split large pages as needed, and INVLPG what they change.
 */
#ifndef GUEST_VM_H
#define GUEST_VM_H

#include "processor.h"

#define PAGE_SIZE   4096ull
#define LARGE_PAGE_SIZE (2ull << 20)
#define HUGE_PAGE_SIZE  (1ull << 30)

#define PT_PRESENT  BIT(0)
#define PT_WRITABLE BIT(1)
#define PT_USER     BIT(2)
#define PT_PWT      BIT(3)
#define PT_PCD      BIT(4)
#define PT_ACCESSED BIT(5)
#define PT_DIRTY    BIT(6)
#define PT_PS       BIT(7)   /* page size (PDE/PDPTE); PAT in a 4K PTE */
#define PT_GLOBAL   BIT(8)
#define PT_NX       BIT(63)
#define PT_ADDR_MASK 0x000ffffffffff000ull

/* Physical = virtual for the identity map. */
static inline u64 virt_to_phys(const volatile void *p) { return (u64)p; }

/* A zeroed 4 KiB page from the kit's pool (identity-mapped, supervisor).
 * Never freed. Exits with an error when the pool is empty. */
void *alloc_page(void);

/* The PML4 the kit built (CR3 at entry). */
extern u64 *kit_pml4;

/* Pointer to the entry mapping va at `level` (4 = PML4E, 3 = PDPTE,
 * 2 = PDE, 1 = PTE) in the current CR3's tables, or NULL if a table above
 * is not present / maps a large page. */
u64 *pte_at(u64 va, int level);
/* The leaf entry mapping va (any level) and its level; NULL if not mapped. */
u64 *get_pte(u64 va, int *level);

/* Map one page at va to pa with `flags` (PT_PRESENT etc.; PT_PS is set for
 * you in 2M/1G entries). Splits a large page that covers va (keeping its
 * other mappings), allocates missing tables. Returns the entry. */
u64 *map_4k(u64 va, u64 pa, u64 flags);
u64 *map_2m(u64 va, u64 pa, u64 flags);
u64 *map_1g(u64 va, u64 pa, u64 flags);
/* Clear the leaf entry mapping va (the whole large page if va is in one). */
void unmap(u64 va);
/* Split the 2M (or 1G) page covering va into 512 smaller pages with the
 * same attributes. No-op if already split. */
void split_large_page(u64 va);

/* Set / clear bits in the leaf entry mapping va, then INVLPG va. Return the
 * entry's old value. */
u64 pte_set(u64 va, u64 bits);
u64 pte_clear(u64 va, u64 bits);
/* The leaf entry's value (0 if not mapped). */
u64 pte_get(u64 va);
/* The leaf entry's accessed / dirty bits (SDM 4.8). */
static inline bool pte_accessed(u64 va) { return pte_get(va) & PT_ACCESSED; }
static inline bool pte_dirty(u64 va) { return pte_get(va) & PT_DIRTY; }

#endif
