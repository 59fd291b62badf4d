/* test_chunklist.c: the chunk-list codec (src/object/chunklist.c, format/chunklist.md).
 *
 * Covers: a full list and a change round-trip through encode, decode and apply (a change that
 * replaces, grows and shrinks); the change holds exactly the positions that differ; every rule
 * of chunklist.md that one blob can break is refused as corrupt with the list left empty
 * (length, magic, version 0, newer version as unsupported, count 0, more entries than chunks,
 * depth over the limit, a full list with a base or missing a position or with a wrong total, a
 * change without a base or with positions out of order or past its end); applying a change
 * that leaves a position past its base's end unset, or whose sizes do not add up, is refused;
 * the encoder refuses an empty list and a chain past the depth limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/chunklist.h"
#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

static void ids_of(struct dr_id *ids, uint32_t n, uint8_t seed)
{
    for (uint32_t i = 0; i < n; i++) {
        memset(ids[i].b, (int)(seed + i), DR_ID_LEN);
    }
}

static void expect_corrupt(const struct dr_buf *b, int code, const char *what)
{
    struct dr_chunklist l;
    int rc = dr_chunklist_decode((const uint8_t *)b->buf, b->len, &l);
    if (rc != code || !strstr(dr_error_msg(), what)) {
        fail_msg("got %d (%s), want %d and '%s'", rc, dr_error_msg(), code, what);
    }
    assert_int_equal(l.nent, 0);
    assert_null(l.pos);
    dr_error_clear();
}

static void test_round_trip(void **state)
{
    (void)state;
    struct dr_id a[5], b[5];
    uint32_t sa[5] = {8192, 8192, 8192, 8192, 10}, sb[5] = {8192, 8192, 8192, 8192, 8192};
    ids_of(a, 5, 0x10);
    memcpy(b, a, sizeof(a));
    ids_of(&b[1], 1, 0x90);
    ids_of(&b[4], 1, 0xa0);
    struct dr_buf full = DR_BUF_INIT(DR_BLOB_MAX), ch = DR_BUF_INIT(DR_BLOB_MAX);
    assert_int_equal(dr_chunklist_encode_full(a, sa, 4, &full), 0);
    assert_int_equal(full.len, DR_CHUNKLIST_HDR_LEN + 4 * DR_CHUNKLIST_ENT_LEN);
    struct dr_id base;
    memset(&base, 0x33, sizeof(base));
    /* grow 4 -> 5 and change position 1: entries 1 and 4 */
    assert_int_equal(dr_chunklist_diff_count(a, sa, 4, b, sb, 5), 2);
    assert_int_equal(dr_chunklist_encode_delta(&base, 0, a, sa, 4, b, sb, 5, &ch), 0);
    assert_int_equal(ch.len, DR_CHUNKLIST_HDR_LEN + 2 * DR_CHUNKLIST_ENT_LEN);

    struct dr_chunklist l0, l1;
    assert_int_equal(dr_chunklist_decode((const uint8_t *)full.buf, full.len, &l0), 0);
    assert_int_equal(dr_chunklist_decode((const uint8_t *)ch.buf, ch.len, &l1), 0);
    assert_int_equal(l0.depth, 0);
    assert_int_equal(l1.depth, 1);
    assert_true(dr_id_eq(&l1.base, &base));
    assert_int_equal(l1.total, 5 * 8192);
    struct dr_id *ids = NULL;
    uint32_t *sizes = NULL, n = 0;
    assert_int_equal(dr_chunklist_apply(&l0, &ids, &sizes, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(ids, a, 4 * sizeof(*ids));
    assert_int_equal(dr_chunklist_apply(&l1, &ids, &sizes, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(ids, b, 5 * sizeof(*ids));
    assert_memory_equal(sizes, sb, sizeof(sb));

    /* shrink 5 -> 3 with position 0 changed: one entry, and the tail is dropped */
    struct dr_id c[3];
    memcpy(c, b, sizeof(c));
    ids_of(c, 1, 0xc0);
    dr_buf_reset(&ch);
    assert_int_equal(dr_chunklist_encode_delta(&base, 1, b, sb, 5, c, sb, 3, &ch), 0);
    struct dr_chunklist l2;
    assert_int_equal(dr_chunklist_decode((const uint8_t *)ch.buf, ch.len, &l2), 0);
    assert_int_equal(l2.nent, 1);
    assert_int_equal(dr_chunklist_apply(&l2, &ids, &sizes, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(ids, c, sizeof(c));
    free(ids);
    free(sizes);
    dr_chunklist_release(&l0);
    dr_chunklist_release(&l1);
    dr_chunklist_release(&l2);
    dr_buf_release(&full);
    dr_buf_release(&ch);
}

static void test_bad_blobs(void **state)
{
    (void)state;
    struct dr_id a[3], base;
    uint32_t sa[3] = {100, 200, 300};
    ids_of(a, 3, 1);
    memset(&base, 0x44, sizeof(base));
    struct dr_buf full = DR_BUF_INIT(DR_BLOB_MAX), b = DR_BUF_INIT(DR_BLOB_MAX);
    assert_int_equal(dr_chunklist_encode_full(a, sa, 3, &full), 0);
    uint8_t *p;
#define COPY()                                                                                     \
    (dr_buf_reset(&b), assert_int_equal(dr_buf_add(&b, full.buf, full.len), 0),                    \
     p = (uint8_t *)b.buf)
    COPY();
    dr_buf_setlen(&b, b.len - 1);
    expect_corrupt(&b, DR_ECORRUPT, "does not fill");
    dr_buf_setlen(&b, 10);
    expect_corrupt(&b, DR_ECORRUPT, "too short");
    COPY();
    p[0] = 'X';
    expect_corrupt(&b, DR_ECORRUPT, "magic");
    COPY();
    dr_put_u32le(p + 8, 0);
    expect_corrupt(&b, DR_ECORRUPT, "version 0");
    dr_put_u32le(p + 8, 2);
    expect_corrupt(&b, DR_EUNSUPPORTED, "version 2");
    COPY();
    dr_put_u32le(p + 16, 0); /* count */
    expect_corrupt(&b, DR_ECORRUPT, "0 chunks");
    COPY();
    dr_put_u32le(p + 16, 2); /* fewer chunks than entries */
    expect_corrupt(&b, DR_ECORRUPT, "does not fill");
    COPY();
    dr_put_u32le(p + 12, DR_CHUNKLIST_DEPTH_MAX + 1);
    expect_corrupt(&b, DR_ECORRUPT, "depth");
    COPY();
    p[28] = 1; /* a full list with a base */
    expect_corrupt(&b, DR_ECORRUPT, "full chunk list with a base or");
    COPY();
    dr_put_u32le(p + 16, 4); /* a full list missing a position */
    expect_corrupt(&b, DR_ECORRUPT, "without every chunk");
    COPY();
    dr_put_u64le(p + 20, 601); /* total */
    expect_corrupt(&b, DR_ECORRUPT, "add up to 600");
    COPY();
    dr_put_u32le(p + DR_CHUNKLIST_HDR_LEN + DR_CHUNKLIST_ENT_LEN, 2); /* entry 1 at position 2 */
    expect_corrupt(&b, DR_ECORRUPT, "out of order");
    COPY();
    dr_put_u32le(p + 12, 1); /* a change without a base */
    expect_corrupt(&b, DR_ECORRUPT, "without a base");
    memset(p + 28, 0x44, DR_ID_LEN); /* with one: positions 0, 1, 2 are fine */
    struct dr_chunklist l;
    assert_int_equal(dr_chunklist_decode(p, b.len, &l), 0);
    dr_chunklist_release(&l);
    dr_put_u32le(p + DR_CHUNKLIST_HDR_LEN, 1); /* entries 1, 1, 2 */
    expect_corrupt(&b, DR_ECORRUPT, "out of order");
    dr_put_u32le(p + DR_CHUNKLIST_HDR_LEN, 0);
    dr_put_u32le(p + DR_CHUNKLIST_HDR_LEN + 2 * DR_CHUNKLIST_ENT_LEN, 3); /* past count */
    expect_corrupt(&b, DR_ECORRUPT, "past its end");
#undef COPY
    dr_buf_release(&full);
    dr_buf_release(&b);
}

static void test_bad_apply(void **state)
{
    (void)state;
    struct dr_id a[4], base;
    uint32_t sa[4] = {100, 200, 300, 400};
    ids_of(a, 4, 1);
    memset(&base, 0x44, sizeof(base));
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    /* a change from 2 chunks to 4: sets positions 2 and 3 */
    assert_int_equal(dr_chunklist_encode_delta(&base, 0, a, sa, 2, a, sa, 4, &b), 0);
    struct dr_chunklist l;
    assert_int_equal(dr_chunklist_decode((const uint8_t *)b.buf, b.len, &l), 0);
    assert_int_equal(l.nent, 2);
    /* on a base of 1 chunk, position 1 stays unset */
    struct dr_id *ids = dr_xmemdup(a, sizeof(a[0]));
    uint32_t *sizes = dr_xmemdup(sa, sizeof(sa[0])), n = 1;
    assert_int_equal(dr_chunklist_apply(&l, &ids, &sizes, &n), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "unset"));
    /* on a base of 2 chunks of other sizes, the total is wrong */
    n = 2;
    ids = dr_xrealloc(ids, 2 * sizeof(*ids));
    sizes = dr_xrealloc(sizes, 2 * sizeof(*sizes));
    sizes[0] = sizes[1] = 1;
    assert_int_equal(dr_chunklist_apply(&l, &ids, &sizes, &n), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "add up"));
    dr_error_clear();
    free(ids);
    free(sizes);
    dr_chunklist_release(&l);
    dr_buf_reset(&b);
    assert_int_equal(dr_chunklist_encode_full(a, sa, 0, &b), DR_EUSAGE);
    assert_int_equal(
        dr_chunklist_encode_delta(&base, DR_CHUNKLIST_DEPTH_MAX, a, sa, 4, a, sa, 4, &b),
        DR_EUSAGE);
    dr_error_clear();
    dr_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_blobs),
        cmocka_unit_test(test_bad_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
