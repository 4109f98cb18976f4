/* test_snap_unit.c: the snapshot layer without a machine: CRC-32C, URIs,
 * the atomic file writer, and snap_parse() on hand-built streams (built
 * and run by tests/snapshot/run.sh against $BUILD/libpinvm.a). */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>
#include <zstd.h>

#include "cpu/cpu.h"
#include "snapshot/crc32c.h"
#include "snapshot/snap_io.h"
#include "snapshot/snapshot.h"
#include "unit.h"

#define CPU_REC 805
#define RAM 0x10000u

static uint32_t crc_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

TEST(crc32c_vectors)
{
    uint8_t buf[1000];
    CHECK_EQ(crc32c(0, "123456789", 9), 0xe3069283u);
    CHECK_EQ(crc32c(0, "", 0), 0);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    /* odd offsets and lengths: the unaligned head and tail paths */
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n < 40; n += 3)
            CHECK_EQ(crc32c(0, buf + off, n), crc_ref(buf + off, n));
    CHECK_EQ(crc32c(crc32c(0, buf, 333), buf + 333, 667), crc32c(0, buf, 1000));
}

TEST(uris)
{
    struct snap_uri u;
    char err[256];
    CHECK(snap_uri_parse("file:/a/b", &u, err, sizeof err) == 0 &&
          u.kind == SNAP_URI_FILE && !strcmp(u.path, "/a/b"));
    CHECK(snap_uri_parse("unix:/s", &u, err, sizeof err) == 0 && u.kind == SNAP_URI_UNIX);
    CHECK(snap_uri_parse("tcp:127.0.0.1:4444", &u, err, sizeof err) == 0 &&
          u.kind == SNAP_URI_TCP && u.port == 4444 && !strcmp(u.host, "127.0.0.1"));
    CHECK(snap_uri_parse("tcp:localhost:1", &u, err, sizeof err) == 0);
    const char *bad[] = {"file:", "unix:", "ftp:x", "tcp:1.2.3.4", "tcp::80",
                         "tcp:1.2.3.4:0", "tcp:1.2.3.4:65536", "tcp:1.2.3.4:8x",
                         "tcp:example.com:80", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(snap_uri_parse(bad[i], &u, err, sizeof err) < 0 && err[0]);
    }
    char longp[200] = "unix:";
    memset(longp + 5, 'a', 150);
    CHECK(snap_uri_parse(longp, &u, err, sizeof err) < 0 && strstr(err, "too long"));
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
    if (d)
        closedir(d);
    return n;
}

TEST(atomic_file)
{
    char dir[] = "/tmp/snapunit-XXXXXX", uri[256], path[128], err[256];
    struct snap_out o;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/s.snap", dir);
    snprintf(uri, sizeof uri, "file:%s", path);
    /* given up: nothing left, not even the temporary file */
    CHECK(snap_out_open(&o, uri, err, sizeof err) == 0);
    snap_out_write(&o, "abc", 3);
    CHECK_EQ(count_files(dir), 1); /* only the temporary */
    CHECK(access(path, F_OK) != 0);
    snap_out_abort(&o);
    CHECK_EQ(count_files(dir), 0);
    /* finished: the target only */
    CHECK(snap_out_open(&o, uri, err, sizeof err) == 0);
    snap_out_write(&o, "abc", 3);
    CHECK(snap_out_finish(&o, err, sizeof err) == 0);
    CHECK_EQ(count_files(dir), 1);
    CHECK(access(path, R_OK) == 0);
    unlink(path);
    /* a directory that does not exist */
    snprintf(uri, sizeof uri, "file:%s/no/s.snap", dir);
    CHECK(snap_out_open(&o, uri, err, sizeof err) < 0 && strstr(err, "temporary"));
    rmdir(dir);
}

/* ---- hand-built streams ---- */

struct sb {
    uint8_t b[65536];
    size_t n;
};

static void put(struct sb *s, const void *p, size_t n)
{
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

static void put32(struct sb *s, uint32_t v) { put(s, &v, 4); }
static void put64(struct sb *s, uint64_t v) { put(s, &v, 8); }

static void section(struct sb *s, uint32_t id, const void *p, size_t n)
{
    uint8_t hdr[16];
    uint32_t ver = 1;
    uint64_t len = n;
    memcpy(hdr, &id, 4);
    memcpy(hdr + 4, &ver, 4);
    memcpy(hdr + 8, &len, 8);
    put(s, hdr, 16);
    put(s, p, n);
    put32(s, crc32c(crc32c(0, hdr, 16), p, n));
}

/* A 1-vCPU, 64 KiB stream: page 3 holds a pattern, CR4.SMEP pinned.
 * skip: a section id to leave out. */
static void build(struct sb *s, uint32_t skip)
{
    struct sb p;
    uint8_t page[4096];
    int nsec = 0;
    s->n = 0;
    put(s, SNAP_MAGIC, 8);
    put32(s, SNAP_FORMAT_VERSION);
    put32(s, crc32c(0, s->b, 12));
#define SEC(id) do { if ((id) != skip) { section(s, id, p.b, p.n); nsec++; } } while (0)
    p.n = 0; put64(&p, RAM); put32(&p, 1); put(&p, "\1\0", 2); SEC(SNAP_SEC_CONFIG);
    p.n = 0; put64(&p, 5); put64(&p, 0); put64(&p, 0); put(&p, "\0", 1); SEC(SNAP_SEC_MACHINE);
    p.n = 0; put32(&p, 1); memset(p.b + 4, 0, CPU_REC); p.n += CPU_REC;
    p.b[4 + 4 + 128] = 0x42; /* RIP low byte */
    p.b[4 + 743 + 2] = 0x03;  /* SMBASE 0x30000: inside SMRAM */
    SEC(SNAP_SEC_CPU);
    p.n = 0; put32(&p, 1); put32(&p, 0); put64(&p, CRPIN_CR0_WP); put64(&p, CRPIN_CR4_SMEP);
    SEC(SNAP_SEC_PINS);
    p.n = 0; SEC(SNAP_SEC_DEVICES);
    for (int i = 0; i < 4096; i++)
        page[i] = (uint8_t)(i ^ 0x5a);
    p.n = 0; put64(&p, 0); put32(&p, 16); put32(&p, 4096);
    memset(p.b + p.n, 0, 32); p.b[p.n] = 1 << 3; p.n += 32;
    p.n += ZSTD_compress(p.b + p.n, sizeof p.b - p.n, page, 4096, 1);
    SEC(SNAP_SEC_RAM);
#undef SEC
    p.n = 0; put32(&p, (uint32_t)nsec); put64(&p, skip == SNAP_SEC_RAM ? 0 : 1);
    section(s, SNAP_SEC_END, p.b, p.n);
}

static int parse(const struct sb *s, uint8_t *ram, struct cpu *c, char *err,
                 size_t errlen)
{
    struct cpu *cpus[1] = {c};
    struct snap_in in = {.fd = -1, .mem = s->b, .memlen = s->n};
    struct snap_target t = {.ram_size = RAM, .ncpus = 1, .cr_pin = true,
                            .ram = ram, .cpus = cpus};
    memset(ram, 0, RAM);
    int rc = snap_parse(&in, &t, err, errlen);
    free(t.devices);
    return rc;
}

TEST(parse_hand_built)
{
    static struct sb s;
    static uint8_t ram[RAM];
    struct cpu *c = calloc(1, sizeof *c);
    char err[512] = "";

    build(&s, 0);
    CHECK(parse(&s, ram, c, err, sizeof err) == 0);
    if (err[0])
        printf("  %s\n", err);
    CHECK_EQ(crpin_mask(&c->pin, 4), CRPIN_CR4_SMEP);
    CHECK_EQ(crpin_mask(&c->pin, 0), CRPIN_CR0_WP);
    CHECK_EQ(c->rip, 0x42);
    CHECK_EQ(ram[3 * 4096 + 1], 1 ^ 0x5a);
    CHECK_EQ(ram[2 * 4096 + 1], 0);

    /* no PINS: refused, and no pin survives from before */
    build(&s, SNAP_SEC_PINS);
    CHECK(parse(&s, ram, c, err, sizeof err) < 0 && strstr(err, "no PINS section"));
    CHECK_EQ(crpin_mask(&c->pin, 4), 0);

    /* one flipped bit anywhere after the header: refused */
    build(&s, 0);
    for (size_t i = 16; i < s.n; i += 97) {
        s.b[i] ^= 4;
        CHECK(parse(&s, ram, c, err, sizeof err) < 0);
        s.b[i] ^= 4;
    }
    /* every truncation: refused */
    size_t full = s.n;
    for (s.n = 0; s.n < full; s.n += 13)
        CHECK(parse(&s, ram, c, err, sizeof err) < 0);
    s.n = full;
    err[0] = 0;
    CHECK(parse(&s, ram, c, err, sizeof err) == 0);
    if (err[0])
        printf("  %s\n", err);
    free(c);
}

static const struct unit_test tests[] = {
    T(crc32c_vectors),
    T(uris),
    T(atomic_file),
    T(parse_hand_built),
};

UNIT_MAIN(tests)
