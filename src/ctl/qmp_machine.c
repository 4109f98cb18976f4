/* qmp_machine.c: the ctl backend for struct machine. See qmp_machine.h. */
#include "qmp_machine.h"

#include <stdio.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "machine/machine.h"
#include "snapshot/snapshot.h"

#ifndef PINVM_VERSION
#define PINVM_VERSION "0.0.0"
#endif

static struct cpu *be_cpu(void *opaque, int index)
{
    return ((struct machine *)opaque)->cpus[index];
}

static struct pin_audit *be_audit(void *opaque)
{
    return &((struct machine *)opaque)->audit;
}

static int be_reset(void *opaque)
{
    struct machine *m = opaque;
    char err[512];

    /* QEMU -no-reboot turns every reset, system_reset too, into a
     * shutdown. */
    if (m->cfg->no_reboot)
        return 1;
    /* Runs between slices on the run loop's thread: no vCPU is inside
     * cpu_run(). machine_reset() calls cpu_reset(), which clears pins. */
    if (machine_reset(m, err, sizeof err) < 0) {
        fprintf(stderr, "pinvm: system_reset: %s\n", err);
        return -1;
    }
    return 0;
}

/* Between slices, on the run loop's thread: the machine is stopped. */
static int be_migrate(void *opaque, const char *uri,
                      struct ctl_migrate_stats *st, char *err, size_t errlen)
{
    struct snap_stats s;
    int rc = snapshot_save(opaque, uri, &s, err, errlen);

    *st = (struct ctl_migrate_stats){s.ram_total, s.transferred, s.ram_normal,
                                     s.ram_duplicate, s.total_time_ms};
    return rc;
}

int qmp_machine_open(struct machine *m, char *err, size_t errlen)
{
    struct ctl_backend be = {
        .opaque = m,
        .ncpus = m->ncpus,
        .cpu = be_cpu,
        .audit = be_audit,
        .reset = be_reset,
        .migrate = be_migrate,
        .catch_signals = true,
        /* One thread runs vCPU and socket: no kick, thread id = pid. */
    };

    if (!m->cfg->qmp)
        return 0;
    m->ctl = ctl_open(&be, m->cfg->qmp, m->cfg->start_paused, PINVM_VERSION,
                      err, errlen);
    if (!m->ctl)
        return -1;
    if (m->cfg->incoming)
        ctl_restored(m->ctl);
    if (ctl_wants_wait(m->ctl) && ctl_wait_client(m->ctl) < 0) {
        snprintf(err, errlen, "-qmp: waiting for a client failed");
        return -1;
    }
    return 0;
}

bool qmp_machine_poll(struct machine *m)
{
    if (!m->ctl)
        return false;
    if (ctl_poll(m->ctl, 0))
        return true;
    while (!ctl_running(m->ctl))
        if (ctl_poll(m->ctl, -1))
            return true;
    return false;
}

bool qmp_machine_wait_halted(struct machine *m)
{
    if (!m->ctl)
        return false;
    ctl_poll(m->ctl, -1); /* a quit is seen by qmp_machine_poll() next */
    return true;
}

void qmp_machine_guest_reset(struct machine *m)
{
    ctl_event_reset(m->ctl, true, "guest-reset");
}

void qmp_machine_close(struct machine *m)
{
    ctl_close(m->ctl, !ctl_quit_requested(m->ctl), NULL);
    m->ctl = NULL;
}
