/* test_buf.c: the growable buffer (src/common/buf.c).
 *
 * Covers: the invariants of a fresh buffer (never NULL, NUL-terminated, nothing allocated);
 * add, addch, adds, addf and the little-endian adders append in order and keep the NUL; the cap:
 * growing to exactly max works, one byte past fails with DR_ECORRUPT and leaves the buffer
 * unchanged (also for addf and for a size that overflows); reset keeps the memory; setlen;
 * detach hands the memory over (and a fresh string for an empty buffer) and re-initialises;
 * release returns to the empty state; grow_mapped maps the room's pages at once and keeps the
 * contents, and map maps a range of a reserved allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/buf.h"
#include "drrepo/error.h"

static void test_fresh(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(16);
    assert_non_null(b.buf);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.buf[0], '\0');
    struct dr_buf c;
    dr_buf_init(&c, 99);
    assert_non_null(c.buf);
    assert_int_equal(c.max, 99);
    dr_buf_release(&b);
    dr_buf_release(&c);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.max, 16);
}

static void test_appends(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_buf_adds(&b, "ab"), 0);
    assert_int_equal(dr_buf_addch(&b, 'c'), 0);
    assert_int_equal(dr_buf_add(&b, "\0d", 2), 0);
    assert_int_equal(dr_buf_addf(&b, "-%d-%s", 42, "x"), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.buf, "abc\0d-42-x", 10);
    assert_int_equal(b.buf[b.len], '\0');
    assert_true(b.len < b.alloc);

    dr_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.buf[0], '\0');
    assert_int_equal(dr_buf_add_u8(&b, 0x01), 0);
    assert_int_equal(dr_buf_add_u16le(&b, 0x0302), 0);
    assert_int_equal(dr_buf_add_u32le(&b, 0x07060504), 0);
    assert_int_equal(dr_buf_add_u64le(&b, 0x0f0e0d0c0b0a0908ULL), 0);
    const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.buf, want, sizeof(want));

    /* many appends: growth keeps the content */
    dr_buf_reset(&b);
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(dr_buf_addch(&b, 'a' + i % 26), 0);
    }
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.buf[9999], 'a' + 9999 % 26);
    assert_int_equal(b.buf[10000], '\0');

    dr_buf_setlen(&b, 3);
    assert_string_equal(b.buf, "abc");
    dr_buf_release(&b);
}

static void test_cap(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(8);
    assert_int_equal(dr_buf_adds(&b, "12345678"), 0); /* exactly max */
    assert_int_equal(b.len, 8);
    dr_error_clear();
    assert_int_equal(dr_buf_addch(&b, '9'), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "limit"));
    assert_int_equal(b.len, 8);
    assert_string_equal(b.buf, "12345678");
    assert_int_equal(dr_buf_addf(&b, "%s", "x"), DR_ECORRUPT);
    assert_int_equal(b.len, 8);
    assert_int_equal(dr_buf_grow(&b, SIZE_MAX), DR_ECORRUPT); /* len + extra overflows */
    assert_string_equal(b.buf, "12345678");

    struct dr_buf e = DR_BUF_INIT(4);
    assert_int_equal(dr_buf_add(&e, "hello", 5), DR_ECORRUPT);
    assert_int_equal(e.len, 0);
    assert_int_equal(e.alloc, 0); /* nothing allocated for a refused add */
    assert_int_equal(e.buf[0], '\0');
    assert_int_equal(dr_buf_addf(&e, "%05d", 1), DR_ECORRUPT);
    assert_int_equal(dr_buf_addf(&e, "%04d", 1), 0);
    assert_string_equal(e.buf, "0001");
    dr_buf_release(&e);
    dr_buf_release(&b);
}

static void test_detach(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(64);
    size_t len = 99;
    char *p = dr_buf_detach(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 0);
    assert_string_equal(p, "");
    free(p);

    assert_int_equal(dr_buf_adds(&b, "owned"), 0);
    char *old = b.buf;
    p = dr_buf_detach(&b, &len);
    assert_ptr_equal(p, old);
    assert_int_equal(len, 5);
    assert_string_equal(p, "owned");
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.max, 64);
    assert_ptr_not_equal(b.buf, p);
    free(p);
    dr_buf_release(&b);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* How many of the whole pages in [p, p + n) are resident. */
static size_t resident(const char *p, size_t n, size_t page)
{
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    size_t np = (e - a) / page, in = 0;
    unsigned char *v = calloc(np ? np : 1, 1);
    assert_non_null(v);
    assert_int_equal(mincore((void *)a, e - a, v), 0);
    for (size_t i = 0; i < np; i++) {
        in += v[i] & 1;
    }
    free(v);
    return in;
}

static void test_grow_mapped(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (size_t)8 << 20;
    void *probe = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(probe != MAP_FAILED);
    bool supported = madvise(probe, page, MADV_POPULATE_WRITE) == 0;
    munmap(probe, page);
    if (!supported) {
        skip(); /* before Linux 5.14 grow_mapped is dr_buf_grow */
    }
    /* a fresh allocation this large is mapped on demand: a plain grow leaves it unmapped */
    struct dr_buf plain = DR_BUF_INIT((size_t)64 << 20);
    assert_int_equal(dr_buf_grow(&plain, n), 0);
    size_t whole = n / page - 2;
    assert_true(resident(plain.buf + page, n - page, page) < whole);

    struct dr_buf b = DR_BUF_INIT((size_t)64 << 20);
    assert_int_equal(dr_buf_adds(&b, "kept"), 0);
    assert_int_equal(dr_buf_grow_mapped(&b, n), 0);
    assert_int_equal(b.len, 4);
    assert_true(b.alloc >= 4 + n + 1);
    assert_string_equal(b.buf, "kept");
    assert_true(resident(b.buf + b.len, n, page) >= whole);
    /* map maps a range of an allocation reserved at once, and nothing past it */
    struct dr_buf r = DR_BUF_INIT((size_t)64 << 20);
    assert_int_equal(dr_buf_grow(&r, 2 * n), 0);
    assert_true(resident(r.buf + n, n, page) < whole);
    dr_buf_map(&r, n, n / 2);
    assert_true(resident(r.buf + n, n / 2, page) >= whole / 2 - 1);
    assert_true(resident(r.buf + n + n / 2 + page, n / 2 - page, page) < whole / 2 - 2);
    dr_buf_map(&r, r.alloc - 1, n); /* clipped to the allocation */
    dr_buf_release(&r);
    assert_int_equal(dr_buf_grow_mapped(&b, 0), 0);                          /* nothing to map */
    assert_int_equal(dr_buf_grow_mapped(&b, (size_t)64 << 20), DR_ECORRUPT); /* past max */
    assert_string_equal(b.buf, "kept");
    dr_buf_release(&b);
    dr_buf_release(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh),       cmocka_unit_test(test_appends),
        cmocka_unit_test(test_cap),         cmocka_unit_test(test_detach),
        cmocka_unit_test(test_grow_mapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
