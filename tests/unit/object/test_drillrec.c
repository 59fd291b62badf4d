/* test_drillrec.c: the drill result codec (src/object/drillrec.c).
 *
 * Covers: round trip (pass and fail); the name is the hash of the bytes and a wrong name is
 * refused; a wrong key; every flipped bit and every truncation; a newer version
 * (DR_EUNSUPPORTED); over-long strings are cut on encode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/crypto.h"
#include "drrepo/drillrec.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "codec.h"

static void sample(struct dr_drill_result *r, bool ok)
{
    memset(r, 0, sizeof(*r));
    for (int i = 0; i < DR_ID_LEN; i++) {
        r->snapshot.b[i] = (uint8_t)(i * 7);
    }
    r->time_ns = 1763757725123456789LL;
    r->duration_ns = 5000000000LL;
    r->rto_ns = 3000000000LL;
    r->ok = ok;
    r->kind = "redis";
    r->checked = "3 databases, 1000 keys";
    r->reason = ok ? NULL : "key count differs in db 0";
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int ok = 0; ok < 2; ok++) {
        struct dr_drill_result in, out;
        sample(&in, ok);
        struct dr_buf b = DR_BUF_INIT(DR_DRILLREC_FILE_MAX);
        struct dr_id id, h;
        assert_int_equal(dr_drillrec_encode(dr_test_key, &in, "host.example", &b, &id), 0);
        dr_crypto_hash(b.buf, b.len, &h);
        assert_true(dr_id_eq(&id, &h));
        assert_memory_equal(b.buf, DR_MAGIC_DRILL, DR_MAGIC_LEN);
        assert_int_equal(dr_drillrec_decode(dr_test_key, &id, (const uint8_t *)b.buf, b.len, &out),
                         0);
        assert_true(dr_id_eq(&out.snapshot, &in.snapshot));
        assert_int_equal(out.time_ns, in.time_ns);
        assert_int_equal(out.duration_ns, in.duration_ns);
        assert_int_equal(out.rto_ns, in.rto_ns);
        assert_int_equal(out.ok, in.ok);
        assert_string_equal(out.kind, in.kind);
        assert_string_equal(out.checked, in.checked);
        if (ok) {
            assert_null(out.reason);
        } else {
            assert_string_equal(out.reason, in.reason);
        }
        dr_drill_result_release(&out);

        /* wrong name, wrong key */
        struct dr_id wrong = id;
        wrong.b[0] ^= 1;
        assert_int_equal(
            dr_drillrec_decode(dr_test_key, &wrong, (const uint8_t *)b.buf, b.len, &out),
            DR_ECORRUPT);
        dr_error_clear();
        assert_int_equal(
            dr_drillrec_decode(dr_test_other_key, &id, (const uint8_t *)b.buf, b.len, &out),
            DR_ECORRUPT);
        dr_error_clear();
        dr_buf_release(&b);
    }
}

static void test_damage(void **state)
{
    (void)state;
    struct dr_drill_result in, out;
    sample(&in, true);
    struct dr_buf b = DR_BUF_INIT(DR_DRILLREC_FILE_MAX);
    struct dr_id id;
    assert_int_equal(dr_drillrec_encode(dr_test_key, &in, NULL, &b, &id), 0);
    uint8_t *p = dr_xmalloc(b.len);
    for (size_t i = 0; i < b.len * 8; i++) {
        memcpy(p, b.buf, b.len);
        p[i / 8] ^= (uint8_t)(1u << (i % 8));
        struct dr_id h;
        dr_crypto_hash(p, b.len, &h); /* a name that matches: the damage must still be found */
        int rc = dr_drillrec_decode(dr_test_key, &h, p, b.len, &out);
        if (rc != DR_ECORRUPT && rc != DR_EUNSUPPORTED) {
            fail_msg("bit %zu flipped: rc %d", i, rc);
        }
        dr_error_clear();
    }
    for (size_t n = 0; n < b.len; n++) {
        struct dr_id h;
        dr_crypto_hash(b.buf, n, &h);
        assert_int_equal(dr_drillrec_decode(dr_test_key, &h, (const uint8_t *)b.buf, n, &out),
                         DR_ECORRUPT);
        dr_error_clear();
    }
    /* a newer version */
    memcpy(p, b.buf, b.len);
    dr_put_u32le(p + DR_MAGIC_LEN, 2);
    struct dr_id h;
    dr_crypto_hash(p, b.len, &h);
    assert_int_equal(dr_drillrec_decode(dr_test_key, &h, p, b.len, &out), DR_EUNSUPPORTED);
    dr_error_clear();
    free(p);
    dr_buf_release(&b);
}

static void test_long_strings(void **state)
{
    (void)state;
    struct dr_drill_result in, out;
    sample(&in, false);
    char *big = dr_xmalloc((size_t)DR_STRING_MAX + 100);
    memset(big, 'r', (size_t)DR_STRING_MAX + 99);
    big[DR_STRING_MAX + 99] = '\0';
    in.reason = big;
    struct dr_buf b = DR_BUF_INIT(DR_DRILLREC_FILE_MAX);
    struct dr_id id;
    assert_int_equal(dr_drillrec_encode(dr_test_key, &in, "h", &b, &id), 0);
    assert_int_equal(dr_drillrec_decode(dr_test_key, &id, (const uint8_t *)b.buf, b.len, &out), 0);
    assert_int_equal(strlen(out.reason), DR_STRING_MAX);
    dr_drill_result_release(&out);
    dr_buf_release(&b);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_long_strings),
    };
    return cmocka_run_group_tests(tests, dr_test_keys_setup, dr_test_keys_teardown);
}
