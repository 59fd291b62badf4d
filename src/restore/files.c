/* files.c: file contents, for restore and for streaming one file (dump, mount, drills).
 *
 * A restore gathers files into a batch as the walk meets them: each is created (empty) under a
 * temporary name, and every chunk of it becomes a want of the read engine with the file and
 * offset it goes to. The batch runs when it holds enough files or chunks, and at the end: the
 * engine reads the packs in order and its workers pwrite each chunk where it belongs, several
 * files at once and large files split across workers. The worker that writes a file's last chunk
 * sets its size (zero blocks it skipped and lost ranges stay holes) and metadata and renames it
 * into place, and the second names of hard-linked files are linked to it. A chunk that cannot be
 * read leaves a hole; the file is restored with one error line that names it, its lost bytes and
 * the pack.
 *
 * A stream (dump, mount, drills) reads one file in order through an engine stream, its workers
 * reading ahead. Record-encoded RDB files (format/rdb.md) are rebuilt in order by the RDB
 * decoder, which asks for chunks as it goes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/backend.h"
#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/rdbstore.h"
#include "drrepo/repo.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "restore_int.h"

#define HOLE_BLOCK 4096

/* The scalars and the content of n (chunks and damaged ranges): what a copy of the file needs
 * once the tree it came from is gone. dr_node_release frees it. */
static struct dr_node content_copy(const struct dr_node *n)
{
    struct dr_node m = dr_node_scalars(n);
    if (n->nchunks) {
        m.chunks = dr_xmemdup(n->chunks, n->nchunks * sizeof(*n->chunks));
        m.chunk_sizes = dr_xmemdup(n->chunk_sizes, n->nchunks * sizeof(*n->chunk_sizes));
    }
    if (n->ndamaged) {
        m.damaged = dr_xmemdup(n->damaged, n->ndamaged * sizeof(*n->damaged));
    }
    return m;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

/* Writes a chunk at off, skipping aligned all-zero blocks so holes stay holes (the file's size
 * is set when it is finished). pwrite: the batch's workers write one file at once. */
static int write_sparse(int fd, const uint8_t *p, size_t n, uint64_t off, const char *what,
                        uint64_t *end)
{
    size_t i = 0;
    while (i < n) {
        size_t blk = HOLE_BLOCK - (size_t)((off + i) % HOLE_BLOCK);
        if (blk > n - i) {
            blk = n - i;
        }
        if (all_zero(p + i, blk)) {
            i += blk;
            continue;
        }
        size_t j = i + blk;
        while (j < n) {
            size_t b2 = DR_MIN((size_t)HOLE_BLOCK, n - j);
            if (all_zero(p + j, b2)) {
                break;
            }
            j += b2;
        }
        int rc = dr_fs_pwrite_full(fd, p + i, j - i, off + i, what);
        if (rc < 0) {
            return rc;
        }
        i = j;
        if (end) {
            *end = off + j; /* the file reaches this far (the last block written) */
        }
    }
    return 0;
}

/* The wants of file n's chunks, tagged tag, at their offsets in the file: the damaged ranges
 * of a file from `repair snapshots` lie between chunks and are skipped. Appends to *w. */
static void add_wants(const struct dr_node *n, uint64_t tag, struct dr_read_want **w, size_t *nw,
                      size_t *aw)
{
    uint64_t off = 0;
    uint32_t di = 0;
    DR_GROW(*w, *aw, *nw + n->nchunks);
    for (uint32_t i = 0; i < n->nchunks; i++) {
        while (di < n->ndamaged && n->damaged[di].off == off) {
            off += n->damaged[di++].len;
        }
        (*w)[(*nw)++] = (struct dr_read_want){
            .id = n->chunks[i], .ulen = n->chunk_sizes[i], .tag = tag, .off = off};
        off += n->chunk_sizes[i];
    }
}

/* ---- one file in order: dump, mount, drills, and record-encoded files ------------------ */

struct rec_io {
    struct dr_chunk_reader *cr;
    int fd;
    const char *what;
    bool sparse;
    uint64_t off;
    struct restore *rs;
};

static int rec_get(void *arg, uint32_t i, struct dr_buf *out)
{
    struct rec_io *io = arg;
    int rc = dr_chunk_reader_get(io->cr, i, out);
    return rc < 0 ? dr_error_wrap(rc, "file '%s'", io->what) : 0;
}

static int rec_write(void *arg, const uint8_t *p, size_t len)
{
    struct rec_io *io = arg;
    int rc = io->sparse ? write_sparse(io->fd, p, len, io->off, io->what, NULL)
                        : dr_fs_write_full(io->fd, p, len, io->what);
    io->off += len;
    if (rc >= 0 && io->rs) {
        rc = dr_interrupt_check();
    }
    if (rc >= 0 && io->rs) {
        pthread_mutex_lock(&io->rs->mu); /* a batch's workers may be writing beside it */
        io->rs->prog.bytes_read += len;
        io->rs->st.bytes += len;
        pthread_mutex_unlock(&io->rs->mu);
    }
    return rc;
}

/* A record-encoded file (format/rdb.md): rebuilt in order from its head, layout and groups.
 * sparse: fd is a new file of the batch's kind (restore), else a stream. */
static int write_records(struct dr_repo *r, const struct dr_node *n, int fd, const char *what,
                         bool sparse, struct restore *rs)
{
    struct rec_io io = {
        .cr = dr_chunk_reader_new(r, n), .fd = fd, .what = what, .sparse = sparse, .rs = rs};
    int rc = dr_rdbstore_decode(n, rec_get, rec_write, &io);
    dr_chunk_reader_free(io.cr, rs ? &rs->reads : NULL);
    if (rc < 0) {
        return dr_error_wrap(rc, "file '%s'", what);
    }
    if (sparse && ftruncate(fd, (off_t)n->size) < 0) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot set the size of '%s'", what);
    }
    return 0;
}

/* Writes zeros through wr (a lost or damaged range of a stream). */
static int wr_zeros(dr_content_write_fn wr, void *arg, uint64_t len)
{
    static const uint8_t zeros[65536];
    while (len > 0) {
        size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
        int rc = wr(arg, zeros, n);
        if (rc < 0) {
            return rc;
        }
        len -= n;
    }
    return 0;
}

int dr_restore_content(struct dr_repo *r, const struct dr_node *n, const char *what,
                       bool lost_as_zeros, dr_content_write_fn wr, void *arg,
                       struct dr_read_stats *st)
{
    struct dr_read_want *w = NULL;
    size_t nw = 0, aw = 0;
    add_wants(n, 0, &w, &nw, &aw);
    struct dr_read_stream *s;
    int rc = dr_read_stream_open(r, NULL, w, nw, &s);
    if (rc < 0) {
        free(w);
        return rc;
    }
    uint64_t off = 0, lost_bytes = 0, lost_first = 0;
    uint32_t nlost = 0;
    char *lost_msg = NULL;
    struct dr_read_extent x;
    while ((rc = dr_read_stream_next(s, &x)) == 1) {
        rc = wr_zeros(wr, arg, x.want->off - off); /* damaged ranges (repair snapshots) */
        if (rc >= 0 && x.kind == DR_EXTENT_ERROR && !lost_as_zeros) {
            rc = dr_errorf(x.code, "file '%s': %s", what, x.msg);
        } else if (rc >= 0 && x.kind == DR_EXTENT_ERROR) {
            lost_first = nlost++ ? lost_first : x.want->off;
            lost_bytes += x.want->ulen;
            lost_msg = lost_msg ? lost_msg : dr_xstrdup(x.msg);
            rc = wr_zeros(wr, arg, x.want->ulen);
        } else if (rc >= 0) {
            rc = wr(arg, x.data, x.len);
        }
        off = x.want->off + x.want->ulen;
        if (rc < 0) {
            break;
        }
    }
    if (rc >= 0 && off < n->size) {
        rc = wr_zeros(wr, arg, n->size - off); /* a damaged range at the end */
    }
    dr_read_stream_close(s, st);
    free(w);
    if (rc >= 0 && nlost) {
        dr_log_error("file '%s': %llu bytes in %u %s lost, written as zeros from byte %llu: %s",
                     what, (unsigned long long)lost_bytes, nlost, nlost == 1 ? "chunk" : "chunks",
                     (unsigned long long)lost_first, lost_msg);
        rc = 1;
    }
    free(lost_msg);
    return rc;
}

struct fd_out {
    int fd;
    const char *what;
};

static int fd_write(void *arg, const uint8_t *p, size_t len)
{
    struct fd_out *o = arg;
    /* dump: a signal ends the stream between chunks */
    int rc = dr_interrupt_check();
    return rc < 0 ? rc : dr_fs_write_full(o->fd, p, len, o->what);
}

int dr_restore_file_to_fd(struct dr_repo *r, const struct dr_node *n, int fd, const char *what,
                          struct dr_read_stats *st)
{
    if (n->type != DR_NODE_FILE) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a regular file", what);
    }
    struct fd_out o = {.fd = fd, .what = what};
    int rc = (n->flags & DR_NODE_F_RECORDS)
                 ? write_records(r, n, fd, what, false, NULL)
                 : dr_restore_content(r, n, what, false, fd_write, &o, st);
    if (rc >= 0 && (n->flags & DR_NODE_F_DAMAGED)) {
        rc = dr_errorf(DR_EDAMAGED, "'%s' is marked damaged: %u lost ranges were written as zeros",
                       what, n->ndamaged);
    }
    return rc < 0 ? rc : 0;
}

/* ---- comparing an existing file with a node (overwrite if-changed, verify_existing) ------ */

struct cmp_io {
    struct dr_repo *r;
    const struct dr_node *n;
    struct dr_chunk_reader *cr; /* record-encoded files */
    int fd;
    const char *what;
    uint64_t off;
    bool differ;
    uint8_t buf[65536];
};

/* Compares the next len bytes of the file with p. */
static int cmp_bytes(struct cmp_io *c, const uint8_t *p, size_t len)
{
    while (len > 0 && !c->differ) {
        size_t k = DR_MIN(len, sizeof(c->buf));
        ssize_t got = pread(c->fd, c->buf, k, (off_t)c->off);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return dr_error_errno(dr_error_from_errno(errno), "cannot read '%s'", c->what);
        }
        if ((size_t)got != k || memcmp(c->buf, p, k) != 0) {
            c->differ = true;
        }
        c->off += k;
        p += k;
        len -= k;
    }
    return 0;
}

static int cmp_get(void *arg, uint32_t i, struct dr_buf *out)
{
    struct cmp_io *c = arg;
    return dr_chunk_reader_get(c->cr, i, out);
}

static int cmp_put(void *arg, const uint8_t *p, size_t len)
{
    struct cmp_io *c = arg;
    int rc = dr_interrupt_check();
    return rc < 0 ? rc : cmp_bytes(c, p, len);
}

/* The chunks in order through an engine stream; damaged ranges (repair snapshots) are not
 * compared: the snapshot has nothing there to compare with. */
static int cmp_stream(struct cmp_io *c, bool *unreadable)
{
    struct dr_read_want *w = NULL;
    size_t nw = 0, aw = 0;
    add_wants(c->n, 0, &w, &nw, &aw);
    struct dr_read_stream *s;
    int rc = dr_read_stream_open(c->r, NULL, w, nw, &s);
    if (rc < 0) {
        free(w);
        return rc;
    }
    struct dr_read_extent x;
    while (!c->differ && (rc = dr_read_stream_next(s, &x)) == 1) {
        rc = dr_interrupt_check();
        if (rc < 0) {
            break;
        }
        if (x.kind == DR_EXTENT_ERROR) {
            dr_log_warn("cannot compare '%s' with the snapshot (%s): left as it is", c->what,
                        x.msg);
            *unreadable = true;
            rc = 0;
            break;
        }
        c->off = x.want->off;
        rc = cmp_bytes(c, x.data, x.len);
        if (rc < 0) {
            break;
        }
    }
    dr_read_stream_close(s, NULL);
    free(w);
    return rc < 0 ? rc : 0;
}

int dr_restore_same_content(struct restore *rs, int dirfd, const char *name, const char *dst,
                            const struct dr_node *n)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot open '%s'", dst);
    }
    struct cmp_io *c = dr_xcalloc(1, sizeof(*c));
    *c = (struct cmp_io){.r = rs->r, .n = n, .fd = fd, .what = dst};
    bool unreadable = false;
    int rc;
    if (n->flags & DR_NODE_F_RECORDS) {
        c->cr = dr_chunk_reader_new(rs->r, n);
        rc = dr_rdbstore_decode(n, cmp_get, cmp_put, c);
        dr_chunk_reader_free(c->cr, NULL);
        if (rc == DR_ECORRUPT || rc == DR_ENOENT) {
            dr_log_warn("cannot compare '%s' with the snapshot (%s): left as it is", dst,
                        dr_error_msg());
            dr_error_clear();
            unreadable = true;
            rc = 0;
        }
    } else {
        rc = cmp_stream(c, &unreadable);
    }
    bool differ = c->differ;
    free(c);
    close(fd);
    if (rc < 0) {
        return rc;
    }
    return differ && !unreadable ? 0 : 1;
}

/* ---- the batch ---------------------------------------------------------------------------- */

/* Creates a new, empty temporary file in dirfd for name, O_EXCL so that nothing that already
 * stands there (a symlink included) is opened. The suffix is a random word drawn once per
 * process and a counter: no random draw (a system call) per file; a name taken by someone
 * else only costs a retry with fresh randomness. The batch's workers create files too: the
 * shared word is drawn once (pthread_once), a retry draws its own. */
static const char tmp_letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static char tmp_salt[7];
static long tmp_pid; /* in the name for clean_leftovers; drawn with the salt: one getpid */
static pthread_once_t tmp_salt_once = PTHREAD_ONCE_INIT;

static void draw_salt(char out[7])
{
    uint8_t rnd[6];
    dr_random_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        out[i] = tmp_letters[rnd[i] % (sizeof(tmp_letters) - 1)];
    }
    out[sizeof(rnd)] = '\0';
}

static void tmp_pid_reset(void)
{
    tmp_pid = (long)getpid(); /* a forked child restores under its own pid */
}

static void init_salt(void)
{
    draw_salt(tmp_salt);
    tmp_pid = (long)getpid();
    pthread_atfork(NULL, NULL, tmp_pid_reset);
}

/* Creates a file under a temporary name in dirfd, with the permission bits of mode (the set-id
 * and sticky bits are left to dr_restore_meta_fd, after the owner): most files then have their
 * final mode from the start, and the restore saves a chmod each. Under its temporary name the
 * file is no more readable than it will be under its own. */
static int create_tmp(int dirfd, const char *name, mode_t mode, char **out_tmp)
{
    static uint64_t counter;
    pthread_once(&tmp_salt_once, init_salt);
    char salt[7];
    memcpy(salt, tmp_salt, sizeof(salt));
    for (int tries = 0; tries < 100; tries++) {
        if (tries > 0) {
            draw_salt(salt);
        }
        uint64_t k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        /* the name is only a clue for whoever finds a leftover: keep it below NAME_MAX */
        char *tmp = dr_xasprintf(DR_FS_TMP_PREFIX "%ld-%.64s-%s%llx", tmp_pid, name, salt,
                                 (unsigned long long)k);
        int fd =
            openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
        /* tests stop here with a temporary file standing, on the walk or on a worker (t0016) */
        if (fd >= 0 && DR_FAULT_POINT("restore.file.created") < 0) {
            close(fd);
            unlinkat(dirfd, tmp, 0);
            free(tmp);
            errno = EIO;
            return -1;
        }
        if (fd >= 0) {
            *out_tmp = tmp;
            return fd;
        }
        free(tmp);
        if (errno != EEXIST) {
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

/* Creates the temporary file of f if the walk left that to the worker (a file of one chunk). */
static int pfile_open(struct pfile *f)
{
    if (f->fd >= 0) {
        return 0;
    }
    f->fd = create_tmp(f->dir->fd, f->name, f->meta.mode, &f->tmp);
    if (f->fd < 0) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot create a file in '%s'",
                              f->dir->dst);
    }
    return 0;
}

/* The batch being built takes a reference to d: the directory stays open until the batch's
 * files in it are in place, and counts once among the batch's descriptors. */
static void batch_hold_dir(struct restore *rs, struct rdir *d)
{
    d->refs++;
    if (d->gen != rs->gen) {
        d->gen = rs->gen;
        rs->b.nfds++;
    }
}

struct link_seen *dr_restore_link_find(struct restore *rs, uint64_t dev, uint64_t ino)
{
    size_t i = dr_inomap_get(&rs->linkmap, dev, ino);
    return i == SIZE_MAX ? NULL : &rs->links[i];
}

void dr_restore_link_add(struct restore *rs, uint64_t dev, uint64_t ino, char *rel, uint64_t gen)
{
    DR_GROW(rs->links, rs->alinks, rs->nlinks + 1);
    rs->links[rs->nlinks] = (struct link_seen){.dev = dev, .ino = ino, .rel = rel, .gen = gen};
    dr_inomap_put(&rs->linkmap, dev, ino, rs->nlinks++);
}

/* A second name of a file restored before: 1 when linked, 0 when the caller should restore a
 * copy instead, 2 when the first name is still in the batch (the link is queued). */
static int link_to_seen(struct restore *rs, struct rdir *d, const char *name, const char *dst,
                        const char *spath, const struct dr_node *n, bool exists)
{
    const struct link_seen *ls = dr_restore_link_find(rs, n->dev, n->inode);
    if (!ls) {
        return 0;
    }
    if (ls->gen > rs->done_gen) { /* its batch is not finished */
        struct batch *b = &rs->b;
        DR_GROW(b->links, b->alinks, b->nlinks + 1);
        b->links[b->nlinks++] = (struct plink){.dir = d,
                                               .name = dr_xstrdup(name),
                                               .dst = dr_xstrdup(dst),
                                               .spath = dr_xstrdup(spath),
                                               .meta = content_copy(n),
                                               .exists = exists};
        batch_hold_dir(rs, d);
        return 2;
    }
    if (exists) {
        int rc = dr_restore_remove_existing(d->fd, name, dst);
        if (rc < 0) {
            return rc;
        }
    }
    const char *base;
    int srcfd = dr_restore_open_parent(rs, ls->rel, &base);
    int ok = srcfd >= 0 && linkat(srcfd, base, d->fd, name, 0) == 0;
    if (srcfd >= 0) {
        close(srcfd);
    }
    if (ok) {
        rs->st.links++;
        return 1;
    }
    return 0; /* fall back to a copy */
}

/* Puts a finished file in place: metadata through its descriptor, then the rename, which
 * replaces whatever stands at its name (a symlink included) without following it. */
static int finish_file(struct restore *rs, struct pfile *f)
{
    if (f->nlost) {
        char *line = dr_xasprintf("file '%s': %llu bytes in %u %s lost, left as holes from "
                                  "byte %llu: %s",
                                  f->spath, (unsigned long long)f->lost_bytes, f->nlost,
                                  f->nlost == 1 ? "chunk" : "chunks",
                                  (unsigned long long)f->lost_first, f->lost_msg);
        dr_restore_note_loss(rs, line);
        pthread_mutex_lock(&rs->mu);
        rs->wst.errors++;
        pthread_mutex_unlock(&rs->mu);
        free(line);
    }
    int rc = pfile_open(f);
    if (rc < 0) {
        return rc;
    }
    /* a file of one chunk whose last block was written already has its size */
    if (!(f->lazy && f->end == f->meta.size) && ftruncate(f->fd, (off_t)f->meta.size) < 0) {
        rc = dr_error_errno(dr_error_from_errno(errno), "cannot set the size of '%s'", f->dst);
    }
    if (rc >= 0) {
        dr_restore_meta_fd(rs, f->fd, f->dst, &f->meta);
    }
    if (close(f->fd) < 0 && rc >= 0) {
        rc = dr_error_errno(DR_EIO, "cannot write '%s'", f->dst);
    }
    f->fd = -1;
    if (rc >= 0 && renameat(f->dir->fd, f->tmp, f->dir->fd, f->name) < 0) {
        rc = dr_error_errno(dr_error_from_errno(errno), "cannot rename into '%s'", f->dst);
    }
    if (rc < 0) {
        unlinkat(f->dir->fd, f->tmp, 0);
        return rc;
    }
    free(f->tmp);
    f->tmp = NULL;
    f->placed = true;
    pthread_mutex_lock(&rs->mu);
    rs->wst.files++;
    rs->prog.files++;
    pthread_mutex_unlock(&rs->mu);
    /* tests stop here, one file in place and the rest of the batch not (t0016) */
    return DR_FAULT_POINT("restore.file.renamed");
}

static void pfile_release(struct restore *rs, struct pfile *f, bool unlink_tmp)
{
    if (f->fd >= 0) {
        close(f->fd);
    }
    if (unlink_tmp && f->tmp) {
        unlinkat(f->dir->fd, f->tmp, 0);
    }
    free(f->tmp);
    free(f->name);
    free(f->dst);
    free(f->spath);
    free(f->lost_msg);
    dr_restore_dir_put(rs, f->dir);
}

static void plink_release(struct restore *rs, struct plink *l)
{
    free(l->name);
    free(l->dst);
    free(l->spath);
    dr_node_release(&l->meta);
    dr_restore_dir_put(rs, l->dir);
}

/* A chunk of f was written (or found lost): the worker that delivers its last one puts it in
 * place at once, so that metadata and renames overlap with the reads of other files instead of
 * waiting for the end of the batch. */
static int chunk_done(struct restore *rs, struct pfile *f)
{
    if (__atomic_sub_fetch(&f->left, 1, __ATOMIC_ACQ_REL) != 0) {
        return 0;
    }
    return finish_file(rs, f);
}

/* The engine's callback, on its workers: a chunk to its place in its file, or a lost one
 * recorded for the file's error line. */
static int write_cb(void *arg, const struct dr_read_extent *x)
{
    struct run *run = arg;
    struct restore *rs = run->rs;
    struct pfile *f = &run->b.files[x->want->tag];
    int irc = dr_interrupt_check(); /* stops the run: the batch's files are then removed */
    if (irc < 0) {
        return irc;
    }
    if (x->kind == DR_EXTENT_ERROR) {
        pthread_mutex_lock(&rs->mu);
        if (!f->nlost || x->want->off < f->lost_first) {
            f->lost_first = x->want->off;
        }
        if (!f->lost_msg) {
            f->lost_msg = dr_xstrdup(x->msg);
        }
        f->nlost++;
        f->lost_bytes += x->want->ulen;
        pthread_mutex_unlock(&rs->mu);
        return chunk_done(rs, f);
    }
    int rc = pfile_open(f); /* one chunk: only this worker has the file */
    if (rc < 0) {
        return rc;
    }
    rc = write_sparse(f->fd, x->data, x->len, x->want->off, f->dst, f->lazy ? &f->end : NULL);
    pthread_mutex_lock(&rs->mu);
    rs->prog.bytes_read += x->len;
    rs->wst.bytes += x->len;
    int64_t now = dr_mono_ns();
    if (rs->o->progress && now - rs->last_ns > 250000000) {
        rs->last_ns = now;
        rs->prog.elapsed_ns = now - rs->start_ns;
        rs->prog.current = f->spath;
        rs->o->progress(rs->o->progress_arg, &rs->prog, false);
    }
    pthread_mutex_unlock(&rs->mu);
    return rc < 0 ? rc : chunk_done(rs, f);
}

static void batch_free(struct restore *rs, struct batch *b, bool unlink_tmp)
{
    for (size_t i = 0; i < b->nfiles; i++) {
        pfile_release(rs, &b->files[i], unlink_tmp);
    }
    for (size_t i = 0; i < b->nlinks; i++) {
        plink_release(rs, &b->links[i]);
    }
    free(b->files);
    free(b->links);
    free(b->w);
}

static void *run_main(void *arg)
{
    struct run *run = arg;
    struct restore *rs = run->rs;
    run->rc = dr_read_run(rs->r, &run->rp, run->b.w, run->b.nw, write_cb, run, &run->reads);
    if (run->rc < 0) {
        dr_error_save(&run->err, run->rc);
    }
    return NULL;
}

/* Waits for the batch being read and finishes it on this thread: the files no worker finished
 * (no chunks; none when the run stopped), then the links to its files. A link whose source
 * cannot be linked to becomes a copy in the batch being built. */
static int finish_run(struct restore *rs)
{
    struct run *run = rs->running;
    if (!run) {
        return 0;
    }
    rs->running = NULL;
    if (run->threaded) {
        pthread_join(run->thread, NULL);
    }
    dr_read_stats_add(&rs->reads, &run->reads);
    int rc = run->rc < 0 ? dr_error_restore(&run->err) : 0;
    dr_error_saved_release(&run->err);
    struct batch *b = &run->b;
    for (size_t i = 0; i < b->nfiles && rc >= 0; i++) {
        rc = dr_interrupt_check();
        if (rc >= 0 && !b->files[i].placed) { /* not finished by a worker */
            rc = finish_file(rs, &b->files[i]);
        }
    }
    rs->done_gen = run->gen; /* the first names of its links are in place */
    for (size_t k = 0; k < b->nlinks && rc >= 0; k++) {
        struct plink *l = &b->links[k];
        int lrc = link_to_seen(rs, l->dir, l->name, l->dst, l->spath, &l->meta, l->exists);
        if (lrc == 0) {
            lrc = dr_restore_file(rs, l->dir, l->dst, l->spath, &l->meta, l->exists);
        }
        rc = lrc < 0 ? lrc : 0;
    }
    batch_free(rs, b, rc < 0);
    free(run);
    return rc;
}

/* Hands the batch being built to the engine on a thread of its own, after finishing the one
 * before: the walk goes on creating the next batch's files while this one is read. last: no
 * batch follows (the walk is over), so the run keeps no packs for one. */
static int start_run(struct restore *rs, bool last)
{
    int rc = finish_run(rs);
    if (rc < 0) {
        return rc;
    }
    if (!last) {
        dr_restore_cache_open(rs);
    }
    struct run *run = dr_xcalloc(1, sizeof(*run));
    run->rs = rs;
    run->rp = rs->rp;
    run->rp.cache_last = last;
    run->b = rs->b;
    run->gen = rs->gen++;
    rs->b = (struct batch){0};
    rs->running = run;
    run->threaded = pthread_create(&run->thread, NULL, run_main, run) == 0;
    if (!run->threaded) {
        run_main(run); /* no thread to be had: read it now */
    }
    /* the batches grow: the first is read while the walk goes on, later ones share packs */
    rs->batch_files = DR_MIN(rs->batch_files * 2, rs->max_files);
    return 0;
}

int dr_restore_flush(struct restore *rs)
{
    int rc = 0;
    while (rc >= 0 && (rs->running || rs->b.nfiles || rs->b.nlinks)) {
        rc = rs->running ? finish_run(rs) : start_run(rs, true);
    }
    return rc;
}

void dr_restore_discard(struct restore *rs)
{
    if (rs->running) {
        struct run *run = rs->running;
        if (run->threaded) {
            pthread_join(run->thread, NULL);
        }
        dr_read_stats_add(&rs->reads, &run->reads);
        dr_error_saved_release(&run->err);
        batch_free(rs, &run->b, true);
        free(run);
        rs->running = NULL;
    }
    batch_free(rs, &rs->b, true);
    rs->b = (struct batch){0};
}

/* How large a batch may grow. Its descriptors (the files the walk created, the directories of
 * its files) at most a quarter of those this process may have (raised to the hard limit
 * first): two batches may be open at once, and the other half is for the walk's directories
 * and the engine. Its files (each with its paths and metadata) and chunks (the plan) are
 * bounded for memory. On a local disk the first batch is small and they double, so that the engine
 * starts reading while the walk goes on; over a network the first batch takes every file it
 * may, so that a restore that fits one batch reads each pack it touches once, with one
 * request, and needs no cache of packs (restore.c). */
static void batch_limits(struct restore *rs)
{
    struct rlimit rl;
    size_t fds = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            struct rlimit up = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
                rl = up;
            }
        }
        fds = rl.rlim_cur == RLIM_INFINITY ? 65536 : (size_t)rl.rlim_cur;
    }
    rs->max_fds = DR_MAX(fds / 4, (size_t)64) - 32;
    rs->max_files = 16384;
    rs->max_wants = (size_t)1 << 18; /* ~30 MiB of plan per batch */
    rs->batch_files = dr_backend_is_remote(dr_repo_backend(rs->r))
                          ? rs->max_files
                          : DR_MIN((size_t)256, rs->max_files);
    rs->gen = 1;
}

int dr_restore_file(struct restore *rs, struct rdir *d, const char *dst, const char *spath,
                    const struct dr_node *n, bool exists)
{
    const char *name = n->name ? n->name : strrchr(dst, '/') + 1;
    if (n->nlink > 1) {
        int rc = link_to_seen(rs, d, name, dst, spath, n, exists);
        if (rc != 0) {
            return rc < 0 ? rc : 0;
        }
    }
    if (!rs->max_files) {
        batch_limits(rs);
    }
    char *tmp = NULL;
    int fd = -1;
    bool records = n->flags & DR_NODE_F_RECORDS;
    if (records || n->nchunks != 1) {
        /* a file of one chunk is created by the worker that writes it (pfile_open) */
        fd = create_tmp(d->fd, name, n->mode, &tmp);
        if (fd < 0) {
            return dr_error_errno(dr_error_from_errno(errno), "cannot create a file in '%s'",
                                  d->dst);
        }
    }
    int rc = 0;
    if (records) {
        /* rebuilt in order by the RDB decoder, now */
        rc = write_records(rs->r, n, fd, spath, true, rs);
    }
    /* its size (holes at the end: zeros, lost chunks) is set by finish_file, on a worker */
    if (rc < 0) {
        close(fd);
        unlinkat(d->fd, tmp, 0);
        free(tmp);
        return rc;
    }
    struct batch *b = &rs->b;
    DR_GROW(b->files, b->afiles, b->nfiles + 1);
    b->files[b->nfiles] = (struct pfile){.dir = d,
                                         .fd = fd,
                                         .lazy = fd < 0,
                                         .tmp = tmp,
                                         .name = dr_xstrdup(name),
                                         .dst = dr_xstrdup(dst),
                                         .spath = dr_xstrdup(spath),
                                         .meta = dr_node_scalars(n)};
    b->nfds += fd >= 0;
    batch_hold_dir(rs, d);
    if (!(n->flags & DR_NODE_F_RECORDS) && n->nchunks) {
        b->files[b->nfiles].left = n->nchunks;
        add_wants(n, b->nfiles, &b->w, &b->nw, &b->aw);
    }
    b->nfiles++;
    if (n->nlink > 1) {
        dr_restore_link_add(rs, n->dev, n->inode, dr_xstrdup(dst + rs->rel_off), rs->gen);
    }
    if (b->nfiles >= rs->batch_files || b->nw >= rs->max_wants || b->nfds >= rs->max_fds) {
        return start_run(rs, false);
    }
    return 0;
}
