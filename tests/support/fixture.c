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
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pipeline.h"
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

int dr_test_tmpdir_setup(void **state)
{
    *state = dr_test_tmpdir();
    return 0;
}

int dr_test_tmpdir_teardown(void **state)
{
    dr_test_rmtree(*state);
    free(*state);
    *state = NULL;
    return 0;
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
    dr_test_repo_init_version(store, DR_REPO_VERSION);
}

void dr_test_repo_init_version(const char *store, uint32_t version)
{
    /* warnings and errors stay visible; "building the index" on every fresh cache is noise */
    dr_log_set_level(DR_LOG_WARN);
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
    p.version = version;
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

struct dr_test_env *dr_test_env_new(const char *store, size_t nclients)
{
    return dr_test_env_new_version(store, nclients, DR_REPO_VERSION);
}

struct dr_test_env *dr_test_env_new_version(const char *store, size_t nclients, uint32_t version)
{
    assert_true(nclients >= 1 && nclients <= DR_TEST_CLIENTS_MAX);
    struct dr_test_env *env = dr_xcalloc(1, sizeof(*env));
    env->store = store;
    env->nclients = nclients;
    for (size_t i = 0; i < nclients; i++) {
        env->cache[i] = dr_test_tmpdir();
    }
    dr_test_repo_init_version(store, version);
    for (size_t i = 0; i < nclients; i++) {
        env->repo[i] = dr_test_repo_open(store, env->cache[i]);
    }
    return env;
}

void dr_test_env_free(struct dr_test_env *env)
{
    for (size_t i = 0; i < env->nclients; i++) {
        dr_repo_close(env->repo[i]);
        dr_test_rmtree(env->cache[i]);
        free(env->cache[i]);
    }
    dr_mem_backend_destroy(env->store);
    free(env);
}

void dr_test_find_node(struct dr_repo *r, const struct dr_id *id, const char *path,
                       struct dr_node *out)
{
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    assert_int_equal(dr_repo_snapshot_load(r, id, &s), 0);
    assert_int_equal(dr_repo_find_node(r, &s, path, out), 0);
    dr_snapshot_release(&s);
}

uint32_t dr_test_refs(struct dr_repo *r, const struct dr_id *id)
{
    struct dr_index_txn *txn = NULL;
    struct dr_index_blob b;
    assert_int_equal(dr_index_begin(dr_repo_index(r), false, &txn), 0);
    assert_int_equal(dr_index_blob_get(txn, id, &b), 0);
    assert_int_equal(dr_index_commit(txn), 0);
    return b.refs;
}

void dr_test_numbered_id(struct dr_id *id, uint32_t n)
{
    for (size_t i = 0; i < sizeof(id->b); i++) {
        id->b[i] = (uint8_t)(n * 31u + i * 7u);
    }
    id->b[0] = (uint8_t)(n >> 24);
    id->b[1] = (uint8_t)(n >> 16);
    id->b[2] = (uint8_t)(n >> 8);
    id->b[3] = (uint8_t)n;
}

uint32_t dr_test_id_number(const struct dr_id *id)
{
    return (uint32_t)id->b[0] << 24 | (uint32_t)id->b[1] << 16 | (uint32_t)id->b[2] << 8 | id->b[3];
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

#define TEST_CHUNK (16u * 1024)

/* Adds a file node for f to t, its data submitted to w in TEST_CHUNK pieces. */
static void add_file(struct dr_pipeline *w, struct dr_tree *t, const struct dr_test_file *f)
{
    struct dr_node n = {0};
    n.name = dr_xstrdup(f->name);
    n.type = DR_NODE_FILE;
    n.mode = 0644;
    n.user = dr_xstrdup("");
    n.group = dr_xstrdup("");
    n.mtime_ns = 1700000000LL * 1000000000LL;
    n.ctime_ns = n.mtime_ns;
    n.size = f->size;
    n.nlink = 1;
    n.nchunks = (uint32_t)((f->size + TEST_CHUNK - 1) / TEST_CHUNK);
    n.chunks = dr_xcalloc(n.nchunks + 1, sizeof(*n.chunks));
    n.chunk_sizes = dr_xcalloc(n.nchunks + 1, sizeof(*n.chunk_sizes));
    uint8_t *all = dr_xmalloc(f->size + 1);
    dr_test_fill(all, f->size, f->seed);
    for (uint32_t i = 0; i < n.nchunks; i++) {
        size_t off = (size_t)i * TEST_CHUNK;
        size_t len = f->size - off < TEST_CHUNK ? f->size - off : TEST_CHUNK;
        uint8_t *piece = dr_xmalloc(len);
        memcpy(piece, all + off, len);
        n.chunk_sizes[i] = (uint32_t)len;
        assert_int_equal(dr_pipeline_put_data(w, piece, len, &n.chunks[i]), 0);
    }
    free(all);
    /* the ids are written by the drain; the node's arrays move into the tree */
    dr_tree_add(t, &n);
}

static void put_tree(struct dr_pipeline *w, struct dr_tree *t, struct dr_id *out)
{
    struct dr_buf enc = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    dr_tree_sort(t);
    assert_int_equal(dr_tree_encode(t, &enc), 0);
    assert_int_equal(dr_pipeline_put_tree(w, (const uint8_t *)enc.buf, enc.len, out), 0);
    dr_buf_release(&enc);
}

void dr_test_commit(struct dr_repo *r, const struct dr_test_file *files, size_t n, int64_t time_ns,
                    struct dr_id *out_snap)
{
    struct dr_pipeline *w = NULL;
    struct dr_tree root, sub;
    bool has_sub = false;
    dr_tree_init(&root);
    dr_tree_init(&sub);
    assert_int_equal(dr_pipeline_open(r, &w), 0);
    for (size_t i = 0; i < n; i++) {
        add_file(w, files[i].in_sub ? &sub : &root, &files[i]);
        has_sub |= files[i].in_sub;
    }
    assert_int_equal(dr_pipeline_drain(w), 0);
    if (has_sub) {
        struct dr_node d = {0};
        d.name = dr_xstrdup("sub");
        d.type = DR_NODE_DIR;
        d.mode = 0755;
        d.user = dr_xstrdup("");
        d.group = dr_xstrdup("");
        d.nlink = 1;
        put_tree(w, &sub, &d.subtree);
        dr_tree_add(&root, &d);
    }
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    s.time_ns = time_ns;
    s.host = dr_xstrdup("unit");
    s.user = dr_xstrdup("test");
    s.source = dr_xstrdup("files");
    dr_snapshot_add_path(&s, "/data");
    put_tree(w, &root, &s.tree);
    int rc = dr_pipeline_commit(w, &s, out_snap);
    if (rc < 0) {
        fail_msg("commit: %s", dr_error_msg());
    }
    dr_pipeline_free(w);
    dr_snapshot_release(&s);
    dr_tree_release(&root);
    dr_tree_release(&sub);
}

void dr_test_assert_content(struct dr_repo *r, const struct dr_node *n, size_t size, uint32_t seed)
{
    assert_int_equal(n->type, DR_NODE_FILE);
    assert_int_equal(n->size, size);
    uint8_t *want = dr_xmalloc(size + 1);
    dr_test_fill(want, size, seed);
    struct dr_buf got = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_buf chunk = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    for (uint32_t i = 0; i < n->nchunks; i++) {
        int rc = dr_repo_chunk_get(r, NULL, n, i, &chunk);
        if (rc < 0) {
            fail_msg("chunk %u of '%s': %s", i, n->name, dr_error_msg());
        }
        assert_int_equal(dr_buf_add(&got, chunk.buf, chunk.len), 0);
    }
    assert_int_equal(got.len, size);
    assert_memory_equal(got.buf, want, size);
    free(want);
    dr_buf_release(&got);
    dr_buf_release(&chunk);
}
