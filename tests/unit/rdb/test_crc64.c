/* test_crc64.c: unit tests for src/rdb/crc64.c.
 *
 * Covers: dr_crc64 against Redis's published check value (CRC-64/Jones of "123456789" is
 * 0xe9c6d914c4b8d9ca, as in Redis's crc64.c self-test), the empty input, incremental use (any split
 * gives the whole-buffer value), and agreement of the sliced loop with a bit-at-a-time reference
 * on every length and alignment up to 64 bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "drrepo/rdb.h"

/* The definition, one bit at a time: reflected polynomial, init 0, no final xor. */
static uint64_t crc64_ref(const uint8_t *p, size_t n)
{
    uint64_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1) ? (crc >> 1) ^ 0x95ac9329ac4bc9b5ull : crc >> 1;
        }
    }
    return crc;
}

static void test_check_value(void **state)
{
    (void)state;
    assert_true(dr_crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9caull);
    assert_true(crc64_ref((const uint8_t *)"123456789", 9) == 0xe9c6d914c4b8d9caull);
    /* Redis's crc64 test also checks this sentence */
    const char *li = "This is a test of the emergency broadcast system.";
    assert_true(dr_crc64(0, li, strlen(li)) == crc64_ref((const uint8_t *)li, strlen(li)));
}

static void test_empty(void **state)
{
    (void)state;
    assert_true(dr_crc64(0, "", 0) == 0);
    assert_true(dr_crc64(0x1234, NULL, 0) == 0x1234);
}

static void test_incremental(void **state)
{
    (void)state;
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(i * 131 + 7);
    }
    uint64_t whole = dr_crc64(0, buf, sizeof(buf));
    assert_true(whole == crc64_ref(buf, sizeof(buf)));
    for (size_t cut = 0; cut <= sizeof(buf); cut += 37) {
        uint64_t c = dr_crc64(0, buf, cut);
        c = dr_crc64(c, buf + cut, sizeof(buf) - cut);
        assert_true(c == whole);
    }
}

static void test_lengths_alignments(void **state)
{
    (void)state;
    uint8_t buf[80];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(0xa5 ^ (i * 29));
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t n = 0; n + off <= 72; n++) {
            assert_true(dr_crc64(0, buf + off, n) == crc64_ref(buf + off, n));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_lengths_alignments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
