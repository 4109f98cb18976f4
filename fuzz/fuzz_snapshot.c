/* fuzz_snapshot.c: libFuzzer harness for the snapshot reader (snap_parse
 * in src/snapshot/snapshot.c): every input is a stream read from memory
 * into a 4 MiB, 2-vCPU target. Invariants: no crash or sanitizer report,
 * no read or write outside the target's buffers, and when a stream is
 * accepted the vCPUs' pins are inside the pinnable masks. Seeds
 * (fuzz/corpus/snapshot) are real snapshots of a 4 MiB, 2-vCPU
 * snap_pin guest: tests/snapshot/make_fuzz_seeds.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "snapshot/snapshot.h"

#define NCPUS 2
#define RAM_SIZE (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *ram = calloc(1, RAM_SIZE);
    struct cpu *cpus[NCPUS];
    struct snap_in in = {.fd = -1, .mem = data, .memlen = size};
    char err[512] = "";

    for (int i = 0; i < NCPUS; i++)
        cpus[i] = calloc(1, sizeof *cpus[i]);
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
    for (int i = 0; i < NCPUS; i++)
        free(cpus[i]);
    free(ram);
    return 0;
}
