/* fuse.c: the read-only file system of `drrepo mount` (mount.h, docs/MOUNT.md).
 *
 * Layout: / holds snapshots/<time>_<short id>/ (the snapshot's tree), latest (a symlink to the
 * newest snapshot), tags/<tag>/ and hosts/<host>/ (symlinks to the snapshots with that tag or
 * host, and a latest of their own). Paths are resolved from the root on every request through a
 * cache of decoded tree blobs, so listings never read file data.
 *
 * Threads. The FUSE loop is single-threaded (fuse_loop, not fuse_loop_mt): struct dr_repo, its
 * decompressor dr_repo_compressor(r), the tree cache and the snapshot list belong to that thread,
 * which keeps the metadata side free of locks. Throughput comes from read-ahead threads instead: a
 * sequential reader queues the next chunks of its file, and the threads fetch, authenticate and
 * decompress them into the shared chunk cache (cache.c) with a decompressor each, so the loop
 * thread only copies bytes. The threads touch only what is safe to share: the index (LMDB opened
 * MDB_NOTLS; each fetch has its own read transaction), the backend (one open/pread per get) and the
 * keys (read-only). The index sync that makes a new snapshot's packs known takes a write lock that
 * keeps the threads out while it runs.
 *
 * Files are opened with direct_io. The kernel then passes each read through as asked, so a read
 * touching a damaged chunk fails with EIO while reads of other ranges of the same file succeed;
 * through the page cache the kernel's read-ahead would widen requests into the damaged chunk,
 * and a short read would make the kernel shrink the file. The chunk cache replaces the page
 * cache, and private mappings (exec) still work. */
#define FUSE_USE_VERSION 31
#include "drrepo/mount.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/restore.h"
#include "drrepo/util.h"

#define TREE_SLOTS 512u /* decoded trees kept (direct-mapped by id) */
#define QUEUE_MAX 64u   /* read-ahead requests waiting for a thread */
#define MAX_THREADS 8u

struct tree_slot {
    bool valid;
    struct dr_id id;
    struct dr_tree t;
};

struct mfs {
    struct dr_repo *r;
    const struct dr_mount_opts *o;
    uid_t uid;
    gid_t gid;

    /* loop thread only */
    struct dr_snap_entry *snaps; /* oldest first */
    size_t nsnaps;
    char **names; /* "<time>_<short id>", parallel to snaps */
    char **tags, **hosts;
    size_t ntags, nhosts;
    int64_t listed_ns;
    struct tree_slot *trees;

    /* shared with the read-ahead threads */
    struct dr_chunk_cache *cache;
    pthread_rwlock_t repo_rw; /* fetches: read; index sync: write */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    struct dr_id queue[QUEUE_MAX];
    size_t qhead, qlen;
    bool stop;
    pthread_t threads[MAX_THREADS];
    unsigned nthreads;
};

/* An open file: what reads need, copied out of the tree so the tree cache may drop it. */
struct ofile {
    char *path; /* for messages */
    struct dr_filemap map;
    struct dr_id *chunks;
    uint64_t next_off; /* where a sequential reader reads next */
    size_t ra_next;    /* first extent not queued for read-ahead yet */
    int fd;            /* a record-encoded file, rebuilt into an unlinked temporary file; or -1 */
};

/* ---- fetching chunks (any thread) --------------------------------------------------------- */

/* A data blob with the caller's decompressor (dr_repo_compressor(r) belongs to the loop thread),
 * under the read side of repo_rw: an index sync for new snapshots takes the write side. */
static int fetch_blob(struct mfs *m, struct dr_compressor *z, const struct dr_id *id,
                      struct dr_buf *out)
{
    pthread_rwlock_rdlock(&m->repo_rw);
    int rc = dr_repo_blob_get_z(m->r, NULL, z, DR_BLOB_DATA, id, out);
    pthread_rwlock_unlock(&m->repo_rw);
    return rc;
}

/* Loads a cache entry the caller was told to load (acquire returned 1). */
static int load_entry(struct mfs *m, struct dr_compressor *z, struct dr_cchunk *e)
{
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    int rc = fetch_blob(m, z, &e->id, &b);
    if (rc < 0) {
        dr_buf_release(&b);
        dr_chunk_cache_fail(m->cache, e, rc);
        return rc;
    }
    size_t len = 0;
    uint8_t *data = (uint8_t *)dr_buf_detach(&b, &len);
    dr_chunk_cache_fill(m->cache, e, data, len);
    return 0;
}

static void *readahead_main(void *arg)
{
    struct mfs *m = arg;
    struct dr_compressor *z = dr_compressor_new(dr_repo_config(m->r)->zstd_level);
    for (;;) {
        pthread_mutex_lock(&m->qmu);
        while (!m->stop && m->qlen == 0) {
            pthread_cond_wait(&m->qcv, &m->qmu);
        }
        if (m->stop) {
            pthread_mutex_unlock(&m->qmu);
            break;
        }
        struct dr_id id = m->queue[m->qhead];
        m->qhead = (m->qhead + 1) % QUEUE_MAX;
        m->qlen--;
        pthread_mutex_unlock(&m->qmu);
        struct dr_cchunk *e;
        if (dr_chunk_cache_acquire(m->cache, &id, false, &e) == 1 && load_entry(m, z, e) < 0) {
            /* the reader that needs it fetches it again and reports the error */
            dr_log_debug("read-ahead: %s", dr_error_msg());
            dr_error_clear();
        }
        dr_chunk_cache_release(m->cache, e);
    }
    dr_compressor_free(z);
    return NULL;
}

static void queue_readahead(struct mfs *m, const struct dr_id *id)
{
    pthread_mutex_lock(&m->qmu);
    if (m->qlen < QUEUE_MAX) {
        m->queue[(m->qhead + m->qlen) % QUEUE_MAX] = *id;
        m->qlen++;
        pthread_cond_signal(&m->qcv);
    }
    pthread_mutex_unlock(&m->qmu);
}

/* ---- snapshots list (loop thread) ------------------------------------------------------- */

static void free_list(struct mfs *m)
{
    for (size_t i = 0; i < m->nsnaps; i++) {
        free(m->names[i]);
    }
    free(m->names);
    dr_snap_list_free(m->snaps, m->nsnaps);
    for (size_t i = 0; i < m->ntags; i++) {
        free(m->tags[i]);
    }
    free(m->tags);
    for (size_t i = 0; i < m->nhosts; i++) {
        free(m->hosts[i]);
    }
    free(m->hosts);
    m->names = m->tags = m->hosts = NULL;
    m->snaps = NULL;
    m->nsnaps = m->ntags = m->nhosts = 0;
}

/* Adds s to a sorted set of names if it is usable as a file name. */
static void set_add(char ***set, size_t *n, const char *s)
{
    if (!dr_name_valid(s, strlen(s))) {
        return;
    }
    size_t i = 0;
    while (i < *n && strcmp((*set)[i], s) < 0) {
        i++;
    }
    if (i < *n && strcmp((*set)[i], s) == 0) {
        return;
    }
    *set = dr_xrealloc(*set, (*n + 1) * sizeof(**set));
    memmove(*set + i + 1, *set + i, (*n - i) * sizeof(**set));
    (*set)[i] = dr_xstrdup(s);
    (*n)++;
}

static bool known_snapshot(const struct mfs *m, const struct dr_id *id)
{
    for (size_t i = 0; i < m->nsnaps; i++) {
        if (dr_id_eq(&m->snaps[i].id, id)) {
            return true;
        }
    }
    return false;
}

/* Re-lists the snapshots when the list is older than the TTL: new snapshots appear without a
 * remount. A snapshot written by another client may use packs this index has not seen, so a
 * new snapshot triggers an index sync first. Failures keep the previous list. */
static void refresh(struct mfs *m)
{
    int64_t now = dr_mono_ns();
    if (m->listed_ns && now - m->listed_ns < DR_MOUNT_TTL_NS) {
        return;
    }
    struct dr_snap_entry *list = NULL;
    size_t n = 0, bad = 0;
    int rc = dr_repo_snapshot_list(m->r, &list, &n, &bad);
    if (rc < 0) {
        dr_log_warn("cannot list snapshots: %s", dr_error_msg());
        dr_error_clear();
        return;
    }
    bool fresh = false;
    for (size_t i = 0; i < n && m->listed_ns; i++) {
        fresh = fresh || !known_snapshot(m, &list[i].id);
    }
    if (fresh) {
        pthread_rwlock_wrlock(&m->repo_rw);
        rc = dr_repo_sync_index(m->r, false);
        pthread_rwlock_unlock(&m->repo_rw);
        if (rc < 0) {
            dr_log_warn("cannot update the index for new snapshots: %s", dr_error_msg());
            dr_error_clear();
        }
    }
    free_list(m);
    m->snaps = list;
    m->nsnaps = n;
    m->names = dr_xcalloc(n ? n : 1, sizeof(*m->names));
    for (size_t i = 0; i < n; i++) {
        char t[32], sid[9];
        dr_time_format(list[i].snap.time_ns, t, sizeof(t));
        dr_hex_encode(list[i].id.b, 4, sid);
        m->names[i] = dr_xasprintf("%s_%s", t, sid);
        for (size_t k = 0; k < list[i].snap.ntags; k++) {
            set_add(&m->tags, &m->ntags, list[i].snap.tags[k]);
        }
        if (list[i].snap.host) {
            set_add(&m->hosts, &m->nhosts, list[i].snap.host);
        }
    }
    m->listed_ns = now;
}

/* Does snapshot i belong to the group (tags/<g> or hosts/<g>)? */
static bool in_group(const struct mfs *m, size_t i, bool tag, const char *g)
{
    const struct dr_snapshot *s = &m->snaps[i].snap;
    return tag ? dr_snapshot_has_tag(s, g) : (s->host && strcmp(s->host, g) == 0);
}

static bool set_has(char **set, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(set[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- trees (loop thread) ------------------------------------------------------------------ */

/* The decoded tree id, from the cache or the repository. Valid until the next tree_get. */
static int tree_get(struct mfs *m, const struct dr_id *id, const struct dr_tree **out)
{
    unsigned slot = ((unsigned)id->b[0] | (unsigned)id->b[1] << 8) % TREE_SLOTS;
    struct tree_slot *ts = &m->trees[slot];
    if (ts->valid && dr_id_eq(&ts->id, id)) {
        *out = &ts->t;
        return 0;
    }
    if (ts->valid) {
        dr_tree_release(&ts->t);
        ts->valid = false;
    }
    dr_tree_init(&ts->t);
    int rc = dr_repo_tree_load(m->r, NULL, id, &ts->t);
    if (rc < 0) {
        dr_tree_release(&ts->t);
        return rc;
    }
    ts->id = *id;
    ts->valid = true;
    *out = &ts->t;
    return 0;
}

/* ---- path resolution (loop thread) -------------------------------------------------------- */

enum vkind {
    V_ROOT,
    V_SNAPSHOTS,
    V_GROUPS,   /* tags/ or hosts/ */
    V_GROUP,    /* tags/<tag>/ or hosts/<host>/ */
    V_LINK,     /* a symlink we make up */
    V_SNAPROOT, /* snapshots/<name>/ */
    V_NODE,     /* something inside a snapshot */
};

struct res {
    enum vkind k;
    bool tag;                    /* V_GROUPS, V_GROUP: tags (else hosts) */
    char group[DR_NAME_MAX + 1]; /* V_GROUP: the tag or host */
    char link[512];              /* V_LINK target */
    size_t snap;                 /* V_SNAPROOT, V_NODE */
    const char *inpath;          /* V_NODE: path inside the snapshot, borrowed from the request */
    const struct dr_node *node;  /* V_NODE: valid until the next tree_get */
};

static int find_snap(const struct mfs *m, const char *name, size_t len, size_t *out)
{
    for (size_t i = 0; i < m->nsnaps; i++) {
        if (strlen(m->names[i]) == len && memcmp(m->names[i], name, len) == 0) {
            *out = i;
            return 0;
        }
    }
    return -ENOENT;
}

/* Newest snapshot (in the group when g != NULL), or -ENOENT. */
static int newest(const struct mfs *m, bool tag, const char *g, size_t *out)
{
    for (size_t i = m->nsnaps; i-- > 0;) {
        if (!g || in_group(m, i, tag, g)) {
            *out = i;
            return 0;
        }
    }
    return -ENOENT;
}

/* Splits off the next component of *p; returns its length (0 at the end). */
static size_t next_comp(const char **p, const char **comp)
{
    while (**p == '/') {
        (*p)++;
    }
    *comp = *p;
    size_t n = strcspn(*p, "/");
    *p += n;
    return n;
}

static bool comp_is(const char *c, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(c, s, n) == 0;
}

/* Resolves a path of the inside of a snapshot, starting after "snapshots/<name>". */
static int resolve_in_snapshot(struct mfs *m, const char *p, struct res *out)
{
    struct dr_id dir = m->snaps[out->snap].snap.tree;
    const char *c;
    size_t n = next_comp(&p, &c);
    if (n == 0) {
        out->k = V_SNAPROOT;
        return 0;
    }
    out->k = V_NODE;
    out->inpath = c - 1;
    for (;;) {
        const struct dr_tree *t;
        int rc = tree_get(m, &dir, &t);
        if (rc < 0) {
            dr_log_error("cannot read directory '%s': %s", out->inpath, dr_error_msg());
            dr_error_clear();
            return -EIO;
        }
        char name[DR_NAME_MAX + 1];
        if (n > DR_NAME_MAX) {
            return -ENAMETOOLONG;
        }
        memcpy(name, c, n);
        name[n] = '\0';
        const struct dr_node *node = dr_tree_find(t, name);
        if (!node) {
            return -ENOENT;
        }
        n = next_comp(&p, &c);
        if (n == 0) {
            out->node = node;
            return 0;
        }
        if (node->type != DR_NODE_DIR) {
            return -ENOTDIR;
        }
        dir = node->subtree;
    }
}

static int resolve(struct mfs *m, const char *path, struct res *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = path ? path : "/";
    const char *c, *c2, *c3;
    size_t n = next_comp(&p, &c);
    if (n == 0) {
        out->k = V_ROOT;
        return 0;
    }
    /* requests inside a snapshot do not re-list: only the top levels do */
    bool inside = comp_is(c, n, "snapshots") && *p && strchr(p + 1, '/');
    if (!inside) {
        refresh(m);
    }
    if (comp_is(c, n, "latest")) {
        size_t i;
        if (next_comp(&p, &c2) != 0) {
            return -ENOTDIR;
        }
        int rc = newest(m, false, NULL, &i);
        if (rc < 0) {
            return rc;
        }
        out->k = V_LINK;
        snprintf(out->link, sizeof(out->link), "snapshots/%s", m->names[i]);
        return 0;
    }
    if (comp_is(c, n, "snapshots")) {
        size_t n2 = next_comp(&p, &c2);
        if (n2 == 0) {
            out->k = V_SNAPSHOTS;
            return 0;
        }
        int rc = find_snap(m, c2, n2, &out->snap);
        if (rc < 0 && inside) {
            refresh(m);
            rc = find_snap(m, c2, n2, &out->snap);
        }
        return rc < 0 ? rc : resolve_in_snapshot(m, p, out);
    }
    bool tag = comp_is(c, n, "tags");
    if (!tag && !comp_is(c, n, "hosts")) {
        return -ENOENT;
    }
    out->tag = tag;
    size_t n2 = next_comp(&p, &c2);
    if (n2 == 0) {
        out->k = V_GROUPS;
        return 0;
    }
    if (n2 > DR_NAME_MAX) {
        return -ENAMETOOLONG;
    }
    char *group = out->group;
    memcpy(group, c2, n2);
    group[n2] = '\0';
    if (!set_has(tag ? m->tags : m->hosts, tag ? m->ntags : m->nhosts, group)) {
        return -ENOENT;
    }
    size_t n3 = next_comp(&p, &c3);
    if (n3 == 0) {
        out->k = V_GROUP;
        return 0;
    }
    if (next_comp(&p, &c2) != 0) {
        return -ENOTDIR; /* the entries of a group are symlinks */
    }
    size_t i;
    int rc = comp_is(c3, n3, "latest") ? newest(m, tag, group, &i) : find_snap(m, c3, n3, &i);
    if (rc < 0 || !in_group(m, i, tag, group)) {
        return -ENOENT;
    }
    out->k = V_LINK;
    snprintf(out->link, sizeof(out->link), "../../snapshots/%s", m->names[i]);
    return 0;
}

/* ---- attributes --------------------------------------------------------------------------- */

/* Inode numbers are hashes: of (snapshot, dev, inode) for hard-linked files, so that every name
 * of one file has the same number, and of (snapshot, path) for everything else. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return h;
}

static ino_t ino_of(const struct mfs *m, const struct res *rs, const char *path)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    if (rs->k == V_NODE || rs->k == V_SNAPROOT) {
        h = fnv(h, m->snaps[rs->snap].id.b, sizeof(m->snaps[rs->snap].id.b));
    }
    if (rs->k == V_NODE && rs->node->type == DR_NODE_FILE && rs->node->nlink > 1) {
        h = fnv(h, "L", 1);
        h = fnv(h, &rs->node->dev, sizeof(rs->node->dev));
        h = fnv(h, &rs->node->inode, sizeof(rs->node->inode));
    } else if (rs->k == V_NODE) {
        h = fnv(h, rs->inpath, strlen(rs->inpath));
    } else {
        h = fnv(h, path, strlen(path));
    }
    return (ino_t)(h < 2 ? h + 2 : h);
}

static void ts_of(int64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
    if (ts->tv_nsec < 0) {
        ts->tv_sec--;
        ts->tv_nsec += 1000000000;
    }
}

static mode_t type_bits(uint8_t type)
{
    switch (type) {
    case DR_NODE_DIR: return S_IFDIR;
    case DR_NODE_SYMLINK: return S_IFLNK;
    case DR_NODE_CHARDEV: return S_IFCHR;
    case DR_NODE_BLOCKDEV: return S_IFBLK;
    case DR_NODE_FIFO: return S_IFIFO;
    case DR_NODE_SOCKET: return S_IFSOCK;
    default: return S_IFREG;
    }
}

static void fill_stat(const struct mfs *m, const struct res *rs, const char *path, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino_of(m, rs, path);
    st->st_uid = m->uid;
    st->st_gid = m->gid;
    st->st_blksize = 4096;
    int64_t t = m->nsnaps ? m->snaps[m->nsnaps - 1].snap.time_ns : 0;
    switch (rs->k) {
    case V_ROOT:
    case V_SNAPSHOTS:
    case V_GROUPS:
    case V_GROUP:
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
        break;
    case V_LINK:
        st->st_mode = S_IFLNK | 0777;
        st->st_nlink = 1;
        st->st_size = (off_t)strlen(rs->link);
        break;
    case V_SNAPROOT:
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
        t = m->snaps[rs->snap].snap.time_ns;
        break;
    case V_NODE: {
        const struct dr_node *n = rs->node;
        st->st_mode = type_bits(n->type) | (n->mode & 07777);
        st->st_nlink = n->type == DR_NODE_DIR ? 2 : (n->nlink ? n->nlink : 1);
        st->st_uid = n->uid;
        st->st_gid = n->gid;
        st->st_size = (off_t)(n->type == DR_NODE_SYMLINK && n->target ? strlen(n->target)
                              : n->type == DR_NODE_FILE               ? n->size
                                                                      : 0);
        st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
        st->st_rdev = (dev_t)n->rdev;
        ts_of(n->mtime_ns, &st->st_mtim);
        st->st_atim = st->st_mtim;
        ts_of(n->ctime_ns, &st->st_ctim);
        return;
    }
    }
    ts_of(t, &st->st_mtim);
    st->st_atim = st->st_ctim = st->st_mtim;
}

/* ---- FUSE operations (loop thread) -------------------------------------------------------- */

static struct mfs *ctx_fs(void)
{
    return fuse_get_context()->private_data;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->use_ino = 1;
    cfg->nullpath_ok = 0; /* readdir needs the path; with 1 it gets NULL */
    cfg->entry_timeout = 1.0;
    cfg->attr_timeout = 1.0;
    cfg->negative_timeout = 0;
    return ctx_fs();
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    struct mfs *m = ctx_fs();
    struct res rs;
    int rc = resolve(m, path, &rs);
    if (rc < 0) {
        return rc;
    }
    fill_stat(m, &rs, path, st);
    return 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
    struct mfs *m = ctx_fs();
    struct res rs;
    int rc = resolve(m, path, &rs);
    if (rc < 0) {
        return rc;
    }
    const char *target = rs.k == V_LINK ? rs.link
                         : rs.k == V_NODE && rs.node->type == DR_NODE_SYMLINK && rs.node->target
                             ? rs.node->target
                             : NULL;
    if (!target) {
        return -EINVAL;
    }
    if (size == 0) {
        return -EINVAL;
    }
    size_t n = DR_MIN(strlen(target), size - 1);
    memcpy(buf, target, n);
    buf[n] = '\0';
    return 0;
}

/* Adds one directory entry. Its inode number must not be 0 (readdir(3) skips those) and should
 * be the one getattr reports, so it is computed the same way from the entry's path. */
static int add_entry(const struct mfs *m, void *buf, fuse_fill_dir_t fill, const char *dirpath,
                     const char *name, mode_t mode, const struct res *child)
{
    bool top = strcmp(dirpath, "/") == 0;
    char *path = dr_xasprintf("%s%s%s", dirpath, top ? "" : "/", name);
    struct res plain = {.k = V_ROOT};
    struct res c = child ? *child : plain;
    if (child && child->k == V_NODE) {
        /* the path inside the snapshot: after "/snapshots/<name>" */
        const char *p = path + 1;
        p = strchr(p, '/');
        p = p ? strchr(p + 1, '/') : NULL;
        c.inpath = p ? p : "/";
    }
    struct stat st = {.st_mode = mode};
    st.st_ino = strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ? 1 : ino_of(m, &c, path);
    int rc = fill(buf, name, &st, 0, 0) ? -ENOMEM : 0;
    free(path);
    return rc;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)off;
    (void)fi;
    (void)flags;
    struct mfs *m = ctx_fs();
    struct res rs;
    int rc = resolve(m, path, &rs);
    if (rc < 0) {
        return rc;
    }
    if (add_entry(m, buf, fill, path, ".", S_IFDIR, NULL) < 0 ||
        add_entry(m, buf, fill, path, "..", S_IFDIR, NULL) < 0) {
        return -ENOMEM;
    }
    switch (rs.k) {
    case V_ROOT:
        rc = add_entry(m, buf, fill, path, "snapshots", S_IFDIR, NULL);
        rc = rc < 0 || !m->nsnaps ? rc : add_entry(m, buf, fill, path, "latest", S_IFLNK, NULL);
        rc = rc < 0 ? rc : add_entry(m, buf, fill, path, "tags", S_IFDIR, NULL);
        rc = rc < 0 ? rc : add_entry(m, buf, fill, path, "hosts", S_IFDIR, NULL);
        return rc;
    case V_SNAPSHOTS:
        for (size_t i = 0; i < m->nsnaps && rc >= 0; i++) {
            struct res c = {.k = V_SNAPROOT, .snap = i};
            rc = add_entry(m, buf, fill, path, m->names[i], S_IFDIR, &c);
        }
        return rc;
    case V_GROUPS:
        for (size_t i = 0; i < (rs.tag ? m->ntags : m->nhosts) && rc >= 0; i++) {
            rc = add_entry(m, buf, fill, path, rs.tag ? m->tags[i] : m->hosts[i], S_IFDIR, NULL);
        }
        return rc;
    case V_GROUP:
        rc = add_entry(m, buf, fill, path, "latest", S_IFLNK, NULL);
        for (size_t i = 0; i < m->nsnaps && rc >= 0; i++) {
            if (in_group(m, i, rs.tag, rs.group)) {
                rc = add_entry(m, buf, fill, path, m->names[i], S_IFLNK, NULL);
            }
        }
        return rc;
    case V_LINK: return -ENOTDIR;
    case V_SNAPROOT:
    case V_NODE: {
        struct dr_id dir = m->snaps[rs.snap].snap.tree;
        if (rs.k == V_NODE) {
            if (rs.node->type != DR_NODE_DIR) {
                return -ENOTDIR;
            }
            dir = rs.node->subtree;
        }
        const struct dr_tree *t;
        rc = tree_get(m, &dir, &t);
        if (rc < 0) {
            dr_log_error("cannot list '%s': %s", path, dr_error_msg());
            dr_error_clear();
            return -EIO;
        }
        struct res c = {.k = V_NODE, .snap = rs.snap};
        for (size_t i = 0; i < t->n && rc >= 0; i++) {
            c.node = &t->nodes[i];
            rc = add_entry(m, buf, fill, path, t->nodes[i].name, type_bits(t->nodes[i].type), &c);
        }
        return rc;
    }
    }
    return 0;
}

static int materialize(struct mfs *m, const struct dr_node *n, const char *path, struct ofile *f)
{
    FILE *tf = tmpfile();
    int fd = tf ? dup(fileno(tf)) : -1;
    if (tf) {
        fclose(tf);
    }
    if (fd < 0) {
        dr_log_error("cannot open '%s': no temporary file: %s", path, strerror(errno));
        return -EIO;
    }
    pthread_rwlock_rdlock(&m->repo_rw);
    int rc = dr_restore_file_to_fd(m->r, n, fd, path);
    pthread_rwlock_unlock(&m->repo_rw);
    if (rc < 0) {
        dr_log_error("cannot open '%s': %s", path, dr_error_msg());
        dr_error_clear();
        close(fd);
        return -EIO;
    }
    f->fd = fd;
    f->map.size = n->size;
    return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
    struct mfs *m = ctx_fs();
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        return -EROFS;
    }
    struct res rs;
    int rc = resolve(m, path, &rs);
    if (rc < 0) {
        return rc;
    }
    if (rs.k != V_NODE || rs.node->type != DR_NODE_FILE) {
        return rs.k == V_NODE || rs.k == V_LINK ? -EACCES : -EISDIR;
    }
    struct ofile *f = dr_xcalloc(1, sizeof(*f));
    f->fd = -1;
    if (rs.node->flags & DR_NODE_F_RECORDS) {
        /* A record-encoded RDB (format/rdb.md) has no byte offsets to map: its bytes come from
         * groups in the layout's order. It is rebuilt once per open into an unlinked temporary
         * file (every blob verified as on restore), and reads are served from there. */
        rc = materialize(m, rs.node, path, f);
        if (rc < 0) {
            free(f);
            return rc;
        }
        f->path = dr_xstrdup(path);
        f->chunks = dr_xcalloc(1, sizeof(*f->chunks));
        fi->fh = (uint64_t)(uintptr_t)f;
        fi->direct_io = 1;
        fi->keep_cache = 0;
        return 0;
    }
    rc = dr_filemap_build(rs.node, &f->map);
    if (rc < 0) {
        dr_log_error("cannot open '%s': %s", path, dr_error_msg());
        dr_error_clear();
        free(f);
        return -EIO;
    }
    f->path = dr_xstrdup(path);
    f->chunks = dr_xcalloc(rs.node->nchunks ? rs.node->nchunks : 1, sizeof(*f->chunks));
    if (rs.node->nchunks) {
        memcpy(f->chunks, rs.node->chunks, rs.node->nchunks * sizeof(*f->chunks));
    }
    if (rs.node->flags & DR_NODE_F_DAMAGED) {
        dr_log_warn("'%s' is marked damaged in this snapshot: reads of its %u lost ranges fail "
                    "with EIO",
                    path, rs.node->ndamaged);
    }
    fi->fh = (uint64_t)(uintptr_t)f;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    struct ofile *f = (struct ofile *)(uintptr_t)fi->fh;
    if (f) {
        if (f->fd >= 0) {
            close(f->fd);
        }
        dr_filemap_release(&f->map);
        free(f->chunks);
        free(f->path);
        free(f);
    }
    return 0;
}

/* Queues the chunks after extent last for read-ahead, bounded by count and by half the cache so
 * that what is fetched ahead is still there when the reader arrives. */
static void plan_readahead(struct mfs *m, struct ofile *f, size_t last)
{
    if (!m->nthreads || !m->o->readahead) {
        return;
    }
    size_t i = DR_MAX(f->ra_next, last + 1);
    uint64_t bytes = 0;
    unsigned queued = 0;
    for (; i < f->map.n && i <= last + m->o->readahead; i++) {
        const struct dr_extent *x = &f->map.ext[i];
        bytes += x->len;
        if (bytes > m->o->cache_size / 2 && queued > 0) {
            break;
        }
        if (x->chunk != DR_EXTENT_LOST) {
            queue_readahead(m, &f->chunks[x->chunk]);
            queued++;
        }
    }
    f->ra_next = i;
}

/* The chunk of extent x, loaded through the cache. On failure the error is logged with the
 * object it names, once per failed read. */
static int get_chunk(struct mfs *m, struct ofile *f, const struct dr_extent *x,
                     struct dr_cchunk **out)
{
    const struct dr_id *id = &f->chunks[x->chunk];
    for (int attempt = 0;; attempt++) {
        struct dr_cchunk *e;
        int rc = 0;
        if (dr_chunk_cache_acquire(m->cache, id, true, &e) == 1) {
            rc = load_entry(m, dr_repo_compressor(m->r), e);
        } else if (e->state == DR_CCHUNK_FAILED && attempt == 0) {
            /* failed in a read-ahead thread, whose message we do not have: fetch it here */
            dr_chunk_cache_release(m->cache, e);
            continue;
        } else if (e->state == DR_CCHUNK_FAILED) {
            rc = dr_errorf(e->err, "chunk failed to load");
        }
        if (rc >= 0 && e->len != x->len) {
            rc = dr_errorf(DR_ECORRUPT, "chunk %u has %zu bytes, the tree says %llu", x->chunk,
                           e->len, (unsigned long long)x->len);
        }
        if (rc < 0) {
            dr_chunk_cache_release(m->cache, e);
            dr_log_error("read of '%s' at offset %llu failed: %s", f->path,
                         (unsigned long long)x->off, dr_error_msg());
            dr_error_clear();
            return -EIO;
        }
        *out = e;
        return 0;
    }
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)path;
    struct mfs *m = ctx_fs();
    struct ofile *f = (struct ofile *)(uintptr_t)fi->fh;
    if (off < 0) {
        return -EINVAL;
    }
    uint64_t pos = (uint64_t)off;
    if (pos >= f->map.size || size == 0) {
        return 0;
    }
    uint64_t end = DR_MIN(f->map.size, pos + size);
    if (f->fd >= 0) {
        ssize_t got = pread(f->fd, buf, (size_t)(end - pos), off);
        return got < 0 ? -errno : (int)got;
    }
    bool sequential = pos == f->next_off;
    size_t i = dr_filemap_find(&f->map, pos);
    size_t last = i;
    size_t done = 0;
    for (; i < f->map.n && f->map.ext[i].off < end; i++) {
        const struct dr_extent *x = &f->map.ext[i];
        if (x->chunk == DR_EXTENT_LOST) {
            dr_log_error("read of '%s' at offset %llu: the range %llu+%llu was lost (file marked "
                         "damaged by repair)",
                         f->path, (unsigned long long)pos, (unsigned long long)x->off,
                         (unsigned long long)x->len);
            return -EIO;
        }
        struct dr_cchunk *e;
        int rc = get_chunk(m, f, x, &e);
        if (rc < 0) {
            return rc;
        }
        uint64_t from = pos + done - x->off;
        size_t n = (size_t)DR_MIN(x->len - from, end - (pos + done));
        memcpy(buf + done, e->data + from, n);
        dr_chunk_cache_release(m->cache, e);
        done += n;
        last = i;
    }
    f->next_off = pos + done;
    if (sequential) {
        plan_readahead(m, f, last);
    }
    return (int)done;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
    (void)path;
    memset(sv, 0, sizeof(*sv));
    sv->f_bsize = sv->f_frsize = 4096;
    sv->f_namemax = 255;
    sv->f_flag = ST_RDONLY;
    return 0;
}

static const struct fuse_operations ops = {
    .init = op_init,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .readdir = op_readdir,
    .open = op_open,
    .release = op_release,
    .read = op_read,
    .statfs = op_statfs,
};

/* ---- setup -------------------------------------------------------------------------------- */

const char *dr_mount_unavailable(void)
{
    if (access("/dev/fuse", F_OK) != 0) {
        return "/dev/fuse does not exist (the fuse kernel module is not loaded, or this "
               "container was started without the device)";
    }
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return errno == EACCES || errno == EPERM ? "no permission to open /dev/fuse"
                                                 : "/dev/fuse cannot be opened";
    }
    close(fd);
    if (geteuid() == 0) {
        return NULL;
    }
    /* an unprivileged mount goes through the setuid fusermount3 helper */
    const char *path = getenv("PATH");
    char *copy = dr_xstrdup(path ? path : "/usr/bin:/bin");
    bool found = false;
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        char *p = dr_xasprintf("%s/fusermount3", d);
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found ? NULL : "fusermount3 is not installed (Debian/Ubuntu package 'fuse3')";
}

static void stop_threads(struct mfs *m)
{
    pthread_mutex_lock(&m->qmu);
    m->stop = true;
    pthread_cond_broadcast(&m->qcv);
    pthread_mutex_unlock(&m->qmu);
    for (unsigned i = 0; i < m->nthreads; i++) {
        pthread_join(m->threads[i], NULL);
    }
    m->nthreads = 0;
}

static void log_stats(struct mfs *m)
{
    struct dr_chunk_cache_stats st;
    dr_chunk_cache_get_stats(m->cache, &st);
    dr_log_detail("chunk cache: %llu hits, %llu misses, %llu waits for read-ahead, %llu "
                  "evictions",
                  (unsigned long long)st.hits, (unsigned long long)st.misses,
                  (unsigned long long)st.waits, (unsigned long long)st.evictions);
}

int dr_mount_run(struct dr_repo *r, const struct dr_mount_opts *o)
{
    struct mfs m = {
        .r = r,
        .o = o,
        .uid = getuid(),
        .gid = getgid(),
    };
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    struct fuse *f = NULL;
    bool mounted = false, handlers = false;
    int rc = 0;
    m.trees = dr_xcalloc(TREE_SLOTS, sizeof(*m.trees));
    m.cache = dr_chunk_cache_new(o->cache_size);
    pthread_rwlock_init(&m.repo_rw, NULL);
    pthread_mutex_init(&m.qmu, NULL);
    pthread_cond_init(&m.qcv, NULL);
    refresh(&m);

    char *mopts = dr_xasprintf("ro,default_permissions,fsname=drrepo,subtype=drrepo%s",
                               o->allow_other ? ",allow_other" : "");
    if (fuse_opt_add_arg(&args, "drrepo") != 0 || fuse_opt_add_arg(&args, "-o") != 0 ||
        fuse_opt_add_arg(&args, mopts) != 0 || (o->debug && fuse_opt_add_arg(&args, "-d") != 0)) {
        rc = dr_errorf(DR_EINTERNAL, "cannot build the FUSE options");
        goto out;
    }
    f = fuse_new(&args, &ops, sizeof(ops), &m);
    if (!f) {
        rc = dr_errorf(DR_EINTERNAL, "cannot set up FUSE (see the message above)");
        goto out;
    }
    if (fuse_mount(f, o->mountpoint) != 0) {
        rc = dr_errorf(DR_EIO,
                       "cannot mount at '%s' (see the message above)\nhint: without a mount, "
                       "'drrepo restore SNAP --target DIR --include PATH' or 'drrepo dump SNAP "
                       "PATH' get files out",
                       o->mountpoint);
        goto out;
    }
    mounted = true;
    if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
        rc = dr_errorf(DR_EINTERNAL, "cannot install signal handlers");
        goto out;
    }
    handlers = true;
    /* the threads block SIGINT and friends, which must interrupt the loop thread's read of
     * /dev/fuse for the handler's exit flag to be seen */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    unsigned want = o->readahead ? DR_MIN(DR_MAX(o->threads, 1u), MAX_THREADS) : 0;
    for (unsigned i = 0; i < want; i++) {
        if (pthread_create(&m.threads[i], NULL, readahead_main, &m) != 0) {
            dr_log_warn("cannot start a read-ahead thread; reading without it");
            break;
        }
        m.nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
    dr_log_detail("mounted %zu snapshots at '%s'; unmount with 'fusermount3 -u %s' or Ctrl-C",
                  m.nsnaps, o->mountpoint, o->mountpoint);
    if (o->ready) {
        o->ready(o->ready_arg);
    }
    /* single-threaded on purpose: see the top of this file */
    /* > 0 is the signal that ended it (SIGINT, SIGTERM, SIGHUP): a normal end */
    int lrc = fuse_loop(f);
    if (lrc < 0) {
        rc = dr_errorf(DR_EIO, "the FUSE session ended with an error: %s", strerror(-lrc));
    }
out:
    stop_threads(&m);
    if (handlers) {
        fuse_remove_signal_handlers(fuse_get_session(f));
    }
    if (mounted) {
        fuse_unmount(f);
    }
    if (f) {
        fuse_destroy(f);
    }
    fuse_opt_free_args(&args);
    free(mopts);
    log_stats(&m);
    for (unsigned i = 0; i < TREE_SLOTS; i++) {
        if (m.trees[i].valid) {
            dr_tree_release(&m.trees[i].t);
        }
    }
    free(m.trees);
    free_list(&m);
    dr_chunk_cache_free(m.cache);
    pthread_cond_destroy(&m.qcv);
    pthread_mutex_destroy(&m.qmu);
    pthread_rwlock_destroy(&m.repo_rw);
    return rc;
}
