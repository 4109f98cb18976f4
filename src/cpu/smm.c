/* smm.c: System Management Mode (first version: stubs). */
#include "cpu.h"

void smm_enter(struct cpu *c) { c->smi_pending = false; }
bool smm_rsm(struct cpu *c) { (void)c; return false; }
