/* iomap.c: see iomap.h. A linear scan: a PC has a dozen regions. */
#include "iomap.h"

#include <string.h>

void iomap_init(struct iomap *m)
{
    memset(m, 0, sizeof *m);
}

int iomap_add(struct iomap *m, const struct io_region *r)
{
    if (m->n >= IOMAP_MAX || r->len == 0 || r->base + r->len < r->base)
        return -1;
    if (r->max_size != 1 && r->max_size != 2 && r->max_size != 4 &&
        r->max_size != 8)
        return -1;
    for (int i = 0; i < m->n; i++) {
        const struct io_region *o = &m->r[i];
        if (r->base < o->base + o->len && o->base < r->base + r->len)
            return -1;
    }
    m->r[m->n++] = *r;
    return 0;
}

int iomap_remove(struct iomap *m, void *opaque, uint64_t base)
{
    for (int i = 0; i < m->n; i++) {
        if (m->r[i].opaque == opaque && m->r[i].base == base) {
            memmove(&m->r[i], &m->r[i + 1],
                    (size_t)(m->n - i - 1) * sizeof m->r[0]);
            m->n--;
            return 0;
        }
    }
    return -1;
}

const struct io_region *iomap_find(const struct iomap *m, uint64_t addr)
{
    for (int i = 0; i < m->n; i++)
        if (addr - m->r[i].base < m->r[i].len)
            return &m->r[i];
    return NULL;
}

/* The region that takes the whole access directly, or NULL if it must be
 * split (or nobody decodes a single byte of it). */
static const struct io_region *whole(const struct iomap *m, uint64_t addr,
                                     int size)
{
    const struct io_region *r = iomap_find(m, addr);
    if (!r || size > r->max_size)
        return NULL;
    if (addr - r->base + (uint64_t)size > r->len)
        return NULL;
    return r;
}

uint64_t iomap_read(const struct iomap *m, uint64_t addr, int size)
{
    const struct io_region *r = whole(m, addr, size);
    if (r)
        return r->read ? r->read(r->opaque, addr - r->base, size) &
                             size_mask(size)
                       : size_mask(size);
    if (size == 1)
        return 0xff; /* unassigned */
    int h = size / 2;
    uint64_t lo = iomap_read(m, addr, h);
    uint64_t hi = iomap_read(m, addr + (uint64_t)h, h);
    return lo | hi << (8 * h);
}

void iomap_write(const struct iomap *m, uint64_t addr, int size,
                 uint64_t val)
{
    const struct io_region *r = whole(m, addr, size);
    if (r) {
        if (r->write)
            r->write(r->opaque, addr - r->base, size, val & size_mask(size));
        return;
    }
    if (size == 1)
        return; /* unassigned */
    int h = size / 2;
    iomap_write(m, addr, h, val & size_mask(h));
    iomap_write(m, addr + (uint64_t)h, h, val >> (8 * h));
}
