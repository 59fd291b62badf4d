/* test_sorter.c: records sorted by id on a scratch file (src/index/sorter.c).
 *
 * Covers: a sorter without a combine function gives back every record, duplicates of an id
 * included, each with its own payload, in id order, whether the records stayed in memory or
 * went through several runs; peek names the id that next returns, and both say 0 after the
 * last; a payload of an odd size comes back byte for byte; a payload over the maximum is
 * refused; an addition after reading is refused; a run that cannot be written (the scratch
 * file's size limit reached, as on a full disk) fails that addition with the file named, and the
 * sorter stays failed for every later addition and read. (The combining path is test_tally's.) */
#include "drrepo/sorter.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "fixture.h"

/* A payload of the size check's header entries have. */
struct pay {
    uint32_t seq; /* the record's number in the order added */
    uint32_t check;
    uint8_t tail[12];
};

static void mkpay(struct pay *p, uint32_t seq)
{
    memset(p, 0, sizeof(*p));
    p->seq = seq;
    p->check = seq * 2654435761u;
    for (size_t i = 0; i < sizeof(p->tail); i++) {
        p->tail[i] = (uint8_t)(seq + i);
    }
}

/* Adds n records of NIDS ids, scattered, each id several times with a payload of its own; reads
 * them back and checks the order, that peek agrees with next, and that every record came back
 * once with its payload. */
#define NIDS 7919u
static void roundtrip(const char *dir, uint32_t n)
{
    struct dr_sorter *s;
    assert_int_equal(dr_sorter_open(dir, "test", sizeof(struct pay), NULL, &s), 0);
    for (uint32_t k = 0; k < n; k++) {
        struct dr_id id;
        struct pay p;
        dr_test_numbered_id(&id, (uint32_t)((uint64_t)k * 104729u % NIDS));
        mkpay(&p, k);
        assert_int_equal(dr_sorter_add(s, &id, &p), 0);
    }
    uint8_t *seen = dr_xcalloc(n ? n : 1, 1);
    uint32_t got = 0, last = 0;
    struct dr_id id, peeked;
    struct pay p;
    int rc;
    while ((rc = dr_sorter_peek(s, &peeked)) == 1) {
        assert_int_equal(dr_sorter_next(s, &id, &p), 1);
        assert_memory_equal(&id, &peeked, sizeof(id));
        assert_true(dr_test_id_number(&id) >= last); /* ids in order; equal ids one after another */
        last = dr_test_id_number(&id);
        assert_true(p.seq < n);
        assert_int_equal(seen[p.seq], 0); /* each record once */
        seen[p.seq] = 1;
        struct pay want;
        mkpay(&want, p.seq);
        assert_memory_equal(&p, &want, sizeof(p));
        assert_int_equal(dr_test_id_number(&id), (uint32_t)((uint64_t)p.seq * 104729u % NIDS));
        got++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(dr_sorter_next(s, &id, &p), 0);
    assert_int_equal(got, n);
    assert_int_equal(dr_sorter_add(s, &id, &p), DR_EUSAGE);
    dr_error_clear();
    dr_sorter_close(s);
    free(seen);
}

static void test_in_memory(void **state)
{
    const char *dir = *state;
    roundtrip(dir, 0);
    roundtrip(dir, 1);
    roundtrip(dir, 20000); /* every id about 2.5 times, one run, never written */
}

static void test_runs(void **state)
{
    const char *dir = *state;
    /* a record is 32 + 20 bytes, padded to 56: three and a half runs */
    uint32_t per_run = (uint32_t)(DR_SORTER_RUN_BYTES / 56);
    roundtrip(dir, 3 * per_run + per_run / 2);
}

static void test_odd_payload(void **state)
{
    const char *dir = *state;
    struct dr_sorter *s;
    assert_int_equal(dr_sorter_open(dir, "test", 5, NULL, &s), 0);
    struct dr_id a, b;
    dr_test_numbered_id(&a, 7);
    dr_test_numbered_id(&b, 3);
    assert_int_equal(dr_sorter_add(s, &a, "abcde"), 0);
    assert_int_equal(dr_sorter_add(s, &b, "vwxyz"), 0);
    char out[6] = {0};
    struct dr_id id;
    assert_int_equal(dr_sorter_next(s, &id, out), 1);
    assert_int_equal(dr_test_id_number(&id), 3);
    assert_string_equal(out, "vwxyz");
    assert_int_equal(dr_sorter_next(s, &id, out), 1);
    assert_int_equal(dr_test_id_number(&id), 7);
    assert_string_equal(out, "abcde");
    assert_int_equal(dr_sorter_peek(s, &id), 0);
    dr_sorter_close(s);
    dr_sorter_close(NULL);

    assert_int_equal(dr_sorter_open(dir, "test", DR_SORTER_PAYLOAD_MAX + 1, NULL, &s), DR_EUSAGE);
    dr_error_clear();
}

static void test_write_fails(void **state)
{
    const char *dir = *state;
    /* a file may grow to 1 MiB here: the first run (10 MiB) cannot be written */
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    struct rlimit small = {.rlim_cur = 1u << 20, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

    struct dr_sorter *s;
    assert_int_equal(dr_sorter_open(dir, "test", sizeof(struct pay), NULL, &s), 0);
    uint32_t per_run = (uint32_t)(DR_SORTER_RUN_BYTES / 56);
    int rc = 0;
    uint32_t k;
    for (k = 0; k <= per_run && rc >= 0; k++) {
        struct dr_id id;
        struct pay p;
        dr_test_numbered_id(&id, k);
        mkpay(&p, k);
        rc = dr_sorter_add(s, &id, &p);
    }
    assert_true(rc < 0);
    assert_int_equal(k, per_run + 1); /* the addition that had to write the run */
    assert_non_null(strstr(dr_error_msg(), "cannot write"));
    assert_non_null(strstr(dr_error_msg(), dir)); /* the scratch file, named */
    dr_error_clear();
    struct dr_id id;
    struct pay p;
    dr_test_numbered_id(&id, 0);
    mkpay(&p, 0);
    assert_int_equal(dr_sorter_add(s, &id, &p), DR_EIO);
    assert_non_null(strstr(dr_error_msg(), "an earlier write failed"));
    dr_error_clear();
    assert_int_equal(dr_sorter_next(s, &id, &p), DR_EIO);
    dr_error_clear();
    assert_int_equal(dr_sorter_peek(s, &id), DR_EIO);
    dr_error_clear();
    dr_sorter_close(s);

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_memory, dr_test_tmpdir_setup,
                                        dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_runs, dr_test_tmpdir_setup, dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_odd_payload, dr_test_tmpdir_setup,
                                        dr_test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_write_fails, dr_test_tmpdir_setup,
                                        dr_test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
