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

#define INDEX_SCHEMA 1u
#define INDEX_MAXDBS 8
/* LMDB needs the largest size up front; the file itself grows only as pages are used, so a
 * large map costs address space, not disk. */
#define INDEX_MAPSIZE (sizeof(size_t) >= 8 ? (size_t)64 << 30 : (size_t)1 << 30)

#define BLOB_VAL_LEN 49    /* pack 32 | type 1 | offset 4 | clen 4 | ulen 4 | refs 4 */
#define PACK_VAL_LEN 38    /* type 1 | size 8 | count 4 | live 8 | dead 8 | verified 8 | ok 1 */
#define SNAP_VAL_LEN 41    /* time 8 | tree 32 | counted 1 */
#define FILES_HDR_LEN 44   /* dev 8 | ino 8 | size 8 | mtime 8 | ctime 8 | nchunks 4 */
#define FILES_CHUNK_LEN 36 /* id 32 | size 4 */
#define META_SCHEMA_KEY "schema"

enum {
    DB_BLOBS,
    DB_PACKS,
    DB_SNAPS,
    DB_FILES,
    DB_META,
    DB_SCRATCH,
    DB_WORK,
    DB_COUNT,
};

static const char *const db_names[DB_COUNT] = {
    [DB_BLOBS] = "blobs", [DB_PACKS] = "packs",     [DB_SNAPS] = "snaps", [DB_FILES] = "files",
    [DB_META] = "meta",   [DB_SCRATCH] = "scratch", [DB_WORK] = "work",
};

struct dr_index {
    MDB_env *env;
    int guard; /* slot of the damage guard (guard.c), -1 when unguarded */
    char *dir;
    MDB_dbi dbi[DB_COUNT];
};

struct dr_index_txn {
    struct dr_index *idx;
    MDB_txn *txn;
    bool write;
    bool reset; /* read txn between mdb_txn_reset and a successful mdb_txn_renew */
    int err;    /* first error of a failed txn, 0 while healthy */
    char errmsg[512];
};

/* Every LMDB call that reads pages runs inside LMDB(): the damage guard (guard.c) then knows
 * that a fault on this thread, even one with no usable address, came from the index. */
static inline int lmdb_left(int mrc)
{
    dr_index_guard_leave();
    return mrc;
}
#define LMDB(call) (dr_index_guard_enter(), lmdb_left(call))

/* ---- errors ---------------------------------------------------------------------------- */

/* The index's bytes are wrong: the directory is marked so that the next open rebuilds it, and the
 * error is DR_EINDEX (see index.h). */
DR_PRINTF(2, 3) static int damaged(const char *dir, const char *fmt, ...)
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
        return damaged(idx->dir, "%s: %s", what, mdb_strerror(mrc));
    case MDB_MAP_FULL:
        return dr_errorf(DR_ENOSPC, "index '%s' is full (%s: %s)", idx->dir, what,
                         mdb_strerror(mrc));
    case ENOSPC:
    case EDQUOT:
        return dr_errorf(DR_ENOSPC, "index '%s': %s: %s", idx->dir, what, mdb_strerror(mrc));
    default: return dr_errorf(DR_EIO, "index '%s': %s: %s", idx->dir, what, mdb_strerror(mrc));
    }
}

static int record_corrupt(const struct dr_index *idx, const char *kind, const void *key,
                          size_t keylen)
{
    char hex[2 * DR_ID_LEN + 1];
    dr_hex_encode(key, DR_MIN(keylen, (size_t)DR_ID_LEN), hex);
    return damaged(idx->dir, "the record of %s %s is corrupt", kind, hex);
}

static int not_found(const char *kind, const struct dr_id *id)
{
    char hex[DR_ID_HEX_LEN + 1];
    return dr_errorf(DR_ENOENT, "%s %s is not in the index", kind, dr_id_hex(id, hex));
}

/* Makes a write transaction sticky-failed with rc (and its message) unless it already is. Read
 * transactions change nothing, so an error there does not poison later reads. */
static int txn_fail(struct dr_index_txn *t, int rc)
{
    if (rc < 0 && t->write && t->err == 0) {
        t->err = rc;
        snprintf(t->errmsg, sizeof(t->errmsg), "%s", dr_error_msg());
    }
    return rc;
}

/* An LMDB error inside a txn. LMDB itself marks the txn failed after most of them (later calls
 * would only say MDB_BAD_TXN), so read and write txns alike remember the first one and repeat
 * it; a read txn is cleared by dr_index_renew. */
static int txn_lmdb_err(struct dr_index_txn *t, int mrc, const char *what)
{
    int rc = lmdb_err(t->idx, mrc, what);
    if (t->err == 0) {
        t->err = rc;
        snprintf(t->errmsg, sizeof(t->errmsg), "%s", dr_error_msg());
    }
    return rc;
}

/* Every entry point starts here: a failed txn repeats its first error. */
static int txn_check(struct dr_index_txn *t, bool need_write)
{
    if (t->err) {
        return dr_errorf(t->err, "%s", t->errmsg);
    }
    if (need_write && !t->write) {
        return dr_errorf(DR_EUSAGE, "index '%s': write on a read-only transaction", t->idx->dir);
    }
    return 0;
}

/* Result of a write operation: write txns remember failures, except a plain "not found" from a
 * delete (nothing changed, as LMDB treats MDB_NOTFOUND). */
static int write_result(struct dr_index_txn *t, int rc)
{
    if (rc < 0 && rc != DR_ENOENT) {
        return txn_fail(t, rc);
    }
    return rc;
}

/* ---- raw access ------------------------------------------------------------------------ */

/* 1 found (*out set, valid until the next write or the end of the txn), 0 absent, < 0 error. */
static int db_get(struct dr_index_txn *t, int db, const void *key, size_t keylen, MDB_val *out)
{
    MDB_val k = {.mv_size = keylen, .mv_data = (void *)key};
    int mrc = LMDB(mdb_get(t->txn, t->idx->dbi[db], &k, out));
    if (mrc == MDB_NOTFOUND) {
        return 0;
    }
    if (mrc) {
        return txn_lmdb_err(t, mrc, "mdb_get");
    }
    return 1;
}

static int db_put(struct dr_index_txn *t, int db, const void *key, size_t keylen, const void *val,
                  size_t vallen)
{
    MDB_val k = {.mv_size = keylen, .mv_data = (void *)key};
    MDB_val v = {.mv_size = vallen, .mv_data = (void *)val};
    int mrc = LMDB(mdb_put(t->txn, t->idx->dbi[db], &k, &v, 0));
    if (mrc) {
        return txn_lmdb_err(t, mrc, "mdb_put");
    }
    return 0;
}

/* 1 deleted, 0 absent, < 0 error. */
static int db_del(struct dr_index_txn *t, int db, const void *key, size_t keylen)
{
    MDB_val k = {.mv_size = keylen, .mv_data = (void *)key};
    int mrc = LMDB(mdb_del(t->txn, t->idx->dbi[db], &k, NULL));
    if (mrc == MDB_NOTFOUND) {
        return 0;
    }
    if (mrc) {
        return txn_lmdb_err(t, mrc, "mdb_del");
    }
    return 1;
}

/* ---- record codecs --------------------------------------------------------------------- */

static void blob_encode(uint8_t v[BLOB_VAL_LEN], const struct dr_index_blob *b)
{
    memcpy(v, b->pack.b, DR_ID_LEN);
    v[32] = b->type;
    dr_put_u32le(v + 33, b->offset);
    dr_put_u32le(v + 37, b->clen);
    dr_put_u32le(v + 41, b->ulen);
    dr_put_u32le(v + 45, b->refs);
}

static int blob_decode(const struct dr_index *idx, const void *key, size_t keylen, const MDB_val *v,
                       struct dr_index_blob *out)
{
    struct dr_reader r;
    struct dr_index_blob b;
    dr_rd_init(&r, v->mv_data, v->mv_size);
    dr_rd_copy(&r, b.pack.b, DR_ID_LEN);
    b.type = dr_rd_u8(&r);
    b.offset = dr_rd_u32le(&r);
    b.clen = dr_rd_u32le(&r);
    b.ulen = dr_rd_u32le(&r);
    b.refs = dr_rd_u32le(&r);
    if (keylen != DR_ID_LEN || v->mv_size != BLOB_VAL_LEN || !dr_rd_ok(&r)) {
        return record_corrupt(idx, "blob", key, keylen);
    }
    *out = b;
    return 0;
}

static void pack_encode(uint8_t v[PACK_VAL_LEN], const struct dr_index_pack *p)
{
    v[0] = p->type;
    dr_put_u64le(v + 1, p->size);
    dr_put_u32le(v + 9, p->count);
    dr_put_u64le(v + 13, p->live_bytes);
    dr_put_u64le(v + 21, p->dead_bytes);
    dr_put_u64le(v + 29, (uint64_t)p->verified_ns);
    v[37] = p->verified_ok;
}

static int pack_decode(const struct dr_index *idx, const void *key, size_t keylen, const MDB_val *v,
                       struct dr_index_pack *out)
{
    struct dr_reader r;
    struct dr_index_pack p;
    dr_rd_init(&r, v->mv_data, v->mv_size);
    p.type = dr_rd_u8(&r);
    p.size = dr_rd_u64le(&r);
    p.count = dr_rd_u32le(&r);
    p.live_bytes = dr_rd_u64le(&r);
    p.dead_bytes = dr_rd_u64le(&r);
    p.verified_ns = (int64_t)dr_rd_u64le(&r);
    p.verified_ok = dr_rd_u8(&r);
    if (keylen != DR_ID_LEN || v->mv_size != PACK_VAL_LEN || !dr_rd_ok(&r) || p.verified_ok > 1) {
        return record_corrupt(idx, "pack", key, keylen);
    }
    *out = p;
    return 0;
}

static void snap_encode(uint8_t v[SNAP_VAL_LEN], const struct dr_index_snap *s)
{
    dr_put_u64le(v, (uint64_t)s->time_ns);
    memcpy(v + 8, s->tree.b, DR_ID_LEN);
    v[40] = s->counted;
}

static int snap_decode(const struct dr_index *idx, const void *key, size_t keylen, const MDB_val *v,
                       struct dr_index_snap *out)
{
    struct dr_reader r;
    struct dr_index_snap s;
    dr_rd_init(&r, v->mv_data, v->mv_size);
    s.time_ns = (int64_t)dr_rd_u64le(&r);
    dr_rd_copy(&r, s.tree.b, DR_ID_LEN);
    s.counted = dr_rd_u8(&r);
    if (keylen != DR_ID_LEN || v->mv_size != SNAP_VAL_LEN || !dr_rd_ok(&r) || s.counted > 1) {
        return record_corrupt(idx, "snapshot", key, keylen);
    }
    *out = s;
    return 0;
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
static int verify_if_changed(struct dr_index *idx, bool force)
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
        return damaged(idx->dir, "data.mdb has %llu bytes, its pages need %llu",
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
        return damaged(idx->dir, "%s", why);
    }
    return rc;
}

static int check_schema(struct dr_index *idx, const MDB_val *v)
{
    if (v->mv_size != 4) {
        return damaged(idx->dir, "the schema record is corrupt");
    }
    uint32_t schema = dr_get_u32le(v->mv_data);
    if (schema > INDEX_SCHEMA) {
        return dr_errorf(DR_EUNSUPPORTED,
                         "index '%s' has schema version %u; this drrepo knows up to %u", idx->dir,
                         schema, INDEX_SCHEMA);
    }
    if (schema == 0) {
        return damaged(idx->dir, "schema version 0 is invalid");
    }
    return 0;
}

/* Opens the named databases and checks the schema in one transaction. Without create, a read
 * transaction is used and 1 is returned when something is missing, so that opening an existing
 * index never waits for another process's write transaction. */
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
        if (rc < 0) {
            goto out;
        }
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
    MDB_envinfo info;
    if (mdb_env_info(idx->env, &info) == 0) {
        idx->guard = dr_index_guard_register(dir, info.me_mapaddr, info.me_mapsize);
    }
    rc = verify_if_changed(idx, false);
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
    int rc = t->err;
    if (rc) {
        rc = dr_errorf(rc, "%s", t->errmsg);
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
    free(t);
    return rc;
}

void dr_index_abort(struct dr_index_txn *t)
{
    if (!t) {
        return;
    }
    mdb_txn_abort(t->txn);
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
        t->err = rc;
        snprintf(t->errmsg, sizeof(t->errmsg), "%s", dr_error_msg());
        return rc;
    }
    t->reset = false;
    t->err = 0;
    return 0;
}

/* ---- blobs ----------------------------------------------------------------------------- */

/* 1 found, 0 absent (no message), < 0 error. */
static int blob_lookup(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_blob *out)
{
    MDB_val v;
    int rc = db_get(t, DB_BLOBS, id->b, DR_ID_LEN, &v);
    if (rc <= 0) {
        return rc;
    }
    rc = blob_decode(t->idx, id->b, DR_ID_LEN, &v, out);
    return rc < 0 ? rc : 1;
}

static int blob_store(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_blob *b)
{
    uint8_t v[BLOB_VAL_LEN];
    blob_encode(v, b);
    return db_put(t, DB_BLOBS, id->b, DR_ID_LEN, v, sizeof(v));
}

int dr_index_blob_get(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_blob *out)
{
    int rc = txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = blob_lookup(t, id, out);
    if (rc == 0) {
        return not_found("blob", id);
    }
    return write_result(t, rc < 0 ? rc : 0);
}

int dr_index_blob_put(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_blob *b)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    return write_result(t, blob_store(t, id, b));
}

int dr_index_blob_del(struct dr_index_txn *t, const struct dr_id *id)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    rc = db_del(t, DB_BLOBS, id->b, DR_ID_LEN);
    if (rc == 0) {
        return not_found("blob", id);
    }
    return write_result(t, rc < 0 ? rc : 0);
}

/* ---- packs ----------------------------------------------------------------------------- */

static int pack_lookup(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_pack *out)
{
    MDB_val v;
    int rc = db_get(t, DB_PACKS, id->b, DR_ID_LEN, &v);
    if (rc <= 0) {
        return rc;
    }
    rc = pack_decode(t->idx, id->b, DR_ID_LEN, &v, out);
    return rc < 0 ? rc : 1;
}

static int pack_store(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_pack *p)
{
    uint8_t v[PACK_VAL_LEN];
    pack_encode(v, p);
    return db_put(t, DB_PACKS, id->b, DR_ID_LEN, v, sizeof(v));
}

int dr_index_pack_get(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_pack *out)
{
    int rc = txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = pack_lookup(t, id, out);
    if (rc == 0) {
        return not_found("pack", id);
    }
    return write_result(t, rc < 0 ? rc : 0);
}

int dr_index_pack_put(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_pack *p)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    return write_result(t, pack_store(t, id, p));
}

int dr_index_pack_del(struct dr_index_txn *t, const struct dr_id *id)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    rc = db_del(t, DB_PACKS, id->b, DR_ID_LEN);
    if (rc == 0) {
        return not_found("pack", id);
    }
    return write_result(t, rc < 0 ? rc : 0);
}

/* Moves clen between the pack's dead and live bytes after a refcount crossed 0. */
static int blob_ref(struct dr_index_txn *t, const struct dr_id *id, int delta)
{
    char hex[DR_ID_HEX_LEN + 1];
    struct dr_index_blob b;
    struct dr_index_pack p;
    int rc = blob_lookup(t, id, &b);
    if (rc == 0) {
        return not_found("blob", id);
    }
    if (rc < 0) {
        return rc;
    }
    if (delta < 0 && b.refs == 0) {
        return damaged(t->idx->dir, "the refcount of blob %s would go below 0", dr_id_hex(id, hex));
    }
    if (delta > 0 && b.refs == UINT32_MAX) {
        return damaged(t->idx->dir, "the refcount of blob %s overflows", dr_id_hex(id, hex));
    }
    b.refs = delta > 0 ? b.refs + 1 : b.refs - 1;
    bool to_live = delta > 0 && b.refs == 1;
    bool to_dead = delta < 0 && b.refs == 0;
    if (to_live || to_dead) {
        rc = pack_lookup(t, &b.pack, &p);
        if (rc == 0) {
            char phex[DR_ID_HEX_LEN + 1];
            return dr_errorf(DR_ENOENT, "pack %s of blob %s is not in the index",
                             dr_id_hex(&b.pack, phex), dr_id_hex(id, hex));
        }
        if (rc < 0) {
            return rc;
        }
        uint64_t *from = to_live ? &p.dead_bytes : &p.live_bytes;
        uint64_t *to = to_live ? &p.live_bytes : &p.dead_bytes;
        if (*from < b.clen) {
            return damaged(t->idx->dir, "the record of pack %s has inconsistent live/dead bytes",
                           dr_id_hex(&b.pack, hex));
        }
        *from -= b.clen;
        *to += b.clen;
        rc = pack_store(t, &b.pack, &p);
        if (rc < 0) {
            return rc;
        }
    }
    return blob_store(t, id, &b);
}

int dr_index_blob_ref(struct dr_index_txn *t, const struct dr_id *id, int delta)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (delta != 1 && delta != -1) {
        return dr_errorf(DR_EUSAGE, "blob refcount delta must be +1 or -1, not %d", delta);
    }
    /* Unlike a delete, a missing blob here means the counting is wrong: fail the txn. */
    return txn_fail(t, blob_ref(t, id, delta));
}

static int pack_add(struct dr_index_txn *t, const struct dr_id *pack_id, uint8_t type,
                    uint64_t size, const struct dr_pack_entry *entries, size_t n)
{
    struct dr_index_pack p;
    int rc = pack_lookup(t, pack_id, &p);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    p = (struct dr_index_pack){.type = type, .size = size, .count = (uint32_t)n};
    for (size_t i = 0; i < n; i++) {
        const struct dr_pack_entry *e = &entries[i];
        struct dr_index_blob b;
        rc = blob_lookup(t, &e->id, &b);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            b = (struct dr_index_blob){
                .pack = *pack_id,
                .type = e->type,
                .offset = e->offset,
                .clen = e->clen,
                .ulen = e->ulen,
                .refs = 0,
            };
            rc = blob_store(t, &e->id, &b);
            if (rc < 0) {
                return rc;
            }
            p.dead_bytes += e->clen;
        } else if (dr_id_eq(&b.pack, pack_id) && b.offset == e->offset && b.refs > 0) {
            /* a blob record left behind by a pack record deleted alone: it is this very
             * record and still referenced */
            p.live_bytes += e->clen;
        } else {
            /* a copy indexed elsewhere (or earlier in this pack): a duplicate */
            p.dead_bytes += e->clen;
        }
    }
    return pack_store(t, pack_id, &p);
}

int dr_index_pack_add(struct dr_index_txn *t, const struct dr_id *pack_id, uint8_t type,
                      uint64_t size, const struct dr_pack_entry *entries, size_t n)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (n > DR_PACK_ENTRIES_MAX) {
        return dr_errorf(DR_EUSAGE, "pack with %zu entries (at most %u)", n, DR_PACK_ENTRIES_MAX);
    }
    return txn_fail(t, pack_add(t, pack_id, type, size, entries, n));
}

static int pack_remove(struct dr_index_txn *t, const struct dr_id *pack_id,
                       const struct dr_pack_entry *entries, size_t n)
{
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        struct dr_index_blob b;
        int rc = blob_lookup(t, &entries[i].id, &b);
        if (rc < 0) {
            return rc;
        }
        /* only the copy indexed in this pack: a duplicate's blob record names another pack */
        if (rc == 1 && dr_id_eq(&b.pack, pack_id)) {
            rc = db_del(t, DB_BLOBS, entries[i].id.b, DR_ID_LEN);
            if (rc < 0) {
                return rc;
            }
            removed++;
        }
    }
    int rc = db_del(t, DB_PACKS, pack_id->b, DR_ID_LEN);
    return rc < 0 ? rc : removed;
}

int dr_index_pack_remove(struct dr_index_txn *t, const struct dr_id *pack_id,
                         const struct dr_pack_entry *entries, size_t n)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (n > DR_PACK_ENTRIES_MAX) {
        return dr_errorf(DR_EUSAGE, "pack with %zu entries (at most %u)", n, DR_PACK_ENTRIES_MAX);
    }
    return txn_fail(t, pack_remove(t, pack_id, entries, n));
}

/* ---- snapshots ------------------------------------------------------------------------- */

int dr_index_snap_get(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_snap *out)
{
    MDB_val v;
    int rc = txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = db_get(t, DB_SNAPS, id->b, DR_ID_LEN, &v);
    if (rc == 0) {
        return not_found("snapshot", id);
    }
    if (rc > 0) {
        rc = snap_decode(t->idx, id->b, DR_ID_LEN, &v, out);
    }
    return write_result(t, rc);
}

int dr_index_snap_put(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_snap *s)
{
    uint8_t v[SNAP_VAL_LEN];
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    snap_encode(v, s);
    return write_result(t, db_put(t, DB_SNAPS, id->b, DR_ID_LEN, v, sizeof(v)));
}

int dr_index_snap_del(struct dr_index_txn *t, const struct dr_id *id)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    rc = db_del(t, DB_SNAPS, id->b, DR_ID_LEN);
    if (rc == 0) {
        return not_found("snapshot", id);
    }
    return write_result(t, rc < 0 ? rc : 0);
}

/* ---- iteration ------------------------------------------------------------------------- */

struct walk_cbs {
    dr_index_blob_cb blob;
    dr_index_pack_cb pack;
    dr_index_snap_cb snap;
    dr_index_work_cb work;
    void *arg;
};

/* Decodes one record of db and hands it to the matching callback. */
static int walk_one(const struct dr_index *idx, int db, const struct walk_cbs *cbs,
                    const MDB_val *k, const MDB_val *v)
{
    struct dr_id id;
    int rc;
    if (k->mv_size == DR_ID_LEN) {
        memcpy(id.b, k->mv_data, DR_ID_LEN);
    }
    if (db == DB_BLOBS) {
        struct dr_index_blob b;
        rc = blob_decode(idx, k->mv_data, k->mv_size, v, &b);
        return rc < 0 ? rc : cbs->blob(cbs->arg, &id, &b);
    }
    if (db == DB_WORK) {
        if (k->mv_size != DR_ID_LEN) {
            return damaged(idx->dir, "a work record has a bad key");
        }
        return cbs->work(cbs->arg, &id, v->mv_data, v->mv_size);
    }
    if (db == DB_PACKS) {
        struct dr_index_pack p;
        rc = pack_decode(idx, k->mv_data, k->mv_size, v, &p);
        return rc < 0 ? rc : cbs->pack(cbs->arg, &id, &p);
    }
    struct dr_index_snap s;
    rc = snap_decode(idx, k->mv_data, k->mv_size, v, &s);
    return rc < 0 ? rc : cbs->snap(cbs->arg, &id, &s);
}

static int walk(struct dr_index_txn *t, int db, const struct walk_cbs *cbs)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    int mrc = LMDB(mdb_cursor_open(t->txn, t->idx->dbi[db], &cur));
    if (mrc) {
        cur = NULL;
        rc = txn_lmdb_err(t, mrc, "mdb_cursor_open");
        goto out;
    }
    for (mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_FIRST)); mrc == 0;
         mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) {
        rc = walk_one(t->idx, db, cbs, &k, &v);
        if (rc < 0) {
            goto out;
        }
    }
    rc = mrc == MDB_NOTFOUND ? 0 : txn_lmdb_err(t, mrc, "mdb_cursor_get");
out:
    if (cur) {
        mdb_cursor_close(cur);
    }
    /* a callback's own error is the caller's business; the txn fails only for index errors */
    return rc;
}

int dr_index_blob_foreach(struct dr_index_txn *t, dr_index_blob_cb cb, void *arg)
{
    struct walk_cbs cbs = {.blob = cb, .arg = arg};
    return walk(t, DB_BLOBS, &cbs);
}

int dr_index_pack_foreach(struct dr_index_txn *t, dr_index_pack_cb cb, void *arg)
{
    struct walk_cbs cbs = {.pack = cb, .arg = arg};
    return walk(t, DB_PACKS, &cbs);
}

int dr_index_snap_foreach(struct dr_index_txn *t, dr_index_snap_cb cb, void *arg)
{
    struct walk_cbs cbs = {.snap = cb, .arg = arg};
    return walk(t, DB_SNAPS, &cbs);
}

/* ---- files cache ----------------------------------------------------------------------- */

int dr_index_files_get(struct dr_index_txn *t, const struct dr_id *path_key,
                       struct dr_files_rec *out)
{
    MDB_val v;
    int rc = txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = db_get(t, DB_FILES, path_key->b, DR_ID_LEN, &v);
    if (rc == 0) {
        return not_found("file", path_key);
    }
    if (rc < 0) {
        return write_result(t, rc);
    }
    struct dr_reader r;
    struct dr_files_rec f = {0};
    dr_rd_init(&r, v.mv_data, v.mv_size);
    f.dev = dr_rd_u64le(&r);
    f.ino = dr_rd_u64le(&r);
    f.size = dr_rd_u64le(&r);
    f.mtime_ns = (int64_t)dr_rd_u64le(&r);
    f.ctime_ns = (int64_t)dr_rd_u64le(&r);
    f.nchunks = dr_rd_u32le(&r);
    /* the length check comes before the allocation, so a damaged count allocates nothing */
    if (!dr_rd_ok(&r) || f.nchunks > DR_INDEX_FILES_CHUNKS_MAX ||
        dr_rd_left(&r) != (size_t)f.nchunks * FILES_CHUNK_LEN) {
        return record_corrupt(t->idx, "file", path_key->b, DR_ID_LEN);
    }
    if (f.nchunks) {
        f.chunks = dr_xmalloc((size_t)f.nchunks * sizeof(*f.chunks));
        f.chunk_sizes = dr_xmalloc((size_t)f.nchunks * sizeof(*f.chunk_sizes));
    }
    for (uint32_t i = 0; i < f.nchunks; i++) {
        dr_rd_copy(&r, f.chunks[i].b, DR_ID_LEN);
        f.chunk_sizes[i] = dr_rd_u32le(&r);
    }
    *out = f;
    return 0;
}

static int files_put(struct dr_index_txn *t, const struct dr_id *path_key,
                     const struct dr_files_rec *rec)
{
    size_t len = FILES_HDR_LEN + (size_t)rec->nchunks * FILES_CHUNK_LEN;
    MDB_val k = {.mv_size = DR_ID_LEN, .mv_data = (void *)path_key->b};
    MDB_val v = {.mv_size = len, .mv_data = NULL};
    /* MDB_RESERVE lets us encode straight into the page, with no copy of a large record */
    int mrc = LMDB(mdb_put(t->txn, t->idx->dbi[DB_FILES], &k, &v, MDB_RESERVE));
    if (mrc) {
        return txn_lmdb_err(t, mrc, "mdb_put");
    }
    uint8_t *p = v.mv_data;
    dr_put_u64le(p, rec->dev);
    dr_put_u64le(p + 8, rec->ino);
    dr_put_u64le(p + 16, rec->size);
    dr_put_u64le(p + 24, (uint64_t)rec->mtime_ns);
    dr_put_u64le(p + 32, (uint64_t)rec->ctime_ns);
    dr_put_u32le(p + 40, rec->nchunks);
    p += FILES_HDR_LEN;
    for (uint32_t i = 0; i < rec->nchunks; i++) {
        memcpy(p, rec->chunks[i].b, DR_ID_LEN);
        dr_put_u32le(p + DR_ID_LEN, rec->chunk_sizes[i]);
        p += FILES_CHUNK_LEN;
    }
    return 0;
}

int dr_index_files_put(struct dr_index_txn *t, const struct dr_id *path_key,
                       const struct dr_files_rec *rec)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (rec->nchunks > DR_INDEX_FILES_CHUNKS_MAX) {
        /* refused before anything is written, so the txn stays usable: the file is just not
         * cached */
        return dr_errorf(DR_EUSAGE, "files cache record with %u chunks (at most %u)", rec->nchunks,
                         (unsigned)DR_INDEX_FILES_CHUNKS_MAX);
    }
    return txn_fail(t, files_put(t, path_key, rec));
}

void dr_files_rec_release(struct dr_files_rec *rec)
{
    if (!rec) {
        return;
    }
    free(rec->chunks);
    free(rec->chunk_sizes);
    rec->chunks = NULL;
    rec->chunk_sizes = NULL;
    rec->nchunks = 0;
}

/* ---- scratch, clear, counts ------------------------------------------------------------ */

static int drop(struct dr_index_txn *t, int db)
{
    int mrc = LMDB(mdb_drop(t->txn, t->idx->dbi[db], 0));
    return mrc ? txn_lmdb_err(t, mrc, "mdb_drop") : 0;
}

int dr_index_scratch_clear(struct dr_index_txn *t)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    return txn_fail(t, drop(t, DB_SCRATCH));
}

int dr_index_scratch_add(struct dr_index_txn *t, const struct dr_id *id)
{
    int rc = txn_check(t, true);
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
        return txn_fail(t, txn_lmdb_err(t, mrc, "mdb_put"));
    }
    return 1;
}

int dr_index_scratch_has(struct dr_index_txn *t, const struct dr_id *id)
{
    MDB_val v;
    int rc = txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = db_get(t, DB_SCRATCH, id->b, DR_ID_LEN, &v);
    return rc < 0 ? write_result(t, rc) : rc;
}

int dr_index_work_clear(struct dr_index_txn *t)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    return txn_fail(t, drop(t, DB_WORK));
}

int dr_index_work_put(struct dr_index_txn *t, const struct dr_id *id, const void *val, size_t len)
{
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (len > DR_INDEX_WORK_MAX) {
        return dr_errorf(DR_EUSAGE, "index work value too long");
    }
    rc = db_put(t, DB_WORK, id->b, DR_ID_LEN, val, len);
    return rc < 0 ? txn_fail(t, rc) : 0;
}

int dr_index_work_get(struct dr_index_txn *t, const struct dr_id *id, void *val, size_t len)
{
    MDB_val v;
    int rc = txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = db_get(t, DB_WORK, id->b, DR_ID_LEN, &v);
    if (rc == 0) {
        return DR_ENOENT;
    }
    if (rc < 0) {
        return write_result(t, rc);
    }
    size_t n = v.mv_size < len ? v.mv_size : len;
    memcpy(val, v.mv_data, n);
    return (int)v.mv_size;
}

int dr_index_work_foreach(struct dr_index_txn *t, dr_index_work_cb cb, void *arg)
{
    struct walk_cbs cbs = {.work = cb, .arg = arg};
    return walk(t, DB_WORK, &cbs);
}

int dr_index_clear(struct dr_index_txn *t)
{
    static const int dbs[] = {DB_BLOBS, DB_PACKS, DB_SNAPS, DB_SCRATCH, DB_WORK};
    int rc = txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < DR_ARRAY_LEN(dbs); i++) {
        rc = drop(t, dbs[i]);
        if (rc < 0) {
            return txn_fail(t, rc);
        }
    }
    return 0;
}

int dr_index_verify(struct dr_index *idx)
{
    /* Every page reachable from any database, plus a write transaction that allocates pages
     * (and so reads the freelist): the operations a command may perform. Run in a child
     * process: LMDB can crash on damaged pages instead of returning an error. */
    int rc = verify_if_changed(idx, true); /* bit rot leaves the stamp as it was */
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
        return damaged(idx->dir, "%s", mdb_strerror(mrc));
    }
    return 0;
}

int dr_index_counts(struct dr_index_txn *t, uint64_t *out_blobs, uint64_t *out_packs,
                    uint64_t *out_snaps)
{
    static const int dbs[] = {DB_BLOBS, DB_PACKS, DB_SNAPS};
    uint64_t n[3];
    int rc = txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < DR_ARRAY_LEN(dbs); i++) {
        MDB_stat st;
        int mrc = LMDB(mdb_stat(t->txn, t->idx->dbi[dbs[i]], &st));
        if (mrc) {
            return write_result(t, txn_lmdb_err(t, mrc, "mdb_stat"));
        }
        n[i] = st.ms_entries;
    }
    *out_blobs = n[0];
    *out_packs = n[1];
    *out_snaps = n[2];
    return 0;
}
