/* test_backend_conformance.c: one set of cases that every storage driver must pass, run against
 * each location of a list through the public API (include/drrepo/backend.h).
 *
 * Covers: src/backend/backend.c (dispatcher, name check), src/backend/local/local.c,
 * tests/support/mem_backend.c, and any driver named by DR_TEST_S3_LOCATION.
 * Rounds: a fresh local directory (under a mkdtemp directory), the in-memory driver, and, only
 * when DR_TEST_S3_LOCATION is set (e.g. "s3:http://127.0.0.1:27480/bucket/prefix"), that
 * location; otherwise a line says the S3 round was skipped. Every case runs in a namespace of its
 * own (a new directory, a new store, or a random hex sub-prefix of the S3 location, so repeated
 * runs against one bucket never collide), and its teardown deletes every object the case made
 * and checks that the namespace lists empty afterwards.
 * Cases: put/get round trip and ranges (middle, to the end with UINT64_MAX, zero length, past
 * the end: DR_ECORRUPT), missing objects (DR_ENOENT from get, stat, delete); the empty object
 * and a 20 MiB object of random bytes; overwrite, and exclusive puts (DR_EEXIST, content kept);
 * 8 threads racing exclusive puts of one name (exactly one wins, its bytes are stored) and plain
 * puts (one writer's whole object, never a mix); list by directory prefix ("data" and "data/",
 * "dat" and "database" are not "data", a missing prefix, an object's name as prefix, nested
 * names, sizes, no temporary names even while puts run, a negative callback return stops the
 * listing and is returned) and of 1,100 objects under one prefix (past S3's page of 1,000), each
 * listed exactly once; delete, and the can_delete probe (1 for credentials that may delete,
 * changing nothing); a name that is the "directory" of longer names is no object
 * (stat fails, an exclusive put is not DR_EEXIST); names of every character class the dispatcher
 * allows (put, get, stat, list byte-exact, delete); and names it refuses, with DR_EUSAGE before any
 * driver is called (a spy driver counts the calls); the age of an object by the store's clock
 * (dr_backend_age): a fresh object is young, an old one old (local: its mtime set 31 minutes
 * back; mem: its write time set back; S3: after a 2 s wait, Date - Last-Modified), overwriting
 * makes it young again, a missing one is DR_ENOENT, and a driver without the operation (the spy)
 * answers DR_EUNSUPPORTED. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/backend/backend_int.h"
#include "drrepo/backend.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"
#include "mem_backend.h"

/* ---- rounds and the per-case namespace ---- */

enum round_kind {
    ROUND_LOCAL,
    ROUND_MEM,
    ROUND_S3,
};

/* The round the cases run in now (main sets it before each group). */
static enum round_kind cur_kind;
static const char *s3_base; /* DR_TEST_S3_LOCATION */

struct fixture {
    char dir[64];   /* local: the scratch directory, removed at teardown */
    char *root;     /* local: dir/repo */
    char *store;    /* mem: the store name */
    char *location; /* what dr_backend_open was given */
    struct dr_backend *b;
};

/* hex of 8 random bytes: the name of a fresh namespace */
static void random_hex(char out[17])
{
    uint8_t r[8];
    assert_int_equal(getrandom(r, sizeof(r), 0), (ssize_t)sizeof(r));
    for (size_t i = 0; i < sizeof(r); i++) {
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    }
}

static void expect_rc(int rc, int want, const char *what, const char *name)
{
    if (rc != want) {
        fail_msg("%s '%s': got %d (%s: %s), want %d (%s)", what, name, rc, dr_strerror(rc),
                 dr_error_msg(), want, dr_strerror(want));
    }
}

static void put_bytes(struct dr_backend *b, const char *name, const void *data, size_t len,
                      bool exclusive)
{
    expect_rc(dr_backend_put(b, name, data, len, exclusive), 0, "put", name);
}

static void put_str(struct dr_backend *b, const char *name, const char *s)
{
    put_bytes(b, name, s, strlen(s), false);
}

/* The whole object name must hold exactly want[0..len). */
static void expect_content(struct dr_backend *b, const char *name, const void *want, size_t len)
{
    struct dr_buf buf = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    expect_rc(dr_backend_get(b, name, 0, UINT64_MAX, &buf), 0, "get", name);
    if (buf.len != len || (len > 0 && memcmp(buf.buf, want, len) != 0)) {
        fail_msg("get '%s': %zu bytes that differ from the %zu put", name, buf.len, len);
    }
    uint64_t size = UINT64_MAX;
    expect_rc(dr_backend_stat(b, name, &size), 0, "stat", name);
    assert_int_equal(size, len);
    dr_buf_release(&buf);
}

/* ---- listings ---- */

struct entry {
    char *name;
    uint64_t size;
};

struct listing {
    pthread_mutex_t mu; /* the API does not promise on which thread cb runs */
    struct entry *v;
    size_t n, alloc;
    size_t calls;
    size_t stop_at; /* > 0: return stop_rc from that call on */
    int stop_rc;
};

static void listing_init(struct listing *l)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
}

static void listing_release(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
    }
    free(l->v);
    pthread_mutex_destroy(&l->mu);
}

static int collect(void *arg, const char *name, uint64_t size)
{
    struct listing *l = arg;
    pthread_mutex_lock(&l->mu);
    l->calls++;
    if (l->n == l->alloc) {
        l->alloc = l->alloc ? 2 * l->alloc : 64;
        l->v = dr_xrealloc(l->v, l->alloc * sizeof(*l->v));
    }
    l->v[l->n].name = dr_xstrdup(name);
    l->v[l->n].size = size;
    l->n++;
    int rc = l->stop_at > 0 && l->calls >= l->stop_at ? l->stop_rc : 0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* Lists prefix into a fresh listing, sorted by name; a failed listing fails the case. */
static void list_sorted(struct dr_backend *b, const char *prefix, struct listing *l)
{
    listing_init(l);
    int rc = dr_backend_list(b, prefix, collect, l);
    if (rc < 0) {
        fail_msg("list '%s': %s: %s", prefix, dr_strerror(rc), dr_error_msg());
    }
    if (l->n > 1) {
        qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
    }
}

/* True when some component of name starts with the temporary-file prefix. */
static bool has_tmp_component(const char *name)
{
    size_t plen = strlen(DR_FS_TMP_PREFIX);
    for (const char *c = name; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
        if (strncmp(c, DR_FS_TMP_PREFIX, plen) == 0) {
            return true;
        }
    }
    return false;
}

/* The listing of prefix must be exactly names[0..n) (any order) with sizes[i] (NULL: the
 * length of the name itself), each once, and hold no temporary name. */
static void expect_listing(struct dr_backend *b, const char *prefix, const char *const *names,
                           const uint64_t *sizes, size_t n)
{
    struct listing l;
    list_sorted(b, prefix, &l);
    struct entry *want = dr_xcalloc(n + 1, sizeof(*want));
    for (size_t i = 0; i < n; i++) {
        want[i].name = (char *)names[i];
        want[i].size = sizes ? sizes[i] : strlen(names[i]);
    }
    qsort(want, n, sizeof(*want), cmp_entry);
    for (size_t i = 0; i < l.n; i++) {
        if (has_tmp_component(l.v[i].name)) {
            fail_msg("list '%s' gave the temporary name '%s'", prefix, l.v[i].name);
        }
        if (i > 0 && strcmp(l.v[i - 1].name, l.v[i].name) == 0) {
            fail_msg("list '%s' gave '%s' twice", prefix, l.v[i].name);
        }
    }
    for (size_t i = 0; i < n || i < l.n; i++) {
        if (i >= l.n || i >= n || strcmp(l.v[i].name, want[i].name) != 0) {
            fail_msg("list '%s': %zu names, want %zu; first difference: got '%s', want '%s'",
                     prefix, l.n, n, i < l.n ? l.v[i].name : "(none)",
                     i < n ? want[i].name : "(none)");
        }
        if (l.v[i].size != want[i].size) {
            fail_msg("list '%s': '%s' has size %llu, want %llu", prefix, l.v[i].name,
                     (unsigned long long)l.v[i].size, (unsigned long long)want[i].size);
        }
    }
    free(want);
    listing_release(&l);
}

/* ---- deleting many objects from a few threads (1,100 sequential S3 requests are slow) ---- */

#define CONF_THREADS 4

struct batch {
    struct dr_backend *b;
    char **names;
    size_t n;
    size_t first, step;
    bool put;         /* put each name with its own bytes as content, else delete it */
    int rc;           /* the first failure */
    char failed[128]; /* its object */
    char msg[256];    /* its message */
};

static void *batch_worker(void *arg)
{
    struct batch *w = arg;
    for (size_t i = w->first; i < w->n && w->rc == 0; i += w->step) {
        const char *name = w->names[i];
        int rc = w->put ? dr_backend_put(w->b, name, name, strlen(name), true)
                        : dr_backend_delete(w->b, name);
        if (rc < 0) {
            w->rc = rc;
            snprintf(w->failed, sizeof(w->failed), "%s", name);
            snprintf(w->msg, sizeof(w->msg), "%s", dr_error_msg());
        }
    }
    return NULL;
}

/* Puts (content: the name) or deletes names[0..n) from CONF_THREADS threads. */
static void run_batch(struct dr_backend *b, char **names, size_t n, bool put)
{
    struct batch w[CONF_THREADS];
    pthread_t t[CONF_THREADS];
    for (size_t i = 0; i < CONF_THREADS; i++) {
        w[i] = (struct batch){
            .b = b, .names = names, .n = n, .first = i, .step = CONF_THREADS, .put = put};
        assert_int_equal(pthread_create(&t[i], NULL, batch_worker, &w[i]), 0);
    }
    for (size_t i = 0; i < CONF_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    for (size_t i = 0; i < CONF_THREADS; i++) {
        if (w[i].rc < 0) {
            fail_msg("%s '%s': %s: %s", put ? "put" : "delete", w[i].failed, dr_strerror(w[i].rc),
                     w[i].msg);
        }
    }
}

/* ---- setup and teardown: a fresh namespace per case ---- */

static int setup(void **state)
{
    struct fixture *f = dr_xcalloc(1, sizeof(*f));
    char hex[17];
    random_hex(hex);
    switch (cur_kind) {
    case ROUND_LOCAL:
        snprintf(f->dir, sizeof(f->dir), "/tmp/dr-test-conformance-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->root = dr_fs_join(f->dir, "repo");
        f->location = dr_xstrdup(f->root);
        break;
    case ROUND_MEM:
        f->store = dr_xasprintf("conformance-%s", hex);
        f->location = dr_xasprintf("mem://%s", f->store);
        break;
    case ROUND_S3: {
        size_t len = strlen(s3_base);
        bool slash = len > 0 && s3_base[len - 1] == '/';
        f->location = dr_xasprintf("%s%sconf-%s", s3_base, slash ? "" : "/", hex);
        break;
    }
    }
    int rc = dr_backend_open(f->location, &f->b);
    if (rc < 0) {
        fail_msg("open '%s': %s: %s", f->location, dr_strerror(rc), dr_error_msg());
    }
    *state = f;
    return 0;
}

/* Deletes every object of the namespace and checks that it then lists empty. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    struct listing l;
    list_sorted(f->b, "", &l);
    char **names = dr_xcalloc(l.n + 1, sizeof(*names));
    for (size_t i = 0; i < l.n; i++) {
        names[i] = l.v[i].name;
    }
    run_batch(f->b, names, l.n, false);
    free(names);
    listing_release(&l);
    expect_listing(f->b, "", NULL, NULL, 0);
    dr_backend_close(f->b);
    if (cur_kind == ROUND_LOCAL) {
        char *cmd = dr_xasprintf("rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(f->root);
    } else if (cur_kind == ROUND_MEM) {
        dr_mem_backend_destroy(f->store);
        free(f->store);
    }
    free(f->location);
    free(f);
    return 0;
}

/* ---- random bytes for large objects: splitmix64 seeded from the kernel ---- */

static void fill_random(uint8_t *p, size_t len)
{
    uint64_t x;
    assert_int_equal(getrandom(&x, sizeof(x), 0), (ssize_t)sizeof(x));
    for (size_t i = 0; i < len; i += 8) {
        x += 0x9e3779b97f4a7c15ULL;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        memcpy(p + i, &z, len - i < 8 ? len - i : 8);
    }
}

/* ---- the cases ---- */

static void test_round_trip_ranges(void **state)
{
    struct fixture *f = *state;
    char data[100];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (char)('A' + i % 26);
    }
    const char *name = "data/ab/ab0123456789";
    put_bytes(f->b, name, data, sizeof(data), false);
    expect_content(f->b, name, data, sizeof(data));

    /* get appends to what the buffer holds */
    struct dr_buf buf = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_buf_adds(&buf, "pre:"), 0);
    expect_rc(dr_backend_get(f->b, name, 10, 20, &buf), 0, "get [10,30) of", name);
    assert_int_equal(buf.len, 24);
    assert_memory_equal(buf.buf, "pre:", 4);
    assert_memory_equal(buf.buf + 4, data + 10, 20);

    /* to the end */
    dr_buf_reset(&buf);
    expect_rc(dr_backend_get(f->b, name, 37, UINT64_MAX, &buf), 0, "get [37,end) of", name);
    assert_int_equal(buf.len, 63);
    assert_memory_equal(buf.buf, data + 37, 63);

    /* zero-length ranges: inside, at the end, and "to the end" from the end */
    static const uint64_t empty[][2] = {{0, 0}, {50, 0}, {100, 0}, {100, UINT64_MAX}};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        dr_buf_reset(&buf);
        expect_rc(dr_backend_get(f->b, name, empty[i][0], empty[i][1], &buf), 0, "empty get of",
                  name);
        assert_int_equal(buf.len, 0);
    }
    /* the last byte alone */
    dr_buf_reset(&buf);
    expect_rc(dr_backend_get(f->b, name, 99, 1, &buf), 0, "get [99,100) of", name);
    assert_int_equal(buf.len, 1);
    assert_int_equal(buf.buf[0], data[99]);

    /* past the end: the object is shorter than the caller expected */
    static const uint64_t past[][2] = {
        {90, 11}, {0, 101}, {101, 0}, {101, UINT64_MAX}, {5, UINT64_MAX - 1}, {UINT64_MAX - 1, 2},
    };
    for (size_t i = 0; i < sizeof(past) / sizeof(past[0]); i++) {
        dr_buf_reset(&buf);
        int rc = dr_backend_get(f->b, name, past[i][0], past[i][1], &buf);
        if (rc != DR_ECORRUPT) {
            fail_msg("get [%llu,+%llu) of a 100-byte object: %d (%s), want DR_ECORRUPT",
                     (unsigned long long)past[i][0], (unsigned long long)past[i][1], rc,
                     dr_error_msg());
        }
    }

    /* missing objects, also below a missing directory */
    static const char *const missing[] = {"data/ab/nosuch", "nosuch/dir/obj", "config"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        uint64_t size = 12345;
        expect_rc(dr_backend_get(f->b, missing[i], 0, UINT64_MAX, &buf), DR_ENOENT, "get",
                  missing[i]);
        expect_rc(dr_backend_get(f->b, missing[i], 0, 0, &buf), DR_ENOENT, "empty get", missing[i]);
        expect_rc(dr_backend_stat(f->b, missing[i], &size), DR_ENOENT, "stat", missing[i]);
        assert_int_equal(size, 12345); /* out-parameters are written only on success */
    }
    dr_buf_release(&buf);
}

static void test_empty_and_large(void **state)
{
    struct fixture *f = *state;
    put_bytes(f->b, "data/00/empty", "", 0, true);
    expect_content(f->b, "data/00/empty", "", 0);
    struct dr_buf buf = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    expect_rc(dr_backend_get(f->b, "data/00/empty", 0, 0, &buf), 0, "get [0,0) of", "empty");
    assert_int_equal(buf.len, 0);
    expect_rc(dr_backend_get(f->b, "data/00/empty", 0, 1, &buf), DR_ECORRUPT, "get [0,1) of",
              "empty");

    size_t big = (size_t)20 << 20;
    uint8_t *data = dr_xmalloc(big);
    fill_random(data, big);
    const char *name = "data/ff/large";
    put_bytes(f->b, name, data, big, true);
    expect_content(f->b, name, data, big);
    /* a range at an odd offset reaching the end, and one in the middle of the object */
    dr_buf_reset(&buf);
    uint64_t off = big - (1u << 20) - 17;
    expect_rc(dr_backend_get(f->b, name, off, UINT64_MAX, &buf), 0, "get tail of", name);
    assert_int_equal(buf.len, big - off);
    assert_memory_equal(buf.buf, data + off, big - off);
    dr_buf_reset(&buf);
    expect_rc(dr_backend_get(f->b, name, 7777777, 3333333, &buf), 0, "get middle of", name);
    assert_int_equal(buf.len, 3333333);
    assert_memory_equal(buf.buf, data + 7777777, 3333333);
    expect_rc(dr_backend_get(f->b, name, big - 1, 2, &buf), DR_ECORRUPT, "get past end of", name);
    /* a large exclusive put is as exclusive as a small one (S3: a multipart upload whose
     * completion is conditional, when DRREPO_S3_PART_SIZE is below 20 MiB), and the object
     * is left as it was */
    data[0] ^= 1;
    expect_rc(dr_backend_put(f->b, name, data, big, true), DR_EEXIST, "exclusive put over", name);
    data[0] ^= 1;
    expect_content(f->b, name, data, big);

    static const char *const names[] = {"data/00/empty", "data/ff/large"};
    const uint64_t sizes[] = {0, big};
    expect_listing(f->b, "data", names, sizes, 2);
    free(data);
    dr_buf_release(&buf);
}

static void test_overwrite_exclusive(void **state)
{
    struct fixture *f = *state;
    put_str(f->b, "config", "first");
    put_str(f->b, "config", "second, longer");
    expect_content(f->b, "config", "second, longer", 14);
    /* shorter than before: nothing of the old content is left behind */
    put_str(f->b, "config", "3");
    expect_content(f->b, "config", "3", 1);

    expect_rc(dr_backend_put(f->b, "config", "clobber", 7, true), DR_EEXIST, "exclusive put",
              "config");
    expect_content(f->b, "config", "3", 1);
    expect_rc(dr_backend_put(f->b, "config", "", 0, true), DR_EEXIST, "exclusive empty put",
              "config");
    expect_content(f->b, "config", "3", 1);

    put_bytes(f->b, "keys/k1", "key", 3, true);
    expect_content(f->b, "keys/k1", "key", 3);
    expect_rc(dr_backend_put(f->b, "keys/k1", "key2", 4, true), DR_EEXIST, "exclusive put",
              "keys/k1");
    expect_content(f->b, "keys/k1", "key", 3);
    /* a plain put still replaces it */
    put_str(f->b, "keys/k1", "replaced");
    expect_content(f->b, "keys/k1", "replaced", 8);

    static const char *const names[] = {"config", "keys/k1"};
    const uint64_t sizes[] = {1, 8};
    expect_listing(f->b, "", names, sizes, 2);
}

/* ---- racing writers ---- */

#define RACE_THREADS 8
#define RACE_LEN (64 * 1024)

struct racer {
    struct dr_backend *b;
    pthread_barrier_t *start;
    const char *name;
    bool exclusive;
    uint8_t *data;
    int rc;
    char msg[256];
};

static void *race_worker(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->start);
    r->rc = dr_backend_put(r->b, r->name, r->data, RACE_LEN, r->exclusive);
    snprintf(r->msg, sizeof(r->msg), "%s", r->rc < 0 ? dr_error_msg() : "");
    return NULL;
}

/* Starts RACE_THREADS puts of name at once, each with its own bytes; returns the index of the
 * writer whose bytes are stored, checking that they are one writer's whole object. */
static size_t race(struct dr_backend *b, const char *name, bool exclusive, struct racer *r)
{
    pthread_barrier_t start;
    pthread_t t[RACE_THREADS];
    assert_int_equal(pthread_barrier_init(&start, NULL, RACE_THREADS), 0);
    for (size_t i = 0; i < RACE_THREADS; i++) {
        r[i].b = b;
        r[i].start = &start;
        r[i].name = name;
        r[i].exclusive = exclusive;
        fill_random(r[i].data, RACE_LEN);
        r[i].data[0] = (uint8_t)i; /* tells the writers apart even if the draws collided */
        assert_int_equal(pthread_create(&t[i], NULL, race_worker, &r[i]), 0);
    }
    for (size_t i = 0; i < RACE_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    pthread_barrier_destroy(&start);
    struct dr_buf buf = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    expect_rc(dr_backend_get(b, name, 0, UINT64_MAX, &buf), 0, "get raced", name);
    assert_int_equal(buf.len, RACE_LEN);
    size_t stored = RACE_THREADS;
    for (size_t i = 0; i < RACE_THREADS; i++) {
        if (memcmp(buf.buf, r[i].data, RACE_LEN) == 0) {
            stored = i;
        }
    }
    if (stored == RACE_THREADS) {
        fail_msg("'%s' holds bytes that are no single writer's object", name);
    }
    dr_buf_release(&buf);
    return stored;
}

static void test_concurrent_puts(void **state)
{
    struct fixture *f = *state;
    struct racer r[RACE_THREADS];
    memset(r, 0, sizeof(r));
    for (size_t i = 0; i < RACE_THREADS; i++) {
        r[i].data = dr_xmalloc(RACE_LEN);
    }
    for (int round = 0; round < 6; round++) {
        char name[64];
        snprintf(name, sizeof(name), "locks/race-%d", round);
        size_t stored = race(f->b, name, true, r);
        size_t winners = 0;
        for (size_t i = 0; i < RACE_THREADS; i++) {
            if (r[i].rc == 0) {
                winners++;
                if (i != stored) {
                    fail_msg("'%s': writer %zu won, but writer %zu's bytes are stored", name, i,
                             stored);
                }
            } else if (r[i].rc != DR_EEXIST) {
                fail_msg("'%s': a losing exclusive put gave %d (%s), want DR_EEXIST", name, r[i].rc,
                         r[i].msg);
            }
        }
        if (winners != 1) {
            fail_msg("'%s': %zu exclusive puts succeeded, want exactly one", name, winners);
        }
    }
    /* plain puts all succeed, and the object is one of them, whole */
    for (int round = 0; round < 3; round++) {
        char name[64];
        snprintf(name, sizeof(name), "index/race-%d", round);
        (void)race(f->b, name, false, r);
        for (size_t i = 0; i < RACE_THREADS; i++) {
            expect_rc(r[i].rc, 0, "racing plain put", name);
        }
    }
    for (size_t i = 0; i < RACE_THREADS; i++) {
        free(r[i].data);
    }
}

/* ---- listings ---- */

#define WRITER_OBJECTS 16
#define WRITER_LEN (256 * 1024)

struct writer {
    struct dr_backend *b;
    int rc;
    char msg[256];
    int done; /* read with __atomic_load_n */
};

static void *writer_worker(void *arg)
{
    struct writer *w = arg;
    uint8_t *data = dr_xcalloc(1, WRITER_LEN);
    for (int i = 0; i < WRITER_OBJECTS && w->rc == 0; i++) {
        char name[64];
        snprintf(name, sizeof(name), "data/ee/w%02d", i);
        memset(data, 'a' + i, WRITER_LEN);
        w->rc = dr_backend_put(w->b, name, data, WRITER_LEN, false);
        if (w->rc < 0) {
            snprintf(w->msg, sizeof(w->msg), "%s", dr_error_msg());
        }
    }
    free(data);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_list(void **state)
{
    struct fixture *f = *state;
    static const char *const data_names[] = {
        "data/ab/ab00000000000000000000000000000000000000000000000000000000000001",
        "data/ab/ab00000000000000000000000000000000000000000000000000000000000002",
        "data/cd/cdffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "data/cd/cd0123",
        "data/flat",
    };
    static const char *const other_names[] = {
        "config", "database/x", "dat", "snapshots/s1", "keys/k1", "index/ab/cd/deep",
    };
    size_t nd = sizeof(data_names) / sizeof(data_names[0]);
    size_t no = sizeof(other_names) / sizeof(other_names[0]);
    uint64_t data_sizes[8];
    for (size_t i = 0; i < nd; i++) {
        /* sizes differ from the name lengths: list must report the object's size */
        data_sizes[i] = 3 * i + 1;
        char content[32];
        memset(content, 'x', sizeof(content));
        put_bytes(f->b, data_names[i], content, (size_t)data_sizes[i], true);
    }
    for (size_t i = 0; i < no; i++) {
        put_str(f->b, other_names[i], other_names[i]);
    }

    if (cur_kind == ROUND_LOCAL) {
        /* a writer's temporary files, a live one's and a dead one's: never objects */
        static const char *const tmps[] = {"data/ab/" DR_FS_TMP_PREFIX "1-ab01-Xy12Ab",
                                           DR_FS_TMP_PREFIX "999999-config-abcdef"};
        for (size_t i = 0; i < 2; i++) {
            char *path = dr_fs_join(f->root, tmps[i]);
            FILE *fp = fopen(path, "w");
            assert_non_null(fp);
            assert_int_equal(fputs("partial", fp) >= 0, 1);
            assert_int_equal(fclose(fp), 0);
            free(path);
        }
    }

    expect_listing(f->b, "data", data_names, data_sizes, nd);
    expect_listing(f->b, "data/", data_names, data_sizes, nd);
    expect_listing(f->b, "data//", data_names, data_sizes, nd);
    expect_listing(f->b, "data/ab", data_names, data_sizes, 2);
    expect_listing(f->b, "data/cd/", data_names + 2, data_sizes + 2, 2);
    expect_listing(f->b, "index", other_names + 5, NULL, 1);
    expect_listing(f->b, "index/ab/cd", other_names + 5, NULL, 1);
    /* a prefix is a directory: "da" and "dat" are not "data", nor is "data" "database" */
    expect_listing(f->b, "da", NULL, NULL, 0);
    expect_listing(f->b, "database", other_names + 1, NULL, 1);
    expect_listing(f->b, "data/a", NULL, NULL, 0);
    /* missing prefixes, and an object's own name, list nothing */
    expect_listing(f->b, "nosuch", NULL, NULL, 0);
    expect_listing(f->b, "data/zz", NULL, NULL, 0);
    expect_listing(f->b, "config", NULL, NULL, 0);
    expect_listing(f->b, "data/flat", NULL, NULL, 0);

    const char *all[16];
    uint64_t all_sizes[16];
    for (size_t i = 0; i < nd; i++) {
        all[i] = data_names[i];
        all_sizes[i] = data_sizes[i];
    }
    for (size_t i = 0; i < no; i++) {
        all[nd + i] = other_names[i];
        all_sizes[nd + i] = strlen(other_names[i]);
    }
    expect_listing(f->b, "", all, all_sizes, nd + no);

    /* a negative return from the callback stops the listing and is what list returns */
    static const int stops[] = {DR_EINTR, -1000};
    for (size_t i = 0; i < 2; i++) {
        for (size_t at = 1; at <= 3; at += 2) {
            struct listing l;
            listing_init(&l);
            l.stop_at = at;
            l.stop_rc = stops[i];
            assert_int_equal(dr_backend_list(f->b, "", collect, &l), stops[i]);
            assert_int_equal(l.calls, at);
            listing_release(&l);
        }
    }

    /* listings while a writer puts: only whole objects, never a temporary name */
    struct writer w = {.b = f->b};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_worker, &w), 0);
    int lists = 0;
    for (bool last = false; !last; lists++) {
        last = __atomic_load_n(&w.done, __ATOMIC_ACQUIRE) != 0;
        struct listing l;
        list_sorted(f->b, "data/ee", &l);
        for (size_t i = 0; i < l.n; i++) {
            if (strncmp(l.v[i].name, "data/ee/w", 9) != 0 || strlen(l.v[i].name) != 11 ||
                l.v[i].size != WRITER_LEN) {
                fail_msg("list during puts gave '%s' of %llu bytes", l.v[i].name,
                         (unsigned long long)l.v[i].size);
            }
        }
        if (last && w.rc == 0) {
            assert_int_equal(l.n, WRITER_OBJECTS);
        }
        listing_release(&l);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    expect_rc(w.rc, 0, "put while listing", w.msg);
    assert_true(lists >= 1);
}

#define MANY_OBJECTS 1100

static void test_list_many(void **state)
{
    struct fixture *f = *state;
    char **names = dr_xcalloc(MANY_OBJECTS, sizeof(*names));
    for (size_t i = 0; i < MANY_OBJECTS; i++) {
        /* 16 directories, so the local driver walks several and S3 pages across them */
        names[i] =
            dr_xasprintf("data/%x%x/%04zx%s", (unsigned)(i % 16), (unsigned)(i % 16), i, "c0ffee");
    }
    run_batch(f->b, names, MANY_OBJECTS, true);
    put_str(f->b, "database/outside", "not below data");
    expect_listing(f->b, "data", (const char *const *)names, NULL, MANY_OBJECTS);
    expect_listing(f->b, "data/", (const char *const *)names, NULL, MANY_OBJECTS);
    for (size_t i = 0; i < MANY_OBJECTS; i++) {
        free(names[i]);
    }
    free(names);
}

static void test_delete(void **state)
{
    struct fixture *f = *state;
    put_str(f->b, "snapshots/s1", "one");
    put_str(f->b, "snapshots/s2", "two");
    expect_rc(dr_backend_delete(f->b, "snapshots/s1"), 0, "delete", "snapshots/s1");
    struct dr_buf buf = DR_BUF_INIT(1024);
    uint64_t size = 0;
    expect_rc(dr_backend_get(f->b, "snapshots/s1", 0, UINT64_MAX, &buf), DR_ENOENT, "get deleted",
              "snapshots/s1");
    expect_rc(dr_backend_stat(f->b, "snapshots/s1", &size), DR_ENOENT, "stat deleted",
              "snapshots/s1");
    expect_rc(dr_backend_delete(f->b, "snapshots/s1"), DR_ENOENT, "delete again", "snapshots/s1");
    expect_rc(dr_backend_delete(f->b, "nosuch/dir/x"), DR_ENOENT, "delete missing", "nosuch/dir/x");
    expect_rc(dr_backend_delete(f->b, "snapshots/never"), DR_ENOENT, "delete missing",
              "snapshots/never");
    /* the probe of credentials that may delete: a missing name, nothing changes */
    expect_rc(dr_backend_can_delete(f->b, "snapshots/never"), 1, "can_delete", "snapshots/never");
    expect_rc(dr_backend_can_delete(f->b, "../x"), DR_EUSAGE, "can_delete", "../x");
    /* the sibling stays */
    static const char *const left[] = {"snapshots/s2"};
    const uint64_t left_size[] = {3};
    expect_listing(f->b, "snapshots", left, left_size, 1);
    expect_content(f->b, "snapshots/s2", "two", 3);
    /* the name is free again: even an exclusive put succeeds */
    put_bytes(f->b, "snapshots/s1", "again", 5, true);
    expect_content(f->b, "snapshots/s1", "again", 5);
    expect_rc(dr_backend_delete(f->b, "snapshots/s1"), 0, "delete", "snapshots/s1");
    expect_rc(dr_backend_delete(f->b, "snapshots/s2"), 0, "delete", "snapshots/s2");
    expect_listing(f->b, "", NULL, NULL, 0);
    dr_buf_release(&buf);
}

/* A name that is also the "directory" of longer names ("data/ab" of "data/ab/<hex>") is no
 * object: the repository never makes one, and drivers differ in whether they can (an object
 * store can, a directory cannot), but none may claim it exists. */
static void test_name_over_directory(void **state)
{
    struct fixture *f = *state;
    put_str(f->b, "data/ab/abcd", "x");
    uint64_t size = 99;
    int rc = dr_backend_stat(f->b, "data/ab", &size);
    if (rc >= 0 || rc == DR_EEXIST) {
        fail_msg("stat of the directory 'data/ab' gave %d, size %llu", rc,
                 (unsigned long long)size);
    }
    assert_int_equal(size, 99);
    rc = dr_backend_put(f->b, "data/ab", "dir", 3, true);
    if (rc == DR_EEXIST) {
        fail_msg("exclusive put of the directory 'data/ab' claims the object exists: %s",
                 dr_error_msg());
    }
    static const char *const names[] = {"data/ab/abcd", "data/ab"};
    const uint64_t sizes[] = {1, 3};
    if (rc == 0) {
        /* stored beside the longer name: both are objects now */
        expect_content(f->b, "data/ab", "dir", 3);
        expect_listing(f->b, "data", names, sizes, 2);
    } else {
        expect_listing(f->b, "data", names, sizes, 1);
    }
    expect_content(f->b, "data/ab/abcd", "x", 1);
}

/* Names of every class check_name() in src/backend/backend.c lets through: it refuses only
 * control characters, "..", a leading '/', empty and "." components and the temporary prefix,
 * so everything else printable and every byte >= 0x80 (here valid UTF-8: S3 keys must be) is a
 * name. The characters that need escaping in a URL, a query string or XML are the point. */
static const char *const odd_names[] = {
    "chars/letters-ABCXYZabcxyz",
    "chars/digits-0123456789",
    "chars/dash-underscore_dot.plus+equals=comma,at@tilde~",
    "chars/space in the middle",
    "chars/ leading space",
    "chars/trailing space ",
    "chars/trailing.dot.",
    "chars/.hidden",
    "chars/percent%20%2F%41%-%zz%",
    "chars/amp&hash#question?colon:",
    "chars/plus+and space +",
    "chars/quotes'\"and\\backslash",
    "chars/brackets[]{}()<>",
    "chars/misc!$^*;|`",
    "chars/xml&amp;&lt;tag&gt;<x/>",
    "chars/utf8-\xc3\xa9\xc3\xa8-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x99\x82",
    "chars/dir with space/obj",
    "chars/\xc3\xbc\x6e\xc3\xaf dir/f+g",
    "chars/q?dir/x=y&z",
    "chars/pct%2Fdir/obj",
};
#define ODD_NAMES (sizeof(odd_names) / sizeof(odd_names[0]))

static void test_names_allowed(void **state)
{
    struct fixture *f = *state;
    /* and one name with every printable ASCII character but '/' */
    char every[128] = "chars/all-";
    size_t len = strlen(every);
    for (int c = 0x20; c < 0x7f; c++) {
        if (c != '/') {
            every[len++] = (char)c;
        }
    }
    every[len] = '\0';
    const char *names[ODD_NAMES + 1];
    for (size_t i = 0; i < ODD_NAMES; i++) {
        names[i] = odd_names[i];
    }
    names[ODD_NAMES] = every;
    size_t n = ODD_NAMES + 1;

    for (size_t i = 0; i < n; i++) {
        put_bytes(f->b, names[i], names[i], strlen(names[i]), true);
    }
    for (size_t i = 0; i < n; i++) {
        expect_content(f->b, names[i], names[i], strlen(names[i]));
        expect_rc(dr_backend_put(f->b, names[i], "x", 1, true), DR_EEXIST, "exclusive put",
                  names[i]);
    }
    expect_listing(f->b, "chars", names, NULL, n);
    static const char *const in_dir[] = {"chars/dir with space/obj"};
    expect_listing(f->b, "chars/dir with space", in_dir, NULL, 1);
    static const char *const in_qdir[] = {"chars/q?dir/x=y&z"};
    expect_listing(f->b, "chars/q?dir/", in_qdir, NULL, 1);
    static const char *const in_pdir[] = {"chars/pct%2Fdir/obj"};
    expect_listing(f->b, "chars/pct%2Fdir", in_pdir, NULL, 1);
    for (size_t i = 0; i < n; i++) {
        expect_rc(dr_backend_delete(f->b, names[i]), 0, "delete", names[i]);
        uint64_t size = 0;
        expect_rc(dr_backend_stat(f->b, names[i], &size), DR_ENOENT, "stat deleted", names[i]);
    }
    expect_listing(f->b, "chars", NULL, NULL, 0);
}

/* A driver that counts its calls and fails them all: a name the dispatcher refuses must never
 * reach it. */
static int spy_calls;

static int spy_fail(const char *what)
{
    __atomic_add_fetch(&spy_calls, 1, __ATOMIC_SEQ_CST);
    return dr_errorf(DR_EINTERNAL, "spy driver reached by %s", what);
}

static int spy_put(void *drv, const char *name, const void *data, size_t len, bool exclusive)
{
    (void)drv, (void)name, (void)data, (void)len, (void)exclusive;
    return spy_fail("put");
}

static int spy_get(void *drv, const char *name, uint64_t off, uint64_t len, struct dr_buf *out)
{
    (void)drv, (void)name, (void)off, (void)len, (void)out;
    return spy_fail("get");
}

static int spy_stat(void *drv, const char *name, uint64_t *out_size)
{
    (void)drv, (void)name, (void)out_size;
    return spy_fail("stat");
}

static int spy_list(void *drv, const char *prefix, dr_backend_list_cb cb, void *arg)
{
    (void)drv, (void)prefix, (void)cb, (void)arg;
    return spy_fail("list");
}

static int spy_remove(void *drv, const char *name)
{
    (void)drv, (void)name;
    return spy_fail("delete");
}

static void spy_close(void *drv)
{
    (void)drv;
}

static const struct dr_backend_ops spy_ops = {
    .name = "spy",
    .put = spy_put,
    .get = spy_get,
    .stat = spy_stat,
    .list = spy_list,
    .remove = spy_remove,
    .close = spy_close,
};

static int spy_open(const char *rest, void **out_drv)
{
    (void)rest;
    static int token;
    *out_drv = &token;
    return 0;
}

static void test_names_refused(void **state)
{
    struct fixture *f = *state;
    char too_long[1100];
    memset(too_long, 'a', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    for (size_t i = 100; i < sizeof(too_long) - 1; i += 100) {
        too_long[i] = '/'; /* short components: only the total length is wrong */
    }
    static const char *const bad[] = {
        "",
        "/config",
        "/",
        "//data/x",
        "..",
        "../x",
        "data/../x",
        "data/..",
        "a..b",
        ".",
        "./x",
        "data/./x",
        "data/.",
        "data//x",
        "data/",
        "ctl\x01x",
        "tab\tx",
        "new\nline",
        "cr\rx",
        "esc\x1b[0m",
        "del\x7fx",
        DR_FS_TMP_PREFIX "1-x-abcdef",
        "data/" DR_FS_TMP_PREFIX "123-x-abcdef",
        "data/" DR_FS_TMP_PREFIX "/x",
        DR_FS_TMP_PREFIX,
    };
    static const char *const bad_prefixes[] = {
        "/", "/data", "..", "data/../x", "./data", "a//b", "ctl\x01", DR_FS_TMP_PREFIX "x",
    };
    struct dr_backend *spy = NULL;
    assert_int_equal(dr_backend_open("confspy://x", &spy), 0);
    struct dr_backend *backends[] = {f->b, spy};
    struct dr_buf buf = DR_BUF_INIT(1024);
    __atomic_store_n(&spy_calls, 0, __ATOMIC_SEQ_CST);
    for (size_t k = 0; k < 2; k++) {
        struct dr_backend *b = backends[k];
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 2; i++) {
            const char *name = i < sizeof(bad) / sizeof(bad[0])    ? bad[i]
                               : i == sizeof(bad) / sizeof(bad[0]) ? too_long
                                                                   : NULL;
            const char *shown = name ? name : "(null)";
            uint64_t size = 7;
            expect_rc(dr_backend_put(b, name, "x", 1, false), DR_EUSAGE, "put", shown);
            expect_rc(dr_backend_put(b, name, "x", 1, true), DR_EUSAGE, "exclusive put", shown);
            expect_rc(dr_backend_get(b, name, 0, UINT64_MAX, &buf), DR_EUSAGE, "get", shown);
            expect_rc(dr_backend_stat(b, name, &size), DR_EUSAGE, "stat", shown);
            expect_rc(dr_backend_delete(b, name), DR_EUSAGE, "delete", shown);
            assert_int_equal(size, 7);
            assert_int_equal(buf.len, 0);
            assert_non_null(strstr(dr_error_msg(), "invalid object name"));
        }
        for (size_t i = 0; i < sizeof(bad_prefixes) / sizeof(bad_prefixes[0]); i++) {
            struct listing l;
            listing_init(&l);
            expect_rc(dr_backend_list(b, bad_prefixes[i], collect, &l), DR_EUSAGE, "list",
                      bad_prefixes[i]);
            assert_int_equal(l.calls, 0);
            listing_release(&l);
        }
    }
    assert_int_equal(__atomic_load_n(&spy_calls, __ATOMIC_SEQ_CST), 0);
    /* the spy does answer a valid name: the counter can see a call */
    expect_rc(dr_backend_stat(spy, "config", &(uint64_t){0}), DR_EINTERNAL, "spy stat", "config");
    assert_int_equal(__atomic_load_n(&spy_calls, __ATOMIC_SEQ_CST), 1);
    dr_backend_close(spy);
    dr_buf_release(&buf);
    /* nothing was stored under any of those names */
    expect_listing(f->b, "", NULL, NULL, 0);
}

#define SEC_NS 1000000000LL

static void expect_age(struct dr_backend *b, const char *name, int64_t lo_ns, int64_t hi_ns)
{
    int64_t age = -1;
    expect_rc(dr_backend_age(b, name, &age), 0, "age", name);
    if (age < lo_ns || age > hi_ns) {
        fail_msg("age of '%s': %lld ns, want %lld to %lld", name, (long long)age, (long long)lo_ns,
                 (long long)hi_ns);
    }
}

static void test_age(void **state)
{
    struct fixture *f = *state;
    put_str(f->b, "locks/a", "lock");
    /* S3's headers have whole seconds, and the two stamps may straddle one */
    expect_age(f->b, "locks/a", 0, 5 * SEC_NS);
    int64_t age = 0;
    expect_rc(dr_backend_age(f->b, "locks/none", &age), DR_ENOENT, "age missing", "locks/none");
    expect_rc(dr_backend_age(f->b, "../x", &age), DR_EUSAGE, "age", "../x");
    switch (cur_kind) {
    case ROUND_LOCAL: {
        char *path = dr_fs_join(f->root, "locks/a");
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct timespec ts[2] = {now, now};
        ts[1].tv_sec -= 31 * 60;
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
        free(path);
        expect_age(f->b, "locks/a", 31 * 60 * SEC_NS, 32 * 60 * SEC_NS);
        break;
    }
    case ROUND_MEM:
        assert_int_equal(dr_mem_backend_set_age(f->store, "locks/a", 31 * 60 * SEC_NS), 0);
        expect_age(f->b, "locks/a", 31 * 60 * SEC_NS, 32 * 60 * SEC_NS);
        break;
    case ROUND_S3:
        /* the server's clock only: nothing here can set it back */
        sleep(2);
        expect_age(f->b, "locks/a", 1 * SEC_NS, 10 * SEC_NS);
        break;
    }
    /* a rewrite (a refresh) makes it young again */
    put_str(f->b, "locks/a", "lock again");
    expect_age(f->b, "locks/a", 0, 5 * SEC_NS);
    /* a driver without the operation */
    struct dr_backend *spy = NULL;
    assert_int_equal(dr_backend_open("confspy://x", &spy), 0);
    __atomic_store_n(&spy_calls, 0, __ATOMIC_SEQ_CST);
    expect_rc(dr_backend_age(spy, "locks/a", &age), DR_EUNSUPPORTED, "spy age", "locks/a");
    assert_int_equal(__atomic_load_n(&spy_calls, __ATOMIC_SEQ_CST), 0);
    dr_backend_close(spy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_puts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_over_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_age, setup, teardown),
    };
    if (dr_mem_backend_register() < 0 ||
        dr_backend_register_driver("confspy", &spy_ops, spy_open) < 0) {
        fprintf(stderr, "cannot register the test drivers: %s\n", dr_error_msg());
        return 1;
    }
    int failed = 0;
    printf("round local: a fresh directory /tmp/dr-test-conformance-XXXXXX/repo per case\n");
    cur_kind = ROUND_LOCAL;
    failed += cmocka_run_group_tests_name("local", tests, NULL, NULL);
    printf("round mem: a fresh store mem://conformance-<hex> per case\n");
    cur_kind = ROUND_MEM;
    failed += cmocka_run_group_tests_name("mem", tests, NULL, NULL);
    s3_base = getenv("DR_TEST_S3_LOCATION");
    if (s3_base && *s3_base) {
        printf("round s3: a fresh sub-prefix %s/conf-<hex> per case\n", s3_base);
        cur_kind = ROUND_S3;
        failed += cmocka_run_group_tests_name("s3", tests, NULL, NULL);
    } else {
        printf("[  SKIPPED ] s3 round: set DR_TEST_S3_LOCATION=s3:http://HOST:PORT/BUCKET/PREFIX "
               "to run these cases against an S3 server\n");
    }
    return failed;
}
