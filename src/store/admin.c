/* admin.c: whole-repository questions and chores that commands ask of the store without
 * reaching into the index or the backend themselves: storage totals (`stats`) and removing
 * stale locks (`unlock`, which needs no key), and whether the credentials may delete at all. */
#include "drrepo/repo.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/id.h"
#include "drrepo/layout.h"
#include "drrepo/lock.h"
#include "drrepo/mem.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "store_int.h"

static int pack_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *p)
{
    (void)id;
    struct dr_repo_stats *t = arg;
    t->packs++;
    t->pack_bytes += p->size;
    t->live_bytes += p->live_bytes;
    t->dead_bytes += p->dead_bytes;
    return 0;
}

static int blob_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    (void)id;
    struct dr_repo_stats *t = arg;
    t->blobs++;
    if (b->refs > 0) {
        t->unique_bytes += b->ulen;
    }
    return 0;
}

int dr_repo_stats(struct dr_repo *r, struct dr_repo_stats *out)
{
    struct dr_repo_stats t = {0};
    struct dr_index_txn *txn;
    int rc = dr_index_begin(r->index, false, &txn);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_pack_foreach(txn, pack_cb, &t);
    if (rc >= 0) {
        rc = dr_index_blob_foreach(txn, blob_cb, &t);
    }
    dr_index_abort(txn);
    if (rc >= 0) {
        *out = t;
    }
    return rc < 0 ? rc : 0;
}

struct unlock_ctx {
    struct dr_backend *b;
    bool all;
    dr_unlock_cb cb;
    void *arg;
    int removed, kept;
};

static int unlock_cb(void *arg, const struct dr_lock_info *li)
{
    struct unlock_ctx *uc = arg;
    bool old = dr_time_now_ns() - li->refreshed_ns > DR_LOCK_STALE_NS;
    if (uc->all || !li->host[0] || dr_lock_is_dead(li) || old) {
        if (dr_backend_delete(uc->b, li->name) == 0) {
            uc->removed++;
            if (uc->cb) {
                uc->cb(uc->arg, li);
            }
        } else {
            /* gone already (another unlock), or not ours to delete: kept counts are for
             * locks of running holders only */
            dr_error_clear();
        }
    } else {
        uc->kept++;
    }
    return 0;
}

int dr_repo_unlock(const char *location, bool all, dr_unlock_cb cb, void *arg, int *out_removed,
                   int *out_kept)
{
    struct dr_backend *b;
    int rc = dr_backend_open(location, &b);
    if (rc < 0) {
        return rc;
    }
    uint64_t sz;
    if (dr_backend_stat(b, DR_OBJ_CONFIG, &sz) < 0 &&
        dr_backend_stat(b, DR_OBJ_CONFIG_COPY, &sz) < 0) {
        dr_backend_close(b);
        dr_error_clear();
        return dr_errorf(DR_ENOREPO, "no repository at '%s'", location);
    }
    struct unlock_ctx uc = {.b = b, .all = all, .cb = cb, .arg = arg};
    rc = dr_lock_list(b, unlock_cb, &uc);
    dr_backend_close(b);
    if (rc >= 0) {
        *out_removed = uc.removed;
        *out_kept = uc.kept;
    }
    return rc < 0 ? rc : 0;
}

int dr_repo_check_deletes(struct dr_repo *r)
{
    static const char *const dirs[] = {DR_OBJ_SNAPSHOTS, DR_OBJ_DATA};
    int rc = 1;
    for (size_t i = 0; i < DR_ARRAY_LEN(dirs) && rc == 1; i++) {
        uint8_t rnd[16];
        char hex[33];
        dr_random_bytes(rnd, sizeof(rnd));
        dr_hex_encode(rnd, sizeof(rnd), hex);
        char *probe = dr_xasprintf("%s/probe-%s", dirs[i], hex);
        rc = dr_backend_can_delete(r->backend, probe);
        if (rc == 0) {
            rc = dr_errorf(DR_EIO,
                           "'%s' refused to delete '%s' (an object that does not exist): the "
                           "credentials may not delete objects (append-only?): forget and prune "
                           "need credentials that can delete",
                           r->location, probe);
        }
        free(probe);
    }
    return rc < 0 ? rc : 0;
}
