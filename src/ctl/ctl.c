/* ctl.c: pinvm's QMP command set, run state and events. See ctl.h and
 * docs/qmp.md. */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cpu/cpu.h"
#include "../pin/audit.h"
#include "../pin/crpin.h"

struct ctl {
    struct ctl_backend be;
    struct qmp_server *srv;
    struct qmp_spec spec;
    const char *version;
    enum ctl_runstate state;
    bool reset_pending;
    bool quit;
    bool shutdown_sent;
    /* migrate: the URI waiting for ctl_poll(), and the last outcome */
    char *migrate_uri;
    const char *mig_status; /* NULL: never migrated */
    struct ctl_migrate_stats mig;
    char mig_error[512];
};

/* ---- helpers ---- */

static struct cpu *arg_cpu(struct ctl *c, json_t *args, const char *key,
                           struct qmp_error *err)
{
    json_int_t i = json_integer_value(json_object_get(args, key));

    if (i < 0 || i >= c->be.ncpus) {
        qmp_error_set(err, QMP_ERR_GENERIC,
                      "Invalid parameter '%s': %lld is not a vCPU "
                      "(0..%d)",
                      key, (long long)i, c->be.ncpus - 1);
        return NULL;
    }
    return c->be.cpu(c->be.opaque, (int)i);
}

static void set_state(struct ctl *c, enum ctl_runstate s)
{
    bool was = c->state == CTL_RUNNING, now = s == CTL_RUNNING;

    c->state = s;
    /* QEMU emits STOP/RESUME only on a real transition (vm_stop/vm_start
     * of a running/stopped VM), not e.g. for stop from prelaunch. */
    if (was && !now) {
        qmp_server_event(c->srv, "STOP", NULL);
        if (c->be.kick)
            c->be.kick(c->be.opaque);
    } else if (!was && now) {
        qmp_server_event(c->srv, "RESUME", NULL);
    }
}

static const char *state_name(enum ctl_runstate s)
{
    switch (s) {
    case CTL_PRELAUNCH: return "prelaunch";
    case CTL_RUNNING:   return "running";
    case CTL_PAUSED:    return "paused";
    case CTL_POSTMIGRATE: return "postmigrate";
    default:            return "shutdown";
    }
}

/* ---- QEMU commands ---- */

static json_t *cmd_query_version(void *opaque, json_t *args,
                                 struct qmp_error *err)
{
    struct ctl *c = opaque;

    (void)args;
    (void)err;
    return qmp_version_json(c->version);
}

static json_t *cmd_query_status(void *opaque, json_t *args,
                                struct qmp_error *err)
{
    struct ctl *c = opaque;

    (void)args;
    (void)err;
    return json_pack("{s:b, s:s}", "running", c->state == CTL_RUNNING,
                     "status", state_name(c->state));
}

static json_t *cmd_query_cpus_fast(void *opaque, json_t *args,
                                   struct qmp_error *err)
{
    struct ctl *c = opaque;
    json_t *list = json_array();

    (void)args;
    (void)err;
    for (int i = 0; list && i < c->be.ncpus; i++) {
        char qom[64];
        long tid = c->be.thread_id ? c->be.thread_id(c->be.opaque, i)
                                   : (long)getpid();
        snprintf(qom, sizeof qom, "/machine/unattached/device[%d]", i);
        json_array_append_new(
            list, json_pack("{s:i, s:s, s:I, s:{s:i, s:i, s:i}, s:s}",
                            "cpu-index", i, "qom-path", qom, "thread-id",
                            (json_int_t)tid, "props", "socket-id", i,
                            "core-id", 0, "thread-id", 0, "target",
                            "x86_64"));
    }
    return list;
}

static json_t *cmd_stop(void *opaque, json_t *args, struct qmp_error *err)
{
    struct ctl *c = opaque;

    (void)args;
    (void)err;
    /* As QEMU's do_vm_stop(): only a running VM stops; prelaunch stays. */
    if (c->state == CTL_RUNNING)
        set_state(c, CTL_PAUSED);
    return json_object();
}

static json_t *cmd_cont(void *opaque, json_t *args, struct qmp_error *err)
{
    struct ctl *c = opaque;

    (void)args;
    if (c->state == CTL_SHUTDOWN) {
        qmp_error_set(err, QMP_ERR_GENERIC,
                      "Resetting the Virtual Machine is required");
        return NULL;
    }
    set_state(c, CTL_RUNNING);
    return json_object();
}

static json_t *cmd_system_reset(void *opaque, json_t *args,
                                struct qmp_error *err)
{
    struct ctl *c = opaque;

    (void)args;
    (void)err;
    c->reset_pending = true; /* done by ctl_poll(), after the reply */
    qmp_server_yield(c->srv);
    return json_object();
}

static json_t *cmd_quit(void *opaque, json_t *args, struct qmp_error *err)
{
    struct ctl *c = opaque;

    (void)args;
    (void)err;
    c->quit = true;
    qmp_server_yield(c->srv);
    return json_object();
}

/* ---- migration (the work is the backend's: src/snapshot) ---- */

static json_t *cmd_migrate(void *opaque, json_t *args, struct qmp_error *err)
{
    struct ctl *c = opaque;
    const char *uri = json_string_value(json_object_get(args, "uri"));

    if (json_is_true(json_object_get(args, "resume"))) {
        qmp_error_set(err, QMP_ERR_GENERIC, "Migration resume is not supported");
        return NULL;
    }
    if (strncmp(uri, "file:", 5) && strncmp(uri, "unix:", 5) &&
        strncmp(uri, "tcp:", 4)) {
        qmp_error_set(err, QMP_ERR_GENERIC,
                      "Invalid migration URI '%s' (file:PATH, unix:PATH or "
                      "tcp:HOST:PORT)", uri);
        return NULL;
    }
    if (!c->be.migrate || c->state == CTL_SHUTDOWN) {
        qmp_error_set(err, QMP_ERR_GENERIC, "Migration is not possible now");
        return NULL;
    }
    if (c->migrate_uri) {
        qmp_error_set(err, QMP_ERR_GENERIC, "There's a migration process in progress");
        return NULL;
    }
    c->migrate_uri = strdup(uri);
    if (!c->migrate_uri) {
        qmp_error_set(err, QMP_ERR_GENERIC, "out of memory");
        return NULL;
    }
    /* As QEMU: reply now, report the outcome by events/query-migrate. */
    c->mig_status = "setup";
    qmp_server_event(c->srv, "MIGRATION", json_pack("{s:s}", "status", "setup"));
    qmp_server_yield(c->srv);
    return json_object();
}

static json_t *cmd_query_migrate(void *opaque, json_t *args,
                                 struct qmp_error *err)
{
    struct ctl *c = opaque;
    json_t *r;

    (void)args;
    (void)err;
    if (!c->mig_status)
        return json_object();
    r = json_pack("{s:s}", "status", c->mig_status);
    if (r && strcmp(c->mig_status, "setup")) {
        const struct ctl_migrate_stats *m = &c->mig;
        json_object_set_new(
            r, "ram",
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "transferred",
                      qmp_u64(m->ram_transferred), "total",
                      qmp_u64(m->ram_total), "remaining",
                      qmp_u64(strcmp(c->mig_status, "completed") ? m->ram_total : 0),
                      "duplicate", qmp_u64(m->ram_duplicate), "normal",
                      qmp_u64(m->ram_normal), "normal-bytes",
                      qmp_u64(m->ram_normal * 4096)));
        json_object_set_new(r, "total-time", qmp_u64(m->total_time_ms));
    }
    if (r && !strcmp(c->mig_status, "failed"))
        json_object_set_new(r, "error-desc", json_string(c->mig_error));
    return r;
}

/* Stop-and-copy, between CPU chunks: stop, send everything, then
 * postmigrate (or back to the previous state if it failed). */
static void do_migrate(struct ctl *c)
{
    enum ctl_runstate before = c->state;
    char *uri = c->migrate_uri;

    if (c->state == CTL_RUNNING)
        set_state(c, CTL_PAUSED);
    c->mig_status = "active";
    memset(&c->mig, 0, sizeof c->mig);
    qmp_server_event(c->srv, "MIGRATION", json_pack("{s:s}", "status", "active"));
    c->mig_error[0] = '\0';
    if (c->be.migrate(c->be.opaque, uri, &c->mig, c->mig_error,
                      sizeof c->mig_error) == 0) {
        c->mig_status = "completed";
        c->state = CTL_POSTMIGRATE;
    } else {
        c->mig_status = "failed";
        fprintf(stderr, "pinvm: migrate: %s\n", c->mig_error);
        if (before == CTL_RUNNING)
            set_state(c, CTL_RUNNING);
    }
    qmp_server_event(c->srv, "MIGRATION", json_pack("{s:s}", "status", c->mig_status));
    free(uri);
    c->migrate_uri = NULL;
}

/* ---- pinning commands ---- */

static json_t *cmd_query_cr_pins(void *opaque, json_t *args,
                                 struct qmp_error *err)
{
    struct ctl *c = opaque;
    json_t *list = json_array();

    (void)args;
    (void)err;
    for (int i = 0; list && i < c->be.ncpus; i++) {
        struct cpu *v = c->be.cpu(c->be.opaque, i);
        json_array_append_new(
            list, json_pack("{s:i, s:o, s:o, s:o, s:o}", "cpu-index", i,
                            "cr0-allowed", qmp_u64(CRPIN_CR0_ALLOWED),
                            "cr4-allowed", qmp_u64(CRPIN_CR4_ALLOWED),
                            "cr0-pinned", qmp_u64(crpin_mask(&v->pin, 0)),
                            "cr4-pinned", qmp_u64(crpin_mask(&v->pin, 4))));
    }
    return list;
}

/* Read an optional pin mask argument; -1 on a bad value, 0 absent,
 * 1 present. */
static int arg_mask(json_t *args, const char *key, uint64_t allowed,
                    uint64_t *out, struct qmp_error *err)
{
    json_t *v = json_object_get(args, key);
    json_int_t i;

    if (!v)
        return 0;
    i = json_integer_value(v);
    if (i < 0 || ((uint64_t)i & ~allowed)) {
        qmp_error_set(err, QMP_ERR_GENERIC,
                      "Invalid parameter '%s': 0x%llx has bits outside the "
                      "pinnable set 0x%llx",
                      key, (unsigned long long)i,
                      (unsigned long long)allowed);
        return -1;
    }
    *out = (uint64_t)i;
    return 1;
}

static json_t *cmd_set_cr_pins(void *opaque, json_t *args,
                               struct qmp_error *err)
{
    struct ctl *c = opaque;
    struct cpu *v = arg_cpu(c, args, "cpu-index", err);
    uint64_t cr0 = 0, cr4 = 0;
    int has0, has4;

    if (!v)
        return NULL;
    /* Validate both before applying either: all or nothing. */
    has0 = arg_mask(args, "cr0-pinned", CRPIN_CR0_ALLOWED, &cr0, err);
    if (has0 < 0)
        return NULL;
    has4 = arg_mask(args, "cr4-pinned", CRPIN_CR4_ALLOWED, &cr4, err);
    if (has4 < 0)
        return NULL;
    /* A host write sets the value exactly, so it may clear pins (RFC:
     * "Host userspace may clear or change pinned bits at any point"). */
    if ((has0 && crpin_msr_write(&v->pin, MSR_KVM_CR0_PINNED, CRPIN_HOST,
                                 cr0) != CRPIN_OK) ||
        (has4 && crpin_msr_write(&v->pin, MSR_KVM_CR4_PINNED, CRPIN_HOST,
                                 cr4) != CRPIN_OK)) {
        qmp_error_set(err, QMP_ERR_GENERIC, "the pin MSR refused the value");
        return NULL;
    }
    return json_object();
}

static json_t *cmd_inject_smi(void *opaque, json_t *args,
                              struct qmp_error *err)
{
    struct ctl *c = opaque;

    if (json_object_get(args, "cpu-index")) {
        struct cpu *v = arg_cpu(c, args, "cpu-index", err);
        if (!v)
            return NULL;
        v->smi_pending = true;
    } else {
        /* Like QEMU's inject-nmi: every vCPU. */
        for (int i = 0; i < c->be.ncpus; i++)
            c->be.cpu(c->be.opaque, i)->smi_pending = true;
    }
    if (c->be.kick && c->state == CTL_RUNNING)
        c->be.kick(c->be.opaque);
    return json_object();
}

static json_t *record_json(const struct pin_audit_record *r)
{
    char hex[PIN_AUDIT_INSN_MAX * 3 + 1];

    pin_audit_insn_hex(r, hex, sizeof hex);
    return json_pack("{s:i, s:i, s:o, s:i, s:o, s:o, s:o, s:s, s:s}",
                     "cpu-index", r->cpu_index, "cr", r->cr, "rip",
                     qmp_u64(r->rip), "cpl", r->cpl, "old",
                     qmp_u64(r->old_val), "new", qmp_u64(r->new_val),
                     "pinned", qmp_u64(r->pinned), "insn", hex, "asm",
                     r->asm_text);
}

static json_t *cmd_query_pin_violations(void *opaque, json_t *args,
                                        struct qmp_error *err)
{
    struct ctl *c = opaque;
    struct pin_audit *a = c->be.audit ? c->be.audit(c->be.opaque) : NULL;
    struct pin_audit_record recs[PIN_AUDIT_RING];
    json_t *cpus = json_array(), *recent = json_array();
    size_t n = a ? pin_audit_recent(a, recs, PIN_AUDIT_RING) : 0;

    (void)args;
    (void)err;
    for (int i = 0; cpus && i < c->be.ncpus; i++)
        json_array_append_new(
            cpus, json_pack("{s:i, s:o, s:o}", "cpu-index", i, "cr0",
                            qmp_u64(a ? pin_audit_count(a, i, 0) : 0), "cr4",
                            qmp_u64(a ? pin_audit_count(a, i, 4) : 0)));
    for (size_t k = 0; recent && k < n; k++) {
        json_t *j = record_json(&recs[k]);
        if (j) {
            json_object_set_new(j, "seq", qmp_u64(recs[k].seq));
            json_array_append_new(recent, j);
        }
    }
    return json_pack("{s:o, s:o, s:o}", "total",
                     qmp_u64(a ? pin_audit_total(a) : 0), "cpus", cpus,
                     "recent", recent);
}

void ctl_emit_violation(void *opaque, const struct pin_audit_record *r)
{
    struct ctl *c = opaque;

    qmp_server_event(c->srv, "CR_PIN_VIOLATION", record_json(r));
}

/* ---- the table ---- */

static const struct qmp_arg set_cr_pins_args[] = {
    {"cpu-index", QMP_T_INT, false},
    {"cr0-pinned", QMP_T_INT, true},
    {"cr4-pinned", QMP_T_INT, true},
    {NULL, 0, false},
};

static const struct qmp_arg migrate_args[] = {
    {"uri", QMP_T_STR, false},
    {"detach", QMP_T_BOOL, true}, /* accepted: it always is */
    {"resume", QMP_T_BOOL, true},
    {NULL, 0, false},
};

static const struct qmp_arg inject_smi_args[] = {
    {"cpu-index", QMP_T_INT, true},
    {NULL, 0, false},
};

const struct qmp_command ctl_commands[] = {
    {"query-version", cmd_query_version, NULL},
    {"query-status", cmd_query_status, NULL},
    {"query-cpus-fast", cmd_query_cpus_fast, NULL},
    {"stop", cmd_stop, NULL},
    {"cont", cmd_cont, NULL},
    {"system_reset", cmd_system_reset, NULL},
    {"quit", cmd_quit, NULL},
    {"query-cr-pins", cmd_query_cr_pins, NULL},
    {"set-cr-pins", cmd_set_cr_pins, set_cr_pins_args},
    {"inject-smi", cmd_inject_smi, inject_smi_args},
    {"query-pin-violations", cmd_query_pin_violations, NULL},
    {"migrate", cmd_migrate, migrate_args},
    {"query-migrate", cmd_query_migrate, NULL},
};
const size_t ctl_ncommands = sizeof ctl_commands / sizeof ctl_commands[0];

/* ---- lifecycle ---- */

void ctl_restored(struct ctl *c)
{
    if (c && c->state == CTL_PRELAUNCH)
        c->state = CTL_PAUSED;
}

struct ctl *ctl_open(const struct ctl_backend *be, const char *spec,
                     bool start_paused, const char *version, char *err,
                     size_t errlen)
{
    struct ctl *c = calloc(1, sizeof *c);
    struct qmp_server_config cfg;

    if (!c) {
        snprintf(err, errlen, "-qmp: out of memory");
        return NULL;
    }
    if (qmp_parse_spec(spec, &c->spec, err, errlen) < 0) {
        free(c);
        return NULL;
    }
    c->be = *be;
    c->version = version;
    c->state = start_paused ? CTL_PRELAUNCH : CTL_RUNNING;
    cfg = (struct qmp_server_config){
        .spec = &c->spec,
        .cmds = ctl_commands,
        .ncmds = ctl_ncommands,
        .opaque = c,
        .version = version,
        .catch_signals = be->catch_signals,
    };
    c->srv = qmp_server_open(&cfg, err, errlen);
    if (!c->srv) {
        free(c);
        return NULL;
    }
    if (be->audit && be->audit(be->opaque))
        pin_audit_set_emit(be->audit(be->opaque), ctl_emit_violation, c);
    return c;
}

void ctl_close(struct ctl *c, bool guest, const char *reason)
{
    if (!c)
        return;
    if (c->be.audit && c->be.audit(c->be.opaque))
        pin_audit_set_emit(c->be.audit(c->be.opaque), NULL, NULL);
    ctl_event_shutdown(c, guest,
                       reason ? reason
                              : c->quit ? "host-qmp-quit" : "guest-shutdown");
    qmp_server_close(c->srv);
    free(c->migrate_uri);
    free(c);
}

bool ctl_wants_wait(const struct ctl *c)
{
    return c && c->spec.wait;
}

int ctl_wait_client(struct ctl *c)
{
    /* QEMU says the same, so scripts that wait for it work with pinvm. */
    fprintf(stderr, "pinvm: waiting for connection on: unix:%s,server=on\n",
            c->spec.path);
    return qmp_server_wait_client(c->srv);
}

bool ctl_poll(struct ctl *c, int timeout_ms)
{
    if (c->quit)
        return true;
    if (qmp_server_poll(c->srv, timeout_ms) < 0) {
        /* The listening socket broke (e.g. removed under us): the guest
         * keeps running, without control. */
        return false;
    }
    if (qmp_server_signal(c->srv)) {
        /* As QEMU: SIGTERM/SIGINT/SIGHUP are a clean shutdown. */
        c->quit = true;
        ctl_event_shutdown(c, false, "host-signal");
        return true;
    }
    if (c->reset_pending && !c->quit) {
        c->reset_pending = false;
        int r = c->be.reset ? c->be.reset(c->be.opaque) : 0;
        if (r != 0) {
            c->quit = true;
            ctl_event_shutdown(c, false, r > 0 ? "host-qmp-system-reset"
                                                : "host-error");
            return true;
        }
        /* The RFC's duty of host userspace on reboot; cpu_reset() does it
         * too, this keeps it true whatever the backend's reset does. */
        for (int i = 0; i < c->be.ncpus; i++)
            crpin_reset(&c->be.cpu(c->be.opaque, i)->pin);
        ctl_event_reset(c, false, "host-qmp-system-reset");
    }
    if (c->migrate_uri && !c->quit)
        do_migrate(c);
    return c->quit;
}

bool ctl_running(const struct ctl *c)
{
    return !c || c->state == CTL_RUNNING;
}

enum ctl_runstate ctl_runstate(const struct ctl *c)
{
    return c->state;
}

bool ctl_quit_requested(const struct ctl *c)
{
    return c && c->quit;
}

void ctl_event_reset(struct ctl *c, bool guest, const char *reason)
{
    if (c)
        qmp_server_event(c->srv, "RESET",
                         json_pack("{s:b, s:s}", "guest", guest, "reason",
                                   reason));
}

void ctl_event_shutdown(struct ctl *c, bool guest, const char *reason)
{
    if (!c || c->shutdown_sent)
        return;
    c->shutdown_sent = true;
    c->state = CTL_SHUTDOWN;
    qmp_server_event(c->srv, "SHUTDOWN",
                     json_pack("{s:b, s:s}", "guest", guest, "reason",
                               reason));
}
