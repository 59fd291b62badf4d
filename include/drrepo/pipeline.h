/* pipeline.h: the write pipeline. Data blobs are hashed, compressed and encrypted by worker
 * threads (one per core) while the caller reads and chunks in order; finished records are
 * appended to packs in submission order by the caller's thread, so the repository content does
 * not depend on thread timing. Memory is bounded: a ring of slots, and a budget of bytes in
 * flight of a few average chunks per worker.
 *
 * Not thread-safe: one thread submits. A writer is sticky-failed after its first error. */
#ifndef DR_PIPELINE_H
#define DR_PIPELINE_H

#include "drrepo/repo.h"

struct dr_pipeline;

struct dr_pipeline_stats {
    uint64_t blobs_added, bytes_added; /* records written (after dedup), their stored bytes */
    uint64_t blobs_seen, bytes_seen;   /* every blob submitted, plaintext bytes */
    uint64_t packs_written;
};

DR_MUST_CHECK int dr_pipeline_open(struct dr_repo *r, struct dr_pipeline **out);
/* A pipeline that writes nothing, for `snapshot --dry-run`: blobs are hashed, looked up in the
 * index and, when new, compressed and sealed as usual and counted in the stats (blobs_added,
 * bytes_added: what a real run would add), but their records go into no pack: their ids are
 * kept in a working set of the cache directory (workset.h) so that a blob met twice is counted
 * once. No pack, index record or snapshot is written; dr_pipeline_commit fails (DR_EINTERNAL).
 * Errors: those of dr_pipeline_open and dr_repo_workset_open. */
DR_MUST_CHECK int dr_pipeline_open_dry_run(struct dr_repo *r, struct dr_pipeline **out);
/* Frees; blobs in unfinished packs are discarded (nothing references them). */
void dr_pipeline_free(struct dr_pipeline *w);

/* Submits a data blob; takes ownership of data (malloc'd). *out_id is written when the blob has
 * been processed, at the latest by dr_pipeline_drain(); it must stay valid until then. */
DR_MUST_CHECK int dr_pipeline_put_data(struct dr_pipeline *w, uint8_t *data, size_t len,
                                       struct dr_id *out_id);

/* dr_pipeline_put_data for data the caller keeps (a slice of a larger buffer): data must stay
 * valid and unchanged until release(arg) is called, which happens on the submitting thread
 * once the blob is processed (at the latest in dr_pipeline_drain or dr_pipeline_free), and
 * also when the submission itself fails. */
DR_MUST_CHECK int dr_pipeline_put_data_ref(struct dr_pipeline *w, const uint8_t *data, size_t len,
                                           void (*release)(void *arg), void *arg,
                                           struct dr_id *out_id);

/* Waits until every submitted blob is processed and its id written, and runs every pending
 * dr_pipeline_then. */
DR_MUST_CHECK int dr_pipeline_drain(struct dr_pipeline *w);

/* Work that needs the ids of the blobs submitted so far, without waiting for them: fn(arg)
 * runs on the submitting thread once every blob submitted before this call has its id
 * written, in the order of the calls (at once when nothing is in flight), and release(arg)
 * after it. fn may store blobs with dr_pipeline_put_now (a directory's tree once its files'
 * chunks are known), not submit data. When fn fails, the pipeline is failed with its error.
 * A then that has not run when the pipeline fails or is freed is only released: what arg
 * points to must stay valid until release, and fn must not rely on memory that the caller
 * frees after a failure. Errors: the pipeline's (sticky) error; fn's. */
DR_MUST_CHECK int dr_pipeline_then(struct dr_pipeline *w, int (*fn)(void *arg),
                                   void (*release)(void *arg), void *arg);

/* Stores a tree blob synchronously (deduplicated) and returns its id. */
DR_MUST_CHECK int dr_pipeline_put_tree(struct dr_pipeline *w, const uint8_t *data, size_t len,
                                       struct dr_id *out_id);
/* The same for a blob of either type, on the calling thread: for blobs whose id is needed at
 * once (trees, chunk lists: format/chunklist.md). A data blob only when drained: data blobs
 * from the workers go into the same packs, in order, on this thread. */
DR_MUST_CHECK int dr_pipeline_put_now(struct dr_pipeline *w, uint8_t type, const uint8_t *data,
                                      size_t len, struct dr_id *out_id);

/* Writes the chunk list of file node n (DR_NODE_F_LISTED, its chunk ids known) and sets
 * n->list, under the writer policy of format/chunklist.md "Writing": the list of pn (the
 * parent snapshot's node of the same path, expanded; NULL: none) when n's chunks are pn's, a
 * change to it while the chain is shorter than DR_PG_LIST_DEPTH and at most a quarter changed,
 * else a full list. A file with no chunks, or too many for one list, keeps its chunks in the
 * tree (LISTED cleared). The backup engine and copy both write lists through it. */
DR_MUST_CHECK int dr_pipeline_put_list(struct dr_pipeline *w, struct dr_node *n,
                                       const struct dr_node *pn);

/* Drains, finishes the open packs, writes them and indexes them. */
DR_MUST_CHECK int dr_pipeline_flush(struct dr_pipeline *w);

/* Flushes, writes the snapshot object (the commit point) and counts its references in the
 * index in one transaction with its record. */
DR_MUST_CHECK int dr_pipeline_commit(struct dr_pipeline *w, const struct dr_snapshot *s,
                                     struct dr_id *out_snap_id);

void dr_pipeline_get_stats(const struct dr_pipeline *w, struct dr_pipeline_stats *out);

#endif
