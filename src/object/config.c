/* config.c: the repository config object (format/repository.md "Config").
 *
 * The clear part (magic, version, repository id) is readable without a key so that a repository
 * can be recognised, its version refused cleanly, and key files bound to its id. The parameters
 * (chunker, pack size, compression) are sealed: their integrity matters as much as any blob's.
 *
 * From format version 2 the config ends with an unkeyed BLAKE2b-256 of every byte before it.
 * It is verified before any field is interpreted, so that bit rot is told apart from a newer
 * version and from a wrong password, and so that of the two copies (`config`, `copies/config`)
 * a reader can pick an intact one without a key. A version 1 config has no checksum: its clear
 * part is verified only through the sealed body's associated data, once a key is open. */
#include "drrepo/config.h"

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/reader.h"

#define CONFIG_CLEAR_LEN (DR_MAGIC_LEN + 4 + 4 + DR_ID_LEN)
#define CONFIG_BODY_LEN 32
#define CONFIG_SUM_LEN 32
/* The shortest well-formed configs: clear part, a sealed 32-byte body, and for version 2 the
 * checksum. */
#define CONFIG_V1_MIN (CONFIG_CLEAR_LEN + DR_AEAD_OVERHEAD + CONFIG_BODY_LEN)
#define CONFIG_V2_MIN (CONFIG_V1_MIN + CONFIG_SUM_LEN)

int dr_config_encode(const struct dr_keys *k, const struct dr_repo_config *c, const uint8_t *nonce,
                     struct dr_buf *out)
{
    if (c->version < 1 || c->version > DR_REPO_VERSION) {
        return dr_errorf(DR_EINTERNAL, "cannot write a config of format version %u", c->version);
    }
    uint8_t clear[CONFIG_CLEAR_LEN];
    memcpy(clear, DR_MAGIC_CONFIG, DR_MAGIC_LEN);
    dr_put_u32le(clear + 8, c->version);
    dr_put_u32le(clear + 12, 0);
    memcpy(clear + 16, c->repo_id.b, DR_ID_LEN);
    uint8_t body[CONFIG_BODY_LEN];
    dr_put_u32le(body, c->chunker.alg);
    dr_put_u32le(body + 4, c->chunker.min);
    dr_put_u32le(body + 8, c->chunker.avg);
    dr_put_u32le(body + 12, c->chunker.max);
    dr_put_u32le(body + 16, c->pack_size);
    dr_put_u32le(body + 20, (uint32_t)c->zstd_level);
    dr_put_u64le(body + 24, (uint64_t)c->created_ns);
    size_t start = out->len;
    int rc = dr_buf_add(out, clear, sizeof(clear));
    if (rc >= 0) {
        rc = nonce ? dr_crypto_seal_nonce(k, nonce, clear, sizeof(clear), body, sizeof(body), out)
                   : dr_crypto_seal(k, clear, sizeof(clear), body, sizeof(body), out);
    }
    if (rc >= 0 && c->version >= 2) {
        struct dr_id sum;
        dr_crypto_hash(out->buf + start, out->len - start, &sum);
        rc = dr_buf_add(out, sum.b, sizeof(sum.b));
    }
    return rc;
}

/* Bits in which the first 8 bytes of p differ from the config magic. */
static int magic_distance(const uint8_t *p)
{
    int d = 0;
    for (int i = 0; i < DR_MAGIC_LEN; i++) {
        d += __builtin_popcount((unsigned)(p[i] ^ (uint8_t)DR_MAGIC_CONFIG[i]));
    }
    return d;
}

int dr_config_check(const char *name, const uint8_t *p, size_t len, struct dr_repo_config *out)
{
    if (len > DR_CONFIG_MAX) {
        return dr_errorf(DR_ECORRUPT, "config '%s' is damaged: %zu bytes, more than the limit",
                         name, len);
    }
    /* a few flipped bits in the magic is a damaged config, not some other file */
    bool magic_ok = len >= DR_MAGIC_LEN && magic_distance(p) == 0;
    bool magic_near = len >= DR_MAGIC_LEN && magic_distance(p) <= 3;
    bool sum_ok = false;
    if (len >= CONFIG_V2_MIN) {
        struct dr_id sum;
        dr_crypto_hash(p, len - CONFIG_SUM_LEN, &sum);
        sum_ok = memcmp(sum.b, p + len - CONFIG_SUM_LEN, CONFIG_SUM_LEN) == 0;
    }
    if (!magic_ok && !sum_ok) {
        if (magic_near) {
            return dr_errorf(DR_ECORRUPT, "config '%s' is damaged: its magic is wrong", name);
        }
        return dr_errorf(DR_ENOREPO, "'%s' is not a drrepo config (no config magic)", name);
    }
    if (len < CONFIG_V1_MIN) {
        return dr_errorf(DR_ECORRUPT, "config '%s' is damaged: truncated to %zu bytes", name, len);
    }
    uint32_t version = dr_get_u32le(p + 8);
    if (!sum_ok) {
        /* only version 1 has no checksum; any other version read here is a damaged field, not
         * a newer format: every version from 2 on ends with the checksum */
        if (version != 1) {
            return dr_errorf(DR_ECORRUPT,
                             "config '%s' is damaged: its checksum does not match (version "
                             "field %u)",
                             name, version);
        }
        /* A version field of 1 may be a later version with a flipped bit (3 is 1 with bit 1
         * set): when the checksum matches with a later version in its place, it is that. */
        bool later = false;
        for (uint32_t v = 2; v <= DR_REPO_VERSION && !later; v++) {
            uint8_t vf[4];
            struct dr_hash_state st;
            struct dr_id sum;
            dr_put_u32le(vf, v);
            dr_crypto_hash_init(&st);
            dr_crypto_hash_update(&st, p, 8);
            dr_crypto_hash_update(&st, vf, sizeof(vf));
            dr_crypto_hash_update(&st, p + 12, len - CONFIG_SUM_LEN - 12);
            dr_crypto_hash_final(&st, &sum);
            later = memcmp(sum.b, p + len - CONFIG_SUM_LEN, CONFIG_SUM_LEN) == 0;
        }
        if (later) {
            return dr_errorf(DR_ECORRUPT,
                             "config '%s' is damaged: its version field says 1, and its checksum "
                             "is that of a later version",
                             name);
        }
    } else if (!magic_ok || version < 2) {
        /* a matching checksum over a wrong magic or a version that has none: forged */
        return dr_errorf(DR_ECORRUPT, "config '%s' is damaged: invalid magic or version %u", name,
                         version);
    } else if (version > DR_REPO_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED,
                         "config '%s' has format version %u; this drrepo supports versions 1 to "
                         "%u: upgrade drrepo",
                         name, version, DR_REPO_VERSION);
    }
    out->version = version;
    memcpy(out->repo_id.b, p + 16, DR_ID_LEN);
    return 0;
}

int dr_config_decode(const struct dr_keys *k, const char *name, const uint8_t *p, size_t len,
                     struct dr_repo_config *out)
{
    struct dr_repo_config c = {0};
    int rc = dr_config_check(name, p, len, &c);
    if (rc < 0) {
        return rc;
    }
    size_t sealed_len = len - CONFIG_CLEAR_LEN - (c.version >= 2 ? CONFIG_SUM_LEN : 0);
    struct dr_buf body = DR_BUF_INIT(DR_CONFIG_MAX);
    rc = dr_crypto_unseal(k, p, CONFIG_CLEAR_LEN, p + CONFIG_CLEAR_LEN, sealed_len, &body);
    if (rc < 0) {
        /* the key opened a key file bound to this repository id, so the config is damaged (or
         * was replaced), not the password wrong */
        rc = dr_errorf(DR_ECORRUPT, "config '%s' is damaged: its sealed part does not authenticate",
                       name);
        goto out;
    }
    if (body.len < CONFIG_BODY_LEN) {
        rc = dr_errorf(DR_ECORRUPT, "config '%s' is damaged: its body is too short", name);
        goto out;
    }
    const uint8_t *b = (const uint8_t *)body.buf;
    c.chunker.alg = dr_get_u32le(b);
    c.chunker.min = dr_get_u32le(b + 4);
    c.chunker.avg = dr_get_u32le(b + 8);
    c.chunker.max = dr_get_u32le(b + 12);
    c.pack_size = dr_get_u32le(b + 16);
    c.zstd_level = (int32_t)dr_get_u32le(b + 20);
    c.created_ns = (int64_t)dr_get_u64le(b + 24);
    rc = dr_chunker_params_check(&c.chunker);
    if (rc < 0) {
        rc = dr_errorf(DR_ECORRUPT, "config '%s' has invalid chunker parameters", name);
        goto out;
    }
    if (c.pack_size < DR_PACK_SIZE_MIN || c.pack_size > DR_PACK_SIZE_MAX || c.zstd_level < 1 ||
        c.zstd_level > 19) {
        rc = dr_errorf(DR_ECORRUPT, "config '%s' has an invalid pack size or level", name);
        goto out;
    }
    *out = c;
out:
    dr_buf_release(&body);
    return rc;
}
