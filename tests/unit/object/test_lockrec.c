/* test_lockrec.c: the lock record codec (src/object/lockrec.c).
 *
 * Covers: round trip of every field; every truncation and a trailing byte are refused
 * (DR_ECORRUPT); bad magic; a newer version (DR_EUNSUPPORTED); an over-long string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/lockrec.h"

static void sample(struct dr_lock_info *li)
{
    memset(li, 0, sizeof(*li));
    li->exclusive = true;
    li->pid = 4242;
    li->proc_start = 123456789;
    snprintf(li->boot_id, sizeof(li->boot_id), "0b5e1d1e-aaaa-bbbb-cccc-0123456789ab");
    li->created_ns = 1763757725123456789LL;
    li->refreshed_ns = 1763757726123456789LL;
    snprintf(li->host, sizeof(li->host), "backup-host.example");
    snprintf(li->user, sizeof(li->user), "alice");
}

static void test_round_trip(void **state)
{
    (void)state;
    struct dr_lock_info in, out;
    sample(&in);
    struct dr_buf b = DR_BUF_INIT(4096);
    assert_int_equal(dr_lockrec_encode(&in, &b), 0);
    assert_memory_equal(b.buf, DR_MAGIC_LOCK, DR_MAGIC_LEN);
    memset(&out, 0x55, sizeof(out));
    assert_int_equal(dr_lockrec_parse((const uint8_t *)b.buf, b.len, &out), 0);
    assert_string_equal(out.name, "");
    assert_true(out.exclusive);
    assert_int_equal(out.pid, in.pid);
    assert_int_equal(out.proc_start, in.proc_start);
    assert_string_equal(out.boot_id, in.boot_id);
    assert_int_equal(out.created_ns, in.created_ns);
    assert_int_equal(out.refreshed_ns, in.refreshed_ns);
    assert_string_equal(out.host, in.host);
    assert_string_equal(out.user, in.user);

    /* shared, empty strings */
    memset(&in, 0, sizeof(in));
    dr_buf_reset(&b);
    assert_int_equal(dr_lockrec_encode(&in, &b), 0);
    assert_int_equal(dr_lockrec_parse((const uint8_t *)b.buf, b.len, &out), 0);
    assert_false(out.exclusive);
    assert_string_equal(out.host, "");
    dr_buf_release(&b);
}

static void test_damage(void **state)
{
    (void)state;
    struct dr_lock_info in, out;
    sample(&in);
    struct dr_buf b = DR_BUF_INIT(4096);
    assert_int_equal(dr_lockrec_encode(&in, &b), 0);
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(dr_lockrec_parse((const uint8_t *)b.buf, n, &out), DR_ECORRUPT);
        dr_error_clear();
    }
    assert_int_equal(dr_buf_addch(&b, 0), 0);
    assert_int_equal(dr_lockrec_parse((const uint8_t *)b.buf, b.len, &out), DR_ECORRUPT);
    dr_error_clear();
    dr_buf_setlen(&b, b.len - 1);

    b.buf[0] ^= 1;
    assert_int_equal(dr_lockrec_parse((const uint8_t *)b.buf, b.len, &out), DR_ECORRUPT);
    dr_error_clear();
    b.buf[0] ^= 1;

    dr_put_u32le((uint8_t *)b.buf + DR_MAGIC_LEN, DR_FORMAT_VERSION + 1);
    assert_int_equal(dr_lockrec_parse((const uint8_t *)b.buf, b.len, &out), DR_EUNSUPPORTED);
    dr_error_clear();
    dr_buf_release(&b);

    /* a boot id longer than the field holds */
    struct dr_buf f = DR_BUF_INIT(4096);
    assert_int_equal(dr_buf_add(&f, DR_MAGIC_LOCK, DR_MAGIC_LEN), 0);
    assert_int_equal(dr_buf_add_u32le(&f, DR_FORMAT_VERSION), 0);
    assert_int_equal(dr_buf_add_u8(&f, 0), 0);
    assert_int_equal(dr_buf_add_u32le(&f, 1), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dr_buf_add_u64le(&f, 0), 0);
    }
    char big[64];
    memset(big, 'x', sizeof(big));
    assert_int_equal(dr_buf_add_u16le(&f, sizeof(big)), 0);
    assert_int_equal(dr_buf_add(&f, big, sizeof(big)), 0);
    assert_int_equal(dr_buf_add_u16le(&f, 0), 0);
    assert_int_equal(dr_buf_add_u16le(&f, 0), 0);
    assert_int_equal(dr_lockrec_parse((const uint8_t *)f.buf, f.len, &out), DR_ECORRUPT);
    dr_error_clear();
    dr_buf_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
