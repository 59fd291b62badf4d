/* blob.c: blob records (format/pack.md "Blob record").
 *
 * A record is nonce[24] || ciphertext || tag[16] of (encoding byte || payload), with
 * type u8 || id[32] as associated data. Binding the type and the id into the tag means a record
 * cannot be passed off as another blob, or as a tree when it is data, even by someone who can
 * rewrite the pack header. Decoding trusts nothing: lengths are checked before anything is
 * allocated, and the id is recomputed from the plaintext at the end. */
#include "drrepo/pack.h"

#include "drrepo/error.h"
#include "pack_int.h"

static void blob_ad(uint8_t ad[DR_BLOB_AD_LEN], uint8_t type, const struct dr_id *id)
{
    ad[0] = type;
    memcpy(ad + 1, id->b, DR_ID_LEN);
}

int dr_blob_encode_nonce(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                         const struct dr_id *id, const uint8_t *plain, size_t len,
                         const uint8_t *nonce, struct dr_buf *out)
{
    char hex[DR_ID_HEX_LEN + 1];
    if (type != DR_BLOB_DATA && type != DR_BLOB_TREE) {
        return dr_errorf(DR_EUSAGE, "blob %s: unknown blob type %u", dr_id_hex(id, hex), type);
    }
    if (len > DR_BLOB_MAX) {
        return dr_errorf(DR_EUSAGE, "blob %s: %zu bytes is over the blob limit of %u bytes",
                         dr_id_hex(id, hex), len, DR_BLOB_MAX);
    }
    /* dr_compress never grows the input by more than its encoding byte */
    struct dr_buf pt = DR_BUF_INIT(DR_BLOB_MAX + 1);
    uint8_t ad[DR_BLOB_AD_LEN];
    blob_ad(ad, type, id);
    int rc = dr_compress(z, plain, len, &pt);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "blob %s", dr_id_hex(id, hex));
        goto out;
    }
    if (nonce) {
        rc = dr_crypto_seal_nonce(k, nonce, ad, sizeof(ad), pt.buf, pt.len, out);
    } else {
        rc = dr_crypto_seal(k, ad, sizeof(ad), pt.buf, pt.len, out);
    }
    if (rc < 0) {
        rc = dr_error_wrap(rc, "blob %s", dr_id_hex(id, hex));
    }
out:
    dr_buf_release(&pt);
    return rc;
}

int dr_blob_encode(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                   const struct dr_id *id, const uint8_t *plain, size_t len, struct dr_buf *out)
{
    return dr_blob_encode_nonce(k, z, type, id, plain, len, NULL, out);
}

int dr_blob_decode(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                   const struct dr_id *id, const uint8_t *rec, size_t reclen, uint32_t ulen,
                   struct dr_buf *out)
{
    char hex[DR_ID_HEX_LEN + 1];
    dr_id_hex(id, hex);
    /* the smallest record holds the encoding byte; lengths are checked before allocating */
    if (reclen < DR_AEAD_OVERHEAD + 1 || reclen > DR_BLOB_RECORD_MAX) {
        return dr_errorf(DR_ECORRUPT, "blob %s: record length %zu is out of range", hex, reclen);
    }
    if (ulen > DR_BLOB_MAX) {
        return dr_errorf(DR_ECORRUPT, "blob %s: length %u is over the blob limit of %u bytes", hex,
                         ulen, DR_BLOB_MAX);
    }
    uint8_t ad[DR_BLOB_AD_LEN];
    blob_ad(ad, type, id);
    struct dr_buf pt = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    size_t old_len = out->len;
    int rc = dr_crypto_unseal(k, ad, sizeof(ad), rec, reclen, &pt);
    if (rc == DR_ECORRUPT) {
        rc = dr_errorf(DR_ECORRUPT, "blob %s: authentication failed", hex);
        goto out;
    }
    if (rc < 0) {
        rc = dr_error_wrap(rc, "blob %s", hex);
        goto out;
    }
    rc = dr_decompress(z, (const uint8_t *)pt.buf, pt.len, ulen, out);
    if (rc < 0) {
        rc = dr_error_wrap(rc == DR_ECORRUPT ? rc : DR_ECORRUPT, "blob %s", hex);
        goto out;
    }
    if (out->len - old_len != ulen) {
        rc = dr_errorf(DR_ECORRUPT, "blob %s: decodes to %zu bytes, expected %u", hex,
                       out->len - old_len, ulen);
        goto out;
    }
    struct dr_id got;
    dr_crypto_blob_id(k, out->buf + old_len, ulen, &got);
    if (!dr_id_eq(&got, id)) {
        rc = dr_errorf(DR_ECORRUPT, "blob %s: content does not match its id", hex);
        goto out;
    }
out:
    if (rc < 0 && out->alloc) {
        /* on failure out is as it was: no half-decoded plaintext is left for a caller to use */
        dr_buf_setlen(out, old_len);
    }
    dr_buf_release(&pt);
    return rc;
}
