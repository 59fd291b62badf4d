/* restore.h: restoring a snapshot (or a part of it) into a directory, and streaming one file.
 * Every chunk is authenticated and its id recomputed before a byte of it is written. */
#ifndef DR_RESTORE_H
#define DR_RESTORE_H

#include "drrepo/progress.h"
#include "drrepo/read.h"
#include "drrepo/repo.h"

/* What to do with an entry that already exists in the target where the snapshot has a
 * non-directory (an existing directory where the snapshot has one is always merged into). */
enum dr_restore_overwrite {
    DR_OVERWRITE_REFUSE = 0, /* stop with DR_EEXIST (the default: nothing is replaced unasked) */
    DR_OVERWRITE_NEVER,      /* leave it as it is, counted in skipped */
    DR_OVERWRITE_IF_CHANGED, /* leave it when it already matches the node (counted in unchanged):
                                a regular file of the same size and mtime (and, with
                                verify_existing, the same content), a symlink to the same
                                target, a special file of the same kind; replace it otherwise */
    DR_OVERWRITE_ALWAYS,     /* replace it (counted in overwritten) */
};

/* What the restore does (or, with dry_run, would do) with one path of the target. */
enum dr_restore_action {
    DR_RESTORE_WRITE,     /* created: nothing was there */
    DR_RESTORE_OVERWRITE, /* an existing entry replaced */
    DR_RESTORE_SKIP,      /* an existing entry left as it is (DR_OVERWRITE_NEVER) */
    DR_RESTORE_UNCHANGED, /* an existing entry that already matches (DR_OVERWRITE_IF_CHANGED) */
    DR_RESTORE_DELETE,    /* an entry the snapshot does not have, removed (delete) */
};

/* Told of every action on the walk's thread (never on a worker); path is the target path,
 * valid during the call. Directories that are created or merged into are not told. */
typedef void (*dr_restore_action_cb)(void *arg, enum dr_restore_action a, const char *path);

struct dr_restore_opts {
    const char *target;
    char **includes; /* pattern.h patterns on snapshot paths; a match restores the whole subtree */
    size_t nincludes;
    char **excludes;
    size_t nexcludes;
    enum dr_restore_overwrite overwrite;
    bool verify_existing; /* if-changed also compares the content of a same-size, same-mtime
                             file with the snapshot's (read through the engine) */
    bool delete;  /* remove what the snapshot does not have, in the directories restored (below
                     the selection: an excluded or not included path is never removed) */
    bool dry_run; /* decide and count (and tell action) but change nothing in the target, not
                     even creating it */
    dr_restore_action_cb action; /* may be NULL */
    void *action_arg;
    dr_progress_cb progress;
    void *progress_arg;
};

struct dr_restore_stats {
    uint64_t files, dirs, links, bytes;
    uint64_t errors;      /* files with data that could not be read or verified: restored with
                             holes there (a record-encoded one is left out) */
    uint64_t dirs_lost;   /* directories restored empty: their tree could not be read */
    uint64_t damaged;     /* files marked damaged (by repair snapshots) restored with holes */
    uint64_t incomplete;  /* directories the snapshot could not read (DR_NODE_F_INCOMPLETE) */
    uint64_t skipped;     /* existing entries left as they are (DR_OVERWRITE_NEVER) */
    uint64_t unchanged;   /* existing entries that already matched (DR_OVERWRITE_IF_CHANGED) */
    uint64_t overwritten; /* existing entries replaced (also counted in files) */
    uint64_t deleted;     /* entries removed by delete (each file and directory) */
    struct dr_read_stats reads; /* what reading the contents cost the backend */
    char first_loss[512];       /* the first error line of a loss (a file, a directory), or "" */
};

/* Restores the snapshot's tree below target (created if missing; the one path that may be a
 * symlink, and is followed). Everything below it is created relative to directory descriptors
 * and no symlink that stands inside the target is ever followed: with overwrite a symlink where
 * the snapshot has a file, directory or anything else is replaced, without it is refused like
 * any existing entry. Files are written under a temporary name and renamed into place;
 * metadata (mode, owner when root, mtime, symlinks, hard links, sparse holes) follows. An
 * existing entry is refused (DR_EEXIST), left, or replaced as o->overwrite says; an existing
 * directory is merged into, and temporary files that a dead restore left in it are removed.
 * With delete, each directory restored whole loses the entries the snapshot does not have once
 * the walk leaves it (not in a directory the snapshot marks incomplete or damaged or could not
 * read); symlinks are removed, never followed. With dry_run nothing in the target changes: the
 * stats count what would be written (files, bytes), overwritten, skipped and deleted.
 *
 * A signal (interrupt.h, when the caller installed the handler) stops the restore between files and
 * in the engine's callbacks: the batch's temporary files are removed, files already in place stay,
 * and DR_EINTR is returned.
 *
 * Contents are written by the read engine (read.h): pack by pack, several files at once, each
 * chunk at its offset. Damage in the repository loses only what it holds: a chunk that cannot
 * be read or verified is left as a hole in its file, which is restored and named on one error
 * line with its lost bytes and the pack (counted in errors), a directory whose tree
 * cannot be read is named on an error line and restored empty (counted in dirs_lost), the rest
 * is restored, and DR_EDAMAGED is returned at the end with a message that counts both what was
 * lost and what was restored. DR_EDAMAGED is also returned when files marked damaged by
 * `repair snapshots` were restored with holes. Any other error stops the restore; its message
 * says how many files and directories were restored before. *out is filled in either case.
 * A directory marked incomplete (the snapshot could not read it) is restored with what it
 * holds, with a warning naming it, and counted in incomplete; that alone is no error. */
DR_MUST_CHECK int dr_restore_run(struct dr_repo *r, const struct dr_snapshot *s,
                                 const struct dr_restore_opts *o, struct dr_restore_stats *out);

/* Writes the content of a file node to fd in order, verifying every chunk; the engine's
 * workers read ahead. A chunk that cannot be read stops it with a message naming the file, the
 * blob and the pack. st (may be NULL) is added the reads' cost. */
DR_MUST_CHECK int dr_restore_file_to_fd(struct dr_repo *r, const struct dr_node *n, int fd,
                                        const char *what, struct dr_read_stats *st);

/* Where dr_restore_content writes: < 0 stops it with that error. */
typedef int (*dr_content_write_fn)(void *arg, const uint8_t *p, size_t len);

/* Streams the content of file node n (not record-encoded) through wr in order: exactly n->size
 * bytes, damaged ranges from `repair snapshots` as zeros. A chunk that cannot be read stops it
 * with a message naming what, the blob and the pack, or with lost_as_zeros is written as zeros
 * and named on one error line with the bytes lost; 1 is then returned. st may be NULL. */
DR_MUST_CHECK int dr_restore_content(struct dr_repo *r, const struct dr_node *n, const char *what,
                                     bool lost_as_zeros, dr_content_write_fn wr, void *arg,
                                     struct dr_read_stats *st);

#endif
