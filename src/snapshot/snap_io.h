/* snap_io.h: byte transport of snapshots (private to src/snapshot). */
#ifndef PINVM_SNAPSHOT_IO_H
#define PINVM_SNAPSHOT_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

/* Seconds a socket write, or the wait for the receiver's answer, may
 * block before the migration fails. */
#define SNAP_SOCKET_TIMEOUT 120

/* A buffered sink writing to fd. The first error latches: later writes
 * are dropped and snap_out_finish() reports it. */
struct snap_out {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint64_t written;
    int error; /* errno of the first failure, 0 if none */
    bool is_socket;
    /* file targets: written as tmp, renamed to path on success */
    struct snap_uri uri;
    char tmp[4200];
};

/* Open the destination of a save. 0, or -1 with a message. */
int snap_out_open(struct snap_out *o, const char *uri, char *err,
                  size_t errlen);
void snap_out_write(struct snap_out *o, const void *p, size_t n);
/* Flush, and for a file fsync + rename (+ fsync of the directory).
 * 0, or -1 with a message; on failure the temporary file is removed. */
int snap_out_finish(struct snap_out *o, char *err, size_t errlen);
/* Give up: close, remove the temporary file. */
void snap_out_abort(struct snap_out *o);

/* Open the source of a load (a socket: listen and accept one sender).
 * Fills in->fd. 0, or -1 with a message. */
int snap_in_open(struct snap_in *in, const char *uri, char *err,
                 size_t errlen);
void snap_in_close(struct snap_in *in);
/* A socket source: tell the sender the stream was loaded. */
#define SNAP_ACK 0x06
void snap_in_ack(struct snap_in *in);
/* Read exactly n bytes. 0; 1 at a clean end of stream before the first
 * byte; -1 on a short read or an error (errno in *e, 0 for EOF). */
int snap_in_read(struct snap_in *in, void *p, size_t n, int *e);

#endif
