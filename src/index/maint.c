/* maint.c: the index as a whole: clearing before a rebuild, verification and counts. (The
 * working sets of check, prune and reference counting are not here: they live in private
 * environments of their own, workset.c.) */
#include "index_int.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/reader.h"

/* ---- clear, verify, counts -------------------------------------------------------------- */

static int drop(struct dr_index_txn *t, int db)
{
    int mrc = LMDB(mdb_drop(t->txn, t->idx->dbi[db], 0));
    return mrc ? dr_index_txn_lmdb_err(t, mrc, "mdb_drop") : 0;
}

int dr_index_clear(struct dr_index_txn *t)
{
    static const int dbs[] = {DB_BLOBS, DB_PACKS, DB_SNAPS};
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < DR_ARRAY_LEN(dbs); i++) {
        rc = drop(t, dbs[i]);
        if (rc < 0) {
            return dr_index_txn_fail(t, rc);
        }
    }
    /* the listing record describes packs that are no longer there */
    rc = dr_index_db_del(t, DB_META, META_LISTED_KEY, strlen(META_LISTED_KEY));
    return rc < 0 ? rc : 0;
}

/* ---- the listing record ------------------------------------------------------------------ */

int dr_index_listed_get(struct dr_index_txn *t, struct dr_index_listed *out)
{
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    MDB_val v;
    rc = dr_index_db_get(t, DB_META, META_LISTED_KEY, strlen(META_LISTED_KEY), &v);
    if (rc == 0) {
        return dr_errorf(DR_ENOENT, "the index has no listing record");
    }
    if (rc < 0) {
        return rc;
    }
    if (v.mv_size != LISTED_VAL_LEN) {
        return dr_index_damaged(t->idx->dir, "its listing record has %zu bytes, not %d", v.mv_size,
                                LISTED_VAL_LEN);
    }
    memcpy(out->epochs.b, v.mv_data, DR_ID_LEN);
    out->time_ns = (int64_t)dr_get_u64le((const uint8_t *)v.mv_data + DR_ID_LEN);
    return 0;
}

int dr_index_listed_put(struct dr_index_txn *t, const struct dr_index_listed *l)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    uint8_t buf[LISTED_VAL_LEN];
    memcpy(buf, l->epochs.b, DR_ID_LEN);
    dr_put_u64le(buf + DR_ID_LEN, (uint64_t)l->time_ns);
    return dr_index_db_put(t, DB_META, META_LISTED_KEY, strlen(META_LISTED_KEY), buf, sizeof(buf));
}

int dr_index_verify(struct dr_index *idx)
{
    /* Every page reachable from any database, plus a write transaction that allocates pages
     * (and so reads the freelist): the operations a command may perform. Run in a child
     * process: LMDB can crash on damaged pages instead of returning an error. */
    int rc = dr_index_verify_if_changed(idx, true); /* bit rot leaves the stamp as it was */
    if (rc < 0) {
        return rc;
    }
    MDB_txn *txn;
    int mrc = LMDB(mdb_txn_begin(idx->env, NULL, 0, &txn));
    for (int db = 0; mrc == 0 && db < DB_COUNT; db++) {
        MDB_cursor *cur;
        MDB_val k, v;
        mrc = LMDB(mdb_cursor_open(txn, idx->dbi[db], &cur));
        if (mrc) {
            break;
        }
        size_t sum = 0;
        while ((mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) == 0) {
            /* touch the bytes: overflow pages are only read when the value is */
            const uint8_t *p = v.mv_data;
            for (size_t i = 0; i < v.mv_size; i += 512) {
                sum += p[i];
            }
        }
        (void)sum;
        mdb_cursor_close(cur);
        mrc = mrc == MDB_NOTFOUND ? 0 : mrc;
    }
    if (mrc == 0) {
        /* a probe record written and deleted again in meta: the commit still allocates */
        MDB_val k = {.mv_size = strlen(META_VERIFY_KEY), .mv_data = META_VERIFY_KEY};
        MDB_val v = {.mv_size = 0, .mv_data = NULL};
        mrc = LMDB(mdb_put(txn, idx->dbi[DB_META], &k, &v, 0));
        if (mrc == 0) {
            mrc = LMDB(mdb_del(txn, idx->dbi[DB_META], &k, NULL));
        }
    }
    if (mrc == 0) {
        mrc = LMDB(mdb_txn_commit(txn));
    } else {
        mdb_txn_abort(txn);
    }
    if (mrc) {
        return dr_index_damaged(idx->dir, "%s", mdb_strerror(mrc));
    }
    return 0;
}

int dr_index_counts(struct dr_index_txn *t, uint64_t *out_blobs, uint64_t *out_packs,
                    uint64_t *out_snaps)
{
    static const int dbs[] = {DB_BLOBS, DB_PACKS, DB_SNAPS};
    uint64_t n[3];
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < DR_ARRAY_LEN(dbs); i++) {
        MDB_stat st;
        int mrc = LMDB(mdb_stat(t->txn, t->idx->dbi[dbs[i]], &st));
        if (mrc) {
            return dr_index_write_result(t, dr_index_txn_lmdb_err(t, mrc, "mdb_stat"));
        }
        n[i] = st.ms_entries;
    }
    *out_blobs = n[0];
    *out_packs = n[1];
    *out_snaps = n[2];
    return 0;
}
