/* buf.c: growable byte buffer with a size cap (see buf.h for the invariants). */
#include "drrepo/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

char dr_buf_empty[1];

void dr_buf_init(struct dr_buf *b, size_t max)
{
    b->buf = dr_buf_empty;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

void dr_buf_release(struct dr_buf *b)
{
    if (b->alloc) {
        free(b->buf);
    }
    dr_buf_init(b, b->max);
}

int dr_buf_grow(struct dr_buf *b, size_t extra)
{
    size_t need;
    if (__builtin_add_overflow(b->len, extra, &need) || need > b->max) {
        return dr_errorf(DR_ECORRUPT, "buffer would exceed its limit of %zu bytes", b->max);
    }
    need += 1;
    if (need <= b->alloc) {
        return 0;
    }
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need) {
        n = n * 3 / 2 + 16;
    }
    if (b->alloc == 0) {
        b->buf = dr_xmalloc(n);
        b->buf[0] = '\0';
    } else {
        b->buf = dr_xrealloc(b->buf, n);
    }
    b->alloc = n;
    return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void dr_buf_map(struct dr_buf *b, size_t off, size_t len)
{
    if (len == 0 || off >= b->alloc) {
        return;
    }
    len = DR_MIN(len, b->alloc - off);
    long p = sysconf(_SC_PAGESIZE); /* glibc answers from memory, no system call */
    size_t page = p > 0 ? (size_t)p : 4096;
    /* whole pages around the range: the ends' pages are mapped already (b->buf's own) */
    uintptr_t a = (uintptr_t)(b->buf + off) & ~(uintptr_t)(page - 1);
    uintptr_t e = ((uintptr_t)(b->buf + off + len) + page - 1) & ~(uintptr_t)(page - 1);
    (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE); /* advice: else the faults come */
}

int dr_buf_grow_mapped(struct dr_buf *b, size_t extra)
{
    int rc = dr_buf_grow(b, extra);
    if (rc >= 0) {
        dr_buf_map(b, b->len, extra);
    }
    return rc;
}

int dr_buf_add(struct dr_buf *b, const void *data, size_t len)
{
    int rc = dr_buf_grow(b, len);
    if (rc < 0) {
        return rc;
    }
    if (len) {
        memcpy(b->buf + b->len, data, len);
    }
    b->len += len;
    b->buf[b->len] = '\0';
    return 0;
}

int dr_buf_addch(struct dr_buf *b, int c)
{
    uint8_t ch = (uint8_t)c;
    return dr_buf_add(b, &ch, 1);
}

int dr_buf_adds(struct dr_buf *b, const char *s)
{
    return dr_buf_add(b, s, strlen(s));
}

int dr_buf_vaddf(struct dr_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) {
        return dr_errorf(DR_EINTERNAL, "bad format string");
    }
    int rc = dr_buf_grow(b, (size_t)n);
    if (rc < 0) {
        return rc;
    }
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int dr_buf_addf(struct dr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dr_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int dr_buf_add_u8(struct dr_buf *b, uint8_t v)
{
    return dr_buf_add(b, &v, 1);
}

int dr_buf_add_u16le(struct dr_buf *b, uint16_t v)
{
    uint8_t p[2];
    dr_put_u16le(p, v);
    return dr_buf_add(b, p, 2);
}

int dr_buf_add_u32le(struct dr_buf *b, uint32_t v)
{
    uint8_t p[4];
    dr_put_u32le(p, v);
    return dr_buf_add(b, p, 4);
}

int dr_buf_add_u64le(struct dr_buf *b, uint64_t v)
{
    uint8_t p[8];
    dr_put_u64le(p, v);
    return dr_buf_add(b, p, 8);
}

void dr_buf_setlen(struct dr_buf *b, size_t len)
{
    if (b->alloc == 0 ? len != 0 : len >= b->alloc) {
        DR_BUG("dr_buf_setlen beyond allocation");
    }
    b->len = len;
    if (b->alloc) {
        b->buf[len] = '\0';
    }
}

void dr_buf_reset(struct dr_buf *b)
{
    dr_buf_setlen(b, 0);
}

char *dr_buf_detach(struct dr_buf *b, size_t *out_len)
{
    char *p = b->alloc ? b->buf : dr_xstrdup("");
    if (out_len) {
        *out_len = b->len;
    }
    dr_buf_init(b, b->max);
    return p;
}
