/* test_lock.c: the repository lock rules (src/store/lock.c via dr_repo_lock) between two
 * clients of one repository in the in-memory backend.
 *
 * Covers: shared + shared is allowed; shared then exclusive, exclusive then shared and
 * exclusive then exclusive are refused with DR_ELOCKED and a message; releasing a lock removes
 * its object and lets the refused request through; the reserve object is written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/lock.h"
#include "drrepo/mem.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "store-lock"

/* Clients a (repo[0]) and b (repo[1]) of one repository. */
static int setup(void **state)
{
    *state = dr_test_env_new(STORE, 2);
    return 0;
}

static int teardown(void **state)
{
    dr_test_env_free(*state);
    return 0;
}

static void test_shared_shared(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_lock *l1 = NULL, *l2 = NULL;
    assert_int_equal(dr_repo_lock(e->repo[0], 0, &l1), 0);
    assert_int_equal(dr_repo_lock(e->repo[1], 0, &l2), 0);
    assert_int_equal(dr_mem_backend_count(STORE, "locks/"), 2);
    assert_true(dr_mem_backend_size(STORE, DR_OBJ_RESERVE) > 0);
    dr_lock_release(l1);
    dr_lock_release(l2);
    assert_int_equal(dr_mem_backend_count(STORE, "locks/"), 0);
}

static void test_shared_exclusive(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_lock *l1 = NULL, *l2 = NULL;
    assert_int_equal(dr_repo_lock(e->repo[0], 0, &l1), 0);
    assert_int_equal(dr_repo_lock(e->repo[1], DR_LOCK_EXCLUSIVE, &l2), DR_ELOCKED);
    assert_null(l2);
    assert_true(strlen(dr_error_msg()) > 0);
    /* the refused lock left nothing behind */
    assert_int_equal(dr_mem_backend_count(STORE, "locks/"), 1);
    dr_lock_release(l1);
    assert_int_equal(dr_repo_lock(e->repo[1], DR_LOCK_EXCLUSIVE, &l2), 0);
    dr_lock_release(l2);
}

static void test_exclusive_refuses_all(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_lock *l1 = NULL, *l2 = NULL;
    assert_int_equal(dr_repo_lock(e->repo[0], DR_LOCK_EXCLUSIVE, &l1), 0);
    assert_int_equal(dr_repo_lock(e->repo[1], DR_LOCK_EXCLUSIVE, &l2), DR_ELOCKED);
    assert_int_equal(dr_repo_lock(e->repo[1], 0, &l2), DR_ELOCKED);
    assert_null(l2);
    assert_int_equal(dr_mem_backend_count(STORE, "locks/"), 1);
    dr_lock_release(l1);
    assert_int_equal(dr_mem_backend_count(STORE, "locks/"), 0);
    assert_int_equal(dr_repo_lock(e->repo[1], 0, &l2), 0);
    dr_lock_release(l2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_refuses_all, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
