/* test_reconcile.c: index reconciliation (src/store/reconcile.c) between two clients of one
 * repository, each with its own cache directory, through the in-memory backend.
 *
 * Covers: packs and a snapshot written by another client become visible after
 * dr_repo_sync_index (blobs readable, snapshot counted, references counted); a second sync
 * changes nothing; a pack that vanished makes the sync rebuild the index without it, records it
 * as vanished with its blobs (dr_repo_vanished_find), and leaves the other packs readable; a
 * vanished snapshot leaves the index; a full sync (repair index) rebuilds to the same counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "store-reconcile"

struct env {
    char *cache_a, *cache_b;
    struct dr_repo *a, *b;
};

static int setup(void **state)
{
    struct env *e = dr_xcalloc(1, sizeof(*e));
    e->cache_a = dr_test_tmpdir();
    e->cache_b = dr_test_tmpdir();
    dr_test_repo_init(STORE);
    e->a = dr_test_repo_open(STORE, e->cache_a);
    e->b = dr_test_repo_open(STORE, e->cache_b);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    dr_repo_close(e->a);
    dr_repo_close(e->b);
    dr_test_rmtree(e->cache_a);
    dr_test_rmtree(e->cache_b);
    free(e->cache_a);
    free(e->cache_b);
    free(e);
    dr_mem_backend_destroy(STORE);
    return 0;
}

static void counts(struct dr_repo *r, uint64_t *blobs, uint64_t *packs, uint64_t *snaps)
{
    assert_int_equal(dr_repo_index_counts(r, blobs, packs, snaps), 0);
}

/* The node at path of snapshot id, loaded through r. */
static void find(struct dr_repo *r, const struct dr_id *id, const char *path, struct dr_node *out)
{
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(r, id, &s), 0);
    assert_int_equal(dr_repo_find_node(r, &s, path, out), 0);
    dr_snapshot_release(&s);
}

static uint32_t refs_of(struct dr_repo *r, const struct dr_id *id)
{
    struct dr_index_txn *txn = NULL;
    struct dr_index_blob b;
    assert_int_equal(dr_index_begin(dr_repo_index(r), false, &txn), 0);
    assert_int_equal(dr_index_blob_get(txn, id, &b), 0);
    assert_int_equal(dr_index_commit(txn), 0);
    return b.refs;
}

static void test_other_writer_added_packs(void **state)
{
    struct env *e = *state;
    const struct dr_test_file files[] = {
        {.name = "f", .size = 50000, .seed = 11},
        {.name = "g", .size = 10, .seed = 12, .in_sub = true},
    };
    struct dr_id snap;
    dr_test_commit(e->a, files, 2, 1000, &snap);

    uint64_t blobs, packs, snaps;
    counts(e->b, &blobs, &packs, &snaps);
    assert_int_equal(snaps, 0);
    assert_int_equal(packs, 0);
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_node f = {0};
    find(e->a, &snap, "f", &f);
    assert_int_equal(dr_repo_blob_get(e->b, NULL, DR_BLOB_DATA, &f.chunks[0], &out), DR_ENOENT);

    int changes = dr_repo_sync_index(e->b, false);
    assert_true(changes > 0);
    uint64_t blobs_a, packs_a, snaps_a;
    counts(e->a, &blobs_a, &packs_a, &snaps_a);
    counts(e->b, &blobs, &packs, &snaps);
    assert_int_equal(snaps, 1);
    assert_int_equal(packs, packs_a);
    assert_int_equal(blobs, blobs_a);
    /* the reference counts were counted too, as the writer's were */
    assert_int_equal(refs_of(e->b, &f.chunks[1]), 1);
    struct dr_node g = {0};
    find(e->b, &snap, "sub/g", &g);
    dr_test_assert_content(e->b, &f, 50000, 11);
    dr_test_assert_content(e->b, &g, 10, 12);
    assert_int_equal(dr_repo_sync_index(e->b, false), 0);

    dr_node_release(&f);
    dr_node_release(&g);
    dr_buf_release(&out);
}

static void test_packs_vanished(void **state)
{
    struct env *e = *state;
    const struct dr_test_file one[] = {{.name = "one", .size = 30000, .seed = 21}};
    const struct dr_test_file two[] = {{.name = "two", .size = 30000, .seed = 22}};
    struct dr_id s1, s2;
    char **before = NULL, **after = NULL;
    size_t nbefore = 0, nafter = 0;
    dr_test_commit(e->a, one, 1, 1000, &s1);
    nbefore = dr_mem_backend_names(STORE, "data/", &before);
    dr_test_commit(e->a, two, 1, 2000, &s2);
    nafter = dr_mem_backend_names(STORE, "data/", &after);
    assert_int_equal(nbefore, 1);
    assert_int_equal(nafter, 2);
    assert_true(dr_repo_sync_index(e->b, false) > 0);
    uint64_t blobs0, packs0, snaps0;
    counts(e->b, &blobs0, &packs0, &snaps0);
    assert_int_equal(snaps0, 2);

    struct dr_node n1 = {0}, n2 = {0};
    find(e->b, &s1, "one", &n1);
    find(e->b, &s2, "two", &n2);
    assert_null(dr_repo_vanished_find(e->b, &n1.chunks[0]));

    /* the first snapshot's data pack goes behind the index's back */
    assert_int_equal(dr_mem_backend_drop(STORE, before[0]), 0);
    assert_true(dr_repo_sync_index(e->b, false) > 0);
    uint64_t blobs, packs, snaps;
    counts(e->b, &blobs, &packs, &snaps);
    assert_int_equal(packs, packs0 - 1);
    assert_int_equal(blobs, blobs0 - n1.nchunks);
    assert_int_equal(snaps, 2);
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_repo_blob_get(e->b, NULL, DR_BLOB_DATA, &n1.chunks[0], &out), DR_ENOENT);
    struct dr_vanished *v = dr_repo_vanished_find(e->b, &n1.chunks[1]);
    assert_non_null(v);
    char hex[DR_ID_HEX_LEN + 1];
    assert_non_null(strstr(before[0], dr_id_hex(&v->pack, hex)));
    assert_int_equal(v->type, DR_BLOB_DATA);
    assert_null(dr_repo_vanished_find(e->b, &n2.chunks[0]));
    dr_test_assert_content(e->b, &n2, 30000, 22);

    /* a vanished snapshot leaves the index */
    char name[16 + DR_ID_HEX_LEN];
    snprintf(name, sizeof(name), "snapshots/%s", dr_id_hex(&s1, hex));
    assert_int_equal(dr_mem_backend_drop(STORE, name), 0);
    assert_true(dr_repo_sync_index(e->b, false) > 0);
    counts(e->b, &blobs, &packs, &snaps);
    assert_int_equal(snaps, 1);

    /* a full rebuild arrives at the same index */
    assert_true(dr_repo_sync_index(e->b, true) >= 0);
    uint64_t blobs2, packs2, snaps2;
    counts(e->b, &blobs2, &packs2, &snaps2);
    assert_int_equal(blobs2, blobs);
    assert_int_equal(packs2, packs);
    assert_int_equal(snaps2, 1);
    assert_int_equal(refs_of(e->b, &n2.chunks[0]), 1);

    dr_node_release(&n1);
    dr_node_release(&n2);
    dr_buf_release(&out);
    dr_mem_backend_names_free(before, nbefore);
    dr_mem_backend_names_free(after, nafter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_other_writer_added_packs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packs_vanished, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
