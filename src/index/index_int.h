/* index_int.h: what the files of src/index/ share and nobody else uses. */
#ifndef DR_INDEX_INT_H
#define DR_INDEX_INT_H

#include "drrepo/error.h"
#include "drrepo/index.h"

#include <stdio.h>

/* Checks the structure of the LMDB data file open as fd (pages.c): 0 sound, 1 damaged (why says
 * where and what, for the message), < 0 the file could not be read (DR_EIO). */
DR_MUST_CHECK int dr_index_check_pages(int fd, size_t psize, uint64_t last_pgno, uint64_t file_size,
                                       char *why, size_t whylen);

#include <lmdb.h>

/* The files of the index: index.c (the environment, transactions, errors and raw access),
 * records.c (blob, pack and snapshot records, reference counts, iteration), files_cache.c (the
 * backup's files cache) and maint.c (clearing, verify, counts); workset.c (private working
 * sets, workset.h) shares nothing with them. */

/* 2: snapshot records carry the origin; 3: hierarchical reference counts per tree; 4: per node
 * (format/index.md) */
#define INDEX_SCHEMA 4u
#define INDEX_MAXDBS 8
/* LMDB needs the largest size up front; the file itself grows only as pages are used, so a
 * large map costs address space, not disk. */
#define INDEX_MAPSIZE (sizeof(size_t) >= 8 ? (size_t)64 << 30 : (size_t)1 << 30)

#define BLOB_VAL_LEN 49    /* pack 32 | type 1 | offset 4 | clen 4 | ulen 4 | refs 4 */
#define PACK_VAL_LEN 38    /* type 1 | size 8 | count 4 | live 8 | dead 8 | verified 8 | ok 1 */
#define SNAP_VAL_LEN 73    /* time 8 | tree 32 | counted 1 | origin 32 */
#define FILES_HDR_LEN 44   /* dev 8 | ino 8 | size 8 | mtime 8 | ctime 8 | nchunks 4 */
#define FILES_CHUNK_LEN 36 /* id 32 | size 4 */
#define META_SCHEMA_KEY "schema"
#define META_VERIFY_KEY "verify-probe" /* written and deleted in dr_index_verify's txn */
#define META_LISTED_KEY "listed"       /* the last listing of every pack (dr_index_listed) */
#define LISTED_VAL_LEN 40              /* epochs 32 | time 8 */

enum {
    DB_BLOBS,
    DB_PACKS,
    DB_SNAPS,
    DB_FILES,
    DB_META,
    DB_COUNT,
};

struct dr_index {
    MDB_env *env;
    int guard;    /* slot of the damage guard (guard.c), -1 when unguarded */
    int resident; /* slot of the map's bound (resident.c), -1 when unbounded */
    char *dir;
    MDB_dbi dbi[DB_COUNT];
};

struct dr_index_txn {
    struct dr_index *idx;
    MDB_txn *txn;
    bool write;
    bool reset;                /* read txn between mdb_txn_reset and a successful mdb_txn_renew */
    struct dr_error_saved err; /* first error of a failed txn, code 0 while healthy */
};

/* The bound on this process's mapped pages of the LMDB maps (resident.c): past it, every
 * registered map is unmapped (the pages stay in the page cache). */
#define DR_INDEX_RESIDENT_MAX ((uint64_t)128 << 20)
/* Where this process mapped the LMDB data file of dir: its whole map, from /proc/self/maps; -1
 * when not found. LMDB does not say: mdb_env_info's address is the one asked for with
 * MDB_FIXEDMAP, else NULL (a damage guard registered with it covered [0, map size) instead of
 * the map, taking a NULL dereference anywhere for index damage). */
int dr_index_map_of(const char *dir, void **out_map, size_t *out_len);
/* Registers an LMDB map (its address and size, and the data file's descriptor, open while the
 * map is registered); the slot, or -1 when none is free. */
int dr_index_resident_register(void *map, size_t len, int fd);
void dr_index_resident_unregister(int slot);
/* Counts one LMDB call on this thread; every so many, sheds the maps if past the bound. */
void dr_index_resident_tick(void);
/* Unmaps every registered map whose file is not small now; how often that happened in this
 * process; and a bound other than DR_INDEX_RESIDENT_MAX, and a size other than 32 MiB below
 * which a map is kept, each returning the one before (tests). */
void dr_index_resident_shed(void);
uint64_t dr_index_resident_sheds(void);
uint64_t dr_index_resident_set_max(uint64_t bytes);
uint64_t dr_index_resident_set_keep(uint64_t bytes);

/* Every LMDB call that reads pages runs inside LMDB(): the damage guard (guard.c) then knows
 * that a fault on this thread, even one with no usable address, came from the index. */
static inline int lmdb_left(int mrc)
{
    dr_index_guard_leave();
    dr_index_resident_tick();
    return mrc;
}
#define LMDB(call) (dr_index_guard_enter(), lmdb_left(call))

/* The callbacks of one iteration (records.c, dr_index_walk): the one of the db walked is set. */
struct walk_cbs {
    dr_index_blob_cb blob;
    dr_index_pack_cb pack;
    dr_index_snap_cb snap;
    void *arg;
};

/* index.c: errors (a damaged index marks its directory; a failed txn keeps its first error)
 * and raw access to one db of a transaction. */
DR_PRINTF(2, 3) int dr_index_damaged(const char *dir, const char *fmt, ...);
int dr_index_record_corrupt(const struct dr_index *idx, const char *kind, const void *key,
                            size_t keylen);
int dr_index_not_found(const char *kind, const struct dr_id *id);
int dr_index_txn_fail(struct dr_index_txn *t, int rc);
int dr_index_txn_lmdb_err(struct dr_index_txn *t, int mrc, const char *what);
int dr_index_txn_check(struct dr_index_txn *t, bool need_write);
int dr_index_write_result(struct dr_index_txn *t, int rc);
int dr_index_db_get(struct dr_index_txn *t, int db, const void *key, size_t keylen, MDB_val *out);
int dr_index_db_put(struct dr_index_txn *t, int db, const void *key, size_t keylen, const void *val,
                    size_t vallen);
int dr_index_db_del(struct dr_index_txn *t, int db, const void *key, size_t keylen);
/* index.c: verifies the data file when it changed since drrepo last wrote or verified it. */
int dr_index_verify_if_changed(struct dr_index *idx, bool force);
/* records.c: calls the callback of db for every record, decoded. */
int dr_index_walk(struct dr_index_txn *t, int db, const struct walk_cbs *cbs);

#endif
