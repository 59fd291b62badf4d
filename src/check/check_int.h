/* check_int.h: what the files of the check share (check.c runs the passes of structure.c,
 * refs.c and read_data.c over one struct chk). */
#ifndef DR_CHECK_INT_H
#define DR_CHECK_INT_H

#include "drrepo/check.h"
#include "drrepo/index.h"
#include "drrepo/repo.h"
#include "drrepo/sorter.h"
#include "drrepo/tally.h"
#include "drrepo/workset.h"

/* What the structure pass learns about each pack; kept in a sorted array (O(packs) memory). */
struct pack_sum {
    struct dr_id id;
    uint8_t type;
    bool in_repo, in_index, header_ok, missing;
    bool in_copy;       /* a tree pack's copy is listed (format/repository.md) */
    uint64_t size;      /* from the repository listing */
    uint64_t copy_size; /* the copy's, from the listing */
    /* a tree pack of which one copy is damaged or missing: why (malloc'd), reported with the
     * other copy's state once everything is known (report_copies) */
    char *orig_msg, *copy_msg;
    int orig_kind, copy_kind;
    uint64_t total_clen; /* sum of the header's record lengths */
    uint64_t total_ulen; /* sum of the header's plaintext lengths */
    uint64_t live;       /* recounted: clen of indexed records that snapshots reach */
    int64_t verified_ns;
};

struct chk {
    struct dr_repo *r;
    const struct dr_check_opts *o;
    struct dr_check_report *rep;
    /* A read transaction of the shared index: it blocks no writer. Ended while --read-data
     * reads packs (the long part), so that it does not pin pages that commits of other
     * processes free; the verification marks are written in short transactions of their own. */
    struct dr_index_txn *txn;
    struct dr_workset *ws; /* the walks' seen set and the recount (private, workset.h) */
    struct pack_sum *packs;
    size_t npacks, apacks;
    bool sorted;
    const struct dr_id *snap; /* snapshot being walked */
    char snaphex[9];
    struct dr_sorter *hdrs; /* the pack headers' entries, met with the index in id order */
    struct dr_tally *tally; /* the recount (refs.c), read in id order by dr_check_refs_cb */
    struct dr_id tally_id;  /* the tally's next id and sum, when tally_more is 1 */
    uint64_t tally_sum;
    int tally_more;
    bool recount_complete; /* no tree or snapshot failed to load: the counts compare */
    bool copies_expected;  /* DR_OBJ_TREE_COPIES exists: every tree pack must have its copy */
};

/* check.c: the report. */
DR_PRINTF(4, 5)
void dr_check_problem(struct dr_check_report *rep, int kind, const char *object, const char *fmt,
                      ...);
void dr_check_affected(struct dr_check_report *rep, const struct dr_id *snap, const char *path,
                       const char *object);
/* Notes that one copy of tree pack p is bad (the first reason wins). */
void dr_check_copy_bad(struct pack_sum *p, bool copy, int kind, const char *msg);
/* The pack's sums, or NULL; _get adds it when it is not there. */
struct pack_sum *dr_check_pack_find(struct chk *c, const struct dr_id *id);
struct pack_sum *dr_check_pack_get(struct chk *c, const struct dr_id *id);

static inline const char *hex(const struct dr_id *id, char buf[DR_ID_HEX_LEN + 1])
{
    return dr_id_hex(id, buf);
}

/* wal.c: the archived WAL of every cluster: gaps after the oldest base backup's end, and (with
 * read_data) every archived file opened and decoded. */
DR_MUST_CHECK int dr_check_wal(struct chk *c);

/* structure.c: config, key files, the layout of the repository, pack headers against the
 * index, and the two copies of tree packs. */
DR_MUST_CHECK int dr_check_config(struct chk *c);
DR_MUST_CHECK int dr_check_keys(struct chk *c);
int dr_check_layout_cb(void *arg, const char *name, uint64_t size);
int dr_check_index_pack_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *ip);
/* Reads every pack header into c->hdrs; dr_check_index_cb then meets them with the index in id
 * order (dr_index_blob_foreach), and _rest reports the entries beyond the index's last id and
 * closes c->hdrs. */
DR_MUST_CHECK int dr_check_headers(struct chk *c);
int dr_check_index_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b);
DR_MUST_CHECK int dr_check_headers_rest(struct chk *c);
void dr_check_note_copy_damage(struct chk *c);
void dr_check_report_copies(struct chk *c, bool recount_complete);

/* refs.c: the recount of references (pass 1), the walks of the snapshots that name the files
 * damage affects (pass 2), and the comparison of the recount with the index. */
struct snap_ids {
    struct dr_id *v;
    size_t n, alloc;
};

/* The workset's map holds, per tree the recount read and per blob and tree reported as
 * damaged (refs.c): */
struct work {
    uint8_t flags; /* W_* */
};
#define W_DAMAGED 1u  /* missing, unreadable or damaged: pass 2 names the paths using it */
#define W_REPORTED 2u /* reported already */
#define W_NAMED 4u    /* a tree read by the recount: what it names is in the tally */
/* Missing: all 0, and returns 0; else 1. */
DR_MUST_CHECK int dr_check_work_get(struct chk *c, const struct dr_id *id, struct work *w);
DR_MUST_CHECK int dr_check_work_set(struct chk *c, const struct dr_id *id, const struct work *w);
int dr_check_snap_list_cb(void *arg, const char *name, uint64_t size);
/* Pass 1: loads the snapshots and recounts the references into c->tally. */
DR_MUST_CHECK int dr_check_recount(struct chk *c, const struct snap_ids *ids);
/* Pass 2: names the paths that damaged blobs and trees affect. */
DR_MUST_CHECK int dr_check_walk_snapshots(struct chk *c, const struct snap_ids *ids);
/* Meets the recount with the index (in id order): reports referenced ids that the index lacks
 * and, with recount_complete, compares counts and sums live bytes per pack. _rest reports the
 * recount's ids beyond the index's last. */
int dr_check_refs_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b);
DR_MUST_CHECK int dr_check_refs_rest(struct chk *c);
int dr_check_live_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *ip);
int dr_check_damaged_pack_blobs_cb(void *arg, const struct dr_id *id,
                                   const struct dr_index_blob *b);

/* read_data.c: --read-data, every selected pack read and verified on worker threads. */
DR_MUST_CHECK int dr_check_read_data(struct chk *c);

#endif
