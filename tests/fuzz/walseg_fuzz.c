/* walseg_fuzz.c: fuzz target for the archived WAL file object and its names
 * (src/object/walseg.c).
 *
 * Every input is read three ways:
 *   - as a WAL file name (dr_wal_file_parse) and as an object name below "wal/"
 *     (dr_wal_object_parse, and dr_layout_parse on "wal/<input>"): what parses must build back
 *     to the same name, and the two object-name parsers must agree;
 *   - as a whole object, decoded under a fixed name (dr_walseg_length, dr_walseg_decode);
 *   - after its first byte, as a plaintext (encoding byte and payload) sealed with the fixed
 *     key under a header that records the input's first byte as the file length, so that the
 *     payload decoding behind the AEAD is reached by mutations (a mutated sealed object never
 *     gets past the tag).
 * What decodes must have exactly the recorded length, and must encode and decode back to the
 * same bytes; a failed decode must leave the output as it was. The key must match
 * tests/fuzz/gen_corpus.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/layout.h"
#include "drrepo/walseg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OBJ "wal/65533227e8e4bac0/0000000100000000/000000010000000000000003"

static struct dr_keys *keys(void)
{
    static struct dr_keys *k;
    if (!k) {
        uint8_t m[DR_MASTER_KEY_LEN];
        if (dr_crypto_init() < 0) {
            abort();
        }
        for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
            m[i] = (uint8_t)(0x40 + i);
        }
        k = dr_keys_from_master(m);
    }
    return k;
}

static void names(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 5);
    if (!s) {
        abort();
    }
    memcpy(s, "wal/", 4);
    memcpy(s + 4, data, size);
    s[size + 4] = '\0'; /* an embedded NUL ends the name early: that is fine */
    const char *rest = s + 4;
    struct dr_wal_file f;
    if (dr_wal_file_parse(rest, &f) == 0) {
        if (strcmp(f.name, rest) != 0 || f.tli == 0 || f.kind < DR_WAL_SEGMENT ||
            f.kind > DR_WAL_HISTORY) {
            abort();
        }
        char *built = dr_wal_object_name(1, &f);
        if (!dr_wal_object_parse(built + 4, NULL, NULL)) {
            abort();
        }
        free(built);
    }
    dr_error_clear();
    uint64_t sysid = 0;
    bool is_obj = dr_wal_object_parse(rest, &sysid, &f);
    if (is_obj) {
        char *built = dr_wal_object_name(sysid, &f);
        if (strcmp(built, s) != 0) {
            abort();
        }
        free(built);
    }
    enum dr_layout_kind kind;
    struct dr_id id;
    int rc = dr_layout_parse(s, &kind, &id);
    if ((rc == 0) != is_obj || (rc == 0 && kind != DR_LAYOUT_WAL)) {
        abort();
    }
    dr_error_clear();
    free(s);
}

/* Decodes the object p (len bytes) under OBJ and checks the promises; returns its rc. */
static int decode(const struct dr_keys *k, struct dr_compressor *z, const uint8_t *p, size_t len)
{
    struct dr_buf out = DR_BUF_INIT(DR_WAL_FILE_MAX + 1);
    if (dr_buf_add(&out, "x", 1) < 0) {
        abort();
    }
    uint64_t flen = 0;
    int lrc = dr_walseg_length(OBJ, p, len, &flen);
    int rc = dr_walseg_decode(k, z, OBJ, p, len, &out);
    if (rc < 0 && (out.len != 1 || (rc != DR_ECORRUPT && rc != DR_EUNSUPPORTED))) {
        abort();
    }
    if (rc == 0) {
        /* the header was valid, and the file has exactly its length */
        if (lrc != 0 || out.len - 1 != flen) {
            abort();
        }
        struct dr_buf enc = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
        struct dr_buf back = DR_BUF_INIT(DR_WAL_FILE_MAX);
        if (dr_walseg_encode(k, z, OBJ, (const uint8_t *)out.buf + 1, out.len - 1, &enc) < 0 ||
            memcmp(enc.buf, p, DR_WALSEG_HDR_LEN) != 0 ||
            dr_walseg_decode(k, z, OBJ, (const uint8_t *)enc.buf, enc.len, &back) < 0 ||
            back.len != out.len - 1 || memcmp(back.buf, out.buf + 1, back.len) != 0) {
            abort();
        }
        dr_buf_release(&enc);
        dr_buf_release(&back);
    }
    dr_error_clear();
    dr_buf_release(&out);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct dr_keys *k = keys();
    static struct dr_compressor *z;
    if (!z) {
        z = dr_compressor_new(3);
    }
    names(data, size);
    decode(k, z, data, size);
    if (size < 1) {
        return 0;
    }
    /* the payload behind the seal: the first byte is the recorded length */
    uint8_t hdr[DR_WALSEG_HDR_LEN];
    memcpy(hdr, DR_MAGIC_WAL, DR_MAGIC_LEN);
    dr_put_u32le(hdr + 8, 1);
    dr_put_u32le(hdr + 12, 0);
    dr_put_u64le(hdr + 16, data[0]);
    struct dr_buf ad = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_buf obj = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    if (dr_buf_add(&ad, hdr, sizeof(hdr)) < 0 || dr_buf_add(&ad, OBJ, strlen(OBJ)) < 0 ||
        dr_buf_add(&obj, hdr, sizeof(hdr)) < 0 ||
        dr_crypto_seal(k, ad.buf, ad.len, data + 1, size - 1, &obj) < 0) {
        abort();
    }
    decode(k, z, (const uint8_t *)obj.buf, obj.len);
    dr_buf_release(&ad);
    dr_buf_release(&obj);
    return 0;
}
