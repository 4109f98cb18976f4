/* qmp.c: the QMP protocol server. See qmp.h and docs/qmp.md. */
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Marker for a uint64 above INT64_MAX stored as a JSON string until
 * qmp_serialize() turns it back into digits. \x01 cannot reach our output
 * unescaped from anything else, and only whole string values are
 * rewritten. */
#define U64_MARK "\x01u64:"
#define U64_MARK_JSON "\"\\u0001u64:"

struct qmp_server {
    struct qmp_spec spec;
    const struct qmp_command *cmds;
    size_t ncmds;
    void *opaque;
    json_t *version;

    int listen_fd;
    dev_t sock_dev; /* identity of the socket file we created, so close */
    ino_t sock_ino; /* never removes another process's socket */
    int wake_rd, wake_wr; /* self-pipe: qmp_server_event() from a thread */
    int sig_fd;           /* signalfd (catch_signals) or -1 */
    sigset_t sig_old;     /* the mask to restore at close */
    int signo;            /* a termination signal arrived */

    /* Client state. The lock guards client_fd, negotiated and out*; the
     * input buffer is only touched by the polling thread. */
    pthread_mutex_t lock;
    int client_fd;
    bool negotiated;
    char *out;
    size_t out_len, out_cap;
    char *in;
    size_t in_len;
    bool yield; /* qmp_server_yield(): stop after the current command */
    bool client_eof; /* the client half-closed: answer what it sent, then
                        drop it (echo ... | socat - UNIX-CONNECT:...) */
};

const char *qmp_error_class_name(enum qmp_err_class cls)
{
    switch (cls) {
    case QMP_ERR_COMMAND_NOT_FOUND: return "CommandNotFound";
    case QMP_ERR_DEVICE_NOT_ACTIVE: return "DeviceNotActive";
    case QMP_ERR_DEVICE_NOT_FOUND:  return "DeviceNotFound";
    case QMP_ERR_GENERIC:
    default:                        return "GenericError";
    }
}

void qmp_error_set(struct qmp_error *e, enum qmp_err_class cls,
                   const char *fmt, ...)
{
    va_list ap;

    e->cls = cls;
    va_start(ap, fmt);
    vsnprintf(e->desc, sizeof e->desc, fmt, ap);
    va_end(ap);
}

/* ---- -qmp SPEC ---- */

static int spec_bool(const char *val, size_t len, bool *out)
{
    if ((len == 2 && !memcmp(val, "on", 2)) ||
        (len == 3 && !memcmp(val, "yes", 3)) ||
        (len == 4 && !memcmp(val, "true", 4))) {
        *out = true;
        return 0;
    }
    if ((len == 3 && !memcmp(val, "off", 3)) ||
        (len == 2 && !memcmp(val, "no", 2)) ||
        (len == 5 && !memcmp(val, "false", 5))) {
        *out = false;
        return 0;
    }
    return -1;
}

int qmp_parse_spec(const char *spec, struct qmp_spec *out, char *err,
                   size_t errlen)
{
    const char *p;
    size_t n = 0;
    bool server = false;

    memset(out, 0, sizeof *out);
    out->wait = true; /* QEMU's default for a server socket */
    if (!spec || strncmp(spec, "unix:", 5) != 0) {
        snprintf(err, errlen,
                 "-qmp '%s': only unix sockets are supported "
                 "(unix:PATH,server=on,wait=off)",
                 spec ? spec : "");
        return -1;
    }
    /* The path runs to the first single comma; ",," is a literal comma. */
    for (p = spec + 5; *p; p++) {
        if (*p == ',') {
            if (p[1] != ',')
                break;
            p++;
        }
        if (n + 1 >= sizeof out->path) {
            snprintf(err, errlen, "-qmp: socket path longer than %zu bytes",
                     sizeof out->path - 1);
            return -1;
        }
        out->path[n++] = *p;
    }
    out->path[n] = 0;
    if (n == 0) {
        snprintf(err, errlen, "-qmp '%s': empty socket path", spec);
        return -1;
    }
    while (*p == ',') {
        const char *opt = ++p, *eq, *end;
        size_t klen, vlen;

        end = strchr(opt, ',');
        if (!end)
            end = opt + strlen(opt);
        p = end;
        eq = memchr(opt, '=', (size_t)(end - opt));
        klen = (size_t)((eq ? eq : end) - opt);
        vlen = eq ? (size_t)(end - eq - 1) : 0;
        if (klen == 6 && !memcmp(opt, "server", 6)) {
            if (eq && spec_bool(eq + 1, vlen, &server) < 0)
                goto bad_value;
            if (!eq)
                server = true;
        } else if (klen == 4 && !memcmp(opt, "wait", 4)) {
            if (eq && spec_bool(eq + 1, vlen, &out->wait) < 0)
                goto bad_value;
            if (!eq)
                out->wait = true;
        } else if (klen == 6 && !memcmp(opt, "nowait", 6) && !eq) {
            out->wait = false;
        } else {
            snprintf(err, errlen, "-qmp: unknown option '%.*s' in '%s'",
                     (int)(end - opt), opt, spec);
            return -1;
        }
        continue;
bad_value:
        snprintf(err, errlen, "-qmp: option '%.*s' wants on or off",
                 (int)(end - opt), opt);
        return -1;
    }
    if (!server) {
        snprintf(err, errlen,
                 "-qmp '%s': pinvm only listens: add server=on", spec);
        return -1;
    }
    return 0;
}

/* ---- JSON helpers ---- */

json_t *qmp_u64(uint64_t v)
{
    char buf[32];

    if (v <= INT64_MAX)
        return json_integer((json_int_t)v);
    snprintf(buf, sizeof buf, U64_MARK "%" PRIu64, v);
    return json_string(buf);
}

json_t *qmp_version_json(const char *version)
{
    int major = 0, minor = 0, micro = 0;

    if (version)
        sscanf(version, "%d.%d.%d", &major, &minor, &micro);
    return json_pack("{s:{s:i, s:i, s:i}, s:s}", "qemu", "micro", micro,
                     "minor", minor, "major", major, "package", "pinvm");
}

/* Turn every string value that is exactly U64_MARK + digits back into a
 * number. Scans the JSON text with string/escape state, so only whole
 * string values can match. */
static void expand_u64(char *s)
{
    const size_t mlen = sizeof U64_MARK_JSON - 1;
    char *r = s, *w = s;
    bool in_str = false, esc = false;

    while (*r) {
        if (in_str) {
            if (esc)
                esc = false;
            else if (*r == '\\')
                esc = true;
            else if (*r == '"')
                in_str = false;
            *w++ = *r++;
            continue;
        }
        if (*r == '"' && !strncmp(r, U64_MARK_JSON, mlen)) {
            char *d = r + mlen, *e = d;
            while (*e >= '0' && *e <= '9')
                e++;
            if (e > d && *e == '"') {
                memmove(w, d, (size_t)(e - d));
                w += e - d;
                r = e + 1;
                continue;
            }
        }
        if (*r == '"')
            in_str = true;
        *w++ = *r++;
    }
    *w = 0;
}

char *qmp_serialize(json_t *msg, json_t *id)
{
    char *body, *idtext = NULL, *outp;
    size_t blen, ilen = 0;

    body = json_dumps(msg, 0);
    if (!body)
        return NULL;
    expand_u64(body);
    blen = strlen(body);
    /* The id is the client's value: spliced in after the u64 expansion so
     * nothing it contains can be rewritten. QEMU puts it last too. */
    if (id) {
        idtext = json_dumps(id, JSON_ENCODE_ANY);
        if (!idtext) {
            free(body);
            return NULL;
        }
        ilen = strlen(idtext);
    }
    outp = malloc(blen + ilen + 16);
    if (outp) {
        if (idtext && blen >= 2 && body[blen - 1] == '}') {
            bool empty = blen == 2;
            memcpy(outp, body, blen - 1);
            sprintf(outp + blen - 1, "%s\"id\": %s}\n", empty ? "" : ", ",
                    idtext);
        } else {
            sprintf(outp, "%s\n", body);
        }
    }
    free(body);
    free(idtext);
    return outp;
}

/* ---- socket ---- */

static int set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Is someone listening on the unix socket at path? 1 yes, 0 no (stale),
 * -1 on error other than a refused connection. */
static int socket_is_live(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

    if (fd < 0)
        return -1;
    r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    /* EAGAIN: a listener whose backlog is full is still a listener. */
    if (r == 0 || errno == EAGAIN)
        r = 1;
    else if (errno == ECONNREFUSED || errno == ENOENT)
        r = 0;
    else
        r = -1;
    close(fd);
    return r;
}

static int open_listener(struct qmp_server *s, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, s->spec.path, strlen(s->spec.path) + 1);

    if (lstat(s->spec.path, &st) == 0) {
        int live;
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen,
                     "-qmp: %s exists and is not a socket; not replacing it",
                     s->spec.path);
            return -1;
        }
        live = socket_is_live(&sa);
        if (live != 0) {
            snprintf(err, errlen,
                     live > 0 ? "-qmp: %s is in use by another process "
                                "(a running pinvm?)"
                              : "-qmp: cannot check socket %s: %s",
                     s->spec.path, strerror(errno));
            return -1;
        }
        /* Nobody listens: a socket left by a dead process. */
        if (unlink(s->spec.path) < 0 && errno != ENOENT) {
            snprintf(err, errlen, "-qmp: cannot remove stale socket %s: %s",
                     s->spec.path, strerror(errno));
            return -1;
        }
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "-qmp: socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(err, errlen, "-qmp: cannot bind %s: %s", s->spec.path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    /* Clients beyond the one served queue here until it leaves. */
    if (listen(fd, 8) < 0 || set_nonblock_cloexec(fd) < 0 ||
        stat(s->spec.path, &st) < 0) {
        snprintf(err, errlen, "-qmp: listen on %s: %s", s->spec.path,
                 strerror(errno));
        close(fd);
        unlink(s->spec.path);
        return -1;
    }
    s->sock_dev = st.st_dev;
    s->sock_ino = st.st_ino;
    s->listen_fd = fd;
    return 0;
}

struct qmp_server *qmp_server_open(const struct qmp_server_config *cfg,
                                   char *err, size_t errlen)
{
    struct qmp_server *s = calloc(1, sizeof *s);
    int pfd[2];

    if (!s) {
        snprintf(err, errlen, "-qmp: out of memory");
        return NULL;
    }
    s->spec = *cfg->spec;
    s->cmds = cfg->cmds;
    s->ncmds = cfg->ncmds;
    s->opaque = cfg->opaque;
    s->listen_fd = s->client_fd = s->wake_rd = s->wake_wr = s->sig_fd = -1;
    s->in = malloc(QMP_INPUT_MAX);
    s->version = qmp_version_json(cfg->version);
    if (!s->in || !s->version) {
        snprintf(err, errlen, "-qmp: out of memory");
        goto fail;
    }
    if (pipe(pfd) < 0) {
        snprintf(err, errlen, "-qmp: pipe: %s", strerror(errno));
        goto fail;
    }
    s->wake_rd = pfd[0];
    s->wake_wr = pfd[1];
    if (set_nonblock_cloexec(pfd[0]) < 0 || set_nonblock_cloexec(pfd[1]) < 0) {
        snprintf(err, errlen, "-qmp: pipe: %s", strerror(errno));
        goto fail;
    }
    if (open_listener(s, err, errlen) < 0)
        goto fail;
    if (cfg->catch_signals) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        /* Blocked first, so none is lost between the two calls. */
        if (sigprocmask(SIG_BLOCK, &set, &s->sig_old) == 0) {
            s->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
            if (s->sig_fd < 0)
                sigprocmask(SIG_SETMASK, &s->sig_old, NULL);
        }
        /* Without it the signals keep their default action: still safe. */
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
fail:
    if (s->wake_rd >= 0)
        close(s->wake_rd);
    if (s->wake_wr >= 0)
        close(s->wake_wr);
    json_decref(s->version);
    free(s->in);
    free(s);
    return NULL;
}

/* Write what the socket takes now. Called with the lock held. Returns -1
 * if the client is gone. */
static int flush_locked(struct qmp_server *s)
{
    size_t done = 0;

    while (done < s->out_len) {
        ssize_t w = send(s->client_fd, s->out + done, s->out_len - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        done += (size_t)w;
    }
    memmove(s->out, s->out + done, s->out_len - done);
    s->out_len -= done;
    return 0;
}

static void drop_client_locked(struct qmp_server *s)
{
    if (s->client_fd >= 0)
        close(s->client_fd);
    s->client_fd = -1;
    s->negotiated = false;
    s->client_eof = false;
    s->out_len = 0;
    s->in_len = 0;
}

/* Send what is queued, waiting at most about timeout_ms. Lock held. */
static void flush_bounded_locked(struct qmp_server *s, int timeout_ms)
{
    for (int waited = 0; s->client_fd >= 0 && s->out_len &&
                         waited < timeout_ms; waited += 50) {
        struct pollfd p = {.fd = s->client_fd, .events = POLLOUT};
        if (poll(&p, 1, 50) < 0 || flush_locked(s) < 0)
            break;
    }
}

/* Queue text for the client and try to send it. Lock held. */
static void queue_locked(struct qmp_server *s, const char *text)
{
    size_t n = strlen(text);

    if (s->client_fd < 0)
        return;
    if (s->out_len + n > QMP_OUTPUT_MAX) {
        fprintf(stderr, "pinvm: qmp: client does not read its replies; "
                        "disconnecting it\n");
        drop_client_locked(s);
        return;
    }
    if (s->out_len + n > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        char *p;
        while (cap < s->out_len + n)
            cap *= 2;
        p = realloc(s->out, cap);
        if (!p) {
            drop_client_locked(s);
            return;
        }
        s->out = p;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, text, n);
    s->out_len += n;
    if (flush_locked(s) < 0)
        drop_client_locked(s);
}

/* Send msg (consumed) with the optional id. Polling thread. */
static void send_msg(struct qmp_server *s, json_t *msg, json_t *id)
{
    char *text = msg ? qmp_serialize(msg, id) : NULL;

    json_decref(msg);
    if (!text)
        return;
    pthread_mutex_lock(&s->lock);
    queue_locked(s, text);
    pthread_mutex_unlock(&s->lock);
    free(text);
}

static void send_error(struct qmp_server *s, const struct qmp_error *e,
                       json_t *id)
{
    send_msg(s,
             json_pack("{s:{s:s, s:s}}", "error", "class",
                       qmp_error_class_name(e->cls), "desc", e->desc),
             id);
}

void qmp_server_event(struct qmp_server *s, const char *name, json_t *data)
{
    struct timeval tv;
    json_t *msg;
    char *text;

    if (!s) {
        json_decref(data);
        return;
    }
    gettimeofday(&tv, NULL);
    msg = json_pack("{s:{s:I, s:I}, s:s}", "timestamp", "seconds",
                    (json_int_t)tv.tv_sec, "microseconds",
                    (json_int_t)tv.tv_usec, "event", name);
    if (msg && data)
        json_object_set(msg, "data", data);
    json_decref(data);
    text = msg ? qmp_serialize(msg, NULL) : NULL;
    json_decref(msg);
    if (!text)
        return;
    pthread_mutex_lock(&s->lock);
    if (s->client_fd >= 0 && s->negotiated) {
        queue_locked(s, text);
        if (s->out_len) { /* the poller must wait for POLLOUT too */
            char b = 1;
            ssize_t r = write(s->wake_wr, &b, 1);
            (void)r; /* a full pipe already wakes it */
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(text);
}

/* ---- dispatch ---- */

static const char *type_name(enum qmp_type t)
{
    switch (t) {
    case QMP_T_INT:  return "integer";
    case QMP_T_BOOL: return "boolean";
    case QMP_T_STR:  return "string";
    default:         return "any";
    }
}

static bool type_ok(enum qmp_type t, json_t *v)
{
    switch (t) {
    case QMP_T_INT:  return json_is_integer(v);
    case QMP_T_BOOL: return json_is_boolean(v);
    case QMP_T_STR:  return json_is_string(v);
    default:         return true;
    }
}

/* QEMU's messages for the argument checks of its generated marshallers. */
static int check_args(const struct qmp_command *cmd, json_t *args,
                      struct qmp_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(args, key, v) {
        const struct qmp_arg *a = cmd->args;
        while (a && a->name && strcmp(a->name, key))
            a++;
        if (!a || !a->name) {
            qmp_error_set(err, QMP_ERR_GENERIC, "Parameter '%.64s' is unexpected",
                          key);
            return -1;
        }
        if (!type_ok(a->type, v)) {
            qmp_error_set(err, QMP_ERR_GENERIC,
                          "Invalid parameter type for '%s', expected: %s",
                          a->name, type_name(a->type));
            return -1;
        }
    }
    for (const struct qmp_arg *a = cmd->args; a && a->name; a++) {
        if (!a->optional && !json_object_get(args, a->name)) {
            qmp_error_set(err, QMP_ERR_GENERIC, "Parameter '%s' is missing",
                          a->name);
            return -1;
        }
    }
    return 0;
}

static json_t *do_capabilities(struct qmp_server *s, json_t *args,
                               struct qmp_error *err)
{
    json_t *enable = json_object_get(args, "enable"), *v;
    size_t i;

    if (enable && !json_is_array(enable)) {
        qmp_error_set(err, QMP_ERR_GENERIC,
                      "Invalid parameter type for 'enable', expected: array");
        return NULL;
    }
    /* We offer no capabilities (the greeting's list is empty). */
    json_array_foreach(enable, i, v) {
        qmp_error_set(err, QMP_ERR_GENERIC, "Capability '%.64s' not available",
                      json_is_string(v) ? json_string_value(v) : "?");
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    s->negotiated = true;
    pthread_mutex_unlock(&s->lock);
    return json_object();
}

static void dispatch(struct qmp_server *s, json_t *req)
{
    static const struct qmp_arg caps_args[] = {
        {"enable", QMP_T_ANY, true}, {NULL, 0, false}};
    static const struct qmp_command caps = {"qmp_capabilities", NULL,
                                            caps_args};
    struct qmp_error err = {QMP_ERR_GENERIC, ""};
    const struct qmp_command *cmd = NULL;
    json_t *id, *exec, *args, *ret, *v, *empty = NULL;
    const char *key, *name;
    bool negotiated;

    if (!json_is_object(req)) {
        qmp_error_set(&err, QMP_ERR_GENERIC, "QMP input must be a JSON object");
        send_error(s, &err, NULL);
        return;
    }
    id = json_object_get(req, "id");
    json_object_foreach(req, key, v) {
        if (!strcmp(key, "execute")) {
            if (!json_is_string(v)) {
                qmp_error_set(&err, QMP_ERR_GENERIC,
                              "QMP input member 'execute' must be a string");
                goto fail;
            }
        } else if (!strcmp(key, "arguments")) {
            if (!json_is_object(v)) {
                qmp_error_set(&err, QMP_ERR_GENERIC,
                              "QMP input member 'arguments' must be an object");
                goto fail;
            }
        } else if (strcmp(key, "id")) {
            /* Includes "exec-oob": we do not offer the oob capability. */
            qmp_error_set(&err, QMP_ERR_GENERIC,
                          "QMP input member '%.64s' is unexpected", key);
            goto fail;
        }
    }
    exec = json_object_get(req, "execute");
    if (!exec) {
        qmp_error_set(&err, QMP_ERR_GENERIC,
                      "QMP input lacks member 'execute'");
        goto fail;
    }
    name = json_string_value(exec);
    args = json_object_get(req, "arguments");
    if (!args)
        args = empty = json_object();

    pthread_mutex_lock(&s->lock);
    negotiated = s->negotiated;
    pthread_mutex_unlock(&s->lock);
    if (!strcmp(name, "qmp_capabilities")) {
        if (negotiated) {
            qmp_error_set(&err, QMP_ERR_COMMAND_NOT_FOUND,
                          "Capabilities negotiation is already complete, "
                          "command ignored");
            goto fail;
        }
        cmd = &caps;
    } else if (!negotiated) {
        qmp_error_set(&err, QMP_ERR_COMMAND_NOT_FOUND,
                      "Expecting capabilities negotiation with "
                      "'qmp_capabilities'");
        goto fail;
    } else {
        for (size_t i = 0; i < s->ncmds && !cmd; i++)
            if (!strcmp(s->cmds[i].name, name))
                cmd = &s->cmds[i];
    }
    if (!cmd) {
        qmp_error_set(&err, QMP_ERR_COMMAND_NOT_FOUND,
                      "The command %.64s has not been found", name);
        goto fail;
    }
    if (check_args(cmd, args, &err) < 0)
        goto fail;
    ret = cmd == &caps ? do_capabilities(s, args, &err)
                       : cmd->fn(s->opaque, args, &err);
    if (!ret)
        goto fail;
    send_msg(s, json_pack("{s:o}", "return", ret), id);
    json_decref(empty);
    return;
fail:
    send_error(s, &err, id);
    json_decref(empty);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void consume(struct qmp_server *s, size_t n)
{
    if (n > s->in_len) /* the client was dropped meanwhile (in_len 0) */
        n = s->in_len;
    memmove(s->in, s->in + n, s->in_len - n);
    s->in_len -= n;
}

/* Handle up to QMP_CMDS_PER_POLL complete messages from the input buffer.
 * Returns true if complete input may remain. */
static bool process_input(struct qmp_server *s)
{
    for (int handled = 0; s->client_fd >= 0; handled++) {
        json_error_t je;
        json_t *req;
        size_t skip = 0;

        while (skip < s->in_len && is_space(s->in[skip]))
            skip++;
        consume(s, skip);
        if (s->in_len == 0)
            return false;
        if (handled == QMP_CMDS_PER_POLL)
            return true;
        /* One JSON value from the front; the rest stays for next time. */
        req = json_loadb(s->in, s->in_len,
                         JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
        if (req) {
            size_t used = je.position > 0 && (size_t)je.position <= s->in_len
                              ? (size_t)je.position : s->in_len;
            consume(s, used);
            dispatch(s, req);
            json_decref(req);
            if (s->yield) {
                s->yield = false;
                return true;
            }
            continue;
        }
        /* An error at the very end of the data may just be a message cut
         * by the transport ("tr" of "true", an open string): wait for
         * more. Not jansson's "premature end" alone: it also says that of
         * a NUL byte in the middle. */
        if (je.position >= 0 && (size_t)je.position >= s->in_len) {
            if (s->in_len < QMP_INPUT_MAX)
                return false;
            struct qmp_error err;
            qmp_error_set(&err, QMP_ERR_GENERIC,
                          "QMP input exceeds %d bytes; disconnecting",
                          QMP_INPUT_MAX);
            send_error(s, &err, NULL);
            pthread_mutex_lock(&s->lock);
            flush_locked(s);
            drop_client_locked(s);
            pthread_mutex_unlock(&s->lock);
            return false;
        }
        {
            struct qmp_error err;
            size_t from = je.position > 0 ? (size_t)je.position - 1 : 0;
            char *nl = memchr(s->in + from, '\n', s->in_len - from);

            qmp_error_set(&err, QMP_ERR_GENERIC, "JSON parse error, %.160s",
                          je.text);
            /* Resynchronise at the next line, before replying: a failed
             * send drops the client and empties the buffer. */
            consume(s, nl ? (size_t)(nl - s->in) + 1 : s->in_len);
            send_error(s, &err, NULL);
        }
    }
    return false;
}

static void accept_client(struct qmp_server *s)
{
    int fd = accept(s->listen_fd, NULL, NULL);
    json_t *greeting;

    if (fd < 0)
        return; /* EAGAIN or a client that left already */
    if (set_nonblock_cloexec(fd) < 0) {
        close(fd);
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->client_fd = fd;
    s->negotiated = false;
    s->client_eof = false;
    s->in_len = 0;
    s->out_len = 0;
    pthread_mutex_unlock(&s->lock);
    greeting = json_pack("{s:{s:O, s:[]}}", "QMP", "version", s->version,
                         "capabilities");
    send_msg(s, greeting, NULL);
}

static void read_client(struct qmp_server *s)
{
    for (;;) {
        ssize_t r;

        if (s->in_len == QMP_INPUT_MAX)
            return; /* process_input() decides */
        r = recv(s->client_fd, s->in + s->in_len, QMP_INPUT_MAX - s->in_len,
                 MSG_DONTWAIT);
        if (r > 0) {
            s->in_len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r == 0) {
            /* EOF: it may still read; see finish_client(). */
            s->client_eof = true;
            return;
        }
        /* An error: the client is gone, maybe mid-command. */
        pthread_mutex_lock(&s->lock);
        drop_client_locked(s);
        pthread_mutex_unlock(&s->lock);
        return;
    }
}

/* After EOF and the last complete command: send the replies (bounded, the
 * client may have left for good) and drop the client with the partial
 * input it left, which is never executed. */
static void finish_client(struct qmp_server *s)
{
    pthread_mutex_lock(&s->lock);
    flush_bounded_locked(s, 500);
    drop_client_locked(s);
    pthread_mutex_unlock(&s->lock);
}

int qmp_server_signal(struct qmp_server *s)
{
    return s->signo;
}

int qmp_server_poll(struct qmp_server *s, int timeout_ms)
{
    struct pollfd pfd[3];
    bool busy;
    int n;

    /* Complete input left from last time: don't block. */
    busy = s->client_fd >= 0 && s->in_len > 0 && process_input(s);
    if (busy)
        timeout_ms = 0;
    else if (s->client_fd >= 0 && s->client_eof)
        finish_client(s);

    pfd[0].fd = s->wake_rd;
    pfd[0].events = POLLIN;
    pthread_mutex_lock(&s->lock);
    if (s->client_fd >= 0) {
        pfd[1].fd = s->client_fd;
        /* Backpressure: no new commands while replies are stuck. */
        pfd[1].events = (s->out_len ? POLLOUT : 0) |
                        (s->out_len < QMP_OUTPUT_MAX / 2 && !busy ? POLLIN : 0);
    } else {
        pfd[1].fd = s->listen_fd;
        pfd[1].events = POLLIN;
    }
    pthread_mutex_unlock(&s->lock);
    pfd[2].fd = s->sig_fd; /* poll() ignores a negative fd */
    pfd[2].events = POLLIN;
    pfd[2].revents = 0;

    n = poll(pfd, 3, s->signo ? 0 : timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (pfd[2].revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(s->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
            s->signo = (int)si.ssi_signo;
    }
    if (pfd[0].revents & POLLIN) {
        char buf[64];
        while (read(s->wake_rd, buf, sizeof buf) > 0)
            ;
    }
    if (pfd[1].fd == s->listen_fd) {
        if (pfd[1].revents & (POLLERR | POLLNVAL))
            return -1;
        if (pfd[1].revents & POLLIN)
            accept_client(s);
        return 0;
    }
    if (pfd[1].revents & POLLOUT) {
        pthread_mutex_lock(&s->lock);
        if (s->client_fd >= 0 && flush_locked(s) < 0)
            drop_client_locked(s);
        pthread_mutex_unlock(&s->lock);
    }
    if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (s->client_fd >= 0 && !s->client_eof)
            read_client(s);
        if (s->client_fd >= 0 && !process_input(s) && s->client_eof)
            finish_client(s);
    }
    return 0;
}

void qmp_server_yield(struct qmp_server *s)
{
    s->yield = true;
}

bool qmp_server_has_client(struct qmp_server *s)
{
    bool r;

    pthread_mutex_lock(&s->lock);
    r = s->client_fd >= 0;
    pthread_mutex_unlock(&s->lock);
    return r;
}

int qmp_server_wait_client(struct qmp_server *s)
{
    while (!qmp_server_has_client(s) && !s->signo)
        if (qmp_server_poll(s, -1) < 0)
            return -1;
    return 0;
}

void qmp_server_close(struct qmp_server *s)
{
    struct stat st;

    if (!s)
        return;
    /* Let the last replies and events (SHUTDOWN) reach the client, within
     * a bounded time: a client that stopped reading cannot hold us. */
    pthread_mutex_lock(&s->lock);
    flush_bounded_locked(s, 1000);
    drop_client_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        if (lstat(s->spec.path, &st) == 0 && st.st_dev == s->sock_dev &&
            st.st_ino == s->sock_ino)
            unlink(s->spec.path);
    }
    close(s->wake_rd);
    close(s->wake_wr);
    if (s->sig_fd >= 0) {
        close(s->sig_fd);
        sigprocmask(SIG_SETMASK, &s->sig_old, NULL);
    }
    pthread_mutex_destroy(&s->lock);
    json_decref(s->version);
    free(s->in);
    free(s->out);
    free(s);
}
