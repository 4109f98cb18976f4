/* iomap.h: address-range dispatch for port I/O and MMIO (data, not code:
 * a device is a range with read/write callbacks). */
#ifndef PINVM_IOMAP_H
#define PINVM_IOMAP_H

#include <stdint.h>

typedef uint64_t (*io_read_fn)(void *opaque, uint64_t off, int size);
typedef void (*io_write_fn)(void *opaque, uint64_t off, int size,
                            uint64_t val);

struct io_region {
    const char *name;
    uint64_t base, len;
    /* Widest access the callbacks handle (1, 2, 4 or 8). Wider or
     * straddling accesses are split into halves, each dispatched on its
     * own, as QEMU does for .impl.max_access_size. */
    int max_size;
    void *opaque;
    io_read_fn read;   /* NULL: reads as all ones */
    io_write_fn write; /* NULL: writes ignored */
};

#define IOMAP_MAX 32

struct iomap {
    struct io_region r[IOMAP_MAX];
    int n;
};

void iomap_init(struct iomap *m);
/* Returns 0, or -1 if the table is full, the range is empty, wraps, or
 * overlaps an existing region. */
int iomap_add(struct iomap *m, const struct io_region *r);
/* Removes the region registered with this opaque and base; 0 or -1. */
int iomap_remove(struct iomap *m, void *opaque, uint64_t base);
const struct io_region *iomap_find(const struct iomap *m, uint64_t addr);

/* size is 1, 2, 4 or 8. Bytes nobody decodes read as all ones and
 * writes to them are dropped (an ISA/PCI bus with nothing driving it). */
uint64_t iomap_read(const struct iomap *m, uint64_t addr, int size);
void iomap_write(const struct iomap *m, uint64_t addr, int size,
                 uint64_t val);

static inline uint64_t size_mask(int size)
{
    return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

#endif
