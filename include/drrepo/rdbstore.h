/* rdbstore.h: record-encoded storage of RDB files (format/rdb.md, version 2).
 *
 * An RDB file is stored as a head blob, a layout stream (the file in order: runs of references
 * to key records, and the bytes that are not key records inline) cut into data blobs by the
 * content-defined chunker, and record blobs that hold key records. Records are compared with
 * those of the same file in the parent snapshot: an unchanged record is referenced in the
 * parent's record blob, which the new node lists again; only new and changed records are
 * written, into large blobs. A file node that holds such content has the flag
 * DR_NODE_F_RECORDS; its chunks are [head, layout..., record blobs...] and its size is the
 * file's.
 *
 * Encoding needs the whole file in memory (the backup maps a spooled copy) and parses it before
 * it emits anything, so a file it cannot parse costs nothing: the caller stores it as plain
 * chunks instead. */
#ifndef DR_RDBSTORE_H
#define DR_RDBSTORE_H

#include "drrepo/buf.h"
#include "drrepo/chunker.h"
#include "drrepo/tree.h"

#define DR_RDBSTORE_MAGIC "DRRDBREC"
#define DR_RDBSTORE_VERSION 2u
#define DR_RDBSTORE_HEAD_LEN 48
#define DR_RDBSTORE_BLOB_TARGET (256u * 1024) /* new record blobs end at this size */
#define DR_RDBSTORE_BIG_RECORD (64u * 1024)   /* larger records go inline in the layout */
#define DR_RDBSTORE_BLOBS_MAX 1000000u        /* record blobs per file (bounds the tree node) */
#define DR_RDBSTORE_RECORDS_MAX (UINT32_MAX / 2)
#define DR_RDBSTORE_HASH_KEY_LEN 16
/* A reused blob of which less than 1/COMPACT_LIVE is still referenced is compacted, at most
 * 1/COMPACT_BUDGET of the file's record bytes per snapshot (format/rdb.md, "Writing"). */
#define DR_RDBSTORE_COMPACT_LIVE 2
#define DR_RDBSTORE_COMPACT_BUDGET 16

/* Fetches chunk i of a node into out (replacing its content), verified as any blob, and checks
 * its size against the node. */
typedef int (*dr_rdbstore_get_fn)(void *arg, uint32_t i, struct dr_buf *out);
/* Receives the file's bytes in order. */
typedef int (*dr_rdbstore_write_fn)(void *arg, const uint8_t *p, size_t len);

/* The record blobs of the parent snapshot's node, staged for comparison. */
struct dr_rdbstore_parent;

struct dr_rdbstore_enc_opts {
    const uint8_t *hash_key;                 /* DR_RDBSTORE_HASH_KEY_LEN bytes: record lookup */
    const struct dr_chunker *ch;             /* cuts the layout stream */
    const struct dr_rdbstore_parent *parent; /* NULL: every record is written */
    uint32_t blob_target;                    /* 0: DR_RDBSTORE_BLOB_TARGET */
};

struct dr_rdbstore_stats {
    uint64_t records;         /* key records referenced by the layout */
    uint64_t reused;          /* of them, found unchanged in the parent */
    uint64_t written;         /* written into new blobs (new, changed or compacted) */
    uint64_t written_bytes;   /* their bytes */
    uint64_t blobs_kept;      /* parent blobs the node lists again */
    uint64_t blobs_new;       /* new record blobs */
    uint64_t blobs_compacted; /* parent blobs whose live records were written again */
    uint64_t layout_len, layout_chunks, literal_bytes;
};

/* Where the node's chunks go, in chunk order: a new blob (put takes ownership of data, a
 * malloc'd buffer), or chunk i of the parent node again (keep). */
struct dr_rdbstore_sink {
    int (*put)(void *arg, uint8_t *data, size_t len);
    int (*keep)(void *arg, uint32_t parent_chunk);
    void *arg;
};

/* Derives the record lookup key from the repository's chunker key. */
void dr_rdbstore_hash_key(const uint8_t chunker_key[32], uint8_t out[DR_RDBSTORE_HASH_KEY_LEN]);

/* Stages the record blobs of a DR_NODE_F_RECORDS node n (read through get, chunk by chunk in
 * long ascending runs: the caller reads ahead, as the backup engine does with the read engine's
 * chunk reader) in an unlinked
 * temporary file and indexes its records by a keyed hash of their bytes, for encoding n's
 * successor. Errors: DR_ECORRUPT, DR_EUNSUPPORTED (another version), DR_EIO, get's errors; the
 * caller then encodes without a parent. */
DR_MUST_CHECK int dr_rdbstore_parent_load(const struct dr_node *n, dr_rdbstore_get_fn get,
                                          void *arg, const uint8_t *hash_key,
                                          struct dr_rdbstore_parent **out);
void dr_rdbstore_parent_free(struct dr_rdbstore_parent *p);

/* Parses p[0..len) (dr_rdbrec_parse) and, only if that succeeds, emits the head, layout and
 * record blobs through sink. Errors: the parser's (DR_ECORRUPT, DR_EUNSUPPORTED: nothing was
 * emitted, store the file as plain bytes), DR_EUNSUPPORTED when a limit is exceeded (nothing
 * emitted either), or the sink's error. */
DR_MUST_CHECK int dr_rdbstore_encode(const uint8_t *p, size_t len,
                                     const struct dr_rdbstore_enc_opts *o,
                                     const struct dr_rdbstore_sink *sink,
                                     struct dr_rdbstore_stats *out_stats);

/* The same in two steps, so that the caller can load the parent while the file is parsed:
 * scan parses p[0..len) (which must stay mapped until enc_free) and fails as encode does before
 * anything is emitted; emit writes the node. */
struct dr_rdbstore_enc;
DR_MUST_CHECK int dr_rdbstore_scan(const uint8_t *p, size_t len, struct dr_rdbstore_enc **out);
DR_MUST_CHECK int dr_rdbstore_emit(struct dr_rdbstore_enc *x, const struct dr_rdbstore_enc_opts *o,
                                   const struct dr_rdbstore_sink *sink,
                                   struct dr_rdbstore_stats *out_stats);
void dr_rdbstore_enc_free(struct dr_rdbstore_enc *x);

/* Rebuilds the file of a DR_NODE_F_RECORDS node: exactly n->size bytes through write. Records
 * are staged in an unlinked temporary file, so memory holds 8 bytes per staged record and one
 * layout chunk, not the file.
 * Errors: DR_ECORRUPT (any inconsistency: head, counts, a reference outside its blob, a size
 * that does not add up), DR_EUNSUPPORTED (another version), DR_EIO (temporary file), get's and
 * write's errors. */
DR_MUST_CHECK int dr_rdbstore_decode(const struct dr_node *n, dr_rdbstore_get_fn get,
                                     dr_rdbstore_write_fn write, void *arg);

/* Checks a head blob against its node: magic, version, counts, size. For tests and check. */
DR_MUST_CHECK int dr_rdbstore_head_parse(const uint8_t *p, size_t len, const struct dr_node *n,
                                         uint32_t *out_nlayout, uint32_t *out_nblobs);

#endif
