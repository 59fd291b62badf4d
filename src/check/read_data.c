/* read_data.c: check --read-data: the selected packs are verified on worker threads, each
 * streamed through a bounded window (dr_pack_verify), failures re-read once, the outcome
 * recorded on the main thread in selection order. */
#include "check_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/backend.h"
#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/format.h"
#include "drrepo/interrupt.h"
#include "drrepo/lock.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/read.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "drrepo/repo.h"
#include "drrepo/walk.h"

/* ---- read data ---------------------------------------------------------------------------- */

static void free_bad(struct dr_pack_bad_blob *bad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(bad[i].msg);
    }
    free(bad);
}

/* One pack's verification, done on a worker thread; the main thread records the outcome. */
struct pack_job {
    struct pack_sum *p;
    char *obj;
    int read_rc; /* < 0: the pack could not be read (saved in read_err) */
    struct dr_error_saved read_err;
    uint64_t len;
    uint64_t gets, bytes_fetched; /* what the reads cost the backend, the re-read's included */
    struct dr_pack_bad_blob *bad, *bad2; /* first read, and the re-read when the first failed */
    size_t nbad, nbad2;
    char *pmsg, *pmsg2;
    bool reread_failed; /* the re-read itself could not read the pack */
    bool done;
    bool is_copy;          /* obj is a tree pack's copy */
    struct pack_job *twin; /* the copy of this tree pack, verified by the same worker after it */
};

struct job_queue {
    struct chk *c;
    struct pack_job *jobs;
    size_t n, next;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Verifies one pack (streaming, pack.h) into r: 0, or the error that kept it from being read. */
static int verify_once(struct dr_repo *r, struct dr_pack_verifier *v, struct pack_job *j,
                       struct dr_pack_verify_result *res)
{
    uint64_t size = j->is_copy ? j->p->copy_size : j->p->size;
    int rc = dr_pack_verify(v, dr_repo_backend(r), j->obj, size, &j->p->id, res);
    j->gets += res->gets;
    j->bytes_fetched += res->bytes_fetched;
    return rc;
}

static void run_job(struct dr_repo *r, struct dr_pack_verifier *v, struct pack_job *j)
{
    struct dr_pack_verify_result res;
    j->read_rc = verify_once(r, v, j, &res);
    if (j->read_rc < 0) {
        dr_error_save(&j->read_err, j->read_rc);
        dr_error_clear();
        goto out;
    }
    j->len = res.size;
    j->pmsg = res.pack_msg;
    j->bad = res.bad;
    j->nbad = res.nbad;
    if (j->pmsg || j->nbad) {
        /* read once more: flaky RAM, cables and disks cause false alarms that a re-read clears */
        if (verify_once(r, v, j, &res) >= 0) {
            j->pmsg2 = res.pack_msg;
            j->bad2 = res.bad;
            j->nbad2 = res.nbad;
        } else {
            dr_error_clear();
            j->reread_failed = true;
        }
    }
out:
    if (j->twin) {
        run_job(r, v, j->twin);
    }
}

/* check's own pool rather than the read engine's: the engine reads blobs that the index
 * names, in units cut to its budget, while this reads every byte of a pack, the header and
 * whatever lies between records too, for the hash of the whole pack; its memory is bounded the
 * same way, by one window and one record per worker (dr_pack_verifier), not by the pack. */
static void *job_worker(void *arg)
{
    struct job_queue *q = arg;
    size_t window = q->c->o->window;
    if (!window && dr_backend_is_remote(dr_repo_backend(q->c->r))) {
        /* over a network a window is a request: a pack of the default size in one */
        window = DR_MIN((size_t)dr_repo_config(q->c->r)->pack_size + ((size_t)4 << 20),
                        (size_t)32 << 20);
    }
    struct dr_pack_verifier *v =
        dr_pack_verifier_new(dr_repo_keys(q->c->r), dr_repo_config(q->c->r)->zstd_level, window);
    for (;;) {
        pthread_mutex_lock(&q->mu);
        size_t i = q->next < q->n ? q->next++ : q->n;
        pthread_mutex_unlock(&q->mu);
        if (i >= q->n) {
            break;
        }
        run_job(q->c->r, v, &q->jobs[i]);
        pthread_mutex_lock(&q->mu);
        q->jobs[i].done = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    dr_pack_verifier_free(v);
    return NULL;
}

/* Settles one read of a job: turns a re-read that failed into the persistent result and
 * reports a failure that a re-read cleared as transient. Returns 1 when the object failed for
 * good (the first reason in *why, borrowed from j), 0 when it is good, or DR_EIO. */
static int settle(struct chk *c, struct pack_job *j, const char **why)
{
    if (j->read_rc < 0) {
        if (j->read_rc == DR_EIO) {
            return dr_error_restore(&j->read_err);
        }
        *why = j->read_err.msg;
        return 1;
    }
    if (!j->is_copy || !j->p->in_repo) {
        c->rep->st.packs_read++; /* a pack counts once; its copy's bytes count too */
    }
    c->rep->st.bytes_read += j->len;
    if (!j->pmsg && !j->nbad) {
        return 0;
    }
    if (j->reread_failed) {
        j->pmsg2 = j->pmsg ? dr_xstrdup(j->pmsg) : NULL;
        j->bad2 = j->bad;
        j->nbad2 = j->nbad;
        j->bad = NULL;
        j->nbad = 0;
    }
    if (!j->pmsg2 && j->nbad2 == 0) {
        dr_check_problem(c->rep, DR_PROB_TRANSIENT, j->obj,
                         "failed verification once (%s) and passed when read again: check the "
                         "machine's memory and disk",
                         j->pmsg ? j->pmsg : j->bad[0].msg);
        return 0;
    }
    *why = j->pmsg2 ? j->pmsg2 : j->bad2[0].msg;
    return 1;
}

/* True when the read j gives no good record at all (unreadable, or its header is). */
static bool wholly_bad(const struct pack_job *j)
{
    return j->read_rc < 0 || (j->pmsg2 && !j->bad2 && !strstr(j->pmsg2, "does not match its name"));
}

/* True when the read j can give no good record of blob id. */
static bool lacks(const struct pack_job *j, const struct dr_id *id)
{
    if (wholly_bad(j)) {
        return true;
    }
    for (size_t i = 0; i < j->nbad2; i++) {
        if (dr_id_eq(&j->bad2[i].id, id)) {
            return true;
        }
    }
    return false;
}

/* Reports a read that failed for good. other: the twin read of the same tree pack, which also
 * failed; a blob counts as damaged only when no copy has it good. */
static int report_failed(struct chk *c, struct pack_job *j, const struct pack_job *other)
{
    const char *obj = j->obj;
    struct pack_sum *p = j->p;
    if (j->read_rc < 0) {
        dr_check_problem(c->rep, DR_PROB_PACK_HEADER, obj, "%s", j->read_err.msg);
        return 0;
    }
    int rc = 0;
    if (j->pmsg2) {
        dr_check_problem(c->rep,
                         strstr(j->pmsg2, "does not match its name") ? DR_PROB_PACK_HASH
                                                                     : DR_PROB_PACK_HEADER,
                         obj, "%s (persistent: failed twice)", j->pmsg2);
        if (!j->bad2 && !strstr(j->pmsg2, "does not match its name") &&
            (!other || wholly_bad(other))) {
            p->header_ok = false; /* every blob of this pack is unverifiable */
        }
    }
    for (size_t i = 0; rc >= 0 && i < j->nbad2; i++) {
        char h[DR_ID_HEX_LEN + 1];
        char *bobj = dr_xasprintf("blob %s", hex(&j->bad2[i].id, h));
        dr_check_problem(c->rep, DR_PROB_BLOB_DAMAGED, bobj, "in pack '%s': %s (persistent)", obj,
                         j->bad2[i].msg);
        free(bobj);
        if (other && !lacks(other, &j->bad2[i].id)) {
            continue;
        }
        struct work w;
        rc = dr_check_work_get(c, &j->bad2[i].id, &w);
        if (rc >= 0) {
            w.flags |= W_DAMAGED;
            rc = dr_check_work_set(c, &j->bad2[i].id, &w);
        }
    }
    return rc;
}

/* When packs were verified, and how, waiting to be written to the shared index. A short write
 * transaction per MARK_BATCH packs: one per pack would fsync the index once per pack, one for
 * the whole run would hold the index's writer lock for as long as the packs take to read. */
#define MARK_BATCH 32
struct marks {
    struct dr_id id[MARK_BATCH];
    int64_t ns[MARK_BATCH];
    uint8_t ok[MARK_BATCH];
    size_t n;
};

static int marks_flush(struct chk *c, struct marks *m)
{
    if (m->n == 0) {
        return 0;
    }
    struct dr_index_txn *txn;
    int rc = dr_index_begin(dr_repo_index(c->r), true, &txn);
    for (size_t i = 0; rc >= 0 && i < m->n; i++) {
        struct dr_index_pack ip;
        rc = dr_index_pack_get(txn, &m->id[i], &ip);
        if (rc == DR_ENOENT) { /* not indexed: reported by the structure pass */
            dr_error_clear();
            rc = 0;
            continue;
        }
        if (rc >= 0) {
            ip.verified_ns = m->ns[i];
            ip.verified_ok = m->ok[i];
            rc = dr_index_pack_put(txn, &m->id[i], &ip);
        }
    }
    if (rc >= 0) {
        rc = dr_index_commit(txn);
    } else if (txn) {
        dr_index_abort(txn);
    }
    m->n = 0;
    return rc;
}

/* Records one finished job in the report and, through m, the index (main thread, in selection
 * order). A
 * tree pack's two copies are judged together: when one is good, the other is noted for
 * dr_check_report_copies (damage that `repair packs` mends) and no blob counts as damaged. */
static int record_job(struct chk *c, struct marks *m, struct pack_job *j)
{
    struct pack_sum *p = j->p;
    c->rep->st.gets += j->gets + (j->twin ? j->twin->gets : 0);
    c->rep->st.bytes_fetched += j->bytes_fetched + (j->twin ? j->twin->bytes_fetched : 0);
    const char *why = NULL, *why2 = NULL;
    int bad = settle(c, j, &why);
    int bad2 = bad < 0 || !j->twin ? 0 : settle(c, j->twin, &why2);
    int rc = bad < 0 ? bad : bad2 < 0 ? bad2 : 0;
    if (rc < 0) {
        return rc;
    }
    if (j->twin && bad != bad2) {
        struct pack_job *b = bad ? j : j->twin;
        dr_check_copy_bad(p, b->is_copy, b->read_rc < 0 ? DR_PROB_PACK_HEADER : DR_PROB_PACK_HASH,
                          bad ? why : why2);
    } else if (bad) {
        rc = report_failed(c, j, j->twin);
        if (rc >= 0 && j->twin) {
            rc = report_failed(c, j->twin, j);
        }
    }
    if (rc >= 0) {
        m->id[m->n] = p->id;
        m->ns[m->n] = dr_time_now_ns();
        m->ok[m->n] = bad || bad2 ? 0 : 1;
        if (++m->n == MARK_BATCH) {
            rc = marks_flush(c, m);
        }
    }
    return rc;
}

static void job_release(struct pack_job *j)
{
    if (j->twin) {
        job_release(j->twin);
        free(j->twin);
    }
    free(j->obj);
    dr_error_saved_release(&j->read_err);
    free_bad(j->bad, j->nbad);
    free_bad(j->bad2, j->nbad2);
    free(j->pmsg);
    free(j->pmsg2);
}

static int by_verified(const void *a, const void *b)
{
    const struct pack_sum *x = *(struct pack_sum *const *)a, *y = *(struct pack_sum *const *)b;
    if (x->verified_ns != y->verified_ns) {
        return x->verified_ns < y->verified_ns ? -1 : 1;
    }
    return dr_id_cmp(&x->id, &y->id);
}

/* Chooses the packs to read: a deterministic part, a random sample, a byte budget or an age
 * limit; least recently verified first, so repeated partial scrubs cover everything. */
static size_t select_packs(struct chk *c, struct pack_sum ***out)
{
    const struct dr_check_opts *o = c->o;
    struct pack_sum **v = dr_xcalloc(c->npacks + 1, sizeof(*v));
    size_t n = 0;
    int64_t now = dr_time_now_ns();
    uint64_t seed = o->seed ? o->seed : (uint64_t)now;
    for (size_t i = 0; i < c->npacks; i++) {
        struct pack_sum *p = &c->packs[i];
        if (!p->in_repo && !p->in_copy) {
            continue;
        }
        if (o->subset == DR_SUBSET_PART && dr_get_u32le(p->id.b) % o->part_m != o->part_n - 1) {
            continue;
        }
        if (o->subset == DR_SUBSET_PERCENT) {
            /* a keyed hash of the pack id and the seed: uniform, reproducible with --seed */
            uint8_t in[40];
            struct dr_id h;
            memcpy(in, p->id.b, 32);
            dr_put_u64le(in + 32, seed);
            dr_crypto_hash(in, sizeof(in), &h);
            double u = (double)dr_get_u32le(h.b) / 4294967296.0;
            if (u >= o->percent / 100.0) {
                continue;
            }
        }
        if (o->max_age_ns > 0 && p->verified_ns > now - o->max_age_ns) {
            continue;
        }
        v[n++] = p;
    }
    qsort(v, n, sizeof(*v), by_verified);
    if (o->subset == DR_SUBSET_SIZE) {
        uint64_t sum = 0;
        size_t k = 0;
        while (k < n && sum < o->size) {
            sum += v[k++]->size;
        }
        n = k;
    }
    *out = v;
    return n;
}

/* The CPU a pack's verification costs, in units of one stored byte: every stored byte is
 * hashed (the name) and decrypted, every plaintext byte decompressed and hashed (its id). */
static uint64_t verify_cost(const struct pack_sum *p)
{
    return p->size + p->total_ulen;
}

static int by_cost_desc(const void *a, const void *b)
{
    uint64_t x = verify_cost(*(struct pack_sum *const *)a);
    uint64_t y = verify_cost(*(struct pack_sum *const *)b);
    return x != y ? (x < y ? 1 : -1)
                  : dr_id_cmp(&(*(struct pack_sum *const *)a)->id,
                              &(*(struct pack_sum *const *)b)->id);
}

/* Verifies the selected packs on one worker thread per core (the work is hashing, decryption
 * and decompression: CPU-bound), recording results in selection order on this thread. A
 * worker holds one window and one record of a pack, not the pack, so memory is bounded by the
 * workers whatever the pack size; the results that wait to be recorded are small (the names
 * and messages of damaged blobs). */
int dr_check_read_data(struct chk *c)
{
    struct pack_sum **sel;
    size_t n = select_packs(c, &sel);
    /* costliest first: the last packs, each verified alone while other workers run out of
     * work, are then the cheapest (a pack of raw data costs a third of a compressible one) */
    qsort(sel, n, sizeof(*sel), by_cost_desc);
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < n; i++) {
        total += sel[i]->size;
    }
    struct job_queue q = {.c = c, .n = n};
    q.jobs = dr_xcalloc(n + 1, sizeof(*q.jobs));
    for (size_t i = 0; i < n; i++) {
        struct pack_job *j = &q.jobs[i];
        j->p = sel[i];
        if (sel[i]->type == DR_BLOB_TREE && !sel[i]->in_repo) {
            j->obj = dr_layout_name_dup(DR_LAYOUT_TREE_COPY,
                                        &sel[i]->id); /* a lone copy; the pack is reported */
            j->is_copy = true;
        } else {
            j->obj = dr_layout_pack_name(sel[i]->type, &sel[i]->id);
        }
        if (sel[i]->type == DR_BLOB_TREE && sel[i]->in_repo && sel[i]->in_copy) {
            /* --read-data verifies both copies of a tree pack */
            j->twin = dr_xcalloc(1, sizeof(*j->twin));
            j->twin->p = sel[i];
            j->twin->obj = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, &sel[i]->id);
            j->twin->is_copy = true;
            total += sel[i]->copy_size;
        }
    }
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    /* --read-concurrency sets the readers' workers, check's included */
    long ncpu = c->o->workers ? (long)c->o->workers : (long)dr_read_repo_workers(c->r);
    int nthreads = ncpu < 1 ? 1 : ncpu > DR_CHECK_WORKERS_MAX ? DR_CHECK_WORKERS_MAX : (int)ncpu;
    pthread_t threads[DR_CHECK_WORKERS_MAX];
    int started = 0;
    for (int t = 0; t < nthreads && (size_t)t < n; t++) {
        if (pthread_create(&threads[t], NULL, job_worker, &q) == 0) {
            started++;
        }
    }
    if (started == 0 && n) {
        job_worker(&q); /* no threads: verify on this one */
    }
    int64_t start = dr_mono_ns();
    int rc = 0;
    struct marks *marks = dr_xcalloc(1, sizeof(*marks));
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&q.mu);
        while (!q.jobs[i].done) {
            pthread_cond_wait(&q.cv, &q.mu);
        }
        pthread_mutex_unlock(&q.mu);
        rc = record_job(c, marks, &q.jobs[i]);
        if (rc >= 0) {
            /* a test pauses here (DR_FAULT=check.read_data.recorded:pause) to run other
             * commands while a check is under way; nothing of the index is held here */
            rc = DR_FAULT_POINT("check.read_data.recorded");
        }
        if (rc >= 0) {
            /* a signal stops the scrub between packs; the marks of the packs read are kept */
            rc = dr_interrupt_check();
        }
        done += q.jobs[i].len + (q.jobs[i].twin ? q.jobs[i].twin->len : 0);
        if (c->o->progress) {
            struct dr_progress pr = {.files = c->rep->st.packs_read,
                                     .bytes_read = done,
                                     .bytes_total = total,
                                     .elapsed_ns = dr_mono_ns() - start,
                                     .current = q.jobs[i].obj};
            c->o->progress(c->o->progress_arg, &pr, i + 1 == n);
        }
        if (rc < 0) {
            /* stop the workers early: no job after the running ones is taken; they are joined
             * below, and unstarted jobs are never waited for */
            pthread_mutex_lock(&q.mu);
            q.next = q.n;
            pthread_mutex_unlock(&q.mu);
            break;
        }
    }
    for (int t = 0; t < started; t++) {
        pthread_join(threads[t], NULL);
    }
    /* the marks of the packs read so far, also after an error: a scrub that stops half-way
     * keeps what it verified, and the next one starts with the rest */
    if (rc < 0) {
        struct dr_error_saved err = {0};
        dr_error_save(&err, rc);
        if (marks_flush(c, marks) < 0) {
            dr_log_warn("%s", dr_error_msg());
        }
        rc = dr_error_restore(&err);
        dr_error_saved_release(&err);
    } else {
        rc = marks_flush(c, marks);
    }
    free(marks);
    for (size_t i = 0; i < n; i++) {
        job_release(&q.jobs[i]);
    }
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.cv);
    free(q.jobs);
    free(sel);
    return rc;
}
