/* vmstate.h: bounded serialisation of device state (for snapshots).
 *
 * A growable little-endian byte buffer. Writers append; readers consume
 * from a cursor and never read past the end: an out-of-bounds read returns
 * 0 and latches the error flag, so a device's load() can read every field
 * unconditionally and check vmstate_ok() once at the end. */
#ifndef PINVM_VMSTATE_H
#define PINVM_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmstate {
    uint8_t *buf;
    size_t len; /* bytes written (writer) or available (reader) */
    size_t cap; /* allocated size; 0 for a read-only view */
    size_t pos; /* read cursor */
    bool error; /* allocation failure or read past the end */
};

/* An empty buffer for writing. */
void vmstate_init(struct vmstate *s);
/* A read-only view of len bytes at buf (not copied, not freed). */
void vmstate_init_reader(struct vmstate *s, const uint8_t *buf, size_t len);
void vmstate_free(struct vmstate *s);

void vmstate_put_u8(struct vmstate *s, uint8_t v);
void vmstate_put_u16(struct vmstate *s, uint16_t v);
void vmstate_put_u32(struct vmstate *s, uint32_t v);
void vmstate_put_u64(struct vmstate *s, uint64_t v);
void vmstate_put_bytes(struct vmstate *s, const void *p, size_t n);

uint8_t vmstate_get_u8(struct vmstate *s);
uint16_t vmstate_get_u16(struct vmstate *s);
uint32_t vmstate_get_u32(struct vmstate *s);
uint64_t vmstate_get_u64(struct vmstate *s);
/* Copies n bytes to p, or zero-fills p and sets the error flag. */
void vmstate_get_bytes(struct vmstate *s, void *p, size_t n);

static inline bool vmstate_ok(const struct vmstate *s)
{
    return !s->error;
}

#endif
