/* keyfile.c: key files, which wrap the repository master key under a password.
 *
 * Layouts (format/crypto.md, all integers little-endian):
 *   version 1: magic "DRREPKEY" | version u32 | kdf u32 | opslimit u64 | memlimit u64 |
 *              salt[16] | created_ns i64 | host_len u16 | host | user_len u16 | user |
 *              nonce[24] | ct[32] | tag[16]
 *   version 2: magic | version | kdf | opslimit | memlimit | salt[16] | details_len u16 |
 *              nonce[24] | ct[32] | tag[16] | details: nonce[24] | ct[12 + H + U] | tag[16]
 * The wrapping key is Argon2id(password, salt, opslimit, memlimit); the associated data of the
 * wrapped master key is the repository id followed by every byte before its nonce, so neither
 * the clear header nor the repository binding can be changed without the tag failing.
 * Version 2 moves the informative fields (creation time, host and user names) into "details"
 * sealed under the repository's encryption subkey, so the storage no longer shows who added a
 * key where; whoever holds the master key (key list, check) reads them, and a key file written
 * by someone without the master key fails to open them. The clear header is parsed strictly
 * before anything expensive runs: a hostile file is rejected before Argon2. */
#include "drrepo/crypto.h"

#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/reader.h"

#define KF_KDF_ARGON2ID13 1u
#define KF_STR_MAX 255u
/* Version 1: fixed bytes before the host string, and the fixed bytes of the whole file. */
#define KF1_FIXED_HEAD (DR_MAGIC_LEN + 4 + 4 + 8 + 8 + DR_KEYFILE_SALT_LEN + 8 + 2)
#define KF1_FIXED_LEN (KF1_FIXED_HEAD + 2 + DR_NONCE_LEN + DR_MASTER_KEY_LEN + DR_TAG_LEN)
/* Version 2: the clear header (bound to the wrapped key), the file up to the details, and the
 * details plaintext without the names. */
#define KF2_HEAD (DR_MAGIC_LEN + 4 + 4 + 8 + 8 + DR_KEYFILE_SALT_LEN + 2)
#define KF2_DETAILS_OFF (KF2_HEAD + DR_NONCE_LEN + DR_MASTER_KEY_LEN + DR_TAG_LEN)
#define KF2_DETAILS_FIXED (8 + 2 + 2)
#define KF2_MIN_LEN (KF2_DETAILS_OFF + DR_AEAD_OVERHEAD + KF2_DETAILS_FIXED)
#define KF2_MAX_LEN (KF2_MIN_LEN + 2 * KF_STR_MAX)
/* Associated data: repo id plus the longest part of a file that is bound by a tag. */
#define KF_AD_MAX (DR_ID_LEN + KF1_FIXED_HEAD + 2 + 2 * KF_STR_MAX)

_Static_assert(KF1_FIXED_LEN + 2 * KF_STR_MAX <= DR_KEYFILE_MAX, "key file limit");
_Static_assert(KF2_MAX_LEN <= DR_KEYFILE_MAX, "key file limit");
_Static_assert(KF2_DETAILS_OFF + DR_ID_LEN <= KF_AD_MAX, "associated data");
_Static_assert(DR_KEYFILE_SALT_LEN == crypto_pwhash_SALTBYTES, "salt length");

/* The parsed clear part, borrowing the caller's bytes. */
struct kf_parsed {
    struct dr_keyfile_info info;
    const uint8_t *salt;
    size_t head_len; /* bytes before the nonce: the part bound as associated data */
    const uint8_t *nonce;
    const uint8_t *sealed; /* ciphertext || tag */
    size_t details_off;    /* version 2: offset of the sealed details; 0 for version 1 */
};

/* drrepo's own upper bounds, far below libsodium's (2^32 passes, 4 TiB): anyone who can write
 * into keys/ must not be able to make every open run for days or allocate terabytes. */
static bool limits_ok(uint64_t opslimit, uint64_t memlimit)
{
    return opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN && opslimit <= DR_KDF_OPSLIMIT_MAX &&
           memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN && memlimit <= DR_KDF_MEMLIMIT_MAX;
}

int dr_kdf_check_floor(uint64_t opslimit, uint64_t memlimit)
{
    /* the product cannot overflow within the caps; beyond them dr_keyfile_create refuses */
    if (memlimit >= DR_KDF_MEMLIMIT_FLOOR && opslimit <= DR_KDF_OPSLIMIT_MAX &&
        opslimit * memlimit >= DR_KDF_WORK_FLOOR) {
        return 0;
    }
    return dr_errorf(DR_EUSAGE,
                     "argon2id limits of %llu passes over %llu KiB are below the floor (at least "
                     "64 MiB of memory and the work of 2 passes over 64 MiB, libsodium's "
                     "interactive limits); --insecure-kdf allows them, for tests only",
                     (unsigned long long)opslimit, (unsigned long long)(memlimit / 1024));
}

uint64_t dr_kdf_budget(uint64_t cheapest_work)
{
    uint64_t b;
    if (__builtin_mul_overflow(cheapest_work, DR_KDF_BUDGET_FACTOR, &b)) {
        b = UINT64_MAX;
    }
    return b > DR_KDF_BUDGET_MIN ? b : DR_KDF_BUDGET_MIN;
}

bool dr_kdf_may_try(uint64_t budget, uint64_t spent, uint64_t work, bool first)
{
    uint64_t total;
    return first || (!__builtin_add_overflow(spent, work, &total) && total <= budget);
}

/* Reads a u16-length-prefixed string of at most KF_STR_MAX bytes into dst (NUL-terminated).
 * Returns false on a bad length or an embedded NUL; truncation is left to the reader. */
static bool read_str(struct dr_reader *r, char dst[KF_STR_MAX + 1])
{
    uint16_t n = dr_rd_u16le(r);
    if (n > KF_STR_MAX) {
        dr_rd_fail(r);
        return false;
    }
    const uint8_t *p = dr_rd_bytes(r, n);
    if (!p) {
        dst[0] = '\0';
        return true;
    }
    if (memchr(p, 0, n)) {
        return false;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
    return true;
}

/* The fields after the version: the same up to the salt in both versions. */
static int parse_rest(struct dr_reader *r, size_t len, struct kf_parsed *kp)
{
    uint32_t kdf = dr_rd_u32le(r);
    kp->info.opslimit = dr_rd_u64le(r);
    kp->info.memlimit = dr_rd_u64le(r);
    kp->salt = dr_rd_bytes(r, DR_KEYFILE_SALT_LEN);
    bool host_ok = true, user_ok = true;
    size_t details_len = 0;
    if (kp->info.version == 1) {
        kp->info.created_ns = (int64_t)dr_rd_u64le(r);
        host_ok = read_str(r, kp->info.host);
        user_ok = read_str(r, kp->info.user);
    } else {
        details_len = dr_rd_u16le(r);
        kp->info.details_sealed = true;
    }
    kp->head_len = r->pos;
    kp->nonce = dr_rd_bytes(r, DR_NONCE_LEN);
    kp->sealed = dr_rd_bytes(r, DR_MASTER_KEY_LEN + DR_TAG_LEN);
    if (kp->info.version >= 2) {
        /* the details' length is in the header, bound by the wrapped key's tag, so that a
         * truncated or extended file is corrupt before any key is used */
        kp->details_off = r->pos;
        if (details_len < KF2_MIN_LEN - KF2_DETAILS_OFF ||
            details_len > KF2_MAX_LEN - KF2_DETAILS_OFF) {
            dr_rd_fail(r);
        } else {
            (void)dr_rd_bytes(r, details_len);
        }
    }
    if (!dr_rd_ok(r)) {
        return dr_errorf(DR_ECORRUPT, "key file truncated or has a bad length (%zu bytes)", len);
    }
    if (dr_rd_left(r) != 0) {
        return dr_errorf(DR_ECORRUPT, "key file has %zu trailing bytes", dr_rd_left(r));
    }
    if (kdf != KF_KDF_ARGON2ID13) {
        return dr_errorf(DR_ECORRUPT, "key file names unknown kdf %u", kdf);
    }
    if (!limits_ok(kp->info.opslimit, kp->info.memlimit)) {
        return dr_errorf(DR_ECORRUPT, "key file kdf limits out of range (ops %llu, mem %llu)",
                         (unsigned long long)kp->info.opslimit,
                         (unsigned long long)kp->info.memlimit);
    }
    if (!host_ok || !user_ok) {
        return dr_errorf(DR_ECORRUPT, "key file host or user name contains a NUL byte");
    }
    return 0;
}

static int parse(const uint8_t *data, size_t len, struct kf_parsed *out)
{
    struct dr_reader r;
    struct kf_parsed kp = {0};

    if (len > DR_KEYFILE_MAX) {
        return dr_errorf(DR_ECORRUPT, "key file is %zu bytes, more than the limit of %u", len,
                         DR_KEYFILE_MAX);
    }
    dr_rd_init(&r, data, len);
    const uint8_t *magic = dr_rd_bytes(&r, DR_MAGIC_LEN);
    if (!magic || memcmp(magic, DR_MAGIC_KEY, DR_MAGIC_LEN) != 0) {
        return dr_errorf(DR_ECORRUPT, "not a key file (bad magic)");
    }
    /* The version decides the layout of everything after it, so it is judged before any other
     * field: a newer file is "unsupported", not "corrupt", whatever follows. */
    kp.info.version = dr_rd_u32le(&r);
    if (!dr_rd_ok(&r)) {
        return dr_errorf(DR_ECORRUPT, "key file truncated in its header");
    }
    if (kp.info.version > DR_KEYFILE_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED,
                         "key file version %u is newer than this drrepo supports (%u)",
                         kp.info.version, DR_KEYFILE_VERSION);
    }
    if (kp.info.version == 0) {
        return dr_errorf(DR_ECORRUPT, "key file version 0 is invalid");
    }
    int rc = parse_rest(&r, len, &kp);
    if (rc < 0) {
        return rc;
    }
    *out = kp;
    return 0;
}

/* Derives the 32-byte wrapping key into wk (sodium_malloc'd by the caller). */
static int wrapping_key(uint8_t *wk, const char *password, size_t pwlen, const uint8_t *salt,
                        uint64_t opslimit, uint64_t memlimit)
{
    if (crypto_pwhash(wk, 32, password, pwlen, salt, opslimit, (size_t)memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return dr_errorf(DR_EINTERNAL,
                         "argon2id key derivation failed (out of memory for "
                         "%llu bytes?)",
                         (unsigned long long)memlimit);
    }
    return 0;
}

static uint8_t *secret_alloc(size_t n)
{
    uint8_t *p = sodium_malloc(n);
    if (!p) {
        fprintf(stderr, "drrepo: fatal: out of memory allocating key storage\n");
        abort();
    }
    return p;
}

/* Appends a u16 length and the bytes of s to h at *pos. */
static void put_str(uint8_t *h, size_t *pos, const char *s, size_t n)
{
    dr_put_u16le(h + *pos, (uint16_t)n);
    *pos += 2;
    memcpy(h + *pos, s, n);
    *pos += n;
}

int dr_keyfile_create_det(const struct dr_keys *k, const struct dr_id *repo_id,
                          const char *password, size_t pwlen, const struct dr_keyfile_params *p,
                          const uint8_t salt[DR_KEYFILE_SALT_LEN],
                          const uint8_t nonce[DR_NONCE_LEN],
                          const uint8_t details_nonce[DR_NONCE_LEN], struct dr_buf *out)
{
    uint8_t ad[KF_AD_MAX];
    uint8_t details[KF2_DETAILS_FIXED + 2 * KF_STR_MAX];
    uint8_t *wk = NULL;
    int rc;

    const char *host = p->host ? p->host : "";
    const char *user = p->user ? p->user : "";
    size_t hlen = strlen(host);
    size_t ulen = strlen(user);

    if (p->version < 1 || p->version > DR_KEYFILE_VERSION) {
        return dr_errorf(DR_EINTERNAL, "cannot write a key file of version %u", p->version);
    }
    if (!password || pwlen == 0) {
        return dr_errorf(DR_EUSAGE, "empty password is not allowed");
    }
    if (!limits_ok(p->opslimit, p->memlimit)) {
        return dr_errorf(DR_EUSAGE,
                         "argon2id limits out of range (ops %llu in %llu..%llu, mem %llu in "
                         "%llu..%llu)",
                         (unsigned long long)p->opslimit,
                         (unsigned long long)crypto_pwhash_argon2id_OPSLIMIT_MIN,
                         (unsigned long long)DR_KDF_OPSLIMIT_MAX, (unsigned long long)p->memlimit,
                         (unsigned long long)crypto_pwhash_argon2id_MEMLIMIT_MIN,
                         (unsigned long long)DR_KDF_MEMLIMIT_MAX);
    }
    if (hlen > KF_STR_MAX || ulen > KF_STR_MAX) {
        return dr_errorf(DR_EUSAGE, "host and user names are limited to %u bytes", KF_STR_MAX);
    }

    /* The clear header goes straight into the associated-data buffer after the repo id; the
     * file is then that header, the nonce and the sealed master key, and in version 2 the
     * sealed details. */
    uint8_t *h = ad + DR_ID_LEN;
    size_t pos = 0, dlen = 0;
    memcpy(ad, repo_id->b, DR_ID_LEN);
    memcpy(h + pos, DR_MAGIC_KEY, DR_MAGIC_LEN);
    pos += DR_MAGIC_LEN;
    dr_put_u32le(h + pos, p->version);
    pos += 4;
    dr_put_u32le(h + pos, KF_KDF_ARGON2ID13);
    pos += 4;
    dr_put_u64le(h + pos, p->opslimit);
    pos += 8;
    dr_put_u64le(h + pos, p->memlimit);
    pos += 8;
    memcpy(h + pos, salt, DR_KEYFILE_SALT_LEN);
    pos += DR_KEYFILE_SALT_LEN;
    if (p->version == 1) {
        dr_put_u64le(h + pos, (uint64_t)p->created_ns);
        pos += 8;
        put_str(h, &pos, host, hlen);
        put_str(h, &pos, user, ulen);
    } else {
        dr_put_u64le(details, (uint64_t)p->created_ns);
        dlen = 8;
        put_str(details, &dlen, host, hlen);
        put_str(details, &dlen, user, ulen);
        dr_put_u16le(h + pos, (uint16_t)(dlen + DR_AEAD_OVERHEAD));
        pos += 2;
    }

    size_t start = out->len;
    size_t total = pos + DR_NONCE_LEN + DR_MASTER_KEY_LEN + DR_TAG_LEN;
    rc = dr_buf_grow(out, total);
    if (rc < 0) {
        goto out;
    }
    wk = secret_alloc(32);
    rc = wrapping_key(wk, password, pwlen, salt, p->opslimit, p->memlimit);
    if (rc < 0) {
        goto out;
    }
    uint8_t *dst = (uint8_t *)out->buf + out->len;
    unsigned long long clen = 0;
    memcpy(dst, h, pos);
    memcpy(dst + pos, nonce, DR_NONCE_LEN);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(dst + pos + DR_NONCE_LEN, &clen, k->master,
                                                   DR_MASTER_KEY_LEN, ad, DR_ID_LEN + pos, NULL,
                                                   nonce, wk) != 0) {
        rc = dr_errorf(DR_EINTERNAL, "xchacha20poly1305 encryption failed");
        goto out;
    }
    dr_buf_setlen(out, out->len + total);
    if (p->version >= 2) {
        /* the details' associated data: the repository id and the whole file before them */
        memcpy(ad + DR_ID_LEN, out->buf + start, total);
        rc = dr_crypto_seal_nonce(k, details_nonce, ad, DR_ID_LEN + total, details, dlen, out);
        if (rc < 0) {
            dr_buf_setlen(out, start);
            goto out;
        }
    }
    rc = 0;
out:
    sodium_memzero(details, sizeof(details));
    sodium_free(wk);
    return rc;
}

int dr_keyfile_create(const struct dr_keys *k, const struct dr_id *repo_id, const char *password,
                      size_t pwlen, const struct dr_keyfile_params *p, struct dr_buf *out)
{
    uint8_t salt[DR_KEYFILE_SALT_LEN];
    uint8_t nonce[DR_NONCE_LEN], details_nonce[DR_NONCE_LEN];
    randombytes_buf(salt, sizeof(salt));
    randombytes_buf(nonce, sizeof(nonce));
    randombytes_buf(details_nonce, sizeof(details_nonce));
    return dr_keyfile_create_det(k, repo_id, password, pwlen, p, salt, nonce, details_nonce, out);
}

int dr_keyfile_info(const void *data, size_t len, struct dr_keyfile_info *out)
{
    struct kf_parsed kp;
    int rc = parse(data, len, &kp);
    if (rc < 0) {
        return rc;
    }
    *out = kp.info;
    return 0;
}

int dr_keyfile_details(const struct dr_keys *k, const struct dr_id *repo_id, const void *data,
                       size_t len, struct dr_keyfile_info *out)
{
    struct kf_parsed kp;
    uint8_t ad[KF_AD_MAX];
    struct dr_buf pt = DR_BUF_INIT(KF2_DETAILS_FIXED + 2 * KF_STR_MAX);
    int rc = parse(data, len, &kp);
    if (rc < 0 || kp.info.version < 2) {
        goto done;
    }
    memcpy(ad, repo_id->b, DR_ID_LEN);
    memcpy(ad + DR_ID_LEN, data, kp.details_off);
    rc = dr_crypto_unseal(k, ad, DR_ID_LEN + kp.details_off, (const uint8_t *)data + kp.details_off,
                          len - kp.details_off, &pt);
    if (rc < 0) {
        rc = dr_errorf(DR_ECORRUPT, "key file details do not authenticate: it was not written "
                                    "with this repository's key");
        goto done;
    }
    struct dr_reader r;
    dr_rd_init(&r, pt.buf, pt.len);
    kp.info.created_ns = (int64_t)dr_rd_u64le(&r);
    bool names_ok = read_str(&r, kp.info.host) && read_str(&r, kp.info.user);
    if (!dr_rd_ok(&r) || dr_rd_left(&r) != 0 || !names_ok) {
        rc = dr_errorf(DR_ECORRUPT, "key file details have a bad layout");
        goto done;
    }
    kp.info.details_sealed = false;
done:
    dr_buf_release(&pt);
    if (rc >= 0) {
        *out = kp.info;
    }
    return rc;
}

int dr_keyfile_open(const void *data, size_t len, const struct dr_id *repo_id, const char *password,
                    size_t pwlen, uint8_t out_master[DR_MASTER_KEY_LEN])
{
    struct kf_parsed kp;
    uint8_t ad[KF_AD_MAX];
    uint8_t *wk = NULL;
    uint8_t *master = NULL;
    unsigned long long mlen = 0;

    int rc = parse(data, len, &kp);
    if (rc < 0) {
        return rc;
    }
    if (!password || pwlen == 0) {
        return dr_errorf(DR_EAUTH, "wrong password: an empty password opens no key file");
    }
    wk = secret_alloc(32);
    master = secret_alloc(DR_MASTER_KEY_LEN);
    rc = wrapping_key(wk, password, pwlen, kp.salt, kp.info.opslimit, kp.info.memlimit);
    if (rc < 0) {
        goto out;
    }
    memcpy(ad, repo_id->b, DR_ID_LEN);
    memcpy(ad + DR_ID_LEN, data, kp.head_len);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(master, &mlen, NULL, kp.sealed,
                                                   DR_MASTER_KEY_LEN + DR_TAG_LEN, ad,
                                                   DR_ID_LEN + kp.head_len, kp.nonce, wk) != 0) {
        /* One tag covers the password, the repository binding and every header byte; they
         * cannot be told apart, and a wrong password is by far the likeliest (a damaged file
         * does not hash to its name, which the caller checks first). */
        rc = dr_errorf(DR_EAUTH, "wrong password, or the key file belongs to another "
                                 "repository or is damaged");
        goto out;
    }
    memcpy(out_master, master, DR_MASTER_KEY_LEN);
    rc = 0;
out:
    sodium_free(master);
    sodium_free(wk);
    return rc;
}
