/* backup.h: creating snapshots from file trees, from a stream (stdin) or from the standard output
 * of a command. The snapshot object is written only when every input that must succeed did:
 * a command that exits non-zero, is killed, or produces nothing never becomes a snapshot. */
#ifndef DR_BACKUP_H
#define DR_BACKUP_H

#include "drrepo/progress.h"
#include "drrepo/repo.h"
#include "drrepo/source.h"

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
