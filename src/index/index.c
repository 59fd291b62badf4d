/* index.c: the local index, an LMDB environment holding a rebuildable cache of what pack headers
 * and snapshot objects say (format/index.md describes every record byte by byte).
 *
 * Invariants:
 * - Values are encoded and decoded field by field, little-endian, never by memcpy of a C struct.
 *   A decoder checks the exact length, so a damaged record is reported as corrupt, not misread.
 * - For every indexed pack, live_bytes + dead_bytes is the clen sum of its header entries, and
 *   live_bytes is the clen sum of the entries that are the indexed copy of a blob (the blob
 *   record names this pack and offset) with refs > 0.
 * - A write transaction that failed once stays failed (LMDB's MDB_TXN_ERROR rule): every later
 *   call returns the first error with its message, and commit aborts.
 * - Nothing here keeps per-blob state in memory: every lookup goes through LMDB's map. */
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

static const char *const db_names[DB_COUNT] = {
    [DB_BLOBS] = "blobs", [DB_PACKS] = "packs", [DB_SNAPS] = "snaps",
    [DB_FILES] = "files", [DB_META] = "meta",
};

/* Databases that earlier versions kept working sets in (now workset.c, a private environment
 * per user). An index that has them is still schema 1 (no record changed): the first open that
 * writes deletes them, and an older drrepo that opens the index again simply creates them anew. */
static const char *const legacy_db_names[] = {"scratch", "work"};

/* ---- errors ---------------------------------------------------------------------------- */

/* The index's bytes are wrong: the directory is marked so that the next open rebuilds it, and the
 * error is DR_EINDEX (see index.h). */
DR_PRINTF(2, 3) int dr_index_damaged(const char *dir, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    dr_index_mark_damaged(dir);
    return dr_errorf(DR_EINDEX, "the local index '%s' is damaged (%s)", dir, why);
}

/* LMDB calls this before abort() when one of its assertions fails: on damaged pages, not on our
 * misuse (which it reports as error codes). */
static void on_lmdb_assert(MDB_env *env, const char *msg)
{
    const struct dr_index *idx = mdb_env_get_userctx(env);
    if (idx) {
        dr_index_guard_assert(idx->guard, msg);
    }
}

/* Maps an LMDB (or errno) code to a drrepo code and records the message. */
static int lmdb_err(const struct dr_index *idx, int mrc, const char *what)
{
    switch (mrc) {
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_TXN:
    case MDB_CURSOR_FULL: /* a damaged tree deeper than any real one */
    case MDB_PAGE_FULL:   /* a damaged page that claims to have no room */
        return dr_index_damaged(idx->dir, "%s: %s", what, mdb_strerror(mrc));
    case MDB_MAP_FULL:
        return dr_errorf(DR_ENOSPC, "index '%s' is full (%s: %s)", idx->dir, what,
                         mdb_strerror(mrc));
    case ENOSPC:
    case EDQUOT:
        return dr_errorf(DR_ENOSPC, "index '%s': %s: %s", idx->dir, what, mdb_strerror(mrc));
    default: return dr_errorf(DR_EIO, "index '%s': %s: %s", idx->dir, what, mdb_strerror(mrc));
    }
}

int dr_index_record_corrupt(const struct dr_index *idx, const char *kind, const void *key,
                            size_t keylen)
{
    char hex[2 * DR_ID_LEN + 1];
    dr_hex_encode(key, DR_MIN(keylen, (size_t)DR_ID_LEN), hex);
    return dr_index_damaged(idx->dir, "the record of %s %s is corrupt", kind, hex);
}

int dr_index_not_found(const char *kind, const struct dr_id *id)
{
    char hex[DR_ID_HEX_LEN + 1];
    return dr_errorf(DR_ENOENT, "%s %s is not in the index", kind, dr_id_hex(id, hex));
}

/* Makes a write transaction sticky-failed with rc (and its message) unless it already is. Read
 * transactions change nothing, so an error there does not poison later reads. */
int dr_index_txn_fail(struct dr_index_txn *t, int rc)
{
    if (rc < 0 && t->write && t->err.code == 0) {
        dr_error_save(&t->err, rc);
    }
    return rc;
}

/* An LMDB error inside a txn. LMDB itself marks the txn failed after most of them (later calls
 * would only say MDB_BAD_TXN), so read and write txns alike remember the first one and repeat
 * it; a read txn is cleared by dr_index_renew. */
int dr_index_txn_lmdb_err(struct dr_index_txn *t, int mrc, const char *what)
{
    int rc = lmdb_err(t->idx, mrc, what);
    if (t->err.code == 0) {
        dr_error_save(&t->err, rc);
    }
    return rc;
}

/* Every entry point starts here: a failed txn repeats its first error. */
int dr_index_txn_check(struct dr_index_txn *t, bool need_write)
{
    if (t->err.code) {
        return dr_error_restore(&t->err);
    }
    if (need_write && !t->write) {
        return dr_errorf(DR_EUSAGE, "index '%s': write on a read-only transaction", t->idx->dir);
    }
    return 0;
}

/* Result of a write operation: write txns remember failures, except a plain "not found" from a
 * delete (nothing changed, as LMDB treats MDB_NOTFOUND). */
int dr_index_write_result(struct dr_index_txn *t, int rc)
{
    if (rc < 0 && rc != DR_ENOENT) {
        return dr_index_txn_fail(t, rc);
    }
    return rc;
}

/* ---- raw access ------------------------------------------------------------------------ */

/* 1 found (*out set, valid until the next write or the end of the txn), 0 absent, < 0 error. */
int dr_index_db_get(struct dr_index_txn *t, int db, const void *key, size_t keylen, MDB_val *out)
{
    MDB_val k = {.mv_size = keylen, .mv_data = (void *)key};
    int mrc = LMDB(mdb_get(t->txn, t->idx->dbi[db], &k, out));
    if (mrc == MDB_NOTFOUND) {
        return 0;
    }
    if (mrc) {
        return dr_index_txn_lmdb_err(t, mrc, "mdb_get");
    }
    return 1;
}

int dr_index_db_put(struct dr_index_txn *t, int db, const void *key, size_t keylen, const void *val,
                    size_t vallen)
{
    MDB_val k = {.mv_size = keylen, .mv_data = (void *)key};
    MDB_val v = {.mv_size = vallen, .mv_data = (void *)val};
    int mrc = LMDB(mdb_put(t->txn, t->idx->dbi[db], &k, &v, 0));
    if (mrc) {
        return dr_index_txn_lmdb_err(t, mrc, "mdb_put");
    }
    return 0;
}

/* 1 deleted, 0 absent, < 0 error. */
int dr_index_db_del(struct dr_index_txn *t, int db, const void *key, size_t keylen)
{
    MDB_val k = {.mv_size = keylen, .mv_data = (void *)key};
    int mrc = LMDB(mdb_del(t->txn, t->idx->dbi[db], &k, NULL));
    if (mrc == MDB_NOTFOUND) {
        return 0;
    }
    if (mrc) {
        return dr_index_txn_lmdb_err(t, mrc, "mdb_del");
    }
    return 1;
}

/* ---- environment ----------------------------------------------------------------------- */

/* ---- the stamp: which data file drrepo last wrote or verified ------------------------------ */

#define STAMP_FILE "verified"

static int data_stat(struct dr_index *idx, struct stat *out)
{
    mdb_filehandle_t fd;
    int mrc = mdb_env_get_fd(idx->env, &fd);
    if (mrc) {
        return lmdb_err(idx, mrc, "mdb_env_get_fd");
    }
    if (fstat(fd, out) < 0) {
        return dr_error_errno(DR_EIO, "index '%s': cannot stat data.mdb", idx->dir);
    }
    return fd;
}

static void stamp_text(const struct stat *st, char *out, size_t len)
{
    snprintf(out, len, "%llu %lld.%09ld %llu\n", (unsigned long long)st->st_size,
             (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (unsigned long long)st->st_ino);
}

/* Best effort: a stamp that is not written only costs a check at the next open. Replaced by
 * rename so that a reader never sees half of one. */
static void stamp_write(struct dr_index *idx)
{
    struct stat st;
    if (data_stat(idx, &st) < 0) {
        dr_error_clear();
        return;
    }
    char text[128];
    stamp_text(&st, text, sizeof(text));
    char *path = dr_fs_join(idx->dir, STAMP_FILE);
    char *tmp = dr_xasprintf("%s.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    bool ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) {
        ok = false;
    }
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
    }
    free(tmp);
    free(path);
}

/* Checks the data file before any transaction reads it. LMDB trusts the meta page's last page
 * number and maps the file without checking its size, so a data.mdb cut short after its meta
 * pages would fault (SIGBUS) on the first read of a missing page: the size is checked at every
 * open. LMDB trusts its pages too, so a file changed by anything but drrepo (it does not match
 * the stamp), or any file when force is set, has its pages checked (pages.c). */
int dr_index_verify_if_changed(struct dr_index *idx, bool force)
{
    struct stat st;
    int fd = data_stat(idx, &st);
    if (fd < 0) {
        return fd;
    }
    MDB_envinfo info;
    MDB_stat ms;
    int mrc = mdb_env_info(idx->env, &info);
    if (!mrc) {
        mrc = mdb_env_stat(idx->env, &ms);
    }
    if (mrc) {
        return lmdb_err(idx, mrc, "mdb_env_info");
    }
    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    if ((uint64_t)st.st_size < need) {
        return dr_index_damaged(idx->dir, "data.mdb has %llu bytes, its pages need %llu",
                                (unsigned long long)st.st_size, (unsigned long long)need);
    }
    char want[128], have[128] = "";
    stamp_text(&st, want, sizeof(want));
    char *path = dr_fs_join(idx->dir, STAMP_FILE);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(have, sizeof(have), f)) {
            have[0] = 0;
        }
        fclose(f);
    }
    free(path);
    if (!force && strcmp(want, have) == 0) {
        return 0;
    }
    char why[256];
    int rc = dr_index_check_pages(fd, ms.ms_psize, info.me_last_pgno, (uint64_t)st.st_size, why,
                                  sizeof(why));
    if (rc == 1) {
        return dr_index_damaged(idx->dir, "%s", why);
    }
    return rc;
}

/* Deletes the legacy databases (create: inside the write txn) or, without create, returns 1
 * when there is one to delete. */
static int drop_legacy_dbs(struct dr_index *idx, MDB_txn *txn, bool create)
{
    for (size_t i = 0; i < DR_ARRAY_LEN(legacy_db_names); i++) {
        MDB_dbi dbi;
        int mrc = LMDB(mdb_dbi_open(txn, legacy_db_names[i], 0, &dbi));
        if (mrc == MDB_NOTFOUND) {
            continue;
        }
        if (mrc == 0 && !create) {
            return 1; /* the handle goes with the read txn's abort */
        }
        if (mrc == 0) {
            mrc = LMDB(mdb_drop(txn, dbi, 1));
        }
        if (mrc) {
            return lmdb_err(idx, mrc, "mdb_drop");
        }
    }
    return 0;
}

/* Returns 0 for the current schema, 1 for an older one (to be upgraded), or an error. */
static int check_schema(struct dr_index *idx, const MDB_val *v)
{
    if (v->mv_size != 4) {
        return dr_index_damaged(idx->dir, "the schema record is corrupt");
    }
    uint32_t schema = dr_get_u32le(v->mv_data);
    if (schema > INDEX_SCHEMA) {
        return dr_errorf(DR_EUNSUPPORTED,
                         "index '%s' has schema version %u; this drrepo knows up to %u", idx->dir,
                         schema, INDEX_SCHEMA);
    }
    if (schema == 0) {
        return dr_index_damaged(idx->dir, "schema version 0 is invalid");
    }
    return schema < INDEX_SCHEMA;
}

/* An index of an older schema: schema 1's snapshot records lack the origin, which only the
 * snapshot objects can give. Blobs, packs and snapshots are emptied, so that the sync that
 * follows every open counts them again from the repository, as after a deleted index; the
 * files cache, unchanged since schema 1, is kept. Then the schema is stamped current. */
static int upgrade(struct dr_index *idx, MDB_txn *txn, const MDB_dbi dbi[DB_COUNT])
{
    static const int emptied[] = {DB_BLOBS, DB_PACKS, DB_SNAPS};
    for (size_t i = 0; i < sizeof(emptied) / sizeof(emptied[0]); i++) {
        int mrc = LMDB(mdb_drop(txn, dbi[emptied[i]], 0));
        if (mrc) {
            return lmdb_err(idx, mrc, "mdb_drop");
        }
    }
    uint8_t buf[4];
    dr_put_u32le(buf, INDEX_SCHEMA);
    MDB_val k = {.mv_size = strlen(META_SCHEMA_KEY), .mv_data = META_SCHEMA_KEY};
    MDB_val v = {.mv_size = sizeof(buf), .mv_data = buf};
    int mrc = LMDB(mdb_put(txn, dbi[DB_META], &k, &v, 0));
    return mrc ? lmdb_err(idx, mrc, "mdb_put") : 0;
}

/* Opens the named databases and checks the schema in one transaction. Without create, a read
 * transaction is used and 1 is returned when something is missing or the schema is older, so
 * that opening an existing index never waits for another process's write transaction; with
 * create, an older schema is upgraded. */
static int open_dbs(struct dr_index *idx, bool create)
{
    MDB_txn *txn = NULL;
    MDB_dbi dbi[DB_COUNT];
    int rc = 0;
    int mrc = LMDB(mdb_txn_begin(idx->env, NULL, create ? 0 : MDB_RDONLY, &txn));
    if (mrc) {
        txn = NULL;
        rc = lmdb_err(idx, mrc, "mdb_txn_begin");
        goto out;
    }
    for (int i = 0; i < DB_COUNT; i++) {
        mrc = LMDB(mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &dbi[i]));
        if (mrc == MDB_NOTFOUND && !create) {
            rc = 1;
            goto out;
        }
        if (mrc) {
            rc = lmdb_err(idx, mrc, "mdb_dbi_open");
            goto out;
        }
    }
    MDB_val k = {.mv_size = strlen(META_SCHEMA_KEY), .mv_data = META_SCHEMA_KEY};
    MDB_val v;
    mrc = LMDB(mdb_get(txn, dbi[DB_META], &k, &v));
    if (mrc == MDB_NOTFOUND && !create) {
        rc = 1;
        goto out;
    }
    if (mrc == MDB_NOTFOUND) {
        uint8_t buf[4];
        dr_put_u32le(buf, INDEX_SCHEMA);
        v.mv_size = sizeof(buf);
        v.mv_data = buf;
        mrc = LMDB(mdb_put(txn, dbi[DB_META], &k, &v, 0));
        if (mrc) {
            rc = lmdb_err(idx, mrc, "mdb_put");
            goto out;
        }
    } else if (mrc) {
        rc = lmdb_err(idx, mrc, "mdb_get");
        goto out;
    } else {
        rc = check_schema(idx, &v);
        if (rc == 1 && create) {
            rc = upgrade(idx, txn, dbi);
        }
        if (rc != 0) {
            goto out;
        }
    }
    rc = drop_legacy_dbs(idx, txn, create);
    if (rc != 0) {
        goto out;
    }
    /* A committed transaction (read or write) makes its dbi handles valid env-wide. */
    mrc = LMDB(mdb_txn_commit(txn));
    txn = NULL;
    if (mrc) {
        rc = lmdb_err(idx, mrc, "mdb_txn_commit");
        goto out;
    }
    memcpy(idx->dbi, dbi, sizeof(dbi));
out:
    if (txn) {
        mdb_txn_abort(txn);
    }
    return rc;
}

int dr_index_open(const char *dir, struct dr_index **out)
{
    struct dr_index *idx = dr_xcalloc(1, sizeof(*idx));
    idx->dir = dr_xstrdup(dir);
    idx->guard = -1;
    idx->resident = -1;
    int rc = dr_fs_mkdir_p(dir, 0700);
    if (rc < 0) {
        rc = rc == DR_ENOSPC ? rc : DR_EIO;
        goto out;
    }
    int mrc = mdb_env_create(&idx->env);
    if (mrc) {
        idx->env = NULL;
        rc = lmdb_err(idx, mrc, "mdb_env_create");
        goto out;
    }
    mrc = mdb_env_set_maxdbs(idx->env, INDEX_MAXDBS);
    if (!mrc) {
        mrc = mdb_env_set_mapsize(idx->env, INDEX_MAPSIZE);
    }
    if (!mrc) {
        mrc = mdb_env_set_userctx(idx->env, idx);
    }
    if (!mrc) {
        mrc = mdb_env_set_assert(idx->env, on_lmdb_assert);
    }
    if (mrc) {
        rc = lmdb_err(idx, mrc, "mdb_env_set_mapsize");
        goto out;
    }
    /* MDB_NOTLS: read transactions belong to the txn object, not the thread, so the pipeline's
     * workers can each hold one and a reader can be handed between threads. Commits stay
     * durable (no MDB_NOSYNC): the index is a cache, but a torn one would cost a rebuild. */
    mrc = LMDB(mdb_env_open(idx->env, dir, MDB_NOTLS, 0600));
    if (mrc) {
        rc = lmdb_err(idx, mrc, "mdb_env_open");
        goto out;
    }
    void *map;
    size_t maplen;
    mdb_filehandle_t fd;
    if (dr_index_map_of(dir, &map, &maplen) == 0) {
        idx->guard = dr_index_guard_register(dir, map, maplen);
        if (mdb_env_get_fd(idx->env, &fd) == 0) {
            idx->resident = dr_index_resident_register(map, maplen, fd);
        }
    }
    rc = dr_index_verify_if_changed(idx, false);
    if (rc < 0) {
        goto out;
    }
    /* Free reader slots left by processes that died holding a read transaction; otherwise
     * they pin old pages and the file grows. */
    int dead = 0;
    (void)LMDB(mdb_reader_check(idx->env, &dead));
    rc = open_dbs(idx, false);
    if (rc == 1) {
        rc = open_dbs(idx, true);
    }
    if (rc >= 0) {
        stamp_write(idx);
    }
out:
    if (rc < 0) {
        dr_index_close(idx);
        return rc;
    }
    *out = idx;
    return 0;
}

void dr_index_close(struct dr_index *idx)
{
    if (!idx) {
        return;
    }
    /* before the map goes: a shed on another thread must never advise a range reused since */
    dr_index_resident_unregister(idx->resident);
    if (idx->env) {
        mdb_env_close(idx->env);
    }
    dr_index_guard_unregister(idx->guard);
    free(idx->dir);
    free(idx);
}

int dr_index_remove(const char *dir)
{
    /* rename first: a process that still has the old files open keeps them, and the name is
     * free for a new index at once */
    char aside[4096];
    int n = snprintf(aside, sizeof(aside), "%s.old-%ld", dir, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(aside)) {
        return dr_errorf(DR_EIO, "index directory name '%s' is too long", dir);
    }
    if (rename(dir, aside) < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        return dr_error_errno(DR_EIO, "cannot move the index '%s' aside", dir);
    }
    DIR *d = opendir(aside);
    if (!d) {
        return dr_error_errno(DR_EIO, "cannot open '%s'", aside);
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        char *p = dr_fs_join(aside, de->d_name);
        if (unlink(p) < 0 && errno != ENOENT) {
            rc = dr_error_errno(DR_EIO, "cannot remove '%s'", p);
        }
        free(p);
    }
    closedir(d);
    if (rc >= 0 && rmdir(aside) < 0 && errno != ENOENT) {
        rc = dr_error_errno(DR_EIO, "cannot remove '%s'", aside);
    }
    return rc;
}

const char *dr_index_path(const struct dr_index *idx)
{
    return idx->dir;
}

/* ---- transactions ---------------------------------------------------------------------- */

int dr_index_begin(struct dr_index *idx, bool write, struct dr_index_txn **out)
{
    MDB_txn *txn;
    int mrc = LMDB(mdb_txn_begin(idx->env, NULL, write ? 0 : MDB_RDONLY, &txn));
    if (mrc) {
        return lmdb_err(idx, mrc, "mdb_txn_begin");
    }
    struct dr_index_txn *t = dr_xcalloc(1, sizeof(*t));
    t->idx = idx;
    t->txn = txn;
    t->write = write;
    *out = t;
    return 0;
}

int dr_index_commit(struct dr_index_txn *t)
{
    int rc = t->err.code;
    if (rc) {
        rc = dr_error_restore(&t->err);
        mdb_txn_abort(t->txn);
        goto out;
    }
    if (t->write) {
        rc = DR_FAULT_POINT("index.commit");
        if (rc < 0) {
            mdb_txn_abort(t->txn);
            goto out;
        }
    }
    /* mdb_txn_commit frees the LMDB txn whether or not it succeeds */
    int mrc = LMDB(mdb_txn_commit(t->txn));
    if (mrc) {
        rc = lmdb_err(t->idx, mrc, "mdb_txn_commit");
    } else if (t->write) {
        stamp_write(t->idx);
    }
out:
    dr_error_saved_release(&t->err);
    free(t);
    return rc;
}

void dr_index_abort(struct dr_index_txn *t)
{
    if (!t) {
        return;
    }
    mdb_txn_abort(t->txn);
    dr_error_saved_release(&t->err);
    free(t);
}

int dr_index_renew(struct dr_index_txn *t)
{
    if (t->write) {
        return dr_errorf(DR_EUSAGE, "index '%s': renew of a write transaction", t->idx->dir);
    }
    if (!t->reset) {
        mdb_txn_reset(t->txn);
        t->reset = true;
    }
    int mrc = LMDB(mdb_txn_renew(t->txn));
    if (mrc) {
        /* the txn stays reset: later calls fail with this error until a renew succeeds */
        int rc = lmdb_err(t->idx, mrc, "mdb_txn_renew");
        dr_error_save(&t->err, rc);
        return rc;
    }
    t->reset = false;
    dr_error_saved_release(&t->err);
    return 0;
}
