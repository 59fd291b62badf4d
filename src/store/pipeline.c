/* pipeline.c: the write pipeline (see pipeline.h).
 *
 * Jobs live in a ring of RING_SLOTS slots, with a budget of bytes in flight. The submitting
 * thread fills slots in order; worker threads take them in order, hash the plaintext, ask the
 * index whether the blob is already stored (if so they skip the expensive part), and otherwise
 * compress and seal it. The submitting thread retires slots strictly in submission order: it
 * makes the final dedup decision (the open packs, then the index) and appends the record to a
 * pack. Pack assembly stays on one thread.
 *
 * Work that needs ids (a directory's tree, a files-cache record) is queued with
 * dr_pipeline_then and runs on the submitting thread right after the retirement that gives the
 * last blob before it its id, so the caller never stops to wait for the workers at the end of a
 * directory: that drain left them idle while the next directory was opened and read.
 *
 * Chunk-size privacy (docs/SECURITY.md): DATA_PACKS data packs are open at once and each new
 * data record goes to one of them chosen by the CSPRNG, as restic 0.18 does. Whoever holds the
 * repository sees record sizes only through pack sizes and the order of records in a pack;
 * with the records of consecutive chunks scattered at random over two packs, a pack no longer
 * lists a file's chunk sizes in order, which is what the published attacks on keyed chunkers
 * fingerprint. The price is that the same input no longer produces the same packs. At a flush
 * the open data packs are merged into one when together they fit the target size, so a small
 * snapshot still writes one data pack, not two half-empty ones.
 *
 * A full pack is handed to an upload thread, which names it (BLAKE2b of its bytes), writes it
 * durably and indexes it while the pipeline goes on with a fresh pack: naming alone costs as
 * much CPU as hashing the blobs. At most MAX_UPLOADS packs are in flight; until the submitting
 * thread has seen an upload finish (and renewed its view of the index), the dedup decision
 * also looks into the in-flight packs.
 *
 * Memory is reused, not allocated per blob or per pack: a blob's data may be a slice of the
 * caller's buffer (dr_pipeline_put_data_ref), each ring slot keeps its record buffer
 * (a worker compresses and seals into it in place), and the writers of uploaded data packs
 * come back to a pool with their buffers. Wake-ups are targeted: a finished job wakes the
 * submitting thread only when it is the job that thread waits for, and a submission wakes a
 * worker only when one is idle. */
#include "drrepo/pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/chunklist.h"
#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/format.h"
#include "drrepo/interrupt.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/secure.h"
#include "drrepo/workset.h"
#include "store_int.h"

#define MAX_WORKERS 16
/* Ring slots: enough for many small files' blobs in flight, so that the workers do not run dry
 * between two wake-ups of the submitting thread; the bytes in flight are bounded separately. */
#define RING_SLOTS 64
#define MAX_UPLOADS 2
/* Writers of uploaded data packs kept for the next packs (their buffers are pack-sized). */
#define MAX_SPARE_WRITERS 2
/* Data packs open at once, each new record going to one at random (at least two). */
#define DATA_PACKS 2

struct upload {
    struct dr_pack_writer *pw;
    uint8_t type;
    bool started, done;
    int rc;
    struct dr_error_saved err; /* the upload's failure, saved on the uploader thread */
};

/* A ring slot. Only data, len, out_id and the results change from one use to the next; rec
 * keeps its memory. */
struct job {
    const uint8_t *data;
    void (*release)(void *arg); /* called with release_arg when the slot is cleared */
    void *release_arg;
    size_t len;
    struct dr_id id;
    struct dr_id *out_id;
    struct dr_buf rec;
    size_t kept; /* rec's memory counted in the pipeline's kept (submitter only) */
    bool known;  /* the worker found it in the index: nothing to write */
    bool done;
    int rc;
    struct dr_error_saved err; /* the encoding's failure, saved on the worker thread */
};

/* A dr_pipeline_then waiting for the blobs submitted before it (seq: the tail then). */
struct then {
    uint64_t seq;
    int (*fn)(void *arg);
    void (*release)(void *arg);
    void *arg;
};

struct dr_pipeline {
    struct dr_repo *r;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    struct job *ring;
    size_t nring;
    uint64_t inflight, budget; /* plaintext bytes of the blobs in the ring; its bound */
    size_t kept, keep_max;     /* record memory the slots keep for reuse; its bound */
    size_t head, take, tail;   /* retire <= take <= tail */
    bool stop;
    bool retire_waiting; /* the submitting thread waits on cv_done for ring[head] */
    int idle;            /* workers waiting on cv_work */
    int nworkers;
    pthread_t threads[MAX_WORKERS];
    struct dr_pack_writer *dpw[DATA_PACKS];          /* open data packs */
    struct dr_pack_writer *tpw;                      /* open tree pack */
    struct dr_pack_writer *spare[MAX_SPARE_WRITERS]; /* data writers to reuse (submitter only) */
    size_t nspare;
    struct upload up[MAX_UPLOADS]; /* in flight, oldest first; only the submitter reorders */
    size_t nup;
    pthread_t uploader;
    bool uploader_started;
    pthread_cond_t cv_up;      /* upload queued or finished (under mu) */
    struct dr_index_txn *rtxn; /* the submitting thread's view of the index */
    struct dr_compressor *z;   /* the submitting thread's, for trees */
    struct dr_buf nowrec;
    struct then *thens; /* pending, in call order: a queue over [then_head, nthens) */
    size_t then_head, nthens, athens;
    bool in_then; /* a then's fn is running: no other starts from inside it */
    struct dr_pipeline_stats st;
    int failed;
    /* dry run (dr_pipeline_open_dry_run): the ids of the records that would have been added;
     * they go into no pack, and this set stands in for the packs in the dedup decision */
    struct dr_workset *dry;
};

static void *uploader_main(void *arg);

static void *worker_main(void *arg)
{
    struct dr_pipeline *w = arg;
    struct dr_compressor *z = dr_compressor_new(w->r->config.zstd_level);
    struct dr_index_txn *txn = NULL;
    if (dr_index_begin(w->r->index, false, &txn) < 0) {
        txn = NULL; /* lookups are an optimisation here; the retire step decides */
        dr_error_clear();
    }
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->take == w->tail && !w->stop) {
            w->idle++;
            pthread_cond_wait(&w->cv_work, &w->mu);
            w->idle--;
        }
        if (w->take == w->tail) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        size_t seq = w->take++;
        struct job *j = &w->ring[seq % w->nring];
        pthread_mutex_unlock(&w->mu);

        dr_crypto_blob_id(w->r->keys, j->data, j->len, &j->id);
        struct dr_index_blob b;
        if (txn && dr_index_renew(txn) >= 0 && dr_index_blob_get(txn, &j->id, &b) == 0 &&
            b.type == DR_BLOB_DATA) {
            j->known = true;
        } else {
            dr_error_clear();
            j->rc = dr_blob_encode(w->r->keys, z, DR_BLOB_DATA, &j->id, j->data, j->len, &j->rec);
            if (j->rc < 0) {
                dr_error_save(&j->err, j->rc);
            }
        }
        pthread_mutex_lock(&w->mu);
        j->done = true;
        if (w->retire_waiting && seq == w->head) {
            pthread_cond_signal(&w->cv_done); /* the submitting thread is the only waiter */
        }
        pthread_mutex_unlock(&w->mu);
    }
    dr_index_abort(txn);
    dr_compressor_free(z);
    return NULL;
}

/* A data pack's bytes are reserved up front (a pack closes at the first record that takes it
 * to pack_size, so it holds at most pack_size plus one largest chunk and its header): growing
 * by steps would copy the bytes at every step. Only address space until written. */
static struct dr_pack_writer *new_data_writer(struct dr_pipeline *w)
{
    if (w->nspare) {
        struct dr_pack_writer *pw = w->spare[--w->nspare];
        dr_pack_writer_reset(pw);
        return pw;
    }
    struct dr_pack_writer *pw =
        dr_pack_writer_new_version(w->r->keys, DR_BLOB_DATA, dr_repo_pack_version(w->r));
    dr_pack_writer_reserve(pw, (size_t)w->r->config.pack_size + w->r->config.chunker.max +
                                   DR_AEAD_OVERHEAD + 1 + 64 * 1024);
    return pw;
}

/* Keeps an uploaded data pack's writer for a later pack, or frees it. */
static void writer_done(struct dr_pipeline *w, struct dr_pack_writer *pw, uint8_t type)
{
    if (type == DR_BLOB_DATA && w->nspare < MAX_SPARE_WRITERS) {
        w->spare[w->nspare++] = pw;
    } else {
        dr_pack_writer_free(pw);
    }
}

int dr_pipeline_open(struct dr_repo *r, struct dr_pipeline **out)
{
    struct dr_pipeline *w = dr_xcalloc(1, sizeof(*w));
    w->r = r;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    w->nworkers = ncpu < 1 ? 1 : ncpu > MAX_WORKERS ? MAX_WORKERS : (int)ncpu;
    w->nring = RING_SLOTS;
    /* as many average chunks in flight as a slot per worker and then some: what kept two
     * workers busy when the ring had that many slots; kept record memory twice that */
    w->budget = (uint64_t)(w->nworkers * 2 + 4) * r->config.chunker.avg;
    w->keep_max = (size_t)w->budget * 2;
    w->ring = dr_xcalloc(w->nring, sizeof(*w->ring));
    for (size_t i = 0; i < w->nring; i++) {
        dr_buf_init(&w->ring[i].rec, DR_BLOB_RECORD_MAX);
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv_work, NULL);
    pthread_cond_init(&w->cv_done, NULL);
    pthread_cond_init(&w->cv_up, NULL);
    for (int i = 0; i < DATA_PACKS; i++) {
        w->dpw[i] = new_data_writer(w);
    }
    w->tpw = dr_pack_writer_new_version(r->keys, DR_BLOB_TREE, dr_repo_pack_version(r));
    w->z = dr_compressor_new(r->config.zstd_level);
    dr_buf_init(&w->nowrec, DR_BLOB_RECORD_MAX);
    int rc = dr_index_begin(r->index, false, &w->rtxn);
    if (rc < 0) {
        dr_pipeline_free(w);
        return rc;
    }
    for (int i = 0; i < w->nworkers; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
            w->nworkers = i;
            dr_pipeline_free(w);
            return dr_errorf(DR_EINTERNAL, "cannot start worker threads");
        }
    }
    if (pthread_create(&w->uploader, NULL, uploader_main, w) != 0) {
        dr_pipeline_free(w);
        return dr_errorf(DR_EINTERNAL, "cannot start the upload thread");
    }
    w->uploader_started = true;
    *out = w;
    return 0;
}

int dr_pipeline_open_dry_run(struct dr_repo *r, struct dr_pipeline **out)
{
    int rc = dr_pipeline_open(r, out);
    if (rc >= 0) {
        rc = dr_repo_workset_open(r, &(*out)->dry);
    }
    if (rc < 0) {
        dr_pipeline_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Empties a retired or abandoned slot for its next use (submitting thread). Its record buffer
 * is kept for reuse while the slots' kept memory stays under keep_max: a slot that once sealed
 * a chunk of the largest size would otherwise hold that much for the rest of the run, times
 * the slots. */
static void job_clear(struct dr_pipeline *w, struct job *j)
{
    if (j->release) {
        j->release(j->release_arg);
    }
    j->release = NULL;
    j->release_arg = NULL;
    j->data = NULL;
    w->kept -= j->kept;
    if (w->kept + j->rec.alloc > w->keep_max) {
        dr_buf_release(&j->rec);
        dr_buf_init(&j->rec, DR_BLOB_RECORD_MAX);
    }
    j->kept = j->rec.alloc;
    w->kept += j->kept;
    dr_buf_reset(&j->rec);
    dr_error_saved_release(&j->err);
    j->known = j->done = false;
    j->rc = 0;
}

void dr_pipeline_free(struct dr_pipeline *w)
{
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv_work);
    pthread_cond_broadcast(&w->cv_up);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nworkers; i++) {
        pthread_join(w->threads[i], NULL);
    }
    if (w->uploader_started) {
        pthread_join(w->uploader, NULL); /* finishes the queued uploads first */
    }
    for (size_t i = 0; i < w->nup; i++) {
        dr_error_saved_release(&w->up[i].err);
        dr_pack_writer_free(w->up[i].pw);
    }
    for (size_t i = 0; i < w->nring; i++) {
        job_clear(w, &w->ring[i]);
        dr_buf_release(&w->ring[i].rec);
    }
    free(w->ring);
    for (size_t i = w->then_head; i < w->nthens; i++) {
        w->thens[i].release(w->thens[i].arg);
    }
    free(w->thens);
    for (size_t i = 0; i < w->nspare; i++) {
        dr_pack_writer_free(w->spare[i]);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv_work);
    pthread_cond_destroy(&w->cv_done);
    pthread_cond_destroy(&w->cv_up);
    for (int i = 0; i < DATA_PACKS; i++) {
        dr_pack_writer_free(w->dpw[i]);
    }
    dr_pack_writer_free(w->tpw);
    dr_index_abort(w->rtxn);
    dr_compressor_free(w->z);
    dr_buf_release(&w->nowrec);
    dr_workset_close(w->dry);
    free(w);
}

static int fail(struct dr_pipeline *w, int rc)
{
    if (!w->failed) {
        w->failed = rc;
    }
    return rc;
}

/* Writes a full pack durably, then indexes it (on the upload thread). A crash between the two
 * leaves a pack that the next open indexes from its header. */
static int upload_pack(struct dr_repo *r, struct dr_pack_writer *pw, uint8_t type)
{
    struct dr_id pid;
    size_t len;
    int rc = dr_repo_store_pack(r, pw, type, "writer.before_pack_put", "writer.after_pack_put",
                                &pid, &len);
    if (rc < 0) {
        return rc;
    }
    size_t n;
    const struct dr_pack_entry *e = dr_pack_writer_entries(pw, &n);
    struct dr_index_txn *txn;
    rc = dr_index_begin(r->index, true, &txn);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_pack_add(txn, &pid, type, len, e, n);
    if (rc < 0) {
        dr_index_abort(txn);
        return rc;
    }
    return dr_index_commit(txn);
}

static void *uploader_main(void *arg)
{
    struct dr_pipeline *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct upload *u = NULL;
        for (size_t i = 0; i < w->nup && !u; i++) {
            if (!w->up[i].started) {
                u = &w->up[i];
            }
        }
        if (!u) {
            if (w->stop) {
                break;
            }
            pthread_cond_wait(&w->cv_up, &w->mu);
            continue;
        }
        u->started = true;
        struct dr_pack_writer *pw = u->pw;
        uint8_t type = u->type;
        pthread_mutex_unlock(&w->mu);
        int rc = upload_pack(w->r, pw, type);
        struct dr_error_saved err = {0};
        if (rc < 0) {
            dr_error_save(&err, rc);
        }
        pthread_mutex_lock(&w->mu);
        /* the slot may have moved (reaping compacts the array): find it by its writer */
        for (size_t i = 0; i < w->nup; i++) {
            if (w->up[i].pw == pw) {
                w->up[i].rc = rc;
                w->up[i].err = err;
                w->up[i].done = true;
            }
        }
        pthread_cond_broadcast(&w->cv_up);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Takes finished uploads off the list (submitting thread): their blobs are in the index now,
 * so the view of the index is renewed before their writers are forgotten. Waits for at least
 * one when wait_one, for all when wait_all. */
static int reap_uploads(struct dr_pipeline *w, bool wait_one, bool wait_all)
{
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        bool any_done = false;
        for (size_t i = 0; i < w->nup; i++) {
            any_done = any_done || w->up[i].done;
        }
        bool all_done = true;
        for (size_t i = 0; i < w->nup; i++) {
            all_done = all_done && w->up[i].done;
        }
        if ((wait_all && !all_done) || (wait_one && !any_done && w->nup)) {
            pthread_cond_wait(&w->cv_up, &w->mu);
            continue;
        }
        if (!any_done) {
            break;
        }
        pthread_mutex_unlock(&w->mu);
        int rrc = dr_index_renew(w->rtxn);
        pthread_mutex_lock(&w->mu);
        size_t k = 0;
        for (size_t i = 0; i < w->nup; i++) {
            struct upload *u = &w->up[i];
            if (!u->done) {
                w->up[k++] = *u;
                continue;
            }
            if (u->rc < 0 && rc >= 0) {
                rc = dr_error_restore(&u->err);
            } else if (u->rc >= 0) {
                w->st.packs_written++;
            }
            dr_error_saved_release(&u->err);
            writer_done(w, u->pw, u->type);
        }
        w->nup = k;
        if (rrc < 0 && rc >= 0) {
            rc = rrc;
        }
        break;
    }
    pthread_mutex_unlock(&w->mu);
    return rc < 0 ? fail(w, rc) : 0;
}

/* Hands the open pack in *slot (of type) to the upload thread and opens a fresh one there. */
static int write_pack(struct dr_pipeline *w, struct dr_pack_writer **slot, uint8_t type)
{
    if (dr_pack_writer_count(*slot) == 0) {
        return 0;
    }
    int rc = reap_uploads(w, w->nup >= MAX_UPLOADS, false);
    if (rc < 0) {
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    w->up[w->nup++] = (struct upload){.pw = *slot, .type = type};
    pthread_cond_broadcast(&w->cv_up);
    pthread_mutex_unlock(&w->mu);
    *slot = type == DR_BLOB_DATA
                ? new_data_writer(w)
                : dr_pack_writer_new_version(w->r->keys, type, dr_repo_pack_version(w->r));
    return 0;
}

/* Writes every open data pack. Open packs that together fit the target size are merged into
 * one first (the records are copied, which costs little next to sealing them): the packs left
 * open at a flush are the partial ones, and writing each on its own would double the number of
 * small packs a snapshot leaves. */
static int write_data_packs(struct dr_pipeline *w)
{
    for (int i = 1; i < DATA_PACKS; i++) {
        struct dr_pack_writer *dst = w->dpw[0], *src = w->dpw[i];
        if (dr_pack_writer_count(src) == 0 || dr_pack_writer_count(dst) == 0 ||
            dr_pack_writer_size(dst) + dr_pack_writer_size(src) > w->r->config.pack_size) {
            continue;
        }
        int rc = dr_pack_writer_append(dst, src);
        if (rc < 0) {
            return fail(w, rc);
        }
        dr_pack_writer_reset(src);
    }
    for (int i = 0; i < DATA_PACKS; i++) {
        int rc = write_pack(w, &w->dpw[i], DR_BLOB_DATA);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* The final dedup decision, on the submitting thread: the open packs, then the index. */
static bool already_stored(struct dr_pipeline *w, uint8_t type, const struct dr_id *id)
{
    if (type == DR_BLOB_TREE) {
        if (dr_pack_writer_has(w->tpw, id)) {
            return true;
        }
    } else {
        for (int i = 0; i < DATA_PACKS; i++) {
            if (dr_pack_writer_has(w->dpw[i], id)) {
                return true;
            }
        }
    }
    /* in-flight packs: only this thread changes the list, and has() reads what finish() does
     * not write, so no lock is needed to look */
    for (size_t i = 0; i < w->nup; i++) {
        if (w->up[i].type == type && dr_pack_writer_has(w->up[i].pw, id)) {
            return true;
        }
    }
    struct dr_index_blob b;
    if (dr_index_blob_get(w->rtxn, id, &b) == 0) {
        return true;
    }
    dr_error_clear();
    /* a dry run's would-be records (an error here counts the blob again: a count, not data) */
    if (w->dry && dr_workset_set_has(w->dry, id) == 1) {
        return true;
    }
    dr_error_clear();
    return false;
}

/* Whether pack pw is written before a record of reclen bytes goes in. Padding (format/pack.md)
 * rounds a pack of [2^k, 2^(k+1)) bytes up to a multiple of 2^(k - floor(log2 k) - 1): steps of
 * 256 KiB below 16 MiB, 512 KiB from 16 MiB on. A pack written once it has passed the target
 * lands just over it, in the coarser steps; one written before a record would take it past the
 * target stays under it, in the finer steps (and, the target being a power of two by default,
 * padded at most to the target): half the padding, measured with bench/pack-padding.py. A pack
 * under half the target takes the record all the same, so that large records do not leave
 * small packs behind. */
static bool closes_before(struct dr_pipeline *w, const struct dr_pack_writer *pw, size_t reclen)
{
    uint64_t target = w->r->config.pack_size;
    return dr_pack_writer_count(pw) > 0 && dr_pack_writer_size_with(pw, reclen) > target &&
           dr_pack_writer_size(pw) >= target / 2;
}

static int add_record(struct dr_pipeline *w, uint8_t type, const struct dr_id *id,
                      const struct dr_buf *rec, size_t ulen)
{
    if (w->dry) {
        /* counted as written, with the size of its sealed record, and put nowhere */
        int rc = dr_workset_set_add(w->dry, id);
        if (rc < 0) {
            return fail(w, rc);
        }
        w->st.blobs_added++;
        w->st.bytes_added += rec->len;
        return 0;
    }
    struct dr_pack_writer **slot =
        type == DR_BLOB_TREE ? &w->tpw : &w->dpw[dr_random_uniform(DATA_PACKS)];
    int rc = 0;
    if (closes_before(w, *slot, rec->len)) {
        rc = write_pack(w, slot, type);
        if (rc < 0) {
            return rc;
        }
    }
    rc = dr_pack_writer_add(*slot, id, (const uint8_t *)rec->buf, rec->len, (uint32_t)ulen);
    if (rc < 0) {
        return fail(w, rc);
    }
    w->st.blobs_added++;
    w->st.bytes_added += rec->len;
    if (dr_pack_writer_size(*slot) >= w->r->config.pack_size) {
        return write_pack(w, slot, type);
    }
    return 0;
}

/* Runs the pending thens whose blobs all have their ids (those submitted before each), in
 * call order; stops at the first failure, which fails the pipeline. */
static int run_thens(struct dr_pipeline *w)
{
    if (w->in_then) {
        return 0;
    }
    int rc = 0;
    while (rc >= 0 && !w->failed && w->then_head < w->nthens &&
           w->thens[w->then_head].seq <= w->head) {
        struct then t = w->thens[w->then_head++];
        w->in_then = true;
        rc = t.fn(t.arg);
        w->in_then = false;
        t.release(t.arg);
        if (rc < 0) {
            rc = fail(w, rc);
        }
    }
    /* the run ones leave the front: the queue holds only the pending, however long the run */
    if (w->then_head == w->nthens) {
        w->then_head = w->nthens = 0;
    } else if (w->then_head >= 64 && w->then_head * 2 >= w->nthens) {
        memmove(w->thens, w->thens + w->then_head, (w->nthens - w->then_head) * sizeof(*w->thens));
        w->nthens -= w->then_head;
        w->then_head = 0;
    }
    return rc < 0 ? rc : w->failed;
}

int dr_pipeline_then(struct dr_pipeline *w, int (*fn)(void *arg), void (*release)(void *arg),
                     void *arg)
{
    if (w->failed) {
        release(arg);
        return w->failed;
    }
    DR_GROW(w->thens, w->athens, w->nthens + 1);
    w->thens[w->nthens++] = (struct then){.seq = w->tail, .fn = fn, .release = release, .arg = arg};
    return run_thens(w);
}

static int retire_one(struct dr_pipeline *w)
{
    pthread_mutex_lock(&w->mu);
    struct job *j = &w->ring[w->head % w->nring];
    while (!j->done) {
        w->retire_waiting = true;
        pthread_cond_wait(&w->cv_done, &w->mu);
    }
    w->retire_waiting = false;
    pthread_mutex_unlock(&w->mu);
    int rc = 0;
    if (j->rc < 0) {
        rc = fail(w, dr_error_restore(&j->err));
    } else {
        w->st.blobs_seen++;
        w->st.bytes_seen += j->len;
        if (!j->known && !already_stored(w, DR_BLOB_DATA, &j->id)) {
            rc = add_record(w, DR_BLOB_DATA, &j->id, &j->rec, j->len);
        }
        if (rc >= 0) {
            *j->out_id = j->id;
        }
    }
    /* the slot goes back to the submitter's side only now: no worker takes it before head moves
     * past it and it is refilled, and add_record above read its record */
    w->inflight -= j->len;
    job_clear(w, j);
    pthread_mutex_lock(&w->mu);
    w->head++;
    pthread_mutex_unlock(&w->mu);
    if (rc >= 0 && w->then_head < w->nthens) {
        rc = run_thens(w);
    }
    return rc;
}

int dr_pipeline_put_data_ref(struct dr_pipeline *w, const uint8_t *data, size_t len,
                             void (*release)(void *arg), void *arg, struct dr_id *out_id)
{
    if (w->failed) {
        release(arg);
        return w->failed;
    }
    if (len > DR_BLOB_MAX) {
        release(arg);
        return fail(w, dr_errorf(DR_EUSAGE, "blob of %zu bytes exceeds the limit", len));
    }
    /* room in the ring, and in the byte budget unless only a worker's share is in flight (a
     * few chunks of the largest size go in all the same) */
    while (w->tail - w->head >= w->nring ||
           (w->tail - w->head > (uint64_t)w->nworkers && w->inflight + len > w->budget)) {
        int rc = retire_one(w);
        if (rc < 0) {
            release(arg);
            return rc;
        }
    }
    /* the slot at tail is free: retired (head moved past it) and not yet taken by a worker */
    struct job *j = &w->ring[w->tail % w->nring];
    j->data = data;
    j->release = release;
    j->release_arg = arg;
    j->len = len;
    j->out_id = out_id;
    w->inflight += len;
    pthread_mutex_lock(&w->mu);
    w->tail++;
    if (w->idle) {
        pthread_cond_signal(&w->cv_work);
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static void free_data(void *p)
{
    free(p);
}

int dr_pipeline_put_data(struct dr_pipeline *w, uint8_t *data, size_t len, struct dr_id *out_id)
{
    return dr_pipeline_put_data_ref(w, data, len, free_data, data, out_id);
}

int dr_pipeline_drain(struct dr_pipeline *w)
{
    while (w->head < w->tail) {
        int rc = retire_one(w);
        if (rc < 0) {
            return rc;
        }
    }
    return run_thens(w);
}

int dr_pipeline_put_tree(struct dr_pipeline *w, const uint8_t *data, size_t len,
                         struct dr_id *out_id)
{
    return dr_pipeline_put_now(w, DR_BLOB_TREE, data, len, out_id);
}

int dr_pipeline_put_now(struct dr_pipeline *w, uint8_t type, const uint8_t *data, size_t len,
                        struct dr_id *out_id)
{
    if (w->failed) {
        return w->failed;
    }
    struct dr_id id;
    dr_crypto_blob_id(w->r->keys, data, len, &id);
    w->st.blobs_seen++;
    w->st.bytes_seen += len;
    if (!already_stored(w, type, &id)) {
        dr_buf_reset(&w->nowrec);
        int rc = dr_blob_encode(w->r->keys, w->z, type, &id, data, len, &w->nowrec);
        if (rc < 0) {
            return fail(w, rc);
        }
        rc = add_record(w, type, &id, &w->nowrec, len);
        if (rc < 0) {
            return rc;
        }
    }
    *out_id = id;
    return 0;
}

/* The writer policy of format/chunklist.md "Writing". A relation file of a base backup would
 * list every 8 KiB block in its tree, 36 bytes per block rewritten every day for the whole
 * database; its list is written instead as the positions that changed since the parent
 * snapshot's list of the same file, down a chain that a full list ends. */
int dr_pipeline_put_list(struct dr_pipeline *w, struct dr_node *n, const struct dr_node *pn)
{
    if (n->nchunks == 0 || n->nchunks > DR_CHUNKLIST_COUNT_MAX) {
        n->flags &= ~DR_NODE_F_LISTED;
        return 0;
    }
    /* the parent's expanded list, when it has one: what a change is made against */
    bool listed = pn && pn->type == DR_NODE_FILE && (pn->flags & DR_NODE_F_LISTED) && pn->nlists &&
                  pn->nchunks;
    uint32_t changed = listed ? dr_chunklist_diff_count(pn->chunks, pn->chunk_sizes, pn->nchunks,
                                                        n->chunks, n->chunk_sizes, n->nchunks)
                              : 0;
    if (listed && changed == 0 && pn->nchunks == n->nchunks) {
        n->list = pn->list; /* unchanged: the same list, whatever its depth */
        return 0;
    }
    /* past a quarter changed, a change is most of a full list's bytes and one more blob to read */
    bool change = listed && pn->list_depth < DR_PG_LIST_DEPTH && changed <= n->nchunks / 4;
    struct dr_buf enc = DR_BUF_INIT(DR_BLOB_MAX);
    int rc =
        change ? dr_chunklist_encode_delta(&pn->list, pn->list_depth, pn->chunks, pn->chunk_sizes,
                                           pn->nchunks, n->chunks, n->chunk_sizes, n->nchunks, &enc)
               : dr_chunklist_encode_full(n->chunks, n->chunk_sizes, n->nchunks, &enc);
    if (rc >= 0) {
        rc = dr_pipeline_put_now(w, DR_BLOB_TREE, (const uint8_t *)enc.buf, enc.len, &n->list);
    }
    dr_buf_release(&enc);
    return rc;
}

int dr_pipeline_flush(struct dr_pipeline *w)
{
    int rc = dr_pipeline_drain(w);
    if (rc < 0) {
        return rc;
    }
    /* every open pack, data and tree, is handed over and its upload waited for: the caller
     * writes the index's view and then the snapshot only after this returns */
    rc = write_data_packs(w);
    if (rc >= 0) {
        rc = write_pack(w, &w->tpw, DR_BLOB_TREE);
    }
    if (rc >= 0) {
        rc = reap_uploads(w, false, true);
    }
    return rc;
}

int dr_pipeline_commit(struct dr_pipeline *w, const struct dr_snapshot *s,
                       struct dr_id *out_snap_id)
{
    if (w->dry) {
        return dr_errorf(DR_EINTERNAL, "a dry run writes no snapshot");
    }
    int rc = dr_pipeline_flush(w);
    if (rc < 0) {
        return rc;
    }
    struct dr_buf raw = DR_BUF_INIT(DR_SNAPSHOT_MAX);
    struct dr_id sid;
    char hex[DR_ID_HEX_LEN + 1];
    char *obj = NULL;
    struct dr_index_txn *txn = NULL;
    rc = dr_snapshot_encode(w->r->keys, s, &raw, &sid);
    if (rc < 0) {
        goto out;
    }
    dr_id_hex(&sid, hex);
    /* The references are counted before the snapshot object exists, in the transaction that
     * records it: a blob that the index does not have (a pack deleted under us, a bug) refuses
     * the commit, so no snapshot is ever written that names data the repository lacks. */
    rc = dr_index_begin(w->r->index, true, &txn);
    if (rc >= 0) {
        rc = dr_repo_count_refs(w->r, txn, &s->tree, +1);
    }
    if (rc > 0) {
        rc = dr_errorf(DR_EINTERNAL,
                       "the new snapshot would reference %d blobs that are not in the repository; "
                       "nothing was committed (run 'drrepo check')",
                       rc);
    }
    if (rc >= 0) {
        struct dr_index_snap rec = {.time_ns = s->time_ns, .tree = s->tree, .counted = 1};
        dr_snapshot_origin(s, &rec.origin);
        rc = dr_index_snap_put(txn, &sid, &rec);
    }
    if (rc < 0) {
        goto out;
    }
    rc = DR_FAULT_POINT("writer.before_snapshot_put");
    if (rc < 0) {
        goto out;
    }
    /* The commit point: a snapshot written after the lease ran out could name packs that a
     * prune which removed our expired lock has deleted meanwhile. */
    rc = dr_repo_check_lock(w->r);
    if (rc < 0) {
        goto out;
    }
    /* the last point where a signal stops the run: after it the snapshot is written and the
     * run is complete; an interrupted run never records a snapshot */
    rc = dr_interrupt_check();
    if (rc < 0) {
        goto out;
    }
    obj = dr_layout_name_dup(DR_LAYOUT_SNAPSHOT, &sid);
    rc = dr_backend_put(w->r->backend, obj, raw.buf, raw.len, true);
    if (rc < 0) {
        goto out;
    }
    rc = DR_FAULT_POINT("writer.after_snapshot_put");
    if (rc < 0) {
        goto out;
    }
    /* The snapshot is committed. If recording it in the index fails, the next open's sync
     * counts its references, so the data is safe and the failure is only reported. */
    int irc = dr_index_commit(txn);
    txn = NULL;
    if (irc < 0) {
        dr_log_warn("snapshot %.12s is saved, but the local index could not be updated (%s); "
                    "the next command will update it",
                    hex, dr_error_msg());
        dr_error_clear();
    }
    *out_snap_id = sid;
out:
    dr_index_abort(txn);
    free(obj);
    dr_buf_release(&raw);
    return rc < 0 ? fail(w, rc) : 0;
}

void dr_pipeline_get_stats(const struct dr_pipeline *w, struct dr_pipeline_stats *out)
{
    *out = w->st;
}
