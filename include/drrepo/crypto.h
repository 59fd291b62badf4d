/* crypto.h: every use of libsodium: subkeys, keyed blob ids, AEAD sealing, key files.
 *
 * The repository master key is 32 random bytes. Subkeys are derived with crypto_kdf (context
 * "drrepo01"): 1 = blob-id key (HMAC-SHA-256 from format version 4, keyed BLAKE2b-256 before),
 * 2 = encryption key (XChaCha20-Poly1305), 3 = chunker key (Gear table). Key files wrap the master
 * key with a key derived from the password by Argon2id (crypto_pwhash). All key material lives in
 * sodium_malloc'd memory and is wiped on free. */
#ifndef DR_CRYPTO_H
#define DR_CRYPTO_H

#include <stdbool.h>

#include "drrepo/buf.h"
#include "drrepo/format.h"
#include "drrepo/id.h"

#define DR_MASTER_KEY_LEN 32

/* SHA-256: blob ids and pack names of format version 4, and where a format outside ours names
 * it (PostgreSQL backup manifests). */
#define DR_SHA256_LEN 32
struct dr_sha256 {
    uint8_t opaque[128] __attribute__((aligned(8)));
};
void dr_sha256(const void *data, size_t len, uint8_t out[DR_SHA256_LEN]);
void dr_sha256_init(struct dr_sha256 *st);
void dr_sha256_update(struct dr_sha256 *st, const void *data, size_t len);
void dr_sha256_final(struct dr_sha256 *st, uint8_t out[DR_SHA256_LEN]);

struct dr_keys {
    uint8_t master[DR_MASTER_KEY_LEN];
    uint8_t id_key[32];
    uint8_t enc_key[32];
    uint8_t chunker_key[32];
    /* How blob ids and pack names are hashed, set by dr_keys_set_format from the repository's
     * format version: HMAC-SHA-256 and SHA-256 from version 4 (the CPU's SHA instructions,
     * 1.7 GB/s on the bench machine against BLAKE2b's 0.9), keyed and plain BLAKE2b-256
     * before. id_inner and id_outer are the HMAC's SHA-256 states after the padded id key. */
    bool sha256;
    struct dr_sha256 id_inner, id_outer;
};

/* Initialises libsodium once; DR_EINTERNAL if it cannot. Safe to call from every entry point. */
DR_MUST_CHECK int dr_crypto_init(void);

/* New keys from a random master (init) or a given master (open). Cannot fail after
 * dr_crypto_init succeeded (aborts on out-of-memory). Free with dr_keys_free. */
struct dr_keys *dr_keys_new_random(void);
struct dr_keys *dr_keys_from_master(const uint8_t master[DR_MASTER_KEY_LEN]);
void dr_keys_free(struct dr_keys *k);

/* Sets how k hashes blob ids and pack names for a repository of format version `version`
 * (format/crypto.md "Blob ids"). Keys are made for format version 3 and earlier until set. */
void dr_keys_set_format(struct dr_keys *k, uint32_t version);

/* The id of a blob: HMAC-SHA-256 or keyed BLAKE2b-256 of data with the id key (as set). */
void dr_crypto_blob_id(const struct dr_keys *k, const void *data, size_t len, struct dr_id *out);

/* Unkeyed BLAKE2b-256: the name of snapshots and key files (hash of their bytes), and of packs
 * before format version 4. */
void dr_crypto_hash(const void *data, size_t len, struct dr_id *out);

/* The hash that names a pack of k's repository (its bytes'): SHA-256 from format version 4,
 * BLAKE2b-256 before. */
void dr_crypto_pack_hash(const struct dr_keys *k, const void *data, size_t len, struct dr_id *out);

/* Keyed BLAKE2b of msg into out (outlen 16..64 bytes): derivations from a 32-byte subkey that
 * other modules need (the chunker's Gear table, the RDB record store's lookup key). */
void dr_crypto_keyed_hash(const uint8_t key[32], const void *msg, size_t len, uint8_t *out,
                          size_t outlen);

/* AES-128 of nblocks 16-byte blocks of in, each on its own (ECB), into out (may equal in):
 * the toeplitz-aes chunker's pseudorandom function (format/chunker.md). */
void dr_crypto_aes128_ecb(const uint8_t key[16], const uint8_t *in, uint8_t *out, size_t nblocks);

/* SipHash-2-4 of msg under a 16-byte key: a fast keyed hash for in-memory hash tables whose
 * keys come from input (the RDB record store's lookup), so chosen input cannot crowd a bucket. */
uint64_t dr_crypto_shorthash(const uint8_t key[16], const void *msg, size_t len);

/* The libsodium version, for `drrepo version`. */
const char *dr_crypto_version(void);

/* Streaming hashes: dr_crypto_hash_init for BLAKE2b-256, dr_crypto_pack_hash_init for k's
 * pack names (as dr_crypto_pack_hash), computed while a pack is written or read. */
struct dr_hash_state {
    uint8_t opaque[384] __attribute__((aligned(64)));
    bool sha256;
};
void dr_crypto_hash_init(struct dr_hash_state *st);
void dr_crypto_pack_hash_init(const struct dr_keys *k, struct dr_hash_state *st);
void dr_crypto_hash_update(struct dr_hash_state *st, const void *data, size_t len);
void dr_crypto_hash_final(struct dr_hash_state *st, struct dr_id *out);

/* Appends nonce(24) || ciphertext || tag(16) of pt to out, with a fresh random nonce (from the
 * thread's generator, format/crypto.md "Nonces") and ad as
 * associated data, under the encryption subkey. Neither ad nor pt may point into out: growing
 * out may move its buffer. Errors: DR_ECORRUPT (out's max exceeded). */
DR_MUST_CHECK int dr_crypto_seal(const struct dr_keys *k, const void *ad, size_t adlen,
                                 const void *pt, size_t ptlen, struct dr_buf *out);

/* For test vectors only: dr_crypto_seal with the given nonce instead of a random one. Sealing
 * two messages with one nonce under one key destroys confidentiality and authenticity, so
 * nothing but format/vectors tests may call this. Errors as dr_crypto_seal. */
DR_MUST_CHECK int dr_crypto_seal_nonce(const struct dr_keys *k, const uint8_t nonce[DR_NONCE_LEN],
                                       const void *ad, size_t adlen, const void *pt, size_t ptlen,
                                       struct dr_buf *out);

/* dr_crypto_seal without a copy: buf holds DR_NONCE_LEN bytes of room, then the ptlen bytes
 * of plaintext, then DR_TAG_LEN bytes of room; on return it holds the sealed value
 * (DR_AEAD_OVERHEAD + ptlen bytes, the same layout). Errors: DR_EINTERNAL. */
DR_MUST_CHECK int dr_crypto_seal_in_place(const struct dr_keys *k, const void *ad, size_t adlen,
                                          uint8_t *buf, size_t ptlen);

/* For test vectors only: dr_crypto_seal_in_place with the given nonce (NULL: a fresh one, as
 * dr_crypto_seal_in_place); the warning of dr_crypto_seal_nonce applies. */
DR_MUST_CHECK int dr_crypto_seal_in_place_nonce(const struct dr_keys *k,
                                                const uint8_t nonce[DR_NONCE_LEN], const void *ad,
                                                size_t adlen, uint8_t *buf, size_t ptlen);

/* Verifies and decrypts what dr_crypto_seal wrote, appending the plaintext to out.
 * Errors: DR_ECORRUPT (too short, or the tag does not verify: tampered, wrong key or wrong ad).
 * The message does not name the object: callers wrap it. */
DR_MUST_CHECK int dr_crypto_unseal(const struct dr_keys *k, const void *ad, size_t adlen,
                                   const void *ct, size_t ctlen, struct dr_buf *out);

/* Key files (format/crypto.md "Key file"). Version 2 seals created_ns, host and user under the
 * repository's encryption subkey ("details"); version 1 has them in the clear and is still
 * written for repositories of format version 1. */
#define DR_KEYFILE_VERSION 2u
struct dr_keyfile_info {
    uint32_t version;
    uint64_t opslimit, memlimit;
    int64_t created_ns;
    char host[256];
    char user[256];
    bool details_sealed; /* version 2 read without the key: created_ns, host, user unknown */
};

/* Argon2id cost: the defaults are libsodium's "interactive" limits. */
#define DR_KDF_OPSLIMIT_DEFAULT 2ull
#define DR_KDF_MEMLIMIT_DEFAULT (64ull * 1024 * 1024)
/* Upper bounds accepted in key files (format/crypto.md). */
#define DR_KDF_OPSLIMIT_MAX 64ull
#define DR_KDF_MEMLIMIT_MAX (4ull * 1024 * 1024 * 1024)
/* The floor for new key files (format/crypto.md "Limits"): libsodium's interactive limits, as
 * memory (64 MiB) and as work (opslimit x memlimit, 2 passes over 64 MiB), so that fewer passes
 * over more memory (RFC 9106's 1 pass over 2 GiB) still qualify. Below it only with
 * --insecure-kdf (tests). */
#define DR_KDF_MEMLIMIT_FLOOR (64ull * 1024 * 1024)
#define DR_KDF_WORK_FLOOR (2ull * 64 * 1024 * 1024)

/* DR_EUSAGE naming the floor and --insecure-kdf when opslimit/memlimit are below it; else 0. */
DR_MUST_CHECK int dr_kdf_check_floor(uint64_t opslimit, uint64_t memlimit);

/* Opening a repository (format/crypto.md "Opening a repository"). The work of a key file is
 * opslimit x memlimit (byte-passes; at most 64 x 4 GiB within the caps). Key files are tried
 * cheapest first, and one is tried only while the work spent on key files that failed, plus its
 * own, stays within the budget; the first one tried always is. The budget is the larger of
 * DR_KDF_BUDGET_MIN (16 key derivations at the default limits) and DR_KDF_BUDGET_FACTOR times
 * the cheapest key file's work (so that a repository whose keys all cost more still opens with
 * any of several of them). */
#define DR_KDF_BUDGET_MIN (2ull * 1024 * 1024 * 1024)
#define DR_KDF_BUDGET_FACTOR 8ull
static inline uint64_t dr_kdf_work(uint64_t opslimit, uint64_t memlimit)
{
    return opslimit * memlimit;
}
uint64_t dr_kdf_budget(uint64_t cheapest_work);
bool dr_kdf_may_try(uint64_t budget, uint64_t spent, uint64_t work, bool first);

/* What a new key file records besides the wrapped key. */
struct dr_keyfile_params {
    uint32_t version; /* DR_KEYFILE_VERSION, or 1 for a repository of format version 1 */
    uint64_t opslimit, memlimit;
    const char *host, *user; /* NULL: empty; at most 255 bytes each */
    int64_t created_ns;
};

/* Writes a key file that wraps k->master under password into out (appended). The repository
 * id is bound in as associated data, so a key file cannot be moved to another repository; in
 * version 2 the details are sealed under k's encryption subkey. Errors: DR_EUSAGE (empty
 * password, limits out of range, names too long), DR_EINTERNAL (KDF failed: out of memory; an
 * unknown version). */
DR_MUST_CHECK int dr_keyfile_create(const struct dr_keys *k, const struct dr_id *repo_id,
                                    const char *password, size_t pwlen,
                                    const struct dr_keyfile_params *p, struct dr_buf *out);

/* For test vectors only: dr_keyfile_create with the given salt and nonces instead of random
 * ones, so that the output is byte-exact reproducible (details_nonce is unused in version 1).
 * Errors as dr_keyfile_create. */
#define DR_KEYFILE_SALT_LEN 16
DR_MUST_CHECK int
dr_keyfile_create_det(const struct dr_keys *k, const struct dr_id *repo_id, const char *password,
                      size_t pwlen, const struct dr_keyfile_params *p,
                      const uint8_t salt[DR_KEYFILE_SALT_LEN], const uint8_t nonce[DR_NONCE_LEN],
                      const uint8_t details_nonce[DR_NONCE_LEN], struct dr_buf *out);

/* Parses the clear part of a key file (for version 2: without created_ns, host and user, and
 * with details_sealed set). Errors: DR_ECORRUPT (bad magic, lengths), DR_EUNSUPPORTED (newer
 * version). */
DR_MUST_CHECK int dr_keyfile_info(const void *data, size_t len, struct dr_keyfile_info *out);

/* dr_keyfile_info with the details of a version 2 key file opened under k (the repository's
 * keys) and repo_id. Errors: those of dr_keyfile_info, and DR_ECORRUPT when the details do not
 * authenticate: the file was not written with this repository's master key (planted by someone
 * without it), or its bytes changed. Costs no key derivation. */
DR_MUST_CHECK int dr_keyfile_details(const struct dr_keys *k, const struct dr_id *repo_id,
                                     const void *data, size_t len, struct dr_keyfile_info *out);

/* Unwraps the master key. Errors: DR_EAUTH (the password does not open it), DR_ECORRUPT,
 * DR_EUNSUPPORTED, DR_EINTERNAL (KDF out of memory). out_master is written only on success. */
DR_MUST_CHECK int dr_keyfile_open(const void *data, size_t len, const struct dr_id *repo_id,
                                  const char *password, size_t pwlen,
                                  uint8_t out_master[DR_MASTER_KEY_LEN]);

#endif
