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
    /* The record is built where it ends up: room for the nonce, the encoding byte and payload
     * compressed straight after it, room for the tag, then sealed in place. dr_compress never
     * grows the input by more than its encoding byte, so the one grow below is all the room
     * needed and nothing moves the buffer. */
    size_t start = out->len;
    int rc = dr_buf_grow(out, DR_AEAD_OVERHEAD + 1 + len);
    if (rc < 0) {
        return dr_error_wrap(rc, "blob %s", dr_id_hex(id, hex));
    }
    uint8_t ad[DR_BLOB_AD_LEN];
    blob_ad(ad, type, id);
    dr_buf_setlen(out, start + DR_NONCE_LEN);
    rc = dr_compress(z, plain, len, out);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "blob %s", dr_id_hex(id, hex));
        goto fail;
    }
    size_t ptlen = out->len - start - DR_NONCE_LEN;
    rc =
        dr_crypto_seal_in_place_nonce(k, nonce, ad, sizeof(ad), (uint8_t *)out->buf + start, ptlen);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "blob %s", dr_id_hex(id, hex));
        goto fail;
    }
    dr_buf_setlen(out, start + DR_AEAD_OVERHEAD + ptlen);
    return 0;
fail:
    dr_buf_setlen(out, start);
    return rc;
}

int dr_blob_encode(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                   const struct dr_id *id, const uint8_t *plain, size_t len, struct dr_buf *out)
{
    return dr_blob_encode_nonce(k, z, type, id, plain, len, NULL, out);
}

/* Opens a record into pt (emptied first) and checks the lengths first: the part of decoding
 * that dr_blob_decode and dr_blob_verify share. */
static int blob_unseal(const struct dr_keys *k, uint8_t type, const char *hex,
                       const struct dr_id *id, const uint8_t *rec, size_t reclen, uint32_t ulen,
                       struct dr_buf *pt)
{
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
    dr_buf_reset(pt);
    int rc = dr_crypto_unseal(k, ad, sizeof(ad), rec, reclen, pt);
    if (rc == DR_ECORRUPT) {
        return dr_errorf(DR_ECORRUPT, "blob %s: authentication failed", hex);
    }
    if (rc < 0) {
        return dr_error_wrap(rc, "blob %s", hex);
    }
    return 0;
}

/* Checks that the ulen plaintext bytes at p are blob id. */
static int blob_check_id(const struct dr_keys *k, const char *hex, const struct dr_id *id,
                         const void *p, uint32_t ulen)
{
    struct dr_id got;
    dr_crypto_blob_id(k, p, ulen, &got);
    if (!dr_id_eq(&got, id)) {
        return dr_errorf(DR_ECORRUPT, "blob %s: content does not match its id", hex);
    }
    return 0;
}

int dr_blob_decode(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                   const struct dr_id *id, const uint8_t *rec, size_t reclen, uint32_t ulen,
                   struct dr_buf *out)
{
    char hex[DR_ID_HEX_LEN + 1];
    dr_id_hex(id, hex);
    struct dr_buf pt = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    size_t old_len = out->len;
    int rc = blob_unseal(k, type, hex, id, rec, reclen, ulen, &pt);
    if (rc < 0) {
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
    rc = blob_check_id(k, hex, id, out->buf + old_len, ulen);
out:
    if (rc < 0 && out->alloc) {
        /* on failure out is as it was: no half-decoded plaintext is left for a caller to use */
        dr_buf_setlen(out, old_len);
    }
    dr_buf_release(&pt);
    return rc;
}

int dr_blob_verify(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                   const struct dr_id *id, const uint8_t *rec, size_t reclen, uint32_t ulen,
                   struct dr_buf *scratch, struct dr_buf *plain)
{
    char hex[DR_ID_HEX_LEN + 1];
    dr_id_hex(id, hex);
    int rc = blob_unseal(k, type, hex, id, rec, reclen, ulen, scratch);
    if (rc < 0) {
        return rc;
    }
    const uint8_t *pt = (const uint8_t *)scratch->buf;
    if (pt[0] == DR_ENC_RAW && scratch->len - 1 == ulen) {
        /* a raw blob is hashed where it was opened: no copy, and no second buffer its size */
        return blob_check_id(k, hex, id, pt + 1, ulen);
    }
    dr_buf_reset(plain);
    rc = dr_decompress(z, pt, scratch->len, ulen, plain);
    if (rc < 0) {
        return dr_error_wrap(rc == DR_ECORRUPT ? rc : DR_ECORRUPT, "blob %s", hex);
    }
    if (plain->len != ulen) {
        return dr_errorf(DR_ECORRUPT, "blob %s: decodes to %zu bytes, expected %u", hex, plain->len,
                         ulen);
    }
    return blob_check_id(k, hex, id, plain->buf, ulen);
}
