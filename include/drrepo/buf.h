/* buf.h: growable byte buffer (git strbuf with curl dynbuf's size cap).
 *
 * Invariants once initialised: buf is never NULL and is always NUL-terminated (buf[len] == 0),
 * and may hold binary data; len < alloc; len <= max. Growing past max fails with DR_ECORRUPT
 * instead of allocating what hostile input asks for; the buffer is left unchanged then. */
#ifndef DR_BUF_H
#define DR_BUF_H

#include <stdarg.h>

#include "drrepo/common.h"

struct dr_buf {
    char *buf;
    size_t len, alloc, max;
};

extern char dr_buf_empty[];
#define DR_BUF_MAX_DEFAULT ((size_t)1 << 30)
#define DR_BUF_INIT(m)                                                                             \
    {                                                                                              \
        .buf = dr_buf_empty, .len = 0, .alloc = 0, .max = (m)                                      \
    }

void dr_buf_init(struct dr_buf *b, size_t max);
void dr_buf_release(struct dr_buf *b);
/* Ensures room for extra more bytes (plus the NUL). DR_ECORRUPT when past max. */
DR_MUST_CHECK int dr_buf_grow(struct dr_buf *b, size_t extra);
/* dr_buf_grow, with the memory of those extra bytes mapped now, in one system call, instead of
 * a page fault per 4 KiB as they are first written: for a buffer about to be filled, such as
 * the read engine's with a pack. A virtual machine pays an exit per fault (docs/PERFORMANCE.md:
 * a restore from S3 used 16% less CPU). Where the kernel cannot (before Linux 5.14), the
 * faults come as before. */
DR_MUST_CHECK int dr_buf_grow_mapped(struct dr_buf *b, size_t extra);
/* Maps the memory of bytes [off, off + len) of b's allocation now (within b->alloc), as
 * dr_buf_grow_mapped does for its room: for a buffer reserved at once and filled in steps. */
void dr_buf_map(struct dr_buf *b, size_t off, size_t len);
DR_MUST_CHECK int dr_buf_add(struct dr_buf *b, const void *data, size_t len);
DR_MUST_CHECK int dr_buf_addch(struct dr_buf *b, int c);
DR_MUST_CHECK int dr_buf_adds(struct dr_buf *b, const char *s);
DR_MUST_CHECK DR_PRINTF(2, 3) int dr_buf_addf(struct dr_buf *b, const char *fmt, ...);
DR_MUST_CHECK int dr_buf_vaddf(struct dr_buf *b, const char *fmt, va_list ap);
DR_MUST_CHECK int dr_buf_add_u8(struct dr_buf *b, uint8_t v);
DR_MUST_CHECK int dr_buf_add_u16le(struct dr_buf *b, uint16_t v);
DR_MUST_CHECK int dr_buf_add_u32le(struct dr_buf *b, uint32_t v);
DR_MUST_CHECK int dr_buf_add_u64le(struct dr_buf *b, uint64_t v);
/* Sets len (<= alloc-1 after a grow) and writes the NUL. */
void dr_buf_setlen(struct dr_buf *b, size_t len);
void dr_buf_reset(struct dr_buf *b);
/* Hands the memory to the caller (free() it); the buffer is re-initialised empty. */
char *dr_buf_detach(struct dr_buf *b, size_t *out_len);

#endif
