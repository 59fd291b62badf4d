/* secure.h: randomness and wiping of secrets, for modules outside src/crypto/ (which alone
 * talks to libsodium). */
#ifndef DR_SECURE_H
#define DR_SECURE_H

#include "drrepo/common.h"

/* Cryptographically secure random bytes (libsodium randombytes_buf). */
void dr_random_bytes(void *p, size_t n);
/* A uniformly distributed number in [0, upper) from the same generator, without modulo bias
 * (libsodium randombytes_uniform); 0 when upper < 2. */
uint32_t dr_random_uniform(uint32_t upper);
/* Zeroes memory in a way the compiler cannot optimise away (sodium_memzero). */
void dr_wipe(void *p, size_t n);

#endif
