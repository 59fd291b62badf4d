/* index.h: the local LMDB index, a rebuildable cache of what pack headers and snapshot objects
 * say. Nothing in it is the only copy of anything: delete it and `repair index` (or the sync
 * done when a repository is opened) rebuilds it from the repository.
 *
 * Sub-databases (format/SPEC.md "Index records"):
 *   blobs: blob id (32)            -> dr_index_blob (pack, type, offset, lengths, refs)
 *   packs: pack id (32)            -> dr_index_pack (type, size, counts, live/dead bytes, verify)
 *   snaps: snapshot id (32)        -> dr_index_snap (time, tree id, counted flag, origin)
 *   files: BLAKE2b(path) (32)      -> files-cache record (stat fields + chunk list)
 *   meta:  short ASCII keys        -> values (schema version, repository id)
 *
 * Working sets (what a walk has seen, a check's recount) are not kept here: every write to this
 * environment waits for the one writer of all processes, so they live in private environments
 * (workset.h).
 * Memory does not grow with the number of blobs: lookups go through LMDB's memory map.
 *
 * Transactions: one write transaction at a time per index (LMDB serialises writers, also across
 * processes); any number of read transactions, which may be used from any thread (MDB_NOTLS)
 * but by one thread at a time. A failed write transaction stays failed: every later call on it
 * returns the first error and dr_index_commit aborts it and returns that error (LMDB's rule).
 * Not failures of the txn: DR_ENOENT from a _get or _del (nothing changed), and DR_EUSAGE for an
 * argument refused before anything was written. Everything else, including DR_ENOENT from
 * dr_index_blob_ref, fails it. */
#ifndef DR_INDEX_H
#define DR_INDEX_H

#include "drrepo/id.h"

struct dr_index;
struct dr_index_txn;

struct dr_index_blob {
    struct dr_id pack;
    uint8_t type;
    uint32_t offset, clen, ulen;
    uint32_t refs; /* distinct snapshots that reach this blob */
};

struct dr_index_pack {
    uint8_t type;
    uint64_t size;       /* file size */
    uint32_t count;      /* records in the header */
    uint64_t live_bytes; /* sum of clen of records that are the indexed copy and have refs > 0 */
    uint64_t dead_bytes; /* sum of clen of the other records (unreferenced or duplicate) */
    int64_t verified_ns; /* last `check --read-data` of this pack, 0 = never */
    uint8_t verified_ok; /* result of that check: 1 ok, 0 damaged */
};

struct dr_index_snap {
    int64_t time_ns;
    struct dr_id tree;
    uint8_t counted;     /* 1 once its references were added to blob refcounts */
    struct dr_id origin; /* dr_snapshot_origin (host and paths): a parent found without
                          * reading every snapshot object */
};

/* Opens (creating if needed) the index in directory dir (created with mode 0700).
 * Errors: DR_EIO (cannot create/open), DR_EINDEX (the LMDB file is not a valid environment),
 * DR_EUNSUPPORTED (the index has a newer schema version), DR_ENOSPC.
 *
 * Damage: every error that says the index's bytes are wrong is DR_EINDEX (never DR_ECORRUPT,
 * which callers read as "this repository object is damaged"), and it marks the directory
 * damaged (dr_index_mark_damaged), so that the next open sets it aside and rebuilds it. A fault
 * inside the index's map or an LMDB assertion is caught by the guard (src/index/guard.c): the
 * directory is marked and the handler given to dr_index_guard_set_handler ends the process. */
DR_MUST_CHECK int dr_index_open(const char *dir, struct dr_index **out);
void dr_index_close(struct dr_index *idx);
/* The directory, for messages. */
const char *dr_index_path(const struct dr_index *idx);

/* Removes an index directory and its files. The directory is first renamed aside, so that a
 * process still using the old files keeps them (they are unlinked, not truncated) and a new
 * index can be created at once. A missing directory is success. Errors: DR_EIO. */
DR_MUST_CHECK int dr_index_remove(const char *dir);

/* ---- damage guard (guard.c) ---- */

/* The file in an index directory that says the index was found damaged. */
#define DR_INDEX_DAMAGED_MARKER "damaged"

/* Called when the guard catches index damage (a fault in the map, an LMDB assertion), from a
 * signal handler: it must be async-signal-safe and must not return. dir is the index directory,
 * what a short reason. */
typedef void (*dr_index_damage_fn)(const char *dir, const char *what);
void dr_index_guard_set_handler(dr_index_damage_fn fn);
/* Internal to the index module: registers an open map (returns a slot, -1 if none is free). */
int dr_index_guard_register(const char *dir, const void *map, size_t mapsize);
void dr_index_guard_unregister(int slot);
void dr_index_guard_assert(int slot, const char *msg);
void dr_index_guard_enter(void); /* around LMDB calls: a fault in between is index damage */
void dr_index_guard_leave(void);
/* Marks dir damaged (best effort); the next open of it rebuilds. */
void dr_index_mark_damaged(const char *dir);
bool dr_index_is_marked_damaged(const char *dir);

/* Begins a transaction. Errors: DR_EIO, DR_EINDEX. */
DR_MUST_CHECK int dr_index_begin(struct dr_index *idx, bool write, struct dr_index_txn **out);
/* Commits (write) or ends (read) the transaction and frees it, in all cases. */
DR_MUST_CHECK int dr_index_commit(struct dr_index_txn *txn);
/* Aborts and frees. NULL is a no-op. */
void dr_index_abort(struct dr_index_txn *txn);
/* For long-lived read transactions: see the latest committed state (mdb_txn_reset+renew). */
DR_MUST_CHECK int dr_index_renew(struct dr_index_txn *txn);

/* Blobs. _get: DR_ENOENT when absent. _put inserts or replaces. _del: DR_ENOENT when absent. */
DR_MUST_CHECK int dr_index_blob_get(struct dr_index_txn *txn, const struct dr_id *id,
                                    struct dr_index_blob *out);
DR_MUST_CHECK int dr_index_blob_put(struct dr_index_txn *txn, const struct dr_id *id,
                                    const struct dr_index_blob *b);
DR_MUST_CHECK int dr_index_blob_del(struct dr_index_txn *txn, const struct dr_id *id);

/* Changes a blob's refcount by delta (+1 or -1) and moves its clen between its pack's live and
 * dead bytes when refs crosses 0. Returns the new count (at most INT32_MAX), so that a caller
 * sees it cross 0 without another lookup. Errors: DR_ENOENT (blob or its pack not indexed),
 * DR_ECORRUPT (refcount would go below 0). */
DR_MUST_CHECK int dr_index_blob_ref(struct dr_index_txn *txn, const struct dr_id *id, int delta);

/* Packs. */
DR_MUST_CHECK int dr_index_pack_get(struct dr_index_txn *txn, const struct dr_id *id,
                                    struct dr_index_pack *out);
DR_MUST_CHECK int dr_index_pack_put(struct dr_index_txn *txn, const struct dr_id *id,
                                    const struct dr_index_pack *p);
DR_MUST_CHECK int dr_index_pack_del(struct dr_index_txn *txn, const struct dr_id *id);

/* Adds a whole pack: its record and one blob entry per header entry, with refs 0. An entry
 * whose id is already indexed in another pack is a duplicate: it is not indexed and its clen
 * counts as dead. Adding a pack that is already indexed does nothing and returns 0.
 * entries is an array of struct dr_pack_entry (declared in pack.h) of n elements. */
struct dr_pack_entry;
DR_MUST_CHECK int dr_index_pack_add(struct dr_index_txn *txn, const struct dr_id *pack_id,
                                    uint8_t type, uint64_t size,
                                    const struct dr_pack_entry *entries, size_t n);

/* Removes a pack and every blob entry that points into it. entries as for _add.
 * Returns the number of blob entries removed. */
DR_MUST_CHECK int dr_index_pack_remove(struct dr_index_txn *txn, const struct dr_id *pack_id,
                                       const struct dr_pack_entry *entries, size_t n);

/* Snapshots. */
DR_MUST_CHECK int dr_index_snap_get(struct dr_index_txn *txn, const struct dr_id *id,
                                    struct dr_index_snap *out);
DR_MUST_CHECK int dr_index_snap_put(struct dr_index_txn *txn, const struct dr_id *id,
                                    const struct dr_index_snap *s);
DR_MUST_CHECK int dr_index_snap_del(struct dr_index_txn *txn, const struct dr_id *id);

/* Iteration. The callback's pointers are valid only during the call. A negative return from cb
 * stops the walk and is returned. Writes inside cb on the same txn are not allowed. */
typedef int (*dr_index_blob_cb)(void *arg, const struct dr_id *id, const struct dr_index_blob *b);
typedef int (*dr_index_pack_cb)(void *arg, const struct dr_id *id, const struct dr_index_pack *p);
typedef int (*dr_index_snap_cb)(void *arg, const struct dr_id *id, const struct dr_index_snap *s);
DR_MUST_CHECK int dr_index_blob_foreach(struct dr_index_txn *txn, dr_index_blob_cb cb, void *arg);
DR_MUST_CHECK int dr_index_pack_foreach(struct dr_index_txn *txn, dr_index_pack_cb cb, void *arg);
DR_MUST_CHECK int dr_index_snap_foreach(struct dr_index_txn *txn, dr_index_snap_cb cb, void *arg);

/* Files cache. The key is BLAKE2b-256 of the absolute path (LMDB keys are short). */
/* Most chunks in one files-cache record, so that its value stays within 64 MiB
 * (44 + 36 * nchunks bytes, format/index.md). */
#define DR_INDEX_FILES_CHUNKS_MAX ((64u * 1024 * 1024 - 44) / 36)
struct dr_files_rec {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    uint32_t nchunks;
    struct dr_id *chunks;  /* malloc'd on _get; free() it */
    uint32_t *chunk_sizes; /* malloc'd on _get; free() it */
};
DR_MUST_CHECK int dr_index_files_get(struct dr_index_txn *txn, const struct dr_id *path_key,
                                     struct dr_files_rec *out);
DR_MUST_CHECK int dr_index_files_put(struct dr_index_txn *txn, const struct dr_id *path_key,
                                     const struct dr_files_rec *rec);
/* _get: DR_ENOENT when absent, DR_ECORRUPT for a damaged record. _put: DR_EUSAGE when nchunks >
 * DR_INDEX_FILES_CHUNKS_MAX (the file is then simply not cached; the txn stays usable).
 * _release frees chunks and chunk_sizes and sets nchunks to 0. */
void dr_files_rec_release(struct dr_files_rec *rec);

/* The listing record (meta "listed", format/index.md): what the last sync that listed every
 * pack of the repository saw, so that a later sync may skip that listing while nothing can have
 * been deleted (store/reconcile.c). epochs is the digest of the repository's epoch names read
 * before the listing, time_ns the wall-clock time the listing began. _get: DR_ENOENT when there
 * is none, DR_EINDEX for a record of the wrong length. */
struct dr_index_listed {
    struct dr_id epochs;
    int64_t time_ns;
};
DR_MUST_CHECK int dr_index_listed_get(struct dr_index_txn *txn, struct dr_index_listed *out);
DR_MUST_CHECK int dr_index_listed_put(struct dr_index_txn *txn, const struct dr_index_listed *l);

/* Drops every blob, pack and snapshot record and the listing record (files cache kept): used
 * before a rebuild. */
DR_MUST_CHECK int dr_index_clear(struct dr_index_txn *txn);

/* Reads every page of every database and commits a small write transaction (which reads the
 * freelist). Meant for a child process (see dr_index_verify_file): damaged pages can crash
 * LMDB. Errors: DR_ECORRUPT. */
DR_MUST_CHECK int dr_index_verify(struct dr_index *idx);

/* Walks every database of the index at dir in a child process, so that a corrupt LMDB file
 * that would crash the reader is detected without crashing drrepo. DR_ECORRUPT (with a
 * message suggesting `drrepo repair index`) when the child fails or dies. */
DR_MUST_CHECK int dr_index_verify_file(const char *dir);

/* Counts (for stats): entries in blobs, packs, snaps. */
DR_MUST_CHECK int dr_index_counts(struct dr_index_txn *txn, uint64_t *out_blobs,
                                  uint64_t *out_packs, uint64_t *out_snaps);

#endif
