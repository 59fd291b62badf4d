/* test_backend_mem.c: the in-memory test driver (tests/support/mem_backend.c) through the
 * dispatcher (src/backend/backend.c), and the dispatcher's driver registration hook.
 *
 * Covers: an unregistered scheme is still refused; "mem://" selected once registered; put
 * (exclusive: DR_EEXIST), get of ranges (DR_ECORRUPT past the end), stat, list by directory
 * prefix, delete (DR_ENOENT twice); the dispatcher's name check still applies; two handles of
 * one location share the store; the fault hooks (failed get/put, flip, truncate, drop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/backend.h"
#include "drrepo/error.h"
#include "mem_backend.h"

#define STORE "backend-test"

static int collect(void *arg, const char *name, uint64_t size)
{
    (void)name;
    uint64_t *total = arg;
    *total += size;
    return 0;
}

static void test_unregistered_scheme(void **state)
{
    (void)state;
    struct dr_backend *b = NULL;
    assert_int_equal(dr_backend_open("nosuch://x", &b), DR_EUSAGE);
    assert_null(b);
}

static void test_put_get_list_delete(void **state)
{
    (void)state;
    struct dr_backend *b = NULL;
    assert_int_equal(dr_mem_backend_register(), 0);
    assert_int_equal(dr_backend_open("mem://" STORE, &b), 0);
    assert_string_equal(dr_backend_location(b), "mem://" STORE);

    assert_int_equal(dr_backend_put(b, "data/ab/one", "hello", 5, true), 0);
    assert_int_equal(dr_backend_put(b, "data/ab/one", "other", 5, true), DR_EEXIST);
    assert_int_equal(dr_backend_put(b, "data/cd/two", "world!", 6, false), 0);
    assert_int_equal(dr_backend_put(b, "snapshots/s", "x", 1, false), 0);
    assert_int_equal(dr_backend_put(b, "../escape", "x", 1, false), DR_EUSAGE);

    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_backend_get(b, "data/ab/one", 1, 3, &out), 0);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.buf, "ell", 3);
    dr_buf_reset(&out);
    assert_int_equal(dr_backend_get(b, "data/ab/one", 2, UINT64_MAX, &out), 0);
    assert_string_equal(out.buf, "llo");
    assert_int_equal(dr_backend_get(b, "data/ab/one", 3, 3, &out), DR_ECORRUPT);
    assert_int_equal(dr_backend_get(b, "data/ab/none", 0, 1, &out), DR_ENOENT);

    uint64_t size = 0;
    assert_int_equal(dr_backend_stat(b, "data/cd/two", &size), 0);
    assert_int_equal(size, 6);
    assert_int_equal(dr_backend_stat(b, "data/cd/none", &size), DR_ENOENT);

    uint64_t total = 0;
    assert_int_equal(dr_backend_list(b, "data/", collect, &total), 0);
    assert_int_equal(total, 11);
    total = 0;
    assert_int_equal(dr_backend_list(b, "", collect, &total), 0);
    assert_int_equal(total, 12);
    total = 0;
    /* a prefix is a directory, not a string prefix */
    assert_int_equal(dr_backend_list(b, "dat", collect, &total), 0);
    assert_int_equal(total, 0);

    /* a second handle sees the same store */
    struct dr_backend *b2 = NULL;
    assert_int_equal(dr_backend_open("mem://" STORE, &b2), 0);
    assert_int_equal(dr_backend_delete(b2, "data/cd/two"), 0);
    assert_int_equal(dr_backend_delete(b, "data/cd/two"), DR_ENOENT);
    assert_int_equal(dr_mem_backend_count(STORE, "data/"), 1);
    dr_backend_close(b2);

    dr_buf_release(&out);
    dr_backend_close(b);
    dr_mem_backend_destroy(STORE);
    assert_int_equal(dr_mem_backend_count(STORE, ""), 0);
}

static void test_faults(void **state)
{
    (void)state;
    struct dr_backend *b = NULL;
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_mem_backend_register(), 0);
    assert_int_equal(dr_backend_open("mem://" STORE, &b), 0);
    assert_int_equal(dr_backend_put(b, "data/ab/one", "hello", 5, false), 0);

    dr_mem_backend_fail_get(STORE, "data/", DR_EIO, 1);
    assert_int_equal(dr_backend_get(b, "data/ab/one", 0, UINT64_MAX, &out), DR_EIO);
    assert_non_null(strstr(dr_error_msg(), "data/ab/one"));
    assert_int_equal(dr_backend_get(b, "data/ab/one", 0, UINT64_MAX, &out), 0);
    assert_string_equal(out.buf, "hello");

    dr_mem_backend_fail_put(STORE, "snapshots/", DR_ENOSPC, -1);
    assert_int_equal(dr_backend_put(b, "snapshots/a", "x", 1, false), DR_ENOSPC);
    assert_int_equal(dr_backend_put(b, "snapshots/a", "x", 1, false), DR_ENOSPC);
    assert_int_equal(dr_backend_put(b, "data/ab/two", "x", 1, false), 0);
    dr_mem_backend_fail_put(STORE, "snapshots/", DR_ENOSPC, 0);
    assert_int_equal(dr_backend_put(b, "snapshots/a", "x", 1, false), 0);

    assert_int_equal(dr_mem_backend_flip(STORE, "data/ab/one", 0, 0x20), 0);
    assert_int_equal(dr_mem_backend_flip(STORE, "data/ab/one", 5, 1), DR_EUSAGE);
    assert_int_equal(dr_mem_backend_flip(STORE, "data/ab/nope", 0, 1), DR_ENOENT);
    dr_buf_reset(&out);
    assert_int_equal(dr_backend_get(b, "data/ab/one", 0, UINT64_MAX, &out), 0);
    assert_string_equal(out.buf, "Hello");

    assert_int_equal(dr_mem_backend_truncate(STORE, "data/ab/one", 2), 0);
    assert_int_equal(dr_mem_backend_size(STORE, "data/ab/one"), 2);
    assert_int_equal(dr_mem_backend_drop(STORE, "data/ab/one"), 0);
    assert_int_equal(dr_mem_backend_size(STORE, "data/ab/one"), -1);
    assert_int_equal(dr_backend_get(b, "data/ab/one", 0, 1, &out), DR_ENOENT);

    char **names = NULL;
    size_t n = dr_mem_backend_names(STORE, "", &names);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "data/ab/two");
    assert_string_equal(names[1], "snapshots/a");
    dr_mem_backend_names_free(names, n);
    assert_true(dr_mem_backend_gets(STORE) >= 4);

    dr_buf_release(&out);
    dr_backend_close(b);
    dr_mem_backend_destroy(STORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unregistered_scheme),
        cmocka_unit_test(test_put_get_list_delete),
        cmocka_unit_test(test_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
