/* tree.h: tree blobs, the encoded listing of one directory (format/SPEC.md "Tree").
 *
 * A tree holds one node per directory entry, sorted by name (bytewise), names unique. A file
 * node lists its chunks (id and plaintext size) in order; a directory node names its subtree by
 * blob id, so an unchanged subtree is the same blob and costs nothing. Decoding validates every
 * field, including that names are safe to create on restore: non-empty, no '/', no NUL, not
 * "." or "..". */
#ifndef DR_TREE_H
#define DR_TREE_H

#include "drrepo/buf.h"
#include "drrepo/id.h"

enum dr_node_type {
    DR_NODE_FILE = 1,
    DR_NODE_DIR = 2,
    DR_NODE_SYMLINK = 3,
    DR_NODE_CHARDEV = 4,
    DR_NODE_BLOCKDEV = 5,
    DR_NODE_FIFO = 6,
    DR_NODE_SOCKET = 7,
};

/* Node flags. */
#define DR_NODE_F_DAMAGED 0x1u /* written by `repair snapshots`: some ranges are lost */
/* The content is record-encoded (format/rdb.md): chunks are [head, layout..., groups...], their
 * sizes are the blobs' and do not add up to size; read it through dr_rdbstore_decode. */
#define DR_NODE_F_RECORDS 0x2u
/* Directories only: the directory could not be read, or not to the end, when the snapshot was
 * taken; its tree holds the entries that were read (none if it could not be opened). */
#define DR_NODE_F_INCOMPLETE 0x4u
/* Files, tree version 2 only: the chunks are in a chunk-list blob (format/chunklist.md) that the
 * node names by `list`. dr_tree_decode leaves such a node without chunks; dr_repo_tree_load
 * expands it (chunks, chunk_sizes, and the list blobs it read in lists). The encoder writes the
 * list id and ignores the chunks. A tree with such a node is written as version 2. */
#define DR_NODE_F_LISTED 0x8u

struct dr_range {
    uint64_t off, len;
};

struct dr_node {
    char *name; /* owned */
    uint8_t type;
    uint32_t mode; /* permission bits and setuid/setgid/sticky (st_mode & 07777) */
    uint32_t uid, gid;
    char *user, *group; /* owned, may be "" */
    int64_t mtime_ns, ctime_ns;
    uint64_t size;
    uint64_t dev, inode; /* for hard links: nodes with nlink > 1 and equal (dev, inode) */
    uint32_t nlink;
    uint64_t rdev; /* device nodes */
    uint32_t flags;
    char *target;          /* symlink target, owned; NULL for other types */
    struct dr_id subtree;  /* directories */
    uint32_t nchunks;      /* files */
    struct dr_id *chunks;  /* owned, nchunks */
    uint32_t *chunk_sizes; /* owned, nchunks */
    uint32_t ndamaged;
    struct dr_range *damaged; /* owned, ndamaged */
    struct dr_id list;        /* DR_NODE_F_LISTED: the head of the file's chunk list */
    uint32_t list_depth;      /* once expanded: the head's depth (format/chunklist.md) */
    uint32_t nlists;          /* once expanded: the list blobs read, head first; they are */
    struct dr_id *lists;      /* referenced by the node like its chunks (owned, nlists) */
};

struct dr_tree {
    size_t n, alloc;
    struct dr_node *nodes;
};

/* The blobs a node references, which reference counts, check, prune and copy follow: a
 * file's chunks, then the chunk lists it was expanded from. i < dr_node_nrefs(n). */
static inline uint32_t dr_node_nrefs(const struct dr_node *n)
{
    return n->nchunks + n->nlists;
}
static inline const struct dr_id *dr_node_ref(const struct dr_node *n, uint32_t i)
{
    return i < n->nchunks ? &n->chunks[i] : &n->lists[i - n->nchunks];
}

/* The tree of n when n is a directory, else NULL (n NULL included): a parent snapshot's node
 * of the same name may be missing, or of another type. */
static inline const struct dr_id *dr_node_subtree(const struct dr_node *n)
{
    return n && n->type == DR_NODE_DIR ? &n->subtree : NULL;
}

/* Releases everything a node owns and zeroes it. */
void dr_node_release(struct dr_node *n);
/* A copy of n's scalars that owns nothing, so that releasing it, or n, never frees what the
 * other holds: names, chunks and ranges are NULL (their counts are kept), and the list blobs an
 * expanded node read are dropped (nlists 0; list and list_depth are kept). What a node owns is
 * listed here and in dr_node_release. */
struct dr_node dr_node_scalars(const struct dr_node *n);
void dr_tree_init(struct dr_tree *t);
void dr_tree_release(struct dr_tree *t);
/* Appends a node, taking ownership of its pointers (the caller's struct is zeroed). */
void dr_tree_add(struct dr_tree *t, struct dr_node *n);
/* Sorts nodes by name. Encoding requires sorted, unique names. */
void dr_tree_sort(struct dr_tree *t);

/* Encodes t (which must be sorted with unique names) into out (appended).
 * Errors: DR_EUSAGE (unsorted, duplicate or invalid name, limit exceeded). */
DR_MUST_CHECK int dr_tree_encode(const struct dr_tree *t, struct dr_buf *out);

/* Decodes a tree blob into t (which must be empty/initialised). On error t is left empty.
 * Errors: DR_ECORRUPT (any bad field; the message says which), DR_EUNSUPPORTED (newer
 * version). Unknown trailing bytes inside a node record are skipped (forward compatibility). */
DR_MUST_CHECK int dr_tree_decode(const uint8_t *p, size_t len, struct dr_tree *t);

/* The distinct blobs among n's references (dr_node_ref: a file's chunks and chunk lists), sorted
 * by id, each once (a directory's tree, n->subtree, is not among them). A reference count is
 * kept per node of a live tree that names a blob, however often the node names it
 * (format/index.md), so counting (store) and recounting (check) take a node's ids from here,
 * one node at a time: memory follows the largest file, not the largest directory. Returns their
 * number; *out is the caller's to free (NULL when there are none). */
size_t dr_node_refs_distinct(const struct dr_node *n, struct dr_id **out);

/* Binary search by name; NULL if absent. Valid while t is unchanged. */
const struct dr_node *dr_tree_find(const struct dr_tree *t, const char *name);

/* True if name is a safe single path component (see above). */
bool dr_name_valid(const char *name, size_t len);

#endif
