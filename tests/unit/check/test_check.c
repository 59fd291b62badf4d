/* test_check.c: check's damage attribution (src/check/check.c) through the in-memory backend.
 *
 * Covers: a clean repository has no damage, with and without read_data, and the stats count
 * its snapshots and packs, and each tree and distinct blob once; a flipped byte in a data pack is
 * reported (read_data) as damage naming that pack, and the affected list names the snapshot and the
 * one file whose blob is in the damaged record, not the intact files; a data pack that is gone is
 * reported as a missing pack by name, with every file of the snapshot affected; with packs streamed
 * through a window smaller than their records by three workers, a clean check and the flipped
 * byte's report are the same, and the gets and bytes fetched are counted; an index that disagrees
 * with the pack headers (a record's offset changed, a blob's entry gone, an entry for a blob no
 * pack holds, an entry that names the wrong pack) gets each disagreement reported once, naming the
 * blob. */
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
#include "drrepo/mem.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "check"

static const struct dr_test_file files[] = {
    {.name = "a", .size = 40000, .seed = 51},
    {.name = "b", .size = 1000, .seed = 52},
    {.name = "c", .size = 20000, .seed = 53, .in_sub = true},
};

struct env {
    struct dr_test_env *t;
    struct dr_repo *r; /* t->repo[0] */
    struct dr_id snap;
    char *pack; /* the data pack's object name */
    char pack_hex[DR_ID_HEX_LEN + 1];
};

static int setup(void **state)
{
    struct env *e = dr_xcalloc(1, sizeof(*e));
    e->t = dr_test_env_new(STORE, 1);
    e->r = e->t->repo[0];
    dr_test_commit(e->r, files, 3, 1000, &e->snap);
    char **names = NULL;
    size_t n = dr_mem_backend_names(STORE, "data/", &names);
    assert_int_equal(n, 1);
    e->pack = dr_xstrdup(names[0]);
    snprintf(e->pack_hex, sizeof(e->pack_hex), "%s", strrchr(e->pack, '/') + 1);
    dr_mem_backend_names_free(names, n);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    dr_test_env_free(e->t);
    free(e->pack);
    free(e);
    return 0;
}

static void run_check_opts(struct env *e, const struct dr_check_opts *o,
                           struct dr_check_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    int rc = dr_check_run(e->r, o, rep);
    if (rc < 0) {
        fail_msg("check: %s", dr_error_msg());
    }
}

static void run_check(struct env *e, bool read_data, struct dr_check_report *rep)
{
    struct dr_check_opts o = {.read_data = read_data};
    run_check_opts(e, &o, rep);
}

static void print_report(const struct dr_check_report *rep)
{
    for (size_t i = 0; i < rep->nproblems; i++) {
        print_message("problem %d%s: %s: %s\n", rep->problems[i].kind,
                      rep->problems[i].warning ? " (warning)" : "", rep->problems[i].object,
                      rep->problems[i].message);
    }
    for (size_t i = 0; i < rep->naffected; i++) {
        print_message("affected: %s %s\n", rep->affected[i].path, rep->affected[i].object);
    }
}

/* True when a damage problem of kind names the pack in its object or message. */
static bool names_pack(const struct dr_check_report *rep, int kind, const char *hex)
{
    for (size_t i = 0; i < rep->nproblems; i++) {
        const struct dr_problem *p = &rep->problems[i];
        if (p->kind == kind && !p->warning &&
            (strstr(p->object, hex) || (p->message && strstr(p->message, hex)))) {
            return true;
        }
    }
    return false;
}

static bool is_affected(const struct dr_check_report *rep, const struct dr_id *snap,
                        const char *path)
{
    for (size_t i = 0; i < rep->naffected; i++) {
        if (memcmp(&rep->affected[i].snapshot, snap, sizeof(*snap)) == 0 &&
            strcmp(rep->affected[i].path, path) == 0) {
            return true;
        }
    }
    return false;
}

/* The distinct chunks of the three files: what check counts as blobs. */
static uint64_t distinct_chunks(struct env *e)
{
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(e->r, &e->snap, &s), 0);
    struct dr_id ids[4096];
    size_t n = 0;
    const char *paths[] = {"a", "b", "sub/c"};
    for (size_t f = 0; f < 3; f++) {
        struct dr_node nd = {0};
        assert_int_equal(dr_repo_find_node(e->r, &s, paths[f], &nd), 0);
        for (size_t k = 0; k < nd.nchunks; k++) {
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++) {
                seen = dr_id_eq(&ids[j], &nd.chunks[k]);
            }
            if (!seen) {
                assert_true(n < 4096);
                ids[n++] = nd.chunks[k];
            }
        }
        dr_node_release(&nd);
    }
    dr_snapshot_release(&s);
    return n;
}

static void test_clean(void **state)
{
    struct env *e = *state;
    struct dr_check_report rep;
    run_check(e, false, &rep);
    print_report(&rep);
    assert_int_equal(rep.ndamage, 0);
    assert_int_equal(rep.st.snapshots, 1);
    assert_true(rep.st.packs >= 2);
    /* each tree and each blob counted once: the root and "sub", the files' distinct chunks */
    uint64_t blobs = distinct_chunks(e);
    assert_int_equal(rep.st.trees, 2);
    assert_int_equal(rep.st.blobs, blobs);
    dr_check_report_release(&rep);
    /* a second snapshot of the same files shares them all: still counted once */
    struct dr_id again;
    dr_test_commit(e->r, files, 3, 2000, &again);
    run_check(e, false, &rep);
    assert_int_equal(rep.ndamage, 0);
    assert_int_equal(rep.st.snapshots, 2);
    assert_int_equal(rep.st.trees, 2);
    assert_int_equal(rep.st.blobs, blobs);
    dr_check_report_release(&rep);
    run_check(e, true, &rep);
    assert_int_equal(rep.ndamage, 0);
    assert_int_equal(rep.naffected, 0);
    assert_true(rep.st.packs_read >= 1);
    dr_check_report_release(&rep);
}

static void flipped_byte(struct env *e, const struct dr_check_opts *o)
{
    struct dr_snapshot s;
    struct dr_node a = {0};
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(e->r, &e->snap, &s), 0);
    assert_int_equal(dr_repo_find_node(e->r, &s, "a", &a), 0);
    struct dr_index_txn *txn = NULL;
    struct dr_index_blob b;
    assert_int_equal(dr_index_begin(dr_repo_index(e->r), false, &txn), 0);
    assert_int_equal(dr_index_blob_get(txn, &a.chunks[1], &b), 0);
    assert_int_equal(dr_index_commit(txn), 0);
    assert_int_equal(dr_mem_backend_flip(STORE, e->pack, b.offset + b.clen / 2, 0x04), 0);

    struct dr_check_report rep;
    run_check_opts(e, o, &rep);
    print_report(&rep);
    assert_true(rep.ndamage > 0);
    /* the pack as a whole (its hash) and the blob in it */
    assert_true(names_pack(&rep, DR_PROB_PACK_HASH, e->pack_hex));
    assert_true(names_pack(&rep, DR_PROB_BLOB_DAMAGED, e->pack_hex));
    assert_true(is_affected(&rep, &e->snap, "/a"));
    char bhex[DR_ID_HEX_LEN + 1];
    assert_int_equal(rep.naffected, 1);
    assert_non_null(strstr(rep.affected[0].object, dr_id_hex(&a.chunks[1], bhex)));
    assert_false(is_affected(&rep, &e->snap, "/b"));
    assert_false(is_affected(&rep, &e->snap, "/sub/c"));
    dr_check_report_release(&rep);
    dr_node_release(&a);
    dr_snapshot_release(&s);
}

static void test_flipped_byte(void **state)
{
    struct dr_check_opts o = {.read_data = true};
    flipped_byte(*state, &o);
}

/* Packs streamed in windows far smaller than their records, by several workers: the same
 * outcome, and every byte of the packs fetched (the pack's end twice at most). */
static void test_small_window(void **state)
{
    struct env *e = *state;
    struct dr_check_opts o = {.read_data = true, .window = 1000, .workers = 3};
    struct dr_check_report rep;
    run_check_opts(e, &o, &rep);
    print_report(&rep);
    assert_int_equal(rep.ndamage, 0);
    assert_true(rep.st.packs_read >= 2);
    print_message("%llu packs, %llu bytes, %llu gets, %llu fetched\n",
                  (unsigned long long)rep.st.packs_read, (unsigned long long)rep.st.bytes_read,
                  (unsigned long long)rep.st.gets, (unsigned long long)rep.st.bytes_fetched);
    assert_true(rep.st.gets > 2 * rep.st.packs_read);
    assert_true(rep.st.bytes_fetched >= rep.st.bytes_read);
    dr_check_report_release(&rep);
    flipped_byte(e, &o);
}

static void test_missing_pack(void **state)
{
    struct env *e = *state;
    assert_int_equal(dr_mem_backend_drop(STORE, e->pack), 0);
    struct dr_check_report rep;
    run_check(e, false, &rep);
    print_report(&rep);
    assert_true(rep.ndamage > 0);
    assert_true(names_pack(&rep, DR_PROB_PACK_MISSING, e->pack_hex));
    assert_true(is_affected(&rep, &e->snap, "/a"));
    assert_true(is_affected(&rep, &e->snap, "/b"));
    assert_true(is_affected(&rep, &e->snap, "/sub/c"));
    dr_check_report_release(&rep);
}

/* The first problem of kind DR_PROB_INDEX whose message holds both strings, or NULL. */
static const struct dr_problem *index_problem(const struct dr_check_report *rep, const char *a,
                                              const char *b)
{
    const struct dr_problem *found = NULL;
    size_t n = 0;
    for (size_t i = 0; i < rep->nproblems; i++) {
        const struct dr_problem *p = &rep->problems[i];
        const char *text = p->message ? p->message : "";
        if (p->kind == DR_PROB_INDEX && (strstr(text, a) || strstr(p->object, a)) &&
            (strstr(text, b) || strstr(p->object, b))) {
            found = found ? found : p;
            n++;
        }
    }
    assert_true(n <= 1); /* each disagreement once */
    return found;
}

static void test_index_disagrees(void **state)
{
    struct env *e = *state;
    struct dr_snapshot s;
    struct dr_node a = {0}, b = {0}, c = {0};
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(e->r, &e->snap, &s), 0);
    assert_int_equal(dr_repo_find_node(e->r, &s, "a", &a), 0);
    assert_int_equal(dr_repo_find_node(e->r, &s, "b", &b), 0);
    assert_int_equal(dr_repo_find_node(e->r, &s, "sub/c", &c), 0);
    struct dr_index_txn *txn = NULL;
    struct dr_index_blob ib;
    assert_int_equal(dr_index_begin(dr_repo_index(e->r), true, &txn), 0);
    /* a's first chunk: the index's offset is one off */
    assert_int_equal(dr_index_blob_get(txn, &a.chunks[0], &ib), 0);
    ib.offset++;
    assert_int_equal(dr_index_blob_put(txn, &a.chunks[0], &ib), 0);
    /* b's chunk: gone from the index */
    assert_int_equal(dr_index_blob_del(txn, &b.chunks[0]), 0);
    /* a blob no pack holds, placed in the data pack */
    struct dr_id ghost;
    memset(&ghost, 0xee, sizeof(ghost));
    assert_int_equal(dr_index_blob_put(txn, &ghost, &ib), 0);
    /* c's first chunk placed in a pack that is not in the repository */
    assert_int_equal(dr_index_blob_get(txn, &c.chunks[0], &ib), 0);
    memset(&ib.pack, 0x11, sizeof(ib.pack));
    assert_int_equal(dr_index_blob_put(txn, &c.chunks[0], &ib), 0);
    assert_int_equal(dr_index_commit(txn), 0);

    struct dr_check_report rep;
    run_check(e, false, &rep);
    print_report(&rep);
    char h[DR_ID_HEX_LEN + 1];
    assert_non_null(index_problem(&rep, dr_id_hex(&a.chunks[0], h), "the pack header says"));
    assert_non_null(index_problem(&rep, dr_id_hex(&b.chunks[0], h), "the index does not know"));
    assert_non_null(index_problem(&rep, dr_id_hex(&ghost, h), "does not contain it"));
    assert_non_null(index_problem(&rep, dr_id_hex(&c.chunks[0], h), "does not contain it"));
    /* c's chunk is in the data pack, which the index then does not name for it: not "unknown" */
    assert_null(index_problem(&rep, dr_id_hex(&c.chunks[0], h), "the index does not know"));
    /* the record a's index entry should name is neither unknown nor misplaced */
    assert_null(index_problem(&rep, dr_id_hex(&a.chunks[0], h), "the index does not know"));
    assert_null(index_problem(&rep, dr_id_hex(&a.chunks[0], h), "does not contain it"));
    dr_check_report_release(&rep);
    dr_node_release(&a);
    dr_node_release(&b);
    dr_node_release(&c);
    dr_snapshot_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_pack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_disagrees, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
