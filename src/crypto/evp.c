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

EVP_CIPHER_CTX *dr_evp_begin(enum dr_evp_alg a, const uint8_t *key, const uint8_t *iv, int enc)
{
    pthread_once(&evp_once, evp_init);
    EVP_CIPHER_CTX *ctx = pthread_getspecific(evp_ctx_keys[a]);
    if (!ctx) {
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx || pthread_setspecific(evp_ctx_keys[a], ctx) != 0) {
            DR_BUG("cannot allocate a cipher context");
        }
    }
    if (EVP_CipherInit_ex2(ctx, evp_ciphers[a], key, iv, enc, NULL) != 1) {
        return NULL;
    }
    return ctx;
}

void dr_crypto_aes128_ecb(const uint8_t key[16], const uint8_t *in, uint8_t *out, size_t nblocks)
{
    EVP_CIPHER_CTX *ctx = dr_evp_begin(DR_EVP_AES_128_ECB, key, NULL, 1);
    int n = 0;
    /* whole blocks, no padding: nothing is buffered between calls */
    if (!ctx || nblocks > INT_MAX / 16 || EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
        EVP_EncryptUpdate(ctx, out, &n, in, (int)(nblocks * 16)) != 1 ||
        (size_t)n != nblocks * 16) {
        DR_BUG("AES-128 encryption failed");
    }
}
