/* backup.h: creating snapshots from file trees, from a stream (stdin) or from the standard output
 * of a command. The snapshot object is written only when every input that must succeed did:
 * a command that exits non-zero, is killed, or produces nothing never becomes a snapshot. */
#ifndef DR_BACKUP_H
#define DR_BACKUP_H

#include "drrepo/repo.h"

struct dr_progress {
    uint64_t files, dirs, bytes_read, bytes_total; /* bytes_total 0 when unknown */
    uint64_t errors;
    int64_t elapsed_ns;
    const char *current; /* path being read, valid during the callback */
};
typedef void (*dr_progress_cb)(void *arg, const struct dr_progress *p, bool final);

/* A stream reader: returns the number of bytes read (> 0), 0 at the end, or a negative dr_err
 * with the message recorded (dr_errorf). */
typedef int (*dr_stream_read_fn)(void *arg, uint8_t *buf, size_t len);

/* A source that produces one file (a Redis RDB fetched over the replication protocol). */
struct dr_stream_source {
    const char *kind; /* recorded as the snapshot's source, e.g. "redis" */
    dr_stream_read_fn read;
    /* Called after the end of the stream: validates what was read (a checksum, an end mark)
     * and adds metadata with dr_snapshot_add_meta. An error means no snapshot is recorded.
     * May be NULL. */
    int (*finish)(void *arg, struct dr_snapshot *s);
    void *arg;
};

/* The snapshot being built, for sources that build their own tree. */
struct dr_backup_ctx;

/* A source that produces a file tree (a PostgreSQL base backup parsed from tar streams). */
struct dr_tree_source {
    const char *kind; /* e.g. "postgresql" */
    /* Builds the snapshot's tree: file contents with dr_backup_add_file, directories with
     * dr_backup_put_tree; sets s->tree and adds paths and metadata. An error means no snapshot
     * is recorded. */
    int (*build)(void *arg, struct dr_backup_ctx *bc, struct dr_snapshot *s);
    void *arg;
};

/* Chunks a stream into file node n (whose name, type, mode, owner and times the caller sets):
 * fills its chunk list and size. The chunk ids are final after dr_backup_put_tree. Errors: the
 * reader's, and repository errors. */
DR_MUST_CHECK int dr_backup_add_file(struct dr_backup_ctx *bc, dr_stream_read_fn rd, void *arg,
                                     struct dr_node *n);
/* Waits for pending chunks, sorts and encodes t and stores it as a tree blob. */
DR_MUST_CHECK int dr_backup_put_tree(struct dr_backup_ctx *bc, struct dr_tree *t,
                                     struct dr_id *out);

struct dr_backup_opts {
    /* file trees */
    char **paths;
    size_t npaths;
    char **excludes; /* fnmatch patterns: without '/' matched against the name, else the path */
    size_t nexcludes;
    bool one_file_system;
    /* stream: from fd (stdin) or from a command's stdout */
    int stream_fd;                            /* -1 when not a stream */
    char **command;                           /* argv, NULL-terminated; NULL when not a command */
    const struct dr_stream_source *source;    /* NULL when not such a source */
    const struct dr_tree_source *tree_source; /* NULL when not such a source */
    const char *stream_name;
    bool allow_empty; /* accept a stream of zero bytes */
    /* store RDB files (recognised by their magic) by their key records, relative to the same
     * file in the parent snapshot (format/rdb.md); the command line turns it on by default */
    bool rdb_records;
    /* snapshot fields */
    char **tags;
    size_t ntags;
    const char *host; /* NULL: gethostname */
    int64_t time_ns;  /* 0: now */
    dr_progress_cb progress;
    void *progress_arg;
};

/* Runs the snapshot. On success (0) or partial success (DR_EPARTIAL: some files could not be
 * read; they are reported through the log with their paths and left out) the snapshot is
 * recorded, *out_id and *out_sum are set. Errors: DR_ESOURCE (the command or stream failed; no
 * snapshot recorded), DR_EUSAGE, and repository errors (DR_EIO, DR_ENOSPC, ...). */
DR_MUST_CHECK int dr_backup_run(struct dr_repo *r, const struct dr_backup_opts *o,
                                struct dr_id *out_id, struct dr_snapshot *out_snap);

#endif
