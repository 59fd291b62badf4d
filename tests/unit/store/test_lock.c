/* test_lock.c: the repository lock rules (src/store/lock.c via dr_repo_lock) between two
 * clients of one repository in the in-memory backend.
 *
 * Covers: shared + shared is allowed; shared then exclusive, exclusive then shared and
 * exclusive then exclusive are refused with DR_ELOCKED and a message; releasing a lock removes
 * its object and lets the refused request through; the reserve object is written.
 * Leases (the binary runs with DRREPO_LOCK_LEASE_S=2): a lock of another host older than the
 * lease by the store's clock (the mem driver's write time, set back) is removed on acquire and
 * does not conflict, as is an expired unreadable lock; one within its lease conflicts, and the
 * message gives its age by the repository's clock; a live lock of this host is never expired by
 * age; dr_lock_check passes while refreshes succeed and fails, for good, once the last
 * successful refresh is older than half the lease (puts of locks/ fail meanwhile), and then a
 * deletion through the repository (a commit point) is refused with the object kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/identity.h"
#include "drrepo/lock.h"
#include "drrepo/util.h"
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

#define LEASE_S 2
#define SEC_NS 1000000000LL

/* Writes locks/<name> as a holder on host (empty: an unreadable lock) would. */
static void plant_lock(struct dr_repo *r, const char *name, const char *host, uint32_t pid)
{
    char obj[64];
    snprintf(obj, sizeof(obj), "locks/%s", name);
    if (!host[0]) {
        assert_int_equal(dr_backend_put(dr_repo_backend(r), obj, "garbage", 7, false), 0);
        return;
    }
    struct dr_lock_info li;
    memset(&li, 0, sizeof(li));
    li.exclusive = true;
    li.pid = pid;
    li.created_ns = li.refreshed_ns = dr_time_now_ns();
    snprintf(li.host, sizeof(li.host), "%s", host);
    snprintf(li.user, sizeof(li.user), "test");
    struct dr_buf raw = DR_BUF_INIT(4096);
    assert_int_equal(dr_lockrec_encode(&li, &raw), 0);
    assert_int_equal(dr_backend_put(dr_repo_backend(r), obj, raw.buf, raw.len, false), 0);
    dr_buf_release(&raw);
}

static void test_expired_other_host_removed(void **state)
{
    struct dr_test_env *e = *state;
    plant_lock(e->repo[1], "other", "otherhost", 1234);
    plant_lock(e->repo[1], "junk", "", 0);
    assert_int_equal(dr_mem_backend_set_age(STORE, "locks/other", (LEASE_S + 1) * SEC_NS), 0);
    assert_int_equal(dr_mem_backend_set_age(STORE, "locks/junk", (LEASE_S + 1) * SEC_NS), 0);
    struct dr_lock *l = NULL;
    assert_int_equal(dr_repo_lock(e->repo[0], DR_LOCK_EXCLUSIVE, &l), 0);
    assert_int_equal(dr_mem_backend_size(STORE, "locks/other"), -1);
    assert_int_equal(dr_mem_backend_size(STORE, "locks/junk"), -1);
    assert_int_equal(dr_mem_backend_count(STORE, "locks/"), 1);
    dr_lock_release(l);
}

static void test_other_host_within_lease_conflicts(void **state)
{
    struct dr_test_env *e = *state;
    plant_lock(e->repo[1], "other", "otherhost", 1234);
    /* its record may say what it likes: the store's clock says it was written just now */
    assert_int_equal(dr_mem_backend_set_age(STORE, "locks/other", SEC_NS / 2), 0);
    struct dr_lock *l = NULL;
    assert_int_equal(dr_repo_lock(e->repo[0], 0, &l), DR_ELOCKED);
    assert_null(l);
    assert_non_null(strstr(dr_error_msg(), "pid 1234 on otherhost"));
    assert_non_null(strstr(dr_error_msg(), "ago by the repository's clock"));
    assert_int_equal(dr_mem_backend_size(STORE, "locks/other") > 0, 1);
}

static void test_live_lock_of_this_host_never_expires(void **state)
{
    struct dr_test_env *e = *state;
    char host[256];
    dr_identity_host(host, sizeof(host), "unknown");
    plant_lock(e->repo[1], "mine", host, (uint32_t)getpid()); /* this process: alive */
    assert_int_equal(dr_mem_backend_set_age(STORE, "locks/mine", 100 * LEASE_S * SEC_NS), 0);
    struct dr_lock *l = NULL;
    assert_int_equal(dr_repo_lock(e->repo[0], 0, &l), DR_ELOCKED);
    assert_int_equal(dr_mem_backend_size(STORE, "locks/mine") > 0, 1);
}

static void test_check_fails_after_half_lease(void **state)
{
    struct dr_test_env *e = *state;
    struct dr_lock *l = NULL;
    assert_int_equal(dr_repo_lock(e->repo[0], 0, &l), 0);
    dr_repo_set_lock(e->repo[0], l);
    assert_int_equal(dr_lock_check(l), 0);
    assert_int_equal(dr_lock_check(NULL), 0);
    /* refreshes succeed (every sixth of the lease): the lease holds past its half */
    usleep(1500 * 1000);
    assert_int_equal(dr_lock_check(l), 0);
    plant_lock(e->repo[1], "x", "", 0);
    dr_mem_backend_fail_put(STORE, "locks/", DR_EIO, -1);
    usleep(1500 * 1000);
    assert_int_equal(dr_lock_check(l), DR_ELOCKED);
    assert_non_null(strstr(dr_error_msg(), "could not be refreshed for"));
    assert_non_null(strstr(dr_error_msg(), "before its lease runs out"));
    /* a commit point refuses, and leaves the object */
    assert_int_equal(dr_repo_delete_object(e->repo[0], "locks/x"), DR_ELOCKED);
    assert_true(dr_mem_backend_size(STORE, "locks/x") > 0);
    /* the store comes back: the lease stays given up, and the lock is not written again */
    dr_mem_backend_fail_put(STORE, "locks/", 0, 0);
    uint64_t puts = dr_mem_backend_puts(STORE);
    usleep(700 * 1000);
    assert_int_equal(dr_lock_check(l), DR_ELOCKED);
    assert_int_equal(dr_mem_backend_puts(STORE), puts);
    dr_repo_set_lock(e->repo[0], NULL);
    assert_int_equal(dr_repo_delete_object(e->repo[0], "locks/x"), 0);
    dr_lock_release(l);
}

int main(void)
{
    /* read once, by the first lock: leases of seconds, not half an hour */
    setenv("DRREPO_LOCK_LEASE_S", "2", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_refuses_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_other_host_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_host_within_lease_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_lock_of_this_host_never_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_fails_after_half_lease, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
