/* test_compress.c: unit tests for src/compress/zstd.c.
 *
 * Covers: dr_compressor_new/free (level clamping, free(NULL)), dr_compress (ZSTD for
 * compressible data, RAW for random, empty and one-byte inputs, appending, out's max),
 * dr_decompress (round trips, wrong expect_len both ways, unknown encodings, empty input,
 * garbage and truncated frames, frames without a content size that are larger than expected,
 * bit flips never crash, output bounded by expect_len). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "drrepo/compress.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"

static void fill_random(uint8_t *p, size_t n, uint64_t x)
{
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

static void fill_text(uint8_t *p, size_t n)
{
    static const char words[] = "the quick brown fox jumps over the lazy dog; backups are good. ";
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)words[(i * 7 / 5) % (sizeof(words) - 1)];
    }
}

static void round_trip(struct dr_compressor *z, const uint8_t *src, size_t len, int want_enc)
{
    struct dr_buf enc = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_buf dec = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_compress(z, src, len, &enc), 0);
    assert_true(enc.len >= 1 && enc.len <= len + 1);
    assert_int_equal((uint8_t)enc.buf[0], want_enc);
    if (want_enc == DR_ENC_ZSTD) {
        assert_true(enc.len - 1 < len);
    } else {
        assert_int_equal(enc.len, len + 1);
    }
    assert_int_equal(dr_decompress(z, (uint8_t *)enc.buf, enc.len, len, &dec), 0);
    assert_int_equal(dec.len, len);
    if (len) {
        assert_memory_equal(dec.buf, src, len);
    }
    dr_buf_release(&enc);
    dr_buf_release(&dec);
}

static void test_round_trips(void **state)
{
    (void)state;
    struct dr_compressor *z = dr_compressor_new(DR_DEFAULT_ZSTD_LEVEL);
    static const size_t sizes[] = {1000, 4096, 100000, 1u << 20, 3u << 20};
    for (size_t i = 0; i < DR_ARRAY_LEN(sizes); i++) {
        uint8_t *p = dr_xmalloc(sizes[i]);
        fill_text(p, sizes[i]);
        round_trip(z, p, sizes[i], DR_ENC_ZSTD);
        fill_random(p, sizes[i], 88172645463325252ull + i);
        round_trip(z, p, sizes[i], DR_ENC_RAW);
        free(p);
    }
    uint8_t one = 'x';
    round_trip(z, &one, 1, DR_ENC_RAW);
    round_trip(z, (const uint8_t *)"", 0, DR_ENC_RAW);
    uint8_t two[2] = {0, 0};
    round_trip(z, two, 2, DR_ENC_RAW);
    dr_compressor_free(z);
    dr_compressor_free(NULL);

    /* levels outside 1..19 are clamped, not fatal */
    uint8_t p[5000];
    fill_text(p, sizeof(p));
    z = dr_compressor_new(0);
    round_trip(z, p, sizeof(p), DR_ENC_ZSTD);
    dr_compressor_free(z);
    z = dr_compressor_new(99);
    round_trip(z, p, sizeof(p), DR_ENC_ZSTD);
    dr_compressor_free(z);
}

/* Large inputs are sampled before they are compressed: data that compresses only in parts, or
 * only over short distances, must still be found compressible; random data stays raw. */
static void test_probe(void **state)
{
    (void)state;
    struct dr_compressor *z = dr_compressor_new(DR_DEFAULT_ZSTD_LEVEL);
    size_t len = (size_t)1 << 20;
    uint8_t *p = dr_xmalloc(len);
    /* 16 KiB blocks of random and of text, alternating */
    for (size_t off = 0; off < len; off += 16384) {
        if ((off / 16384) % 2) {
            fill_text(p + off, 16384);
        } else {
            fill_random(p + off, 16384, 7 + off);
        }
    }
    round_trip(z, p, len, DR_ENC_ZSTD);
    /* random bytes each repeated once 64 bytes later: compressible only through short matches */
    fill_random(p, len, 99);
    for (size_t off = 0; off + 128 <= len; off += 128) {
        memcpy(p + off + 64, p + off, 64);
    }
    round_trip(z, p, len, DR_ENC_ZSTD);
    /* just above and below the size where sampling starts */
    static const size_t sizes[] = {(size_t)128 * 1024 - 1, (size_t)128 * 1024, 200000};
    for (size_t i = 0; i < DR_ARRAY_LEN(sizes); i++) {
        fill_random(p, sizes[i], 5 + i);
        round_trip(z, p, sizes[i], DR_ENC_RAW);
        fill_text(p, sizes[i]);
        round_trip(z, p, sizes[i], DR_ENC_ZSTD);
    }
    free(p);
    dr_compressor_free(z);
}

static void test_appends_and_max(void **state)
{
    (void)state;
    struct dr_compressor *z = dr_compressor_new(3);
    uint8_t p[10000];
    fill_text(p, sizeof(p));

    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_buf_adds(&out, "prefix"), 0);
    assert_int_equal(dr_compress(z, p, sizeof(p), &out), 0);
    assert_memory_equal(out.buf, "prefix", 6);
    struct dr_buf dec = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_buf_adds(&dec, "x"), 0);
    assert_int_equal(dr_decompress(z, (uint8_t *)out.buf + 6, out.len - 6, sizeof(p), &dec), 0);
    assert_int_equal(dec.len, 1 + sizeof(p));
    assert_memory_equal(dec.buf + 1, p, sizeof(p));

    /* decoding fits in exactly expect_len of room: the output allocation is bounded by it */
    struct dr_buf tight = DR_BUF_INIT(sizeof(p));
    assert_int_equal(dr_decompress(z, (uint8_t *)out.buf + 6, out.len - 6, sizeof(p), &tight), 0);
    dr_buf_release(&tight);
    struct dr_buf small = DR_BUF_INIT(sizeof(p) - 1);
    assert_int_equal(dr_decompress(z, (uint8_t *)out.buf + 6, out.len - 6, sizeof(p), &small),
                     DR_ECORRUPT);
    assert_int_equal(small.len, 0);

    /* compressing needs room for the RAW fallback: 1 + len */
    struct dr_buf cap = DR_BUF_INIT(sizeof(p));
    assert_int_equal(dr_compress(z, p, sizeof(p), &cap), DR_ECORRUPT);
    assert_int_equal(cap.len, 0);
    dr_buf_release(&cap);

    dr_buf_release(&out);
    dr_buf_release(&dec);
    dr_compressor_free(z);
}

static void expect_corrupt(struct dr_compressor *z, const uint8_t *src, size_t len,
                           size_t expect_len)
{
    /* copy to an exact-size heap block so that ASan sees any read past the end */
    uint8_t *copy = dr_xmalloc(len ? len : 1);
    if (len) {
        memcpy(copy, src, len);
    }
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_buf_adds(&out, "keep"), 0);
    dr_error_clear();
    assert_int_equal(dr_decompress(z, copy, len, expect_len, &out), DR_ECORRUPT);
    assert_true(dr_error_msg()[0] != '\0');
    assert_int_equal(out.len, 4);
    dr_buf_release(&out);
    free(copy);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct dr_compressor *z = dr_compressor_new(3);
    uint8_t p[20000];
    fill_text(p, sizeof(p));
    struct dr_buf enc = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_compress(z, p, sizeof(p), &enc), 0);
    const uint8_t *e = (const uint8_t *)enc.buf;
    assert_int_equal(e[0], DR_ENC_ZSTD);

    /* wrong expected size, both ways, for both encodings */
    expect_corrupt(z, e, enc.len, sizeof(p) - 1);
    expect_corrupt(z, e, enc.len, sizeof(p) + 1);
    expect_corrupt(z, e, enc.len, 0);
    uint8_t raw[5] = {DR_ENC_RAW, 1, 2, 3, 4};
    expect_corrupt(z, raw, sizeof(raw), 3);
    expect_corrupt(z, raw, sizeof(raw), 5);

    /* no encoding byte, unknown encodings */
    expect_corrupt(z, raw, 0, 0);
    uint8_t unk[3] = {2, 0, 0};
    expect_corrupt(z, unk, sizeof(unk), 2);
    unk[0] = 0xff;
    expect_corrupt(z, unk, sizeof(unk), 2);

    /* garbage and truncated frames */
    uint8_t garbage[64];
    fill_random(garbage, sizeof(garbage), 42);
    garbage[0] = DR_ENC_ZSTD;
    expect_corrupt(z, garbage, sizeof(garbage), 100);
    for (size_t l = 1; l < enc.len; l += 1 + l / 16) {
        expect_corrupt(z, e, l, sizeof(p));
    }

    /* bit flips: an error or the right size, never a crash or an overflow */
    uint8_t *copy = dr_xmalloc(enc.len);
    for (size_t i = 1; i < enc.len; i++) {
        memcpy(copy, e, enc.len);
        copy[i] ^= (uint8_t)(1u << (i % 8));
        struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        int rc = dr_decompress(z, copy, enc.len, sizeof(p), &out);
        assert_true(rc == DR_ECORRUPT || (rc == 0 && out.len == sizeof(p)));
        dr_buf_release(&out);
    }
    free(copy);
    dr_buf_release(&enc);
    dr_compressor_free(z);
}

/* A frame that does not state its content size and decodes to more than expected must fail
 * without writing past the expect_len bytes of room. */
static void test_frame_without_size(void **state)
{
    (void)state;
    uint8_t p[50000];
    fill_text(p, sizeof(p));
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    assert_non_null(cc);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
    size_t bound = ZSTD_compressBound(sizeof(p));
    uint8_t *frame = dr_xmalloc(1 + bound);
    frame[0] = DR_ENC_ZSTD;
    ZSTD_inBuffer in = {p, sizeof(p), 0};
    ZSTD_outBuffer o = {frame + 1, bound, 0};
    size_t r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end);
    assert_int_equal(r, 0);
    ZSTD_freeCCtx(cc);
    assert_true(ZSTD_getFrameContentSize(frame + 1, o.pos) == ZSTD_CONTENTSIZE_UNKNOWN);

    struct dr_compressor *z = dr_compressor_new(3);
    expect_corrupt(z, frame, 1 + o.pos, sizeof(p) - 1000);
    expect_corrupt(z, frame, 1 + o.pos, sizeof(p) + 1);
    struct dr_buf out = DR_BUF_INIT(sizeof(p));
    assert_int_equal(dr_decompress(z, frame, 1 + o.pos, sizeof(p), &out), 0);
    assert_memory_equal(out.buf, p, sizeof(p));
    dr_buf_release(&out);
    dr_compressor_free(z);
    free(frame);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_appends_and_max),    cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_frame_without_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
