/* test_config.c: the repository config codec (src/object/config.c).
 *
 * Covers: round trip of format versions 1 and 2 (every field), check without a key (version and
 * repository id); every single-bit flip of a version 2 and a version 1 config is DR_ECORRUPT
 * from decode, and of version 2 from the keyless check too; every truncation (DR_ECORRUPT, or
 * DR_ENOREPO below the magic); bytes that are not a config (DR_ENOREPO); oversize (DR_ECORRUPT);
 * a newer version with a valid checksum (DR_EUNSUPPORTED); the wrong key (DR_ECORRUPT: the
 * config, not the password, is blamed); sealed parameters out of range (DR_ECORRUPT); encoding
 * an unknown version (DR_EINTERNAL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/config.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"

static struct dr_keys *key, *other_key;

static int setup(void **state)
{
    (void)state;
    uint8_t m[DR_MASTER_KEY_LEN];
    if (dr_crypto_init() < 0) {
        return -1;
    }
    for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
        m[i] = (uint8_t)(3 * i + 1);
    }
    key = dr_keys_from_master(m);
    m[5] ^= 0x80;
    other_key = dr_keys_from_master(m);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dr_keys_free(key);
    dr_keys_free(other_key);
    return 0;
}

static struct dr_repo_config sample(uint32_t version)
{
    struct dr_repo_config c = {
        .version = version,
        .chunker = {.alg = DR_CHUNKER_GEAR_V1,
                    .min = DR_DEFAULT_CHUNK_MIN,
                    .avg = DR_DEFAULT_CHUNK_AVG,
                    .max = DR_DEFAULT_CHUNK_MAX},
        .pack_size = DR_DEFAULT_PACK_SIZE,
        .zstd_level = 7,
        .created_ns = 1763757725123456789LL,
    };
    for (int i = 0; i < DR_ID_LEN; i++) {
        c.repo_id.b[i] = (uint8_t)(0xa0 ^ i);
    }
    return c;
}

static void encode(const struct dr_repo_config *c, struct dr_buf *out)
{
    dr_buf_reset(out);
    assert_int_equal(dr_config_encode(key, c, NULL, out), 0);
}

static void assert_same(const struct dr_repo_config *a, const struct dr_repo_config *b)
{
    assert_int_equal(a->version, b->version);
    assert_memory_equal(a->repo_id.b, b->repo_id.b, DR_ID_LEN);
    assert_int_equal(a->chunker.alg, b->chunker.alg);
    assert_int_equal(a->chunker.min, b->chunker.min);
    assert_int_equal(a->chunker.avg, b->chunker.avg);
    assert_int_equal(a->chunker.max, b->chunker.max);
    assert_int_equal(a->pack_size, b->pack_size);
    assert_int_equal(a->zstd_level, b->zstd_level);
    assert_int_equal(a->created_ns, b->created_ns);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(DR_CONFIG_MAX);
    for (uint32_t v = 1; v <= DR_REPO_VERSION; v++) {
        struct dr_repo_config c = sample(v), got = {0}, clear = {0};
        encode(&c, &b);
        assert_int_equal(dr_config_decode(key, "config", (uint8_t *)b.buf, b.len, &got), 0);
        assert_same(&c, &got);
        assert_int_equal(dr_config_check("config", (uint8_t *)b.buf, b.len, &clear), 0);
        assert_int_equal(clear.version, v);
        assert_memory_equal(clear.repo_id.b, c.repo_id.b, DR_ID_LEN);
    }
    dr_buf_release(&b);
}

static void test_every_flip(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(DR_CONFIG_MAX);
    for (uint32_t v = 1; v <= DR_REPO_VERSION; v++) {
        struct dr_repo_config c = sample(v);
        encode(&c, &b);
        for (size_t i = 0; i < b.len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                struct dr_repo_config got = {0};
                b.buf[i] ^= (char)(1 << bit);
                int rc = dr_config_decode(key, "config", (uint8_t *)b.buf, b.len, &got);
                if (rc != DR_ECORRUPT) {
                    fail_msg("version %u, byte %zu bit %d: %d (%s)", v, i, bit, rc, dr_error_msg());
                }
                assert_non_null(strstr(dr_error_msg(), "'config'"));
                if (v >= 2) {
                    rc = dr_config_check("config", (uint8_t *)b.buf, b.len, &got);
                    assert_int_equal(rc, DR_ECORRUPT);
                }
                b.buf[i] ^= (char)(1 << bit);
            }
        }
    }
    dr_buf_release(&b);
}

static void test_truncated_and_foreign(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(DR_CONFIG_MAX);
    struct dr_repo_config c = sample(DR_REPO_VERSION), got = {0};
    encode(&c, &b);
    for (size_t len = 0; len < b.len; len++) {
        int rc = dr_config_decode(key, "config", (uint8_t *)b.buf, len, &got);
        assert_int_equal(rc, len < DR_MAGIC_LEN ? DR_ENOREPO : DR_ECORRUPT);
    }
    const char *text = "this is a text file, not a repository config at all";
    assert_int_equal(dr_config_check("config", (const uint8_t *)text, strlen(text), &got),
                     DR_ENOREPO);
    uint8_t *big = dr_xcalloc(DR_CONFIG_MAX + 1, 1);
    memcpy(big, b.buf, b.len);
    assert_int_equal(dr_config_check("config", big, DR_CONFIG_MAX + 1, &got), DR_ECORRUPT);
    free(big);
    dr_buf_release(&b);
}

static void test_newer_version(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(DR_CONFIG_MAX);
    struct dr_repo_config c = sample(DR_REPO_VERSION), got = {0};
    encode(&c, &b);
    /* a well-formed config of the next version: version field changed, checksum recomputed */
    dr_put_u32le((uint8_t *)b.buf + DR_MAGIC_LEN, DR_REPO_VERSION + 1);
    struct dr_id sum;
    dr_crypto_hash(b.buf, b.len - DR_ID_LEN, &sum);
    memcpy(b.buf + b.len - DR_ID_LEN, sum.b, DR_ID_LEN);
    assert_int_equal(dr_config_check("config", (uint8_t *)b.buf, b.len, &got), DR_EUNSUPPORTED);
    assert_int_equal(dr_config_decode(key, "config", (uint8_t *)b.buf, b.len, &got),
                     DR_EUNSUPPORTED);

    c.version = DR_REPO_VERSION + 1;
    dr_buf_reset(&b);
    assert_int_equal(dr_config_encode(key, &c, NULL, &b), DR_EINTERNAL);
    c.version = 0;
    assert_int_equal(dr_config_encode(key, &c, NULL, &b), DR_EINTERNAL);
    dr_buf_release(&b);
}

static void test_wrong_key_and_bad_params(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(DR_CONFIG_MAX);
    struct dr_repo_config c = sample(DR_REPO_VERSION), got = {0};
    encode(&c, &b);
    assert_int_equal(dr_config_decode(other_key, "config", (uint8_t *)b.buf, b.len, &got),
                     DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "authenticate"));
    /* the keyless check does not need the key */
    assert_int_equal(dr_config_check("config", (uint8_t *)b.buf, b.len, &got), 0);

    struct dr_repo_config bad = sample(DR_REPO_VERSION);
    bad.pack_size = DR_PACK_SIZE_MIN - 1;
    encode(&bad, &b);
    assert_int_equal(dr_config_decode(key, "config", (uint8_t *)b.buf, b.len, &got), DR_ECORRUPT);
    bad = sample(DR_REPO_VERSION);
    bad.zstd_level = 20;
    encode(&bad, &b);
    assert_int_equal(dr_config_decode(key, "config", (uint8_t *)b.buf, b.len, &got), DR_ECORRUPT);
    bad = sample(DR_REPO_VERSION);
    bad.chunker.max = bad.chunker.min;
    encode(&bad, &b);
    assert_int_equal(dr_config_decode(key, "config", (uint8_t *)b.buf, b.len, &got), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "chunker"));
    dr_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_flip),
        cmocka_unit_test(test_truncated_and_foreign),
        cmocka_unit_test(test_newer_version),
        cmocka_unit_test(test_wrong_key_and_bad_params),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
