/* tally.c: counts per id in sorted runs on a scratch file, merged in id order (tally.h). */
#include "drrepo/tally.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"

/* Bytes of read buffers shared by the runs while merging, and the bounds of one run's. */
#define MERGE_BUDGET ((size_t)8 << 20)
#define RUN_BUF_MIN ((size_t)4 << 10)
#define RUN_BUF_MAX ((size_t)1 << 20)

struct rec {
    struct dr_id id;
    uint64_t n;
};

/* A run on the scratch file, [off, end), and its read buffer while merging. */
struct run {
    uint64_t off, end;
    struct rec *buf;
    size_t len, pos, cap;
};

/* Buckets of the sort of a run: the first two bytes of an id. */
#define BUCKETS 65536u
/* A bucket larger than this is sorted with qsort, not by insertion. */
#define BUCKET_INSERTION_MAX 48

struct dr_tally {
    int fd;
    char *name;
    struct rec *mem;    /* the run being gathered */
    struct rec *sorted; /* the sort's output, then swapped with mem */
    uint32_t *start;    /* BUCKETS + 1 bucket starts */
    size_t n;
    uint64_t file_len;
    struct run *runs;
    size_t nruns, aruns;
    size_t *heap; /* runs with records left, smallest head first */
    size_t nheap;
    size_t pos; /* reading mem directly (no run was written) */
    bool reading, failed;
};

int dr_tally_open(const char *dir, struct dr_tally **out)
{
    struct dr_tally *t = dr_xcalloc(1, sizeof(*t));
    t->fd = dr_fs_scratch(dir, "tally", &t->name);
    if (t->fd < 0) {
        int rc = t->fd;
        free(t);
        return rc;
    }
    t->mem = dr_xmalloc(DR_TALLY_RUN * sizeof(*t->mem));
    t->sorted = dr_xmalloc(DR_TALLY_RUN * sizeof(*t->sorted));
    t->start = dr_xmalloc((BUCKETS + 1) * sizeof(*t->start));
    *out = t;
    return 0;
}

void dr_tally_close(struct dr_tally *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < t->nruns; i++) {
        free(t->runs[i].buf);
    }
    free(t->runs);
    free(t->heap);
    free(t->mem);
    free(t->sorted);
    free(t->start);
    close(t->fd);
    free(t->name);
    free(t);
}

static int rec_cmp(const void *a, const void *b)
{
    return dr_id_cmp(&((const struct rec *)a)->id, &((const struct rec *)b)->id);
}

static unsigned bucket(const struct rec *r)
{
    return (unsigned)r->id.b[0] << 8 | r->id.b[1];
}

/* Sorts mem by id. Ids are keyed hashes, spread evenly: a counting sort on their first two
 * bytes leaves a few records per bucket, which an insertion sort finishes (a profile of check
 * at 10^7 blobs spent 15% of its time in qsort here). A crowded bucket (ids that share their
 * first bytes, as in tests) gets qsort, so no input makes this quadratic. */
static void sort_records(struct dr_tally *t)
{
    uint32_t *start = t->start;
    memset(start, 0, (BUCKETS + 1) * sizeof(*start));
    for (size_t i = 0; i < t->n; i++) {
        start[bucket(&t->mem[i]) + 1]++;
    }
    for (unsigned b = 0; b < BUCKETS; b++) {
        start[b + 1] += start[b];
    }
    for (size_t i = 0; i < t->n; i++) {
        t->sorted[start[bucket(&t->mem[i])]++] = t->mem[i];
    }
    /* start[b] is now the end of bucket b, so bucket b is [start[b - 1], start[b]) */
    for (unsigned b = 0; b < BUCKETS; b++) {
        size_t lo = b ? start[b - 1] : 0, hi = start[b];
        struct rec *v = t->sorted + lo;
        size_t n = hi - lo;
        if (n > BUCKET_INSERTION_MAX) {
            qsort(v, n, sizeof(*v), rec_cmp);
            continue;
        }
        for (size_t i = 1; i < n; i++) {
            struct rec x = v[i];
            size_t j = i;
            while (j > 0 && dr_id_cmp(&v[j - 1].id, &x.id) > 0) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
    }
    struct rec *m = t->mem;
    t->mem = t->sorted;
    t->sorted = m;
}

/* Sorts mem and sums the records of equal ids. */
static void sort_mem(struct dr_tally *t)
{
    sort_records(t);
    size_t u = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (u > 0 && dr_id_eq(&t->mem[u - 1].id, &t->mem[i].id)) {
            t->mem[u - 1].n += t->mem[i].n;
        } else {
            t->mem[u++] = t->mem[i];
        }
    }
    t->n = u;
}

/* Writes mem as a run. */
static int spill(struct dr_tally *t)
{
    sort_mem(t);
    size_t len = t->n * sizeof(*t->mem);
    int rc = dr_fs_pwrite_full(t->fd, t->mem, len, t->file_len, t->name);
    if (rc < 0) {
        t->failed = true;
        return rc;
    }
    DR_GROW(t->runs, t->aruns, t->nruns + 1);
    t->runs[t->nruns++] = (struct run){.off = t->file_len, .end = t->file_len + len};
    t->file_len += len;
    t->n = 0;
    return 0;
}

int dr_tally_add(struct dr_tally *t, const struct dr_id *id, uint64_t n)
{
    if (t->failed) {
        return dr_errorf(DR_EIO, "scratch file '%s': an earlier write failed", t->name);
    }
    if (t->reading) {
        return dr_errorf(DR_EUSAGE, "scratch file '%s': an addition after reading", t->name);
    }
    if (t->n == DR_TALLY_RUN) {
        int rc = spill(t);
        if (rc < 0) {
            return rc;
        }
    }
    t->mem[t->n++] = (struct rec){.id = *id, .n = n};
    return 0;
}

/* Reads the next part of run r into its buffer: 1, or 0 when r is used up. */
static int refill(struct dr_tally *t, struct run *r)
{
    if (r->off == r->end) {
        return 0;
    }
    size_t len = r->end - r->off < r->cap * sizeof(*r->buf) ? (size_t)(r->end - r->off)
                                                            : r->cap * sizeof(*r->buf);
    int rc = dr_fs_pread_full(t->fd, r->buf, len, r->off, t->name);
    if (rc < 0) {
        t->failed = true;
        return rc == DR_ECORRUPT ? DR_EIO : rc;
    }
    r->off += len;
    r->len = len / sizeof(*r->buf);
    r->pos = 0;
    return 1;
}

static const struct dr_id *head(const struct dr_tally *t, size_t k)
{
    const struct run *r = &t->runs[t->heap[k]];
    return &r->buf[r->pos].id;
}

static void sift_down(struct dr_tally *t, size_t k)
{
    for (;;) {
        size_t l = 2 * k + 1, m = k;
        if (l < t->nheap && dr_id_cmp(head(t, l), head(t, m)) < 0) {
            m = l;
        }
        if (l + 1 < t->nheap && dr_id_cmp(head(t, l + 1), head(t, m)) < 0) {
            m = l + 1;
        }
        if (m == k) {
            return;
        }
        size_t x = t->heap[k];
        t->heap[k] = t->heap[m];
        t->heap[m] = x;
        k = m;
    }
}

/* Ends the adding: with no run written, mem is read as it is; else it becomes the last run
 * and every run gets a read buffer and a place in the heap. */
static int begin_reading(struct dr_tally *t)
{
    t->reading = true;
    if (t->nruns == 0) {
        sort_mem(t);
        return 0;
    }
    int rc = t->n ? spill(t) : 0;
    if (rc < 0) {
        return rc;
    }
    free(t->mem);
    free(t->sorted);
    t->mem = t->sorted = NULL;
    size_t bytes = MERGE_BUDGET / t->nruns;
    bytes = bytes < RUN_BUF_MIN ? RUN_BUF_MIN : bytes > RUN_BUF_MAX ? RUN_BUF_MAX : bytes;
    t->heap = dr_xmalloc(t->nruns * sizeof(*t->heap));
    for (size_t i = 0; i < t->nruns; i++) {
        struct run *r = &t->runs[i];
        r->cap = bytes / sizeof(*r->buf);
        r->buf = dr_xmalloc(r->cap * sizeof(*r->buf));
        rc = refill(t, r);
        if (rc < 0) {
            return rc;
        }
        if (rc > 0) {
            t->heap[t->nheap++] = i;
        }
    }
    for (size_t k = t->nheap / 2; k-- > 0;) {
        sift_down(t, k);
    }
    return 0;
}

/* Takes the smallest head record off the heap into *out. */
static int pop(struct dr_tally *t, struct rec *out)
{
    struct run *r = &t->runs[t->heap[0]];
    *out = r->buf[r->pos++];
    int rc = r->pos < r->len ? 1 : refill(t, r);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        t->heap[0] = t->heap[--t->nheap];
    }
    if (t->nheap) {
        sift_down(t, 0);
    }
    return 0;
}

int dr_tally_next(struct dr_tally *t, struct dr_id *id, uint64_t *sum)
{
    if (t->failed) {
        return dr_errorf(DR_EIO, "scratch file '%s': an earlier read or write failed", t->name);
    }
    if (!t->reading) {
        int rc = begin_reading(t);
        if (rc < 0) {
            return rc;
        }
    }
    if (t->nruns == 0) {
        if (t->pos == t->n) {
            return 0;
        }
        *id = t->mem[t->pos].id;
        *sum = t->mem[t->pos++].n;
        return 1;
    }
    if (t->nheap == 0) {
        return 0;
    }
    struct rec r;
    int rc = pop(t, &r);
    while (rc >= 0 && t->nheap && dr_id_eq(head(t, 0), &r.id)) {
        struct rec more;
        rc = pop(t, &more);
        r.n += more.n;
    }
    if (rc < 0) {
        return rc;
    }
    *id = r.id;
    *sum = r.n;
    return 1;
}
