/* mount.h: `drrepo mount`, every snapshot of a repository as a read-only FUSE file system
 * (docs/MOUNT.md), and the two pieces of it that are testable without FUSE: the per-file offset
 * table that maps a byte range to the chunks covering it, and the bounded cache of decrypted
 * chunks shared by the reader and the read-ahead threads. */
#ifndef DR_MOUNT_H
#define DR_MOUNT_H

#include "drrepo/repo.h"

/* ---- offset table ---------------------------------------------------------------------- */

/* One extent of a file: either chunk `chunk` of the node, or a range lost in a file marked
 * damaged by `repair snapshots` (chunk == DR_EXTENT_LOST). */
#define DR_EXTENT_LOST UINT32_MAX

struct dr_extent {
    uint64_t off, len;
    uint32_t chunk;
};

struct dr_filemap {
    struct dr_extent *ext; /* owned, sorted by off, contiguous from 0 to size */
    size_t n;
    uint64_t size;
};

/* Builds the offset table of a file node from its chunk sizes and damaged ranges (the same
 * layout restore writes: before each chunk come the damaged ranges that start where it would).
 * Errors: DR_ECORRUPT (the extents do not add up to the node's size, or a damaged range does not
 * start at a chunk boundary; the message names what). On error out is left empty. */
DR_MUST_CHECK int dr_filemap_build(const struct dr_node *n, struct dr_filemap *out);
void dr_filemap_release(struct dr_filemap *m);

/* The index of the extent that contains byte off, or m->n when off >= m->size. O(log n). */
size_t dr_filemap_find(const struct dr_filemap *m, uint64_t off);

/* ---- chunk cache ----------------------------------------------------------------------- */

enum dr_cchunk_state {
    DR_CCHUNK_LOADING = 0, /* a thread is fetching it; others wait */
    DR_CCHUNK_READY = 1,
    DR_CCHUNK_FAILED = 2,
};

/* A cache entry. data/len are valid while the caller holds a reference (from _acquire until
 * _release) and the state is READY. */
struct dr_cchunk {
    struct dr_id id;
    uint8_t *data;
    size_t len;
    int state;
    int err; /* the dr_err of a failed load */
    unsigned refs;
    bool linked;            /* in the hash and the LRU list (not failed or evicted) */
    struct dr_cchunk *next; /* hash chain */
    struct dr_cchunk *prev_lru, *next_lru; /* least recently used first */
};

struct dr_chunk_cache;

struct dr_chunk_cache_stats {
    uint64_t hits, misses, evictions, waits;
    uint64_t bytes, entries;
};

/* A cache of at most max_bytes of chunk data not in use (entries referenced by a reader are
 * never evicted, so the bound can be exceeded by what is pinned). Thread-safe. Cannot fail. */
struct dr_chunk_cache *dr_chunk_cache_new(uint64_t max_bytes);
void dr_chunk_cache_free(struct dr_chunk_cache *c);

/* Looks up id and takes a reference to its entry.
 * Returns 1 when the caller must load it: a new LOADING entry was made and the caller must call
 * _fill or _fail, then _release. Returns 0 when the entry exists: if wait, after waiting for a
 * load in progress elsewhere (state READY or FAILED); if !wait the state may still be LOADING
 * (read-ahead uses this to skip what is already being fetched). Cannot fail. */
int dr_chunk_cache_acquire(struct dr_chunk_cache *c, const struct dr_id *id, bool wait,
                           struct dr_cchunk **out);
/* Completes a load: takes ownership of data (malloc'd, len bytes) and wakes waiters. */
void dr_chunk_cache_fill(struct dr_chunk_cache *c, struct dr_cchunk *e, uint8_t *data, size_t len);
/* Completes a load as failed (err < 0): waiters see FAILED; the entry leaves the index at once so
 * that the next reader tries again (and reports again), instead of caching the failure. */
void dr_chunk_cache_fail(struct dr_chunk_cache *c, struct dr_cchunk *e, int err);
/* Drops a reference; evicts least recently used unreferenced entries past the bound. */
void dr_chunk_cache_release(struct dr_chunk_cache *c, struct dr_cchunk *e);
void dr_chunk_cache_get_stats(struct dr_chunk_cache *c, struct dr_chunk_cache_stats *out);

/* ---- the file system ------------------------------------------------------------------- */

#define DR_MOUNT_CACHE_DEFAULT (64u * 1024 * 1024)
#define DR_MOUNT_READAHEAD_DEFAULT 4u      /* chunks fetched ahead of a sequential reader */
#define DR_MOUNT_TTL_NS (2LL * 1000000000) /* how old the snapshot list may get */

struct dr_mount_opts {
    const char *mountpoint;
    uint64_t cache_size;
    unsigned readahead; /* chunks; 0 disables read-ahead */
    unsigned threads;   /* read-ahead threads (1..8) */
    bool allow_other;
    bool debug;
    /* Called once the file system is mounted, before requests are served (the command uses it
     * to detach a --background process from its terminal). May be NULL. */
    void (*ready)(void *arg);
    void *ready_arg;
};

/* Why FUSE cannot be used here, or NULL if it looks usable: /dev/fuse missing or not openable,
 * or (not root) no fusermount3 on PATH. The string is static. */
const char *dr_mount_unavailable(void);

/* Mounts r's snapshots at o->mountpoint and serves requests until the file system is unmounted
 * (`fusermount3 -u`, `umount`) or SIGINT/SIGTERM/SIGHUP arrives, then unmounts.
 * r must stay open and locked meanwhile. The FUSE loop itself is single-threaded (see fuse.c)
 * and runs on the calling thread, which unblocks SIGINT, SIGTERM and SIGHUP: threads started
 * before (the lock's refresh thread) must have them blocked, or they would take the signal and
 * the loop would not notice it.
 * Errors: DR_EUSAGE (bad mountpoint), DR_EUNSUPPORTED (FUSE unavailable), DR_EIO. */
DR_MUST_CHECK int dr_mount_run(struct dr_repo *r, const struct dr_mount_opts *o);

#endif
