/* test_backup.c: the backup engine (src/backup/backup.c) with a fake source, through the
 * in-memory backend.
 *
 * Covers: a source builds its files and directories through the engine's sink
 * (struct dr_source_sink); dr_backup_run records one snapshot object with the source's kind,
 * paths, metadata, host, tags and time, and a summary that counts its files and directories;
 * the snapshot's tree and every file's content read back from the repository; a second run of
 * the same content adds no data blob (deduplication); a source that fails (DR_ESOURCE) or
 * whose reader fails part way records no snapshot; a file added in fixed blocks (a PostgreSQL
 * relation file) is cut at every block boundary, the last chunk short, and reads back whole;
 * a file marked for a chunk list (format/chunklist.md) gets a full list first, then changes to
 * its parent's (one per snapshot, naming only the changed and added blocks), the parent's own
 * list when nothing changed, and a full list again once the chain is DR_PG_LIST_DEPTH deep; each
 * reads back whole, and its list blobs are referenced by its node.
 *
 * Kept in one file on purpose: the only call of the engine is run_backup() below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/backup.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "backup"

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

/* The fake source: a root with files "big" and "small" and a directory "etc" holding "conf". */
struct fake_file {
    const char *name;
    size_t size;
    uint32_t seed;
    uint32_t block; /* the sink's add_file block: 0 content-defined */
};

static const struct fake_file root_files[] = {
    {"big", 150000, 31, 0},
    {"small", 700, 32, 0},
};
static const struct fake_file etc_files[] = {
    {"conf", 5000, 33, 0},
};
/* with struct fake's rel: a relation file of 40 pages and a short tail, and the same size
 * chunked by content */
static const struct fake_file rel_files[] = {
    {"16385", 40 * 8192 + 100, 34, DR_PG_REL_BLOCK},
    {"cdc", 40 * 8192 + 100, 34, 0},
};

struct fake {
    int fail_build;    /* returned by build after the files when non-zero */
    size_t fail_after; /* the reader fails after this many bytes of "big" (0: never) */
    bool rel;          /* the root holds rel_files instead of etc/, big and small */
    /* the root holds list_file only, marked for a chunk list and written against the parent
     * snapshot's root; day d changes one block per earlier day, and adds grow blocks */
    bool lists;
    unsigned day, grow;
};

static const struct fake_file list_file = {"16385", 40 * 8192 + 100, 35, DR_PG_REL_BLOCK};

/* Reads a file's content in odd-sized pieces, as a network source would deliver it. */
struct reader {
    uint8_t *data;
    size_t len, pos, fail_after;
};

static int fake_read(void *arg, uint8_t *buf, size_t len)
{
    struct reader *rd = arg;
    if (rd->fail_after && rd->pos >= rd->fail_after) {
        return dr_errorf(DR_ESOURCE, "fake source: connection dropped");
    }
    size_t n = rd->len - rd->pos;
    if (n > len) {
        n = len;
    }
    if (n > 3001) {
        n = 3001;
    }
    memcpy(buf, rd->data + rd->pos, n);
    rd->pos += n;
    return (int)n;
}

static int add_files(const struct dr_source_sink *sink, struct dr_tree *t,
                     const struct fake_file *files, size_t n, size_t fail_after,
                     const struct fake *f)
{
    for (size_t i = 0; i < n; i++) {
        struct reader rd = {.len = files[i].size + (f->lists ? f->grow * 8192u : 0)};
        rd.data = dr_xmalloc(rd.len + 1);
        dr_test_fill(rd.data, rd.len, files[i].seed);
        for (unsigned d = 1; f->lists && d <= f->day; d++) {
            rd.data[(size_t)(d * 7 % 40) * 8192 + d] ^= 0x5a; /* a page changed in place */
        }
        rd.fail_after = strcmp(files[i].name, "big") == 0 ? fail_after : 0;
        struct dr_node node = {0};
        node.name = dr_xstrdup(files[i].name);
        node.type = DR_NODE_FILE;
        node.mode = 0640;
        node.user = dr_xstrdup("postgres");
        node.group = dr_xstrdup("postgres");
        node.mtime_ns = 1700000000LL * 1000000000LL;
        node.nlink = 1;
        int rc = sink->add_file(sink->arg, fake_read, &rd, NULL, NULL, files[i].block, &node);
        free(rd.data);
        if (rc < 0) {
            dr_node_release(&node);
            return rc;
        }
        if (f->lists) {
            node.flags |= DR_NODE_F_LISTED;
        }
        dr_tree_add(t, &node);
    }
    return 0;
}

static int fake_build(void *arg, const struct dr_source_sink *sink, struct dr_snapshot *s)
{
    struct fake *f = arg;
    struct dr_tree root, etc;
    dr_tree_init(&root);
    dr_tree_init(&etc);
    if (f->lists) {
        struct dr_tree pt;
        struct dr_id ptree;
        dr_tree_init(&pt);
        dr_snapshot_add_path(s, "fake://lists");
        if (sink->parent(sink->arg, s, &ptree)) {
            sink->load_tree(sink->arg, &ptree, &pt);
        }
        int rc = add_files(sink, &root, &list_file, 1, 0, f);
        if (rc >= 0) {
            sink->dir(sink->arg);
            rc = sink->put_tree(sink->arg, &root, &pt, &s->tree);
        }
        dr_tree_release(&pt);
        dr_tree_release(&root);
        return rc;
    }
    if (f->rel) {
        int rc = add_files(sink, &root, rel_files, 2, 0, f);
        if (rc >= 0) {
            sink->dir(sink->arg);
            rc = sink->put_tree(sink->arg, &root, NULL, &s->tree);
        }
        dr_tree_release(&root);
        return rc;
    }
    int rc = add_files(sink, &etc, etc_files, 1, 0, f);
    struct dr_node dir = {0};
    if (rc >= 0) {
        dir.name = dr_xstrdup("etc");
        dir.type = DR_NODE_DIR;
        dir.mode = 0750;
        dir.user = dr_xstrdup("");
        dir.group = dr_xstrdup("");
        dir.nlink = 2;
        sink->dir(sink->arg);
        rc = sink->put_tree(sink->arg, &etc, NULL, &dir.subtree);
    }
    if (rc >= 0) {
        dr_tree_add(&root, &dir);
        rc = add_files(sink, &root, root_files, 2, f->fail_after, f);
    }
    if (rc >= 0) {
        sink->dir(sink->arg);
        rc = sink->put_tree(sink->arg, &root, NULL, &s->tree);
    }
    if (rc >= 0 && f->fail_build) {
        rc = dr_errorf(f->fail_build, "fake source: the server refused");
    }
    if (rc >= 0) {
        dr_snapshot_add_path(s, "fake://cluster");
        dr_snapshot_add_meta(s, "fake.version", "42");
    }
    dr_node_release(&dir);
    dr_tree_release(&root);
    dr_tree_release(&etc);
    return rc;
}

/* The one call of the engine. */
static int run_backup(struct dr_repo *r, struct fake *f, int64_t time_ns, struct dr_id *out_id,
                      struct dr_snapshot *out_snap)
{
    const struct dr_source src = {.kind = "fake", .build = fake_build, .arg = f};
    char *tags[] = {"nightly"};
    struct dr_backup_opts o = {
        .tags = tags,
        .ntags = 1,
        .host = "unit-host",
        .time_ns = time_ns,
    };
    return dr_backup_run(r, &src, &o, out_id, out_snap);
}

static void assert_file(struct dr_repo *r, const struct dr_snapshot *s, const char *path,
                        const struct fake_file *f)
{
    struct dr_node n = {0};
    assert_int_equal(dr_repo_find_node(r, s, path, &n), 0);
    assert_int_equal(n.mode, 0640);
    assert_string_equal(n.user, "postgres");
    dr_test_assert_content(r, &n, f->size, f->seed);
    dr_node_release(&n);
}

static void test_tree_source_snapshot(void **state)
{
    struct dr_test_env *e = *state;
    struct fake f = {0};
    struct dr_id id;
    struct dr_snapshot out;
    dr_snapshot_init(&out);
    int rc = run_backup(e->repo[0], &f, 1763000000LL * 1000000000LL, &id, &out);
    if (rc < 0) {
        fail_msg("backup: %s", dr_error_msg());
    }
    assert_int_equal(dr_mem_backend_count(STORE, "snapshots/"), 1);
    assert_string_equal(out.source, "fake");
    assert_int_equal(out.summary.files_new, 3);
    assert_int_equal(out.summary.dirs, 2);
    assert_int_equal(out.summary.bytes_total, 150000 + 700 + 5000);
    assert_true(out.summary.blobs_added > 0);

    /* what the repository holds, read back from the object, not from the engine's copy */
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(e->repo[0], &id, &s), 0);
    assert_string_equal(s.source, "fake");
    assert_string_equal(s.host, "unit-host");
    assert_int_equal(s.time_ns, 1763000000LL * 1000000000LL);
    assert_int_equal(s.npaths, 1);
    assert_string_equal(s.paths[0], "fake://cluster");
    assert_true(dr_snapshot_has_tag(&s, "nightly"));
    assert_non_null(dr_snapshot_get_meta(&s, "fake.version"));
    assert_string_equal(dr_snapshot_get_meta(&s, "fake.version"), "42");
    assert_memory_equal(&s.tree, &out.tree, sizeof(s.tree));

    struct dr_tree t;
    dr_tree_init(&t);
    assert_int_equal(dr_repo_tree_load(e->repo[0], NULL, &s.tree, &t), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.nodes[0].name, "big");
    assert_string_equal(t.nodes[1].name, "etc");
    assert_int_equal(t.nodes[1].type, DR_NODE_DIR);
    assert_string_equal(t.nodes[2].name, "small");
    /* content-defined chunks: 150 kB with a 16 kB average is more than one chunk */
    assert_true(t.nodes[0].nchunks > 1);
    dr_tree_release(&t);
    assert_file(e->repo[0], &s, "big", &root_files[0]);
    assert_file(e->repo[0], &s, "small", &root_files[1]);
    assert_file(e->repo[0], &s, "etc/conf", &etc_files[0]);

    /* the same content again: a new snapshot, no new data */
    struct dr_id id2;
    struct dr_snapshot out2;
    dr_snapshot_init(&out2);
    assert_int_equal(run_backup(e->repo[0], &f, 1763000001LL * 1000000000LL, &id2, &out2), 0);
    assert_memory_not_equal(&id, &id2, sizeof(id));
    assert_memory_equal(&out.tree, &out2.tree, sizeof(out.tree));
    assert_int_equal(out2.summary.blobs_added, 0);
    assert_int_equal(dr_mem_backend_count(STORE, "snapshots/"), 2);

    dr_snapshot_release(&s);
    dr_snapshot_release(&out);
    dr_snapshot_release(&out2);
}

static void test_failing_source(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_id id;
    struct dr_snapshot out;
    dr_snapshot_init(&out);

    struct fake refuse = {.fail_build = DR_ESOURCE};
    assert_int_equal(run_backup(e->repo[0], &refuse, 0, &id, &out), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "refused"));
    assert_int_equal(dr_mem_backend_count(STORE, "snapshots/"), 0);

    struct fake drop = {.fail_after = 60000};
    assert_int_equal(run_backup(e->repo[0], &drop, 0, &id, &out), DR_ESOURCE);
    assert_non_null(strstr(dr_error_msg(), "dropped"));
    assert_int_equal(dr_mem_backend_count(STORE, "snapshots/"), 0);

    struct dr_snap_entry *list = NULL;
    size_t n = 0;
    assert_int_equal(dr_repo_snapshot_list(e->repo[0], &list, &n, NULL), 0);
    assert_int_equal(n, 0);
    dr_snap_list_free(list, n);
}

static void test_fixed_blocks(void **state)
{
    struct dr_test_env *e = *state;
    struct fake f = {.rel = true};
    struct dr_id id;
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    if (run_backup(e->repo[0], &f, 1763000000LL * 1000000000LL, &id, &s) < 0) {
        fail_msg("backup: %s", dr_error_msg());
    }
    struct dr_tree t;
    dr_tree_init(&t);
    assert_int_equal(dr_repo_tree_load(e->repo[0], NULL, &s.tree, &t), 0);
    assert_int_equal(t.n, 2);
    const struct dr_node *rel = &t.nodes[0], *cdc = &t.nodes[1];
    assert_string_equal(rel->name, "16385");
    /* the fixture's chunk max is 64 KiB: blocks above it are clamped to it (format/chunker.md) */
    uint32_t block = DR_PG_REL_BLOCK <= 65536 ? DR_PG_REL_BLOCK : 65536;
    assert_int_equal(rel->nchunks, (rel_files[0].size + block - 1) / block);
    for (uint32_t i = 0; i + 1 < rel->nchunks; i++) {
        assert_int_equal(rel->chunk_sizes[i], block);
    }
    assert_int_equal(rel->chunk_sizes[rel->nchunks - 1], rel_files[0].size % block);
    /* the same bytes by content: boundaries the rolling hash chose, not all on blocks */
    bool off_block = false;
    for (uint32_t i = 0; i + 1 < cdc->nchunks; i++) {
        off_block |= cdc->chunk_sizes[i] != block;
    }
    assert_true(off_block);
    dr_tree_release(&t);
    assert_file(e->repo[0], &s, "16385", &rel_files[0]);
    assert_file(e->repo[0], &s, "cdc", &rel_files[1]);
    dr_snapshot_release(&s);
}

/* Snapshots list_file as of f, and loads (expands) its node. */
static void list_snapshot(struct dr_test_env *e, struct fake *f, int64_t t, struct dr_node *out)
{
    struct dr_id id;
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    if (run_backup(e->repo[0], f, t * 1000000000LL, &id, &s) < 0) {
        fail_msg("backup: %s", dr_error_msg());
    }
    assert_int_equal(dr_repo_find_node(e->repo[0], &s, "16385", out), 0);
    assert_true(out->flags & DR_NODE_F_LISTED);
    assert_int_equal(out->nlists, out->list_depth + 1);
    assert_true(dr_id_eq(&out->lists[0], &out->list));
    struct fake_file want = list_file;
    want.size += f->grow * 8192u;
    assert_int_equal(out->size, want.size);
    assert_int_equal(out->nchunks, (want.size + 8191) / 8192);
    /* the content, read back through the expanded list, is the day's */
    uint8_t *data = dr_xmalloc(want.size);
    dr_test_fill(data, want.size, want.seed);
    for (unsigned d = 1; d <= f->day; d++) {
        data[(size_t)(d * 7 % 40) * 8192 + d] ^= 0x5a;
    }
    struct dr_buf got = DR_BUF_INIT(DR_BLOB_MAX);
    size_t off = 0;
    for (uint32_t i = 0; i < out->nchunks; i++) {
        assert_int_equal(dr_repo_chunk_get(e->repo[0], NULL, out, i, &got), 0);
        assert_true(off + got.len <= want.size);
        assert_memory_equal(got.buf, data + off, got.len);
        off += got.len;
    }
    assert_int_equal(off, want.size);
    dr_buf_release(&got);
    free(data);
    dr_snapshot_release(&s);
}

static void test_chunk_lists(void **state)
{
    struct dr_test_env *e = *state;
    struct fake f = {.lists = true};
    struct dr_node n0, n1, n2, n;
    list_snapshot(e, &f, 1763000000, &n0);
    assert_int_equal(n0.list_depth, 0); /* no parent: a full list */
    f.day = 1;
    list_snapshot(e, &f, 1763000100, &n1);
    assert_int_equal(n1.list_depth, 1); /* one block changed: a change to day 0's list */
    assert_true(dr_id_eq(&n1.lists[1], &n0.list));
    uint32_t changed = 0;
    for (uint32_t i = 0; i < n1.nchunks; i++) {
        changed += !dr_id_eq(&n0.chunks[i], &n1.chunks[i]);
    }
    assert_int_equal(changed, 1);
    list_snapshot(e, &f, 1763000200, &n2);
    assert_true(dr_id_eq(&n2.list, &n1.list)); /* unchanged: the parent's own list */
    assert_int_equal(n2.list_depth, 1);
    /* grown by two blocks: the new positions are in the change */
    f.grow = 2;
    list_snapshot(e, &f, 1763000300, &n);
    assert_int_equal(n.list_depth, 2);
    assert_true(dr_id_eq(&n.lists[1], &n1.list));
    int64_t t = 1763000400;
    for (f.day = 2; n.list_depth != 0; f.day++, t += 100) {
        uint32_t before = n.list_depth;
        dr_node_release(&n);
        list_snapshot(e, &f, t, &n);
        /* one more change a day until the chain is as deep as the policy allows */
        assert_int_equal(n.list_depth, before < DR_PG_LIST_DEPTH ? before + 1 : 0);
        assert_true(f.day < 2 + DR_PG_LIST_DEPTH);
    }
    /* shrunk: positions past the end are dropped, the rest kept */
    f.grow = 0;
    dr_node_release(&n);
    list_snapshot(e, &f, t, &n);
    assert_int_equal(n.list_depth, 1);
    dr_node_release(&n);
    dr_node_release(&n0);
    dr_node_release(&n1);
    dr_node_release(&n2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tree_source_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fixed_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_lists, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
