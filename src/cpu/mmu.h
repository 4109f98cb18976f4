/* mmu.h: software TLB, paging and guest memory access. OWNED BY the
 * system part of the core. (Placeholder layout; the owner refines it.) */
#ifndef PINVM_MMU_H
#define PINVM_MMU_H

#include <stdint.h>

struct tlb {
    uint32_t gen; /* placeholder */
};

/* ---- The contract with the rest of the core (names and signatures are
 * fixed; implementations may be static inline here). All of them apply
 * segmentation (base, limit, canonical checks) then paging with the
 * permission rules of the current CPL, and cpu_raise() on a fault before
 * anything is written. Accesses that cross a page are split correctly. */
struct cpu;
uint8_t  mem_read8 (struct cpu *c, int seg, uint64_t off);
uint16_t mem_read16(struct cpu *c, int seg, uint64_t off);
uint32_t mem_read32(struct cpu *c, int seg, uint64_t off);
uint64_t mem_read64(struct cpu *c, int seg, uint64_t off);
void mem_write8 (struct cpu *c, int seg, uint64_t off, uint8_t v);
void mem_write16(struct cpu *c, int seg, uint64_t off, uint16_t v);
void mem_write32(struct cpu *c, int seg, uint64_t off, uint32_t v);
void mem_write64(struct cpu *c, int seg, uint64_t off, uint64_t v);
/* size is 1, 2, 4 or 8 */
uint64_t mem_read(struct cpu *c, int seg, uint64_t off, int size);
void mem_write(struct cpu *c, int seg, uint64_t off, int size, uint64_t v);
/* Fault now (without writing) if off..off+size-1 is not writable: lets a
 * read-modify-write or a multi-part store check before committing. */
void mem_check_write(struct cpu *c, int seg, uint64_t off, int size);

/* Stack: SS and the current stack size; RSP changes only after success. */
void cpu_push(struct cpu *c, uint64_t v, int size);
uint64_t cpu_pop(struct cpu *c, int size);

/* Instruction fetch at linear address lin (CS base already added): copies
 * up to n bytes but never past the end of lin's page, returns how many
 * (>= 1), faults (#PF with I/D bit, #GP) if the first byte is not
 * executable. *phys receives the physical address of lin. */
int cpu_fetch_code(struct cpu *c, uint64_t lin, uint8_t *buf, int n,
                   uint64_t *phys);

/* Linear accesses for system structures (descriptor tables, IDT, TSS):
 * implicit supervisor accesses (SDM 4.6: SMAP applies, AC ignored). */
uint64_t lin_read_sys(struct cpu *c, uint64_t lin, int size);
void lin_write_sys(struct cpu *c, uint64_t lin, int size, uint64_t v);

/* Physical accesses (RAM or MMIO via the bus). */
uint64_t phys_read(struct cpu *c, uint64_t pa, int size);
void phys_write(struct cpu *c, uint64_t pa, int size, uint64_t v);

/* TLB maintenance. */
void tlb_flush_all(struct cpu *c);      /* including global pages */
void tlb_flush_nonglobal(struct cpu *c);/* MOV CR3 */
void tlb_flush_page(struct cpu *c, uint64_t lin); /* INVLPG */

/* Decoded-code tracking: exec.c sets c->code_pages[pfn] = 1 when it caches
 * code from RAM page pfn and then calls mmu_code_page_added(), after which
 * every write to that page must take the slow path; the slow path calls
 * icache_invalidate_page() (exec.c) which drops the page's blocks and
 * clears the flag. */
void mmu_code_page_added(struct cpu *c, uint64_t pfn);
void icache_invalidate_page(struct cpu *c, uint64_t pfn);
void icache_flush(struct cpu *c);

#endif
