/* test_wal.c: the helpers of WAL archiving (src/wal/wal.c) and push/get/list on a repository in
 * memory.
 *
 * Covers: dr_wal_parse_lsn; dr_wal_parse_time (Z, +HH:MM, +HHMM, +HH, ' UTC', 'T', fractions,
 * no zone = local time, bad input); dr_wal_segment_name and dr_wal_segno (16 MiB and 64 MiB
 * segments, round trip); dr_wal_first_gap on a hand-built archive; dr_wal_write_recovery (the
 * settings appended after what the file held, a single quote doubled, recovery.signal created,
 * standby.signal removed); dr_wal_sysid_of; dr_wal_push (stored, again the same: already,
 * other bytes: DR_EEXIST and the archived copy kept, not a WAL name), dr_wal_get (the bytes, a
 * missing file: DR_ENOENT and no file written) and dr_wal_list (clusters apart, the segment
 * size, ranges and a gap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "drrepo/wal.h"
#include "fixture.h"

#define MiB (1ull << 20)

static void lsn_ok(const char *s, uint64_t want)
{
    uint64_t v = 1;
    if (dr_wal_parse_lsn(s, &v) != 0) {
        fail_msg("'%s' refused: %s", s, dr_error_msg());
    }
    assert_int_equal(v, want);
}

static void lsn_bad(const char *s)
{
    uint64_t v = 7;
    if (dr_wal_parse_lsn(s, &v) != DR_EUSAGE) {
        fail_msg("'%s' accepted as an LSN", s);
    }
    assert_int_equal(v, 7);
    assert_non_null(strstr(dr_error_msg(), s));
    dr_error_clear();
}

static void test_parse_lsn(void **state)
{
    (void)state;
    lsn_ok("16/B374D848", 0x16B374D848ull);
    lsn_ok("16/b374d848", 0x16B374D848ull);
    lsn_ok("0/0", 0);
    lsn_ok("0/3000060", 0x3000060);
    lsn_ok("FFFFFFFF/FFFFFFFF", UINT64_MAX);
    lsn_bad("");
    lsn_bad("16");
    lsn_bad("16/");
    lsn_bad("/B374D848");
    lsn_bad("16/B374D848x");
    lsn_bad("16/B374D848/0");
    lsn_bad("100000000/0");
    lsn_bad("0/100000000");
    lsn_bad("-1/0");
    lsn_bad("1/-1");
    lsn_bad("+1/0");
    lsn_bad("G/0");
    lsn_bad("16:B374D848");
}

#define T0 1772366400ll /* 2026-03-01 12:00:00 UTC */
#define NS 1000000000ll

static void time_ok(const char *s, int64_t want_ns)
{
    int64_t v = 1;
    if (dr_wal_parse_time(s, &v) != 0) {
        fail_msg("'%s' refused: %s", s, dr_error_msg());
    }
    if (v != want_ns) {
        fail_msg("'%s': %lld, expected %lld", s, (long long)v, (long long)want_ns);
    }
}

static void time_bad(const char *s)
{
    int64_t v = 7;
    if (dr_wal_parse_time(s, &v) != DR_EUSAGE) {
        fail_msg("'%s' accepted as a time", s);
    }
    assert_int_equal(v, 7);
    assert_non_null(strstr(dr_error_msg(), s));
    dr_error_clear();
}

static void test_parse_time(void **state)
{
    (void)state;
    time_ok("2026-03-01 12:00:00Z", T0 * NS);
    time_ok("2026-03-01T12:00:00Z", T0 * NS);
    time_ok("2026-03-01 12:00:00 UTC", T0 * NS);
    time_ok("2026-03-01 12:00:00UTC", T0 * NS);
    time_ok("2026-03-01 12:00:00+00", T0 * NS);
    time_ok("2026-03-01 12:00:00+02:00", (T0 - 7200) * NS);
    time_ok("2026-03-01 12:00:00+02", (T0 - 7200) * NS);
    time_ok("2026-03-01 12:00:00 +02:00", (T0 - 7200) * NS);
    time_ok("2026-03-01 12:00:00+0530", (T0 - 5 * 3600 - 30 * 60) * NS);
    time_ok("2026-03-01 12:00:00-03:30", (T0 + 3 * 3600 + 30 * 60) * NS);
    time_ok("2026-03-01 12:00:00.25Z", T0 * NS + 250000000);
    time_ok("2026-03-01 12:00:00.123456789+00", T0 * NS + 123456789);
    time_ok("2026-03-01 12:00:00.000001 UTC", T0 * NS + 1000);
    time_ok("2026-03-01 12:00:00.5+01:00", (T0 - 3600) * NS + 500000000);
    time_ok("1970-01-01 00:00:00Z", 0);
    /* no zone: the local time zone, as PostgreSQL's TimeZone default */
    const char *old = getenv("TZ");
    char *saved = old ? dr_xstrdup(old) : NULL;
    setenv("TZ", "UTC", 1);
    tzset();
    time_ok("2026-03-01 12:00:00", T0 * NS);
    setenv("TZ", "EST5", 1); /* UTC-5, no daylight saving */
    tzset();
    time_ok("2026-03-01 12:00:00", (T0 + 5 * 3600) * NS);
    time_ok("2026-03-01 12:00:00.75", (T0 + 5 * 3600) * NS + 750000000);
    if (saved) {
        setenv("TZ", saved, 1);
    } else {
        unsetenv("TZ");
    }
    tzset();
    free(saved);

    time_bad("");
    time_bad("yesterday");
    time_bad("2026-03-01");
    time_bad("2026-03-01 12:00");
    time_bad("2026-13-01 12:00:00Z");
    time_bad("2026-00-01 12:00:00Z");
    time_bad("2026-03-32 12:00:00Z");
    time_bad("2026-03-01 24:00:00Z");
    time_bad("2026-03-01 12:60:00Z");
    time_bad("2026-03-01_12:00:00Z");
    time_bad("2026-03-01 12:00:00 CEST");
    time_bad("2026-03-01 12:00:00+2");
    /* digits exactly: no sign, blank or short field that sscanf would take */
    time_bad("2026-03-01 12:00:00+-5");
    time_bad("2026-03-01 12:00:00.Z");
    time_bad(" 2026-03-01 12:00:00Z");
    time_bad("+2026-03-01 12:00:00Z");
    time_bad("2026-3-01 12:00:00Z");
    time_bad("2026-03-01 12: 0:00Z");
    time_bad("2026-03-01 12:00:00+16:00");
    time_bad("2026-03-01 12:00:00+02:60");
    time_bad("2026-03-01 12:00:00+02:00:00");
    time_bad("2026-03-01 12:00:00+02:0");
    time_bad("2026-03-01 12:00:00Zulu");
    time_bad("2026-03-01 12:00:00 ");
}

static void name_of(uint32_t tli, uint64_t segno, uint64_t seg_size, const char *want)
{
    char out[DR_WAL_FILE_NAME_MAX];
    dr_wal_segment_name(tli, segno, seg_size, out);
    assert_string_equal(out, want);
    struct dr_wal_file f;
    assert_int_equal(dr_wal_file_parse(out, &f), 0);
    assert_int_equal(f.kind, DR_WAL_SEGMENT);
    assert_int_equal(f.tli, tli);
    assert_int_equal(dr_wal_segno(&f, seg_size), segno);
}

static void test_segments(void **state)
{
    (void)state;
    /* 16 MiB: 256 segments per "log" of 4 GiB */
    name_of(1, 0, 16 * MiB, "000000010000000000000000");
    name_of(1, 3, 16 * MiB, "000000010000000000000003");
    name_of(1, 255, 16 * MiB, "0000000100000000000000FF");
    name_of(1, 256, 16 * MiB, "000000010000000100000000");
    name_of(1, 10 * 256 + 255, 16 * MiB, "000000010000000A000000FF");
    name_of(0x1A, 0xFFFFFFFFull * 256 + 255, 16 * MiB, "0000001AFFFFFFFF000000FF");
    /* 64 MiB: 64 per log */
    name_of(2, 63, 64 * MiB, "00000002000000000000003F");
    name_of(2, 64, 64 * MiB, "000000020000000100000000");
    name_of(2, 3 * 64 + 63, 64 * MiB, "00000002000000030000003F");
    /* 1 MiB and 1 GiB, the ends of wal_segment_size */
    name_of(1, 4096, MiB, "000000010000000100000000");
    name_of(1, 9, 1024 * MiB, "000000010000000200000001");
    /* the LSN 16/B374D848 is in segment 0x16B3 of 16 MiB segments */
    uint64_t lsn;
    assert_int_equal(dr_wal_parse_lsn("16/B374D848", &lsn), 0);
    name_of(1, lsn / (16 * MiB), 16 * MiB, "0000000100000016000000B3");
}

static void test_first_gap(void **state)
{
    (void)state;
    /* timeline 1: 5-9 and 12-20, timeline 2: 21-30 */
    struct dr_wal_range r[] = {{1, 5, 9}, {1, 12, 20}, {2, 21, 30}};
    struct dr_wal_archive a = {.sysid = 1, .seg_size = 16 * MiB, .ranges = r, .nranges = 3};
    uint64_t last = 99;
    assert_int_equal(dr_wal_first_gap(&a, 1, 5, &last), 10);
    assert_int_equal(last, 9);
    assert_int_equal(dr_wal_first_gap(&a, 1, 9, &last), 10);
    assert_int_equal(last, 9);
    assert_int_equal(dr_wal_first_gap(&a, 1, 12, &last), 0); /* to the end of timeline 1 */
    assert_int_equal(last, 20);
    assert_int_equal(dr_wal_first_gap(&a, 1, 20, &last), 0);
    assert_int_equal(last, 20);
    assert_int_equal(dr_wal_first_gap(&a, 2, 25, &last), 0);
    assert_int_equal(last, 30);
    /* the start itself is missing */
    assert_int_equal(dr_wal_first_gap(&a, 1, 10, &last), 10);
    assert_int_equal(last, 9);
    assert_int_equal(dr_wal_first_gap(&a, 1, 21, &last), 21);
    assert_int_equal(last, 20);
    assert_int_equal(dr_wal_first_gap(&a, 3, 25, &last), 25);
    assert_int_equal(last, 24);
    assert_int_equal(dr_wal_first_gap(&a, 1, 0, &last), UINT64_MAX);
    assert_int_equal(last, 0);
    struct dr_wal_archive empty = {.sysid = 1};
    assert_int_equal(dr_wal_first_gap(&empty, 1, 7, &last), 7);
}

static char *slurp(const char *path)
{
    uint8_t *p = NULL;
    size_t n = dr_test_read_file(path, &p);
    char *s = dr_xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    free(p);
    return s;
}

static bool exists(const char *dir, const char *name)
{
    char *p = dr_fs_join(dir, name);
    struct stat st;
    bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

static void test_write_recovery(void **state)
{
    (void)state;
    char *dir = dr_test_tmpdir();
    char *conf = dr_fs_join(dir, "postgresql.auto.conf");
    char *standby = dr_fs_join(dir, "standby.signal");
    const char *before = "# Do not edit this file manually!\nport = '5433'"; /* no newline */
    dr_test_write_file(conf, before, strlen(before));
    dr_test_write_file(standby, "", 0);
    assert_int_equal(dr_wal_write_recovery(dir, "drrepo -r '/srv/it''s' wal get %f \"%p\"",
                                           "rm -rf x", "time", "2026-03-01 12:00:00+00"),
                     0);
    char *s = slurp(conf);
    const char *want = "# Do not edit this file manually!\nport = '5433'\n"
                       "# recovery settings written by drrepo restore\n"
                       "restore_command = 'drrepo -r ''/srv/it''''s'' wal get %f \"%p\"'\n"
                       "recovery_end_command = 'rm -rf x'\n"
                       "recovery_target_timeline = 'latest'\n"
                       "recovery_target_time = '2026-03-01 12:00:00+00'\n"
                       "recovery_target_action = 'promote'\n"
                       "recovery_target_inclusive = 'true'\n";
    assert_string_equal(s, want);
    free(s);
    assert_true(exists(dir, "recovery.signal"));
    assert_false(exists(dir, "standby.signal"));
    dr_test_rmtree(dir);
    free(dir);

    /* no file yet, no target: to the end of the archive */
    dir = dr_test_tmpdir();
    free(conf);
    conf = dr_fs_join(dir, "postgresql.auto.conf");
    assert_int_equal(dr_wal_write_recovery(dir, "cmd", NULL, "lsn", "0/3000060"), 0);
    s = slurp(conf);
    assert_non_null(strstr(s, "recovery_target_lsn = '0/3000060'\n"));
    free(s);
    unlink(conf);
    assert_int_equal(dr_wal_write_recovery(dir, "cmd", NULL, NULL, NULL), 0);
    s = slurp(conf);
    assert_string_equal(s, "# recovery settings written by drrepo restore\n"
                           "restore_command = 'cmd'\n"
                           "recovery_target_timeline = 'latest'\n");
    free(s);
    /* a second restore replaces the first one's block: no stale target stays above */
    assert_int_equal(dr_wal_write_recovery(dir, "cmd2", NULL, "xid", "1234"), 0);
    s = slurp(conf);
    assert_string_equal(s, "# recovery settings written by drrepo restore\n"
                           "restore_command = 'cmd2'\n"
                           "recovery_target_timeline = 'latest'\n"
                           "recovery_target_xid = '1234'\n"
                           "recovery_target_action = 'promote'\n"
                           "recovery_target_inclusive = 'true'\n");
    free(s);
    assert_true(exists(dir, "recovery.signal"));
    dr_test_rmtree(dir);

    /* a data directory that is not there */
    assert_true(dr_wal_write_recovery(dir, "cmd", NULL, NULL, NULL) < 0);
    assert_non_null(strstr(dr_error_msg(), dir));
    dr_error_clear();
    free(dir);
    free(conf);
    free(standby);
}

static void write_pg_control(const char *datadir, uint64_t sysid, uint32_t version)
{
    char *g = dr_fs_join(datadir, "global");
    assert_int_equal(mkdir(g, 0700), 0);
    char *p = dr_fs_join(g, "pg_control");
    uint8_t b[8192] = {0};
    dr_put_u64le(b, sysid);
    dr_put_u32le(b + 8, version);
    dr_test_write_file(p, b, sizeof(b));
    free(p);
    free(g);
}

static void test_sysid_of(void **state)
{
    (void)state;
    char *dir = dr_test_tmpdir();
    uint64_t id = 0;
    assert_int_equal(dr_wal_sysid_of(dir, &id), DR_ENOENT);
    assert_non_null(strstr(dr_error_msg(), "pg_control"));
    dr_error_clear();
    write_pg_control(dir, 7301234567890123456ull, 1300);
    assert_int_equal(dr_wal_sysid_of(dir, &id), 0);
    assert_int_equal(id, 7301234567890123456ull);
    dr_test_rmtree(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* not a control file: a version out of range, or a system identifier 0 */
    write_pg_control(dir, 1, 12);
    assert_int_equal(dr_wal_sysid_of(dir, &id), DR_ECORRUPT);
    dr_error_clear();
    dr_test_rmtree(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_pg_control(dir, 0, 1300);
    assert_int_equal(dr_wal_sysid_of(dir, &id), DR_ECORRUPT);
    dr_error_clear();
    assert_int_equal(id, 7301234567890123456ull);
    dr_test_rmtree(dir);
    free(dir);
}

/* A fake segment: size bytes, a header with its name's number, zeros after. */
static char *fake_segment(const char *dir, const char *name, size_t size, uint8_t mark)
{
    char *p = dr_fs_join(dir, name);
    uint8_t *b = dr_xcalloc(size ? size : 1, 1);
    for (size_t i = 0; i < 64 && i < size; i++) {
        b[i] = (uint8_t)(mark + i);
    }
    dr_test_write_file(p, b, size);
    free(b);
    return p;
}

static void test_push_get_list(void **state)
{
    (void)state;
    struct dr_test_env *env = dr_test_env_new("wal-unit", 1);
    struct dr_repo *r = env->repo[0];
    char *dir = dr_test_tmpdir();
    const uint64_t A = 0x1111222233334444ull, B = 0x5555666677778888ull;
    const size_t seg = MiB; /* the smallest wal_segment_size: a short test */
    enum dr_wal_pushed how = 0;
    const char *names[] = {"000000010000000000000001", "000000010000000000000002",
                           "000000010000000000000003", "000000010000000000000005"};
    for (size_t i = 0; i < 4; i++) {
        char *p = fake_segment(dir, names[i], seg, (uint8_t)i);
        assert_int_equal(dr_wal_push(r, A, p, &how), 0);
        assert_int_equal(how, DR_WAL_STORED);
        free(p);
    }
    /* the same again: a success that wrote nothing */
    char *p = fake_segment(dir, names[0], seg, 0);
    assert_int_equal(dr_wal_push(r, A, p, &how), 0);
    assert_int_equal(how, DR_WAL_ALREADY);
    free(p);
    /* other bytes under an archived name: refused, the archived copy kept */
    p = fake_segment(dir, names[0], seg, 9);
    assert_int_equal(dr_wal_push(r, A, p, &how), DR_EEXIST);
    assert_non_null(strstr(dr_error_msg(), "different content"));
    dr_error_clear();
    free(p);
    char *dest = dr_fs_join(dir, "RECOVERYXLOG");
    assert_int_equal(dr_wal_get(r, A, names[0], dest), 0);
    uint8_t *got = NULL;
    assert_int_equal(dr_test_read_file(dest, &got), seg);
    assert_int_equal(got[0], 0);
    assert_int_equal(got[1], 1);
    free(got);
    unlink(dest);
    /* the same name is another file in cluster B */
    p = fake_segment(dir, names[0], seg, 20);
    assert_int_equal(dr_wal_push(r, B, p, &how), 0);
    assert_int_equal(how, DR_WAL_STORED);
    free(p);
    p = fake_segment(dir, "00000002.history", 40, 'a');
    assert_int_equal(dr_wal_push(r, B, p, &how), 0);
    free(p);
    assert_int_equal(dr_wal_get(r, B, names[0], dest), 0);
    assert_int_equal(dr_test_read_file(dest, &got), seg);
    assert_int_equal(got[0], 20);
    free(got);
    unlink(dest);
    /* missing: DR_ENOENT, and nothing written */
    assert_int_equal(dr_wal_get(r, A, "000000010000000000000004", dest), DR_ENOENT);
    assert_non_null(strstr(dr_error_msg(), "000000010000000000000004"));
    dr_error_clear();
    assert_int_equal(access(dest, F_OK), -1);
    assert_int_equal(dr_wal_get(r, B, "000000010000000000000002", dest), DR_ENOENT);
    dr_error_clear();
    /* not WAL file names */
    assert_int_equal(dr_wal_get(r, A, "RECOVERYXLOG", dest), DR_EUSAGE);
    dr_error_clear();
    p = fake_segment(dir, "notwal", 10, 0);
    assert_int_equal(dr_wal_push(r, A, p, &how), DR_EUSAGE);
    dr_error_clear();
    free(p);

    /* the listing: both clusters, sorted; A's segments in two runs */
    struct dr_wal_archive *a = NULL;
    size_t n = 0;
    assert_int_equal(dr_wal_list(r, 0, &a, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(a[0].sysid, A);
    assert_int_equal(a[0].n, 4);
    assert_int_equal(a[0].seg_size, seg);
    assert_int_equal(a[0].nranges, 2);
    assert_int_equal(a[0].ranges[0].tli, 1);
    assert_int_equal(a[0].ranges[0].first, 1);
    assert_int_equal(a[0].ranges[0].last, 3);
    assert_int_equal(a[0].ranges[1].first, 5);
    assert_int_equal(a[0].ranges[1].last, 5);
    assert_true(a[0].bytes > 0);
    uint64_t last = 0;
    assert_int_equal(dr_wal_first_gap(&a[0], 1, 1, &last), 4);
    assert_int_equal(last, 3);
    assert_int_equal(a[1].sysid, B);
    assert_int_equal(a[1].n, 2);
    assert_int_equal(a[1].nranges, 1);
    dr_wal_archives_free(a, n);
    assert_int_equal(dr_wal_list(r, B, &a, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].sysid, B);
    assert_string_equal(a[0].v[0].f.name, names[0]);
    assert_string_equal(a[0].v[1].f.name, "00000002.history"); /* by timeline first */
    dr_wal_archives_free(a, n);

    free(dest);
    dr_test_rmtree(dir);
    free(dir);
    dr_test_env_free(env);
}

static int setup(void **state)
{
    (void)state;
    return dr_crypto_init() < 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_lsn),      cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_segments),       cmocka_unit_test(test_first_gap),
        cmocka_unit_test(test_write_recovery), cmocka_unit_test(test_sysid_of),
        cmocka_unit_test(test_push_get_list),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
