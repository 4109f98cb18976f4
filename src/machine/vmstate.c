/* vmstate.c: see vmstate.h. */
#include "vmstate.h"

#include <stdlib.h>
#include <string.h>

void vmstate_init(struct vmstate *s)
{
    memset(s, 0, sizeof *s);
}

void vmstate_init_reader(struct vmstate *s, const uint8_t *buf, size_t len)
{
    memset(s, 0, sizeof *s);
    s->buf = (uint8_t *)buf; /* never written through: cap stays 0 */
    s->len = len;
}

void vmstate_free(struct vmstate *s)
{
    if (s->cap)
        free(s->buf);
    memset(s, 0, sizeof *s);
}

void vmstate_put_bytes(struct vmstate *s, const void *p, size_t n)
{
    if (s->error)
        return;
    if (n > s->cap - s->len || !s->cap) {
        if (s->buf && !s->cap) { /* a reader view is not writable */
            s->error = true;
            return;
        }
        size_t cap = s->cap ? s->cap : 256;
        while (cap - s->len < n) {
            if (cap > SIZE_MAX / 2) {
                s->error = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb) {
            s->error = true;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
    if (n)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_le(struct vmstate *s, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    vmstate_put_bytes(s, b, (size_t)n);
}

void vmstate_put_u8(struct vmstate *s, uint8_t v) { put_le(s, v, 1); }
void vmstate_put_u16(struct vmstate *s, uint16_t v) { put_le(s, v, 2); }
void vmstate_put_u32(struct vmstate *s, uint32_t v) { put_le(s, v, 4); }
void vmstate_put_u64(struct vmstate *s, uint64_t v) { put_le(s, v, 8); }

void vmstate_get_bytes(struct vmstate *s, void *p, size_t n)
{
    if (s->error || s->pos > s->len || n > s->len - s->pos) {
        s->error = true;
        memset(p, 0, n);
        return;
    }
    if (n)
        memcpy(p, s->buf + s->pos, n);
    s->pos += n;
}

static uint64_t get_le(struct vmstate *s, int n)
{
    uint8_t b[8];
    uint64_t v = 0;
    vmstate_get_bytes(s, b, (size_t)n);
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

uint8_t vmstate_get_u8(struct vmstate *s) { return (uint8_t)get_le(s, 1); }
uint16_t vmstate_get_u16(struct vmstate *s) { return (uint16_t)get_le(s, 2); }
uint32_t vmstate_get_u32(struct vmstate *s) { return (uint32_t)get_le(s, 4); }
uint64_t vmstate_get_u64(struct vmstate *s) { return get_le(s, 8); }
