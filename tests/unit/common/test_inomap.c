/* test_inomap.c: the (device, inode) map of hard links (src/common/inomap.c). Covers: an empty
 * map finds nothing; 100,000 keys (past many doublings of the table) each find their own index,
 * including keys that differ only in the device or only in the inode; a key never put is not
 * found; release leaves an empty map that can be used again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "drrepo/inomap.h"

static void test_empty(void **state)
{
    (void)state;
    struct dr_inomap m = {0};
    assert_true(dr_inomap_get(&m, 1, 2) == SIZE_MAX);
    dr_inomap_release(&m);
}

static void test_many(void **state)
{
    (void)state;
    struct dr_inomap m;
    dr_inomap_init(&m);
    const size_t n = 100000;
    for (size_t i = 0; i < n; i++) {
        /* inodes repeat on two devices: the device is part of the key */
        dr_inomap_put(&m, i % 2, i / 2 * 7 + 1, i);
    }
    assert_int_equal(m.n, n);
    assert_true(m.nslots >= 2 * n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(dr_inomap_get(&m, i % 2, i / 2 * 7 + 1), i);
    }
    assert_true(dr_inomap_get(&m, 0, 2) == SIZE_MAX); /* an inode never put */
    assert_true(dr_inomap_get(&m, 2, 1) == SIZE_MAX); /* a device never put */
    assert_true(dr_inomap_get(&m, 1, n * 7) == SIZE_MAX);
    dr_inomap_release(&m);
    assert_true(dr_inomap_get(&m, 0, 1) == SIZE_MAX);
    dr_inomap_put(&m, 0, 1, 5);
    assert_int_equal(dr_inomap_get(&m, 0, 1), 5);
    dr_inomap_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
