/* reconcile.c: keeps the local index (a cache) in step with the repository (the truth), and
 * owns the index's life: where it lives, attaching it, recreating it.
 *
 * Packs the index does not know are indexed from their headers: that covers a crash between
 * writing a pack and indexing it, and packs written by other clients. Snapshots it does not know
 * have their references counted; those it counted that are gone (another client's forget) have
 * them taken back. If a pack the index knows has vanished (another client's prune), or a full
 * rebuild is asked for, the index is cleared and rebuilt from every pack header and snapshot:
 * reference counts are then exact by construction.
 *
 * Listing every pack costs a request per thousand packs on object storage, at every command. A
 * sync of what changed (DR_SYNC_CHANGES) skips it when the index can rule out both reasons to
 * list (format version 3): a pack deleted since the last listing (only prune deletes packs, and
 * it first writes a new epoch: the digest of the epochs' names is unchanged), and a pack that
 * the new snapshots need (counting them meets no blob the index lacks; when one does, the sync
 * is redone with the listing). What it gives up is finding packs that no snapshot names yet
 * (another client's snapshot in progress, a crash's leftovers) before they are needed: a
 * deduplication missed at worst; a listing at least once a day, and every check and prune,
 * still find them. */
#include "drrepo/repo.h"
#include "store_int.h"

#include <stdlib.h>
#include <unistd.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/fs.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "drrepo/workset.h"

/* How long a listing of every pack is trusted by a sync of what changed: a bound on how long a
 * pack deleted behind prune's back (by hand, by a lifecycle rule) can go unnoticed. */
#define LISTING_MAX_AGE_NS (24 * 3600 * (int64_t)1000000000)

struct sync_ctx {
    struct dr_repo *r;
    struct dr_index_txn *txn;
    struct dr_workset *listed; /* the packs and copies listed (the store's own working set) */
    int changes;
    bool vanished;
    bool cheap;        /* packs not listed (DR_SYNC_CHANGES with nothing to rule out) */
    bool need_list;    /* cheap, and a new snapshot names a blob the index lacks */
    struct dr_id *ids; /* listed snapshots */
    size_t nids, alloc;
    struct dr_id *gone; /* counted snapshots that are not listed (another client's forget) */
    size_t ngone, agone;
};

/* Indexes the pack id (not yet in the index) from the header of the object name, of the size
 * its listing gave (or DR_BACKEND_SIZE_UNKNOWN); a tree pack whose header cannot be read is
 * indexed from its copy's (or, for a lone copy, the other way round). */
static int index_pack(struct sync_ctx *sc, const struct dr_id *id, const char *name, uint64_t size,
                      const char *other)
{
    struct dr_pack_entry *e = NULL;
    size_t n = 0;
    uint64_t psize;
    uint8_t ptype;
    int rc = dr_pack_read_header(sc->r->backend, sc->r->keys, name, size, &psize, &e, &n, &ptype);
    if ((rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED || rc == DR_ENOENT) && other) {
        char *why = dr_xstrdup(dr_error_msg());
        dr_error_clear();
        rc = dr_pack_read_header(sc->r->backend, sc->r->keys, other, DR_BACKEND_SIZE_UNKNOWN,
                                 &psize, &e, &n, &ptype);
        if (rc >= 0) {
            dr_log_warn("%s; indexed from '%s' (run 'drrepo check', then 'drrepo repair packs')",
                        why, other);
        } else if (rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED || rc == DR_ENOENT) {
            rc = dr_errorf(rc, "%s; '%s': %s", why, other, dr_error_msg());
        }
        free(why);
    }
    if (rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED || rc == DR_ENOENT) {
        /* a damaged pack must not stop every command: check reports it and repair salvages */
        dr_log_warn("%s; its blobs are not indexed (run 'drrepo check')", dr_error_msg());
        dr_error_clear();
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_pack_add(sc->txn, id, ptype, psize, e, n);
    free(e);
    if (rc < 0) {
        return rc;
    }
    sc->changes++;
    return 0;
}

/* Whether the index knows pack id: 1 yes, 0 no (the error cleared), < 0 an error. */
static int pack_known(struct sync_ctx *sc, const struct dr_id *id)
{
    struct dr_index_pack p;
    int rc = dr_index_pack_get(sc->txn, id, &p);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        return 0;
    }
    return rc < 0 ? rc : 1;
}

static char *index_dir(const char *cache_dir, const struct dr_id *repo_id);

static int pack_list_cb(void *arg, const char *name, uint64_t size)
{
    struct sync_ctx *sc = arg;
    enum dr_layout_kind kind;
    struct dr_id id;
    if (dr_layout_parse(name, &kind, &id) < 0 ||
        (kind != DR_LAYOUT_DATA && kind != DR_LAYOUT_TREE)) {
        dr_error_clear();
        dr_log_warn("ignoring unexpected file '%s' among packs", name);
        return 0;
    }
    int rc = dr_workset_set_add(sc->listed, &id);
    if (rc >= 0) {
        rc = pack_known(sc, &id);
    }
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    if (sc->r->index_new) {
        char *dir = index_dir(sc->r->cache_dir, &sc->r->config.repo_id);
        dr_log_info("no local index for this repository yet; building it from the repository in "
                    "'%s'",
                    dir);
        free(dir);
        sc->r->index_new = false;
    }
    char *copy = kind == DR_LAYOUT_TREE ? dr_layout_name_dup(DR_LAYOUT_TREE_COPY, &id) : NULL;
    rc = index_pack(sc, &id, name, size, copy);
    free(copy);
    return rc;
}

/* A lone copy that the index does not know is what a writer killed between writing the copy
 * and the pack leaves (the copy is written first). Left so, the next snapshot would deduplicate
 * against it and reference a pack that has only a copy; so the interrupted write is finished:
 * the pack is written from the copy when the copy's bytes hash to its id (the same bytes, so
 * nothing else changes, as the reserve is written by any command that holds a lock). */
static int roll_forward(struct sync_ctx *sc, const struct dr_id *id, const char *copy)
{
    struct dr_buf raw = DR_BUF_INIT((size_t)DR_PACK_FILE_MAX);
    char *orig = dr_layout_pack_name(DR_BLOB_TREE, id);
    int rc = dr_backend_get(sc->r->backend, copy, 0, UINT64_MAX, &raw);
    if (rc >= 0) {
        struct dr_id got;
        dr_crypto_pack_hash(sc->r->keys, raw.buf, raw.len, &got);
        if (dr_id_eq(&got, id) &&
            dr_backend_put(sc->r->backend, orig, raw.buf, raw.len, false) >= 0) {
            dr_log_warn("tree pack '%s' was missing (a write that did not finish, or damage); "
                        "written again from its copy '%s'",
                        orig, copy);
        }
    }
    dr_error_clear();
    dr_buf_release(&raw);
    rc = index_pack(sc, id, orig, DR_BACKEND_SIZE_UNKNOWN, copy);
    free(orig);
    return rc;
}

/* A copy whose tree pack was not listed. Known to the index: the pack is gone (damage), its
 * copy stands in for it: reads use the copy, check reports the missing pack and repair
 * rewrites it. Unknown to the index: roll_forward. */
static int copy_list_cb(void *arg, const char *name, uint64_t size)
{
    (void)size;
    struct sync_ctx *sc = arg;
    struct dr_id id;
    if (!dr_layout_is(name, DR_LAYOUT_TREE_COPY, &id)) {
        dr_log_warn("ignoring unexpected file '%s' among tree pack copies", name);
        return 0;
    }
    int rc = dr_workset_set_add(sc->listed, &id);
    if (rc <= 0) {
        return rc; /* < 0 an error; 0 its pack was listed */
    }
    rc = pack_known(sc, &id);
    if (rc == 0) {
        return roll_forward(sc, &id, name);
    }
    if (rc > 0) {
        char *orig = dr_layout_pack_name(DR_BLOB_TREE, &id);
        dr_log_warn("tree pack '%s' is missing; its copy '%s' is used instead (run 'drrepo "
                    "check', then 'drrepo repair packs')",
                    orig, name);
        free(orig);
    }
    return rc < 0 ? rc : 0;
}

static int pack_vanish_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *p)
{
    struct sync_ctx *sc = arg;
    int rc = dr_workset_set_add(sc->listed, id);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        char hex[DR_ID_HEX_LEN + 1];
        dr_log_detail("pack %s is in the index but not in the repository", dr_id_hex(id, hex));
        sc->vanished = true;
        struct dr_repo *r = sc->r;
        DR_GROW(r->vanished, r->avanished, r->nvanished + 1);
        r->vanished[r->nvanished++] = (struct dr_vanished){.pack = *id, .type = p->type};
    }
    return 0;
}

static int vanished_blob_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct dr_repo *r = arg;
    for (size_t i = 0; i < r->nvanished; i++) {
        struct dr_vanished *v = &r->vanished[i];
        if (dr_id_eq(&v->pack, &b->pack)) {
            DR_GROW(v->blobs, v->ablobs, v->nblobs + 1);
            v->blobs[v->nblobs++] = *id;
            break;
        }
    }
    return 0;
}

struct dr_vanished *dr_repo_vanished_find(struct dr_repo *r, const struct dr_id *id)
{
    for (size_t i = 0; i < r->nvanished; i++) {
        for (size_t k = 0; k < r->vanished[i].nblobs; k++) {
            if (dr_id_eq(&r->vanished[i].blobs[k], id)) {
                return &r->vanished[i];
            }
        }
    }
    return NULL;
}

static int snap_list_cb(void *arg, const char *name, uint64_t size)
{
    (void)size;
    struct sync_ctx *sc = arg;
    struct dr_id id;
    if (!dr_layout_is(name, DR_LAYOUT_SNAPSHOT, &id)) {
        return 0;
    }
    DR_GROW(sc->ids, sc->alloc, sc->nids + 1);
    sc->ids[sc->nids++] = id;
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    return dr_id_cmp(a, b);
}

static int snap_vanish_cb(void *arg, const struct dr_id *id, const struct dr_index_snap *s)
{
    (void)s;
    struct sync_ctx *sc = arg;
    /* no listed snapshot at all (ids is NULL then, which bsearch must not be given) */
    if (sc->nids == 0 || !bsearch(id, sc->ids, sc->nids, sizeof(*sc->ids), id_cmp)) {
        DR_GROW(sc->gone, sc->agone, sc->ngone + 1);
        sc->gone[sc->ngone++] = *id;
    }
    return 0;
}

/* Takes back the references of the snapshots another client forgot. Counts are hierarchical, so
 * that is cheap while the trees are shared with a snapshot that stays (counted first, so that a
 * tree both name never falls to 0 in between) and exact when their packs are still there; when
 * one cannot be read (a prune deleted it: prune's epoch made the sync list and find that first,
 * or damage), the index is rebuilt instead. */
static int drop_gone(struct sync_ctx *sc)
{
    for (size_t i = 0; i < sc->ngone && !sc->vanished; i++) {
        int rc = dr_repo_snapshot_uncount(sc->r, sc->txn, &sc->gone[i]);
        if (rc < 0) {
            return rc;
        }
        if (rc > 0) {
            sc->vanished = true; /* the caller rebuilds */
        }
        sc->changes++;
    }
    return 0;
}

/* Counts the references of one listed snapshot unknown to the index. */
static int add_snapshot(struct sync_ctx *sc, const struct dr_id *id)
{
    struct dr_index_snap rec;
    int rc = dr_index_snap_get(sc->txn, id, &rec);
    if (rc == 0) {
        return 0;
    }
    if (rc != DR_ENOENT) {
        return rc;
    }
    dr_error_clear();
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    rc = dr_repo_snapshot_load(sc->r, id, &s);
    if (rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED || rc == DR_ENOENT) {
        dr_log_warn("%s (run 'drrepo check')", dr_error_msg());
        dr_error_clear();
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        goto out;
    }
    rc = dr_repo_count_refs(sc->r, sc->txn, &s.tree, +1);
    if (rc < 0) {
        goto out;
    }
    if (rc > 0 && sc->cheap) {
        /* its packs are not indexed yet, or are gone: only a listing can tell */
        sc->need_list = true;
        rc = 0;
        goto out;
    }
    if (rc > 0) {
        char hex[DR_ID_HEX_LEN + 1];
        dr_log_warn("snapshot %.12s references %d blobs that are missing or unreadable (run "
                    "'drrepo check')",
                    dr_id_hex(id, hex), rc);
    }
    rec = (struct dr_index_snap){.time_ns = s.time_ns, .tree = s.tree, .counted = 1};
    dr_snapshot_origin(&s, &rec.origin);
    rc = dr_index_snap_put(sc->txn, id, &rec);
    sc->changes++;
out:
    dr_snapshot_release(&s);
    return rc;
}

static int epoch_list_cb(void *arg, const char *name, uint64_t size)
{
    (void)size;
    struct dr_buf *names = arg;
    struct dr_id id;
    if (!dr_layout_is(name, DR_LAYOUT_EPOCH, &id)) {
        return 0; /* not an epoch: it cannot stand for a deletion */
    }
    return dr_buf_add(names, &id, sizeof(id));
}

/* The digest of the repository's epochs: the plain hash of their ids in increasing order. */
static int epochs_digest(struct dr_repo *r, struct dr_id *out)
{
    struct dr_buf names = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    int rc = dr_backend_list_names(r->backend, DR_OBJ_EPOCHS, epoch_list_cb, &names);
    if (rc >= 0) {
        size_t n = names.len / sizeof(struct dr_id);
        if (n > 1) {
            qsort(names.buf, n, sizeof(struct dr_id), id_cmp);
        }
        dr_crypto_hash(names.buf, names.len, out);
    }
    dr_buf_release(&names);
    return rc;
}

/* Whether a sync of what changed may skip the listing of packs: nothing rules it out (see the
 * top of this file). *now is the epochs' digest, read before any listing. */
static int may_skip_listing(struct sync_ctx *sc, const struct dr_id *now, int64_t start)
{
    struct dr_index_listed l;
    int rc = dr_index_listed_get(sc->txn, &l);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        dr_log_detail("index: no listing of every pack yet");
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    if (!dr_id_eq(&l.epochs, now)) {
        dr_log_detail("index: a prune ran since the last listing of every pack");
        return 0;
    }
    if (start < l.time_ns || start - l.time_ns >= LISTING_MAX_AGE_NS) {
        dr_log_detail("index: the last listing of every pack is more than a day old");
        return 0;
    }
    dr_log_detail("index: packs not listed: no prune since the last listing of every pack, "
                  "%lld minutes ago",
                  (long long)((start - l.time_ns) / (60 * (int64_t)1000000000)));
    return 1;
}

static int list_packs(struct sync_ctx *sc)
{
    struct dr_repo *r = sc->r;
    /* Only the set of listed packs is kept outside the sync's transaction. */
    int rc = dr_repo_own_workset(r, &sc->listed);
    if (rc >= 0) {
        rc = dr_workset_set_clear(sc->listed);
    }
    if (rc >= 0) {
        rc = dr_backend_list_names(r->backend, DR_OBJ_DATA, pack_list_cb, sc);
    }
    if (rc >= 0) {
        rc = dr_backend_list_names(r->backend, DR_OBJ_TREE, pack_list_cb, sc);
    }
    if (rc >= 0) {
        rc = dr_backend_list_names(r->backend, DR_OBJ_TREE_COPY, copy_list_cb, sc);
    }
    if (rc >= 0) {
        size_t before = r->nvanished;
        rc = dr_index_pack_foreach(sc->txn, pack_vanish_cb, sc);
        if (rc >= 0 && r->nvanished > before) {
            rc = dr_index_blob_foreach(sc->txn, vanished_blob_cb, r);
        }
    }
    return rc;
}

static int sync_once(struct dr_repo *r, enum dr_sync how, int *changes, bool *vanished,
                     bool *need_list)
{
    struct sync_ctx sc = {.r = r};
    int64_t start = dr_time_now_ns();
    struct dr_id epochs;
    bool v3 = r->config.version >= 3;
    int rc = dr_index_begin(r->index, true, &sc.txn);
    if (rc < 0) {
        return rc;
    }
    if (how == DR_SYNC_REBUILD) {
        rc = dr_index_clear(sc.txn);
    }
    /* The sync stays one write transaction of the shared index: packs, blobs and counted
     * snapshots must change together. The epochs are read before the packs are listed: a
     * prune that runs meanwhile (one that holds no lock against ours) changes them after. */
    if (rc >= 0 && v3) {
        rc = epochs_digest(r, &epochs);
    }
    if (rc >= 0 && v3 && how == DR_SYNC_CHANGES) {
        rc = may_skip_listing(&sc, &epochs, start);
        sc.cheap = rc == 1;
    } else if (!v3 && how == DR_SYNC_CHANGES) {
        dr_log_detail("index: format version %u has no epochs: listing every pack",
                      r->config.version);
    }
    if (rc >= 0 && !sc.cheap) {
        rc = list_packs(&sc);
    }
    if (rc >= 0) {
        rc = dr_backend_list_names(r->backend, DR_OBJ_SNAPSHOTS, snap_list_cb, &sc);
    }
    if (rc < 0) {
        goto out;
    }
    if (sc.nids) {
        qsort(sc.ids, sc.nids, sizeof(*sc.ids), id_cmp);
    }
    rc = dr_index_snap_foreach(sc.txn, snap_vanish_cb, &sc);
    if (rc < 0 || (sc.vanished && how != DR_SYNC_REBUILD)) {
        goto out; /* the caller rebuilds */
    }
    for (size_t i = 0; i < sc.nids && rc >= 0 && !sc.need_list; i++) {
        rc = add_snapshot(&sc, &sc.ids[i]);
    }
    if (rc >= 0 && !sc.need_list) {
        rc = drop_gone(&sc);
    }
    if (rc >= 0 && v3 && !sc.cheap) {
        rc = dr_index_listed_put(sc.txn,
                                 &(struct dr_index_listed){.epochs = epochs, .time_ns = start});
    }
out:
    free(sc.ids);
    free(sc.gone);
    if (rc < 0 || sc.need_list || (sc.vanished && how != DR_SYNC_REBUILD)) {
        dr_index_abort(sc.txn);
    } else {
        rc = dr_index_commit(sc.txn);
    }
    r->sync_listed = !sc.cheap;
    *changes = sc.changes;
    *vanished = sc.vanished;
    *need_list = sc.need_list;
    return rc;
}

static int sync_or_rebuild(struct dr_repo *r, enum dr_sync how)
{
    int changes = 0;
    bool vanished = false, need_list = false;
    int rc = sync_once(r, how, &changes, &vanished, &need_list);
    if (rc >= 0 && need_list) {
        dr_log_detail("index: a new snapshot names blobs of packs the index does not know; "
                      "listing every pack");
        how = DR_SYNC_LIST;
        rc = sync_once(r, how, &changes, &vanished, &need_list);
    }
    r->sync_rebuilt = how == DR_SYNC_REBUILD;
    if (rc >= 0 && vanished && how != DR_SYNC_REBUILD) {
        dr_log_detail("objects vanished from the repository; rebuilding the index");
        r->sync_rebuilt = true;
        rc = sync_once(r, DR_SYNC_REBUILD, &changes, &vanished, &need_list);
    }
    return rc < 0 ? rc : changes;
}

int dr_repo_sync_index(struct dr_repo *r, enum dr_sync how)
{
    int rc = sync_or_rebuild(r, how);
    if (rc == DR_EINDEX) {
        /* the cache is damaged: nothing has used it yet in this sync's caller, so set it aside
         * and build a new one from the repository, as if it had been deleted */
        dr_log_warn("%s; rebuilding it from the repository", dr_error_msg());
        dr_error_clear();
        rc = dr_repo_index_recreate(r);
        if (rc >= 0) {
            rc = sync_or_rebuild(r, DR_SYNC_REBUILD);
        }
    }
    return rc;
}

bool dr_repo_sync_listed(const struct dr_repo *r)
{
    return r->sync_listed;
}

bool dr_repo_sync_rebuilt(const struct dr_repo *r)
{
    return r->sync_rebuilt;
}

/* ---- prune's epochs -------------------------------------------------------------------------- */

int dr_repo_epoch_begin(struct dr_repo *r)
{
    if (r->config.version < 3) {
        return 0;
    }
    uint8_t bytes[32];
    dr_random_bytes(bytes, sizeof(bytes));
    dr_crypto_hash(bytes, sizeof(bytes), &r->epoch);
    int rc = dr_repo_check_lock(r); /* a commit point, like the deletions it announces */
    if (rc >= 0) {
        rc = DR_FAULT_POINT("prune.before_epoch_put");
    }
    if (rc < 0) {
        return rc;
    }
    char name[DR_LAYOUT_NAME_MAX];
    rc = dr_backend_put(r->backend, dr_layout_name(DR_LAYOUT_EPOCH, &r->epoch, name), bytes,
                        sizeof(bytes), true);
    r->epoch_written = rc >= 0;
    return rc;
}

static int epoch_drop_cb(void *arg, const char *name, uint64_t size)
{
    (void)size;
    struct dr_repo *r = arg;
    struct dr_id id;
    if (!dr_layout_is(name, DR_LAYOUT_EPOCH, &id)) {
        return 0;
    }
    if (dr_id_eq(&id, &r->epoch)) {
        return 0;
    }
    int rc = dr_repo_delete_object(r, name);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rc = 0;
    }
    return rc;
}

int dr_repo_epoch_end(struct dr_repo *r)
{
    if (!r->epoch_written) {
        return 0;
    }
    return dr_backend_list_names(r->backend, DR_OBJ_EPOCHS, epoch_drop_cb, r);
}

/* ---- the index's life: where it lives, attaching, recreating, counting ---- */

/* Where the index lives: <cache>/<repo id hex>/index. */
static char *index_dir(const char *cache_dir, const struct dr_id *repo_id)
{
    char hex[DR_ID_HEX_LEN + 1];
    dr_id_hex(repo_id, hex);
    return dr_xasprintf("%s/%s/index", cache_dir, hex);
}

int dr_repo_index_attach(struct dr_repo *r, bool verify)
{
    if (r->index) {
        return 0;
    }
    int rc;
    char *idxdir = index_dir(r->cache_dir, &r->config.repo_id);
    if (dr_index_is_marked_damaged(idxdir)) {
        dr_log_warn("the local index '%s' was found damaged by an earlier command; "
                    "rebuilding it from the repository",
                    idxdir);
        rc = dr_index_remove(idxdir);
        if (rc < 0) {
            goto out;
        }
    }
    char *mdb = dr_fs_join(idxdir, "data.mdb");
    bool fresh = access(mdb, F_OK) != 0;
    free(mdb);
    if (fresh) {
        r->index_new = true;
    } else if (verify) {
        rc = dr_index_verify_file(idxdir);
        if (rc < 0) {
            goto out;
        }
    }
    rc = dr_fs_mkdir_p(idxdir, 0700);
    if (rc < 0) {
        goto out;
    }
    rc = dr_index_open(idxdir, &r->index);
    if (rc == DR_EINDEX) {
        dr_log_warn("%s; rebuilding it from the repository", dr_error_msg());
        dr_error_clear();
        rc = dr_repo_index_recreate(r);
    }
out:
    free(idxdir);
    return rc < 0 ? rc : 0;
}

int dr_repo_index_recreate(struct dr_repo *r)
{
    char *dir = index_dir(r->cache_dir, &r->config.repo_id);
    dr_index_close(r->index);
    r->index = NULL;
    int rc = dr_index_remove(dir);
    if (rc >= 0) {
        rc = dr_index_open(dir, &r->index);
    }
    free(dir);
    return rc;
}

int dr_repo_index_counts(struct dr_repo *r, uint64_t *out_blobs, uint64_t *out_packs,
                         uint64_t *out_snaps)
{
    struct dr_index_txn *txn;
    int rc = dr_index_begin(r->index, false, &txn);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_counts(txn, out_blobs, out_packs, out_snaps);
    dr_index_abort(txn);
    return rc;
}
