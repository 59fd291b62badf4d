/* test_pattern.c: the one glob rule (src/common/pattern.c) that snapshot --exclude and restore
 * --include share: a pattern without '/' matches the last component, one with '/' the whole
 * path, where '*' does not cross '/'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "drrepo/pattern.h"

static void test_base_name(void **state)
{
    (void)state;
    assert_true(dr_pattern_match("*.log", "/var/log/syslog.log"));
    assert_true(dr_pattern_match("*.log", "a.log"));
    assert_true(dr_pattern_match("cache", "/home/u/cache"));
    assert_false(dr_pattern_match("cache", "/home/cache/x"));
    assert_false(dr_pattern_match("*.log", "/var/log.d/x"));
    /* a leading dot is not special */
    assert_true(dr_pattern_match("*rc", "/home/u/.bashrc"));
    assert_true(dr_pattern_match("?.c", "/src/a.c"));
    assert_true(dr_pattern_match("[ab].c", "/src/b.c"));
    assert_false(dr_pattern_match("[ab].c", "/src/c.c"));
}

static void test_whole_path(void **state)
{
    (void)state;
    assert_true(dr_pattern_match("/home/*/cache", "/home/u/cache"));
    assert_false(dr_pattern_match("/home/*/cache", "/home/u/v/cache"));
    assert_false(dr_pattern_match("/home/*", "/home/u/cache"));
    assert_true(dr_pattern_match("/home/u", "/home/u"));
    assert_false(dr_pattern_match("/home/u", "/home/u/x"));
    /* anchored: a pattern with '/' is not matched against a suffix */
    assert_false(dr_pattern_match("u/cache", "/home/u/cache"));
    assert_true(dr_pattern_match("etc/*.conf", "etc/a.conf"));
}

static void test_any(void **state)
{
    (void)state;
    char *pats[] = {"*.tmp", "/srv/*/drop"};
    assert_true(dr_pattern_match_any(pats, 2, "/a/b.tmp"));
    assert_true(dr_pattern_match_any(pats, 2, "/srv/x/drop"));
    assert_false(dr_pattern_match_any(pats, 2, "/srv/x/keep"));
    assert_false(dr_pattern_match_any(pats, 0, "/a/b.tmp"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_name),
        cmocka_unit_test(test_whole_path),
        cmocka_unit_test(test_any),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
