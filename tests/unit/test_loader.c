/* Unit tests of the Multiboot loader (src/boot/multiboot.c) on synthetic
 * images: the good ELF32/ELF64/a.out-kludge cases with the info structure
 * QEMU 7.2 builds, then every malformed image. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/multiboot.h"
#include "unit.h"

#define RAM_SIZE (4u << 20)
#define IMG_SIZE 0x3000u

static uint8_t *ram;
static uint8_t img[IMG_SIZE];
static char err[512];
static struct mb_result res;

static void w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void w64(uint8_t *p, uint64_t v) { w32(p, (uint32_t)v); w32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t r32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t r64(const uint8_t *p) { return r32(p) | (uint64_t)r32(p + 4) << 32; }

static void fresh_ram(void)
{
    if (!ram)
        ram = malloc(RAM_SIZE);
    memset(ram, 0xAA, RAM_SIZE); /* so BSS zeroing is visible */
    memset(err, 0, sizeof err);
    memset(&res, 0, sizeof res);
}

static void mb_header(uint8_t *p, uint32_t flags)
{
    w32(p, MB_HEADER_MAGIC);
    w32(p + 4, flags);
    w32(p + 8, (uint32_t)-(MB_HEADER_MAGIC + flags));
}

/* An ELF image: one PT_LOAD of 0x100 file bytes at file offset 0x1000
 * (Multiboot header first, then 0x5A filler), memsz 0x1000. */
static size_t elf(int cls, uint64_t paddr, uint64_t entry)
{
    memset(img, 0, sizeof img);
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = (uint8_t)cls;
    img[5] = 1;
    img[6] = 1;
    w16(img + 16, 2);
    if (cls == 1) {
        w16(img + 18, 3);
        w32(img + 24, (uint32_t)entry);
        w32(img + 28, 52);
        w16(img + 42, 32);
        w16(img + 44, 1);
        uint8_t *ph = img + 52;
        w32(ph, 1);
        w32(ph + 4, 0x1000);
        w32(ph + 8, (uint32_t)paddr);
        w32(ph + 12, (uint32_t)paddr);
        w32(ph + 16, 0x100);
        w32(ph + 20, 0x1000);
    } else {
        w16(img + 18, 62);
        w64(img + 24, entry);
        w64(img + 32, 64);
        w16(img + 54, 56);
        w16(img + 56, 1);
        uint8_t *ph = img + 64;
        w32(ph, 1);
        w64(ph + 8, 0x1000);
        w64(ph + 16, paddr);
        w64(ph + 24, paddr);
        w64(ph + 32, 0x100);
        w64(ph + 40, 0x1000);
    }
    mb_header(img + 0x1000, 0x3);
    memset(img + 0x100c, 0x5A, 0x100 - 12);
    return 0x1100;
}

/* An a.out-kludge image: header at file offset hoff, loaded so that the
 * file's byte 0 lands at load_addr. */
static size_t kludge(size_t hoff, uint32_t header_addr, uint32_t load_addr,
                     uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
    memset(img, 0x77, sizeof img);
    mb_header(img + hoff, MB_FLAG_AOUT_KLUDGE);
    w32(img + hoff + 12, header_addr);
    w32(img + hoff + 16, load_addr);
    w32(img + hoff + 20, load_end);
    w32(img + hoff + 24, bss_end);
    w32(img + hoff + 28, entry);
    return 0x2000;
}

static int load(size_t len, const char *append, const char *initrd)
{
    struct mb_params p = {"k.elf", append, initrd};
    return multiboot_load_image(ram, RAM_SIZE, img, len, &p, &res, err, sizeof err);
}

static int load_ram(size_t len, uint64_t ram_size)
{
    struct mb_params p = {"k.elf", NULL, NULL};
    return multiboot_load_image(ram, ram_size, img, len, &p, &res, err, sizeof err);
}

#define EXPECT_FAIL(call, text)                                              \
    do {                                                                     \
        CHECK_EQ((call), -1);                                                \
        if (!strstr(err, text)) {                                            \
            printf("  message was: %s\n", err);                              \
            CHECK(strstr(err, text));                                        \
        }                                                                    \
        CHECK(strchr(err, '\n') == NULL);                                    \
    } while (0)

/* ---- good images ---- */

TEST(elf32_loads_segment_zeroes_bss_and_builds_qemu_info)
{
    fresh_ram();
    size_t len = elf(1, 0x100000, 0x10000c);
    CHECK_EQ(load(len, NULL, NULL), 0);
    CHECK_EQ(res.entry, 0x10000c);
    CHECK_EQ(res.info_addr, 0x9500);
    CHECK_EQ(res.image_start, 0x100000);
    CHECK_EQ(res.image_end, 0x101000);
    CHECK(memcmp(ram + 0x100000, img + 0x1000, 0x100) == 0);
    CHECK_EQ(ram[0x100100], 0);   /* BSS */
    CHECK_EQ(ram[0x100fff], 0);
    CHECK_EQ(ram[0x0fffff], 0xAA); /* below the image untouched */

    const uint8_t *mbi = ram + 0x9500;
    CHECK_EQ(r32(mbi + 0), 0x24f);
    CHECK_EQ(r32(mbi + 4), 639);
    CHECK_EQ(r32(mbi + 8), (RAM_SIZE - 0x100000 - 0x20000) / 1024);
    CHECK_EQ(r32(mbi + 12), 0x8000ffff);
    CHECK_EQ(r32(mbi + 20), 0);          /* mods_count */
    CHECK_EQ(r32(mbi + 24), 0x101000);   /* mods_addr: page after kernel */
    CHECK_EQ(r32(mbi + 44), 7 * 24);     /* mmap_length */
    CHECK_EQ(r32(mbi + 48), 0x9000);
    /* "file name, space, -append": QEMU leaves the trailing space. */
    CHECK(strcmp((char *)ram + r32(mbi + 16), "k.elf ") == 0);
    CHECK(strcmp((char *)ram + r32(mbi + 64), "qemu") == 0);
    CHECK_EQ(r32(mbi + 16), 0x101000);
    CHECK_EQ(r32(mbi + 64), 0x101000 + 7);
}

TEST(memory_map_is_seabios_e820)
{
    fresh_ram();
    CHECK_EQ(load(elf(1, 0x100000, 0x100000), NULL, NULL), 0);
    static const uint64_t want[7][3] = {
        {0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0xf0000, 0x10000, 2},
        {0x100000, RAM_SIZE - 0x120000, 1}, {RAM_SIZE - 0x20000, 0x20000, 2},
        {0xfffc0000, 0x40000, 2}, {0xfd00000000ull, 0x300000000ull, 2},
    };
    for (int i = 0; i < 7; i++) {
        const uint8_t *e = ram + 0x9000 + 24 * i;
        CHECK_EQ(r32(e), 20);
        CHECK_EQ(r64(e + 4), want[i][0]);
        CHECK_EQ(r64(e + 12), want[i][1]);
        CHECK_EQ(r32(e + 20), want[i][2]);
    }
}

TEST(gdt_matches_qemu_option_rom)
{
    fresh_ram();
    CHECK_EQ(load(elf(1, 0x100000, 0x100000), NULL, NULL), 0);
    CHECK_EQ(r64(ram + 0x8000), 0);
    CHECK_EQ(r64(ram + 0x8008), 0x00cf9a000000ffffull);
    CHECK_EQ(r64(ram + 0x8010), 0x00cf93000000ffffull);
}

TEST(append_goes_after_file_name)
{
    fresh_ram();
    CHECK_EQ(load(elf(1, 0x100000, 0x100000), "foo bar", NULL), 0);
    CHECK(strcmp((char *)ram + r32(ram + 0x9510), "k.elf foo bar") == 0);
}

TEST(elf64_loads_by_paddr)
{
    fresh_ram();
    CHECK_EQ(load(elf(2, 0x200000, 0x200010), NULL, NULL), 0);
    CHECK_EQ(res.entry, 0x200010);
    CHECK(memcmp(ram + 0x200000, img + 0x1000, 0x100) == 0);
    CHECK_EQ(ram[0x200200], 0);
    CHECK_EQ(r32(ram + 0x9518), 0x201000);
}

TEST(kludge_header_at_file_start)
{
    fresh_ram();
    size_t len = kludge(0, 0x100000, 0x100000, 0x101000, 0x102000, 0x100020);
    CHECK_EQ(load(len, NULL, NULL), 0);
    CHECK_EQ(res.entry, 0x100020);
    CHECK_EQ(res.image_end, 0x102000);
    CHECK(memcmp(ram + 0x100000, img, 0x1000) == 0);
    CHECK_EQ(ram[0x101000], 0); /* bss */
    CHECK_EQ(ram[0x101fff], 0);
    CHECK_EQ(r32(ram + 0x9510), 0x102000); /* cmdline right after BSS page */
    CHECK_EQ(r32(ram + 0x9518), 0x102000);
}

TEST(kludge_header_inside_text_and_load_to_eof)
{
    fresh_ram();
    /* Header at file offset 0x40, header_addr says load_addr + 0x40: the
     * file is loaded from its start; load_end 0 means "to end of file". */
    size_t len = kludge(0x40, 0x200040, 0x200000, 0, 0, 0x200100);
    CHECK_EQ(load(len, NULL, NULL), 0);
    CHECK_EQ(res.image_start, 0x200000);
    CHECK_EQ(res.image_end, 0x200000 + len);
    CHECK_EQ(r32(ram + 0x200040), MB_HEADER_MAGIC);
    /* header_addr - load_addr < offset: the text starts later in the file */
    fresh_ram();
    len = kludge(0x40, 0x200010, 0x200000, 0, 0, 0x200020);
    CHECK_EQ(load(len, NULL, NULL), 0);
    CHECK_EQ(r32(ram + 0x200010), MB_HEADER_MAGIC);
}

static char tmpdir[64];

static const char *tmpfile_with(const char *name, const char *content)
{
    static char path[128];
    if (!tmpdir[0]) {
        strcpy(tmpdir, "/tmp/pinvm-loader-XXXXXX");
        if (!mkdtemp(tmpdir))
            abort();
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(content, f);
    fclose(f);
    return path;
}

TEST(modules_page_aligned_with_their_strings)
{
    char m1[128], m2[128], initrd[512];
    fresh_ram();
    snprintf(m1, sizeof m1, "%s", tmpfile_with("mod1", "hello\n"));
    snprintf(m2, sizeof m2, "%s", tmpfile_with("mod,2", "abcdefghij"));
    char m2esc[160];
    snprintf(m2esc, sizeof m2esc, "%s/mod,,2", tmpdir);
    snprintf(initrd, sizeof initrd, "%s arg1 arg2,%s", m1, m2esc);
    CHECK_EQ(load(elf(1, 0x100000, 0x100000), "x", initrd), 0);
    const uint8_t *mbi = ram + 0x9500;
    CHECK_EQ(r32(mbi + 20), 2);
    CHECK_EQ(res.mods_count, 2);
    const uint8_t *mods = ram + r32(mbi + 24);
    CHECK_EQ(r32(mbi + 24), 0x101000);
    CHECK_EQ(r32(mods + 0), 0x102000);
    CHECK_EQ(r32(mods + 4), 0x102006);
    CHECK_EQ(r32(mods + 16), 0x103000);
    CHECK_EQ(r32(mods + 20), 0x10300a);
    CHECK(memcmp(ram + 0x102000, "hello\n", 6) == 0);
    CHECK(memcmp(ram + 0x103000, "abcdefghij", 10) == 0);
    char want1[256];
    snprintf(want1, sizeof want1, "%s arg1 arg2", m1);
    CHECK(strcmp((char *)ram + r32(mods + 8), want1) == 0);
    CHECK(strcmp((char *)ram + r32(mods + 24), m2) == 0); /* ",," -> "," */
    /* module strings first, then the kernel's, as QEMU's mb_add_cmdline */
    CHECK_EQ(r32(mods + 8), 0x101020);
    CHECK(strcmp((char *)ram + r32(mbi + 16), "k.elf x") == 0);
    CHECK_EQ(res.end, 0x104000);
}

/* ---- bad images ---- */

TEST(no_header)
{
    fresh_ram();
    memset(img, 0, sizeof img);
    EXPECT_FAIL(load(0x2000, NULL, NULL), "no Multiboot header");
    EXPECT_FAIL(load(0, NULL, NULL), "no Multiboot header");
}

TEST(header_beyond_8192_bytes)
{
    fresh_ram();
    memset(img, 0, sizeof img);
    mb_header(img + 8192, MB_FLAG_AOUT_KLUDGE);
    EXPECT_FAIL(load(sizeof img, NULL, NULL), "no Multiboot header");
    /* QEMU's window ends 48 bytes early: offset 8144 is not searched */
    memset(img, 0, sizeof img);
    mb_header(img + 8144, MB_FLAG_AOUT_KLUDGE);
    EXPECT_FAIL(load(sizeof img, NULL, NULL), "no Multiboot header");
    /* ...8140 is */
    memset(img, 0, sizeof img);
    mb_header(img + 8140, MB_FLAG_AOUT_KLUDGE);
    w32(img + 8140 + 12, 0x100000 + 8140);
    w32(img + 8140 + 16, 0x100000);
    w32(img + 8140 + 28, 0x100000);
    fresh_ram();
    CHECK_EQ(load(sizeof img, NULL, NULL), 0);
    CHECK_EQ(res.image_end, 0x100000 + sizeof img);
}

TEST(unaligned_header_not_found)
{
    fresh_ram();
    memset(img, 0, sizeof img);
    mb_header(img + 2, 0);
    EXPECT_FAIL(load(0x100, NULL, NULL), "no Multiboot header");
}

TEST(bad_checksum)
{
    fresh_ram();
    size_t len = elf(1, 0x100000, 0x100000);
    w32(img + 0x1008, 0x12345678);
    EXPECT_FAIL(load(len, NULL, NULL), "bad checksum");
}

TEST(not_elf_without_kludge)
{
    fresh_ram();
    memset(img, 0x90, sizeof img);
    mb_header(img + 0x20, 0x3);
    EXPECT_FAIL(load(0x1000, NULL, NULL), "not an ELF image");
}

TEST(elf_header_problems)
{
    fresh_ram();
    size_t len = elf(1, 0x100000, 0x100000);
    img[4] = 3;
    EXPECT_FAIL(load(len, NULL, NULL), "invalid ELF class");
    elf(1, 0x100000, 0x100000);
    img[5] = 2;
    EXPECT_FAIL(load(len, NULL, NULL), "not little-endian");
    elf(1, 0x100000, 0x100000);
    w16(img + 18, 40); /* ARM */
    EXPECT_FAIL(load(len, NULL, NULL), "machine 40 is not i386");
    elf(2, 0x100000, 0x100000);
    w16(img + 18, 3);
    EXPECT_FAIL(load(len, NULL, NULL), "is not x86-64");
}

TEST(truncated_elf_header)
{
    fresh_ram();
    elf(2, 0x100000, 0x100000);
    /* header found at 0x1000 in the original; move one into a tiny file */
    uint8_t small[40];
    memcpy(small, img, sizeof small);
    memcpy(img, small, sizeof small);
    mb_header(img + 24, 0); /* inside the truncated ELF64 header */
    EXPECT_FAIL(load(40, NULL, NULL), "truncated ELF header");
}

TEST(program_headers_outside_file)
{
    fresh_ram();
    size_t len = elf(1, 0x100000, 0x100000);
    w32(img + 28, 0x10000); /* e_phoff past EOF */
    EXPECT_FAIL(load(len, NULL, NULL), "truncated ELF program headers");
    elf(1, 0x100000, 0x100000);
    w16(img + 44, 0xffff); /* phnum * phentsize past EOF */
    EXPECT_FAIL(load(len, NULL, NULL), "truncated ELF program headers");
    elf(2, 0x100000, 0x100000);
    w64(img + 32, ~0ull - 8); /* would wrap */
    EXPECT_FAIL(load(len, NULL, NULL), "truncated ELF program headers");
    elf(1, 0x100000, 0x100000);
    w16(img + 42, 16);
    EXPECT_FAIL(load(len, NULL, NULL), "program header size");
    elf(1, 0x100000, 0x100000);
    w16(img + 44, 0);
    EXPECT_FAIL(load(len, NULL, NULL), "no program headers");
}

TEST(segment_data_outside_file)
{
    fresh_ram();
    size_t len = elf(1, 0x100000, 0x100000);
    w32(img + 52 + 16, 0x2000); /* filesz beyond EOF, memsz raised too */
    w32(img + 52 + 20, 0x2000);
    EXPECT_FAIL(load(len, NULL, NULL), "truncated");
    elf(2, 0x100000, 0x100000);
    w64(img + 64 + 8, ~0ull); /* offset wraps */
    EXPECT_FAIL(load(len, NULL, NULL), "truncated");
}

TEST(filesz_larger_than_memsz)
{
    fresh_ram();
    size_t len = elf(1, 0x100000, 0x100000);
    w32(img + 52 + 20, 0x10);
    EXPECT_FAIL(load(len, NULL, NULL), "exceeds memory size");
}

TEST(segment_outside_ram_or_wrapping)
{
    fresh_ram();
    size_t len = elf(1, RAM_SIZE - 0x800, RAM_SIZE - 0x800);
    EXPECT_FAIL(load(len, NULL, NULL), "outside RAM");
    len = elf(2, ~0ull - 0x10, ~0ull - 0x10);
    EXPECT_FAIL(load(len, NULL, NULL), "wraps");
    /* a kernel larger than RAM */
    len = elf(1, 0x100000, 0x100000);
    w32(img + 52 + 20, 0x40000000);
    EXPECT_FAIL(load(len, NULL, NULL), "outside RAM");
}

TEST(segment_over_info_area)
{
    fresh_ram();
    size_t len = elf(1, 0x9000, 0x9000);
    EXPECT_FAIL(load(len, NULL, NULL), "overlaps the Multiboot info area");
}

TEST(entry_outside_image)
{
    fresh_ram();
    EXPECT_FAIL(load(elf(1, 0x100000, 0x200000), NULL, NULL), "entry point 0x200000 is outside");
    EXPECT_FAIL(load(elf(2, 0x100000, 0xffffffff80100000ull), NULL, NULL), "outside the loaded image");
    EXPECT_FAIL(load(kludge(0, 0x100000, 0x100000, 0x101000, 0, 0x101000), NULL, NULL),
                "entry point 0x101000 is outside");
}

TEST(no_loadable_segment)
{
    fresh_ram();
    size_t len = elf(1, 0x100000, 0x100000);
    w32(img + 52, 4); /* PT_NOTE */
    EXPECT_FAIL(load(len, NULL, NULL), "no loadable segments");
}

TEST(kludge_address_problems)
{
    fresh_ram();
    EXPECT_FAIL(load(kludge(0x40, 0x100000, 0x100040, 0, 0, 0x100040), NULL, NULL),
                "invalid load_addr");
    EXPECT_FAIL(load(kludge(0x40, 0x100080, 0x100000, 0, 0, 0x100080), NULL, NULL),
                "invalid header_addr");
    EXPECT_FAIL(load(kludge(0, 0x100000, 0x100000, 0xff000, 0, 0x100000), NULL, NULL),
                "invalid load_end_addr");
    EXPECT_FAIL(load(kludge(0, 0x100000, 0x100000, 0x103000, 0, 0x100000), NULL, NULL),
                "beyond the end of the file");
    EXPECT_FAIL(load(kludge(0, 0x100000, 0x100000, 0x101000, 0x100800, 0x100000), NULL, NULL),
                "invalid bss_end_addr");
    EXPECT_FAIL(load(kludge(0, 0xfffff000, 0xfffff000, 0, 0, 0xfffff000), NULL, NULL),
                "does not fit in the 4 GiB");
    EXPECT_FAIL(load(kludge(0, 0x100000, 0x100000, 0, 0x80000000, 0x100000), NULL, NULL),
                "outside RAM");
    EXPECT_FAIL(load(kludge(0, 0x9000, 0x9000, 0, 0, 0x9000), NULL, NULL),
                "overlaps the Multiboot info area");
}

TEST(kludge_header_truncated)
{
    fresh_ram();
    memset(img, 0, sizeof img);
    mb_header(img + 0x100, MB_FLAG_AOUT_KLUDGE);
    EXPECT_FAIL(load(0x110, NULL, NULL), "truncated Multiboot header");
}

TEST(module_missing_or_too_big)
{
    fresh_ram();
    EXPECT_FAIL(load(elf(1, 0x100000, 0x100000), NULL, "/nonexistent/mod arg"),
                "cannot open '/nonexistent/mod'");
    EXPECT_FAIL(load(elf(1, 0x100000, 0x100000), NULL, ","), "empty module file name");
    /* kernel near the top: the module cannot fit */
    char path[128];
    snprintf(path, sizeof path, "%s", tmpfile_with("m", "0123456789"));
    fresh_ram();
    size_t len = elf(1, RAM_SIZE - 0x2000, RAM_SIZE - 0x2000);
    EXPECT_FAIL(load(len, NULL, path), "does not fit in RAM");
    /* ...and the info block itself */
    fresh_ram();
    len = elf(1, RAM_SIZE - 0x1000, RAM_SIZE - 0x1000);
    EXPECT_FAIL(load(len, NULL, NULL), "no room in RAM");
}

TEST(ram_too_small_is_refused)
{
    fresh_ram();
    EXPECT_FAIL(load_ram(elf(1, 0x100000, 0x100000), 1u << 20), "RAM size");
}

TEST(load_file_errors)
{
    struct mb_params p = {"/nonexistent/kernel", NULL, NULL};
    fresh_ram();
    EXPECT_FAIL(multiboot_load_file(ram, RAM_SIZE, &p, &res, err, sizeof err),
                "cannot open '/nonexistent/kernel'");
    p.kernel_path = "/tmp";
    EXPECT_FAIL(multiboot_load_file(ram, RAM_SIZE, &p, &res, err, sizeof err),
                "not a regular file");
    p.kernel_path = tmpfile_with("empty", "");
    EXPECT_FAIL(multiboot_load_file(ram, RAM_SIZE, &p, &res, err, sizeof err),
                "empty file");
}

/* Robustness: every truncation and single-byte corruption of the headers
 * either loads or fails with a message; never reads outside the image or
 * writes outside RAM (run under ASan by make test-asan). */
TEST(truncations_and_corruptions_never_crash)
{
    static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff};
    int ok = 0, bad = 0;
    for (int cls = 1; cls <= 2; cls++) {
        size_t len = elf(cls, 0x100000, 0x100000);
        for (size_t cut = 0; cut <= len; cut += (cut < 0x80 ? 1 : 0x3f)) {
            fresh_ram();
            int r = load(cut, NULL, NULL);
            CHECK(r == 0 || (r == -1 && err[0]));
            r == 0 ? ok++ : bad++;
        }
        for (size_t off = 0; off < 0x80; off++) {
            for (size_t v = 0; v < sizeof vals; v++) {
                elf(cls, 0x100000, 0x100000);
                img[off] = vals[v];
                fresh_ram();
                int r = load(len, NULL, NULL);
                CHECK(r == 0 || (r == -1 && err[0]));
                r == 0 ? ok++ : bad++;
            }
        }
    }
    for (size_t off = 12; off < 32; off++) { /* kludge address fields */
        for (size_t v = 0; v < sizeof vals; v++) {
            size_t len = kludge(0, 0x100000, 0x100000, 0x101000, 0x102000, 0x100020);
            img[off] = vals[v];
            fresh_ram();
            int r = load(len, NULL, NULL);
            CHECK(r == 0 || (r == -1 && err[0]));
            r == 0 ? ok++ : bad++;
        }
    }
    CHECK(ok > 0 && bad > 0);
}

static const struct unit_test tests[] = {
    T(elf32_loads_segment_zeroes_bss_and_builds_qemu_info),
    T(memory_map_is_seabios_e820),
    T(gdt_matches_qemu_option_rom),
    T(append_goes_after_file_name),
    T(elf64_loads_by_paddr),
    T(kludge_header_at_file_start),
    T(kludge_header_inside_text_and_load_to_eof),
    T(modules_page_aligned_with_their_strings),
    T(no_header),
    T(header_beyond_8192_bytes),
    T(unaligned_header_not_found),
    T(bad_checksum),
    T(not_elf_without_kludge),
    T(elf_header_problems),
    T(truncated_elf_header),
    T(program_headers_outside_file),
    T(segment_data_outside_file),
    T(filesz_larger_than_memsz),
    T(segment_outside_ram_or_wrapping),
    T(segment_over_info_area),
    T(entry_outside_image),
    T(no_loadable_segment),
    T(kludge_address_problems),
    T(kludge_header_truncated),
    T(module_missing_or_too_big),
    T(ram_too_small_is_refused),
    T(load_file_errors),
    T(truncations_and_corruptions_never_crash),
};
UNIT_MAIN(tests)
