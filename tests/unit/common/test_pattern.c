/* test_pattern.c: the one glob rule (src/common/pattern.c) that snapshot --exclude and restore
 * --include share. Covers: a pattern without '/' against the last component; anchored ('/...')
 * against the whole path and unanchored against the last components at any depth; '*' and '?'
 * not crossing '/'; "[a-c]", "[!a]", an unclosed '[' and '\' escapes; "**" at the start, in the
 * middle and at the end, matching zero or more components; case folding (DR_PATTERN_ICASE);
 * and dr_pattern_may_match_below, which tells a walker which directories lead to an include. */
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
        /* unanchored: matched against the last components at any depth */
        {"u/cache", "/home/u/cache", true},
        {"u/cache", "/home/xu/cache", false},
        {"u/cache", "/home/u/cache/x", false},
        {"etc/*.conf", "etc/a.conf", true},
        {"etc/*.conf", "/etc/a.conf", true},
        /* anchored: only from the root */
        {"/u/cache", "/home/u/cache", false},
        {"/home/u/", "/home/u", true},
        {"//home//u", "/home/u", true},
    };
    check_cases(cases, DR_ARRAY_LEN(cases));
}

static void test_globstar(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        /* at the start */
        {"**/out", "/srv/a/b/out", true},
        {"**/out", "/out", true},
        {"/**/out", "/out", true},
        {"/**/out", "/srv/a/out", true},
        {"/**/out", "/srv/a/out/x", false},
        /* in the middle: zero or more components */
        {"/srv/**/out", "/srv/out", true},
        {"/srv/**/out", "/srv/a/out", true},
        {"/srv/**/out", "/srv/a/b/c/out", true},
        {"/srv/**/out", "/srv/a/b/c/outx", false},
        {"/srv/**/out", "/home/srv/a/out", false},
        {"/srv/**/a/**/out", "/srv/x/a/y/z/out", true},
        {"/srv/**/a/**/out", "/srv/x/b/y/z/out", false},
        /* at the end: everything below, and the directory itself */
        {"/srv/**", "/srv/a/b", true},
        {"/srv/**", "/srv", true},
        {"/srv/**", "/srvx/a", false},
        {"**", "/any/thing", true},
        /* "**" inside a component is a plain '*' */
        {"/srv/a**b", "/srv/axxb", true},
        {"/srv/a**b", "/srv/ax/xb", false},
        {"/srv/**/*.log", "/srv/a/b/c.log", true},
        {"/srv/**/*.log", "/srv/c.log", true},
    };
    check_cases(cases, DR_ARRAY_LEN(cases));
}

static void test_component_glob(void **state)
{
    (void)state;
    static const struct match_case cases[] = {
        {"/srv/*/out", "/srv/x/out", true},
        {"/srv/*/out", "/srv/x/y/out", false},
        {"/srv/?/out", "/srv/x/out", true},
        {"/srv/?/out", "/srv/xy/out", false},
        {"/srv/[a-c]/out", "/srv/b/out", true},
        {"/srv/[a-c]/out", "/srv/d/out", false},
        {"/srv/[!a-c]/out", "/srv/d/out", true},
        {"/srv/[^a-c]/out", "/srv/a/out", false},
        {"[]]x", "]x", true},
        {"a[b", "/a[b", true},
        {"a\\*", "/a*", true},
        {"a\\*", "/ab", false},
        {"*a*b*", "/xaxxbx", true},
        {"*a*b", "/xaxxbx", false},
        {"", "/a", false},
        {"/", "/a", false},
    };
    check_cases(cases, DR_ARRAY_LEN(cases));
    assert_true(dr_pattern_match_flags("*.JPG", "/p/a.jpg", DR_PATTERN_ICASE));
    assert_true(dr_pattern_match_flags("/P/[A-C].txt", "/p/b.TXT", DR_PATTERN_ICASE));
    assert_false(dr_pattern_match_flags("*.JPG", "/p/a.jpg", 0));
}

static void test_may_match_below(void **state)
{
    (void)state;
    /* an include /srv/ * /out must let the walker enter /srv and /srv/x, and nothing else */
    assert_true(dr_pattern_may_match_below("/srv/*/out", "/"));
    assert_true(dr_pattern_may_match_below("/srv/*/out", "/srv"));
    assert_true(dr_pattern_may_match_below("/srv/*/out", "/srv/x"));
    assert_false(dr_pattern_may_match_below("/srv/*/out", "/srv/x/out"));
    assert_false(dr_pattern_may_match_below("/srv/*/out", "/srv/x/y"));
    assert_false(dr_pattern_may_match_below("/srv/*/out", "/home"));
    assert_true(dr_pattern_may_match_below("/srv/**/out", "/srv/a/b/c"));
    assert_false(dr_pattern_may_match_below("/srv/**/out", "/home/a"));
    assert_true(dr_pattern_may_match_below("/srv/[a-c]/x", "/srv/b"));
    assert_false(dr_pattern_may_match_below("/srv/[a-c]/x", "/srv/d"));
    /* unanchored patterns can match at any depth */
    assert_true(dr_pattern_may_match_below("out", "/home/u"));
    assert_true(dr_pattern_may_match_below("a/out", "/home/u"));
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
        cmocka_unit_test(test_base_name),       cmocka_unit_test(test_whole_path),
        cmocka_unit_test(test_globstar),        cmocka_unit_test(test_component_glob),
        cmocka_unit_test(test_may_match_below), cmocka_unit_test(test_any),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
