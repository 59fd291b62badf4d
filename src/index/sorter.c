/* sorter.c: records sorted by id in runs on a scratch file, merged in id order (sorter.h). */
#include "drrepo/sorter.h"

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

/* Buckets of the sort of a run: the first two bytes of an id. */
#define BUCKETS 65536u
/* A bucket larger than this is sorted with qsort, not by insertion. */
#define BUCKET_INSERTION_MAX 48

/* A record is the id's 32 bytes, then the payload, padded to 8 bytes. */
#define REC_ID sizeof(struct dr_id)

/* A run on the scratch file, [off, end), and its read buffer while merging. */
struct run {
    uint64_t off, end;
    uint8_t *buf;
    size_t len, pos, cap; /* in records */
};

struct dr_sorter {
    int fd;
    char *name;
    size_t payload, rsz, max; /* payload bytes, record bytes, records per run */
    dr_sorter_combine_fn combine;
    uint8_t *mem;    /* the run being gathered */
    uint8_t *sorted; /* the sort's output, then swapped with mem */
    uint32_t *start; /* BUCKETS + 1 bucket starts */
    size_t n;
    uint64_t file_len;
    struct run *runs;
    size_t nruns, aruns;
    size_t *heap; /* runs with records left, smallest head first */
    size_t nheap;
    size_t pos; /* reading mem directly (no run was written) */
    bool reading, failed;
};

static uint8_t *rec(const struct dr_sorter *s, uint8_t *base, size_t i)
{
    return base + i * s->rsz;
}

int dr_sorter_open(const char *dir, const char *what, size_t payload, dr_sorter_combine_fn combine,
                   struct dr_sorter **out)
{
    if (payload > DR_SORTER_PAYLOAD_MAX) {
        return dr_errorf(DR_EUSAGE, "a sorter's payload of %zu bytes is over %d", payload,
                         DR_SORTER_PAYLOAD_MAX);
    }
    struct dr_sorter *s = dr_xcalloc(1, sizeof(*s));
    s->fd = dr_fs_scratch(dir, what, &s->name);
    if (s->fd < 0) {
        int rc = s->fd;
        free(s);
        return rc;
    }
    s->payload = payload;
    s->rsz = (REC_ID + payload + 7) & ~(size_t)7;
    s->max = DR_SORTER_RUN_BYTES / s->rsz;
    s->combine = combine;
    s->mem = dr_xmalloc(s->max * s->rsz);
    s->sorted = dr_xmalloc(s->max * s->rsz);
    s->start = dr_xmalloc((BUCKETS + 1) * sizeof(*s->start));
    *out = s;
    return 0;
}

void dr_sorter_close(struct dr_sorter *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->nruns; i++) {
        free(s->runs[i].buf);
    }
    free(s->runs);
    free(s->heap);
    free(s->mem);
    free(s->sorted);
    free(s->start);
    close(s->fd);
    free(s->name);
    free(s);
}

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, REC_ID); /* dr_id_cmp's order: bytewise */
}

static unsigned bucket(const uint8_t *r)
{
    return (unsigned)r[0] << 8 | r[1];
}

/* Sorts mem by id. Ids are keyed hashes, spread evenly: a counting sort on their first two
 * bytes leaves a few records per bucket, which an insertion sort finishes (a profile of check
 * at 10^7 blobs spent 15% of its time in qsort here). A crowded bucket (ids that share their
 * first bytes, as in tests) gets qsort, so no input makes this quadratic. */
static void sort_records(struct dr_sorter *s)
{
    uint32_t *start = s->start;
    size_t rsz = s->rsz;
    memset(start, 0, (BUCKETS + 1) * sizeof(*start));
    for (size_t i = 0; i < s->n; i++) {
        start[bucket(rec(s, s->mem, i)) + 1]++;
    }
    for (unsigned b = 0; b < BUCKETS; b++) {
        start[b + 1] += start[b];
    }
    for (size_t i = 0; i < s->n; i++) {
        const uint8_t *r = rec(s, s->mem, i);
        memcpy(rec(s, s->sorted, start[bucket(r)]++), r, rsz);
    }
    /* start[b] is now the end of bucket b, so bucket b is [start[b - 1], start[b]) */
    uint8_t x[REC_ID + DR_SORTER_PAYLOAD_MAX + 8];
    for (unsigned b = 0; b < BUCKETS; b++) {
        size_t lo = b ? start[b - 1] : 0, hi = start[b];
        uint8_t *v = rec(s, s->sorted, lo);
        size_t n = hi - lo;
        if (n > BUCKET_INSERTION_MAX) {
            qsort(v, n, rsz, id_cmp);
            continue;
        }
        for (size_t i = 1; i < n; i++) {
            size_t j = i;
            if (id_cmp(v + (j - 1) * rsz, v + i * rsz) <= 0) {
                continue;
            }
            memcpy(x, v + i * rsz, rsz);
            while (j > 0 && id_cmp(v + (j - 1) * rsz, x) > 0) {
                j--;
            }
            memmove(v + (j + 1) * rsz, v + j * rsz, (i - j) * rsz);
            memcpy(v + j * rsz, x, rsz);
        }
    }
    uint8_t *m = s->mem;
    s->mem = s->sorted;
    s->sorted = m;
}

/* Sorts mem and, with a combine function, folds the records of equal ids. */
static void sort_mem(struct dr_sorter *s)
{
    sort_records(s);
    if (!s->combine) {
        return;
    }
    size_t u = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint8_t *r = rec(s, s->mem, i);
        uint8_t *last = u ? rec(s, s->mem, u - 1) : NULL;
        if (last && id_cmp(last, r) == 0) {
            s->combine(last + REC_ID, r + REC_ID);
        } else {
            if (u != i) {
                memcpy(rec(s, s->mem, u), r, s->rsz);
            }
            u++;
        }
    }
    s->n = u;
}

/* Writes mem as a run. */
static int spill(struct dr_sorter *s)
{
    sort_mem(s);
    size_t len = s->n * s->rsz;
    int rc = dr_fs_pwrite_full(s->fd, s->mem, len, s->file_len, s->name);
    if (rc < 0) {
        s->failed = true;
        return rc;
    }
    DR_GROW(s->runs, s->aruns, s->nruns + 1);
    s->runs[s->nruns++] = (struct run){.off = s->file_len, .end = s->file_len + len};
    s->file_len += len;
    s->n = 0;
    return 0;
}

int dr_sorter_add(struct dr_sorter *s, const struct dr_id *id, const void *payload)
{
    if (s->failed) {
        return dr_errorf(DR_EIO, "scratch file '%s': an earlier write failed", s->name);
    }
    if (s->reading) {
        return dr_errorf(DR_EUSAGE, "scratch file '%s': an addition after reading", s->name);
    }
    if (s->n == s->max) {
        int rc = spill(s);
        if (rc < 0) {
            return rc;
        }
    }
    uint8_t *r = rec(s, s->mem, s->n++);
    memcpy(r, id->b, REC_ID);
    memcpy(r + REC_ID, payload, s->payload);
    return 0;
}

/* Reads the next part of run r into its buffer: 1, or 0 when r is used up. */
static int refill(struct dr_sorter *s, struct run *r)
{
    if (r->off == r->end) {
        return 0;
    }
    size_t len = r->end - r->off < r->cap * s->rsz ? (size_t)(r->end - r->off) : r->cap * s->rsz;
    int rc = dr_fs_pread_full(s->fd, r->buf, len, r->off, s->name);
    if (rc < 0) {
        s->failed = true;
        return rc == DR_ECORRUPT ? DR_EIO : rc;
    }
    r->off += len;
    r->len = len / s->rsz;
    r->pos = 0;
    return 1;
}

static const uint8_t *head(const struct dr_sorter *s, size_t k)
{
    const struct run *r = &s->runs[s->heap[k]];
    return r->buf + r->pos * s->rsz;
}

static void sift_down(struct dr_sorter *s, size_t k)
{
    for (;;) {
        size_t l = 2 * k + 1, m = k;
        if (l < s->nheap && id_cmp(head(s, l), head(s, m)) < 0) {
            m = l;
        }
        if (l + 1 < s->nheap && id_cmp(head(s, l + 1), head(s, m)) < 0) {
            m = l + 1;
        }
        if (m == k) {
            return;
        }
        size_t x = s->heap[k];
        s->heap[k] = s->heap[m];
        s->heap[m] = x;
        k = m;
    }
}

/* Ends the adding: with no run written, mem is read as it is; else it becomes the last run
 * and every run gets a read buffer and a place in the heap. */
static int begin_reading(struct dr_sorter *s)
{
    s->reading = true;
    if (s->nruns == 0) {
        sort_mem(s);
        return 0;
    }
    int rc = s->n ? spill(s) : 0;
    if (rc < 0) {
        return rc;
    }
    free(s->mem);
    free(s->sorted);
    s->mem = s->sorted = NULL;
    size_t bytes = MERGE_BUDGET / s->nruns;
    bytes = bytes < RUN_BUF_MIN ? RUN_BUF_MIN : bytes > RUN_BUF_MAX ? RUN_BUF_MAX : bytes;
    s->heap = dr_xmalloc(s->nruns * sizeof(*s->heap));
    for (size_t i = 0; i < s->nruns; i++) {
        struct run *r = &s->runs[i];
        r->cap = bytes / s->rsz;
        r->buf = dr_xmalloc(r->cap * s->rsz);
        rc = refill(s, r);
        if (rc < 0) {
            return rc;
        }
        if (rc > 0) {
            s->heap[s->nheap++] = i;
        }
    }
    for (size_t k = s->nheap / 2; k-- > 0;) {
        sift_down(s, k);
    }
    return 0;
}

/* Takes the smallest head record off the heap into out (rsz bytes). */
static int pop(struct dr_sorter *s, uint8_t *out)
{
    struct run *r = &s->runs[s->heap[0]];
    memcpy(out, r->buf + r->pos++ * s->rsz, s->rsz);
    int rc = r->pos < r->len ? 1 : refill(s, r);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        s->heap[0] = s->heap[--s->nheap];
    }
    if (s->nheap) {
        sift_down(s, 0);
    }
    return 0;
}

/* The next record's bytes, or NULL after the last (*rc 0) or on an error (*rc < 0). */
static const uint8_t *front(struct dr_sorter *s, int *rc)
{
    *rc = 0;
    if (s->failed) {
        *rc = dr_errorf(DR_EIO, "scratch file '%s': an earlier read or write failed", s->name);
        return NULL;
    }
    if (!s->reading && (*rc = begin_reading(s)) < 0) {
        return NULL;
    }
    if (s->nruns == 0) {
        return s->pos < s->n ? rec(s, s->mem, s->pos) : NULL;
    }
    return s->nheap ? head(s, 0) : NULL;
}

int dr_sorter_peek(struct dr_sorter *s, struct dr_id *id)
{
    int rc;
    const uint8_t *r = front(s, &rc);
    if (r) {
        memcpy(id->b, r, REC_ID);
        return 1;
    }
    return rc;
}

int dr_sorter_next(struct dr_sorter *s, struct dr_id *id, void *payload)
{
    int rc;
    if (!front(s, &rc)) {
        return rc;
    }
    uint8_t r[REC_ID + DR_SORTER_PAYLOAD_MAX + 8];
    if (s->nruns == 0) {
        /* one run in memory: folded already when it was sorted */
        memcpy(r, rec(s, s->mem, s->pos++), s->rsz);
    } else {
        rc = pop(s, r);
        while (rc >= 0 && s->combine && s->nheap && id_cmp(head(s, 0), r) == 0) {
            uint8_t more[REC_ID + DR_SORTER_PAYLOAD_MAX + 8];
            rc = pop(s, more);
            if (rc >= 0) {
                s->combine(r + REC_ID, more + REC_ID);
            }
        }
        if (rc < 0) {
            return rc;
        }
    }
    memcpy(id->b, r, REC_ID);
    memcpy(payload, r + REC_ID, s->payload);
    return 1;
}
