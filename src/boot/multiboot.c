/* multiboot.c: see multiboot.h. Every offset and size from the image is
 * checked before use, in 64-bit arithmetic that cannot wrap. */
#include "multiboot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu/smm_smram.h"
#include "util/errbuf.h"

#define PAGE 4096u
#define PAGE_ALIGN(x) (((x) + PAGE - 1) & ~(uint64_t)(PAGE - 1))

#define EM_386    3
#define EM_X86_64 62
#define PT_LOAD   1

#define MMAP_ENTRY_SIZE 20u /* the "size" field: e820 entries are 20 bytes */
#define SEABIOS_HIGH_RESERVED 0x20000u
#define AMD_HT_START 0xFD00000000ull
#define AMD_HT_SIZE  0x300000000ull
#define MOD_ENTRY_SIZE 16u

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}
static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void st64(uint8_t *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

/* [a, a+alen) and [b, b+blen) intersect (lengths > 0, no wrap). */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* What the image asks to be placed where. */
struct kimage {
    uint64_t low, high; /* physical range, BSS included */
    uint64_t entry;
};

/* A physical range [start, start+size) the image wants: inside RAM and
 * clear of the loader's own low area. */
static int check_range(const char *name, const char *what, uint64_t start,
                       uint64_t size, uint64_t ram_size, char *err,
                       size_t errlen)
{
    if (start + size < start)
        return errbuf_fail(err, errlen, "%s: %s at 0x%llx wraps around the address space",
                    name, what, (unsigned long long)start);
    if (start + size > ram_size)
        return errbuf_fail(err, errlen,
                    "%s: %s 0x%llx-0x%llx is outside RAM (%llu MiB; try a larger -m)",
                    name, what, (unsigned long long)start,
                    (unsigned long long)(start + size),
                    (unsigned long long)(ram_size >> 20));
    if (overlaps(start, size, MB_LOW_START, MB_LOW_END - MB_LOW_START))
        return errbuf_fail(err, errlen,
                    "%s: %s 0x%llx-0x%llx overlaps the Multiboot info area "
                    "0x%x-0x%x", name, what, (unsigned long long)start,
                    (unsigned long long)(start + size), MB_LOW_START,
                    MB_LOW_END);
    /* SMRAM (docs/smm.md) is closed to the guest outside SMM: a kernel
     * loaded there could not read its own code. */
    if (overlaps(start, size, SMRAM_BASE, SMRAM_END - SMRAM_BASE))
        return errbuf_fail(err, errlen,
                    "%s: %s 0x%llx-0x%llx overlaps SMRAM 0x%x-0x%x", name, what,
                    (unsigned long long)start, (unsigned long long)(start + size),
                    SMRAM_BASE, SMRAM_END);
    return 0;
}

/* ---- a.out kludge: the header gives the addresses (flags bit 16) ---- */
static int load_kludge(uint8_t *ram, uint64_t ram_size, const uint8_t *img,
                       size_t len, size_t hoff, struct kimage *k,
                       const char *name, char *err, size_t errlen)
{
    if (len - hoff < 32)
        return errbuf_fail(err, errlen, "%s: truncated Multiboot header", name);
    const uint8_t *h = img + hoff;
    uint32_t header_addr = le32(h + 12), load_addr = le32(h + 16);
    uint32_t load_end = le32(h + 20), bss_end = le32(h + 24);
    uint32_t entry = le32(h + 28);
    uint64_t load_size, kernel_size;

    /* The header's file offset ties file to memory (spec 3.1.3). */
    if (header_addr < load_addr)
        return errbuf_fail(err, errlen, "%s: invalid load_addr 0x%x (above header_addr 0x%x)",
                    name, load_addr, header_addr);
    if (header_addr - load_addr > hoff)
        return errbuf_fail(err, errlen, "%s: invalid header_addr 0x%x (before the start of the file)",
                    name, header_addr);
    uint64_t text_off = hoff - (header_addr - load_addr);
    if (load_end) {
        if (load_end < load_addr)
            return errbuf_fail(err, errlen, "%s: invalid load_end_addr 0x%x (below load_addr 0x%x)",
                        name, load_end, load_addr);
        load_size = load_end - load_addr;
        if (load_size > len - text_off)
            return errbuf_fail(err, errlen, "%s: truncated: load_end_addr 0x%x is beyond the end of the file",
                        name, load_end);
    } else {
        load_size = len - text_off;
    }
    if (load_size > UINT32_MAX - (uint64_t)load_addr)
        return errbuf_fail(err, errlen, "%s: kernel does not fit in the 4 GiB address space", name);
    if (bss_end) {
        if (bss_end < load_addr + load_size)
            return errbuf_fail(err, errlen, "%s: invalid bss_end_addr 0x%x (below load_end_addr)",
                        name, bss_end);
        kernel_size = bss_end - load_addr;
    } else {
        kernel_size = load_size;
    }
    if (kernel_size == 0)
        return errbuf_fail(err, errlen, "%s: empty kernel image", name);
    if (check_range(name, "kernel image", load_addr, kernel_size, ram_size,
                    err, errlen) < 0)
        return -1;
    if (entry < load_addr || entry >= load_addr + kernel_size)
        return errbuf_fail(err, errlen, "%s: entry point 0x%x is outside the loaded image 0x%x-0x%llx",
                    name, entry, load_addr,
                    (unsigned long long)(load_addr + kernel_size));
    memcpy(ram + load_addr, img + text_off, load_size);
    memset(ram + load_addr + load_size, 0, kernel_size - load_size);
    k->low = load_addr;
    k->high = load_addr + kernel_size;
    k->entry = entry;
    return 0;
}

/* ---- ELF32 (as QEMU) and ELF64 (our extension): PT_LOAD by p_paddr ---- */
struct phdr {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz;
};

static int load_elf(uint8_t *ram, uint64_t ram_size, const uint8_t *img,
                    size_t len, struct kimage *k, const char *name, char *err,
                    size_t errlen)
{
    bool is64 = img[4] == 2;
    size_t ehsize = is64 ? 64 : 52, phsize_min = is64 ? 56 : 32;
    char what[64];

    if (img[4] != 1 && img[4] != 2)
        return errbuf_fail(err, errlen, "%s: invalid ELF class %u", name, img[4]);
    if (img[5] != 1)
        return errbuf_fail(err, errlen, "%s: ELF image is not little-endian", name);
    if (len < ehsize)
        return errbuf_fail(err, errlen, "%s: truncated ELF header", name);
    uint16_t machine = le16(img + 18);
    if (machine != (is64 ? EM_X86_64 : EM_386))
        return errbuf_fail(err, errlen, "%s: ELF%d machine %u is not %s", name,
                    is64 ? 64 : 32, machine, is64 ? "x86-64" : "i386");
    uint64_t entry = is64 ? le64(img + 24) : le32(img + 24);
    uint64_t phoff = is64 ? le64(img + 32) : le32(img + 28);
    uint16_t phentsize = le16(img + (is64 ? 54 : 42));
    uint16_t phnum = le16(img + (is64 ? 56 : 44));
    if (phnum == 0)
        return errbuf_fail(err, errlen, "%s: ELF image has no program headers", name);
    if (phentsize < phsize_min)
        return errbuf_fail(err, errlen, "%s: bad ELF program header size %u", name, phentsize);
    if (phoff > len || (uint64_t)phnum * phentsize > len - phoff)
        return errbuf_fail(err, errlen, "%s: truncated ELF program headers", name);

    /* First pass: validate every segment before touching RAM. */
    uint64_t low = UINT64_MAX, high = 0;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *p = img + phoff + (uint64_t)i * phentsize;
        struct phdr ph;
        ph.type = le32(p);
        if (is64) {
            ph.offset = le64(p + 8);
            ph.paddr = le64(p + 24);
            ph.filesz = le64(p + 32);
            ph.memsz = le64(p + 40);
        } else {
            ph.offset = le32(p + 4);
            ph.paddr = le32(p + 12);
            ph.filesz = le32(p + 16);
            ph.memsz = le32(p + 20);
        }
        if (ph.type != PT_LOAD || ph.memsz == 0)
            continue;
        if (ph.filesz > ph.memsz)
            return errbuf_fail(err, errlen, "%s: segment %u: file size 0x%llx exceeds memory size 0x%llx",
                        name, i, (unsigned long long)ph.filesz,
                        (unsigned long long)ph.memsz);
        if (ph.offset > len || ph.filesz > len - ph.offset)
            return errbuf_fail(err, errlen, "%s: segment %u: truncated (data at 0x%llx+0x%llx is beyond the end of the file)",
                        name, i, (unsigned long long)ph.offset,
                        (unsigned long long)ph.filesz);
        snprintf(what, sizeof what, "segment %u", i);
        if (check_range(name, what, ph.paddr, ph.memsz, ram_size, err,
                        errlen) < 0)
            return -1;
        if (ph.paddr < low)
            low = ph.paddr;
        if (ph.paddr + ph.memsz > high)
            high = ph.paddr + ph.memsz;
    }
    if (high == 0)
        return errbuf_fail(err, errlen, "%s: ELF image has no loadable segments", name);
    if (entry < low || entry >= high)
        return errbuf_fail(err, errlen, "%s: entry point 0x%llx is outside the loaded image 0x%llx-0x%llx",
                    name, (unsigned long long)entry, (unsigned long long)low,
                    (unsigned long long)high);

    /* QEMU copies the whole [low, high) blob: gaps and BSS are zero. */
    memset(ram + low, 0, high - low);
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *p = img + phoff + (uint64_t)i * phentsize;
        uint64_t off, pa, fs, ms;
        if (le32(p) != PT_LOAD)
            continue;
        if (is64) {
            off = le64(p + 8), pa = le64(p + 24), fs = le64(p + 32), ms = le64(p + 40);
        } else {
            off = le32(p + 4), pa = le32(p + 12), fs = le32(p + 16), ms = le32(p + 20);
        }
        if (ms && fs)
            memcpy(ram + pa, img + off, fs);
    }
    k->low = low;
    k->high = high;
    k->entry = entry;
    return 0;
}

/* ---- modules: "FILE[ ARGS]" items separated by ',' (",," is a literal
 * comma, QEMU's get_opt_value) ---- */

/* Copies the next item of *s into a malloc'd string; advances *s past
 * the separator. Returns NULL at the end. */
static char *next_item(const char **s, bool *done)
{
    const char *p = *s;
    size_t n = 0;
    char *out = malloc(strlen(p) + 1);
    if (!out)
        return NULL;
    for (;;) {
        if (p[0] == ',' && p[1] == ',') {
            out[n++] = ',';
            p += 2;
        } else if (p[0] == ',' || p[0] == '\0') {
            break;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    *done = *p == '\0';
    *s = *p ? p + 1 : p;
    return out;
}

static unsigned count_items(const char *s)
{
    unsigned n = 1;
    for (; *s; s++) {
        if (s[0] == ',' && s[1] == ',')
            s++;
        else if (s[0] == ',')
            n++;
    }
    return n;
}

/* Reads a module file into ram at pa; checks it fits below limit. */
static int load_module(uint8_t *ram, uint64_t pa, uint64_t limit,
                       const char *file, uint64_t *size, char *err,
                       size_t errlen)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return errbuf_fail(err, errlen, "-initrd: cannot open '%s': %s", file, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return errbuf_fail(err, errlen, "-initrd: '%s' is not a regular file", file);
    }
    if ((uint64_t)st.st_size > limit - pa) {
        close(fd);
        return errbuf_fail(err, errlen, "-initrd: module '%s' (%lld bytes) does not fit in RAM",
                    file, (long long)st.st_size);
    }
    uint64_t got = 0;
    while (got < (uint64_t)st.st_size) {
        ssize_t r = read(fd, ram + pa + got, (size_t)((uint64_t)st.st_size - got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return errbuf_fail(err, errlen, "-initrd: error reading '%s'", file);
        }
        got += (uint64_t)r;
    }
    close(fd);
    *size = got;
    return 0;
}

static void write_mmap(uint8_t *ram, uint64_t ram_size, uint32_t *length)
{
    const struct { uint64_t base, len; uint32_t type; } e[] = {
        {0, 0x9FC00, 1},
        {0x9FC00, 0x400, 2},
        {0xF0000, 0x10000, 2},
        {0x100000, ram_size - 0x100000 - SEABIOS_HIGH_RESERVED, 1},
        {ram_size - SEABIOS_HIGH_RESERVED, SEABIOS_HIGH_RESERVED, 2},
        {0xFFFC0000, 0x40000, 2},
        {AMD_HT_START, AMD_HT_SIZE, 2},
    };
    uint8_t *p = ram + MB_MMAP_ADDR;
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++, p += 24) {
        st32(p, MMAP_ENTRY_SIZE);
        st64(p + 4, e[i].base);
        st64(p + 12, e[i].len);
        st32(p + 20, e[i].type);
    }
    *length = (uint32_t)(p - (ram + MB_MMAP_ADDR));
}

static void write_gdt(uint8_t *ram)
{
    /* QEMU's multiboot option ROM GDT, byte for byte. */
    static const uint32_t gdt[10] = {
        0, 0,
        0x0000ffff, 0x00cf9a00, /* 0x08: 32-bit code, flat */
        0x0000ffff, 0x00cf9300, /* 0x10: 32-bit data, flat */
        0x0000ffff, 0x00009e00, /* 0x18: 16-bit code */
        0x0000ffff, 0x00009200, /* 0x20: 16-bit data */
    };
    for (int i = 0; i < 10; i++)
        st32(ram + MB_GDT_ADDR + 4 * i, gdt[i]);
}

int multiboot_load_image(uint8_t *ram, uint64_t ram_size, const uint8_t *img,
                         size_t len, const struct mb_params *p,
                         struct mb_result *out, char *err, size_t errlen)
{
    const char *name = p->kernel_path;
    const char *append = p->append ? p->append : "";
    size_t hoff = 0;
    bool found = false, bad_sum = false;
    uint32_t flags = 0;
    struct kimage k = {0};

    /* The spec needs enough RAM for the low area and 1 MiB + the SeaBIOS
     * reservation to make the memory map meaningful. */
    if (ram_size < 0x200000 || ram_size > 0xE0000000ull)
        return errbuf_fail(err, errlen, "RAM size %llu bytes is not supported",
                    (unsigned long long)ram_size);

    /* Header: 32-bit aligned in the first 8192 bytes (spec 3.1.1). QEMU
     * looks only where all 48 bytes of a full header fit (offsets below
     * 8192 - 48); so do we, so that the same images boot. */
    for (size_t i = 0; i < MB_SEARCH_LIMIT - 48 && i + 12 <= len; i += 4) {
        if (le32(img + i) != MB_HEADER_MAGIC)
            continue;
        uint32_t f = le32(img + i + 4), sum = le32(img + i + 8);
        if ((uint32_t)(MB_HEADER_MAGIC + f + sum) != 0) {
            bad_sum = true;
            continue;
        }
        found = true;
        hoff = i;
        flags = f;
        break;
    }
    if (!found)
        return bad_sum ? errbuf_fail(err, errlen, "%s: Multiboot header has a bad checksum", name)
                       : errbuf_fail(err, errlen, "%s: no Multiboot header in the first %d bytes",
                              name, MB_SEARCH_LIMIT);

    if (flags & MB_FLAG_AOUT_KLUDGE) {
        if (load_kludge(ram, ram_size, img, len, hoff, &k, name, err, errlen) < 0)
            return -1;
    } else {
        if (len < 6 || memcmp(img, "\x7f" "ELF", 4) != 0)
            return errbuf_fail(err, errlen, "%s: not an ELF image and the Multiboot header has no load addresses (flags bit 16)",
                        name);
        if (load_elf(ram, ram_size, img, len, &k, name, err, errlen) < 0)
            return -1;
    }

    /* The info block after the kernel, laid out as QEMU's mb_buf:
     * [module list][module cmdlines][kernel cmdline][loader name]. */
    unsigned nmods = p->initrd ? count_items(p->initrd) : 0;
    uint64_t off_info = PAGE_ALIGN(k.high - k.low);
    uint64_t cmdline_len = strlen(name) + 1 + strlen(append) + 1;
    if (p->initrd)
        cmdline_len += strlen(p->initrd) + 1;
    uint64_t off_cmdlines = off_info + (uint64_t)nmods * MOD_ENTRY_SIZE;
    uint64_t off_loader = off_cmdlines + cmdline_len;
    uint64_t buf_size = PAGE_ALIGN(off_loader + sizeof "qemu");
    if (k.low + buf_size > ram_size)
        return errbuf_fail(err, errlen, "%s: no room in RAM for the Multiboot information after the kernel",
                    name);
    if (overlaps(k.low + off_info, buf_size - off_info, MB_LOW_START,
                 MB_LOW_END - MB_LOW_START))
        return errbuf_fail(err, errlen, "%s: the Multiboot information after the kernel would overlap 0x%x-0x%x",
                    name, MB_LOW_START, MB_LOW_END);
    memset(ram + k.low + off_info, 0, buf_size - off_info);

    uint64_t cmd_pos = k.low + off_cmdlines;
    const char *s = p->initrd;
    for (unsigned i = 0; i < nmods; i++) {
        bool done;
        char *item = next_item(&s, &done);
        if (!item)
            return errbuf_fail(err, errlen, "out of memory");
        /* The module's string is "FILE ARGS"; the file name ends at the
         * first space (QEMU). */
        size_t ilen = strlen(item);
        memcpy(ram + cmd_pos, item, ilen + 1);
        uint64_t cmd_addr = cmd_pos;
        cmd_pos += ilen + 1;
        char *sp = strchr(item, ' ');
        if (sp)
            *sp = '\0';
        uint64_t mod_start = k.low + buf_size, mod_size = 0;
        if (*item == '\0') {
            free(item);
            return errbuf_fail(err, errlen, "-initrd: empty module file name");
        }
        if (overlaps(mod_start, 1, MB_LOW_START, MB_LOW_END - MB_LOW_START)) {
            free(item);
            return errbuf_fail(err, errlen, "-initrd: modules would overlap 0x%x-0x%x",
                        MB_LOW_START, MB_LOW_END);
        }
        int r = load_module(ram, mod_start, ram_size, item, &mod_size, err, errlen);
        free(item);
        if (r < 0)
            return -1;
        uint8_t *m = ram + k.low + off_info + (uint64_t)i * MOD_ENTRY_SIZE;
        st32(m, (uint32_t)mod_start);
        st32(m + 4, (uint32_t)(mod_start + mod_size));
        st32(m + 8, (uint32_t)cmd_addr);
        st32(m + 12, 0);
        buf_size = PAGE_ALIGN(buf_size + mod_size);
        if (k.low + buf_size > ram_size)
            return errbuf_fail(err, errlen, "-initrd: modules do not fit in RAM");
    }

    /* Kernel command line: the -kernel file name, a space, then -append
     * (QEMU's "%s %s"; so it ends in a space without -append). */
    uint64_t kcmd = cmd_pos;
    size_t nlen = strlen(name), alen = strlen(append);
    memcpy(ram + cmd_pos, name, nlen);
    ram[cmd_pos + nlen] = ' ';
    memcpy(ram + cmd_pos + nlen + 1, append, alen + 1);
    memcpy(ram + k.low + off_loader, "qemu", sizeof "qemu");

    write_gdt(ram);
    uint32_t mmap_len;
    write_mmap(ram, ram_size, &mmap_len);

    uint8_t *mbi = ram + MB_INFO_ADDR;
    memset(mbi, 0, MB_INFO_SIZE);
    st32(mbi + 0, MBI_FLAGS_QEMU);
    st32(mbi + 4, 639);
    st32(mbi + 8, (uint32_t)((ram_size - 0x100000 - SEABIOS_HIGH_RESERVED) >> 10));
    st32(mbi + 12, 0x8000ffff); /* boot_device: QEMU's fixed value */
    st32(mbi + 16, (uint32_t)kcmd);
    st32(mbi + 20, nmods);
    st32(mbi + 24, (uint32_t)(k.low + off_info));
    st32(mbi + 44, mmap_len);
    st32(mbi + 48, MB_MMAP_ADDR);
    st32(mbi + 64, (uint32_t)(k.low + off_loader));

    out->entry = (uint32_t)k.entry;
    out->info_addr = MB_INFO_ADDR;
    out->image_start = (uint32_t)k.low;
    out->image_end = (uint32_t)k.high;
    out->end = (uint32_t)(k.low + buf_size);
    out->mods_count = nmods;
    return 0;
}

int multiboot_load_file(uint8_t *ram, uint64_t ram_size,
                        const struct mb_params *p, struct mb_result *out,
                        char *err, size_t errlen)
{
    int fd = open(p->kernel_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return errbuf_fail(err, errlen, "-kernel: cannot open '%s': %s", p->kernel_path,
                    strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return errbuf_fail(err, errlen, "-kernel: '%s' is not a regular file", p->kernel_path);
    }
    /* A loadable image is at most RAM-sized plus headers; refuse silly
     * sizes before allocating. */
    if ((uint64_t)st.st_size > ram_size + (64u << 20)) {
        close(fd);
        return errbuf_fail(err, errlen, "-kernel: '%s' is larger than RAM", p->kernel_path);
    }
    if (st.st_size == 0) {
        close(fd);
        return errbuf_fail(err, errlen, "%s: empty file", p->kernel_path);
    }
    size_t len = (size_t)st.st_size, got = 0;
    uint8_t *img = malloc(len);
    if (!img) {
        close(fd);
        return errbuf_fail(err, errlen, "-kernel: '%s': out of memory", p->kernel_path);
    }
    while (got < len) {
        ssize_t r = read(fd, img + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != len) {
        free(img);
        return errbuf_fail(err, errlen, "-kernel: error reading '%s'", p->kernel_path);
    }
    int ret = multiboot_load_image(ram, ram_size, img, len, p, out, err, errlen);
    free(img);
    return ret;
}
