/* ctl.h: pinvm's host control over QMP: the command set, the run state
 * (prelaunch/running/paused) and the events, over a small backend
 * interface so that it does not depend on struct machine (qmp_machine.c
 * implements the backend for the real machine; tests use a fake).
 *
 * The machine's run loop owns the thread: it calls ctl_poll() between CPU
 * chunks (timeout 0) and, while ctl_running() is false, ctl_poll() with
 * timeout -1 so it sleeps until a client does something. Commands that
 * must happen between chunks (system_reset, quit) are carried out by
 * ctl_poll() after the reply has been queued, as QEMU replies first and
 * then emits RESET/SHUTDOWN.
 */
#ifndef PINVM_CTL_CTL_H
#define PINVM_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmp.h"

struct cpu;
struct pin_audit;

/* A finished migration's figures (query-migrate's "ram" object). */
struct ctl_migrate_stats {
    uint64_t ram_total, ram_transferred, ram_normal, ram_duplicate;
    uint64_t total_time_ms;
};

struct ctl_backend {
    void *opaque;
    int ncpus;
    /* vCPU i (0 <= i < ncpus); its pin state and smi_pending are written
     * only from the control thread, between CPU chunks. */
    struct cpu *(*cpu)(void *opaque, int index);
    /* The machine's audit trail; may return NULL (no violation data). */
    struct pin_audit *(*audit)(void *opaque);
    /* Reset the machine (RAM image reloaded, every vCPU cpu_reset()).
     * Returns 0; 1 if the machine shuts down instead (-no-reboot, as
     * QEMU does for system_reset); -1 if it cannot go on. Both quit. */
    int (*reset)(void *opaque);
    /* Make running vCPUs leave cpu_run() soon (after stop, inject-smi);
     * may be NULL when the control thread is the vCPU thread. */
    void (*kick)(void *opaque);
    /* OS thread id of vCPU i for query-cpus-fast; may be NULL (pid). */
    long (*thread_id)(void *opaque, int index);
    /* The process's SIGINT/SIGTERM/SIGHUP shut the VM down cleanly
     * (SHUTDOWN "host-signal"): for the VM's main program, not for
     * harnesses that embed the ctl (they keep their signals). */
    bool catch_signals;
    /* QMP migrate: save the stopped machine to uri (src/snapshot).
     * Returns 0, or -1 with a message in err. May be NULL. */
    int (*migrate)(void *opaque, const char *uri,
                   struct ctl_migrate_stats *st, char *err, size_t errlen);
};

/* QEMU's RunState names for the states pinvm has. */
enum ctl_runstate {
    CTL_PRELAUNCH = 0, /* -S, before the first cont */
    CTL_RUNNING,
    CTL_PAUSED,        /* after stop */
    CTL_SHUTDOWN,      /* quit requested or the guest ended */
    CTL_POSTMIGRATE,   /* after a completed migrate (cont resumes) */
};

struct ctl;

/* Open the socket described by spec (the -qmp argument). start_paused is
 * -S. Installs the CR_PIN_VIOLATION emitter on the backend's audit.
 * Returns NULL with a message in err. */
struct ctl *ctl_open(const struct ctl_backend *be, const char *spec,
                     bool start_paused, const char *version, char *err,
                     size_t errlen);
/* The machine was restored from -incoming: a VM held by -S is now paused,
 * not prelaunch, as QEMU's is after an incoming migration (no event). */
void ctl_restored(struct ctl *c);
/* Emits SHUTDOWN (unless already done) with guest/reason, flushes, removes
 * the socket. reason NULL: "host-qmp-quit" if quit was asked, else
 * "guest-shutdown". NULL ctl is a no-op. */
void ctl_close(struct ctl *c, bool guest, const char *reason);

/* For wait=on: block until a client connects. Returns 0 or -1. */
int ctl_wait_client(struct ctl *c);
bool ctl_wants_wait(const struct ctl *c);

/* Serve the socket for up to timeout_ms (-1: until something happens),
 * then do any pending reset. Returns true if the machine should quit. */
bool ctl_poll(struct ctl *c, int timeout_ms);

/* Should the vCPUs run? (false: prelaunch, paused, shutdown) */
bool ctl_running(const struct ctl *c);
enum ctl_runstate ctl_runstate(const struct ctl *c);
bool ctl_quit_requested(const struct ctl *c);

/* Events the machine reports (QEMU's RESET/SHUTDOWN data: guest, reason,
 * e.g. "guest-reset", "guest-shutdown", "guest-panic"). */
void ctl_event_reset(struct ctl *c, bool guest, const char *reason);
void ctl_event_shutdown(struct ctl *c, bool guest, const char *reason);

/* The audit emit callback (pin_audit_emit_fn): a CR_PIN_VIOLATION event.
 * Exposed for tests. */
struct pin_audit_record;
void ctl_emit_violation(void *opaque, const struct pin_audit_record *r);

/* The command table, for tests and docs. */
extern const struct qmp_command ctl_commands[];
extern const size_t ctl_ncommands;

#endif
