/* reader.h: bounds-checked little-endian cursor over a borrowed byte range.
 *
 * The first overrun makes the reader sticky-failed: later reads return zeros / NULL and do not
 * move. A parser reads all its fields and checks dr_rd_ok() once at the end, so no field is ever
 * read past the end of its input. */
#ifndef DR_READER_H
#define DR_READER_H

#include "drrepo/common.h"

struct dr_reader {
    const uint8_t *p;
    size_t len, pos;
    bool failed;
};

static inline void dr_rd_init(struct dr_reader *r, const void *p, size_t len)
{
    r->p = (const uint8_t *)p;
    r->len = len;
    r->pos = 0;
    r->failed = false;
}

static inline bool dr_rd_ok(const struct dr_reader *r)
{
    return !r->failed;
}

static inline size_t dr_rd_left(const struct dr_reader *r)
{
    return r->failed ? 0 : r->len - r->pos;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and fails) if fewer are left.
 * The pointer borrows the reader's input. */
static inline const uint8_t *dr_rd_bytes(struct dr_reader *r, size_t n)
{
    if (r->failed || r->len - r->pos < n) {
        r->failed = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static inline uint8_t dr_rd_u8(struct dr_reader *r)
{
    const uint8_t *p = dr_rd_bytes(r, 1);
    return p ? p[0] : 0;
}

static inline uint16_t dr_rd_u16le(struct dr_reader *r)
{
    const uint8_t *p = dr_rd_bytes(r, 2);
    return p ? dr_get_u16le(p) : 0;
}

static inline uint32_t dr_rd_u32le(struct dr_reader *r)
{
    const uint8_t *p = dr_rd_bytes(r, 4);
    return p ? dr_get_u32le(p) : 0;
}

static inline uint64_t dr_rd_u64le(struct dr_reader *r)
{
    const uint8_t *p = dr_rd_bytes(r, 8);
    return p ? dr_get_u64le(p) : 0;
}

static inline void dr_rd_copy(struct dr_reader *r, void *dst, size_t n)
{
    const uint8_t *p = dr_rd_bytes(r, n);
    if (p) {
        memcpy(dst, p, n);
    } else {
        memset(dst, 0, n);
    }
}

/* Marks the reader failed (for a semantic check such as a length over its limit). */
static inline void dr_rd_fail(struct dr_reader *r)
{
    r->failed = true;
}

#endif
