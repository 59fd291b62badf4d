/* test_tally.c: counts per id in sorted runs (src/index/tally.c).
 *
 * Covers: an empty tally reads nothing; a few additions, none written out, come back summed per
 * id in id order; more additions than several runs hold, in scattered order, come back the same
 * (each id once, in increasing order, with the sum of its additions), with the scratch file
 * nowhere in the directory; an addition after reading is refused; ids spread as hashes are
 * (random bytes, the sort's buckets of a few records each) come back in order with their sums,
 * against a reference sorted apart. */
#include "drrepo/tally.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "fixture.h"

static size_t entries(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static void test_empty(void **state)
{
    const char *dir = *state;
    struct dr_tally *t;
    assert_int_equal(dr_tally_open(dir, &t), 0);
    struct dr_id id;
    uint64_t sum;
    assert_int_equal(dr_tally_next(t, &id, &sum), 0);
    assert_int_equal(dr_tally_next(t, &id, &sum), 0);
    dr_tally_close(t);
    dr_tally_close(NULL);
}

static void test_small(void **state)
{
    const char *dir = *state;
    struct dr_tally *t;
    assert_int_equal(dr_tally_open(dir, &t), 0);
    struct dr_id a, b, c;
    dr_test_numbered_id(&a, 5);
    dr_test_numbered_id(&b, 2);
    dr_test_numbered_id(&c, 9);
    assert_int_equal(dr_tally_add(t, &a, 3), 0);
    assert_int_equal(dr_tally_add(t, &b, 1), 0);
    assert_int_equal(dr_tally_add(t, &c, 0), 0);
    assert_int_equal(dr_tally_add(t, &a, 4), 0);
    struct dr_id id;
    uint64_t sum;
    assert_int_equal(dr_tally_next(t, &id, &sum), 1);
    assert_int_equal(dr_test_id_number(&id), 2);
    assert_int_equal(sum, 1);
    assert_int_equal(dr_tally_next(t, &id, &sum), 1);
    assert_memory_equal(&id, &a, sizeof(a));
    assert_int_equal(sum, 7);
    assert_int_equal(dr_tally_next(t, &id, &sum), 1);
    assert_int_equal(dr_test_id_number(&id), 9);
    assert_int_equal(sum, 0);
    assert_int_equal(dr_tally_next(t, &id, &sum), 0);
    assert_int_equal(dr_tally_add(t, &a, 1), DR_EUSAGE);
    dr_error_clear();
    dr_tally_close(t);
}

/* More than three runs' worth of additions to NIDS ids, scattered: every id comes back once, in
 * order, with its sum, whichever runs its additions fell in. */
#define NIDS 20011u
static void test_runs(void **state)
{
    const char *dir = *state;
    struct dr_tally *t;
    assert_int_equal(dr_tally_open(dir, &t), 0);
    assert_int_equal(entries(dir), 0); /* the scratch file is unlinked at once */
    uint64_t *want = dr_xcalloc(NIDS, sizeof(*want));
    uint64_t adds = 3u * DR_TALLY_RUN + 12345u;
    for (uint64_t k = 0; k < adds; k++) {
        uint32_t n = (uint32_t)(k * 7919u % NIDS);
        struct dr_id id;
        dr_test_numbered_id(&id, n);
        assert_int_equal(dr_tally_add(t, &id, k % 3 + 1), 0);
        want[n] += k % 3 + 1;
    }
    struct dr_id id;
    uint64_t sum, seen = 0;
    int rc;
    while ((rc = dr_tally_next(t, &id, &sum)) == 1) {
        uint32_t n = dr_test_id_number(&id);
        assert_int_equal(n, seen); /* every id once, in increasing order */
        struct dr_id exp;
        dr_test_numbered_id(&exp, n);
        assert_memory_equal(&id, &exp, sizeof(exp));
        assert_int_equal(sum, want[n]);
        seen++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(seen, NIDS);
    assert_int_equal(entries(dir), 0);
    dr_tally_close(t);
    free(want);
}

struct ref {
    struct dr_id id;
    uint64_t n;
};

static int ref_cmp(const void *a, const void *b)
{
    return dr_id_cmp(&((const struct ref *)a)->id, &((const struct ref *)b)->id);
}

static void test_random_ids(void **state)
{
    const char *dir = *state;
    enum { DISTINCT = 150000 };
    struct ref *r = dr_xcalloc(DISTINCT, sizeof(*r));
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < DISTINCT; i++) {
        for (size_t k = 0; k < sizeof(r[i].id.b); k += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(r[i].id.b + k, &x, 8);
        }
    }
    struct dr_tally *t;
    assert_int_equal(dr_tally_open(dir, &t), 0);
    /* every id twice, the second time in another order: runs hold both */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < DISTINCT; i++) {
            size_t j = pass ? (i * 7919u) % DISTINCT : i;
            assert_int_equal(dr_tally_add(t, &r[j].id, j % 5 + 1), 0);
            r[j].n += j % 5 + 1;
        }
    }
    qsort(r, DISTINCT, sizeof(*r), ref_cmp);
    struct dr_id id;
    uint64_t sum;
    size_t seen = 0;
    int rc;
    while ((rc = dr_tally_next(t, &id, &sum)) == 1) {
        assert_true(seen < DISTINCT);
        assert_memory_equal(&id, &r[seen].id, sizeof(id));
        assert_int_equal(sum, r[seen].n);
        seen++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(seen, DISTINCT);
    dr_tally_close(t);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, dr_test_tmpdir_setup, dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_small, dr_test_tmpdir_setup, dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_runs, dr_test_tmpdir_setup, dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_random_ids, dr_test_tmpdir_setup,
                                        dr_test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
