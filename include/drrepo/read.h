/* read.h: the read engine. Every reader of data blobs (restore, dump, tar, mount, RDB parents)
 * hands it the list of blobs it wants; the engine looks them up in the index once, plans the
 * reads grouped by pack and sorted by offset, coalesces neighbouring records of one pack into
 * one ranged backend get, and runs the gets on worker threads, each with its own decompressor,
 * within a budget of bytes in flight. Every blob is authenticated and its id recomputed before
 * it is delivered. A blob that cannot be read or verified is delivered as an error extent that
 * names the blob and the pack, so that every caller treats damage the same way; the rest of the
 * run goes on.
 *
 * Two ways to receive the blobs:
 *   dr_read_run     out of order, on the worker threads, as they are decoded (restore, which
 *                   writes each at the offset the want carries);
 *   dr_read_stream  in the order of the wants, on the caller's thread, with the workers
 *                   reading ahead (dump, tar, mount, record-encoded RDB files). */
#ifndef DR_READ_H
#define DR_READ_H

#include "drrepo/repo.h"

struct dr_read_want {
    struct dr_id id;
    uint32_t ulen; /* the plaintext size the tree gives (0: not checked) */
    uint64_t tag;  /* the caller's (which file) */
    uint64_t off;  /* the caller's (where in the file) */
};

enum dr_extent_kind {
    DR_EXTENT_DATA,  /* data/len: the blob's verified plaintext */
    DR_EXTENT_ERROR, /* code/msg: why the blob could not be read; pack names it when known */
};

struct dr_read_extent {
    enum dr_extent_kind kind;
    const struct dr_read_want *want;
    size_t index; /* of want in the caller's array */
    const uint8_t *data;
    size_t len;
    int code;
    const char *msg; /* "blob <id> in pack 'data/…': <cause>" */
    bool has_pack;
    struct dr_id pack;
};

struct dr_read_cache;

struct dr_read_params {
    unsigned workers; /* 0: one per core */
    size_t budget;    /* bytes fetched and decoded but not yet delivered; 0: DR_READ_BUDGET */
    uint64_t gap;     /* records of one pack at most this far apart are read with one get;
                         UINT64_MAX: the default for the repository's backend */
    struct dr_read_cache *cache; /* NULL: none (dr_read_cache_open) */
    bool cache_last; /* the last run of the cache's series: it reads what the cache holds and
                        keeps nothing more (a whole pack costs a copy no later run takes) */
};

/* A cache of the packs that a series of runs fetched (restore's batches of files, whose small
 * files share packs): with one, a unit's get takes its whole pack and keeps it, while the
 * budget lasts, in an unlinked scratch file of the repository's cache directory, and a later
 * unit of that pack is read from there instead of another request. Meant for a network, where
 * a request is what costs (issue 13: one GET per pack a restore touches). Thread-safe. Errors:
 * DR_EIO, DR_ENOSPC (the scratch file). */
DR_MUST_CHECK int dr_read_cache_open(struct dr_repo *r, uint64_t budget,
                                     struct dr_read_cache **out);
/* NULL is a no-op. */
void dr_read_cache_close(struct dr_read_cache *c);

#define DR_READ_BUDGET ((size_t)64 << 20)

/* dr_read_run on a local backend: one get reads records of at most this much plaintext (one
 * record may exceed it), so that the workers share the decoding of a pack that compresses
 * well. Over a network a get takes up to a whole pack. */
#define DR_READ_RUN_UNIT_PLAIN ((size_t)8 << 20)

/* What a run cost the backend (issue: read amplification is what an object store bills). */
struct dr_read_stats {
    uint64_t gets;          /* backend get requests */
    uint64_t bytes_fetched; /* bytes those gets returned */
    uint64_t bytes_used;    /* encoded bytes of the blobs delivered (each distinct blob once) */
    uint64_t blobs;         /* wants delivered as data */
    uint64_t errors;        /* wants delivered as errors */
    uint64_t workers;       /* the most worker threads a run had (of runs added: the most) */
};

#define DR_READ_WORKERS_MAX 32

void dr_read_params_default(struct dr_read_params *p);

/* The process's default number of workers (`--read-concurrency`), for every run that does not
 * set its own; 0 restores one per core. */
void dr_read_set_concurrency(unsigned workers);

/* The workers a run gets by default: --read-concurrency, else one per core. */
unsigned dr_read_default_workers(void);
/* The workers for reading repository r: as dr_read_default_workers, or one per connection of a
 * remote backend when that is more and --read-concurrency did not say. A run of the engine
 * starts with dr_read_default_workers of them and adds the others while its workers wait on
 * the network and the machine has a core idle. */
unsigned dr_read_repo_workers(struct dr_repo *r);
/* For tests: the idle cores the engine sees (>= 0), instead of the machine's (< 0). */
void dr_read_set_idle_cores(double cores);

/* Adds b to a. */
void dr_read_stats_add(struct dr_read_stats *a, const struct dr_read_stats *b);

/* The callback of dr_read_run, on a worker thread (several at once: it must be thread-safe).
 * The extent's data is valid during the call. A negative return stops the run: no further
 * callbacks start, and dr_read_run returns that error with its message. */
typedef int (*dr_read_cb)(void *arg, const struct dr_read_extent *e);

/* Delivers each of the n wants once, in any order. Returns 0 when every want was delivered
 * (error extents included: damage is the callback's to report), or a negative error (the
 * index could not be read, or a callback stopped the run). st (may be NULL) is added to. */
DR_MUST_CHECK int dr_read_run(struct dr_repo *r, const struct dr_read_params *p,
                              const struct dr_read_want *w, size_t n, dr_read_cb cb, void *arg,
                              struct dr_read_stats *st);

struct dr_read_stream;

/* Opens a stream over the n wants (w is borrowed and must outlive the stream); the workers
 * start reading ahead at once. */
DR_MUST_CHECK int dr_read_stream_open(struct dr_repo *r, const struct dr_read_params *p,
                                      const struct dr_read_want *w, size_t n,
                                      struct dr_read_stream **out);

/* The next want's extent, in the order of the wants: 1 with *e filled (its data valid until
 * the next call or the close), 0 at the end. */
DR_MUST_CHECK int dr_read_stream_next(struct dr_read_stream *s, struct dr_read_extent *e);

/* Stops the workers (a stream may be closed before its end), adds its cost to st (may be
 * NULL) and frees it. NULL is accepted. */
void dr_read_stream_close(struct dr_read_stream *s, struct dr_read_stats *st);

/* Chunks of one file node by index, read ahead: a get of the chunk after the last one is
 * served from an engine stream that runs ahead in windows growing from 8 to 256 chunks; any
 * other index starts a new stream there. For readers that ask chunk by chunk in an order of
 * their own with long sequential runs (the RDB record decoder: head, records, layout). */
struct dr_chunk_reader;

/* n is borrowed and must outlive the reader. */
struct dr_chunk_reader *dr_chunk_reader_new(struct dr_repo *r, const struct dr_node *n);

/* Chunk i of the node into out (replacing its content), verified, its size checked against the
 * tree; an unreadable chunk's message names the blob and the pack. */
DR_MUST_CHECK int dr_chunk_reader_get(struct dr_chunk_reader *cr, uint32_t i, struct dr_buf *out);

/* Adds the reads' cost to st (may be NULL) and frees it. NULL is accepted. */
void dr_chunk_reader_free(struct dr_chunk_reader *cr, struct dr_read_stats *st);

#endif
