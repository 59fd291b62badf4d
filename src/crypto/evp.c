/* evp.c: OpenSSL's ciphers where they are faster than libsodium's, with one cipher context
 * per thread.
 *
 * OpenSSL has vector code for the CPU's widest registers (AVX-512, VAES): its ChaCha20-Poly1305
 * runs at 2.5x libsodium's speed on the bench machine, and libsodium has no raw AES at all,
 * which the toeplitz-aes chunker needs (format/chunker.md). The algorithms are fetched once (an
 * implicit fetch at each use would look them up every time) and each thread keeps one
 * context per algorithm, freed when the thread ends, so that no call allocates. */
#include "crypto_int.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"

static const char *const evp_names[DR_EVP_NALGS] = {
    [DR_EVP_CHACHA20_POLY1305] = "ChaCha20-Poly1305",
    [DR_EVP_AES_128_ECB] = "AES-128-ECB",
};

static EVP_CIPHER *evp_ciphers[DR_EVP_NALGS];
static pthread_key_t evp_ctx_keys[DR_EVP_NALGS];
static pthread_once_t evp_once = PTHREAD_ONCE_INIT;

static void free_ctx(void *ctx)
{
    EVP_CIPHER_CTX_free(ctx);
}

static void evp_init(void)
{
    for (int a = 0; a < DR_EVP_NALGS; a++) {
        evp_ciphers[a] = EVP_CIPHER_fetch(NULL, evp_names[a], NULL);
        if (!evp_ciphers[a] || pthread_key_create(&evp_ctx_keys[a], free_ctx) != 0) {
            DR_BUG("OpenSSL lacks a cipher drrepo needs (ChaCha20-Poly1305, AES-128-ECB)");
        }
    }
}

/* The calling thread's context for a, allocated at its first use. */
static EVP_CIPHER_CTX *thread_ctx(enum dr_evp_alg a)
{
    pthread_once(&evp_once, evp_init);
    EVP_CIPHER_CTX *ctx = pthread_getspecific(evp_ctx_keys[a]);
    if (!ctx) {
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx || pthread_setspecific(evp_ctx_keys[a], ctx) != 0) {
            DR_BUG("cannot allocate a cipher context");
        }
    }
    return ctx;
}

EVP_CIPHER_CTX *dr_evp_begin(enum dr_evp_alg a, const uint8_t *key, const uint8_t *iv, int enc)
{
    EVP_CIPHER_CTX *ctx = thread_ctx(a);
    if (EVP_CipherInit_ex2(ctx, evp_ciphers[a], key, iv, enc, NULL) != 1) {
        return NULL;
    }
    return ctx;
}

/* The AES key the thread's AES context holds: the chunker encrypts with one key, batch after
 * batch, and an initialisation (a key schedule, and OpenSSL's parameter handling) per batch
 * was about a tenth of the chunker's time. ECB over whole blocks keeps no state between
 * calls, so a keyed context serves every later call with the same key. */
static __thread uint8_t tl_aes_key[16];
static __thread bool tl_aes_keyed;

void dr_crypto_aes128_ecb(const uint8_t key[16], const uint8_t *in, uint8_t *out, size_t nblocks)
{
    EVP_CIPHER_CTX *ctx = thread_ctx(DR_EVP_AES_128_ECB);
    if (!tl_aes_keyed || memcmp(tl_aes_key, key, sizeof(tl_aes_key)) != 0) {
        /* whole blocks, no padding: nothing is buffered between calls */
        if (dr_evp_begin(DR_EVP_AES_128_ECB, key, NULL, 1) == NULL ||
            EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
            DR_BUG("AES-128 initialisation failed");
        }
        memcpy(tl_aes_key, key, sizeof(tl_aes_key));
        tl_aes_keyed = true;
    }
    int n = 0;
    if (nblocks > INT_MAX / 16 || EVP_EncryptUpdate(ctx, out, &n, in, (int)(nblocks * 16)) != 1 ||
        (size_t)n != nblocks * 16) {
        DR_BUG("AES-128 encryption failed");
    }
}
