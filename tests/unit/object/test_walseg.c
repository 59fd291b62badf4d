/* test_walseg.c: the archived WAL file object and its names (src/object/walseg.c).
 *
 * Covers: dr_wal_file_parse (the four kinds; lowercase hex, timeline 0, wrong lengths and
 * suffixes refused); dr_wal_object_name and dr_wal_object_parse (round trip; an uppercase or
 * short system identifier, extra or missing directories, the wrong directory refused), and
 * dr_layout_parse on these names; encode/decode round trip (compressible, random, empty data);
 * damage: every flipped bit and every truncation of an object, the object under another name
 * (segment, cluster, kind), a changed length, a newer version (DR_EUNSUPPORTED), a length over
 * the limit, an object over the limit, a wrong key, a payload of another length than recorded;
 * and that errors name the object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/layout.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "drrepo/walseg.h"
#include "codec.h"

#define SYSID 0x65533227e8e4bac0ull
#define SEG3 "wal/65533227e8e4bac0/0000000100000000/000000010000000000000003"

static struct dr_compressor *z;

static void parses(const char *name, enum dr_wal_kind kind, uint32_t tli, uint32_t log,
                   uint32_t seg)
{
    struct dr_wal_file f;
    memset(&f, 0xee, sizeof(f));
    if (dr_wal_file_parse(name, &f) != 0) {
        fail_msg("'%s' refused: %s", name, dr_error_msg());
    }
    assert_int_equal(f.kind, kind);
    assert_int_equal(f.tli, tli);
    if (kind != DR_WAL_HISTORY) {
        assert_int_equal(f.log, log);
        assert_int_equal(f.seg, seg);
    }
    assert_string_equal(f.name, name);
}

static void refused(const char *name)
{
    struct dr_wal_file f;
    memset(&f, 0xee, sizeof(f));
    int rc = dr_wal_file_parse(name, &f);
    if (rc != DR_EUSAGE) {
        fail_msg("'%s' gave %d, not DR_EUSAGE", name, rc);
    }
    if (strlen(name) < 60 && strstr(dr_error_msg(), name) == NULL) {
        fail_msg("the message does not quote '%s': %s", name, dr_error_msg());
    }
    assert_int_equal(f.kind, 0xeeeeeeee); /* untouched on failure */
    dr_error_clear();
}

static void test_file_parse(void **state)
{
    (void)state;
    parses("000000010000000A000000FF", DR_WAL_SEGMENT, 1, 0xA, 0xFF);
    parses("FFFFFFFFFFFFFFFFFFFFFFFF", DR_WAL_SEGMENT, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF);
    parses("000000020000000100000000.partial", DR_WAL_PARTIAL, 2, 1, 0);
    parses("000000010000000000000002.00000028.backup", DR_WAL_BACKUP, 1, 0, 2);
    parses("0000000A.history", DR_WAL_HISTORY, 10, 0, 0);

    /* lowercase hex: PostgreSQL writes uppercase, and one file must have one name */
    refused("000000010000000a000000ff");
    refused("0000000a.history");
    refused("000000010000000000000002.0000002a.backup");
    /* timeline 0 does not exist */
    refused("000000000000000000000001");
    refused("00000000.history");
    refused("000000000000000000000001.partial");
    /* wrong lengths, suffixes, characters */
    refused("");
    refused("00000001000000000000000");
    refused("0000000100000000000000001");
    refused("00000001000000000000000G");
    refused("0000001.history");
    refused("000000001.history");
    refused("00000001.histor");
    refused("00000001.history.partial");
    refused("000000010000000000000002.partia");
    refused("000000010000000000000002.partial.backup");
    refused("000000010000000000000002.0000028.backup");
    refused("000000010000000000000002.000000028.backup");
    refused("000000010000000000000002.00000028.backu");
    refused("000000010000000000000002-00000028.backup");
    refused("000000010000000000000002.00000028");
    refused("RECOVERYXLOG");
    refused("pg_wal/000000010000000000000002");
    refused("000000010000000000000002.00000028.backup.000000010000000000000002.00000028.backup");
}

static void round_trip(const char *file, const char *want)
{
    struct dr_wal_file f, g;
    assert_int_equal(dr_wal_file_parse(file, &f), 0);
    char *name = dr_wal_object_name(SYSID, &f);
    assert_string_equal(name, want);
    uint64_t sysid = 0;
    assert_true(dr_wal_object_parse(name + 4, &sysid, &g));
    assert_int_equal(sysid, SYSID);
    assert_int_equal(g.kind, f.kind);
    assert_int_equal(g.tli, f.tli);
    assert_int_equal(g.log, f.log);
    assert_int_equal(g.seg, f.seg);
    assert_string_equal(g.name, file);
    assert_true(dr_wal_object_parse(name + 4, NULL, NULL));
    enum dr_layout_kind kind = DR_LAYOUT_CONFIG;
    struct dr_id id;
    assert_int_equal(dr_layout_parse(name, &kind, &id), 0);
    assert_int_equal(kind, DR_LAYOUT_WAL);
    free(name);
}

static void not_wal(const char *name)
{
    uint64_t sysid = 42;
    struct dr_wal_file f;
    memset(&f, 0xee, sizeof(f));
    if (dr_wal_object_parse(name + 4, &sysid, &f)) {
        fail_msg("'%s' parsed as a WAL object", name);
    }
    assert_int_equal(sysid, 42);
    assert_int_equal(f.kind, 0xeeeeeeee);
    enum dr_layout_kind kind = DR_LAYOUT_CONFIG;
    struct dr_id id;
    if (dr_layout_parse(name, &kind, &id) != DR_EUSAGE) {
        fail_msg("dr_layout_parse took '%s'", name);
    }
    assert_int_equal(kind, DR_LAYOUT_CONFIG);
    dr_error_clear();
}

static void test_object_names(void **state)
{
    (void)state;
    round_trip("000000010000000000000003", SEG3);
    round_trip("00000001000000FF000000A0.partial",
               "wal/65533227e8e4bac0/00000001000000FF/00000001000000FF000000A0.partial");
    round_trip("000000010000000000000002.00000028.backup",
               "wal/65533227e8e4bac0/0000000100000000/000000010000000000000002.00000028.backup");
    round_trip("00000002.history", "wal/65533227e8e4bac0/00000002.history");
    struct dr_wal_file f;
    assert_int_equal(dr_wal_file_parse("000000010000000000000003", &f), 0);
    char *name = dr_wal_object_name(1, &f);
    assert_string_equal(name, "wal/0000000000000001/0000000100000000/000000010000000000000003");
    free(name);

    /* the system identifier: 16 lowercase hex digits */
    not_wal("wal/65533227E8E4BAC0/0000000100000000/000000010000000000000003");
    not_wal("wal/65533227e8e4bac/0000000100000000/000000010000000000000003");
    not_wal("wal/65533227e8e4bac0a/0000000100000000/000000010000000000000003");
    not_wal("wal/65533227e8e4bac0");
    not_wal("wal/65533227e8e4bac0/");
    not_wal("wal/");
    not_wal("wal/x");
    /* directories: exactly the one the builder writes */
    not_wal("wal/65533227e8e4bac0/000000010000000000000003");
    not_wal("wal/65533227e8e4bac0/0000000100000001/000000010000000000000003");
    not_wal("wal/65533227e8e4bac0/0000000200000000/000000010000000000000003");
    not_wal("wal/65533227e8e4bac0/x/0000000100000000/000000010000000000000003");
    not_wal("wal/65533227e8e4bac0/0000000100000000/x/000000010000000000000003");
    not_wal("wal/65533227e8e4bac0/0000000100000000//000000010000000000000003");
    not_wal("wal/65533227e8e4bac0/0000000100000000/000000010000000000000003/");
    not_wal("wal/65533227e8e4bac0/00000002/00000002.history");
    not_wal("wal/65533227e8e4bac0/0000000200000000/00000002.history");
    /* not WAL file names */
    not_wal("wal/65533227e8e4bac0/0000000100000000/000000010000000000000003.tmp");
    not_wal("wal/65533227e8e4bac0/0000000100000000/.drrepo-tmp-000000010000000000000003");
    not_wal("wal/65533227e8e4bac0/0000000100000000/000000010000000a00000003");
    not_wal("wal/65533227e8e4bac0/00000000.history");
    /* other kinds: another prefix is not a WAL object */
    enum dr_layout_kind kind;
    struct dr_id id;
    assert_int_equal(
        dr_layout_parse("wals/65533227e8e4bac0/0000000100000000/000000010000000000000003", &kind,
                        &id),
        DR_EUSAGE);
    dr_error_clear();
}

/* n bytes of a WAL-like segment: a few page headers, zeros between them. */
static uint8_t *compressible(size_t n)
{
    uint8_t *p = dr_xcalloc(n, 1);
    for (size_t off = 0; off + 64 <= n; off += 8192) {
        for (size_t i = 0; i < 64; i++) {
            p[off + i] = (uint8_t)(off / 8192 + i * 3);
        }
    }
    return p;
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = dr_xmalloc(n);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    return p;
}

static void encode(const char *obj, const uint8_t *file, size_t len, struct dr_buf *out)
{
    dr_buf_reset(out);
    assert_int_equal(dr_walseg_encode(dr_test_key, z, obj, file, len, out), 0);
}

/* The object decodes (under obj, with the test key) to exactly file. */
static void decodes_to(const char *obj, const struct dr_buf *o, const uint8_t *file, size_t len)
{
    struct dr_buf got = DR_BUF_INIT(DR_WAL_FILE_MAX + 1);
    assert_int_equal(dr_buf_add(&got, "x", 1), 0); /* appended after what is there */
    assert_int_equal(dr_walseg_decode(dr_test_key, z, obj, (const uint8_t *)o->buf, o->len, &got),
                     0);
    assert_int_equal(got.len, 1 + len);
    if (len) {
        assert_memory_equal(got.buf + 1, file, len);
    }
    dr_buf_release(&got);
}

/* Decoding fails with code, names obj, and leaves out as it was. */
static void refuses(const char *obj, const uint8_t *p, size_t len, int code)
{
    struct dr_buf got = DR_BUF_INIT(DR_WAL_FILE_MAX + 1);
    assert_int_equal(dr_buf_add(&got, "x", 1), 0);
    int rc = dr_walseg_decode(dr_test_key, z, obj, p, len, &got);
    if (rc != code) {
        fail_msg("decode gave %d, expected %d (%s)", rc, code, rc < 0 ? dr_error_msg() : "");
    }
    if (strstr(dr_error_msg(), obj) == NULL) {
        fail_msg("the message does not name %s: %s", obj, dr_error_msg());
    }
    assert_int_equal(got.len, 1);
    dr_error_clear();
    dr_buf_release(&got);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct dr_buf o = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    const size_t seg = 16u << 20;
    uint8_t *c = compressible(seg);
    encode(SEG3, c, seg, &o);
    assert_memory_equal(o.buf, DR_MAGIC_WAL, DR_MAGIC_LEN);
    assert_int_equal(dr_get_u32le((const uint8_t *)o.buf + 8), 1);
    assert_int_equal(dr_get_u32le((const uint8_t *)o.buf + 12), 0);
    assert_int_equal(dr_get_u64le((const uint8_t *)o.buf + 16), seg);
    assert_true(o.len < seg / 100); /* compressed */
    uint64_t len = 0;
    assert_int_equal(dr_walseg_length(SEG3, (const uint8_t *)o.buf, DR_WALSEG_HDR_LEN, &len), 0);
    assert_int_equal(len, seg);
    decodes_to(SEG3, &o, c, seg);
    free(c);

    /* random data is stored as is: header, encoding byte, nonce and tag around it */
    const size_t rn = 1u << 20;
    uint8_t *r = random_bytes(rn);
    encode(SEG3, r, rn, &o);
    assert_int_equal(o.len, DR_WALSEG_HDR_LEN + DR_AEAD_OVERHEAD + 1 + rn);
    decodes_to(SEG3, &o, r, rn);
    /* sealed: the file's bytes do not show */
    assert_null(memmem(o.buf, o.len, r + 4096, 64));
    free(r);

    /* an empty file (a partial segment may be anything; the encoder must not care) */
    const char *hist = "wal/65533227e8e4bac0/00000002.history";
    encode(hist, NULL, 0, &o);
    decodes_to(hist, &o, NULL, 0);
    dr_buf_release(&o);
}

static void refuses_truncated(const void *p, size_t len, int code)
{
    refuses(SEG3, p, len, code);
}

static void test_damage(void **state)
{
    (void)state;
    uint8_t file[100];
    for (size_t i = 0; i < sizeof(file); i++) {
        file[i] = (uint8_t)(i * 37 + 11);
    }
    struct dr_buf o = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    encode(SEG3, file, sizeof(file), &o);
    uint8_t *p = dr_xmalloc(o.len);

    /* every flipped bit: corrupt, or (in the version field) a newer version */
    for (size_t i = 0; i < o.len * 8; i++) {
        memcpy(p, o.buf, o.len);
        p[i / 8] ^= (uint8_t)(1u << (i % 8));
        struct dr_buf got = DR_BUF_INIT(DR_WAL_FILE_MAX);
        int rc = dr_walseg_decode(dr_test_key, z, SEG3, p, o.len, &got);
        bool version_field = i / 8 >= 8 && i / 8 < 12 && i != 64;
        if (rc != (version_field ? DR_EUNSUPPORTED : DR_ECORRUPT)) {
            fail_msg("bit %zu flipped: rc %d", i, rc);
        }
        assert_int_equal(got.len, 0);
        dr_buf_release(&got);
        dr_error_clear();
    }
    dr_test_truncations(o.buf, o.len, refuses_truncated);

    /* the object presented under another name: another segment, cluster, kind or timeline */
    refuses("wal/65533227e8e4bac0/0000000100000000/000000010000000000000004",
            (const uint8_t *)o.buf, o.len, DR_ECORRUPT);
    refuses("wal/65533227e8e4bac1/0000000100000000/000000010000000000000003",
            (const uint8_t *)o.buf, o.len, DR_ECORRUPT);
    refuses("wal/65533227e8e4bac0/0000000100000000/000000010000000000000003.partial",
            (const uint8_t *)o.buf, o.len, DR_ECORRUPT);
    refuses("wal/65533227e8e4bac0/0000000200000000/000000020000000000000003",
            (const uint8_t *)o.buf, o.len, DR_ECORRUPT);

    /* a changed length: bound in by the associated data */
    memcpy(p, o.buf, o.len);
    dr_put_u64le(p + 16, sizeof(file) - 1);
    refuses(SEG3, p, o.len, DR_ECORRUPT);
    dr_put_u64le(p + 16, 16u << 20);
    refuses(SEG3, p, o.len, DR_ECORRUPT);
    /* a length over the limit: refused by the header check already */
    dr_put_u64le(p + 16, (uint64_t)DR_WAL_FILE_MAX + 1);
    refuses(SEG3, p, o.len, DR_ECORRUPT);
    uint64_t len = 0;
    assert_int_equal(dr_walseg_length(SEG3, p, DR_WALSEG_HDR_LEN, &len), DR_ECORRUPT);
    dr_error_clear();
    dr_put_u64le(p + 16, UINT64_MAX);
    refuses(SEG3, p, o.len, DR_ECORRUPT);

    /* a newer version: unsupported, from the header alone, whatever follows */
    memcpy(p, o.buf, o.len);
    dr_put_u32le(p + 8, 2);
    refuses(SEG3, p, o.len, DR_EUNSUPPORTED);
    assert_int_equal(dr_walseg_length(SEG3, p, DR_WALSEG_HDR_LEN, &len), DR_EUNSUPPORTED);
    dr_error_clear();
    dr_put_u32le(p + 12, 7);
    dr_put_u64le(p + 16, UINT64_MAX);
    refuses(SEG3, p, DR_WALSEG_HDR_LEN, DR_EUNSUPPORTED);
    /* version 0 and a non-zero reserved field are corrupt */
    memcpy(p, o.buf, o.len);
    dr_put_u32le(p + 8, 0);
    refuses(SEG3, p, o.len, DR_ECORRUPT);
    memcpy(p, o.buf, o.len);
    dr_put_u32le(p + 12, 1);
    refuses(SEG3, p, o.len, DR_ECORRUPT);

    /* a wrong key */
    struct dr_buf got = DR_BUF_INIT(DR_WAL_FILE_MAX);
    assert_int_equal(
        dr_walseg_decode(dr_test_other_key, z, SEG3, (const uint8_t *)o.buf, o.len, &got),
        DR_ECORRUPT);
    assert_int_equal(got.len, 0);
    dr_error_clear();
    dr_buf_release(&got);
    free(p);
    dr_buf_release(&o);
}

/* A validly sealed object whose plaintext is pt, recording length flen: what a writer with a
 * bug (or the key) could produce; the decoder must still check the payload. */
static void seal_raw(const char *obj, uint64_t flen, const uint8_t *pt, size_t n,
                     struct dr_buf *out)
{
    uint8_t hdr[DR_WALSEG_HDR_LEN], nonce[DR_NONCE_LEN] = {1};
    memcpy(hdr, DR_MAGIC_WAL, DR_MAGIC_LEN);
    dr_put_u32le(hdr + 8, 1);
    dr_put_u32le(hdr + 12, 0);
    dr_put_u64le(hdr + 16, flen);
    struct dr_buf ad = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_buf_add(&ad, hdr, sizeof(hdr)), 0);
    assert_int_equal(dr_buf_add(&ad, obj, strlen(obj)), 0);
    dr_buf_reset(out);
    assert_int_equal(dr_buf_add(out, hdr, sizeof(hdr)), 0);
    assert_int_equal(dr_crypto_seal_nonce(dr_test_key, nonce, ad.buf, ad.len, pt, n, out), 0);
    dr_buf_release(&ad);
}

static void test_payload_checked(void **state)
{
    (void)state;
    struct dr_buf o = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    const uint8_t raw5[] = {DR_ENC_RAW, 'a', 'b', 'c', 'd', 'e'};
    seal_raw(SEG3, 5, raw5, sizeof(raw5), &o);
    decodes_to(SEG3, &o, raw5 + 1, 5);          /* the hand-made object is right... */
    seal_raw(SEG3, 10, raw5, sizeof(raw5), &o); /* ...but not with another length */
    refuses(SEG3, (const uint8_t *)o.buf, o.len, DR_ECORRUPT);
    seal_raw(SEG3, 4, raw5, sizeof(raw5), &o);
    refuses(SEG3, (const uint8_t *)o.buf, o.len, DR_ECORRUPT);
    const uint8_t enc7[] = {7, 'a', 'b', 'c', 'd', 'e'};
    seal_raw(SEG3, 5, enc7, sizeof(enc7), &o);
    refuses(SEG3, (const uint8_t *)o.buf, o.len, DR_ECORRUPT);
    const uint8_t badzstd[] = {DR_ENC_ZSTD, 0x28, 0xb5, 0x2f, 0xfd, 0, 0};
    seal_raw(SEG3, 5, badzstd, sizeof(badzstd), &o);
    refuses(SEG3, (const uint8_t *)o.buf, o.len, DR_ECORRUPT);
    seal_raw(SEG3, 0, NULL, 0, &o); /* no encoding byte at all */
    refuses(SEG3, (const uint8_t *)o.buf, o.len, DR_ECORRUPT);
    dr_buf_release(&o);
}

static void test_limits(void **state)
{
    (void)state;
    struct dr_buf o = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    /* a file over the limit is refused before anything is written */
    uint8_t *big = dr_xcalloc((size_t)DR_WAL_FILE_MAX + 1, 1);
    assert_int_equal(dr_walseg_encode(dr_test_key, z, SEG3, big, (size_t)DR_WAL_FILE_MAX + 1, &o),
                     DR_EUSAGE);
    assert_non_null(strstr(dr_error_msg(), SEG3));
    assert_int_equal(o.len, 0);
    dr_error_clear();
    /* a file at the limit is stored */
    encode(SEG3, big, DR_WAL_FILE_MAX, &o);
    decodes_to(SEG3, &o, big, DR_WAL_FILE_MAX);
    free(big);

    /* an object over DR_WALSEG_OBJ_MAX is refused, whatever its header says */
    uint8_t *huge = dr_xcalloc((size_t)DR_WALSEG_OBJ_MAX + 1, 1);
    memcpy(huge, o.buf, DR_WALSEG_HDR_LEN);
    refuses(SEG3, huge, (size_t)DR_WALSEG_OBJ_MAX + 1, DR_ECORRUPT);
    free(huge);
    /* a header with less than its 24 bytes */
    uint64_t len;
    assert_int_equal(dr_walseg_length(SEG3, (const uint8_t *)o.buf, DR_WALSEG_HDR_LEN - 1, &len),
                     DR_ECORRUPT);
    dr_error_clear();
    dr_buf_release(&o);
}

static int setup(void **state)
{
    if (dr_test_keys_setup(state) < 0) {
        return -1;
    }
    z = dr_compressor_new(3);
    return 0;
}

static int teardown(void **state)
{
    dr_compressor_free(z);
    return dr_test_keys_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_parse),      cmocka_unit_test(test_object_names),
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_damage),
        cmocka_unit_test(test_payload_checked), cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
