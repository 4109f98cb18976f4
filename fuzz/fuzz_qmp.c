/* fuzz_qmp.c: libFuzzer harness for the control socket: the QMP framing,
 * the JSON parsing and the command dispatch of src/ctl, on two real vCPUs
 * (cpu_init'ed, so pin commands and register queries touch real state).
 *
 * src/ctl has no byte-level entry point (process_input() is static in
 * qmp.c), so each input goes through a real Unix socket: ctl_open() on a
 * per-process path, a client connects, writes the input, shuts down its
 * writing side, and the server is polled until it has answered and dropped
 * the client (or a bounded number of polls). The answers are read and
 * discarded. Invariants: no crash or sanitizer report, the server never
 * hangs, and a vCPU's pins stay inside the allowed masks whatever the
 * commands (the host is held to them too: docs/cr-pinning.md). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "ctl/ctl.h"
#include "pin/audit.h"

#define NCPUS 2
#define RAM_SIZE (1u << 20)

static struct {
    struct cpu cpu[NCPUS];
    struct pin_audit audit;
    struct pv_log log;
    struct cpu_bus bus;
    uint8_t *ram, *code_pages;
} F;

static struct cpu *fz_cpu(void *o, int i) { (void)o; return &F.cpu[i]; }
static struct pin_audit *fz_audit(void *o) { (void)o; return &F.audit; }
static int fz_reset(void *o)
{
    (void)o;
    for (int i = 0; i < NCPUS; i++)
        cpu_reset(&F.cpu[i]);
    return 0;
}

static uint32_t bus_in(void *o, struct cpu *c, uint16_t p, int s)
{ (void)o; (void)c; (void)p; (void)s; return ~0u; }
static void bus_out(void *o, struct cpu *c, uint16_t p, int s, uint32_t v)
{ (void)o; (void)c; (void)p; (void)s; (void)v; }
static uint64_t mmio_rd(void *o, struct cpu *c, uint64_t a, int s)
{ (void)o; (void)c; (void)a; (void)s; return ~0ull; }
static void mmio_wr(void *o, struct cpu *c, uint64_t a, int s, uint64_t v)
{ (void)o; (void)c; (void)a; (void)s; (void)v; }

static void setup(void)
{
    F.ram = calloc(1, RAM_SIZE);
    F.code_pages = calloc(RAM_SIZE >> 12, 1);
    F.bus = (struct cpu_bus){ .io_in = bus_in, .io_out = bus_out,
                              .mmio_read = mmio_rd, .mmio_write = mmio_wr };
    F.log.mask = 0;
    F.log.out = stderr;
    if (!F.ram || !F.code_pages)
        abort();
    for (int i = 0; i < NCPUS; i++) {
        if (cpu_init(&F.cpu[i], i, F.ram, RAM_SIZE, F.code_pages, &F.bus, &F.log))
            abort();
        cpu_reset(&F.cpu[i]);
    }
    pin_audit_init(&F.audit, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    static char path[108], spec[160];
    if (!ready) {
        setup();
        snprintf(path, sizeof path, "/tmp/pinvm-fuzz-qmp-%d.sock", (int)getpid());
        snprintf(spec, sizeof spec, "unix:%s,server=on,wait=off", path);
        ready = true;
    }
    if (size > 65536)
        return 0;
    char err[256];
    struct ctl_backend be = { .opaque = &F, .ncpus = NCPUS, .cpu = fz_cpu,
                              .audit = fz_audit, .reset = fz_reset };
    struct ctl *ctl = ctl_open(&be, spec, false, "0.1.0", err, sizeof err);
    if (!ctl) {
        fprintf(stderr, "fuzz_qmp: %s\n", err);
        abort();
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        abort();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t off = 0;
    bool eof = false;
    char buf[65536];
    for (int round = 0; round < 200 && !eof; round++) {
        if (off < size) {
            ssize_t w = write(fd, data + off, size - off);
            if (w > 0)
                off += (size_t)w;
            if (off == size)
                shutdown(fd, SHUT_WR);
        } else if (size == 0 && round == 0) {
            shutdown(fd, SHUT_WR);
        }
        if (ctl_poll(ctl, 0))
            break;                 /* quit */
        for (;;) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r == 0)
                eof = true;
            if (r <= 0)
                break;
        }
    }
    close(fd);
    ctl_close(ctl, false, NULL);
    for (int i = 0; i < NCPUS; i++)
        if ((F.cpu[i].pin.cr0_pinned & ~CRPIN_CR0_ALLOWED) ||
            (F.cpu[i].pin.cr4_pinned & ~CRPIN_CR4_ALLOWED))
            abort();               /* a pin outside the allowed mask */
    return 0;
}
