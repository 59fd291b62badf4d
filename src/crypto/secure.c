/* secure.c: randomness and wiping for the rest of drrepo (see secure.h). */
#include "drrepo/secure.h"

#include <sodium.h>

void dr_random_bytes(void *p, size_t n)
{
    randombytes_buf(p, n);
}

uint32_t dr_random_uniform(uint32_t upper)
{
    return upper < 2 ? 0 : randombytes_uniform(upper);
}

void dr_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}
