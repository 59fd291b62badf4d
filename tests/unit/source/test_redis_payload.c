/* test_redis_payload.c: unit tests for src/source/redis_payload.c (the SYNC payload framing
 * parser) and src/rdb/rdbcheck.c (the RDB validator), fed from scripted byte streams instead of
 * a server.
 *
 * Covers: dr_rdb_payload_read with the "$<len>" form and the diskless "$EOF:<mark>" form, each
 * delivered whole, byte by byte and in uneven pieces, read into small and large buffers;
 * keep-alive newlines before the header; a "+FULLRESYNC" line; bytes after the payload (the
 * replication stream) ignored; a payload larger than the parser's buffer; a cut connection
 * (before the header, in the $len form, in the EOF form); a bad end mark (wrong length in the
 * header; a stream whose mark never comes); an error reply; an unknown reply; an empty payload;
 * a transport error passed through; bad magic and bad version (failing early);
 * dr_rdb_payload_finish / dr_rdb_check_final with a good checksum, a flipped byte (checksum
 * mismatch), checksums off (zero trailer), a missing EOF opcode, a truncated file; aux fields
 * (redis-ver, repl-id, integer-encoded repl-offset) read from the start of the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "drrepo/buf.h"
#include "drrepo/error.h"
#include "drrepo/mem.h"

#include "../../../src/source/redis_int.h"

static const char mark[] = "0123456789abcdef0123456789abcdef01234567";

/* ---- a scripted transport: the stream is cut into pieces of the given sizes ---- */

struct script {
    const uint8_t *data;
    size_t len, off;
    size_t piece;  /* bytes per read (0: as much as asked) */
    int end_error; /* returned instead of 0 at the end when non-zero */
    uint64_t rnd;  /* non-zero: each read returns a pseudo-random 1..piece bytes */
};

static uint64_t next_rnd(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

static int script_read(void *arg, uint8_t *buf, size_t len)
{
    struct script *s = arg;
    if (s->off == s->len) {
        return s->end_error ? dr_errorf(s->end_error, "scripted transport error") : 0;
    }
    size_t n = DR_MIN(len, s->len - s->off);
    if (s->piece) {
        size_t k = s->rnd ? 1 + next_rnd(&s->rnd) % s->piece : s->piece; /* DR_MIN reads twice */
        n = DR_MIN(n, k);
    }
    memcpy(buf, s->data + s->off, n);
    s->off += n;
    return (int)n;
}

/* ---- building RDB files ---- */

static void add(struct dr_buf *b, const void *p, size_t n)
{
    assert_int_equal(dr_buf_add(b, p, n), 0);
}

static void add_str(struct dr_buf *b, const char *s)
{
    uint8_t l = (uint8_t)strlen(s);
    assert_true(l < 64);
    add(b, &l, 1);
    add(b, s, l);
}

/* "REDIS0010", aux fields, body bytes, EOF opcode and checksum (or zeros when !sum). */
static void make_rdb(struct dr_buf *b, size_t body, bool sum)
{
    add(b, "REDIS0010", 9);
    uint8_t op = 0xfa;
    add(b, &op, 1);
    add_str(b, "redis-ver");
    add_str(b, "7.0.15");
    add(b, &op, 1);
    add_str(b, "repl-id");
    add_str(b, "c0ffee0000000000000000000000000000000001");
    add(b, &op, 1);
    add_str(b, "repl-offset");
    uint8_t i16[3] = {0xc1, 0x39, 0x30}; /* 12345 as a 16-bit integer string */
    add(b, i16, 3);
    for (size_t i = 0; i < body; i++) {
        uint8_t c = (uint8_t)(i * 7 + (i >> 8));
        add(b, &c, 1);
    }
    op = 0xff;
    add(b, &op, 1);
    uint8_t t[8] = {0};
    if (sum) {
        dr_put_u64le(t, dr_crc64(0, b->buf, b->len));
    }
    add(b, t, 8);
}

static void frame_len(struct dr_buf *out, const struct dr_buf *rdb, const char *pre,
                      const char *post)
{
    assert_int_equal(dr_buf_addf(out, "%s$%zu\r\n", pre, rdb->len), 0);
    add(out, rdb->buf, rdb->len);
    add(out, post, strlen(post));
}

static void frame_eof(struct dr_buf *out, const struct dr_buf *rdb, const char *pre,
                      const char *post)
{
    assert_int_equal(dr_buf_addf(out, "%s$EOF:%s\r\n", pre, mark), 0);
    add(out, rdb->buf, rdb->len);
    add(out, mark, 40);
    add(out, post, strlen(post));
}

/* Reads the whole payload with reads of rdsize bytes; returns the last result. */
static int read_all(struct dr_rdb_payload *p, size_t rdsize, struct dr_buf *out)
{
    uint8_t *tmp = dr_xmalloc(rdsize);
    int rc;
    while ((rc = dr_rdb_payload_read(p, tmp, rdsize)) > 0) {
        add(out, tmp, (size_t)rc);
    }
    free(tmp);
    return rc;
}

static uint64_t rnd_seed; /* non-zero: pieces of random sizes */

/* Runs one framed stream through the parser; expects the whole RDB back and a valid finish. */
static void expect_ok(const struct dr_buf *framed, const struct dr_buf *rdb, size_t piece,
                      size_t rdsize, bool eof_form)
{
    struct script s = {(const uint8_t *)framed->buf, framed->len, 0, piece, 0, rnd_seed};
    struct dr_rdb_payload p;
    struct dr_buf got = DR_BUF_INIT(SIZE_MAX);
    dr_rdb_payload_init(&p, script_read, &s, "redis server 'test'");
    int rc = read_all(&p, rdsize, &got);
    if (rc < 0) {
        fprintf(stderr, "piece %zu read %zu: %s\n", piece, rdsize, dr_error_msg());
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got.len, rdb->len);
    assert_memory_equal(got.buf, rdb->buf, rdb->len);
    assert_true(p.eof_form == eof_form);
    struct dr_rdb_info info;
    rc = dr_rdb_payload_finish(&p, &info);
    if (rc < 0) {
        fprintf(stderr, "piece %zu read %zu: %s\n", piece, rdsize, dr_error_msg());
    }
    assert_int_equal(rc, 0);
    assert_int_equal(info.version, 10);
    assert_int_equal(info.size, rdb->len);
    assert_true(info.checksummed);
    assert_true(info.crc == dr_get_u64le((const uint8_t *)rdb->buf + rdb->len - 8));
    assert_string_equal(info.redis_ver, "7.0.15");
    assert_string_equal(info.repl_id, "c0ffee0000000000000000000000000000000001");
    assert_string_equal(info.repl_offset, "12345");
    /* reading past the end keeps returning 0 */
    uint8_t one;
    assert_int_equal(dr_rdb_payload_read(&p, &one, 1), 0);
    dr_rdb_payload_release(&p);
    dr_buf_release(&got);
}

static void test_len_form(void **state)
{
    (void)state;
    struct dr_buf rdb = DR_BUF_INIT(SIZE_MAX), f = DR_BUF_INIT(SIZE_MAX);
    make_rdb(&rdb, 1000, true);
    /* keep-alives before the header; the replication stream after the payload is not ours */
    frame_len(&f, &rdb, "\n\n\n", "*1\r\n$4\r\nPING\r\n");
    const size_t pieces[] = {0, 1, 3, 41, 999};
    const size_t reads[] = {1, 7, 4096, 1 << 20};
    for (size_t i = 0; i < DR_ARRAY_LEN(pieces); i++) {
        for (size_t j = 0; j < DR_ARRAY_LEN(reads); j++) {
            expect_ok(&f, &rdb, pieces[i], reads[j], false);
        }
    }
    dr_buf_release(&rdb);
    dr_buf_release(&f);
}

static void test_eof_form(void **state)
{
    (void)state;
    struct dr_buf rdb = DR_BUF_INIT(SIZE_MAX), f = DR_BUF_INIT(SIZE_MAX);
    make_rdb(&rdb, 1000, true);
    frame_eof(&f, &rdb, "\n", "*1\r\n$4\r\nPING\r\n");
    const size_t pieces[] = {0, 1, 2, 39, 40, 41, 77};
    const size_t reads[] = {1, 13, 65536};
    for (size_t i = 0; i < DR_ARRAY_LEN(pieces); i++) {
        for (size_t j = 0; j < DR_ARRAY_LEN(reads); j++) {
            expect_ok(&f, &rdb, pieces[i], reads[j], true);
        }
    }
    /* nothing after the mark: the server closes right after it */
    dr_buf_reset(&f);
    frame_eof(&f, &rdb, "", "");
    expect_ok(&f, &rdb, 0, 4096, true);
    expect_ok(&f, &rdb, 5, 4096, true);
    dr_buf_release(&rdb);
    dr_buf_release(&f);
}

static void test_large(void **state)
{
    (void)state;
    /* several times the parser's buffer, so that it compacts and refills */
    struct dr_buf rdb = DR_BUF_INIT(SIZE_MAX), f = DR_BUF_INIT(SIZE_MAX);
    make_rdb(&rdb, 3 * DR_RDB_PAYLOAD_BUF + 123, true);
    frame_eof(&f, &rdb, "", "");
    expect_ok(&f, &rdb, 0, 1 << 20, true);
    expect_ok(&f, &rdb, 65521, 100000, true);
    dr_buf_reset(&f);
    frame_len(&f, &rdb, "", "");
    expect_ok(&f, &rdb, 0, 1 << 20, false);
    expect_ok(&f, &rdb, 65521, 4093, false);
    dr_buf_release(&rdb);
    dr_buf_release(&f);
}

/* Random piece sizes, read sizes and file sizes; DR_TEST_SEED picks another sequence. */
static void test_random(void **state)
{
    (void)state;
    const char *env = getenv("DR_TEST_SEED");
    uint64_t x = env ? strtoull(env, NULL, 0) : 0x5eed;
    x = x ? x : 1;
    printf("# seed %llu\n", (unsigned long long)x);
    for (int round = 0; round < 60; round++) {
        struct dr_buf rdb = DR_BUF_INIT(SIZE_MAX), f = DR_BUF_INIT(SIZE_MAX);
        make_rdb(&rdb, next_rnd(&x) % (round < 50 ? 3000 : 600000), true);
        bool eof = next_rnd(&x) & 1;
        const char *pre = (next_rnd(&x) & 1) ? "\n\n" : "";
        if (eof) {
            frame_eof(&f, &rdb, pre, (next_rnd(&x) & 1) ? "*1\r\n$4\r\nPING\r\n" : "");
        } else {
            frame_len(&f, &rdb, pre, "");
        }
        rnd_seed = next_rnd(&x) | 1;
        size_t piece = 1 + next_rnd(&x) % 300000;
        size_t rd = 1 + next_rnd(&x) % 200000;
        expect_ok(&f, &rdb, piece, rd, eof);
        rnd_seed = 0;
        dr_buf_release(&rdb);
        dr_buf_release(&f);
    }
}

static void test_fullresync(void **state)
{
    (void)state;
    struct dr_buf rdb = DR_BUF_INIT(SIZE_MAX), f = DR_BUF_INIT(SIZE_MAX);
    make_rdb(&rdb, 10, true);
    frame_len(&f, &rdb, "+FULLRESYNC 1111111111222222222233333333334444444444 987\r\n\n", "");
    struct script s = {(const uint8_t *)f.buf, f.len, 0, 0, 0, 0};
    struct dr_rdb_payload p;
    struct dr_buf got = DR_BUF_INIT(SIZE_MAX);
    dr_rdb_payload_init(&p, script_read, &s, "test");
    assert_int_equal(read_all(&p, 100, &got), 0);
    assert_string_equal(p.fullresync_id, "1111111111222222222233333333334444444444");
    assert_string_equal(p.fullresync_offset, "987");
    assert_int_equal(p.keepalives, 1);
    dr_rdb_payload_release(&p);
    dr_buf_release(&got);
    dr_buf_release(&rdb);
    dr_buf_release(&f);
}

/* Runs a stream that must fail; returns the code from the read or the finish. */
static int run_fail(const void *data, size_t len, size_t piece, int end_error)
{
    struct script s = {data, len, 0, piece, end_error, 0};
    struct dr_rdb_payload p;
    struct dr_buf got = DR_BUF_INIT(SIZE_MAX);
    dr_rdb_payload_init(&p, script_read, &s, "redis server 'test'");
    int rc = read_all(&p, 4096, &got);
    if (rc == 0) {
        struct dr_rdb_info info;
        rc = dr_rdb_payload_finish(&p, &info);
    }
    if (rc < 0) {
        /* the error is sticky */
        uint8_t one;
        assert_int_equal(dr_rdb_payload_read(&p, &one, 1), rc);
        if (rc != end_error) {
            assert_non_null(strstr(dr_error_msg(), "redis server 'test'"));
        }
    }
    dr_rdb_payload_release(&p);
    dr_buf_release(&got);
    return rc;
}

static void test_cut(void **state)
{
    (void)state;
    struct dr_buf rdb = DR_BUF_INIT(SIZE_MAX), f = DR_BUF_INIT(SIZE_MAX);
    make_rdb(&rdb, 5000, true);
    /* before the header */
    assert_int_equal(run_fail("\n\n", 2, 0, 0), DR_ENET);
    assert_non_null(strstr(dr_error_msg(), "before the RDB payload started"));
    /* in the $len form */
    frame_len(&f, &rdb, "", "");
    assert_int_equal(run_fail(f.buf, f.len - 100, 0, 0), DR_ENET);
    assert_non_null(strstr(dr_error_msg(), "of 5"));
    assert_int_equal(run_fail(f.buf, f.len - 1, 7, 0), DR_ENET);
    /* in the EOF form: the mark never comes, also when part of it did */
    dr_buf_reset(&f);
    frame_eof(&f, &rdb, "", "");
    assert_int_equal(run_fail(f.buf, f.len - 100, 0, 0), DR_ENET);
    assert_non_null(strstr(dr_error_msg(), "before its end mark"));
    assert_int_equal(run_fail(f.buf, f.len - 1, 3, 0), DR_ENET);
    /* a transport error passes through unchanged */
    assert_int_equal(run_fail(f.buf, f.len - 100, 0, DR_EIO), DR_EIO);
    dr_buf_release(&rdb);
    dr_buf_release(&f);
}

static void test_bad_mark(void **state)
{
    (void)state;
    struct dr_buf rdb = DR_BUF_INIT(SIZE_MAX), f = DR_BUF_INIT(SIZE_MAX);
    make_rdb(&rdb, 100, true);
    /* a mark that is not 40 bytes */
    assert_int_equal(dr_buf_adds(&f, "$EOF:abc\r\n"), 0);
    add(&f, rdb.buf, rdb.len);
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "end mark"));
    /* the payload ends with another mark than announced: the stream ends without ours */
    dr_buf_reset(&f);
    assert_int_equal(dr_buf_addf(&f, "$EOF:%s\r\n", mark), 0);
    add(&f, rdb.buf, rdb.len);
    add(&f, "X123456789abcdef0123456789abcdef01234567", 40);
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ENET);
    assert_non_null(strstr(dr_error_msg(), "before its end mark"));
    dr_buf_release(&rdb);
    dr_buf_release(&f);
}

static void test_replies(void **state)
{
    (void)state;
    const char *err = "-ERR something is wrong\r\n";
    assert_int_equal(run_fail(err, strlen(err), 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "refused SYNC: ERR something is wrong"));
    const char *odd = ":12\r\n";
    assert_int_equal(run_fail(odd, strlen(odd), 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "unexpected reply"));
    const char *empty = "$0\r\n";
    assert_int_equal(run_fail(empty, strlen(empty), 0, 0), DR_ESOURCE);
    const char *badlen = "$12x\r\n";
    assert_int_equal(run_fail(badlen, strlen(badlen), 0, 0), DR_ESOURCE);
    char longline[3000];
    memset(longline, 'a', sizeof(longline));
    assert_int_equal(run_fail(longline, sizeof(longline), 0, 0), DR_ESOURCE);
}

static void test_checksum(void **state)
{
    (void)state;
    struct dr_buf rdb = DR_BUF_INIT(SIZE_MAX), f = DR_BUF_INIT(SIZE_MAX);
    make_rdb(&rdb, 3000, true);
    rdb.buf[1500] ^= 0x10;
    frame_len(&f, &rdb, "", "");
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "checksum mismatch"));
    dr_buf_reset(&f);
    frame_eof(&f, &rdb, "", "");
    assert_int_equal(run_fail(f.buf, f.len, 1, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "checksum mismatch"));
    /* a flipped checksum byte is a mismatch too */
    rdb.buf[1500] ^= 0x10;
    rdb.buf[rdb.len - 3] ^= 0x01;
    dr_buf_reset(&f);
    frame_len(&f, &rdb, "", "");
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ESOURCE);

    /* checksums off: the trailer is zero, any content is accepted */
    dr_buf_reset(&rdb);
    make_rdb(&rdb, 3000, false);
    dr_buf_reset(&f);
    frame_len(&f, &rdb, "", "");
    struct script s = {(const uint8_t *)f.buf, f.len, 0, 0, 0, 0};
    struct dr_rdb_payload p;
    struct dr_buf got = DR_BUF_INIT(SIZE_MAX);
    dr_rdb_payload_init(&p, script_read, &s, "test");
    assert_int_equal(read_all(&p, 1000, &got), 0);
    struct dr_rdb_info info;
    assert_int_equal(dr_rdb_payload_finish(&p, &info), 0);
    assert_false(info.checksummed);
    dr_rdb_payload_release(&p);
    dr_buf_release(&got);
    dr_buf_release(&rdb);
    dr_buf_release(&f);
}

static void test_bad_file(void **state)
{
    (void)state;
    struct dr_buf f = DR_BUF_INIT(SIZE_MAX);
    /* bad magic fails before the payload is read to its end */
    assert_int_equal(dr_buf_adds(&f, "$100000\r\nRADIS0010"), 0);
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "not an RDB file"));
    dr_buf_reset(&f);
    assert_int_equal(dr_buf_adds(&f, "$100000\r\nREDIS00x0"), 0);
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "bad version"));
    /* too short, and no EOF opcode */
    dr_buf_reset(&f);
    assert_int_equal(dr_buf_adds(&f, "$9\r\nREDIS0010"), 0);
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "truncated"));
    dr_buf_reset(&f);
    assert_int_equal(dr_buf_adds(&f, "$30\r\nREDIS0010abcdefghijklmnopqrstu"), 0);
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "EOF opcode"));
    dr_buf_reset(&f);
    assert_int_equal(dr_buf_adds(&f, "$4\r\nREDI"), 0);
    assert_int_equal(run_fail(f.buf, f.len, 0, 0), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "only 4 bytes"));
    dr_buf_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_len_form),   cmocka_unit_test(test_eof_form),
        cmocka_unit_test(test_large),      cmocka_unit_test(test_random),
        cmocka_unit_test(test_fullresync), cmocka_unit_test(test_cut),
        cmocka_unit_test(test_bad_mark),   cmocka_unit_test(test_replies),
        cmocka_unit_test(test_checksum),   cmocka_unit_test(test_bad_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
