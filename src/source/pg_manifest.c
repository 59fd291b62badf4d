/* pg_manifest.c: the backup manifest (JSON) of a BASE_BACKUP, checked against the files that
 * the archives held: every file listed must have come with the listed size and SHA-256, and
 * every file read (but WAL) must be listed. The manifest's own checksum is checked first. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "pg_stream_int.h"

#define JSON_DEPTH_MAX 16

int dr_pg_bad(struct dr_pg_consumer *c, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return dr_errorf(DR_ESOURCE, "postgresql '%s': %s", c->server, what);
}

/* ---- the manifest: a small JSON reader, bounded in depth; the input is the manifest only */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    enum jtype t;
    char *s; /* J_STR (decoded, NUL-free by check) and J_NUM (the text) */
    size_t n;
    char **keys; /* J_OBJ */
    struct jv *v;
};

struct jp {
    const char *p, *end;
    const char *err;
};

static void jv_free(struct jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys) {
            free(v->keys[i]);
        }
        jv_free(&v->v[i]);
    }
    free(v->keys);
    free(v->v);
    free(v->s);
}

static void ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) {
        j->p++;
    }
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

static bool jstr(struct jp *j, char **out)
{
    struct dr_buf b = DR_BUF_INIT(DR_PG_MANIFEST_MAX);
    if (j->p >= j->end || *j->p != '"') {
        j->err = "string expected";
        return false;
    }
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char ch = (unsigned char)*j->p++;
        int rc = 0;
        if (ch < 0x20) {
            j->err = "control character in string";
        } else if (ch != '\\') {
            rc = dr_buf_addch(&b, ch);
        } else if (j->p >= j->end) {
            j->err = "unterminated string";
        } else {
            char esc = *j->p++;
            int plain = esc == '"' || esc == '\\' || esc == '/' ? esc
                        : esc == 'b'                            ? '\b'
                        : esc == 'f'                            ? '\f'
                        : esc == 'n'                            ? '\n'
                        : esc == 'r'                            ? '\r'
                        : esc == 't'                            ? '\t'
                                                                : 0;
            if (plain) {
                rc = dr_buf_addch(&b, plain);
            } else if (esc == 'u' && j->end - j->p >= 4) {
                unsigned u = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(j->p[i]);
                    u = (u << 4) | (unsigned)(h < 0 ? 0 : h);
                    if (h < 0) {
                        j->err = "bad \\u escape";
                    }
                }
                j->p += 4;
                /* surrogates are not needed for manifests: PostgreSQL hex-encodes paths that
                 * are not valid UTF-8 and escapes only control characters */
                if (u == 0 || (u >= 0xd800 && u <= 0xdfff)) {
                    j->err = "unsupported \\u escape";
                } else if (u < 0x80) {
                    rc = dr_buf_addch(&b, (int)u);
                } else if (u < 0x800) {
                    uint8_t e[2] = {(uint8_t)(0xc0 | (u >> 6)), (uint8_t)(0x80 | (u & 0x3f))};
                    rc = dr_buf_add(&b, e, 2);
                } else {
                    uint8_t e[3] = {(uint8_t)(0xe0 | (u >> 12)),
                                    (uint8_t)(0x80 | ((u >> 6) & 0x3f)),
                                    (uint8_t)(0x80 | (u & 0x3f))};
                    rc = dr_buf_add(&b, e, 3);
                }
            } else {
                j->err = "bad escape";
            }
        }
        if (rc < 0) {
            dr_error_clear();
            j->err = "string too long";
        }
        if (j->err) {
            dr_buf_release(&b);
            return false;
        }
    }
    if (j->p >= j->end) {
        dr_buf_release(&b);
        j->err = "unterminated string";
        return false;
    }
    j->p++;
    *out = dr_buf_detach(&b, NULL);
    return true;
}

static bool jvalue(struct jp *j, struct jv *v, int depth)
{
    memset(v, 0, sizeof(*v));
    ws(j);
    if (depth > JSON_DEPTH_MAX) {
        j->err = "nested too deeply";
        return false;
    }
    if (j->p >= j->end) {
        j->err = "unexpected end";
        return false;
    }
    char ch = *j->p;
    if (ch == '"') {
        v->t = J_STR;
        return jstr(j, &v->s);
    }
    if (ch == '{' || ch == '[') {
        bool obj = ch == '{';
        size_t alloc = 0, akeys = 0;
        v->t = obj ? J_OBJ : J_ARR;
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            return true;
        }
        for (;;) {
            ws(j);
            DR_GROW(v->v, alloc, v->n + 1);
            if (obj) {
                DR_GROW(v->keys, akeys, v->n + 1);
                if (!jstr(j, &v->keys[v->n])) {
                    return false;
                }
                ws(j);
                if (j->p >= j->end || *j->p != ':') {
                    v->n++;
                    memset(&v->v[v->n - 1], 0, sizeof(v->v[0]));
                    j->err = "':' expected";
                    return false;
                }
                j->p++;
            }
            bool ok = jvalue(j, &v->v[v->n], depth + 1);
            v->n++;
            if (!ok) {
                return false;
            }
            ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
                j->p++;
                return true;
            }
            j->err = "',' or end of container expected";
            return false;
        }
    }
    const char *start = j->p;
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        v->t = J_NUM;
        while (j->p < j->end && strchr("+-.eE0123456789", *j->p) && *j->p) {
            j->p++;
        }
        v->s = dr_xstrndup(start, (size_t)(j->p - start));
        return true;
    }
    static const struct {
        const char *w;
        enum jtype t;
    } words[] = {{"true", J_BOOL}, {"false", J_BOOL}, {"null", J_NULL}};
    for (size_t i = 0; i < 3; i++) {
        size_t wl = strlen(words[i].w);
        if ((size_t)(j->end - j->p) >= wl && memcmp(j->p, words[i].w, wl) == 0) {
            v->t = words[i].t;
            j->p += wl;
            return true;
        }
    }
    j->err = "unexpected character";
    return false;
}

static const struct jv *jget(const struct jv *o, const char *key)
{
    if (o->t != J_OBJ) {
        return NULL;
    }
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->keys[i], key) == 0) {
            return &o->v[i];
        }
    }
    return NULL;
}

static int seen_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dr_pg_seen *)a)->path, ((const struct dr_pg_seen *)b)->path);
}

/* The manifest's last line holds the checksum of everything before it: pg_verifybackup hashes
 * up to and including the second-to-last newline. */
static int verify_manifest_checksum(struct dr_pg_consumer *c, const struct jv *root)
{
    const char *m = c->manifest.buf;
    size_t len = c->manifest.len, nl = 0, cut = 0;
    for (size_t i = len; i-- > 0;) {
        if (m[i] == '\n' && ++nl == 2) {
            cut = i + 1;
            break;
        }
    }
    const struct jv *want = jget(root, "Manifest-Checksum");
    if (nl < 2 || !want || want->t != J_STR) {
        return dr_pg_bad(c, "backup manifest has no manifest checksum");
    }
    uint8_t sum[DR_SHA256_LEN];
    char hex[2 * sizeof(sum) + 1];
    dr_sha256(m, cut, sum);
    dr_hex_encode(sum, sizeof(sum), hex);
    if (strcasecmp(hex, want->s) != 0) {
        return dr_pg_bad(c, "backup manifest checksum mismatch: the manifest is damaged");
    }
    return 0;
}

static int manifest_path(struct dr_pg_consumer *c, const struct jv *f, char **out)
{
    const struct jv *p = jget(f, "Path");
    if (p && p->t == J_STR) {
        *out = dr_xstrdup(p->s);
        return 0;
    }
    p = jget(f, "Encoded-Path");
    size_t hl = p && p->t == J_STR ? strlen(p->s) : 0;
    if (hl == 0 || hl % 2) {
        return dr_pg_bad(c, "backup manifest entry without a path");
    }
    char *s = dr_xmalloc(hl / 2 + 1);
    if (!dr_hex_decode(p->s, (uint8_t *)s, hl / 2) || memchr(s, '\0', hl / 2)) {
        free(s);
        return dr_pg_bad(c, "backup manifest has a bad encoded path '%s'", p->s);
    }
    s[hl / 2] = '\0';
    *out = s;
    return 0;
}

static int verify_file(struct dr_pg_consumer *c, const struct jv *f)
{
    char *path = NULL;
    int rc = manifest_path(c, f, &path);
    if (rc < 0) {
        return rc;
    }
    const struct jv *size = jget(f, "Size"), *alg = jget(f, "Checksum-Algorithm"),
                    *sum = jget(f, "Checksum");
    struct dr_pg_seen key = {.path = path};
    struct dr_pg_seen *sn =
        c->nseen ? bsearch(&key, c->seen, c->nseen, sizeof(*c->seen), seen_cmp) : NULL;
    uint64_t sz;
    if (!sn) {
        rc = dr_pg_bad(c, "file '%s' is in the backup manifest but not in the backup", path);
    } else if (!size || size->t != J_NUM || dr_parse_u64(size->s, &sz) < 0) {
        dr_error_clear();
        rc = dr_pg_bad(c, "backup manifest entry '%s' has no valid size", path);
    } else if (sz != sn->size) {
        rc = dr_pg_bad(c, "size mismatch for '%s' between the backup and its manifest", path);
    } else if (alg && alg->t == J_STR && strcmp(alg->s, "NONE") == 0) {
        sn->matched = true;
    } else if (!alg || alg->t != J_STR || strcmp(alg->s, "SHA256") != 0 || !sum ||
               sum->t != J_STR || strlen(sum->s) != 2 * sizeof(sn->sha)) {
        rc = dr_pg_bad(c, "backup manifest entry '%s' has no SHA256 checksum", path);
    } else {
        char hex[2 * sizeof(sn->sha) + 1];
        dr_hex_encode(sn->sha, sizeof(sn->sha), hex);
        if (strcasecmp(hex, sum->s) != 0) {
            rc = dr_pg_bad(
                c, "checksum mismatch for '%s': the file differs from the backup manifest", path);
        } else if (sn->matched) {
            rc = dr_pg_bad(c, "file '%s' is listed twice in the backup manifest", path);
        }
        sn->matched = true;
    }
    free(path);
    return rc;
}

int dr_pg_manifest_verify(struct dr_pg_consumer *c)
{
    struct jv root;
    struct jp j = {.p = c->manifest.buf, .end = c->manifest.buf + c->manifest.len};
    bool ok = jvalue(&j, &root, 0);
    if (ok) {
        ws(&j);
        if (j.p != j.end) {
            ok = false;
            j.err = "trailing data";
        }
    }
    int rc = 0;
    if (!ok) {
        rc = dr_pg_bad(c, "backup manifest is not valid JSON: %s", j.err ? j.err : "?");
        goto out;
    }
    const struct jv *ver = jget(&root, "PostgreSQL-Backup-Manifest-Version");
    const struct jv *files = jget(&root, "Files");
    if (!ver || ver->t != J_NUM || !files || files->t != J_ARR) {
        rc = dr_pg_bad(c, "backup manifest lacks its version or file list");
        goto out;
    }
    rc = verify_manifest_checksum(c, &root);
    if (rc < 0) {
        goto out;
    }
    if (c->nseen > 1) {
        qsort(c->seen, c->nseen, sizeof(*c->seen), seen_cmp);
    }
    for (size_t i = 1; i < c->nseen; i++) {
        if (strcmp(c->seen[i - 1].path, c->seen[i].path) == 0) {
            rc = dr_pg_bad(c, "file '%s' appears twice in the backup", c->seen[i].path);
            goto out;
        }
    }
    for (size_t i = 0; rc >= 0 && i < files->n; i++) {
        rc = verify_file(c, &files->v[i]);
    }
    for (size_t i = 0; rc >= 0 && i < c->nseen; i++) {
        /* WAL is checked by replay (pg_verifybackup runs pg_waldump), not listed */
        if (!c->seen[i].matched && strncmp(c->seen[i].path, "pg_wal/", 7) != 0) {
            rc = dr_pg_bad(c, "file '%s' is in the backup but not in the backup manifest",
                           c->seen[i].path);
        }
    }
    if (rc >= 0) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", files->n);
        dr_snapshot_add_meta(c->s, "pg.manifest.files", n);
    }
out:
    jv_free(&root);
    return rc;
}
