/* prune.h: forgetting snapshots and reclaiming the space nothing references.
 *
 * forget decrements reference counts (one index transaction per snapshot, with the removal of
 * its record) and only then deletes the snapshot object. prune plans from the per-pack live and
 * dead byte counts (cost proportional to the number of packs), repacks the live blobs of packs
 * whose dead fraction exceeds a threshold, and deletes packs with no live blob. Order, for crash
 * safety: new packs durable -> index updated -> old packs deleted. Deleting needs an exclusive
 * lock; before it, the index is synced again and the plan is cross-checked against a fresh mark
 * of every remaining snapshot's trees. */
#ifndef DR_PRUNE_H
#define DR_PRUNE_H

#include "drrepo/repo.h"

/* Forgets n snapshots in batches: one index transaction decrements the references of a batch
 * and removes their records, then their snapshot objects are deleted. Each commit rewrites the
 * index pages it touched (one commit per snapshot rewrote the index hundreds of times), and a
 * transaction keeps its dirty pages in memory (one for all of them grew with the index). */
DR_MUST_CHECK int dr_forget(struct dr_repo *r, const struct dr_id *ids, size_t n);

/* Forgets one snapshot (dr_forget of one). A snapshot that is already gone is not an error
 * (another client forgot it): nothing changes and 0 is returned. Errors: index errors,
 * DR_ECORRUPT (a refcount would go below zero: the index disagrees with the repository; run
 * `repair index`). */
DR_MUST_CHECK int dr_forget_one(struct dr_repo *r, const struct dr_id *id);

struct dr_prune_opts {
    double max_unused; /* percent of a pack that may be dead before it is repacked (default 5) */
    bool dry_run;
};

struct dr_prune_stats {
    uint64_t packs_total, bytes_total;
    uint64_t packs_delete, bytes_delete;   /* packs with no live blob */
    uint64_t packs_repack, bytes_repack;   /* packs whose live blobs are copied */
    uint64_t blobs_repacked, bytes_copied; /* what the copy moved */
    uint64_t packs_written;
    uint64_t packs_deleted, bytes_freed; /* done in the delete phase */
    uint64_t unreachable_missing;        /* reachable blobs not in the index (damage, reported) */
    uint64_t drills_removed;             /* drill results of forgotten snapshots */
};

/* Phase 1 (shared lock): plans and repacks. Needs an index. DR_EINTR when a signal arrived
 * (interrupt.h, checked between packs): the new packs already indexed stay, no old one is gone. */
DR_MUST_CHECK int dr_prune_repack(struct dr_repo *r, const struct dr_prune_opts *o,
                                  struct dr_prune_stats *st);

/* Phase 2 (exclusive lock): syncs the index, recomputes the packs with no live blob,
 * cross-checks them against a fresh mark, updates the index, deletes the packs.
 * Errors: DR_ECORRUPT when the plan disagrees with the mark (nothing deleted); DR_EINTR when a
 * signal arrived before the index let the packs go (nothing deleted). */
DR_MUST_CHECK int dr_prune_delete(struct dr_repo *r, const struct dr_prune_opts *o,
                                  struct dr_prune_stats *st);

#endif
