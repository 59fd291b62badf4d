/* pg_stream.c: the BASE_BACKUP stream consumer (see pg_int.h): archives to a snapshot tree,
 * verified against the backup manifest (pg_manifest.c).
 *
 * The tree is built in memory as one struct dr_pg_dir per directory holding its non-directory
 * entries as finished nodes; directories are stored bottom-up once every archive has arrived,
 * because a directory's entries may come from two archives (a tablespace's archive fills
 * pg_tblspc/<oid>, whose symlink the main archive carries). Files are chunked as they stream,
 * so memory holds only names, metadata and chunk ids, never file contents. The manifest comes
 * last, so each file's SHA-256 is kept and compared when it arrives. */
#include "pg_stream_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/buf.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/id.h"
#include "drrepo/mem.h"
#include "tar.h"
#include "drrepo/util.h"

static void pdir_free(struct dr_pg_dir *d)
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

static struct dr_pg_dir *pdir_sub(struct dr_pg_dir *d, const char *name, size_t len)
{
    for (size_t i = 0; i < d->nsubs; i++) {
        if (strlen(d->subs[i]->name) == len && memcmp(d->subs[i]->name, name, len) == 0) {
            return d->subs[i];
        }
    }
    DR_GROW(d->subs, d->asubs, d->nsubs + 1);
    struct dr_pg_dir *n = dr_xcalloc(1, sizeof(*n));
    n->name = dr_xstrndup(name, len);
    dr_tree_init(&n->entries);
    d->subs[d->nsubs++] = n;
    return n;
}

/* Walks (creating) the directories of path's parent; *out_name points at the last component.
 * Every component must be a safe name: the tar reader refused ".." and absolute paths, and this
 * refuses what a tree cannot hold. */
static int walk(struct dr_pg_consumer *c, const char *path, struct dr_pg_dir **out_dir,
                const char **out_name)
{
    struct dr_pg_dir *d = &c->root;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (!dr_name_valid(p, len)) {
            return dr_pg_bad(c, "archive member '%s' has an invalid name", path);
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
    struct dr_pg_consumer *c = arg;
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
            return dr_pg_bad(c, "empty message in the backup stream");
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
            return dr_pg_bad(c, "unexpected message type %s in the backup stream", t);
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
        dr_sha256_update(&m->sha, buf, (size_t)got);
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

/* Skips a run of 1 to 10 digits (an OID or segment number); NULL when there is none. */
static const char *digits(const char *p)
{
    size_t n = strspn(p, "0123456789");
    return n >= 1 && n <= 10 ? p + n : NULL;
}

/* Skips one path component that is digits followed by '/'. */
static const char *oid_dir(const char *p)
{
    p = p ? digits(p) : NULL;
    return p && *p == '/' ? p + 1 : NULL;
}

uint32_t dr_pg_file_block(const char *path, uint64_t size, uint64_t *dir_chunks)
{
    const char *p = NULL;
    if (strncmp(path, "global/", 7) == 0) {
        p = path + 7;
    } else if (strncmp(path, "base/", 5) == 0) {
        p = oid_dir(path + 5);
    } else if (strncmp(path, "pg_tblspc/", 10) == 0) {
        /* pg_tblspc/<oid>/PG_<major>_<catversion>/<db>/<file> */
        p = oid_dir(path + 10);
        const char *slash = p && strncmp(p, "PG_", 3) == 0 ? strchr(p, '/') : NULL;
        p = oid_dir(slash ? slash + 1 : NULL);
    }
    /* <relfilenode>[_fsm|_vm][.<segment>]: other forks (_init) and other files (pg_control,
     * pg_filenode.map, PG_VERSION) are left to the content-defined chunker */
    p = p ? digits(p) : NULL;
    if (p && (strncmp(p, "_fsm", 4) == 0 || strncmp(p, "_vm", 3) == 0)) {
        p += p[1] == 'f' ? 4 : 3;
    }
    if (p && *p == '.') {
        p = digits(p + 1);
    }
    if (!p || *p != '\0') {
        return 0;
    }
    if (dr_pg_file_listed(size)) {
        return DR_PG_REL_BLOCK; /* its chunks go into a chunk list, not the tree */
    }
    uint64_t n = size / DR_PG_REL_BLOCK + 1;
    if (*dir_chunks + n > DR_PG_REL_DIR_CHUNKS) {
        return 0; /* the directory's tree blob would not hold its chunk list */
    }
    *dir_chunks += n;
    return DR_PG_REL_BLOCK;
}

bool dr_pg_file_listed(uint64_t size)
{
    return size >= (uint64_t)DR_PG_LIST_MIN * DR_PG_REL_BLOCK;
}

static int add_file(struct dr_pg_consumer *c, struct dr_tar *tar, const struct dr_tar_entry *e,
                    const char *path, struct dr_pg_dir *d, const char *name)
{
    struct dr_node n = {0};
    struct member m = {.tar = tar};
    uint64_t want = e->size;
    node_meta(&n, e, name);
    n.type = DR_NODE_FILE;
    n.size = want; /* the engine sizes the chunk list for it; it sets the size read */
    dr_sha256_init(&m.sha);
    uint32_t block = dr_pg_file_block(path, want, &d->fixed_chunks);
    int rc = c->sink->add_file(c->sink->arg, member_read, &m, NULL, NULL, block, &n);
    if (rc >= 0 && m.got != want) {
        rc = dr_pg_bad(c, "archive member '%s' was not read to its end", path);
    }
    if (rc < 0) {
        dr_node_release(&n);
        return rc;
    }
    if (block && dr_pg_file_listed(want)) {
        n.flags |= DR_NODE_F_LISTED; /* put_tree writes its chunk list */
    }
    DR_GROW(c->seen, c->aseen, c->nseen + 1);
    struct dr_pg_seen *sn = &c->seen[c->nseen++];
    sn->path = dr_xstrdup(path);
    sn->size = want;
    sn->matched = false;
    dr_sha256_final(&m.sha, sn->sha);
    dr_tree_add(&d->entries, &n);
    return 0;
}

static int add_entry(struct dr_pg_consumer *c, struct dr_tar *tar, const struct dr_tar_entry *e,
                     const char *prefix)
{
    char *path = *prefix ? (*e->path ? dr_xasprintf("%s/%s", prefix, e->path) : dr_xstrdup(prefix))
                         : dr_xstrdup(e->path);
    struct dr_pg_dir *d = NULL;
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
        struct dr_pg_dir *sub = pdir_sub(d, name, strlen(name));
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
    default:
        rc = dr_pg_bad(c, "archive member '%s' has a type a data directory does not hold", path);
    }
out:
    free(path);
    return rc;
}

/* 'n' message: archive name and tablespace path, each NUL-terminated. The main archive
 * (base.tar, empty path) is the data directory; "<oid>.tar" is a tablespace, stored where
 * its symlink pg_tblspc/<oid> points from, so that the restored directory is self-contained. */
static int archive_prefix(struct dr_pg_consumer *c, char **out)
{
    const char *name = (const char *)c->pmsg + 1;
    size_t left = c->plen - 1;
    const char *nul = memchr(name, '\0', left);
    const char *path = nul ? nul + 1 : NULL;
    if (!nul || !memchr(path, '\0', left - (size_t)(path - name))) {
        return dr_pg_bad(c, "malformed new-archive message");
    }
    if (*path == '\0') {
        if (strcmp(name, "base.tar") != 0) {
            return dr_pg_bad(c, "unexpected archive '%s'", name);
        }
        *out = dr_xstrdup("");
        return 0;
    }
    size_t nl = strlen(name);
    if (nl < 5 || nl > 14 || strcmp(name + nl - 4, ".tar") != 0 ||
        strspn(name, "0123456789") != nl - 4) {
        return dr_pg_bad(c, "unexpected archive '%s'", name);
    }
    char key[64];
    snprintf(key, sizeof(key), "pg.tablespace.%.*s.location", (int)(nl - 4), name);
    dr_snapshot_add_meta(c->s, key, path);
    *out = dr_xasprintf("pg_tblspc/%.*s", (int)(nl - 4), name);
    return 0;
}

static int consume_archive(struct dr_pg_consumer *c)
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
                rc = dr_pg_bad(c, "data after the end of archive '%s'", what);
            }
        }
    }
    dr_tar_release(&tar);
    free(what);
    free(prefix);
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
 * any other duplicate name is an error. pt is the parent snapshot's tree of the same directory
 * (NULL: none), for the chunk lists of its relation files. */
static int store_dir(struct dr_pg_consumer *c, struct dr_pg_dir *d, const char *path,
                     struct dr_tree *pt, struct dr_id *out)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < d->nsubs; i++) {
        struct dr_pg_dir *sub = d->subs[i];
        const struct dr_id *psub = dr_node_subtree(pt ? dr_tree_find(pt, sub->name) : NULL);
        struct dr_tree spt;
        dr_tree_init(&spt);
        if (psub) {
            c->sink->load_tree(c->sink->arg, psub, &spt);
        }
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
        rc = store_dir(c, sub, sp, psub ? &spt : NULL, &n.subtree);
        dr_tree_release(&spt);
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
            return dr_pg_bad(c, "the backup holds '%s' twice", a->name);
        }
        if (w != i) {
            t->nodes[w] = t->nodes[i];
            memset(&t->nodes[i], 0, sizeof(t->nodes[i]));
        }
        w++;
    }
    t->n = w;
    c->sink->dir(c->sink->arg);
    return c->sink->put_tree(c->sink->arg, t, pt, out);
}

static int store_manifest(struct dr_pg_consumer *c)
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
    int rc = c->sink->add_file(c->sink->arg, mem_read, &sl, NULL, NULL, 0, &n);
    if (rc < 0) {
        dr_node_release(&n);
        return rc;
    }
    dr_tree_add(&c->root.entries, &n);
    return 0;
}

static int read_manifest(struct dr_pg_consumer *c)
{
    for (;;) {
        const uint8_t *m;
        size_t mlen;
        int rc = c->next(c->arg, &m, &mlen);
        if (rc <= 0) {
            return rc;
        }
        if (mlen == 0 || (m[0] != 'd' && m[0] != 'p')) {
            return dr_pg_bad(c, "unexpected message after the backup manifest");
        }
        if (m[0] == 'd' && dr_buf_add(&c->manifest, m + 1, mlen - 1) < 0) {
            return dr_pg_bad(c, "backup manifest is too large");
        }
    }
}

int dr_pg_stream_consume(dr_pg_msg_fn next, void *arg, const struct dr_source_sink *sink,
                         const char *server, struct dr_snapshot *s, const struct dr_id *ptree,
                         struct dr_id *out_root)
{
    struct dr_pg_consumer c = {
        .next = next,
        .arg = arg,
        .sink = sink,
        .server = server,
        .s = s,
        .pending = -1,
        .manifest = DR_BUF_INIT(DR_PG_MANIFEST_MAX),
    };
    dr_tree_init(&c.root.entries);
    /* the writer's policy, so that a later policy's snapshots can be told apart (what a reader
     * needs is only the chunk lists) */
    char policy[64];
    snprintf(policy, sizeof(policy), "relation-pages-v2 %u", DR_PG_REL_BLOCK);
    dr_snapshot_add_meta(s, "pg.chunking", policy);
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
        rc = dr_pg_bad(&c, "the backup stream does not begin with an archive");
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
        rc = dr_pg_bad(&c, "the server sent no backup manifest");
        goto out;
    }
    rc = read_manifest(&c);
    if (rc < 0) {
        goto out;
    }
    rc = dr_pg_manifest_verify(&c);
    if (rc < 0) {
        goto out;
    }
    rc = store_manifest(&c);
    if (rc < 0) {
        goto out;
    }
    struct dr_id root;
    struct dr_tree pt;
    dr_tree_init(&pt);
    if (ptree) {
        sink->load_tree(sink->arg, ptree, &pt);
    }
    rc = store_dir(&c, &c.root, "", ptree ? &pt : NULL, &root);
    dr_tree_release(&pt);
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
