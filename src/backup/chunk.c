/* chunk.c: streams through the chunker into the write pipeline, and RDB files (recognised by
 * their magic) by their key records relative to the parent snapshot's file (format/rdb.md). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backup_int.h"
#include "drrepo/compress.h"
#include "drrepo/error.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/rdbrec.h"
#include "drrepo/read.h"
#include "drrepo/util.h"

void dr_backup_progress(struct dr_backup *b, const char *current, bool final)
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

/* Read blocks: a stream is read into the current block, and each chunk cut from it goes to the
 * pipeline as a slice of the block (a reference, not a copy). The uncut tail moves to the
 * front of the block for the next read when no slice is in flight, else to another block,
 * while the old one lives on until the pipeline releases its last slice. At most
 * MAX_SPARE_BLOCKS released blocks are kept for reuse, so that a stream does not fault in a
 * fresh block for every read. Everything here runs on the submitting thread, which is also
 * where the pipeline releases slices, so the reference counts need no lock. */
#define MAX_SPARE_BLOCKS 2

static struct dr_read_block *block_get(struct dr_backup *b)
{
    struct dr_read_block *blk = b->spare;
    if (blk) {
        b->spare = blk->next;
        b->nspare--;
    } else {
        blk = dr_xcalloc(1, sizeof(*blk));
        blk->b = b;
        blk->p = dr_xmalloc(b->bufsize);
    }
    blk->next = NULL;
    return blk;
}

static void block_put(struct dr_backup *b, struct dr_read_block *blk)
{
    if (b->nspare < MAX_SPARE_BLOCKS) {
        blk->next = b->spare;
        b->spare = blk;
        b->nspare++;
        return;
    }
    free(blk->p);
    free(blk);
}

/* The pipeline is done with one slice (on the submitting thread). */
static void block_release(void *arg)
{
    struct dr_read_block *blk = arg;
    if (--blk->refs == 0 && blk != blk->b->cur) {
        block_put(blk->b, blk);
    }
}

void dr_backup_blocks_init(struct dr_backup *b)
{
    b->cur = block_get(b);
    b->buf = b->cur->p;
}

void dr_backup_blocks_free(struct dr_backup *b)
{
    if (b->cur && b->cur->refs) {
        DR_BUG("read block freed with slices in the pipeline");
    }
    while (b->spare) {
        struct dr_read_block *next = b->spare->next;
        free(b->spare->p);
        free(b->spare);
        b->spare = next;
    }
    b->nspare = 0;
    if (b->cur) {
        free(b->cur->p);
        free(b->cur);
    }
    b->cur = NULL;
    b->buf = NULL;
}

/* Makes buf[0..len) hold what buf[from..from+len) held, in a block that no slice in flight
 * points into, so that reading into the rest of it is safe. */
static void block_keep_tail(struct dr_backup *b, size_t from, size_t len)
{
    if (b->cur->refs == 0) {
        memmove(b->buf, b->buf + from, len);
        return;
    }
    struct dr_read_block *old = b->cur;
    b->cur = block_get(b);
    b->buf = b->cur->p;
    memcpy(b->buf, old->p + from, len);
    /* old is put back by the release of its last slice */
}

/* Appends one chunk slot to n, draining the pipeline before a reallocation so that no
 * in-flight job points into the old array. */
static int chunk_slot(struct dr_backup *b, struct dr_node *n, uint32_t *alloc, uint32_t size,
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

/* Cuts p[0..len) with the chunker into the pipeline (the fallback for a spooled RDB). */
static int chunk_mem(struct dr_backup *b, const uint8_t *p, size_t len, struct dr_node *n,
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
    struct dr_backup *b;
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
    struct dr_backup *b;
    const struct dr_node *pnode;
    struct dr_chunk_reader *cr; /* the parent's chunks, read ahead by the read engine */
    struct dr_rdbstore_parent *par;
    struct dr_error_saved err; /* why the parent is not usable (from the loading thread) */
    pthread_t thread;
    bool started;
};

static int rdb_get(void *arg, uint32_t i, struct dr_buf *out)
{
    struct rdb_parent_job *j = arg;
    return dr_chunk_reader_get(j->cr, i, out);
}

static void *rdb_parent_main(void *arg)
{
    struct rdb_parent_job *j = arg;
    int rc = dr_rdbstore_parent_load(j->pnode, rdb_get, j, j->b->rdb_key, &j->par);
    if (rc < 0) {
        dr_error_save(&j->err, rc);
        dr_error_clear();
    }
    return NULL;
}

/* Starts loading the parent's records when pnode is a record-encoded file. */
static void rdb_parent_start(struct rdb_parent_job *j, struct dr_backup *b,
                             const struct dr_node *pnode)
{
    memset(j, 0, sizeof(*j));
    if (!pnode || pnode->type != DR_NODE_FILE || !(pnode->flags & DR_NODE_F_RECORDS)) {
        return;
    }
    j->b = b;
    j->pnode = pnode;
    j->cr = dr_chunk_reader_new(b->r, pnode);
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
    if (j->err.code < 0) {
        dr_log_warn("'%s': the parent snapshot's records cannot be read (%s); storing every "
                    "record again",
                    what, j->err.msg ? j->err.msg : dr_strerror(j->err.code));
    }
    dr_error_saved_release(&j->err);
    dr_chunk_reader_free(j->cr, NULL);
    struct dr_rdbstore_parent *par = j->par;
    memset(j, 0, sizeof(*j));
    return par;
}

static void rdb_fallback(struct dr_backup *b, const char *what, const char *why)
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
static int64_t rdb_reader(struct dr_backup *b, dr_stream_read_fn rd, void *arg, struct dr_node *n,
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
        dr_backup_progress(b, what, false);
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

/* Gives n an empty chunk list with room for a stream of about expect bytes (0: not known) cut
 * in blocks of block bytes (0: by content, at least min each), and returns that room: an array
 * that has to grow while the stream's chunks are in flight waits for them (chunk_slot). */
static uint32_t chunks_reserve(struct dr_backup *b, struct dr_node *n, uint64_t expect,
                               uint32_t block)
{
    uint64_t guess = expect ? expect / (block ? block : b->ch.min) + 2 : 16;
    uint32_t alloc = guess > 1u << 20 ? 1u << 20 : (uint32_t)guess;
    n->chunks = dr_xrealloc(n->chunks, alloc * sizeof(*n->chunks));
    n->chunk_sizes = dr_xrealloc(n->chunk_sizes, alloc * sizeof(*n->chunk_sizes));
    n->nchunks = 0;
    return alloc;
}

/* Reads a stream to its end through the chunker into the pipeline. Returns bytes read or the
 * reader's error (DR_EIO for a failed read; the caller decides whether that is fatal). */
int64_t dr_backup_chunk_stream(struct dr_backup *b, dr_stream_read_fn rd, void *arg,
                               struct dr_node *n, const struct dr_node *pnode, uint64_t expect,
                               uint32_t block, const char *what)
{
    uint32_t alloc = chunks_reserve(b, n, expect, block);
    size_t have = 0;
    bool eof = false;
    uint64_t total = 0;
    bool first = true;
    block_keep_tail(b, 0, 0); /* slices of the previous stream may still be in flight */
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
        if (first && !block && b->o->rdb_records && dr_rdbrec_magic(b->buf, have)) {
            return rdb_reader(b, rd, arg, n, pnode, alloc, what, have, eof);
        }
        first = false;
        size_t off = 0;
        for (;;) {
            size_t cut = block ? dr_chunker_fixed_next(&b->ch, block, have - off, eof)
                               : dr_chunker_next(&b->ch, b->buf + off, have - off, eof);
            if (cut == 0) {
                break;
            }
            struct dr_id *slot;
            int rc = chunk_slot(b, n, &alloc, (uint32_t)cut, &slot);
            if (rc < 0) {
                return rc;
            }
            b->cur->refs++;
            rc = dr_pipeline_put_data_ref(b->w, b->buf + off, cut, block_release, b->cur, slot);
            if (rc < 0) {
                return rc;
            }
            off += cut;
        }
        block_keep_tail(b, off, have - off);
        have -= off;
        dr_backup_progress(b, what, false);
        /* between buffers of a long file or stream: a signal stops it here */
        int irc = dr_interrupt_check();
        if (irc < 0) {
            return irc;
        }
        if (eof && have == 0) {
            break;
        }
    }
    n->size = total;
    return (int64_t)total;
}
