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
};

/* Fills p with the defaults (format.h). */
void dr_repo_params_default(struct dr_repo_params *p);

/* Names of the small critical objects and of their second copies (format/repository.md
 * "Redundancy"); copies exist from format version 2. */
#define DR_OBJ_CONFIG "config"
#define DR_OBJ_CONFIG_COPY "copies/config"
#define DR_OBJ_KEYS "keys"
#define DR_OBJ_KEYS_COPY "copies/keys"

struct dr_repo_config {
    uint32_t version; /* repository format version: 1 or DR_REPO_VERSION */
    struct dr_id repo_id;
    struct dr_chunker_params chunker;
    uint32_t pack_size;
    int32_t zstd_level;
    int64_t created_ns;
};

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

struct dr_repo {
    struct dr_backend *backend;
    struct dr_keys *keys;
    struct dr_repo_config config;
    struct dr_index *index;
    char *location;
    char *cache_dir;
    char *keyfile_name;      /* the key file that opened the repository */
    struct dr_compressor *z; /* for reads on the opening thread */
    struct dr_vanished *vanished;
    size_t nvanished, avanished;
    struct dr_tree_cache *trees; /* decoded tree blobs, bounded; same thread as z */
    struct dr_copy_log *copylog; /* tree packs read from their other copy (repo.c) */
};

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

/* Config codec (format/repository.md "Config").
 * _encode appends the config of format version c->version (1 or 2) to out, its body sealed with
 * nonce (NULL: a random one; only test vectors pass one). DR_EINTERNAL for another version.
 * _check verifies one copy without a key and reads its clear part (version, repository id) into
 * out: for version 2 and later the trailing checksum is verified before any field is believed;
 * a config without a valid checksum is accepted only as version 1. Errors, naming the object
 * name: DR_ENOREPO (not a config at all), DR_EUNSUPPORTED (a newer version with a valid
 * checksum), DR_ECORRUPT (damaged: the message says how).
 * _decode is _check plus the sealed body under k: DR_ECORRUPT when it does not authenticate
 * (damage, since k came from a key file bound to this repository id) or holds invalid values. */
DR_MUST_CHECK int dr_config_encode(const struct dr_keys *k, const struct dr_repo_config *c,
                                   const uint8_t *nonce, struct dr_buf *out);
DR_MUST_CHECK int dr_config_check(const char *name, const uint8_t *p, size_t len,
                                  struct dr_repo_config *out);
DR_MUST_CHECK int dr_config_decode(const struct dr_keys *k, const char *name, const uint8_t *p,
                                   size_t len, struct dr_repo_config *out);

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

/* Brings the index up to date with the repository: indexes packs it does not know (from their
 * headers), counts references of snapshots it does not know, and, if packs or snapshots it
 * knows have vanished, rebuilds the index from scratch. full forces the rebuild
 * (`repair index`). A damaged index (DR_EINDEX) is set aside and rebuilt, with a warning.
 * Must not run while a transaction of r->index is open. Returns the number of changes made. */
DR_MUST_CHECK int dr_repo_sync_index(struct dr_repo *r, bool full);

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

/* Loads and decodes a tree blob into t (initialised). */
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

/* Reference counting: adds (delta +1) or removes (-1) one reference from every distinct blob
 * reachable from the snapshot's root tree, in txn (a write transaction). Blobs that are not in
 * the index and trees that cannot be read are skipped: returns how many (>= 0), which check
 * reports as damage. Errors: DR_EIO and index errors. */
DR_MUST_CHECK int dr_repo_count_refs(struct dr_repo *r, struct dr_index_txn *txn,
                                     const struct dr_id *root, int delta);

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

/* Where the index lives: <cache>/<repo id hex>/index. */
char *dr_repo_index_dir(const char *cache_dir, const struct dr_id *repo_id);

#endif
