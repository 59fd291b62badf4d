/* test_workset.c: private working sets (src/index/workset.c).
 *
 * Covers: set add/has/clear; map put/get (short buffer, too long a value, missing id)/del/clear;
 * foreach in id order, its early stop and its refusal of writes from the callback; more writes
 * than one batch (internal commits keep every entry); the directory under the parent and its
 * removal on close; a dead process's workset removed by the next open, a live one's kept. */
#include "drrepo/workset.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/util.h"
#include "fixture.h"

static void mkid(struct dr_id *id, uint32_t n)
{
    memset(id, 0, sizeof(*id));
    /* big-endian in the first bytes: LMDB orders keys bytewise */
    id->b[0] = (uint8_t)(n >> 24);
    id->b[1] = (uint8_t)(n >> 16);
    id->b[2] = (uint8_t)(n >> 8);
    id->b[3] = (uint8_t)n;
}

static void test_set(void **state)
{
    const char *parent = *state;
    struct dr_workset *ws;
    struct dr_id a, b;
    mkid(&a, 1);
    mkid(&b, 2);
    assert_int_equal(dr_workset_open(parent, &ws), 0);
    assert_int_equal(dr_workset_set_has(ws, &a), 0);
    assert_int_equal(dr_workset_set_add(ws, &a), 1);
    assert_int_equal(dr_workset_set_add(ws, &a), 0);
    assert_int_equal(dr_workset_set_add(ws, &b), 1);
    assert_int_equal(dr_workset_set_has(ws, &a), 1);
    assert_int_equal(dr_workset_set_clear(ws), 0);
    assert_int_equal(dr_workset_set_has(ws, &a), 0);
    assert_int_equal(dr_workset_set_add(ws, &a), 1);
    dr_workset_close(ws);
}

struct seen {
    uint32_t n, last;
    bool ordered;
    struct dr_workset *ws;
    int write_rc;
};

static int count_cb(void *arg, const struct dr_id *id, const void *val, size_t len)
{
    struct seen *s = arg;
    uint32_t v = dr_get_u32le(val);
    assert_int_equal(len, 4);
    uint32_t k =
        (uint32_t)id->b[0] << 24 | (uint32_t)id->b[1] << 16 | (uint32_t)id->b[2] << 8 | id->b[3];
    assert_int_equal(k * 3, v);
    if (s->n && k <= s->last) {
        s->ordered = false;
    }
    s->last = k;
    s->n++;
    if (s->ws) {
        s->write_rc = dr_workset_set_add(s->ws, id);
        return -42;
    }
    return 0;
}

static void test_map(void **state)
{
    const char *parent = *state;
    struct dr_workset *ws;
    struct dr_id a, missing;
    mkid(&a, 7);
    mkid(&missing, 8);
    assert_int_equal(dr_workset_open(parent, &ws), 0);
    uint8_t v[5] = {1, 2, 3, 4, 5}, got[8] = {0};
    assert_int_equal(dr_workset_map_put(ws, &a, v, sizeof(v)), 0);
    assert_int_equal(dr_workset_map_get(ws, &a, got, 2), 5); /* copies 2, says 5 */
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 0);
    dr_error_clear();
    assert_int_equal(dr_workset_map_get(ws, &missing, got, sizeof(got)), 0);
    assert_string_equal(dr_error_msg(), ""); /* absence sets no error */
    assert_int_equal(dr_workset_map_put(ws, &missing, v, 0), DR_EUSAGE);
    uint8_t big[DR_WORKSET_VAL_MAX + 1] = {0};
    assert_int_equal(dr_workset_map_put(ws, &a, big, sizeof(big)), DR_EUSAGE);
    /* neither failure poisons the workset */
    v[0] = 9;
    assert_int_equal(dr_workset_map_put(ws, &a, v, sizeof(v)), 0);
    assert_int_equal(dr_workset_map_get(ws, &a, got, sizeof(got)), 5);
    assert_int_equal(got[0], 9);
    /* del removes one entry; removing a missing one is no error */
    struct dr_id b;
    mkid(&b, 9);
    assert_int_equal(dr_workset_map_put(ws, &b, v, sizeof(v)), 0);
    assert_int_equal(dr_workset_map_del(ws, &b), 0);
    assert_int_equal(dr_workset_map_get(ws, &b, got, sizeof(got)), 0);
    assert_int_equal(dr_workset_map_del(ws, &missing), 0);
    assert_int_equal(dr_workset_map_get(ws, &a, got, sizeof(got)), 5);
    assert_int_equal(dr_workset_map_clear(ws), 0);
    assert_int_equal(dr_workset_map_get(ws, &a, got, sizeof(got)), 0);
    dr_workset_close(ws);
}

/* More entries than several batches: the internal commits lose nothing, foreach sees them in
 * id order, stops on a negative return, and refuses writes from its callback. */
static void test_batches_and_foreach(void **state)
{
    const char *parent = *state;
    struct dr_workset *ws;
    assert_int_equal(dr_workset_open(parent, &ws), 0);
    uint32_t n = DR_WORKSET_BATCH * 3 + 17;
    for (uint32_t i = n; i > 0; i--) { /* reverse order: foreach must sort */
        struct dr_id id;
        uint8_t v[4];
        mkid(&id, i);
        dr_put_u32le(v, i * 3);
        assert_int_equal(dr_workset_map_put(ws, &id, v, sizeof(v)), 0);
        assert_int_equal(dr_workset_set_add(ws, &id), 1);
    }
    for (uint32_t i = 1; i <= n; i++) {
        struct dr_id id;
        mkid(&id, i);
        assert_int_equal(dr_workset_set_has(ws, &id), 1);
    }
    struct seen s = {.ordered = true};
    assert_int_equal(dr_workset_map_foreach(ws, count_cb, &s), 0);
    assert_int_equal(s.n, n);
    assert_true(s.ordered);
    struct seen w = {.ordered = true, .ws = ws};
    assert_int_equal(dr_workset_map_foreach(ws, count_cb, &w), -42);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.write_rc, DR_EUSAGE);
    /* usable again once the foreach is over */
    struct dr_id extra;
    mkid(&extra, n + 1);
    assert_int_equal(dr_workset_set_add(ws, &extra), 1);
    dr_workset_close(ws);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_dir_lifecycle(void **state)
{
    const char *parent = *state;
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/repo", parent); /* created when missing */
    struct dr_workset *ws;
    assert_int_equal(dr_workset_open(sub, &ws), 0);
    char dir[400];
    snprintf(dir, sizeof(dir), "%s", dr_workset_path(ws));
    char want[340];
    snprintf(want, sizeof(want), "%s/work.%ld.", sub, (long)getpid());
    assert_memory_equal(dir, want, strlen(want));
    assert_true(exists(dir));
    dr_workset_close(ws);
    assert_false(exists(dir));
    dr_workset_close(NULL);
}

/* A workset named for a pid that is gone is removed by the next open; one of a live process
 * (here: the parent of this test) is kept. */
static void test_stale_removed(void **state)
{
    const char *parent = *state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    char dead[400], live[400], file[450];
    snprintf(dead, sizeof(dead), "%s/work.%ld.AbCdEf", parent, (long)child);
    snprintf(live, sizeof(live), "%s/work.%ld.AbCdEf", parent, (long)getppid());
    assert_int_equal(mkdir(dead, 0700), 0);
    assert_int_equal(mkdir(live, 0700), 0);
    snprintf(file, sizeof(file), "%s/data.mdb", dead);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    struct dr_workset *ws;
    assert_int_equal(dr_workset_open(parent, &ws), 0);
    assert_false(exists(dead));
    assert_true(exists(live));
    dr_workset_close(ws);
    assert_int_equal(rmdir(live), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set, dr_test_tmpdir_setup, dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_map, dr_test_tmpdir_setup, dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_batches_and_foreach, dr_test_tmpdir_setup,
                                        dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_dir_lifecycle, dr_test_tmpdir_setup,
                                        dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_stale_removed, dr_test_tmpdir_setup,
                                        dr_test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
