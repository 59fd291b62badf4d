/* copy.c: the copy engine (copy.h). A snapshot's trees are copied depth first: a tree's
 * subtrees first, then the data blobs of its files that the run has not met (one read-engine
 * stream per tree, in the tree's order, each blob handed to the target's pipeline as it
 * arrives), then the tree itself, rewritten with the target's ids. A map from source ids to
 * target ids spans the run, so a blob or a tree shared by several snapshots is read once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/copy.h"

#include "drrepo/chunklist.h"
#include "drrepo/error.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pipeline.h"
#include "drrepo/read.h"
#include "drrepo/walk.h"

#define COPIED_FROM "copied_from"

/* Source id -> target id, open addressing (ids are hashes: their first bytes are the hash). */
struct idmap_entry {
    struct dr_id src, dst;
    uint32_t pending; /* 0: dst is known; k + 1: it is want k of the tree being copied */
    bool used;
};

struct idmap {
    struct idmap_entry *v;
    size_t cap, n; /* cap: a power of two */
};

static size_t idmap_slot(const struct idmap *m, const struct dr_id *id)
{
    uint64_t h;
    memcpy(&h, id->b, sizeof(h));
    size_t i = (size_t)h & (m->cap - 1);
    while (m->v[i].used && !dr_id_eq(&m->v[i].src, id)) {
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

static struct idmap_entry *idmap_find(const struct idmap *m, const struct dr_id *id)
{
    if (!m->cap) {
        return NULL;
    }
    struct idmap_entry *e = &m->v[idmap_slot(m, id)];
    return e->used ? e : NULL;
}

static struct idmap_entry *idmap_add(struct idmap *m, const struct dr_id *id)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct idmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 1024;
        m->v = dr_xcalloc(m->cap, sizeof(*m->v));
        for (size_t i = 0; i < old.cap; i++) {
            if (old.v[i].used) {
                m->v[idmap_slot(m, &old.v[i].src)] = old.v[i];
            }
        }
        free(old.v);
    }
    struct idmap_entry *e = &m->v[idmap_slot(m, id)];
    if (!e->used) {
        e->used = true;
        e->src = *id;
        m->n++;
    }
    return e;
}

/* A snapshot of the target that is a copy: the source id it names and its own. */
struct copied {
    struct dr_id from, id;
};

struct dr_copy {
    struct dr_repo *src, *dst;
    struct idmap map;
    struct copied *copied;
    size_t ncopied, acopied;
    /* the snapshot being copied */
    struct dr_pipeline *w;
    uint64_t blobs_read;
};

int dr_copy_open(struct dr_repo *src, struct dr_repo *dst, struct dr_copy **out)
{
    if (dr_id_eq(&dr_repo_config(src)->repo_id, &dr_repo_config(dst)->repo_id)) {
        return dr_errorf(DR_EUSAGE, "the target is the source repository itself");
    }
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    int rc = dr_repo_snapshot_list(dst, &v, &n, NULL);
    if (rc < 0) {
        return dr_error_wrap(rc, "target repository");
    }
    struct dr_copy *c = dr_xcalloc(1, sizeof(*c));
    c->src = src;
    c->dst = dst;
    for (size_t i = 0; i < n; i++) {
        const char *from = dr_snapshot_get_meta(&v[i].snap, COPIED_FROM);
        struct dr_id fid;
        if (from && strlen(from) == DR_ID_HEX_LEN && dr_hex_decode(from, fid.b, DR_ID_LEN)) {
            DR_GROW(c->copied, c->acopied, c->ncopied + 1);
            c->copied[c->ncopied++] = (struct copied){fid, v[i].id};
        }
    }
    dr_snap_list_free(v, n);
    *out = c;
    return 0;
}

void dr_copy_free(struct dr_copy *c)
{
    if (!c) {
        return;
    }
    dr_pipeline_free(c->w);
    free(c->map.v);
    free(c->copied);
    free(c);
}

static const struct copied *find_copied(const struct dr_copy *c, const struct dr_id *from)
{
    for (size_t i = 0; i < c->ncopied; i++) {
        if (dr_id_eq(&c->copied[i].from, from)) {
            return &c->copied[i];
        }
    }
    return NULL;
}

/* A file with a chunk list (format/chunklist.md) gets a list of its chunks' target ids in the
 * target, under the same writer policy as a snapshot (dr_pipeline_put_list): a change to the
 * list of the same file in the target's copy of the source snapshot's parent (pn, expanded, in
 * target ids), else a full list. The source's chain is not copied as it is: a change names
 * chunks of earlier snapshots, which the target need not have. */
static int copy_list(struct dr_copy *c, struct dr_node *n, const struct dr_node *pn)
{
    struct dr_id src = n->list;
    struct idmap_entry *e = idmap_find(&c->map, &src);
    if (e) {
        n->list = e->dst; /* the same source list already copied in this run */
        return 0;
    }
    int rc = dr_pipeline_put_list(c->w, n, pn);
    if (rc >= 0 && (n->flags & DR_NODE_F_LISTED)) {
        idmap_add(&c->map, &src)->dst = n->list;
    }
    return rc;
}

/* The data blobs of t's files that the run has not met: read from the source in one stream and
 * handed to the target's pipeline; then every chunk id of t is replaced by the target's, and
 * the files with chunk lists get theirs (pt: the target parent's tree of the same directory,
 * NULL: none). */
static int copy_chunks(struct dr_copy *c, struct dr_tree *t, const struct dr_tree *pt)
{
    struct dr_read_want *wants = NULL;
    size_t nw = 0, aw = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct dr_node *n = &t->nodes[i];
        for (uint32_t k = 0; n->type == DR_NODE_FILE && k < n->nchunks; k++) {
            struct idmap_entry *e = idmap_find(&c->map, &n->chunks[k]);
            if (e) {
                continue;
            }
            DR_GROW(wants, aw, nw + 1);
            wants[nw] = (struct dr_read_want){.id = n->chunks[k], .ulen = n->chunk_sizes[k]};
            e = idmap_add(&c->map, &n->chunks[k]);
            e->pending = (uint32_t)++nw;
        }
    }
    int rc = 0;
    struct dr_id *got = nw ? dr_xcalloc(nw, sizeof(*got)) : NULL;
    if (nw) {
        struct dr_read_params p;
        dr_read_params_default(&p);
        struct dr_read_stream *s = NULL;
        rc = dr_read_stream_open(c->src, &p, wants, nw, &s);
        struct dr_read_extent x;
        while (rc >= 0 && (rc = dr_read_stream_next(s, &x)) > 0) {
            if (x.kind == DR_EXTENT_ERROR) {
                rc = dr_errorf(x.code < 0 ? x.code : DR_ECORRUPT, "%s", x.msg);
                break;
            }
            c->blobs_read++;
            rc = dr_pipeline_put_data(c->w, dr_xmemdup(x.data, x.len), x.len, &got[x.index]);
            if (rc >= 0) {
                rc = dr_interrupt_check();
            }
        }
        dr_read_stream_close(s, NULL);
        if (rc >= 0) {
            rc = dr_pipeline_drain(c->w);
        }
    }
    for (size_t k = 0; rc >= 0 && k < nw; k++) {
        struct idmap_entry *e = idmap_find(&c->map, &wants[k].id);
        e->dst = got[k];
        e->pending = 0;
    }
    for (size_t i = 0; rc >= 0 && i < t->n; i++) {
        struct dr_node *n = &t->nodes[i];
        for (uint32_t k = 0; n->type == DR_NODE_FILE && k < n->nchunks; k++) {
            n->chunks[k] = idmap_find(&c->map, &n->chunks[k])->dst;
        }
        if (n->type == DR_NODE_FILE && (n->flags & DR_NODE_F_LISTED)) {
            rc = copy_list(c, n, pt ? dr_tree_find(pt, n->name) : NULL);
        }
    }
    free(got);
    free(wants);
    return rc;
}

/* Copies tree id (and everything below it) into the target; *out is its id there. ptree is the
 * tree of the same directory in the target's copy of the source snapshot's parent (NULL: none),
 * whose chunk lists the copied files' lists change. */
static int copy_tree(struct dr_copy *c, const struct dr_id *id, const struct dr_id *ptree,
                     unsigned depth, struct dr_id *out)
{
    char hex[DR_ID_HEX_LEN + 1];
    struct idmap_entry *e = idmap_find(&c->map, id);
    if (e) {
        *out = e->dst;
        return 0;
    }
    if (depth > DR_WALK_MAX_DEPTH) {
        return dr_errorf(DR_ECORRUPT, "tree %.12s is nested deeper than %d levels",
                         dr_id_hex(id, hex), DR_WALK_MAX_DEPTH);
    }
    int rc = dr_interrupt_check();
    if (rc < 0) {
        return rc;
    }
    struct dr_tree t, pt;
    dr_tree_init(&t);
    dr_tree_init(&pt);
    rc = dr_repo_tree_load(c->src, NULL, id, &t);
    if (rc < 0) {
        return dr_error_wrap(rc, "source tree %.12s", dr_id_hex(id, hex));
    }
    if (ptree && dr_repo_tree_load(c->dst, NULL, ptree, &pt) < 0) {
        /* a parent only makes the lists smaller: without it they are full */
        dr_log_detail("target parent tree unusable: %s", dr_error_msg());
        dr_error_clear();
        ptree = NULL;
    }
    for (size_t i = 0; rc >= 0 && i < t.n; i++) {
        struct dr_node *n = &t.nodes[i];
        if (n->type == DR_NODE_DIR) {
            struct dr_id sub = n->subtree;
            const struct dr_node *pn = ptree ? dr_tree_find(&pt, n->name) : NULL;
            rc = copy_tree(c, &sub, dr_node_subtree(pn), depth + 1, &n->subtree);
        }
    }
    if (rc >= 0) {
        rc = copy_chunks(c, &t, ptree ? &pt : NULL);
    }
    struct dr_buf enc = DR_BUF_INIT(DR_TREE_MAX);
    if (rc >= 0) {
        /* the names and their order are the source's: the tree is sorted already */
        rc = dr_tree_encode(&t, &enc);
    }
    struct dr_id nid;
    if (rc >= 0) {
        rc = dr_pipeline_put_tree(c->w, (const uint8_t *)enc.buf, enc.len, &nid);
    }
    if (rc >= 0) {
        idmap_add(&c->map, id)->dst = nid;
        *out = nid;
    }
    dr_buf_release(&enc);
    dr_tree_release(&t);
    dr_tree_release(&pt);
    return rc;
}

/* The root tree of the target's copy of s's parent, for the chunk lists of s's files: only for
 * snapshots whose writer wrote chunk lists (format/chunker.md, policy relation-pages-v2), so
 * that the copy of any other snapshot reads no tree of the target. */
static bool target_parent(const struct dr_copy *c, const struct dr_snapshot *s,
                          struct dr_id *out_tree)
{
    const char *policy = dr_snapshot_get_meta(s, "pg.chunking");
    const struct copied *p = s->has_parent ? find_copied(c, &s->parent) : NULL;
    if (!p || !policy || strncmp(policy, "relation-pages-v2 ", 18) != 0) {
        return false;
    }
    struct dr_snapshot ps;
    dr_snapshot_init(&ps);
    bool ok = dr_repo_snapshot_load(c->dst, &p->id, &ps) >= 0;
    if (ok) {
        *out_tree = ps.tree;
    } else {
        dr_log_detail("target parent snapshot unusable: %s", dr_error_msg());
        dr_error_clear();
    }
    dr_snapshot_release(&ps);
    return ok;
}

/* The target's snapshot for source snapshot s (id sid) with root tree tree. */
static void build_snapshot(const struct dr_copy *c, const struct dr_id *sid,
                           const struct dr_snapshot *s, const struct dr_id *tree,
                           struct dr_snapshot *ns)
{
    ns->time_ns = s->time_ns;
    ns->host = dr_xstrdup(s->host ? s->host : "");
    ns->user = dr_xstrdup(s->user ? s->user : "");
    for (size_t i = 0; i < s->ntags; i++) {
        dr_snapshot_add_tag(ns, s->tags[i]);
    }
    for (size_t i = 0; i < s->npaths; i++) {
        dr_snapshot_add_path(ns, s->paths[i]);
    }
    ns->source = s->source ? dr_xstrdup(s->source) : NULL;
    ns->summary = s->summary;
    for (size_t i = 0; i < s->nmeta; i++) {
        /* a copy of a copy names the snapshot it was made from, not the first original */
        if (strcmp(s->meta[i].key, COPIED_FROM) != 0) {
            dr_snapshot_add_meta(ns, s->meta[i].key, s->meta[i].value);
        }
    }
    char hex[DR_ID_HEX_LEN + 1];
    dr_snapshot_add_meta(ns, COPIED_FROM, dr_id_hex(sid, hex));
    ns->tree = *tree;
    /* the parent is a snapshot of the source; its copy, when there is one, is the parent here.
     * A repaired snapshot's original is not carried: it names a snapshot of the source. */
    const struct copied *p = s->has_parent ? find_copied(c, &s->parent) : NULL;
    if (p) {
        ns->parent = p->id;
        ns->has_parent = true;
    }
}

int dr_copy_snapshot(struct dr_copy *c, const struct dr_id *id, struct dr_copy_result *out)
{
    memset(out, 0, sizeof(*out));
    out->source_id = *id;
    const struct copied *done = find_copied(c, id);
    if (done) {
        out->target_id = done->id;
        out->skipped = true;
        return 0;
    }
    char hex[DR_ID_HEX_LEN + 1];
    struct dr_snapshot s, ns;
    dr_snapshot_init(&s);
    dr_snapshot_init(&ns);
    int rc = dr_repo_snapshot_load(c->src, id, &s);
    if (rc < 0) {
        return dr_error_wrap(rc, "source snapshot %.8s", dr_id_hex(id, hex));
    }
    c->blobs_read = 0;
    rc = dr_pipeline_open(c->dst, &c->w);
    struct dr_id tree, ptree;
    bool has_ptree = rc >= 0 && target_parent(c, &s, &ptree);
    if (rc >= 0) {
        rc = copy_tree(c, &s.tree, has_ptree ? &ptree : NULL, 0, &tree);
    }
    if (rc >= 0) {
        build_snapshot(c, id, &s, &tree, &ns);
        /* the commit flushes first: the snapshot object is written only after its packs */
        rc = dr_pipeline_commit(c->w, &ns, &out->target_id);
    }
    if (rc >= 0) {
        struct dr_pipeline_stats st;
        dr_pipeline_get_stats(c->w, &st);
        out->blobs_added = st.blobs_added;
        out->bytes_added = st.bytes_added;
        out->blobs_read = c->blobs_read;
        DR_GROW(c->copied, c->acopied, c->ncopied + 1);
        c->copied[c->ncopied++] = (struct copied){*id, out->target_id};
    }
    if (rc < 0) {
        /* blobs of packs never written are gone: forget what the map says of this snapshot's */
        for (size_t i = 0; i < c->map.cap; i++) {
            c->map.v[i].used = false;
        }
        c->map.n = 0;
        rc = dr_error_wrap(rc, "copy of snapshot %.8s", dr_id_hex(id, hex));
    }
    dr_pipeline_free(c->w);
    c->w = NULL;
    dr_snapshot_release(&s);
    dr_snapshot_release(&ns);
    return rc;
}
