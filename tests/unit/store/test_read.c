/* test_read.c: the read engine (src/store/read.c) through the in-memory backend.
 *
 * Covers: every want delivered once with the right plaintext, out of order (dr_read_run) and in
 * want order (dr_read_stream), whatever the budget and the number of workers; one get per pack
 * when the records lie together, and per unit when the gap is 0; a blob wanted twice is read
 * once; a blob not in the index, a flipped record and a truncated pack are error extents that
 * name the blob (and the pack), while the other wants of the same pack are delivered; a
 * callback's error stops the run and is returned with its message; a stream closed early; a
 * chunk reader over jumps and ascending runs, and past a damaged chunk; a run over data that
 * compresses well is cut by plaintext, not by record bytes, so that every worker gets a share
 * of a pack. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/pipeline.h"
#include "drrepo/read.h"
#include "drrepo/repo.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "read"
#define BIG 300000
#define SMALL 40000

static const struct dr_test_file files[] = {
    {.name = "big", .size = BIG, .seed = 71},
    {.name = "small", .size = SMALL, .seed = 72},
};

struct env {
    struct dr_test_env *t;
    struct dr_repo *r;
    struct dr_id snap;
    struct dr_node big, small;
    uint8_t *content[2]; /* expected bytes of big and small */
    struct dr_read_want *w;
    size_t n;
    char *pack; /* the one data pack */
};

/* wants: every chunk of big and small (tag = file, off = offset), big's first chunk again at
 * the end, and an id that is in no pack */
static void make_wants(struct env *e)
{
    const struct dr_node *nodes[2] = {&e->big, &e->small};
    e->w = dr_xcalloc(e->big.nchunks + e->small.nchunks + 2, sizeof(*e->w));
    for (int f = 0; f < 2; f++) {
        uint64_t off = 0;
        for (uint32_t i = 0; i < nodes[f]->nchunks; i++) {
            e->w[e->n++] = (struct dr_read_want){.id = nodes[f]->chunks[i],
                                                 .ulen = nodes[f]->chunk_sizes[i],
                                                 .tag = (uint64_t)f,
                                                 .off = off};
            off += nodes[f]->chunk_sizes[i];
        }
    }
    e->w[e->n++] = (struct dr_read_want){
        .id = e->big.chunks[0], .ulen = e->big.chunk_sizes[0], .tag = 0, .off = 0};
    struct dr_read_want miss = {.tag = 9};
    memset(miss.id.b, 0xab, sizeof(miss.id.b));
    e->w[e->n++] = miss;
}

static int setup(void **state)
{
    struct env *e = dr_xcalloc(1, sizeof(*e));
    e->t = dr_test_env_new(STORE, 1);
    e->r = e->t->repo[0];
    dr_test_commit(e->r, files, 2, 1000, &e->snap);
    dr_test_find_node(e->r, &e->snap, "big", &e->big);
    dr_test_find_node(e->r, &e->snap, "small", &e->small);
    e->content[0] = dr_xmalloc(BIG);
    e->content[1] = dr_xmalloc(SMALL);
    dr_test_fill(e->content[0], BIG, 71);
    dr_test_fill(e->content[1], SMALL, 72);
    char **names;
    size_t np = dr_mem_backend_names(STORE, "data/", &names);
    assert_int_equal(np, 1);
    e->pack = dr_xstrdup(names[0]);
    dr_mem_backend_names_free(names, np);
    make_wants(e);
    assert_true(e->big.nchunks >= 10);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    dr_node_release(&e->big);
    dr_node_release(&e->small);
    dr_test_env_free(e->t);
    free(e->content[0]);
    free(e->content[1]);
    free(e->w);
    free(e->pack);
    free(e);
    return 0;
}

/* What a run delivered, per want. */
struct seen {
    pthread_mutex_t mu;
    struct env *e;
    int *count;
    int *errors;
    char **msgs;
    size_t order_bad; /* stream: extents out of want order */
    int stop_after;   /* > 0: fail the callback after this many extents */
    int calls;
    int wrong; /* extents with the wrong want or bytes */
};

static void seen_init(struct seen *s, struct env *e)
{
    *s = (struct seen){.e = e};
    pthread_mutex_init(&s->mu, NULL);
    s->count = dr_xcalloc(e->n, sizeof(int));
    s->errors = dr_xcalloc(e->n, sizeof(int));
    s->msgs = dr_xcalloc(e->n, sizeof(char *));
}

static void seen_release(struct seen *s)
{
    for (size_t i = 0; i < s->e->n; i++) {
        free(s->msgs[i]);
    }
    free(s->msgs);
    free(s->count);
    free(s->errors);
    pthread_mutex_destroy(&s->mu);
}

/* On a worker thread: no cmocka asserts here (they jump); what is wrong is counted. */
static int record(struct seen *s, const struct dr_read_extent *x)
{
    struct env *e = s->e;
    bool bad = x->index >= e->n || x->want != &e->w[x->index];
    if (!bad && x->kind == DR_EXTENT_DATA) {
        const struct dr_read_want *w = x->want;
        bad = x->len != w->ulen || memcmp(x->data, e->content[w->tag] + w->off, x->len) != 0;
    }
    pthread_mutex_lock(&s->mu);
    if (bad) {
        s->wrong++;
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->calls++;
    int calls = s->calls;
    s->count[x->index]++;
    if (x->kind == DR_EXTENT_ERROR) {
        s->errors[x->index]++;
        free(s->msgs[x->index]);
        s->msgs[x->index] = dr_xstrdup(x->msg);
    }
    pthread_mutex_unlock(&s->mu);
    if (s->stop_after && calls >= s->stop_after) {
        return dr_errorf(DR_ENOSPC, "the target is full (test)");
    }
    return 0;
}

static int run_cb(void *arg, const struct dr_read_extent *x)
{
    return record(arg, x);
}

/* Runs the engine both ways over e's wants with p; checks that each want came exactly once
 * and that only the ones in bad[] (index list, -1 terminated) are errors. */
static void run_both(struct env *e, const struct dr_read_params *p, const long *bad,
                     struct dr_read_stats *run_st, struct seen *keep_run)
{
    for (int mode = 0; mode < 2; mode++) {
        struct seen s;
        seen_init(&s, e);
        struct dr_read_stats st = {0};
        if (mode == 0) {
            int rc = dr_read_run(e->r, p, e->w, e->n, run_cb, &s, &st);
            if (rc < 0) {
                fail_msg("dr_read_run: %s", dr_error_msg());
            }
        } else {
            struct dr_read_stream *rs;
            assert_int_equal(dr_read_stream_open(e->r, p, e->w, e->n, &rs), 0);
            struct dr_read_extent x;
            size_t expect = 0;
            int rc;
            while ((rc = dr_read_stream_next(rs, &x)) == 1) {
                s.order_bad += x.index != expect++;
                assert_int_equal(record(&s, &x), 0);
            }
            assert_int_equal(rc, 0);
            dr_read_stream_close(rs, &st);
            assert_int_equal(s.order_bad, 0);
        }
        assert_int_equal(s.wrong, 0);
        size_t nbad = 0;
        for (size_t i = 0; i < e->n; i++) {
            assert_int_equal(s.count[i], 1);
            bool want_bad = false;
            for (const long *b = bad; *b >= 0; b++) {
                want_bad |= (size_t)*b == i;
            }
            assert_int_equal(s.errors[i], want_bad ? 1 : 0);
            nbad += want_bad;
        }
        assert_int_equal(st.blobs + st.errors, e->n);
        assert_int_equal(st.errors, nbad);
        if (mode == 0 && run_st) {
            *run_st = st;
        }
        if (mode == 0 && keep_run) {
            *keep_run = s;
        } else {
            seen_release(&s);
        }
    }
}

static void test_all_delivered(void **state)
{
    struct env *e = *state;
    const long bad[] = {(long)e->n - 1, -1};
    struct dr_read_params p;
    dr_read_params_default(&p);
    struct dr_read_stats st;
    uint64_t gets0 = dr_mem_backend_gets(STORE);
    struct seen s;
    run_both(e, &p, bad, &st, &s);
    /* the records of the one pack lie together: one get for all of them */
    assert_int_equal(st.gets, 1);
    assert_true(dr_mem_backend_gets(STORE) - gets0 >= 1);
    /* big's first chunk, wanted twice, is counted once in the bytes used */
    assert_true(st.bytes_used <= st.bytes_fetched);
    assert_non_null(strstr(s.msgs[e->n - 1], "is not in any pack of the index"));
    seen_release(&s);
}

/* A cache of fetched packs (restore's batches of files share packs): a get takes the whole
 * pack and keeps it, and a later run over the same pack reads it from there instead of another
 * get; a cache without room changes nothing, and the last run of a series only reads it. run_both
 * runs the engine twice (a run, then a stream) over the test's one pack. */
static void test_read_cache(void **state)
{
    struct env *e = *state;
    const long bad[] = {(long)e->n - 1, -1};
    struct dr_read_params p;
    dr_read_params_default(&p);
    struct dr_read_stats st;
    uint64_t gets0 = dr_mem_backend_gets(STORE);
    run_both(e, &p, bad, &st, NULL);
    uint64_t without = dr_mem_backend_gets(STORE) - gets0; /* at least one per run */
    assert_true(without >= 2);

    assert_int_equal(dr_read_cache_open(e->r, (uint64_t)1 << 30, &p.cache), 0);
    gets0 = dr_mem_backend_gets(STORE);
    run_both(e, &p, bad, &st, NULL);
    assert_int_equal(st.gets, 1);
    assert_int_equal(dr_mem_backend_gets(STORE) - gets0, 1); /* the stream read the cache */
    gets0 = dr_mem_backend_gets(STORE);
    run_both(e, &p, bad, &st, NULL);
    assert_int_equal(st.gets, 0);
    assert_int_equal(dr_mem_backend_gets(STORE) - gets0, 0);
    dr_read_cache_close(p.cache);

    assert_int_equal(dr_read_cache_open(e->r, 0, &p.cache), 0);
    gets0 = dr_mem_backend_gets(STORE);
    run_both(e, &p, bad, &st, NULL);
    assert_int_equal(dr_mem_backend_gets(STORE) - gets0, without);
    dr_read_cache_close(p.cache);
    dr_read_cache_close(NULL);

    /* the last run of a series keeps nothing (the stream after it fetches again), but reads
     * what an earlier run kept */
    assert_int_equal(dr_read_cache_open(e->r, (uint64_t)1 << 30, &p.cache), 0);
    p.cache_last = true;
    gets0 = dr_mem_backend_gets(STORE);
    run_both(e, &p, bad, &st, NULL);
    assert_int_equal(dr_mem_backend_gets(STORE) - gets0, without);
    p.cache_last = false;
    gets0 = dr_mem_backend_gets(STORE);
    run_both(e, &p, bad, &st, NULL);
    assert_int_equal(dr_mem_backend_gets(STORE) - gets0, 1);
    p.cache_last = true;
    gets0 = dr_mem_backend_gets(STORE);
    run_both(e, &p, bad, &st, NULL);
    assert_int_equal(st.gets, 0);
    assert_int_equal(dr_mem_backend_gets(STORE) - gets0, 0);
    dr_read_cache_close(p.cache);
}

static void test_small_budget_many_workers(void **state)
{
    struct env *e = *state;
    const long bad[] = {(long)e->n - 1, -1};
    struct dr_read_params p;
    dr_read_params_default(&p);
    p.budget = 1; /* every unit alone in flight: nothing stalls */
    p.workers = 8;
    p.gap = 0;
    struct dr_read_stats st;
    run_both(e, &p, bad, &st, NULL);
    assert_true(st.gets >= 1);
    p.workers = 1;
    run_both(e, &p, bad, NULL, NULL);
}

/* Counts what a run delivered. */
struct tally_seen {
    pthread_mutex_t mu;
    size_t data, errors;
};

static int tally_cb(void *arg, const struct dr_read_extent *x)
{
    struct tally_seen *t = arg;
    pthread_mutex_lock(&t->mu);
    if (x->kind == DR_EXTENT_DATA && x->len == x->want->ulen) {
        t->data++;
    } else {
        t->errors++;
    }
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* Over a network (memnet://, the mem store as a remote backend of 4 connections, its gets
 * waiting 30 ms each) a run starts with a worker per core and adds workers, up to one per
 * connection, while its gets take longer than the work and a core is idle; with no core idle
 * it keeps one per core. Either way every want is delivered. */
static void test_workers_follow_idle_cores(void **state)
{
    (void)state;
    struct dr_test_env *t = dr_test_env_new("readnet", 1);
    struct dr_test_file many[10];
    for (uint32_t i = 0; i < 10; i++) {
        many[i] =
            (struct dr_test_file){.name = dr_xasprintf("f%u", i), .size = 1 << 20, .seed = 500 + i};
    }
    struct dr_id snap;
    dr_test_commit(t->repo[0], many, 10, 1000, &snap);
    assert_true(dr_mem_backend_count("readnet", "data/") >= 8);
    struct dr_read_want *w = NULL;
    size_t nw = 0, aw = 0;
    for (uint32_t i = 0; i < 10; i++) {
        struct dr_node n;
        dr_test_find_node(t->repo[0], &snap, many[i].name, &n);
        DR_GROW(w, aw, nw + n.nchunks);
        for (uint32_t c = 0; c < n.nchunks; c++) {
            w[nw++] = (struct dr_read_want){.id = n.chunks[c], .ulen = n.chunk_sizes[c]};
        }
        dr_node_release(&n);
    }
    char *cache = dr_test_tmpdir();
    struct dr_repo_open_opts o = {
        .location = "memnet://readnet", .password = DR_TEST_PASSWORD, .cache_dir = cache};
    struct dr_repo *r = NULL;
    assert_int_equal(dr_repo_open(&o, &r), 0);
    dr_mem_backend_set_get_delay("readnet", 30);
    unsigned per_core = DR_MIN(dr_read_default_workers(), 4u);
    const double idle[2] = {2.0, 0.0};
    const unsigned expect[2] = {4, per_core};
    for (int k = 0; k < 2; k++) {
        dr_read_set_idle_cores(idle[k]);
        struct tally_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
        struct dr_read_stats st = {0};
        assert_int_equal(dr_read_run(r, NULL, w, nw, tally_cb, &seen, &st), 0);
        assert_int_equal(seen.data, nw);
        assert_int_equal(seen.errors, 0);
        assert_int_equal(st.workers, expect[k]);
    }
    dr_read_set_idle_cores(-1);
    dr_mem_backend_set_get_delay("readnet", 0);
    dr_repo_close(r);
    dr_test_rmtree(cache);
    free(cache);
    free(w);
    for (uint32_t i = 0; i < 10; i++) {
        free((char *)many[i].name);
    }
    dr_test_env_free(t);
}

static void test_flipped_record(void **state)
{
    struct env *e = *state;
    /* flip a byte inside big's third chunk's record */
    struct dr_index_txn *txn;
    struct dr_index_blob b;
    assert_int_equal(dr_index_begin(dr_repo_index(e->r), false, &txn), 0);
    assert_int_equal(dr_index_blob_get(txn, &e->big.chunks[2], &b), 0);
    dr_index_abort(txn);
    assert_int_equal(dr_mem_backend_flip(STORE, e->pack, b.offset + b.clen / 2, 0x10), 0);
    const long bad[] = {2, (long)e->n - 1, -1};
    struct seen s;
    run_both(e, NULL, bad, NULL, &s);
    assert_non_null(strstr(s.msgs[2], "in pack 'data/"));
    char hex[DR_ID_HEX_LEN + 1];
    assert_non_null(strstr(s.msgs[2], dr_id_hex(&e->big.chunks[2], hex)));
    seen_release(&s);
    assert_int_equal(dr_mem_backend_flip(STORE, e->pack, b.offset + b.clen / 2, 0x10), 0);
}

static void test_truncated_pack(void **state)
{
    struct env *e = *state;
    /* cut the pack inside big's fifth chunk: the coalesced get comes back short, and the
     * records before the cut are still delivered (records are spread at random over the open
     * data packs, so which of big's chunks lie before the cut depends on the run) */
    struct dr_index_txn *txn;
    struct dr_index_blob b, bi[5];
    assert_int_equal(dr_index_begin(dr_repo_index(e->r), false, &txn), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(dr_index_blob_get(txn, &e->big.chunks[i], &bi[i]), 0);
    }
    dr_index_abort(txn);
    b = bi[4];
    struct seen s;
    seen_init(&s, e);
    int64_t size = dr_mem_backend_size(STORE, e->pack);
    assert_true(size > 0);
    uint64_t cut = (uint64_t)b.offset + 10;
    assert_int_equal(dr_mem_backend_truncate(STORE, e->pack, cut), 0);
    struct dr_read_stats st = {0};
    assert_int_equal(dr_read_run(e->r, NULL, e->w, e->n, run_cb, &s, &st), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(s.errors[i], (uint64_t)bi[i].offset + bi[i].clen <= cut ? 0 : 1);
    }
    assert_int_equal(s.errors[4], 1);
    assert_non_null(strstr(s.msgs[4], e->pack));
    assert_true(st.errors >= 2); /* chunk 4 and the id in no pack, at least */
    seen_release(&s);
}

static void test_callback_stops(void **state)
{
    struct env *e = *state;
    struct seen s;
    seen_init(&s, e);
    s.stop_after = 3;
    struct dr_read_params p;
    dr_read_params_default(&p);
    p.workers = 2;
    p.gap = 0;
    int rc = dr_read_run(e->r, &p, e->w, e->n, run_cb, &s, NULL);
    assert_int_equal(rc, DR_ENOSPC);
    assert_string_equal(dr_error_msg(), "the target is full (test)");
    assert_true((size_t)s.calls < e->n);
    seen_release(&s);
}

static void test_stream_closed_early(void **state)
{
    struct env *e = *state;
    struct dr_read_stream *rs;
    struct dr_read_params p;
    dr_read_params_default(&p);
    p.gap = 0;
    assert_int_equal(dr_read_stream_open(e->r, &p, e->w, e->n, &rs), 0);
    struct dr_read_extent x;
    assert_int_equal(dr_read_stream_next(rs, &x), 1);
    assert_int_equal(x.index, 0);
    assert_int_equal(x.kind, DR_EXTENT_DATA);
    dr_read_stream_close(rs, NULL);
    assert_int_equal(dr_read_stream_open(e->r, &p, e->w, 0, &rs), 0);
    assert_int_equal(dr_read_stream_next(rs, &x), 0);
    dr_read_stream_close(rs, NULL);
}

/* A chunk reader in the RDB decoder's order: one chunk, a jump, a long ascending run (windows
 * growing past the first stream), a jump back; every chunk right; a damaged chunk is an error
 * naming its pack, and the reader goes on after it. */
static void test_chunk_reader(void **state)
{
    struct env *e = *state;
    struct dr_chunk_reader *cr = dr_chunk_reader_new(e->r, &e->big);
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    uint32_t order[64];
    size_t n = 0;
    order[n++] = 0;
    for (uint32_t i = 3; i < e->big.nchunks; i++) {
        order[n++] = i;
    }
    order[n++] = 1;
    order[n++] = 2;
    uint64_t offs[64];
    uint64_t off = 0;
    for (uint32_t i = 0; i < e->big.nchunks; i++) {
        offs[i] = off;
        off += e->big.chunk_sizes[i];
    }
    for (size_t k = 0; k < n; k++) {
        uint32_t i = order[k];
        if (dr_chunk_reader_get(cr, i, &b) < 0) {
            fail_msg("chunk %u: %s", i, dr_error_msg());
        }
        assert_int_equal(b.len, e->big.chunk_sizes[i]);
        assert_memory_equal(b.buf, e->content[0] + offs[i], b.len);
    }
    assert_int_equal(dr_chunk_reader_get(cr, e->big.nchunks, &b), DR_ECORRUPT);
    struct dr_read_stats st = {0};
    dr_chunk_reader_free(cr, &st); /* its workers' read-ahead ends before the damage below */
    assert_true(st.gets >= 3);     /* three jumps at least */
    assert_int_equal(st.errors, 0);
    /* damage chunk 5: its get fails naming the pack, chunk 6 still reads */
    cr = dr_chunk_reader_new(e->r, &e->big);
    struct dr_index_txn *txn;
    struct dr_index_blob ib;
    assert_int_equal(dr_index_begin(dr_repo_index(e->r), false, &txn), 0);
    assert_int_equal(dr_index_blob_get(txn, &e->big.chunks[5], &ib), 0);
    dr_index_abort(txn);
    assert_int_equal(dr_mem_backend_flip(STORE, e->pack, ib.offset + ib.clen / 2, 0x10), 0);
    assert_int_equal(dr_chunk_reader_get(cr, 4, &b), 0);
    assert_true(dr_chunk_reader_get(cr, 5, &b) < 0);
    assert_non_null(strstr(dr_error_msg(), "in pack 'data/"));
    assert_int_equal(dr_chunk_reader_get(cr, 6, &b), 0);
    assert_memory_equal(b.buf, e->content[0] + offs[6], b.len);
    st = (struct dr_read_stats){0};
    dr_chunk_reader_free(cr, &st);
    assert_int_equal(st.errors, 1);
    dr_buf_release(&b);
}

/* Blobs of 32 KiB that compress to a few dozen bytes (as the pages of a database do, ~17x in
 * a PostgreSQL base backup): 40 MiB of plaintext lies in one or two packs of the 1 MiB the
 * test repository writes. A run on this local backend cuts it into units of at most
 * DR_READ_RUN_UNIT_PLAIN of plaintext (plus one record), so it makes at least 5 gets where one
 * per pack would leave the last pack's whole plaintext to one worker; every blob arrives once,
 * with its bytes. A stream keeps its own smaller units. */
#define PAGE_BLOB (32u * 1024)
#define PAGE_BLOBS 1280u

struct pages_seen {
    pthread_mutex_t mu;
    unsigned *count;
    unsigned wrong;
};

static void page_fill(uint8_t *p, uint32_t i)
{
    memset(p, 0, PAGE_BLOB);
    for (size_t k = 0; k < PAGE_BLOB; k += 512) {
        memcpy(p + k, &i, sizeof(i)); /* distinct blobs, a little content on every block */
    }
}

static int pages_cb(void *arg, const struct dr_read_extent *x)
{
    struct pages_seen *ps = arg;
    uint8_t want[PAGE_BLOB];
    page_fill(want, (uint32_t)x->want->tag);
    bool bad =
        x->kind != DR_EXTENT_DATA || x->len != PAGE_BLOB || memcmp(x->data, want, PAGE_BLOB) != 0;
    pthread_mutex_lock(&ps->mu);
    ps->wrong += bad;
    ps->count[x->index]++;
    pthread_mutex_unlock(&ps->mu);
    return 0;
}

static void test_compressible_run_split(void **state)
{
    struct env *e = *state;
    struct dr_read_want *w = dr_xcalloc(PAGE_BLOBS, sizeof(*w));
    struct dr_pipeline *pl = NULL;
    assert_int_equal(dr_pipeline_open(e->r, &pl), 0);
    for (uint32_t i = 0; i < PAGE_BLOBS; i++) {
        uint8_t *p = dr_xmalloc(PAGE_BLOB);
        page_fill(p, i);
        w[i] = (struct dr_read_want){.ulen = PAGE_BLOB, .tag = i, .off = (uint64_t)i * PAGE_BLOB};
        assert_int_equal(dr_pipeline_put_data(pl, p, PAGE_BLOB, &w[i].id), 0);
    }
    assert_int_equal(dr_pipeline_drain(pl), 0);
    assert_int_equal(dr_pipeline_flush(pl), 0);
    dr_pipeline_free(pl);
    /* the whole 40 MiB went into few packs: one get per pack would be one or two units */
    char **names;
    size_t np = dr_mem_backend_names(STORE, "data/", &names);
    dr_mem_backend_names_free(names, np);
    assert_true(np <= 4); /* the setup's pack and the new ones */

    struct dr_read_params p;
    dr_read_params_default(&p);
    p.workers = 2;
    struct pages_seen ps = {.count = dr_xcalloc(PAGE_BLOBS, sizeof(unsigned))};
    pthread_mutex_init(&ps.mu, NULL);
    struct dr_read_stats st = {0};
    assert_int_equal(dr_read_run(e->r, &p, w, PAGE_BLOBS, pages_cb, &ps, &st), 0);
    assert_int_equal(ps.wrong, 0);
    for (uint32_t i = 0; i < PAGE_BLOBS; i++) {
        assert_int_equal(ps.count[i], 1);
    }
    assert_int_equal(st.blobs, PAGE_BLOBS);
    uint64_t plain = (uint64_t)PAGE_BLOBS * PAGE_BLOB;
    assert_true(st.gets >= plain / (DR_READ_RUN_UNIT_PLAIN + PAGE_BLOB));
    /* still coalesced: not a get per blob */
    assert_true(st.gets <= plain / DR_READ_RUN_UNIT_PLAIN + np);
    assert_int_equal(st.bytes_fetched, st.bytes_used);

    /* a stream over the same blobs: in order, each once */
    struct dr_read_stream *rs;
    assert_int_equal(dr_read_stream_open(e->r, &p, w, PAGE_BLOBS, &rs), 0);
    struct dr_read_extent x;
    uint32_t next = 0;
    int rc;
    while ((rc = dr_read_stream_next(rs, &x)) == 1) {
        assert_int_equal(x.index, next++);
        assert_int_equal(pages_cb(&ps, &x), 0);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(next, PAGE_BLOBS);
    assert_int_equal(ps.wrong, 0);
    dr_read_stream_close(rs, NULL);
    pthread_mutex_destroy(&ps.mu);
    free(ps.count);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_all_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_cache, setup, teardown),
        cmocka_unit_test(test_workers_follow_idle_cores),
        cmocka_unit_test_setup_teardown(test_small_budget_many_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_pack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_closed_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressible_run_split, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
