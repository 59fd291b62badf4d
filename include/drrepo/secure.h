/* secure.h: randomness and wiping of secrets, for modules outside src/crypto/ (which alone
 * talks to libsodium). */
#ifndef DR_SECURE_H
#define DR_SECURE_H

#include "drrepo/common.h"

/* Cryptographically secure random bytes (libsodium randombytes_buf). */
void dr_random_bytes(void *p, size_t n);
/* A uniformly distributed number in [0, upper) without modulo bias, from the calling thread's
 * keystream (seeded by randombytes_buf, as the nonces: format/crypto.md "Nonces"), so that no
 * call costs a system call; 0 when upper < 2. */
uint32_t dr_random_uniform(uint32_t upper);
/* Zeroes memory in a way the compiler cannot optimise away (sodium_memzero). */
void dr_wipe(void *p, size_t n);

#endif
