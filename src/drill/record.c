/* record.c: the drill result objects (format/drill.md): encoding, decoding, storing, listing,
 * and removing those whose snapshot was forgotten. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/drill.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/reader.h"
#include "drrepo/util.h"

#define DRILL_VERSION 1u
#define DRILL_HDR_LEN (DR_MAGIC_LEN + 4 + 4)

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

/* ---- the drill object ---- */

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

static int encode(const struct dr_keys *k, const struct dr_drill_result *res, const char *host,
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

/* Verifies the name, opens and parses a drill object into res (zeroed first). */
static int decode(const struct dr_keys *k, const struct dr_id *id, const uint8_t *p, size_t len,
                  struct dr_drill_result *res)
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

int dr_drill_save(struct dr_repo *r, const struct dr_drill_result *res)
{
    char host[256];
    if (gethostname(host, sizeof(host)) < 0) {
        host[0] = '\0';
    }
    host[sizeof(host) - 1] = '\0';
    struct dr_buf file = DR_BUF_INIT(DRILL_HDR_LEN + DR_DRILL_MAX + DR_AEAD_OVERHEAD);
    struct dr_id id;
    int rc = encode(dr_repo_keys(r), res, host, &file, &id);
    if (rc >= 0) {
        char hex[DR_ID_HEX_LEN + 1];
        char *name = dr_xasprintf("drills/%s", dr_id_hex(&id, hex));
        rc = dr_backend_put(dr_repo_backend(r), name, file.buf, file.len, false);
        if (rc < 0) {
            rc = dr_error_wrap(rc, "cannot store the drill result");
        }
        free(name);
    }
    dr_buf_release(&file);
    return rc;
}

struct drill_names {
    char **v;
    size_t n, alloc;
};

static int list_cb(void *arg, const char *name, uint64_t size)
{
    struct drill_names *dn = arg;
    (void)size;
    DR_GROW(dn->v, dn->alloc, dn->n + 1);
    dn->v[dn->n++] = dr_xstrdup(name);
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct dr_drill_result *x = a, *y = b;
    return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

int dr_drill_list(struct dr_repo *r, const struct dr_id *id, dr_drill_cb cb, void *arg)
{
    struct drill_names dn = {0};
    struct dr_drill_result *v = NULL;
    size_t n = 0, alloc = 0;
    struct dr_buf raw = DR_BUF_INIT(DRILL_HDR_LEN + DR_DRILL_MAX + DR_AEAD_OVERHEAD);
    int rc = dr_backend_list(dr_repo_backend(r), "drills", list_cb, &dn);
    for (size_t i = 0; rc >= 0 && i < dn.n; i++) {
        struct dr_id did;
        const char *base = strrchr(dn.v[i], '/');
        if (!base || dr_id_parse(base + 1, &did) < 0) {
            dr_error_clear();
            continue; /* not a drill object: check reports it */
        }
        dr_buf_reset(&raw);
        struct dr_drill_result res;
        int grc = dr_backend_get(dr_repo_backend(r), dn.v[i], 0, UINT64_MAX, &raw);
        if (grc >= 0) {
            grc = decode(dr_repo_keys(r), &did, (const uint8_t *)raw.buf, raw.len, &res);
        }
        if (grc == DR_ENOENT) {
            dr_error_clear(); /* removed meanwhile */
            continue;
        }
        if (grc < 0) {
            /* one unreadable result must not hide the others */
            dr_log_warn("skipping drill result '%s': %s", dn.v[i], dr_error_msg());
            dr_error_clear();
            continue;
        }
        if (id && !dr_id_eq(id, &res.snapshot)) {
            dr_drill_result_release(&res);
            continue;
        }
        DR_GROW(v, alloc, n + 1);
        v[n++] = res;
    }
    if (n > 1) {
        qsort(v, n, sizeof(*v), by_time);
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = cb(arg, &v[i]);
    }
    for (size_t i = 0; i < n; i++) {
        dr_drill_result_release(&v[i]);
    }
    free(v);
    for (size_t i = 0; i < dn.n; i++) {
        free(dn.v[i]);
    }
    free(dn.v);
    dr_buf_release(&raw);
    return rc;
}

int dr_drill_prune(struct dr_repo *r)
{
    struct drill_names dn = {0};
    struct dr_buf raw = DR_BUF_INIT(DRILL_HDR_LEN + DR_DRILL_MAX + DR_AEAD_OVERHEAD);
    int removed = 0;
    int rc = dr_backend_list(dr_repo_backend(r), "drills", list_cb, &dn);
    for (size_t i = 0; rc >= 0 && i < dn.n; i++) {
        struct dr_id did;
        const char *base = strrchr(dn.v[i], '/');
        if (!base || dr_id_parse(base + 1, &did) < 0) {
            dr_error_clear();
            continue;
        }
        dr_buf_reset(&raw);
        struct dr_drill_result res;
        int grc = dr_backend_get(dr_repo_backend(r), dn.v[i], 0, UINT64_MAX, &raw);
        if (grc >= 0) {
            grc = decode(dr_repo_keys(r), &did, (const uint8_t *)raw.buf, raw.len, &res);
        }
        if (grc < 0) {
            dr_error_clear(); /* removed meanwhile, or unreadable: check reports it */
            continue;
        }
        char hex[DR_ID_HEX_LEN + 1];
        char *snap = dr_xasprintf("snapshots/%s", dr_id_hex(&res.snapshot, hex));
        uint64_t size;
        int src = dr_backend_stat(dr_repo_backend(r), snap, &size);
        free(snap);
        dr_drill_result_release(&res);
        if (src == DR_ENOENT) {
            dr_error_clear();
            rc = dr_backend_delete(dr_repo_backend(r), dn.v[i]);
            if (rc == DR_ENOENT) {
                dr_error_clear();
                rc = 0;
            } else if (rc >= 0) {
                removed++;
            }
        } else if (src < 0) {
            rc = src;
        }
    }
    for (size_t i = 0; i < dn.n; i++) {
        free(dn.v[i]);
    }
    free(dn.v);
    dr_buf_release(&raw);
    return rc < 0 ? rc : removed;
}
