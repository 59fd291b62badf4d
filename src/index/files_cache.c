/* files_cache.c: the backup's files cache in the index (path key -> stat and chunks). */
#include "index_int.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/reader.h"

/* ---- files cache ----------------------------------------------------------------------- */

int dr_index_files_get(struct dr_index_txn *t, const struct dr_id *path_key,
                       struct dr_files_rec *out)
{
    MDB_val v;
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_db_get(t, DB_FILES, path_key->b, DR_ID_LEN, &v);
    if (rc == 0) {
        return dr_index_not_found("file", path_key);
    }
    if (rc < 0) {
        return dr_index_write_result(t, rc);
    }
    struct dr_reader r;
    struct dr_files_rec f = {0};
    dr_rd_init(&r, v.mv_data, v.mv_size);
    f.dev = dr_rd_u64le(&r);
    f.ino = dr_rd_u64le(&r);
    f.size = dr_rd_u64le(&r);
    f.mtime_ns = (int64_t)dr_rd_u64le(&r);
    f.ctime_ns = (int64_t)dr_rd_u64le(&r);
    f.nchunks = dr_rd_u32le(&r);
    /* the length check comes before the allocation, so a damaged count allocates nothing */
    if (!dr_rd_ok(&r) || f.nchunks > DR_INDEX_FILES_CHUNKS_MAX ||
        dr_rd_left(&r) != (size_t)f.nchunks * FILES_CHUNK_LEN) {
        return dr_index_record_corrupt(t->idx, "file", path_key->b, DR_ID_LEN);
    }
    if (f.nchunks) {
        f.chunks = dr_xmalloc((size_t)f.nchunks * sizeof(*f.chunks));
        f.chunk_sizes = dr_xmalloc((size_t)f.nchunks * sizeof(*f.chunk_sizes));
    }
    for (uint32_t i = 0; i < f.nchunks; i++) {
        dr_rd_copy(&r, f.chunks[i].b, DR_ID_LEN);
        f.chunk_sizes[i] = dr_rd_u32le(&r);
    }
    *out = f;
    return 0;
}

static void files_hdr_encode(uint8_t p[FILES_HDR_LEN], const struct dr_files_rec *rec)
{
    dr_put_u64le(p, rec->dev);
    dr_put_u64le(p + 8, rec->ino);
    dr_put_u64le(p + 16, rec->size);
    dr_put_u64le(p + 24, (uint64_t)rec->mtime_ns);
    dr_put_u64le(p + 32, (uint64_t)rec->ctime_ns);
    dr_put_u32le(p + 40, rec->nchunks);
}

/* Is the stored value v exactly rec's encoding? */
static bool files_same(const MDB_val *v, const struct dr_files_rec *rec)
{
    uint8_t hdr[FILES_HDR_LEN];
    if (v->mv_size != FILES_HDR_LEN + (size_t)rec->nchunks * FILES_CHUNK_LEN) {
        return false;
    }
    files_hdr_encode(hdr, rec);
    const uint8_t *p = v->mv_data;
    if (memcmp(p, hdr, FILES_HDR_LEN) != 0) {
        return false;
    }
    p += FILES_HDR_LEN;
    for (uint32_t i = 0; i < rec->nchunks; i++, p += FILES_CHUNK_LEN) {
        uint8_t sz[4];
        dr_put_u32le(sz, rec->chunk_sizes[i]);
        if (memcmp(p, rec->chunks[i].b, DR_ID_LEN) != 0 || memcmp(p + DR_ID_LEN, sz, 4) != 0) {
            return false;
        }
    }
    return true;
}

static int files_put(struct dr_index_txn *t, const struct dr_id *path_key,
                     const struct dr_files_rec *rec)
{
    size_t len = FILES_HDR_LEN + (size_t)rec->nchunks * FILES_CHUNK_LEN;
    MDB_val old;
    /* a record rewritten with the same bytes still dirties its pages, all the way to the
     * root: an unchanged one is left as it is */
    int rc = dr_index_db_get(t, DB_FILES, path_key->b, DR_ID_LEN, &old);
    if (rc < 0) {
        return rc;
    }
    if (rc > 0 && files_same(&old, rec)) {
        return 0;
    }
    MDB_val k = {.mv_size = DR_ID_LEN, .mv_data = (void *)path_key->b};
    MDB_val v = {.mv_size = len, .mv_data = NULL};
    /* MDB_RESERVE lets us encode straight into the page, with no copy of a large record */
    int mrc = LMDB(mdb_put(t->txn, t->idx->dbi[DB_FILES], &k, &v, MDB_RESERVE));
    if (mrc) {
        return dr_index_txn_lmdb_err(t, mrc, "mdb_put");
    }
    uint8_t *p = v.mv_data;
    files_hdr_encode(p, rec);
    p += FILES_HDR_LEN;
    for (uint32_t i = 0; i < rec->nchunks; i++) {
        memcpy(p, rec->chunks[i].b, DR_ID_LEN);
        dr_put_u32le(p + DR_ID_LEN, rec->chunk_sizes[i]);
        p += FILES_CHUNK_LEN;
    }
    return 0;
}

int dr_index_files_put(struct dr_index_txn *t, const struct dr_id *path_key,
                       const struct dr_files_rec *rec)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (rec->nchunks > DR_INDEX_FILES_CHUNKS_MAX) {
        /* refused before anything is written, so the txn stays usable: the file is just not
         * cached */
        return dr_errorf(DR_EUSAGE, "files cache record with %u chunks (at most %u)", rec->nchunks,
                         (unsigned)DR_INDEX_FILES_CHUNKS_MAX);
    }
    return dr_index_txn_fail(t, files_put(t, path_key, rec));
}

void dr_files_rec_release(struct dr_files_rec *rec)
{
    if (!rec) {
        return;
    }
    free(rec->chunks);
    free(rec->chunk_sizes);
    rec->chunks = NULL;
    rec->chunk_sizes = NULL;
    rec->nchunks = 0;
}
