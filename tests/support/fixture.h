/* fixture.h: what the engine unit tests share: a scratch directory under /tmp, a repository in
 * an in-memory store (mem_backend.h) with cheap key derivation and small chunks, and handles
 * that open it with a cache directory of their own (the index is a real LMDB file there).
 *
 * The functions assert with cmocka, so they are called from inside tests or fixtures only. */
#ifndef DR_TESTS_FIXTURE_H
#define DR_TESTS_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drrepo/repo.h"

#define DR_TEST_PASSWORD "unit-test-password"

/* Creates a fresh directory /tmp/drrepo-unit.XXXXXX; the caller frees the returned path. */
char *dr_test_tmpdir(void);

/* Removes the tree at path (nothing when it does not exist). */
void dr_test_rmtree(const char *path);

/* cmocka set-up and tear-down for a test that needs a fresh directory: *state is its path
 * (dr_test_tmpdir), removed with all it holds afterwards. */
int dr_test_tmpdir_setup(void **state);
int dr_test_tmpdir_teardown(void **state);

/* Creates a repository in the empty store "mem://<store>" (registering the driver first):
 * KDF at its cheapest (insecure_kdf), chunks of 4-64 KiB, the smallest pack size. Sets the
 * log level to warnings. */
void dr_test_repo_init(const char *store);
/* The same, of format version `version` (dr_repo_params). */
void dr_test_repo_init_version(const char *store, uint32_t version);

/* Opens "mem://<store>" with its index in cache_dir. */
struct dr_repo *dr_test_repo_open(const char *store, const char *cache_dir);

/* The set-up most engine tests share: the repository "mem://<store>" (dr_test_repo_init) and
 * nclients (1 or 2) handles on it, each with a scratch cache directory of its own. */
#define DR_TEST_CLIENTS_MAX 2

struct dr_test_env {
    const char *store;
    size_t nclients;
    char *cache[DR_TEST_CLIENTS_MAX];
    struct dr_repo *repo[DR_TEST_CLIENTS_MAX];
};

/* Creates the cache directories, initialises the store and opens every client. */
struct dr_test_env *dr_test_env_new(const char *store, size_t nclients);
/* The same, with a repository of format version `version`. */
struct dr_test_env *dr_test_env_new_version(const char *store, size_t nclients, uint32_t version);

/* Closes the clients, removes their cache directories and destroys the store. */
void dr_test_env_free(struct dr_test_env *env);

/* Loads snapshot id through r and finds the node at path into out. */
void dr_test_find_node(struct dr_repo *r, const struct dr_id *id, const char *path,
                       struct dr_node *out);

/* The reference count the index of r holds for blob id (which must be there). */
uint32_t dr_test_refs(struct dr_repo *r, const struct dr_id *id);

/* Id number n, for tests of what orders ids: n big-endian in the first four bytes (ids order
 * bytewise), then bytes derived from n, so that ids differ past their first bytes too. And the
 * number back. */
void dr_test_numbered_id(struct dr_id *id, uint32_t n);
uint32_t dr_test_id_number(const struct dr_id *id);

/* Writes file content of len bytes, derived from seed, into out (deterministic, and not
 * compressible to nothing). */
void dr_test_fill(uint8_t *out, size_t len, uint32_t seed);

/* Writes len bytes to path (0600). */
void dr_test_write_file(const char *path, const void *data, size_t len);

/* Reads the whole file at path into *out (malloc'd); returns its length. */
size_t dr_test_read_file(const char *path, uint8_t **out);

/* A file of a test snapshot: content dr_test_fill(size, seed), at the root or, with in_sub,
 * in the directory "sub". */
struct dr_test_file {
    const char *name;
    size_t size;
    uint32_t seed;
    bool in_sub;
};

/* Commits a snapshot of files through the write pipeline (file data in fixed 16 KiB chunks,
 * trees, snapshot object, reference counts) with host "unit" and time time_ns; no backup engine
 * is involved. The "sub" directory exists when a file is in it. */
void dr_test_commit(struct dr_repo *r, const struct dr_test_file *files, size_t n, int64_t time_ns,
                    struct dr_id *out_snap);

/* Asserts that the content of node n (a file of the snapshot) equals dr_test_fill(size, seed). */
void dr_test_assert_content(struct dr_repo *r, const struct dr_node *n, size_t size, uint32_t seed);

#endif
