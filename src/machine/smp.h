/* smp.h: the vCPUs as a multiprocessor: IPI routing between the local
 * APICs, the interrupt hooks each vCPU polls, the virtual clock, and the
 * INIT/SIPI state changes (applied between slices, never inside the
 * target's instruction). See docs/smp.md. */
#ifndef PINVM_SMP_H
#define PINVM_SMP_H

#include <stdbool.h>
#include <stdint.h>

struct machine;
struct cpu;

/* Wire the LAPIC host callbacks (before lapic_init). */
void smp_setup(struct machine *m);
/* Give vCPU c its irq_pending/irq_ack hooks. */
void smp_attach_cpu(struct machine *m, struct cpu *c);
/* The virtual clock (LAPIC timer ticks): advances with the instructions
 * of the round-robin schedule, and jumps to the next timer expiry when
 * every vCPU is idle. */
uint64_t smp_now(const struct machine *m);
/* Apply a pending INIT and then a pending SIPI to vCPU i (SDM 8.4.4,
 * 10.4.7.3): INIT resets the vCPU (pins included: docs/cr-pinning.md (b))
 * and parks it in wait-for-SIPI; SIPI vector V starts it in real mode at
 * CS = V << 8, IP = 0. An INIT to the BSP resets the machine, as the BSP
 * would restart at the reset vector (the firmware's reboot path). */
void smp_apply_init_sipi(struct machine *m, int i);
/* Could vCPU i make progress if run now (running and not halted, or
 * halted with an event it would take)? */
bool smp_cpu_runnable(struct machine *m, int i);

/* Can the PIT's IRQ0 reach a CPU (I/O APIC input 2 unmasked, or the
 * 8259's IR0 unmasked with the BSP taking ExtINT)? */
bool smp_irq0_routed(struct machine *m);

#endif
