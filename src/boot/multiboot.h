/* multiboot.h: the Multiboot v1 loader (Multiboot Specification 0.6.96),
 * matching what QEMU's hw/i386/multiboot.c plus its option ROM and
 * SeaBIOS hand a kernel, measured on QEMU 7.2:
 *
 *   0x7000        ESP at entry (the spec leaves it undefined)
 *   0x8000        GDT: null, 0x08 flat 32-bit code, 0x10 flat 32-bit data,
 *                 0x18 16-bit code, 0x20 16-bit data (QEMU's ROM GDT)
 *   0x9000        memory map (mmap_addr), SeaBIOS's e820 table
 *   0x9500        the Multiboot info structure (EBX)
 *   kernel        loaded at its addresses; then, page aligned, the module
 *                 list, the module and kernel command lines and the boot
 *                 loader name "qemu"; then each module, page aligned.
 *
 * Memory map (QEMU 7.2 + SeaBIOS 1.16, TCG, default AMD-vendor CPU), with
 * R = RAM size:
 *   0          - 0x9FC00     usable    (639 KiB: SeaBIOS puts its EBDA above)
 *   0x9FC00    - 0xA0000     reserved
 *   0xF0000    - 0x100000    reserved  (BIOS)
 *   0x100000   - R - 128 KiB usable
 *   R - 128KiB - R           reserved  (SeaBIOS high tables)
 *   0xFFFC0000 - 4 GiB       reserved  (BIOS ROM)
 *   0xFD00000000 + 12 GiB    reserved  (AMD HyperTransport hole)
 * mem_lower = 639 and mem_upper = (R - 1 MiB - 128 KiB) / 1 KiB follow from
 * it, exactly as QEMU's option ROM computes them from e820.
 */
#ifndef PINVM_MULTIBOOT_H
#define PINVM_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MB_HEADER_MAGIC   0x1BADB002u
#define MB_BOOT_MAGIC     0x2BADB002u
#define MB_SEARCH_LIMIT   8192
#define MB_FLAG_AOUT_KLUDGE (1u << 16)

#define MB_STACK_TOP  0x7000u
#define MB_GDT_ADDR   0x8000u
#define MB_GDT_LIMIT  0x27u
#define MB_MMAP_ADDR  0x9000u
#define MB_INFO_ADDR  0x9500u
#define MB_INFO_SIZE  88u
/* The low area the loader writes; images must not overlap it. */
#define MB_LOW_START  MB_GDT_ADDR
#define MB_LOW_END    0xA000u

#define MB_SEL_CODE32 0x08
#define MB_SEL_DATA32 0x10

/* mbi.flags bits QEMU sets: MEMORY, BOOTDEV, CMDLINE, MODS, MMAP,
 * LOADER_NAME. */
#define MBI_FLAGS_QEMU 0x0000024Fu

struct mb_params {
    const char *kernel_path; /* as given on the command line */
    const char *append;      /* NULL: empty */
    const char *initrd;      /* NULL: no modules; "FILE[ ARGS][,FILE...]" */
};

struct mb_result {
    uint32_t entry;
    uint32_t info_addr;          /* EBX */
    uint32_t image_start, image_end; /* the kernel, BSS included */
    uint32_t end;                /* end of everything loaded */
    uint32_t mods_count;
};

/* Load the kernel image in img[0..len) into ram and build the boot
 * information. Returns 0, or -1 with a one-line message in err (no
 * "pinvm: " prefix, no newline). Never reads outside img, never writes
 * outside ram. Modules are read from their files. */
int multiboot_load_image(uint8_t *ram, uint64_t ram_size, const uint8_t *img,
                         size_t len, const struct mb_params *p,
                         struct mb_result *out, char *err, size_t errlen);
/* Same, reading p->kernel_path. */
int multiboot_load_file(uint8_t *ram, uint64_t ram_size,
                        const struct mb_params *p, struct mb_result *out,
                        char *err, size_t errlen);

#endif
