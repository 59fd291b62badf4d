/* crypto_int.h: what the files of src/crypto/ share and no one else sees. */
#ifndef DR_CRYPTO_INT_H
#define DR_CRYPTO_INT_H

#include <stdint.h>

#include "drrepo/format.h"

/* 24 bytes of the calling thread's keystream, never handed out before (aead.c, format/crypto.md
 * "Nonces"): a seal's nonce, or random numbers that need no syscall each. */
void dr_crypto_draw(uint8_t out[DR_NONCE_LEN]);

#endif
