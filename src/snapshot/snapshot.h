/* snapshot.h: snapshots and migration (docs/snapshot-format.md).
 *
 * One stream format for a snapshot file and a live migration: a header,
 * then checksummed sections (config, machine, CPU, pins, devices, RAM
 * chunks, end). The writer needs no seeking, so the same bytes go to a
 * file (written under a temporary name, fsync'd, renamed) or a socket.
 * The reader checks every length, checksum and version before using it
 * and refuses a stream without a pins section: a guest that would run
 * without its CR pins is never started.
 */
#ifndef PINVM_SNAPSHOT_H
#define PINVM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct machine;
struct cpu;

#define SNAP_MAGIC          "PINVMSNP"
#define SNAP_FORMAT_VERSION 1u

enum snap_section_id {
    SNAP_SEC_CONFIG = 1,
    SNAP_SEC_MACHINE = 2,
    SNAP_SEC_CPU = 3,
    SNAP_SEC_PINS = 4,
    SNAP_SEC_DEVICES = 5,
    SNAP_SEC_RAM = 6,
    SNAP_SEC_END = 0x454e44, /* "END" */
};

#define SNAP_PAGE          4096u
#define SNAP_CHUNK_PAGES   256u      /* RAM section: up to 1 MiB of RAM */
#define SNAP_SECTION_MAX   (16u << 20) /* any section's payload */

/* Where a snapshot goes or comes from: file:PATH, unix:PATH,
 * tcp:HOST:PORT (HOST an IPv4 address or "localhost"). */
enum snap_uri_kind { SNAP_URI_FILE, SNAP_URI_UNIX, SNAP_URI_TCP };
struct snap_uri {
    enum snap_uri_kind kind;
    char path[4096];  /* file or socket path */
    char host[64];
    uint16_t port;
};
int snap_uri_parse(const char *s, struct snap_uri *u, char *err,
                   size_t errlen);

/* Figures of a save (QEMU's query-migrate "ram" stats). */
struct snap_stats {
    uint64_t ram_total;       /* guest RAM bytes */
    uint64_t ram_normal;      /* pages sent */
    uint64_t ram_duplicate;   /* zero pages skipped */
    uint64_t transferred;     /* stream bytes written */
    uint64_t total_time_ms;
};

/* Save the machine (stopped: between slices) to uri. 0, or -1 with a
 * one-line message; a file target then does not exist under its name. */
int snapshot_save(struct machine *m, const char *uri, struct snap_stats *st,
                  char *err, size_t errlen);

/* Replace the state of a started machine (vCPUs created, kernel loaded)
 * with the snapshot at uri (for a socket: listen, accept one sender).
 * 0, or -1 with a message: the machine must then not run. */
int snapshot_load(struct machine *m, const char *uri, char *err,
                  size_t errlen);

/* ---- the reader, exposed for the fuzz harness and tests ---- */

/* A byte source: an fd, or a memory buffer (fd < 0). */
struct snap_in {
    int fd;
    bool is_file;
    const uint8_t *mem;
    size_t memlen, mempos;
    uint64_t consumed;
};

/* What the parser fills: RAM in place, vCPU fields into cpus[] (no
 * derived state: the caller calls cpu_state_changed()), the rest here. */
struct snap_target {
    /* the destination's configuration, checked against CONFIG */
    uint64_t ram_size;
    int ncpus;
    bool cr_pin, pinvm_sig;
    uint8_t *ram;          /* ram_size bytes, all zero on entry */
    struct cpu **cpus;     /* ncpus of them */
    /* out */
    uint8_t *devices;      /* malloc'd device blob (caller frees) */
    size_t devices_len;
    uint64_t vclock, resets, icount_at_boot;
    bool pic_offered;
    uint64_t ram_pages;    /* nonzero pages loaded */
};

/* Parse a whole stream into t. 0, or -1 with a message naming the
 * problem. Never reads or writes outside the buffers t describes. */
int snap_parse(struct snap_in *in, struct snap_target *t, char *err,
               size_t errlen);

#endif
