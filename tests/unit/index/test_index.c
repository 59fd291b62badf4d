/* test_index.c: the LMDB index (src/index/index.c).
 *
 * Covers: open/close/reopen persistence; blob, pack and snapshot put/get/del; pack_add with
 * duplicates (dead accounting) and re-adding; blob_ref live/dead moves and underflow;
 * pack_remove touching only its own blob entries; foreach (full walk and early stop); files
 * cache round trip (10,000 chunks) and its size limit, an unchanged record not rewritten (no
 * transaction id spent) and a changed one rewritten; clear (files kept); a schema-1 index
 * upgraded at open (blobs, packs and snapshots emptied for the sync to recount, files kept);
 * counts; a read txn renewed and used from another thread; sticky-failed write txns; a failed
 * commit (fault point index.commit) writing nothing; damaged data.mdb files (bad meta pages,
 * truncation, zeroed leaf page, bad record length, newer schema); 100,000 blob inserts and
 * lookups (time printed, not asserted); the bound on mapped pages (resident.c): a shed leaves a
 * small map mapped in, and of a large one (a lowered size) unmaps the pages a walk mapped in,
 * every record reads back the same after it, and reads past a lowered bound shed by themselves
 * while below the bound they do not. */
#include "drrepo/index.h"

#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/index/index_int.h"
#include "drrepo/error.h"
#include "drrepo/pack.h"
#include "drrepo/util.h"

struct fixture {
    char dir[256];
    struct dr_index *idx;
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/dr-index-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        return -1;
    }
    /* the index creates its own directory: use a child of the temp dir to test that */
    size_t len = strlen(f->dir);
    snprintf(f->dir + len, sizeof(f->dir) - len, "/index");
    if (dr_index_open(f->dir, &f->idx) < 0) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dr_index_close(f->idx);
    char *slash = strrchr(f->dir, '/');
    *slash = '\0';
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void mkid(struct dr_id *id, uint32_t seed)
{
    /* spread over the key space so that B-tree pages split as with real hashes */
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x1234567;
    for (int i = 0; i < DR_ID_LEN; i += 8) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ull;
        x ^= x >> 32;
        dr_put_u64le(id->b + i, x);
    }
}

static struct dr_index_txn *begin(struct fixture *f, bool write)
{
    struct dr_index_txn *t = NULL;
    assert_int_equal(dr_index_begin(f->idx, write, &t), 0);
    return t;
}

static void reopen(struct fixture *f)
{
    dr_index_close(f->idx);
    f->idx = NULL;
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
}

static char *data_path(struct fixture *f)
{
    static char p[300];
    snprintf(p, sizeof(p), "%s/data.mdb", f->dir);
    return p;
}

/* ---- basics ---------------------------------------------------------------------------- */

static void test_open_reopen(void **state)
{
    struct fixture *f = *state;
    struct dr_id bid, pid, sid, tree;
    mkid(&bid, 1);
    mkid(&pid, 2);
    mkid(&sid, 3);
    mkid(&tree, 4);
    assert_string_equal(dr_index_path(f->idx), f->dir);

    struct dr_index_txn *t = begin(f, true);
    struct dr_index_blob b = {
        .pack = pid, .type = 1, .offset = 16, .clen = 100, .ulen = 60, .refs = 7};
    struct dr_index_pack p = {.type = 1,
                              .size = 1u << 20,
                              .count = 3,
                              .live_bytes = 5,
                              .dead_bytes = 6,
                              .verified_ns = -12345,
                              .verified_ok = 1};
    struct dr_index_snap s = {.time_ns = 1700000000123456789ll, .tree = tree, .counted = 1};
    mkid(&s.origin, 5);
    assert_int_equal(dr_index_blob_put(t, &bid, &b), 0);
    assert_int_equal(dr_index_pack_put(t, &pid, &p), 0);
    assert_int_equal(dr_index_snap_put(t, &sid, &s), 0);
    assert_int_equal(dr_index_commit(t), 0);

    reopen(f);
    t = begin(f, false);
    struct dr_index_blob b2;
    struct dr_index_pack p2;
    struct dr_index_snap s2;
    assert_int_equal(dr_index_blob_get(t, &bid, &b2), 0);
    assert_memory_equal(b2.pack.b, pid.b, DR_ID_LEN);
    assert_int_equal(b2.type, 1);
    assert_int_equal(b2.offset, 16);
    assert_int_equal(b2.clen, 100);
    assert_int_equal(b2.ulen, 60);
    assert_int_equal(b2.refs, 7);
    assert_int_equal(dr_index_pack_get(t, &pid, &p2), 0);
    assert_int_equal(p2.type, 1);
    assert_int_equal(p2.size, 1u << 20);
    assert_int_equal(p2.count, 3);
    assert_int_equal(p2.live_bytes, 5);
    assert_int_equal(p2.dead_bytes, 6);
    assert_true(p2.verified_ns == -12345);
    assert_int_equal(p2.verified_ok, 1);
    assert_int_equal(dr_index_snap_get(t, &sid, &s2), 0);
    assert_true(s2.time_ns == 1700000000123456789ll);
    assert_memory_equal(s2.tree.b, tree.b, DR_ID_LEN);
    assert_int_equal(s2.counted, 1);
    assert_memory_equal(s2.origin.b, s.origin.b, DR_ID_LEN);
    assert_int_equal(dr_index_commit(t), 0);
}

static void test_aborted_write_is_not_kept(void **state)
{
    struct fixture *f = *state;
    struct dr_id id;
    struct dr_index_blob b = {.clen = 1};
    mkid(&id, 10);
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_blob_put(t, &id, &b), 0);
    dr_index_abort(t);
    dr_index_abort(NULL);
    t = begin(f, false);
    assert_int_equal(dr_index_blob_get(t, &id, &b), DR_ENOENT);
    dr_index_abort(t);
}

static void test_blob_crud(void **state)
{
    struct fixture *f = *state;
    struct dr_id id, pack;
    mkid(&id, 20);
    mkid(&pack, 21);
    struct dr_index_blob b = {.pack = pack, .offset = 1, .clen = 2, .ulen = 3};
    struct dr_index_blob got = {.clen = 999};
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_blob_get(t, &id, &got), DR_ENOENT);
    assert_int_equal(got.clen, 999); /* out untouched on failure */
    assert_non_null(strstr(dr_error_msg(), "not in the index"));
    assert_int_equal(dr_index_blob_del(t, &id), DR_ENOENT);
    assert_int_equal(dr_index_blob_put(t, &id, &b), 0);
    assert_int_equal(dr_index_blob_get(t, &id, &got), 0);
    assert_int_equal(got.clen, 2);
    b.clen = 5; /* put replaces */
    assert_int_equal(dr_index_blob_put(t, &id, &b), 0);
    assert_int_equal(dr_index_blob_get(t, &id, &got), 0);
    assert_int_equal(got.clen, 5);
    assert_int_equal(dr_index_blob_del(t, &id), 0);
    assert_int_equal(dr_index_blob_get(t, &id, &got), DR_ENOENT);
    assert_int_equal(dr_index_pack_get(t, &pack, &(struct dr_index_pack){0}), DR_ENOENT);
    assert_int_equal(dr_index_pack_del(t, &pack), DR_ENOENT);
    /* the DR_ENOENTs above did not fail the txn */
    assert_int_equal(dr_index_blob_put(t, &id, &b), 0);
    assert_int_equal(dr_index_commit(t), 0);

    /* writes on a read txn are refused */
    t = begin(f, false);
    assert_int_equal(dr_index_blob_put(t, &id, &b), DR_EUSAGE);
    assert_int_equal(dr_index_blob_get(t, &id, &got), 0);
    assert_int_equal(dr_index_commit(t), 0);
}

/* ---- packs and refcounts --------------------------------------------------------------- */

static struct dr_pack_entry entry(uint32_t seed, uint32_t offset, uint32_t clen)
{
    struct dr_pack_entry e = {
        .type = DR_BLOB_DATA, .offset = offset, .clen = clen, .ulen = clen * 2};
    mkid(&e.id, seed);
    return e;
}

static void get_pack(struct dr_index_txn *t, const struct dr_id *id, uint64_t live, uint64_t dead,
                     uint32_t count)
{
    struct dr_index_pack p;
    assert_int_equal(dr_index_pack_get(t, id, &p), 0);
    assert_int_equal(p.live_bytes, live);
    assert_int_equal(p.dead_bytes, dead);
    assert_int_equal(p.count, count);
}

static void test_pack_add_duplicates(void **state)
{
    struct fixture *f = *state;
    struct dr_id pa, pb, pc;
    mkid(&pa, 100);
    mkid(&pb, 101);
    mkid(&pc, 102);
    struct dr_pack_entry a[] = {entry(1, 16, 10), entry(2, 26, 20)};
    struct dr_pack_entry b[] = {entry(2, 16, 30), entry(3, 46, 40)};
    struct dr_pack_entry c[] = {entry(4, 16, 5), entry(4, 21, 7)}; /* same blob twice */

    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_pack_add(t, &pa, DR_BLOB_DATA, 1000, a, 2), 0);
    assert_int_equal(dr_index_pack_add(t, &pb, DR_BLOB_DATA, 2000, b, 2), 0);
    assert_int_equal(dr_index_pack_add(t, &pc, DR_BLOB_DATA, 3000, c, 2), 0);
    assert_int_equal(dr_index_commit(t), 0);

    t = begin(f, false);
    get_pack(t, &pa, 0, 30, 2);
    get_pack(t, &pb, 0, 70, 2); /* blob 2 is a duplicate: dead, not indexed here */
    get_pack(t, &pc, 0, 12, 2);
    struct dr_index_blob bl;
    assert_int_equal(dr_index_blob_get(t, &b[0].id, &bl), 0);
    assert_memory_equal(bl.pack.b, pa.b, DR_ID_LEN);
    assert_int_equal(bl.offset, 26);
    assert_int_equal(bl.clen, 20);
    assert_int_equal(bl.ulen, 40);
    assert_int_equal(bl.refs, 0);
    assert_int_equal(dr_index_blob_get(t, &b[1].id, &bl), 0);
    assert_memory_equal(bl.pack.b, pb.b, DR_ID_LEN);
    assert_int_equal(dr_index_blob_get(t, &c[0].id, &bl), 0);
    assert_int_equal(bl.offset, 16); /* the first copy in the pack is the indexed one */
    uint64_t nb, np, ns;
    assert_int_equal(dr_index_counts(t, &nb, &np, &ns), 0);
    assert_int_equal(nb, 4);
    assert_int_equal(np, 3);
    assert_int_equal(ns, 0);
    assert_int_equal(dr_index_commit(t), 0);

    /* adding an indexed pack again changes nothing */
    t = begin(f, true);
    assert_int_equal(dr_index_pack_add(t, &pb, DR_BLOB_DATA, 2000, b, 2), 0);
    get_pack(t, &pb, 0, 70, 2);
    assert_int_equal(dr_index_commit(t), 0);
}

static void test_blob_ref(void **state)
{
    struct fixture *f = *state;
    struct dr_id pa, pb;
    mkid(&pa, 200);
    mkid(&pb, 201);
    struct dr_pack_entry a[] = {entry(1, 16, 10), entry(2, 26, 20)};
    struct dr_pack_entry b[] = {entry(2, 16, 30)};
    struct dr_index_blob bl;

    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_pack_add(t, &pa, DR_BLOB_DATA, 1000, a, 2), 0);
    assert_int_equal(dr_index_pack_add(t, &pb, DR_BLOB_DATA, 1000, b, 1), 0);
    assert_int_equal(dr_index_blob_ref(t, &a[0].id, 1), 1); /* 0 -> 1: dead to live */
    get_pack(t, &pa, 10, 20, 2);
    assert_int_equal(dr_index_blob_ref(t, &a[0].id, 1), 2); /* 1 -> 2: no move */
    get_pack(t, &pa, 10, 20, 2);
    assert_int_equal(dr_index_blob_ref(t, &a[1].id, 1), 1);
    get_pack(t, &pa, 30, 0, 2);
    get_pack(t, &pb, 0, 30, 1); /* the duplicate's pack is untouched */
    assert_int_equal(dr_index_blob_get(t, &a[0].id, &bl), 0);
    assert_int_equal(bl.refs, 2);
    assert_int_equal(dr_index_blob_ref(t, &a[0].id, -1), 1);
    get_pack(t, &pa, 30, 0, 2);
    assert_int_equal(dr_index_blob_ref(t, &a[0].id, -1), 0); /* 1 -> 0: live to dead */
    get_pack(t, &pa, 20, 10, 2);
    assert_int_equal(dr_index_blob_ref(t, &a[0].id, 2), DR_EUSAGE); /* txn still fine */
    assert_int_equal(dr_index_commit(t), 0);

    /* reopen: the counts persisted */
    reopen(f);
    t = begin(f, true);
    get_pack(t, &pa, 20, 10, 2);
    assert_int_equal(dr_index_blob_get(t, &a[0].id, &bl), 0);
    assert_int_equal(bl.refs, 0);
    /* underflow is corruption and fails the txn */
    assert_int_equal(dr_index_blob_ref(t, &a[0].id, -1), DR_EINDEX);
    assert_non_null(strstr(dr_error_msg(), "below 0"));
    assert_int_equal(dr_index_blob_ref(t, &a[1].id, -1), DR_EINDEX);
    assert_int_equal(dr_index_commit(t), DR_EINDEX);

    /* a blob whose pack record is missing */
    t = begin(f, true);
    assert_int_equal(dr_index_pack_del(t, &pa), 0);
    assert_int_equal(dr_index_blob_ref(t, &a[0].id, 1), DR_ENOENT);
    assert_non_null(strstr(dr_error_msg(), "pack"));
    dr_index_abort(t);

    t = begin(f, false);
    get_pack(t, &pa, 20, 10, 2); /* the failed txns wrote nothing */
    dr_index_abort(t);
}

static void test_pack_add_stale_blob(void **state)
{
    /* a pack record deleted alone leaves its blob records; re-adding the pack counts a
     * referenced one as live again */
    struct fixture *f = *state;
    struct dr_id pa;
    mkid(&pa, 300);
    struct dr_pack_entry a[] = {entry(1, 16, 10), entry(2, 26, 20)};
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_pack_add(t, &pa, DR_BLOB_DATA, 1000, a, 2), 0);
    assert_int_equal(dr_index_blob_ref(t, &a[1].id, 1), 1);
    get_pack(t, &pa, 20, 10, 2);
    assert_int_equal(dr_index_pack_del(t, &pa), 0);
    assert_int_equal(dr_index_pack_add(t, &pa, DR_BLOB_DATA, 1000, a, 2), 0);
    get_pack(t, &pa, 20, 10, 2);
    assert_int_equal(dr_index_commit(t), 0);
}

static void test_pack_remove(void **state)
{
    struct fixture *f = *state;
    struct dr_id pa, pb, other;
    mkid(&pa, 400);
    mkid(&pb, 401);
    mkid(&other, 402);
    struct dr_pack_entry a[] = {entry(1, 16, 10), entry(2, 26, 20)};
    struct dr_pack_entry b[] = {entry(2, 16, 30), entry(3, 46, 40), entry(4, 86, 50)};
    struct dr_index_blob bl;
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_pack_add(t, &pa, DR_BLOB_DATA, 1000, a, 2), 0);
    assert_int_equal(dr_index_pack_add(t, &pb, DR_BLOB_DATA, 1000, b, 3), 0);
    /* blob 4's record re-pointed elsewhere: pack_remove must leave it alone */
    assert_int_equal(dr_index_blob_get(t, &b[2].id, &bl), 0);
    bl.pack = other;
    assert_int_equal(dr_index_blob_put(t, &b[2].id, &bl), 0);
    assert_int_equal(dr_index_commit(t), 0);

    t = begin(f, true);
    assert_int_equal(dr_index_pack_remove(t, &pb, b, 3), 1); /* only blob 3 */
    assert_int_equal(dr_index_pack_get(t, &pb, &(struct dr_index_pack){0}), DR_ENOENT);
    assert_int_equal(dr_index_blob_get(t, &b[0].id, &bl), 0);
    assert_memory_equal(bl.pack.b, pa.b, DR_ID_LEN);
    assert_int_equal(dr_index_blob_get(t, &b[1].id, &bl), DR_ENOENT);
    assert_int_equal(dr_index_blob_get(t, &b[2].id, &bl), 0);
    get_pack(t, &pa, 0, 30, 2);
    assert_int_equal(dr_index_pack_remove(t, &pa, a, 2), 2);
    /* removing an unknown pack removes nothing and is not an error */
    assert_int_equal(dr_index_pack_remove(t, &pa, a, 2), 0);
    uint64_t nb, np, ns;
    assert_int_equal(dr_index_counts(t, &nb, &np, &ns), 0);
    assert_int_equal(nb, 1);
    assert_int_equal(np, 0);
    assert_int_equal(dr_index_commit(t), 0);
}

/* ---- snapshots and iteration ----------------------------------------------------------- */

struct walk_state {
    int n, stop_after;
    uint64_t sum;
};

static int snap_cb(void *arg, const struct dr_id *id, const struct dr_index_snap *s)
{
    struct walk_state *w = arg;
    (void)id;
    w->n++;
    w->sum += (uint64_t)s->time_ns;
    return 0;
}

static int blob_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct walk_state *w = arg;
    (void)id;
    w->n++;
    w->sum += b->clen;
    if (w->stop_after && w->n == w->stop_after) {
        return -42;
    }
    return 0;
}

static int pack_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *p)
{
    struct walk_state *w = arg;
    (void)id;
    w->n++;
    w->sum += p->size;
    return 0;
}

static void test_snaps(void **state)
{
    struct fixture *f = *state;
    struct dr_id ids[5];
    struct dr_index_snap s;
    struct dr_index_txn *t = begin(f, true);
    for (uint32_t i = 0; i < 5; i++) {
        mkid(&ids[i], 500 + i);
        s = (struct dr_index_snap){.time_ns = (int64_t)i + 1, .counted = (uint8_t)(i & 1)};
        assert_int_equal(dr_index_snap_put(t, &ids[i], &s), 0);
    }
    assert_int_equal(dr_index_snap_del(t, &ids[0]), 0);
    assert_int_equal(dr_index_snap_del(t, &ids[0]), DR_ENOENT);
    assert_int_equal(dr_index_snap_get(t, &ids[0], &s), DR_ENOENT);
    assert_int_equal(dr_index_commit(t), 0);

    t = begin(f, false);
    assert_int_equal(dr_index_snap_get(t, &ids[3], &s), 0);
    assert_int_equal(s.time_ns, 4);
    assert_int_equal(s.counted, 1);
    struct walk_state w = {0};
    assert_int_equal(dr_index_snap_foreach(t, snap_cb, &w), 0);
    assert_int_equal(w.n, 4);
    assert_int_equal(w.sum, 2 + 3 + 4 + 5);
    uint64_t nb, np, ns;
    assert_int_equal(dr_index_counts(t, &nb, &np, &ns), 0);
    assert_int_equal(ns, 4);
    assert_int_equal(dr_index_commit(t), 0);
}

static void test_foreach(void **state)
{
    struct fixture *f = *state;
    struct dr_index_txn *t = begin(f, true);
    for (uint32_t i = 0; i < 10; i++) {
        struct dr_id id;
        mkid(&id, 600 + i);
        struct dr_index_blob b = {.clen = 1};
        struct dr_index_pack p = {.size = 2};
        assert_int_equal(dr_index_blob_put(t, &id, &b), 0);
        assert_int_equal(dr_index_pack_put(t, &id, &p), 0);
    }
    struct walk_state w = {0};
    assert_int_equal(dr_index_blob_foreach(t, blob_cb, &w), 0);
    assert_int_equal(w.n, 10);
    assert_int_equal(w.sum, 10);
    w = (struct walk_state){.stop_after = 3};
    assert_int_equal(dr_index_blob_foreach(t, blob_cb, &w), -42);
    assert_int_equal(w.n, 3);
    w = (struct walk_state){0};
    assert_int_equal(dr_index_pack_foreach(t, pack_cb, &w), 0);
    assert_int_equal(w.n, 10);
    assert_int_equal(w.sum, 20);
    /* the callback's error did not fail the txn */
    assert_int_equal(dr_index_commit(t), 0);
}

/* The process's resident file-backed pages (statm's third field), in pages. */
static unsigned long mapped_pages(void)
{
    unsigned long size = 0, resident = 0, shared = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%lu %lu %lu", &size, &resident, &shared), 3);
    fclose(fp);
    return shared;
}

struct resident_walk {
    uint32_t n;
    bool bad;
};

static int resident_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct resident_walk *w = arg;
    uint32_t k;
    memcpy(&k, id->b, sizeof(k));
    w->bad |= b->clen != k + 1 || b->offset != k * 3;
    w->n++;
    return 0;
}

static void test_resident_bound(void **state)
{
    struct fixture *f = *state;
    enum { N = 200000 };
    struct dr_index_txn *t = begin(f, true);
    for (uint32_t i = 0; i < N; i++) {
        struct dr_id id;
        memset(&id, 0, sizeof(id));
        memcpy(id.b, &i, sizeof(i));
        id.b[31] = 0x5a;
        struct dr_index_blob b = {.clen = i + 1, .offset = i * 3};
        assert_int_equal(dr_index_blob_put(t, &id, &b), 0);
    }
    assert_int_equal(dr_index_commit(t), 0);

    /* a map whose file is small (this one, some MiB) stays mapped in through a shed */
    t = begin(f, false);
    struct resident_walk w = {0};
    assert_int_equal(dr_index_blob_foreach(t, resident_cb, &w), 0);
    assert_true(w.n == N && !w.bad);
    unsigned long before = mapped_pages();
    dr_index_resident_shed();
    assert_true(mapped_pages() + 64 > before);

    /* as a large one: a walk maps the pages in; a shed unmaps them; every record reads back
     * the same */
    uint64_t keep = dr_index_resident_set_keep(0);
    assert_int_equal(dr_index_blob_foreach(t, resident_cb, &w), 0);
    before = mapped_pages();
    uint64_t sheds = dr_index_resident_sheds();
    dr_index_resident_shed();
    assert_int_equal(dr_index_resident_sheds(), sheds + 1);
    unsigned long after = mapped_pages();
    /* 200,000 records are several MiB of pages: most of them are gone */
    assert_true(before > after + 256);
    w = (struct resident_walk){0};
    assert_int_equal(dr_index_blob_foreach(t, resident_cb, &w), 0);
    assert_true(w.n == N && !w.bad);

    /* below the bound, reads do not shed; past a lowered bound they do, and read the same */
    uint64_t max = dr_index_resident_set_max(UINT64_MAX);
    sheds = dr_index_resident_sheds();
    w = (struct resident_walk){0};
    assert_int_equal(dr_index_blob_foreach(t, resident_cb, &w), 0);
    assert_int_equal(dr_index_resident_sheds(), sheds);
    dr_index_resident_set_max(1);
    w = (struct resident_walk){0};
    assert_int_equal(dr_index_blob_foreach(t, resident_cb, &w), 0);
    assert_true(w.n == N && !w.bad);
    assert_true(dr_index_resident_sheds() > sheds);
    for (uint32_t i = 0; i < N; i += 7) {
        struct dr_id id;
        memset(&id, 0, sizeof(id));
        memcpy(id.b, &i, sizeof(i));
        id.b[31] = 0x5a;
        struct dr_index_blob b;
        assert_int_equal(dr_index_blob_get(t, &id, &b), 0);
        assert_true(b.clen == i + 1 && b.offset == i * 3);
    }
    dr_index_resident_set_max(max);
    dr_index_resident_set_keep(keep);
    dr_index_abort(t);
}

/* ---- files cache, scratch, clear ------------------------------------------------------- */

static void fill_rec(struct dr_files_rec *r, uint32_t n)
{
    *r = (struct dr_files_rec){.dev = 0x0102030405060708ull,
                               .ino = 42,
                               .size = 1ull << 40,
                               .mtime_ns = -1,
                               .ctime_ns = 1700000000000000001ll,
                               .nchunks = n};
    r->chunks = calloc(n ? n : 1, sizeof(*r->chunks));
    r->chunk_sizes = calloc(n ? n : 1, sizeof(*r->chunk_sizes));
    for (uint32_t i = 0; i < n; i++) {
        mkid(&r->chunks[i], 7000 + i);
        r->chunk_sizes[i] = i * 3 + 1;
    }
}

static void check_rec(const struct dr_files_rec *a, const struct dr_files_rec *b)
{
    assert_true(a->dev == b->dev && a->ino == b->ino && a->size == b->size);
    assert_true(a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns);
    assert_int_equal(a->nchunks, b->nchunks);
    if (a->nchunks) {
        assert_memory_equal(a->chunks, b->chunks, (size_t)a->nchunks * sizeof(*a->chunks));
        assert_memory_equal(a->chunk_sizes, b->chunk_sizes,
                            (size_t)a->nchunks * sizeof(*a->chunk_sizes));
    }
}

static void test_files_cache(void **state)
{
    struct fixture *f = *state;
    struct dr_id k0, k1, k2;
    mkid(&k0, 800);
    mkid(&k1, 801);
    mkid(&k2, 802);
    struct dr_files_rec small, big, empty, got;
    fill_rec(&small, 3);
    fill_rec(&big, 10000);
    fill_rec(&empty, 0);

    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_files_get(t, &k0, &got), DR_ENOENT);
    assert_int_equal(dr_index_files_put(t, &k0, &small), 0);
    assert_int_equal(dr_index_files_put(t, &k1, &big), 0);
    assert_int_equal(dr_index_files_put(t, &k2, &empty), 0);
    /* over the limit: refused, and the txn stays usable */
    struct dr_files_rec huge = small;
    huge.nchunks = DR_INDEX_FILES_CHUNKS_MAX + 1;
    assert_int_equal(dr_index_files_put(t, &k0, &huge), DR_EUSAGE);
    assert_int_equal(dr_index_commit(t), 0);

    reopen(f);
    t = begin(f, false);
    assert_int_equal(dr_index_files_get(t, &k0, &got), 0);
    check_rec(&small, &got);
    dr_files_rec_release(&got);
    assert_null(got.chunks);
    assert_int_equal(got.nchunks, 0);
    assert_int_equal(dr_index_files_get(t, &k1, &got), 0);
    check_rec(&big, &got);
    dr_files_rec_release(&got);
    assert_int_equal(dr_index_files_get(t, &k2, &got), 0);
    check_rec(&empty, &got);
    dr_files_rec_release(&got);
    dr_index_abort(t);

    /* the files cache survives dr_index_clear */
    t = begin(f, true);
    assert_int_equal(dr_index_clear(t), 0);
    assert_int_equal(dr_index_files_get(t, &k1, &got), 0);
    check_rec(&big, &got);
    dr_files_rec_release(&got);
    assert_int_equal(dr_index_commit(t), 0);

    dr_files_rec_release(&small);
    dr_files_rec_release(&big);
    dr_files_rec_release(&empty);
}

/* The id of the index's last committed write transaction, read with LMDB directly (the index
 * must be closed: LMDB refuses a second handle on one environment in a process). */
static size_t last_txnid(const char *dir)
{
    MDB_env *env;
    MDB_envinfo info = {0};
    assert_int_equal(mdb_env_create(&env), 0);
    (void)mdb_env_set_maxdbs(env, 8);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_env_info(env, &info), 0);
    mdb_env_close(env);
    return info.me_last_txnid;
}

static void test_files_unchanged(void **state)
{
    struct fixture *f = *state;
    struct dr_id k;
    mkid(&k, 810);
    struct dr_files_rec rec, got;
    fill_rec(&rec, 3);
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_files_put(t, &k, &rec), 0);
    assert_int_equal(dr_index_commit(t), 0);
    dr_index_close(f->idx);
    f->idx = NULL;
    size_t before = last_txnid(f->dir);
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);

    /* the same record again: nothing is written, so the commit has nothing to commit */
    t = begin(f, true);
    assert_int_equal(dr_index_files_put(t, &k, &rec), 0);
    assert_int_equal(dr_index_commit(t), 0);
    dr_index_close(f->idx);
    f->idx = NULL;
    assert_int_equal(last_txnid(f->dir), before);
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);

    /* a record differing only in its last chunk's size is rewritten */
    rec.chunk_sizes[2]++;
    t = begin(f, true);
    assert_int_equal(dr_index_files_put(t, &k, &rec), 0);
    assert_int_equal(dr_index_commit(t), 0);
    t = begin(f, false);
    assert_int_equal(dr_index_files_get(t, &k, &got), 0);
    check_rec(&rec, &got);
    dr_files_rec_release(&got);
    dr_index_abort(t);
    dr_files_rec_release(&rec);
}

static void test_clear_and_counts(void **state)
{
    struct fixture *f = *state;
    struct dr_id pa, s;
    mkid(&pa, 1000);
    mkid(&s, 1001);
    struct dr_pack_entry a[] = {entry(1, 16, 10), entry(2, 26, 20), entry(3, 46, 30)};
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_pack_add(t, &pa, DR_BLOB_DATA, 1000, a, 3), 0);
    assert_int_equal(dr_index_snap_put(t, &s, &(struct dr_index_snap){.time_ns = 1}), 0);
    uint64_t nb = 9, np = 9, ns = 9;
    assert_int_equal(dr_index_counts(t, &nb, &np, &ns), 0);
    assert_int_equal(nb, 3);
    assert_int_equal(np, 1);
    assert_int_equal(ns, 1);
    assert_int_equal(dr_index_commit(t), 0);

    t = begin(f, true);
    assert_int_equal(dr_index_clear(t), 0);
    assert_int_equal(dr_index_commit(t), 0);
    reopen(f);
    t = begin(f, false);
    assert_int_equal(dr_index_counts(t, &nb, &np, &ns), 0);
    assert_int_equal(nb + np + ns, 0);
    dr_index_abort(t);
}

/* ---- transactions ---------------------------------------------------------------------- */

struct thread_arg {
    struct dr_index_txn *txn;
    struct dr_id id;
    int renew_rc, get_rc;
    uint32_t clen;
};

static void *reader_thread(void *p)
{
    struct thread_arg *a = p;
    struct dr_index_blob b = {0};
    a->renew_rc = dr_index_renew(a->txn);
    a->get_rc = dr_index_blob_get(a->txn, &a->id, &b);
    a->clen = b.clen;
    return NULL;
}

static void test_read_txn_other_thread(void **state)
{
    struct fixture *f = *state;
    struct thread_arg a = {0};
    struct dr_index_blob b = {.clen = 77};
    mkid(&a.id, 1100);
    a.txn = begin(f, false);
    assert_int_equal(dr_index_blob_get(a.txn, &a.id, &b), DR_ENOENT);

    struct dr_index_txn *w = begin(f, true);
    assert_int_equal(dr_index_blob_put(w, &a.id, &b), 0);
    assert_int_equal(dr_index_commit(w), 0);
    /* the old snapshot does not see the commit */
    assert_int_equal(dr_index_blob_get(a.txn, &a.id, &b), DR_ENOENT);

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_thread, &a), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(a.renew_rc, 0);
    assert_int_equal(a.get_rc, 0);
    assert_int_equal(a.clen, 77);
    /* and back on this thread */
    assert_int_equal(dr_index_blob_get(a.txn, &a.id, &b), 0);
    assert_int_equal(dr_index_renew(a.txn), 0);
    assert_int_equal(dr_index_commit(a.txn), 0);

    w = begin(f, true);
    assert_int_equal(dr_index_renew(w), DR_EUSAGE);
    dr_index_abort(w);
}

static void test_sticky_write_txn(void **state)
{
    struct fixture *f = *state;
    struct dr_id x, y, missing;
    mkid(&x, 1200);
    mkid(&y, 1201);
    mkid(&missing, 1202);
    struct dr_index_blob b = {.clen = 1};
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_blob_put(t, &x, &b), 0);
    assert_int_equal(dr_index_blob_ref(t, &missing, 1), DR_ENOENT);
    char first[256];
    snprintf(first, sizeof(first), "%s", dr_error_msg());
    assert_non_null(strstr(first, "not in the index"));
    /* every later call repeats the first error, with its message */
    dr_error_clear();
    assert_int_equal(dr_index_blob_put(t, &y, &b), DR_ENOENT);
    assert_string_equal(dr_error_msg(), first);
    assert_int_equal(dr_index_blob_get(t, &x, &b), DR_ENOENT);
    assert_int_equal(dr_index_blob_ref(t, &x, 1), DR_ENOENT);
    assert_int_equal(dr_index_commit(t), DR_ENOENT);
    assert_string_equal(dr_error_msg(), first);

    t = begin(f, false);
    assert_int_equal(dr_index_blob_get(t, &x, &b), DR_ENOENT);
    assert_int_equal(dr_index_blob_get(t, &y, &b), DR_ENOENT);
    dr_index_abort(t);
}

static void test_commit_fault(void **state)
{
#ifdef DR_FAULTS
    /* a failing commit (as on a full disk) writes nothing */
    struct fixture *f = *state;
    struct dr_id x;
    struct dr_index_blob b = {.clen = 1};
    mkid(&x, 1300);
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_blob_put(t, &x, &b), 0);
    setenv("DR_FAULT", "index.commit:enospc", 1);
    assert_int_equal(dr_index_commit(t), DR_ENOSPC);
    unsetenv("DR_FAULT");
    t = begin(f, false);
    assert_int_equal(dr_index_blob_get(t, &x, &b), DR_ENOENT);
    dr_index_abort(t);
#else
    (void)state;
    skip();
#endif
}

/* ---- damaged files --------------------------------------------------------------------- */

static void fill_blobs(struct fixture *f, uint32_t n)
{
    struct dr_index_txn *t = begin(f, true);
    for (uint32_t i = 0; i < n; i++) {
        struct dr_id id;
        mkid(&id, i);
        struct dr_index_blob b = {.clen = i, .offset = i};
        assert_int_equal(dr_index_blob_put(t, &id, &b), 0);
    }
    assert_int_equal(dr_index_commit(t), 0);
}

static void overwrite(const char *path, off_t off, size_t len, int byte)
{
    uint8_t *buf = malloc(len);
    srand(1);
    for (size_t i = 0; i < len; i++) {
        buf[i] = byte >= 0 ? (uint8_t)byte : (uint8_t)rand();
    }
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
    close(fd);
    free(buf);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void expect_open_corrupt(struct fixture *f)
{
    struct dr_index *idx = NULL;
    assert_int_equal(dr_index_open(f->dir, &idx), DR_EINDEX);
    assert_null(idx);
    assert_non_null(strstr(dr_error_msg(), "is damaged"));
    assert_non_null(strstr(dr_error_msg(), f->dir));
}

static void test_corrupt_meta_pages(void **state)
{
    struct fixture *f = *state;
    fill_blobs(f, 100);
    dr_index_close(f->idx);
    f->idx = NULL;
    long pg = sysconf(_SC_PAGESIZE);
    overwrite(data_path(f), 0, (size_t)pg * 2, -1);
    expect_open_corrupt(f);
    /* LMDB 0.9.24 refuses a file with either meta page damaged */
    assert_int_equal(truncate(data_path(f), 0), 0);
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
    fill_blobs(f, 100);
    dr_index_close(f->idx);
    f->idx = NULL;
    overwrite(data_path(f), pg, (size_t)pg, 0);
    expect_open_corrupt(f);
    /* emptied: LMDB starts a new, empty environment (format/index.md) */
    assert_int_equal(truncate(data_path(f), 0), 0);
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
}

static void test_corrupt_truncated(void **state)
{
    struct fixture *f = *state;
    fill_blobs(f, 5000);
    dr_index_close(f->idx);
    f->idx = NULL;
    off_t full = file_size(data_path(f));
    long pg = sysconf(_SC_PAGESIZE);
    assert_int_equal(truncate(data_path(f), full - pg), 0); /* last page gone */
    expect_open_corrupt(f);
    assert_non_null(strstr(dr_error_msg(), "pages need"));
    assert_int_equal(truncate(data_path(f), full / 2), 0);
    expect_open_corrupt(f);
    assert_int_equal(truncate(data_path(f), 2 * pg), 0); /* only the meta pages */
    expect_open_corrupt(f);
    assert_int_equal(truncate(data_path(f), 100), 0); /* not even a meta page */
    expect_open_corrupt(f);
    assert_int_equal(truncate(data_path(f), 0), 0);
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
}

static void test_corrupt_leaf_page(void **state)
{
    /* A zeroed leaf page: LMDB would follow it (point lookups notice the page type, cursor walks
     * can abort inside LMDB), so the page check at open must refuse the file first. */
    struct fixture *f = *state;
    const uint32_t n = 5000;
    fill_blobs(f, n);
    dr_index_close(f->idx);
    f->idx = NULL;
    long pg = sysconf(_SC_PAGESIZE);
    off_t size = file_size(data_path(f));
    int fd = open(data_path(f), O_RDONLY);
    assert_true(fd >= 0);
    uint8_t *page = malloc((size_t)pg);
    off_t victim = 0;
    /* The last leaf page of "blobs". LMDB's page header is pgno u64, pad u16, flags u16
     * (P_LEAF = 2), lower u16, upper u16, then u16 node offsets; a leaf node starts with data
     * size lo u16, hi u16, flags u16, key size u16. A blobs node has a 32-byte key and a
     * 49-byte value. */
    for (off_t p = 2; p < size / pg; p++) {
        assert_int_equal(pread(fd, page, (size_t)pg, p * pg), (ssize_t)pg);
        if (dr_get_u64le(page) != (uint64_t)p || (dr_get_u16le(page + 10) & 0x0f) != 2) {
            continue;
        }
        uint16_t node = dr_get_u16le(page + 16);
        if (node + 8 > pg) {
            continue;
        }
        uint32_t dsize = dr_get_u16le(page + node) | (uint32_t)dr_get_u16le(page + node + 2) << 16;
        if (dsize == 49 && dr_get_u16le(page + node + 6) == 32) {
            victim = p;
        }
    }
    free(page);
    close(fd);
    assert_true(victim > 0);
    overwrite(data_path(f), victim * pg, (size_t)pg, 0);

    /* LMDB would use the page; the page check at open refuses it and marks the directory */
    assert_int_equal(dr_index_open(f->dir, &f->idx), DR_EINDEX);
    assert_null(f->idx);
    char want[64];
    snprintf(want, sizeof(want), "page %lld: its header does not name it", (long long)victim);
    assert_non_null(strstr(dr_error_msg(), want));
    assert_true(dr_index_is_marked_damaged(f->dir));
    /* removing the directory is the recovery: a new index opens */
    assert_int_equal(dr_index_remove(f->dir), 0);
    assert_false(dr_index_is_marked_damaged(f->dir));
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
}

static int raw_put(const char *dir, const char *db, const void *key, size_t klen, const void *val,
                   size_t vlen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc == 0) {
        (void)mdb_env_set_maxdbs(env, 8);
        rc = mdb_env_open(env, dir, 0, 0600);
    }
    if (rc == 0) {
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, db, 0, &dbi);
        MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
        MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
        if (rc == 0) {
            rc = mdb_put(txn, dbi, &k, &v, 0);
        }
        rc = rc ? rc : mdb_txn_commit(txn);
    }
    mdb_env_close(env);
    return rc;
}

static void test_corrupt_records(void **state)
{
    struct fixture *f = *state;
    struct dr_id id, pid, fid;
    mkid(&id, 1);
    mkid(&pid, 2);
    mkid(&fid, 3);
    dr_index_close(f->idx);
    f->idx = NULL;
    uint8_t val[64] = {0};
    assert_int_equal(raw_put(f->dir, "blobs", id.b, 32, val, 48), 0);
    assert_int_equal(raw_put(f->dir, "packs", pid.b, 32, val, 39), 0);
    /* a files record whose count says more chunks than it holds */
    dr_put_u32le(val + 40, 1);
    assert_int_equal(raw_put(f->dir, "files", fid.b, 32, val, 44), 0);
    reopen(f);
    struct dr_index_txn *t = begin(f, false);
    struct dr_index_blob b;
    struct dr_index_pack p;
    struct dr_files_rec fr;
    char hex[DR_ID_HEX_LEN + 1];
    assert_int_equal(dr_index_blob_get(t, &id, &b), DR_EINDEX);
    char want[600];
    snprintf(want, sizeof(want),
             "the local index '%s' is damaged (the record of blob %s is corrupt)", f->dir,
             dr_id_hex(&id, hex));
    assert_string_equal(dr_error_msg(), want);
    assert_int_equal(dr_index_pack_get(t, &pid, &p), DR_EINDEX);
    assert_int_equal(dr_index_files_get(t, &fid, &fr), DR_EINDEX);
    struct walk_state w = {0};
    assert_int_equal(dr_index_blob_foreach(t, blob_cb, &w), DR_EINDEX);
    dr_index_abort(t);

    /* in a write txn the corrupt record fails the txn */
    t = begin(f, true);
    assert_int_equal(dr_index_blob_ref(t, &id, 1), DR_EINDEX);
    assert_int_equal(dr_index_commit(t), DR_EINDEX);
}

static void test_schema(void **state)
{
    struct fixture *f = *state;
    dr_index_close(f->idx);
    f->idx = NULL;
    uint8_t v[4];
    dr_put_u32le(v, 5);
    assert_int_equal(raw_put(f->dir, "meta", "schema", 6, v, 4), 0);
    struct dr_index *idx = NULL;
    assert_int_equal(dr_index_open(f->dir, &idx), DR_EUNSUPPORTED);
    assert_non_null(strstr(dr_error_msg(), "schema version 5"));
    assert_int_equal(raw_put(f->dir, "meta", "schema", 6, v, 3), 0);
    assert_int_equal(dr_index_open(f->dir, &idx), DR_EINDEX);
    dr_put_u32le(v, 4);
    assert_int_equal(raw_put(f->dir, "meta", "schema", 6, v, 4), 0);
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
}

/* A schema-1 index (snapshot records of 41 bytes, without the origin) is not misread: the open
 * empties blobs, packs and snapshots, which the repository's sync then counts again, keeps the
 * files cache, and stamps the current schema. */
static void test_schema_upgrade(void **state)
{
    struct fixture *f = *state;
    struct dr_id bid, sid, fk;
    mkid(&bid, 900);
    mkid(&sid, 901);
    mkid(&fk, 902);
    struct dr_files_rec rec, got;
    fill_rec(&rec, 2);
    struct dr_index_txn *t = begin(f, true);
    struct dr_index_blob b = {.type = 0, .offset = 16, .clen = 10, .ulen = 5};
    assert_int_equal(dr_index_blob_put(t, &bid, &b), 0);
    assert_int_equal(dr_index_files_put(t, &fk, &rec), 0);
    assert_int_equal(dr_index_commit(t), 0);
    dr_index_close(f->idx);
    f->idx = NULL;
    uint8_t old_snap[41] = {0};
    old_snap[40] = 1;
    assert_int_equal(raw_put(f->dir, "snaps", sid.b, DR_ID_LEN, old_snap, sizeof(old_snap)), 0);
    uint8_t v[4];
    dr_put_u32le(v, 1);
    assert_int_equal(raw_put(f->dir, "meta", "schema", 6, v, 4), 0);

    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
    t = begin(f, false);
    struct dr_index_snap s;
    struct dr_index_blob b2;
    assert_int_equal(dr_index_snap_get(t, &sid, &s), DR_ENOENT);
    dr_error_clear();
    assert_int_equal(dr_index_blob_get(t, &bid, &b2), DR_ENOENT);
    dr_error_clear();
    uint64_t nb, np, ns;
    assert_int_equal(dr_index_counts(t, &nb, &np, &ns), 0);
    assert_true(nb == 0 && np == 0 && ns == 0);
    assert_int_equal(dr_index_files_get(t, &fk, &got), 0);
    check_rec(&rec, &got);
    dr_files_rec_release(&got);
    dr_index_abort(t);
    dr_files_rec_release(&rec);

    /* stamped current: the next open finds nothing to upgrade, and a new record stays */
    t = begin(f, true);
    struct dr_index_snap ns2 = {.time_ns = 7, .counted = 1};
    assert_int_equal(dr_index_snap_put(t, &sid, &ns2), 0);
    assert_int_equal(dr_index_commit(t), 0);
    reopen(f);
    t = begin(f, false);
    assert_int_equal(dr_index_snap_get(t, &sid, &s), 0);
    assert_int_equal(s.time_ns, 7);
    dr_index_abort(t);
}

/* Indexes of schemas 2 and 3 have records of the same bytes, but their refs counted snapshots,
 * or live trees, not nodes of live trees (format/index.md): the open empties blobs, packs and
 * snapshots all the same, so that no count of an old meaning is ever added to or compared with
 * one of the new. */
static void test_schema_refs_upgrade(void **state)
{
    struct fixture *f = *state;
    for (uint32_t schema = 2; schema <= 3; schema++) {
        struct dr_id bid;
        mkid(&bid, 903);
        struct dr_index_txn *t = begin(f, true);
        struct dr_index_blob b = {.type = 0, .offset = 16, .clen = 10, .ulen = 5, .refs = 7};
        assert_int_equal(dr_index_blob_put(t, &bid, &b), 0);
        assert_int_equal(dr_index_commit(t), 0);
        dr_index_close(f->idx);
        f->idx = NULL;
        uint8_t v[4];
        dr_put_u32le(v, schema);
        assert_int_equal(raw_put(f->dir, "meta", "schema", 6, v, 4), 0);
        assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
        t = begin(f, false);
        assert_int_equal(dr_index_blob_get(t, &bid, &b), DR_ENOENT);
        dr_error_clear();
        dr_index_abort(t);
    }
}

/* The listing record (meta "listed"): absent at first, kept across opens, dropped by a clear,
 * and damage (another length) is DR_EINDEX, not a record read short. */
static void test_listed(void **state)
{
    struct fixture *f = *state;
    struct dr_index_listed l = {.time_ns = 123456789}, got;
    mkid(&l.epochs, 904);
    struct dr_index_txn *t = begin(f, true);
    assert_int_equal(dr_index_listed_get(t, &got), DR_ENOENT);
    dr_error_clear();
    assert_int_equal(dr_index_listed_put(t, &l), 0);
    assert_int_equal(dr_index_commit(t), 0);
    reopen(f);
    t = begin(f, true);
    assert_int_equal(dr_index_listed_get(t, &got), 0);
    assert_true(dr_id_eq(&got.epochs, &l.epochs));
    assert_int_equal(got.time_ns, l.time_ns);
    assert_int_equal(dr_index_clear(t), 0);
    assert_int_equal(dr_index_listed_get(t, &got), DR_ENOENT);
    dr_error_clear();
    assert_int_equal(dr_index_commit(t), 0);

    dr_index_close(f->idx);
    f->idx = NULL;
    uint8_t shortrec[39] = {0};
    assert_int_equal(raw_put(f->dir, "meta", "listed", 6, shortrec, sizeof(shortrec)), 0);
    assert_int_equal(dr_index_open(f->dir, &f->idx), 0);
    t = begin(f, false);
    assert_int_equal(dr_index_listed_get(t, &got), DR_EINDEX);
    assert_non_null(strstr(dr_error_msg(), "listing record has 39 bytes"));
    dr_error_clear();
    dr_index_abort(t);
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    struct dr_index *idx = NULL;
    /* a directory that cannot be created: its parent is a regular file */
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb/sub", f->dir);
    assert_int_equal(dr_index_open(path, &idx), DR_EIO);
    assert_null(idx);
    /* two handles on one directory (as two processes would have) */
    assert_int_equal(dr_index_open(f->dir, &idx), 0);
    fill_blobs(f, 10);
    struct dr_index_txn *t;
    assert_int_equal(dr_index_begin(idx, false, &t), 0);
    uint64_t nb, np, ns;
    assert_int_equal(dr_index_counts(t, &nb, &np, &ns), 0);
    assert_int_equal(nb, 10);
    dr_index_abort(t);
    dr_index_close(idx);
    dr_index_close(NULL);
}

/* ---- scale ----------------------------------------------------------------------------- */

static void test_100k(void **state)
{
    struct fixture *f = *state;
    const uint32_t n = 100000;
    int64_t t0 = dr_mono_ns();
    fill_blobs(f, n);
    int64_t t1 = dr_mono_ns();
    struct dr_index_txn *t = begin(f, false);
    for (uint32_t i = 0; i < n; i++) {
        struct dr_id id;
        struct dr_index_blob b;
        mkid(&id, i);
        assert_int_equal(dr_index_blob_get(t, &id, &b), 0);
        assert_int_equal(b.clen, i);
    }
    int64_t t2 = dr_mono_ns();
    struct dr_id absent;
    mkid(&absent, n + 1);
    struct dr_index_blob b;
    assert_int_equal(dr_index_blob_get(t, &absent, &b), DR_ENOENT);
    uint64_t nb, np, ns;
    assert_int_equal(dr_index_counts(t, &nb, &np, &ns), 0);
    assert_int_equal(nb, n);
    dr_index_abort(t);
    print_message("100k blobs: insert+commit %.3f s, lookups %.3f s, data.mdb %lld bytes\n",
                  (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9,
                  (long long)file_size(data_path(f)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aborted_write_is_not_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_add_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_add_stale_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resident_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_txn_other_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sticky_write_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_meta_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_leaf_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_refs_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_100k, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
