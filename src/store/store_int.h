/* store_int.h: declarations shared inside src/store/ only. */
#ifndef DR_STORE_STORE_INT_H
#define DR_STORE_STORE_INT_H

#include "drrepo/repo.h"

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
    struct dr_workset *ws;       /* the store's own working set, opened on first use */
    struct dr_lock *lock;        /* held by the caller (dr_repo_set_lock), or NULL */
    /* the index was created by this open: the first pack the reconciliation reads says that
     * it is being built (a new repository has none, so its first command stays quiet) */
    bool index_new;
    bool sync_listed;   /* the last sync listed every pack (dr_repo_sync_listed) */
    bool sync_rebuilt;  /* the last sync rebuilt the index (dr_repo_sync_rebuilt) */
    bool epoch_written; /* dr_repo_epoch_begin wrote epoch, which _end keeps */
    struct dr_id epoch;
};

/* Writes a new key file for k (keys.c): for a repository of format version 2 also its second
 * copy, after the first. */
DR_MUST_CHECK int dr_repo_write_keyfile(struct dr_backend *b, const struct dr_keys *k,
                                        const struct dr_repo_config *c, const char *password,
                                        uint64_t ops, uint64_t mem, struct dr_id *out_name);

/* Opens a key file with password into r->keys and r->keyfile_name (keys.c): hint (a key file
 * name, or NULL) first, then the others cheapest first, within the Argon2id budget of
 * format/crypto.md "Opening a repository". Errors: DR_EAUTH (the message counts the key files
 * not tried), DR_ECORRUPT (every key file damaged; f->object names it), DR_EUNSUPPORTED,
 * DR_EUSAGE (a bad DRREPO_KDF_BUDGET), DR_EIO. */
/* The store's own working set (repo.c), opened on first use and closed with the repository:
 * for reference counting and reconciliation, which run on the opening thread and never nest
 * (each clears what it uses first). Engines open their own (dr_repo_workset_open). */
DR_MUST_CHECK int dr_repo_own_workset(struct dr_repo *r, struct dr_workset **out);

/* The local copy of a remote repository's tree packs and snapshot objects (objcache.c). On
 * when the backend is remote. get reads [off, off+len) of obj (len UINT64_MAX: to the end)
 * from the cached copy, or fetches the whole object, keeps it when its hash is name_hash, and
 * serves the range; *out_cached says the bytes came from the cache (so a record that does not
 * decode is worth a second read from the repository). Without the cache it is
 * dr_backend_get. Errors: as dr_backend_get. put stores an object just written; drop removes
 * the copy of one deleted or found damaged. Both are best effort. */
bool dr_objcache_on(const struct dr_repo *r);
DR_MUST_CHECK int dr_objcache_get(struct dr_repo *r, const char *obj, const struct dr_id *name_hash,
                                  uint64_t off, uint64_t len, struct dr_buf *out, bool *out_cached);
void dr_objcache_put(struct dr_repo *r, const char *obj, const void *data, size_t len);
void dr_objcache_drop(struct dr_repo *r, const char *obj);

/* Frees what the one-at-a-time reads keep in r (blobread.c): the tree cache and the log of tree
 * packs read from their copy. */
void dr_repo_reads_free(struct dr_repo *r);

DR_MUST_CHECK int dr_repo_load_keys(struct dr_repo *r, const char *password, const char *hint,
                                    struct dr_open_failure *f);

#endif
