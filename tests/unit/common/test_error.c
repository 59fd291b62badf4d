/* test_error.c: the error convention (src/common/error.c).
 *
 * Covers: dr_errorf records the message and returns the code unchanged; dr_error_wrap prefixes
 * context, repeatedly, and without a recorded message uses the code's name; a message longer
 * than the slot is cut and stays NUL-terminated; dr_error_errno appends strerror of the errno at
 * entry; dr_error_clear empties the slot; the slot is per thread; every code has a distinct name
 * and a distinct machine name (dr_error_name)
 * and an unknown code has one too; the errno mapping; the pinned values of the append-only
 * enum. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"

static void test_record_and_wrap(void **state)
{
    (void)state;
    assert_int_equal(dr_errorf(DR_ECORRUPT, "pack '%s': bad magic at offset %d", "p1", 7),
                     DR_ECORRUPT);
    assert_string_equal(dr_error_msg(), "pack 'p1': bad magic at offset 7");
    assert_int_equal(dr_error_wrap(DR_ECORRUPT, "snapshot %s", "3f2a"), DR_ECORRUPT);
    assert_string_equal(dr_error_msg(), "snapshot 3f2a: pack 'p1': bad magic at offset 7");
    assert_int_equal(dr_error_wrap(DR_EIO, "restore"), DR_EIO);
    assert_string_equal(dr_error_msg(), "restore: snapshot 3f2a: pack 'p1': bad magic at offset 7");

    dr_error_clear();
    assert_null(strstr(dr_error_msg(), "snapshot"));
    /* nothing recorded: the wrap says what the code means */
    assert_int_equal(dr_error_wrap(DR_ENOSPC, "write '%s'", "x"), DR_ENOSPC);
    assert_string_equal(dr_error_msg(), "write 'x': no space left on device");
}

/* A message that quotes the one before through dr_error_msg() (repo.c's tree-copy fallback)
 * keeps both intact: the slot is not formatted into while it is read. */
static void test_quote_previous(void **state)
{
    (void)state;
    dr_errorf(DR_ECORRUPT, "pack 'tree/a7': blob 86: authentication failed");
    dr_errorf(DR_ECORRUPT, "first copy bad; its copy is damaged too: %s", dr_error_msg());
    assert_string_equal(dr_error_msg(), "first copy bad; its copy is damaged too: pack 'tree/a7': "
                                        "blob 86: authentication failed");
    dr_errorf(DR_EIO, "%s", "short");
    dr_errorf(DR_EIO, "%s and %s", dr_error_msg(), dr_error_msg());
    assert_string_equal(dr_error_msg(), "short and short");
}

static void test_long_messages(void **state)
{
    (void)state;
    char big[3000];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(dr_errorf(DR_EIO, "%s", big), DR_EIO);
    size_t len = strlen(dr_error_msg());
    assert_true(len > 0 && len < sizeof(big) - 1);
    assert_int_equal(dr_error_wrap(DR_EIO, "%s", big), DR_EIO);
    assert_int_equal(strlen(dr_error_msg()), len);
    assert_int_equal(dr_errorf(DR_EIO, "short"), DR_EIO);
    assert_int_equal(dr_error_wrap(DR_EIO, "%s", big), DR_EIO);
    assert_int_equal(strlen(dr_error_msg()), len);
}

static void test_errno(void **state)
{
    (void)state;
    errno = ENOENT;
    assert_int_equal(dr_error_errno(DR_ENOENT, "cannot open '%s'", "f"), DR_ENOENT);
    char want[256];
    assert_true(snprintf(want, sizeof(want), "cannot open 'f': %s", strerror(ENOENT)) > 0);
    assert_string_equal(dr_error_msg(), want);

    assert_int_equal(dr_error_from_errno(ENOSPC), DR_ENOSPC);
    assert_int_equal(dr_error_from_errno(EDQUOT), DR_ENOSPC);
    assert_int_equal(dr_error_from_errno(ENOENT), DR_ENOENT);
    assert_int_equal(dr_error_from_errno(ENOTDIR), DR_ENOENT);
    assert_int_equal(dr_error_from_errno(EEXIST), DR_EEXIST);
    assert_int_equal(dr_error_from_errno(EINTR), DR_EINTR);
    assert_int_equal(dr_error_from_errno(EACCES), DR_EIO);
}

static void *other_thread(void *arg)
{
    (void)arg;
    (void)dr_errorf(DR_ENET, "from the other thread");
    return NULL;
}

static void test_per_thread(void **state)
{
    (void)state;
    (void)dr_errorf(DR_EAUTH, "main thread");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(dr_error_msg(), "main thread");
}

static void test_codes(void **state)
{
    (void)state;
    /* append-only: these values are part of the exit-code contract */
    assert_int_equal(DR_EIO, -1);
    assert_int_equal(DR_ECORRUPT, -3);
    assert_int_equal(DR_ELOCKED, -6);
    assert_int_equal(DR_ENOREPO, -12);
    assert_int_equal(DR_EDAMAGED, -16);
    assert_int_equal(DR_EINDEX, -17);
    for (int a = DR_EINDEX; a <= DR_OK; a++) {
        assert_non_null(dr_strerror(a));
        assert_string_not_equal(dr_strerror(a), dr_strerror(1));
        for (int b = DR_EINDEX; b < a; b++) {
            assert_string_not_equal(dr_strerror(a), dr_strerror(b));
            assert_string_not_equal(dr_error_name(a), dr_error_name(b));
        }
        assert_string_not_equal(dr_error_name(a), "unknown");
    }
    assert_string_equal(dr_strerror(-999), dr_strerror(1));
    /* the names are promised to scripts (docs/JSON.md) */
    assert_string_equal(dr_error_name(DR_ECORRUPT), "corrupt");
    assert_string_equal(dr_error_name(DR_EUSAGE), "usage");
    assert_string_equal(dr_error_name(-999), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_and_wrap), cmocka_unit_test(test_long_messages),
        cmocka_unit_test(test_errno),           cmocka_unit_test(test_per_thread),
        cmocka_unit_test(test_codes),           cmocka_unit_test(test_quote_previous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
