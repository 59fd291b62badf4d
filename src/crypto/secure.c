/* secure.c: randomness and wiping for the rest of drrepo (see secure.h). */
#include "drrepo/secure.h"

#include <sodium.h>

#include "crypto_int.h"

void dr_random_bytes(void *p, size_t n)
{
    randombytes_buf(p, n);
}

uint32_t dr_random_uniform(uint32_t upper)
{
    if (upper < 2) {
        return 0;
    }
    /* from the thread's keystream, not a getrandom each (randombytes_uniform): the pipeline
     * draws one per blob. Values under 2^32 mod upper are rejected: no modulo bias. */
    uint32_t min = (uint32_t)(-upper) % upper;
    for (;;) {
        uint8_t b[DR_NONCE_LEN];
        dr_crypto_draw(b);
        for (size_t i = 0; i + 4 <= sizeof(b); i += 4) {
            uint32_t v = dr_get_u32le(b + i);
            if (v >= min) {
                sodium_memzero(b, sizeof(b));
                return v % upper;
            }
        }
    }
}

void dr_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}
