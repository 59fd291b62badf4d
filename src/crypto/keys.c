/* keys.c: libsodium start-up, the master key and its subkeys, blob ids and plain hashes.
 *
 * Subkeys are crypto_kdf_derive_from_key(32 bytes, id, "drrepo01", master) with id 1 = blob-id
 * key, 2 = encryption key, 3 = chunker key (format/crypto.md). Using one KDF with distinct ids
 * means a leak of one subkey reveals neither the master nor the other subkeys. struct dr_keys
 * lives in sodium_malloc memory (guard pages, no core dumps of it where the OS allows) and
 * sodium_free wipes it. */
#include "drrepo/crypto.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto_int.h"
#include "drrepo/error.h"
#include "drrepo/format.h"

#define DR_KDF_CONTEXT "drrepo01"
enum {
    DR_SUBKEY_ID = 1,
    DR_SUBKEY_ENC = 2,
    DR_SUBKEY_CHUNKER = 3,
};

/* The streaming state must fit the opaque buffer callers allocate for it. */
_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((struct dr_hash_state *)0)->opaque),
               "crypto_generichash_state does not fit struct dr_hash_state");
_Static_assert(alignof(crypto_generichash_state) <= alignof(struct dr_hash_state),
               "crypto_generichash_state needs more alignment than struct dr_hash_state");
_Static_assert(sizeof(DR_KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES, "kdf context length");
_Static_assert(DR_MASTER_KEY_LEN == crypto_kdf_KEYBYTES, "master key length");
_Static_assert(DR_ID_LEN == crypto_generichash_BYTES, "id length");

int dr_crypto_init(void)
{
    if (sodium_init() < 0) {
        return dr_errorf(DR_EINTERNAL, "cannot initialise libsodium");
    }
    return 0;
}

static struct dr_keys *keys_alloc(void)
{
    struct dr_keys *k = sodium_malloc(sizeof(*k));
    if (!k) {
        fprintf(stderr, "drrepo: fatal: out of memory allocating key storage\n");
        abort();
    }
    memset(k, 0, sizeof(*k)); /* sodium_malloc fills with 0xdb: sha256 starts false */
    return k;
}

static void derive(struct dr_keys *k)
{
    if (crypto_kdf_derive_from_key(k->id_key, sizeof(k->id_key), DR_SUBKEY_ID, DR_KDF_CONTEXT,
                                   k->master) != 0 ||
        crypto_kdf_derive_from_key(k->enc_key, sizeof(k->enc_key), DR_SUBKEY_ENC, DR_KDF_CONTEXT,
                                   k->master) != 0 ||
        crypto_kdf_derive_from_key(k->chunker_key, sizeof(k->chunker_key), DR_SUBKEY_CHUNKER,
                                   DR_KDF_CONTEXT, k->master) != 0) {
        DR_BUG("crypto_kdf_derive_from_key rejected fixed parameters");
    }
}

struct dr_keys *dr_keys_new_random(void)
{
    struct dr_keys *k = keys_alloc();
    randombytes_buf(k->master, sizeof(k->master));
    derive(k);
    return k;
}

struct dr_keys *dr_keys_from_master(const uint8_t master[DR_MASTER_KEY_LEN])
{
    struct dr_keys *k = keys_alloc();
    memcpy(k->master, master, DR_MASTER_KEY_LEN);
    derive(k);
    return k;
}

void dr_keys_free(struct dr_keys *k)
{
    /* sodium_free wipes the memory before releasing it, and accepts NULL. */
    sodium_free(k);
}

void dr_keys_set_format(struct dr_keys *k, uint32_t version)
{
    k->sha256 = version >= DR_REPO_VERSION_SHA256;
    if (k->sha256) {
        dr_hmac_sha256_prepare(k->id_key, &k->id_inner, &k->id_outer);
    }
}

void dr_crypto_blob_id(const struct dr_keys *k, const void *data, size_t len, struct dr_id *out)
{
    _Static_assert(DR_ID_LEN == DR_SHA256_LEN, "an HMAC-SHA-256 is an id");
    if (k->sha256) {
        dr_hmac_sha256(&k->id_inner, &k->id_outer, data, len, out->b);
        return;
    }
    if (crypto_generichash(out->b, DR_ID_LEN, data, len, k->id_key, sizeof(k->id_key)) != 0) {
        DR_BUG("crypto_generichash rejected fixed parameters");
    }
}

void dr_crypto_hash(const void *data, size_t len, struct dr_id *out)
{
    if (crypto_generichash(out->b, DR_ID_LEN, data, len, NULL, 0) != 0) {
        DR_BUG("crypto_generichash rejected fixed parameters");
    }
}

void dr_crypto_pack_hash(const struct dr_keys *k, const void *data, size_t len, struct dr_id *out)
{
    if (k->sha256) {
        dr_sha256(data, len, out->b);
    } else {
        dr_crypto_hash(data, len, out);
    }
}

void dr_crypto_keyed_hash(const uint8_t key[32], const void *msg, size_t len, uint8_t *out,
                          size_t outlen)
{
    if (crypto_generichash(out, outlen, msg, len, key, 32) != 0) {
        DR_BUG("crypto_generichash rejected fixed parameters");
    }
}

_Static_assert(crypto_shorthash_KEYBYTES == 16, "SipHash key length");

uint64_t dr_crypto_shorthash(const uint8_t key[16], const void *msg, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, msg, len, key);
    return dr_get_u64le(out);
}

const char *dr_crypto_version(void)
{
    return sodium_version_string();
}

static crypto_generichash_state *hash_state(struct dr_hash_state *st)
{
    return (crypto_generichash_state *)(void *)st->opaque;
}

void dr_crypto_pack_hash_init(const struct dr_keys *k, struct dr_hash_state *st)
{
    if (k->sha256) {
        _Static_assert(sizeof(struct dr_sha256) <= sizeof(st->opaque), "SHA-256 state size");
        st->sha256 = true;
        dr_sha256_init((struct dr_sha256 *)(void *)st->opaque);
    } else {
        dr_crypto_hash_init(st);
    }
}

void dr_crypto_hash_init(struct dr_hash_state *st)
{
    st->sha256 = false;
    if (crypto_generichash_init(hash_state(st), NULL, 0, DR_ID_LEN) != 0) {
        DR_BUG("crypto_generichash_init rejected fixed parameters");
    }
}

void dr_crypto_hash_update(struct dr_hash_state *st, const void *data, size_t len)
{
    if (st->sha256) {
        dr_sha256_update((struct dr_sha256 *)(void *)st->opaque, data, len);
        return;
    }
    /* Cannot fail for a state that dr_crypto_hash_init set up. */
    (void)crypto_generichash_update(hash_state(st), data, len);
}

void dr_crypto_hash_final(struct dr_hash_state *st, struct dr_id *out)
{
    if (st->sha256) {
        dr_sha256_final((struct dr_sha256 *)(void *)st->opaque, out->b);
        return;
    }
    if (crypto_generichash_final(hash_state(st), out->b, DR_ID_LEN) != 0) {
        DR_BUG("dr_crypto_hash_final on a state that was already finalised");
    }
}
