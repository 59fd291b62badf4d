/* sha256.c: SHA-256 and HMAC-SHA-256: blob ids and pack names of format version 4, and what
 * others hash with it (PostgreSQL's backup manifests name every file's SHA-256).
 *
 * OpenSSL's, not libsodium's: OpenSSL uses the CPU's SHA instructions, 1.6 GB/s on the bench
 * machine against libsodium's portable 0.27 GB/s, and a base backup hashes every byte it reads
 * (a profile of `snapshot --pg` of an unchanged cluster spent 70% of its CPU in libsodium's
 * SHA-256). The streaming state is OpenSSL's SHA256_CTX, a plain struct that needs no freeing,
 * so an abandoned hash leaks nothing; its functions are deprecated in OpenSSL 3 in favour of
 * EVP, whose contexts are allocated, hence the API level below. */
#define OPENSSL_API_COMPAT 0x10100000L

#include <openssl/sha.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto_int.h"
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

static const SHA256_CTX *cctx(const struct dr_sha256 *st)
{
    return (const SHA256_CTX *)(const void *)st->opaque;
}

void dr_hmac_sha256_prepare(const uint8_t key[32], struct dr_sha256 *inner, struct dr_sha256 *outer)
{
    /* a 32-byte key is shorter than SHA-256's block: padded with zeros, not hashed first */
    uint8_t pad[SHA256_CBLOCK];
    memset(pad, 0x36, sizeof(pad));
    for (size_t i = 0; i < 32; i++) {
        pad[i] ^= key[i];
    }
    SHA256_Init(ctx(inner));
    SHA256_Update(ctx(inner), pad, sizeof(pad));
    memset(pad, 0x5c, sizeof(pad));
    for (size_t i = 0; i < 32; i++) {
        pad[i] ^= key[i];
    }
    SHA256_Init(ctx(outer));
    SHA256_Update(ctx(outer), pad, sizeof(pad));
    OPENSSL_cleanse(pad, sizeof(pad));
}

void dr_hmac_sha256(const struct dr_sha256 *inner, const struct dr_sha256 *outer, const void *data,
                    size_t len, uint8_t out[DR_SHA256_LEN])
{
    SHA256_CTX c = *cctx(inner);
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256_Update(&c, data, len);
    SHA256_Final(digest, &c);
    c = *cctx(outer);
    SHA256_Update(&c, digest, sizeof(digest));
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof(c)); /* a copy of key-derived state */
}
