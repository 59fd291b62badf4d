/* aead.c: sealing and opening with XChaCha20-Poly1305-IETF under the encryption subkey.
 *
 * Sealed layout: nonce[24] || ciphertext[ptlen] || tag[16] (format/crypto.md). The 192-bit
 * nonce is random per seal, which is safe for any number of messages under one key; that is
 * why XChaCha20 and not ChaCha20-IETF with its 96-bit nonce.
 *
 * Nonces come from a per-thread generator (format/crypto.md "Nonces"): a ChaCha20 keystream
 * under a 256-bit seed drawn from the kernel, handed out 24 bytes at a time. One getrandom per
 * blob was a syscall per megabyte written; this is one per NONCE_BATCHES_PER_SEED batches. */
#include "drrepo/crypto.h"
#include "crypto_int.h"

#include <pthread.h>
#include <sodium.h>

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
    dr_crypto_draw(nonce);
    return dr_crypto_seal_nonce(k, nonce, ad, adlen, pt, ptlen, out);
}

int dr_crypto_seal_in_place_nonce(const struct dr_keys *k, const uint8_t nonce[DR_NONCE_LEN],
                                  const void *ad, size_t adlen, uint8_t *buf, size_t ptlen)
{
    unsigned long long clen = 0;
    if (nonce) {
        memcpy(buf, nonce, DR_NONCE_LEN);
    } else {
        dr_crypto_draw(buf);
    }
    /* libsodium allows the ciphertext to overlap the message exactly (c == m) */
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(buf + DR_NONCE_LEN, &clen, buf + DR_NONCE_LEN,
                                                   ptlen, ad, adlen, NULL, buf, k->enc_key) != 0 ||
        clen != ptlen + DR_TAG_LEN) {
        return dr_errorf(DR_EINTERNAL, "xchacha20poly1305 encryption failed");
    }
    return 0;
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
