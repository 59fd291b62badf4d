/* refs.c: pass 1 recounts references over every snapshot, incrementally from one snapshot to
 * the next, and flags missing blobs and unreadable trees; pass 2 walks the snapshots to name
 * every path that damage affects; then the recount is compared with the index. */
#include "check_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/layout.h"
#include "drrepo/format.h"
#include "drrepo/interrupt.h"
#include "drrepo/lock.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/secure.h"
#include "drrepo/tally.h"
#include "drrepo/util.h"
#include "drrepo/repo.h"
#include "drrepo/walk.h"

/* The map's record: flags u8. */
#define WORK_LEN 1

int dr_check_work_get(struct chk *c, const struct dr_id *id, struct work *w)
{
    uint8_t v[WORK_LEN] = {0};
    memset(w, 0, sizeof(*w));
    int rc = dr_workset_map_get(c->ws, id, v, sizeof(v));
    if (rc <= 0) {
        return rc; /* 0: absent */
    }
    w->flags = v[0];
    return 1;
}

int dr_check_work_set(struct chk *c, const struct dr_id *id, const struct work *w)
{
    uint8_t v[WORK_LEN];
    v[0] = w->flags;
    return dr_workset_map_put(c->ws, id, v, sizeof(v));
}

/* ---- pass 1: the recount -------------------------------------------------------------------
 *
 * The index counts references hierarchically (format/index.md): a tree the snapshots whose root
 * it is and the nodes of live trees that name it, a blob the nodes of live trees that name it
 * (each node once). The recount needs two things for that: the set of live trees (every tree
 * some snapshot reaches), and for each of them what its nodes name (a directory's tree, a file's
 * distinct blobs: dr_node_refs_distinct).
 *
 * Walking every snapshot in full would find the set, but made the work of a check the sum of
 * the sizes of all snapshots; yet snapshots share almost all their trees. The recount walks each
 * snapshot's trees but enters only those not read before: the first time a tree is read, one is
 * added to a tally (tally.h) for what each of its nodes names, and the tree is marked read in
 * the workset's map (W_NAMED), so that the map holds the trees of the repository, not its
 * blobs, and every tree is read once. Each snapshot's root adds one too. The tally's sums are
 * the counts the index must hold; it is met with the index in id order (dr_check_refs_cb), where
 * the blobs are counted, each once.
 *
 * What full walks verified, this verifies: every tree that any snapshot reaches is loaded, every
 * id that any snapshot reaches is in the tally and so met with the index, and every reference is
 * counted. Snapshots are taken in order of origin (host and paths) and time, so that a damaged
 * tree is reported with its path in the oldest snapshot of its origin that has it. */

struct snap_ent {
    struct dr_id id, tree, origin;
    int64_t time_ns;
};

static int snap_ent_cmp(const void *a, const void *b)
{
    const struct snap_ent *x = a, *y = b;
    int d = dr_id_cmp(&x->origin, &y->origin);
    if (d == 0) {
        d = x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
    }
    return d ? d : dr_id_cmp(&x->id, &y->id);
}

static int add_name(struct dr_buf *path, size_t base, const char *name)
{
    dr_buf_setlen(path, base);
    int rc = dr_buf_addch(path, '/');
    return rc < 0 ? rc : dr_buf_adds(path, name);
}

/* One in the tally for what each node of tree t names: t is live, and is counted once. */
static int tally_named(struct chk *c, const struct dr_tree *t)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < t->n; i++) {
        const struct dr_node *nd = &t->nodes[i];
        if (nd->type == DR_NODE_DIR) {
            rc = dr_tally_add(c->tally, &nd->subtree, 1);
        }
        struct dr_id *v;
        size_t n = dr_node_refs_distinct(nd, &v);
        for (size_t k = 0; rc >= 0 && k < n; k++) {
            rc = dr_tally_add(c->tally, &v[k], 1);
        }
        free(v);
    }
    return rc;
}

/* Reads tree id (at path, depth levels down) and the trees below it that were not read before:
 * each is loaded once, adds one to the tally for what each of its nodes names, and is marked
 * read in the map (W_NAMED). A tree that does not load is reported once, with the path it was
 * first met at, and marked damaged (the recount is then incomplete: see dr_check_run). */
static int visit_tree(struct chk *c, struct dr_buf *path, const struct dr_id *id, unsigned depth)
{
    struct work w;
    int rc = dr_check_work_get(c, id, &w);
    if (rc < 0 || (w.flags & (W_NAMED | W_REPORTED))) {
        return rc < 0 ? rc : 0;
    }
    struct dr_tree t;
    dr_tree_init(&t);
    rc = dr_walk_tree_load(c->r, c->txn, id, depth, &t);
    if (rc < 0) {
        dr_tree_release(&t);
        if (rc == DR_EIO) {
            return rc;
        }
        char h[DR_ID_HEX_LEN + 1];
        char *obj = dr_xasprintf("tree %s", hex(id, h));
        dr_check_problem(c->rep, DR_PROB_TREE, obj, "%s (directory '%s')", dr_error_msg(),
                         path->len ? path->buf : "/");
        free(obj);
        dr_error_clear();
        w.flags |= W_REPORTED | W_DAMAGED;
        return dr_check_work_set(c, id, &w);
    }
    w.flags |= W_NAMED;
    c->rep->st.trees++;
    rc = tally_named(c, &t);
    if (rc >= 0) {
        rc = dr_check_work_set(c, id, &w);
    }
    size_t base = path->len;
    for (size_t i = 0; rc >= 0 && i < t.n; i++) {
        struct dr_node *n = &t.nodes[i];
        if (n->type == DR_NODE_DIR) {
            rc = add_name(path, base, n->name);
            if (rc >= 0) {
                rc = visit_tree(c, path, &n->subtree, depth + 1);
            }
        }
    }
    dr_buf_setlen(path, base);
    dr_tree_release(&t);
    return rc;
}

/* Loads every snapshot (reporting those that do not load), then recounts the references of
 * them all, one step per snapshot. */
int dr_check_recount(struct chk *c, const struct snap_ids *ids)
{
    struct snap_ent *v = dr_xcalloc(ids->n ? ids->n : 1, sizeof(*v));
    size_t n = 0;
    int rc = dr_tally_open(dr_workset_path(c->ws), &c->tally);
    for (size_t i = 0; rc >= 0 && i < ids->n; i++) {
        rc = dr_interrupt_check(); /* between snapshots */
        if (rc < 0) {
            break;
        }
        struct dr_snapshot s;
        dr_snapshot_init(&s);
        rc = dr_repo_snapshot_load(c->r, &ids->v[i], &s);
        if (rc < 0) {
            char h[DR_ID_HEX_LEN + 1];
            char *obj = dr_xasprintf("snapshot %s", hex(&ids->v[i], h));
            dr_check_problem(c->rep, DR_PROB_SNAPSHOT, obj, "cannot be read: %s", dr_error_msg());
            free(obj);
            dr_error_clear();
            rc = 0;
        } else {
            c->rep->st.snapshots++;
            v[n].id = ids->v[i];
            v[n].tree = s.tree;
            v[n].time_ns = s.time_ns;
            dr_snapshot_origin(&s, &v[n].origin);
            n++;
        }
        dr_snapshot_release(&s);
    }
    qsort(v, n, sizeof(*v), snap_ent_cmp);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = dr_tally_add(c->tally, &v[i].tree, 1); /* a root counts its snapshots */
    }
    struct dr_buf path = DR_BUF_INIT(1u << 20);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = dr_interrupt_check(); /* between snapshots */
        if (rc >= 0) {
            dr_buf_setlen(&path, 0);
            rc = visit_tree(c, &path, &v[i].tree, 0);
        }
    }
    dr_buf_release(&path);
    free(v);
    return rc < 0 ? rc : 0;
}

/* ---- pass 2: the paths that damage affects ------------------------------------------------- */

/* Names the path of a damaged blob or tree. The workset's set holds the trees this snapshot's
 * walk has seen (only trees: every file sharing a damaged chunk is named). */
static int visit_blob(struct chk *c, const struct dr_id *id, const char *path, bool is_tree)
{
    struct work w;
    int rc = dr_check_work_get(c, id, &w);
    if (rc < 0) {
        return rc;
    }
    if (w.flags & W_DAMAGED) {
        char h[DR_ID_HEX_LEN + 1];
        char *obj = dr_xasprintf("%s %s", is_tree ? "tree" : "blob", hex(id, h));
        dr_check_affected(c->rep, c->snap, path, obj);
        free(obj);
    }
    return 0;
}

static int walk_enter(void *arg, const struct dr_id *tree, const char *path)
{
    return visit_blob(arg, tree, path, true);
}

static int walk_unreadable(void *arg, const struct dr_id *tree, const char *path, int err)
{
    (void)arg;
    (void)tree;
    (void)path;
    return err == DR_EIO ? err : 0; /* reported by the recount */
}

static int walk_node(void *arg, const char *path, struct dr_node *n)
{
    struct chk *c = arg;
    int rc = 0;
    for (uint32_t k = 0; rc >= 0 && k < dr_node_nrefs(n); k++) {
        rc = visit_blob(c, dr_node_ref(n, k), path, false);
    }
    return rc < 0 ? rc : 0;
}

/* Walks one snapshot's trees; the workset's set dedups its trees. */
static int walk_tree(struct chk *c, const struct dr_id *root)
{
    struct dr_walk w = {
        .r = c->r,
        .txn = c->txn,
        .seen = c->ws,
        .flags = DR_WALK_DEDUP,
        .arg = c,
        .enter = walk_enter,
        .unreadable = walk_unreadable,
        .node = walk_node,
    };
    int rc = dr_walk_run(&w, root, "");
    return rc < 0 ? rc : 0;
}

int dr_check_snap_list_cb(void *arg, const char *name, uint64_t size)
{
    (void)size;
    struct snap_ids *s = arg;
    struct dr_id id;
    if (!dr_layout_is(name, DR_LAYOUT_SNAPSHOT, &id)) {
        return 0;
    }
    DR_GROW(s->v, s->alloc, s->n + 1);
    s->v[s->n++] = id;
    return 0;
}

/* Loads each snapshot and walks its trees, naming the paths that damage affects. */
int dr_check_walk_snapshots(struct chk *c, const struct snap_ids *ids)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < ids->n; i++) {
        rc = dr_interrupt_check(); /* between snapshots */
        if (rc < 0) {
            return rc;
        }
        struct dr_snapshot s;
        dr_snapshot_init(&s);
        rc = dr_repo_snapshot_load(c->r, &ids->v[i], &s);
        if (rc < 0) {
            dr_error_clear(); /* reported by the recount */
            dr_snapshot_release(&s);
            rc = 0;
            continue;
        }
        c->snap = &ids->v[i];
        rc = dr_workset_set_clear(c->ws);
        if (rc >= 0) {
            rc = walk_tree(c, &s.tree);
        }
        dr_snapshot_release(&s);
    }
    return rc;
}

/* A referenced id that the index lacks: a blob in no pack (a tree that is not there did not
 * load, and was reported then), reported once and marked damaged for pass 2. */
static int missing(struct chk *c, const struct dr_id *id)
{
    struct work w;
    int rc = dr_check_work_get(c, id, &w);
    if (rc < 0 || (w.flags & W_REPORTED)) {
        return rc < 0 ? rc : 0;
    }
    char h[DR_ID_HEX_LEN + 1];
    char *obj = dr_xasprintf("blob %s", hex(id, h));
    struct dr_vanished *v = dr_repo_vanished_find(c->r, id);
    char *pobj = v ? dr_layout_pack_name(v->type, &v->pack) : NULL;
    if (v && !v->reported) {
        dr_check_problem(c->rep, DR_PROB_PACK_MISSING, pobj,
                         "is gone from the repository, and snapshots still need blobs that were "
                         "only in it");
        v->reported = true;
    }
    dr_check_problem(c->rep, DR_PROB_BLOB_MISSING, obj, "is referenced but in no pack%s%s%s",
                     v ? " (it was in pack '" : "", v ? pobj : "", v ? "')" : "");
    c->rep->st.blobs++; /* checked, and found missing */
    free(pobj);
    free(obj);
    w.flags |= W_REPORTED | W_DAMAGED;
    return dr_check_work_set(c, id, &w);
}

/* Reports the tally's ids below id (all of them without id): the index lacks them. */
static int missing_before(struct chk *c, const struct dr_id *id)
{
    int rc = 0;
    while (rc >= 0 && c->tally_more > 0 && (!id || dr_id_cmp(&c->tally_id, id) < 0)) {
        rc = missing(c, &c->tally_id);
        if (rc >= 0) {
            c->tally_more = dr_tally_next(c->tally, &c->tally_id, &c->tally_sum);
        }
    }
    return rc < 0 ? rc : c->tally_more < 0 ? c->tally_more : 0;
}

int dr_check_refs_rest(struct chk *c)
{
    return missing_before(c, NULL);
}

int dr_check_refs_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct chk *c = arg;
    int rc = missing_before(c, id);
    if (rc < 0) {
        return rc;
    }
    uint64_t count = 0;
    if (c->tally_more > 0 && dr_id_eq(&c->tally_id, id)) {
        count = c->tally_sum;
        if (b->type != DR_BLOB_TREE) {
            c->rep->st.blobs++; /* a blob some tree names, met once */
        }
        c->tally_more = dr_tally_next(c->tally, &c->tally_id, &c->tally_sum);
        if (c->tally_more < 0) {
            return c->tally_more;
        }
    }
    if (!c->recount_complete) {
        return 0;
    }
    struct pack_sum *p = dr_check_pack_find(c, &b->pack);
    if (count > 0 && p) {
        p->live += b->clen;
    }
    if (count == 0) {
        c->rep->st.unreferenced_blobs++;
        c->rep->st.unreferenced_bytes += b->clen;
    }
    if (b->refs != count) {
        char h[DR_ID_HEX_LEN + 1];
        char *obj = dr_xasprintf("blob %s", hex(id, h));
        dr_check_problem(
            c->rep, DR_PROB_REFCOUNT, obj,
            "the index counts %u references, a recount from the snapshots gives %llu (run "
            "'drrepo repair index')",
            b->refs, (unsigned long long)count);
        free(obj);
    }
    return 0;
}

int dr_check_live_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *ip)
{
    struct chk *c = arg;
    struct pack_sum *p = dr_check_pack_find(c, id);
    if (!p || !p->header_ok) {
        return 0;
    }
    if (p->live == 0) {
        c->rep->st.unreferenced_packs++;
    }
    uint64_t dead = p->total_clen - DR_MIN(p->live, p->total_clen);
    if (ip->live_bytes != p->live || ip->dead_bytes != dead) {
        char *obj = dr_layout_pack_name(ip->type, id);
        dr_check_problem(
            c->rep, DR_PROB_REFCOUNT, obj,
            "the index counts %llu live and %llu dead bytes, a recount gives %llu and %llu "
            "(run 'drrepo repair index')",
            (unsigned long long)ip->live_bytes, (unsigned long long)ip->dead_bytes,
            (unsigned long long)p->live, (unsigned long long)dead);
        free(obj);
    }
    return 0;
}

/* Marks every blob the index places in a damaged pack (missing, unreadable) as damaged. */
int dr_check_damaged_pack_blobs_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct chk *c = arg;
    struct pack_sum *p = dr_check_pack_find(c, &b->pack);
    if (!p || !(p->missing || !p->header_ok)) {
        return 0;
    }
    struct work w;
    int rc = dr_check_work_get(c, id, &w);
    w.flags |= W_DAMAGED;
    return rc < 0 ? rc : dr_check_work_set(c, id, &w);
}
