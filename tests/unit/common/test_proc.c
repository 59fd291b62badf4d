/* test_proc.c: child processes (src/common/proc.c).
 *
 * Covers: dr_proc_spawn with a log (stdout and stderr), a working directory, PATH search and
 * its failure (exec_errno, exit status 127, reaped); dr_proc_poll and dr_proc_wait;
 * dr_proc_stop of a process that ignores the first signal (the grace ends, SIGKILL follows) and
 * of one in its own group; dr_proc_describe; dr_proc_log_tail (last lines, marked lines, empty
 * and missing files). */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/proc.h"

static char dir[] = "/tmp/drrepo-test-proc.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_spawn_log(void **state)
{
    (void)state;
    char log[512];
    snprintf(log, sizeof(log), "%s/a.log", dir);
    char *argv[] = {"sh", "-c", "pwd; echo one; echo >&2 FATAL: two; echo three; exit 3", NULL};
    struct dr_proc_spec spec = {
        .file = "sh", .argv = argv, .search_path = true, .log = log, .dir = "/"};
    struct dr_proc p;
    assert_int_equal(dr_proc_spawn(&spec, &p), 0);
    assert_int_equal(p.exec_errno, 0);
    int status = dr_proc_wait(&p);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    assert_int_equal(dr_proc_poll(&p), 1);
    char how[96];
    dr_proc_describe(status, how, sizeof(how));
    assert_string_equal(how, "exited with status 3");

    char *t = dr_proc_log_tail(log, 2, NULL);
    assert_string_equal(t, "FATAL: two / three");
    free(t);
    t = dr_proc_log_tail(log, 9, NULL);
    assert_string_equal(t, "/ / one / FATAL: two / three");
    free(t);
    static const char *const marks[] = {"FATAL", "PANIC", NULL};
    t = dr_proc_log_tail(log, 3, marks);
    assert_string_equal(t, "FATAL: two");
    free(t);
}

static void test_tail_edges(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/none.log", dir);
    assert_null(dr_proc_log_tail(path, 2, NULL));
    snprintf(path, sizeof(path), "%s/empty.log", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("\n\n", f);
    fclose(f);
    char *t = dr_proc_log_tail(path, 2, NULL);
    assert_string_equal(t, "");
    free(t);
}

static void test_exec_fails(void **state)
{
    (void)state;
    char *argv[] = {"drrepo-no-such-program", NULL};
    struct dr_proc_spec spec = {.file = argv[0], .argv = argv, .search_path = true};
    struct dr_proc p;
    assert_int_equal(dr_proc_spawn(&spec, &p), 0);
    assert_int_equal(p.exec_errno, ENOENT);
    assert_int_equal(dr_proc_poll(&p), 1);
    assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 127);
    static const int sigs[] = {SIGKILL};
    assert_int_equal(dr_proc_stop(&p, sigs, 1, 1000000000LL), p.status);
}

static void test_stop(void **state)
{
    (void)state;
    /* ignores SIGTERM: the grace runs out and SIGKILL ends it */
    char *argv[] = {"sh", "-c", "trap '' TERM; while :; do sleep 1; done", NULL};
    struct dr_proc_spec spec = {.file = "/bin/sh", .argv = argv, .own_group = true};
    struct dr_proc p;
    assert_int_equal(dr_proc_spawn(&spec, &p), 0);
    assert_int_equal(dr_proc_poll(&p), 0);
    usleep(100000); /* let the shell set its trap */
    static const int sigs[] = {SIGTERM, SIGKILL};
    int status = dr_proc_stop(&p, sigs, 2, 300000000LL);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_true(p.pid < 0);
    char how[96];
    dr_proc_describe(status, how, sizeof(how));
    assert_non_null(strstr(how, "was killed by signal 9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_log),
        cmocka_unit_test(test_tail_edges),
        cmocka_unit_test(test_exec_fails),
        cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
