/* rdbstore_int.h: what the parts of the RDB record store share (rdbstore.c encodes and
 * decodes, rdbparent.c reads a node's head and stages its record blobs). Private to src/rdb/. */
#ifndef DR_RDBSTORE_INT_H
#define DR_RDBSTORE_INT_H

#include <stdio.h>

#include "drrepo/rdbstore.h"

#define OP_LIT 0x01
#define OP_COPY 0x02

#define REF_LIT UINT32_MAX       /* an item stored inline in the layout */
#define REF_NEW (UINT32_MAX - 1) /* a key record written into a new blob */
#define NO_BLOB UINT32_MAX
#define NO_DUP UINT32_MAX

/* One item of the file in file order: inline bytes, or a key record with its parent record. */
struct item {
    uint64_t off;
    uint32_t len;
    uint32_t ref; /* REF_LIT, REF_NEW or the index of the equal record in the parent */
};

/* Records of a node's record blobs, contiguous in an unlinked temporary file, blob by blob. */
struct stage {
    FILE *f;
    uint8_t *map;
    size_t maplen;
    uint64_t *off;   /* nrec + 1 offsets: record r is map[off[r] .. off[r + 1]) */
    uint32_t *first; /* nblobs + 1: blob j holds records first[j] .. first[j + 1] - 1 */
    uint32_t nblobs;
    uint32_t nrec;
};

struct slot {
    uint32_t rec1; /* record index + 1; 0: empty */
    uint32_t tag;  /* the top half of the record's hash */
};

struct dr_rdbstore_parent {
    struct stage s;
    uint32_t chunk0;  /* the node's chunk index of record blob 0 */
    struct slot *tab; /* one slot per distinct record */
    uint32_t *dup;    /* nrec: the next record with the same bytes, or NO_DUP */
    size_t mask;
    uint8_t key[DR_RDBSTORE_HASH_KEY_LEN];
};

bool dr_rdbstore_get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out);
int dr_rdbstore_head_get(const struct dr_node *n, dr_rdbstore_get_fn get, void *arg,
                         uint32_t *nlayout, uint32_t *nblobs, uint64_t *nrec);
void dr_rdbstore_stage_free(struct stage *s);
int dr_rdbstore_stage_load(dr_rdbstore_get_fn get, void *arg, uint32_t chunk0, uint32_t nblobs,
                           struct stage *s);
uint32_t dr_rdbstore_blob_of(const struct stage *s, uint32_t r);
uint32_t dr_rdbstore_parent_find(const struct dr_rdbstore_parent *p, const uint8_t *rec,
                                 size_t len);
uint32_t dr_rdbstore_parent_take(const struct dr_rdbstore_parent *p, uint32_t head,
                                 uint32_t *cursor);

#endif
