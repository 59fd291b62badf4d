/* fuse.c: the read-only file system of `drrepo mount` (mount.h, docs/MOUNT.md).
 *
 * Layout: / holds snapshots/<time>_<short id>/ (the snapshot's tree), latest (a symlink to the
 * newest snapshot), tags/<tag>/ and hosts/<host>/ (symlinks to the snapshots with that tag or
 * host, and a latest of their own). Paths are resolved from the root on every request through a
 * cache of decoded tree blobs, so listings never read file data.
 *
 * Threads. The FUSE loop is single-threaded (fuse_loop, not fuse_loop_mt): struct dr_repo, its
 * decompressor dr_repo_compressor(r), the tree cache and the snapshot list belong to that thread,
 * which keeps the metadata side free of locks. Throughput comes from read-ahead instead: a
 * sequential reader queues the next chunks of its file, and a dispatcher thread hands them to the
 * read engine (read.h), whose workers fetch them (neighbours of one pack in one get),
 * authenticate and decompress them into the shared chunk cache (cache.c), so the loop thread
 * only copies bytes. The engine touches only what is safe to share: the index (LMDB opened
 * MDB_NOTLS; each run has its own read transaction), the backend and the keys (read-only). The
 * index sync that makes a new snapshot's packs known takes a write lock that keeps read-ahead
 * out while it runs.
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
#include "drrepo/read.h"
#include "drrepo/restore.h"
#include "drrepo/util.h"

#include "mount_int.h"

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

/* Read-ahead is a client of the read engine (read.h): the loop thread queues the ids a
 * sequential reader will want next, and one dispatcher thread hands everything queued to the
 * engine as one run, so neighbouring chunks of a pack come with one ranged get and are
 * decoded by the engine's workers, which fill the shared chunk cache. */
struct ra_run {
    struct mfs *m;
    struct dr_cchunk *e[QUEUE_MAX];
    bool done[QUEUE_MAX];
};

/* On an engine worker. A chunk that fails is marked so: the reader that needs it fetches it
 * again and reports the error with its message. */
static int ra_fill(void *arg, const struct dr_read_extent *x)
{
    struct ra_run *ra = arg;
    size_t k = (size_t)x->want->tag;
    if (x->kind == DR_EXTENT_ERROR) {
        dr_chunk_cache_fail(ra->m->cache, ra->e[k], x->code);
    } else {
        dr_chunk_cache_fill(ra->m->cache, ra->e[k], dr_xmemdup(x->data, x->len), x->len);
    }
    ra->done[k] = true;
    return 0;
}

static void *readahead_main(void *arg)
{
    struct mfs *m = arg;
    struct dr_read_params p;
    dr_read_params_default(&p);
    p.workers = m->ra_workers;
    for (;;) {
        struct dr_id ids[QUEUE_MAX];
        size_t n = 0;
        pthread_mutex_lock(&m->qmu);
        while (!m->stop && m->qlen == 0) {
            pthread_cond_wait(&m->qcv, &m->qmu);
        }
        if (m->stop) {
            pthread_mutex_unlock(&m->qmu);
            break;
        }
        for (; m->qlen > 0; m->qlen--, m->qhead = (m->qhead + 1) % QUEUE_MAX) {
            ids[n++] = m->queue[m->qhead];
        }
        pthread_mutex_unlock(&m->qmu);
        struct ra_run ra = {.m = m};
        struct dr_read_want w[QUEUE_MAX];
        size_t nw = 0;
        for (size_t i = 0; i < n; i++) {
            struct dr_cchunk *e;
            if (dr_chunk_cache_acquire(m->cache, &ids[i], false, &e) == 1) {
                ra.e[nw] = e;
                w[nw] = (struct dr_read_want){.id = ids[i], .tag = nw};
                nw++;
            } else {
                dr_chunk_cache_release(m->cache, e);
            }
        }
        if (nw == 0) {
            continue;
        }
        pthread_rwlock_rdlock(&m->repo_rw);
        int rc = dr_read_run(m->r, &p, w, nw, ra_fill, &ra, NULL);
        pthread_rwlock_unlock(&m->repo_rw);
        if (rc < 0) {
            dr_log_debug("read-ahead: %s", dr_error_msg());
            dr_error_clear();
        }
        for (size_t k = 0; k < nw; k++) {
            if (!ra.done[k]) { /* the run stopped before it: whoever needs it loads it */
                dr_chunk_cache_fail(m->cache, ra.e[k], rc < 0 ? rc : DR_EINTERNAL);
            }
            dr_chunk_cache_release(m->cache, ra.e[k]);
        }
    }
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
    int rc = mfs_resolve(m, path, &rs);
    if (rc < 0) {
        return rc;
    }
    mfs_fill_stat(m, &rs, path, st);
    return 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
    struct mfs *m = ctx_fs();
    struct res rs;
    int rc = mfs_resolve(m, path, &rs);
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
    st.st_ino = strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ? 1 : mfs_ino_of(m, &c, path);
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
    int rc = mfs_resolve(m, path, &rs);
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
            if (mfs_in_group(m, i, rs.tag, rs.group)) {
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
        rc = mfs_tree_get(m, &dir, &t);
        if (rc < 0) {
            dr_log_error("cannot list '%s': %s", path, dr_error_msg());
            dr_error_clear();
            return -EIO;
        }
        struct res c = {.k = V_NODE, .snap = rs.snap};
        for (size_t i = 0; i < t->n && rc >= 0; i++) {
            c.node = &t->nodes[i];
            rc = add_entry(m, buf, fill, path, t->nodes[i].name, mfs_type_bits(t->nodes[i].type),
                           &c);
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
    int rc = dr_restore_file_to_fd(m->r, n, fd, path, NULL);
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
    int rc = mfs_resolve(m, path, &rs);
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
    mfs_refresh(&m);

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
    /* one dispatcher thread; the engine's workers, as many as --threads, do the reading */
    m.ra_workers = DR_MIN(DR_MAX(o->threads, 1u), MAX_THREADS);
    if (o->readahead) {
        if (pthread_create(&m.threads[0], NULL, readahead_main, &m) != 0) {
            dr_log_warn("cannot start the read-ahead thread; reading without it");
        } else {
            m.nthreads = 1;
        }
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
    mfs_free_list(&m);
    dr_chunk_cache_free(m.cache);
    pthread_cond_destroy(&m.qcv);
    pthread_mutex_destroy(&m.qmu);
    pthread_rwlock_destroy(&m.repo_rw);
    return rc;
}
