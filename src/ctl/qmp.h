/* qmp.h: a server for QEMU's QMP protocol, independent of the machine.
 *
 * It owns the unix socket, the framing (a stream of JSON objects, as QEMU
 * parses it: newlines are optional), capability negotiation, argument
 * checking against a table of commands, replies with the client's "id", and
 * asynchronous events. What the commands do is the caller's business: it
 * passes a table of struct qmp_command (see ctl.c for pinvm's).
 *
 * One client at a time, like QEMU's default monitor: while a client is
 * connected the listening socket is not accepted from, so a second client's
 * connect() completes in the kernel backlog and it gets its greeting once
 * the first one leaves.
 *
 * Threads: qmp_server_poll() and the command handlers run on one thread
 * (the machine's main loop). qmp_server_event() may be called from any
 * thread; it queues the event and wakes the polling thread.
 */
#ifndef PINVM_CTL_QMP_H
#define PINVM_CTL_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest JSON message accepted; a longer one gets an error and the
 * client is disconnected. */
#define QMP_INPUT_MAX (64 * 1024)
/* Queued output beyond this (a client that never reads) disconnects it. */
#define QMP_OUTPUT_MAX (4 * 1024 * 1024)
/* Commands handled per qmp_server_poll() call, so a client flooding the
 * socket cannot starve the guest. */
#define QMP_CMDS_PER_POLL 32

/* Error classes, spelled as QEMU's QapiErrorClass. */
enum qmp_err_class {
    QMP_ERR_GENERIC = 0,      /* "GenericError" */
    QMP_ERR_COMMAND_NOT_FOUND, /* "CommandNotFound" */
    QMP_ERR_DEVICE_NOT_ACTIVE, /* "DeviceNotActive" */
    QMP_ERR_DEVICE_NOT_FOUND,  /* "DeviceNotFound" */
};

struct qmp_error {
    enum qmp_err_class cls;
    char desc[256];
};

__attribute__((format(printf, 3, 4)))
void qmp_error_set(struct qmp_error *e, enum qmp_err_class cls,
                   const char *fmt, ...);
const char *qmp_error_class_name(enum qmp_err_class cls);

/* Argument types checked before a handler runs. */
enum qmp_type {
    QMP_T_INT,  /* JSON integer */
    QMP_T_BOOL,
    QMP_T_STR,
    QMP_T_ANY,
};

struct qmp_arg {
    const char *name;
    enum qmp_type type;
    bool optional;
};

/* A handler gets the validated arguments (an object, never NULL) and
 * returns a new reference to the "return" value, or NULL after filling
 * *err. */
typedef json_t *(*qmp_cmd_fn)(void *opaque, json_t *args,
                              struct qmp_error *err);

struct qmp_command {
    const char *name;
    qmp_cmd_fn fn;
    const struct qmp_arg *args; /* ends with {NULL}; NULL: no arguments */
};

/* What -qmp asked for. */
struct qmp_spec {
    char path[108]; /* sizeof(sun_path) */
    bool wait;      /* wait for a client before the guest starts */
};

/* Parse "unix:PATH,server=on,wait=off" (also "server,nowait", "wait=on";
 * ",," in PATH is a literal comma, as in QEMU). Returns 0, or -1 with a
 * message in err. */
int qmp_parse_spec(const char *spec, struct qmp_spec *out, char *err,
                   size_t errlen);

struct qmp_server_config {
    const struct qmp_spec *spec;
    const struct qmp_command *cmds;
    size_t ncmds;
    void *opaque;        /* passed to every handler */
    const char *version; /* "MAJOR.MINOR.MICRO" for the greeting */
    /* Take SIGINT/SIGTERM/SIGHUP through a signalfd polled with the
     * socket (blocked while the server is open), so that they end the VM
     * cleanly: see qmp_server_signal(). For a single-threaded process. */
    bool catch_signals;
};

struct qmp_server;

/* Create the listening socket. A stale socket file (nobody listening) is
 * replaced; a live one, or a path that is not a socket, is refused. Returns
 * NULL with a message in err. */
struct qmp_server *qmp_server_open(const struct qmp_server_config *cfg,
                                   char *err, size_t errlen);
/* Flush queued output (bounded wait), close, and remove the socket file if
 * it is still ours. NULL is a no-op. */
void qmp_server_close(struct qmp_server *s);

/* Wait up to timeout_ms (-1: forever) for socket activity and handle it:
 * accept a client, read and answer commands, write queued output.
 * Returns 0, or -1 on an unrecoverable error of the listening socket. */
int qmp_server_poll(struct qmp_server *s, int timeout_ms);
/* Called by a handler whose effect happens after qmp_server_poll()
 * returns (a reset, quit): commands the client sent after it wait for the
 * next poll, so they see that effect. */
void qmp_server_yield(struct qmp_server *s);
/* Block until a client is connected (for wait=on) or a caught signal. */
int qmp_server_wait_client(struct qmp_server *s);
bool qmp_server_has_client(struct qmp_server *s);
/* The termination signal received (catch_signals), or 0. */
int qmp_server_signal(struct qmp_server *s);

/* Queue an event {"timestamp", "event": name, "data"} for the client, if
 * one has negotiated capabilities (else it is dropped, as in QEMU). Takes
 * ownership of data (may be NULL). Any thread. */
void qmp_server_event(struct qmp_server *s, const char *name, json_t *data);

/* The greeting's "version" object, also query-version's reply. */
json_t *qmp_version_json(const char *version);

/* A uint64 as a JSON number, even above INT64_MAX, which jansson's
 * integers cannot hold: such values are written by the server as plain
 * digits (e.g. a kernel RIP 18446744071562067968). */
json_t *qmp_u64(uint64_t v);

/* Serialise a message as the server sends it (u64 values expanded, id
 * appended if not NULL), with a trailing newline. Returns a malloc'd
 * string or NULL. Exposed for tests. */
char *qmp_serialize(json_t *msg, json_t *id);

#endif
