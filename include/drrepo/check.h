/* check.h: integrity checks (`drrepo check`) and the report they produce.
 *
 * The structure check reads no blob data: snapshot objects, trees, pack headers, the index and
 * its reference counts. With read_data, packs are read front to back in a bounded window
 * (each pack's hash against its name) and every blob authenticated, decompressed and
 * re-hashed; a failure is re-read once to tell transient from persistent. The report names
 * damaged objects and, for each, the snapshots and paths it affects. */
#ifndef DR_CHECK_H
#define DR_CHECK_H

#include "drrepo/progress.h"
#include "drrepo/repo.h"

enum dr_problem_kind {
    DR_PROB_INDEX = 1,    /* the local index is corrupt or disagrees with the repository */
    DR_PROB_KEYFILE,      /* a copy of a key file is missing or damaged, or does not parse */
    DR_PROB_SNAPSHOT,     /* a snapshot object cannot be read */
    DR_PROB_TREE,         /* a tree blob cannot be read */
    DR_PROB_BLOB_MISSING, /* a blob a tree references is not in any pack */
    DR_PROB_PACK_MISSING, /* a pack the index names does not exist */
    DR_PROB_PACK_SIZE,    /* a pack's size differs from the index's */
    DR_PROB_PACK_HEADER,  /* a pack's header or trailer cannot be read */
    DR_PROB_PACK_HASH,    /* a pack's content does not match its name */
    DR_PROB_BLOB_DAMAGED, /* a blob fails authentication, decompression or its id */
    DR_PROB_REFCOUNT,     /* reference counts or live/dead bytes disagree with a recount */
    DR_PROB_UNKNOWN_FILE, /* a file that is not part of the repository layout (warning) */
    DR_PROB_TRANSIENT,    /* a read failed once and succeeded on re-read (warning) */
    DR_PROB_CONFIG,       /* a copy of the config is missing, damaged or differs */
    DR_PROB_WAL,          /* archived WAL: a segment missing (a gap) or damaged */
};

struct dr_problem {
    int kind;
    bool warning; /* reported, but not damage */
    char *object; /* "pack 'data/ab/…'", "blob <hex>", "snapshot <hex>", "keys/<hex>", "config" */
    char *message;
};

struct dr_affected {
    struct dr_id snapshot;
    char *path;
    char *object;
};

struct dr_check_stats {
    uint64_t snapshots, trees, blobs, packs, keys;
    uint64_t packs_read, bytes_read;
    uint64_t gets, bytes_fetched; /* --read-data's backend gets and the bytes they returned */
    uint64_t unreferenced_packs, unreferenced_blobs, unreferenced_bytes;
    int64_t duration_ns;
};

struct dr_check_report {
    struct dr_problem *problems;
    size_t nproblems, aproblems;
    size_t ndamage; /* problems that are not warnings */
    struct dr_affected *affected;
    size_t naffected, aaffected;
    uint64_t affected_dropped; /* beyond DR_CHECK_AFFECTED_MAX */
    struct dr_check_stats st;
};

#define DR_CHECK_AFFECTED_MAX 10000u
#define DR_CHECK_WORKERS_MAX 16

enum dr_subset {
    DR_SUBSET_ALL,
    DR_SUBSET_PART,    /* part n of m: packs whose id maps to n (1-based) */
    DR_SUBSET_PERCENT, /* a random sample of that percentage of packs */
    DR_SUBSET_SIZE,    /* packs (least recently verified first) up to that many bytes */
};

struct dr_check_opts {
    bool read_data;
    enum dr_subset subset;
    uint32_t part_n, part_m;
    double percent;
    uint64_t size;
    int64_t max_age_ns;      /* > 0: read only packs not verified within this age */
    uint64_t seed;           /* for the random sample */
    unsigned workers;        /* packs verified at once; 0: the read engine's default (one per
                                core, --read-concurrency); at most
                                DR_CHECK_WORKERS_MAX */
    size_t window;           /* bytes a worker reads with one get; 0: DR_PACK_VERIFY_WINDOW */
    dr_progress_cb progress; /* bytes_read / bytes_total of the packs being read */
    void *progress_arg;
};

/* Parses "N/M", "P%" or a size ("5G") for --read-data-subset. DR_EUSAGE on anything else. */
DR_MUST_CHECK int dr_check_parse_subset(const char *s, struct dr_check_opts *o);

/* Runs the checks; the report is filled even when damage is found. Returns 0 (possibly with
 * damage in the report) or an error that stopped the check (DR_EIO, index errors, DR_EINTR when
 * a signal arrived: checked between packs and snapshots). */
DR_MUST_CHECK int dr_check_run(struct dr_repo *r, const struct dr_check_opts *o,
                               struct dr_check_report *out);
void dr_check_report_release(struct dr_check_report *rep);

#endif
