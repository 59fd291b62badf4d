/* test_vectors_crypto.c: checks the code against format/vectors/{chunker,blobid,keyfile,config}-*.
 *
 * Covers: dr_chunker_init (the Gear table and masks of chunker-gear-v1 and the chunker-*-v1
 * parameter sets), dr_chunker_next (every cut point of chunker-small-v1 and
 * chunker-default-v1; the toeplitz-aes tables, digests, PRF outputs and cut points of
 * chunker-tpaes-*-v1), dr_keys_from_master (subkeys), dr_crypto_blob_id, dr_crypto_hash,
 * dr_crypto_seal_nonce and dr_crypto_unseal (blobid-v1), dr_keys_set_format, dr_crypto_blob_id
 * and dr_crypto_pack_hash of format version 4 (blobid-v2, and the same ids before version 4 are
 * still blobid-v1's), dr_keyfile_create_det, dr_keyfile_info,
 * dr_keyfile_details and dr_keyfile_open (keyfile-v1 and keyfile-v2, byte for byte),
 * dr_config_encode, dr_config_check and dr_config_decode (config-v1 to config-v3, byte for byte;
 * every flipped bit is damage, never a newer version; a newer version with a valid checksum is
 * unsupported), and an epoch's name (epoch-v1). The vector files are the contract: when this test
 * fails, the code changed the format. The source tree is found through $DR_SRC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <sodium.h>

#include "vectors.h"

#include "drrepo/buf.h"
#include "drrepo/chunker.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/id.h"
#include "drrepo/layout.h"
#include "drrepo/mem.h"
#include "drrepo/repo.h"

/* The value of the first line named name (which must exist). */
static uint64_t vget_u64(const struct vfile *v, const char *name)
{
    return strtoull(vget(v, name), NULL, 10);
}

/* Decodes a hex string of any even length into a new buffer. */
static uint8_t *unhex_alloc(const char *s, size_t *out_len)
{
    size_t n = strlen(s) / 2;
    uint8_t *p = dr_xmalloc(n ? n : 1);
    unhex(s, p, n);
    *out_len = n;
    return p;
}

/* The BLAKE2b counter stream of format/vectors/README.md: block j is the unkeyed 64-byte
 * BLAKE2b of the seed followed by u64le(j). */
static uint8_t *vector_stream(const char *seed, size_t len)
{
    uint8_t *p = dr_xmalloc(len ? len : 1);
    size_t sl = strlen(seed);
    uint8_t *msg = dr_xmalloc(sl + 8);
    uint8_t blk[64];
    memcpy(msg, seed, sl);
    for (uint64_t j = 0; j * 64 < len; j++) {
        dr_put_u64le(msg + sl, j);
        assert_int_equal(crypto_generichash(blk, 64, msg, sl + 8, NULL, 0), 0);
        size_t k = DR_MIN((size_t)64, len - j * 64);
        memcpy(p + j * 64, blk, k);
    }
    free(msg);
    return p;
}

static void test_gear(void **state)
{
    (void)state;
    struct vfile v;
    vfile_load(&v, "chunker-gear-v1.txt");
    uint8_t key[32];
    unhex(vget(&v, "key"), key, 32);
    struct dr_chunker_params p = {DR_CHUNKER_GEAR_V1, 4096, 16384, 65536};
    struct dr_chunker c;
    dr_chunker_init(&c, &p, key);
    int seen = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (strcmp(v.lines[i].tok[0], "gear") != 0) {
            continue;
        }
        assert_int_equal(v.lines[i].ntok, 3);
        unsigned long idx = strtoul(v.lines[i].tok[1], NULL, 10);
        assert_true(idx < 256);
        assert_true(c.gear[idx] == strtoull(v.lines[i].tok[2], NULL, 16));
        seen++;
    }
    assert_int_equal(seen, 256);
    vfile_free(&v);
}

static void test_tpaes_table(void **state)
{
    (void)state;
    struct vfile v;
    vfile_load(&v, "chunker-tpaes-table-v1.txt");
    uint8_t key[32], aes_key[16];
    unhex(vget(&v, "key"), key, 32);
    unhex(vget(&v, "aes_key"), aes_key, 16);
    struct dr_chunker_params p = {DR_CHUNKER_TOEPLITZ_AES_V1, 4096, 16384, 65536};
    struct dr_chunker c;
    dr_chunker_init(&c, &p, key);
    assert_memory_equal(c.aes_key, aes_key, 16);
    uint8_t *input = vector_stream("drrepo-vector-input", 4096);
    int seen = 0;
    for (size_t i = 0; i < v.n; i++) {
        const char *const *t = (const char *const *)v.lines[i].tok;
        uint64_t a = v.lines[i].ntok == 3 ? strtoull(t[1], NULL, 10) : 0;
        uint64_t want = v.lines[i].ntok == 3 ? strtoull(t[2], NULL, 16) : 0;
        if (strcmp(t[0], "T") == 0) {
            assert_true(a < 256 && c.gear[a] == want);
        } else if (strcmp(t[0], "out64") == 0) {
            assert_true(a < 256 && c.out64[a] == want);
        } else if (strcmp(t[0], "digest") == 0) {
            assert_true(a + 64 <= 4096 && dr_chunker_tpaes_digest(&c, input + a) == want);
        } else if (strcmp(t[0], "prf") == 0) {
            uint8_t blk[16] = {0};
            dr_put_u64le(blk, strtoull(t[1], NULL, 16));
            dr_crypto_aes128_ecb(c.aes_key, blk, blk, 1);
            assert_true(dr_get_u64le(blk) == want);
        } else {
            continue;
        }
        seen++;
    }
    assert_int_equal(seen, 256 + 256 + 6 + 6);
    free(input);
    vfile_free(&v);
}

static void check_chunker_file(const char *name)
{
    struct vfile v;
    vfile_load(&v, name);
    uint8_t key[32];
    unhex(vget(&v, "key"), key, 32);
    struct dr_chunker_params p = {
        .alg = (uint32_t)vget_u64(&v, "alg"),
        .min = (uint32_t)vget_u64(&v, "min"),
        .avg = (uint32_t)vget_u64(&v, "avg"),
        .max = (uint32_t)vget_u64(&v, "max"),
    };
    assert_int_equal(dr_chunker_params_check(&p), 0);
    struct dr_chunker c;
    dr_chunker_init(&c, &p, key);
    assert_true(c.mask_s == strtoull(vget(&v, "mask_s"), NULL, 16));
    assert_true(c.mask_l == strtoull(vget(&v, "mask_l"), NULL, 16));

    size_t len = vget_u64(&v, "input_len");
    uint8_t *data = vector_stream(vget(&v, "input_seed"), len);
    size_t off = 0, nchunks = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (strcmp(v.lines[i].tok[0], "chunk") != 0) {
            continue;
        }
        assert_int_equal(v.lines[i].ntok, 3);
        size_t want_off = strtoull(v.lines[i].tok[1], NULL, 10);
        size_t want_len = strtoull(v.lines[i].tok[2], NULL, 10);
        assert_int_equal(off, want_off);
        assert_true(off < len);
        size_t got = dr_chunker_next(&c, data + off, len - off, true);
        if (got != want_len) {
            fail_msg("%s: chunk at %zu is %zu bytes, the vector says %zu", name, off, got,
                     want_len);
        }
        off += got;
        nchunks++;
    }
    assert_int_equal(off, len);
    assert_int_equal(nchunks, vget_u64(&v, "chunks"));
    free(data);
    vfile_free(&v);
}

static void test_chunker_small(void **state)
{
    (void)state;
    check_chunker_file("chunker-small-v1.txt");
}

static void test_chunker_default(void **state)
{
    (void)state;
    check_chunker_file("chunker-default-v1.txt");
}

static void test_chunker_tpaes(void **state)
{
    (void)state;
    check_chunker_file("chunker-tpaes-small-v1.txt");
    check_chunker_file("chunker-tpaes-default-v1.txt");
}

static uint8_t *message(const char *s, size_t *out_len)
{
    if (strcmp(s, "-") == 0) {
        *out_len = 0;
        return dr_xmalloc(1);
    }
    if (strncmp(s, "stream:", 7) == 0) {
        *out_len = strtoull(s + 7, NULL, 10);
        return vector_stream("drrepo-vector-input", *out_len);
    }
    return unhex_alloc(s, out_len);
}

/* The keys of a blob-id vector's master; its id_key line must be their id key. */
static struct dr_keys *blobid_keys(const struct vfile *v)
{
    uint8_t master[32], sub[32];
    unhex(vget(v, "master"), master, 32);
    struct dr_keys *k = dr_keys_from_master(master);
    unhex(vget(v, "id_key"), sub, 32);
    assert_memory_equal(sub, k->id_key, 32);
    return k;
}

static void test_blob_ids(void **state)
{
    (void)state;
    struct vfile v;
    vfile_load(&v, "blobid-v1.txt");
    uint8_t sub[32];
    struct dr_keys *k = blobid_keys(&v);
    unhex(vget(&v, "enc_key"), sub, 32);
    assert_memory_equal(sub, k->enc_key, 32);
    unhex(vget(&v, "chunker_key"), sub, 32);
    assert_memory_equal(sub, k->chunker_key, 32);

    int blobs = 0, hashes = 0, seals = 0;
    for (size_t i = 0; i < v.n; i++) {
        const struct vline *l = &v.lines[i];
        if (strcmp(l->tok[0], "blob") == 0 || strcmp(l->tok[0], "hash") == 0) {
            assert_int_equal(l->ntok, 3);
            size_t n;
            uint8_t *m = message(l->tok[1], &n);
            struct dr_id want, got;
            unhex(l->tok[2], want.b, 32);
            if (l->tok[0][0] == 'b') {
                dr_crypto_blob_id(k, m, n, &got);
                blobs++;
            } else {
                dr_crypto_hash(m, n, &got);
                hashes++;
            }
            assert_true(dr_id_eq(&want, &got));
            free(m);
        } else if (strcmp(l->tok[0], "seal") == 0) {
            assert_int_equal(l->ntok, 5);
            uint8_t nonce[DR_NONCE_LEN];
            size_t adlen, ptlen, slen;
            unhex(l->tok[1], nonce, sizeof(nonce));
            uint8_t *ad = unhex_alloc(l->tok[2], &adlen);
            uint8_t *pt = unhex_alloc(l->tok[3], &ptlen);
            uint8_t *sealed = unhex_alloc(l->tok[4], &slen);
            struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
            assert_int_equal(dr_crypto_seal_nonce(k, nonce, ad, adlen, pt, ptlen, &out), 0);
            assert_int_equal(out.len, slen);
            assert_memory_equal(out.buf, sealed, slen);
            dr_buf_reset(&out);
            assert_int_equal(dr_crypto_unseal(k, ad, adlen, sealed, slen, &out), 0);
            assert_int_equal(out.len, ptlen);
            assert_memory_equal(out.buf, pt, ptlen);
            dr_buf_release(&out);
            free(ad);
            free(pt);
            free(sealed);
            seals++;
        }
    }
    assert_true(blobs >= 3 && hashes >= 3 && seals >= 1);
    dr_keys_free(k);
    vfile_free(&v);
}

/* Format version 4: ids are HMAC-SHA-256 under the same id key, packs are named by SHA-256. The
 * same keys set back to an older version hash as blobid-v1 says. */
static void test_blob_ids_v4(void **state)
{
    (void)state;
    struct vfile v;
    vfile_load(&v, "blobid-v2.txt");
    struct dr_keys *k = blobid_keys(&v);
    int blobs = 0, hashes = 0;
    for (uint32_t version = 3; version <= DR_REPO_VERSION; version++) {
        dr_keys_set_format(k, version);
        for (size_t i = 0; i < v.n; i++) {
            const struct vline *l = &v.lines[i];
            bool blob = strcmp(l->tok[0], "blob") == 0;
            if (!blob && strcmp(l->tok[0], "packhash") != 0) {
                continue;
            }
            assert_int_equal(l->ntok, 3);
            size_t n;
            uint8_t *m = message(l->tok[1], &n);
            struct dr_id want, got, streamed;
            unhex(l->tok[2], want.b, 32);
            if (blob) {
                dr_crypto_blob_id(k, m, n, &got);
                blobs++;
            } else {
                dr_crypto_pack_hash(k, m, n, &got);
                /* the streaming form, fed in two pieces, names the same */
                struct dr_hash_state st;
                dr_crypto_pack_hash_init(k, &st);
                dr_crypto_hash_update(&st, m, n / 3);
                dr_crypto_hash_update(&st, m + n / 3, n - n / 3);
                dr_crypto_hash_final(&st, &streamed);
                assert_true(dr_id_eq(&got, &streamed));
                hashes++;
            }
            /* version 3 hashes with BLAKE2b: never what version 4's vector says */
            assert_int_equal(dr_id_eq(&want, &got), version >= DR_REPO_VERSION_SHA256);
            if (version < DR_REPO_VERSION_SHA256) {
                struct dr_id old;
                if (blob) {
                    assert_int_equal(crypto_generichash(old.b, 32, m, n, k->id_key, 32), 0);
                } else {
                    dr_crypto_hash(m, n, &old);
                }
                assert_true(dr_id_eq(&old, &got));
            }
            free(m);
        }
    }
    assert_true(blobs >= 6 && hashes >= 6);
    dr_keys_free(k);
    vfile_free(&v);
}

/* A key file vector: its clear part, its details (version 2: only under the key), the master
 * key it wraps, and the code writes exactly its bytes from its inputs. */
static void check_keyfile_file(const char *name, uint32_t version)
{
    struct vfile v;
    vfile_load(&v, name);
    struct dr_id repo;
    uint8_t master[32], salt[16], nonce[24], details_nonce[24] = {0}, got[32];
    unhex(vget(&v, "repo_id"), repo.b, 32);
    unhex(vget(&v, "master"), master, 32);
    unhex(vget(&v, "salt"), salt, 16);
    unhex(vget(&v, "nonce"), nonce, 24);
    if (version >= 2) {
        unhex(vget(&v, "details_nonce"), details_nonce, 24);
    }
    size_t pwlen, flen;
    uint8_t *pw = unhex_alloc(vget(&v, "password"), &pwlen);
    uint8_t *file = unhex_alloc(vget(&v, "file"), &flen);
    uint64_t ops = vget_u64(&v, "opslimit"), mem = vget_u64(&v, "memlimit");
    int64_t created = (int64_t)strtoll(vget(&v, "created_ns"), NULL, 10);
    struct dr_keys *k = dr_keys_from_master(master);

    struct dr_keyfile_info info;
    assert_int_equal(dr_keyfile_info(file, flen, &info), 0);
    assert_int_equal(info.version, version);
    assert_true(info.opslimit == ops && info.memlimit == mem);
    if (version >= 2) {
        /* without the key nothing but the limits is visible */
        assert_true(info.details_sealed && info.created_ns == 0);
        assert_string_equal(info.host, "");
        assert_string_equal(info.user, "");
    }
    assert_int_equal(dr_keyfile_details(k, &repo, file, flen, &info), 0);
    assert_false(info.details_sealed);
    assert_true(info.created_ns == created);
    assert_string_equal(info.host, vget(&v, "host"));
    assert_string_equal(info.user, vget(&v, "user"));

    assert_int_equal(dr_keyfile_open(file, flen, &repo, (const char *)pw, pwlen, got), 0);
    assert_memory_equal(got, master, 32);

    struct dr_buf out = DR_BUF_INIT(DR_KEYFILE_MAX);
    struct dr_keyfile_params p = {version, ops, mem, vget(&v, "host"), vget(&v, "user"), created};
    assert_int_equal(dr_keyfile_create_det(k, &repo, (const char *)pw, pwlen, &p, salt, nonce,
                                           details_nonce, &out),
                     0);
    assert_int_equal(out.len, flen);
    assert_memory_equal(out.buf, file, flen);

    dr_buf_release(&out);
    dr_keys_free(k);
    free(pw);
    free(file);
    vfile_free(&v);
}

static void test_keyfile(void **state)
{
    (void)state;
    check_keyfile_file("keyfile-v1.txt", 1);
    check_keyfile_file("keyfile-v2.txt", 2);
}

/* A config vector: encoding gives exactly its bytes, checking and decoding give back its
 * values, and no single flipped bit goes unnoticed or reads as a newer version. */
static void check_config_file(const char *name, uint32_t version)
{
    struct vfile v;
    vfile_load(&v, name);
    uint8_t master[32], nonce[DR_NONCE_LEN];
    unhex(vget(&v, "master"), master, 32);
    unhex(vget(&v, "nonce"), nonce, sizeof(nonce));
    struct dr_keys *k = dr_keys_from_master(master);
    struct dr_repo_config c = {
        .version = (uint32_t)vget_u64(&v, "version"),
        .chunker = {.alg = (uint32_t)vget_u64(&v, "chunker_alg"),
                    .min = (uint32_t)vget_u64(&v, "chunk_min"),
                    .avg = (uint32_t)vget_u64(&v, "chunk_avg"),
                    .max = (uint32_t)vget_u64(&v, "chunk_max")},
        .pack_size = (uint32_t)vget_u64(&v, "pack_size"),
        .zstd_level = (int32_t)vget_u64(&v, "zstd_level"),
        .created_ns = (int64_t)vget_u64(&v, "created_ns"),
    };
    assert_int_equal(c.version, version);
    unhex(vget(&v, "repo_id"), c.repo_id.b, 32);
    size_t len;
    uint8_t *file = unhex_alloc(vget(&v, "config"), &len);

    struct dr_buf out = DR_BUF_INIT(DR_CONFIG_MAX);
    assert_int_equal(dr_config_encode(k, &c, nonce, &out), 0);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.buf, file, len);

    struct dr_repo_config got;
    memset(&got, 0, sizeof(got));
    assert_int_equal(dr_config_check("config", file, len, &got), 0);
    assert_int_equal(got.version, version);
    assert_true(dr_id_eq(&got.repo_id, &c.repo_id));
    memset(&got, 0, sizeof(got));
    assert_int_equal(dr_config_decode(k, "config", file, len, &got), 0);
    assert_memory_equal(&got, &c, sizeof(c));

    /* every single flipped bit: damage (DR_ECORRUPT), found by the checksum before the key
     * (version 2) or by the sealed body's tag (version 1) */
    for (size_t i = 0; i < len * 8; i++) {
        file[i / 8] ^= (uint8_t)(1u << (i % 8));
        int rc = dr_config_check("config", file, len, &got);
        if (version >= 2 || rc == 0) {
            rc = version >= 2 ? rc : dr_config_decode(k, "config", file, len, &got);
        }
        if (rc != DR_ECORRUPT) {
            fail_msg("%s: bit %zu flipped gives %d, not DR_ECORRUPT: %s", name, i, rc,
                     dr_error_msg());
        }
        file[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    dr_buf_release(&out);
    dr_keys_free(k);
    free(file);
    vfile_free(&v);
}

static void test_config(void **state)
{
    (void)state;
    check_config_file("config-v1.txt", 1);
    check_config_file("config-v2.txt", 2);
    check_config_file("config-v3.txt", 3);

    struct vfile v;
    vfile_load(&v, "config-v2.txt");
    size_t len;
    uint8_t *file = unhex_alloc(vget(&v, "config"), &len);
    struct dr_repo_config got;
    struct dr_id sum;
    /* a newer version with a valid checksum is "unsupported"; so is it only with the checksum */
    dr_put_u32le(file + 8, DR_REPO_VERSION + 1);
    dr_crypto_hash(file, len - 32, &sum);
    memcpy(file + len - 32, sum.b, 32);
    assert_int_equal(dr_config_check("config", file, len, &got), DR_EUNSUPPORTED);
    assert_non_null(strstr(dr_error_msg(), "upgrade"));
    dr_put_u32le(file + 8, 0);
    dr_crypto_hash(file, len - 32, &sum);
    memcpy(file + len - 32, sum.b, 32);
    assert_int_equal(dr_config_check("config", file, len, &got), DR_ECORRUPT);
    /* without its checksum a version 2 config is damaged; so is every truncation */
    dr_put_u32le(file + 8, 2);
    assert_int_equal(dr_config_check("config", file, len - 32, &got), DR_ECORRUPT);
    for (size_t n = 0; n < len; n++) {
        int rc = dr_config_check("config", file, n, &got);
        assert_true(rc == DR_ECORRUPT || (n < 8 && rc == DR_ENOREPO));
    }
    /* something else entirely is not a repository */
    assert_int_equal(dr_config_check("config", (const uint8_t *)"not a repository", 16, &got),
                     DR_ENOREPO);
    free(file);
    vfile_free(&v);
}

/* An epoch is named by the plain hash of its bytes, under epochs/. */
static void test_epoch(void **state)
{
    (void)state;
    struct vfile v;
    vfile_load(&v, "epoch-v1.txt");
    uint8_t bytes[32];
    unhex(vget(&v, "bytes"), bytes, sizeof(bytes));
    struct dr_id id;
    dr_crypto_hash(bytes, sizeof(bytes), &id);
    char name[DR_LAYOUT_NAME_MAX];
    assert_string_equal(dr_layout_name(DR_LAYOUT_EPOCH, &id, name), vget(&v, "name"));
    enum dr_layout_kind kind;
    struct dr_id got;
    assert_int_equal(dr_layout_parse(name, &kind, &got), 0);
    assert_int_equal(kind, DR_LAYOUT_EPOCH);
    assert_true(dr_id_eq(&got, &id));
    vfile_free(&v);
}

int main(void)
{
    if (dr_crypto_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gear),
        cmocka_unit_test(test_chunker_small),
        cmocka_unit_test(test_chunker_default),
        cmocka_unit_test(test_tpaes_table),
        cmocka_unit_test(test_chunker_tpaes),
        cmocka_unit_test(test_blob_ids),
        cmocka_unit_test(test_blob_ids_v4),
        cmocka_unit_test(test_keyfile),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
