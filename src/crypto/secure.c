/* secure.c: randomness and wiping for the rest of drrepo (see secure.h). */
#include "drrepo/secure.h"

#include <sodium.h>

void dr_random_bytes(void *p, size_t n)
{
    randombytes_buf(p, n);
}

void dr_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}
