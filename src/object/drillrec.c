/* drillrec.c: the drill result object (see drillrec.h, format/drill.md). */
#include "drrepo/drillrec.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/reader.h"
#include "drrepo/util.h"

#define DRILL_VERSION 1u
#define DRILL_HDR_LEN DR_DRILLREC_HDR_LEN

enum drill_tag {
    TAG_SNAPSHOT = 1,
    TAG_TIME = 2,
    TAG_DURATION = 3,
    TAG_RTO = 4,
    TAG_OK = 5,
    TAG_KIND = 6,
    TAG_CHECKED = 7,
    TAG_REASON = 8,
    TAG_HOST = 9,
    TAG_KNOWN_MAX = 9,
};

void dr_drill_result_release(struct dr_drill_result *res)
{
    free(res->kind);
    free(res->checked);
    free(res->reason);
    memset(res, 0, sizeof(*res));
}

static int add_field(struct dr_buf *b, uint16_t tag, const void *v, size_t len)
{
    int rc = dr_buf_add_u16le(b, tag);
    rc = rc < 0 ? rc : dr_buf_add_u32le(b, (uint32_t)len);
    return rc < 0 ? rc : dr_buf_add(b, v, len);
}

static int add_i64(struct dr_buf *b, uint16_t tag, int64_t v)
{
    uint8_t t[8];
    dr_put_u64le(t, (uint64_t)v);
    return add_field(b, tag, t, sizeof(t));
}

static int add_str(struct dr_buf *b, uint16_t tag, const char *s)
{
    if (!s || !s[0]) {
        return 0;
    }
    /* a reason can quote a long server log: cut it rather than fail to record the drill */
    size_t n = DR_MIN(strlen(s), (size_t)DR_STRING_MAX);
    return add_field(b, tag, s, n);
}

int dr_drillrec_encode(const struct dr_keys *k, const struct dr_drill_result *res, const char *host,
                       struct dr_buf *out, struct dr_id *out_id)
{
    struct dr_buf body = DR_BUF_INIT(DR_DRILL_MAX);
    uint8_t ok = res->ok ? 1 : 0;
    int rc = add_field(&body, TAG_SNAPSHOT, res->snapshot.b, DR_ID_LEN);
    rc = rc < 0 ? rc : add_i64(&body, TAG_TIME, res->time_ns);
    rc = rc < 0 ? rc : add_i64(&body, TAG_DURATION, res->duration_ns);
    rc = rc < 0 ? rc : add_i64(&body, TAG_RTO, res->rto_ns);
    rc = rc < 0 ? rc : add_field(&body, TAG_OK, &ok, 1);
    rc = rc < 0 ? rc : add_str(&body, TAG_KIND, res->kind);
    rc = rc < 0 ? rc : add_str(&body, TAG_CHECKED, res->checked);
    rc = rc < 0 ? rc : add_str(&body, TAG_REASON, res->reason);
    rc = rc < 0 ? rc : add_str(&body, TAG_HOST, host);
    if (rc < 0) {
        dr_buf_release(&body);
        return dr_errorf(DR_EUSAGE, "drill result is larger than %u bytes", DR_DRILL_MAX);
    }
    uint8_t hdr[DRILL_HDR_LEN];
    memcpy(hdr, DR_MAGIC_DRILL, DR_MAGIC_LEN);
    dr_put_u32le(hdr + DR_MAGIC_LEN, DRILL_VERSION);
    dr_put_u32le(hdr + DR_MAGIC_LEN + 4, 0);
    size_t start = out->len;
    rc = dr_buf_add(out, hdr, sizeof(hdr));
    rc = rc < 0 ? rc : dr_crypto_seal(k, hdr, sizeof(hdr), body.buf, body.len, out);
    if (rc >= 0) {
        dr_crypto_hash(out->buf + start, out->len - start, out_id);
    }
    dr_buf_release(&body);
    return rc;
}

#define CORRUPT(hex, fmt, ...) dr_errorf(DR_ECORRUPT, "drill %s: " fmt, (hex), ##__VA_ARGS__)

static int dec_str(const char *hex, const uint8_t *v, size_t len, char **out)
{
    if (len > DR_STRING_MAX || memchr(v, '\0', len)) {
        return CORRUPT(hex, "string field is over %u bytes or contains NUL", DR_STRING_MAX);
    }
    free(*out);
    *out = dr_xstrndup((const char *)v, len);
    return 0;
}

int dr_drillrec_decode(const struct dr_keys *k, const struct dr_id *id, const uint8_t *p,
                       size_t len, struct dr_drill_result *res)
{
    char hex[DR_ID_HEX_LEN + 1];
    struct dr_id got;
    dr_id_hex(id, hex);
    dr_crypto_hash(p, len, &got);
    if (!dr_id_eq(&got, id)) {
        return CORRUPT(hex, "content does not match its name");
    }
    if (len < DRILL_HDR_LEN || memcmp(p, DR_MAGIC_DRILL, DR_MAGIC_LEN) != 0) {
        return CORRUPT(hex, "bad magic");
    }
    uint32_t version = dr_get_u32le(p + DR_MAGIC_LEN);
    if (version > DRILL_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED, "drill %s: version %u is newer than supported (%u)", hex,
                         version, DRILL_VERSION);
    }
    if (version != DRILL_VERSION || dr_get_u32le(p + DR_MAGIC_LEN + 4) != 0) {
        return CORRUPT(hex, "invalid version or reserved field");
    }
    if (len - DRILL_HDR_LEN > (size_t)DR_DRILL_MAX + DR_AEAD_OVERHEAD) {
        return CORRUPT(hex, "file is %zu bytes, more than the limit", len);
    }
    struct dr_buf body = DR_BUF_INIT(DR_DRILL_MAX);
    struct dr_drill_result r;
    memset(&r, 0, sizeof(r));
    unsigned seen = 0;
    int rc = dr_crypto_unseal(k, p, DRILL_HDR_LEN, p + DRILL_HDR_LEN, len - DRILL_HDR_LEN, &body);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "drill %s: cannot open (wrong key or tampered)", hex);
        goto out;
    }
    struct dr_reader rd;
    dr_rd_init(&rd, (const uint8_t *)body.buf, body.len);
    while (rc >= 0 && dr_rd_left(&rd) > 0) {
        uint16_t tag = dr_rd_u16le(&rd);
        uint32_t flen = dr_rd_u32le(&rd);
        if (!dr_rd_ok(&rd) || flen > dr_rd_left(&rd)) {
            rc = CORRUPT(hex, "field with tag %u overruns the body", tag);
            break;
        }
        const uint8_t *v = dr_rd_bytes(&rd, flen);
        if (tag == 0 || tag > TAG_KNOWN_MAX) {
            continue; /* a field from a newer writer */
        }
        if (seen & (1u << tag)) {
            rc = CORRUPT(hex, "field %u appears twice", tag);
            break;
        }
        seen |= 1u << tag;
        bool fixed8 = tag == TAG_TIME || tag == TAG_DURATION || tag == TAG_RTO;
        if ((tag == TAG_SNAPSHOT && flen != DR_ID_LEN) || (fixed8 && flen != 8) ||
            (tag == TAG_OK && (flen != 1 || v[0] > 1))) {
            rc = CORRUPT(hex, "field %u has a bad value", tag);
            break;
        }
        switch (tag) {
        case TAG_SNAPSHOT: memcpy(r.snapshot.b, v, DR_ID_LEN); break;
        case TAG_TIME: r.time_ns = (int64_t)dr_get_u64le(v); break;
        case TAG_DURATION: r.duration_ns = (int64_t)dr_get_u64le(v); break;
        case TAG_RTO: r.rto_ns = (int64_t)dr_get_u64le(v); break;
        case TAG_OK: r.ok = v[0] == 1; break;
        case TAG_KIND: rc = dec_str(hex, v, flen, &r.kind); break;
        case TAG_CHECKED: rc = dec_str(hex, v, flen, &r.checked); break;
        case TAG_REASON: rc = dec_str(hex, v, flen, &r.reason); break;
        default: break; /* host: recorded for people reading the object, not used here */
        }
    }
    const unsigned required = (1u << TAG_SNAPSHOT) | (1u << TAG_TIME) | (1u << TAG_OK);
    if (rc >= 0 && (seen & required) != required) {
        rc = CORRUPT(hex, "a required field (snapshot, time, ok) is missing");
    }
    if (rc >= 0) {
        if (!r.kind) {
            r.kind = dr_xstrdup("");
        }
        if (!r.checked) {
            r.checked = dr_xstrdup("");
        }
        *res = r;
        memset(&r, 0, sizeof(r));
    }
out:
    dr_drill_result_release(&r);
    dr_buf_release(&body);
    return rc;
}
