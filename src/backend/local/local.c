/* local.c: the local-directory storage driver.
 *
 * An object "data/ab/<hex>" is the file <root>/data/ab/<hex>. Every put goes through
 * dr_fs_write_atomic (temporary file in the same directory, fsync, rename or link, fsync of the
 * directory), so a reader sees the whole object or nothing. Directories are created on demand,
 * and the directories above a new one are fsynced so the new entry survives a crash too.
 *
 * The only state is the root path, which never changes after open: every operation may run on
 * several threads at once. Names were validated by the dispatcher (backend.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../backend_int.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/proc.h"
#include "drrepo/mem.h"

/* Object names have at most three components; deeper directories hold no objects. */
#define LOCAL_DEPTH_MAX 8
/* A temporary file this old is a leftover even if its pid runs again (pid reuse, other host). */
#define LOCAL_TMP_MAX_AGE_S (24 * 60 * 60)

struct local {
    char *root;
};

int dr_backend_local_open(const char *path, void **out_drv)
{
    struct local *l = dr_xcalloc(1, sizeof(*l));
    l->root = dr_xstrdup(path);
    *out_drv = l;
    return 0;
}

static void local_close(void *drv)
{
    struct local *l = drv;
    if (!l) {
        return;
    }
    free(l->root);
    free(l);
}

/* mkdir with "did we create it" reported; EEXIST is success. */
static int mkdir_one(const char *path, bool *out_created)
{
    if (mkdir(path, 0700) == 0) {
        *out_created = true;
        return 0;
    }
    if (errno == EEXIST) {
        *out_created = false;
        return 0;
    }
    return dr_error_errno(dr_error_from_errno(errno), "cannot create directory '%s'", path);
}

/* Creates the root (if missing) and the directories of name below it, and fsyncs the parent of
 * each. For directories inside the repository the parent is fsynced even when another thread
 * won the race to create it: that thread may not have fsynced yet, and our object must not
 * become durable before the directory entry that leads to it. */
static int make_parents(struct local *l, const char *name)
{
    int rc = 0;
    char *path = NULL;
    /* the root and its missing ancestors: fsync a parent only for what we created */
    char *root = dr_xstrdup(l->root);
    for (char *s = root + 1; strcmp(l->root, "/") != 0; s++) {
        if (*s != '/' && *s != '\0') {
            continue;
        }
        char saved = *s;
        *s = '\0';
        bool created = false;
        rc = mkdir_one(root, &created);
        if (rc == 0 && created) {
            char *parent = dr_fs_dirname(root);
            rc = dr_fs_fsync_dir(parent);
            free(parent);
        }
        *s = saved;
        if (rc < 0 || saved == '\0') {
            break;
        }
    }
    free(root);
    if (rc < 0) {
        goto out;
    }
    path = dr_fs_join(l->root, name);
    size_t rootlen = strlen(path) - strlen(name);
    for (char *s = path + rootlen; *s; s++) {
        if (*s != '/') {
            continue;
        }
        *s = '\0';
        bool created = false;
        rc = mkdir_one(path, &created);
        if (rc == 0) {
            char *parent = dr_fs_dirname(path);
            rc = dr_fs_fsync_dir(parent);
            free(parent);
        }
        *s = '/';
        if (rc < 0) {
            goto out;
        }
    }
out:
    free(path);
    return rc;
}

static int local_put(void *drv, const char *name, const void *data, size_t len, bool exclusive)
{
    struct local *l = drv;
    char *path = dr_fs_join(l->root, name);
    int rc = dr_fs_write_atomic(path, data, len, exclusive);
    if (rc == DR_ENOENT) {
        /* the directory is missing: the slow path, once per directory */
        rc = make_parents(l, name);
        if (rc == 0) {
            rc = dr_fs_write_atomic(path, data, len, exclusive);
        }
        /* still "missing" with the directories made: a file is in the way, not a missing object */
        if (rc == DR_ENOENT) {
            rc = DR_EIO;
        }
    }
    struct stat st;
    if (rc == DR_EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* link() finds the directory of longer names ("data/ab" of "data/ab/<hex>"): that is
         * no object (stat, get and list say so), so not DR_EEXIST, which callers take to mean
         * that the object is stored */
        rc = dr_errorf(DR_EIO, "cannot store object '%s': a directory of that name is in the way",
                       name);
    } else if (rc == DR_EEXIST) {
        rc = dr_errorf(DR_EEXIST, "object '%s' already exists", name);
    } else if (rc < 0) {
        rc = dr_error_wrap(rc, "cannot store object '%s'", name);
    }
    free(path);
    return rc;
}

static int open_object(struct local *l, const char *name, int *out_fd, struct stat *st)
{
    char *path = dr_fs_join(l->root, name);
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
        } else {
            rc = dr_error_errno(DR_EIO, "cannot open object '%s'", name);
        }
        goto out;
    }
    if (fstat(fd, st) < 0) {
        rc = dr_error_errno(DR_EIO, "cannot stat object '%s'", name);
        close(fd);
        goto out;
    }
    if (!S_ISREG(st->st_mode)) {
        rc = dr_errorf(DR_EIO, "object '%s' is not a regular file", name);
        close(fd);
        goto out;
    }
    *out_fd = fd;
out:
    free(path);
    return rc;
}

static int local_get(void *drv, const char *name, uint64_t off, uint64_t len, struct dr_buf *out)
{
    struct local *l = drv;
    struct stat st;
    int fd = -1;
    int rc = open_object(l, name, &fd, &st);
    if (rc < 0) {
        return rc;
    }
    uint64_t size = (uint64_t)st.st_size;
    /* checked against the size first, so a short object never makes us allocate len bytes */
    if (off > size) {
        rc = dr_errorf(DR_ECORRUPT,
                       "object '%s' is shorter than expected (%llu bytes, read at %llu)", name,
                       (unsigned long long)size, (unsigned long long)off);
        goto out;
    }
    if (len == UINT64_MAX) {
        len = size - off;
    } else if (len > size - off) {
        rc = dr_errorf(
            DR_ECORRUPT, "object '%s' is shorter than expected (%llu bytes, read of %llu at %llu)",
            name, (unsigned long long)size, (unsigned long long)len, (unsigned long long)off);
        goto out;
    }
    if ((uint64_t)(size_t)len != len) {
        rc = dr_errorf(DR_ECORRUPT, "object '%s': range too large for memory", name);
        goto out;
    }
    rc = dr_buf_grow(out, (size_t)len);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "object '%s'", name);
        goto out;
    }
    /* a concurrent truncation still ends as DR_ECORRUPT naming the object */
    rc = dr_fs_pread_full(fd, out->buf + out->len, (size_t)len, off, name);
    if (rc < 0) {
        out->buf[out->len] = '\0';
        goto out;
    }
    dr_buf_setlen(out, out->len + (size_t)len);
out:
    close(fd);
    return rc;
}

/* stat(2) of object name, which must be a regular file. */
static int stat_object(struct local *l, const char *name, struct stat *st)
{
    char *path = dr_fs_join(l->root, name);
    int rc = 0;
    if (stat(path, st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
        } else {
            rc = dr_error_errno(DR_EIO, "cannot stat object '%s'", name);
        }
    } else if (!S_ISREG(st->st_mode)) {
        rc = dr_errorf(DR_EIO, "object '%s' is not a regular file", name);
    }
    free(path);
    return rc;
}

static int local_stat(void *drv, const char *name, uint64_t *out_size)
{
    struct stat st;
    int rc = stat_object(drv, name, &st);
    if (rc >= 0) {
        *out_size = (uint64_t)st.st_size;
    }
    return rc;
}

/* now - mtime. On a local disk both are this machine's clock, which set the mtime when the
 * object was written. A directory that other hosts write over NFS stamps mtimes with the file
 * server's clock while "now" is this machine's: the age is then off by the difference of those
 * two clocks, which NTP keeps small (docs/S3.md "Locks and leases"). */
static int local_age(void *drv, const char *name, int64_t *out_age_ns)
{
    struct stat st;
    int rc = stat_object(drv, name, &st);
    if (rc >= 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        *out_age_ns = ((int64_t)now.tv_sec - (int64_t)st.st_mtim.tv_sec) * 1000000000 +
                      ((int64_t)now.tv_nsec - (int64_t)st.st_mtim.tv_nsec);
    }
    return rc;
}

static bool is_tmp_name(const char *ent)
{
    return strncmp(ent, DR_FS_TMP_PREFIX, strlen(DR_FS_TMP_PREFIX)) == 0;
}

/* Called for every regular file of a walk: dirfd holds it as ent; rel is its relative name; st
 * its stat, or NULL in a walk that does not stat (where readdir tells the type). */
typedef int (*visit_fn)(void *ctx, int dirfd, const char *ent, const char *rel,
                        const struct stat *st);

/* Walks the directory dfd (taken over and closed) whose relative name is rel, depth first; with
 * need_stat false an entry is stat'ed only when readdir does not tell its type. Entries that
 * vanish while we look (a concurrent delete) are skipped, not errors. */
static int walk_dir(int dfd, struct dr_buf *rel, int depth, bool need_stat, visit_fn fn, void *ctx)
{
    int rc = 0;
    DIR *d = fdopendir(dfd);
    if (!d) {
        rc = dr_error_errno(DR_EIO, "cannot list '%s'", rel->len ? rel->buf : ".");
        close(dfd);
        return rc;
    }
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                rc = dr_error_errno(DR_EIO, "cannot list '%s'", rel->len ? rel->buf : ".");
            }
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        struct stat st;
        bool stated = need_stat || (e->d_type != DT_REG && e->d_type != DT_DIR);
        if (stated && fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) {
                continue;
            }
            rc =
                dr_error_errno(DR_EIO, "cannot stat '%s/%s'", rel->len ? rel->buf : ".", e->d_name);
            break;
        }
        bool is_dir = stated ? S_ISDIR(st.st_mode) : e->d_type == DT_DIR;
        if (stated && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
            continue;
        }
        if (is_dir && depth >= LOCAL_DEPTH_MAX) {
            continue;
        }
        size_t saved = rel->len;
        if (rel->len) {
            rc = dr_buf_addch(rel, '/');
        }
        if (rc == 0) {
            rc = dr_buf_adds(rel, e->d_name);
        }
        if (rc == 0 && is_dir) {
            int fd = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                rc = walk_dir(fd, rel, depth + 1, need_stat, fn, ctx);
            } else if (errno != ENOENT) {
                rc = dr_error_errno(DR_EIO, "cannot open directory '%s'", rel->buf);
            }
        } else if (rc == 0) {
            rc = fn(ctx, dfd, e->d_name, rel->buf, stated ? &st : NULL);
        }
        dr_buf_setlen(rel, saved);
        if (rc < 0) {
            break;
        }
    }
    closedir(d);
    return rc;
}

/* Opens root/prefix and walks it. A missing prefix walks nothing. */
static int walk(struct local *l, const char *prefix, bool need_stat, visit_fn fn, void *ctx)
{
    char *path = *prefix ? dr_fs_join(l->root, prefix) : dr_xstrdup(l->root);
    struct dr_buf rel = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    int rc = 0;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            rc = dr_error_errno(DR_EIO, "cannot list '%s'", *prefix ? prefix : ".");
        }
        goto out;
    }
    rc = dr_buf_adds(&rel, prefix);
    if (rc < 0) {
        close(fd);
        goto out;
    }
    rc = walk_dir(fd, &rel, 0, need_stat, fn, ctx);
out:
    dr_buf_release(&rel);
    free(path);
    return rc;
}

struct list_ctx {
    dr_backend_list_cb cb;
    void *arg;
};

static int list_visit(void *ctx, int dirfd, const char *ent, const char *rel, const struct stat *st)
{
    struct list_ctx *lc = ctx;
    (void)dirfd;
    if (is_tmp_name(ent)) {
        return 0;
    }
    int rc = lc->cb(lc->arg, rel, st ? (uint64_t)st->st_size : DR_BACKEND_SIZE_UNKNOWN);
    return rc < 0 ? rc : 0;
}

static int local_list(void *drv, const char *prefix, dr_backend_list_cb cb, void *arg)
{
    struct list_ctx lc = {.cb = cb, .arg = arg};
    return walk(drv, prefix, true, list_visit, &lc);
}

static int local_list_names(void *drv, const char *prefix, dr_backend_list_cb cb, void *arg)
{
    struct list_ctx lc = {.cb = cb, .arg = arg};
    return walk(drv, prefix, false, list_visit, &lc);
}

static int local_remove(void *drv, const char *name)
{
    struct local *l = drv;
    char *path = dr_fs_join(l->root, name);
    char *dir = NULL;
    int rc = 0;
    if (unlink(path) < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
        } else {
            rc = dr_error_errno(DR_EIO, "cannot delete object '%s'", name);
        }
        goto out;
    }
    dir = dr_fs_dirname(path);
    rc = dr_fs_fsync_dir(dir);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "cannot delete object '%s'", name);
    }
out:
    free(dir);
    free(path);
    return rc;
}

struct cleanup_ctx {
    time_t now;
    int removed;
};

/* A temporary file is ".drrepo-tmp-<pid>-<name>-XXXXXX". It is a leftover when its writer no
 * longer runs on this host, or when it is older than a day (the pid may have been reused, or the
 * file came from another host sharing the directory). */
static bool tmp_is_stale(const char *ent, const struct stat *st, time_t now)
{
    if (now - st->st_mtime > LOCAL_TMP_MAX_AGE_S) {
        return true;
    }
    return dr_proc_gone(dr_fs_tmp_pid(ent));
}

static int cleanup_visit(void *ctx, int dirfd, const char *ent, const char *rel,
                         const struct stat *st)
{
    struct cleanup_ctx *cc = ctx;
    if (!is_tmp_name(ent)) {
        return 0;
    }
    /* the walk stats nothing (a stat per object of the repository was most of an open's system
     * calls): only a temporary file's age is needed */
    struct stat own;
    if (!st) {
        if (fstatat(dirfd, ent, &own, AT_SYMLINK_NOFOLLOW) < 0) {
            return errno == ENOENT ? 0 : dr_error_errno(DR_EIO, "cannot stat '%s'", rel);
        }
        st = &own;
    }
    if (!tmp_is_stale(ent, st, cc->now)) {
        return 0;
    }
    if (unlinkat(dirfd, ent, 0) < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        return dr_error_errno(DR_EIO, "cannot remove temporary file '%s'", rel);
    }
    if (cc->removed < INT32_MAX) {
        cc->removed++;
    }
    return 0;
}

static int local_cleanup(void *drv)
{
    struct cleanup_ctx cc = {.now = time(NULL), .removed = 0};
    int rc = walk(drv, "", false, cleanup_visit, &cc);
    return rc < 0 ? rc : cc.removed;
}

static bool local_exists(void *drv)
{
    struct local *l = drv;
    struct stat st;
    return stat(l->root, &st) == 0 && S_ISDIR(st.st_mode);
}

const struct dr_backend_ops dr_backend_local_ops = {
    .name = "local",
    .features = DR_BACKEND_FEATURE_EXCLUSIVE | DR_BACKEND_FEATURE_POSIX,
    .put = local_put,
    .get = local_get,
    .stat = local_stat,
    .list = local_list,
    .remove = local_remove,
    .close = local_close,
    .cleanup = local_cleanup,
    .list_names = local_list_names,
    .exists = local_exists,
    .age = local_age,
};
