/* sha256.c: SHA-256, for what others hash with it (PostgreSQL's backup manifests name every
 * file's SHA-256; format/ hashes with BLAKE2b).
 *
 * OpenSSL's, not libsodium's: OpenSSL uses the CPU's SHA instructions, 1.6 GB/s on the bench
 * machine against libsodium's portable 0.27 GB/s, and a base backup hashes every byte it reads
 * (a profile of `snapshot --pg` of an unchanged cluster spent 70% of its CPU in libsodium's
 * SHA-256). The streaming state is OpenSSL's SHA256_CTX, a plain struct that needs no freeing,
 * so an abandoned hash leaks nothing; its functions are deprecated in OpenSSL 3 in favour of
 * EVP, whose contexts are allocated, hence the API level below. */
#define OPENSSL_API_COMPAT 0x10100000L

#include <openssl/sha.h>

#include "drrepo/crypto.h"

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct dr_sha256 *)0)->opaque),
               "struct dr_sha256 too small for OpenSSL's SHA256_CTX");
_Static_assert(DR_SHA256_LEN == SHA256_DIGEST_LENGTH, "SHA-256 length");

static SHA256_CTX *ctx(struct dr_sha256 *st)
{
    return (SHA256_CTX *)(void *)st->opaque;
}

void dr_sha256(const void *data, size_t len, uint8_t out[DR_SHA256_LEN])
{
    SHA256(data, len, out);
}

void dr_sha256_init(struct dr_sha256 *st)
{
    SHA256_Init(ctx(st));
}

void dr_sha256_update(struct dr_sha256 *st, const void *data, size_t len)
{
    SHA256_Update(ctx(st), data, len);
}

void dr_sha256_final(struct dr_sha256 *st, uint8_t out[DR_SHA256_LEN])
{
    SHA256_Final(out, ctx(st));
}
