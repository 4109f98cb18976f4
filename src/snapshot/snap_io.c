/* snap_io.c: URIs and the byte transports of snapshots: a file written
 * atomically (temporary name, fsync, rename), a unix socket, TCP. */
#define _GNU_SOURCE /* accept4 */
#include "snap_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "util/errbuf.h"

#define OUT_BUF (1u << 20)

int snap_uri_parse(const char *s, struct snap_uri *u, char *err,
                   size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (!strncmp(s, "file:", 5) || !strncmp(s, "unix:", 5)) {
        u->kind = s[0] == 'f' ? SNAP_URI_FILE : SNAP_URI_UNIX;
        const char *p = s + 5;
        if (!*p)
            return errbuf_fail(err, errlen, "%s: empty path", s);
        size_t max = u->kind == SNAP_URI_UNIX ? sizeof(((struct sockaddr_un *)0)->sun_path)
                                              : sizeof u->path;
        if (strlen(p) >= max)
            return errbuf_fail(err, errlen, "%s: path too long", s);
        strcpy(u->path, p);
        return 0;
    }
    if (!strncmp(s, "tcp:", 4)) {
        const char *h = s + 4, *colon = strrchr(h, ':');
        char *end;
        if (!colon || colon == h || (size_t)(colon - h) >= sizeof u->host)
            return errbuf_fail(err, errlen, "%s: expected tcp:HOST:PORT", s);
        memcpy(u->host, h, (size_t)(colon - h));
        errno = 0;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (!colon[1] || *end || errno || port == 0 || port > 65535)
            return errbuf_fail(err, errlen, "%s: invalid port '%s'", s, colon + 1);
        u->port = (uint16_t)port;
        struct in_addr a;
        if (strcmp(u->host, "localhost") && inet_pton(AF_INET, u->host, &a) != 1)
            return errbuf_fail(err, errlen, "%s: host must be an IPv4 address or localhost", s);
        u->kind = SNAP_URI_TCP;
        return 0;
    }
    return errbuf_fail(err, errlen, "%s: unsupported URI (use file:PATH, unix:PATH or tcp:HOST:PORT)", s);
}

static int tcp_addr(const struct snap_uri *u, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(u->port);
    return inet_pton(AF_INET, strcmp(u->host, "localhost") ? u->host : "127.0.0.1",
                     &sa->sin_addr) == 1 ? 0 : -1;
}

static void unix_addr(const struct snap_uri *u, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, u->path, strlen(u->path)); /* checked by the parser */
}

/* ---- output ---- */

int snap_out_open(struct snap_out *o, const char *uri, char *err,
                  size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (snap_uri_parse(uri, &o->uri, err, errlen) < 0)
        return -1;
    o->buf = malloc(OUT_BUF);
    if (!o->buf)
        return errbuf_fail(err, errlen, "out of memory");
    o->cap = OUT_BUF;
    const struct snap_uri *u = &o->uri;
    if (u->kind == SNAP_URI_FILE) {
        /* Same directory as the target, so that rename() is atomic. */
        char dir[sizeof u->path], base[sizeof u->path];
        strcpy(dir, u->path);
        strcpy(base, u->path);
        snprintf(o->tmp, sizeof o->tmp, "%s/.%s.tmp-%ld", dirname(dir),
                 basename(base), (long)getpid());
        o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (o->fd < 0) {
            int e = errno;
            o->tmp[0] = '\0';
            free(o->buf);
            return errbuf_fail(err, errlen, "%s: cannot create a temporary file in its directory: %s",
                        u->path, strerror(e));
        }
        return 0;
    }
    int fd;
    if (u->kind == SNAP_URI_UNIX) {
        struct sockaddr_un sa;
        unix_addr(u, &sa);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            int e = errno;
            close(fd);
            free(o->buf);
            return errbuf_fail(err, errlen, "%s: cannot connect: %s", uri, strerror(e));
        }
    } else {
        struct sockaddr_in sa;
        tcp_addr(u, &sa);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            int e = errno;
            close(fd);
            free(o->buf);
            return errbuf_fail(err, errlen, "%s: cannot connect: %s", uri, strerror(e));
        }
    }
    if (fd < 0) {
        free(o->buf);
        return errbuf_fail(err, errlen, "%s: socket: %s", uri, strerror(errno));
    }
    /* A receiver that stops reading, or never answers, must not hang the
     * monitor: the migration fails instead. */
    struct timeval tv = {SNAP_SOCKET_TIMEOUT, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    o->fd = fd;
    o->is_socket = true;
    return 0;
}

static void flush(struct snap_out *o)
{
    size_t off = 0;
    while (!o->error && off < o->len) {
        /* MSG_NOSIGNAL: a closed receiver is EPIPE, not SIGPIPE. */
        ssize_t n = o->is_socket ? send(o->fd, o->buf + off, o->len - off, MSG_NOSIGNAL)
                                 : write(o->fd, o->buf + off, o->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            o->error = errno;
        } else {
            off += (size_t)n;
        }
    }
    o->len = 0;
}

void snap_out_write(struct snap_out *o, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (o->error)
        return;
    o->written += n;
    while (n && !o->error) {
        if (o->len == 0 && n >= o->cap) { /* big block: no copy */
            size_t save_len = o->len;
            uint8_t *save = o->buf;
            o->buf = (uint8_t *)b;
            o->len = n;
            flush(o);
            o->buf = save;
            o->len = save_len;
            return;
        }
        size_t k = o->cap - o->len < n ? o->cap - o->len : n;
        memcpy(o->buf + o->len, b, k);
        o->len += k;
        b += k;
        n -= k;
        if (o->len == o->cap)
            flush(o);
    }
}

void snap_out_abort(struct snap_out *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    if (o->tmp[0])
        unlink(o->tmp);
    o->tmp[0] = '\0';
    free(o->buf);
    o->buf = NULL;
}

int snap_out_finish(struct snap_out *o, char *err, size_t errlen)
{
    flush(o);
    if (o->error) {
        int e = o->error;
        snap_out_abort(o);
        return errbuf_fail(err, errlen, "%s: write failed: %s",
                    o->uri.kind == SNAP_URI_FILE ? o->uri.path : "socket", strerror(e));
    }
    if (o->uri.kind == SNAP_URI_FILE) {
        /* Data on disk before the name points at it. */
        if (fsync(o->fd) < 0 || close(o->fd) < 0) {
            int e = errno;
            o->fd = -1;
            snap_out_abort(o);
            return errbuf_fail(err, errlen, "%s: fsync failed: %s", o->uri.path, strerror(e));
        }
        o->fd = -1;
        if (rename(o->tmp, o->uri.path) < 0) {
            int e = errno;
            snap_out_abort(o);
            return errbuf_fail(err, errlen, "%s: rename failed: %s", o->uri.path, strerror(e));
        }
        o->tmp[0] = '\0';
        char dir[sizeof o->uri.path];
        strcpy(dir, o->uri.path);
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { /* make the rename durable */
            fsync(dfd);
            close(dfd);
        }
    } else {
        shutdown(o->fd, SHUT_WR);
        /* The receiver answers one SNAP_ACK byte once it has loaded the
         * stream; anything else (it closed) means it refused it. */
        uint8_t ack = 0;
        ssize_t n;
        do
            n = read(o->fd, &ack, 1);
        while (n < 0 && errno == EINTR);
        close(o->fd);
        o->fd = -1;
        if (n != 1 || ack != SNAP_ACK) {
            free(o->buf);
            o->buf = NULL;
            return errbuf_fail(err, errlen, "the destination did not accept the stream (see its error output)");
        }
    }
    free(o->buf);
    o->buf = NULL;
    return 0;
}

/* ---- input ---- */

static int listen_accept(const struct snap_uri *u, const char *uri, char *err,
                         size_t errlen)
{
    int ls, fd, one = 1;
    if (u->kind == SNAP_URI_UNIX) {
        struct sockaddr_un sa;
        struct stat st;
        unix_addr(u, &sa);
        /* A stale socket file may be replaced, anything else not. */
        if (lstat(u->path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                return errbuf_fail(err, errlen, "%s: exists and is not a socket", uri);
            unlink(u->path);
        }
        ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            listen(ls, 1) < 0)
            goto bad;
    } else {
        struct sockaddr_in sa;
        tcp_addr(u, &sa);
        ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (ls < 0 ||
            setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1) < 0)
            goto bad;
    }
    /* Scripts wait for this line, as for QEMU's. */
    fprintf(stderr, "pinvm: waiting for migration on %s\n", uri);
    do
        fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        goto bad;
    close(ls);
    if (u->kind == SNAP_URI_UNIX)
        unlink(u->path);
    /* A sender that stalls mid-stream is a failed load, not a hang. */
    struct timeval tv = {SNAP_SOCKET_TIMEOUT, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
bad:;
    int e = errno;
    if (ls >= 0)
        close(ls);
    return errbuf_fail(err, errlen, "%s: cannot listen: %s", uri, strerror(e));
}

int snap_in_open(struct snap_in *in, const char *uri, char *err, size_t errlen)
{
    struct snap_uri u;
    memset(in, 0, sizeof *in);
    in->fd = -1;
    if (snap_uri_parse(uri, &u, err, errlen) < 0)
        return -1;
    if (u.kind == SNAP_URI_FILE) {
        struct stat st;
        in->is_file = true;
        in->fd = open(u.path, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0)
            return errbuf_fail(err, errlen, "%s: %s", u.path, strerror(errno));
        if (fstat(in->fd, &st) == 0 && !S_ISREG(st.st_mode)) {
            close(in->fd);
            in->fd = -1;
            return errbuf_fail(err, errlen, "%s: not a regular file", u.path);
        }
        return 0;
    }
    in->fd = listen_accept(&u, uri, err, errlen);
    return in->fd < 0 ? -1 : 0;
}

void snap_in_ack(struct snap_in *in)
{
    const uint8_t ack = SNAP_ACK;
    if (in->fd >= 0 && !in->is_file)
        (void)!write(in->fd, &ack, 1);
}

void snap_in_close(struct snap_in *in)
{
    if (in->fd >= 0)
        close(in->fd);
    in->fd = -1;
}

int snap_in_read(struct snap_in *in, void *p, size_t n, int *e)
{
    uint8_t *b = p;
    size_t got = 0;
    *e = 0;
    if (in->fd < 0) {
        size_t left = in->memlen - in->mempos;
        size_t k = left < n ? left : n;
        if (k)
            memcpy(b, in->mem + in->mempos, k);
        in->mempos += k;
        in->consumed += k;
        return k == n ? 0 : (k == 0 && n ? 1 : -1);
    }
    while (got < n) {
        ssize_t r = read(in->fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *e = r < 0 ? errno : 0;
            in->consumed += got;
            return got == 0 && r == 0 ? 1 : -1;
        }
        got += (size_t)r;
    }
    in->consumed += got;
    return 0;
}
