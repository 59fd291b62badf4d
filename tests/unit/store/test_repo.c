/* test_repo.c: the repository core (src/store/repo.c, admin.c, keys.c, pipeline.c) through the
 * in-memory backend, with a real index in a scratch cache directory.
 *
 * Covers: init writes config, its copy and a key file, and refuses a second init (DR_EEXIST);
 * open with the wrong password (DR_EAUTH) and of an empty store (DR_ENOREPO); data blobs put
 * through the pipeline are deduplicated and read back; work queued with dr_pipeline_then runs
 * once the blobs before it have their ids, in order, and is released on failure; data records are
 * spread at random over two open packs (chunk-size privacy), every one indexed once and readable; a
 * dry-run pipeline counts what a real one adds (dedup within the run and against the index
 * included), writes no pack and refuses to commit; an unknown blob is DR_ENOENT; a blob whose
 * record was damaged is DR_ECORRUPT naming the pack; reference counting +1/-1 on every distinct
 * blob reachable from a tree, and the count of blobs it had to skip; the snapshot list and resolve;
 * the counts of a reopened index; a tree whose file has a chunk list (format/chunklist.md) loads
 * expanded (chunks, the chain of list blobs), reference counting counts the lists, and a list that
 * is missing, has a base of the wrong depth or does not add up to the file's size makes the tree
 * unreadable with a message naming the file; loaded to salvage, such a file is left unexpanded
 * instead, and `repair snapshots` writes a snapshot in which it is one damaged file lost as a
 * whole, its tree readable again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/chunklist.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/pipeline.h"
#include "drrepo/repair.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "store-repo"

static int setup(void **state)
{
    *state = dr_test_env_new(STORE, 1);
    return 0;
}

static int teardown(void **state)
{
    dr_test_env_free(*state);
    return 0;
}

static void test_init_open(void **state)
{
    struct dr_test_env *e = *state;
    assert_true(dr_mem_backend_size(STORE, DR_OBJ_CONFIG) > 0);
    assert_true(dr_mem_backend_size(STORE, DR_OBJ_CONFIG_COPY) > 0);
    assert_int_equal(dr_mem_backend_count(STORE, "keys/"), 1);
    assert_int_equal(dr_repo_config(e->repo[0])->version, DR_REPO_VERSION);
    assert_int_equal(dr_repo_config(e->repo[0])->pack_size, DR_PACK_SIZE_MIN);
    assert_non_null(dr_repo_index(e->repo[0]));
    assert_string_equal(dr_repo_cache_dir(e->repo[0]), e->cache[0]);

    struct dr_repo_params p;
    dr_repo_params_default(&p);
    p.kdf_opslimit = 1;
    p.kdf_memlimit = 8192;
    p.insecure_kdf = true;
    struct dr_id id;
    assert_int_equal(dr_repo_init("mem://" STORE, "pw", &p, &id), DR_EEXIST);
    /* the floor is enforced without insecure_kdf */
    p.insecure_kdf = false;
    assert_int_equal(dr_repo_init("mem://store-other", "pw", &p, &id), DR_EUSAGE);

    struct dr_repo *r2 = NULL;
    struct dr_repo_open_opts o = {
        .location = "mem://" STORE, .password = "wrong", .cache_dir = e->cache[0]};
    assert_int_equal(dr_repo_open(&o, &r2), DR_EAUTH);
    o.location = "mem://store-empty";
    o.password = DR_TEST_PASSWORD;
    int rc = dr_repo_open(&o, &r2);
    assert_true(rc == DR_ENOREPO || rc == DR_EIO);
    assert_null(r2);
    dr_mem_backend_destroy("store-empty");
    dr_mem_backend_destroy("store-other");
}

static void test_blob_put_get(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_pipeline *w = NULL;
    struct dr_id ids[3];
    size_t sizes[3] = {1000, 20000, 1000};
    uint32_t seeds[3] = {1, 2, 1}; /* the third is the first again */
    assert_int_equal(dr_pipeline_open(e->repo[0], &w), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t *p = dr_xmalloc(sizes[i]);
        dr_test_fill(p, sizes[i], seeds[i]);
        assert_int_equal(dr_pipeline_put_data(w, p, sizes[i], &ids[i]), 0);
    }
    assert_int_equal(dr_pipeline_flush(w), 0);
    struct dr_pipeline_stats st;
    dr_pipeline_get_stats(w, &st);
    assert_int_equal(st.blobs_seen, 3);
    assert_int_equal(st.blobs_added, 2);
    assert_int_equal(st.packs_written, 1);
    dr_pipeline_free(w);
    assert_memory_equal(&ids[0], &ids[2], sizeof(ids[0]));
    assert_memory_not_equal(&ids[0], &ids[1], sizeof(ids[0]));
    assert_int_equal(dr_mem_backend_count(STORE, "data/"), 1);

    for (int i = 0; i < 2; i++) {
        struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        uint8_t *want = dr_xmalloc(sizes[i]);
        dr_test_fill(want, sizes[i], seeds[i]);
        assert_int_equal(dr_repo_blob_get(e->repo[0], NULL, DR_BLOB_DATA, &ids[i], &out), 0);
        assert_int_equal(out.len, sizes[i]);
        assert_memory_equal(out.buf, want, sizes[i]);
        free(want);
        dr_buf_release(&out);
    }

    struct dr_id unknown;
    memset(&unknown, 0x5a, sizeof(unknown));
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_repo_blob_get(e->repo[0], NULL, DR_BLOB_DATA, &unknown, &out), DR_ENOENT);

    /* damage the second blob's record: the read fails naming its pack */
    struct dr_index_txn *txn = NULL;
    struct dr_index_blob b;
    assert_int_equal(dr_index_begin(dr_repo_index(e->repo[0]), false, &txn), 0);
    assert_int_equal(dr_index_blob_get(txn, &ids[1], &b), 0);
    assert_int_equal(dr_index_commit(txn), 0);
    char **names = NULL;
    size_t n = dr_mem_backend_names(STORE, "data/", &names);
    assert_int_equal(n, 1);
    char hex[DR_ID_HEX_LEN + 1];
    assert_non_null(strstr(names[0], dr_id_hex(&b.pack, hex)));
    assert_int_equal(dr_mem_backend_flip(STORE, names[0], b.offset + b.clen / 2, 0x01), 0);
    assert_int_equal(dr_repo_blob_get(e->repo[0], NULL, DR_BLOB_DATA, &ids[1], &out), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), hex));
    /* the other blob of the pack is intact */
    assert_int_equal(dr_repo_blob_get(e->repo[0], NULL, DR_BLOB_DATA, &ids[0], &out), 0);
    assert_int_equal(out.len, sizes[0]);
    dr_mem_backend_names_free(names, n);
    dr_buf_release(&out);
}

/* dr_pipeline_then: each runs once the blobs submitted before it have their ids, in call order,
 * at once when nothing is in flight, and may store a blob itself (as a directory's tree does);
 * a failing one fails the pipeline, and the thens left are released without running, as are
 * those still pending when the pipeline is freed. */
struct then_log {
    const struct dr_id *ids; /* the blobs whose ids must be written by the time it runs */
    size_t nids;
    int order[16], norder, released;
    int fail;  /* the fn of this index fails */
    int first; /* not 0: the thens are numbered from it in call order */
    struct dr_pipeline *w;
    struct dr_id tree; /* stored by the then of index 2 */
};

struct then_arg {
    struct then_log *log;
    int idx;
    size_t need; /* ids[0..need) written when it runs */
};

static int then_fn(void *arg)
{
    struct then_arg *a = arg;
    static const struct dr_id zero;
    for (size_t i = 0; i < a->need; i++) {
        assert_memory_not_equal(&a->log->ids[i], &zero, sizeof(zero));
    }
    if (a->log->first) {
        assert_int_equal(a->idx, a->log->first + a->log->norder);
    }
    if (a->log->norder < 16) {
        a->log->order[a->log->norder] = a->idx;
    }
    a->log->norder++;
    if (a->idx == a->log->fail) {
        return dr_errorf(DR_EIO, "then %d failed", a->idx);
    }
    if (a->idx == 2) {
        static const uint8_t t[] = "a tree blob";
        return dr_pipeline_put_now(a->log->w, DR_BLOB_TREE, t, sizeof(t), &a->log->tree);
    }
    return 0;
}

static void then_release(void *arg)
{
    struct then_arg *a = arg;
    a->log->released++;
    free(a);
}

static int then_add(struct then_log *log, int idx, size_t need)
{
    struct then_arg *a = dr_xcalloc(1, sizeof(*a));
    *a = (struct then_arg){.log = log, .idx = idx, .need = need};
    return dr_pipeline_then(log->w, then_fn, then_release, a);
}

static void put_blob(struct dr_pipeline *w, uint32_t seed, struct dr_id *out)
{
    uint8_t *p = dr_xmalloc(3000);
    dr_test_fill(p, 3000, seed);
    assert_int_equal(dr_pipeline_put_data(w, p, 3000, out), 0);
}

static void test_pipeline_then(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_id ids[12] = {0};
    struct then_log log = {.ids = ids, .fail = -1};
    assert_int_equal(dr_pipeline_open(e->repo[0], &log.w), 0);
    /* nothing in flight: it runs at once */
    assert_int_equal(then_add(&log, 0, 0), 0);
    assert_int_equal(log.norder, 1);
    /* blobs, thens between them, two thens in a row */
    for (int i = 0; i < 12; i++) {
        put_blob(log.w, 100 + (uint32_t)i, &ids[i]);
        if (i == 3 || i == 7 || i == 11) {
            assert_int_equal(then_add(&log, i == 3 ? 1 : i == 7 ? 2 : 4, (size_t)i + 1), 0);
        }
        if (i == 7) {
            assert_int_equal(then_add(&log, 3, 8), 0);
        }
    }
    assert_int_equal(dr_pipeline_drain(log.w), 0);
    assert_int_equal(log.norder, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(log.order[i], i);
    }
    assert_int_equal(log.released, 5);
    assert_int_equal(dr_pipeline_flush(log.w), 0);
    dr_pipeline_free(log.w);
    /* the tree the then stored is in the repository */
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_repo_blob_get(e->repo[0], NULL, DR_BLOB_TREE, &log.tree, &out), 0);
    assert_string_equal(out.buf, "a tree blob");
    dr_buf_release(&out);

    /* a failing then fails the pipeline; the one after it and a later one only get released */
    struct dr_id ids2[3] = {0};
    struct then_log f = {.ids = ids2, .fail = 1};
    assert_int_equal(dr_pipeline_open(e->repo[0], &f.w), 0);
    put_blob(f.w, 200, &ids2[0]);
    assert_int_equal(then_add(&f, 1, 1), 0);
    assert_int_equal(then_add(&f, 3, 1), 0);
    assert_int_equal(f.norder, 0); /* the blob is still in flight */
    assert_int_equal(dr_pipeline_drain(f.w), DR_EIO);
    assert_non_null(strstr(dr_error_msg(), "then 1 failed"));
    assert_int_equal(f.norder, 1);
    assert_int_equal(dr_pipeline_flush(f.w), DR_EIO);
    assert_int_equal(then_add(&f, 5, 0), DR_EIO);
    dr_pipeline_free(f.w);
    assert_int_equal(f.norder, 1);
    assert_int_equal(f.released, 3);

    /* a long run in which thens keep running while others wait (the queue moves its pending to
     * the front as it goes): all in order, each after its blobs */
    struct dr_id *many = dr_xcalloc(300, sizeof(*many));
    struct then_log m = {.ids = many, .fail = -1, .first = 3};
    assert_int_equal(dr_pipeline_open(e->repo[0], &m.w), 0);
    for (int i = 0; i < 300; i++) {
        put_blob(m.w, 1000 + (uint32_t)i, &many[i]);
        assert_int_equal(then_add(&m, 3 + i, (size_t)i + 1), 0);
        assert_true(m.norder <= i + 1);
    }
    assert_int_equal(dr_pipeline_drain(m.w), 0);
    assert_int_equal(m.norder, 300);
    assert_int_equal(m.released, 300);
    dr_pipeline_free(m.w);
    free(many);

    /* pending when the pipeline is freed: released, not run */
    struct dr_id ids3[1] = {0};
    struct then_log g = {.ids = ids3, .fail = -1};
    assert_int_equal(dr_pipeline_open(e->repo[0], &g.w), 0);
    put_blob(g.w, 300, &ids3[0]);
    assert_int_equal(then_add(&g, 1, 1), 0);
    dr_pipeline_free(g.w);
    assert_int_equal(g.norder, 0);
    assert_int_equal(g.released, 1);
}

/* Chunk-size privacy: with many chunks, records are assigned at random to two open data packs,
 * so a pack's records are not a run of consecutive chunks (one open pack would fill pack after
 * pack with consecutive runs). Every chunk is in exactly one pack, indexed there, and readable. */
static void test_random_pack_assignment(void **state)
{
    enum { N = 1000, LEN = 3000 }; /* ~3 MiB of incompressible records: several 1 MiB packs */
    struct dr_test_env *e = *state;
    struct dr_repo *r = e->repo[0];
    struct dr_pipeline *w = NULL;
    struct dr_id *ids = dr_xcalloc(N, sizeof(*ids));
    assert_int_equal(dr_pipeline_open(r, &w), 0);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t *p = dr_xmalloc(LEN);
        dr_test_fill(p, LEN, 1000 + i);
        assert_int_equal(dr_pipeline_put_data(w, p, LEN, &ids[i]), 0);
    }
    assert_int_equal(dr_pipeline_flush(w), 0);
    struct dr_pipeline_stats st;
    dr_pipeline_get_stats(w, &st);
    assert_int_equal(st.blobs_added, N);
    dr_pipeline_free(w);

    char **names = NULL;
    size_t npacks = dr_mem_backend_names(STORE, "data/", &names);
    assert_true(npacks >= 3);
    int *seen = dr_xcalloc(N, sizeof(*seen));
    size_t scattered = 0, total = 0, small = 0;
    for (size_t p = 0; p < npacks; p++) {
        struct dr_pack_entry *ent = NULL;
        size_t n = 0;
        uint64_t size;
        uint8_t type;
        assert_int_equal(dr_pack_read_header(dr_repo_backend(r), dr_repo_keys(r), names[p],
                                             DR_BACKEND_SIZE_UNKNOWN, &size, &ent, &n, &type),
                         0);
        assert_int_equal(type, DR_BLOB_DATA);
        /* written before a record would take it past the target (a power of two): padded to
         * at most the target, never into the coarser padding steps above it */
        assert_true(size <= DR_PACK_SIZE_MIN);
        small += size <= DR_PACK_SIZE_MIN / 2;
        size_t lo = N, hi = 0;
        for (size_t k = 0; k < n; k++) {
            size_t i = 0;
            while (i < N && !dr_id_eq(&ids[i], &ent[k].id)) {
                i++;
            }
            assert_true(i < N);
            seen[i]++;
            lo = i < lo ? i : lo;
            hi = i > hi ? i : hi;
        }
        /* a pack filled from one open pack holds a contiguous run of chunks */
        if (hi - lo + 1 != n) {
            scattered++;
        }
        total += n;
        free(ent);
    }
    assert_int_equal(total, N);
    assert_true(scattered >= 1);
    /* only the packs still open at the flush (two, or one when they fit together) are small */
    assert_true(small <= 2);

    struct dr_index_txn *txn = NULL;
    assert_int_equal(dr_index_begin(dr_repo_index(r), false, &txn), 0);
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    uint8_t *want = dr_xmalloc(LEN);
    char hex[DR_ID_HEX_LEN + 1];
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(seen[i], 1);
        struct dr_index_blob b;
        assert_int_equal(dr_index_blob_get(txn, &ids[i], &b), 0);
        bool named = false;
        for (size_t p = 0; p < npacks && !named; p++) {
            named = strstr(names[p], dr_id_hex(&b.pack, hex)) != NULL;
        }
        assert_true(named);
        dr_buf_reset(&out);
        assert_int_equal(dr_repo_blob_get(r, NULL, DR_BLOB_DATA, &ids[i], &out), 0);
        dr_test_fill(want, LEN, 1000 + i);
        assert_int_equal(out.len, LEN);
        assert_memory_equal(out.buf, want, LEN);
    }
    assert_int_equal(dr_index_commit(txn), 0);
    free(want);
    dr_buf_release(&out);
    dr_mem_backend_names_free(names, npacks);
    free(seen);
    free(ids);
}

static int count_refs(struct dr_repo *r, const struct dr_id *root, int delta)
{
    struct dr_index_txn *txn = NULL;
    assert_int_equal(dr_index_begin(dr_repo_index(r), true, &txn), 0);
    int rc = dr_repo_count_refs(r, txn, root, delta);
    assert_int_equal(dr_index_commit(txn), 0);
    return rc;
}

static void test_refcount(void **state)
{
    struct dr_test_env *e = *state;
    /* a blob counts the nodes of live trees that name it (format/index.md): "a" and "b" hold
     * the same content, and each counts once */
    const struct dr_test_file files[] = {
        {.name = "a", .size = 40000, .seed = 7},
        {.name = "b", .size = 40000, .seed = 7},
        {.name = "c", .size = 100, .seed = 8, .in_sub = true},
    };
    struct dr_id snap;
    dr_test_commit(e->repo[0], files, 3, 1000, &snap);
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(e->repo[0], &snap, &s), 0);
    struct dr_node a = {0}, c = {0}, sub = {0};
    assert_int_equal(dr_repo_find_node(e->repo[0], &s, "/a", &a), 0);
    assert_int_equal(dr_repo_find_node(e->repo[0], &s, "sub/c", &c), 0);
    assert_int_equal(dr_repo_find_node(e->repo[0], &s, "sub", &sub), 0);
    assert_int_equal(a.nchunks, 3);
    dr_test_assert_content(e->repo[0], &a, 40000, 7);
    dr_test_assert_content(e->repo[0], &c, 100, 8);

    /* committed: one reference per naming node, the trees included */
    assert_int_equal(dr_test_refs(e->repo[0], &a.chunks[0]), 2);
    assert_int_equal(dr_test_refs(e->repo[0], &c.chunks[0]), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &s.tree), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &sub.subtree), 1);
    /* the same root counted again: one more reference to the root, nothing below it read */
    assert_int_equal(count_refs(e->repo[0], &s.tree, +1), 0);
    assert_int_equal(dr_test_refs(e->repo[0], &s.tree), 2);
    assert_int_equal(dr_test_refs(e->repo[0], &sub.subtree), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &a.chunks[2]), 2);
    assert_int_equal(dr_test_refs(e->repo[0], &c.chunks[0]), 1);
    assert_int_equal(count_refs(e->repo[0], &s.tree, -1), 0);
    assert_int_equal(dr_test_refs(e->repo[0], &s.tree), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &a.chunks[2]), 2);

    /* a second snapshot sharing "a": its root is a new live tree whose node names a's blobs */
    const struct dr_test_file more[] = {{.name = "a", .size = 40000, .seed = 7}};
    struct dr_id snap2;
    dr_test_commit(e->repo[0], more, 1, 2000, &snap2);
    assert_int_equal(dr_test_refs(e->repo[0], &a.chunks[0]), 3);
    assert_int_equal(dr_test_refs(e->repo[0], &c.chunks[0]), 1);

    /* the first root's last reference taken back: everything only it reached falls to 0, what
     * the second root names keeps that reference; then the first is counted again */
    assert_int_equal(count_refs(e->repo[0], &s.tree, -1), 0);
    assert_int_equal(dr_test_refs(e->repo[0], &s.tree), 0);
    assert_int_equal(dr_test_refs(e->repo[0], &sub.subtree), 0);
    assert_int_equal(dr_test_refs(e->repo[0], &c.chunks[0]), 0);
    assert_int_equal(dr_test_refs(e->repo[0], &a.chunks[0]), 1);
    assert_int_equal(count_refs(e->repo[0], &s.tree, +1), 0);
    assert_int_equal(dr_test_refs(e->repo[0], &sub.subtree), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &c.chunks[0]), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &a.chunks[0]), 3);

    /* a root that is not in the index is skipped and counted */
    struct dr_id unknown;
    memset(&unknown, 0x77, sizeof(unknown));
    assert_int_equal(count_refs(e->repo[0], &unknown, +1), 1);

    struct dr_snap_entry *list = NULL;
    size_t n = 0, bad = 0;
    assert_int_equal(dr_repo_snapshot_list(e->repo[0], &list, &n, &bad), 0);
    assert_int_equal(n, 2);
    assert_int_equal(bad, 0);
    assert_memory_equal(&list[0].id, &snap, sizeof(snap)); /* oldest first */
    dr_snap_list_free(list, n);
    struct dr_id latest;
    assert_int_equal(dr_repo_snapshot_resolve(e->repo[0], "latest", NULL, NULL, &latest), 0);
    assert_memory_equal(&latest, &snap2, sizeof(snap2));

    uint64_t blobs, packs, snaps;
    assert_int_equal(dr_repo_index_counts(e->repo[0], &blobs, &packs, &snaps), 0);
    assert_int_equal(snaps, 2);
    assert_true(packs >= 2); /* a data pack and a tree pack at least */

    /* a reopened handle finds the same index */
    dr_repo_close(e->repo[0]);
    e->repo[0] = dr_test_repo_open(STORE, e->cache[0]);
    uint64_t blobs2, packs2, snaps2;
    assert_int_equal(dr_repo_index_counts(e->repo[0], &blobs2, &packs2, &snaps2), 0);
    assert_int_equal(blobs2, blobs);
    assert_int_equal(packs2, packs);
    assert_int_equal(dr_test_refs(e->repo[0], &a.chunks[0]), 3);

    dr_node_release(&a);
    dr_node_release(&c);
    dr_node_release(&sub);
    dr_snapshot_release(&s);
}

/* An id prefix that two snapshots share is refused, and the error names both (a user picks
 * the longer prefix from it); a prefix one snapshot has resolves. Snapshots are added until two
 * share their first 4 hex digits (about 300 expected of 65,536 prefixes; bounded at 3,000). */
static void test_ambiguous_prefix(void **state)
{
    struct dr_test_env *e = *state;
    const struct dr_test_file f[] = {{.name = "a", .size = 10, .seed = 1}};
    char a[DR_ID_HEX_LEN + 1] = "", b[DR_ID_HEX_LEN + 1] = "";
    for (int round = 0; round < 30 && !a[0]; round++) {
        for (int i = 0; i < 100; i++) {
            struct dr_id id;
            dr_test_commit(e->repo[0], f, 1, 1000 + round * 100 + i, &id);
        }
        struct dr_snap_entry *list = NULL;
        size_t n = 0;
        assert_int_equal(dr_repo_snapshot_list(e->repo[0], &list, &n, NULL), 0);
        for (size_t i = 0; i < n && !a[0]; i++) {
            for (size_t j = i + 1; j < n; j++) {
                if (memcmp(&list[i].id, &list[j].id, 2) == 0) {
                    dr_id_hex(&list[i].id, a);
                    dr_id_hex(&list[j].id, b);
                    break;
                }
            }
        }
        dr_snap_list_free(list, n);
    }
    assert_true(a[0]);
    char prefix[5];
    memcpy(prefix, a, 4);
    prefix[4] = 0;
    struct dr_id out;
    assert_int_equal(dr_repo_snapshot_resolve(e->repo[0], prefix, NULL, NULL, &out), DR_EUSAGE);
    assert_non_null(strstr(dr_error_msg(), "is ambiguous"));
    char sa[17], sb[17];
    snprintf(sa, sizeof(sa), "%.16s", a);
    snprintf(sb, sizeof(sb), "%.16s", b);
    assert_non_null(strstr(dr_error_msg(), sa));
    assert_non_null(strstr(dr_error_msg(), sb));
    dr_error_clear();
    assert_int_equal(dr_repo_snapshot_resolve(e->repo[0], a, NULL, NULL, &out), 0);
    char got[DR_ID_HEX_LEN + 1];
    assert_string_equal(dr_id_hex(&out, got), a);
}

/* The dry-run pipeline (snapshot --dry-run) counts exactly what the real one then adds, and
 * writes nothing. */
static void test_dry_run(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_repo *r = e->repo[0];
    size_t sizes[4] = {1000, 20000, 1000, 5000};
    uint32_t seeds[4] = {1, 2, 1, 3}; /* the third is the first again */
    struct dr_pipeline_stats dry, real;
    struct dr_id ids[4], tree;
    for (int pass = 0; pass < 2; pass++) {
        struct dr_pipeline *w = NULL;
        assert_int_equal(pass ? dr_pipeline_open(r, &w) : dr_pipeline_open_dry_run(r, &w), 0);
        for (int i = 0; i < 4; i++) {
            uint8_t *p = dr_xmalloc(sizes[i]);
            dr_test_fill(p, sizes[i], seeds[i]);
            assert_int_equal(dr_pipeline_put_data(w, p, sizes[i], &ids[i]), 0);
        }
        assert_int_equal(dr_pipeline_put_tree(w, (const uint8_t *)"tree", 4, &tree), 0);
        assert_int_equal(dr_pipeline_put_tree(w, (const uint8_t *)"tree", 4, &tree), 0);
        assert_int_equal(dr_pipeline_flush(w), 0);
        dr_pipeline_get_stats(w, pass ? &real : &dry);
        if (!pass) {
            struct dr_snapshot s;
            dr_snapshot_init(&s);
            struct dr_id sid;
            assert_int_equal(dr_pipeline_commit(w, &s, &sid), DR_EINTERNAL);
            dr_error_clear();
            assert_int_equal(dr_mem_backend_count(STORE, "data/"), 0);
            assert_int_equal(dr_mem_backend_count(STORE, "snapshots/"), 0);
        }
        dr_pipeline_free(w);
    }
    assert_memory_equal(&ids[0], &ids[2], sizeof(ids[0]));
    assert_int_equal(dry.blobs_seen, 6);
    assert_int_equal(dry.blobs_added, 4); /* three data blobs and one tree */
    assert_int_equal(dry.packs_written, 0);
    assert_int_equal(real.blobs_added, dry.blobs_added);
    assert_int_equal(real.bytes_added, dry.bytes_added);
    assert_true(real.packs_written >= 1);

    /* against the index: with everything stored, a dry run adds nothing */
    struct dr_pipeline *w = NULL;
    assert_int_equal(dr_pipeline_open_dry_run(r, &w), 0);
    uint8_t *p = dr_xmalloc(sizes[1]);
    dr_test_fill(p, sizes[1], seeds[1]);
    assert_int_equal(dr_pipeline_put_data(w, p, sizes[1], &ids[1]), 0);
    assert_int_equal(dr_pipeline_flush(w), 0);
    dr_pipeline_get_stats(w, &dry);
    assert_int_equal(dry.blobs_added, 0);
    dr_pipeline_free(w);
}

/* A list blob of the given chunks: full, or a change to base (of depth depth - 1) whose
 * expansion is old. */
static struct dr_id put_list(struct dr_pipeline *w, uint32_t depth, const struct dr_id *base,
                             const struct dr_id *old, const uint32_t *old_sizes, uint32_t old_n,
                             const struct dr_id *ids, const uint32_t *sizes, uint32_t n)
{
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    struct dr_id id;
    assert_int_equal(
        depth ? dr_chunklist_encode_delta(base, depth - 1, old, old_sizes, old_n, ids, sizes, n, &b)
              : dr_chunklist_encode_full(ids, sizes, n, &b),
        0);
    assert_int_equal(dr_pipeline_put_now(w, DR_BLOB_TREE, (const uint8_t *)b.buf, b.len, &id), 0);
    dr_buf_release(&b);
    return id;
}

/* A one-file tree whose file has chunk list list and size size. */
static struct dr_id put_listed_tree(struct dr_pipeline *w, const struct dr_id *list, uint64_t size)
{
    struct dr_tree t;
    struct dr_node n = {0};
    dr_tree_init(&t);
    n.name = dr_xstrdup("f");
    n.type = DR_NODE_FILE;
    n.size = size;
    n.flags = DR_NODE_F_LISTED;
    n.list = *list;
    dr_tree_add(&t, &n);
    struct dr_buf b = DR_BUF_INIT(DR_TREE_MAX);
    struct dr_id id;
    assert_int_equal(dr_tree_encode(&t, &b), 0);
    assert_int_equal(dr_pipeline_put_tree(w, (const uint8_t *)b.buf, b.len, &id), 0);
    dr_buf_release(&b);
    dr_tree_release(&t);
    return id;
}

static void expect_unreadable(struct dr_repo *r, const struct dr_id *tree, int code,
                              const char *what)
{
    struct dr_tree t;
    dr_tree_init(&t);
    assert_int_equal(dr_repo_tree_load(r, NULL, tree, &t), code);
    assert_int_equal(t.n, 0);
    if (!strstr(dr_error_msg(), "file 'f'") || !strstr(dr_error_msg(), what)) {
        fail_msg("message '%s' does not name the file and '%s'", dr_error_msg(), what);
    }
    dr_error_clear();
}

static void test_chunk_list_load(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_pipeline *w = NULL;
    struct dr_id ch[3];
    uint32_t sz[3] = {100, 50, 30};
    assert_int_equal(dr_pipeline_open(e->repo[0], &w), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t *p = dr_xmalloc(sz[i]);
        dr_test_fill(p, sz[i], 40 + (uint32_t)i);
        assert_int_equal(dr_pipeline_put_data(w, p, sz[i], &ch[i]), 0);
    }
    assert_int_equal(dr_pipeline_drain(w), 0);
    /* L0 = [0, 1]; L1 = L0 with position 1 -> 2; a change on L1 that says depth 1 */
    struct dr_id ids1[2] = {ch[0], ch[2]}, missing;
    uint32_t sz1[2] = {100, 30};
    struct dr_id l0 = put_list(w, 0, NULL, NULL, NULL, 0, ch, sz, 2);
    struct dr_id l1 = put_list(w, 1, &l0, ch, sz, 2, ids1, sz1, 2);
    struct dr_id bad_depth = put_list(w, 1, &l1, ids1, sz1, 2, ch, sz, 2);
    memset(&missing, 0x5c, sizeof(missing));
    struct dr_id no_base = put_list(w, 1, &missing, ch, sz, 2, ids1, sz1, 2);
    struct dr_id good = put_listed_tree(w, &l1, 130);
    struct dr_id t_depth = put_listed_tree(w, &bad_depth, 150);
    struct dr_id t_size = put_listed_tree(w, &l1, 131);
    struct dr_id t_missing = put_listed_tree(w, &missing, 130);
    struct dr_id t_nobase = put_listed_tree(w, &no_base, 130);
    assert_int_equal(dr_pipeline_flush(w), 0);
    dr_pipeline_free(w);

    struct dr_tree t;
    dr_tree_init(&t);
    assert_int_equal(dr_repo_tree_load(e->repo[0], NULL, &good, &t), 0);
    const struct dr_node *n = &t.nodes[0];
    assert_true(n->flags & DR_NODE_F_LISTED);
    assert_int_equal(n->nchunks, 2);
    assert_true(dr_id_eq(&n->chunks[0], &ch[0]) && dr_id_eq(&n->chunks[1], &ch[2]));
    assert_int_equal(n->chunk_sizes[1], 30);
    assert_int_equal(n->list_depth, 1);
    assert_int_equal(n->nlists, 2);
    assert_true(dr_id_eq(&n->lists[0], &l1) && dr_id_eq(&n->lists[1], &l0));
    /* the node references its chunks and both lists, not chunk 1 that L1 replaced */
    assert_int_equal(dr_node_nrefs(n), 4);
    dr_tree_release(&t);
    assert_int_equal(dr_test_refs(e->repo[0], &l0), 0);
    assert_int_equal(count_refs(e->repo[0], &good, +1), 0);
    assert_int_equal(dr_test_refs(e->repo[0], &l0), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &l1), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &ch[2]), 1);
    assert_int_equal(dr_test_refs(e->repo[0], &ch[1]), 0);

    expect_unreadable(e->repo[0], &t_depth, DR_ECORRUPT, "depth");
    expect_unreadable(e->repo[0], &t_size, DR_ECORRUPT, "the file 131");
    expect_unreadable(e->repo[0], &t_missing, DR_ENOENT, "chunk list 5c5c");
    expect_unreadable(e->repo[0], &t_nobase, DR_ENOENT, "chunk list 5c5c");

    /* salvaged: the file stays, unexpanded */
    assert_int_equal(dr_repo_tree_load_salvage(e->repo[0], NULL, &t_missing, &t), 0);
    assert_int_equal(t.n, 1);
    assert_true(t.nodes[0].flags & DR_NODE_F_LISTED);
    assert_int_equal(t.nodes[0].nchunks, 0);
    assert_int_equal(t.nodes[0].nlists, 0);
    dr_tree_release(&t);

    /* a snapshot of the good tree whose head list then goes missing (from the index: a commit
     * refuses a tree that names a missing blob): repair writes one whose file is lost whole */
    struct dr_snapshot s;
    struct dr_id snap;
    dr_snapshot_init(&s);
    s.time_ns = 1000;
    s.host = dr_xstrdup("unit");
    s.tree = good;
    dr_snapshot_add_path(&s, "/data");
    assert_int_equal(dr_pipeline_open(e->repo[0], &w), 0);
    assert_int_equal(dr_pipeline_commit(w, &s, &snap), 0);
    dr_pipeline_free(w);
    dr_snapshot_release(&s);
    struct dr_index_txn *txn = NULL;
    assert_int_equal(dr_index_begin(dr_repo_index(e->repo[0]), true, &txn), 0);
    assert_int_equal(dr_index_blob_del(txn, &l1), 0);
    assert_int_equal(dr_index_commit(txn), 0);
    /* a handle keeps the plaintexts of the trees and lists it read (authenticated already): a
     * new one, as the next command, reads the list through the index */
    dr_repo_close(e->repo[0]);
    e->repo[0] = dr_test_repo_open(STORE, e->cache[0]);
    expect_unreadable(e->repo[0], &good, DR_ENOENT, "chunk list");
    struct dr_repair_result res = {0};
    assert_int_equal(dr_repair_snapshots(e->repo[0], false, false, &res), 0);
    assert_int_equal(res.snapshots_repaired, 1);
    assert_int_equal(res.nfiles, 1);
    assert_string_equal(res.files[0].path, "/f");
    assert_int_equal(res.files[0].lost_bytes, 130);
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(e->repo[0], &res.new_ids[0], &s), 0);
    dr_tree_init(&t);
    assert_int_equal(dr_repo_tree_load(e->repo[0], NULL, &s.tree, &t), 0);
    n = &t.nodes[0];
    assert_int_equal(n->flags & (DR_NODE_F_LISTED | DR_NODE_F_DAMAGED), DR_NODE_F_DAMAGED);
    assert_int_equal(n->ndamaged, 1);
    assert_int_equal(n->damaged[0].len, 130);
    dr_tree_release(&t);
    dr_snapshot_release(&s);
    dr_repair_result_release(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_pack_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_then, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcount, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ambiguous_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_list_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
