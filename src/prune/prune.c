/* prune.c: forget and prune (see prune.h). */
#include "drrepo/prune.h"

#include <stdio.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/format.h"
#include "drrepo/interrupt.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/repo.h"
#include "drrepo/walk.h"
#include "drrepo/workset.h"

/* Takes one snapshot's references back and removes its record, inside txn. */
static int unref_snapshot(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_id *id)
{
    char hex[DR_ID_HEX_LEN + 1];
    dr_id_hex(id, hex);
    int rc = dr_repo_snapshot_uncount(r, txn, id);
    if (rc > 0) {
        dr_log_warn("snapshot %.8s references %d blobs that are missing", hex, rc);
    }
    return rc < 0 ? dr_error_wrap(rc, "forget %.8s", hex) : 0;
}

/* Snapshots per index transaction. One commit per snapshot rewrote the index once per
 * snapshot; one commit for hundreds kept every dirty page in memory. A batch bounds both. */
#define FORGET_BATCH 32

/* Forgets ids[0..n) (at most FORGET_BATCH) in one transaction, then deletes their objects. */
static int forget_batch(struct dr_repo *r, const struct dr_id *ids, size_t n)
{
    struct dr_index_txn *txn;
    int rc = dr_index_begin(dr_repo_index(r), true, &txn);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = unref_snapshot(r, txn, &ids[i]);
    }
    if (rc >= 0) {
        rc = DR_FAULT_POINT("forget.before_commit");
    }
    if (rc < 0) {
        dr_index_abort(txn);
        return rc;
    }
    rc = dr_index_commit(txn);
    /* Only now the objects go. A crash before an object is deleted leaves that snapshot in the
     * repository and out of the index: the next open counts it again, so it is simply not
     * forgotten. */
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = DR_FAULT_POINT("forget.before_delete");
        if (rc < 0) {
            break;
        }
        char *obj = dr_layout_name_dup(DR_LAYOUT_SNAPSHOT, &ids[i]);
        rc = dr_repo_delete_object(r, obj);
        free(obj);
        if (rc == DR_ENOENT) {
            dr_error_clear();
            rc = 0;
        }
    }
    return rc;
}

int dr_forget(struct dr_repo *r, const struct dr_id *ids, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < n; i += FORGET_BATCH) {
        rc = forget_batch(r, ids + i, DR_MIN((size_t)FORGET_BATCH, n - i));
    }
    return rc;
}

int dr_forget_one(struct dr_repo *r, const struct dr_id *id)
{
    return dr_forget(r, id, 1);
}

/* ---- phase 1: plan and repack ------------------------------------------------------------- */

struct pack_ref {
    struct dr_id id;
    struct dr_index_pack p;
};

struct plan {
    struct dr_prune_stats *st;
    const struct dr_prune_opts *o;
    struct pack_ref *repack;
    size_t nrepack, arepack;
};

static int plan_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *p)
{
    struct plan *pl = arg;
    pl->st->packs_total++;
    pl->st->bytes_total += p->size;
    if (p->live_bytes == 0) {
        pl->st->packs_delete++;
        pl->st->bytes_delete += p->size;
        return 0;
    }
    double dead_pct = p->size ? 100.0 * (double)p->dead_bytes / (double)p->size : 0;
    if (dead_pct > pl->o->max_unused) {
        pl->st->packs_repack++;
        pl->st->bytes_repack += p->size;
        DR_GROW(pl->repack, pl->arepack, pl->nrepack + 1);
        pl->repack[pl->nrepack++] = (struct pack_ref){*id, *p};
    }
    return 0;
}

/* Points id at its new copy and moves its bytes from the old pack's live count to the new
 * pack's. The new pack was added with every entry counted dead (they were duplicates). */
static int relocate(struct dr_index_txn *txn, const struct dr_id *newpack,
                    const struct dr_pack_entry *e)
{
    struct dr_index_blob b;
    int rc = dr_index_blob_get(txn, &e->id, &b);
    if (rc < 0) {
        return rc;
    }
    if (dr_id_eq(&b.pack, newpack)) {
        return 0;
    }
    struct dr_index_pack oldp, newp;
    rc = dr_index_pack_get(txn, &b.pack, &oldp);
    if (rc >= 0) {
        rc = dr_index_pack_get(txn, newpack, &newp);
    }
    if (rc < 0) {
        return rc;
    }
    if (b.refs > 0) {
        oldp.live_bytes -= DR_MIN(oldp.live_bytes, b.clen);
        newp.live_bytes += e->clen;
        newp.dead_bytes -= DR_MIN(newp.dead_bytes, e->clen);
    }
    oldp.dead_bytes += b.clen;
    struct dr_id old = b.pack;
    b.pack = *newpack;
    b.offset = e->offset;
    b.clen = e->clen;
    b.ulen = e->ulen;
    rc = dr_index_blob_put(txn, &e->id, &b);
    if (rc >= 0) {
        rc = dr_index_pack_put(txn, &old, &oldp);
    }
    if (rc >= 0) {
        rc = dr_index_pack_put(txn, newpack, &newp);
    }
    return rc;
}

/* Writes the repack writer's pack durably, then indexes it and relocates its blobs. */
static int flush_repack(struct dr_repo *r, struct dr_pack_writer *w, uint8_t type,
                        struct dr_prune_stats *st)
{
    if (dr_pack_writer_count(w) == 0) {
        return 0;
    }
    struct dr_id pid;
    size_t len, n;
    int rc =
        dr_repo_store_pack(r, w, type, "prune.before_pack_put", "prune.after_pack_put", &pid, &len);
    if (rc < 0) {
        return rc;
    }
    const struct dr_pack_entry *e = dr_pack_writer_entries(w, &n);
    struct dr_index_txn *txn;
    rc = dr_index_begin(dr_repo_index(r), true, &txn);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_pack_add(txn, &pid, type, len, e, n);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = relocate(txn, &pid, &e[i]);
    }
    if (rc >= 0) {
        rc = DR_FAULT_POINT("prune.before_relocate_commit");
    }
    if (rc < 0) {
        dr_index_abort(txn);
        return rc;
    }
    rc = dr_index_commit(txn);
    if (rc >= 0) {
        /* counted once indexed: a pack that could not be written copied nothing */
        st->packs_written++;
        st->blobs_repacked += n;
        for (size_t i = 0; i < n; i++) {
            st->bytes_copied += e[i].clen;
        }
        dr_pack_writer_reset(w);
    }
    return rc;
}

/* Deletes a pack; a tree pack's copy after it (format/repository.md "Tree pack copies"). A
 * crash between the two leaves a lone copy: the next open indexes it as an unreferenced pack
 * and the next prune deletes it. A name already gone is not an error. */
static int delete_pack(struct dr_repo *r, uint8_t type, const struct dr_id *id)
{
    char *obj = dr_layout_pack_name(type, id);
    int rc = dr_repo_delete_object(r, obj);
    free(obj);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rc = 0;
    }
    if (rc >= 0 && type == DR_BLOB_TREE) {
        rc = DR_FAULT_POINT("prune.delete_tree_copy");
        obj = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, id);
        rc = rc < 0 ? rc : dr_repo_delete_object(r, obj);
        free(obj);
        if (rc == DR_ENOENT) {
            dr_error_clear();
            rc = 0;
        }
    }
    return rc;
}

/* Copies the live records of one pack (verified on the way) into the repack writer, reading
 * the pack from the object obj. */
static int repack_from(struct dr_repo *r, const struct pack_ref *pr, const char *obj,
                       struct dr_pack_writer *w, struct dr_prune_stats *st)
{
    struct dr_buf data = DR_BUF_INIT((size_t)DR_PACK_FILE_MAX);
    struct dr_buf plain = DR_BUF_INIT(DR_BLOB_MAX);
    struct dr_pack_entry *e = NULL;
    size_t n = 0;
    uint64_t size;
    uint8_t type;
    struct dr_index_txn *txn = NULL;
    int rc = dr_pack_read_header(dr_repo_backend(r), dr_repo_keys(r), obj, DR_BACKEND_SIZE_UNKNOWN,
                                 &size, &e, &n, &type);
    if (rc >= 0) {
        rc = dr_backend_get(dr_repo_backend(r), obj, 0, UINT64_MAX, &data);
    }
    if (rc >= 0) {
        rc = dr_index_begin(dr_repo_index(r), false, &txn);
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        struct dr_index_blob b;
        int brc = dr_index_blob_get(txn, &e[i].id, &b);
        if (brc == DR_ENOENT || (brc >= 0 && (b.refs == 0 || !dr_id_eq(&b.pack, &pr->id)))) {
            dr_error_clear();
            continue; /* dead, or a duplicate of a copy elsewhere */
        }
        if (brc < 0) {
            rc = brc;
            break;
        }
        const uint8_t *rec = (const uint8_t *)data.buf + e[i].offset;
        dr_buf_reset(&plain);
        rc = dr_blob_decode(dr_repo_keys(r), dr_repo_compressor(r), e[i].type, &e[i].id, rec,
                            e[i].clen, e[i].ulen, &plain);
        if (rc < 0) {
            /* never copy damage into a new pack: leave this pack alone, check reports it */
            rc = dr_error_wrap(rc, "prune: cannot repack '%s'", obj);
            break;
        }
        if (dr_pack_writer_has(w, &e[i].id)) {
            continue;
        }
        rc = dr_pack_writer_add(w, &e[i].id, rec, e[i].clen, e[i].ulen);
        if (rc >= 0 && dr_pack_writer_size(w) >= dr_repo_config(r)->pack_size) {
            dr_index_abort(txn);
            txn = NULL;
            rc = flush_repack(r, w, type, st);
            if (rc >= 0) {
                rc = dr_index_begin(dr_repo_index(r), false, &txn);
            }
        }
    }
    dr_index_abort(txn);
    free(e);
    dr_buf_release(&data);
    dr_buf_release(&plain);
    return rc;
}

/* Copies the live records of one pack into the repack writer; a tree pack that is missing or
 * damaged is copied from its copy. Records already copied are skipped on the second pass. */
static int repack_one(struct dr_repo *r, const struct pack_ref *pr, struct dr_pack_writer *w,
                      struct dr_prune_stats *st)
{
    char *obj = dr_layout_pack_name(pr->p.type, &pr->id);
    int rc = repack_from(r, pr, obj, w, st);
    if ((rc == DR_ECORRUPT || rc == DR_ENOENT) && pr->p.type == DR_BLOB_TREE) {
        char *copy = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, &pr->id);
        dr_log_warn("%s; repacking from its copy '%s'", dr_error_msg(), copy);
        dr_error_clear();
        rc = repack_from(r, pr, copy, w, st);
        free(copy);
    }
    free(obj);
    return rc;
}

int dr_prune_repack(struct dr_repo *r, const struct dr_prune_opts *o, struct dr_prune_stats *st)
{
    struct plan pl = {.st = st, .o = o};
    struct dr_index_txn *txn;
    memset(st, 0, sizeof(*st));
    int rc = dr_index_begin(dr_repo_index(r), false, &txn);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_pack_foreach(txn, plan_cb, &pl);
    dr_index_abort(txn);
    if (rc >= 0 && !o->dry_run && pl.nrepack) {
        uint32_t pv = dr_repo_pack_version(r);
        struct dr_pack_writer *w[2] = {
            dr_pack_writer_new_version(dr_repo_keys(r), DR_BLOB_DATA, pv),
            dr_pack_writer_new_version(dr_repo_keys(r), DR_BLOB_TREE, pv)};
        for (size_t i = 0; rc >= 0 && i < pl.nrepack; i++) {
            /* a signal stops the repack between packs: the new packs already indexed stay (the
             * next prune deletes what they made redundant), the records not yet written in the
             * writers are dropped with it, and every old pack is still in place */
            rc = dr_interrupt_check();
            if (rc < 0) {
                break;
            }
            uint8_t t = pl.repack[i].p.type == DR_BLOB_TREE ? DR_BLOB_TREE : DR_BLOB_DATA;
            rc = repack_one(r, &pl.repack[i], w[t], st);
            if (rc == DR_ECORRUPT) {
                dr_log_warn("%s; the pack is kept", dr_error_msg());
                dr_error_clear();
                rc = 0;
            }
        }
        for (uint8_t t = 0; rc >= 0 && t < 2; t++) {
            rc = flush_repack(r, w[t], t, st);
        }
        dr_pack_writer_free(w[0]);
        dr_pack_writer_free(w[1]);
    }
    free(pl.repack);
    return rc;
}

/* ---- phase 2: cross-check and delete ------------------------------------------------------ */

struct del {
    struct dr_repo *r;
    struct dr_index_txn *txn;
    struct dr_workset *ws;  /* set: blobs and trees the mark reached; map: blobs to drop */
    struct pack_ref *packs; /* sorted by id */
    size_t n, alloc;
    struct dr_prune_stats *st;
};

static int del_plan_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *p)
{
    struct del *d = arg;
    if (p->live_bytes == 0) {
        DR_GROW(d->packs, d->alloc, d->n + 1);
        d->packs[d->n++] = (struct pack_ref){*id, *p};
    }
    return 0;
}

static int ref_cmp(const void *a, const void *b)
{
    return dr_id_cmp(&((const struct pack_ref *)a)->id, &((const struct pack_ref *)b)->id);
}

static bool in_set(const struct del *d, const struct dr_id *pack)
{
    struct pack_ref key = {.id = *pack};
    return bsearch(&key, d->packs, d->n, sizeof(*d->packs), ref_cmp) != NULL;
}

/* The mark: every blob reachable from any remaining snapshot, each tree walked once. */
static int mark_unreadable(void *arg, const struct dr_id *tree, const char *path, int err)
{
    (void)tree;
    (void)path;
    struct del *d = arg;
    if (err != DR_ECORRUPT && err != DR_ENOENT) {
        return err;
    }
    /* unreadable trees cannot name blobs: nothing to protect below them, check reports */
    d->st->unreachable_missing++;
    return 0;
}

static int mark_node(void *arg, const char *path, struct dr_node *n)
{
    (void)path;
    struct del *d = arg;
    int rc = 0;
    for (uint32_t k = 0; rc >= 0 && k < dr_node_nrefs(n); k++) {
        rc = dr_workset_set_add(d->ws, dr_node_ref(n, k));
    }
    return rc < 0 ? rc : 0;
}

static int mark_snap_cb(void *arg, const struct dr_id *id, const struct dr_index_snap *s)
{
    (void)id;
    struct del *d = arg;
    struct dr_walk w = {
        .r = d->r,
        .txn = d->txn,
        .seen = d->ws,
        .flags = DR_WALK_DEDUP,
        .arg = d,
        .unreadable = mark_unreadable,
        .node = mark_node,
    };
    int rc = dr_walk_run(&w, &s->tree, "");
    return rc < 0 ? rc : 0;
}

/* Disagreement: a reachable blob whose indexed copy is in a pack about to be deleted. Blobs to
 * drop from the index (those pointing into deleted packs) go into the workset's map. */
static int cross_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct del *d = arg;
    if (!in_set(d, &b->pack)) {
        return 0;
    }
    int rc = dr_workset_set_has(d->ws, id);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        char h[DR_ID_HEX_LEN + 1], p[DR_ID_HEX_LEN + 1];
        return dr_errorf(DR_ECORRUPT,
                         "prune stopped before deleting anything: blob %s is reachable from a "
                         "snapshot but its only indexed copy is in pack %s, which the plan would "
                         "delete; the index disagrees with the snapshots: run 'drrepo repair "
                         "index', then prune again",
                         dr_id_hex(id, h), dr_id_hex(&b->pack, p));
    }
    uint8_t one = 1;
    return dr_workset_map_put(d->ws, id, &one, 1);
}

static int drop_cb(void *arg, const struct dr_id *id, const void *v, size_t len)
{
    (void)v;
    (void)len;
    struct del *d = arg;
    int rc = dr_index_blob_del(d->txn, id);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rc = 0;
    }
    return rc;
}

int dr_prune_delete(struct dr_repo *r, const struct dr_prune_opts *o, struct dr_prune_stats *st)
{
    /* snapshots committed since phase 1 (all finished: we hold the exclusive lock) are counted
     * here, so nothing they reference is deleted */
    int rc = dr_repo_sync_index(r, DR_SYNC_LIST);
    if (rc < 0) {
        return rc;
    }
    /* The plan, the mark, the cross-check and the removal from the index stay one write
     * transaction of the shared index: what is deleted must be decided on the one state of the
     * index that the deletion then commits. It keeps no other command waiting that could run:
     * prune holds the repository's exclusive lock. Only the working sets are outside it. */
    struct del d = {.r = r, .st = st};
    rc = dr_repo_workset_open(r, &d.ws);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_begin(dr_repo_index(r), true, &d.txn);
    if (rc < 0) {
        dr_workset_close(d.ws);
        return rc;
    }
    rc = dr_index_pack_foreach(d.txn, del_plan_cb, &d);
    if (d.n) {
        qsort(d.packs, d.n, sizeof(*d.packs), ref_cmp);
    }
    if (rc >= 0 && d.n) {
        rc = dr_index_snap_foreach(d.txn, mark_snap_cb, &d);
    }
    if (rc >= 0 && d.n) {
        rc = dr_index_blob_foreach(d.txn, cross_cb, &d);
    }
    if (rc < 0 || o->dry_run || d.n == 0) {
        int arc = rc;
        dr_index_abort(d.txn);
        dr_workset_close(d.ws);
        free(d.packs);
        return arc;
    }
    rc = dr_workset_map_foreach(d.ws, drop_cb, &d);
    for (size_t i = 0; rc >= 0 && i < d.n; i++) {
        rc = dr_index_pack_del(d.txn, &d.packs[i].id);
    }
    dr_workset_close(d.ws);
    if (rc >= 0) {
        rc = DR_FAULT_POINT("prune.before_index_commit");
    }
    if (rc >= 0) {
        /* the last point where a signal stops the deletion: once the index has let the packs
         * go, they are deleted (a short loop), as a crash-free stop leaves them */
        rc = dr_interrupt_check();
    }
    if (rc >= 0) {
        /* before any pack goes: every other client's next sync then lists every pack, and
         * finds these gone (store/reconcile.c) */
        rc = dr_repo_epoch_begin(r);
    }
    if (rc < 0) {
        dr_index_abort(d.txn);
        free(d.packs);
        return rc;
    }
    rc = dr_index_commit(d.txn);
    /* The index no longer names these packs. A crash from here on leaves files that the next
     * open indexes again (as unreferenced) and the next prune deletes. */
    for (size_t i = 0; rc >= 0 && i < d.n; i++) {
        rc = DR_FAULT_POINT("prune.delete_pack");
        if (rc < 0) {
            break;
        }
        rc = delete_pack(r, d.packs[i].p.type, &d.packs[i].id);
        if (rc >= 0) {
            st->packs_deleted++;
            st->bytes_freed += d.packs[i].p.size;
        }
    }
    if (rc >= 0) {
        rc = dr_repo_epoch_end(r); /* the older epochs: they stand for nothing now */
    }
    free(d.packs);
    return rc;
}
