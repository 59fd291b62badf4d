/* restore_int.h: declarations shared inside src/restore/ only: the state of one restore, the
 * directories it writes into, and the batch of files whose contents the read engine writes. */
#ifndef DR_RESTORE_RESTORE_INT_H
#define DR_RESTORE_RESTORE_INT_H

#include <pthread.h>

#include "drrepo/read.h"
#include "drrepo/restore.h"

/* A directory being restored into. The walk holds a reference while it is inside; each file
 * and link of the batch in it holds one until it is in place. The directory's metadata is
 * applied when the last reference goes after the walk has left it, so that no later rename in
 * it changes its mtime and a read-only mode never stops a write. */
struct rdir {
    int fd;
    char *dst;
    bool all; /* selected as a whole: its entries need no include match */
    unsigned refs;
    bool left;           /* the walk has left it: meta is due at the last reference */
    struct dr_node meta; /* scalars only (dr_restore_scalars) */
};

struct link_seen {
    uint64_t dev, ino;
    char *rel;    /* where the first name is restored, relative to the target */
    bool pending; /* that name is in the batch, not yet in place */
};

/* A file of the batch: created under its temporary name with its final size, filled by the
 * engine's workers, then given its metadata and renamed into place. */
struct pfile {
    struct rdir *dir;
    int fd;
    char *tmp, *name, *dst, *spath;
    struct dr_node meta;
    /* what could not be read, under the batch mutex */
    uint32_t nlost;
    uint64_t lost_bytes, lost_first;
    char *lost_msg; /* the first lost blob's message (it names the pack) */
};

/* A second name of a file of the batch: linked once that file is in place. */
struct plink {
    struct rdir *dir;
    char *name, *dst, *spath;
    struct dr_node meta; /* with its content, for a copy if the link cannot be made */
    bool exists;
};

struct batch {
    struct pfile *files;
    size_t nfiles, afiles;
    struct plink *links;
    size_t nlinks, alinks;
    struct dr_read_want *w;
    size_t nw, aw;
};

struct restore {
    struct dr_repo *r;
    const struct dr_restore_opts *o;
    struct dr_restore_stats st;
    struct link_seen *links;
    size_t nlinks, alinks;
    int rootfd;     /* the target, opened once: everything is created relative to it */
    size_t rel_off; /* a restored path minus this many bytes is relative to the target */
    bool root;
    int64_t start_ns, last_ns;
    struct dr_progress prog;
    struct rdir **dirs; /* the directories the walk is in, innermost last */
    size_t ndirs, adirs;
    struct batch b;
    size_t max_files, max_wants; /* when the batch is run */
    pthread_mutex_t mu;          /* stats, progress and damage records, from the workers */
    struct dr_read_stats reads;
};

/* The node's scalar fields (mode, owner, times, size, links, flags), none of its pointers. */
struct dr_node dr_restore_scalars(const struct dr_node *n);

/* restore.c */
/* Logs a loss on its error line, and keeps the first for the caller (a drill's reason). */
void dr_restore_note_loss(struct restore *rs, const char *line);
void dr_restore_meta_fd(struct restore *rs, int fd, const char *dst, const struct dr_node *n);
DR_MUST_CHECK int dr_restore_remove_existing(int dirfd, const char *name, const char *dst);
/* Opens the directory that holds rel below the target (O_NOFOLLOW all the way) and points
 * *base at rel's last component; -1 with errno set on failure. */
int dr_restore_open_parent(struct restore *rs, const char *rel, const char **base);
/* Drops a reference to d: the last one after the walk left it applies its metadata. */
void dr_restore_dir_put(struct restore *rs, struct rdir *d);

/* files.c */
/* Restores file n as name in d (dst: its path in the target, spath: in the snapshot): its
 * content joins the batch (or, for a record-encoded file, is written now). A second name of a
 * file restored before becomes a hard link. */
DR_MUST_CHECK int dr_restore_file(struct restore *rs, struct rdir *d, const char *dst,
                                  const char *spath, const struct dr_node *n, bool exists);
/* Runs the batch until it is empty: contents, metadata, renames, then the links to them. */
DR_MUST_CHECK int dr_restore_flush(struct restore *rs);
/* After an error: removes the batch's temporary files and drops its references. */
void dr_restore_discard(struct restore *rs);

#endif
