/* policy.c: what a restore does with what is already in the target: the overwrite policy
 * (refuse, never, if-changed, always), the leftovers of a restore that died, and delete.
 *
 * Everything here works relative to the directory descriptors of restore.c and never follows
 * a symlink: an entry is examined with fstatat(AT_SYMLINK_NOFOLLOW), a directory is entered
 * with O_NOFOLLOW, and a symlink that is removed is removed itself. A dry run examines the
 * same way and changes nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pattern.h"
#include "drrepo/proc.h"
#include "drrepo/util.h"
#include "restore_int.h"

void dr_restore_tell(struct restore *rs, enum dr_restore_action a, const char *path)
{
    if (rs->o->action) {
        rs->o->action(rs->o->action_arg, a, path);
    }
}

/* A regular file of the same size and mtime as the node (overwrite if-changed: restic's
 * test); with verify_existing, of the same content too. The mode and owner of a file left in
 * place are set to the node's when they differ (through its own descriptor). */
static int file_matches(struct restore *rs, int dirfd, const struct dr_node *n, const char *dst,
                        const struct stat *st)
{
    struct timespec t = dr_restore_node_time(n);
    if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != n->size ||
        st->st_mtim.tv_sec != t.tv_sec || st->st_mtim.tv_nsec != t.tv_nsec) {
        return 0;
    }
    if (rs->o->verify_existing) {
        int rc = dr_restore_same_content(rs, dirfd, n->name, dst, n);
        if (rc <= 0) {
            return rc;
        }
    }
    bool owner = rs->root && (st->st_uid != n->uid || st->st_gid != n->gid);
    if (!rs->o->dry_run && ((st->st_mode & 07777) != (n->mode & 07777) || owner)) {
        int fd = openat(dirfd, n->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            dr_restore_meta_fd(rs, fd, dst, n);
            close(fd);
        }
    }
    return 1;
}

/* Whether the existing entry st already is what the node describes. */
static int matches(struct restore *rs, int dirfd, const struct dr_node *n, const char *dst,
                   const struct stat *st)
{
    switch (n->type) {
    case DR_NODE_FILE: return file_matches(rs, dirfd, n, dst, st);
    case DR_NODE_SYMLINK: {
        if (!S_ISLNK(st->st_mode) || !n->target) {
            return 0;
        }
        size_t tl = strlen(n->target);
        char *buf = dr_xmalloc(tl + 2);
        ssize_t got = readlinkat(dirfd, n->name, buf, tl + 1);
        bool same = got >= 0 && (size_t)got == tl && memcmp(buf, n->target, tl) == 0;
        free(buf);
        return same;
    }
    case DR_NODE_FIFO: return S_ISFIFO(st->st_mode);
    case DR_NODE_CHARDEV: return S_ISCHR(st->st_mode) && st->st_rdev == (dev_t)n->rdev;
    case DR_NODE_BLOCKDEV: return S_ISBLK(st->st_mode) && st->st_rdev == (dev_t)n->rdev;
    case DR_NODE_SOCKET: return S_ISSOCK(st->st_mode);
    default: return 0;
    }
}

/* A file of the same size and mtime that is a second name of a hard-linked node: later
 * names link to it rather than becoming copies. */
static void remember_link(struct restore *rs, const struct dr_node *n, const char *dst)
{
    if (n->type != DR_NODE_FILE || n->nlink <= 1 || rs->o->dry_run) {
        return;
    }
    if (!dr_restore_link_find(rs, n->dev, n->inode)) {
        dr_restore_link_add(rs, n->dev, n->inode, dr_xstrdup(dst + rs->rel_off), 0);
    }
}

int dr_restore_decide(struct restore *rs, int dirfd, const struct dr_node *n, const char *dst)
{
    bool is_dir = n->type == DR_NODE_DIR;
    struct stat st;
    if (dirfd < 0 || fstatat(dirfd, n->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (!is_dir) {
            dr_restore_tell(rs, DR_RESTORE_WRITE, dst);
        }
        return DR_PUT_NEW;
    }
    if (is_dir && S_ISDIR(st.st_mode)) {
        return DR_PUT_MERGE;
    }
    switch (rs->o->overwrite) {
    case DR_OVERWRITE_REFUSE:
        return dr_errorf(DR_EEXIST, "'%s' exists; not overwriting it (use --overwrite)", dst);
    case DR_OVERWRITE_NEVER:
        rs->st.skipped++;
        dr_restore_tell(rs, DR_RESTORE_SKIP, dst);
        return DR_PUT_LEAVE;
    case DR_OVERWRITE_IF_CHANGED: {
        int rc = S_ISDIR(st.st_mode) ? 0 : matches(rs, dirfd, n, dst, &st);
        if (rc < 0) {
            return rc;
        }
        if (rc > 0) {
            rs->st.unchanged++;
            remember_link(rs, n, dst);
            dr_restore_tell(rs, DR_RESTORE_UNCHANGED, dst);
            return DR_PUT_LEAVE;
        }
        break;
    }
    case DR_OVERWRITE_ALWAYS: break;
    }
    if (S_ISDIR(st.st_mode)) {
        return dr_errorf(DR_EEXIST, "'%s' is a directory; not replacing it with a file", dst);
    }
    rs->st.overwritten++;
    dr_restore_tell(rs, DR_RESTORE_OVERWRITE, dst);
    return DR_PUT_REPLACE;
}

/* Opens a directory for reading its entries (dirfd's own offset is left alone). */
static DIR *open_entries(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
    }
    return dir;
}

void dr_restore_clean_leftovers(struct restore *rs, struct rdir *d)
{
    if (d->fd < 0 || rs->o->dry_run) {
        return;
    }
    DIR *dir = open_entries(d->fd, ".");
    if (!dir) {
        return;
    }
    unsigned removed = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        long pid = dr_fs_tmp_pid(e->d_name);
        struct stat st;
        if (pid <= 0 || pid == (long)getpid() || !dr_proc_gone(pid) ||
            fstatat(d->fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (unlinkat(d->fd, e->d_name, 0) == 0) {
            removed++;
        }
    }
    closedir(dir);
    if (removed) {
        dr_log_info("removed %u temporary %s left in '%s' by a restore that stopped", removed,
                    removed == 1 ? "file" : "files", d->dst);
    }
}

/* The snapshot path of name in the directory at spath. */
static char *child_path(const char *spath, const char *name)
{
    size_t l = strlen(spath);
    return dr_xasprintf("%s%s%s", spath, l && spath[l - 1] == '/' ? "" : "/", name);
}

static bool excluded(const struct dr_restore_opts *o, const char *spath)
{
    return o->nexcludes && dr_pattern_match_any(o->excludes, o->nexcludes, spath);
}

/* Removes name in dirfd and, for a directory, what it holds (entries an exclude pattern
 * protects stay, and so does their directory). */
static int remove_entry(struct restore *rs, int dirfd, const char *name, const char *dst,
                        const char *spath)
{
    int rc = dr_interrupt_check();
    if (rc < 0) {
        return rc;
    }
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return 0; /* gone since */
    }
    bool kept = false;
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            return dr_error_errno(dr_error_from_errno(errno), "cannot open directory '%s'", dst);
        }
        DIR *dir = open_entries(fd, ".");
        if (!dir) {
            rc = dr_error_errno(dr_error_from_errno(errno), "cannot read directory '%s'", dst);
        }
        struct dirent *e;
        while (rc >= 0 && dir && (e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            char *cdst = dr_fs_join(dst, e->d_name);
            char *cpath = child_path(spath, e->d_name);
            if (excluded(rs->o, cpath)) {
                kept = true;
            } else {
                rc = remove_entry(rs, fd, e->d_name, cdst, cpath);
            }
            free(cdst);
            free(cpath);
        }
        if (dir) {
            closedir(dir);
        }
        close(fd);
        if (rc < 0 || kept) {
            return rc;
        }
    }
    if (!rs->o->dry_run && unlinkat(dirfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 &&
        errno != ENOENT) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot delete '%s'", dst);
    }
    rs->st.deleted++;
    dr_restore_tell(rs, DR_RESTORE_DELETE, dst);
    return 0;
}

int dr_restore_delete_extra(struct restore *rs, struct rdir *d)
{
    if (!rs->o->delete || d->fd < 0 || !d->existed) {
        return 0;
    }
    /* the walk gives names in tree order (bytewise); sorted again not to depend on it */
    if (d->nnames) {
        qsort(d->names, d->nnames, sizeof(*d->names), dr_strp_cmp);
    }
    DIR *dir = open_entries(d->fd, ".");
    if (!dir) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot read directory '%s'", d->dst);
    }
    /* gather first: removing while reading a directory may skip entries */
    char **extra = NULL;
    size_t nextra = 0, aextra = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || dr_fs_tmp_pid(name) > 0 ||
            (d->nnames && bsearch(&name, d->names, d->nnames, sizeof(*d->names), dr_strp_cmp))) {
            continue; /* the snapshot's, or a temporary file (this restore's or a live one's) */
        }
        DR_GROW(extra, aextra, nextra + 1);
        extra[nextra++] = dr_xstrdup(name);
    }
    closedir(dir);
    if (nextra) {
        qsort(extra, nextra, sizeof(*extra), dr_strp_cmp);
    }
    int rc = 0;
    for (size_t i = 0; i < nextra; i++) {
        char *cpath = child_path(d->spath, extra[i]);
        bool descend;
        bool sel = d->all || dr_restore_included(rs->o, cpath, &descend);
        if (rc >= 0 && sel && !excluded(rs->o, cpath)) {
            char *cdst = dr_fs_join(d->dst, extra[i]);
            rc = remove_entry(rs, d->fd, extra[i], cdst, cpath);
            free(cdst);
        }
        free(cpath);
        free(extra[i]);
    }
    free(extra);
    return rc;
}
