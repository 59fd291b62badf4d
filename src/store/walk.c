/* walk.c: listing and resolving snapshots, and walking their trees (for ls, restore, diff,
 * check and reference counting). Trees are loaded one directory at a time, so memory follows
 * the depth of the tree, not its size. */
#include "drrepo/repo.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "drrepo/walk.h"

struct list_ctx {
    struct dr_repo *r;
    struct dr_snap_entry *v;
    size_t n, alloc, bad;
};

static int list_cb(void *arg, const char *name, uint64_t size)
{
    (void)size;
    struct list_ctx *lc = arg;
    struct dr_id id;
    if (!dr_layout_is(name, DR_LAYOUT_SNAPSHOT, &id)) {
        dr_log_warn("ignoring unexpected file '%s' among snapshots", name);
        return 0;
    }
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    int rc = dr_repo_snapshot_load(lc->r, &id, &s);
    if (rc < 0) {
        dr_log_warn("%s", dr_error_msg());
        dr_snapshot_release(&s);
        lc->bad++;
        return 0;
    }
    DR_GROW(lc->v, lc->alloc, lc->n + 1);
    lc->v[lc->n].id = id;
    lc->v[lc->n].snap = s;
    lc->n++;
    return 0;
}

static int snap_time_cmp(const void *a, const void *b)
{
    const struct dr_snap_entry *x = a, *y = b;
    if (x->snap.time_ns != y->snap.time_ns) {
        return x->snap.time_ns < y->snap.time_ns ? -1 : 1;
    }
    return dr_id_cmp(&x->id, &y->id);
}

int dr_repo_snapshot_list(struct dr_repo *r, struct dr_snap_entry **out, size_t *out_n,
                          size_t *out_bad)
{
    struct list_ctx lc = {.r = r};
    int rc = dr_backend_list_names(r->backend, DR_OBJ_SNAPSHOTS, list_cb, &lc);
    if (rc < 0) {
        dr_snap_list_free(lc.v, lc.n);
        return rc;
    }
    if (lc.n) {
        qsort(lc.v, lc.n, sizeof(*lc.v), snap_time_cmp);
    }
    *out = lc.v;
    *out_n = lc.n;
    if (out_bad) {
        *out_bad = lc.bad;
    }
    return 0;
}

void dr_snap_list_free(struct dr_snap_entry *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dr_snapshot_release(&list[i].snap);
    }
    free(list);
}

bool dr_snapshot_has_tag(const struct dr_snapshot *s, const char *tag)
{
    for (size_t i = 0; i < s->ntags; i++) {
        if (strcmp(s->tags[i], tag) == 0) {
            return true;
        }
    }
    return false;
}

bool dr_snapshot_matches(const struct dr_snapshot *s, const char *host, const char *tag)
{
    return (!host || strcmp(s->host, host) == 0) && (!tag || dr_snapshot_has_tag(s, tag));
}

int dr_repo_snapshot_resolve(struct dr_repo *r, const char *spec, const char *host, const char *tag,
                             struct dr_id *out)
{
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    int rc = dr_repo_snapshot_list(r, &v, &n, NULL);
    if (rc < 0) {
        return rc;
    }
    const struct dr_snap_entry *found = NULL;
    if (strcmp(spec, "latest") == 0) {
        for (size_t i = n; i-- > 0;) {
            if (dr_snapshot_matches(&v[i].snap, host, tag)) {
                found = &v[i];
                break;
            }
        }
        if (!found) {
            rc = dr_errorf(DR_ENOENT, "no snapshot matches 'latest'%s%s%s%s",
                           host ? " for host " : "", host ? host : "", tag ? " with tag " : "",
                           tag ? tag : "");
        }
    } else {
        size_t len = strlen(spec);
        bool hex = len >= 4 && len <= DR_ID_HEX_LEN && strspn(spec, "0123456789abcdef") == len;
        if (!hex) {
            rc = dr_errorf(DR_EUSAGE, "'%s' is not a snapshot id, id prefix or 'latest'", spec);
            goto out;
        }
        /* an ambiguous prefix names its candidates (up to 5, with their times), so that the
         * user can pick the longer prefix without another command */
        char cand[5 * 48] = "";
        size_t nfound = 0, used = 0;
        for (size_t i = 0; i < n; i++) {
            char h[DR_ID_HEX_LEN + 1], when[32];
            if (strncmp(dr_id_hex(&v[i].id, h), spec, len) != 0) {
                continue;
            }
            if (nfound++ == 0) {
                found = &v[i];
            }
            if (nfound <= 5) {
                dr_time_format(v[i].snap.time_ns, when, sizeof(when));
                int w = snprintf(cand + used, sizeof(cand) - used, "%s%.16s (%s)",
                                 nfound > 1 ? ", " : "", h, when);
                used += w > 0 && (size_t)w < sizeof(cand) - used ? (size_t)w : 0;
            }
        }
        if (nfound > 1) {
            found = NULL;
            rc = dr_errorf(DR_EUSAGE,
                           "snapshot prefix '%s' is ambiguous: %zu snapshots match: %.*s%s", spec,
                           nfound, (int)used, cand, nfound > 5 ? ", ..." : "");
            goto out;
        }
        if (!found) {
            rc = dr_errorf(DR_ENOENT, "no snapshot with id '%s'", spec);
        }
    }
    if (found) {
        *out = found->id;
    }
out:
    dr_snap_list_free(v, n);
    return rc;
}

static void root_node(const struct dr_snapshot *s, struct dr_node *out)
{
    memset(out, 0, sizeof(*out));
    out->name = dr_xstrdup("/");
    out->type = DR_NODE_DIR;
    out->mode = 0755;
    out->subtree = s->tree;
    out->mtime_ns = s->time_ns;
}

static void copy_node(const struct dr_node *src, struct dr_node *dst)
{
    *dst = dr_node_scalars(src);
    dst->name = dr_xstrdup(src->name);
    dst->user = src->user ? dr_xstrdup(src->user) : NULL;
    dst->group = src->group ? dr_xstrdup(src->group) : NULL;
    dst->target = src->target ? dr_xstrdup(src->target) : NULL;
    if (src->nchunks) {
        dst->chunks = dr_xmalloc(src->nchunks * sizeof(*dst->chunks));
        memcpy(dst->chunks, src->chunks, src->nchunks * sizeof(*dst->chunks));
        dst->chunk_sizes = dr_xmalloc(src->nchunks * sizeof(*dst->chunk_sizes));
        memcpy(dst->chunk_sizes, src->chunk_sizes, src->nchunks * sizeof(*dst->chunk_sizes));
    }
    if (src->ndamaged) {
        dst->damaged = dr_xmalloc(src->ndamaged * sizeof(*dst->damaged));
        memcpy(dst->damaged, src->damaged, src->ndamaged * sizeof(*dst->damaged));
    }
    if (src->nlists) {
        dst->lists = dr_xmemdup(src->lists, src->nlists * sizeof(*src->lists));
        dst->nlists = src->nlists;
    }
}

int dr_repo_find_node(struct dr_repo *r, const struct dr_snapshot *s, const char *path,
                      struct dr_node *out)
{
    struct dr_node cur;
    root_node(s, &cur);
    char *p = dr_xstrdup(path);
    int rc = 0;
    char *save = NULL;
    for (char *comp = strtok_r(p, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        if (cur.type != DR_NODE_DIR) {
            rc = dr_errorf(DR_ENOENT, "'%s' not found in snapshot: a component is not a directory",
                           path);
            goto out;
        }
        struct dr_tree t;
        dr_tree_init(&t);
        rc = dr_repo_tree_load(r, NULL, &cur.subtree, &t);
        if (rc < 0) {
            dr_tree_release(&t);
            goto out;
        }
        const struct dr_node *n = dr_tree_find(&t, comp);
        if (!n) {
            dr_tree_release(&t);
            rc = dr_errorf(DR_ENOENT, "'%s' not found in snapshot", path);
            goto out;
        }
        dr_node_release(&cur);
        copy_node(n, &cur);
        dr_tree_release(&t);
    }
    *out = cur;
    memset(&cur, 0, sizeof(cur));
out:
    dr_node_release(&cur);
    free(p);
    return rc;
}

struct walk_adapter {
    dr_walk_cb cb;
    void *arg;
};

static int walk_node_cb(void *arg, const char *path, struct dr_node *n)
{
    struct walk_adapter *a = arg;
    return a->cb(a->arg, path, n);
}

int dr_repo_walk(struct dr_repo *r, const struct dr_id *root, const char *prefix, dr_walk_cb cb,
                 void *arg)
{
    struct walk_adapter a = {.cb = cb, .arg = arg};
    struct dr_walk w = {.r = r, .arg = &a, .node = walk_node_cb};
    int rc = dr_walk_run(&w, root, prefix && strcmp(prefix, "/") != 0 ? prefix : "");
    return rc < 0 ? rc : 0;
}

/* Reference counts are hierarchical (format/index.md): a tree counts the snapshots whose root it
 * is and the nodes of live trees that name it; a blob counts the nodes of live trees that name
 * it (each node once, however often it names the blob). Adding a snapshot adds one to its root;
 * a tree whose count rises from 0 has just become live, so it is loaded and one is added to what
 * each of its nodes names (a directory's tree; a file's distinct blobs, dr_node_refs_distinct),
 * recursively; a tree already live is not read. Removing mirrors it: a tree whose count falls to
 * 0 takes its references back. So an unchanged re-snapshot costs one increment, and a changed one
 * the trees on the paths to what changed, not the whole snapshot. Missing or unreadable blobs are
 * counted and skipped rather than failing the transaction: damage is check's to report, and the
 * rest of the snapshot must still be counted so that prune keeps what it references (prune's mark
 * walks the snapshots whatever the counts say). */
struct refs {
    struct dr_repo *r;
    struct dr_index_txn *txn;
    int delta;
    uint64_t missing;
};

/* Adds or removes one reference to id; *turned when its count rose from 0 or fell to 0. An id
 * the index lacks is counted missing and never turns, so nothing below it is counted. */
static int ref_one(struct refs *rf, const struct dr_id *id, bool *turned)
{
    struct dr_index_blob b;
    *turned = false;
    int rc = dr_index_blob_get(rf->txn, id, &b);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rf->missing++;
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_blob_ref(rf->txn, id, rf->delta);
    if (rc < 0) {
        return rc;
    }
    *turned = rf->delta > 0 ? rc == 1 : rc == 0;
    return 0;
}

static int ref_tree(struct refs *rf, const struct dr_id *id, unsigned depth)
{
    bool turned;
    int rc = ref_one(rf, id, &turned);
    if (rc < 0 || !turned) {
        return rc;
    }
    struct dr_tree t;
    dr_tree_init(&t);
    rc = dr_walk_tree_load(rf->r, rf->txn, id, depth, &t);
    if (rc < 0) {
        dr_tree_release(&t);
        if (rc != DR_ECORRUPT && rc != DR_ENOENT) {
            return rc;
        }
        dr_log_detail("%s", dr_error_msg());
        dr_error_clear();
        rf->missing++;
        return 0;
    }
    for (size_t i = 0; rc >= 0 && i < t.n; i++) {
        const struct dr_node *nd = &t.nodes[i];
        if (nd->type == DR_NODE_DIR) {
            rc = ref_tree(rf, &nd->subtree, depth + 1);
        }
        struct dr_id *v;
        size_t n = dr_node_refs_distinct(nd, &v);
        for (size_t k = 0; rc >= 0 && k < n; k++) {
            rc = ref_one(rf, &v[k], &turned);
        }
        free(v);
    }
    dr_tree_release(&t);
    return rc;
}

int dr_repo_count_refs(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_id *root,
                       int delta)
{
    struct refs rf = {.r = r, .txn = txn, .delta = delta};
    int rc = ref_tree(&rf, root, 0);
    if (rc < 0) {
        return rc;
    }
    return rf.missing > INT32_MAX ? INT32_MAX : (int)rf.missing;
}

int dr_repo_snapshot_uncount(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_id *id)
{
    struct dr_index_snap rec;
    int rc = dr_index_snap_get(txn, id, &rec);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        return 0; /* never counted (unreadable when it was listed): nothing to give back */
    }
    int missing = 0;
    if (rc >= 0 && rec.counted) {
        rc = missing = dr_repo_count_refs(r, txn, &rec.tree, -1);
    }
    if (rc >= 0) {
        rc = dr_index_snap_del(txn, id);
    }
    return rc < 0 ? rc : missing;
}
