/* test_pattern.c: the one glob rule (src/common/pattern.c) that snapshot --exclude and restore
 * --include share: a pattern without '/' matches the last component, one with '/' the whole
 * path, where '*' does not cross '/'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "drrepo/common.h"
#include "drrepo/pattern.h"

struct match_case {
    const char *pattern, *path;
    bool match;
};

static void check_cases(const struct match_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (dr_pattern_match(c[i].pattern, c[i].path) != c[i].match) {
            fail_msg("'%s' against '%s': want %s", c[i].pattern, c[i].path,
                     c[i].match ? "a match" : "no match");
        }
    }
}

static void test_base_name(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        {"*.log", "/var/log/syslog.log", true},
        {"*.log", "a.log", true},
        {"cache", "/home/u/cache", true},
        {"cache", "/home/cache/x", false},
        {"*.log", "/var/log.d/x", false},
        /* a leading dot is not special */
        {"*rc", "/home/u/.bashrc", true},
        {"?.c", "/src/a.c", true},
        {"[ab].c", "/src/b.c", true},
        {"[ab].c", "/src/c.c", false},
    };
    check_cases(cases, DR_ARRAY_LEN(cases));
}

static void test_whole_path(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        {"/home/*/cache", "/home/u/cache", true},
        {"/home/*/cache", "/home/u/v/cache", false},
        {"/home/*", "/home/u/cache", false},
        {"/home/u", "/home/u", true},
        {"/home/u", "/home/u/x", false},
        /* anchored: a pattern with '/' is not matched against a suffix */
        {"u/cache", "/home/u/cache", false},
        {"etc/*.conf", "etc/a.conf", true},
    };
    check_cases(cases, DR_ARRAY_LEN(cases));
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
