/* read.c: the read engine (see read.h).
 *
 * A run has three parts. The plan looks every want up in the index under one read
 * transaction and turns it into a slot (pack, offset, record length); the slots are sorted by
 * pack and offset for dr_read_run, kept in want order for a stream. Units are then cut from
 * runs of slots of one pack whose records lie at most `gap` bytes apart, within a record range
 * and a plaintext size: one backend get each.
 * A want whose blob is not in the index is a unit of its own that is delivered as an error
 * without a get.
 *
 * Workers take units in plan order under one mutex, within the byte budget (a unit's record
 * range plus, for a stream, the plaintexts it keeps until the caller has them; a unit is always
 * started when nothing else is in flight, so one larger than the budget cannot stall). A unit
 * whose get fails is retried record by record, so that a short or damaged pack loses only the
 * records it really lost. In a run the worker hands each plaintext to the callback; in a
 * stream it keeps the unit's results until the caller's thread has taken them in order. */
#include "drrepo/read.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/fs.h"
#include "drrepo/layout.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/util.h"
#include "store_int.h"

/* Records of one pack this close together are read with one get: on a local disk reading
 * 256 KiB more is cheaper than another open/pread/close (bench/, docs/PERFORMANCE.md). */
#define GAP_LOCAL ((uint64_t)256 << 10)
/* Over a network a request costs a round trip (1-3 ms to Ceph RGW on the same machine, tens of
 * ms to a cloud region): reading up to 1 MiB more is cheaper than a second request. */
#define GAP_REMOTE ((uint64_t)1 << 20)
/* A coalesced get reads at most the budget's share of one worker, within these bounds: one
 * get per pack of the default size (16 MiB) when the budget allows, and work for every worker
 * when it does not. */
#define UNIT_MIN ((uint64_t)1 << 20)
#define UNIT_MAX ((uint64_t)32 << 20)
#define WORKERS_MAX DR_READ_WORKERS_MAX
/* A stream's caller takes blobs in order as soon as the unit that holds them is decoded: small
 * units let it start early and keep every worker busy on a single file. */
#define STREAM_UNIT_PLAIN ((uint64_t)4 << 20)
/* A run's unit on a local disk holds at most DR_READ_RUN_UNIT_PLAIN of plaintext. The work of a
 * unit (decode, hash, write) follows its plaintext, not its record range: a pack of data that
 * compresses well (a PostgreSQL base backup: ~17x) is hundreds of MiB of work, and a run cut
 * into a few such units leaves one worker finishing the last alone while the other waits.
 * Another get of the same pack costs an open and a pread; over a network a unit still takes
 * the whole pack (one request). */
#define RUN_UNIT_PLAIN ((uint64_t)DR_READ_RUN_UNIT_PLAIN)

struct slot {
    struct dr_id pack;
    uint64_t off;
    uint32_t clen, ulen;
    size_t want;
    int lookup; /* < 0: not in the index (the message is in miss) */
};

struct result {
    uint8_t *data;
    size_t len;
    struct dr_error_saved err;
    bool has_pack;
};

struct unit {
    size_t a, b; /* slots [a, b) */
    uint64_t start, end;
    size_t cost;
    bool done;
    struct result *res; /* stream: one per slot, until delivered */
};

struct engine {
    struct dr_repo *r;
    const struct dr_read_want *w;
    size_t n;
    struct slot *slots;
    char **miss; /* per slot with lookup < 0: the message */
    struct unit *units;
    size_t nunits;
    bool ordered;
    uint64_t plain_max;          /* a unit's plaintext at most (one record may exceed it) */
    struct dr_read_cache *cache; /* NULL: none */
    bool cache_last;             /* read from the cache, keep nothing new in it */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next; /* the next unit a worker takes */
    size_t inflight, budget;
    uint64_t unit_max;
    unsigned workers;             /* at most */
    unsigned workers_start;       /* started at once; the rest only while the network is the wait */
    uint64_t cpu_idle, cpu_total; /* the machine's CPU times at the last look (idle_cores) */
    bool stop;
    struct dr_error_saved err; /* the callback's error that stopped the run */
    struct dr_read_stats st;

    dr_read_cb cb;
    void *arg;

    pthread_t threads[WORKERS_MAX];
    int nthreads;

    /* stream: the caller's position */
    size_t cur_unit, cur_slot;
    struct result *cur_res;
};

void dr_read_params_default(struct dr_read_params *p)
{
    *p = (struct dr_read_params){.workers = 0, .budget = DR_READ_BUDGET, .gap = UINT64_MAX};
}

void dr_read_stats_add(struct dr_read_stats *a, const struct dr_read_stats *b)
{
    a->gets += b->gets;
    a->bytes_fetched += b->bytes_fetched;
    a->bytes_used += b->bytes_used;
    a->blobs += b->blobs;
    a->errors += b->errors;
    a->workers = DR_MAX(a->workers, b->workers);
}

static int slot_cmp(const void *x, const void *y)
{
    const struct slot *a = x, *b = y;
    if (a->lookup != b->lookup) { /* misses first: they need no get */
        return a->lookup < b->lookup ? -1 : 1;
    }
    int c = memcmp(a->pack.b, b->pack.b, DR_ID_LEN);
    if (c) {
        return c;
    }
    if (a->off != b->off) {
        return a->off < b->off ? -1 : 1;
    }
    return a->want < b->want ? -1 : a->want > b->want;
}

/* Looks every want up under one read transaction. */
static int plan_lookup(struct engine *e)
{
    struct dr_index_txn *txn;
    int rc = dr_index_begin(dr_repo_index(e->r), false, &txn);
    if (rc < 0) {
        return rc;
    }
    char hex[DR_ID_HEX_LEN + 1];
    for (size_t i = 0; i < e->n && rc >= 0; i++) {
        struct slot *s = &e->slots[i];
        struct dr_index_blob b;
        s->want = i;
        rc = dr_index_blob_get(txn, &e->w[i].id, &b);
        if (rc == DR_ENOENT || (rc >= 0 && b.type != DR_BLOB_DATA)) {
            if (!e->miss) {
                e->miss = dr_xcalloc(e->n, sizeof(*e->miss));
            }
            dr_id_hex(&e->w[i].id, hex);
            e->miss[i] =
                rc == DR_ENOENT
                    ? dr_xasprintf("blob %s is not in any pack of the index", hex)
                    : dr_xasprintf("blob %s: the index says type %u, not data", hex, b.type);
            s->lookup = rc == DR_ENOENT ? DR_ENOENT : DR_ECORRUPT;
            rc = 0;
            continue;
        }
        if (rc < 0) {
            break;
        }
        s->pack = b.pack;
        s->off = b.offset;
        s->clen = b.clen;
        s->ulen = b.ulen;
    }
    dr_index_abort(txn);
    return rc;
}

/* Cuts the slots into units: a miss alone; otherwise a run of slots of one pack, each starting
 * at most gap after the end of the one before, within unit_max and plain_max (one record may
 * exceed them). */
static void plan_units(struct engine *e, uint64_t gap)
{
    e->units = dr_xcalloc(e->n ? e->n : 1, sizeof(*e->units));
    size_t i = 0;
    while (i < e->n) {
        struct slot *s = &e->slots[i];
        struct unit *u = &e->units[e->nunits++];
        u->a = i;
        u->start = s->off;
        u->end = s->off + s->clen;
        uint64_t plain = s->ulen;
        i++;
        while (s->lookup == 0 && i < e->n) {
            struct slot *t = &e->slots[i];
            /* a stream's slots keep the want order: one before the unit's start ends it */
            if (t->lookup != 0 || !dr_id_eq(&t->pack, &s->pack) || t->off < u->start ||
                t->off > u->end + gap) {
                break;
            }
            uint64_t end = t->off + t->clen > u->end ? t->off + t->clen : u->end;
            if (end - u->start > e->unit_max || plain >= e->plain_max) {
                break;
            }
            u->end = end;
            plain += t->ulen;
            i++;
        }
        u->b = i;
        uint64_t cost = (u->end - u->start) + (e->ordered ? plain : 0);
        u->cost = cost > SIZE_MAX ? SIZE_MAX : (size_t)cost;
    }
}

/* ---- workers ---------------------------------------------------------------------------- */

struct worker_bufs {
    struct dr_compressor *z;
    struct dr_buf raw, plain;
};

/* Records the failure of slot s (the message on this thread) into res, or as the callback's
 * extent. */
static void fail_slot(struct engine *e, const struct slot *s, const char *obj, int code,
                      struct result *res, struct dr_read_extent *x)
{
    char hex[DR_ID_HEX_LEN + 1];
    dr_id_hex(&e->w[s->want].id, hex);
    /* the codec's message may already start with "blob <id>: " */
    const char *cause = dr_error_msg();
    char *own = dr_xasprintf("blob %s: ", hex);
    if (strncmp(cause, own, strlen(own)) == 0) {
        cause += strlen(own);
    }
    char *msg = obj ? dr_xasprintf("blob %s in pack '%s': %s", hex, obj, cause)
                    : dr_xstrdup(e->miss[s->want]);
    free(own);
    dr_errorf(code, "%s", msg);
    free(msg);
    if (res) {
        dr_error_save(&res->err, code);
        res->has_pack = obj != NULL;
        return;
    }
    *x = (struct dr_read_extent){.kind = DR_EXTENT_ERROR,
                                 .want = &e->w[s->want],
                                 .index = s->want,
                                 .code = code,
                                 .msg = dr_error_msg(),
                                 .has_pack = obj != NULL,
                                 .pack = s->pack};
}

/* Decodes the record of slot s from rec into wb->plain. */
static int decode_slot(struct engine *e, struct worker_bufs *wb, const struct slot *s,
                       const uint8_t *rec)
{
    dr_buf_reset(&wb->plain);
    const struct dr_read_want *w = &e->w[s->want];
    int rc = dr_blob_decode(dr_repo_keys(e->r), wb->z, DR_BLOB_DATA, &w->id, rec, s->clen, s->ulen,
                            &wb->plain);
    if (rc >= 0 && w->ulen && wb->plain.len != w->ulen) {
        rc = dr_errorf(DR_ECORRUPT, "it has %zu bytes, the tree says %u", wb->plain.len, w->ulen);
    }
    return rc;
}

/* Delivers slot s of unit u (ok: its plaintext is in wb->plain, or with again in the slot
 * before, which held the same record; else the error is on this
 * thread): to the callback (run) or into u->res (stream). Returns the callback's result. */
static int deliver(struct engine *e, struct worker_bufs *wb, struct unit *u, const struct slot *s,
                   const char *obj, int rc, bool again)
{
    if (e->ordered) {
        struct result *res = &u->res[s - e->slots - u->a];
        if (rc < 0) {
            fail_slot(e, s, obj, rc, res, NULL);
        } else if (again) {
            res->len = res[-1].len; /* the slot before holds the same record */
            res->data = dr_xmemdup(res[-1].data, res->len);
        } else {
            /* the plaintext buffer itself goes to the caller; the worker starts a new one */
            res->data = (uint8_t *)dr_buf_detach(&wb->plain, &res->len);
        }
        return 0;
    }
    struct dr_read_extent x;
    if (rc < 0) {
        fail_slot(e, s, obj, rc, NULL, &x);
    } else {
        x = (struct dr_read_extent){.kind = DR_EXTENT_DATA,
                                    .want = &e->w[s->want],
                                    .index = s->want,
                                    .data = (const uint8_t *)wb->plain.buf,
                                    .len = wb->plain.len,
                                    .has_pack = true,
                                    .pack = s->pack};
    }
    return e->cb(e->arg, &x);
}

/* ---- the cache of fetched packs (read.h) ---- */

struct cache_ent {
    struct dr_id pack;
    uint64_t len, foff; /* the pack's bytes [0, len) are at foff of the scratch file */
};

struct dr_read_cache {
    pthread_mutex_t mu;
    int fd;
    uint64_t used, budget; /* bytes of the scratch file taken (written or being written) */
    struct cache_ent *v;   /* the packs written whole */
    size_t n, alloc;
};

int dr_read_cache_open(struct dr_repo *r, uint64_t budget, struct dr_read_cache **out)
{
    int fd = dr_fs_scratch(dr_repo_cache_dir(r), "readcache", NULL);
    if (fd < 0) {
        return fd;
    }
    struct dr_read_cache *c = dr_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    c->fd = fd;
    c->budget = budget;
    *out = c;
    return 0;
}

void dr_read_cache_close(struct dr_read_cache *c)
{
    if (!c) {
        return;
    }
    close(c->fd);
    pthread_mutex_destroy(&c->mu);
    free(c->v);
    free(c);
}

/* Reads bytes [start, end) of pack from the cache into out: true when it held them. */
static bool cache_get(struct dr_read_cache *c, const struct dr_id *pack, uint64_t start,
                      uint64_t end, struct dr_buf *out)
{
    pthread_mutex_lock(&c->mu);
    uint64_t foff = UINT64_MAX;
    for (size_t i = 0; i < c->n; i++) {
        if (dr_id_eq(&c->v[i].pack, pack) && c->v[i].len >= end) {
            foff = c->v[i].foff;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (foff == UINT64_MAX || dr_buf_grow(out, end - start) < 0) {
        dr_error_clear();
        return false;
    }
    /* tests fail the read here (t0800) to see the get go to the backend */
    if (DR_FAULT_POINT("read.cache.get") < 0 ||
        dr_fs_pread_full(c->fd, (uint8_t *)out->buf + out->len, end - start, foff + start,
                         "the read cache") < 0) {
        dr_error_clear(); /* a cache: the get goes to the backend instead */
        return false;
    }
    dr_buf_setlen(out, out->len + (end - start));
    return true;
}

/* Whether a pack of about len bytes still fits the budget. */
static bool cache_room(struct dr_read_cache *c, uint64_t len)
{
    pthread_mutex_lock(&c->mu);
    bool room = c->used + len <= c->budget;
    pthread_mutex_unlock(&c->mu);
    return room;
}

/* Keeps a whole pack, if the budget allows: its bytes are written before the entry is added,
 * so that no reader meets an entry whose bytes are not there. */
static void cache_put(struct dr_read_cache *c, const struct dr_id *pack, const uint8_t *data,
                      uint64_t len)
{
    pthread_mutex_lock(&c->mu);
    bool room = c->used + len <= c->budget;
    uint64_t foff = c->used;
    if (room) {
        c->used += len;
    }
    pthread_mutex_unlock(&c->mu);
    /* tests fail the write here (t0800: a full cache disk) to see the pack not kept */
    if (!room || DR_FAULT_POINT("read.cache.put") < 0 ||
        dr_fs_pwrite_full(c->fd, data, len, foff, "the read cache") < 0) {
        dr_error_clear();
        return;
    }
    pthread_mutex_lock(&c->mu);
    DR_GROW(c->v, c->alloc, c->n + 1);
    c->v[c->n++] = (struct cache_ent){.pack = *pack, .len = len, .foff = foff};
    pthread_mutex_unlock(&c->mu);
}

/* A backend get of [off, off + len) of obj appended to out (empty), counted in st. */
static int counted_get(struct engine *e, const char *obj, uint64_t off, uint64_t len,
                       struct dr_buf *out, struct dr_read_stats *st)
{
    int rc = dr_backend_get(dr_repo_backend(e->r), obj, off, len, out);
    st->gets++;
    if (rc >= 0) {
        st->bytes_fetched += out->len;
    }
    return rc;
}

/* Fetches bytes [u->start, u->end) of pack obj into wb->raw: from the cache when it holds the
 * pack; else with a get, which with a cache that has room (and a later run to read it) takes
 * the whole pack and keeps it. */
static int fetch_unit(struct engine *e, struct worker_bufs *wb, const struct unit *u,
                      const struct dr_id *pack, const char *obj, struct dr_read_stats *st)
{
    struct dr_read_cache *c = e->cache;
    if (c && cache_get(c, pack, u->start, u->end, &wb->raw)) {
        return 0;
    }
    /* the get fills at least this much of the buffer (a whole pack: its first u->end bytes) */
    int rc = dr_buf_grow_mapped(&wb->raw, c && !e->cache_last ? u->end : u->end - u->start);
    if (rc < 0) {
        return rc;
    }
    if (c && !e->cache_last && cache_room(c, e->unit_max)) {
        rc = counted_get(e, obj, 0, UINT64_MAX, &wb->raw, st);
        if (rc >= 0 && wb->raw.len >= u->end) {
            cache_put(c, pack, (const uint8_t *)wb->raw.buf, wb->raw.len);
            memmove(wb->raw.buf, wb->raw.buf + u->start, u->end - u->start);
            dr_buf_setlen(&wb->raw, u->end - u->start);
            return 0;
        }
        if (rc == DR_ENOENT) {
            return rc;
        }
        /* larger than a unit may be, or short: the unit's own range, as without a cache */
        dr_error_clear();
        dr_buf_reset(&wb->raw);
    }
    return counted_get(e, obj, u->start, u->end - u->start, &wb->raw, st);
}

/* Fetches and decodes unit u. Slots that share a record (one blob wanted twice) decode it
 * once. Returns the first callback error. */
static int run_unit(struct engine *e, struct worker_bufs *wb, struct unit *u,
                    struct dr_read_stats *st, int64_t *fetch_ns)
{
    const struct slot *first = &e->slots[u->a];
    if (first->lookup < 0) {
        st->errors++;
        return deliver(e, wb, u, first, NULL, first->lookup, false);
    }
    char *obj = dr_layout_pack_name(DR_BLOB_DATA, &first->pack);
    dr_buf_reset(&wb->raw);
    int64_t t0 = dr_mono_ns();
    int grc = fetch_unit(e, wb, u, &first->pack, obj, st);
    *fetch_ns = dr_mono_ns() - t0;
    bool whole = grc >= 0 && wb->raw.len == u->end - u->start;
    /* a pack that is not there: every record of it is lost, no get per record can help */
    bool gone = grc == DR_ENOENT;
    struct dr_error_saved gone_err = {0};
    if (gone) {
        dr_error_save(&gone_err, grc);
    }
    int rc = 0;
    const struct slot *prev = NULL;
    int drc = 0;
    struct dr_error_saved cause = {0}; /* why prev failed, before deliver names blob and pack */
    for (size_t i = u->a; i < u->b && rc >= 0; i++) {
        const struct slot *s = &e->slots[i];
        bool again = prev && prev->off == s->off;
        if (again) {
            /* the same record wanted twice: wb->plain (or the cause) still holds it */
            if (drc < 0) {
                (void)dr_error_restore(&cause);
            }
        } else if (gone) {
            drc = dr_error_restore(&gone_err);
        } else if (whole) {
            drc = decode_slot(e, wb, s, (const uint8_t *)wb->raw.buf + (s->off - u->start));
        } else {
            /* the coalesced get failed or came back short: this record alone */
            struct dr_buf rec = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
            drc = counted_get(e, obj, s->off, s->clen, &rec, st);
            if (drc >= 0) {
                drc = rec.len == s->clen
                          ? decode_slot(e, wb, s, (const uint8_t *)rec.buf)
                          : dr_errorf(DR_ECORRUPT, "the pack ends %zu bytes into the record",
                                      rec.len);
            }
            dr_buf_release(&rec);
        }
        if (drc >= 0) {
            st->blobs++;
            st->bytes_used += again ? 0 : s->clen;
        } else {
            st->errors++;
            if (!again) {
                dr_error_save(&cause, drc);
            }
        }
        prev = s;
        rc = deliver(e, wb, u, s, obj, drc, again);
    }
    dr_error_saved_release(&cause);
    dr_error_saved_release(&gone_err);
    free(obj);
    return rc;
}

static void wb_init(struct engine *e, struct worker_bufs *wb)
{
    *wb = (struct worker_bufs){.z = dr_compressor_new(dr_repo_config(e->r)->zstd_level),
                               .raw = DR_BUF_INIT(e->unit_max + DR_BLOB_RECORD_MAX),
                               .plain = DR_BUF_INIT(DR_BLOB_MAX)};
}

static void wb_release(struct worker_bufs *wb)
{
    dr_buf_release(&wb->raw);
    dr_buf_release(&wb->plain);
    dr_compressor_free(wb->z);
}

/* ---- how many workers --------------------------------------------------------------------- */

static double idle_override = -1; /* tests: dr_read_set_idle_cores */

void dr_read_set_idle_cores(double cores)
{
    idle_override = cores;
}

/* The machine's idle and total CPU time so far (all cores, /proc/stat's clock ticks). */
static bool cpu_times(uint64_t *idle, uint64_t *total)
{
    FILE *f = fopen("/proc/stat", "re");
    unsigned long long v[8] = {0};
    int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                       &v[4], &v[5], &v[6], &v[7])
              : 0;
    if (f) {
        fclose(f);
    }
    if (n < 5) {
        return false;
    }
    *idle = v[3] + v[4]; /* idle, iowait */
    *total = 0;
    for (int i = 0; i < 8; i++) {
        *total += v[i];
    }
    return true;
}

/* How many cores were idle on average since the last look (e->mu held); 0 when it cannot
 * tell. */
static double idle_cores(struct engine *e)
{
    if (idle_override >= 0) {
        return idle_override;
    }
    uint64_t idle, total;
    if (!cpu_times(&idle, &total) || total <= e->cpu_total) {
        return 0; /* no tick since: the next look covers a longer time */
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double share = (double)(idle - e->cpu_idle) / (double)(total - e->cpu_total);
    e->cpu_idle = idle;
    e->cpu_total = total;
    return share * (double)(ncpu < 1 ? 1 : ncpu);
}

/* Starts one more worker (e->mu held). */
static void *worker_main(void *arg);
static void spawn_locked(struct engine *e)
{
    if (pthread_create(&e->threads[e->nthreads], NULL, worker_main, e) == 0) {
        e->nthreads++;
        e->st.workers = DR_MAX(e->st.workers, (uint64_t)e->nthreads);
    }
}

static void *worker_main(void *arg)
{
    struct engine *e = arg;
    struct worker_bufs wb;
    wb_init(e, &wb);
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->stop && e->next < e->nunits && e->inflight > 0 &&
               e->inflight + e->units[e->next].cost > e->budget) {
            pthread_cond_wait(&e->cv, &e->mu);
        }
        if (e->stop || e->next >= e->nunits) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        struct unit *u = &e->units[e->next++];
        e->inflight += u->cost;
        if (e->ordered) {
            u->res = dr_xcalloc(u->b - u->a, sizeof(*u->res));
        }
        pthread_mutex_unlock(&e->mu);

        struct dr_read_stats st = {0};
        int64_t t0 = dr_mono_ns(), fetch_ns = 0;
        int rc = run_unit(e, &wb, u, &st, &fetch_ns);
        int64_t work_ns = dr_mono_ns() - t0 - fetch_ns;

        pthread_mutex_lock(&e->mu);
        dr_read_stats_add(&e->st, &st);
        /* over a network a run starts with a worker per core and adds one, up to one per
         * connection, while the workers wait on their gets longer than they work and a core
         * is idle: over a slow link that is every worker; with the gateway on the same cores
         * (Ceph RGW here) the cores are busy, and more workers only cost CPU, the gateway's
         * too (docs/PERFORMANCE.md) */
        if (fetch_ns > work_ns && e->nthreads > 0 && (unsigned)e->nthreads < e->workers &&
            e->next + (size_t)e->nthreads < e->nunits && !e->stop && idle_cores(e) >= 1.0) {
            spawn_locked(e);
        }
        if (rc < 0 && !e->stop) {
            dr_error_save(&e->err, rc);
            e->stop = true;
        }
        if (!e->ordered) {
            e->inflight -= u->cost; /* a stream's caller gives it back once delivered */
        }
        u->done = true;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
    }
    wb_release(&wb);
    return NULL;
}

/* ---- set-up and tear-down ------------------------------------------------------------- */

static unsigned concurrency; /* --read-concurrency, set once before any run */

void dr_read_set_concurrency(unsigned workers)
{
    concurrency = workers > WORKERS_MAX ? WORKERS_MAX : workers;
}

unsigned dr_read_default_workers(void)
{
    if (concurrency) {
        return concurrency;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu < 1 ? 1 : ncpu > WORKERS_MAX ? WORKERS_MAX : (unsigned)ncpu;
}

unsigned dr_read_repo_workers(struct dr_repo *r)
{
    unsigned n = dr_read_default_workers(), conns = dr_backend_connections(dr_repo_backend(r));
    if (!concurrency && conns > n) {
        /* a worker waits on its request most of the time: one per connection */
        n = DR_MIN(conns, (unsigned)WORKERS_MAX);
    }
    return n;
}

static void engine_free(struct engine *e)
{
    if (e->units) {
        for (size_t i = 0; i < e->nunits; i++) {
            struct unit *u = &e->units[i];
            for (size_t k = 0; u->res && k < u->b - u->a; k++) {
                free(u->res[k].data);
                dr_error_saved_release(&u->res[k].err);
            }
            free(u->res);
        }
    }
    for (size_t i = 0; e->miss && i < e->n; i++) {
        free(e->miss[i]);
    }
    free(e->miss);
    free(e->units);
    free(e->slots);
    dr_error_saved_release(&e->err);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

static int engine_new(struct dr_repo *r, const struct dr_read_params *p,
                      const struct dr_read_want *w, size_t n, bool ordered, struct engine **out)
{
    struct dr_read_params def;
    if (!p) {
        dr_read_params_default(&def);
        p = &def;
    }
    struct engine *e = dr_xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->r = r;
    e->w = w;
    e->n = n;
    e->ordered = ordered;
    e->budget = p->budget ? p->budget : DR_READ_BUDGET;
    struct dr_backend *be = dr_repo_backend(r);
    e->workers = p->workers ? DR_MIN(p->workers, (unsigned)WORKERS_MAX) : dr_read_repo_workers(r);
    e->workers_start = p->workers ? e->workers : DR_MIN(dr_read_default_workers(), e->workers);
    e->unit_max = DR_MAX(DR_MIN((uint64_t)e->budget / e->workers, UNIT_MAX), UNIT_MIN);
    if (dr_backend_is_remote(be) && (!p->budget || p->budget == DR_READ_BUDGET)) {
        /* over a network a pack cut in two is two requests: a unit takes a whole pack (up to
         * UNIT_MAX), and the budget grows to keep every worker busy with one, so a restore
         * makes about one GET per pack it touches (issue 13's goal: at most 1.1x) */
        uint64_t pack = (uint64_t)dr_repo_config(r)->pack_size + (4u << 20); /* overshoot */
        e->unit_max = DR_MAX(e->unit_max, DR_MIN(pack, UNIT_MAX));
        e->budget = DR_MAX(e->budget, (size_t)(e->unit_max * e->workers));
    }
    e->cache = p->cache;
    e->cache_last = p->cache_last;
    e->plain_max = ordered                    ? STREAM_UNIT_PLAIN
                   : dr_backend_is_remote(be) ? UINT64_MAX
                                              : RUN_UNIT_PLAIN;
    e->slots = dr_xcalloc(n ? n : 1, sizeof(*e->slots));
    int rc = plan_lookup(e);
    if (rc < 0) {
        engine_free(e);
        return rc;
    }
    if (!ordered) {
        qsort(e->slots, n, sizeof(*e->slots), slot_cmp);
    }
    plan_units(e, p->gap != UINT64_MAX       ? p->gap
                  : dr_backend_is_remote(be) ? GAP_REMOTE
                                             : GAP_LOCAL);
    *out = e;
    return 0;
}

static void engine_start(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    if (e->workers_start < e->workers && !cpu_times(&e->cpu_idle, &e->cpu_total)) {
        e->workers_start = e->workers; /* cannot tell idle cores: one per connection */
    }
    for (unsigned t = 0; t < e->workers_start && (size_t)t < e->nunits; t++) {
        spawn_locked(e);
    }
    pthread_mutex_unlock(&e->mu);
}

/* Joins every worker, also those a worker started while the others were joined. */
static void join_all(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    for (int t = 0; t < e->nthreads; t++) {
        pthread_t th = e->threads[t];
        pthread_mutex_unlock(&e->mu);
        pthread_join(th, NULL);
        pthread_mutex_lock(&e->mu);
    }
    e->nthreads = 0;
    pthread_mutex_unlock(&e->mu);
}

static void engine_join(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    join_all(e);
}

int dr_read_run(struct dr_repo *r, const struct dr_read_params *p, const struct dr_read_want *w,
                size_t n, dr_read_cb cb, void *arg, struct dr_read_stats *st)
{
    struct engine *e;
    int rc = engine_new(r, p, w, n, false, &e);
    if (rc < 0) {
        return rc;
    }
    e->cb = cb;
    e->arg = arg;
    engine_start(e);
    if (e->nthreads == 0) {
        worker_main(e); /* no threads to be had: the caller's thread does the work */
    }
    join_all(e);
    rc = e->err.code ? dr_error_restore(&e->err) : 0;
    if (st) {
        dr_read_stats_add(st, &e->st);
    }
    engine_free(e);
    return rc;
}

/* ---- streams ---------------------------------------------------------------------------- */

struct dr_read_stream {
    struct engine *e;
};

int dr_read_stream_open(struct dr_repo *r, const struct dr_read_params *p,
                        const struct dr_read_want *w, size_t n, struct dr_read_stream **out)
{
    struct engine *e;
    int rc = engine_new(r, p, w, n, true, &e);
    if (rc < 0) {
        return rc;
    }
    engine_start(e);
    struct dr_read_stream *s = dr_xcalloc(1, sizeof(*s));
    s->e = e;
    *out = s;
    return 0;
}

/* Releases the unit the caller has finished with. */
static void unit_release(struct engine *e, struct unit *u)
{
    for (size_t k = 0; k < u->b - u->a; k++) {
        free(u->res[k].data);
        dr_error_saved_release(&u->res[k].err);
    }
    free(u->res);
    u->res = NULL;
    pthread_mutex_lock(&e->mu);
    e->inflight -= u->cost;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

int dr_read_stream_next(struct dr_read_stream *s, struct dr_read_extent *x)
{
    struct engine *e = s->e;
    if (e->cur_unit < e->nunits && e->cur_slot == e->units[e->cur_unit].b) {
        unit_release(e, &e->units[e->cur_unit]);
        e->cur_unit++;
    }
    if (e->cur_unit >= e->nunits) {
        return 0;
    }
    struct unit *u = &e->units[e->cur_unit];
    pthread_mutex_lock(&e->mu);
    if (e->nthreads == 0 && e->next == e->cur_unit) {
        /* no worker threads: read this unit here */
        struct unit *own = &e->units[e->next++];
        e->inflight += own->cost;
        own->res = dr_xcalloc(own->b - own->a, sizeof(*own->res));
        pthread_mutex_unlock(&e->mu);
        struct worker_bufs wb;
        wb_init(e, &wb);
        struct dr_read_stats st = {0};
        int64_t fetch_ns;
        (void)run_unit(e, &wb, own, &st, &fetch_ns); /* a stream has no callback to fail */
        wb_release(&wb);
        pthread_mutex_lock(&e->mu);
        dr_read_stats_add(&e->st, &st);
        own->done = true;
    }
    while (!u->done) {
        pthread_cond_wait(&e->cv, &e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    if (e->cur_slot < u->a) {
        e->cur_slot = u->a;
    }
    size_t k = e->cur_slot - u->a;
    const struct slot *sl = &e->slots[e->cur_slot++];
    struct result *res = &u->res[k];
    if (res->err.code) {
        *x = (struct dr_read_extent){.kind = DR_EXTENT_ERROR,
                                     .want = &e->w[sl->want],
                                     .index = sl->want,
                                     .code = res->err.code,
                                     .msg = res->err.msg,
                                     .has_pack = res->has_pack,
                                     .pack = sl->pack};
    } else {
        *x = (struct dr_read_extent){.kind = DR_EXTENT_DATA,
                                     .want = &e->w[sl->want],
                                     .index = sl->want,
                                     .data = res->data,
                                     .len = res->len,
                                     .has_pack = true,
                                     .pack = sl->pack};
    }
    return 1;
}

void dr_read_stream_close(struct dr_read_stream *s, struct dr_read_stats *st)
{
    if (!s) {
        return;
    }
    engine_join(s->e);
    if (st) {
        dr_read_stats_add(st, &s->e->st);
    }
    engine_free(s->e);
    free(s);
}

/* ---- chunk readers ---------------------------------------------------------------------- */

#define CR_WINDOW_MIN 8u
#define CR_WINDOW_MAX 256u

struct dr_chunk_reader {
    struct dr_repo *r;
    const struct dr_node *n;
    struct dr_read_want *w; /* the node's chunks */
    struct dr_read_stream *s;
    uint32_t next;   /* the chunk the stream delivers next */
    uint32_t end;    /* the stream's last chunk + 1 */
    uint32_t window; /* the next stream's length */
    struct dr_read_stats st;
};

struct dr_chunk_reader *dr_chunk_reader_new(struct dr_repo *r, const struct dr_node *n)
{
    struct dr_chunk_reader *cr = dr_xcalloc(1, sizeof(*cr));
    cr->r = r;
    cr->n = n;
    cr->w = dr_xcalloc(n->nchunks ? n->nchunks : 1, sizeof(*cr->w));
    for (uint32_t i = 0; i < n->nchunks; i++) {
        cr->w[i] = (struct dr_read_want){.id = n->chunks[i], .ulen = n->chunk_sizes[i], .tag = i};
    }
    cr->window = CR_WINDOW_MIN;
    return cr;
}

static void cr_stream_close(struct dr_chunk_reader *cr)
{
    dr_read_stream_close(cr->s, &cr->st);
    cr->s = NULL;
}

int dr_chunk_reader_get(struct dr_chunk_reader *cr, uint32_t i, struct dr_buf *out)
{
    if (i >= cr->n->nchunks) {
        return dr_errorf(DR_ECORRUPT, "chunk %u of a file of %u chunks", i, cr->n->nchunks);
    }
    if (!cr->s || i != cr->next || i >= cr->end) {
        /* a jump starts small; a run that goes on reads further ahead each time */
        cr->window = cr->s && i == cr->next ? DR_MIN(cr->window * 2, CR_WINDOW_MAX) : CR_WINDOW_MIN;
        cr_stream_close(cr);
        cr->next = i;
        cr->end = (uint32_t)DR_MIN((uint64_t)i + cr->window, (uint64_t)cr->n->nchunks);
        int rc = dr_read_stream_open(cr->r, NULL, cr->w + i, cr->end - i, &cr->s);
        if (rc < 0) {
            return rc;
        }
    }
    struct dr_read_extent x;
    int rc = dr_read_stream_next(cr->s, &x);
    if (rc == 0) {
        rc = dr_errorf(DR_EINTERNAL, "chunk reader: the stream ended early");
    }
    if (rc < 0) {
        cr_stream_close(cr);
        return rc;
    }
    cr->next = i + 1;
    if (x.kind == DR_EXTENT_ERROR) {
        rc = dr_errorf(x.code, "%s", x.msg);
        cr_stream_close(cr); /* the next get starts afresh */
        return rc;
    }
    dr_buf_reset(out);
    return dr_buf_add(out, x.data, x.len);
}

void dr_chunk_reader_free(struct dr_chunk_reader *cr, struct dr_read_stats *st)
{
    if (!cr) {
        return;
    }
    cr_stream_close(cr);
    if (st) {
        dr_read_stats_add(st, &cr->st);
    }
    free(cr->w);
    free(cr);
}
