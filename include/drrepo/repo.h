/* repo.h: a repository: backend + keys + config + local index, and the operations on blobs,
 * trees and snapshots that every command is built from.
 *
 * Write order (the crash-safety contract, format/repository.md): packs are written durably,
 * then indexed; the snapshot object is written last and is the commit point; the index update
 * that counts its references follows and is redone by the next open if a crash came first.
 * Nothing is ever overwritten in place. */
#ifndef DR_REPO_H
#define DR_REPO_H

#include "drrepo/backend.h"
#include "drrepo/chunker.h"
#include "drrepo/compress.h"
#include "drrepo/config.h"
#include "drrepo/crypto.h"
#include "drrepo/index.h"
#include "drrepo/snapshot.h"
#include "drrepo/tree.h"

struct dr_repo_params {
    struct dr_chunker_params chunker;
    uint32_t pack_size;
    int zstd_level;
    uint64_t kdf_opslimit, kdf_memlimit;
    bool insecure_kdf; /* allow KDF limits below the floor (dr_kdf_check_floor) */
    /* format version, 2 to DR_REPO_VERSION: an older one for hosts whose drrepo reads no newer
     * (format/SPEC.md "Changes" says what each gives up) */
    uint32_t version;
};

/* Fills p with the defaults (format.h). */
void dr_repo_params_default(struct dr_repo_params *p);

/* A pack the index knew that is gone from the repository (another client's prune, or damage),
 * with the blobs the index placed in it: recorded by the sync, so that check can name the pack
 * behind a missing blob after the index was rebuilt. */
struct dr_vanished {
    struct dr_id pack;
    uint8_t type;
    bool reported;
    struct dr_id *blobs;
    size_t nblobs, ablobs;
};

/* A repository opened by dr_repo_open; opaque outside src/store/. */
struct dr_repo;

/* What an open repository is made of, for the engines. Each pointer stays valid until
 * dr_repo_close; dr_repo_index is NULL when the repository was opened with no_index and not
 * attached since. dr_repo_compressor belongs to the opening thread. */
struct dr_backend *dr_repo_backend(struct dr_repo *r);
struct dr_index *dr_repo_index(struct dr_repo *r);
const struct dr_keys *dr_repo_keys(const struct dr_repo *r);
const struct dr_repo_config *dr_repo_config(const struct dr_repo *r);
struct dr_compressor *dr_repo_compressor(struct dr_repo *r);
const char *dr_repo_cache_dir(const struct dr_repo *r);
/* The pack format version written into r: DR_PACK_VERSION (padded) from repository format
 * version 2 on, 1 in a version 1 repository, which stays readable by the builds that made it. */
uint32_t dr_repo_pack_version(const struct dr_repo *r);

/* Opens a private working set (workset.h) in this repository's cache directory, next to its
 * index; the caller closes it with dr_workset_close. Errors: as dr_workset_open. */
struct dr_workset;
DR_MUST_CHECK int dr_repo_workset_open(struct dr_repo *r, struct dr_workset **out);

/* Opens the local index of a repository opened with no_index (a no-op when it is open): an
 * index marked damaged is set aside and rebuilt, verify walks the file in a child first
 * (dr_index_verify_file). Not synced: call dr_repo_sync_index under the lock. Errors: as
 * dr_index_open, DR_EINDEX (verify found damage), DR_EIO. */
DR_MUST_CHECK int dr_repo_index_attach(struct dr_repo *r, bool verify);

/* Counts the index's blobs, packs and snapshots. Errors: index errors. */
DR_MUST_CHECK int dr_repo_index_counts(struct dr_repo *r, uint64_t *out_blobs, uint64_t *out_packs,
                                       uint64_t *out_snaps);

/* Takes the repository lock (dr_lock_acquire_flags: DR_LOCK_EXCLUSIVE, DR_LOCK_USE_RESERVE);
 * released with dr_lock_release. Errors: DR_ELOCKED, DR_EIO, DR_ENOSPC. */
struct dr_lock;
DR_MUST_CHECK int dr_repo_lock(struct dr_repo *r, unsigned flags, struct dr_lock **out);

/* The lock the caller holds on r (NULL: none, or it is about to be released), so that the
 * store and the engines check its lease (dr_lock_check) at their commit points without a global:
 * before a snapshot object is written and before every object is deleted. The caller keeps
 * owning the lock and sets NULL before releasing it. */
void dr_repo_set_lock(struct dr_repo *r, struct dr_lock *l);

/* dr_lock_check of the lock set with dr_repo_set_lock; 0 when none is set. Errors:
 * DR_ELOCKED (the lease is given up: stop before writing or deleting anything more). */
DR_MUST_CHECK int dr_repo_check_lock(struct dr_repo *r);

/* Removes temporary files left by interrupted writers (hold a lock). Returns how many. */
DR_MUST_CHECK int dr_repo_cleanup(struct dr_repo *r);

/* Makes sure the space reserve that lets prune run on a full disk exists (dr_lock_reserve_ensure).
 */
DR_MUST_CHECK int dr_repo_reserve_ensure(struct dr_repo *r);

/* A tree pack of which one copy failed a read (missing, short, or a record that does not
 * authenticate or decode) while the other served it: recorded by every blob read, so that
 * `check` reports it as damage and every other command warns once per pack. */
struct dr_copy_damage {
    struct dr_id pack;
    bool copy;     /* false: the original "tree/…" failed; true: the copy "tree-copy/…" did */
    char *message; /* why the read failed */
};

/* The tree packs recorded so far; *out stays valid until dr_repo_close or the next blob read.
 * Returns the count. */
size_t dr_repo_copy_damage(struct dr_repo *r, const struct dr_copy_damage **out);

/* The vanished pack that held blob id, or NULL. */
struct dr_vanished *dr_repo_vanished_find(struct dr_repo *r, const struct dr_id *id);

/* Creates a repository at location: config, one key file for password, with params.
 * Errors: DR_EEXIST (a repository or a non-empty directory is there), DR_EUSAGE (empty
 * password, bad params, KDF limits below the floor without insecure_kdf), DR_EIO, DR_ENOSPC. */
DR_MUST_CHECK int dr_repo_init(const char *location, const char *password,
                               const struct dr_repo_params *params, struct dr_id *out_repo_id);

/* What dr_repo_open was doing when it failed, and the object it found damaged, so that check
 * can report damage by object instead of as a failed open. */
enum dr_open_stage {
    DR_OPEN_CONFIG = 1, /* reading and verifying the config */
    DR_OPEN_KEYS,       /* finding a key file that the password opens */
    DR_OPEN_INDEX,      /* opening and syncing the local index */
};
struct dr_open_failure {
    enum dr_open_stage stage;
    char object[96]; /* "config", "keys/<hex>", "keys" (several), or "" */
};

struct dr_repo_open_opts {
    const char *location;
    const char *password;
    const char *cache_dir; /* NULL: $DRREPO_CACHE_DIR, $XDG_CACHE_HOME/drrepo, ~/.cache/drrepo */
    bool no_index;         /* keys and config only (key management, unlock) */
    bool no_sync;          /* skip the index sync with the repository (repair uses its own) */
    bool verify_index;     /* walk the index file in a child process first (check) */
    struct dr_open_failure *out_failure; /* may be NULL; filled when dr_repo_open fails */
};

/* Opens the repository: config, first key file that the password opens, index (synced with
 * the repository's packs and snapshots). A damaged config or key file whose second copy is
 * intact is read from the copy, with a warning naming the damaged object (format version 2).
 * Errors: DR_ENOREPO (no config at location), DR_EUNSUPPORTED (newer format), DR_EAUTH (no key
 * file opens with the password), DR_ECORRUPT (the config, or every key file, is damaged with no
 * intact copy), DR_EIO. An index that an earlier command found damaged (its directory is
 * marked) is set aside and rebuilt; one found damaged now is too (dr_repo_sync_index). */
DR_MUST_CHECK int dr_repo_open(const struct dr_repo_open_opts *opts, struct dr_repo **out);
void dr_repo_close(struct dr_repo *r);

/* How much of the repository a sync reads (store/reconcile.c, docs/DESIGN.md "The index"). */
enum dr_sync {
    /* What changed since the last sync: the snapshots are listed, and every pack only when
     * the index cannot rule out that one was deleted or is needed (format version < 3, a
     * prune since the last listing (its epochs), a listing older than a day, a new snapshot
     * that names blobs the index lacks, no listing yet). */
    DR_SYNC_CHANGES,
    DR_SYNC_LIST,    /* every pack listed (check, prune, repair) */
    DR_SYNC_REBUILD, /* the index cleared and built again from every pack (`repair index`) */
};

/* Brings the index up to date with the repository: indexes packs it does not know (from their
 * headers), counts references of snapshots it does not know, takes back those of snapshots that
 * are gone, and, if packs it knows have vanished, rebuilds the index from scratch. A damaged index
 * (DR_EINDEX) is set aside and rebuilt, with a warning. Must not run while a transaction of
 * r->index is open. Returns the number of changes made. */
DR_MUST_CHECK int dr_repo_sync_index(struct dr_repo *r, enum dr_sync how);
/* Whether the last sync of r listed every pack, and whether it rebuilt the index (for tests). */
bool dr_repo_sync_listed(const struct dr_repo *r);
bool dr_repo_sync_rebuilt(const struct dr_repo *r);

/* Prune's epochs (format/repository.md "Epochs"), in a repository of format version 3 (no-ops
 * in older ones). _begin writes a new epoch before the first pack is deleted, so that every
 * client's next sync lists every pack; _end, once the deletions are done, removes the epochs
 * older than it. Errors: DR_ELOCKED (the lease ran out), DR_EIO. */
DR_MUST_CHECK int dr_repo_epoch_begin(struct dr_repo *r);
DR_MUST_CHECK int dr_repo_epoch_end(struct dr_repo *r);

/* Closes r's index, removes its directory and opens a new, empty one (to be synced in full).
 * Errors: as dr_index_open. */
DR_MUST_CHECK int dr_repo_index_recreate(struct dr_repo *r);

/* Reads, authenticates and decodes a blob, appending its plaintext to out. txn may be NULL
 * (a read transaction is used). A tree blob whose pack is missing, short or damaged is read from
 * the pack's copy instead, with a warning once per pack (dr_repo_copy_damage). Errors: DR_ENOENT
 * (not in the index), DR_ECORRUPT (the message names the blob and its pack), DR_EIO. */
DR_MUST_CHECK int dr_repo_blob_get(struct dr_repo *r, struct dr_index_txn *txn, uint8_t type,
                                   const struct dr_id *id, struct dr_buf *out);

/* dr_repo_blob_get with the caller's decompressor, for threads other than the one that owns
 * r->z (mount's read-ahead). The index and backend may be used from several threads. */
DR_MUST_CHECK int dr_repo_blob_get_z(struct dr_repo *r, struct dr_index_txn *txn,
                                     struct dr_compressor *z, uint8_t type, const struct dr_id *id,
                                     struct dr_buf *out);

/* Chunk i of file node n into out (its content replaced), verified as any data blob, with its
 * length checked against the node's chunk_sizes. z: the caller's decompressor, or NULL for
 * r->z. Errors: dr_repo_blob_get's, and DR_ECORRUPT when the length differs. */
DR_MUST_CHECK int dr_repo_chunk_get(struct dr_repo *r, struct dr_compressor *z,
                                    const struct dr_node *n, uint32_t i, struct dr_buf *out);

/* True when s has tag; and when s matches the host and tag filters (NULL: any). */
bool dr_snapshot_has_tag(const struct dr_snapshot *s, const char *tag);
bool dr_snapshot_matches(const struct dr_snapshot *s, const char *host, const char *tag);

/* dr_repo_tree_load for repair, which saves what can be read: a file whose chunk list is
 * missing or corrupt is warned about (naming the tree, the file and the list) and left
 * DR_NODE_F_LISTED without chunks and without lists (nlists 0), instead of failing the tree.
 * Errors: the tree's own, and DR_EIO. */
DR_MUST_CHECK int dr_repo_tree_load_salvage(struct dr_repo *r, struct dr_index_txn *txn,
                                            const struct dr_id *id, struct dr_tree *t);
/* Loads and decodes a tree blob into t (initialised), and expands the chunk list of every file
 * that has one (DR_NODE_F_LISTED, format/chunklist.md): its chunks are then in the node, and the
 * list blobs it read in n->lists. A list that cannot be read fails the whole load, naming the
 * file and the list. */
DR_MUST_CHECK int dr_repo_tree_load(struct dr_repo *r, struct dr_index_txn *txn,
                                    const struct dr_id *id, struct dr_tree *t);

/* Loads a snapshot object. */
DR_MUST_CHECK int dr_repo_snapshot_load(struct dr_repo *r, const struct dr_id *id,
                                        struct dr_snapshot *s);

/* A loaded snapshot with its id. */
struct dr_snap_entry {
    struct dr_id id;
    struct dr_snapshot snap;
};
/* Lists all snapshots, sorted by time (oldest first). Free with dr_snap_list_free. Snapshots
 * that cannot be read are reported through the log and counted in *out_bad (may be NULL). */
DR_MUST_CHECK int dr_repo_snapshot_list(struct dr_repo *r, struct dr_snap_entry **out,
                                        size_t *out_n, size_t *out_bad);
void dr_snap_list_free(struct dr_snap_entry *list, size_t n);

/* Resolves "latest", a full id or a unique hex prefix (>= 4 digits). host/tag filter "latest"
 * (NULL for any). Errors: DR_ENOENT (no match), DR_EUSAGE (ambiguous prefix). */
DR_MUST_CHECK int dr_repo_snapshot_resolve(struct dr_repo *r, const char *spec, const char *host,
                                           const char *tag, struct dr_id *out);

/* Finds the node at path (components separated by '/', leading '/' optional; "" or "/" is the
 * root, returned as a synthetic directory node named "/") in the snapshot's tree.
 * out is owned by the caller (dr_node_release). Errors: DR_ENOENT. */
DR_MUST_CHECK int dr_repo_find_node(struct dr_repo *r, const struct dr_snapshot *s,
                                    const char *path, struct dr_node *out);

/* Walks the tree at root depth-first, calling cb for every node with its path ("/a/b").
 * If cb returns 1 for a directory, its subtree is skipped; negative stops the walk. */
typedef int (*dr_walk_cb)(void *arg, const char *path, const struct dr_node *n);
DR_MUST_CHECK int dr_repo_walk(struct dr_repo *r, const struct dr_id *root, const char *prefix,
                               dr_walk_cb cb, void *arg);

/* Reference counting: adds (delta +1) or removes (-1) the reference of a snapshot to its root
 * tree, in txn (a write transaction). Counts are hierarchical (format/index.md): a tree whose
 * count rises from 0 (falls to 0) adds (removes) one reference to each distinct id it names, and
 * so on down; a tree that stays live is not read. Blobs that are not in the index and trees that
 * cannot be read are skipped: returns how many (>= 0), which check reports as damage. Errors:
 * DR_EIO and index errors. */
DR_MUST_CHECK int dr_repo_count_refs(struct dr_repo *r, struct dr_index_txn *txn,
                                     const struct dr_id *root, int delta);
/* Takes back the references of the counted snapshot id (dr_repo_count_refs with -1 on the root
 * its index record names) and removes that record, in txn. A snapshot the index does not know is
 * nothing to do. Returns how many blobs were missing or trees unreadable on the way (their own
 * references stay), >= 0. Errors: as dr_repo_count_refs. */
DR_MUST_CHECK int dr_repo_snapshot_uncount(struct dr_repo *r, struct dr_index_txn *txn,
                                           const struct dr_id *id);

/* Key files. _add wraps the master key under a new password (the KDF cost of the key that
 * opened the repository is reused unless ops/mem are non-zero). _remove refuses the key in use
 * and the last key (DR_EUSAGE). name is a key file id or unique prefix. */
DR_MUST_CHECK int dr_repo_key_add(struct dr_repo *r, const char *password, uint64_t ops,
                                  uint64_t mem, struct dr_id *out_id);
typedef int (*dr_key_cb)(void *arg, const struct dr_id *id, const struct dr_keyfile_info *info,
                         bool current);
DR_MUST_CHECK int dr_repo_key_list(struct dr_repo *r, dr_key_cb cb, void *arg);
DR_MUST_CHECK int dr_repo_key_remove(struct dr_repo *r, const char *name);
/* Replaces the key in use by one for the new password. */
DR_MUST_CHECK int dr_repo_key_passwd(struct dr_repo *r, const char *password, struct dr_id *out_id);

/* The state of one copy of a small critical object. */
enum dr_copy_state {
    DR_COPY_OK,
    DR_COPY_MISSING,
    DR_COPY_DAMAGED,
    DR_COPY_UNREAD, /* not read: the first copy was intact and the caller asked for no more */
};

/* One key file with its two copies (keys/<id>, copies/keys/<id>). bytes holds the intact
 * content, the first copy's when it is intact, else the second's; empty when neither is. */
struct dr_keyslot {
    struct dr_id id;
    char name[DR_LAYOUT_NAME_MAX], copy_name[DR_LAYOUT_NAME_MAX];
    enum dr_copy_state state, copy_state;
    char why[256], copy_why[256]; /* what is wrong with a missing or damaged copy */
    struct dr_buf bytes;
};

/* Every key file of the repository, sorted by id: the union of the names in keys/ and (format
 * version 2) copies/keys/, each copy verified against its name. read_all reads every second
 * copy; otherwise a second copy is read only when the first is not intact. Errors: DR_EIO
 * (listing or reading failed; damage is not an error but a state). Free with
 * dr_keyslots_free. */
DR_MUST_CHECK int dr_repo_keyslots(struct dr_repo *r, bool read_all, struct dr_keyslot **out,
                                   size_t *out_n);
void dr_keyslots_free(struct dr_keyslot *v, size_t n);

/* Deletes the repository object obj (a pack, a tree pack's copy, a snapshot) and the local
 * copy a remote repository keeps of it. Errors: as dr_backend_delete (DR_ENOENT when it is
 * already gone). */
DR_MUST_CHECK int dr_repo_delete_object(struct dr_repo *r, const char *obj);

/* Finishes a pack writer (names the pack: the hash of its bytes) and writes the pack durably,
 * with the two fault points named around the write. *out_pid and *out_len describe it. The
 * caller indexes it afterwards (repo.c). */
struct dr_pack_writer;
DR_MUST_CHECK int dr_repo_store_pack(struct dr_repo *r, struct dr_pack_writer *w, uint8_t type,
                                     const char *fault_before, const char *fault_after,
                                     struct dr_id *out_pid, size_t *out_len);

/* Storage totals from the index (no pack is read): for `stats`. */
struct dr_repo_stats {
    uint64_t packs, pack_bytes, live_bytes, dead_bytes;
    uint64_t blobs, unique_bytes; /* unique_bytes: plaintext of blobs with references */
};
DR_MUST_CHECK int dr_repo_stats(struct dr_repo *r, struct dr_repo_stats *out);

/* Makes sure the credentials in use may delete objects, before a command that deletes (forget,
 * prune) writes anything, its lock included: asks the backend to delete a random name that does
 * not exist in snapshots/ and in data/ (dr_backend_can_delete), which changes nothing. With
 * append-only credentials (a policy that denies deletes, docs/S3.md) the command would
 * otherwise fail halfway, and leave its lock behind. Errors: DR_EIO (deletes are refused: the
 * message says that forget and prune need credentials that can delete), DR_ENET. */
DR_MUST_CHECK int dr_repo_check_deletes(struct dr_repo *r);

/* Removes the locks of the repository at location whose holder is gone (dead process on this
 * host, no host, or not refreshed for DR_LOCK_STALE_NS), or every lock when all. Needs no key:
 * a stuck lock must be removable by whoever can reach the storage. cb (may be NULL) is called
 * for each lock removed. Errors: DR_ENOREPO, DR_EIO. */
struct dr_lock_info;
typedef void (*dr_unlock_cb)(void *arg, const struct dr_lock_info *removed);
DR_MUST_CHECK int dr_repo_unlock(const char *location, bool all, dr_unlock_cb cb, void *arg,
                                 int *out_removed, int *out_kept);

#endif
