/* worksets.c: the scratch set and work map that check, prune and reference counting use,
 * clearing, verification and counts. */
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

/* ---- scratch, clear, counts ------------------------------------------------------------ */

static int drop(struct dr_index_txn *t, int db)
{
    int mrc = LMDB(mdb_drop(t->txn, t->idx->dbi[db], 0));
    return mrc ? dr_index_txn_lmdb_err(t, mrc, "mdb_drop") : 0;
}

int dr_index_scratch_clear(struct dr_index_txn *t)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    return dr_index_txn_fail(t, drop(t, DB_SCRATCH));
}

int dr_index_scratch_add(struct dr_index_txn *t, const struct dr_id *id)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    MDB_val k = {.mv_size = DR_ID_LEN, .mv_data = (void *)id->b};
    MDB_val v = {.mv_size = 0, .mv_data = NULL};
    int mrc = LMDB(mdb_put(t->txn, t->idx->dbi[DB_SCRATCH], &k, &v, MDB_NOOVERWRITE));
    if (mrc == MDB_KEYEXIST) {
        return 0;
    }
    if (mrc) {
        return dr_index_txn_fail(t, dr_index_txn_lmdb_err(t, mrc, "mdb_put"));
    }
    return 1;
}

int dr_index_scratch_has(struct dr_index_txn *t, const struct dr_id *id)
{
    MDB_val v;
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_db_get(t, DB_SCRATCH, id->b, DR_ID_LEN, &v);
    return rc < 0 ? dr_index_write_result(t, rc) : rc;
}

int dr_index_work_clear(struct dr_index_txn *t)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    return dr_index_txn_fail(t, drop(t, DB_WORK));
}

int dr_index_work_put(struct dr_index_txn *t, const struct dr_id *id, const void *val, size_t len)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (len > DR_INDEX_WORK_MAX) {
        return dr_errorf(DR_EUSAGE, "index work value too long");
    }
    rc = dr_index_db_put(t, DB_WORK, id->b, DR_ID_LEN, val, len);
    return rc < 0 ? dr_index_txn_fail(t, rc) : 0;
}

int dr_index_work_get(struct dr_index_txn *t, const struct dr_id *id, void *val, size_t len)
{
    MDB_val v;
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_db_get(t, DB_WORK, id->b, DR_ID_LEN, &v);
    if (rc == 0) {
        return DR_ENOENT;
    }
    if (rc < 0) {
        return dr_index_write_result(t, rc);
    }
    size_t n = v.mv_size < len ? v.mv_size : len;
    memcpy(val, v.mv_data, n);
    return (int)v.mv_size;
}

int dr_index_work_foreach(struct dr_index_txn *t, dr_index_work_cb cb, void *arg)
{
    struct walk_cbs cbs = {.work = cb, .arg = arg};
    return dr_index_walk(t, DB_WORK, &cbs);
}

int dr_index_clear(struct dr_index_txn *t)
{
    static const int dbs[] = {DB_BLOBS, DB_PACKS, DB_SNAPS, DB_SCRATCH, DB_WORK};
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
    return 0;
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
        uint8_t key[DR_ID_LEN] = {0};
        MDB_val k = {.mv_size = sizeof(key), .mv_data = key};
        MDB_val v = {.mv_size = 0, .mv_data = NULL};
        mrc = LMDB(mdb_put(txn, idx->dbi[DB_SCRATCH], &k, &v, 0));
        if (mrc == 0) {
            mrc = LMDB(mdb_drop(txn, idx->dbi[DB_SCRATCH], 0));
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
