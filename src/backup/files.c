/* files.c: regular files read by the engine itself. The files cache (index "files") lets a
 * file whose device, inode, size, mtime and ctime are unchanged reuse its chunk list without
 * being read. Its records are written only after the snapshot is committed, from a spool file,
 * so that a record never names chunks that are not durably stored, and memory does not grow
 * with the number of files. Only records that change are spooled: a file found unchanged
 * through its own record has nothing to write, so an unchanged re-snapshot writes none. A file
 * with several names is read once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_int.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/inomap.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

struct dr_id dr_backup_path_key(const char *path)
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

static bool chunks_indexed(struct dr_backup *b, const struct dr_id *c, const uint32_t *sz,
                           uint32_t n, uint64_t size, bool records)
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

enum cache_hit {
    HIT_NONE,   /* to be read */
    HIT_RECORD, /* the files-cache record matched: it is up to date */
    HIT_PARENT, /* the parent snapshot's node matched: the record is to be written */
};

/* Says whether the file is known unchanged, and then the node gets its chunk list: from the
 * local files cache (device, inode, size, mtime, ctime), or else from the parent snapshot's
 * node for the same path (inode, size, mtime, ctime), as restic does: that keeps incremental
 * snapshots cheap when the local cache is lost or another machine took the parent. Either way
 * every chunk must still be indexed. *out_known says whether the path was seen before, for
 * the new/changed statistics. key is the path's files-cache key. */
static enum cache_hit files_cache_hit(struct dr_backup *b, const struct dr_id *key,
                                      const struct stat *st, const struct dr_node *pnode,
                                      struct dr_node *n, bool *out_known)
{
    struct dr_files_rec rec = {0};
    *out_known = pnode != NULL;
    if (dr_index_files_get(b->rtxn, key, &rec) == 0) {
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
            return HIT_RECORD;
        }
    } else {
        dr_error_clear();
    }
    if (pnode && pnode->type == DR_NODE_FILE && !(pnode->flags & DR_NODE_F_DAMAGED) &&
        pnode->inode == (uint64_t)st->st_ino && pnode->size == (uint64_t)st->st_size &&
        pnode->mtime_ns == n->mtime_ns && pnode->ctime_ns == n->ctime_ns &&
        n->mtime_ns < b->parent_time_ns - DR_BACKUP_RACY_WINDOW_NS &&
        n->ctime_ns < b->parent_time_ns - DR_BACKUP_RACY_WINDOW_NS &&
        chunks_indexed(b, pnode->chunks, pnode->chunk_sizes, pnode->nchunks, pnode->size,
                       pnode->flags & DR_NODE_F_RECORDS)) {
        n->flags |= pnode->flags & DR_NODE_F_RECORDS;
        copy_chunks(n, pnode->nchunks, pnode->chunks, pnode->chunk_sizes);
        return HIT_PARENT;
    }
    return HIT_NONE;
}

/* Whether n gets a files-cache record. A record has no flags, so record-encoded chunks are not
 * put there (the parent snapshot's node, which has them, still spares an unchanged RDB the
 * re-read); a file changed within the racy window of the start is not either. */
static bool spooled(const struct dr_backup *b, const struct dr_node *n)
{
    return b->spool && !(n->flags & DR_NODE_F_RECORDS) &&
           n->mtime_ns < b->start_wall - DR_BACKUP_RACY_WINDOW_NS &&
           n->ctime_ns < b->start_wall - DR_BACKUP_RACY_WINDOW_NS;
}

/* Spools a files-cache record: key, stat fields, chunk list. Written to the index after commit. */
void dr_backup_spool_file(struct dr_backup *b, const struct dr_id *key, const struct dr_node *n)
{
    if (!spooled(b, n)) {
        return;
    }
    uint64_t hdr[5] = {n->dev, n->inode, n->size, (uint64_t)n->mtime_ns, (uint64_t)n->ctime_ns};
    uint32_t nc = n->nchunks;
    if (fwrite(key->b, sizeof(key->b), 1, b->spool) != 1 ||
        fwrite(hdr, sizeof(hdr), 1, b->spool) != 1 || fwrite(&nc, sizeof(nc), 1, b->spool) != 1 ||
        (nc && (fwrite(n->chunks, sizeof(*n->chunks), nc, b->spool) != nc ||
                fwrite(n->chunk_sizes, sizeof(*n->chunk_sizes), nc, b->spool) != nc))) {
        /* the files cache is an accelerator: without it the next run reads more, nothing else */
        fclose(b->spool);
        b->spool = NULL;
    }
}

/* A file just read whose chunks are still in the pipeline: what waits for their ids (a
 * files-cache record, the chunks of a hard link's further names) keeps n's scalars and its
 * arrays, which the node in its directory's tree owns until that tree is stored, after this. */
struct after_read {
    struct dr_backup *b;
    struct dr_id key;
    size_t link; /* an index into b->links: arrays may move as the table grows */
    struct dr_node n;
};

static struct after_read *after_read_new(struct dr_backup *b, const struct dr_node *n)
{
    struct after_read *a = dr_xcalloc(1, sizeof(*a));
    a->b = b;
    a->n = dr_node_scalars(n);
    a->n.chunks = n->chunks; /* borrowed: the node in its directory's tree owns them */
    a->n.chunk_sizes = n->chunk_sizes;
    return a;
}

static void after_read_free(void *arg)
{
    free(arg);
}

static int spool_after_read(void *arg)
{
    struct after_read *a = arg;
    dr_backup_spool_file(a->b, &a->key, &a->n);
    return 0;
}

/* Gives hard link h (its arrays sized for them) the chunks of its first name n, once they have
 * their ids. */
static void link_fill(struct dr_backup_link *h, const struct dr_node *n)
{
    memcpy(h->chunks, n->chunks, n->nchunks * sizeof(*h->chunks));
    memcpy(h->sizes, n->chunk_sizes, n->nchunks * sizeof(*h->sizes));
    h->ready = true;
}

static int link_after_read(void *arg)
{
    struct after_read *a = arg;
    link_fill(&a->b->links[a->link], &a->n);
    return 0;
}

/* The first name of the file st is a further name of, if it was seen (the map: inomap.h). */
static struct dr_backup_link *find_link(struct dr_backup *b, const struct stat *st)
{
    size_t i = dr_inomap_get(&b->linkmap, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    return i == SIZE_MAX ? NULL : &b->links[i];
}

/* Reads a regular file into n's chunk list. A file that cannot be opened or read is an input
 * error (reported, counted, left out); returns 1 then. The files-cache record of a file whose
 * chunks are known now (a further name of a hard link, a file found unchanged through the
 * parent snapshot) is spooled here, with the key already hashed; one found through its own
 * record needs none; the record of a file read is spooled once its chunks have their ids
 * (dr_pipeline_then), as are the chunks kept for a hard link's further names. */
int dr_backup_read_file(struct dr_backup *b, int dirfd, const char *rel, const char *path,
                        const struct stat *st, const struct dr_node *pnode, struct dr_node *n)
{
    /* a signal stops the walk between files: nothing of this run is committed */
    int irc = dr_interrupt_check();
    if (irc < 0) {
        return irc;
    }
    b->prog.files++;
    struct dr_id key = dr_backup_path_key(path);
    struct dr_backup_link *hl = st->st_nlink > 1 ? find_link(b, st) : NULL;
    if (hl) {
        /* stored once: a further name of an inode already read reuses its chunks, once they
         * have their ids (a wait only when the names are close together) */
        if (!hl->ready) {
            int rc = dr_pipeline_drain(b->w);
            if (rc < 0) {
                return rc;
            }
            hl = find_link(b, st);
        }
        copy_chunks(n, hl->nchunks, hl->chunks, hl->sizes);
        n->flags |= hl->flags;
        b->sum.files_unchanged++;
        dr_backup_spool_file(b, &key, n);
        return 0;
    }
    bool known, read = false;
    enum cache_hit hit = files_cache_hit(b, &key, st, pnode, n, &known);
    if (hit != HIT_NONE) {
        b->sum.files_unchanged++;
        if (hit == HIT_PARENT) {
            dr_backup_spool_file(b, &key, n);
        }
    } else {
        int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
        if (fd < 0 && errno == EPERM) {
            fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        }
        if (fd < 0) {
            dr_log_error("cannot read '%s': %s", path, strerror(errno));
            b->sum.errors++;
            b->prog.errors++;
            return 1;
        }
        struct dr_fd_reader fr = {fd, path, true};
        int64_t got =
            dr_backup_chunk_stream(b, dr_fs_fd_read, &fr, n, pnode, (uint64_t)st->st_size, 0, path);
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
        read = true;
    }
    b->sum.bytes_total += n->size;
    /* the files-cache record, once the chunks have their ids */
    int rc = 0;
    if (read && spooled(b, n)) {
        struct after_read *a = after_read_new(b, n);
        a->key = key;
        rc = dr_pipeline_then(b->w, spool_after_read, after_read_free, a);
    }
    if (rc >= 0 && st->st_nlink > 1) {
        DR_GROW(b->links, b->alinks, b->nlinks + 1);
        struct dr_backup_link *h = &b->links[b->nlinks++];
        h->dev = st->st_dev;
        h->ino = st->st_ino;
        h->flags = n->flags & DR_NODE_F_RECORDS;
        h->nchunks = n->nchunks;
        h->chunks = dr_xmalloc((n->nchunks + 1) * sizeof(*h->chunks));
        h->sizes = dr_xmalloc((n->nchunks + 1) * sizeof(*h->sizes));
        h->ready = false;
        dr_inomap_put(&b->linkmap, h->dev, h->ino, b->nlinks - 1);
        if (read) {
            struct after_read *a = after_read_new(b, n);
            a->link = b->nlinks - 1;
            rc = dr_pipeline_then(b->w, link_after_read, after_read_free, a);
        } else {
            link_fill(h, n);
        }
    }
    return rc;
}

/* Writes the spooled files-cache records in one index transaction, after the commit. */
void dr_backup_spool_apply(struct dr_backup *b)
{
    /* nothing spooled (an unchanged re-snapshot): no write transaction to wait for */
    if (!b->spool || ftell(b->spool) <= 0 || fflush(b->spool) != 0 ||
        fseek(b->spool, 0, SEEK_SET) != 0) {
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
