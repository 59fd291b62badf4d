/* test_vectors_pack.c: checks the code against format/vectors/blob-v1.txt and
 * {pack-data,pack-tree}-v{1,2}.txt and {pack-data,pack-tree}-v2-format4.txt.
 *
 * Covers: dr_blob_encode (through dr_blob_encode_nonce) and dr_blob_decode (blob-v1, byte for
 * byte for raw records, by decoding for the zstd record), dr_pack_writer (through
 * dr_pack_writer_set_header_nonce), dr_layout_pack_name, dr_pack_parse_preamble,
 * dr_pack_parse_trailer and dr_pack_parse_header (pack-*-v1 and -v2, byte for byte; the writer
 * only for v2, the version it writes), the padmé padding of v2, and format version 4's ids and
 * pack names (HMAC-SHA-256 and SHA-256, recomputed here with OpenSSL's one-shot functions, not
 * through src/crypto/).
 *
 * Each vector is also rebuilt independently of src/pack/: the records and the header are sealed
 * here with dr_crypto_seal_nonce over plaintexts laid out by hand from format/pack.md, so a
 * change to the layout in the code cannot slip through by changing the vectors with it. The
 * vector files are the contract: when this test fails, the code changed the format. The source
 * tree is found through $DR_SRC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "vectors.h"

#include "../../../src/pack/pack_int.h"
#include "drrepo/buf.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/id.h"
#include "drrepo/layout.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"

/* Decodes hex ('-' is empty) into b (appended). */
static uint32_t parse_u32(const char *s)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!end || *end || v > UINT32_MAX) {
        fail_msg("bad number '%s'", s);
    }
    return (uint32_t)v;
}

/* The keys of the vector's master, for its repository format version ('format', 3 if absent). */
static struct dr_keys *keys_of(const struct vfile *v, uint32_t *out_format)
{
    uint8_t m[DR_MASTER_KEY_LEN];
    unhex(vget(v, "master"), m, sizeof(m));
    struct dr_keys *k = dr_keys_from_master(m);
    *out_format = 3;
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->lines[i].tok[0], "format") == 0) {
            *out_format = parse_u32(v->lines[i].tok[1]);
        }
    }
    dr_keys_set_format(k, *out_format);
    return k;
}

/* The record of format/pack.md, sealed here rather than by src/pack/. */
static void seal_record(const struct dr_keys *k, uint8_t type, const struct dr_id *id,
                        const uint8_t nonce[DR_NONCE_LEN], const struct dr_buf *pt,
                        struct dr_buf *out)
{
    uint8_t ad[1 + DR_ID_LEN];
    ad[0] = type;
    memcpy(ad + 1, id->b, DR_ID_LEN);
    struct dr_buf enc = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    assert_int_equal(dr_buf_add_u8(&enc, DR_ENC_RAW), 0);
    assert_int_equal(dr_buf_add(&enc, pt->buf, pt->len), 0);
    assert_int_equal(dr_crypto_seal_nonce(k, nonce, ad, sizeof(ad), enc.buf, enc.len, out), 0);
    dr_buf_release(&enc);
}

static void test_blob_vectors(void **state)
{
    (void)state;
    struct vfile v;
    vfile_load(&v, "blob-v1.txt");
    uint32_t format;
    struct dr_keys *k = keys_of(&v, &format);
    struct dr_compressor *z = dr_compressor_new(3);
    int seen = 0, seen_zstd = 0;
    for (size_t i = 0; i < v.n; i++) {
        const struct vline *l = &v.lines[i];
        bool is_zstd = strcmp(l->tok[0], "zstd") == 0;
        if (strcmp(l->tok[0], "record") != 0 && !is_zstd) {
            continue;
        }
        assert_int_equal(l->ntok, 6);
        uint8_t type = (uint8_t)parse_u32(l->tok[1]);
        uint8_t nonce[DR_NONCE_LEN];
        unhex(l->tok[2], nonce, sizeof(nonce));
        struct dr_buf pt = DR_BUF_INIT(DR_BLOB_MAX);
        struct dr_buf want = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
        struct dr_buf got = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
        unhex_buf(l->tok[3], &pt);
        struct dr_id id, want_id;
        unhex(l->tok[4], want_id.b, DR_ID_LEN);
        unhex_buf(l->tok[5], &want);
        dr_crypto_blob_id(k, pt.buf, pt.len, &id);
        assert_true(dr_id_eq(&id, &want_id));

        if (!is_zstd) {
            /* the layout, sealed by hand */
            seal_record(k, type, &id, nonce, &pt, &got);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.buf, want.buf, want.len);
            /* the encoder */
            dr_buf_reset(&got);
            assert_int_equal(
                dr_blob_encode_nonce(k, z, type, &id, (const uint8_t *)pt.buf, pt.len, nonce, &got),
                0);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.buf, want.buf, want.len);
        } else {
            struct dr_buf inner = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
            uint8_t ad[1 + DR_ID_LEN];
            ad[0] = type;
            memcpy(ad + 1, id.b, DR_ID_LEN);
            assert_int_equal(dr_crypto_unseal(k, ad, sizeof(ad), want.buf, want.len, &inner), 0);
            assert_int_equal((uint8_t)inner.buf[0], DR_ENC_ZSTD);
            assert_true(inner.len < pt.len);
            dr_buf_release(&inner);
            seen_zstd++;
        }
        /* the decoder, and the type bound in */
        dr_buf_reset(&got);
        assert_int_equal(dr_blob_decode(k, z, type, &id, (const uint8_t *)want.buf, want.len,
                                        (uint32_t)pt.len, &got),
                         0);
        assert_int_equal(got.len, pt.len);
        assert_memory_equal(got.buf, pt.buf, pt.len);
        assert_int_equal(dr_blob_decode(k, z, (uint8_t)(1 - type), &id, (const uint8_t *)want.buf,
                                        want.len, (uint32_t)pt.len, &got),
                         DR_ECORRUPT);
        dr_buf_release(&pt);
        dr_buf_release(&want);
        dr_buf_release(&got);
        seen++;
    }
    assert_true(seen >= 4);
    assert_int_equal(seen_zstd, 1);
    dr_compressor_free(z);
    dr_keys_free(k);
    vfile_free(&v);
}

/* format/pack.md "Padding", independently of the writer: keep the top
 * floor(log2(floor(log2 len))) + 1 bits of len, rounding up. */
static uint64_t padme_by_hand(uint64_t len)
{
    unsigned e = 0, s = 0;
    while ((len >> (e + 1)) != 0) {
        e++;
    }
    while ((e >> s) != 0) {
        s++;
    }
    uint64_t low = ((uint64_t)1 << (e - s)) - 1;
    return (len + low) / (low + 1) * (low + 1);
}

/* version: the pack version of the vector. The writer writes only the current version, so an
 * older vector is built by hand and read back, not written. */
static void check_pack_vector(const char *file, uint32_t version)
{
    struct vfile v;
    vfile_load(&v, file);
    uint32_t format;
    struct dr_keys *k = keys_of(&v, &format);
    struct dr_compressor *z = dr_compressor_new(3);
    uint8_t type = (uint8_t)parse_u32(vget(&v, "type"));
    struct dr_buf want = DR_BUF_INIT(DR_PACK_FILE_MAX);
    unhex_buf(vget(&v, "pack"), &want);
    assert_int_equal(want.len, parse_u32(vget(&v, "size")));
    const uint8_t *wp = (const uint8_t *)want.buf;

    /* 1. the writer reproduces the file byte for byte */
    struct dr_pack_writer *w = dr_pack_writer_new(k, type);
    struct dr_buf byhand = DR_BUF_INIT(DR_PACK_FILE_MAX);
    struct dr_buf hdr_pt = DR_BUF_INIT(DR_PACK_HEADER_MAX);
    struct dr_buf rec = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    struct dr_buf pt = DR_BUF_INIT(DR_BLOB_MAX);
    /* the preamble of format/pack.md, by hand */
    assert_int_equal(dr_buf_add(&byhand, "DRREPPAK", 8), 0);
    assert_int_equal(dr_buf_add_u32le(&byhand, version), 0);
    assert_int_equal(dr_buf_add_u8(&byhand, type), 0);
    assert_int_equal(dr_buf_add(&byhand, "\x00\x00\x00", 3), 0);
    uint32_t count = 0;
    for (size_t i = 0; i < v.n; i++) {
        const struct vline *l = &v.lines[i];
        if (strcmp(l->tok[0], "blob") != 0) {
            continue;
        }
        assert_int_equal(l->ntok, 3);
        uint8_t nonce[DR_NONCE_LEN];
        unhex(l->tok[1], nonce, sizeof(nonce));
        dr_buf_reset(&pt);
        unhex_buf(l->tok[2], &pt);
        struct dr_id id;
        dr_crypto_blob_id(k, pt.buf, pt.len, &id);
        if (format >= 4) {
            uint8_t mac[SHA256_DIGEST_LENGTH];
            unsigned int maclen = 0;
            assert_non_null(
                HMAC(EVP_sha256(), k->id_key, 32, (const uint8_t *)pt.buf, pt.len, mac, &maclen));
            assert_int_equal(maclen, DR_ID_LEN);
            assert_memory_equal(mac, id.b, DR_ID_LEN);
        }
        dr_buf_reset(&rec);
        assert_int_equal(
            dr_blob_encode_nonce(k, z, type, &id, (const uint8_t *)pt.buf, pt.len, nonce, &rec), 0);
        assert_int_equal(
            dr_pack_writer_add(w, &id, (const uint8_t *)rec.buf, rec.len, (uint32_t)pt.len), 0);
        /* by hand: the record and its header entry */
        uint32_t off = (uint32_t)byhand.len;
        seal_record(k, type, &id, nonce, &pt, &byhand);
        if (count == 0) {
            assert_int_equal(dr_buf_add(&hdr_pt, "DRPAKHDR", 8), 0);
            assert_int_equal(dr_buf_add_u32le(&hdr_pt, version), 0);
            assert_int_equal(dr_buf_add_u32le(&hdr_pt, 0), 0); /* count, patched below */
            if (version >= 2) {
                assert_int_equal(dr_buf_add_u32le(&hdr_pt, 0), 0); /* pad, patched below */
            }
        }
        assert_int_equal(dr_buf_add_u8(&hdr_pt, type), 0);
        assert_int_equal(dr_buf_add(&hdr_pt, id.b, DR_ID_LEN), 0);
        assert_int_equal(dr_buf_add_u32le(&hdr_pt, off), 0);
        assert_int_equal(dr_buf_add_u32le(&hdr_pt, (uint32_t)(byhand.len - off)), 0);
        assert_int_equal(dr_buf_add_u32le(&hdr_pt, (uint32_t)pt.len), 0);
        count++;
    }
    assert_true(count >= 2);
    dr_put_u32le((uint8_t *)hdr_pt.buf + 12, count);
    uint8_t hnonce[DR_NONCE_LEN];
    unhex(vget(&v, "header_nonce"), hnonce, sizeof(hnonce));
    struct dr_id pack_id;
    if (format >= 4) {
        SHA256(wp, want.len, pack_id.b);
    } else {
        dr_crypto_hash(wp, want.len, &pack_id);
    }
    char *name = dr_layout_pack_name(type, &pack_id);
    assert_string_equal(name, vget(&v, "name"));
    if (version == DR_PACK_VERSION) {
        dr_pack_writer_set_header_nonce(w, hnonce);
        struct dr_id wid;
        const uint8_t *data;
        size_t len;
        assert_int_equal(dr_pack_writer_finish(w, &wid, &data, &len), 0);
        assert_int_equal(len, want.len);
        assert_memory_equal(data, wp, len);
        assert_true(dr_id_eq(&wid, &pack_id));
    }
    if (version >= 2) {
        /* zero padding after the records, to the padmé length of the whole file */
        uint64_t unpadded = byhand.len + DR_AEAD_OVERHEAD + hdr_pt.len + DR_PACK_TRAILER_LEN;
        uint32_t pad = (uint32_t)(padme_by_hand(unpadded) - unpadded);
        assert_int_equal(pad, parse_u32(vget(&v, "pad")));
        assert_int_equal(unpadded + pad, want.len);
        dr_put_u32le((uint8_t *)hdr_pt.buf + 16, pad);
        for (uint32_t i = 0; i < pad; i++) {
            assert_int_equal(dr_buf_add_u8(&byhand, 0), 0);
        }
    }

    /* 2. the same file built by hand from format/pack.md */
    size_t hstart = byhand.len;
    uint8_t pre[DR_PACK_PREAMBLE_LEN]; /* a copy: sealing may move byhand's memory */
    memcpy(pre, byhand.buf, sizeof(pre));
    assert_int_equal(
        dr_crypto_seal_nonce(k, hnonce, pre, sizeof(pre), hdr_pt.buf, hdr_pt.len, &byhand), 0);
    assert_int_equal(dr_buf_add_u32le(&byhand, (uint32_t)(byhand.len - hstart)), 0);
    assert_int_equal(dr_buf_add(&byhand, "DRPAKEND", 8), 0);
    assert_int_equal(byhand.len, want.len);
    assert_memory_equal(byhand.buf, wp, want.len);

    /* 3. the parsers read it back to the listed entries, and every blob decodes */
    uint8_t ptype = 99;
    uint32_t hdr_len = 0;
    assert_int_equal(dr_pack_parse_preamble(name, wp, want.len, &ptype), 0);
    assert_int_equal(ptype, type);
    assert_int_equal(dr_pack_parse_trailer(name, wp + want.len - DR_PACK_TRAILER_LEN,
                                           DR_PACK_TRAILER_LEN, want.len, &hdr_len),
                     0);
    assert_int_equal(hdr_len, want.len - hstart - DR_PACK_TRAILER_LEN);
    struct dr_pack_entry *e = NULL;
    size_t n = 0;
    assert_int_equal(dr_pack_parse_header(k, name, wp, wp + hstart, hdr_len, want.len, &e, &n), 0);
    assert_int_equal(n, count);
    size_t ei = 0;
    for (size_t i = 0; i < v.n; i++) {
        const struct vline *l = &v.lines[i];
        if (strcmp(l->tok[0], "entry") != 0) {
            continue;
        }
        assert_int_equal(l->ntok, 6);
        assert_true(ei < n);
        struct dr_id id;
        unhex(l->tok[2], id.b, DR_ID_LEN);
        assert_int_equal(e[ei].type, parse_u32(l->tok[1]));
        assert_true(dr_id_eq(&e[ei].id, &id));
        assert_int_equal(e[ei].offset, parse_u32(l->tok[3]));
        assert_int_equal(e[ei].clen, parse_u32(l->tok[4]));
        assert_int_equal(e[ei].ulen, parse_u32(l->tok[5]));
        dr_buf_reset(&pt);
        assert_int_equal(dr_blob_decode(k, z, e[ei].type, &e[ei].id, wp + e[ei].offset, e[ei].clen,
                                        e[ei].ulen, &pt),
                         0);
        ei++;
    }
    assert_int_equal(ei, n);

    free(e);
    free(name);
    dr_pack_writer_free(w);
    dr_buf_release(&byhand);
    dr_buf_release(&hdr_pt);
    dr_buf_release(&rec);
    dr_buf_release(&pt);
    dr_buf_release(&want);
    dr_compressor_free(z);
    dr_keys_free(k);
    vfile_free(&v);
}

static void test_pack_data_vector(void **state)
{
    (void)state;
    check_pack_vector("pack-data-v1.txt", 1);
    check_pack_vector("pack-data-v2.txt", 2);
    check_pack_vector("pack-data-v2-format4.txt", 2);
}

static void test_pack_tree_vector(void **state)
{
    (void)state;
    check_pack_vector("pack-tree-v1.txt", 1);
    check_pack_vector("pack-tree-v2.txt", 2);
    check_pack_vector("pack-tree-v2-format4.txt", 2);
}

static int setup(void **state)
{
    (void)state;
    return dr_crypto_init() < 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_vectors),
        cmocka_unit_test(test_pack_data_vector),
        cmocka_unit_test(test_pack_tree_vector),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
