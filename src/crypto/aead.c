/* aead.c: sealing and opening with XChaCha20-Poly1305-IETF under the encryption subkey.
 *
 * Sealed layout: nonce[24] || ciphertext[ptlen] || tag[16] (format/crypto.md). The 192-bit
 * nonce is random per seal, which is safe for any number of messages under one key; that is
 * why XChaCha20 and not ChaCha20-IETF with its 96-bit nonce. */
#include "drrepo/crypto.h"

#include <sodium.h>

#include "drrepo/error.h"
#include "drrepo/format.h"

_Static_assert(DR_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce length");
_Static_assert(DR_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag length");

int dr_crypto_seal_nonce(const struct dr_keys *k, const uint8_t nonce[DR_NONCE_LEN], const void *ad,
                         size_t adlen, const void *pt, size_t ptlen, struct dr_buf *out)
{
    size_t need;
    if (__builtin_add_overflow(ptlen, (size_t)DR_AEAD_OVERHEAD, &need)) {
        return dr_errorf(DR_ECORRUPT, "plaintext of %zu bytes is too large to seal", ptlen);
    }
    int rc = dr_buf_grow(out, need);
    if (rc < 0) {
        return rc;
    }
    uint8_t *dst = (uint8_t *)out->buf + out->len;
    unsigned long long clen = 0;

    memcpy(dst, nonce, DR_NONCE_LEN);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(dst + DR_NONCE_LEN, &clen, pt, ptlen, ad, adlen,
                                                   NULL, dst, k->enc_key) != 0 ||
        clen != ptlen + DR_TAG_LEN) {
        return dr_errorf(DR_EINTERNAL, "xchacha20poly1305 encryption failed");
    }
    dr_buf_setlen(out, out->len + need);
    return 0;
}

int dr_crypto_seal(const struct dr_keys *k, const void *ad, size_t adlen, const void *pt,
                   size_t ptlen, struct dr_buf *out)
{
    uint8_t nonce[DR_NONCE_LEN];
    randombytes_buf(nonce, sizeof(nonce));
    return dr_crypto_seal_nonce(k, nonce, ad, adlen, pt, ptlen, out);
}

int dr_crypto_unseal(const struct dr_keys *k, const void *ad, size_t adlen, const void *ct,
                     size_t ctlen, struct dr_buf *out)
{
    const uint8_t *c = ct;

    /* Checked before any pointer arithmetic: a short input must not make us read past it. */
    if (ctlen < DR_AEAD_OVERHEAD) {
        return dr_errorf(DR_ECORRUPT, "sealed data too short (%zu bytes, at least %u needed)",
                         ctlen, (unsigned)DR_AEAD_OVERHEAD);
    }
    size_t ptlen = ctlen - DR_AEAD_OVERHEAD;
    int rc = dr_buf_grow(out, ptlen);
    if (rc < 0) {
        return rc;
    }
    uint8_t *dst = (uint8_t *)out->buf + out->len;
    unsigned long long mlen = 0;

    /* libsodium verifies the tag before it writes any plaintext, and out->len only moves on
     * success, so a forgery leaves nothing visible in out. */
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(dst, &mlen, NULL, c + DR_NONCE_LEN,
                                                   ctlen - DR_NONCE_LEN, ad, adlen, c,
                                                   k->enc_key) != 0) {
        return dr_errorf(DR_ECORRUPT, "sealed data does not authenticate (tampered, wrong key "
                                      "or wrong associated data)");
    }
    if (mlen != ptlen) {
        DR_BUG("xchacha20poly1305 returned an unexpected plaintext length");
    }
    dr_buf_setlen(out, out->len + ptlen);
    return 0;
}
