/* fuzz_snapshot.c: libFuzzer harness for the snapshot reader (snap_parse
 * in src/snapshot/snapshot.c): every input is a stream read from memory
 * into a 4 MiB, 2-vCPU target. Invariants: no crash or sanitizer report,
 * no read or write outside the target's buffers, and when a stream is
 * accepted the vCPUs' pins are inside the pinnable masks. Seeds
 * (fuzz/corpus/snapshot) are real snapshots of a 4 MiB, 2-vCPU
 * snap_pin guest: tests/snapshot/make_fuzz_seeds.sh.
 *
 * Each input is parsed twice: as is, and with every checksum it frames
 * recomputed, so that mutations reach the section decoders instead of
 * all stopping at the CRC check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "snapshot/crc32c.h"
#include "snapshot/snapshot.h"

#define NCPUS 2
#define RAM_SIZE (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rd(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the header CRC and the CRC of every section whose framing
 * fits in the buffer. */
static void fix_crcs(uint8_t *b, size_t n)
{
    size_t off = 16;
    if (n < 16)
        return;
    wr32(b + 12, crc32c(0, b, 12));
    while (n - off >= 20) {
        uint64_t len = rd(b + off + 8, 8);
        if (len > n - off - 20)
            return;
        wr32(b + off + 16 + len, crc32c(crc32c(0, b + off, 16), b + off + 16, len));
        off += 20 + len;
    }
}

static void parse_one(const uint8_t *data, size_t size)
{
    /* One RAM buffer and one set of vCPUs for the process (allocating and
     * poisoning them per run was most of the time); what they hold from an
     * earlier run does not matter to the parser. */
    static uint8_t *ram;
    if (!ram && !(ram = malloc(RAM_SIZE)))
        abort();
    static struct cpu *cpus[NCPUS]; /* likewise; snap_parse clears the pins */
    struct snap_in in = {.fd = -1, .mem = data, .memlen = size};
    char err[512] = "";

    for (int i = 0; i < NCPUS; i++)
        if (!cpus[i] && !(cpus[i] = calloc(1, sizeof *cpus[i])))
            abort();
    struct snap_target t = {
        .ram_size = RAM_SIZE, .ncpus = NCPUS, .cr_pin = true,
        .ram = ram, .cpus = cpus,
    };
    if (snap_parse(&in, &t, err, sizeof err) == 0) {
        for (int i = 0; i < NCPUS; i++)
            if (crpin_mask(&cpus[i]->pin, 0) & ~CRPIN_CR0_ALLOWED ||
                crpin_mask(&cpus[i]->pin, 4) & ~CRPIN_CR4_ALLOWED)
                abort();
        free(t.devices);
    } else if (!err[0]) {
        abort(); /* a refusal always says why */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed = malloc(size ? size : 1);

    parse_one(data, size);
    if (fixed) {
        memcpy(fixed, data, size);
        fix_crcs(fixed, size);
        parse_one(fixed, size);
        free(fixed);
    }
    return 0;
}
