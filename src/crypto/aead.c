/* aead.c: sealing and opening with XChaCha20-Poly1305-IETF under the encryption subkey.
 *
 * Sealed layout: nonce[24] || ciphertext[ptlen] || tag[16] (format/crypto.md). The 192-bit
 * nonce is random per seal, which is safe for any number of messages under one key; that is
 * why XChaCha20 and not ChaCha20-IETF with its 96-bit nonce.
 *
 * Nonces come from a per-thread generator (format/crypto.md "Nonces"): a ChaCha20 keystream
 * under a 256-bit seed drawn from the kernel, handed out 24 bytes at a time. One getrandom per
 * blob was a syscall per megabyte written; this is one per NONCE_BATCHES_PER_SEED batches.
 *
 * XChaCha20-Poly1305-IETF is HChaCha20 of the key and the nonce's first 16 bytes (a subkey),
 * then ChaCha20-Poly1305-IETF under that subkey with the 12-byte nonce 0^4 || nonce[16..24)
 * (draft-irtf-cfrg-xchacha). libsodium computes the subkey; OpenSSL's ChaCha20-Poly1305, which
 * has vector code for the CPU's widest registers, does the bulk: 2.5x libsodium's speed on
 * the bench machine, and byte for byte the same output (format/vectors check it). */
#include "drrepo/crypto.h"
#include "crypto_int.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/format.h"

_Static_assert(DR_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce length");
_Static_assert(DR_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag length");

/* Nonces per keystream batch, and batches before the seed is drawn again. Reseeding is not
 * needed for safety (2^64 batches per seed would be); it bounds how long one seed is in use. */
#define NONCES_PER_BATCH 64
#define NONCE_BATCHES_PER_SEED ((uint64_t)1 << 20)

struct nonce_rng {
    uint8_t seed[crypto_stream_chacha20_KEYBYTES];
    uint64_t batch;      /* the ChaCha20 nonce of the next batch */
    unsigned used;       /* nonces of buf handed out */
    unsigned generation; /* fork_generation when seeded; 0 = not seeded */
    uint8_t buf[NONCES_PER_BATCH * DR_NONCE_LEN];
};

static __thread struct nonce_rng tl_rng;

/* Bumped in every child of a fork: the child's copy of the forking thread's state then no
 * longer matches and is reseeded, so parent and child never hand out the same keystream. */
static unsigned fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    __atomic_add_fetch(&fork_generation, 1, __ATOMIC_RELAXED);
}

static void register_atfork(void)
{
    if (pthread_atfork(NULL, NULL, on_fork_child) != 0) {
        DR_BUG("cannot register the nonce generator's fork handler");
    }
}

/* Writes 24 bytes of the thread's keystream, never handed out before: a nonce, or the random
 * numbers of dr_random_uniform (secure.c), which the pipeline draws once per blob. */
void dr_crypto_draw(uint8_t nonce[DR_NONCE_LEN])
{
    struct nonce_rng *g = &tl_rng;
    pthread_once(&atfork_once, register_atfork);
    unsigned gen = __atomic_load_n(&fork_generation, __ATOMIC_RELAXED);
    if (g->generation != gen || g->batch >= NONCE_BATCHES_PER_SEED) {
        randombytes_buf(g->seed, sizeof(g->seed));
        g->batch = 0;
        g->used = NONCES_PER_BATCH;
        g->generation = gen;
    }
    if (g->used == NONCES_PER_BATCH) {
        uint8_t n[crypto_stream_chacha20_NONCEBYTES];
        for (size_t i = 0; i < sizeof(n); i++) {
            n[i] = (uint8_t)(g->batch >> (8 * i));
        }
        crypto_stream_chacha20(g->buf, sizeof(g->buf), n, g->seed);
        g->batch++;
        g->used = 0;
    }
    uint8_t *p = g->buf + (size_t)g->used * DR_NONCE_LEN;
    memcpy(nonce, p, DR_NONCE_LEN);
    sodium_memzero(p, DR_NONCE_LEN); /* handed out once: what stays in memory is no longer live */
    g->used++;
}

/* ---- XChaCha20-Poly1305 on OpenSSL's ChaCha20-Poly1305 ---- */

/* The calling thread's cipher context, keyed with the subkey of k and nonce. */
static EVP_CIPHER_CTX *aead_begin(const struct dr_keys *k, const uint8_t nonce[DR_NONCE_LEN],
                                  int enc)
{
    uint8_t subkey[crypto_core_hchacha20_OUTPUTBYTES];
    uint8_t iv[12] = {0};
    crypto_core_hchacha20(subkey, nonce, k->enc_key, NULL);
    memcpy(iv + 4, nonce + crypto_core_hchacha20_INPUTBYTES, 8);
    EVP_CIPHER_CTX *ctx = dr_evp_begin(DR_EVP_CHACHA20_POLY1305, subkey, iv, enc);
    sodium_memzero(subkey, sizeof(subkey));
    return ctx;
}

/* ct = ChaCha20 of pt (ct == pt allowed), tag of ad and ct; 0 or DR_EINTERNAL. */
static int xchacha_encrypt(const struct dr_keys *k, const uint8_t nonce[DR_NONCE_LEN],
                           const void *ad, size_t adlen, const uint8_t *pt, size_t ptlen,
                           uint8_t *ct, uint8_t tag[DR_TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = aead_begin(k, nonce, 1);
    int n = 0;
    int ok = ctx != NULL && ptlen <= INT_MAX && adlen <= INT_MAX;
    ok = ok && (adlen == 0 || EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen) == 1);
    ok = ok && EVP_CipherUpdate(ctx, ct, &n, pt, (int)ptlen) == 1 && (size_t)n == ptlen;
    ok = ok && EVP_CipherFinal_ex(ctx, ct + ptlen, &n) == 1 && n == 0;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, DR_TAG_LEN, tag) == 1;
    return ok ? 0 : dr_errorf(DR_EINTERNAL, "xchacha20poly1305 encryption failed");
}

/* pt = the opening of ct under its tag, or -1 when it does not authenticate, with pt wiped
 * (OpenSSL writes plaintext before it checks the tag). */
static int xchacha_decrypt(const struct dr_keys *k, const uint8_t nonce[DR_NONCE_LEN],
                           const void *ad, size_t adlen, const uint8_t *ct, size_t ctlen,
                           const uint8_t tag[DR_TAG_LEN], uint8_t *pt)
{
    EVP_CIPHER_CTX *ctx = aead_begin(k, nonce, 0);
    int n = 0;
    int ok = ctx != NULL && ctlen <= INT_MAX && adlen <= INT_MAX;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, DR_TAG_LEN, (void *)tag) == 1;
    ok = ok && (adlen == 0 || EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen) == 1);
    ok = ok && EVP_CipherUpdate(ctx, pt, &n, ct, (int)ctlen) == 1 && (size_t)n == ctlen;
    ok = ok && EVP_CipherFinal_ex(ctx, pt + ctlen, &n) == 1 && n == 0;
    if (!ok) {
        sodium_memzero(pt, ctlen);
        return -1;
    }
    return 0;
}

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
    memcpy(dst, nonce, DR_NONCE_LEN);
    rc = xchacha_encrypt(k, nonce, ad, adlen, pt, ptlen, dst + DR_NONCE_LEN,
                         dst + DR_NONCE_LEN + ptlen);
    if (rc < 0) {
        return rc;
    }
    dr_buf_setlen(out, out->len + need);
    return 0;
}

int dr_crypto_seal(const struct dr_keys *k, const void *ad, size_t adlen, const void *pt,
                   size_t ptlen, struct dr_buf *out)
{
    uint8_t nonce[DR_NONCE_LEN];
    dr_crypto_draw(nonce);
    return dr_crypto_seal_nonce(k, nonce, ad, adlen, pt, ptlen, out);
}

int dr_crypto_seal_in_place_nonce(const struct dr_keys *k, const uint8_t nonce[DR_NONCE_LEN],
                                  const void *ad, size_t adlen, uint8_t *buf, size_t ptlen)
{
    if (nonce) {
        memcpy(buf, nonce, DR_NONCE_LEN);
    } else {
        dr_crypto_draw(buf);
    }
    /* a stream cipher: the ciphertext may overwrite the message in place */
    return xchacha_encrypt(k, buf, ad, adlen, buf + DR_NONCE_LEN, ptlen, buf + DR_NONCE_LEN,
                           buf + DR_NONCE_LEN + ptlen);
}

int dr_crypto_seal_in_place(const struct dr_keys *k, const void *ad, size_t adlen, uint8_t *buf,
                            size_t ptlen)
{
    return dr_crypto_seal_in_place_nonce(k, NULL, ad, adlen, buf, ptlen);
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

    /* out->len only moves on success, and a forgery's plaintext is wiped, so nothing of it is
     * visible in out */
    if (xchacha_decrypt(k, c, ad, adlen, c + DR_NONCE_LEN, ptlen, c + DR_NONCE_LEN + ptlen, dst) <
        0) {
        return dr_errorf(DR_ECORRUPT, "sealed data does not authenticate (tampered, wrong key "
                                      "or wrong associated data)");
    }
    dr_buf_setlen(out, out->len + ptlen);
    return 0;
}
