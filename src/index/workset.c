/* workset.c: private working sets in an LMDB environment of their own (workset.h).
 *
 * One environment holds two databases, "set" (id -> empty) and "map" (id -> small value). One
 * write transaction is open from dr_workset_open to dr_workset_close; it is committed and begun
 * again every DR_WORKSET_BATCH writes, which bounds LMDB's dirty page list (kept in RAM until a
 * commit) and so the memory of a walk over millions of blobs. Reads use the same transaction,
 * so they see every write at once. A commit writes the pages without fsync (MDB_NOSYNC): a crash
 * loses the workset, which nobody wants back. */
#include "drrepo/workset.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"
#include "drrepo/proc.h"
#include "index_int.h"

#define WS_PREFIX "work."
/* Address space only: the file grows as pages are used. */
#define WS_MAPSIZE (sizeof(size_t) >= 8 ? (size_t)64 << 30 : (size_t)512 << 20)

enum { WS_SET, WS_MAP, WS_NDB };

struct dr_workset {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[WS_NDB];
    char *dir;
    unsigned writes;           /* since the last commit */
    bool iterating;            /* inside dr_workset_map_foreach */
    int resident;              /* slot of the map's bound (resident.c), -1 when unbounded */
    struct dr_error_saved err; /* first error; code 0 while healthy */
};

static int ws_err(struct dr_workset *ws, int mrc, const char *what)
{
    int code = mrc == MDB_MAP_FULL || mrc == ENOSPC || mrc == EDQUOT ? DR_ENOSPC : DR_EIO;
    int rc = dr_errorf(code, "working set '%s': %s: %s", ws->dir, what, mdb_strerror(mrc));
    if (ws->err.code == 0) {
        dr_error_save(&ws->err, rc);
    }
    return rc;
}

static int ws_check(struct dr_workset *ws, bool write)
{
    if (ws->err.code) {
        return dr_error_restore(&ws->err);
    }
    if (write && ws->iterating) {
        return dr_errorf(DR_EUSAGE, "working set '%s': a write during a foreach", ws->dir);
    }
    return 0;
}

/* Removes a workset directory: its files (LMDB's, nothing else is put there), then itself. */
static int remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return errno == ENOENT ? 0 : dr_error_errno(DR_EIO, "cannot open '%s'", dir);
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char *p = dr_xasprintf("%s/%s", dir, e->d_name);
        if (unlink(p) < 0 && errno != ENOENT && rc == 0) {
            rc = dr_error_errno(DR_EIO, "cannot remove '%s'", p);
        }
        free(p);
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) < 0 && errno != ENOENT) {
        rc = dr_error_errno(DR_EIO, "cannot remove '%s'", dir);
    }
    return rc;
}

/* Removes the worksets of processes that are gone. A workset's name carries its owner's pid
 * (work.<pid>.XXXXXX); one whose pid no longer exists (kill(pid, 0) fails with ESRCH) was left
 * by a process that was killed. Chosen over an age limit because a check may run for days: an
 * age cannot tell a long run from a dead one, a pid can. A reused pid only delays the removal
 * until that process ends. (A cache directory shared by several hosts would need the host in
 * the name; drrepo's cache is per host.) Best effort: errors are ignored. */
static void stale_sweep(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, WS_PREFIX, strlen(WS_PREFIX)) != 0) {
            continue;
        }
        char *end;
        errno = 0;
        long pid = strtol(e->d_name + strlen(WS_PREFIX), &end, 10);
        if (errno || pid <= 0 || *end != '.' || pid == (long)getpid()) {
            continue;
        }
        if (!dr_proc_gone(pid)) {
            continue;
        }
        char *p = dr_xasprintf("%s/%s", parent, e->d_name);
        if (remove_dir(p) < 0) {
            dr_error_clear();
        }
        free(p);
    }
    closedir(d);
}

static int begin(struct dr_workset *ws)
{
    int mrc = mdb_txn_begin(ws->env, NULL, 0, &ws->txn);
    if (mrc) {
        ws->txn = NULL;
        return ws_err(ws, mrc, "mdb_txn_begin");
    }
    return 0;
}

/* Commits the batch and begins the next one. */
static int flush(struct dr_workset *ws)
{
    int mrc = mdb_txn_commit(ws->txn);
    ws->txn = NULL;
    ws->writes = 0;
    if (mrc) {
        return ws_err(ws, mrc, "mdb_txn_commit");
    }
    return begin(ws);
}

static int wrote(struct dr_workset *ws)
{
    if (++ws->writes < DR_WORKSET_BATCH) {
        return 0;
    }
    return flush(ws);
}

int dr_workset_open(const char *dir, struct dr_workset **out)
{
    int rc = dr_fs_mkdir_p(dir, 0700);
    if (rc < 0) {
        return rc == DR_ENOSPC ? rc : DR_EIO;
    }
    stale_sweep(dir);
    struct dr_workset *ws = dr_xcalloc(1, sizeof(*ws));
    ws->resident = -1;
    ws->dir = dr_xasprintf("%s/" WS_PREFIX "%ld.XXXXXX", dir, (long)getpid());
    if (!mkdtemp(ws->dir)) {
        rc = dr_error_errno(errno == ENOSPC ? DR_ENOSPC : DR_EIO,
                            "cannot create a working set in '%s'", dir);
        free(ws->dir);
        free(ws);
        return rc;
    }
    int mrc = mdb_env_create(&ws->env);
    if (mrc) {
        ws->env = NULL;
        rc = ws_err(ws, mrc, "mdb_env_create");
        goto out;
    }
    mrc = mdb_env_set_maxdbs(ws->env, WS_NDB);
    if (!mrc) {
        mrc = mdb_env_set_mapsize(ws->env, WS_MAPSIZE);
    }
    /* No MDB_WRITEMAP: a full disk under a writable map is SIGBUS, under write() it is ENOSPC. */
    if (!mrc) {
        mrc = mdb_env_open(ws->env, ws->dir, MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOLOCK, 0600);
    }
    if (mrc) {
        rc = ws_err(ws, mrc, "mdb_env_open");
        goto out;
    }
    void *map;
    size_t maplen;
    mdb_filehandle_t fd;
    if (dr_index_map_of(ws->dir, &map, &maplen) == 0 && mdb_env_get_fd(ws->env, &fd) == 0) {
        ws->resident = dr_index_resident_register(map, maplen, fd);
    }
    rc = begin(ws);
    static const char *const names[WS_NDB] = {[WS_SET] = "set", [WS_MAP] = "map"};
    for (int i = 0; rc >= 0 && i < WS_NDB; i++) {
        mrc = mdb_dbi_open(ws->txn, names[i], MDB_CREATE, &ws->dbi[i]);
        if (mrc) {
            rc = ws_err(ws, mrc, "mdb_dbi_open");
        }
    }
    if (rc >= 0) {
        rc = flush(ws); /* the dbi handles are valid beyond this txn only once it commits */
    }
out:
    if (rc < 0) {
        dr_workset_close(ws);
        return rc;
    }
    *out = ws;
    return 0;
}

void dr_workset_close(struct dr_workset *ws)
{
    if (!ws) {
        return;
    }
    if (ws->txn) {
        mdb_txn_abort(ws->txn);
    }
    dr_index_resident_unregister(ws->resident); /* before the map goes (as dr_index_close) */
    if (ws->env) {
        mdb_env_close(ws->env);
    }
    if (remove_dir(ws->dir) < 0) {
        dr_error_clear(); /* the next open's sweep removes it once this process is gone */
    }
    dr_error_saved_release(&ws->err);
    free(ws->dir);
    free(ws);
}

const char *dr_workset_path(const struct dr_workset *ws)
{
    return ws->dir;
}

static int clear_db(struct dr_workset *ws, int db)
{
    int rc = ws_check(ws, true);
    if (rc < 0) {
        return rc;
    }
    int mrc = mdb_drop(ws->txn, ws->dbi[db], 0);
    if (mrc) {
        return ws_err(ws, mrc, "mdb_drop");
    }
    return flush(ws); /* a drop frees many pages: give them back before the next batch */
}

int dr_workset_set_add(struct dr_workset *ws, const struct dr_id *id)
{
    int rc = ws_check(ws, true);
    if (rc < 0) {
        return rc;
    }
    MDB_val k = {.mv_size = DR_ID_LEN, .mv_data = (void *)id->b};
    MDB_val v = {.mv_size = 0, .mv_data = NULL};
    int mrc = mdb_put(ws->txn, ws->dbi[WS_SET], &k, &v, MDB_NOOVERWRITE);
    dr_index_resident_tick();
    if (mrc == MDB_KEYEXIST) {
        return 0;
    }
    if (mrc) {
        return ws_err(ws, mrc, "mdb_put");
    }
    rc = wrote(ws);
    return rc < 0 ? rc : 1;
}

int dr_workset_set_has(struct dr_workset *ws, const struct dr_id *id)
{
    int rc = ws_check(ws, false);
    if (rc < 0) {
        return rc;
    }
    MDB_val k = {.mv_size = DR_ID_LEN, .mv_data = (void *)id->b};
    MDB_val v;
    int mrc = mdb_get(ws->txn, ws->dbi[WS_SET], &k, &v);
    dr_index_resident_tick();
    if (mrc == MDB_NOTFOUND) {
        return 0;
    }
    return mrc ? ws_err(ws, mrc, "mdb_get") : 1;
}

int dr_workset_set_clear(struct dr_workset *ws)
{
    return clear_db(ws, WS_SET);
}

int dr_workset_map_put(struct dr_workset *ws, const struct dr_id *id, const void *val, size_t len)
{
    int rc = ws_check(ws, true);
    if (rc < 0) {
        return rc;
    }
    if (len == 0 || len > DR_WORKSET_VAL_MAX) {
        return dr_errorf(DR_EUSAGE, "working set value of %zu bytes (1 to %u)", len,
                         DR_WORKSET_VAL_MAX);
    }
    MDB_val k = {.mv_size = DR_ID_LEN, .mv_data = (void *)id->b};
    MDB_val v = {.mv_size = len, .mv_data = (void *)val};
    int mrc = mdb_put(ws->txn, ws->dbi[WS_MAP], &k, &v, 0);
    dr_index_resident_tick();
    if (mrc) {
        return ws_err(ws, mrc, "mdb_put");
    }
    return wrote(ws);
}

int dr_workset_map_get(struct dr_workset *ws, const struct dr_id *id, void *val, size_t len)
{
    int rc = ws_check(ws, false);
    if (rc < 0) {
        return rc;
    }
    MDB_val k = {.mv_size = DR_ID_LEN, .mv_data = (void *)id->b};
    MDB_val v;
    int mrc = mdb_get(ws->txn, ws->dbi[WS_MAP], &k, &v);
    dr_index_resident_tick();
    if (mrc == MDB_NOTFOUND) {
        /* no error set: absence is the common answer in a walk (every id met the first time),
         * and a message per miss cost a quarter of check's recount at 10^7 blobs */
        return 0;
    }
    if (mrc) {
        return ws_err(ws, mrc, "mdb_get");
    }
    memcpy(val, v.mv_data, v.mv_size < len ? v.mv_size : len);
    return (int)v.mv_size;
}

int dr_workset_map_del(struct dr_workset *ws, const struct dr_id *id)
{
    int rc = ws_check(ws, true);
    if (rc < 0) {
        return rc;
    }
    MDB_val k = {.mv_size = DR_ID_LEN, .mv_data = (void *)id->b};
    int mrc = mdb_del(ws->txn, ws->dbi[WS_MAP], &k, NULL);
    dr_index_resident_tick();
    if (mrc == MDB_NOTFOUND) {
        return 0;
    }
    if (mrc) {
        return ws_err(ws, mrc, "mdb_del");
    }
    return wrote(ws);
}

int dr_workset_map_clear(struct dr_workset *ws)
{
    return clear_db(ws, WS_MAP);
}

int dr_workset_map_foreach(struct dr_workset *ws, dr_workset_cb cb, void *arg)
{
    int rc = ws_check(ws, true); /* not from inside another foreach */
    if (rc < 0) {
        return rc;
    }
    MDB_cursor *cur;
    int mrc = mdb_cursor_open(ws->txn, ws->dbi[WS_MAP], &cur);
    if (mrc) {
        return ws_err(ws, mrc, "mdb_cursor_open");
    }
    ws->iterating = true;
    MDB_val k, v;
    while ((mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        dr_index_resident_tick();
        if (k.mv_size != DR_ID_LEN) {
            rc =
                dr_errorf(DR_EINTERNAL, "working set '%s': a key of %zu bytes", ws->dir, k.mv_size);
            break;
        }
        struct dr_id id;
        memcpy(id.b, k.mv_data, DR_ID_LEN);
        rc = cb(arg, &id, v.mv_data, v.mv_size);
        if (rc < 0) {
            break;
        }
    }
    ws->iterating = false;
    mdb_cursor_close(cur);
    if (rc >= 0 && mrc != MDB_NOTFOUND) {
        rc = ws_err(ws, mrc, "mdb_cursor_get");
    }
    return rc < 0 ? rc : 0;
}
