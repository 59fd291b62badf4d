/* test_retention.c: keep policies (src/prune/retention.c).
 *
 * Every test builds snapshots at synthetic times (TZ=UTC unless a test says otherwise), applies a
 * policy with dr_keep_apply and compares the exact kept set, and the reasons, with the rules of
 * docs/RETENTION.md (restic's): within a group, newest first; keep-last N keeps the N newest;
 * keep-hourly/daily/weekly/monthly/yearly N keep the newest snapshot of each of the N newest
 * periods that have snapshots (weeks are ISO 8601 weeks); keep-within D keeps what is within D
 * of the group's newest (exactly D older is kept); keep-tag keeps tagged snapshots; a snapshot
 * is kept if any rule keeps it; groups are host+paths by default.
 *
 * Covers: several snapshots per day and gaps of days; Feb 28/29 -> Mar 1 (leap and common
 * year); Dec 31 -> Jan 1 for months and years; ISO week 53 of 2020 spanning the new year and
 * Dec 31 2018 belonging to week 1 of 2019; hours across midnight; keep-last beyond the count and
 * ties; keep-within boundaries (relative to each group's newest, not to now); keep-tag; the
 * union of rules with their reason bits; two hosts with independent groups; group-by tags,
 * paths (as sets), host only and nothing; input order does not matter; a time zone other than
 * UTC moves day boundaries; times before 1970; dr_keep_policy_empty; dr_keep_reasons; and a
 * randomised comparison against an independent model built on strftime bucket names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "drrepo/retention.h"

#define NS 1000000000LL
#define MAXSNAP 512

static void use_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static int setup(void **state)
{
    (void)state;
    use_tz("UTC");
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS" in the current TZ to nanoseconds since the epoch */
static int64_t at(const char *s)
{
    struct tm tm = {0};
    int n = sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    assert_int_equal(n, 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return (int64_t)t * NS;
}

static char *path_data[] = {"/data"};
static char *path_etc[] = {"/etc"};
static char *paths_ab[] = {"/a", "/b"};
static char *paths_ba[] = {"/b", "/a"};
static char *tag_keep[] = {"keep"};
static char *tag_daily[] = {"daily"};
static char *tags_xy[] = {"x", "y"};
static char *tags_yx[] = {"y", "x"};

struct snaps {
    struct dr_keep_input in[MAXSNAP];
    struct dr_keep_result out[MAXSNAP];
    size_t n;
};

static size_t add_full(struct snaps *s, const char *when, const char *host, char **tags,
                       size_t ntags, char **paths, size_t npaths)
{
    assert_true(s->n < MAXSNAP);
    s->in[s->n] = (struct dr_keep_input){
        .time_ns = at(when),
        .host = host,
        .tags = tags,
        .ntags = ntags,
        .paths = paths,
        .npaths = npaths,
    };
    return s->n++;
}

/* a snapshot of host "h", path /data, no tags */
static size_t add(struct snaps *s, const char *when)
{
    return add_full(s, when, "h", NULL, 0, path_data, 1);
}

static void run(struct snaps *s, const struct dr_keep_policy *p, unsigned group_by)
{
    for (size_t i = 0; i < s->n; i++) {
        s->out[i] = (struct dr_keep_result){.reasons = 0xdead, .group = 999};
    }
    dr_keep_apply(p, group_by, s->in, s->n, s->out);
}

#define BY_DEFAULT (DR_GROUP_HOST | DR_GROUP_PATHS)

/* The kept set must be exactly `kept` (n indexes), every kept snapshot with the given reasons
 * (reasons[i] for kept[i]) and every other one with reasons 0. */
static void expect_kept(const struct snaps *s, const size_t *kept, const unsigned *reasons,
                        size_t nkept)
{
    for (size_t i = 0; i < s->n; i++) {
        unsigned want = 0;
        for (size_t k = 0; k < nkept; k++) {
            if (kept[k] == i) {
                want = reasons[k];
            }
        }
        if (s->out[i].reasons != want) {
            print_error("snapshot %zu: reasons 0x%x, expected 0x%x\n", i, s->out[i].reasons, want);
        }
        assert_int_equal(s->out[i].reasons, want);
    }
}

#define KEPT(...) ((const size_t[]){__VA_ARGS__})
#define WHY(...) ((const unsigned[]){__VA_ARGS__})
#define EXPECT(s, kept, why) expect_kept(s, kept, why, sizeof(kept) / sizeof(size_t))

/* ---- keep-last ------------------------------------------------------------------------------ */

static void test_last(void **state)
{
    (void)state;
    struct snaps s = {0};
    /* given out of time order on purpose */
    size_t c = add(&s, "2021-03-03 10:00:00");
    size_t a = add(&s, "2021-03-01 10:00:00");
    size_t e = add(&s, "2021-03-05 10:00:00");
    size_t b = add(&s, "2021-03-02 10:00:00");
    size_t d = add(&s, "2021-03-04 10:00:00");
    (void)a;
    (void)b;
    struct dr_keep_policy p = {.last = 3};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(c, d, e), WHY(DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST));
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(s.out[i].group, 0);
    }

    p.last = 1;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(e), WHY(DR_KEEP_LAST));

    /* more than there are: all kept */
    p.last = 50;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(0, 1, 2, 3, 4),
           WHY(DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST));
}

static void test_last_ties(void **state)
{
    (void)state;
    /* two snapshots with the same time: keep-last 1 keeps exactly one of them (the first given) */
    struct snaps s = {0};
    add(&s, "2021-03-01 10:00:00");
    add(&s, "2021-03-05 10:00:00");
    add(&s, "2021-03-05 10:00:00");
    struct dr_keep_policy p = {.last = 1};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(1), WHY(DR_KEEP_LAST));
    p.last = 2;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(1, 2), WHY(DR_KEEP_LAST, DR_KEEP_LAST));
}

static void test_empty_input(void **state)
{
    (void)state;
    struct dr_keep_policy p = {.last = 3, .daily = 2};
    struct dr_keep_result r;
    dr_keep_apply(&p, BY_DEFAULT, NULL, 0, &r); /* nothing to do, nothing written */
    struct snaps s = {0};
    add(&s, "2021-03-01 10:00:00");
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(0), WHY(DR_KEEP_LAST | DR_KEEP_DAILY));
}

/* ---- keep-daily ----------------------------------------------------------------------------- */

static void test_daily_several_per_day_and_gaps(void **state)
{
    (void)state;
    struct snaps s = {0};
    size_t s0 = add(&s, "2021-02-26 10:00:00");
    size_t s1 = add(&s, "2021-02-26 22:00:00");
    size_t s2 = add(&s, "2021-02-28 08:00:00");
    size_t s3 = add(&s, "2021-02-28 23:59:59");
    size_t s4 = add(&s, "2021-03-01 00:00:00");
    size_t s5 = add(&s, "2021-03-01 12:00:00");
    /* Mar 2 and Mar 3 have no snapshot: a gap is not a day */
    size_t s6 = add(&s, "2021-03-04 09:00:00");
    size_t s7 = add(&s, "2021-03-04 09:30:00");
    (void)s0;
    (void)s2;
    (void)s4;
    (void)s6;
    struct dr_keep_policy p = {.daily = 3};
    run(&s, &p, BY_DEFAULT);
    /* the 3 newest days with snapshots: Mar 4, Mar 1, Feb 28 (Feb 2021 has no 29th) */
    EXPECT(&s, KEPT(s3, s5, s7), WHY(DR_KEEP_DAILY, DR_KEEP_DAILY, DR_KEEP_DAILY));

    p.daily = 1;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(s7), WHY(DR_KEEP_DAILY));

    /* more days asked than exist: the newest of each of the 4 days */
    p.daily = 10;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(s1, s3, s5, s7),
           WHY(DR_KEEP_DAILY, DR_KEEP_DAILY, DR_KEEP_DAILY, DR_KEEP_DAILY));
}

static void test_daily_leap_year(void **state)
{
    (void)state;
    struct snaps s = {0};
    size_t a = add(&s, "2020-02-28 12:00:00");
    size_t b = add(&s, "2020-02-29 12:00:00");
    size_t c = add(&s, "2020-02-29 23:59:59");
    size_t d = add(&s, "2020-03-01 00:00:00");
    size_t e = add(&s, "2020-03-01 18:00:00");
    (void)b;
    (void)d;
    struct dr_keep_policy p = {.daily = 2};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(c, e), WHY(DR_KEEP_DAILY, DR_KEEP_DAILY));
    p.daily = 3;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(a, c, e), WHY(DR_KEEP_DAILY, DR_KEEP_DAILY, DR_KEEP_DAILY));
}

static void test_daily_year_boundary(void **state)
{
    (void)state;
    struct snaps s = {0};
    size_t a = add(&s, "2020-12-30 23:00:00");
    size_t b = add(&s, "2020-12-31 00:00:00");
    size_t c = add(&s, "2020-12-31 23:59:59");
    size_t d = add(&s, "2021-01-01 00:00:00");
    size_t e = add(&s, "2021-01-01 00:00:01");
    /* Dec 31 2020 is day 366 of a leap year; Dec 31 2021 (day 365) and Jan 1 2022 are next */
    size_t f = add(&s, "2021-12-31 12:00:00");
    size_t g = add(&s, "2022-01-01 12:00:00");
    (void)b;
    (void)d;
    struct dr_keep_policy p = {.daily = 5};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(a, c, e, f, g),
           WHY(DR_KEEP_DAILY, DR_KEEP_DAILY, DR_KEEP_DAILY, DR_KEEP_DAILY, DR_KEEP_DAILY));
    p.daily = 3;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(e, f, g), WHY(DR_KEEP_DAILY, DR_KEEP_DAILY, DR_KEEP_DAILY));
}

/* ---- keep-hourly ---------------------------------------------------------------------------- */

static void test_hourly(void **state)
{
    (void)state;
    struct snaps s = {0};
    size_t a = add(&s, "2021-02-28 10:05:00");
    size_t b = add(&s, "2021-02-28 10:55:00");
    size_t c = add(&s, "2021-02-28 23:10:00");
    size_t d = add(&s, "2021-02-28 23:59:59");
    size_t e = add(&s, "2021-03-01 00:00:00");
    size_t f = add(&s, "2021-03-01 00:30:00");
    /* the same hour of the next day is another hour */
    size_t g = add(&s, "2021-03-02 00:15:00");
    (void)a;
    (void)c;
    (void)e;
    struct dr_keep_policy p = {.hourly = 3};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(d, f, g), WHY(DR_KEEP_HOURLY, DR_KEEP_HOURLY, DR_KEEP_HOURLY));
    p.hourly = 4;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(b, d, f, g),
           WHY(DR_KEEP_HOURLY, DR_KEEP_HOURLY, DR_KEEP_HOURLY, DR_KEEP_HOURLY));
}

/* ---- keep-weekly (ISO 8601 weeks) ----------------------------------------------------------- */

static void test_weekly_iso_week_53(void **state)
{
    (void)state;
    /* ISO week 53 of 2020 runs from Mon Dec 28 2020 to Sun Jan 3 2021 */
    struct snaps s = {0};
    size_t a = add(&s, "2020-12-26 12:00:00"); /* Sat, 2020-W52 */
    size_t b = add(&s, "2020-12-27 12:00:00"); /* Sun, 2020-W52 */
    size_t c = add(&s, "2020-12-28 00:00:00"); /* Mon, 2020-W53 */
    size_t d = add(&s, "2020-12-31 23:00:00"); /* Thu, 2020-W53 */
    size_t e = add(&s, "2021-01-01 01:00:00"); /* Fri, 2020-W53 */
    size_t f = add(&s, "2021-01-03 23:59:59"); /* Sun, 2020-W53 */
    size_t g = add(&s, "2021-01-04 00:00:00"); /* Mon, 2021-W01 */
    size_t h = add(&s, "2021-01-10 12:00:00"); /* Sun, 2021-W01 */
    (void)a;
    (void)c;
    (void)e;
    (void)g;
    struct dr_keep_policy p = {.weekly = 3};
    run(&s, &p, BY_DEFAULT);
    /* one snapshot for week 53 although it spans two calendar years */
    EXPECT(&s, KEPT(b, f, h), WHY(DR_KEEP_WEEKLY, DR_KEEP_WEEKLY, DR_KEEP_WEEKLY));

    p.weekly = 2;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(f, h), WHY(DR_KEEP_WEEKLY, DR_KEEP_WEEKLY));

    /* yearly uses calendar years: the newest of 2020 is Dec 31 */
    p = (struct dr_keep_policy){.weekly = 2, .yearly = 2};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(d, f, h), WHY(DR_KEEP_YEARLY, DR_KEEP_WEEKLY, DR_KEEP_WEEKLY | DR_KEEP_YEARLY));
}

static void test_weekly_dec31_in_week1(void **state)
{
    (void)state;
    /* Mon Dec 31 2018 is in ISO week 1 of 2019 */
    struct snaps s = {0};
    size_t a = add(&s, "2018-12-29 12:00:00"); /* Sat, 2018-W52 */
    size_t b = add(&s, "2018-12-30 12:00:00"); /* Sun, 2018-W52 */
    size_t c = add(&s, "2018-12-31 12:00:00"); /* Mon, 2019-W01 */
    size_t d = add(&s, "2019-01-06 12:00:00"); /* Sun, 2019-W01 */
    size_t e = add(&s, "2019-01-07 12:00:00"); /* Mon, 2019-W02 */
    (void)a;
    (void)c;
    struct dr_keep_policy p = {.weekly = 3};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(b, d, e), WHY(DR_KEEP_WEEKLY, DR_KEEP_WEEKLY, DR_KEEP_WEEKLY));
    p.weekly = 2;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(d, e), WHY(DR_KEEP_WEEKLY, DR_KEEP_WEEKLY));
}

/* ---- keep-monthly and keep-yearly ----------------------------------------------------------- */

static void test_monthly_yearly(void **state)
{
    (void)state;
    struct snaps s = {0};
    size_t a = add(&s, "2019-06-15 12:00:00");
    size_t b = add(&s, "2020-11-15 12:00:00");
    size_t c = add(&s, "2020-12-01 00:00:00");
    size_t d = add(&s, "2020-12-31 23:00:00");
    size_t e = add(&s, "2021-01-01 00:00:00");
    size_t f = add(&s, "2021-01-31 23:59:59");
    size_t g = add(&s, "2021-02-01 00:00:00");
    /* Feb 2020 (leap): the 29th is in February, Mar 1 is in March */
    size_t h = add(&s, "2020-02-29 12:00:00");
    size_t i = add(&s, "2020-03-01 00:00:00");
    (void)c;
    (void)e;

    struct dr_keep_policy p = {.monthly = 3};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(d, f, g), WHY(DR_KEEP_MONTHLY, DR_KEEP_MONTHLY, DR_KEEP_MONTHLY));

    p.monthly = 6;
    run(&s, &p, BY_DEFAULT);
    /* Feb 2021, Jan 2021, Dec 2020, Nov 2020, Mar 2020, Feb 2020 */
    EXPECT(&s, KEPT(b, d, f, g, h, i),
           WHY(DR_KEEP_MONTHLY, DR_KEEP_MONTHLY, DR_KEEP_MONTHLY, DR_KEEP_MONTHLY, DR_KEEP_MONTHLY,
               DR_KEEP_MONTHLY));

    p = (struct dr_keep_policy){.yearly = 2};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(d, g), WHY(DR_KEEP_YEARLY, DR_KEEP_YEARLY));
    p.yearly = 10;
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(a, d, g), WHY(DR_KEEP_YEARLY, DR_KEEP_YEARLY, DR_KEEP_YEARLY));
}

/* ---- keep-within ---------------------------------------------------------------------------- */

static void test_within_boundary(void **state)
{
    (void)state;
    struct snaps s = {0};
    size_t newest = add(&s, "2021-03-10 12:00:00");
    size_t exact = add(&s, "2021-03-03 12:00:00"); /* exactly 7 days older: kept */
    size_t older = add(&s, "2021-03-03 11:59:59");
    size_t inside = add(&s, "2021-03-03 12:00:01");
    /* one nanosecond further than D is out */
    s.in[s.n] = s.in[exact];
    s.in[s.n].time_ns -= 1;
    size_t ns_out = s.n++;
    (void)older;
    (void)ns_out;
    struct dr_keep_policy p = {.within_ns = 7 * 86400 * NS};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(newest, exact, inside), WHY(DR_KEEP_WITHIN, DR_KEEP_WITHIN, DR_KEEP_WITHIN));
}

static void test_within_relative_to_group_newest(void **state)
{
    (void)state;
    /* host b stopped backing up long ago: keep-within measures from b's own newest snapshot */
    struct snaps s = {0};
    size_t a1 = add_full(&s, "2021-03-10 12:00:00", "a", NULL, 0, path_data, 1);
    size_t a2 = add_full(&s, "2021-03-09 13:00:00", "a", NULL, 0, path_data, 1);
    size_t a3 = add_full(&s, "2021-03-09 11:00:00", "a", NULL, 0, path_data, 1);
    size_t b1 = add_full(&s, "2019-05-01 12:00:00", "b", NULL, 0, path_data, 1);
    size_t b2 = add_full(&s, "2019-04-30 12:00:00", "b", NULL, 0, path_data, 1);
    size_t b3 = add_full(&s, "2019-04-29 12:00:00", "b", NULL, 0, path_data, 1);
    (void)a3;
    (void)b3;
    struct dr_keep_policy p = {.within_ns = 86400 * NS};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(a1, a2, b1, b2),
           WHY(DR_KEEP_WITHIN, DR_KEEP_WITHIN, DR_KEEP_WITHIN, DR_KEEP_WITHIN));
    assert_int_equal(s.out[a1].group, 0);
    assert_int_equal(s.out[b1].group, 1);
}

/* ---- keep-tag ------------------------------------------------------------------------------- */

static void test_tag(void **state)
{
    (void)state;
    struct snaps s = {0};
    char *keeper[] = {"keeper"}; /* longer than "keep": not a match */
    char *two[] = {"other", "keep"};
    size_t a = add_full(&s, "2021-01-01 00:00:00", "h", tag_keep, 1, path_data, 1);
    size_t b = add_full(&s, "2021-01-02 00:00:00", "h", keeper, 1, path_data, 1);
    size_t c = add_full(&s, "2021-01-03 00:00:00", "h", two, 2, path_data, 1);
    size_t d = add_full(&s, "2021-01-04 00:00:00", "h", tag_daily, 1, path_data, 1);
    size_t e = add_full(&s, "2021-01-05 00:00:00", "h", NULL, 0, path_data, 1);
    (void)b;
    (void)e;
    /* group only by host: the tags differ, the group is one */
    const unsigned by = DR_GROUP_HOST;
    struct dr_keep_policy p = {.tags = tag_keep, .ntags = 1};
    run(&s, &p, by);
    EXPECT(&s, KEPT(a, c), WHY(DR_KEEP_TAG, DR_KEEP_TAG));

    /* several --keep-tag: any of them */
    char *both[] = {"daily", "keep"};
    p = (struct dr_keep_policy){.tags = both, .ntags = 2};
    run(&s, &p, by);
    EXPECT(&s, KEPT(a, c, d), WHY(DR_KEEP_TAG, DR_KEEP_TAG, DR_KEEP_TAG));

    /* with keep-last 1: the union */
    p = (struct dr_keep_policy){.last = 1, .tags = tag_keep, .ntags = 1};
    run(&s, &p, by);
    EXPECT(&s, KEPT(a, c, e), WHY(DR_KEEP_TAG, DR_KEEP_TAG, DR_KEEP_LAST));
}

/* ---- the union of rules --------------------------------------------------------------------- */

static void test_union_and_reasons(void **state)
{
    (void)state;
    /* a typical policy over two months: --keep-last 2 --keep-daily 3 --keep-weekly 2
     * --keep-monthly 2. Each rule counts its periods over all snapshots, whether or not another
     * rule already keeps them. */
    struct snaps s = {0};
    size_t s0 = add(&s, "2021-01-15 10:00:00"); /* Fri W02, Jan */
    size_t s1 = add(&s, "2021-01-29 10:00:00"); /* Fri W04, Jan */
    size_t s2 = add(&s, "2021-02-20 10:00:00"); /* Sat W07, Feb */
    size_t s3 = add(&s, "2021-02-26 09:00:00"); /* Fri W08 */
    size_t s4 = add(&s, "2021-02-27 09:00:00"); /* Sat W08 */
    size_t s5 = add(&s, "2021-02-28 09:00:00"); /* Sun W08, newest of Feb */
    size_t s6 = add(&s, "2021-03-01 08:00:00"); /* Mon W09, Mar */
    size_t s7 = add(&s, "2021-03-01 20:00:00"); /* Mon W09, newest */
    (void)s0;
    (void)s2;
    (void)s3;
    struct dr_keep_policy p = {.last = 2, .daily = 3, .weekly = 2, .monthly = 2};
    run(&s, &p, BY_DEFAULT);
    /* last: s7 s6; daily: s7 (Mar 1), s5 (Feb 28), s4 (Feb 27); weekly: s7 (W09), s5 (W08);
     * monthly: s7 (Mar), s5 (Feb) */
    EXPECT(&s, KEPT(s4, s5, s6, s7),
           WHY(DR_KEEP_DAILY, DR_KEEP_DAILY | DR_KEEP_WEEKLY | DR_KEEP_MONTHLY, DR_KEEP_LAST,
               DR_KEEP_LAST | DR_KEEP_DAILY | DR_KEEP_WEEKLY | DR_KEEP_MONTHLY));

    p = (struct dr_keep_policy){.weekly = 4, .monthly = 3, .yearly = 1};
    run(&s, &p, BY_DEFAULT);
    /* weekly: s7 (W09), s5 (W08), s2 (W07), s1 (W04); monthly: s7, s5, s1 (Jan); yearly: s7 */
    EXPECT(&s, KEPT(s1, s2, s5, s7),
           WHY(DR_KEEP_WEEKLY | DR_KEEP_MONTHLY, DR_KEEP_WEEKLY, DR_KEEP_WEEKLY | DR_KEEP_MONTHLY,
               DR_KEEP_WEEKLY | DR_KEEP_MONTHLY | DR_KEEP_YEARLY));
}

/* ---- groups --------------------------------------------------------------------------------- */

static void test_two_hosts_independent(void **state)
{
    (void)state;
    struct snaps s = {0};
    /* interleaved; host b's snapshots are all older than host a's newest three */
    size_t a0 = add_full(&s, "2021-03-01 10:00:00", "a", NULL, 0, path_data, 1);
    size_t b0 = add_full(&s, "2021-02-01 10:00:00", "b", NULL, 0, path_data, 1);
    size_t a1 = add_full(&s, "2021-03-02 10:00:00", "a", NULL, 0, path_data, 1);
    size_t b1 = add_full(&s, "2021-02-01 11:00:00", "b", NULL, 0, path_data, 1);
    size_t a2 = add_full(&s, "2021-03-02 11:00:00", "a", NULL, 0, path_data, 1);
    size_t b2 = add_full(&s, "2021-02-03 10:00:00", "b", NULL, 0, path_data, 1);
    size_t a3 = add_full(&s, "2021-03-04 10:00:00", "a", NULL, 0, path_data, 1);
    (void)a0;
    (void)b0;
    struct dr_keep_policy p = {.last = 1, .daily = 2};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(a2, a3, b1, b2),
           WHY(DR_KEEP_DAILY, DR_KEEP_LAST | DR_KEEP_DAILY, DR_KEEP_DAILY,
               DR_KEEP_LAST | DR_KEEP_DAILY));
    /* groups are numbered in order of first appearance */
    assert_int_equal(s.out[a0].group, 0);
    assert_int_equal(s.out[a1].group, 0);
    assert_int_equal(s.out[a3].group, 0);
    assert_int_equal(s.out[b0].group, 1);
    assert_int_equal(s.out[b2].group, 1);

    /* grouped by nothing: one group, so host b loses everything */
    run(&s, &p, 0);
    EXPECT(&s, KEPT(a2, a3), WHY(DR_KEEP_DAILY, DR_KEEP_LAST | DR_KEEP_DAILY));
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(s.out[i].group, 0);
    }
}

static void test_group_by_paths(void **state)
{
    (void)state;
    struct snaps s = {0};
    size_t d0 = add_full(&s, "2021-03-01 10:00:00", "h", NULL, 0, path_data, 1);
    size_t e0 = add_full(&s, "2021-03-01 11:00:00", "h", NULL, 0, path_etc, 1);
    size_t ab0 = add_full(&s, "2021-03-01 12:00:00", "h", NULL, 0, paths_ab, 2);
    size_t d1 = add_full(&s, "2021-03-02 10:00:00", "h", NULL, 0, path_data, 1);
    size_t ba1 = add_full(&s, "2021-03-02 12:00:00", "h", NULL, 0, paths_ba, 2);
    size_t x0 = add_full(&s, "2021-03-03 10:00:00", "other", NULL, 0, path_data, 1);
    (void)d0;
    (void)ab0;
    struct dr_keep_policy p = {.last = 1};
    /* default host+paths: {/data}@h, {/etc}@h, {/a,/b}@h (order of paths does not matter),
     * {/data}@other */
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(e0, d1, ba1, x0), WHY(DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST));
    assert_int_equal(s.out[d0].group, 0);
    assert_int_equal(s.out[e0].group, 1);
    assert_int_equal(s.out[ab0].group, 2);
    assert_int_equal(s.out[d1].group, 0);
    assert_int_equal(s.out[ba1].group, 2);
    assert_int_equal(s.out[x0].group, 3);

    /* paths only: /data of both hosts is one group */
    run(&s, &p, DR_GROUP_PATHS);
    EXPECT(&s, KEPT(e0, ba1, x0), WHY(DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST));
    assert_int_equal(s.out[x0].group, 0);

    /* host only */
    run(&s, &p, DR_GROUP_HOST);
    EXPECT(&s, KEPT(ba1, x0), WHY(DR_KEEP_LAST, DR_KEEP_LAST));
    assert_int_equal(s.out[x0].group, 1);
}

static void test_group_by_tags(void **state)
{
    (void)state;
    struct snaps s = {0};
    size_t n0 = add_full(&s, "2021-03-01 10:00:00", "h", NULL, 0, path_data, 1);
    size_t k0 = add_full(&s, "2021-03-01 11:00:00", "h", tag_keep, 1, path_data, 1);
    size_t xy0 = add_full(&s, "2021-03-01 12:00:00", "h", tags_xy, 2, path_data, 1);
    size_t n1 = add_full(&s, "2021-03-02 10:00:00", "h", NULL, 0, path_data, 1);
    size_t k1 = add_full(&s, "2021-03-02 11:00:00", "h", tag_keep, 1, path_etc, 1);
    size_t yx1 = add_full(&s, "2021-03-02 12:00:00", "h", tags_yx, 2, path_data, 1);
    size_t o0 = add_full(&s, "2021-03-02 13:00:00", "o", tag_keep, 1, path_data, 1);
    (void)n0;
    (void)xy0;
    struct dr_keep_policy p = {.last = 1};

    /* tags only: {} , {keep} (both hosts, both paths), {x,y} (order does not matter) */
    run(&s, &p, DR_GROUP_TAGS);
    EXPECT(&s, KEPT(n1, yx1, o0), WHY(DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST));
    assert_int_equal(s.out[n0].group, 0);
    assert_int_equal(s.out[k0].group, 1);
    assert_int_equal(s.out[xy0].group, 2);
    assert_int_equal(s.out[k1].group, 1);
    assert_int_equal(s.out[yx1].group, 2);
    assert_int_equal(s.out[o0].group, 1);

    /* host,tags: o0 is alone */
    run(&s, &p, DR_GROUP_HOST | DR_GROUP_TAGS);
    EXPECT(&s, KEPT(n1, k1, yx1, o0), WHY(DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST));

    /* host,tags,paths: k0 (/data) and k1 (/etc) part too */
    run(&s, &p, DR_GROUP_HOST | DR_GROUP_TAGS | DR_GROUP_PATHS);
    EXPECT(&s, KEPT(k0, n1, k1, yx1, o0),
           WHY(DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST, DR_KEEP_LAST));
}

static void test_input_order_irrelevant(void **state)
{
    (void)state;
    /* the same snapshots in two orders give the same decisions (groups may be numbered
     * differently) */
    const char *times[] = {
        "2020-12-24 10:00:00", "2020-12-31 10:00:00", "2021-01-01 10:00:00", "2021-01-01 20:00:00",
        "2021-01-02 10:00:00", "2021-01-09 10:00:00", "2021-02-01 10:00:00", "2021-02-02 10:00:00",
    };
    const size_t nt = sizeof(times) / sizeof(times[0]);
    struct snaps fwd = {0}, rev = {0};
    for (size_t i = 0; i < nt; i++) {
        add(&fwd, times[i]);
        add(&rev, times[nt - 1 - i]);
    }
    struct dr_keep_policy p = {.last = 1, .daily = 2, .weekly = 3, .monthly = 2, .yearly = 3};
    run(&fwd, &p, BY_DEFAULT);
    run(&rev, &p, BY_DEFAULT);
    for (size_t i = 0; i < nt; i++) {
        assert_int_equal(fwd.out[i].reasons, rev.out[nt - 1 - i].reasons);
    }
    /* Dec 24 (2020-W52), Dec 31 and Jan 1 (x2) and Jan 2 (2020-W53), Jan 9 (2021-W01),
     * Feb 1 and Feb 2 (2021-W05). last: 7; daily: 7, 6; weekly: 7 (W05), 5 (W01), 4 (W53);
     * monthly: 7 (Feb), 5 (Jan); yearly: 7 (2021), 1 (Dec 31, the newest of 2020) */
    EXPECT(&fwd, KEPT(1, 4, 5, 6, 7),
           WHY(DR_KEEP_YEARLY, DR_KEEP_WEEKLY, DR_KEEP_WEEKLY | DR_KEEP_MONTHLY, DR_KEEP_DAILY,
               DR_KEEP_LAST | DR_KEEP_DAILY | DR_KEEP_WEEKLY | DR_KEEP_MONTHLY | DR_KEEP_YEARLY));
}

/* ---- time zones ----------------------------------------------------------------------------- */

static void test_local_time_zone(void **state)
{
    (void)state;
    /* 13:00 and 15:00 UTC on Mar 1 are one day in UTC, two days at UTC+10 */
    use_tz("UTC");
    struct snaps s = {0};
    size_t a = add(&s, "2021-03-01 13:00:00");
    size_t b = add(&s, "2021-03-01 15:00:00");
    struct dr_keep_policy p = {.daily = 2};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(b), WHY(DR_KEEP_DAILY));

    use_tz("XST-10"); /* POSIX TZ: 10 hours east of UTC, no tzdata needed */
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(a, b), WHY(DR_KEEP_DAILY, DR_KEEP_DAILY));

    /* and at UTC-5 a month boundary moves: Mar 1 02:00 UTC is still Feb 28 */
    use_tz("UTC");
    struct snaps m = {0};
    size_t c = add(&m, "2021-02-27 12:00:00");
    size_t d = add(&m, "2021-03-01 02:00:00");
    p = (struct dr_keep_policy){.monthly = 2};
    run(&m, &p, BY_DEFAULT);
    EXPECT(&m, KEPT(c, d), WHY(DR_KEEP_MONTHLY, DR_KEEP_MONTHLY));
    use_tz("YST5");
    run(&m, &p, BY_DEFAULT);
    EXPECT(&m, KEPT(d), WHY(DR_KEEP_MONTHLY));
    use_tz("UTC");
}

static void test_before_epoch(void **state)
{
    (void)state;
    struct snaps s = {0};
    const int64_t times[] = {-NS / 2, 0, -86400 * NS}; /* 1969-12-31 23:59:59.5, 1970-01-01,
                                                        * 1969-12-31 00:00 */
    for (size_t i = 0; i < 3; i++) {
        s.in[i] = (struct dr_keep_input){
            .time_ns = times[i], .host = "h", .paths = path_data, .npaths = 1};
    }
    s.n = 3;
    struct dr_keep_policy p = {.daily = 5};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(0, 1), WHY(DR_KEEP_DAILY, DR_KEEP_DAILY));
    p = (struct dr_keep_policy){.yearly = 5};
    run(&s, &p, BY_DEFAULT);
    EXPECT(&s, KEPT(0, 1), WHY(DR_KEEP_YEARLY, DR_KEEP_YEARLY));
}

/* ---- policy helpers ------------------------------------------------------------------------- */

static void test_policy_empty(void **state)
{
    (void)state;
    struct dr_keep_policy p = {0};
    assert_true(dr_keep_policy_empty(&p));
    p.last = 1;
    assert_false(dr_keep_policy_empty(&p));
    p = (struct dr_keep_policy){.hourly = 1};
    assert_false(dr_keep_policy_empty(&p));
    p = (struct dr_keep_policy){.daily = 1};
    assert_false(dr_keep_policy_empty(&p));
    p = (struct dr_keep_policy){.weekly = 1};
    assert_false(dr_keep_policy_empty(&p));
    p = (struct dr_keep_policy){.monthly = 1};
    assert_false(dr_keep_policy_empty(&p));
    p = (struct dr_keep_policy){.yearly = 1};
    assert_false(dr_keep_policy_empty(&p));
    p = (struct dr_keep_policy){.within_ns = 1};
    assert_false(dr_keep_policy_empty(&p));
    p = (struct dr_keep_policy){.tags = tag_keep, .ntags = 1};
    assert_false(dr_keep_policy_empty(&p));
    /* a zero or negative duration keeps nothing by itself */
    p = (struct dr_keep_policy){.within_ns = 0};
    assert_true(dr_keep_policy_empty(&p));
    p = (struct dr_keep_policy){.within_ns = -5};
    assert_true(dr_keep_policy_empty(&p));

    /* applying an empty policy removes everything (forget refuses it before that) */
    struct snaps s = {0};
    add(&s, "2021-03-01 10:00:00");
    add(&s, "2021-03-02 10:00:00");
    p = (struct dr_keep_policy){0};
    run(&s, &p, BY_DEFAULT);
    assert_int_equal(s.out[0].reasons, 0);
    assert_int_equal(s.out[1].reasons, 0);
}

static void test_reasons_string(void **state)
{
    (void)state;
    char buf[96];
    dr_keep_reasons(0, buf, sizeof(buf));
    assert_string_equal(buf, "");
    dr_keep_reasons(DR_KEEP_LAST | DR_KEEP_DAILY | DR_KEEP_TAG, buf, sizeof(buf));
    assert_string_equal(buf, "last,daily,tag");
    dr_keep_reasons(0xff, buf, sizeof(buf));
    assert_string_equal(buf, "last,hourly,daily,weekly,monthly,yearly,within,tag");
    dr_keep_reasons(DR_KEEP_WITHIN, buf, sizeof(buf));
    assert_string_equal(buf, "within");
    /* a short buffer is cut, still terminated */
    char small[6];
    dr_keep_reasons(DR_KEEP_LAST | DR_KEEP_DAILY, small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
    assert_int_equal(strncmp(small, "last", 4), 0);
}

/* ---- randomised comparison with an independent model ---------------------------------------- */

/* The model: per group, sort newest first; for each period rule, name the bucket with strftime
 * (ISO week as "%G-W%V") and keep a snapshot whose name differs from the previous kept name
 * while the count lasts. */
static void model(const struct dr_keep_policy *p, const struct dr_keep_input *in, size_t n,
                  unsigned *out)
{
    static const char *fmts[] = {"%Y-%m-%d %H", "%Y-%m-%d", "%G-W%V", "%Y-%m", "%Y"};
    static const unsigned bits[] = {DR_KEEP_HOURLY, DR_KEEP_DAILY, DR_KEEP_WEEKLY, DR_KEEP_MONTHLY,
                                    DR_KEEP_YEARLY};
    const uint32_t lim[] = {p->hourly, p->daily, p->weekly, p->monthly, p->yearly};
    size_t ord[MAXSNAP];
    bool done[MAXSNAP] = {false};
    for (size_t i = 0; i < n; i++) {
        out[i] = 0;
    }
    for (size_t g0 = 0; g0 < n; g0++) {
        if (done[g0]) {
            continue;
        }
        /* the group of g0: same host and same single path (the random inputs have one path) */
        size_t m = 0;
        for (size_t i = g0; i < n; i++) {
            if (!done[i] && strcmp(in[i].host, in[g0].host) == 0 &&
                strcmp(in[i].paths[0], in[g0].paths[0]) == 0) {
                done[i] = true;
                ord[m++] = i;
            }
        }
        /* selection sort, newest first, ties by input order */
        for (size_t a = 0; a < m; a++) {
            size_t best = a;
            for (size_t b = a + 1; b < m; b++) {
                if (in[ord[b]].time_ns > in[ord[best]].time_ns ||
                    (in[ord[b]].time_ns == in[ord[best]].time_ns && ord[b] < ord[best])) {
                    best = b;
                }
            }
            size_t t = ord[a];
            ord[a] = ord[best];
            ord[best] = t;
        }
        char prev[5][32];
        uint32_t used[5] = {0};
        for (size_t k = 0; k < 5; k++) {
            prev[k][0] = '\0';
        }
        for (size_t a = 0; a < m; a++) {
            const struct dr_keep_input *s = &in[ord[a]];
            time_t t = (time_t)(s->time_ns / NS);
            struct tm tm;
            localtime_r(&t, &tm);
            if (a < p->last) {
                out[ord[a]] |= DR_KEEP_LAST;
            }
            for (size_t k = 0; k < 5; k++) {
                char name[32];
                strftime(name, sizeof(name), fmts[k], &tm);
                if (used[k] < lim[k] && strcmp(name, prev[k]) != 0) {
                    out[ord[a]] |= bits[k];
                    used[k]++;
                    memcpy(prev[k], name, sizeof(name));
                }
            }
            if (p->within_ns > 0 && in[ord[0]].time_ns - s->time_ns <= p->within_ns) {
                out[ord[a]] |= DR_KEEP_WITHIN;
            }
        }
    }
}

static void test_random_against_model(void **state)
{
    (void)state;
    static char *hosts[] = {"alpha", "beta", "gamma"};
    static char *pathv[][1] = {{"/srv"}, {"/home"}};
    unsigned seed = 20240611;
    struct snaps s = {0};
    unsigned want[MAXSNAP];
    const int64_t start = at("2019-11-20 00:00:00");
    for (int round = 0; round < 40; round++) {
        /* 60..300 snapshots over about 2.5 years, bursty (several per day, gaps of weeks) */
        s.n = 60 + (size_t)(rand_r(&seed) % 240);
        int64_t t = start;
        for (size_t i = 0; i < s.n; i++) {
            int r = rand_r(&seed) % 10;
            int64_t step = r < 4   ? (int64_t)(rand_r(&seed) % 7200) * NS
                           : r < 8 ? (int64_t)(rand_r(&seed) % (3 * 86400)) * NS
                                   : (int64_t)(rand_r(&seed) % (40 * 86400)) * NS;
            t += step;
            s.in[i] = (struct dr_keep_input){
                .time_ns = t,
                .host = hosts[rand_r(&seed) % 3],
                .paths = pathv[rand_r(&seed) % 2],
                .npaths = 1,
            };
        }
        /* shuffle: the function sorts by itself */
        for (size_t i = s.n - 1; i > 0; i--) {
            size_t k = (size_t)rand_r(&seed) % (i + 1);
            struct dr_keep_input x = s.in[i];
            s.in[i] = s.in[k];
            s.in[k] = x;
        }
        struct dr_keep_policy p = {
            .last = (uint32_t)(rand_r(&seed) % 4),
            .hourly = (uint32_t)(rand_r(&seed) % 5),
            .daily = (uint32_t)(rand_r(&seed) % 10),
            .weekly = (uint32_t)(rand_r(&seed) % 8),
            .monthly = (uint32_t)(rand_r(&seed) % 14),
            .yearly = (uint32_t)(rand_r(&seed) % 4),
            .within_ns = (rand_r(&seed) % 3) ? 0 : (int64_t)(rand_r(&seed) % 30) * 86400 * NS,
        };
        use_tz(round % 2 ? "XST-10" : "UTC");
        run(&s, &p, BY_DEFAULT);
        model(&p, s.in, s.n, want);
        for (size_t i = 0; i < s.n; i++) {
            if (s.out[i].reasons != want[i]) {
                print_error("round %d snapshot %zu: reasons 0x%x, model 0x%x\n", round, i,
                            s.out[i].reasons, want[i]);
            }
            assert_int_equal(s.out[i].reasons, want[i]);
        }
    }
    use_tz("UTC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last),
        cmocka_unit_test(test_last_ties),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_daily_several_per_day_and_gaps),
        cmocka_unit_test(test_daily_leap_year),
        cmocka_unit_test(test_daily_year_boundary),
        cmocka_unit_test(test_hourly),
        cmocka_unit_test(test_weekly_iso_week_53),
        cmocka_unit_test(test_weekly_dec31_in_week1),
        cmocka_unit_test(test_monthly_yearly),
        cmocka_unit_test(test_within_boundary),
        cmocka_unit_test(test_within_relative_to_group_newest),
        cmocka_unit_test(test_tag),
        cmocka_unit_test(test_union_and_reasons),
        cmocka_unit_test(test_two_hosts_independent),
        cmocka_unit_test(test_group_by_paths),
        cmocka_unit_test(test_group_by_tags),
        cmocka_unit_test(test_input_order_irrelevant),
        cmocka_unit_test(test_local_time_zone),
        cmocka_unit_test(test_before_epoch),
        cmocka_unit_test(test_policy_empty),
        cmocka_unit_test(test_reasons_string),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
