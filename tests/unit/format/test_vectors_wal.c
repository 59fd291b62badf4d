/* test_vectors_wal.c: checks the code against format/vectors/wal-v1.txt.
 *
 * Covers: dr_wal_file_parse and dr_wal_object_name (the object names of the vectors),
 * dr_walseg_decode (every object, byte for byte back to the file), dr_walseg_length, and
 * dr_walseg_encode (its clear header and, for the raw objects, its length and encoding; its
 * nonce is random, so its bytes cannot be compared).
 *
 * Each raw object is also rebuilt here with dr_crypto_seal_nonce from format/wal.md alone (the
 * header laid out by hand, the associated data = header || name), so a change of the layout in
 * the code cannot slip through by changing the vectors with it. The vector file is the
 * contract: when this test fails, the code changed the format. The source tree is found
 * through $DR_SRC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "vectors.h"

#include "drrepo/buf.h"
#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/id.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "drrepo/walseg.h"

/* Decodes hex ('-' is empty) into b (appended). */
/* The object of format/wal.md with encoding 0, laid out and sealed here, not by src/object/. */
static void seal_by_hand(const struct dr_keys *k, const char *name,
                         const uint8_t nonce[DR_NONCE_LEN], const struct dr_buf *file,
                         struct dr_buf *out)
{
    uint8_t hdr[24];
    memcpy(hdr, "DRREPWAL", 8);
    dr_put_u32le(hdr + 8, 1);
    dr_put_u32le(hdr + 12, 0);
    dr_put_u64le(hdr + 16, file->len);
    struct dr_buf ad = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_buf pt = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    assert_int_equal(dr_buf_add(&ad, hdr, sizeof(hdr)), 0);
    assert_int_equal(dr_buf_add(&ad, name, strlen(name)), 0);
    assert_int_equal(dr_buf_add_u8(&pt, 0), 0);
    assert_int_equal(dr_buf_add(&pt, file->buf, file->len), 0);
    assert_int_equal(dr_buf_add(out, hdr, sizeof(hdr)), 0);
    assert_int_equal(dr_crypto_seal_nonce(k, nonce, ad.buf, ad.len, pt.buf, pt.len, out), 0);
    dr_buf_release(&ad);
    dr_buf_release(&pt);
}

static void test_wal_vectors(void **state)
{
    (void)state;
    struct vfile v;
    vfile_load(&v, "wal-v1.txt");
    uint8_t m[DR_MASTER_KEY_LEN], sub[32];
    unhex(vget(&v, "master"), m, sizeof(m));
    struct dr_keys *k = dr_keys_from_master(m);
    unhex(vget(&v, "enc_key"), sub, sizeof(sub));
    assert_memory_equal(sub, k->enc_key, sizeof(sub));
    uint64_t sysid = 0;
    assert_int_equal(dr_parse_u64(vget(&v, "sysid"), &sysid), 0);
    struct dr_compressor *z = dr_compressor_new(3);
    int seen_raw = 0, seen_zstd = 0;
    for (size_t i = 0; i < v.n; i++) {
        const struct vline *l = &v.lines[i];
        bool is_zstd = strcmp(l->tok[0], "zstd") == 0;
        if (strcmp(l->tok[0], "object") != 0 && !is_zstd) {
            continue;
        }
        assert_int_equal(l->ntok, 6);
        const char *fname = l->tok[1], *name = l->tok[2];
        uint8_t nonce[DR_NONCE_LEN];
        unhex(l->tok[3], nonce, sizeof(nonce));
        struct dr_buf file = DR_BUF_INIT(DR_WAL_FILE_MAX);
        struct dr_buf want = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
        struct dr_buf got = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
        unhex_buf(l->tok[4], &file);
        unhex_buf(l->tok[5], &want);
        const uint8_t *wp = (const uint8_t *)want.buf;

        /* the name */
        struct dr_wal_file f;
        assert_int_equal(dr_wal_file_parse(fname, &f), 0);
        char *built = dr_wal_object_name(sysid, &f);
        assert_string_equal(built, name);
        free(built);

        /* the clear header */
        uint64_t flen = 0;
        assert_int_equal(dr_walseg_length(name, wp, DR_WALSEG_HDR_LEN, &flen), 0);
        assert_int_equal(flen, file.len);

        if (!is_zstd) {
            /* the layout, sealed by hand */
            seal_by_hand(k, name, nonce, &file, &got);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.buf, want.buf, want.len);
            seen_raw++;
        } else {
            struct dr_buf inner = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
            struct dr_buf ad = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
            assert_int_equal(dr_buf_add(&ad, wp, DR_WALSEG_HDR_LEN), 0);
            assert_int_equal(dr_buf_add(&ad, name, strlen(name)), 0);
            assert_int_equal(dr_crypto_unseal(k, ad.buf, ad.len, wp + DR_WALSEG_HDR_LEN,
                                              want.len - DR_WALSEG_HDR_LEN, &inner),
                             0);
            assert_int_equal((uint8_t)inner.buf[0], DR_ENC_ZSTD);
            assert_true(inner.len < file.len);
            dr_buf_release(&inner);
            dr_buf_release(&ad);
            seen_zstd++;
        }

        /* the decoder gives the file back, under this name only */
        dr_buf_reset(&got);
        assert_int_equal(dr_walseg_decode(k, z, name, wp, want.len, &got), 0);
        assert_int_equal(got.len, file.len);
        if (file.len) {
            assert_memory_equal(got.buf, file.buf, file.len);
        }
        char *other = dr_xasprintf("wal/%016llx/%s", (unsigned long long)(sysid + 1),
                                   name + strlen("wal/0123456789abcdef/"));
        dr_buf_reset(&got);
        assert_int_equal(dr_walseg_decode(k, z, other, wp, want.len, &got), DR_ECORRUPT);
        assert_int_equal(got.len, 0);
        dr_error_clear();
        free(other);

        /* the encoder: the same header, and the same encoding (zstd only when smaller) */
        dr_buf_reset(&got);
        assert_int_equal(dr_walseg_encode(k, z, name, (const uint8_t *)file.buf, file.len, &got),
                         0);
        assert_memory_equal(got.buf, wp, DR_WALSEG_HDR_LEN);
        if (!is_zstd) {
            assert_int_equal(got.len, want.len);
        } else {
            assert_true(got.len < DR_WALSEG_HDR_LEN + DR_AEAD_OVERHEAD + 1 + file.len);
        }
        struct dr_buf back = DR_BUF_INIT(DR_WAL_FILE_MAX);
        assert_int_equal(dr_walseg_decode(k, z, name, (const uint8_t *)got.buf, got.len, &back), 0);
        assert_int_equal(back.len, file.len);
        if (file.len) {
            assert_memory_equal(back.buf, file.buf, file.len);
        }
        dr_buf_release(&back);
        dr_buf_release(&file);
        dr_buf_release(&want);
        dr_buf_release(&got);
    }
    assert_int_equal(seen_raw, 4);
    assert_int_equal(seen_zstd, 1);
    dr_compressor_free(z);
    dr_keys_free(k);
    vfile_free(&v);
}

static int setup(void **state)
{
    (void)state;
    return dr_crypto_init() < 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_vectors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
