/* system.c: control registers, reset, system instructions (stubs). */
#include "cpu.h"
#include "sysops.h"

void cpu_reset(struct cpu *c) { crpin_reset(&c->pin); }
void cpu_update_mode(struct cpu *c) { (void)c; }
void cpu_state_changed(struct cpu *c) { cpu_update_mode(c); }
void cpu_write_cr0(struct cpu *c, uint64_t v) { c->cr0 = v; }
void cpu_write_cr3(struct cpu *c, uint64_t v) { c->cr3 = v; }
void cpu_write_cr4(struct cpu *c, uint64_t v) { c->cr4 = v; }
int cpu_rdmsr(struct cpu *c, uint32_t m, uint64_t *v, bool h) { (void)c; (void)m; (void)v; (void)h; return -1; }
int cpu_wrmsr(struct cpu *c, uint32_t m, uint64_t v, bool h) { (void)c; (void)m; (void)v; (void)h; return -1; }

#define STUB(name) void name(struct cpu *c, const struct insn *i) { (void)i; cpu_raise(c, EXC_UD, CPU_NOERR); }
STUB(op_grp6) STUB(op_grp7) STUB(op_lar) STUB(op_lsl) STUB(op_syscall)
STUB(op_clts) STUB(op_sysret) STUB(op_invd) STUB(op_mov_from_cr)
STUB(op_mov_from_dr) STUB(op_mov_to_cr) STUB(op_mov_to_dr) STUB(op_wrmsr)
STUB(op_rdtsc) STUB(op_rdmsr) STUB(op_rdpmc) STUB(op_sysenter) STUB(op_sysexit)
STUB(op_cpuid) STUB(op_rsm) STUB(op_jmp_far_imm) STUB(op_call_far_imm)
STUB(op_jmp_far_mem) STUB(op_call_far_mem) STUB(op_retf) STUB(op_iret)
STUB(op_int3) STUB(op_int_imm) STUB(op_into) STUB(op_int1) STUB(op_hlt)
STUB(op_cli) STUB(op_sti) STUB(op_pushf) STUB(op_popf) STUB(op_in_imm)
STUB(op_out_imm) STUB(op_in_dx) STUB(op_out_dx) STUB(op_ins) STUB(op_outs)
STUB(op_mov_sreg_load) STUB(op_mov_sreg_store) STUB(op_push_sreg)
STUB(op_pop_sreg) STUB(op_load_far_ptr) STUB(op_arpl)
