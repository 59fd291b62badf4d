/* test_mount_cache.c: the decrypted-chunk cache of `drrepo mount` (src/mount/cache.c).
 *
 * Covers: miss then hit; the byte bound evicts least recently used entries first; entries in use
 * are never evicted (the bound is exceeded by what is pinned, then restored on release); a failed
 * load is not cached (waiters see FAILED, the next acquire loads again); a reader waits for a load
 * in progress in another thread and sees its data; acquire without wait returns a LOADING entry;
 * statistics. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/mount.h"

static struct dr_id id_of(int i)
{
    struct dr_id id;
    memset(&id, 0, sizeof(id));
    id.b[0] = (uint8_t)i;
    id.b[1] = (uint8_t)(i >> 8);
    id.b[31] = 0x5a;
    return id;
}

/* Loads id with len bytes of value v if the cache asks for it; returns acquire's result. */
static int load(struct dr_chunk_cache *c, int i, size_t len, struct dr_cchunk **out)
{
    struct dr_id id = id_of(i);
    int rc = dr_chunk_cache_acquire(c, &id, true, out);
    if (rc == 1) {
        uint8_t *p = dr_xmalloc(len);
        memset(p, i, len);
        dr_chunk_cache_fill(c, *out, p, len);
    }
    return rc;
}

static void test_hit_miss(void **state)
{
    (void)state;
    struct dr_chunk_cache *c = dr_chunk_cache_new(1000);
    struct dr_cchunk *e;
    assert_int_equal(load(c, 1, 100, &e), 1);
    assert_int_equal(e->state, DR_CCHUNK_READY);
    dr_chunk_cache_release(c, e);
    assert_int_equal(load(c, 1, 100, &e), 0);
    assert_int_equal(e->len, 100);
    assert_int_equal(e->data[99], 1);
    dr_chunk_cache_release(c, e);
    struct dr_chunk_cache_stats st;
    dr_chunk_cache_get_stats(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.bytes, 100);
    assert_int_equal(st.entries, 1);
    dr_chunk_cache_free(c);
}

static void test_lru_bound(void **state)
{
    (void)state;
    struct dr_chunk_cache *c = dr_chunk_cache_new(300);
    struct dr_cchunk *e;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(load(c, i, 100, &e), 1);
        dr_chunk_cache_release(c, e);
    }
    /* touch 1 so that 2 is the least recently used */
    assert_int_equal(load(c, 1, 100, &e), 0);
    dr_chunk_cache_release(c, e);
    assert_int_equal(load(c, 4, 100, &e), 1);
    dr_chunk_cache_release(c, e);
    struct dr_chunk_cache_stats st;
    dr_chunk_cache_get_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_true(st.bytes <= 300);
    assert_int_equal(load(c, 1, 100, &e), 0); /* kept */
    dr_chunk_cache_release(c, e);
    assert_int_equal(load(c, 2, 100, &e), 1); /* evicted, loaded again */
    dr_chunk_cache_release(c, e);
    dr_chunk_cache_free(c);
}

static void test_pinned(void **state)
{
    (void)state;
    struct dr_chunk_cache *c = dr_chunk_cache_new(100);
    struct dr_cchunk *a, *b;
    assert_int_equal(load(c, 1, 100, &a), 1);
    assert_int_equal(load(c, 2, 100, &b), 1);
    /* both in use: over the bound, nothing evicted, data still readable */
    dr_chunk_cache_release(c, b); /* evicts 2, not the pinned 1 */
    assert_int_equal(a->data[0], 1);
    struct dr_chunk_cache_stats st;
    dr_chunk_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    dr_chunk_cache_release(c, a);
    dr_chunk_cache_get_stats(c, &st);
    assert_true(st.bytes <= 100);
    /* one entry bigger than the whole cache is served, then dropped */
    assert_int_equal(load(c, 3, 500, &a), 1);
    assert_int_equal(a->len, 500);
    dr_chunk_cache_release(c, a);
    dr_chunk_cache_get_stats(c, &st);
    assert_int_equal(st.bytes, 0);
    dr_chunk_cache_free(c);
}

static void test_failed_not_cached(void **state)
{
    (void)state;
    struct dr_chunk_cache *c = dr_chunk_cache_new(1000);
    struct dr_id id = id_of(7);
    struct dr_cchunk *e, *w;
    assert_int_equal(dr_chunk_cache_acquire(c, &id, true, &e), 1);
    /* a second reference taken before the failure sees it */
    assert_int_equal(dr_chunk_cache_acquire(c, &id, false, &w), 0);
    assert_int_equal(w->state, DR_CCHUNK_LOADING);
    dr_chunk_cache_fail(c, e, DR_ECORRUPT);
    assert_int_equal(w->state, DR_CCHUNK_FAILED);
    assert_int_equal(w->err, DR_ECORRUPT);
    dr_chunk_cache_release(c, e);
    dr_chunk_cache_release(c, w);
    /* the next reader loads again */
    assert_int_equal(dr_chunk_cache_acquire(c, &id, true, &e), 1);
    dr_chunk_cache_fill(c, e, dr_xcalloc(1, 10), 10);
    dr_chunk_cache_release(c, e);
    dr_chunk_cache_free(c);
}

struct loader {
    struct dr_chunk_cache *c;
    struct dr_cchunk *e;
};

static void *slow_fill(void *arg)
{
    struct loader *l = arg;
    usleep(50000);
    uint8_t *p = dr_xmalloc(64);
    memset(p, 0xab, 64);
    dr_chunk_cache_fill(l->c, l->e, p, 64);
    dr_chunk_cache_release(l->c, l->e);
    return NULL;
}

static void test_wait_for_loader(void **state)
{
    (void)state;
    struct dr_chunk_cache *c = dr_chunk_cache_new(1000);
    struct dr_id id = id_of(9);
    struct loader l = {.c = c};
    assert_int_equal(dr_chunk_cache_acquire(c, &id, true, &l.e), 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_fill, &l), 0);
    struct dr_cchunk *e;
    assert_int_equal(dr_chunk_cache_acquire(c, &id, true, &e), 0);
    assert_int_equal(e->state, DR_CCHUNK_READY);
    assert_int_equal(e->len, 64);
    assert_int_equal(e->data[63], 0xab);
    dr_chunk_cache_release(c, e);
    pthread_join(t, NULL);
    struct dr_chunk_cache_stats st;
    dr_chunk_cache_get_stats(c, &st);
    assert_int_equal(st.waits, 1);
    dr_chunk_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss),        cmocka_unit_test(test_lru_bound),
        cmocka_unit_test(test_pinned),          cmocka_unit_test(test_failed_not_cached),
        cmocka_unit_test(test_wait_for_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
