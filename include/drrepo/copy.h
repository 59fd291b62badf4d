/* copy.h: the copy engine behind `drrepo copy`: copies snapshots from one repository into
 * another that has its own keys (format/snapshot.md, meta "copied_from").
 *
 * Blob ids are keyed hashes of the plaintext, so a blob has another id in the target: every
 * data blob the run has not met yet is read from the source (through the read engine, pack
 * ordered and coalesced), and handed to the target's write pipeline, which stores it only when
 * the target lacks it (its id under the target's key is looked up in the target's index).
 * Trees are read blob by blob and written again bottom-up with the target's ids. The new
 * snapshot keeps the original's time, host, user, tags, paths, source, summary and meta, with
 * one more meta entry, copied_from = the source snapshot's id in hex; its parent is the copy of
 * the original's parent when the target has one. A snapshot whose copy the target already holds
 * is skipped, so a second run stores nothing. The snapshot object is written by the pipeline's
 * commit, after every pack it needs is durably stored: a copy that dies leaves packs that no
 * snapshot references (prune removes them) and a target that checks clean.
 *
 * Node kinds: every kind is copied. Files (plain, damaged: only the chunks that remain are
 * listed, and record-encoded RDB files: their chunks are all data blobs and their records are
 * addressed by position, not by id) have their chunk ids mapped; directories their subtree;
 * symbolic links, devices, FIFOs and sockets reference nothing. */
#ifndef DR_COPY_H
#define DR_COPY_H

#include "drrepo/repo.h"

/* One run: the source and target repositories (each opened, locked and synced by the caller)
 * and what the run has copied so far (source blob id -> target blob id, in memory: 64 bytes a
 * blob). */
struct dr_copy;

/* Opens a run; lists the target's snapshots for their copied_from. Errors: those of the
 * listing; DR_EUSAGE when src and dst are the same repository (same repository id). */
DR_MUST_CHECK int dr_copy_open(struct dr_repo *src, struct dr_repo *dst, struct dr_copy **out);
/* NULL is accepted. */
void dr_copy_free(struct dr_copy *c);

struct dr_copy_result {
    struct dr_id source_id, target_id;
    bool skipped;         /* already copied: target_id is the earlier copy */
    uint64_t blobs_added; /* blobs stored in the target (data and trees) */
    uint64_t bytes_added; /* their stored (compressed, sealed) bytes */
    uint64_t blobs_read;  /* data blobs read from the source */
};

/* Copies snapshot id of the source into the target (or finds it copied). Errors: DR_ENOENT
 * (no such snapshot), DR_ECORRUPT (a tree or blob of the source cannot be read or verified: the
 * message names it; nothing is committed), DR_EINTR, the target's write errors. */
DR_MUST_CHECK int dr_copy_snapshot(struct dr_copy *c, const struct dr_id *id,
                                   struct dr_copy_result *out);

#endif
