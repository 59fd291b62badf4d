/* crypto_int.h: what the files of src/crypto/ share and no one else sees. */
#ifndef DR_CRYPTO_INT_H
#define DR_CRYPTO_INT_H

#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>

#include "drrepo/crypto.h"
#include "drrepo/format.h"

/* 24 bytes of the calling thread's keystream, never handed out before (aead.c, format/crypto.md
 * "Nonces"): a seal's nonce, or random numbers that need no syscall each. */
void dr_crypto_draw(uint8_t out[DR_NONCE_LEN]);

/* OpenSSL's algorithms that drrepo uses (evp.c). */
enum dr_evp_alg { DR_EVP_CHACHA20_POLY1305, DR_EVP_AES_128_ECB, DR_EVP_NALGS };

/* The calling thread's context for a, initialised for enc (1) or dec (0) with key and iv
 * (NULL for none); NULL when OpenSSL refuses the initialisation. */
EVP_CIPHER_CTX *dr_evp_begin(enum dr_evp_alg a, const uint8_t *key, const uint8_t *iv, int enc);

/* HMAC-SHA-256 (RFC 2104) in two steps: the SHA-256 states after the inner and outer padded
 * key, once per key (sha256.c); then the MAC of a message from copies of them, so that no id
 * hashes the key again. */
void dr_hmac_sha256_prepare(const uint8_t key[32], struct dr_sha256 *inner,
                            struct dr_sha256 *outer);
void dr_hmac_sha256(const struct dr_sha256 *inner, const struct dr_sha256 *outer, const void *data,
                    size_t len, uint8_t out[DR_SHA256_LEN]);

#endif
