/* ops_misc.c: NOP forms and the handlers for encodings that fault. */
#include "ops.h"

/* Invalid, unimplemented (x87/SSE/AVX), UD2, or a LOCK where it is not
 * allowed: #UD. */
void op_ud(struct cpu *c, const struct insn *i)
{
    (void)i;
    cpu_raise(c, EXC_UD, CPU_NOERR);
}

void op_ud_lock(struct cpu *c, const struct insn *i)
{
    (void)i;
    cpu_raise(c, EXC_UD, CPU_NOERR);
}

/* More than 15 bytes: #GP(0) (SDM Vol 2 2.3.11). */
void op_gp0(struct cpu *c, const struct insn *i)
{
    (void)i;
    cpu_raise(c, EXC_GP, 0);
}

/* NOP, 0F 1F multi-byte NOP, 0F 18-1E hints, ENDBR, fences, CLFLUSH,
 * PREFETCHW. The ModRM memory operand is not accessed. */
void op_nop(struct cpu *c, const struct insn *i)
{
    (void)c;
    (void)i;
}

void op_nop90(struct cpu *c, const struct insn *i)
{
    (void)c;
    (void)i;
}

/* Threaded twins (ops.h): the entries cached blocks run. */
THREADED(op_nop)
THREADED(op_nop90)
