/* repair.c: rebuilding the index and repairing snapshots (see repair.h). */
#include "drrepo/repair.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/pipeline.h"
#include "drrepo/walk.h"

int dr_repair_index(struct dr_repo *r)
{
    int rc = dr_repo_index_recreate(r);
    if (rc >= 0) {
        rc = dr_repo_sync_index(r, DR_SYNC_REBUILD);
    }
    return rc;
}

/* ---- repair packs ------------------------------------------------------------------------- */

struct tree_name {
    struct dr_id id;
    bool orig, copy;
};

struct tree_names {
    struct tree_name *v;
    size_t n, alloc;
};

static int tree_name_cb(void *arg, const char *name, uint64_t size)
{
    (void)size;
    struct tree_names *tn = arg;
    struct dr_id id;
    enum dr_layout_kind kind;
    int rc = dr_layout_parse(name, &kind, &id);
    bool copy = rc >= 0 && kind == DR_LAYOUT_TREE_COPY;
    if (rc < 0 || (kind != DR_LAYOUT_TREE && !copy)) {
        dr_error_clear();
        return 0; /* not ours: check reports it */
    }
    DR_GROW(tn->v, tn->alloc, tn->n + 1);
    tn->v[tn->n++] = (struct tree_name){.id = id, .orig = !copy, .copy = copy};
    return 0;
}

static int tree_name_cmp(const void *a, const void *b)
{
    return dr_id_cmp(&((const struct tree_name *)a)->id, &((const struct tree_name *)b)->id);
}

/* Reads obj whole into buf: 1 when its bytes hash to id, 0 when missing or not, < 0 DR_EIO. */
static int read_good(struct dr_repo *r, const char *obj, const struct dr_id *id, struct dr_buf *buf)
{
    dr_buf_reset(buf);
    int rc = dr_backend_get(dr_repo_backend(r), obj, 0, UINT64_MAX, buf);
    if (rc == DR_EIO || rc == DR_ENET) {
        return rc;
    }
    if (rc < 0) {
        dr_log_detail("%s", dr_error_msg());
        dr_error_clear();
        return 0;
    }
    struct dr_id got;
    dr_crypto_pack_hash(dr_repo_keys(r), buf->buf, buf->len, &got);
    return dr_id_eq(&got, id) ? 1 : 0;
}

static void add_name(char ***v, size_t *n, size_t *alloc, const char *name)
{
    DR_GROW(*v, *alloc, *n + 1);
    (*v)[(*n)++] = dr_xstrdup(name);
}

int dr_repair_packs(struct dr_repo *r, bool dry_run, struct dr_repair_packs_result *out)
{
    struct tree_names tn = {0};
    struct dr_buf a = DR_BUF_INIT((size_t)DR_PACK_FILE_MAX);
    struct dr_buf b = DR_BUF_INIT((size_t)DR_PACK_FILE_MAX);
    memset(out, 0, sizeof(*out));
    int rc = dr_backend_list(dr_repo_backend(r), DR_OBJ_TREE, tree_name_cb, &tn);
    if (rc >= 0) {
        rc = dr_backend_list(dr_repo_backend(r), DR_OBJ_TREE_COPY, tree_name_cb, &tn);
    }
    if (tn.n) {
        qsort(tn.v, tn.n, sizeof(*tn.v), tree_name_cmp);
    }
    for (size_t i = 0; rc >= 0 && i < tn.n; i++) {
        struct tree_name t = tn.v[i];
        while (i + 1 < tn.n && dr_id_eq(&tn.v[i + 1].id, &t.id)) {
            t.orig |= tn.v[i + 1].orig;
            t.copy |= tn.v[i + 1].copy;
            i++;
        }
        out->packs++;
        char *orig = dr_layout_pack_name(DR_BLOB_TREE, &t.id),
             *copy = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, &t.id);
        int og = t.orig ? read_good(r, orig, &t.id, &a) : 0;
        int cg = og >= 0 && t.copy ? read_good(r, copy, &t.id, &b) : 0;
        rc = og < 0 ? og : cg < 0 ? cg : 0;
        if (rc >= 0 && og != cg) {
            /* one good, one missing or damaged: write the bad name again from the good bytes
             * (temporary file, fsync, rename over it, fsync of the directory) */
            const char *dst = og ? copy : orig;
            const struct dr_buf *src = og ? &a : &b;
            if (!dry_run) {
                rc = dr_backend_put(dr_repo_backend(r), dst, src->buf, src->len, false);
            }
            if (rc >= 0) {
                add_name(&out->written, &out->nwritten, &out->awritten, dst);
            }
        } else if (rc >= 0 && !og) {
            add_name(&out->unrepairable, &out->nunrepairable, &out->aunrepairable, orig);
        }
        free(orig);
        free(copy);
    }
    uint64_t size;
    if (rc >= 0 && dr_backend_stat(dr_repo_backend(r), DR_OBJ_TREE_COPIES, &size) < 0) {
        dr_error_clear();
        rc = dry_run ? 0 : dr_backend_put(dr_repo_backend(r), DR_OBJ_TREE_COPIES, "", 0, false);
        out->marker_written = rc >= 0;
    }
    free(tn.v);
    dr_buf_release(&a);
    dr_buf_release(&b);
    if (rc < 0) {
        dr_repair_packs_result_release(out);
    }
    return rc;
}

void dr_repair_packs_result_release(struct dr_repair_packs_result *res)
{
    for (size_t i = 0; i < res->nwritten; i++) {
        free(res->written[i]);
    }
    for (size_t i = 0; i < res->nunrepairable; i++) {
        free(res->unrepairable[i]);
    }
    free(res->written);
    free(res->unrepairable);
    memset(res, 0, sizeof(*res));
}

/* ---- repair snapshots --------------------------------------------------------------------- */

struct rep {
    struct dr_repo *r;
    bool read_data, dry_run;
    struct dr_pipeline *w;
    struct dr_index_txn *txn;
    struct dr_repair_result *res;
    const struct dr_id *snap;
    struct dr_id empty_tree;
    bool have_empty;
    bool *changed; /* one per tree being walked: whether it must be rewritten */
    size_t depth, adepth;
    struct dr_id new_tree; /* what the tree the walk just left became, when new_set */
    bool new_set;
};

/* A blob is damaged when it is not indexed, its pack is missing, or reading it fails (when
 * reading is asked for, its pack failed its last verification, or has the wrong size). */
static int blob_damaged(struct rep *p, const struct dr_id *id)
{
    struct dr_index_blob b;
    int rc = dr_index_blob_get(p->txn, id, &b);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        return 1;
    }
    if (rc < 0) {
        return rc;
    }
    struct dr_index_pack ip;
    rc = dr_index_pack_get(p->txn, &b.pack, &ip);
    if (rc < 0) {
        dr_error_clear();
        return 1;
    }
    char *obj = dr_layout_pack_name(b.type, &b.pack);
    uint64_t size;
    rc = dr_backend_stat(dr_repo_backend(p->r), obj, &size);
    free(obj);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        return 1;
    }
    if (rc < 0) {
        return rc;
    }
    /* a blob is read to decide only when there is reason to doubt it: asked to, its pack
     * failed its last verification, or the pack's size is not what the index recorded */
    if (!p->read_data && !(ip.verified_ns != 0 && !ip.verified_ok) && size == ip.size) {
        return 0;
    }
    struct dr_buf plain = DR_BUF_INIT(DR_BLOB_MAX);
    rc = dr_repo_blob_get(p->r, p->txn, DR_BLOB_DATA, id, &plain);
    dr_buf_release(&plain);
    if (rc == DR_EIO) {
        return rc;
    }
    if (rc < 0) {
        dr_log_detail("%s", dr_error_msg());
        dr_error_clear();
        return 1;
    }
    return 0;
}

static void record_file(struct rep *p, const char *path, uint64_t lost, uint32_t ranges)
{
    struct dr_repair_result *res = p->res;
    DR_GROW(res->files, res->afiles, res->nfiles + 1);
    res->files[res->nfiles++] = (struct dr_repair_file){
        .snapshot = *p->snap, .path = dr_xstrdup(path), .lost_bytes = lost, .ranges = ranges};
}

/* Records file n as lost as a whole: no chunks, one damaged range that is all of it, the
 * DAMAGED flag, and not the flag drop of the encoding it can no longer be read by. */
static void lose_file(struct rep *p, struct dr_node *n, const char *path, uint32_t drop)
{
    record_file(p, path, n->size, n->size ? 1 : 0);
    n->nchunks = 0;
    free(n->damaged);
    n->damaged = NULL;
    n->ndamaged = 0;
    if (n->size) {
        n->damaged = dr_xmalloc(sizeof(*n->damaged));
        n->damaged[0] = (struct dr_range){0, n->size};
        n->ndamaged = 1;
    }
    n->flags = (n->flags & ~drop) | DR_NODE_F_DAMAGED;
}

/* A record-encoded file (format/rdb.md) has no byte ranges per blob: every record of a group
 * lands somewhere else in the file. A damaged blob loses the file as a whole, which becomes a
 * plain damaged file whose one lost range is all of it (restore writes zeros, as for any lost
 * range). Returns 1 if changed. */
static int repair_records(struct rep *p, struct dr_node *n, const char *path)
{
    bool lost = false;
    for (uint32_t i = 0; i < n->nchunks && !lost; i++) {
        int d = blob_damaged(p, &n->chunks[i]);
        if (d < 0) {
            return d;
        }
        lost = d > 0;
    }
    if (!lost) {
        return 0;
    }
    lose_file(p, n, path, DR_NODE_F_RECORDS);
    return 1;
}

/* Removes damaged chunks from a file node, recording the lost ranges. Returns 1 if changed. */
static int repair_file(struct rep *p, struct dr_node *n, const char *path)
{
    if (n->flags & DR_NODE_F_RECORDS) {
        return repair_records(p, n, path);
    }
    uint64_t off = 0, lost = 0;
    uint32_t keep = 0;
    struct dr_range *ranges = NULL;
    size_t nr = 0, ar = 0;
    /* offsets of already-damaged ranges are kept: walk chunks and old ranges together */
    size_t oi = 0;
    for (uint32_t i = 0; i < n->nchunks; i++) {
        while (oi < n->ndamaged && n->damaged[oi].off == off) {
            DR_GROW(ranges, ar, nr + 1);
            ranges[nr++] = n->damaged[oi];
            off += n->damaged[oi].len;
            oi++;
        }
        int d = blob_damaged(p, &n->chunks[i]);
        if (d < 0) {
            free(ranges);
            return d;
        }
        if (d) {
            if (nr && ranges[nr - 1].off + ranges[nr - 1].len == off) {
                ranges[nr - 1].len += n->chunk_sizes[i];
            } else {
                DR_GROW(ranges, ar, nr + 1);
                ranges[nr++] = (struct dr_range){off, n->chunk_sizes[i]};
            }
            lost += n->chunk_sizes[i];
        } else {
            n->chunks[keep] = n->chunks[i];
            n->chunk_sizes[keep] = n->chunk_sizes[i];
            keep++;
        }
        off += n->chunk_sizes[i];
    }
    for (; oi < n->ndamaged; oi++) {
        DR_GROW(ranges, ar, nr + 1);
        ranges[nr++] = n->damaged[oi];
    }
    if (lost == 0) {
        free(ranges);
        return 0;
    }
    record_file(p, path, lost, (uint32_t)nr);
    n->nchunks = keep;
    free(n->damaged);
    n->damaged = ranges;
    n->ndamaged = (uint32_t)nr;
    /* the repaired file lists what is left in its tree: its chunk list (still whole, and kept
     * by the snapshots that share it) would name the lost blobs */
    n->flags = (n->flags & ~DR_NODE_F_LISTED) | DR_NODE_F_DAMAGED;
    free(n->lists);
    n->lists = NULL;
    n->nlists = 0;
    return 1;
}

static int empty_tree(struct rep *p, struct dr_id *out)
{
    if (!p->have_empty) {
        struct dr_tree t;
        struct dr_buf enc = DR_BUF_INIT(DR_TREE_MAX);
        dr_tree_init(&t);
        int rc = dr_tree_encode(&t, &enc);
        if (rc >= 0 && !p->dry_run) {
            rc = dr_pipeline_put_tree(p->w, (const uint8_t *)enc.buf, enc.len, &p->empty_tree);
        }
        dr_buf_release(&enc);
        if (rc < 0) {
            return rc;
        }
        p->have_empty = true;
    }
    *out = p->empty_tree;
    return 0;
}

/* The walk rewrites a tree that had to change on the way back up: its node callbacks repair
 * files, leave_dir puts a changed subtree's new id (or an empty tree for an unreadable one) into
 * its directory node, and leave_tree writes the changed tree. */
static int rep_enter(void *arg, const struct dr_id *tree, const char *path)
{
    (void)tree;
    (void)path;
    struct rep *p = arg;
    DR_GROW(p->changed, p->adepth, p->depth + 1);
    p->changed[p->depth++] = false;
    return 0;
}

static int rep_unreadable(void *arg, const struct dr_id *tree, const char *path, int err)
{
    (void)tree;
    struct rep *p = arg;
    p->depth--;
    if (err != DR_ECORRUPT && err != DR_ENOENT) {
        return err;
    }
    if (*path == '\0') {
        char h[DR_ID_HEX_LEN + 1];
        dr_log_warn("snapshot %.8s: its root directory cannot be read (%s)", dr_id_hex(p->snap, h),
                    dr_error_msg());
    } else {
        dr_log_warn("directory '%s' cannot be read (%s); kept as an empty directory marked "
                    "damaged",
                    path, dr_error_msg());
    }
    return 0;
}

static int rep_load(void *arg, const struct dr_id *id, struct dr_tree *t)
{
    struct rep *p = arg;
    return dr_repo_tree_load_salvage(p->r, p->txn, id, t);
}

static int rep_node(void *arg, const char *path, struct dr_node *n)
{
    struct rep *p = arg;
    if (n->type == DR_NODE_FILE && (n->flags & DR_NODE_F_LISTED) && !n->nlists) {
        /* its chunk list could not be read (dr_repo_tree_load_salvage): its chunks may all be
         * there, but nothing says which they are */
        lose_file(p, n, path, DR_NODE_F_LISTED);
        p->changed[p->depth - 1] = true;
        return 0;
    }
    if (n->type == DR_NODE_FILE && n->nchunks) {
        int rc = repair_file(p, n, path);
        if (rc < 0) {
            return rc;
        }
        p->changed[p->depth - 1] = p->changed[p->depth - 1] || rc == 1;
    }
    return 0;
}

static int rep_leave_dir(void *arg, const char *path, struct dr_node *n, int status)
{
    struct rep *p = arg;
    if (status < 0) {
        return status;
    }
    if (status == DR_WALK_UNREADABLE) {
        record_file(p, path, 0, 0);
        n->flags |= DR_NODE_F_DAMAGED;
        p->changed[p->depth - 1] = true;
        int rc = empty_tree(p, &n->subtree);
        return rc < 0 ? rc : 0;
    }
    if (p->new_set) {
        n->subtree = p->new_tree;
        p->changed[p->depth - 1] = true;
        p->new_set = false;
    }
    return 0;
}

static int rep_leave_tree(void *arg, const struct dr_id *tree, const char *path, struct dr_tree *t)
{
    (void)path;
    struct rep *p = arg;
    p->new_set = p->changed[--p->depth];
    if (!p->new_set) {
        return 0;
    }
    p->new_tree = *tree; /* a dry run writes nothing: the id stays the old one */
    struct dr_buf enc = DR_BUF_INIT(DR_TREE_MAX);
    int rc = dr_tree_encode(t, &enc);
    if (rc >= 0 && !p->dry_run) {
        rc = dr_pipeline_put_tree(p->w, (const uint8_t *)enc.buf, enc.len, &p->new_tree);
    }
    dr_buf_release(&enc);
    return rc;
}

/* Returns 1 and sets *out when the snapshot's root tree had to change, 0 when it is intact. */
static int repair_tree(struct rep *p, const struct dr_id *root, struct dr_id *out)
{
    struct dr_walk w = {
        .r = p->r,
        .txn = p->txn,
        .arg = p,
        .load = rep_load,
        .enter = rep_enter,
        .unreadable = rep_unreadable,
        .node = rep_node,
        .leave_dir = rep_leave_dir,
        .leave_tree = rep_leave_tree,
    };
    p->depth = 0;
    p->new_set = false;
    int rc = dr_walk_run(&w, root, "");
    if (rc == DR_WALK_UNREADABLE) {
        record_file(p, "/", 0, 0);
        rc = empty_tree(p, out);
        return rc < 0 ? rc : 1;
    }
    if (rc < 0 || !p->new_set) {
        return rc < 0 ? rc : 0;
    }
    *out = p->new_tree;
    return 1;
}

static int repair_one(struct rep *p, const struct dr_snap_entry *e)
{
    p->snap = &e->id;
    struct dr_id root;
    int rc = repair_tree(p, &e->snap.tree, &root);
    if (rc <= 0) {
        return rc;
    }
    p->res->snapshots_repaired++;
    if (p->dry_run) {
        return 0;
    }
    struct dr_snapshot s;
    dr_snapshot_copy(&s, &e->snap);
    dr_snapshot_add_tag(&s, "repaired");
    s.tree = root;
    s.original = e->id;
    s.has_original = true;
    struct dr_id nid;
    rc = dr_pipeline_commit(p->w, &s, &nid);
    dr_snapshot_release(&s);
    if (rc >= 0) {
        struct dr_repair_result *res = p->res;
        DR_GROW(res->new_ids, res->anew, res->nnew + 1);
        res->old_ids = dr_xrealloc(res->old_ids, res->anew * sizeof(*res->old_ids));
        res->new_ids[res->nnew] = nid;
        res->old_ids[res->nnew] = e->id;
        res->nnew++;
    }
    return rc;
}

int dr_repair_snapshots(struct dr_repo *r, bool read_data, bool dry_run,
                        struct dr_repair_result *out)
{
    memset(out, 0, sizeof(*out));
    struct rep p = {.r = r, .read_data = read_data, .dry_run = dry_run, .res = out};
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    int rc = dr_repo_snapshot_list(r, &v, &n, NULL);
    if (rc < 0) {
        return rc;
    }
    if (!dry_run) {
        rc = dr_pipeline_open(r, &p.w);
    }
    if (rc >= 0) {
        rc = dr_index_begin(dr_repo_index(r), false, &p.txn);
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        out->snapshots_checked++;
        /* an original that was repaired before is kept as it is (the user forgets it) */
        bool already = false;
        for (size_t k = 0; k < n; k++) {
            if (v[k].snap.has_original && dr_id_eq(&v[k].snap.original, &v[i].id)) {
                already = true;
            }
        }
        if (already) {
            continue;
        }
        rc = repair_one(&p, &v[i]);
        if (rc >= 0 && p.txn) {
            rc = dr_index_renew(p.txn);
        }
    }
    dr_index_abort(p.txn);
    dr_pipeline_free(p.w);
    free(p.changed);
    dr_snap_list_free(v, n);
    return rc;
}

void dr_repair_result_release(struct dr_repair_result *res)
{
    for (size_t i = 0; i < res->nfiles; i++) {
        free(res->files[i].path);
    }
    free(res->files);
    free(res->new_ids);
    free(res->old_ids);
    memset(res, 0, sizeof(*res));
}
