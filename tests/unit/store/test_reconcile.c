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
#include "drrepo/index.h"
#include "drrepo/mem.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "store-reconcile"

/* Clients a (repo[0]) and b (repo[1]) of one repository. */
static int setup(void **state)
{
    *state = dr_test_env_new(STORE, 2);
    return 0;
}

static int teardown(void **state)
{
    dr_test_env_free(*state);
    return 0;
}

static void counts(struct dr_repo *r, uint64_t *blobs, uint64_t *packs, uint64_t *snaps)
{
    assert_int_equal(dr_repo_index_counts(r, blobs, packs, snaps), 0);
}

static void test_other_writer_added_packs(void **state)
{
    struct dr_test_env *e = *state;
    const struct dr_test_file files[] = {
        {.name = "f", .size = 50000, .seed = 11},
        {.name = "g", .size = 10, .seed = 12, .in_sub = true},
    };
    struct dr_id snap;
    dr_test_commit(e->repo[0], files, 2, 1000, &snap);

    uint64_t blobs, packs, snaps;
    counts(e->repo[1], &blobs, &packs, &snaps);
    assert_int_equal(snaps, 0);
    assert_int_equal(packs, 0);
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_node f = {0};
    dr_test_find_node(e->repo[0], &snap, "f", &f);
    assert_int_equal(dr_repo_blob_get(e->repo[1], NULL, DR_BLOB_DATA, &f.chunks[0], &out),
                     DR_ENOENT);

    int changes = dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES);
    assert_true(changes > 0);
    uint64_t blobs_a, packs_a, snaps_a;
    counts(e->repo[0], &blobs_a, &packs_a, &snaps_a);
    counts(e->repo[1], &blobs, &packs, &snaps);
    assert_int_equal(snaps, 1);
    assert_int_equal(packs, packs_a);
    assert_int_equal(blobs, blobs_a);
    /* the reference counts were counted too, as the writer's were */
    assert_int_equal(dr_test_refs(e->repo[1], &f.chunks[1]), 1);
    struct dr_node g = {0};
    dr_test_find_node(e->repo[1], &snap, "sub/g", &g);
    dr_test_assert_content(e->repo[1], &f, 50000, 11);
    dr_test_assert_content(e->repo[1], &g, 10, 12);
    assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);

    dr_node_release(&f);
    dr_node_release(&g);
    dr_buf_release(&out);
}

static void test_packs_vanished(void **state)
{
    struct dr_test_env *e = *state;
    const struct dr_test_file one[] = {{.name = "one", .size = 30000, .seed = 21}};
    const struct dr_test_file two[] = {{.name = "two", .size = 30000, .seed = 22}};
    struct dr_id s1, s2;
    char **before = NULL, **after = NULL;
    size_t nbefore = 0, nafter = 0;
    dr_test_commit(e->repo[0], one, 1, 1000, &s1);
    nbefore = dr_mem_backend_names(STORE, "data/", &before);
    dr_test_commit(e->repo[0], two, 1, 2000, &s2);
    nafter = dr_mem_backend_names(STORE, "data/", &after);
    assert_int_equal(nbefore, 1);
    assert_int_equal(nafter, 2);
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES) > 0);
    uint64_t blobs0, packs0, snaps0;
    counts(e->repo[1], &blobs0, &packs0, &snaps0);
    assert_int_equal(snaps0, 2);

    struct dr_node n1 = {0}, n2 = {0};
    dr_test_find_node(e->repo[1], &s1, "one", &n1);
    dr_test_find_node(e->repo[1], &s2, "two", &n2);
    assert_null(dr_repo_vanished_find(e->repo[1], &n1.chunks[0]));

    /* the first snapshot's data pack goes behind the index's back; a sync of what changed
     * does not list the packs, so only a listing finds it gone */
    assert_int_equal(dr_mem_backend_drop(STORE, before[0]), 0);
    assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);
    assert_false(dr_repo_sync_listed(e->repo[1]));
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_LIST) > 0);
    uint64_t blobs, packs, snaps;
    counts(e->repo[1], &blobs, &packs, &snaps);
    assert_int_equal(packs, packs0 - 1);
    assert_int_equal(blobs, blobs0 - n1.nchunks);
    assert_int_equal(snaps, 2);
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_repo_blob_get(e->repo[1], NULL, DR_BLOB_DATA, &n1.chunks[0], &out),
                     DR_ENOENT);
    struct dr_vanished *v = dr_repo_vanished_find(e->repo[1], &n1.chunks[1]);
    assert_non_null(v);
    char hex[DR_ID_HEX_LEN + 1];
    assert_non_null(strstr(before[0], dr_id_hex(&v->pack, hex)));
    assert_int_equal(v->type, DR_BLOB_DATA);
    assert_null(dr_repo_vanished_find(e->repo[1], &n2.chunks[0]));
    dr_test_assert_content(e->repo[1], &n2, 30000, 22);

    /* a vanished snapshot leaves the index */
    char name[16 + DR_ID_HEX_LEN];
    snprintf(name, sizeof(name), "snapshots/%s", dr_id_hex(&s1, hex));
    assert_int_equal(dr_mem_backend_drop(STORE, name), 0);
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES) > 0);
    counts(e->repo[1], &blobs, &packs, &snaps);
    assert_int_equal(snaps, 1);

    /* a full rebuild arrives at the same index */
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_REBUILD) >= 0);
    uint64_t blobs2, packs2, snaps2;
    counts(e->repo[1], &blobs2, &packs2, &snaps2);
    assert_int_equal(blobs2, blobs);
    assert_int_equal(packs2, packs);
    assert_int_equal(snaps2, 1);
    assert_int_equal(dr_test_refs(e->repo[1], &n2.chunks[0]), 1);

    dr_node_release(&n1);
    dr_node_release(&n2);
    dr_buf_release(&out);
    dr_mem_backend_names_free(before, nbefore);
    dr_mem_backend_names_free(after, nafter);
}

static size_t epochs(void)
{
    char **names = NULL;
    size_t n = dr_mem_backend_names(STORE, "epochs/", &names);
    dr_mem_backend_names_free(names, n);
    return n;
}

/* Format version 3: a sync of what changed lists every pack only when it must. */
static void test_sync_changes(void **state)
{
    struct dr_test_env *e = *state;
    /* no listing recorded yet: the open's sync listed; the next need not */
    assert_true(dr_repo_sync_listed(e->repo[1]));
    assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);
    assert_false(dr_repo_sync_listed(e->repo[1]));

    /* another client's snapshot names blobs of packs b does not know: b lists, and has them */
    const struct dr_test_file one[] = {{.name = "one", .size = 30000, .seed = 31}};
    struct dr_id s1, s2;
    dr_test_commit(e->repo[0], one, 1, 1000, &s1);
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES) > 0);
    assert_true(dr_repo_sync_listed(e->repo[1]));
    struct dr_node n1 = {0};
    dr_test_find_node(e->repo[1], &s1, "one", &n1);
    dr_test_assert_content(e->repo[1], &n1, 30000, 31);
    assert_int_equal(dr_test_refs(e->repo[1], &n1.chunks[0]), 1);

    /* one whose blobs b has (the same file under another name: only a new root tree, in a
     * new pack, which the count of the snapshot meets) */
    const struct dr_test_file again[] = {{.name = "again", .size = 30000, .seed = 31}};
    dr_test_commit(e->repo[0], again, 1, 2000, &s2);
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES) > 0);
    assert_true(dr_repo_sync_listed(e->repo[1])); /* its root tree is in a new pack */
    uint64_t blobs, packs, snaps, blobs_a, packs_a, snaps_a;
    counts(e->repo[1], &blobs, &packs, &snaps);
    counts(e->repo[0], &blobs_a, &packs_a, &snaps_a);
    assert_int_equal(snaps, 2);
    assert_int_equal(packs, packs_a);
    assert_int_equal(dr_test_refs(e->repo[1], &n1.chunks[0]), 2);
    assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);
    assert_false(dr_repo_sync_listed(e->repo[1]));

    /* a prune's epoch: the next sync lists, and finds the pack it deleted gone */
    char **names = NULL;
    size_t n = dr_mem_backend_names(STORE, "data/", &names);
    assert_int_equal(n, 1);
    assert_int_equal(epochs(), 0);
    assert_int_equal(dr_repo_epoch_begin(e->repo[0]), 0);
    assert_int_equal(dr_mem_backend_drop(STORE, names[0]), 0);
    assert_int_equal(dr_repo_epoch_end(e->repo[0]), 0);
    assert_int_equal(epochs(), 1);
    dr_mem_backend_names_free(names, n);
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES) > 0);
    assert_true(dr_repo_sync_listed(e->repo[1]));
    assert_non_null(dr_repo_vanished_find(e->repo[1], &n1.chunks[0]));
    counts(e->repo[1], &blobs, &packs, &snaps);
    assert_int_equal(packs, packs_a - 1);
    assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);
    assert_false(dr_repo_sync_listed(e->repo[1]));
    /* the next prune's epoch replaces it (_end keeps only its own) */
    assert_int_equal(dr_repo_epoch_begin(e->repo[0]), 0);
    assert_int_equal(epochs(), 2);
    assert_int_equal(dr_repo_epoch_end(e->repo[0]), 0);
    assert_int_equal(epochs(), 1);
    assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);
    assert_true(dr_repo_sync_listed(e->repo[1]));

    /* a listing more than a day old is not trusted */
    struct dr_index_txn *t = NULL;
    struct dr_index_listed l;
    assert_int_equal(dr_index_begin(dr_repo_index(e->repo[1]), true, &t), 0);
    assert_int_equal(dr_index_listed_get(t, &l), 0);
    l.time_ns -= 25 * 3600 * (int64_t)1000000000;
    assert_int_equal(dr_index_listed_put(t, &l), 0);
    assert_int_equal(dr_index_commit(t), 0);
    assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);
    assert_true(dr_repo_sync_listed(e->repo[1]));
    assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);
    assert_false(dr_repo_sync_listed(e->repo[1]));
    dr_node_release(&n1);
}

static void drop_snapshot(const struct dr_id *id)
{
    char hex[DR_ID_HEX_LEN + 1], name[16 + DR_ID_HEX_LEN];
    snprintf(name, sizeof(name), "snapshots/%s", dr_id_hex(id, hex));
    assert_int_equal(dr_mem_backend_drop(STORE, name), 0);
}

/* Another client's forget: the sync takes the snapshot's references back instead of rebuilding,
 * to the counts a rebuild gives; when the snapshot's trees cannot be read, it rebuilds. */
static void test_forgotten_elsewhere(void **state)
{
    struct dr_test_env *e = *state;
    const struct dr_test_file one[] = {{.name = "one", .size = 30000, .seed = 41},
                                       {.name = "two", .size = 30000, .seed = 42, .in_sub = true}};
    const struct dr_test_file two[] = {{.name = "one", .size = 30000, .seed = 41},
                                       {.name = "three", .size = 30000, .seed = 43}};
    struct dr_id s1, s2, s3;
    dr_test_commit(e->repo[0], one, 2, 1000, &s1);
    dr_test_commit(e->repo[0], two, 2, 2000, &s2);
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES) > 0);
    struct dr_node n1 = {0}, n2 = {0}, n3 = {0};
    dr_test_find_node(e->repo[1], &s1, "one", &n1);
    dr_test_find_node(e->repo[1], &s1, "sub/two", &n2);
    dr_test_find_node(e->repo[1], &s2, "three", &n3);
    assert_int_equal(dr_test_refs(e->repo[1], &n1.chunks[0]), 2);
    assert_int_equal(dr_test_refs(e->repo[1], &n2.chunks[0]), 1);

    drop_snapshot(&s1);
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES) > 0);
    assert_false(dr_repo_sync_rebuilt(e->repo[1]));
    uint64_t blobs, packs, snaps;
    counts(e->repo[1], &blobs, &packs, &snaps);
    assert_int_equal(snaps, 1);
    assert_int_equal(dr_test_refs(e->repo[1], &n1.chunks[0]), 1);
    assert_int_equal(dr_test_refs(e->repo[1], &n2.chunks[0]), 0);
    assert_int_equal(dr_test_refs(e->repo[1], &n3.chunks[0]), 1);
    /* what a rebuild arrives at */
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_REBUILD) >= 0);
    assert_true(dr_repo_sync_rebuilt(e->repo[1]));
    uint64_t blobs2, packs2, snaps2;
    counts(e->repo[1], &blobs2, &packs2, &snaps2);
    assert_true(blobs2 == blobs && packs2 == packs && snaps2 == snaps);
    assert_int_equal(dr_test_refs(e->repo[1], &n1.chunks[0]), 1);
    assert_int_equal(dr_test_refs(e->repo[1], &n2.chunks[0]), 0);

    /* a snapshot whose trees cannot be read any more (its tree packs and their copies gone,
     * behind the index's back): its references cannot be taken back, so the index is rebuilt */
    const struct dr_test_file more[] = {{.name = "four", .size = 30000, .seed = 44}};
    char **before = NULL, **after = NULL;
    size_t nbefore = dr_mem_backend_names(STORE, "tree", &before);
    dr_test_commit(e->repo[0], more, 1, 3000, &s3);
    assert_true(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES) > 0);
    size_t nafter = dr_mem_backend_names(STORE, "tree", &after);
    for (size_t i = 0; i < nafter; i++) {
        bool old = false;
        for (size_t k = 0; k < nbefore; k++) {
            old = old || strcmp(after[i], before[k]) == 0;
        }
        if (!old) {
            assert_int_equal(dr_mem_backend_drop(STORE, after[i]), 0);
        }
    }
    drop_snapshot(&s3);
    /* a new handle: the old one's cache of trees would still serve them */
    dr_repo_close(e->repo[1]);
    e->repo[1] = dr_test_repo_open(STORE, e->cache[1]);
    assert_true(dr_repo_sync_rebuilt(e->repo[1]));
    counts(e->repo[1], &blobs, &packs, &snaps);
    assert_int_equal(snaps, 1);
    assert_int_equal(dr_test_refs(e->repo[1], &n1.chunks[0]), 1);
    dr_mem_backend_names_free(before, nbefore);
    dr_mem_backend_names_free(after, nafter);
    dr_node_release(&n1);
    dr_node_release(&n2);
    dr_node_release(&n3);
}

/* Format version 2 has no epochs: every sync lists every pack, and prune writes none. */
static int setup_v2(void **state)
{
    *state = dr_test_env_new_version(STORE, 2, 2);
    return 0;
}

static void test_sync_v2_lists(void **state)
{
    struct dr_test_env *e = *state;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(dr_repo_sync_index(e->repo[1], DR_SYNC_CHANGES), 0);
        assert_true(dr_repo_sync_listed(e->repo[1]));
    }
    assert_int_equal(dr_repo_epoch_begin(e->repo[0]), 0);
    assert_int_equal(epochs(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_other_writer_added_packs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packs_vanished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forgotten_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_v2_lists, setup_v2, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
