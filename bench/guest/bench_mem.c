/* bench_mem.c: TLB-miss-bound memory access. 64 MiB of guest RAM
 * (physical 32..96 MiB, so -m 128M is enough) is mapped with 4 KiB pages;
 * each pass does one read-modify-write (a load and a store to the same
 * address) on every page, 4 KiB apart, at a cache-line offset that moves
 * each pass (64 lines, then the cycle repeats). 16384 pages exceed any hardware TLB and a small software one.
 * ops = page accesses (n passes x 16384). */
#include "bench.h"

#define MEM_BASE  (32ull << 20)
#define MEM_SIZE  (64ull << 20)
#define MEM_PAGES (MEM_SIZE / PAGE_SIZE)

static void map_region(void)
{
    /* Split each 2 MiB identity page into 512 4 KiB pages (same PA). */
    for (u64 va = MEM_BASE; va < MEM_BASE + MEM_SIZE; va += LARGE_PAGE_SIZE)
        split_large_page(va);
    flush_tlb();
    /* Clear the words the passes use: firmware may have left data here. */
    for (u64 a = MEM_BASE; a < MEM_BASE + MEM_SIZE; a += 64)
        *(volatile u64 *)a = 0;
}

static void passes(u64 n)
{
    for (u64 p = 0; p < n; p++) {
        volatile u64 *q = (volatile u64 *)(MEM_BASE + p % 64 * 64);
        for (u64 i = 0; i < MEM_PAGES; i++, q += PAGE_SIZE / 8)
            *q += i;
    }
}

int main(struct mb_info *mbi)
{
    (void)mbi;
    u64 n = bench_arg("n", 100);
    bench_setup(false);
    map_region();
    int level = 0;
    if (!get_pte(MEM_BASE + MEM_SIZE - 1, &level) || level != 1)
        abort_msg("bench mem: region not 4K-mapped\n");
    passes(n);
    /* Checksum every word the passes can write (the first of each cache
     * line): the same cost whatever n is. */
    u64 h = 0;
    for (u64 a = MEM_BASE; a < MEM_BASE + MEM_SIZE; a += PAGE_SIZE) {
        const u64 *w = (const u64 *)a;
        for (unsigned k = 0; k < PAGE_SIZE / 8; k += 8)
            h = (h ^ w[k]) * 0x100000001b3ull;
    }
    bench_report("mem", n, n * MEM_PAGES, 0, h);
    return 0;
}
