/* restore.h: restoring a snapshot (or a part of it) into a directory, and streaming one file.
 * Every chunk is authenticated and its id recomputed before a byte of it is written. */
#ifndef DR_RESTORE_H
#define DR_RESTORE_H

#include "drrepo/backup.h"

struct dr_restore_opts {
    const char *target;
    char **includes; /* fnmatch patterns on snapshot paths; a match restores the whole subtree */
    size_t nincludes;
    char **excludes;
    size_t nexcludes;
    bool overwrite; /* replace existing files instead of refusing */
    dr_progress_cb progress;
    void *progress_arg;
};

struct dr_restore_stats {
    uint64_t files, dirs, links, bytes, errors;
    uint64_t damaged;    /* files marked damaged (by repair snapshots) restored with holes */
    uint64_t incomplete; /* directories the snapshot could not read (DR_NODE_F_INCOMPLETE) */
};

/* Restores the snapshot's tree below target (created if missing). Files are written under a
 * temporary name and renamed into place; metadata (mode, owner when root, mtime, symlinks, hard
 * links, sparse holes) follows. An existing file is refused (DR_EEXIST) unless overwrite.
 * A file whose data cannot be read or verified is reported, removed, and counted in errors;
 * the rest is restored, and DR_ECORRUPT is returned at the end. A directory marked incomplete
 * (the snapshot could not read it) is restored with what it holds, with a warning naming it,
 * and counted in incomplete; that alone is no error. */
DR_MUST_CHECK int dr_restore_run(struct dr_repo *r, const struct dr_snapshot *s,
                                 const struct dr_restore_opts *o, struct dr_restore_stats *out);

/* Writes the content of a file node to fd, verifying every chunk. */
DR_MUST_CHECK int dr_restore_file_to_fd(struct dr_repo *r, const struct dr_node *n, int fd,
                                        const char *what);

#endif
