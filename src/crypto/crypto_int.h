/* crypto_int.h: what the files of src/crypto/ share and no one else sees. */
#ifndef DR_CRYPTO_INT_H
#define DR_CRYPTO_INT_H

#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>

#include "drrepo/format.h"

/* 24 bytes of the calling thread's keystream, never handed out before (aead.c, format/crypto.md
 * "Nonces"): a seal's nonce, or random numbers that need no syscall each. */
void dr_crypto_draw(uint8_t out[DR_NONCE_LEN]);

/* OpenSSL's algorithms that drrepo uses (evp.c). */
enum dr_evp_alg { DR_EVP_CHACHA20_POLY1305, DR_EVP_AES_128_ECB, DR_EVP_NALGS };

/* The calling thread's context for a, initialised for enc (1) or dec (0) with key and iv
 * (NULL for none); NULL when OpenSSL refuses the initialisation. */
EVP_CIPHER_CTX *dr_evp_begin(enum dr_evp_alg a, const uint8_t *key, const uint8_t *iv, int enc);

#endif
