/* qmp_machine.h: the QMP control socket wired to struct machine. These are
 * the only calls the machine makes (src/main.c, machine_run.c); all logic
 * is in src/ctl. Every function is a no-op without -qmp. */
#ifndef PINVM_CTL_QMP_MACHINE_H
#define PINVM_CTL_QMP_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

struct machine;

/* After machine_start(): open the socket of cfg->qmp (with cfg->start_paused
 * for -S) and, for wait=on, block until a client connects. Returns 0 or -1
 * with a message in err. */
int qmp_machine_open(struct machine *m, char *err, size_t errlen);
/* Between CPU slices: serve the socket without blocking; while the VM is
 * paused (-S, stop), block here serving it. Returns true if a client asked
 * to quit: machine_run() then returns 0. */
bool qmp_machine_poll(struct machine *m);
/* The vCPU halted with nothing to wake it but the host: with -qmp, block
 * until the next QMP activity and return true (the run loop then runs the
 * vCPU again, which halts again unless a command changed something);
 * without -qmp return false. */
bool qmp_machine_wait_halted(struct machine *m);
/* A reset the guest caused (reset register, triple fault): RESET event. */
void qmp_machine_guest_reset(struct machine *m);
/* At exit: SHUTDOWN event (guest: true unless quit), socket removed. */
void qmp_machine_close(struct machine *m);

#endif
