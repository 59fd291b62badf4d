/* dr-test-tool: reaches drrepo internals from shell tests (git's t/helper/test-tool).
 *
 *   dr-test-tool flip FILE OFFSET [BIT]      flip one bit (BIT 0..7, default 0) of the byte at
 *                                            OFFSET
 *   dr-test-tool setbyte FILE OFFSET VALUE   overwrite one byte
 *   dr-test-tool config-version FILE N       set a config's format version to N and recompute
 *                                            its checksum (a config of a newer drrepo)
 *   dr-test-tool truncate FILE LENGTH        cut a file
 *   dr-test-tool plant-key REPO OPS MEM PASSWORD
 *                                            write keys/<id>, a key file (of the version the
 *                                            repository's format has) wrapping a random master
 *                                            key as someone without the repository's key could,
 *                                            declaring Argon2id limits OPS and MEM (it is made
 *                                            with the cheapest limits and then patched: its tag
 *                                            fails either way); prints its id
 *   dr-test-tool lock REPO shared|exclusive HOST PID [AGE_SECONDS]
 *                                            write a lock file as another holder would, last
 *                                            refreshed AGE_SECONDS ago (default 0): in its
 *                                            record and, for a local directory, by its mtime
 *                                            (the repository's clock, dr_backend_age)
 *   dr-test-tool gen FILE SIZE SEED [TEXT]   deterministic test data (text-like with TEXT)
 *   dr-test-tool packs REPO                  list pack objects with sizes
 *   dr-test-tool index-claim INDEXDIR PACKHEX TYPE
 *                                            make the index claim a blob the pack does not have
 *   dr-test-tool index-refs INDEXDIR [BLOBHEX REFS]
 *                                            list every indexed blob as "id type refs", or set
 *                                            one blob's reference count
 *   dr-test-tool scale-gen REPO SNAPSHOTS BLOBS [BATCH]
 *                                            add SNAPSHOTS synthetic snapshots to REPO (password
 *                                            $DRREPO_PASSWORD, cache $DRREPO_CACHE_DIR), each
 *                                            with about BLOBS new 48-byte blobs; BATCH snapshots
 *                                            share one pack flush (default: enough to fill a
 *                                            pack). See scale_gen below and bench/scale.sh.
 *   dr-test-tool node-list REPO SNAPSHOTHEX PATH
 *                                            how file PATH of the snapshot keeps its chunks
 *                                            (password $DRREPO_PASSWORD): "list DEPTH NLISTS
 *                                            NCHUNKS LISTID" for a chunk list (chunklist.md),
 *                                            "tree NCHUNKS" for chunks in its tree
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drrepo/backend.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/index.h"
#include "drrepo/secure.h"
#include "drrepo/lock.h"
#include "drrepo/mem.h"
#include "drrepo/pipeline.h"
#include "drrepo/repo.h"
#include "drrepo/snapshot.h"
#include "drrepo/tree.h"
#include "drrepo/util.h"

static int die(const char *msg)
{
    fprintf(stderr, "dr-test-tool: %s\n", msg);
    return 1;
}

static int modify_byte(const char *path, const char *offs, const char *val, bool flip)
{
    uint64_t off, v = 0;
    if (dr_parse_u64(offs, &off) < 0 || (val && dr_parse_u64(val, &v) < 0) || (flip && v > 7)) {
        return die("bad number");
    }
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        return die(strerror(errno));
    }
    uint8_t b;
    if (pread(fd, &b, 1, (off_t)off) != 1) {
        close(fd);
        return die("offset beyond end of file");
    }
    b = flip ? (uint8_t)(b ^ (1u << v)) : (uint8_t)v;
    int ok = pwrite(fd, &b, 1, (off_t)off) == 1;
    close(fd);
    return ok ? 0 : die(strerror(errno));
}

/* xorshift64*: fast deterministic bytes; "text" mode emits SQL-like lines so compression and
 * dedup behave as they do on real dumps. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int gen(const char *path, const char *sizes, const char *seeds, bool text)
{
    uint64_t size, seed;
    if (dr_parse_size(sizes, &size) < 0 || dr_parse_u64(seeds, &seed) < 0) {
        return die("bad size or seed");
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        return die(strerror(errno));
    }
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    static const char *words[] = {"alpha",      "beta",   "gamma", "delta",   "users", "orders",
                                  "2026-11-21", "active", "paid",  "pending", "NULL",  "eu-west"};
    char line[256];
    uint64_t done = 0;
    while (done < size) {
        size_t n;
        if (text) {
            uint64_t r = rng_next(&s);
            n = (size_t)snprintf(
                line, sizeof(line), "INSERT INTO t VALUES (%llu, '%s', '%s', %llu, '%s');\n",
                (unsigned long long)(done / 64), words[r % 12], words[(r >> 8) % 12],
                (unsigned long long)((r >> 16) % 100000), words[(r >> 40) % 12]);
        } else {
            for (n = 0; n < sizeof(line); n += 8) {
                uint64_t r = rng_next(&s);
                memcpy(line + n, &r, 8);
            }
        }
        if (n > size - done) {
            n = (size_t)(size - done);
        }
        if (fwrite(line, 1, n, f) != n) {
            fclose(f);
            return die(strerror(errno));
        }
        done += n;
    }
    return fclose(f) == 0 ? 0 : die(strerror(errno));
}

static int lock(const char *repo, const char *kind, const char *host, const char *pids,
                const char *ages)
{
    uint64_t pid, age = 0;
    if (dr_parse_u64(pids, &pid) < 0 || (ages && dr_parse_u64(ages, &age) < 0)) {
        return die("bad pid or age");
    }
    struct dr_lock_info li;
    memset(&li, 0, sizeof(li));
    li.exclusive = strcmp(kind, "exclusive") == 0;
    li.pid = (uint32_t)pid;
    li.created_ns = li.refreshed_ns = dr_time_now_ns() - (int64_t)age * 1000000000;
    snprintf(li.host, sizeof(li.host), "%s", host);
    snprintf(li.user, sizeof(li.user), "test");
    struct dr_backend *b;
    struct dr_buf raw = DR_BUF_INIT(4096);
    if (dr_backend_open(repo, &b) < 0 || dr_lockrec_encode(&li, &raw) < 0) {
        return die(dr_error_msg());
    }
    char name[64];
    snprintf(name, sizeof(name), "locks/testlock%llu", (unsigned long long)pid);
    int rc = dr_backend_put(b, name, raw.buf, raw.len, false);
    dr_buf_release(&raw);
    dr_backend_close(b);
    if (rc < 0) {
        return die(dr_error_msg());
    }
    if (age > 0 && repo[0] == '/') {
        char *path = dr_fs_join(repo, name);
        struct timespec ts[2];
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[1] = ts[0];
        ts[1].tv_sec -= (time_t)age;
        rc = utimensat(AT_FDCWD, path, ts, 0);
        free(path);
        if (rc < 0) {
            return die(strerror(errno));
        }
    }
    return 0;
}

static int print_cb(void *arg, const char *name, uint64_t size)
{
    (void)arg;
    printf("%s %llu\n", name, (unsigned long long)size);
    return 0;
}

static int packs(const char *repo)
{
    struct dr_backend *b;
    if (dr_backend_open(repo, &b) < 0) {
        return die(dr_error_msg());
    }
    int rc = dr_backend_list(b, "data", print_cb, NULL);
    if (rc >= 0) {
        rc = dr_backend_list(b, "tree", print_cb, NULL);
    }
    dr_backend_close(b);
    return rc < 0 ? die(dr_error_msg()) : 0;
}

static int index_claim(const char *dir, const char *packhex, const char *types)
{
    struct dr_id pack, blob;
    uint64_t type;
    if (dr_id_parse(packhex, &pack) < 0 || dr_parse_u64(types, &type) < 0) {
        return die("bad pack id or type");
    }
    dr_random_bytes(blob.b, sizeof(blob.b));
    struct dr_index *idx;
    struct dr_index_txn *txn;
    struct dr_index_blob b = {
        .pack = pack, .type = (uint8_t)type, .offset = 16, .clen = 100, .ulen = 50, .refs = 0};
    int rc = dr_index_open(dir, &idx);
    if (rc >= 0) {
        rc = dr_index_begin(idx, true, &txn);
        if (rc >= 0) {
            rc = dr_index_blob_put(txn, &blob, &b);
            rc = rc < 0 ? (dr_index_abort(txn), rc) : dr_index_commit(txn);
        }
        dr_index_close(idx);
    }
    char hex[DR_ID_HEX_LEN + 1];
    printf("%s\n", dr_id_hex(&blob, hex));
    return rc < 0 ? die(dr_error_msg()) : 0;
}

static int print_blob(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    (void)arg;
    char hex[DR_ID_HEX_LEN + 1];
    printf("%s %u %u\n", dr_id_hex(id, hex), (unsigned)b->type, (unsigned)b->refs);
    return 0;
}

/* Lists the index's blobs with their reference counts, or sets one count (refs "as a wrong
 * recount would have left it", for check's comparison). */
static int index_refs(const char *dir, const char *blobhex, const char *refs)
{
    struct dr_id blob;
    uint64_t n = 0;
    if (blobhex && (dr_id_parse(blobhex, &blob) < 0 || dr_parse_u64(refs, &n) < 0)) {
        return die("bad blob id or count");
    }
    struct dr_index *idx;
    struct dr_index_txn *txn;
    int rc = dr_index_open(dir, &idx);
    if (rc >= 0) {
        rc = dr_index_begin(idx, blobhex != NULL, &txn);
        if (rc >= 0 && !blobhex) {
            rc = dr_index_blob_foreach(txn, print_blob, NULL);
            dr_index_abort(txn);
        } else if (rc >= 0) {
            struct dr_index_blob b;
            rc = dr_index_blob_get(txn, &blob, &b);
            if (rc >= 0) {
                b.refs = (uint32_t)n;
                rc = dr_index_blob_put(txn, &blob, &b);
            }
            rc = rc < 0 ? (dr_index_abort(txn), rc) : dr_index_commit(txn);
        }
        dr_index_close(idx);
    }
    return rc < 0 ? die(dr_error_msg()) : 0;
}

/* A config of format version 2 or later with another version and a valid checksum. */
static int config_version(const char *path, const char *vs)
{
    uint64_t v;
    struct dr_buf b = DR_BUF_INIT(DR_CONFIG_MAX);
    if (dr_parse_u64(vs, &v) < 0 || v > UINT32_MAX || dr_fs_read_file(path, &b) < 0 ||
        b.len < 8 + 4 + DR_ID_LEN) {
        dr_buf_release(&b);
        return die("bad version or unreadable config");
    }
    struct dr_id sum;
    dr_put_u32le((uint8_t *)b.buf + 8, (uint32_t)v);
    dr_crypto_hash(b.buf, b.len - DR_ID_LEN, &sum);
    memcpy(b.buf + b.len - DR_ID_LEN, sum.b, DR_ID_LEN);
    int rc = dr_fs_write_atomic(path, b.buf, b.len, false);
    dr_buf_release(&b);
    return rc < 0 ? die(dr_error_msg()) : 0;
}

static int plant_key(const char *repo, const char *opss, const char *mems, const char *pw)
{
    uint64_t ops, mem;
    struct dr_buf cfg = DR_BUF_INIT(DR_CONFIG_MAX), kf = DR_BUF_INIT(DR_KEYFILE_MAX);
    char *path = dr_xasprintf("%s/config", repo);
    int rc = dr_parse_u64(opss, &ops) < 0 || dr_parse_size(mems, &mem) < 0 ? -1 : 0;
    rc = rc < 0 ? rc : dr_crypto_init();
    rc = rc < 0 ? rc : dr_fs_read_file(path, &cfg);
    free(path);
    if (rc < 0 || cfg.len < 16 + DR_ID_LEN) {
        dr_buf_release(&cfg);
        return die("bad limits or unreadable config");
    }
    struct dr_id repo_id, name;
    memcpy(repo_id.b, cfg.buf + 16, DR_ID_LEN);
    struct dr_keys *k = dr_keys_new_random();
    /* the key file version the repository's own key files have */
    uint32_t version = dr_get_u32le((const uint8_t *)cfg.buf + 8) >= 2 ? DR_KEYFILE_VERSION : 1;
    struct dr_keyfile_params p = {version, 1, 8192, "planted", "nobody", 0};
    rc = dr_keyfile_create(k, &repo_id, pw, strlen(pw), &p, &kf);
    dr_keys_free(k);
    if (rc >= 0) {
        dr_put_u64le((uint8_t *)kf.buf + 16, ops);
        dr_put_u64le((uint8_t *)kf.buf + 24, mem);
        dr_crypto_hash(kf.buf, kf.len, &name);
        char hex[DR_ID_HEX_LEN + 1];
        path = dr_xasprintf("%s/keys/%s", repo, dr_id_hex(&name, hex));
        rc = dr_fs_write_atomic(path, kf.buf, kf.len, true);
        free(path);
        if (rc >= 0) {
            printf("%s\n", hex);
        }
    }
    dr_buf_release(&cfg);
    dr_buf_release(&kf);
    return rc < 0 ? die(dr_error_msg()) : 0;
}

/* scale-gen: a large repository built quickly through the store's own write path (pipeline,
 * packs, index with reference counts, snapshot objects), so that what it builds is what drrepo
 * would have written, only without reading files. The synthetic source is a root of NDIRS
 * directories of FILES_PER_DIR one-chunk files; every snapshot rewrites CHANGED directories
 * (round robin) with new 48-byte blobs and reuses the other directories' trees unchanged, so a
 * snapshot adds CHANGED x FILES_PER_DIR data blobs and CHANGED + 1 trees, and a blob stays
 * referenced by NDIRS / CHANGED consecutive snapshots. A blob's content is its global number
 * followed by pseudo-random bytes, so every blob is distinct. The snapshots of a batch share
 * one pipeline flush (their data goes into full-size packs, as after a repack): a flush per
 * snapshot would leave a 100 KB pack and an fsync per snapshot, which only slows the build. */
#define SG_FILES_PER_DIR 250u
#define SG_BLOB_LEN 48u

struct sg {
    struct dr_repo *r;
    struct dr_pipeline *w; /* the current batch's */
    uint32_t files, changed, ndirs;
    struct dr_id *dirs; /* the current tree of each directory */
    uint64_t nblobs, seed;
    uint64_t added, packs; /* pipeline stats, summed */
    struct dr_id parent;
    bool has_parent;
};

static void sg_release(void *arg)
{
    (void)arg; /* the batch's buffer is freed after the drain */
}

static char *sg_name(const char *fmt, uint32_t i)
{
    char name[32];
    snprintf(name, sizeof(name), fmt, i);
    return dr_xstrdup(name);
}

/* Encodes t and stores it as a tree blob. */
static int sg_put_tree(struct sg *g, struct dr_tree *t, struct dr_id *out)
{
    struct dr_buf enc = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    dr_tree_sort(t);
    int rc = dr_tree_encode(t, &enc);
    if (rc >= 0) {
        rc = dr_pipeline_put_tree(g->w, (const uint8_t *)enc.buf, enc.len, out);
    }
    dr_buf_release(&enc);
    return rc;
}

/* The tree of one directory whose files have the blob ids ids[0..files). */
static int sg_dir_tree(struct sg *g, const struct dr_id *ids, int64_t mtime, struct dr_id *out)
{
    struct dr_tree t;
    dr_tree_init(&t);
    for (uint32_t f = 0; f < g->files; f++) {
        struct dr_node n = {0};
        n.name = sg_name("f%04u", f);
        n.type = DR_NODE_FILE;
        n.mode = 0644;
        n.user = dr_xstrdup("bench");
        n.group = dr_xstrdup("bench");
        n.mtime_ns = n.ctime_ns = mtime;
        n.size = SG_BLOB_LEN;
        n.nlink = 1;
        n.nchunks = 1;
        n.chunks = dr_xmalloc(sizeof(*n.chunks));
        n.chunks[0] = ids[f];
        n.chunk_sizes = dr_xmalloc(sizeof(*n.chunk_sizes));
        n.chunk_sizes[0] = SG_BLOB_LEN;
        dr_tree_add(&t, &n);
    }
    int rc = sg_put_tree(g, &t, out);
    dr_tree_release(&t);
    return rc;
}

/* Stores the root tree of snapshot k, which lists the current directory trees. */
static int sg_root(struct sg *g, int64_t time_ns, struct dr_id *out)
{
    struct dr_tree root;
    dr_tree_init(&root);
    for (uint32_t d = 0; d < g->ndirs; d++) {
        struct dr_node n = {0};
        n.name = sg_name("d%04u", d);
        n.type = DR_NODE_DIR;
        n.mode = 0755;
        n.user = dr_xstrdup("bench");
        n.group = dr_xstrdup("bench");
        n.mtime_ns = n.ctime_ns = time_ns;
        n.nlink = 1;
        n.subtree = g->dirs[d];
        dr_tree_add(&root, &n);
    }
    int rc = sg_put_tree(g, &root, out);
    dr_tree_release(&root);
    return rc;
}

/* Commits snapshot k of root tree root. Each commit has a pipeline of its own, as each
 * `drrepo snapshot` has: a pipeline keeps a read transaction of the index open, and one kept
 * across commits would pin the pages that every commit's reference counting replaces (the
 * index file grew by gigabytes). Its flush writes nothing: the batch's packs are written. */
static int sg_commit(struct sg *g, uint64_t k, int64_t time_ns, const struct dr_id *root)
{
    struct dr_pipeline *w;
    int rc = dr_pipeline_open(g->r, &w);
    if (rc < 0) {
        return rc;
    }
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    s.time_ns = time_ns;
    s.host = dr_xstrdup("scale-gen");
    s.user = dr_xstrdup("bench");
    s.source = dr_xstrdup("files");
    s.parent = g->parent;
    s.has_parent = g->has_parent;
    s.summary.files_new = (uint64_t)(k == 0 ? g->ndirs : g->changed) * g->files;
    s.summary.files_unchanged = (uint64_t)g->ndirs * g->files - s.summary.files_new;
    s.summary.dirs = g->ndirs + 1;
    s.summary.bytes_total = (uint64_t)g->ndirs * g->files * SG_BLOB_LEN;
    s.tree = *root;
    dr_snapshot_add_path(&s, "/data");
    rc = dr_pipeline_commit(w, &s, &g->parent);
    g->has_parent = true;
    dr_pipeline_free(w);
    dr_snapshot_release(&s);
    return rc;
}

/* Snapshots first..first+n-1: one pipeline stores all their blobs and trees and writes its
 * packs, then each snapshot is committed. */
static int sg_batch(struct sg *g, uint64_t first, uint64_t n, int64_t t0)
{
    /* snapshot 0 writes every directory, the others CHANGED of them */
    uint64_t dirs_total = 0;
    for (uint64_t k = first; k < first + n; k++) {
        dirs_total += k == 0 ? g->ndirs : g->changed;
    }
    uint64_t nb = dirs_total * g->files;
    uint8_t *data = dr_xmalloc(nb * SG_BLOB_LEN);
    struct dr_id *ids = dr_xcalloc(nb, sizeof(*ids));
    struct dr_id *roots = dr_xcalloc(n, sizeof(*roots));
    int rc = dr_pipeline_open(g->r, &g->w);
    for (uint64_t i = 0; rc >= 0 && i < nb; i++) {
        uint8_t *p = data + i * SG_BLOB_LEN;
        uint64_t x = (g->nblobs + i + 1) * 0x9E3779B97F4A7C15ULL ^ g->seed;
        dr_put_u64le(p, g->nblobs + i);
        for (unsigned o = 8; o < SG_BLOB_LEN; o += 8) {
            dr_put_u64le(p + o, rng_next(&x));
        }
        rc = dr_pipeline_put_data_ref(g->w, p, SG_BLOB_LEN, sg_release, NULL, &ids[i]);
    }
    if (rc >= 0) {
        rc = dr_pipeline_drain(g->w);
    }
    uint64_t at = 0;
    for (uint64_t k = first; rc >= 0 && k < first + n; k++) {
        int64_t time_ns = t0 + (int64_t)k * 3600 * 1000000000LL;
        uint32_t nd = k == 0 ? g->ndirs : g->changed;
        for (uint32_t j = 0; rc >= 0 && j < nd; j++, at += g->files) {
            uint32_t d = k == 0 ? j : (uint32_t)((k * g->changed + j) % g->ndirs);
            rc = sg_dir_tree(g, ids + at, time_ns, &g->dirs[d]);
        }
        if (rc >= 0) {
            rc = sg_root(g, time_ns, &roots[k - first]);
        }
    }
    if (rc >= 0) {
        rc = dr_pipeline_flush(g->w);
    }
    if (g->w) {
        struct dr_pipeline_stats st;
        dr_pipeline_get_stats(g->w, &st);
        g->added += st.blobs_added;
        g->packs += st.packs_written;
        dr_pipeline_free(g->w);
        g->w = NULL;
    }
    for (uint64_t k = first; rc >= 0 && k < first + n; k++) {
        rc = sg_commit(g, k, t0 + (int64_t)k * 3600 * 1000000000LL, &roots[k - first]);
    }
    g->nblobs += nb;
    free(roots);
    free(ids);
    free(data);
    return rc;
}

static int scale_gen(const char *repo, const char *snaps, const char *blobs, const char *batchs)
{
    uint64_t nsnap, nblob, batch = 0;
    if (dr_parse_u64(snaps, &nsnap) < 0 || dr_parse_u64(blobs, &nblob) < 0 || nblob == 0 ||
        nblob > 1000000 || (batchs && dr_parse_u64(batchs, &batch) < 0)) {
        return die("bad SNAPSHOTS, BLOBS (1..1000000) or BATCH");
    }
    struct sg g = {.seed = 0x5CA1E};
    /* directories of at most SG_FILES_PER_DIR files, as few as hold BLOBS, evenly filled */
    g.changed = (uint32_t)((nblob + SG_FILES_PER_DIR - 1) / SG_FILES_PER_DIR);
    g.files = (uint32_t)((nblob + g.changed - 1) / g.changed);
    g.ndirs = 2 * g.changed;
    g.dirs = dr_xcalloc(g.ndirs, sizeof(*g.dirs));
    struct dr_repo_open_opts o = {.location = repo, .password = getenv("DRREPO_PASSWORD")};
    struct dr_lock *lk = NULL;
    int rc = o.password ? dr_repo_open(&o, &g.r) : die("DRREPO_PASSWORD is not set");
    if (rc < 0) {
        free(g.dirs);
        return o.password ? die(dr_error_msg()) : 1;
    }
    rc = dr_repo_lock(g.r, 0, &lk);
    if (rc >= 0) {
        dr_repo_set_lock(g.r, lk);
        rc = dr_repo_sync_index(g.r, DR_SYNC_CHANGES);
    }
    if (batch == 0) {
        /* enough snapshots to fill a pack (a sealed 48-byte record takes about 100 bytes) */
        batch = g.r ? dr_repo_config(g.r)->pack_size / ((uint64_t)g.changed * g.files * 100) : 1;
        batch = batch ? batch : 1;
    }
    /* a fixed start (2020-01-01) with hourly snapshots: the repository does not depend on the
     * day it was built */
    int64_t t0 = 1577836800LL * 1000000000LL;
    for (uint64_t k = 0; rc >= 0 && k < nsnap; k += batch) {
        rc = sg_batch(&g, k, nsnap - k < batch ? nsnap - k : batch, t0);
    }
    if (rc >= 0) {
        printf("snapshots %llu data_blobs %llu blobs_added %llu packs %llu\n",
               (unsigned long long)nsnap, (unsigned long long)g.nblobs, (unsigned long long)g.added,
               (unsigned long long)g.packs);
    } else {
        die(dr_error_msg());
    }
    if (lk) {
        dr_repo_set_lock(g.r, NULL);
        dr_lock_release(lk);
    }
    dr_repo_close(g.r);
    free(g.dirs);
    return rc < 0 ? 1 : 0;
}

static int node_list(const char *repo, const char *snaphex, const char *path)
{
    struct dr_repo_open_opts o = {.location = repo, .password = getenv("DRREPO_PASSWORD")};
    struct dr_repo *r = NULL;
    struct dr_id id;
    if (!o.password || dr_id_parse(snaphex, &id) < 0) {
        return die("DRREPO_PASSWORD is not set, or a bad snapshot id");
    }
    int rc = dr_repo_open(&o, &r);
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    struct dr_node n = {0};
    if (rc >= 0) {
        rc = dr_repo_snapshot_load(r, &id, &s);
    }
    if (rc >= 0) {
        rc = dr_repo_find_node(r, &s, path, &n);
    }
    if (rc >= 0 && (n.flags & DR_NODE_F_LISTED)) {
        char hex[DR_ID_HEX_LEN + 1];
        printf("list %u %u %u %s\n", n.list_depth, n.nlists, n.nchunks, dr_id_hex(&n.list, hex));
    } else if (rc >= 0) {
        printf("tree %u\n", n.nchunks);
    }
    if (rc < 0) {
        die(dr_error_msg());
    }
    dr_node_release(&n);
    dr_snapshot_release(&s);
    if (r) {
        dr_repo_close(r);
    }
    return rc < 0 ? 1 : 0;
}

/* LeakSanitizer asks the program whether to check at exit. This helper is not under test, and
 * the check costs tens of milliseconds at every exit, times the hundreds of files the shell tests
 * generate with it; drrepo itself keeps the check. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "flip") == 0) {
        return modify_byte(argv[2], argv[3], argc >= 5 ? argv[4] : NULL, true);
    }
    if (argc >= 5 && strcmp(argv[1], "setbyte") == 0) {
        return modify_byte(argv[2], argv[3], argv[4], false);
    }
    if (argc >= 4 && strcmp(argv[1], "config-version") == 0) {
        return config_version(argv[2], argv[3]);
    }
    if (argc >= 6 && strcmp(argv[1], "plant-key") == 0) {
        return plant_key(argv[2], argv[3], argv[4], argv[5]);
    }
    if (argc >= 4 && strcmp(argv[1], "truncate") == 0) {
        uint64_t len;
        if (dr_parse_u64(argv[3], &len) < 0 || truncate(argv[2], (off_t)len) < 0) {
            return die("cannot truncate");
        }
        return 0;
    }
    if (argc >= 6 && strcmp(argv[1], "lock") == 0) {
        return lock(argv[2], argv[3], argv[4], argv[5], argc >= 7 ? argv[6] : NULL);
    }
    if (argc >= 5 && strcmp(argv[1], "gen") == 0) {
        return gen(argv[2], argv[3], argv[4], argc >= 6 && strcmp(argv[5], "text") == 0);
    }
    if (argc >= 3 && strcmp(argv[1], "index-refs") == 0) {
        return index_refs(argv[2], argc >= 5 ? argv[3] : NULL, argc >= 5 ? argv[4] : NULL);
    }
    if (argc >= 5 && strcmp(argv[1], "index-claim") == 0) {
        return index_claim(argv[2], argv[3], argv[4]);
    }
    if (argc >= 5 && strcmp(argv[1], "scale-gen") == 0) {
        return scale_gen(argv[2], argv[3], argv[4], argc >= 6 ? argv[5] : NULL);
    }
    if (argc >= 5 && strcmp(argv[1], "node-list") == 0) {
        return node_list(argv[2], argv[3], argv[4]);
    }
    if (argc >= 3 && strcmp(argv[1], "packs") == 0) {
        return packs(argv[2]);
    }
    return die("usage: see the comment at the top of tests/helper/dr-test-tool.c");
}
