/* backup_int.h: the backup engine's state, shared by its files: backup.c (the run and the sink
 * that sources build through), chunk.c (streams through the chunker, RDB files by their
 * records), files.c (regular files with the files cache and hard links) and trees.c
 * (directory trees stored once their files' chunks are). */
#ifndef DR_BACKUP_INT_H
#define DR_BACKUP_INT_H

#include <stdio.h>
#include <sys/stat.h>

#include "drrepo/backup.h"
#include "drrepo/chunker.h"
#include "drrepo/index.h"
#include "drrepo/inomap.h"
#include "drrepo/pipeline.h"
#include "drrepo/rdbstore.h"

/* Files modified this close to the start of the snapshot are not put in the files cache: a
 * change within the file system's timestamp granularity after we read would go unnoticed. */
#define DR_BACKUP_RACY_WINDOW_NS 1000000000LL

/* The first name of a hard-linked file, whose chunks its further names take. */
struct dr_backup_link {
    uint64_t dev, ino;
    uint32_t flags; /* DR_NODE_F_RECORDS: the chunks are record-encoded */
    bool ready;     /* chunks and sizes are filled (once the file's chunks have their ids) */
    uint32_t nchunks;
    struct dr_id *chunks;
    uint32_t *sizes;
};

struct dr_backup_cell;

/* A block that streams are read into; chunks go to the pipeline as slices of it (chunk.c). */
struct dr_read_block {
    struct dr_backup *b;
    uint8_t *p;
    unsigned refs;              /* chunks in the pipeline pointing into p */
    struct dr_read_block *next; /* on b->spare */
};

struct dr_backup {
    struct dr_repo *r;
    const struct dr_backup_opts *o;
    struct dr_pipeline *w;
    struct dr_chunker ch;
    struct dr_index_txn *rtxn;
    uint8_t *buf; /* the current read block's bytes: chunker max + read size */
    size_t bufsize;
    struct dr_read_block *cur;   /* the block buf points into */
    struct dr_read_block *spare; /* blocks to reuse, linked by next */
    unsigned nspare;
    FILE *spool;        /* files-cache records to write after commit */
    int64_t start_ns;   /* monotonic, for progress */
    int64_t start_wall; /* wall clock, for the racy-file window */
    struct dr_snap_summary sum;
    struct dr_progress prog;
    int64_t last_progress_ns;
    struct dr_backup_link *links;
    size_t nlinks, alinks;
    struct dr_inomap linkmap; /* (dev, inode) -> index into links */
    int64_t parent_time_ns;   /* the parent snapshot's start, for its racy window */
    uint8_t rdb_key[DR_RDBSTORE_HASH_KEY_LEN];
    uint64_t rdb_files;    /* RDB files stored by their records */
    uint64_t rdb_fallback; /* RDB-looking files stored as plain chunks */
    char *rdb_note;        /* why the first of those was */
    uint64_t scan_total;   /* written by a source's scanner thread, read with __atomic */
    /* trees handed over and not yet stored (trees.c) */
    uint8_t token_prefix[DR_ID_LEN - 8];
    struct dr_backup_cell *cells;
    size_t ncells, acells;
    uint32_t free_cell;
};

/* Reports progress at most every 250 ms, and always when final. */
void dr_backup_progress(struct dr_backup *b, const char *current, bool final);

/* The read blocks: the first at the start of a run, all of them freed at its end (after the
 * pipeline, which releases the slices it still holds). */
void dr_backup_blocks_init(struct dr_backup *b);
void dr_backup_blocks_free(struct dr_backup *b);

/* Reads a stream to its end through the chunker into the pipeline (an RDB file by its records
 * when rdb_records is on; in fixed blocks when block is not 0: see the sink's add_file) and
 * makes it n's chunk list, whose array is first sized for a stream of about expect bytes (0:
 * not known). Returns the bytes read or the reader's error (DR_EIO for a failed read; the
 * caller decides whether that is fatal), or a repository error. */
int64_t dr_backup_chunk_stream(struct dr_backup *b, dr_stream_read_fn rd, void *arg,
                               struct dr_node *n, const struct dr_node *pnode, uint64_t expect,
                               uint32_t block, const char *what);

/* The sink's read_file: see struct dr_source_sink. */
int dr_backup_read_file(struct dr_backup *b, int dirfd, const char *rel, const char *path,
                        const struct stat *st, const struct dr_node *pnode, struct dr_node *n);

/* The sink's put_tree (trees.c): takes t's nodes (and pt's, when not NULL) and stores the tree
 * once its files' chunks have their ids; *out gets a token that stands for the tree's id until
 * dr_backup_resolve. Errors: the pipeline's. */
int dr_backup_put_tree(struct dr_backup *b, struct dr_tree *t, struct dr_tree *pt,
                       struct dr_id *out);

/* Replaces a token of dr_backup_put_tree by the stored tree's id (an id is left as it is);
 * each token once. Errors: DR_EINTERNAL when that tree is not stored yet. */
int dr_backup_resolve(struct dr_backup *b, struct dr_id *id);

/* The tokens' state: set up at the start of a run, freed at its end. */
void dr_backup_trees_init(struct dr_backup *b);
void dr_backup_trees_free(struct dr_backup *b);

/* The files-cache key of an absolute path. */
struct dr_id dr_backup_path_key(const char *path);

/* Spools a files-cache record for the path whose key is key (n's chunks must be final);
 * written to the index by dr_backup_spool_apply. */
void dr_backup_spool_file(struct dr_backup *b, const struct dr_id *key, const struct dr_node *n);

/* Writes the spooled files-cache records in one index transaction, after the commit. */
void dr_backup_spool_apply(struct dr_backup *b);

#endif
