/* test_pack_verify.c: verifying a stored pack streaming (src/pack/verify.c, dr_blob_verify in
 * src/pack/blob.c).
 *
 * Covers: a good pack verifies clean with windows from 1 byte (16, the preamble: every record
 * straddles windows) to larger than the pack (one get), with records longer than the window,
 * and a header that does not fit the tail read; the gets and bytes it counts (every byte
 * fetched once, the end at most twice); a flipped byte in a record names that blob alone and
 * the hash; a flipped byte in the header, and every truncation, make the pack bad as a whole
 * without reading its records; a wrong name; a missing object; dr_blob_verify's messages equal
 * dr_blob_decode's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../src/pack/pack_int.h"
#include "drrepo/backend.h"
#include "drrepo/error.h"
#include "drrepo/layout.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

struct ctx {
    struct dr_keys *k;
    struct dr_compressor *z;
    char dir[64];
    struct dr_backend *b;
    struct dr_pack_writer *w;
    struct dr_id pid;
    const uint8_t *data; /* the pack, owned by w */
    size_t len;
    char *name;
    const struct dr_pack_entry *e;
    size_t n;
};

/* A data pack of n blobs of up to maxlen bytes, half compressible, stored under its name. */
static void make_pack(struct ctx *c, size_t n, size_t maxlen)
{
    dr_pack_writer_reset(c->w);
    struct dr_buf rec = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    uint8_t *p = dr_xmalloc(maxlen);
    for (size_t i = 0; i < n; i++) {
        size_t len = 8 + (size_t)(rng() % (maxlen - 8));
        for (size_t j = 0; j < len; j++) {
            p[j] = i % 2 ? (uint8_t)('a' + j % 7) : (uint8_t)(rng() >> 40);
        }
        dr_put_u64le(p, i);
        struct dr_id id;
        dr_crypto_blob_id(c->k, p, len, &id);
        dr_buf_reset(&rec);
        assert_int_equal(dr_blob_encode(c->k, c->z, DR_BLOB_DATA, &id, p, len, &rec), 0);
        assert_int_equal(
            dr_pack_writer_add(c->w, &id, (const uint8_t *)rec.buf, rec.len, (uint32_t)len), 0);
    }
    free(p);
    dr_buf_release(&rec);
    assert_int_equal(dr_pack_writer_finish(c->w, &c->pid, &c->data, &c->len), 0);
    c->e = dr_pack_writer_entries(c->w, &c->n);
    free(c->name);
    c->name = dr_layout_pack_name(DR_BLOB_DATA, &c->pid);
    assert_int_equal(dr_backend_put(c->b, c->name, c->data, c->len, false), 0);
}

static int setup(void **state)
{
    assert_int_equal(dr_crypto_init(), 0);
    struct ctx *c = dr_xcalloc(1, sizeof(*c));
    uint8_t m[DR_MASTER_KEY_LEN];
    for (size_t i = 0; i < sizeof(m); i++) {
        m[i] = (uint8_t)(i * 5 + 3);
    }
    c->k = dr_keys_from_master(m);
    c->z = dr_compressor_new(3);
    snprintf(c->dir, sizeof(c->dir), "/tmp/dr-test-verify-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    assert_int_equal(dr_backend_open(c->dir, &c->b), 0);
    c->w = dr_pack_writer_new(c->k, DR_BLOB_DATA);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    dr_pack_writer_free(c->w);
    dr_backend_close(c->b);
    char *cmd = dr_xasprintf("rm -rf '%s'", c->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(c->name);
    dr_keys_free(c->k);
    dr_compressor_free(c->z);
    free(c);
    return 0;
}

/* Verifies c's pack with the given window and listed size; returns dr_pack_verify's code. */
static int verify_size(struct ctx *c, size_t window, uint64_t size, const struct dr_id *want,
                       struct dr_pack_verify_result *res)
{
    struct dr_pack_verifier *v = dr_pack_verifier_new(c->k, 3, window);
    int rc = dr_pack_verify(v, c->b, c->name, size, want, res);
    dr_pack_verifier_free(v);
    return rc;
}

/* The same, the size asked of the backend. */
static int verify(struct ctx *c, size_t window, const struct dr_id *want,
                  struct dr_pack_verify_result *res)
{
    return verify_size(c, window, DR_BACKEND_SIZE_UNKNOWN, want, res);
}

static void expect_clean(struct ctx *c, size_t window)
{
    struct dr_pack_verify_result res;
    int rc = verify(c, window, &c->pid, &res);
    if (rc < 0 || res.pack_msg || res.nbad) {
        fail_msg("window %zu: rc %d, pack '%s', %zu bad (%s)", window, rc,
                 res.pack_msg ? res.pack_msg : "", res.nbad, res.nbad ? res.bad[0].msg : "");
    }
    assert_int_equal(res.size, c->len);
    /* every byte once, but the pack's end (fetched first for the header) at most twice */
    uint32_t hlen = dr_get_u32le(c->data + c->len - DR_PACK_TRAILER_LEN);
    assert_true(res.bytes_fetched >= c->len);
    assert_true(res.bytes_fetched <= c->len + DR_PACK_TAIL_READ + hlen);
    if ((window ? window : DR_PACK_VERIFY_WINDOW) >= c->len) {
        assert_int_equal(res.gets, 1);
        assert_int_equal(res.bytes_fetched, c->len);
    } else {
        assert_true(res.gets >= 2);
    }
    dr_pack_verify_result_release(&res);
}

static void test_verify_windows(void **state)
{
    struct ctx *c = *state;
    make_pack(c, 40, 6000);
    size_t windows[] = {1, 2, 41, 100, 1000, 4096, 5999, 6001, 65536, c->len - 1, c->len, 0};
    for (size_t i = 0; i < DR_ARRAY_LEN(windows); i++) {
        expect_clean(c, windows[i]);
    }
}

/* Records far longer than the window, and a pack larger than the tail read. */
static void test_verify_large_records(void **state)
{
    struct ctx *c = *state;
    make_pack(c, 40, 30000);
    assert_true(c->len > DR_PACK_TAIL_READ);
    expect_clean(c, 512);
    expect_clean(c, 20000);
    expect_clean(c, 0);
}

/* A header longer than the tail read comes with a get of its own. */
static void test_verify_big_header(void **state)
{
    struct ctx *c = *state;
    make_pack(c, 1700, 100); /* 1700 entries: about 76 KiB of header */
    assert_true(c->len > DR_PACK_TAIL_READ);
    expect_clean(c, 4096);
    expect_clean(c, c->len - 100);
}

static void test_verify_flipped_record(void **state)
{
    struct ctx *c = *state;
    make_pack(c, 20, 3000);
    size_t victim = 7;
    assert_int_equal(dr_backend_put(c->b, c->name, c->data, c->len, false), 0);
    uint8_t *copy = dr_xmalloc(c->len);
    memcpy(copy, c->data, c->len);
    copy[c->e[victim].offset + c->e[victim].clen / 2] ^= 0x10;
    assert_int_equal(dr_backend_put(c->b, c->name, copy, c->len, false), 0);
    size_t windows[] = {1, 700, 4096, 0};
    for (size_t i = 0; i < DR_ARRAY_LEN(windows); i++) {
        struct dr_pack_verify_result res;
        assert_int_equal(verify(c, windows[i], &c->pid, &res), 0);
        if (!res.pack_msg || !strstr(res.pack_msg, "content does not match its name")) {
            fail_msg("window %zu: '%s'", windows[i], res.pack_msg ? res.pack_msg : "");
        }
        assert_int_equal(res.nbad, 1);
        assert_true(dr_id_eq(&res.bad[0].id, &c->e[victim].id));
        char hex[DR_ID_HEX_LEN + 1];
        char *want =
            dr_xasprintf("blob %s: authentication failed", dr_id_hex(&c->e[victim].id, hex));
        assert_string_equal(res.bad[0].msg, want);
        free(want);
        dr_pack_verify_result_release(&res);
    }
    free(copy);
}

static void test_verify_flipped_header(void **state)
{
    struct ctx *c = *state;
    make_pack(c, 30, 30000);
    uint8_t *copy = dr_xmalloc(c->len);
    memcpy(copy, c->data, c->len);
    copy[c->len - DR_PACK_TRAILER_LEN - 30] ^= 1; /* inside the sealed header */
    assert_int_equal(dr_backend_put(c->b, c->name, copy, c->len, false), 0);
    struct dr_pack_verify_result res;
    assert_int_equal(verify(c, 4096, &c->pid, &res), 0);
    assert_non_null(res.pack_msg);
    assert_non_null(strstr(res.pack_msg, "header authentication failed"));
    assert_non_null(strstr(res.pack_msg, c->name));
    assert_int_equal(res.nbad, 0);
    /* the records were not read: the first window and the pack's end only */
    assert_int_equal(res.gets, 2);
    assert_true(res.bytes_fetched <= 4096 + DR_PACK_TAIL_READ);
    dr_pack_verify_result_release(&res);
    free(copy);
}

static void test_verify_truncated(void **state)
{
    struct ctx *c = *state;
    make_pack(c, 10, 5000);
    size_t len = c->len;
    size_t cuts[] = {0, 1, 15, 16, 17, 28, 60, len / 2, len - 13, len - 12, len - 11, len - 1};
    uint8_t *copy = dr_xmalloc(len);
    memcpy(copy, c->data, len);
    for (size_t i = 0; i < DR_ARRAY_LEN(cuts); i++) {
        assert_int_equal(dr_backend_put(c->b, c->name, copy, cuts[i], false), 0);
        size_t windows[] = {7, 4096, 0};
        for (size_t j = 0; j < DR_ARRAY_LEN(windows); j++) {
            struct dr_pack_verify_result res;
            int rc = verify(c, windows[j], &c->pid, &res);
            if (rc < 0 || !res.pack_msg || !strstr(res.pack_msg, c->name)) {
                fail_msg("cut at %zu, window %zu: rc %d, '%s'", cuts[i], windows[j], rc,
                         res.pack_msg ? res.pack_msg : dr_error_msg());
            }
            assert_int_equal(res.size, cuts[i]);
            assert_int_equal(res.nbad, 0);
            dr_pack_verify_result_release(&res);
        }
    }
    free(copy);
}

static void test_verify_wrong_name_and_missing(void **state)
{
    struct ctx *c = *state;
    make_pack(c, 5, 2000);
    struct dr_id other = c->pid;
    other.b[3] ^= 1;
    struct dr_pack_verify_result res;
    assert_int_equal(verify(c, 0, &other, &res), 0);
    assert_string_equal(res.pack_msg,
                        "content does not match its name (bit rot, or a renamed file)");
    assert_int_equal(res.nbad, 0);
    dr_pack_verify_result_release(&res);
    /* a size from a listing is used as is: the right one verifies the same, a larger one (a
     * listing the object no longer matches) is an object shorter than its size */
    assert_int_equal(verify_size(c, 0, c->len, &c->pid, &res), 0);
    assert_null(res.pack_msg);
    assert_int_equal(res.size, c->len);
    dr_pack_verify_result_release(&res);
    assert_int_equal(verify_size(c, 0, c->len + 10, &c->pid, &res), DR_ECORRUPT);
    dr_error_clear();
    dr_pack_verify_result_release(&res);
    assert_int_equal(dr_backend_delete(c->b, c->name), 0);
    assert_int_equal(verify(c, 0, &c->pid, &res), DR_ENOENT);
    assert_null(res.pack_msg);
    assert_int_equal(res.gets, 0);
    dr_pack_verify_result_release(&res);
    assert_int_equal(verify_size(c, 0, c->len, &c->pid, &res), DR_ENOENT);
    dr_pack_verify_result_release(&res);
}

/* dr_blob_verify fails as dr_blob_decode does, with the same message, and passes alike. */
static void test_blob_verify_same_as_decode(void **state)
{
    struct ctx *c = *state;
    make_pack(c, 6, 4000);
    struct dr_buf scratch = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    struct dr_buf plain = DR_BUF_INIT(DR_BLOB_MAX);
    struct dr_buf out = DR_BUF_INIT(DR_BLOB_MAX);
    uint8_t *copy = dr_xmalloc(c->len);
    for (size_t i = 0; i < c->n; i++) {
        const struct dr_pack_entry *e = &c->e[i];
        for (int flip = -1; flip < (int)e->clen; flip += 97) {
            for (int lie = 0; lie < 2; lie++) {
                memcpy(copy, c->data, c->len);
                if (flip >= 0) {
                    copy[e->offset + (size_t)flip] ^= 4;
                }
                uint32_t ulen = e->ulen + (uint32_t)lie;
                const uint8_t *rec = copy + e->offset;
                dr_buf_reset(&out);
                int rd = dr_blob_decode(c->k, c->z, e->type, &e->id, rec, e->clen, ulen, &out);
                char *msg = dr_xstrdup(rd < 0 ? dr_error_msg() : "");
                dr_error_clear();
                int rv = dr_blob_verify(c->k, c->z, e->type, &e->id, rec, e->clen, ulen, &scratch,
                                        &plain);
                assert_int_equal(rv, rd);
                assert_string_equal(rv < 0 ? dr_error_msg() : "", msg);
                dr_error_clear();
                free(msg);
            }
        }
    }
    free(copy);
    dr_buf_release(&scratch);
    dr_buf_release(&plain);
    dr_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verify_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_large_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_big_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_flipped_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_flipped_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_wrong_name_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_verify_same_as_decode, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
