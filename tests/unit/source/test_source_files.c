/* test_source_files.c: the file tree source (src/source/files.c) driven into a fake sink, with
 * no repository: what it emits for a small tree (names, types, an exclude applied, a symlink's
 * target), which files it hands to the engine to read (relative to their directory's
 * descriptor), that it hands each tree over (the engine takes its nodes), a directory that
 * cannot be read (the fault point "backup.opendir"), which is stored marked incomplete and
 * counted as an input error, and the excludes by marker file (with and without a header) and
 * by size, which leave out what is below the path given but never the path itself. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/source.h"

struct fake {
    char log[8192]; /* one line per tree put: "<id>: name/type/flags ..." */
    size_t len;
    unsigned trees, dirs, errors, reads;
};

__attribute__((format(printf, 2, 3))) static void logf_(struct fake *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->log + f->len, sizeof(f->log) - f->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(f->log) - f->len);
    f->len += (size_t)n;
}

static int fake_add(void *arg, dr_stream_read_fn rd, void *rdarg, const struct dr_node *pnode,
                    const char *what, uint32_t block, struct dr_node *n)
{
    (void)arg, (void)rd, (void)rdarg, (void)pnode, (void)what, (void)block, (void)n;
    fail_msg("the file tree source reads no streams");
    return DR_EINTERNAL;
}

/* Reads as the engine would: the file is reached relative to its directory's descriptor. */
static int fake_read(void *arg, int dirfd, const char *rel, const char *path, const struct stat *st,
                     const struct dr_node *pnode, struct dr_node *n)
{
    struct fake *f = arg;
    assert_null(pnode);
    assert_int_equal(n->size, (uint64_t)st->st_size);
    assert_true(dirfd >= 0);
    assert_string_equal(rel, n->name);
    const char *slash = strrchr(path, '/');
    assert_non_null(slash);
    assert_string_equal(slash + 1, n->name);
    struct stat rst;
    assert_int_equal(fstatat(dirfd, rel, &rst, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(rst.st_ino, st->st_ino);
    f->reads++;
    return 0;
}

/* Takes the tree's nodes, as the engine does: the source must not need them afterwards. */
static int fake_put(void *arg, struct dr_tree *t, struct dr_tree *pt, struct dr_id *out)
{
    assert_null(pt); /* a tree of files has no chunk lists to write */
    struct fake *f = arg;
    f->trees++;
    memset(out, 0, sizeof(*out));
    out->b[0] = (uint8_t)f->trees;
    logf_(f, "%u:", f->trees);
    for (size_t i = 0; i < t->n; i++) {
        const struct dr_node *n = &t->nodes[i];
        logf_(f, " %s/%d/%u", n->name, n->type, n->flags);
        if (n->target) {
            logf_(f, "->%s", n->target);
        }
    }
    logf_(f, "\n");
    dr_tree_release(t);
    dr_tree_init(t);
    return 0;
}

static bool fake_parent(void *arg, struct dr_snapshot *s, struct dr_id *out_tree)
{
    (void)arg, (void)s, (void)out_tree;
    return false;
}

static void fake_load(void *arg, const struct dr_id *id, struct dr_tree *out)
{
    (void)arg;
    assert_null(id);
    dr_tree_init(out);
}

static void fake_dir(void *arg)
{
    ((struct fake *)arg)->dirs++;
}

static void fake_error(void *arg)
{
    ((struct fake *)arg)->errors++;
}

static void fake_scanned(void *arg, uint64_t bytes)
{
    (void)arg, (void)bytes;
}

static char dir[128];

static void put(const char *rel, const char *data)
{
    char *p = dr_xasprintf("%s/%s", dir, rel);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(data, fp);
    fclose(fp);
    free(p);
}

/* dir/: a/x, f.txt, skip.log, l -> f.txt */
static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dr-unit-files.XXXXXX");
    if (!mkdtemp(dir)) {
        return -1;
    }
    char *a = dr_xasprintf("%s/a", dir);
    char *l = dr_xasprintf("%s/l", dir);
    int rc = mkdir(a, 0755) | symlink("f.txt", l);
    free(a);
    free(l);
    put("a/x", "x");
    put("f.txt", "hello");
    put("skip.log", "log");
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    const char *rel[] = {"a/x", "a", "f.txt", "skip.log", "l"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        char *p = dr_xasprintf("%s/%s", dir, rel[i]);
        remove(p);
        free(p);
    }
    return rmdir(dir);
}

/* Walks dir with the exclude "*.log" and the markers and size limit of x (NULL: none). */
static int run_x(struct fake *f, struct dr_snapshot *s, const struct dr_source_files_opts *x)
{
    char *paths[] = {dir};
    char *excl[] = {"*.log"};
    struct dr_source_files_opts o = {.paths = paths, .npaths = 1, .excludes = excl, .nexcludes = 1};
    if (x) {
        o.markers = x->markers;
        o.nmarkers = x->nmarkers;
        o.exclude_larger = x->exclude_larger;
        o.larger_than = x->larger_than;
    }
    struct dr_source *src = dr_source_files_new(&o);
    struct dr_source_sink sink = {
        .add_file = fake_add,
        .read_file = fake_read,
        .put_tree = fake_put,
        .parent = fake_parent,
        .load_tree = fake_load,
        .dir = fake_dir,
        .input_error = fake_error,
        .scanned = fake_scanned,
        .arg = f,
    };
    memset(f, 0, sizeof(*f));
    dr_snapshot_init(s);
    assert_string_equal(src->kind, "files");
    int rc = src->build(src->arg, &sink, s);
    dr_source_free(src);
    return rc;
}

static int run(struct fake *f, struct dr_snapshot *s)
{
    return run_x(f, s, NULL);
}

static void test_tree(void **state)
{
    (void)state;
    struct fake f;
    struct dr_snapshot s;
    assert_int_equal(run(&f, &s), 0);
    assert_int_equal(s.npaths, 1);
    assert_string_equal(s.paths[0], dir);
    /* the directories: a, then dir, then /tmp and the root (no node of their own to count) */
    char want[512];
    snprintf(want, sizeof(want), "1: x/%d/0\n2: a/%d/0 f.txt/%d/0 l/%d/0->f.txt\n", DR_NODE_FILE,
             DR_NODE_DIR, DR_NODE_FILE, DR_NODE_SYMLINK);
    assert_non_null(strstr(f.log, want));
    assert_null(strstr(f.log, "skip.log"));
    assert_int_equal(f.trees, 4);
    assert_int_equal(f.dirs, 2);
    assert_int_equal(f.reads, 2);
    assert_int_equal(f.errors, 0);
    assert_int_equal(s.tree.b[0], 4);
    dr_snapshot_release(&s);
}

static void test_unreadable_dir(void **state)
{
    (void)state;
#ifdef DR_FAULTS
    struct fake f;
    struct dr_snapshot s;
    /* the second opendir is of "a" (dir itself is the first) */
    setenv("DR_FAULT", "backup.opendir:fail:2", 1);
    int rc = run(&f, &s);
    unsetenv("DR_FAULT");
    dr_error_clear();
    assert_int_equal(rc, 0);
    char want[512];
    snprintf(want, sizeof(want), "1:\n2: a/%d/%u f.txt/%d/0", DR_NODE_DIR, DR_NODE_F_INCOMPLETE,
             DR_NODE_FILE);
    assert_non_null(strstr(f.log, want));
    assert_int_equal(f.errors, 1);
    assert_int_equal(f.reads, 1);
    dr_snapshot_release(&s);
#else
    skip();
#endif
}

static void test_missing_path(void **state)
{
    (void)state;
    struct fake f;
    struct dr_snapshot s;
    char saved[sizeof(dir)];
    memcpy(saved, dir, sizeof(saved));
    int w = snprintf(dir, sizeof(dir), "%.64s/none", saved);
    assert_true(w > 0 && (size_t)w < sizeof(dir));
    int rc = run(&f, &s);
    memcpy(dir, saved, sizeof(saved));
    assert_int_equal(rc, DR_EUSAGE);
    dr_error_clear();
    assert_int_equal(f.trees, 0);
    dr_snapshot_release(&s);
}

/* The tree dir/ as the walk stores it with the markers of x. */
static void expect_dir_tree(const struct dr_source_files_opts *x, const char *want, unsigned dirs)
{
    struct fake f;
    struct dr_snapshot s;
    assert_int_equal(run_x(&f, &s, x), 0);
    assert_non_null(strstr(f.log, want));
    assert_int_equal(f.dirs, dirs);
    assert_int_equal(f.errors, 0);
    dr_snapshot_release(&s);
}

static void test_markers(void **state)
{
    (void)state;
    char keep_a[256], drop_a[256];
    snprintf(keep_a, sizeof(keep_a), ": a/%d/0 f.txt/%d/0 l/%d/0->f.txt\n", DR_NODE_DIR,
             DR_NODE_FILE, DR_NODE_SYMLINK);
    snprintf(drop_a, sizeof(drop_a), ": f.txt/%d/0 l/%d/0->f.txt\n", DR_NODE_FILE, DR_NODE_SYMLINK);
    /* a holds x: a is left out, itself and all it holds, and not counted as a directory */
    struct dr_exclude_marker m = {.name = "x"};
    struct dr_source_files_opts x = {.markers = &m, .nmarkers = 1};
    expect_dir_tree(&x, drop_a, 1);
    /* with a header, only a file that starts with it marks its directory ("x" holds "x") */
    m = (struct dr_exclude_marker){.name = "x", .header = "x", .header_len = 1};
    expect_dir_tree(&x, drop_a, 1);
    m = (struct dr_exclude_marker){.name = "x", .header = "xy", .header_len = 2};
    expect_dir_tree(&x, keep_a, 2);
    m = (struct dr_exclude_marker){.name = "x", .header = "y", .header_len = 1};
    expect_dir_tree(&x, keep_a, 2);
    /* the path given holds f.txt: it is saved all the same, as a path given that matches an
     * --exclude pattern is */
    struct dr_exclude_marker ms[] = {{.name = "none"}, {.name = "f.txt"}};
    x = (struct dr_source_files_opts){.markers = ms, .nmarkers = 2};
    expect_dir_tree(&x, keep_a, 2);
}

static void test_larger_than(void **state)
{
    (void)state;
    /* f.txt has 5 bytes, a/x 1: a file of exactly the limit is kept */
    char want[256];
    struct dr_source_files_opts x = {.exclude_larger = true, .larger_than = 5};
    snprintf(want, sizeof(want), ": a/%d/0 f.txt/%d/0 l/%d/0->f.txt\n", DR_NODE_DIR, DR_NODE_FILE,
             DR_NODE_SYMLINK);
    expect_dir_tree(&x, want, 2);
    x.larger_than = 4;
    snprintf(want, sizeof(want), "1: x/%d/0\n2: a/%d/0 l/%d/0->f.txt\n", DR_NODE_FILE, DR_NODE_DIR,
             DR_NODE_SYMLINK);
    expect_dir_tree(&x, want, 2);
    /* 0: only empty files are kept; directories and symlinks are not files */
    x.larger_than = 0;
    snprintf(want, sizeof(want), "1:\n2: a/%d/0 l/%d/0->f.txt\n", DR_NODE_DIR, DR_NODE_SYMLINK);
    expect_dir_tree(&x, want, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),         cmocka_unit_test(test_unreadable_dir),
        cmocka_unit_test(test_missing_path), cmocka_unit_test(test_markers),
        cmocka_unit_test(test_larger_than),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
