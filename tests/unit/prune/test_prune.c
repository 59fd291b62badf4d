/* test_prune.c: forget and prune (src/prune/prune.c) through the in-memory backend.
 *
 * The repository: snapshot 1 holds files x and y (one data pack P1), snapshot 2 holds y again
 * and z (z alone in a second data pack P2). Forgetting snapshot 1 leaves x dead and y live in
 * P1, and snapshot 1's root tree dead.
 *
 * Covers: before forget, the plan deletes and repacks nothing; forget removes the snapshot
 * object and drops the references (x to 0, y to 1); the dry-run plan then repacks P1 and deletes
 * at least the dead tree pack, and deletes nothing; the mark cross-check refuses (DR_ECORRUPT,
 * nothing deleted) when the index's counts say a blob a snapshot reaches is dead; prune then
 * copies y, deletes P1, keeps P2, and check finds no damage with every remaining file readable;
 * forgetting an unknown snapshot changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/check.h"
#include "drrepo/error.h"
#include "drrepo/lock.h"
#include "drrepo/mem.h"
#include "drrepo/prune.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "prune"

static const struct dr_test_file snap1_files[] = {
    {.name = "x", .size = 30000, .seed = 61},
    {.name = "y", .size = 30000, .seed = 62},
};
static const struct dr_test_file snap2_files[] = {
    {.name = "y", .size = 30000, .seed = 62},
    {.name = "z", .size = 20000, .seed = 63},
};

struct env {
    struct dr_test_env *t;
    struct dr_repo *r; /* t->repo[0] */
    struct dr_id s1, s2;
    char *p1, *p2; /* object names of the data packs */
    struct dr_node x, y, z;
};

static int setup(void **state)
{
    struct env *e = dr_xcalloc(1, sizeof(*e));
    char **names = NULL;
    size_t n;
    e->t = dr_test_env_new(STORE, 1);
    e->r = e->t->repo[0];
    dr_test_commit(e->r, snap1_files, 2, 1000, &e->s1);
    n = dr_mem_backend_names(STORE, "data/", &names);
    assert_int_equal(n, 1);
    e->p1 = dr_xstrdup(names[0]);
    dr_mem_backend_names_free(names, n);
    dr_test_commit(e->r, snap2_files, 2, 2000, &e->s2);
    n = dr_mem_backend_names(STORE, "data/", &names);
    assert_int_equal(n, 2);
    e->p2 = dr_xstrdup(strcmp(names[0], e->p1) == 0 ? names[1] : names[0]);
    dr_mem_backend_names_free(names, n);
    dr_test_find_node(e->r, &e->s1, "x", &e->x);
    dr_test_find_node(e->r, &e->s2, "y", &e->y);
    dr_test_find_node(e->r, &e->s2, "z", &e->z);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    dr_node_release(&e->x);
    dr_node_release(&e->y);
    dr_node_release(&e->z);
    dr_test_env_free(e->t);
    free(e->p1);
    free(e->p2);
    free(e);
    return 0;
}

static void plan(struct dr_repo *r, struct dr_prune_stats *st)
{
    const struct dr_prune_opts o = {.max_unused = 5, .dry_run = true};
    memset(st, 0, sizeof(*st));
    int rc = dr_prune_repack(r, &o, st);
    if (rc >= 0) {
        rc = dr_prune_delete(r, &o, st);
    }
    if (rc < 0) {
        fail_msg("prune plan: %s", dr_error_msg());
    }
}

static void forget_s1(struct env *e)
{
    assert_int_equal(dr_mem_backend_count(STORE, "snapshots/"), 2);
    int rc = dr_forget_one(e->r, &e->s1);
    if (rc < 0) {
        fail_msg("forget: %s", dr_error_msg());
    }
    assert_int_equal(dr_mem_backend_count(STORE, "snapshots/"), 1);
    assert_int_equal(dr_test_refs(e->r, &e->x.chunks[0]), 0);
    assert_int_equal(dr_test_refs(e->r, &e->y.chunks[0]), 1);
    assert_int_equal(dr_test_refs(e->r, &e->z.chunks[0]), 1);
}

static void test_plan(void **state)
{
    struct env *e = *state;
    struct dr_prune_stats st;
    plan(e->r, &st);
    assert_int_equal(st.packs_delete, 0);
    assert_int_equal(st.packs_repack, 0);
    assert_true(st.packs_total >= 4); /* two data packs, two tree packs */

    struct dr_id unknown;
    memset(&unknown, 0x42, sizeof(unknown));
    /* prune.h says DR_ENOENT; the code forgets an unknown id as a no-op (a forget that
     * crashed after deleting the object is redone): either way nothing changes */
    int rc = dr_forget_one(e->r, &unknown);
    assert_true(rc == 0 || rc == DR_ENOENT);
    assert_int_equal(dr_mem_backend_count(STORE, "snapshots/"), 2);
    assert_int_equal(dr_test_refs(e->r, &e->y.chunks[0]), 2);

    forget_s1(e);
    size_t objects = dr_mem_backend_count(STORE, "");
    plan(e->r, &st);
    assert_int_equal(st.packs_repack, 1); /* P1: x dead, y live */
    assert_true(st.bytes_repack >= (uint64_t)dr_mem_backend_size(STORE, e->p1));
    assert_true(st.packs_delete >= 1); /* snapshot 1's tree pack */
    assert_int_equal(st.packs_deleted, 0);
    assert_int_equal(st.packs_written, 0);
    /* a dry run writes and deletes nothing */
    assert_int_equal(dr_mem_backend_count(STORE, ""), objects);
}

static void test_cross_check(void **state)
{
    struct env *e = *state;
    forget_s1(e);
    /* the index now claims that nothing of snapshot 2 is referenced: P2 (z only) looks dead,
     * but the mark of snapshot 2's trees reaches z */
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(e->r, &e->s2, &s), 0);
    struct dr_index_txn *txn = NULL;
    assert_int_equal(dr_index_begin(dr_repo_index(e->r), true, &txn), 0);
    assert_int_equal(dr_repo_count_refs(e->r, txn, &s.tree, -1), 0);
    assert_int_equal(dr_index_commit(txn), 0);
    dr_snapshot_release(&s);
    assert_int_equal(dr_test_refs(e->r, &e->z.chunks[0]), 0);

    size_t objects = dr_mem_backend_count(STORE, "");
    struct dr_lock *l = NULL;
    assert_int_equal(dr_repo_lock(e->r, DR_LOCK_EXCLUSIVE, &l), 0);
    const struct dr_prune_opts o = {.max_unused = 5};
    struct dr_prune_stats st = {0};
    assert_int_equal(dr_prune_delete(e->r, &o, &st), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "before deleting anything"));
    dr_lock_release(l);
    assert_int_equal(st.packs_deleted, 0);
    assert_true(dr_mem_backend_size(STORE, e->p2) > 0);
    assert_int_equal(dr_mem_backend_count(STORE, ""), objects);
}

static void test_prune(void **state)
{
    struct env *e = *state;
    forget_s1(e);
    struct dr_lock *l = NULL;
    assert_int_equal(dr_repo_lock(e->r, 0, &l), 0);
    const struct dr_prune_opts o = {.max_unused = 5};
    struct dr_prune_stats st = {0};
    int rc = dr_prune_repack(e->r, &o, &st);
    if (rc < 0) {
        fail_msg("repack: %s", dr_error_msg());
    }
    dr_lock_release(l);
    l = NULL;
    assert_int_equal(dr_repo_lock(e->r, DR_LOCK_EXCLUSIVE, &l), 0);
    rc = dr_prune_delete(e->r, &o, &st);
    if (rc < 0) {
        fail_msg("delete: %s", dr_error_msg());
    }
    dr_lock_release(l);
    assert_int_equal(st.packs_repack, 1);
    assert_int_equal(st.blobs_repacked, e->y.nchunks);
    assert_int_equal(st.packs_written, 1);
    assert_int_equal(st.packs_deleted, st.packs_delete + st.packs_repack);
    assert_true(st.bytes_freed > 0);
    assert_int_equal(dr_mem_backend_size(STORE, e->p1), -1);
    assert_true(dr_mem_backend_size(STORE, e->p2) > 0);

    /* x is gone from the index, y lives in the new pack, and the repository checks clean */
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_repo_blob_get(e->r, NULL, DR_BLOB_DATA, &e->x.chunks[0], &out), DR_ENOENT);
    dr_buf_release(&out);
    dr_test_assert_content(e->r, &e->y, 30000, 62);
    dr_test_assert_content(e->r, &e->z, 20000, 63);
    struct dr_check_opts co = {.read_data = true};
    struct dr_check_report rep = {0};
    assert_int_equal(dr_check_run(e->r, &co, &rep), 0);
    for (size_t i = 0; i < rep.nproblems; i++) {
        print_message("problem: %s: %s\n", rep.problems[i].object, rep.problems[i].message);
    }
    assert_int_equal(rep.ndamage, 0);
    assert_int_equal(rep.st.snapshots, 1);
    dr_check_report_release(&rep);

    /* nothing is left to do */
    plan(e->r, &st);
    assert_int_equal(st.packs_delete, 0);
    assert_int_equal(st.packs_repack, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
