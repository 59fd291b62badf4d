/* fixture.c: shared set-up of the engine unit tests (see fixture.h). */
#include "fixture.h"

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "mem_backend.h"

char *dr_test_tmpdir(void)
{
    char *dir = dr_xstrdup("/tmp/drrepo-unit.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void dr_test_rmtree(const char *path)
{
    if (path) {
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static char *location(const char *store)
{
    size_t len = strlen(store) + sizeof("mem://");
    char *loc = dr_xmalloc(len);
    assert_true(snprintf(loc, len, "mem://%s", store) > 0);
    return loc;
}

void dr_test_repo_init(const char *store)
{
    assert_int_equal(dr_mem_backend_register(), 0);
    struct dr_repo_params p;
    dr_repo_params_default(&p);
    p.kdf_opslimit = 1;
    p.kdf_memlimit = 8192;
    p.insecure_kdf = true;
    p.chunker.min = DR_CHUNK_MIN_LIMIT;
    p.chunker.avg = 16 * 1024;
    p.chunker.max = 64 * 1024;
    p.pack_size = DR_PACK_SIZE_MIN;
    char *loc = location(store);
    struct dr_id id;
    int rc = dr_repo_init(loc, DR_TEST_PASSWORD, &p, &id);
    if (rc < 0) {
        fail_msg("init %s: %s", loc, dr_error_msg());
    }
    free(loc);
}

struct dr_repo *dr_test_repo_open(const char *store, const char *cache_dir)
{
    char *loc = location(store);
    struct dr_repo_open_opts o = {
        .location = loc,
        .password = DR_TEST_PASSWORD,
        .cache_dir = cache_dir,
    };
    struct dr_repo *r = NULL;
    int rc = dr_repo_open(&o, &r);
    if (rc < 0) {
        fail_msg("open %s: %s", loc, dr_error_msg());
    }
    free(loc);
    return r;
}

void dr_test_fill(uint8_t *out, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (uint8_t)x;
    }
}

void dr_test_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

size_t dr_test_read_file(const char *path, uint8_t **out)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t *p = dr_xmalloc((size_t)st.st_size + 1);
    assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
    assert_int_equal(close(fd), 0);
    *out = p;
    return (size_t)st.st_size;
}
