/* rdbstore.h: record-encoded storage of RDB files (format/rdb.md).
 *
 * An RDB file is stored as a head blob, a layout stream (the file's order, with the bytes that
 * are not key records inline) cut into data blobs by the content-defined chunker, and group
 * blobs: key records grouped by a keyed hash of (database, key), so that a changed key rewrites
 * one small group and not its neighbours. A file node that holds such content has the flag
 * DR_NODE_F_RECORDS; its chunks are [head, layout..., groups...] and its size is the file's.
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
#define DR_RDBSTORE_VERSION 1u
#define DR_RDBSTORE_HEAD_LEN 48
#define DR_RDBSTORE_GROUP_TARGET 512u       /* default group target, plaintext bytes */
#define DR_RDBSTORE_GROUP_MAX (256u * 1024) /* a group is cut at this size at the latest */
#define DR_RDBSTORE_BIG_RECORD (64u * 1024) /* larger records go inline in the layout */
#define DR_RDBSTORE_GROUPS_MAX 1000000u     /* groups per file (bounds the tree node) */
#define DR_RDBSTORE_HASH_KEY_LEN 16

struct dr_rdbstore_enc_opts {
    const uint8_t *hash_key;     /* DR_RDBSTORE_HASH_KEY_LEN bytes: keys the group hash */
    const struct dr_chunker *ch; /* cuts the layout stream */
    uint32_t group_target;       /* 0: DR_RDBSTORE_GROUP_TARGET */
};

struct dr_rdbstore_stats {
    uint64_t records, groups, layout_len, layout_chunks, literal_bytes;
};

/* Receives the node's blobs in chunk order; takes ownership of data (malloc'd). */
typedef int (*dr_rdbstore_put_fn)(void *arg, uint8_t *data, size_t len);

/* Derives the group hash key from the repository's chunker key. */
void dr_rdbstore_hash_key(const uint8_t chunker_key[32], uint8_t out[DR_RDBSTORE_HASH_KEY_LEN]);

/* Parses p[0..len) (dr_rdbrec_parse) and, only if that succeeds, emits the head, layout and
 * group blobs through put. Errors: the parser's (DR_ECORRUPT, DR_EUNSUPPORTED: nothing was
 * emitted, store the file as plain bytes), DR_EUNSUPPORTED when a limit is exceeded (nothing
 * emitted either), or put's error. */
DR_MUST_CHECK int dr_rdbstore_encode(const uint8_t *p, size_t len,
                                     const struct dr_rdbstore_enc_opts *o, dr_rdbstore_put_fn put,
                                     void *arg, struct dr_rdbstore_stats *out_stats);

/* Fetches chunk i of the node into out (replacing its content), verified as any blob, and checks
 * its size against the node. */
typedef int (*dr_rdbstore_get_fn)(void *arg, uint32_t i, struct dr_buf *out);
/* Receives the file's bytes in order. */
typedef int (*dr_rdbstore_write_fn)(void *arg, const uint8_t *p, size_t len);

/* Rebuilds the file of a DR_NODE_F_RECORDS node: exactly n->size bytes through write. Group
 * records are staged in an unlinked temporary file, so memory holds the record index (16 bytes
 * per record) and the layout stream, not the file.
 * Errors: DR_ECORRUPT (any inconsistency: head, counts, order, a reference that names no record
 * or one record twice, a size that does not add up), DR_EUNSUPPORTED (newer version), DR_EIO
 * (temporary file), get's and write's errors. */
DR_MUST_CHECK int dr_rdbstore_decode(const struct dr_node *n, dr_rdbstore_get_fn get,
                                     dr_rdbstore_write_fn write, void *arg);

/* Checks a head blob against its node: magic, version, counts, size. For tests and check. */
DR_MUST_CHECK int dr_rdbstore_head_parse(const uint8_t *p, size_t len, const struct dr_node *n,
                                         uint32_t *out_nlayout, uint32_t *out_ngroups);

#endif
