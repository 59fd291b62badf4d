/* snapshot.c: encoding, sealing, opening and parsing of snapshot objects (format/snapshot.md).
 * A pure codec: no I/O.
 *
 * A snapshot file is a 16-byte clear header (magic, version, reserved) followed by the sealed
 * body, with the header as associated data so that it cannot be swapped. Its name is the hash
 * of the whole file, so decoding starts by checking the bytes against the name: bit rot is
 * reported as such, before the key is even tried. The body is a list of tagged fields written
 * in tag order, so that the same snapshot and nonce always give the same bytes, and readers
 * skip tags they do not know, so that fields can be added without a version change. */
#include "drrepo/snapshot.h"

#include <stdlib.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/reader.h"

#define SNAP_VERSION 1u
#define SNAP_HDR_LEN (DR_MAGIC_LEN + 4 + 4)
#define FIELD_HDR_LEN 6
#define SUMMARY_LEN 80

enum snap_tag {
    TAG_TIME = 1,
    TAG_HOST = 2,
    TAG_USER = 3,
    TAG_TAG = 4,
    TAG_PATH = 5,
    TAG_TREE = 6,
    TAG_PARENT = 7,
    TAG_SOURCE = 8,
    TAG_SUMMARY = 9,
    TAG_META = 10,
    TAG_ORIGINAL = 11,
    TAG_KNOWN_MAX = 11,
};

static const char *const tag_names[] = {
    [TAG_TIME] = "time",     [TAG_HOST] = "host",         [TAG_USER] = "user",
    [TAG_TAG] = "tag",       [TAG_PATH] = "path",         [TAG_TREE] = "tree",
    [TAG_PARENT] = "parent", [TAG_SOURCE] = "source",     [TAG_SUMMARY] = "summary",
    [TAG_META] = "meta",     [TAG_ORIGINAL] = "original",
};

void dr_snapshot_init(struct dr_snapshot *s)
{
    memset(s, 0, sizeof(*s));
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

void dr_snapshot_release(struct dr_snapshot *s)
{
    free(s->host);
    free(s->user);
    free(s->source);
    free_strv(s->tags, s->ntags);
    free_strv(s->paths, s->npaths);
    for (size_t i = 0; i < s->nmeta; i++) {
        free(s->meta[i].key);
        free(s->meta[i].value);
    }
    free(s->meta);
    dr_snapshot_init(s);
}

/* Arrays grow one at a time: snapshots have a handful of tags and paths. */
static void strv_push(char ***v, size_t *n, char *s)
{
    *v = dr_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = s;
}

static void meta_push(struct dr_snapshot *s, char *key, char *value)
{
    s->meta = dr_xrealloc(s->meta, (s->nmeta + 1) * sizeof(s->meta[0]));
    s->meta[s->nmeta].key = key;
    s->meta[s->nmeta].value = value;
    s->nmeta++;
}

void dr_snapshot_add_tag(struct dr_snapshot *s, const char *tag)
{
    strv_push(&s->tags, &s->ntags, dr_xstrdup(tag));
}

void dr_snapshot_add_path(struct dr_snapshot *s, const char *path)
{
    strv_push(&s->paths, &s->npaths, dr_xstrdup(path));
}

void dr_snapshot_add_meta(struct dr_snapshot *s, const char *key, const char *value)
{
    meta_push(s, dr_xstrdup(key), dr_xstrdup(value));
}

void dr_snapshot_copy(struct dr_snapshot *dst, const struct dr_snapshot *src)
{
    dr_snapshot_init(dst);
    dst->time_ns = src->time_ns;
    dst->host = dr_xstrdup(src->host ? src->host : "");
    dst->user = dr_xstrdup(src->user ? src->user : "");
    dst->source = dr_xstrdup(src->source ? src->source : "");
    for (size_t i = 0; i < src->ntags; i++) {
        dr_snapshot_add_tag(dst, src->tags[i]);
    }
    for (size_t i = 0; i < src->npaths; i++) {
        dr_snapshot_add_path(dst, src->paths[i]);
    }
    for (size_t i = 0; i < src->nmeta; i++) {
        dr_snapshot_add_meta(dst, src->meta[i].key, src->meta[i].value);
    }
    dst->tree = src->tree;
    dst->parent = src->parent;
    dst->has_parent = src->has_parent;
    dst->summary = src->summary;
    dst->original = src->original;
    dst->has_original = src->has_original;
}

const char *dr_snapshot_get_meta(const struct dr_snapshot *s, const char *key)
{
    for (size_t i = 0; i < s->nmeta; i++) {
        if (strcmp(s->meta[i].key, key) == 0) {
            return s->meta[i].value;
        }
    }
    return NULL;
}

static void origin_add(struct dr_hash_state *st, const char *str)
{
    uint8_t len[4];
    size_t l = strlen(str);
    dr_put_u32le(len, (uint32_t)l);
    dr_crypto_hash_update(st, len, sizeof(len));
    dr_crypto_hash_update(st, str, l);
}

void dr_snapshot_origin(const struct dr_snapshot *s, struct dr_id *out)
{
    /* every string length-prefixed, so that no two lists of strings hash alike */
    struct dr_hash_state st;
    uint8_t n[4];
    dr_crypto_hash_init(&st);
    dr_crypto_hash_update(&st, "drrepo snapshot origin", 22);
    origin_add(&st, s->host ? s->host : "");
    dr_put_u32le(n, (uint32_t)s->npaths);
    dr_crypto_hash_update(&st, n, sizeof(n));
    for (size_t i = 0; i < s->npaths; i++) {
        origin_add(&st, s->paths[i]);
    }
    dr_crypto_hash_final(&st, out);
}

/* ---- encode ---- */

static int add_field(struct dr_buf *b, uint16_t tag, const void *v, size_t len)
{
    int rc = dr_buf_add_u16le(b, tag);
    if (rc == 0) {
        rc = dr_buf_add_u32le(b, (uint32_t)len);
    }
    if (rc == 0) {
        rc = dr_buf_add(b, v, len);
    }
    return rc;
}

static int add_string(struct dr_buf *b, uint16_t tag, const char *s)
{
    size_t l = strlen(s);
    if (l > DR_STRING_MAX) {
        return dr_errorf(DR_EUSAGE, "snapshot %s is %zu bytes, more than the limit of %u",
                         tag_names[tag], l, DR_STRING_MAX);
    }
    return add_field(b, tag, s, l);
}

static int add_strv(struct dr_buf *b, uint16_t tag, char *const *v, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!v[i]) {
            return dr_errorf(DR_EUSAGE, "snapshot %s %zu is missing", tag_names[tag], i);
        }
        rc = add_string(b, tag, v[i]);
    }
    return rc;
}

static int add_summary(struct dr_buf *b, const struct dr_snap_summary *m)
{
    uint8_t v[SUMMARY_LEN];
    const uint64_t f[] = {
        m->files_new,   m->files_changed, m->files_unchanged, m->dirs,   m->bytes_read,
        m->bytes_total, m->bytes_added,   m->blobs_added,     m->errors, (uint64_t)m->duration_ns,
    };
    _Static_assert(sizeof(f) == SUMMARY_LEN, "summary layout");
    for (size_t i = 0; i < DR_ARRAY_LEN(f); i++) {
        dr_put_u64le(v + 8 * i, f[i]);
    }
    return add_field(b, TAG_SUMMARY, v, sizeof(v));
}

static int add_meta(struct dr_buf *b, const struct dr_snap_meta *m)
{
    const char *val = m->value ? m->value : "";
    size_t kl = m->key ? strlen(m->key) : 0;
    size_t vl = strlen(val);
    if (kl == 0 || kl > DR_STRING_MAX || vl > DR_STRING_MAX) {
        return dr_errorf(DR_EUSAGE, "snapshot meta key empty, or key or value over %u bytes",
                         DR_STRING_MAX);
    }
    int rc = dr_buf_add_u16le(b, TAG_META);
    rc = rc ? rc : dr_buf_add_u32le(b, (uint32_t)(2 + kl + vl));
    rc = rc ? rc : dr_buf_add_u16le(b, (uint16_t)kl);
    rc = rc ? rc : dr_buf_add(b, m->key, kl);
    rc = rc ? rc : dr_buf_add(b, val, vl);
    return rc;
}

/* Absent and empty strings mean the same (decode gives "" for both), so empty ones are not
 * written: one snapshot has one encoding. */
static int encode_fields(const struct dr_snapshot *s, struct dr_buf *b)
{
    uint8_t t[8];
    int rc;

    dr_put_u64le(t, (uint64_t)s->time_ns);
    rc = add_field(b, TAG_TIME, t, sizeof(t));
    if (rc == 0 && s->host && s->host[0]) {
        rc = add_string(b, TAG_HOST, s->host);
    }
    if (rc == 0 && s->user && s->user[0]) {
        rc = add_string(b, TAG_USER, s->user);
    }
    rc = rc ? rc : add_strv(b, TAG_TAG, s->tags, s->ntags);
    rc = rc ? rc : add_strv(b, TAG_PATH, s->paths, s->npaths);
    rc = rc ? rc : add_field(b, TAG_TREE, s->tree.b, DR_ID_LEN);
    if (rc == 0 && s->has_parent) {
        rc = add_field(b, TAG_PARENT, s->parent.b, DR_ID_LEN);
    }
    if (rc == 0 && s->source && s->source[0]) {
        rc = add_string(b, TAG_SOURCE, s->source);
    }
    rc = rc ? rc : add_summary(b, &s->summary);
    for (size_t i = 0; rc == 0 && i < s->nmeta; i++) {
        rc = add_meta(b, &s->meta[i]);
    }
    if (rc == 0 && s->has_original) {
        rc = add_field(b, TAG_ORIGINAL, s->original.b, DR_ID_LEN);
    }
    return rc;
}

int dr_snapshot_encode_body(const struct dr_snapshot *s, struct dr_buf *out)
{
    struct dr_buf b = DR_BUF_INIT(DR_SNAPSHOT_MAX);
    int rc = encode_fields(s, &b);
    if (rc == DR_ECORRUPT) {
        /* Only the buffer's cap reports DR_ECORRUPT here: the caller asked for too much. */
        rc = dr_errorf(DR_EUSAGE, "snapshot is larger than the limit of %u bytes", DR_SNAPSHOT_MAX);
    }
    if (rc == 0) {
        rc = dr_buf_add(out, b.buf, b.len);
    }
    dr_buf_release(&b);
    return rc;
}

int dr_snapshot_encode(const struct dr_keys *k, const struct dr_snapshot *s, struct dr_buf *out,
                       struct dr_id *out_id)
{
    struct dr_buf body = DR_BUF_INIT(DR_SNAPSHOT_MAX);
    struct dr_buf file = DR_BUF_INIT(SNAP_HDR_LEN + DR_SNAPSHOT_MAX + DR_AEAD_OVERHEAD);
    int rc;

    rc = dr_snapshot_encode_body(s, &body);
    if (rc < 0) {
        goto out;
    }
    /* The header is both the file's first bytes and the associated data; it is kept apart
     * because sealing may move file.buf while it reads the associated data. */
    uint8_t hdr[SNAP_HDR_LEN];
    memcpy(hdr, DR_MAGIC_SNAPSHOT, DR_MAGIC_LEN);
    dr_put_u32le(hdr + DR_MAGIC_LEN, SNAP_VERSION);
    dr_put_u32le(hdr + DR_MAGIC_LEN + 4, 0);
    rc = dr_buf_add(&file, hdr, sizeof(hdr));
    rc = rc ? rc : dr_crypto_seal(k, hdr, sizeof(hdr), body.buf, body.len, &file);
    rc = rc ? rc : dr_buf_add(out, file.buf, file.len);
    if (rc < 0) {
        goto out;
    }
    dr_crypto_hash(file.buf, file.len, out_id);
out:
    dr_buf_release(&body);
    dr_buf_release(&file);
    return rc;
}

/* ---- decode ---- */

struct parse {
    const char *hex; /* the snapshot's name, for messages */
    unsigned seen;   /* bit per singular tag already met */
};

#define CORRUPT(ps, fmt, ...) dr_errorf(DR_ECORRUPT, "snapshot %s: " fmt, (ps)->hex, ##__VA_ARGS__)

/* A string value: at most DR_STRING_MAX bytes and no NUL, which C strings could not hold. */
static int dec_string(struct parse *ps, uint16_t tag, const uint8_t *v, size_t len, char **out)
{
    if (len > DR_STRING_MAX || memchr(v, '\0', len)) {
        return CORRUPT(ps, "%s field is over %u bytes or contains NUL", tag_names[tag],
                       DR_STRING_MAX);
    }
    *out = dr_xstrndup((const char *)v, len);
    return 0;
}

static int dec_id(struct parse *ps, uint16_t tag, const uint8_t *v, size_t len, struct dr_id *out)
{
    if (len != DR_ID_LEN) {
        return CORRUPT(ps, "%s field has length %zu, not %u", tag_names[tag], len, DR_ID_LEN);
    }
    memcpy(out->b, v, DR_ID_LEN);
    return 0;
}

/* An optional id field: sets *has as well. */
static int dec_opt_id(struct parse *ps, uint16_t tag, const uint8_t *v, size_t len,
                      struct dr_id *out, bool *has)
{
    *has = true;
    return dec_id(ps, tag, v, len, out);
}

static int dec_summary(struct parse *ps, const uint8_t *v, size_t len, struct dr_snap_summary *m)
{
    /* Longer values carry counters a newer writer added after these; they are ignored. */
    if (len < SUMMARY_LEN) {
        return CORRUPT(ps, "summary field has length %zu, less than %u", len, SUMMARY_LEN);
    }
    uint64_t *const f[] = {
        &m->files_new,   &m->files_changed, &m->files_unchanged, &m->dirs,   &m->bytes_read,
        &m->bytes_total, &m->bytes_added,   &m->blobs_added,     &m->errors,
    };
    for (size_t i = 0; i < DR_ARRAY_LEN(f); i++) {
        *f[i] = dr_get_u64le(v + 8 * i);
    }
    m->duration_ns = (int64_t)dr_get_u64le(v + 72);
    return 0;
}

static int dec_meta(struct parse *ps, const uint8_t *v, size_t len, struct dr_snapshot *s)
{
    struct dr_reader r;
    char *key = NULL, *val = NULL;
    int rc;

    dr_rd_init(&r, v, len);
    uint16_t kl = dr_rd_u16le(&r);
    const uint8_t *kp = dr_rd_bytes(&r, kl);
    if (!kp || kl == 0) {
        return CORRUPT(ps, "meta field of %zu bytes has a bad key length %u", len, kl);
    }
    size_t vl = dr_rd_left(&r);
    rc = dec_string(ps, TAG_META, kp, kl, &key);
    if (rc == 0) {
        rc = dec_string(ps, TAG_META, kp + kl, vl, &val);
    }
    if (rc < 0) {
        free(key);
        return rc;
    }
    meta_push(s, key, val);
    return 0;
}

/* Decodes one known field into s. Singular fields may appear once: a second one would make
 * the snapshot mean two things. */
static int dec_field(struct parse *ps, uint16_t tag, const uint8_t *v, size_t len,
                     struct dr_snapshot *s)
{
    char *str = NULL;
    int rc;

    if (tag != TAG_TAG && tag != TAG_PATH && tag != TAG_META) {
        if (ps->seen & (1u << tag)) {
            return CORRUPT(ps, "%s field appears twice", tag_names[tag]);
        }
        ps->seen |= 1u << tag;
    }
    switch (tag) {
    case TAG_TIME:
        if (len != 8) {
            return CORRUPT(ps, "time field has length %zu, not 8", len);
        }
        s->time_ns = (int64_t)dr_get_u64le(v);
        return 0;
    case TAG_HOST: return dec_string(ps, tag, v, len, &s->host);
    case TAG_USER: return dec_string(ps, tag, v, len, &s->user);
    case TAG_SOURCE: return dec_string(ps, tag, v, len, &s->source);
    case TAG_TAG:
    case TAG_PATH:
        rc = dec_string(ps, tag, v, len, &str);
        if (rc == 0) {
            if (tag == TAG_TAG) {
                strv_push(&s->tags, &s->ntags, str);
            } else {
                strv_push(&s->paths, &s->npaths, str);
            }
        }
        return rc;
    case TAG_TREE: return dec_id(ps, tag, v, len, &s->tree);
    case TAG_PARENT: return dec_opt_id(ps, tag, v, len, &s->parent, &s->has_parent);
    case TAG_ORIGINAL: return dec_opt_id(ps, tag, v, len, &s->original, &s->has_original);
    case TAG_SUMMARY: return dec_summary(ps, v, len, &s->summary);
    case TAG_META: return dec_meta(ps, v, len, s);
    default: DR_BUG("dec_field called with an unknown tag");
    }
}

static int parse_body(struct parse *ps, const uint8_t *p, size_t len, struct dr_snapshot *s)
{
    struct dr_reader r;
    int rc;

    dr_rd_init(&r, p, len);
    while (dr_rd_left(&r) > 0) {
        uint16_t tag = dr_rd_u16le(&r);
        uint32_t flen = dr_rd_u32le(&r);
        if (!dr_rd_ok(&r) || flen > dr_rd_left(&r)) {
            return CORRUPT(ps, "field with tag %u overruns the body", tag);
        }
        const uint8_t *v = dr_rd_bytes(&r, flen);
        if (tag == 0 || tag > TAG_KNOWN_MAX) {
            continue; /* a field from a newer writer */
        }
        rc = dec_field(ps, tag, v, flen, s);
        if (rc < 0) {
            return rc;
        }
    }
    if (!(ps->seen & (1u << TAG_TIME))) {
        return CORRUPT(ps, "required field 'time' is missing");
    }
    if (!(ps->seen & (1u << TAG_TREE))) {
        return CORRUPT(ps, "required field 'tree' is missing");
    }
    /* Readers may print these without checking: absent means empty. */
    if (!s->host) {
        s->host = dr_xstrdup("");
    }
    if (!s->user) {
        s->user = dr_xstrdup("");
    }
    if (!s->source) {
        s->source = dr_xstrdup("");
    }
    return 0;
}

int dr_snapshot_decode(const struct dr_keys *k, const struct dr_id *id, const uint8_t *p,
                       size_t len, struct dr_snapshot *s)
{
    char hex[DR_ID_HEX_LEN + 1];
    struct parse ps = {.hex = dr_id_hex(id, hex), .seen = 0};
    struct dr_buf body = DR_BUF_INIT(DR_SNAPSHOT_MAX);
    struct dr_snapshot tmp;
    struct dr_id got;
    struct dr_reader r;
    int rc;

    dr_snapshot_init(&tmp);
    dr_crypto_hash(p, len, &got);
    if (!dr_id_eq(&got, id)) {
        return dr_errorf(DR_ECORRUPT, "snapshot %s: content does not match its name", hex);
    }
    dr_rd_init(&r, p, len);
    const uint8_t *magic = dr_rd_bytes(&r, DR_MAGIC_LEN);
    uint32_t version = dr_rd_u32le(&r);
    uint32_t reserved = dr_rd_u32le(&r);
    if (!dr_rd_ok(&r)) {
        return CORRUPT(&ps, "file is too short (%zu bytes)", len);
    }
    if (memcmp(magic, DR_MAGIC_SNAPSHOT, DR_MAGIC_LEN) != 0) {
        return CORRUPT(&ps, "bad magic");
    }
    if (version > SNAP_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED, "snapshot %s: version %u is newer than supported (%u)",
                         hex, version, SNAP_VERSION);
    }
    if (version != SNAP_VERSION || reserved != 0) {
        return CORRUPT(&ps, "invalid version %u or reserved field %u", version, reserved);
    }
    if (dr_rd_left(&r) > (size_t)DR_SNAPSHOT_MAX + DR_AEAD_OVERHEAD) {
        return CORRUPT(&ps, "file is %zu bytes, more than the limit", len);
    }
    rc = dr_crypto_unseal(k, p, SNAP_HDR_LEN, p + SNAP_HDR_LEN, dr_rd_left(&r), &body);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "snapshot %s: cannot open (wrong key or tampered)", hex);
        goto out;
    }
    rc = parse_body(&ps, (const uint8_t *)body.buf, body.len, &tmp);
    if (rc < 0) {
        goto out;
    }
    *s = tmp;
    dr_snapshot_init(&tmp);
out:
    dr_snapshot_release(&tmp);
    dr_buf_release(&body);
    return rc;
}
