/* fuzz_loader.c: libFuzzer harness for the Multiboot/ELF loader. Any
 * image either loads or is refused with a message; never a crash, never a
 * write outside the 16 MiB of guest RAM (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/multiboot.h"

#define RAM_SIZE (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    char err[256];
    struct mb_result res;
    struct mb_params p = { .kernel_path = "fuzz.elf", .append = "a b" };

    if (!ram && !(ram = calloc(1, RAM_SIZE)))
        abort();
    if (multiboot_load_image(ram, RAM_SIZE, data, size, &p, &res, err,
                             sizeof err) == 0) {
        /* A successful load must describe memory inside RAM. */
        if (res.end > RAM_SIZE || res.info_addr >= RAM_SIZE ||
            res.entry < res.image_start || res.entry >= res.image_end)
            abort();
    } else if (!err[0] || strchr(err, '\n')) {
        abort(); /* every refusal names its reason on one line */
    }
    return 0;
}
