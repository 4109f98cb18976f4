/* except.c: exceptions and interrupts (first version: cpu_raise only). */
#include "cpu.h"

_Noreturn void cpu_raise(struct cpu *c, int vec, int32_t err)
{
    c->fault_vec = vec;
    c->fault_err = err;
    longjmp(c->fault_jmp, 1);
}

void cpu_deliver_pending(struct cpu *c)
{
    c->fault_vec = -1;
    c->shutdown = true;
}

void cpu_deliver_external(struct cpu *c, int vec) { (void)c; (void)vec; }
void cpu_deliver_soft(struct cpu *c, int vec, bool t) { (void)c; (void)vec; (void)t; }
void cpu_check_interrupts(struct cpu *c) { (void)c; }
