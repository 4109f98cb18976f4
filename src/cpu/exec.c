/* exec.c: run loop and decoded-block cache (first version: stubs). */
#include <string.h>

#include "cpu.h"
#include "decode.h"

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
    return 0;
}

void cpu_destroy(struct cpu *c) { (void)c; }

enum cpu_exit cpu_run(struct cpu *c, uint64_t max_insns)
{
    (void)c;
    (void)max_insns;
    return CPU_EXIT_SHUTDOWN;
}

uint32_t cpu_get_eflags(struct cpu *c) { return c->eflags; }
void cpu_set_eflags(struct cpu *c, uint32_t v) { c->eflags = v | 2; }

void icache_invalidate_page(struct cpu *c, uint64_t pfn)
{
    if (c->code_pages && pfn < (c->ram_size >> 12))
        c->code_pages[pfn] = 0;
}

void icache_flush(struct cpu *c) { (void)c; }
