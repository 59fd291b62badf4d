/* config.c: the repository config object (format/repository.md "Config").
 *
 * The clear part (magic, version, repository id) is readable without a key so that a repository
 * can be recognised, its version refused cleanly, and key files bound to its id. The parameters
 * (chunker, pack size, compression) are sealed: their integrity matters as much as any blob's. */
#include "repo_int.h"

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/reader.h"

#define CONFIG_CLEAR_LEN (DR_MAGIC_LEN + 4 + 4 + DR_ID_LEN)
#define CONFIG_BODY_LEN 32

int dr_config_encode(const struct dr_keys *k, const struct dr_repo_config *c, struct dr_buf *out)
{
    uint8_t clear[CONFIG_CLEAR_LEN];
    memcpy(clear, DR_MAGIC_CONFIG, DR_MAGIC_LEN);
    dr_put_u32le(clear + 8, DR_FORMAT_VERSION);
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
    int rc = dr_buf_add(out, clear, sizeof(clear));
    if (rc < 0) {
        return rc;
    }
    return dr_crypto_seal(k, clear, sizeof(clear), body, sizeof(body), out);
}

int dr_config_parse_clear(const char *where, const uint8_t *p, size_t len,
                          struct dr_repo_config *out)
{
    struct dr_reader r;
    dr_rd_init(&r, p, len);
    const uint8_t *magic = dr_rd_bytes(&r, DR_MAGIC_LEN);
    uint32_t version = dr_rd_u32le(&r);
    (void)dr_rd_u32le(&r);
    struct dr_id id;
    dr_rd_copy(&r, id.b, DR_ID_LEN);
    if (!dr_rd_ok(&r) || memcmp(magic, DR_MAGIC_CONFIG, DR_MAGIC_LEN) != 0) {
        return dr_errorf(DR_ENOREPO, "'%s' is not a drrepo repository (no valid config)", where);
    }
    if (version > DR_FORMAT_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED,
                         "repository '%s' has format version %u; this drrepo supports "
                         "version %u: upgrade drrepo",
                         where, version, DR_FORMAT_VERSION);
    }
    if (version == 0) {
        return dr_errorf(DR_ECORRUPT, "repository '%s': config has invalid version 0", where);
    }
    out->version = version;
    out->repo_id = id;
    return 0;
}

int dr_config_decode(const struct dr_keys *k, const char *where, const uint8_t *p, size_t len,
                     struct dr_repo_config *out)
{
    struct dr_repo_config c = {0};
    if (len > DR_CONFIG_MAX) {
        return dr_errorf(DR_ECORRUPT, "repository '%s': config is too large", where);
    }
    int rc = dr_config_parse_clear(where, p, len, &c);
    if (rc < 0) {
        return rc;
    }
    struct dr_buf body = DR_BUF_INIT(DR_CONFIG_MAX);
    rc =
        dr_crypto_open(k, p, CONFIG_CLEAR_LEN, p + CONFIG_CLEAR_LEN, len - CONFIG_CLEAR_LEN, &body);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "repository '%s': config", where);
        goto out;
    }
    if (body.len < CONFIG_BODY_LEN) {
        rc = dr_errorf(DR_ECORRUPT, "repository '%s': config body is too short", where);
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
        rc =
            dr_errorf(DR_ECORRUPT, "repository '%s': config has invalid chunker parameters", where);
        goto out;
    }
    if (c.pack_size < DR_PACK_SIZE_MIN || c.pack_size > DR_PACK_SIZE_MAX || c.zstd_level < 1 ||
        c.zstd_level > 19) {
        rc =
            dr_errorf(DR_ECORRUPT, "repository '%s': config has invalid pack size or level", where);
        goto out;
    }
    *out = c;
out:
    dr_buf_release(&body);
    return rc;
}
