/* test_walk.c: the tree walker (src/store/walker.c), over trees built in memory through its
 * loader callback.
 *
 * Covers: depth-first order and paths (with and without a trailing slash in the prefix); a node
 * callback skipping a subtree; leave_dir's status for walked, skipped and unreadable subtrees;
 * the two error policies (stop at an unreadable tree, or report it with its path and go on);
 * dedup through enter and through a workset (DR_WALK_DEDUP); leave_tree seeing the
 * changes node callbacks made; an error from a callback stopping the walk; the depth limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/index.h"
#include "drrepo/mem.h"
#include "drrepo/walk.h"
#include "drrepo/workset.h"

/* Trees by the first byte of their id:
 *   1: a (file), d/ -> 2, e/ -> 3, f/ -> 2, z (file)
 *   2: x (file)
 *   3: unreadable (DR_ECORRUPT)
 *   4: d/ -> 4 (a cycle, for the depth limit) */
static void make_id(struct dr_id *id, uint8_t k)
{
    memset(id, 0, sizeof(*id));
    id->b[0] = k;
}

static void add(struct dr_tree *t, const char *name, uint8_t type, uint8_t sub)
{
    struct dr_node n;
    memset(&n, 0, sizeof(n));
    n.name = dr_xstrdup(name);
    n.type = type;
    if (type == DR_NODE_DIR) {
        make_id(&n.subtree, sub);
    }
    dr_tree_add(t, &n);
}

struct rec {
    char log[2048];
    size_t len;
    int loads;
    int skip_dir;      /* node returns 1 for directories named "d" */
    bool dedup;        /* enter skips trees already entered */
    int fail_at_node;  /* node returns DR_EIO at "/z" */
    uint8_t seen[256]; /* trees entered */
};

static void logf_(struct rec *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(r->log) - r->len);
    r->len += (size_t)n;
}

static int load(void *arg, const struct dr_id *id, struct dr_tree *t)
{
    struct rec *r = arg;
    r->loads++;
    switch (id->b[0]) {
    case 1:
        add(t, "a", DR_NODE_FILE, 0);
        add(t, "d", DR_NODE_DIR, 2);
        add(t, "e", DR_NODE_DIR, 3);
        add(t, "f", DR_NODE_DIR, 2);
        add(t, "z", DR_NODE_FILE, 0);
        return 0;
    case 2: add(t, "x", DR_NODE_FILE, 0); return 0;
    case 4: add(t, "d", DR_NODE_DIR, 4); return 0;
    default: return dr_errorf(DR_ECORRUPT, "tree %u is damaged", id->b[0]);
    }
}

static int enter(void *arg, const struct dr_id *tree, const char *path)
{
    struct rec *r = arg;
    logf_(r, "enter %u %s;", tree->b[0], path);
    if (r->dedup && r->seen[tree->b[0]]) {
        return 1;
    }
    r->seen[tree->b[0]] = 1;
    return 0;
}

static int unreadable(void *arg, const struct dr_id *tree, const char *path, int err)
{
    struct rec *r = arg;
    assert_int_equal(err, DR_ECORRUPT);
    logf_(r, "lost %u %s (%s);", tree->b[0], path, dr_error_msg());
    return 0;
}

static int node(void *arg, const char *path, struct dr_node *n)
{
    struct rec *r = arg;
    logf_(r, "%s;", path);
    n->size = 7; /* seen by leave_tree */
    if (r->fail_at_node && strcmp(path, "/z") == 0) {
        return dr_errorf(DR_EIO, "cannot write '%s'", path);
    }
    if (r->skip_dir && strcmp(n->name, "d") == 0) {
        return 1;
    }
    return 0;
}

static int leave_dir(void *arg, const char *path, struct dr_node *n, int status)
{
    struct rec *r = arg;
    assert_string_equal(strrchr(path, '/') + 1, n->name);
    logf_(r, "leave %s %d;", path, status);
    return status < 0 ? status : 0;
}

static int leave_tree(void *arg, const struct dr_id *tree, const char *path, struct dr_tree *t)
{
    struct rec *r = arg;
    for (size_t i = 0; i < t->n; i++) {
        assert_int_equal(t->nodes[i].size, 7);
    }
    logf_(r, "done %u '%s';", tree->b[0], path);
    return 0;
}

static struct dr_walk walker(struct rec *r)
{
    return (struct dr_walk){
        .arg = r,
        .load = load,
        .enter = enter,
        .unreadable = unreadable,
        .node = node,
        .leave_dir = leave_dir,
        .leave_tree = leave_tree,
    };
}

static void test_order_and_report(void **state)
{
    (void)state;
    struct rec r = {0};
    struct dr_walk w = walker(&r);
    struct dr_id root;
    make_id(&root, 1);
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_WALK_DONE);
    assert_string_equal(r.log, "enter 1 ;/a;/d;enter 2 /d;/d/x;done 2 '/d';leave /d 0;"
                               "/e;enter 3 /e;lost 3 /e (tree 3 is damaged);leave /e 2;"
                               "/f;enter 2 /f;/f/x;done 2 '/f';leave /f 0;/z;done 1 '';");
    assert_string_equal(dr_error_msg(), ""); /* the walker cleared the reported error */
}

static void test_prefix(void **state)
{
    (void)state;
    struct rec r = {0};
    struct dr_walk w = {.arg = &r, .load = load, .node = node};
    struct dr_id root;
    make_id(&root, 2);
    assert_int_equal(dr_walk_run(&w, &root, "./"), DR_WALK_DONE);
    assert_string_equal(r.log, "./x;");
    r.len = 0;
    assert_int_equal(dr_walk_run(&w, &root, "/top"), DR_WALK_DONE);
    assert_string_equal(r.log, "/top/x;");
}

static void test_skip_and_dedup(void **state)
{
    (void)state;
    struct rec r = {.skip_dir = 1, .dedup = true};
    struct dr_walk w = walker(&r);
    struct dr_id root;
    make_id(&root, 1);
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_WALK_DONE);
    /* d is skipped by its node callback (no leave_dir); f's tree 2 is entered once: the
     * second time it was not yet seen, because d was skipped */
    assert_string_equal(r.log, "enter 1 ;/a;/d;/e;enter 3 /e;lost 3 /e (tree 3 is damaged);"
                               "leave /e 2;/f;enter 2 /f;/f/x;done 2 '/f';leave /f 0;/z;"
                               "done 1 '';");
    memset(&r, 0, sizeof(r));
    r.dedup = true;
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_WALK_DONE);
    assert_non_null(strstr(r.log, "enter 2 /f;leave /f 1;"));
    assert_int_equal(r.loads, 3); /* trees 1, 2 and 3; the second 2 was not loaded */
    /* the root itself can be skipped */
    r.len = 0;
    r.log[0] = '\0';
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_WALK_SKIPPED);
    assert_string_equal(r.log, "enter 1 ;");
}

static void test_stop_policy(void **state)
{
    (void)state;
    struct rec r = {0};
    struct dr_walk w = walker(&r);
    w.unreadable = NULL;
    struct dr_id root;
    make_id(&root, 1);
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_ECORRUPT);
    assert_string_equal(dr_error_msg(), "tree 3 is damaged");
    /* leave_dir sees the error on the way up; no tree is finished after it */
    assert_string_equal(r.log, "enter 1 ;/a;/d;enter 2 /d;/d/x;done 2 '/d';leave /d 0;"
                               "/e;enter 3 /e;leave /e -3;");
    dr_error_clear();
    /* an unreadable root is reported too */
    memset(&r, 0, sizeof(r));
    w = walker(&r);
    make_id(&root, 3);
    assert_int_equal(dr_walk_run(&w, &root, "/"), DR_WALK_UNREADABLE);
    assert_string_equal(r.log, "enter 3 /;lost 3 / (tree 3 is damaged);");
}

static void test_callback_error(void **state)
{
    (void)state;
    struct rec r = {.fail_at_node = 1};
    struct dr_walk w = walker(&r);
    struct dr_id root;
    make_id(&root, 1);
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_EIO);
    assert_string_equal(dr_error_msg(), "cannot write '/z'");
    assert_null(strstr(r.log, "done 1"));
    dr_error_clear();
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void test_dedup_scratch(void **state)
{
    (void)state;
    char dir[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/dr-walk-XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    char idxdir[300];
    snprintf(idxdir, sizeof(idxdir), "%s/index", dir);
    struct dr_index *idx;
    struct dr_index_txn *txn;
    struct dr_workset *ws;
    assert_int_equal(dr_index_open(idxdir, &idx), 0);
    assert_int_equal(dr_index_begin(idx, false, &txn), 0);
    assert_int_equal(dr_workset_open(dir, &ws), 0);
    struct rec r = {0};
    struct dr_walk w = walker(&r);
    w.txn = txn;
    w.seen = ws;
    w.flags = DR_WALK_DEDUP;
    struct dr_id root;
    make_id(&root, 1);
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_WALK_DONE);
    /* the second use of tree 2 is skipped before enter and before it is loaded */
    assert_non_null(strstr(r.log, "/f;leave /f 1;/z;"));
    assert_int_equal(r.loads, 3);
    assert_int_equal(dr_workset_set_has(ws, &root), 1);
    /* the set lives as long as the caller keeps it: a second walk skips the root */
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_WALK_SKIPPED);
    assert_int_equal(r.loads, 3);
    dr_workset_close(ws);
    dr_index_abort(txn);
    dr_index_close(idx);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int count_node(void *arg, const char *path, struct dr_node *n)
{
    (void)path;
    (void)n;
    (*(int *)arg)++;
    return 0;
}

static int count_load(void *arg, const struct dr_id *id, struct dr_tree *t)
{
    (void)arg;
    add(t, "d", DR_NODE_DIR, id->b[0]);
    return 0;
}

static void test_depth_limit(void **state)
{
    (void)state;
    int nodes = 0;
    struct dr_walk w = {.arg = &nodes, .load = count_load, .node = count_node};
    struct dr_id root;
    make_id(&root, 4);
    assert_int_equal(dr_walk_run(&w, &root, ""), DR_ECORRUPT);
    assert_int_equal(nodes, DR_WALK_MAX_DEPTH + 1);
    assert_non_null(strstr(dr_error_msg(), "deeper than 4096"));
    dr_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_report), cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_skip_and_dedup),   cmocka_unit_test(test_stop_policy),
        cmocka_unit_test(test_callback_error),   cmocka_unit_test(test_dedup_scratch),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
