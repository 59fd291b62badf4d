/* test_backend_local.c: the dispatcher and the local-directory driver.
 *
 * Covers: src/backend/backend.c, src/backend/local/local.c.
 * Location parsing (paths, file://, other schemes), name validation (absolute, empty, "..",
 * ".", temporary prefix, control characters), put/get/stat/list/delete round trips, ranges,
 * short objects, missing objects, exclusive puts, on-demand directories, temporary files
 * skipped by list and removed by cleanup only when their writer is gone. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/backend.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"

struct fixture {
    char dir[64]; /* scratch directory, removed at teardown */
    char *root;   /* dir/repo: does not exist until the first put */
    struct dr_backend *b;
};

static void rm_rf(const char *path)
{
    char *cmd = dr_xasprintf("rm -rf '%s'", path);
    int rc = system(cmd);
    assert_int_equal(rc, 0);
    free(cmd);
}

static int setup(void **state)
{
    struct fixture *f = dr_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/dr-test-backend-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->root = dr_fs_join(f->dir, "repo");
    assert_int_equal(dr_backend_open(f->root, &f->b), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dr_backend_close(f->b);
    rm_rf(f->dir);
    free(f->root);
    free(f);
    return 0;
}

static void put_str(struct dr_backend *b, const char *name, const char *s)
{
    int rc = dr_backend_put(b, name, s, strlen(s), false);
    if (rc < 0) {
        fail_msg("put '%s': %s", name, dr_error_msg());
    }
}

static void write_raw(const char *path, const char *s)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(s, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static void test_open_locations(void **state)
{
    (void)state;
    struct dr_backend *b = NULL;
    assert_int_equal(dr_backend_open("s3://bucket/repo", &b), DR_EUSAGE);
    assert_non_null(strstr(dr_error_msg(), "unsupported repository location"));
    /* the AWS CLI's form is answered with the form drrepo takes */
    assert_non_null(strstr(dr_error_msg(), "s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]"));
    assert_int_equal(dr_backend_open("sftp://host/repo", &b), DR_EUSAGE);
    assert_int_equal(dr_backend_open("", &b), DR_EUSAGE);
    assert_int_equal(dr_backend_open("file://relative/path", &b), DR_EUSAGE);
    assert_null(b);

    assert_int_equal(dr_backend_open("file:///tmp/dr-no-such-repo-xyz", &b), 0);
    assert_string_equal(dr_backend_location(b), "file:///tmp/dr-no-such-repo-xyz");
    assert_false(dr_backend_exists(b));
    dr_backend_close(b);

    /* restic-style locations are refused, never taken for a local directory "sftp:user@host:"
     * (s3: locations open the S3 driver: test_s3_parse.c) */
    static const char *const refused[] = {"sftp:user@host:/srv/repo", "rest:http://host:8000/",
                                          "b2:bucket:path", "S3:bucket", "repo:1"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        b = NULL;
        assert_int_equal(dr_backend_open(refused[i], &b), DR_EUSAGE);
        assert_non_null(strstr(dr_error_msg(), "locations are not supported"));
        assert_null(b);
    }
    /* a path with a colon is a path once it has a slash; one letter and a colon too */
    assert_int_equal(dr_backend_open("./repo:1", &b), 0);
    dr_backend_close(b);
    assert_int_equal(dr_backend_open("x:y", &b), 0);
    dr_backend_close(b);
    dr_backend_close(NULL);
}

static void test_file_url_same_dir(void **state)
{
    struct fixture *f = *state;
    put_str(f->b, "config", "hello");
    char *url = dr_xasprintf("file://%s/", f->root);
    struct dr_backend *b2 = NULL;
    assert_int_equal(dr_backend_open(url, &b2), 0);
    assert_true(dr_backend_exists(b2));
    struct dr_buf buf = DR_BUF_INIT(1024);
    assert_int_equal(dr_backend_get(b2, "config", 0, UINT64_MAX, &buf), 0);
    assert_string_equal(buf.buf, "hello");
    dr_buf_release(&buf);
    dr_backend_close(b2);
    free(url);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    assert_false(dr_backend_exists(f->b));
    /* the root and data/ab are created on demand */
    put_str(f->b, "data/ab/ab12", "0123456789");
    assert_true(dr_backend_exists(f->b));
    struct stat st;
    char *dir = dr_xasprintf("%s/data/ab", f->root);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    free(dir);

    uint64_t size = 0;
    assert_int_equal(dr_backend_stat(f->b, "data/ab/ab12", &size), 0);
    assert_int_equal(size, 10);

    struct dr_buf buf = DR_BUF_INIT(1024);
    assert_int_equal(dr_buf_adds(&buf, "pre:"), 0);
    assert_int_equal(dr_backend_get(f->b, "data/ab/ab12", 0, UINT64_MAX, &buf), 0);
    assert_string_equal(buf.buf, "pre:0123456789"); /* appended */
    dr_buf_reset(&buf);
    assert_int_equal(dr_backend_get(f->b, "data/ab/ab12", 3, 4, &buf), 0);
    assert_int_equal(buf.len, 4);
    assert_string_equal(buf.buf, "3456");
    dr_buf_reset(&buf);
    assert_int_equal(dr_backend_get(f->b, "data/ab/ab12", 7, UINT64_MAX, &buf), 0);
    assert_string_equal(buf.buf, "789");
    dr_buf_reset(&buf);
    assert_int_equal(dr_backend_get(f->b, "data/ab/ab12", 10, UINT64_MAX, &buf), 0);
    assert_int_equal(buf.len, 0);
    assert_int_equal(dr_backend_get(f->b, "data/ab/ab12", 10, 0, &buf), 0);
    assert_int_equal(buf.len, 0);

    /* overwrite (non-exclusive) replaces the whole object */
    put_str(f->b, "data/ab/ab12", "xy");
    dr_buf_reset(&buf);
    assert_int_equal(dr_backend_get(f->b, "data/ab/ab12", 0, UINT64_MAX, &buf), 0);
    assert_string_equal(buf.buf, "xy");

    /* an empty object is an object */
    assert_int_equal(dr_backend_put(f->b, "locks/empty", "", 0, false), 0);
    assert_int_equal(dr_backend_stat(f->b, "locks/empty", &size), 0);
    assert_int_equal(size, 0);

    assert_int_equal(dr_backend_delete(f->b, "data/ab/ab12"), 0);
    assert_int_equal(dr_backend_stat(f->b, "data/ab/ab12", &size), DR_ENOENT);
    assert_int_equal(dr_backend_delete(f->b, "data/ab/ab12"), DR_ENOENT);
    assert_non_null(strstr(dr_error_msg(), "data/ab/ab12"));
    dr_buf_release(&buf);
}

static void test_short_and_missing(void **state)
{
    struct fixture *f = *state;
    put_str(f->b, "snapshots/s1", "abcdef");
    struct dr_buf buf = DR_BUF_INIT(1024);
    assert_int_equal(dr_backend_get(f->b, "snapshots/s1", 4, 3, &buf), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "snapshots/s1"));
    assert_int_equal(buf.len, 0);
    assert_int_equal(dr_backend_get(f->b, "snapshots/s1", 7, UINT64_MAX, &buf), DR_ECORRUPT);
    assert_int_equal(dr_backend_get(f->b, "snapshots/s1", 0, UINT64_MAX - 1, &buf), DR_ECORRUPT);
    assert_int_equal(dr_backend_get(f->b, "snapshots/s1", UINT64_MAX, 1, &buf), DR_ECORRUPT);
    assert_int_equal(buf.len, 0);

    assert_int_equal(dr_backend_get(f->b, "snapshots/nope", 0, UINT64_MAX, &buf), DR_ENOENT);
    assert_non_null(strstr(dr_error_msg(), "snapshots/nope"));
    assert_int_equal(dr_backend_get(f->b, "nodir/nope", 0, 1, &buf), DR_ENOENT);
    /* a path through a file is "missing", not an I/O error */
    assert_int_equal(dr_backend_get(f->b, "snapshots/s1/x", 0, 1, &buf), DR_ENOENT);
    uint64_t size;
    assert_int_equal(dr_backend_stat(f->b, "snapshots/nope", &size), DR_ENOENT);

    /* out's cap is honoured: DR_ECORRUPT rather than a huge allocation */
    struct dr_buf small = DR_BUF_INIT(3);
    assert_int_equal(dr_backend_get(f->b, "snapshots/s1", 0, UINT64_MAX, &small), DR_ECORRUPT);
    assert_int_equal(small.len, 0);
    dr_buf_release(&small);
    dr_buf_release(&buf);
}

static void test_exclusive(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(dr_backend_put(f->b, "keys/k1", "one", 3, true), 0);
    assert_int_equal(dr_backend_put(f->b, "keys/k1", "two", 3, true), DR_EEXIST);
    assert_non_null(strstr(dr_error_msg(), "keys/k1"));
    struct dr_buf buf = DR_BUF_INIT(1024);
    assert_int_equal(dr_backend_get(f->b, "keys/k1", 0, UINT64_MAX, &buf), 0);
    assert_string_equal(buf.buf, "one");
    dr_buf_release(&buf);
    /* the failed exclusive put left no temporary file behind */
    char *dir = dr_xasprintf("%s/keys", f->root);
    char *cmd = dr_xasprintf("test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(dir);
}

static void test_hostile_names(void **state)
{
    struct fixture *f = *state;
    static const char *bad[] = {
        "",
        "/etc/passwd",
        "..",
        "../x",
        "data/../../x",
        "data/..",
        "a/./b",
        ".",
        "./config",
        "data//x",
        "data/",
        "/",
        "x..y",
        "data/" DR_FS_TMP_PREFIX "1-x",
        "a\nb",
        "a\tb",
    };
    struct dr_buf buf = DR_BUF_INIT(1024);
    uint64_t size;
    for (size_t i = 0; i < DR_ARRAY_LEN(bad); i++) {
        assert_int_equal(dr_backend_put(f->b, bad[i], "x", 1, false), DR_EUSAGE);
        assert_int_equal(dr_backend_get(f->b, bad[i], 0, 1, &buf), DR_EUSAGE);
        assert_int_equal(dr_backend_stat(f->b, bad[i], &size), DR_EUSAGE);
        assert_int_equal(dr_backend_delete(f->b, bad[i]), DR_EUSAGE);
    }
    assert_int_equal(dr_backend_put(f->b, NULL, "x", 1, false), DR_EUSAGE);
    char *longname = dr_xcalloc(1, 2000);
    memset(longname, 'a', 1999);
    assert_int_equal(dr_backend_put(f->b, longname, "x", 1, false), DR_EUSAGE);
    free(longname);
    /* nothing was written anywhere, not even the root */
    assert_false(dr_backend_exists(f->b));
    assert_int_equal(dr_backend_list(f->b, "../", NULL, NULL), DR_EUSAGE);
    assert_int_equal(dr_backend_list(f->b, "/", NULL, NULL), DR_EUSAGE);
    dr_buf_release(&buf);
}

struct listing {
    char names[16][128];
    uint64_t sizes[16];
    int n;
    int stop_after; /* 0: never */
};

static int list_cb(void *arg, const char *name, uint64_t size)
{
    struct listing *l = arg;
    if (l->n >= 16) {
        return DR_EINTERNAL;
    }
    snprintf(l->names[l->n], sizeof(l->names[l->n]), "%s", name);
    l->sizes[l->n] = size;
    l->n++;
    if (l->stop_after && l->n == l->stop_after) {
        return DR_EINTR;
    }
    return 0;
}

static uint64_t find(const struct listing *l, const char *name)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->names[i], name) == 0) {
            return l->sizes[i];
        }
    }
    return UINT64_MAX;
}

static bool listed(const struct listing *l, const char *name)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static void test_list(void **state)
{
    struct fixture *f = *state;
    struct listing l = {0};
    /* missing root, missing prefix: nothing, no error */
    assert_int_equal(dr_backend_list(f->b, "data", list_cb, &l), 0);
    assert_int_equal(l.n, 0);

    put_str(f->b, "config", "c");
    put_str(f->b, "data/ab/ab01", "12");
    put_str(f->b, "data/ab/ab02", "123");
    put_str(f->b, "data/cd/cd01", "1234");
    put_str(f->b, "tree/ef/ef01", "12345");
    char *tmp = dr_xasprintf("%s/data/ab/" DR_FS_TMP_PREFIX "1-ab03-XXXXXX", f->root);
    write_raw(tmp, "partial");
    free(tmp);

    assert_int_equal(dr_backend_list(f->b, "data", list_cb, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(find(&l, "data/ab/ab01"), 2);
    assert_int_equal(find(&l, "data/ab/ab02"), 3);
    assert_int_equal(find(&l, "data/cd/cd01"), 4);

    memset(&l, 0, sizeof(l));
    assert_int_equal(dr_backend_list(f->b, "data/ab/", list_cb, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(find(&l, "data/ab/ab01"), 2);

    memset(&l, 0, sizeof(l));
    assert_int_equal(dr_backend_list(f->b, "", list_cb, &l), 0);
    assert_int_equal(l.n, 5);
    assert_int_equal(find(&l, "config"), 1);
    assert_int_equal(find(&l, "tree/ef/ef01"), 5);

    memset(&l, 0, sizeof(l));
    assert_int_equal(dr_backend_list(f->b, "snapshots", list_cb, &l), 0);
    assert_int_equal(l.n, 0);
    /* a prefix that is a file lists nothing */
    assert_int_equal(dr_backend_list(f->b, "config", list_cb, &l), 0);
    assert_int_equal(l.n, 0);

    /* a negative return from the callback stops the listing and is returned */
    memset(&l, 0, sizeof(l));
    l.stop_after = 2;
    assert_int_equal(dr_backend_list(f->b, "data", list_cb, &l), DR_EINTR);
    assert_int_equal(l.n, 2);

    /* names only: the same objects (not the temporary file, nor what is neither a file nor a
     * directory), without the stat that gives sizes */
    char *fifo = dr_xasprintf("%s/data/cd/fifo", f->root);
    char *link = dr_xasprintf("%s/data/cd/link", f->root);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink("cd01", link), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(dr_backend_list_names(f->b, "data", list_cb, &l), 0);
    assert_int_equal(l.n, 3);
    assert_true(listed(&l, "data/ab/ab01"));
    assert_int_equal(find(&l, "data/ab/ab01"), DR_BACKEND_SIZE_UNKNOWN);
    assert_true(listed(&l, "data/ab/ab02"));
    assert_int_equal(find(&l, "data/ab/ab02"), DR_BACKEND_SIZE_UNKNOWN);
    assert_true(listed(&l, "data/cd/cd01"));
    assert_int_equal(find(&l, "data/cd/cd01"), DR_BACKEND_SIZE_UNKNOWN);
    memset(&l, 0, sizeof(l));
    assert_int_equal(dr_backend_list(f->b, "data", list_cb, &l), 0);
    assert_int_equal(l.n, 3); /* and the sized listing skips them alike */
    unlink(fifo);
    unlink(link);
    free(fifo);
    free(link);
}

static char *tmp_path(const struct fixture *f, const char *dir, long pid)
{
    return dr_xasprintf("%s/%s/" DR_FS_TMP_PREFIX "%ld-obj-abcdef", f->root, dir, pid);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_cleanup(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(dr_backend_cleanup(f->b), 0); /* no root yet */
    put_str(f->b, "data/ab/ab01", "keep");
    put_str(f->b, "config", "keep");

    /* a pid that certainly does not run: a child we started and reaped */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);

    char *dead = tmp_path(f, "data/ab", (long)child);
    char *live = tmp_path(f, "data/ab", (long)getpid());
    char *dead_root = tmp_path(f, ".", (long)child);
    char *old_live = tmp_path(f, "data", (long)getpid());
    write_raw(dead, "x");
    write_raw(live, "x");
    write_raw(dead_root, "x");
    write_raw(old_live, "x");
    /* two days old: removed even though its pid (ours) runs */
    struct timeval tv[2];
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= 2 * 24 * 3600;
    tv[1] = tv[0];
    assert_int_equal(utimes(old_live, tv), 0);

    assert_int_equal(dr_backend_cleanup(f->b), 3);
    assert_false(file_exists(dead));
    assert_false(file_exists(dead_root));
    assert_false(file_exists(old_live));
    assert_true(file_exists(live));
    uint64_t size;
    assert_int_equal(dr_backend_stat(f->b, "data/ab/ab01", &size), 0);
    assert_int_equal(dr_backend_stat(f->b, "config", &size), 0);
    assert_int_equal(dr_backend_cleanup(f->b), 0);
    free(dead);
    free(live);
    free(dead_root);
    free(old_live);
}

static void test_file_in_the_way(void **state)
{
    struct fixture *f = *state;
    put_str(f->b, "config", "c");
    /* "config" is a file, so "config/x" cannot be created: DR_EIO naming the object */
    assert_int_equal(dr_backend_put(f->b, "config/x", "x", 1, false), DR_EIO);
    assert_non_null(strstr(dr_error_msg(), "config/x"));
}

static void test_enospc(void **state)
{
    struct fixture *f = *state;
#ifdef DR_FAULTS
    /* the fault point inside dr_fs_write_atomic stands in for a full disk */
    assert_int_equal(setenv("DR_FAULT", "fs.before_fsync:enospc", 1), 0);
    int rc = dr_backend_put(f->b, "data/ab/ab01", "x", 1, false);
    assert_int_equal(unsetenv("DR_FAULT"), 0);
    assert_int_equal(rc, DR_ENOSPC);
    assert_non_null(strstr(dr_error_msg(), "data/ab/ab01"));
    uint64_t size;
    assert_int_equal(dr_backend_stat(f->b, "data/ab/ab01", &size), DR_ENOENT);
    struct listing l = {0};
    assert_int_equal(dr_backend_list(f->b, "", list_cb, &l), 0);
    assert_int_equal(l.n, 0);
    /* and no temporary file was left behind */
    char *cmd = dr_xasprintf("test -z \"$(find '%s' -type f)\"", f->root);
    assert_int_equal(system(cmd), 0);
    free(cmd);
#else
    (void)f;
    skip();
#endif
}

static void test_io_errors(void **state)
{
    struct fixture *f = *state;
    if (geteuid() == 0) {
        skip(); /* root ignores permissions */
    }
    put_str(f->b, "data/ab/ab01", "x");
    char *dir = dr_xasprintf("%s/data", f->root);
    assert_int_equal(chmod(dir, 0500), 0);
    /* a directory we cannot write into: DR_EIO naming the object, not a crash or ENOENT */
    int rc = dr_backend_put(f->b, "data/cd/cd01", "x", 1, false);
    assert_int_equal(rc, DR_EIO);
    assert_non_null(strstr(dr_error_msg(), "data/cd/cd01"));
    assert_int_equal(chmod(dir, 0700), 0);
    free(dir);
}

#define RACERS 8

struct racer {
    struct dr_backend *b;
    int idx;
    int excl_rc;
    int put_rc;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char name[64];
    char data[32];
    snprintf(data, sizeof(data), "racer %d", r->idx);
    /* everyone creates the same new directories at once, and races for one exclusive name */
    snprintf(name, sizeof(name), "data/%02x/obj-%d", 0x5a, r->idx);
    r->put_rc = dr_backend_put(r->b, name, data, strlen(data), false);
    r->excl_rc = dr_backend_put(r->b, "locks/the-one", data, strlen(data), true);
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    pthread_t th[RACERS];
    struct racer r[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (struct racer){.b = f->b, .idx = i};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    int winners = 0;
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].put_rc, 0);
        if (r[i].excl_rc == 0) {
            winners++;
        } else {
            assert_int_equal(r[i].excl_rc, DR_EEXIST);
        }
    }
    assert_int_equal(winners, 1);
    struct listing l = {0};
    assert_int_equal(dr_backend_list(f->b, "", list_cb, &l), 0);
    assert_int_equal(l.n, RACERS + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_locations),
        cmocka_unit_test_setup_teardown(test_file_url_same_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_in_the_way, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
