/* test_guard.c: the damage guard's address range (src/index/guard.c).
 *
 * Covers: with an index open, a fault at the last page of its map (past the data file's end:
 * SIGBUS) is index damage (the damage handler runs, the marker is written), and a NULL
 * dereference outside LMDB is not (no damage handler, no marker: the fault goes on to the
 * handler installed before the guard's, here the test's own). The guard once registered [0, map
 * size) instead of the map, since mdb_env_info gives no map address without MDB_FIXEDMAP, which
 * made any NULL dereference in a process with an open index look like index damage.
 *
 * A binary of its own: the guard installs its handlers once per process, on top of the ones in
 * place, and cmocka puts back its own around each test; the test installs its own handler and
 * then opens the index, so that the guard's handlers are in place while it runs, over the
 * test's (not cmocka's, whose report in a child would read as a failure in the log). Each fault
 * happens in a child. */
#include "drrepo/index.h"

#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void exit_99(const char *dir, const char *what)
{
    (void)dir;
    (void)what;
    _exit(99);
}

/* The handler in place before the guard's: a fault the guard passes on ends here. */
static void exit_77(int sig)
{
    (void)sig;
    _exit(77);
}

/* The last page of this process's map of dir's data file, or NULL. */
static volatile char *map_end(const char *dir)
{
    char want[600], line[4352];
    snprintf(want, sizeof(want), "%s/data.mdb", dir);
    char *real = realpath(want, NULL);
    FILE *maps = fopen("/proc/self/maps", "r");
    volatile char *p = NULL;
    while (real && maps && fgets(line, sizeof(line), maps)) {
        unsigned long lo, hi;
        line[strcspn(line, "\n")] = '\0';
        char *path = strchr(line, '/');
        if (path && strcmp(path, real) == 0 && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
            p = (volatile char *)(uintptr_t)(hi - 4096);
        }
    }
    if (maps) {
        fclose(maps);
    }
    free(real);
    return p;
}

static void test_guard_range(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/dr-guard-XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = exit_77;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGSEGV, &sa, NULL), 0);
    assert_int_equal(sigaction(SIGBUS, &sa, NULL), 0);
    struct dr_index *idx = NULL;
    assert_int_equal(dr_index_open(dir, &idx), 0);
    char marker[512];
    snprintf(marker, sizeof(marker), "%s/%s", dir, DR_INDEX_DAMAGED_MARKER);
    volatile char *end = map_end(dir);
    assert_non_null(end);
    for (int inside = 0; inside < 2; inside++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            dr_index_guard_set_handler(exit_99);
            volatile char *p = inside ? end : (volatile char *)(uintptr_t)64;
            *p = 1;
            _exit(3);
        }
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        struct stat sb;
        if (inside) {
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 99);
            assert_int_equal(stat(marker, &sb), 0);
        } else {
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 77); /* passed on, not damage */
            assert_int_not_equal(stat(marker, &sb), 0);
        }
    }
    dr_index_close(idx);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guard_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
