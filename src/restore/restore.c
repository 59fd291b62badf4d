/* restore.c: restoring snapshots (see restore.h).
 *
 * Files are written to ".drrepo-tmp-…" names in their directory and renamed into place once
 * complete, so a restore that is interrupted never leaves a truncated file under a real name.
 * Directory metadata is applied after the directory's contents (writing into a directory
 * changes its mtime, and a read-only mode would stop the writes).
 *
 * Nothing below the target is looked up by path: each directory is opened once, with
 * O_NOFOLLOW, and its entries are created, replaced and given their metadata relative to that
 * descriptor (or through their own). A symlink already in the target, planted by an earlier
 * restore of a hostile snapshot or by anyone who can write there, is therefore replaced or
 * refused, never written through. */
#include "drrepo/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pattern.h"
#include "drrepo/util.h"
#include "drrepo/walk.h"
#include "restore_int.h"

/* An include pattern selects a path if it matches the path or one of its ancestors; a directory
 * that is an ancestor of a possible match must be entered (dr_pattern_may_match_below). Patterns
 * with a leading '/' are anchored at the snapshot root. */
bool dr_restore_included(const struct dr_restore_opts *o, const char *path, bool *descend)
{
    *descend = false;
    if (o->nincludes == 0) {
        return true;
    }
    char *p = dr_xstrdup(path);
    bool hit = false;
    for (char *s = p + strlen(p); !hit;) {
        hit = dr_pattern_match_any(o->includes, o->nincludes, p);
        while (s > p && *s != '/') {
            s--;
        }
        if (s <= p) {
            break;
        }
        *s = '\0';
    }
    free(p);
    if (!hit) {
        /* enter the directories that may lead to a match ("/srv/x/out" enters /srv and /srv/x) */
        for (size_t i = 0; i < o->nincludes && !*descend; i++) {
            *descend = dr_pattern_may_match_below(o->includes[i], path);
        }
    }
    return hit;
}

struct timespec dr_restore_node_time(const struct dr_node *n)
{
    struct timespec ts = {.tv_sec = n->mtime_ns / 1000000000, .tv_nsec = n->mtime_ns % 1000000000};
    if (ts.tv_nsec < 0) {
        ts.tv_sec--;
        ts.tv_nsec += 1000000000;
    }
    return ts;
}

/* Metadata of a file or directory restored through its own descriptor: nothing is looked up by
 * name, so nothing can be redirected. The owner goes first: chown clears set-id bits. An owner
 * or mode the file already has is not set again: on a journaled file system each is an inode
 * update, and a new file usually has both (the restore runs as their owner, and creates files
 * with their permission bits), which saves two of the seven system calls of a small file. */
void dr_restore_meta_fd(struct restore *rs, int fd, const char *dst, const struct dr_node *n)
{
    struct timespec ts[2] = {dr_restore_node_time(n), dr_restore_node_time(n)};
    struct stat st;
    bool known = fstat(fd, &st) == 0;
    bool chowned = false;
    if (rs->root && !(known && st.st_uid == n->uid && st.st_gid == n->gid)) {
        if (fchown(fd, n->uid, n->gid) < 0) {
            dr_log_warn("cannot set the owner of '%s': %s", dst, strerror(errno));
        }
        chowned = true;
    }
    if ((!known || chowned || (st.st_mode & 07777) != (n->mode & 07777)) &&
        fchmod(fd, n->mode) < 0) {
        dr_log_warn("cannot set the mode of '%s': %s", dst, strerror(errno));
    }
    if (futimens(fd, ts) < 0) {
        dr_log_warn("cannot set the times of '%s': %s", dst, strerror(errno));
    }
}

/* chmod of name in dirfd that never follows a symlink. glibc implements AT_SYMLINK_NOFOLLOW
 * through /proc (or fchmodat2 on Linux 6.6); where that is not available the entry is checked
 * with fstatat first, which leaves a window only for a process that can already write in the
 * target directory. */
static int chmod_nofollow(int dirfd, const char *name, mode_t mode)
{
    if (fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW) == 0) {
        return 0;
    }
    if (errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS && errno != ENOENT) {
        return -1;
    }
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        errno = ELOOP;
        return -1;
    }
    return fchmodat(dirfd, name, mode, 0);
}

/* Metadata of a symlink or special file, by name in dirfd without following a symlink. */
static void apply_meta_at(struct restore *rs, int dirfd, const char *name, const char *dst,
                          const struct dr_node *n)
{
    struct timespec ts[2] = {dr_restore_node_time(n), dr_restore_node_time(n)};
    if (rs->root && fchownat(dirfd, name, n->uid, n->gid, AT_SYMLINK_NOFOLLOW) < 0) {
        dr_log_warn("cannot set the owner of '%s': %s", dst, strerror(errno));
    }
    if (n->type != DR_NODE_SYMLINK && chmod_nofollow(dirfd, name, n->mode) < 0) {
        dr_log_warn("cannot set the mode of '%s': %s", dst, strerror(errno));
    }
    if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) {
        dr_log_warn("cannot set the times of '%s': %s", dst, strerror(errno));
    }
}

/* Removes the non-directory that dr_restore_decide found at name (a symlink is removed itself). */
int dr_restore_remove_existing(int dirfd, const char *name, const char *dst)
{
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot replace '%s'", dst);
    }
    return 0;
}

/* rel is a path this restore created; every component is opened with O_NOFOLLOW, so a symlink
 * planted since cannot redirect a link made there. */
int dr_restore_open_parent(struct restore *rs, const char *rel, const char **base)
{
    char *p = dr_xstrdup(rel);
    int fd = dup(rs->rootfd);
    char *comp = p;
    for (char *slash = strchr(comp, '/'); fd >= 0 && slash; slash = strchr(comp, '/')) {
        *slash = '\0';
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        close(fd);
        errno = saved;
        fd = next;
        comp = slash + 1;
    }
    *base = rel + (comp - p);
    free(p);
    return fd;
}

static struct rdir *push_dir(struct restore *rs, int fd, const char *dst, const char *spath,
                             bool all, bool existed)
{
    struct rdir *d = dr_xcalloc(1, sizeof(*d));
    *d = (struct rdir){.fd = fd,
                       .dst = dr_xstrdup(dst),
                       .spath = dr_xstrdup(spath),
                       .all = all,
                       .existed = existed,
                       .refs = 1};
    DR_GROW(rs->dirs, rs->adirs, rs->ndirs + 1);
    rs->dirs[rs->ndirs++] = d;
    return d;
}

void dr_restore_dir_put(struct restore *rs, struct rdir *d)
{
    if (--d->refs > 0) {
        return;
    }
    if (d->left && d->fd >= 0 && !rs->o->dry_run) {
        dr_restore_meta_fd(rs, d->fd, d->dst, &d->meta);
    }
    if (d->fd >= 0 && d->fd != rs->rootfd) {
        close(d->fd);
    }
    for (size_t i = 0; i < d->nnames; i++) {
        free(d->names[i]);
    }
    free(d->names);
    free(d->dst);
    free(d->spath);
    free(d);
}

/* Creates and opens directory n; the walk then restores its entries into it, and leave_dir
 * finishes it. A dry run only opens one that is there (put: DR_PUT_NEW, _MERGE, _REPLACE). */
static int open_dir(struct restore *rs, int dirfd, const char *dst, const char *spath,
                    const struct dr_node *n, int put, bool sel)
{
    if (rs->o->dry_run) {
        int fd = put == DR_PUT_MERGE
                     ? openat(dirfd, n->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                     : -1;
        push_dir(rs, fd, dst, spath, sel, fd >= 0);
        return 0;
    }
    int rc = put == DR_PUT_REPLACE ? dr_restore_remove_existing(dirfd, n->name, dst) : 0;
    if (rc < 0) {
        return rc;
    }
    bool made = mkdirat(dirfd, n->name, 0700) == 0;
    if (!made && errno != EEXIST) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot create directory '%s'", dst);
    }
    /* O_NOFOLLOW: a symlink that appeared since check_free is refused, not entered */
    int fd = openat(dirfd, n->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot open directory '%s'", dst);
    }
    struct rdir *d = push_dir(rs, fd, dst, spath, sel, put == DR_PUT_MERGE);
    d->fresh = made;
    if (d->existed) {
        dr_restore_clean_leftovers(rs, d);
    }
    return 0;
}

/* status: the walk of the directory's tree (DR_WALK_UNREADABLE: it was named as lost). The
 * metadata waits for the files of the batch in it (dr_restore_dir_put). */
static int leave_dir(void *arg, const char *spath, struct dr_node *n, int status)
{
    struct restore *rs = arg;
    struct rdir *d = rs->dirs[--rs->ndirs];
    if (status >= 0) {
        if (n->flags & DR_NODE_F_DAMAGED) {
            dr_log_warn("directory '%s' is marked damaged in this snapshot: its contents were "
                        "lost and it is restored empty",
                        spath);
            rs->st.damaged++;
        }
        if (n->flags & DR_NODE_F_INCOMPLETE) {
            /* the snapshot is restored as it is (exit 0): it never held more of this directory,
             * and it exited 3 naming it when it was taken (docs/exit-codes.md) */
            dr_log_warn("directory '%s' could not be read when the snapshot was taken: it is "
                        "restored with only the entries that were read",
                        spath);
            rs->st.incomplete++;
        }
        if (status == DR_WALK_DONE) {
            rs->st.dirs++;
            /* a directory the snapshot holds only in part is not pruned to that part */
            if (!(n->flags & (DR_NODE_F_DAMAGED | DR_NODE_F_INCOMPLETE))) {
                status = dr_restore_delete_extra(rs, d);
            }
        }
        d->meta = dr_node_scalars(n);
        d->left = true;
        status = status < 0 ? status : 0;
    }
    dr_restore_dir_put(rs, d);
    return status;
}

static int restore_node(struct restore *rs, const struct dr_node *n, struct rdir *d,
                        const char *dst, const char *spath, bool all)
{
    int dirfd = d->fd;
    bool descend = false;
    bool sel = all || dr_restore_included(rs->o, spath, &descend);
    if (rs->o->nexcludes && dr_pattern_match_any(rs->o->excludes, rs->o->nexcludes, spath)) {
        return 0;
    }
    if (!sel && !(descend && n->type == DR_NODE_DIR)) {
        return 0;
    }
    if (n->type == DR_NODE_SOCKET) {
        return 0; /* sockets are recreated by the program that listens on them */
    }
    int rc;
    if (d->fresh) {
        /* a directory this restore made, mode 0700 until its metadata comes last: nothing is
         * there to decide about, and a file is created O_EXCL anyway (one fstatat less each) */
        if (n->type != DR_NODE_DIR) {
            dr_restore_tell(rs, DR_RESTORE_WRITE, dst);
        }
        rc = DR_PUT_NEW;
    } else {
        rc = dr_restore_decide(rs, dirfd, n, dst);
    }
    if (rc < 0 || rc == DR_PUT_LEAVE) {
        return rc < 0 ? rc : 0;
    }
    bool exists = rc == DR_PUT_REPLACE;
    if (n->type == DR_NODE_DIR) {
        return open_dir(rs, dirfd, dst, spath, n, rc, sel);
    }
    if (rs->o->dry_run) {
        rs->st.files++;
        if (n->type == DR_NODE_FILE) {
            rs->st.bytes += n->size;
        }
        return 0;
    }
    switch (n->type) {
    case DR_NODE_FILE:
        rc = dr_restore_file(rs, d, dst, spath, n, exists);
        if (rc >= 0 && (n->flags & DR_NODE_F_DAMAGED)) {
            dr_log_warn("'%s' is marked damaged in this snapshot: restored with %u lost ranges "
                        "left as holes",
                        spath, n->ndamaged);
            rs->st.damaged++;
        }
        if (rc == DR_ECORRUPT || rc == DR_ENOENT) {
            /* a record-encoded file, rebuilt on the spot, that could not be: left out */
            dr_log_error("%s", dr_error_msg());
            dr_error_clear();
            rs->st.errors++;
            return 0;
        }
        return rc;
    case DR_NODE_SYMLINK:
        rc = exists ? dr_restore_remove_existing(dirfd, n->name, dst) : 0;
        if (rc < 0) {
            return rc;
        }
        if (symlinkat(n->target, dirfd, n->name) < 0) {
            return dr_error_errno(dr_error_from_errno(errno), "cannot create symlink '%s'", dst);
        }
        apply_meta_at(rs, dirfd, n->name, dst, n);
        rs->st.files++;
        return 0;
    case DR_NODE_FIFO:
    case DR_NODE_CHARDEV:
    case DR_NODE_BLOCKDEV:
    case DR_NODE_SOCKET: {
        mode_t type = n->type == DR_NODE_FIFO       ? S_IFIFO
                      : n->type == DR_NODE_CHARDEV  ? S_IFCHR
                      : n->type == DR_NODE_BLOCKDEV ? S_IFBLK
                                                    : S_IFSOCK;
        rc = exists ? dr_restore_remove_existing(dirfd, n->name, dst) : 0;
        if (rc < 0) {
            return rc;
        }
        if (mknodat(dirfd, n->name, type | 0600, (dev_t)n->rdev) < 0) {
            dr_log_warn("cannot create special file '%s': %s", dst, strerror(errno));
            return 0;
        }
        apply_meta_at(rs, dirfd, n->name, dst, n);
        rs->st.files++;
        return 0;
    }
    default: return 0;
    }
}

/* Restores one entry into the innermost open directory. Returns 0 when it is a directory the
 * walk is to go into (open_dir opened it), 1 when there is nothing below it. */
static int restore_cb(void *arg, const char *spath, struct dr_node *n)
{
    struct restore *rs = arg;
    struct rdir *top = rs->dirs[rs->ndirs - 1];
    size_t before = rs->ndirs;
    int irc = dr_interrupt_check();
    if (irc < 0) {
        return irc;
    }
    if (rs->o->delete) {
        DR_GROW(top->names, top->anames, top->nnames + 1);
        top->names[top->nnames++] = dr_xstrdup(n->name);
    }
    char *dst = dr_fs_join(top->dst, n->name);
    int rc = restore_node(rs, n, top, dst, spath, top->all);
    free(dst);
    if (rc < 0) {
        return rc;
    }
    return rs->ndirs > before ? 0 : 1;
}

void dr_restore_note_loss(struct restore *rs, const char *line)
{
    dr_log_error("%s", line);
    pthread_mutex_lock(&rs->mu); /* a batch's workers note the losses of its files */
    if (!rs->st.first_loss[0]) {
        snprintf(rs->st.first_loss, sizeof(rs->st.first_loss), "%s", line);
    }
    pthread_mutex_unlock(&rs->mu);
}

/* A tree that cannot be read (damaged or missing, as for a file's data) loses only its
 * directory: it is named on one error line, counted, and the directory is left empty while the
 * walk goes on with the rest. */
static int restore_unreadable(void *arg, const struct dr_id *tree, const char *spath, int err)
{
    struct restore *rs = arg;
    if (err != DR_ECORRUPT && err != DR_ENOENT) {
        return err;
    }
    char hex[DR_ID_HEX_LEN + 1];
    char *line = dr_xasprintf("cannot read tree of directory '%s' (blob %s): %s", spath,
                              dr_id_hex(tree, hex), dr_error_msg());
    dr_restore_note_loss(rs, line);
    free(line);
    rs->st.dirs_lost++;
    return 0;
}

/* Restores the snapshot's tree into rs->rootfd. */
static int restore_tree(struct restore *rs, const struct dr_id *root)
{
    struct dr_walk w = {
        .r = rs->r,
        .arg = rs,
        .unreadable = restore_unreadable,
        .node = restore_cb,
        .leave_dir = leave_dir,
    };
    struct rdir *top = push_dir(rs, rs->rootfd, rs->o->target, "/", false, rs->root_existed);
    if (top->existed) {
        dr_restore_clean_leftovers(rs, top);
    }
    int rc = dr_walk_run(&w, root, "/");
    if (rc == DR_WALK_DONE) {
        rc = dr_restore_delete_extra(rs, top);
    }
    if (rc == DR_EINTR) {
        /* stopped by a signal: nothing more is written; the batch's temporary files go */
        dr_restore_discard(rs);
    } else if (rc < 0) {
        /* the walk stopped (a file in the way, say): the files begun are still finished, so
         * that what the error counts as restored is in place */
        struct dr_error_saved walk_err = {0};
        dr_error_save(&walk_err, rc);
        if (dr_restore_flush(rs) < 0) {
            dr_restore_discard(rs);
        }
        rc = dr_error_restore(&walk_err);
        dr_error_saved_release(&walk_err);
    } else if ((rc = dr_restore_flush(rs)) < 0) {
        dr_restore_discard(rs);
    }
    while (rs->ndirs > 1) { /* only when the walk stopped where it could not finish them */
        dr_restore_dir_put(rs, rs->dirs[--rs->ndirs]);
    }
    dr_restore_dir_put(rs, top);
    free(rs->dirs);
    rs->dirs = NULL;
    rs->ndirs = rs->adirs = 0;
    return rc;
}

/* Sums the sizes of the files the restore will write, for the progress ETA, and counts the paths
 * the includes select. Trees only: the walk reads no file data, and the tree cache makes the
 * restore's own walk cheap afterwards. Directories that lead to no include are skipped. */
struct size_walk {
    const struct dr_restore_opts *o;
    uint64_t total;
    uint64_t selected;
};

static int size_cb(void *arg, const char *path, const struct dr_node *n)
{
    struct size_walk *sw = arg;
    if (sw->o->nexcludes && dr_pattern_match_any(sw->o->excludes, sw->o->nexcludes, path)) {
        return 1;
    }
    bool descend;
    bool inc = dr_restore_included(sw->o, path, &descend);
    if (inc && strcmp(path, "/") != 0) {
        sw->selected++;
    }
    if (inc && n->type == DR_NODE_FILE) {
        sw->total += n->size;
    }
    return n->type == DR_NODE_DIR && !inc && !descend ? 1 : 0;
}

/* "1 file", "2 directories": counts in the messages a person reads. */
static char *count(uint64_t n, const char *one, const char *many)
{
    return dr_xasprintf("%llu %s", (unsigned long long)n, n == 1 ? one : many);
}

/* The outcome of a restore that went to the end: what was lost to damage (each loss was named
 * as it was met), and what was restored nonetheless. */
static int partial_error(const struct dr_restore_stats *st)
{
    char *files = count(st->files, "file", "files");
    char *dirs = count(st->dirs, "directory", "directories");
    char *lf = count(st->errors, "file", "files");
    char *ld = count(st->dirs_lost, "directory", "directories");
    char *lost_files = dr_xasprintf("%s lost data (left as holes)", lf);
    char *lost_dirs = dr_xasprintf("%s could not be read", ld);
    char *lost = st->errors && st->dirs_lost ? dr_xasprintf("%s and %s", lost_dirs, lost_files)
                                             : dr_xstrdup(st->errors ? lost_files : lost_dirs);
    char *marked = st->damaged ? dr_xasprintf("; %llu marked damaged were restored incomplete",
                                              (unsigned long long)st->damaged)
                               : dr_xstrdup("");
    int rc = dr_errorf(DR_EDAMAGED, "%s (see above); %s and %s were restored%s", lost, files, dirs,
                       marked);
    free(files);
    free(dirs);
    free(lf);
    free(ld);
    free(lost_files);
    free(lost_dirs);
    free(lost);
    free(marked);
    return rc;
}

/* "nothing in the snapshot matches --include 'a' or 'b'" (and the excludes, if any). */
static int no_match_error(const struct dr_restore_opts *o)
{
    char *list = dr_xstrdup("");
    for (size_t i = 0; i < o->nincludes; i++) {
        char *next = dr_xasprintf("%s%s'%s'", list, i ? " or " : "", o->includes[i]);
        free(list);
        list = next;
    }
    int rc =
        dr_errorf(DR_ENOENT, "nothing in the snapshot matches --include %s%s; nothing restored",
                  list, o->nexcludes ? " (after the excludes)" : "");
    free(list);
    return rc;
}

/* Over a network, a restore of more than one batch keeps the packs it fetched in a cache
 * (read.h) on the cache directory's disk, up to half its free space and READ_CACHE_MAX: a pack
 * that one batch needs in part, a later one may need again, and without the cache each batch
 * fetched it again, about 2.5 GETs per pack. A restore that fits one batch (files.c: a batch
 * over a network takes every file it may) reads each pack with one get and needs none: keeping
 * a pack costs a copy of it to disk. Not for a restore of selected paths, which needs a few
 * records of a pack, not all of it. */
#define READ_CACHE_MAX ((uint64_t)4 << 30)
void dr_restore_cache_open(struct restore *rs)
{
    if (rs->cache_tried) {
        return;
    }
    rs->cache_tried = true;
    if (!dr_backend_is_remote(dr_repo_backend(rs->r)) || rs->o->nincludes || rs->o->dry_run) {
        return;
    }
    struct statvfs sv;
    uint64_t room = READ_CACHE_MAX;
    if (statvfs(dr_repo_cache_dir(rs->r), &sv) == 0) {
        room = DR_MIN(room, (uint64_t)sv.f_bavail * sv.f_frsize / 2);
    }
    if (room && dr_read_cache_open(rs->r, room, &rs->rp.cache) < 0) {
        dr_log_detail("restore without a cache of packs: %s", dr_error_msg());
        dr_error_clear();
        rs->rp.cache = NULL;
    }
}

int dr_restore_run(struct dr_repo *r, const struct dr_snapshot *s, const struct dr_restore_opts *o,
                   struct dr_restore_stats *out)
{
    struct restore rs = {.r = r, .o = o, .rootfd = -1, .root = geteuid() == 0};
    pthread_mutex_init(&rs.mu, NULL);
    dr_read_params_default(&rs.rp);
    rs.start_ns = rs.last_ns = dr_mono_ns();
    if (o->progress || o->nincludes) {
        struct size_walk sw = {.o = o};
        if (dr_repo_walk(r, &s->tree, "/", size_cb, &sw) >= 0) {
            rs.prog.bytes_total = sw.total;
            if (o->nincludes && sw.selected == 0) {
                /* a restore that restores nothing is almost always a mistyped include: say so
                 * before a single directory is created */
                pthread_mutex_destroy(&rs.mu);
                *out = rs.st; /* all zero: the caller reads its counts on every return */
                return no_match_error(o);
            }
        } else {
            dr_error_clear(); /* no ETA then; the restore reports the damage itself */
        }
    }
    char *probe = dr_fs_join(o->target, "x");
    rs.rel_off = strlen(probe) - 1;
    free(probe);
    struct stat tst;
    rs.root_existed = stat(o->target, &tst) == 0;
    int rc = o->dry_run ? 0 : dr_fs_mkdir_p(o->target, 0700);
    if (rc >= 0 && (!o->dry_run || rs.root_existed)) {
        /* the one lookup that follows a symlink: the target is the user's to choose */
        rs.rootfd = open(o->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rs.rootfd < 0) {
            rc =
                dr_error_errno(dr_error_from_errno(errno), "cannot open directory '%s'", o->target);
        }
    }
    if (rc >= 0) {
        rc = restore_tree(&rs, &s->tree);
    }
    if (rs.rootfd >= 0) {
        close(rs.rootfd);
    }
    if (o->progress) {
        rs.prog.elapsed_ns = dr_mono_ns() - rs.start_ns;
        o->progress(o->progress_arg, &rs.prog, true);
    }
    for (size_t i = 0; i < rs.nlinks; i++) {
        free(rs.links[i].rel);
    }
    free(rs.links);
    dr_inomap_release(&rs.linkmap);
    pthread_mutex_destroy(&rs.mu);
    dr_read_cache_close(rs.rp.cache);
    rs.st.reads = rs.reads;
    rs.st.files += rs.wst.files;
    rs.st.errors += rs.wst.errors;
    rs.st.bytes += rs.wst.bytes;
    *out = rs.st;
    if (rc >= 0 && (rs.st.errors || rs.st.dirs_lost)) {
        rc = partial_error(&rs.st);
    } else if (rc >= 0 && rs.st.damaged) {
        rc = dr_errorf(DR_EDAMAGED,
                       "%llu files or directories marked damaged were restored "
                       "incomplete (see above)",
                       (unsigned long long)rs.st.damaged);
    } else if (rc < 0) {
        rc = dr_error_wrap(rc, "restore stopped after %llu files and %llu directories",
                           (unsigned long long)rs.st.files, (unsigned long long)rs.st.dirs);
    }
    return rc < 0 ? rc : 0;
}
