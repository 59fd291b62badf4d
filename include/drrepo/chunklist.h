/* chunklist.h: chunk-list blobs, a file's chunk list stored outside its tree (format/chunklist.md).
 *
 * A tree node with DR_NODE_F_LISTED names one list blob instead of listing its chunks. A list is
 * either full (depth 0: every chunk) or a change to another list, its base (depth d > 0: the base
 * has depth d - 1, and only the positions that differ are stored). A file whose blocks change in
 * place (PostgreSQL relation files, cut in fixed 8 KiB blocks) then costs each snapshot the
 * changed positions, not 36 bytes per block of the whole file. A pure codec: no I/O; the store
 * follows the bases and expands the list when it loads a tree (dr_repo_tree_load). */
#ifndef DR_CHUNKLIST_H
#define DR_CHUNKLIST_H

#include "drrepo/buf.h"
#include "drrepo/format.h"
#include "drrepo/id.h"

#define DR_CHUNKLIST_MAGIC "DRCHKLST"
#define DR_CHUNKLIST_VERSION 1u
#define DR_CHUNKLIST_HDR_LEN 64u
#define DR_CHUNKLIST_ENT_LEN 40u
/* A reader follows at most this many bases: a chain is read in full to expand its head. */
#define DR_CHUNKLIST_DEPTH_MAX 256u
/* The most chunks one list holds: a list blob is one blob (DR_BLOB_MAX). */
#define DR_CHUNKLIST_COUNT_MAX ((DR_BLOB_MAX - DR_CHUNKLIST_HDR_LEN) / DR_CHUNKLIST_ENT_LEN)

/* One decoded list blob. */
struct dr_chunklist {
    uint32_t depth;    /* 0: full; d: a change to base, whose depth is d - 1 */
    uint32_t count;    /* chunks of the file after this list applies */
    uint64_t total;    /* their plaintext bytes: the file's size */
    struct dr_id base; /* depth > 0 */
    uint32_t nent;
    uint32_t *pos; /* owned, nent, strictly increasing, < count */
    struct dr_id *ids;
    uint32_t *sizes;
};

void dr_chunklist_release(struct dr_chunklist *l);

/* Decodes and validates one list blob's plaintext (everything that can be checked without its
 * base). On error out is left empty (zeroed). Errors: DR_ECORRUPT (the message says what),
 * DR_EUNSUPPORTED (newer version). */
DR_MUST_CHECK int dr_chunklist_decode(const uint8_t *p, size_t len, struct dr_chunklist *out);

/* Applies l to the expansion of its base: *ids, *sizes (owned, *n entries; empty for depth 0)
 * become the expansion of l. Errors: DR_ECORRUPT (a position past the base's end that l does not
 * set, sizes that do not add up to l->total). */
DR_MUST_CHECK int dr_chunklist_apply(const struct dr_chunklist *l, struct dr_id **ids,
                                     uint32_t **sizes, uint32_t *n);

/* Appends the full list of n chunks (n >= 1, at most DR_CHUNKLIST_COUNT_MAX) to out. */
DR_MUST_CHECK int dr_chunklist_encode_full(const struct dr_id *ids, const uint32_t *sizes,
                                           uint32_t n, struct dr_buf *out);

/* Positions at which (ids, sizes, n) differs from (old_ids, old_sizes, old_n), including every
 * position at or past old_n: the entries a change to the old list stores. */
uint32_t dr_chunklist_diff_count(const struct dr_id *old_ids, const uint32_t *old_sizes,
                                 uint32_t old_n, const struct dr_id *ids, const uint32_t *sizes,
                                 uint32_t n);

/* Appends the change from the list base (depth base_depth, expanding to old_*) to (ids, sizes,
 * n): a list of depth base_depth + 1 (at most DR_CHUNKLIST_DEPTH_MAX). */
DR_MUST_CHECK int dr_chunklist_encode_delta(const struct dr_id *base, uint32_t base_depth,
                                            const struct dr_id *old_ids, const uint32_t *old_sizes,
                                            uint32_t old_n, const struct dr_id *ids,
                                            const uint32_t *sizes, uint32_t n, struct dr_buf *out);

#endif
