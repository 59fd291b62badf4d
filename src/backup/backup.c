/* backup.c: snapshots of file trees and streams (see backup.h).
 *
 * Trees are built bottom-up, one directory at a time: the directory's entries are read, sorted
 * and stat'ed, file contents are chunked and handed to the write pipeline, and once the
 * pipeline has produced every chunk id the directory's tree blob is encoded and stored. An
 * unchanged directory yields the same tree blob, which the pipeline deduplicates.
 *
 * The files cache (index "files") lets a file whose device, inode, size, mtime and ctime are
 * unchanged reuse its chunk list without being read. Its records are written only after the
 * snapshot is committed, from a spool file, so that a record never names chunks that are not
 * durably stored, and memory does not grow with the number of files. */
#include "drrepo/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/format.h"
#include "drrepo/identity.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/rdbrec.h"
#include "drrepo/rdbstore.h"
#include "drrepo/util.h"
#include "drrepo/pipeline.h"

extern char **environ;

/* Files modified this close to the start of the snapshot are not put in the files cache: a
 * change within the file system's timestamp granularity after we read would go unnoticed. */
#define RACY_WINDOW_NS 1000000000LL
#define READ_SIZE (1u << 20)

struct hardlink {
    uint64_t dev, ino;
    uint32_t flags; /* DR_NODE_F_RECORDS: the chunks are record-encoded */
    uint32_t nchunks;
    struct dr_id *chunks;
    uint32_t *sizes;
};

/* uid/gid -> name. getpwuid_r parses /etc/passwd (or asks NSS) on every call, which for a tree
 * of many small files costs more than reading them; a tree has few distinct owners. */
struct owner_cache {
    struct owner {
        uint32_t id;
        bool group;
        char *name;
    } * v;
    size_t n, alloc;
};

struct backup {
    struct dr_repo *r;
    const struct dr_backup_opts *o;
    struct dr_pipeline *w;
    struct dr_chunker ch;
    struct dr_index_txn *rtxn;
    uint8_t *buf; /* read buffer: chunker max + READ_SIZE */
    size_t bufsize;
    FILE *spool;        /* files-cache records to write after commit */
    int64_t start_ns;   /* monotonic, for progress */
    int64_t start_wall; /* wall clock, for the racy-file window */
    dev_t root_dev;
    struct dr_snap_summary sum;
    struct dr_progress prog;
    int64_t last_progress_ns;
    struct hardlink *links;
    size_t nlinks, alinks;
    int rc; /* first fatal error */
    pthread_t scanner;
    bool scanning;
    struct owner_cache owners;
    int64_t parent_time_ns; /* the parent snapshot's start, for its racy window */
    uint8_t rdb_key[DR_RDBSTORE_HASH_KEY_LEN];
    uint64_t rdb_files;    /* RDB files stored by their records */
    uint64_t rdb_fallback; /* RDB-looking files stored as plain chunks */
    char *rdb_note;        /* why the first of those was */
    uint64_t scan_total;   /* written by the scanner thread, read with __atomic */
    size_t sources_unread; /* paths given that could not be read at all */
};

/* How much of a directory's listing was read. A directory not read to the end is stored with
 * what was read and the flag DR_NODE_F_INCOMPLETE, so that ls, diff and restore can say so. */
enum dir_read {
    DIR_READ_ALL,
    DIR_READ_PART, /* the listing failed after some entries */
    DIR_READ_NONE, /* not opened, or the listing failed before any entry */
};

static void progress(struct backup *b, const char *current, bool final)
{
    if (!b->o->progress) {
        return;
    }
    int64_t now = dr_mono_ns();
    if (!final && now - b->last_progress_ns < 250000000) {
        return;
    }
    b->last_progress_ns = now;
    b->prog.elapsed_ns = now - b->start_ns;
    b->prog.bytes_total = __atomic_load_n(&b->scan_total, __ATOMIC_RELAXED);
    b->prog.current = current;
    b->o->progress(b->o->progress_arg, &b->prog, final);
}

static bool excluded(const struct dr_backup_opts *o, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < o->nexcludes; i++) {
        const char *pat = o->excludes[i];
        if (strchr(pat, '/') ? fnmatch(pat, path, FNM_PATHNAME) == 0 : fnmatch(pat, base, 0) == 0) {
            return true;
        }
    }
    return false;
}

static const char *owner_name(struct owner_cache *oc, uint32_t id, bool group)
{
    for (size_t i = 0; i < oc->n; i++) {
        if (oc->v[i].id == id && oc->v[i].group == group) {
            return oc->v[i].name;
        }
    }
    char buf[4096];
    const char *name = "";
    if (group) {
        struct group gr, *grp = NULL;
        getgrgid_r(id, &gr, buf, sizeof(buf), &grp);
        name = grp ? grp->gr_name : "";
    } else {
        struct passwd pw, *pwp = NULL;
        getpwuid_r(id, &pw, buf, sizeof(buf), &pwp);
        name = pwp ? pwp->pw_name : "";
    }
    DR_GROW(oc->v, oc->alloc, oc->n + 1);
    oc->v[oc->n] = (struct owner){id, group, dr_xstrndup(name, DR_MIN(strlen(name), 255))};
    return oc->v[oc->n++].name;
}

static void owner_cache_release(struct owner_cache *oc)
{
    for (size_t i = 0; i < oc->n; i++) {
        free(oc->v[i].name);
    }
    free(oc->v);
}

static void owner_names(struct owner_cache *oc, struct dr_node *n)
{
    n->user = dr_xstrdup(owner_name(oc, n->uid, false));
    n->group = dr_xstrdup(owner_name(oc, n->gid, true));
}

static void node_from_stat(struct owner_cache *oc, struct dr_node *n, const char *name,
                           const struct stat *st)
{
    memset(n, 0, sizeof(*n));
    n->name = dr_xstrdup(name);
    n->mode = st->st_mode & 07777;
    n->uid = st->st_uid;
    n->gid = st->st_gid;
    owner_names(oc, n);
    n->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    n->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
    n->dev = st->st_dev;
    n->inode = st->st_ino;
    n->nlink = (uint32_t)st->st_nlink;
    if (S_ISREG(st->st_mode)) {
        n->type = DR_NODE_FILE;
        n->size = (uint64_t)st->st_size;
    } else if (S_ISDIR(st->st_mode)) {
        n->type = DR_NODE_DIR;
    } else if (S_ISLNK(st->st_mode)) {
        n->type = DR_NODE_SYMLINK;
    } else if (S_ISCHR(st->st_mode)) {
        n->type = DR_NODE_CHARDEV;
        n->rdev = st->st_rdev;
    } else if (S_ISBLK(st->st_mode)) {
        n->type = DR_NODE_BLOCKDEV;
        n->rdev = st->st_rdev;
    } else if (S_ISFIFO(st->st_mode)) {
        n->type = DR_NODE_FIFO;
    } else {
        n->type = DR_NODE_SOCKET;
    }
}

/* Appends one chunk slot to n, draining the pipeline before a reallocation so that no
 * in-flight job points into the old array. */
static int chunk_slot(struct backup *b, struct dr_node *n, uint32_t *alloc, uint32_t size,
                      struct dr_id **out_slot)
{
    if (n->nchunks == *alloc) {
        int rc = dr_pipeline_drain(b->w);
        if (rc < 0) {
            return rc;
        }
        *alloc = *alloc ? *alloc * 2 : 4;
        n->chunks = dr_xrealloc(n->chunks, *alloc * sizeof(*n->chunks));
        n->chunk_sizes = dr_xrealloc(n->chunk_sizes, *alloc * sizeof(*n->chunk_sizes));
    }
    n->chunk_sizes[n->nchunks] = size;
    memset(&n->chunks[n->nchunks], 0, sizeof(*n->chunks));
    *out_slot = &n->chunks[n->nchunks];
    n->nchunks++;
    return 0;
}

/* Reads fd to its end through the chunker into the pipeline. Returns bytes read or an error:
 * DR_EIO for a read error (the caller decides whether that is fatal). */
/* A file descriptor as a reader (stdin, a command's pipe, a regular file). */
struct fd_reader {
    int fd;
    const char *what;
};

static int fd_read(void *arg, uint8_t *buf, size_t len)
{
    struct fd_reader *fr = arg;
    for (;;) {
        ssize_t got = read(fr->fd, buf, len > INT32_MAX ? INT32_MAX : len);
        if (got >= 0) {
            return (int)got;
        }
        if (errno != EINTR) {
            return dr_error_errno(DR_EIO, "cannot read '%s'", fr->what);
        }
    }
}

static int64_t chunk_reader(struct backup *b, dr_stream_read_fn rd, void *arg, struct dr_node *n,
                            const struct dr_node *pnode, uint32_t alloc, const char *what);

static int64_t chunk_stream(struct backup *b, int fd, struct dr_node *n,
                            const struct dr_node *pnode, uint32_t alloc, const char *what)
{
    struct fd_reader fr = {fd, what};
    return chunk_reader(b, fd_read, &fr, n, pnode, alloc, what);
}

/* Cuts p[0..len) with the chunker into the pipeline (the fallback for a spooled RDB). */
static int chunk_mem(struct backup *b, const uint8_t *p, size_t len, struct dr_node *n,
                     uint32_t *alloc)
{
    size_t off = 0;
    while (off < len) {
        size_t cut = dr_chunker_next(&b->ch, p + off, len - off, true);
        struct dr_id *slot;
        int rc = chunk_slot(b, n, alloc, (uint32_t)cut, &slot);
        if (rc < 0) {
            return rc;
        }
        uint8_t *copy = dr_xmalloc(cut);
        memcpy(copy, p + off, cut);
        rc = dr_pipeline_put_data(b->w, copy, cut, slot);
        if (rc < 0) {
            return rc;
        }
        off += cut;
    }
    return 0;
}

struct rdb_put {
    struct backup *b;
    struct dr_node *n;
    const struct dr_node *pnode; /* the parent's node, whose chunks keep names */
    uint32_t *alloc;
    uint64_t puts;
};

static int rdb_put(void *arg, uint8_t *data, size_t len)
{
    struct rdb_put *rp = arg;
    struct dr_id *slot;
    rp->puts++;
    int rc = chunk_slot(rp->b, rp->n, rp->alloc, (uint32_t)len, &slot);
    if (rc < 0) {
        free(data);
        return rc;
    }
    return dr_pipeline_put_data(rp->b->w, data, len, slot);
}

/* A record blob of the parent's node, listed again: it is stored and indexed already (the
 * parent's records were just read from it). */
static int rdb_keep(void *arg, uint32_t i)
{
    struct rdb_put *rp = arg;
    struct dr_id *slot;
    rp->puts++;
    int rc = chunk_slot(rp->b, rp->n, rp->alloc, rp->pnode->chunk_sizes[i], &slot);
    if (rc >= 0) {
        *slot = rp->pnode->chunks[i];
    }
    return rc;
}

/* Loads the parent's records (dr_rdbstore_parent_load) on a thread of its own while the new
 * file is parsed; it decompresses with its own context. */
struct rdb_parent_job {
    struct backup *b;
    const struct dr_node *pnode;
    struct dr_compressor *z[DR_RDBSTORE_FETCH_WORKERS]; /* one per fetching thread */
    struct dr_rdbstore_parent *par;
    char *err; /* why the parent is not usable */
    pthread_t thread;
    bool started;
};

static int rdb_get(void *arg, unsigned worker, uint32_t i, struct dr_buf *out)
{
    struct rdb_parent_job *j = arg;
    return dr_repo_chunk_get(j->b->r, j->z[worker], j->pnode, i, out);
}

static void *rdb_parent_main(void *arg)
{
    struct rdb_parent_job *j = arg;
    if (dr_rdbstore_parent_load(j->pnode, rdb_get, j, j->b->rdb_key, &j->par) < 0) {
        j->err = dr_xstrdup(dr_error_msg());
        dr_error_clear();
    }
    return NULL;
}

/* Starts loading the parent's records when pnode is a record-encoded file. */
static void rdb_parent_start(struct rdb_parent_job *j, struct backup *b,
                             const struct dr_node *pnode)
{
    memset(j, 0, sizeof(*j));
    if (!pnode || pnode->type != DR_NODE_FILE || !(pnode->flags & DR_NODE_F_RECORDS)) {
        return;
    }
    j->b = b;
    j->pnode = pnode;
    for (unsigned w = 0; w < DR_RDBSTORE_FETCH_WORKERS; w++) {
        j->z[w] = dr_compressor_new(dr_repo_config(b->r)->zstd_level);
    }
    j->started = pthread_create(&j->thread, NULL, rdb_parent_main, j) == 0;
    if (!j->started) {
        rdb_parent_main(j);
    }
}

/* The parent's records, or NULL (no usable parent: every record is written, as on a first
 * snapshot; a damaged parent costs space, never this snapshot). */
static struct dr_rdbstore_parent *rdb_parent_join(struct rdb_parent_job *j, const char *what)
{
    if (j->started) {
        pthread_join(j->thread, NULL);
    }
    if (j->err) {
        dr_log_warn("'%s': the parent snapshot's records cannot be read (%s); storing every "
                    "record again",
                    what, j->err);
        free(j->err);
    }
    for (unsigned w = 0; w < DR_RDBSTORE_FETCH_WORKERS; w++) {
        if (j->z[w]) {
            dr_compressor_free(j->z[w]);
        }
    }
    struct dr_rdbstore_parent *par = j->par;
    memset(j, 0, sizeof(*j));
    return par;
}

static void rdb_fallback(struct backup *b, const char *what, const char *why)
{
    b->rdb_fallback++;
    if (!b->rdb_note) {
        b->rdb_note = dr_xasprintf("'%s': %s", what, why);
    }
    dr_log_detail("'%s' starts like an RDB file but is stored as plain chunks: %s", what, why);
}

/* An RDB file (the first bytes carry the magic): the stream is spooled to an unlinked temporary
 * file, which is mapped and parsed whole before anything is stored, so that a file the parser
 * refuses is stored by the chunker from the same bytes instead (a stream cannot be read twice).
 * The spool costs temporary disk space of the file's size and page cache, not heap. The first
 * have bytes of the stream are in b->buf. */
static int64_t rdb_reader(struct backup *b, dr_stream_read_fn rd, void *arg, struct dr_node *n,
                          const struct dr_node *pnode, uint32_t alloc, const char *what,
                          size_t have, bool eof)
{
    uint64_t total = have;
    uint8_t *map = NULL;
    int64_t ret = 0;
    /* the parent's records load while the stream is spooled and parsed */
    struct rdb_parent_job job;
    rdb_parent_start(&job, b, pnode);
    FILE *f = tmpfile();
    if (!f) {
        dr_rdbstore_parent_free(rdb_parent_join(&job, what));
        return dr_error_errno(DR_EIO, "cannot create a temporary file for '%s'", what);
    }
    for (;;) {
        if (have && fwrite(b->buf, 1, have, f) != have) {
            ret = dr_error_errno(DR_EIO, "cannot write a temporary file for '%s'", what);
            goto out;
        }
        progress(b, what, false);
        if (eof) {
            break;
        }
        int got = rd(arg, b->buf, b->bufsize);
        if (got < 0) {
            ret = got;
            goto out;
        }
        have = (size_t)got;
        eof = got == 0;
        total += (uint64_t)got;
        b->prog.bytes_read += (uint64_t)got;
        b->sum.bytes_read += (uint64_t)got;
    }
    if (fflush(f) != 0) {
        ret = dr_error_errno(DR_EIO, "cannot write a temporary file for '%s'", what);
        goto out;
    }
    map = mmap(NULL, (size_t)total, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    if (map == MAP_FAILED) {
        map = NULL;
        ret = dr_error_errno(DR_EIO, "cannot map the temporary file for '%s'", what);
        goto out;
    }
    madvise(map, (size_t)total, MADV_SEQUENTIAL);
    struct rdb_put rp = {.b = b, .n = n, .pnode = pnode, .alloc = &alloc};
    struct dr_rdbstore_sink sink = {rdb_put, rdb_keep, &rp};
    struct dr_rdbstore_enc *enc;
    int rc = dr_rdbstore_scan(map, (size_t)total, &enc);
    struct dr_rdbstore_parent *par = rdb_parent_join(&job, what);
    if (rc >= 0) {
        struct dr_rdbstore_enc_opts eo = {.hash_key = b->rdb_key, .ch = &b->ch, .parent = par};
        struct dr_rdbstore_stats st;
        rc = dr_rdbstore_emit(enc, &eo, &sink, &st);
        dr_rdbstore_enc_free(enc);
        if (rc >= 0) {
            n->flags |= DR_NODE_F_RECORDS;
            b->rdb_files++;
            dr_log_detail("'%s': %llu key records, %llu unchanged from the parent, %llu "
                          "written (%llu bytes, %llu blobs; %llu blobs compacted), layout "
                          "%llu bytes",
                          what, (unsigned long long)st.records, (unsigned long long)st.reused,
                          (unsigned long long)st.written, (unsigned long long)st.written_bytes,
                          (unsigned long long)st.blobs_new, (unsigned long long)st.blobs_compacted,
                          (unsigned long long)st.layout_len);
        }
    }
    dr_rdbstore_parent_free(par);
    if (rc < 0 && rp.puts == 0 && (rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED)) {
        /* nothing of it was stored: the chunker takes the same bytes */
        rdb_fallback(b, what, dr_error_msg());
        dr_error_clear();
        rc = chunk_mem(b, map, (size_t)total, n, &alloc);
    }
    ret = rc < 0 ? rc : (int64_t)total;
    n->size = total;
out:
    dr_rdbstore_parent_free(rdb_parent_join(&job, what)); /* after an error: not joined yet */
    if (map) {
        munmap(map, (size_t)total);
    }
    fclose(f);
    return ret;
}

/* Reads a stream to its end through the chunker into the pipeline. Returns bytes read or the
 * reader's error (DR_EIO for a failed read; the caller decides whether that is fatal). */
static int64_t chunk_reader(struct backup *b, dr_stream_read_fn rd, void *arg, struct dr_node *n,
                            const struct dr_node *pnode, uint32_t alloc, const char *what)
{
    size_t have = 0;
    bool eof = false;
    uint64_t total = 0;
    bool first = true;
    for (;;) {
        while (!eof && have < b->bufsize) {
            int got = rd(arg, b->buf + have, b->bufsize - have);
            if (got < 0) {
                return got;
            }
            if (got == 0) {
                eof = true;
                break;
            }
            have += (size_t)got;
            total += (uint64_t)got;
            b->prog.bytes_read += (uint64_t)got;
            b->sum.bytes_read += (uint64_t)got;
        }
        if (first && b->o->rdb_records && dr_rdbrec_magic(b->buf, have)) {
            return rdb_reader(b, rd, arg, n, pnode, alloc, what, have, eof);
        }
        first = false;
        size_t off = 0;
        for (;;) {
            size_t cut = dr_chunker_next(&b->ch, b->buf + off, have - off, eof);
            if (cut == 0) {
                break;
            }
            struct dr_id *slot;
            int rc = chunk_slot(b, n, &alloc, (uint32_t)cut, &slot);
            if (rc < 0) {
                return rc;
            }
            uint8_t *copy = dr_xmalloc(cut);
            memcpy(copy, b->buf + off, cut);
            rc = dr_pipeline_put_data(b->w, copy, cut, slot);
            if (rc < 0) {
                return rc;
            }
            off += cut;
        }
        memmove(b->buf, b->buf + off, have - off);
        have -= off;
        progress(b, what, false);
        if (eof && have == 0) {
            break;
        }
    }
    n->size = total;
    return (int64_t)total;
}

static struct dr_id path_key(const char *path)
{
    struct dr_id k;
    dr_crypto_hash(path, strlen(path), &k);
    return k;
}

/* records: a record-encoded node, whose blob sizes do not add up to the file size. */
static void copy_chunks(struct dr_node *n, uint32_t nc, const struct dr_id *c, const uint32_t *sz)
{
    n->nchunks = nc;
    n->chunks = nc ? dr_xmalloc(nc * sizeof(*c)) : NULL;
    n->chunk_sizes = nc ? dr_xmalloc(nc * sizeof(*sz)) : NULL;
    if (nc) {
        memcpy(n->chunks, c, nc * sizeof(*c));
        memcpy(n->chunk_sizes, sz, nc * sizeof(*sz));
    }
}

static bool chunks_indexed(struct backup *b, const struct dr_id *c, const uint32_t *sz, uint32_t n,
                           uint64_t size, bool records)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct dr_index_blob ib;
        sum += sz[i];
        if (dr_index_blob_get(b->rtxn, &c[i], &ib) < 0) {
            dr_error_clear();
            return false;
        }
    }
    return records || sum == size;
}

/* True when the file is known unchanged, and then the node gets its chunk list: from the local
 * files cache (device, inode, size, mtime, ctime), or else from the parent snapshot's node for
 * the same path (inode, size, mtime, ctime), as restic does: that keeps incremental snapshots
 * cheap when the local cache is lost or another machine took the parent. Either way every
 * chunk must still be indexed. *out_known says whether the path was seen before, for the
 * new/changed statistics. */
static bool files_cache_hit(struct backup *b, const char *path, const struct stat *st,
                            const struct dr_node *pnode, struct dr_node *n, bool *out_known)
{
    struct dr_files_rec rec = {0};
    struct dr_id key = path_key(path);
    *out_known = pnode != NULL;
    if (dr_index_files_get(b->rtxn, &key, &rec) == 0) {
        *out_known = true;
        bool hit = rec.dev == (uint64_t)st->st_dev && rec.ino == (uint64_t)st->st_ino &&
                   rec.size == (uint64_t)st->st_size && rec.mtime_ns == n->mtime_ns &&
                   rec.ctime_ns == n->ctime_ns &&
                   chunks_indexed(b, rec.chunks, rec.chunk_sizes, rec.nchunks, rec.size, false);
        if (hit) {
            n->nchunks = rec.nchunks;
            n->chunks = rec.chunks;
            n->chunk_sizes = rec.chunk_sizes;
            rec.chunks = NULL;
            rec.chunk_sizes = NULL;
        }
        dr_files_rec_release(&rec);
        if (hit) {
            return true;
        }
    } else {
        dr_error_clear();
    }
    if (pnode && pnode->type == DR_NODE_FILE && !(pnode->flags & DR_NODE_F_DAMAGED) &&
        pnode->inode == (uint64_t)st->st_ino && pnode->size == (uint64_t)st->st_size &&
        pnode->mtime_ns == n->mtime_ns && pnode->ctime_ns == n->ctime_ns &&
        n->mtime_ns < b->parent_time_ns - RACY_WINDOW_NS &&
        n->ctime_ns < b->parent_time_ns - RACY_WINDOW_NS &&
        chunks_indexed(b, pnode->chunks, pnode->chunk_sizes, pnode->nchunks, pnode->size,
                       pnode->flags & DR_NODE_F_RECORDS)) {
        n->flags |= pnode->flags & DR_NODE_F_RECORDS;
        copy_chunks(n, pnode->nchunks, pnode->chunks, pnode->chunk_sizes);
        return true;
    }
    return false;
}

/* Spools a files-cache record: key, stat fields, chunk list. Written to the index after commit. */
static void spool_file(struct backup *b, const char *path, const struct dr_node *n)
{
    /* a files-cache record has no flags, so record-encoded chunks are not put there (the
     * parent snapshot's node, which has them, still spares an unchanged RDB the re-read) */
    if (!b->spool || (n->flags & DR_NODE_F_RECORDS) ||
        n->mtime_ns >= b->start_wall - RACY_WINDOW_NS ||
        n->ctime_ns >= b->start_wall - RACY_WINDOW_NS) {
        return;
    }
    struct dr_id key = path_key(path);
    uint64_t hdr[5] = {n->dev, n->inode, n->size, (uint64_t)n->mtime_ns, (uint64_t)n->ctime_ns};
    uint32_t nc = n->nchunks;
    if (fwrite(key.b, sizeof(key.b), 1, b->spool) != 1 ||
        fwrite(hdr, sizeof(hdr), 1, b->spool) != 1 || fwrite(&nc, sizeof(nc), 1, b->spool) != 1 ||
        (nc && (fwrite(n->chunks, sizeof(*n->chunks), nc, b->spool) != nc ||
                fwrite(n->chunk_sizes, sizeof(*n->chunk_sizes), nc, b->spool) != nc))) {
        /* the files cache is an accelerator: without it the next run reads more, nothing else */
        fclose(b->spool);
        b->spool = NULL;
    }
}

static struct hardlink *find_link(struct backup *b, const struct stat *st)
{
    for (size_t i = 0; i < b->nlinks; i++) {
        if (b->links[i].dev == (uint64_t)st->st_dev && b->links[i].ino == (uint64_t)st->st_ino) {
            return &b->links[i];
        }
    }
    return NULL;
}

/* Reads a regular file into n's chunk list. A file that cannot be opened or read is an input
 * error (reported, counted, left out); returns 1 then. */
static int backup_file(struct backup *b, const char *path, const struct stat *st,
                       const struct dr_node *pnode, struct dr_node *n)
{
    b->prog.files++;
    struct hardlink *hl = st->st_nlink > 1 ? find_link(b, st) : NULL;
    if (hl) {
        /* stored once: a further name of an inode already read reuses its chunks */
        copy_chunks(n, hl->nchunks, hl->chunks, hl->sizes);
        n->flags |= hl->flags;
        b->sum.files_unchanged++;
        return 0;
    }
    bool known;
    if (files_cache_hit(b, path, st, pnode, n, &known)) {
        b->sum.files_unchanged++;
    } else {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
        if (fd < 0 && errno == EPERM) {
            fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        }
        if (fd < 0) {
            dr_log_error("cannot read '%s': %s", path, strerror(errno));
            b->sum.errors++;
            b->prog.errors++;
            return 1;
        }
        uint64_t guess = (uint64_t)st->st_size / b->ch.min + 2;
        uint32_t alloc = guess > 1u << 20 ? 1u << 20 : (uint32_t)guess;
        n->chunks = dr_xmalloc(alloc * sizeof(*n->chunks));
        n->chunk_sizes = dr_xmalloc(alloc * sizeof(*n->chunk_sizes));
        int64_t got = chunk_stream(b, fd, n, pnode, alloc, path);
        close(fd);
        if (got == DR_EIO) {
            /* a read error in the middle of a file: leave the file out, keep going */
            dr_log_error("%s", dr_error_msg());
            dr_error_clear();
            int rc = dr_pipeline_drain(b->w);
            if (rc < 0) {
                return rc;
            }
            b->sum.errors++;
            b->prog.errors++;
            return 1;
        }
        if (got < 0) {
            return (int)got;
        }
        if (known) {
            b->sum.files_changed++;
        } else {
            b->sum.files_new++;
        }
    }
    b->sum.bytes_total += n->size;
    if (st->st_nlink > 1) {
        int rc = dr_pipeline_drain(b->w);
        if (rc < 0) {
            return rc;
        }
        DR_GROW(b->links, b->alinks, b->nlinks + 1);
        struct hardlink *h = &b->links[b->nlinks++];
        h->dev = st->st_dev;
        h->ino = st->st_ino;
        h->flags = n->flags & DR_NODE_F_RECORDS;
        h->nchunks = n->nchunks;
        h->chunks = dr_xmalloc((n->nchunks + 1) * sizeof(*h->chunks));
        h->sizes = dr_xmalloc((n->nchunks + 1) * sizeof(*h->sizes));
        memcpy(h->chunks, n->chunks, n->nchunks * sizeof(*h->chunks));
        memcpy(h->sizes, n->chunk_sizes, n->nchunks * sizeof(*h->sizes));
    }
    return 0;
}

static int backup_dir(struct backup *b, const char *path, const struct dr_id *ptree,
                      struct dr_id *out_tree, enum dir_read *out_read);

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* lstat, or a path that vanished when the fault point "backup.lstat" is armed with "fail". */
static int entry_stat(const char *path, struct stat *st)
{
    if (DR_FAULT_POINT("backup.lstat") < 0) {
        dr_error_clear();
        errno = ENOENT;
        return -1;
    }
    return lstat(path, st);
}

/* Builds the node for one existing path; pnode is the parent snapshot's node for the same path
 * (NULL when none). Returns 1 when the entry is left out (unreadable). For a directory,
 * *out_read (if not NULL) tells how much of it was read. */
static int backup_entry(struct backup *b, const char *path, const char *name,
                        const struct dr_node *pnode, struct dr_node *n, enum dir_read *out_read)
{
    struct stat st;
    memset(n, 0, sizeof(*n));
    if (out_read) {
        *out_read = DIR_READ_ALL;
    }
    if (entry_stat(path, &st) < 0) {
        dr_log_error("cannot stat '%s': %s", path, strerror(errno));
        b->sum.errors++;
        b->prog.errors++;
        return 1;
    }
    node_from_stat(&b->owners, n, name, &st);
    int rc = 0;
    switch (n->type) {
    case DR_NODE_FILE: rc = backup_file(b, path, &st, pnode, n); break;
    case DR_NODE_DIR:
        b->sum.dirs++;
        b->prog.dirs++;
        if (b->o->one_file_system && st.st_dev != b->root_dev) {
            /* a mount point: kept as an empty directory, like restic and tar do */
            struct dr_tree empty;
            struct dr_buf enc = DR_BUF_INIT(DR_TREE_MAX);
            dr_tree_init(&empty);
            rc = dr_tree_encode(&empty, &enc);
            if (rc >= 0) {
                rc = dr_pipeline_put_tree(b->w, (const uint8_t *)enc.buf, enc.len, &n->subtree);
            }
            dr_buf_release(&enc);
        } else {
            enum dir_read got = DIR_READ_ALL;
            rc = backup_dir(b, path, pnode && pnode->type == DR_NODE_DIR ? &pnode->subtree : NULL,
                            &n->subtree, &got);
            if (got != DIR_READ_ALL) {
                n->flags |= DR_NODE_F_INCOMPLETE;
            }
            if (out_read) {
                *out_read = got;
            }
        }
        break;
    case DR_NODE_SYMLINK: {
        char target[PATH_MAX + 1];
        ssize_t len = readlink(path, target, PATH_MAX);
        if (len <= 0) {
            dr_log_error("cannot read link '%s': %s", path, len < 0 ? strerror(errno) : "empty");
            b->sum.errors++;
            return 1;
        }
        n->target = dr_xstrndup(target, (size_t)len);
        n->size = 0;
        break;
    }
    default: break;
    }
    return rc;
}

static int store_tree(struct backup *b, struct dr_tree *t, struct dr_id *out)
{
    struct dr_buf enc = DR_BUF_INIT(DR_TREE_MAX);
    int rc = dr_pipeline_drain(b->w);
    if (rc >= 0) {
        dr_tree_sort(t);
        rc = dr_tree_encode(t, &enc);
    }
    if (rc >= 0) {
        rc = dr_pipeline_put_tree(b->w, (const uint8_t *)enc.buf, enc.len, out);
    }
    dr_buf_release(&enc);
    return rc;
}

/* Loads the parent snapshot's tree for a directory; an unreadable one is simply not used. */
static void load_parent_tree(struct backup *b, const struct dr_id *id, struct dr_tree *out)
{
    dr_tree_init(out);
    if (id && dr_repo_tree_load(b->r, b->rtxn, id, out) < 0) {
        dr_log_detail("parent tree unusable: %s", dr_error_msg());
        dr_error_clear();
        dr_tree_release(out);
        dr_tree_init(out);
    }
}

/* opendir and readdir, failing with EACCES and EIO where the fault points "backup.opendir"
 * and "backup.readdir" are armed with "fail" (root, who runs the tests, reads any directory). */
static DIR *dir_open(const char *path)
{
    if (DR_FAULT_POINT("backup.opendir") < 0) {
        dr_error_clear();
        errno = EACCES;
        return NULL;
    }
    return opendir(path);
}

static struct dirent *dir_next(DIR *d)
{
    if (DR_FAULT_POINT("backup.readdir") < 0) {
        dr_error_clear();
        errno = EIO;
        return NULL;
    }
    return readdir(d);
}

/* Stores the directory at path as a tree; *out_read tells how much of its listing was read (a
 * directory that cannot be read is an input error: reported, counted, and stored with what was
 * read, so the snapshot still holds its metadata and its readable entries). */
static int backup_dir(struct backup *b, const char *path, const struct dr_id *ptree,
                      struct dr_id *out_tree, enum dir_read *out_read)
{
    DIR *d = dir_open(path);
    struct dr_tree t, pt;
    dr_tree_init(&t);
    load_parent_tree(b, ptree, &pt);
    char **names = NULL;
    size_t nnames = 0, anames = 0;
    int rc = 0;
    *out_read = DIR_READ_ALL;
    if (!d) {
        dr_log_error("cannot read directory '%s': %s", path, strerror(errno));
        b->sum.errors++;
        b->prog.errors++;
        dr_tree_release(&pt);
        *out_read = DIR_READ_NONE;
        return store_tree(b, &t, out_tree); /* kept, as an empty directory marked incomplete */
    }
    /* errno is cleared before each call: only readdir's own failure may mark the directory */
    for (;;) {
        errno = 0;
        struct dirent *de = dir_next(d);
        if (!de) {
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        DR_GROW(names, anames, nnames + 1);
        names[nnames++] = dr_xstrdup(de->d_name);
    }
    if (errno) {
        dr_log_error("cannot list directory '%s': %s", path, strerror(errno));
        b->sum.errors++;
        b->prog.errors++;
        *out_read = nnames ? DIR_READ_PART : DIR_READ_NONE;
    }
    closedir(d);
    if (nnames) {
        qsort(names, nnames, sizeof(*names), name_cmp);
    }
    size_t plen = strlen(path);
    for (size_t i = 0; i < nnames && rc >= 0; i++) {
        char *full = plen && path[plen - 1] == '/' ? dr_xasprintf("%s%s", path, names[i])
                                                   : dr_xasprintf("%s/%s", path, names[i]);
        if (!excluded(b->o, full)) {
            struct dr_node n;
            rc = backup_entry(b, full, names[i], dr_tree_find(&pt, names[i]), &n, NULL);
            if (rc == 0) {
                dr_tree_add(&t, &n);
            } else {
                if (rc == 1) {
                    dr_node_release(&n);
                    rc = 0;
                }
            }
        }
        free(full);
    }
    if (rc >= 0) {
        rc = store_tree(b, &t, out_tree);
    }
    if (rc >= 0) {
        for (size_t i = 0; i < t.n; i++) {
            if (t.nodes[i].type == DR_NODE_FILE) {
                char *full = dr_xasprintf("%s/%s", plen == 1 ? "" : path, t.nodes[i].name);
                spool_file(b, full, &t.nodes[i]);
                free(full);
            }
        }
    }
    for (size_t i = 0; i < nnames; i++) {
        free(names[i]);
    }
    free(names);
    dr_tree_release(&t);
    dr_tree_release(&pt);
    return rc;
}

/* The snapshot's root mirrors the absolute paths given: /home/a and /srv/b become a root with
 * "home" and "srv", whose intermediate directories carry their real metadata. paths is sorted
 * and normalised; every element of [lo, hi) starts with prefix. */
static int backup_virtual(struct backup *b, const char *prefix, char **paths, size_t lo, size_t hi,
                          const struct dr_id *ptree, struct dr_id *out_tree)
{
    struct dr_tree t, pt;
    dr_tree_init(&t);
    load_parent_tree(b, ptree, &pt);
    int rc = 0;
    size_t plen = strlen(prefix);
    size_t i = lo;
    while (i < hi && rc >= 0) {
        const char *rest = paths[i] + plen + (plen > 1 ? 1 : 0);
        if (*rest == '/') {
            rest++;
        }
        size_t clen = strcspn(rest, "/");
        char *comp = dr_xstrndup(rest, clen);
        char *full = dr_xasprintf("%s/%s", plen > 1 ? prefix : "", comp);
        size_t flen = strlen(full);
        size_t j = i;
        bool exact = false;
        while (j < hi && strncmp(paths[j], full, flen) == 0 &&
               (paths[j][flen] == '\0' || paths[j][flen] == '/')) {
            if (paths[j][flen] == '\0') {
                exact = true;
            }
            j++;
        }
        struct dr_node n;
        const struct dr_node *pnode = dr_tree_find(&pt, comp);
        if (exact) {
            /* a path given: one that cannot be read at all counts against the snapshot */
            enum dir_read got;
            rc = backup_entry(b, full, comp, pnode, &n, &got);
            if (rc == 1 || (rc == 0 && got == DIR_READ_NONE)) {
                b->sources_unread++;
            }
            if (rc == 1) {
                dr_node_release(&n);
                rc = 0;
            } else if (rc == 0) {
                if (n.type == DR_NODE_FILE) {
                    rc = dr_pipeline_drain(b->w);
                    if (rc >= 0) {
                        spool_file(b, full, &n);
                    }
                }
                dr_tree_add(&t, &n);
            }
        } else {
            struct stat st;
            if (lstat(full, &st) < 0 || !S_ISDIR(st.st_mode)) {
                rc = dr_error_errno(DR_EUSAGE, "cannot use '%s'", full);
            } else {
                node_from_stat(&b->owners, &n, comp, &st);
                rc = backup_virtual(b, full, paths, i, j,
                                    pnode && pnode->type == DR_NODE_DIR ? &pnode->subtree : NULL,
                                    &n.subtree);
                if (rc >= 0) {
                    dr_tree_add(&t, &n);
                } else {
                    dr_node_release(&n);
                }
            }
        }
        free(comp);
        free(full);
        i = j;
    }
    if (rc >= 0) {
        rc = store_tree(b, &t, out_tree);
    }
    dr_tree_release(&t);
    dr_tree_release(&pt);
    return rc;
}

/* The size scan behind the progress ETA: a stat-only walk of the same paths in its own thread
 * (restic does the same), started only when progress is shown. nftw has no user argument, so
 * the scanner's state is thread-local. */
static _Thread_local struct backup *scan_b;

static int scan_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (excluded(scan_b->o, path)) {
        return flag == FTW_D ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
    }
    if (flag == FTW_F && S_ISREG(st->st_mode)) {
        __atomic_add_fetch(&scan_b->scan_total, (uint64_t)st->st_size, __ATOMIC_RELAXED);
    }
    return FTW_CONTINUE;
}

static void *scan_main(void *arg)
{
    scan_b = arg;
    int flags = FTW_PHYS | FTW_ACTIONRETVAL | (scan_b->o->one_file_system ? FTW_MOUNT : 0);
    for (size_t i = 0; i < scan_b->o->npaths; i++) {
        nftw(scan_b->o->paths[i], scan_cb, 32, flags);
    }
    return NULL;
}

/* Makes path absolute and removes ".", ".." and repeated '/' lexically (a symlink given on the
 * command line is stored as the link, like tar and restic do). */
static char *normalize(const char *path)
{
    char cwd[PATH_MAX];
    char *abs = path[0] == '/' ? dr_xstrdup(path)
                               : dr_xasprintf("%s/%s", getcwd(cwd, sizeof(cwd)) ? cwd : "/", path);
    char *outp = dr_xmalloc(strlen(abs) + 2);
    size_t o = 0;
    char *save = NULL;
    for (char *c = strtok_r(abs, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0) {
            continue;
        }
        if (strcmp(c, "..") == 0) {
            while (o > 0 && outp[o - 1] != '/') {
                o--;
            }
            if (o > 0) {
                o--;
            }
            continue;
        }
        outp[o++] = '/';
        size_t l = strlen(c);
        memcpy(outp + o, c, l);
        o += l;
    }
    if (o == 0) {
        outp[o++] = '/';
    }
    outp[o] = '\0';
    free(abs);
    return outp;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The parent: the newest snapshot of the same host and paths. Its tree serves as a second
 * files cache (see files_cache_hit). */
static bool find_parent(struct backup *b, struct dr_snapshot *s, struct dr_id *out_tree)
{
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    bool found = false;
    if (dr_repo_snapshot_list(b->r, &v, &n, NULL) < 0) {
        dr_error_clear();
        return false;
    }
    for (size_t i = n; i-- > 0 && !found;) {
        const struct dr_snapshot *p = &v[i].snap;
        bool same = strcmp(p->host, s->host) == 0 && p->npaths == s->npaths;
        for (size_t k = 0; same && k < p->npaths; k++) {
            same = strcmp(p->paths[k], s->paths[k]) == 0;
        }
        if (same) {
            s->parent = v[i].id;
            s->has_parent = true;
            *out_tree = p->tree;
            b->parent_time_ns = p->time_ns;
            found = true;
        }
    }
    dr_snap_list_free(v, n);
    return found;
}

static int backup_paths(struct backup *b, struct dr_snapshot *s)
{
    size_t n = b->o->npaths;
    char **paths = dr_xcalloc(n, sizeof(*paths));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        paths[i] = normalize(b->o->paths[i]);
        struct stat st;
        if (lstat(paths[i], &st) < 0) {
            rc = dr_error_errno(DR_EUSAGE, "cannot back up '%s'", b->o->paths[i]);
        }
        if (i == 0 && rc >= 0) {
            b->root_dev = st.st_dev;
        }
    }
    if (rc >= 0) {
        qsort(paths, n, sizeof(*paths), str_cmp);
        /* drop duplicates and paths inside another given path */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t pl = k ? strlen(paths[k - 1]) : 0;
            bool inside = k && (strcmp(paths[k - 1], "/") == 0 ||
                                (strncmp(paths[i], paths[k - 1], pl) == 0 &&
                                 (paths[i][pl] == '\0' || paths[i][pl] == '/')));
            if (inside) {
                free(paths[i]);
            } else {
                paths[k++] = paths[i];
            }
        }
        n = k;
        for (size_t i = 0; i < n; i++) {
            dr_snapshot_add_path(s, paths[i]);
        }
        struct dr_id ptree;
        bool have_parent = find_parent(b, s, &ptree);
        if (n == 1 && strcmp(paths[0], "/") == 0) {
            struct stat st;
            rc = lstat("/", &st) < 0 ? dr_error_errno(DR_EIO, "cannot stat '/'") : 0;
            if (rc >= 0) {
                /* the root has no node to mark: a listing of '/' that fails midway is a partial
                 * snapshot, named on stderr, like an unreadable file */
                enum dir_read got;
                b->sum.dirs++;
                rc = backup_dir(b, "/", have_parent ? &ptree : NULL, &s->tree, &got);
                b->sources_unread += got == DIR_READ_NONE;
            }
        } else {
            rc = backup_virtual(b, "/", paths, 0, n, have_parent ? &ptree : NULL, &s->tree);
        }
        /* a snapshot of nothing would look like a good backup of an empty tree */
        if (rc >= 0 && b->sources_unread == n) {
            rc = n == 1 ? dr_errorf(DR_ESOURCE,
                                    "'%s' could not be read (see above); no snapshot was recorded",
                                    paths[0])
                        : dr_errorf(DR_ESOURCE,
                                    "none of the %zu paths could be read (see above); no snapshot "
                                    "was recorded",
                                    n);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(paths[i]);
    }
    free(paths);
    return rc;
}

static char *command_string(char **argv)
{
    struct dr_buf s = DR_BUF_INIT(DR_STRING_MAX);
    for (size_t i = 0; argv[i]; i++) {
        if ((i && dr_buf_addch(&s, ' ') < 0) || dr_buf_adds(&s, argv[i]) < 0) {
            break;
        }
    }
    return dr_buf_detach(&s, NULL);
}

/* Snapshots a stream into a root tree holding one file. For a command, the child's exit status
 * decides: only a zero exit with output (or allow_empty) becomes a snapshot. */
static int backup_stream(struct backup *b, struct dr_snapshot *s)
{
    const struct dr_backup_opts *o = b->o;
    int fd = o->stream_fd;
    pid_t child = -1;
    char *cmd = o->command  ? command_string(o->command)
                : o->source ? dr_xstrdup(o->source->kind)
                            : NULL;
    int rc = 0;
    if (o->command) {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0) {
            rc = dr_error_errno(DR_EIO, "cannot create a pipe");
            goto out;
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
        int err = posix_spawnp(&child, o->command[0], &fa, NULL, o->command, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        if (err != 0) {
            close(pfd[0]);
            errno = err;
            rc = dr_error_errno(DR_ESOURCE, "cannot run command '%s'", cmd);
            goto out;
        }
        fd = pfd[0];
        dr_snapshot_add_meta(s, "command", cmd);
    }
    struct dr_node n;
    memset(&n, 0, sizeof(n));
    n.name = dr_xstrdup(o->stream_name);
    n.type = DR_NODE_FILE;
    n.mode = 0600;
    n.uid = getuid();
    n.gid = getgid();
    owner_names(&b->owners, &n);
    n.mtime_ns = n.ctime_ns = b->start_wall;
    n.nlink = 1;
    b->prog.files = 1;
    uint32_t alloc = 64;
    n.chunks = dr_xmalloc(alloc * sizeof(*n.chunks));
    n.chunk_sizes = dr_xmalloc(alloc * sizeof(*n.chunk_sizes));
    /* the parent's node of the same name: a record-encoded RDB is stored relative to it */
    struct dr_tree pt;
    struct dr_id ptree;
    dr_tree_init(&pt);
    dr_snapshot_add_path(s, o->stream_name);
    if (find_parent(b, s, &ptree)) {
        load_parent_tree(b, &ptree, &pt);
    }
    const struct dr_node *pnode = dr_tree_find(&pt, o->stream_name);
    int64_t got = o->source
                      ? chunk_reader(b, o->source->read, o->source->arg, &n, pnode, alloc, cmd)
                      : chunk_stream(b, fd, &n, pnode, alloc, o->command ? cmd : "standard input");
    dr_tree_release(&pt);
    if (got >= 0 && o->source && o->source->finish) {
        rc = o->source->finish(o->source->arg, s);
    }
    if (o->command) {
        close(fd);
        int status;
        if (got < 0) {
            kill(child, SIGTERM);
        }
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        if (got >= 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            rc = dr_errorf(DR_ESOURCE,
                           "command '%s' exited with status %d; no snapshot was "
                           "recorded",
                           cmd, WEXITSTATUS(status));
        } else if (got >= 0 && WIFSIGNALED(status)) {
            rc = dr_errorf(DR_ESOURCE,
                           "command '%s' was killed by signal %d (%s); no snapshot "
                           "was recorded",
                           cmd, WTERMSIG(status), strsignal(WTERMSIG(status)));
        }
        if (rc >= 0 && got >= 0) {
            dr_snapshot_add_meta(s, "command.exit_status", "0");
        }
    }
    if (rc >= 0 && got < 0) {
        rc = (int)got;
        if (rc == DR_EIO && !o->source) {
            rc = dr_error_wrap(DR_ESOURCE, "no snapshot was recorded");
        }
    }
    if (rc >= 0 && got == 0 && !o->allow_empty) {
        rc = dr_errorf(DR_ESOURCE,
                       "%s%s%s produced no data; no snapshot was recorded (use "
                       "--allow-empty to accept an empty stream)",
                       o->command  ? "command '"
                       : o->source ? "source '"
                                   : "standard input",
                       o->command || o->source ? cmd : "", o->command || o->source ? "'" : "");
    }
    if (rc >= 0) {
        b->sum.files_new = 1;
        b->sum.bytes_total = n.size;
        struct dr_tree t;
        dr_tree_init(&t);
        dr_tree_add(&t, &n);
        rc = store_tree(b, &t, &s->tree);
        dr_tree_release(&t);
    } else {
        dr_node_release(&n);
    }
out:
    free(cmd);
    return rc;
}

/* The sink that tree sources build through (struct dr_source_sink). */
static int sink_add_file(void *arg, dr_stream_read_fn rd, void *rdarg, struct dr_node *n)
{
    struct backup *b = arg;
    uint32_t alloc = 16;
    n->chunks = dr_xrealloc(n->chunks, alloc * sizeof(*n->chunks));
    n->chunk_sizes = dr_xrealloc(n->chunk_sizes, alloc * sizeof(*n->chunk_sizes));
    n->nchunks = 0;
    b->prog.files++;
    int64_t got = chunk_reader(b, rd, rdarg, n, NULL, alloc, n->name);
    if (got < 0) {
        return (int)got;
    }
    b->sum.files_new++;
    b->sum.bytes_total += n->size;
    return 0;
}

static int sink_put_tree(void *arg, struct dr_tree *t, struct dr_id *out)
{
    struct backup *b = arg;
    b->sum.dirs++;
    return store_tree(b, t, out);
}

/* Writes the spooled files-cache records in one index transaction, after the commit. */
static void apply_spool(struct backup *b)
{
    if (!b->spool || fflush(b->spool) != 0 || fseek(b->spool, 0, SEEK_SET) != 0) {
        return;
    }
    struct dr_index_txn *txn;
    if (dr_index_begin(dr_repo_index(b->r), true, &txn) < 0) {
        dr_error_clear();
        return;
    }
    struct dr_id key;
    uint64_t hdr[5];
    uint32_t nc;
    int rc = 0;
    while (rc >= 0 && fread(key.b, sizeof(key.b), 1, b->spool) == 1 &&
           fread(hdr, sizeof(hdr), 1, b->spool) == 1 && fread(&nc, sizeof(nc), 1, b->spool) == 1) {
        struct dr_files_rec rec = {.dev = hdr[0],
                                   .ino = hdr[1],
                                   .size = hdr[2],
                                   .mtime_ns = (int64_t)hdr[3],
                                   .ctime_ns = (int64_t)hdr[4],
                                   .nchunks = nc};
        rec.chunks = dr_xmalloc((nc + 1) * sizeof(*rec.chunks));
        rec.chunk_sizes = dr_xmalloc((nc + 1) * sizeof(*rec.chunk_sizes));
        if (fread(rec.chunks, sizeof(*rec.chunks), nc, b->spool) != nc ||
            fread(rec.chunk_sizes, sizeof(*rec.chunk_sizes), nc, b->spool) != nc) {
            dr_files_rec_release(&rec);
            break;
        }
        rc = dr_index_files_put(txn, &key, &rec);
        dr_files_rec_release(&rec);
    }
    if (rc >= 0) {
        rc = dr_index_commit(txn);
    } else {
        dr_index_abort(txn);
    }
    if (rc < 0) {
        dr_log_detail("files cache not updated: %s", dr_error_msg());
        dr_error_clear();
    }
}

int dr_backup_run(struct dr_repo *r, const struct dr_backup_opts *o, struct dr_id *out_id,
                  struct dr_snapshot *out_snap)
{
    struct backup b = {.r = r, .o = o};
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    b.start_ns = dr_mono_ns();
    b.last_progress_ns = b.start_ns;
    b.start_wall = o->time_ns ? o->time_ns : dr_time_now_ns();
    dr_chunker_init(&b.ch, &dr_repo_config(r)->chunker, dr_repo_keys(r)->chunker_key);
    dr_rdbstore_hash_key(dr_repo_keys(r)->chunker_key, b.rdb_key);
    b.bufsize = dr_repo_config(r)->chunker.max + READ_SIZE;
    b.buf = dr_xmalloc(b.bufsize);
    b.spool = tmpfile();
    int rc = dr_pipeline_open(r, &b.w);
    if (rc < 0) {
        goto out;
    }
    rc = dr_index_begin(dr_repo_index(r), false, &b.rtxn);
    if (rc < 0) {
        goto out;
    }
    char host[256], user[256];
    if (o->host) {
        snprintf(host, sizeof(host), "%s", o->host);
    } else {
        dr_identity_host(host, sizeof(host), "unknown");
    }
    host[sizeof(host) - 1] = '\0';
    dr_identity_user(user, sizeof(user), "");
    s.time_ns = b.start_wall;
    s.host = dr_xstrdup(host);
    s.user = dr_xstrdup(user);
    for (size_t i = 0; i < o->ntags; i++) {
        dr_snapshot_add_tag(&s, o->tags[i]);
    }
    bool stream = o->command || o->stream_fd >= 0 || o->source;
    if (o->progress && !stream) {
        b.scanning = pthread_create(&b.scanner, NULL, scan_main, &b) == 0;
    }
    s.source = dr_xstrdup(o->tree_source ? o->tree_source->kind
                          : o->source    ? o->source->kind
                          : o->command   ? "command"
                          : stream       ? "stdin"
                                         : "files");
    if (o->tree_source) {
        /* sources report their failures as DR_ESOURCE, DR_ENET or DR_EAUTH; repository
         * errors (DR_ENOSPC, ...) pass through with their own codes */
        struct dr_source_sink sink = {sink_add_file, sink_put_tree, &b};
        rc = o->tree_source->build(o->tree_source->arg, &sink, &s);
    } else {
        rc = stream ? backup_stream(&b, &s) : backup_paths(&b, &s);
    }
    if (rc < 0) {
        goto out;
    }
    if (b.rdb_files) {
        char v[32];
        snprintf(v, sizeof(v), "%llu", (unsigned long long)b.rdb_files);
        dr_snapshot_add_meta(&s, "rdb.records", v);
    }
    if (b.rdb_fallback) {
        char *v = dr_xasprintf("%llu file(s) stored as plain chunks; first %s",
                               (unsigned long long)b.rdb_fallback, b.rdb_note);
        dr_snapshot_add_meta(&s, "rdb.fallback", v);
        free(v);
    }
    struct dr_pipeline_stats ws;
    rc = dr_pipeline_flush(b.w);
    if (rc < 0) {
        goto out;
    }
    dr_pipeline_get_stats(b.w, &ws);
    b.sum.bytes_added = ws.bytes_added;
    b.sum.blobs_added = ws.blobs_added;
    b.sum.duration_ns = dr_mono_ns() - b.start_ns;
    s.summary = b.sum;
    rc = dr_pipeline_commit(b.w, &s, out_id);
    if (rc < 0) {
        goto out;
    }
    dr_index_abort(b.rtxn);
    b.rtxn = NULL;
    apply_spool(&b);
    progress(&b, NULL, true);
    *out_snap = s;
    dr_snapshot_init(&s);
    rc = b.sum.errors ? dr_errorf(DR_EPARTIAL,
                                  "%llu inputs could not be read; the snapshot "
                                  "leaves them out",
                                  (unsigned long long)b.sum.errors)
                      : 0;
out:
    if (b.scanning) {
        pthread_join(b.scanner, NULL);
    }
    dr_index_abort(b.rtxn);
    dr_pipeline_free(b.w);
    if (b.spool) {
        fclose(b.spool);
    }
    for (size_t i = 0; i < b.nlinks; i++) {
        free(b.links[i].chunks);
        free(b.links[i].sizes);
    }
    free(b.links);
    free(b.buf);
    free(b.rdb_note);
    owner_cache_release(&b.owners);
    dr_snapshot_release(&s);
    return rc;
}
