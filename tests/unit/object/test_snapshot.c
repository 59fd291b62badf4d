/* test_snapshot.c: the snapshot object codec (src/object/snapshot.c).
 *
 * Covers: round trip with every field; defaults of absent optional fields; name check (id
 * mismatch); wrong key; every flipped bit and every truncation; forged bodies (sealed with
 * dr_crypto_seal) with unknown tags, missing required fields, duplicate singular fields, bad
 * lengths, NUL in strings, overrunning fields; newer version (DR_EUNSUPPORTED); encode limits
 * (DR_EUSAGE); dr_snapshot_get_meta. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/snapshot.h"
#include "codec.h"

static void fill_id(struct dr_id *id, uint8_t seed)
{
    for (int i = 0; i < DR_ID_LEN; i++) {
        id->b[i] = (uint8_t)(seed ^ (i * 13));
    }
}

static void build_full(struct dr_snapshot *s)
{
    dr_snapshot_init(s);
    s->time_ns = 1763757725123456789LL;
    s->host = dr_xstrdup("backup-host.example");
    s->user = dr_xstrdup("root");
    dr_snapshot_add_tag(s, "daily");
    dr_snapshot_add_tag(s, "db");
    dr_snapshot_add_path(s, "/srv/data");
    dr_snapshot_add_path(s, "/etc/h\xc3\xa9llo");
    fill_id(&s->tree, 0x10);
    fill_id(&s->parent, 0x20);
    s->has_parent = true;
    s->source = dr_xstrdup("files");
    s->summary = (struct dr_snap_summary){
        .files_new = 1,
        .files_changed = 2,
        .files_unchanged = 3,
        .dirs = 4,
        .bytes_read = 5,
        .bytes_total = UINT64_MAX,
        .bytes_added = 7,
        .blobs_added = 8,
        .errors = 9,
        .duration_ns = -10,
    };
    dr_snapshot_add_meta(s, "pg_version", "16.2");
    dr_snapshot_add_meta(s, "empty", "");
    fill_id(&s->original, 0x30);
    s->has_original = true;
}

static void assert_strv_eq(char **a, size_t na, char **b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i], b[i]);
    }
}

static void assert_snap_eq(const struct dr_snapshot *a, const struct dr_snapshot *b)
{
    assert_true(a->time_ns == b->time_ns);
    assert_string_equal(a->host, b->host);
    assert_string_equal(a->user, b->user);
    assert_strv_eq(a->tags, a->ntags, b->tags, b->ntags);
    assert_strv_eq(a->paths, a->npaths, b->paths, b->npaths);
    assert_memory_equal(a->tree.b, b->tree.b, DR_ID_LEN);
    assert_int_equal(a->has_parent, b->has_parent);
    assert_memory_equal(a->parent.b, b->parent.b, DR_ID_LEN);
    assert_string_equal(a->source, b->source);
    assert_memory_equal(&a->summary, &b->summary, sizeof(a->summary));
    assert_int_equal(a->nmeta, b->nmeta);
    for (size_t i = 0; i < a->nmeta; i++) {
        assert_string_equal(a->meta[i].key, b->meta[i].key);
        assert_string_equal(a->meta[i].value, b->meta[i].value);
    }
    assert_int_equal(a->has_original, b->has_original);
    assert_memory_equal(a->original.b, b->original.b, DR_ID_LEN);
}

static void encode_ok(const struct dr_snapshot *s, struct dr_buf *b, struct dr_id *id)
{
    dr_buf_init(b, DR_BUF_MAX_DEFAULT);
    int rc = dr_snapshot_encode(dr_test_key, s, b, id);
    if (rc < 0) {
        fail_msg("encode: %s", dr_error_msg());
    }
}

/* Decodes with the hash of the bytes as the name, so that checks past the name are reached. */
static int decode_named(const struct dr_keys *k, const void *p, size_t len, struct dr_snapshot *s)
{
    struct dr_id id;
    dr_crypto_hash(p, len, &id);
    return dr_snapshot_decode(k, &id, p, len, s);
}

static void expect_decode(const void *p, size_t len, int code)
{
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    int rc = decode_named(dr_test_key, p, len, &s);
    if (rc != code) {
        fail_msg("decode of %zu bytes: got %d (%s), want %d", len, rc, dr_error_msg(), code);
    }
    if (rc < 0) {
        /* out-param untouched on failure */
        assert_null(s.host);
        assert_int_equal(s.ntags, 0);
        assert_non_null(strstr(dr_error_msg(), "snapshot "));
    }
    dr_snapshot_release(&s);
}

/* Builds a snapshot file around a hand-made body: header with the given version and reserved
 * word, body sealed with the header as associated data. */
static void forge(uint32_t version, uint32_t reserved, const void *body, size_t len,
                  struct dr_buf *out)
{
    uint8_t hdr[16];
    memcpy(hdr, DR_MAGIC_SNAPSHOT, DR_MAGIC_LEN);
    dr_put_u32le(hdr + 8, version);
    dr_put_u32le(hdr + 12, reserved);
    dr_buf_init(out, DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_buf_add(out, hdr, sizeof(hdr)), 0);
    /* not out->buf as the associated data: sealing grows (moves) out */
    assert_int_equal(dr_crypto_seal(dr_test_key, hdr, sizeof(hdr), body, len, out), 0);
}

static void add_field(struct dr_buf *b, uint16_t tag, const void *v, size_t len)
{
    assert_int_equal(dr_buf_add_u16le(b, tag), 0);
    assert_int_equal(dr_buf_add_u32le(b, (uint32_t)len), 0);
    assert_int_equal(dr_buf_add(b, v, len), 0);
}

/* A minimal valid body: time and tree. */
static void min_body(struct dr_buf *b)
{
    static const uint8_t t[8] = {1, 2, 3, 4, 5, 6, 7, 0};
    static const uint8_t tree[32] = {0xaa};
    dr_buf_init(b, DR_BUF_MAX_DEFAULT);
    add_field(b, 1, t, 8);
    add_field(b, 6, tree, 32);
}

static void expect_forged(const struct dr_buf *body, int code, const char *msg_part)
{
    struct dr_buf f;
    forge(1, 0, body->buf, body->len, &f);
    expect_decode(f.buf, f.len, code);
    if (msg_part) {
        if (!strstr(dr_error_msg(), msg_part)) {
            fail_msg("message '%s' lacks '%s'", dr_error_msg(), msg_part);
        }
    }
    dr_buf_release(&f);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct dr_snapshot s, d;
    struct dr_buf b, b2;
    struct dr_id id, id2, h;

    build_full(&s);
    encode_ok(&s, &b, &id);
    assert_memory_equal(b.buf, DR_MAGIC_SNAPSHOT, DR_MAGIC_LEN);
    assert_int_equal(dr_get_u32le((uint8_t *)b.buf + 8), 1);
    assert_int_equal(dr_get_u32le((uint8_t *)b.buf + 12), 0);
    dr_crypto_hash(b.buf, b.len, &h);
    assert_true(dr_id_eq(&h, &id)); /* the name is the hash of the file */

    dr_snapshot_init(&d);
    assert_int_equal(dr_snapshot_decode(dr_test_key, &id, (uint8_t *)b.buf, b.len, &d), 0);
    assert_snap_eq(&s, &d);
    assert_string_equal(dr_snapshot_get_meta(&d, "pg_version"), "16.2");
    assert_string_equal(dr_snapshot_get_meta(&d, "empty"), "");
    assert_null(dr_snapshot_get_meta(&d, "nope"));

    /* A fresh nonce each time: different bytes and names, same content. */
    encode_ok(&s, &b2, &id2);
    assert_false(dr_id_eq(&id, &id2));
    assert_int_equal(b.len, b2.len);

    /* The plaintext is deterministic, and is what the file seals. */
    struct dr_buf p1 = DR_BUF_INIT(DR_BUF_MAX_DEFAULT), p2 = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_snapshot_encode_body(&s, &p1), 0);
    assert_int_equal(dr_snapshot_encode_body(&d, &p2), 0);
    assert_int_equal(p1.len, p2.len);
    assert_memory_equal(p1.buf, p2.buf, p1.len);
    assert_int_equal(b.len, 16 + DR_AEAD_OVERHEAD + p1.len);
    struct dr_buf o = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_crypto_unseal(dr_test_key, b.buf, 16, b.buf + 16, b.len - 16, &o), 0);
    assert_int_equal(o.len, p1.len);
    assert_memory_equal(o.buf, p1.buf, p1.len);

    dr_buf_release(&o);
    dr_buf_release(&p1);
    dr_buf_release(&p2);
    dr_buf_release(&b2);
    dr_buf_release(&b);
    dr_snapshot_release(&d);
    dr_snapshot_release(&s);
    assert_null(s.host);
    assert_null(s.tags);
}

static void test_minimal(void **state)
{
    (void)state;
    struct dr_snapshot s, d;
    struct dr_buf b;
    struct dr_id id;

    dr_snapshot_init(&s);
    s.time_ns = -1;
    encode_ok(&s, &b, &id);
    dr_snapshot_init(&d);
    assert_int_equal(dr_snapshot_decode(dr_test_key, &id, (uint8_t *)b.buf, b.len, &d), 0);
    assert_true(d.time_ns == -1);
    /* absent strings decode as empty, never NULL */
    assert_string_equal(d.host, "");
    assert_string_equal(d.user, "");
    assert_string_equal(d.source, "");
    assert_int_equal(d.ntags, 0);
    assert_int_equal(d.npaths, 0);
    assert_int_equal(d.nmeta, 0);
    assert_false(d.has_parent);
    assert_false(d.has_original);
    assert_true(dr_id_is_zero(&d.tree));
    assert_true(dr_id_is_zero(&d.parent));
    dr_buf_release(&b);
    dr_snapshot_release(&d);
}

static void test_name_mismatch_and_key(void **state)
{
    (void)state;
    struct dr_snapshot s, d;
    struct dr_buf b;
    struct dr_id id, wrong;
    char hex[DR_ID_HEX_LEN + 1];

    build_full(&s);
    encode_ok(&s, &b, &id);
    dr_snapshot_init(&d);

    wrong = id;
    wrong.b[31] ^= 1;
    assert_int_equal(dr_snapshot_decode(dr_test_key, &wrong, (uint8_t *)b.buf, b.len, &d),
                     DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "content does not match its name"));
    assert_non_null(strstr(dr_error_msg(), dr_id_hex(&wrong, hex)));

    assert_int_equal(dr_snapshot_decode(dr_test_other_key, &id, (uint8_t *)b.buf, b.len, &d),
                     DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), dr_id_hex(&id, hex)));
    assert_null(d.host);

    /* A flipped byte anywhere: the name no longer matches. */
    b.buf[b.len / 2] ^= 0x40;
    assert_int_equal(dr_snapshot_decode(dr_test_key, &id, (uint8_t *)b.buf, b.len, &d),
                     DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "does not match its name"));

    dr_buf_release(&b);
    dr_snapshot_release(&d);
    dr_snapshot_release(&s);
}

static void test_flips_and_truncation(void **state)
{
    (void)state;
    struct dr_snapshot s;
    struct dr_buf b;
    struct dr_id id;

    build_full(&s);
    encode_ok(&s, &b, &id);
    /* Even with a matching name, every flipped bit is caught: the header by its checks, the
     * rest by the AEAD tag (the header is its associated data). */
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.buf[i] ^= (char)(1 << bit);
            bool newer = i >= 8 && i < 12 && dr_get_u32le((uint8_t *)b.buf + 8) > 1;
            expect_decode(b.buf, b.len, newer ? DR_EUNSUPPORTED : DR_ECORRUPT);
            b.buf[i] ^= (char)(1 << bit);
        }
    }
    dr_test_truncations(b.buf, b.len, expect_decode);
    expect_decode(b.buf, b.len, 0);
    dr_buf_release(&b);
    dr_snapshot_release(&s);
}

static void test_header(void **state)
{
    (void)state;
    struct dr_buf body, f;
    min_body(&body);

    forge(1, 0, body.buf, body.len, &f);
    expect_decode(f.buf, f.len, 0);
    dr_buf_release(&f);

    forge(2, 0, body.buf, body.len, &f);
    expect_decode(f.buf, f.len, DR_EUNSUPPORTED);
    assert_non_null(strstr(dr_error_msg(), "version 2"));
    dr_buf_release(&f);

    forge(0, 0, body.buf, body.len, &f);
    expect_decode(f.buf, f.len, DR_ECORRUPT);
    dr_buf_release(&f);

    forge(1, 1, body.buf, body.len, &f);
    expect_decode(f.buf, f.len, DR_ECORRUPT);
    dr_buf_release(&f);

    forge(1, 0, body.buf, body.len, &f);
    f.buf[0] = 'X';
    expect_decode(f.buf, f.len, DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "magic"));
    dr_buf_release(&f);

    dr_buf_release(&body);
}

static void test_unknown_tags_skipped(void **state)
{
    (void)state;
    struct dr_snapshot s, d;
    struct dr_buf body = DR_BUF_INIT(DR_BUF_MAX_DEFAULT), f;

    build_full(&s);
    add_field(&body, 0, "zero", 4);
    add_field(&body, 12, "", 0);
    assert_int_equal(dr_snapshot_encode_body(&s, &body), 0);
    add_field(&body, 0xffff, "from the future", 15);
    add_field(&body, 200, "\0\0\0", 3);
    forge(1, 0, body.buf, body.len, &f);

    dr_snapshot_init(&d);
    assert_int_equal(decode_named(dr_test_key, f.buf, f.len, &d), 0);
    assert_snap_eq(&s, &d);

    dr_buf_release(&f);
    dr_buf_release(&body);
    dr_snapshot_release(&d);
    dr_snapshot_release(&s);
}

static void test_forged_bodies(void **state)
{
    (void)state;
    static const uint8_t t8[8] = {0};
    static const uint8_t id32[33] = {1}; /* one spare byte for the too-long case */
    uint8_t sum[96] = {0};
    struct dr_buf b;

    /* the minimal body is valid, and field order does not matter */
    min_body(&b);
    expect_forged(&b, 0, NULL);
    dr_buf_release(&b);
    dr_buf_init(&b, DR_BUF_MAX_DEFAULT);
    add_field(&b, 6, id32, 32);
    add_field(&b, 1, t8, 8);
    expect_forged(&b, 0, NULL);
    dr_buf_release(&b);

    /* missing required fields */
    dr_buf_init(&b, DR_BUF_MAX_DEFAULT);
    add_field(&b, 6, id32, 32);
    expect_forged(&b, DR_ECORRUPT, "'time' is missing");
    dr_buf_release(&b);
    dr_buf_init(&b, DR_BUF_MAX_DEFAULT);
    add_field(&b, 1, t8, 8);
    expect_forged(&b, DR_ECORRUPT, "'tree' is missing");
    dr_buf_release(&b);
    dr_buf_init(&b, DR_BUF_MAX_DEFAULT);
    expect_forged(&b, DR_ECORRUPT, "missing"); /* empty body */
    dr_buf_release(&b);

    /* duplicate singular fields; repeated ones are fine */
    min_body(&b);
    add_field(&b, 2, "h1", 2);
    add_field(&b, 2, "h2", 2);
    expect_forged(&b, DR_ECORRUPT, "twice");
    dr_buf_release(&b);
    min_body(&b);
    add_field(&b, 6, id32, 32);
    expect_forged(&b, DR_ECORRUPT, "twice");
    dr_buf_release(&b);
    min_body(&b);
    add_field(&b, 4, "t", 1);
    add_field(&b, 4, "t", 1);
    add_field(&b, 5, "p", 1);
    add_field(&b, 5, "p", 1);
    expect_forged(&b, 0, NULL);
    dr_buf_release(&b);

    /* fixed-size fields with the wrong length */
    dr_buf_init(&b, DR_BUF_MAX_DEFAULT);
    add_field(&b, 1, t8, 7);
    add_field(&b, 6, id32, 32);
    expect_forged(&b, DR_ECORRUPT, "time");
    dr_buf_release(&b);
    dr_buf_init(&b, DR_BUF_MAX_DEFAULT);
    add_field(&b, 1, t8, 8);
    add_field(&b, 6, id32, 31);
    expect_forged(&b, DR_ECORRUPT, "tree");
    dr_buf_release(&b);
    min_body(&b);
    add_field(&b, 7, id32, 33);
    expect_forged(&b, DR_ECORRUPT, "parent");
    dr_buf_release(&b);
    min_body(&b);
    add_field(&b, 11, id32, 0);
    expect_forged(&b, DR_ECORRUPT, "original");
    dr_buf_release(&b);

    /* summary: shorter rejected, longer accepted with the known prefix read */
    min_body(&b);
    add_field(&b, 9, sum, 79);
    expect_forged(&b, DR_ECORRUPT, "summary");
    dr_buf_release(&b);
    min_body(&b);
    dr_put_u64le(sum, 42);
    dr_put_u64le(sum + 72, (uint64_t)-3);
    add_field(&b, 9, sum, sizeof(sum));
    {
        struct dr_buf f;
        struct dr_snapshot d;
        forge(1, 0, b.buf, b.len, &f);
        dr_snapshot_init(&d);
        assert_int_equal(decode_named(dr_test_key, f.buf, f.len, &d), 0);
        assert_int_equal(d.summary.files_new, 42);
        assert_true(d.summary.duration_ns == -3);
        dr_snapshot_release(&d);
        dr_buf_release(&f);
    }
    dr_buf_release(&b);

    /* strings: NUL inside, over DR_STRING_MAX */
    min_body(&b);
    add_field(&b, 3, "ro\0t", 4);
    expect_forged(&b, DR_ECORRUPT, "user");
    dr_buf_release(&b);
    {
        char *big = dr_xcalloc(1, DR_STRING_MAX + 1);
        memset(big, 'x', DR_STRING_MAX + 1);
        min_body(&b);
        add_field(&b, 5, big, DR_STRING_MAX + 1);
        expect_forged(&b, DR_ECORRUPT, "path");
        dr_buf_release(&b);
        min_body(&b);
        add_field(&b, 5, big, DR_STRING_MAX);
        expect_forged(&b, 0, NULL);
        dr_buf_release(&b);
        free(big);
    }

    /* meta: key length beyond the field, empty key, NUL in value; empty value is fine */
    min_body(&b);
    add_field(&b, 10, "\5\0abc", 5);
    expect_forged(&b, DR_ECORRUPT, "meta");
    dr_buf_release(&b);
    min_body(&b);
    add_field(&b, 10, "\0\0abc", 5);
    expect_forged(&b, DR_ECORRUPT, "meta");
    dr_buf_release(&b);
    min_body(&b);
    add_field(&b, 10, "\x01", 1);
    expect_forged(&b, DR_ECORRUPT, "meta");
    dr_buf_release(&b);
    min_body(&b);
    add_field(&b, 10, "\1\0kv\0", 5);
    expect_forged(&b, DR_ECORRUPT, "meta");
    dr_buf_release(&b);
    min_body(&b);
    add_field(&b, 10, "\1\0k", 3);
    expect_forged(&b, 0, NULL);
    dr_buf_release(&b);

    /* a field overrunning the body, and a partial field header */
    min_body(&b);
    assert_int_equal(dr_buf_add_u16le(&b, 2), 0);
    assert_int_equal(dr_buf_add_u32le(&b, 10), 0);
    assert_int_equal(dr_buf_add(&b, "short", 5), 0);
    expect_forged(&b, DR_ECORRUPT, "overruns");
    dr_buf_release(&b);
    min_body(&b);
    assert_int_equal(dr_buf_add(&b, "\x02\x00\x00", 3), 0);
    expect_forged(&b, DR_ECORRUPT, "overruns");
    dr_buf_release(&b);
}

static void test_encode_limits(void **state)
{
    (void)state;
    struct dr_snapshot s;
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_id id;
    char *big = dr_xmalloc(DR_STRING_MAX + 2);
    memset(big, 'x', DR_STRING_MAX + 1);
    big[DR_STRING_MAX + 1] = '\0';

    dr_snapshot_init(&s);
    s.host = dr_xstrdup(big);
    assert_int_equal(dr_snapshot_encode(dr_test_key, &s, &b, &id), DR_EUSAGE);
    assert_int_equal(b.len, 0);
    dr_snapshot_release(&s);

    dr_snapshot_init(&s);
    dr_snapshot_add_meta(&s, "", "v");
    assert_int_equal(dr_snapshot_encode(dr_test_key, &s, &b, &id), DR_EUSAGE);
    dr_snapshot_release(&s);

    dr_snapshot_init(&s);
    dr_snapshot_add_meta(&s, "k", big);
    assert_int_equal(dr_snapshot_encode(dr_test_key, &s, &b, &id), DR_EUSAGE);
    dr_snapshot_release(&s);

    /* Many strings each within the limit, together over DR_SNAPSHOT_MAX. */
    big[DR_STRING_MAX] = '\0';
    dr_snapshot_init(&s);
    for (size_t i = 0; i <= DR_SNAPSHOT_MAX / DR_STRING_MAX; i++) {
        dr_snapshot_add_path(&s, big);
    }
    assert_int_equal(dr_snapshot_encode(dr_test_key, &s, &b, &id), DR_EUSAGE);
    assert_non_null(strstr(dr_error_msg(), "limit"));
    assert_int_equal(b.len, 0);
    /* ...and two fewer paths fit */
    free(s.paths[--s.npaths]);
    free(s.paths[--s.npaths]);
    assert_int_equal(dr_snapshot_encode(dr_test_key, &s, &b, &id), 0);
    struct dr_snapshot d;
    dr_snapshot_init(&d);
    assert_int_equal(dr_snapshot_decode(dr_test_key, &id, (uint8_t *)b.buf, b.len, &d), 0);
    assert_int_equal(d.npaths, s.npaths);
    dr_snapshot_release(&d);
    dr_snapshot_release(&s);

    free(big);
    dr_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_name_mismatch_and_key),
        cmocka_unit_test(test_flips_and_truncation),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_unknown_tags_skipped),
        cmocka_unit_test(test_forged_bodies),
        cmocka_unit_test(test_encode_limits),
    };
    return cmocka_run_group_tests(tests, dr_test_keys_setup, dr_test_keys_teardown);
}
