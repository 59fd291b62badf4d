/* refs.c: the walks of check over every snapshot: pass 1 recounts references and
 * flags missing blobs and unreadable trees, pass 2 names every path that damage affects; then
 * the recount is compared with the index. */
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
#include "drrepo/format.h"
#include "drrepo/interrupt.h"
#include "drrepo/lock.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "drrepo/repo.h"
#include "drrepo/walk.h"

int dr_check_work_get(struct chk *c, const struct dr_id *id, uint32_t *count, uint8_t *flags)
{
    uint8_t v[5] = {0};
    int rc = dr_workset_map_get(c->ws, id, v, sizeof(v));
    if (rc == DR_ENOENT) {
        dr_error_clear();
        *count = 0;
        *flags = 0;
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    *count = dr_get_u32le(v);
    *flags = v[4];
    return 1;
}

int dr_check_work_set(struct chk *c, const struct dr_id *id, uint32_t count, uint8_t flags)
{
    uint8_t v[5];
    dr_put_u32le(v, count);
    v[4] = flags;
    return dr_workset_map_put(c->ws, id, v, sizeof(v));
}

/* Pass 1 counts one reference per snapshot per distinct blob and flags missing blobs and
 * unreadable trees as damaged; pass 2 names every path that uses a damaged blob or tree. The
 * workset's set holds what this snapshot's walk has seen (pass 2 dedups trees only, so that every
 * file sharing a damaged chunk is named). */
static int visit_blob(struct chk *c, const struct dr_id *id, const char *path, bool is_tree)
{
    int rc = 1;
    if (c->pass == 1 && !is_tree) { /* trees: the walk's dedup added them */
        rc = dr_workset_set_add(c->ws, id);
        if (rc <= 0) {
            return rc;
        }
    }
    uint32_t count;
    uint8_t flags;
    rc = dr_check_work_get(c, id, &count, &flags);
    if (rc < 0) {
        return rc;
    }
    char h[DR_ID_HEX_LEN + 1];
    if (c->pass == 2) {
        if (flags & W_DAMAGED) {
            char *obj = dr_xasprintf("%s %s", is_tree ? "tree" : "blob", hex(id, h));
            dr_check_affected(c->rep, c->snap, path, obj);
            free(obj);
        }
        return 0;
    }
    if (!is_tree) {
        c->rep->st.blobs++;
        struct dr_index_blob b;
        rc = dr_index_blob_get(c->txn, id, &b);
        if (rc == DR_ENOENT) {
            dr_error_clear();
            if (!(flags & W_REPORTED)) {
                char *obj = dr_xasprintf("blob %s", hex(id, h));
                struct dr_vanished *v = dr_repo_vanished_find(c->r, id);
                char *pobj = v ? dr_layout_pack_name(v->type, &v->pack) : NULL;
                if (v && !v->reported) {
                    dr_check_problem(
                        c->rep, DR_PROB_PACK_MISSING, pobj,
                        "is gone from the repository, and snapshots still need blobs that "
                        "were only in it");
                    v->reported = true;
                }
                dr_check_problem(c->rep, DR_PROB_BLOB_MISSING, obj,
                                 "is referenced but in no pack%s%s%s",
                                 v ? " (it was in pack '" : "", v ? pobj : "", v ? "')" : "");
                free(pobj);
                free(obj);
                flags |= W_REPORTED | W_DAMAGED;
            }
        } else if (rc < 0) {
            return rc;
        }
    }
    return dr_check_work_set(c, id, count + 1, flags);
}

static int walk_enter(void *arg, const struct dr_id *tree, const char *path)
{
    struct chk *c = arg;
    int rc = visit_blob(c, tree, path, true);
    if (rc < 0) {
        return rc;
    }
    if (c->pass == 1) {
        c->rep->st.trees++;
    }
    return 0;
}

static int walk_unreadable(void *arg, const struct dr_id *tree, const char *path, int err)
{
    struct chk *c = arg;
    if (err == DR_EIO || c->pass != 1) {
        return err == DR_EIO ? err : 0;
    }
    char h[DR_ID_HEX_LEN + 1];
    char *obj = dr_xasprintf("tree %s", hex(tree, h));
    char *why = dr_xstrdup(dr_error_msg());
    uint32_t count;
    uint8_t flags;
    int rc = dr_check_work_get(c, tree, &count, &flags);
    if (rc >= 0 && !(flags & W_REPORTED)) {
        dr_check_problem(c->rep, DR_PROB_TREE, obj, "%s (directory '%s')", why, *path ? path : "/");
        rc = dr_check_work_set(c, tree, count, flags | W_REPORTED | W_DAMAGED);
    }
    free(why);
    free(obj);
    return rc < 0 ? rc : 0;
}

static int walk_node(void *arg, const char *path, struct dr_node *n)
{
    struct chk *c = arg;
    int rc = 0;
    for (uint32_t k = 0; rc >= 0 && k < n->nchunks; k++) {
        rc = visit_blob(c, &n->chunks[k], path, false);
    }
    return rc < 0 ? rc : 0;
}

/* Walks one snapshot's trees for the current pass; the workset's set dedups its trees. */
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
    enum dr_layout_kind kind;
    struct dr_id id;
    if (dr_layout_parse(name, &kind, &id) < 0 || kind != DR_LAYOUT_SNAPSHOT) {
        dr_error_clear();
        return 0;
    }
    DR_GROW(s->v, s->alloc, s->n + 1);
    s->v[s->n++] = id;
    return 0;
}

/* Loads each snapshot and walks its trees for the given pass. */
int dr_check_walk_snapshots(struct chk *c, const struct snap_ids *ids)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < ids->n; i++) {
        rc = dr_interrupt_check(); /* between snapshots */
        if (rc < 0) {
            return rc;
        }
        char h[DR_ID_HEX_LEN + 1];
        struct dr_snapshot s;
        dr_snapshot_init(&s);
        rc = dr_repo_snapshot_load(c->r, &ids->v[i], &s);
        if (rc < 0) {
            if (c->pass == 1) {
                char *obj = dr_xasprintf("snapshot %s", hex(&ids->v[i], h));
                dr_check_problem(c->rep, DR_PROB_SNAPSHOT, obj, "cannot be read: %s",
                                 dr_error_msg());
                free(obj);
            }
            dr_error_clear();
            dr_snapshot_release(&s);
            rc = 0;
            continue;
        }
        if (c->pass == 1) {
            c->rep->st.snapshots++;
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

/* Compares each indexed blob's refcount with the recount, and sums live bytes per pack. */
int dr_check_refs_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct chk *c = arg;
    uint32_t count;
    uint8_t flags;
    int rc = dr_check_work_get(c, id, &count, &flags);
    if (rc < 0) {
        return rc;
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
            "the index counts %u references, the snapshots reach it %u times (run 'drrepo "
            "repair index')",
            b->refs, count);
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
    uint32_t count;
    uint8_t flags;
    int rc = dr_check_work_get(c, id, &count, &flags);
    return rc < 0 ? rc : dr_check_work_set(c, id, count, flags | W_DAMAGED);
}
