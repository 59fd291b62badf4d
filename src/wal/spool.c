/* spool.c: asynchronous archiving and prefetching of WAL through a local spool directory
 * (docs/SOURCES.md "Asynchronous archiving and prefetching"), as pgBackRest's archive-async.
 *
 * Every `wal push` and `wal get` is a process of its own, and opening the repository derives the
 * key (Argon2id, about 0.6 s at init's defaults): one process per 16 MiB segment keeps up with
 * ~16 MiB/s of WAL, and a recovery pays the derivation per segment. With a spool, one background
 * worker derives the key once and moves many files: the push worker archives every file
 * PostgreSQL has marked ready, the get worker fetches the segments that follow the one asked
 * for; the commands PostgreSQL runs then mostly look at the spool.
 *
 * The spool is an accelerator, never a second source of truth: a push succeeds only when the
 * worker marked the file archived after dr_wal_push returned (durable in the repository), or
 * when the command pushed it itself; a get takes only files the worker decoded and verified.
 * Whatever the worker fails at, the command does itself, as without a spool, and reports it. */
#include "drrepo/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

#define PLAN "plan"
#define LOCK "lock"
#define PLAN_END "end"

int dr_wal_spool_dir(const char *spool, uint64_t sysid, const char *kind, char **out)
{
    char sub[64];
    snprintf(sub, sizeof(sub), "%" PRIu64 "/%s", sysid, kind);
    char *dir = dr_fs_join(spool, sub);
    int rc = dr_fs_mkdir_p(dir, 0700);
    if (rc < 0) {
        free(dir);
        return dr_error_wrap(rc, "cannot create the WAL spool directory '%s/%s'", spool, sub);
    }
    /* whoever can write into it could hand recovery WAL of their making */
    struct stat st;
    if (stat(dir, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
        rc = dr_errorf(DR_EUSAGE,
                       "the WAL spool directory '%s' must belong to this user and be writable "
                       "by no one else",
                       dir);
        free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

int dr_wal_spool_lock(const char *dir, int *out_fd)
{
    char *path = dr_fs_join(dir, LOCK);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = dr_error_errno(DR_EIO, "cannot open '%s'", path);
        free(path);
        return rc;
    }
    free(path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            return 0;
        }
        errno = e;
        return dr_error_errno(DR_EIO, "cannot lock the WAL spool directory '%s'", dir);
    }
    *out_fd = fd;
    return 1;
}

bool dr_wal_spool_busy(const char *dir)
{
    int fd = -1;
    int rc = dr_wal_spool_lock(dir, &fd);
    if (rc > 0) {
        close(fd);
        return false;
    }
    dr_error_clear();
    return rc == 0;
}

/* The spooled file name of dir, malloc'd. */
static char *spooled(const char *dir, const char *name, const char *suffix)
{
    char file[DR_WAL_FILE_NAME_MAX + 16];
    snprintf(file, sizeof(file), "%s%s", name, suffix);
    return dr_fs_join(dir, file);
}

/* Whether dir/name+suffix exists; removes it when take. */
static bool marked(const char *dir, const char *name, const char *suffix, bool take)
{
    char *path = spooled(dir, name, suffix);
    bool there = take ? unlink(path) == 0 : access(path, F_OK) == 0;
    free(path);
    return there;
}

/* Creates the empty mark dir/name+suffix. Not synced: a mark lost in a crash only makes the
 * command do again what the worker did (a push of archived bytes succeeds). */
static void mark(const char *dir, const char *name, const char *suffix)
{
    char *path = spooled(dir, name, suffix);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        dr_log_warn("cannot create '%s': %s", path, strerror(errno));
    } else {
        close(fd);
    }
    free(path);
}

int dr_wal_spool_pushed(const char *dir, const char *name)
{
    if (marked(dir, name, ".ok", true)) {
        return 1;
    }
    return marked(dir, name, ".fail", true) ? -1 : 0;
}

/* The WAL file names PostgreSQL marked ready to archive in waldir (archive_status/NAME.ready),
 * sorted: history files first, then segments in order. */
static int ready_files(const char *waldir, char ***out, size_t *out_n)
{
    char *status = dr_fs_join(waldir, "archive_status");
    DIR *d = opendir(status);
    if (!d) {
        int rc = dr_error_errno(DR_EIO, "cannot read '%s'", status);
        free(status);
        return rc;
    }
    free(status);
    char **v = NULL;
    size_t n = 0, alloc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 6 || strcmp(e->d_name + len - 6, ".ready") != 0 ||
            len - 6 >= DR_WAL_FILE_NAME_MAX) {
            continue;
        }
        char name[DR_WAL_FILE_NAME_MAX];
        memcpy(name, e->d_name, len - 6);
        name[len - 6] = '\0';
        struct dr_wal_file f;
        if (dr_wal_file_parse(name, &f) < 0) {
            dr_error_clear();
            continue;
        }
        DR_GROW(v, alloc, n + 1);
        v[n++] = dr_xstrdup(name);
    }
    closedir(d);
    if (n) {
        qsort(v, n, sizeof(v[0]), dr_strp_cmp);
    }
    *out = v;
    *out_n = n;
    return 0;
}

int dr_wal_push_ready(struct dr_repo *r, uint64_t sysid, const char *waldir, const char *dir,
                      size_t *out_n)
{
    char **v = NULL;
    size_t n = 0;
    *out_n = 0;
    int rc = ready_files(waldir, &v, &n);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        if (marked(dir, v[i], ".ok", false) || marked(dir, v[i], ".fail", false)) {
            continue;
        }
        char *path = dr_fs_join(waldir, v[i]);
        enum dr_wal_pushed how;
        int prc = dr_wal_push(r, sysid, path, &how);
        free(path);
        if (prc >= 0) {
            mark(dir, v[i], ".ok");
            (*out_n)++;
        } else if (prc == DR_EINTR) {
            rc = prc;
        } else {
            /* its own archive_command pushes it and reports why it fails */
            dr_log_warn("%s", dr_error_msg());
            dr_error_clear();
            mark(dir, v[i], ".fail");
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
    return rc;
}

/* Removes what the get spool holds that recovery will not ask for: segments of name's timeline
 * before name, and, when no worker runs, temporary files (only workers write them; a killed
 * worker's pid may still answer as a zombie, the lock is the sure sign). */
static void sweep(const char *dir, const struct dr_wal_file *asked)
{
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    bool idle = !dr_wal_spool_busy(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct dr_wal_file f;
        bool stale = idle && dr_fs_tmp_pid(e->d_name) > 0;
        if (!stale && dr_wal_file_parse(e->d_name, &f) >= 0) {
            stale =
                f.kind == DR_WAL_SEGMENT && f.tli == asked->tli && strcmp(f.name, asked->name) < 0;
        }
        dr_error_clear();
        if (stale) {
            char *path = dr_fs_join(dir, e->d_name);
            (void)unlink(path);
            free(path);
        }
    }
    closedir(d);
}

int dr_wal_spool_take(const char *dir, const char *name, const char *dest)
{
    struct dr_wal_file f;
    int rc = dr_wal_file_parse(name, &f);
    if (rc < 0) {
        return rc;
    }
    sweep(dir, &f);
    char *path = dr_fs_join(dir, name);
    if (rename(path, dest) == 0) {
        free(path);
        /* as durable as a file fetched without a spool (dr_fs_write_atomic) */
        char *ddir = dr_fs_dirname(dest);
        rc = dr_fs_fsync_dir(ddir);
        free(ddir);
        return rc < 0 ? rc : 1;
    }
    if (errno == ENOENT) {
        free(path);
        return 0;
    }
    if (errno != EXDEV) {
        rc = dr_error_errno(DR_EIO, "cannot move '%s' to '%s'", path, dest);
        free(path);
        return rc;
    }
    /* the spool is on another file system than pg_wal: copy (rename says so before it looks
     * for the file, so the file may not be there at all) */
    struct dr_buf b = DR_BUF_INIT(DR_WAL_FILE_MAX);
    rc = dr_fs_read_file(path, &b);
    bool there = rc != DR_ENOENT;
    if (!there) {
        dr_error_clear();
        rc = 0;
    }
    rc = rc < 0 || !there ? rc : dr_fs_write_atomic(dest, b.buf, b.len, false);
    if (rc >= 0 && there) {
        (void)unlink(path);
    }
    dr_buf_release(&b);
    free(path);
    return rc < 0 ? rc : there ? 1 : 0;
}

int dr_wal_spool_plan(const char *dir, const char *name, struct dr_wal_plan *out)
{
    memset(out, 0, sizeof(*out));
    char *path = dr_fs_join(dir, PLAN);
    struct dr_buf b = DR_BUF_INIT(1 << 20);
    int rc = dr_fs_read_file(path, &b);
    free(path);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        dr_buf_release(&b);
        return 0;
    }
    if (rc < 0) {
        dr_buf_release(&b);
        return rc;
    }
    out->has = true;
    rc = dr_buf_add(&b, "", 1); /* the text ends: lines are parsed in place */
    char *save = NULL;
    for (char *line = rc < 0 ? NULL : strtok_r(b.buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strcmp(line, PLAN_END)) {
            out->end = true;
            continue;
        }
        if (strlen(line) >= DR_WAL_FILE_NAME_MAX) {
            continue;
        }
        snprintf(out->last, sizeof(out->last), "%s", line);
        if (!strcmp(line, name)) {
            out->planned = true;
        }
        if (marked(dir, line, "", false)) {
            out->queued++;
        }
    }
    dr_buf_release(&b);
    return rc;
}

void dr_wal_spool_plan_clear(const char *dir)
{
    char *path = dr_fs_join(dir, PLAN);
    (void)unlink(path);
    free(path);
}

int dr_wal_prefetch(struct dr_repo *r, uint64_t sysid, const char *dir, const char *after,
                    unsigned n)
{
    struct dr_wal_file f;
    int rc = dr_wal_file_parse(after, &f);
    if (rc < 0) {
        return rc;
    }
    struct dr_wal_archive *a = NULL;
    size_t na = 0;
    rc = dr_wal_list(r, sysid, &a, &na);
    if (rc < 0) {
        return rc;
    }
    /* the plan: the segments that follow, archived without a gap, n at most */
    struct dr_buf plan = DR_BUF_INIT(1 << 20);
    const struct dr_wal_file *picked[256];
    size_t k = 0;
    if (n > 256) {
        n = 256;
    }
    if (na == 1 && a->seg_size && f.kind == DR_WAL_SEGMENT) {
        uint64_t next = dr_wal_segno(&f, a->seg_size) + 1;
        for (size_t i = 0; i < a->n && k < n; i++) {
            const struct dr_wal_file *g = &a->v[i].f;
            if (g->kind != DR_WAL_SEGMENT || g->tli != f.tli ||
                dr_wal_segno(g, a->seg_size) < next) {
                continue;
            }
            if (dr_wal_segno(g, a->seg_size) != next) {
                break;
            }
            picked[k++] = g;
            next++;
        }
    }
    for (size_t i = 0; rc >= 0 && i < k; i++) {
        rc = dr_buf_addf(&plan, "%s\n", picked[i]->name);
    }
    if (rc >= 0 && k < n) {
        rc = dr_buf_addf(&plan, PLAN_END "\n");
    }
    char *path = dr_fs_join(dir, PLAN);
    rc = rc < 0 ? rc : dr_fs_write_atomic(path, plan.buf, plan.len, false);
    free(path);
    dr_buf_release(&plan);
    for (size_t i = 0; rc >= 0 && i < k; i++) {
        char *dest = dr_fs_join(dir, picked[i]->name);
        if (access(dest, F_OK) != 0) {
            rc = dr_wal_get(r, sysid, picked[i]->name, dest);
        }
        free(dest);
    }
    dr_wal_archives_free(a, na);
    return rc;
}

int dr_wal_archived(struct dr_backend *b, uint64_t sysid, const char *name)
{
    struct dr_wal_file f;
    int rc = dr_wal_file_parse(name, &f);
    if (rc < 0) {
        return rc;
    }
    char *obj = dr_wal_object_name(sysid, &f);
    uint64_t size;
    rc = dr_backend_stat(b, obj, &size);
    free(obj);
    return rc == DR_ENOENT ? dr_wal_not_archived(name, sysid) : rc;
}
