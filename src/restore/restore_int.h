/* restore_int.h: declarations shared inside src/restore/ only: the state of one restore, the
 * directories it writes into, and the batch of files whose contents the read engine writes. */
#ifndef DR_RESTORE_RESTORE_INT_H
#define DR_RESTORE_RESTORE_INT_H

#include <pthread.h>
#include <time.h>

#include "drrepo/inomap.h"
#include "drrepo/read.h"
#include "drrepo/restore.h"

/* A directory being restored into. The walk holds a reference while it is inside; each file
 * and link of the batch in it holds one until it is in place. The directory's metadata is
 * applied when the last reference goes after the walk has left it, so that no later rename in
 * it changes its mtime and a read-only mode never stops a write. */
struct rdir {
    int fd; /* -1 in a dry run for a directory that is not there yet */
    char *dst;
    char *spath;  /* its path in the snapshot */
    bool all;     /* selected as a whole: its entries need no include match */
    bool existed; /* was in the target before: scanned for leftovers, and for delete */
    bool fresh;   /* created by this restore (mode 0700): nothing stands in it that this
                     restore did not put there, so its entries are not looked up first */
    char **names; /* the names the snapshot has in it (delete), in tree order: sorted */
    size_t nnames, anames;
    unsigned refs;
    uint64_t gen;        /* the last batch that counted its descriptor (struct batch's nfds) */
    bool left;           /* the walk has left it: meta is due at the last reference */
    struct dr_node meta; /* scalars only (dr_node_scalars) */
};

struct link_seen {
    uint64_t dev, ino;
    char *rel;    /* where the first name is restored, relative to the target */
    uint64_t gen; /* the batch that name is in: in place once done_gen reaches it (0: already) */
};

/* A file of the batch: created empty under its temporary name, filled by the engine's
 * workers, then given its size and metadata and renamed into place. A file of one chunk is
 * created by the worker that writes that chunk (fd -1 until then), so that the walk does not
 * spend a create per small file while the workers wait for it. */
struct pfile {
    struct rdir *dir;
    int fd;
    bool placed;  /* renamed into place */
    bool lazy;    /* one chunk, created by the worker that writes it */
    uint64_t end; /* lazy: how far the written blocks reach (no ftruncate when the size) */
    char *tmp, *name, *dst, *spath;
    struct dr_node meta;
    /* what could not be read, under the batch mutex */
    uint32_t nlost;
    uint64_t lost_bytes, lost_first;
    char *lost_msg; /* the first lost blob's message (it names the pack) */
    uint32_t left;  /* chunks not yet delivered: the worker that takes it to 0 finishes it */
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
    size_t nfds; /* descriptors it holds open: files the walk created, their directories */
};

/* A batch the engine reads on a thread of its own while the walk builds the next. */
struct run {
    struct restore *rs;
    struct batch b;
    uint64_t gen;
    pthread_t thread;
    bool threaded;
    int rc;
    struct dr_error_saved err;
    struct dr_read_stats reads;
    struct dr_read_params rp;
};

struct restore {
    struct dr_repo *r;
    const struct dr_restore_opts *o;
    struct dr_restore_stats st;
    struct link_seen *links;
    size_t nlinks, alinks;
    struct dr_inomap linkmap; /* (dev, inode) -> index into links */
    uint64_t done_gen;        /* the last batch whose files are in place */
    int rootfd; /* the target, opened once: everything is created relative to it (-1 in a
                   dry run where it is not there yet) */
    bool root_existed;
    size_t rel_off; /* a restored path minus this many bytes is relative to the target */
    bool root;
    int64_t start_ns, last_ns;
    struct dr_progress prog;
    struct rdir **dirs; /* the directories the walk is in, innermost last */
    size_t ndirs, adirs;
    struct batch b;      /* being built by the walk */
    struct run *running; /* being read, or NULL */
    uint64_t gen;        /* the number of the batch being built */
    size_t batch_files;  /* when the batch is handed over: grows to max_files */
    size_t max_files, max_wants, max_fds;
    pthread_mutex_t mu; /* wst, prog, first_loss: the workers write them too */
    struct {
        uint64_t files, errors, bytes;
    } wst; /* the workers' counts, added to st at the end */
    struct dr_read_stats reads;
    struct dr_read_params rp; /* every batch's run (with the cache, once one is open) */
    bool cache_tried;         /* dr_restore_cache_open was called */
};

/* Tells o->action of an action on path, if it asked. */
void dr_restore_tell(struct restore *rs, enum dr_restore_action a, const char *path);

/* restore.c */
/* Whether the include patterns select path (see restore.c); *descend: a directory on the way
 * to an anchored include, to be entered. */
bool dr_restore_included(const struct dr_restore_opts *o, const char *path, bool *descend);
struct timespec dr_restore_node_time(const struct dr_node *n);
/* Opens the cache of packs for the batches of a restore over a network, before a batch that is
 * not the last: a restore that fits one batch needs none. Once per restore; without one (a
 * local repository, selected paths, a dry run, no room) the batches read without it. */
void dr_restore_cache_open(struct restore *rs);
/* Logs a loss on its error line, and keeps the first for the caller (a drill's reason). */
void dr_restore_note_loss(struct restore *rs, const char *line);
void dr_restore_meta_fd(struct restore *rs, int fd, const char *dst, const struct dr_node *n);
DR_MUST_CHECK int dr_restore_remove_existing(int dirfd, const char *name, const char *dst);
/* Opens the directory that holds rel below the target (O_NOFOLLOW all the way) and points
 * *base at rel's last component; -1 with errno set on failure. */
int dr_restore_open_parent(struct restore *rs, const char *rel, const char **base);
/* Drops a reference to d: the last one after the walk left it applies its metadata. */
void dr_restore_dir_put(struct restore *rs, struct rdir *d);

/* policy.c */
/* What to do where the snapshot has node n (dst its target path): */
enum dr_restore_put {
    DR_PUT_NEW,     /* nothing is there */
    DR_PUT_MERGE,   /* a directory is there, and n is one */
    DR_PUT_REPLACE, /* something is there and is to be replaced (counted in overwritten) */
    DR_PUT_LEAVE,   /* something is there and stays (counted in skipped or unchanged) */
};
/* Decides by o->overwrite (dirfd -1: a directory a dry run has not created: nothing is there);
 * tells the action. DR_EEXIST when the policy refuses, or a directory stands where n is not
 * one. May fix the mode and owner of an unchanged file (not in a dry run). */
DR_MUST_CHECK int dr_restore_decide(struct restore *rs, int dirfd, const struct dr_node *n,
                                    const char *dst);
/* Removes the temporary files that a restore that is gone (its pid is dead) left in d. */
void dr_restore_clean_leftovers(struct restore *rs, struct rdir *d);
/* delete: removes the entries of d the snapshot does not have (d->names), within the
 * selection, depth first, never following a symlink. Errors stop it (DR_EINTR included). */
DR_MUST_CHECK int dr_restore_delete_extra(struct restore *rs, struct rdir *d);

/* files.c */
/* Whether the existing regular file name in dirfd has the content of node n: 1 yes, 0 no,
 * < 0 on an error reading it. A chunk the repository cannot give counts as a match (the file
 * is kept rather than replaced with a hole), with a warning. */
DR_MUST_CHECK int dr_restore_same_content(struct restore *rs, int dirfd, const char *name,
                                          const char *dst, const struct dr_node *n);

/* Restores file n as name in d (dst: its path in the target, spath: in the snapshot): its
 * content joins the batch (or, for a record-encoded file, is written now). A second name of a
 * file restored before becomes a hard link. */
DR_MUST_CHECK int dr_restore_file(struct restore *rs, struct rdir *d, const char *dst,
                                  const char *spath, const struct dr_node *n, bool exists);
/* Runs the batch until it is empty: contents, metadata, renames, then the links to them. */
DR_MUST_CHECK int dr_restore_flush(struct restore *rs);
/* After an error: removes the batch's temporary files and drops its references. */
void dr_restore_discard(struct restore *rs);

/* The first name seen of the hard-linked file (dev, ino), or NULL. */
struct link_seen *dr_restore_link_find(struct restore *rs, uint64_t dev, uint64_t ino);
/* Records the first name of a hard-linked file: rel (relative to the target; taken), in the
 * batch gen (0: in place already). */
void dr_restore_link_add(struct restore *rs, uint64_t dev, uint64_t ino, char *rel, uint64_t gen);

#endif
