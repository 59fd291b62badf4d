/* test_error_save.c: carrying an error across threads (src/common/error.c).
 *
 * Covers: dr_errorf and dr_error_wrap; dr_error_save on a worker thread and dr_error_restore on
 * the thread that joins it (the slot is thread-local); a restore with nothing saved; saving
 * over an earlier save; surviving a cleanup that records an error of its own. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"

static void test_wrap(void **state)
{
    (void)state;
    dr_error_clear();
    assert_string_equal(dr_error_msg(), "");
    assert_int_equal(dr_errorf(DR_ECORRUPT, "pack '%s': bad magic", "x"), DR_ECORRUPT);
    assert_int_equal(dr_error_wrap(DR_ECORRUPT, "snapshot %d", 3), DR_ECORRUPT);
    assert_string_equal(dr_error_msg(), "snapshot 3: pack 'x': bad magic");
    dr_error_clear();
}

static void *worker(void *arg)
{
    struct dr_error_saved *e = arg;
    dr_error_save(e, dr_errorf(DR_ENOSPC, "cannot write 'data/ab': no space"));
    return NULL;
}

static void test_save_restore_threads(void **state)
{
    (void)state;
    struct dr_error_saved e = {0};
    dr_errorf(DR_EIO, "this thread's own");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker, &e), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(dr_error_msg(), "this thread's own"); /* untouched by the worker */
    assert_int_equal(dr_error_restore(&e), DR_ENOSPC);
    assert_string_equal(dr_error_msg(), "cannot write 'data/ab': no space");
    dr_error_saved_release(&e);
    assert_null(e.msg);
    assert_int_equal(e.code, DR_OK);
    dr_error_clear();
}

static void test_restore_nothing_saved(void **state)
{
    (void)state;
    struct dr_error_saved e = {.code = DR_EIO};
    assert_int_equal(dr_error_restore(&e), DR_EIO);
    assert_string_equal(dr_error_msg(), dr_strerror(DR_EIO));
    dr_error_clear();
}

static void test_save_over_cleanup(void **state)
{
    (void)state;
    struct dr_error_saved e = {0};
    dr_errorf(DR_ELOCKED, "first");
    dr_error_save(&e, DR_ELOCKED);
    dr_errorf(DR_ELOCKED, "second");
    dr_error_save(&e, DR_ELOCKED); /* replaces, without leaking the first */
    dr_errorf(DR_EIO, "the cleanup failed too");
    assert_int_equal(dr_error_restore(&e), DR_ELOCKED);
    assert_string_equal(dr_error_msg(), "second");
    dr_error_saved_release(&e);
    dr_error_saved_release(&e); /* twice is harmless */
    dr_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_save_restore_threads),
        cmocka_unit_test(test_restore_nothing_saved),
        cmocka_unit_test(test_save_over_cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
