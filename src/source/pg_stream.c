/* pg_stream.c: the BASE_BACKUP stream consumer (see pg_int.h): archives to a snapshot tree,
 * verified against the backup manifest.
 *
 * The tree is built in memory as one struct pdir per directory holding its non-directory
 * entries as finished nodes; directories are stored bottom-up once every archive has arrived,
 * because a directory's entries may come from two archives (a tablespace's archive fills
 * pg_tblspc/<oid>, whose symlink the main archive carries). Files are chunked as they stream,
 * so memory holds only names, metadata and chunk ids, never file contents. The manifest comes
 * last, so each file's SHA-256 is kept and compared when it arrives. */
#include "pg_int.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/buf.h"
#include "drrepo/error.h"
#include "drrepo/id.h"
#include "drrepo/mem.h"
#include "tar.h"
#include "drrepo/util.h"

#define JSON_DEPTH_MAX 16

struct pdir {
    char *name;
    struct dr_node meta; /* from the archive's directory entry; has_meta says whether one came */
    bool has_meta;
    struct dr_tree entries; /* files and symlinks */
    struct pdir **subs;
    size_t nsubs, asubs;
};

struct seen {
    char *path;
    uint64_t size;
    uint8_t sha[crypto_hash_sha256_BYTES];
    bool matched;
};

struct consumer {
    dr_pg_msg_fn next;
    void *arg;
    const struct dr_source_sink *sink;
    const char *server;
    struct dr_snapshot *s;
    /* the current 'd' payload of the archive being read */
    const uint8_t *msg;
    size_t len;
    /* the message that ended the current archive: 'n', 'm' or 0 for the end of the copy */
    int pending;
    const uint8_t *pmsg;
    size_t plen;
    struct pdir root;
    struct seen *seen;
    size_t nseen, aseen;
    struct dr_buf manifest;
};

/* The reader handed to add_file: one tar member, hashed as it passes. */
struct member {
    struct dr_tar *tar;
    crypto_hash_sha256_state sha;
    uint64_t got;
};

DR_PRINTF(2, 3) static int bad(struct consumer *c, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return dr_errorf(DR_ESOURCE, "postgresql '%s': %s", c->server, what);
}

static void pdir_free(struct pdir *d)
{
    for (size_t i = 0; i < d->nsubs; i++) {
        pdir_free(d->subs[i]);
        free(d->subs[i]);
    }
    free(d->subs);
    free(d->name);
    dr_node_release(&d->meta);
    dr_tree_release(&d->entries);
}

static struct pdir *pdir_sub(struct pdir *d, const char *name, size_t len)
{
    for (size_t i = 0; i < d->nsubs; i++) {
        if (strlen(d->subs[i]->name) == len && memcmp(d->subs[i]->name, name, len) == 0) {
            return d->subs[i];
        }
    }
    DR_GROW(d->subs, d->asubs, d->nsubs + 1);
    struct pdir *n = dr_xcalloc(1, sizeof(*n));
    n->name = dr_xstrndup(name, len);
    dr_tree_init(&n->entries);
    d->subs[d->nsubs++] = n;
    return n;
}

/* Walks (creating) the directories of path's parent; *out_name points at the last component.
 * Every component must be a safe name: the tar reader refused ".." and absolute paths, and this
 * refuses what a tree cannot hold. */
static int walk(struct consumer *c, const char *path, struct pdir **out_dir, const char **out_name)
{
    struct pdir *d = &c->root;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (!dr_name_valid(p, len)) {
            return bad(c, "archive member '%s' has an invalid name", path);
        }
        if (!slash) {
            *out_dir = d;
            *out_name = p;
            return 0;
        }
        d = pdir_sub(d, p, len);
        p = slash + 1;
    }
}

/* Reads the archive's data: the 'd' payloads until the next 'n', 'm' or the end of the copy,
 * which is kept in c->pending for the caller. 'p' (progress) messages are skipped. */
static int archive_read(void *arg, uint8_t *buf, size_t len)
{
    struct consumer *c = arg;
    while (c->len == 0) {
        if (c->pending >= 0) {
            return 0;
        }
        const uint8_t *m;
        size_t mlen;
        int rc = c->next(c->arg, &m, &mlen);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            c->pending = 0;
            return 0;
        }
        if (mlen == 0) {
            return bad(c, "empty message in the backup stream");
        }
        switch (m[0]) {
        case 'd':
            c->msg = m + 1;
            c->len = mlen - 1;
            break;
        case 'p': break;
        case 'n':
        case 'm':
            c->pending = m[0];
            c->pmsg = m;
            c->plen = mlen;
            return 0;
        default: {
            char t[8];
            snprintf(t, sizeof(t), "0x%02x", m[0]);
            return bad(c, "unexpected message type %s in the backup stream", t);
        }
        }
    }
    size_t n = len < c->len ? len : c->len;
    memcpy(buf, c->msg, n);
    c->msg += n;
    c->len -= n;
    return (int)n;
}

static int tar_input(void *arg, uint8_t *buf, size_t len)
{
    return archive_read(arg, buf, len);
}

static int member_read(void *arg, uint8_t *buf, size_t len)
{
    struct member *m = arg;
    int got = dr_tar_read(m->tar, buf, len);
    if (got > 0) {
        crypto_hash_sha256_update(&m->sha, buf, (unsigned long long)got);
        m->got += (uint64_t)got;
    }
    return got;
}

static void node_meta(struct dr_node *n, const struct dr_tar_entry *e, const char *name)
{
    n->name = dr_xstrdup(name);
    n->mode = e->mode;
    n->uid = e->uid;
    n->gid = e->gid;
    n->user = dr_xstrdup(e->uname);
    n->group = dr_xstrdup(e->gname);
    n->mtime_ns = e->mtime_ns;
    n->ctime_ns = e->mtime_ns;
    n->nlink = 1;
}

static int add_file(struct consumer *c, struct dr_tar *tar, const struct dr_tar_entry *e,
                    const char *path, struct pdir *d, const char *name)
{
    struct dr_node n = {0};
    struct member m = {.tar = tar};
    uint64_t want = e->size;
    node_meta(&n, e, name);
    n.type = DR_NODE_FILE;
    crypto_hash_sha256_init(&m.sha);
    int rc = c->sink->add_file(c->sink->arg, member_read, &m, NULL, NULL, &n);
    if (rc >= 0 && m.got != want) {
        rc = bad(c, "archive member '%s' was not read to its end", path);
    }
    if (rc < 0) {
        dr_node_release(&n);
        return rc;
    }
    DR_GROW(c->seen, c->aseen, c->nseen + 1);
    struct seen *sn = &c->seen[c->nseen++];
    sn->path = dr_xstrdup(path);
    sn->size = want;
    sn->matched = false;
    crypto_hash_sha256_final(&m.sha, sn->sha);
    dr_tree_add(&d->entries, &n);
    return 0;
}

static int add_entry(struct consumer *c, struct dr_tar *tar, const struct dr_tar_entry *e,
                     const char *prefix)
{
    char *path = *prefix ? (*e->path ? dr_xasprintf("%s/%s", prefix, e->path) : dr_xstrdup(prefix))
                         : dr_xstrdup(e->path);
    struct pdir *d = NULL;
    const char *name = NULL;
    int rc = 0;
    if (*path == '\0') {
        goto out; /* the archive's own root: the data directory, created by restore */
    }
    rc = walk(c, path, &d, &name);
    if (rc < 0) {
        goto out;
    }
    switch (e->type) {
    case DR_TAR_DIR: {
        struct pdir *sub = pdir_sub(d, name, strlen(name));
        dr_node_release(&sub->meta);
        node_meta(&sub->meta, e, name);
        sub->meta.type = DR_NODE_DIR;
        sub->has_meta = true;
        break;
    }
    case DR_TAR_FILE: rc = add_file(c, tar, e, path, d, name); break;
    case DR_TAR_SYMLINK: {
        struct dr_node n = {0};
        node_meta(&n, e, name);
        n.type = DR_NODE_SYMLINK;
        n.target = dr_xstrdup(e->linkname);
        dr_tree_add(&d->entries, &n);
        break;
    }
    default: rc = bad(c, "archive member '%s' has a type a data directory does not hold", path);
    }
out:
    free(path);
    return rc;
}

/* 'n' message: archive name and tablespace path, each NUL-terminated. The main archive
 * (base.tar, empty path) is the data directory; "<oid>.tar" is a tablespace, stored where
 * its symlink pg_tblspc/<oid> points from, so that the restored directory is self-contained. */
static int archive_prefix(struct consumer *c, char **out)
{
    const char *name = (const char *)c->pmsg + 1;
    size_t left = c->plen - 1;
    const char *nul = memchr(name, '\0', left);
    const char *path = nul ? nul + 1 : NULL;
    if (!nul || !memchr(path, '\0', left - (size_t)(path - name))) {
        return bad(c, "malformed new-archive message");
    }
    if (*path == '\0') {
        if (strcmp(name, "base.tar") != 0) {
            return bad(c, "unexpected archive '%s'", name);
        }
        *out = dr_xstrdup("");
        return 0;
    }
    size_t nl = strlen(name);
    if (nl < 5 || nl > 14 || strcmp(name + nl - 4, ".tar") != 0 ||
        strspn(name, "0123456789") != nl - 4) {
        return bad(c, "unexpected archive '%s'", name);
    }
    char key[64];
    snprintf(key, sizeof(key), "pg.tablespace.%.*s.location", (int)(nl - 4), name);
    dr_snapshot_add_meta(c->s, key, path);
    *out = dr_xasprintf("pg_tblspc/%.*s", (int)(nl - 4), name);
    return 0;
}

static int consume_archive(struct consumer *c)
{
    char *prefix = NULL;
    int rc = archive_prefix(c, &prefix);
    if (rc < 0) {
        return rc;
    }
    const char *aname = (const char *)c->pmsg + 1;
    char *what = dr_xstrdup(aname);
    struct dr_tar tar;
    dr_tar_init(&tar, tar_input, c, what);
    c->pending = -1;
    c->len = 0;
    for (;;) {
        const struct dr_tar_entry *e;
        rc = dr_tar_next(&tar, &e);
        if (rc <= 0) {
            break;
        }
        rc = add_entry(c, &tar, e, prefix);
        if (rc < 0) {
            break;
        }
    }
    if (rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED) {
        rc = dr_error_wrap(DR_ESOURCE, "postgresql '%s'", c->server);
    }
    /* after the end of the archive only zero padding (tar's record blocking) may follow */
    while (rc >= 0) {
        uint8_t pad[512];
        int got = archive_read(c, pad, sizeof(pad));
        if (got <= 0) {
            rc = got;
            break;
        }
        for (int i = 0; i < got && rc >= 0; i++) {
            if (pad[i]) {
                rc = bad(c, "data after the end of archive '%s'", what);
            }
        }
    }
    dr_tar_release(&tar);
    free(what);
    free(prefix);
    return rc;
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
    return strcmp(((const struct seen *)a)->path, ((const struct seen *)b)->path);
}

/* The manifest's last line holds the checksum of everything before it: pg_verifybackup hashes
 * up to and including the second-to-last newline. */
static int verify_manifest_checksum(struct consumer *c, const struct jv *root)
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
        return bad(c, "backup manifest has no manifest checksum");
    }
    uint8_t sum[crypto_hash_sha256_BYTES];
    char hex[2 * sizeof(sum) + 1];
    crypto_hash_sha256(sum, (const uint8_t *)m, cut);
    dr_hex_encode(sum, sizeof(sum), hex);
    if (strcasecmp(hex, want->s) != 0) {
        return bad(c, "backup manifest checksum mismatch: the manifest is damaged");
    }
    return 0;
}

static int manifest_path(struct consumer *c, const struct jv *f, char **out)
{
    const struct jv *p = jget(f, "Path");
    if (p && p->t == J_STR) {
        *out = dr_xstrdup(p->s);
        return 0;
    }
    p = jget(f, "Encoded-Path");
    size_t hl = p && p->t == J_STR ? strlen(p->s) : 0;
    if (hl == 0 || hl % 2) {
        return bad(c, "backup manifest entry without a path");
    }
    char *s = dr_xmalloc(hl / 2 + 1);
    if (!dr_hex_decode(p->s, (uint8_t *)s, hl / 2) || memchr(s, '\0', hl / 2)) {
        free(s);
        return bad(c, "backup manifest has a bad encoded path '%s'", p->s);
    }
    s[hl / 2] = '\0';
    *out = s;
    return 0;
}

static int verify_file(struct consumer *c, const struct jv *f)
{
    char *path = NULL;
    int rc = manifest_path(c, f, &path);
    if (rc < 0) {
        return rc;
    }
    const struct jv *size = jget(f, "Size"), *alg = jget(f, "Checksum-Algorithm"),
                    *sum = jget(f, "Checksum");
    struct seen key = {.path = path};
    struct seen *sn =
        c->nseen ? bsearch(&key, c->seen, c->nseen, sizeof(*c->seen), seen_cmp) : NULL;
    uint64_t sz;
    if (!sn) {
        rc = bad(c, "file '%s' is in the backup manifest but not in the backup", path);
    } else if (!size || size->t != J_NUM || dr_parse_u64(size->s, &sz) < 0) {
        dr_error_clear();
        rc = bad(c, "backup manifest entry '%s' has no valid size", path);
    } else if (sz != sn->size) {
        rc = bad(c, "size mismatch for '%s' between the backup and its manifest", path);
    } else if (alg && alg->t == J_STR && strcmp(alg->s, "NONE") == 0) {
        sn->matched = true;
    } else if (!alg || alg->t != J_STR || strcmp(alg->s, "SHA256") != 0 || !sum ||
               sum->t != J_STR || strlen(sum->s) != 2 * sizeof(sn->sha)) {
        rc = bad(c, "backup manifest entry '%s' has no SHA256 checksum", path);
    } else {
        char hex[2 * sizeof(sn->sha) + 1];
        dr_hex_encode(sn->sha, sizeof(sn->sha), hex);
        if (strcasecmp(hex, sum->s) != 0) {
            rc = bad(c, "checksum mismatch for '%s': the file differs from the backup manifest",
                     path);
        } else if (sn->matched) {
            rc = bad(c, "file '%s' is listed twice in the backup manifest", path);
        }
        sn->matched = true;
    }
    free(path);
    return rc;
}

static int verify_manifest(struct consumer *c)
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
        rc = bad(c, "backup manifest is not valid JSON: %s", j.err ? j.err : "?");
        goto out;
    }
    const struct jv *ver = jget(&root, "PostgreSQL-Backup-Manifest-Version");
    const struct jv *files = jget(&root, "Files");
    if (!ver || ver->t != J_NUM || !files || files->t != J_ARR) {
        rc = bad(c, "backup manifest lacks its version or file list");
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
            rc = bad(c, "file '%s' appears twice in the backup", c->seen[i].path);
            goto out;
        }
    }
    for (size_t i = 0; rc >= 0 && i < files->n; i++) {
        rc = verify_file(c, &files->v[i]);
    }
    for (size_t i = 0; rc >= 0 && i < c->nseen; i++) {
        /* WAL is checked by replay (pg_verifybackup runs pg_waldump), not listed */
        if (!c->seen[i].matched && strncmp(c->seen[i].path, "pg_wal/", 7) != 0) {
            rc = bad(c, "file '%s' is in the backup but not in the backup manifest",
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

/* ---- storing the tree */

struct mem {
    const uint8_t *p;
    size_t len;
};

static int mem_read(void *arg, uint8_t *buf, size_t len)
{
    struct mem *sl = arg;
    size_t n = len < sl->len ? len : sl->len;
    if (n > INT32_MAX) {
        n = INT32_MAX;
    }
    memcpy(buf, sl->p, n);
    sl->p += n;
    sl->len -= n;
    return (int)n;
}

static int node_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dr_node *)a)->name, ((const struct dr_node *)b)->name);
}

/* Stores d's subdirectories, then d. A tablespace directory replaces its pg_tblspc symlink;
 * any other duplicate name is an error. */
static int store_dir(struct consumer *c, struct pdir *d, const char *path, struct dr_id *out)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < d->nsubs; i++) {
        struct pdir *sub = d->subs[i];
        char *sp = *path ? dr_xasprintf("%s/%s", path, sub->name) : dr_xstrdup(sub->name);
        struct dr_node n = {0};
        if (sub->has_meta) {
            n = sub->meta;
            memset(&sub->meta, 0, sizeof(sub->meta));
        } else {
            /* a directory only implied by its contents (a tablespace's pg_tblspc/<oid>) */
            n.name = dr_xstrdup(sub->name);
            n.mode = 0700;
            n.user = dr_xstrdup("");
            n.group = dr_xstrdup("");
            n.nlink = 1;
        }
        n.type = DR_NODE_DIR;
        rc = store_dir(c, sub, sp, &n.subtree);
        free(sp);
        if (rc >= 0) {
            dr_tree_add(&d->entries, &n);
        } else {
            dr_node_release(&n);
        }
    }
    if (rc < 0) {
        return rc;
    }
    struct dr_tree *t = &d->entries;
    if (t->n > 1) {
        qsort(t->nodes, t->n, sizeof(*t->nodes), node_cmp);
    }
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (w > 0 && strcmp(t->nodes[w - 1].name, t->nodes[i].name) == 0) {
            struct dr_node *a = &t->nodes[w - 1], *b = &t->nodes[i];
            bool tblspc = strcmp(path, "pg_tblspc") == 0;
            if (tblspc && a->type == DR_NODE_DIR && b->type == DR_NODE_SYMLINK) {
                dr_node_release(b);
                continue;
            }
            if (tblspc && a->type == DR_NODE_SYMLINK && b->type == DR_NODE_DIR) {
                dr_node_release(a);
                *a = *b;
                memset(b, 0, sizeof(*b));
                continue;
            }
            return bad(c, "the backup holds '%s' twice", a->name);
        }
        if (w != i) {
            t->nodes[w] = t->nodes[i];
            memset(&t->nodes[i], 0, sizeof(t->nodes[i]));
        }
        w++;
    }
    t->n = w;
    c->sink->dir(c->sink->arg);
    return c->sink->put_tree(c->sink->arg, t, out);
}

static int store_manifest(struct consumer *c)
{
    struct dr_node n = {0};
    struct mem sl = {(const uint8_t *)c->manifest.buf, c->manifest.len};
    n.name = dr_xstrdup("backup_manifest");
    n.type = DR_NODE_FILE;
    n.mode = 0600;
    n.user = dr_xstrdup("");
    n.group = dr_xstrdup("");
    n.nlink = 1;
    /* owned like backup_label, which the server wrote into the archive */
    const struct dr_node *label = NULL;
    for (size_t i = 0; !label && i < c->root.entries.n; i++) {
        if (strcmp(c->root.entries.nodes[i].name, "backup_label") == 0) {
            label = &c->root.entries.nodes[i];
        }
    }
    if (label) {
        n.uid = label->uid;
        n.gid = label->gid;
        free(n.user);
        free(n.group);
        n.user = dr_xstrdup(label->user);
        n.group = dr_xstrdup(label->group);
        n.mtime_ns = n.ctime_ns = label->mtime_ns;
    }
    int rc = c->sink->add_file(c->sink->arg, mem_read, &sl, NULL, NULL, &n);
    if (rc < 0) {
        dr_node_release(&n);
        return rc;
    }
    dr_tree_add(&c->root.entries, &n);
    return 0;
}

static int read_manifest(struct consumer *c)
{
    for (;;) {
        const uint8_t *m;
        size_t mlen;
        int rc = c->next(c->arg, &m, &mlen);
        if (rc <= 0) {
            return rc;
        }
        if (mlen == 0 || (m[0] != 'd' && m[0] != 'p')) {
            return bad(c, "unexpected message after the backup manifest");
        }
        if (m[0] == 'd' && dr_buf_add(&c->manifest, m + 1, mlen - 1) < 0) {
            return bad(c, "backup manifest is too large");
        }
    }
}

int dr_pg_stream_consume(dr_pg_msg_fn next, void *arg, const struct dr_source_sink *sink,
                         const char *server, struct dr_snapshot *s, struct dr_id *out_root)
{
    struct consumer c = {
        .next = next,
        .arg = arg,
        .sink = sink,
        .server = server,
        .s = s,
        .pending = -1,
        .manifest = DR_BUF_INIT(DR_PG_MANIFEST_MAX),
    };
    dr_tree_init(&c.root.entries);
    const uint8_t *m = NULL;
    size_t mlen = 0;
    int rc;
    do {
        rc = next(arg, &m, &mlen);
    } while (rc > 0 && mlen > 0 && m[0] == 'p');
    if (rc < 0) {
        goto out;
    }
    if (rc == 0 || mlen == 0 || m[0] != 'n') {
        rc = bad(&c, "the backup stream does not begin with an archive");
        goto out;
    }
    c.pending = 'n';
    c.pmsg = m;
    c.plen = mlen;
    while (c.pending == 'n') {
        rc = consume_archive(&c);
        if (rc < 0) {
            goto out;
        }
    }
    if (c.pending != 'm') {
        rc = bad(&c, "the server sent no backup manifest");
        goto out;
    }
    rc = read_manifest(&c);
    if (rc < 0) {
        goto out;
    }
    rc = verify_manifest(&c);
    if (rc < 0) {
        goto out;
    }
    rc = store_manifest(&c);
    if (rc < 0) {
        goto out;
    }
    struct dr_id root;
    rc = store_dir(&c, &c.root, "", &root);
    if (rc >= 0) {
        *out_root = root;
    }
out:
    pdir_free(&c.root);
    for (size_t i = 0; i < c.nseen; i++) {
        free(c.seen[i].path);
    }
    free(c.seen);
    dr_buf_release(&c.manifest);
    return rc;
}
