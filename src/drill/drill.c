/* drill.c: restore drills (see drill.h) and the drill result objects (format/drill.md).
 *
 * A drill restores the snapshot into a private temporary directory, which proves every chunk
 * (restore authenticates each one and recomputes its id), compares what landed on disk with the
 * tree, then checks the data the way its source calls for: a scratch redis-server that must load
 * the RDB with the recorded keys per database, the PostgreSQL drill (drill_pg.c), and the user's
 * --restore-command. The outcome is a result, not an error: a damaged snapshot gives a drill
 * that ran and failed (ok = false, reason set), which is stored like a pass. Only a drill that
 * could not run at all (no such snapshot, no temporary space, no redis-server binary) returns an
 * error and stores nothing.
 *
 * Whatever the drill starts, it stops: servers are killed by pid on every path, and the
 * temporary directory is removed. */
#include "drrepo/drill.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drill_int.h"
#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/proc.h"
#include "drrepo/restore.h"
#include "drrepo/util.h"

extern char **environ;

/* ---- helpers: results, temporary directory ---- */

void drill_fail(struct dr_drill_result *res, const char *fmt, ...)
{
    if (!res->ok && res->reason) {
        return; /* the first reason is the one that matters */
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
    }
    va_end(ap);
    res->ok = false;
    free(res->reason);
    res->reason = msg ? msg : dr_xstrdup("drill failed");
}

void drill_checked(struct dr_drill_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *part = NULL;
    if (vasprintf(&part, fmt, ap) < 0) {
        part = NULL;
    }
    va_end(ap);
    if (!part) {
        return;
    }
    char *all = res->checked ? dr_xasprintf("%s; %s", res->checked, part) : dr_xstrdup(part);
    free(res->checked);
    free(part);
    res->checked = all;
}

static int unlock_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR) {
        chmod(path, (st->st_mode & 07777) | S_IRWXU); /* restored modes may forbid removal */
    }
    return 0;
}

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) < 0 && errno != ENOENT) {
        dr_log_warn("cannot remove '%s': %s", path, strerror(errno));
    }
    return 0;
}

static void remove_tree(const char *dir)
{
    if (nftw(dir, unlock_cb, 16, FTW_PHYS) < 0 ||
        nftw(dir, remove_cb, 16, FTW_PHYS | FTW_DEPTH) < 0) {
        dr_log_warn("cannot remove the drill's temporary directory '%s': %s", dir, strerror(errno));
    }
}

/* ---- comparing the restored files with the tree ---- */

struct cmp_ctx {
    struct dr_repo *r;
    const char *dir;
    struct dr_drill_result *res;
    uint64_t files, dirs, bytes, bad;
};

/* Why a file could not be restored: its content is read again (to /dev/null) to get the
 * message that names the damaged chunk and pack. */
static void file_reason(struct cmp_ctx *c, const char *path, const struct dr_node *n)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int rc = fd < 0 ? dr_error_errno(DR_EIO, "cannot open /dev/null")
                    : dr_restore_file_to_fd(c->r, n, fd, path, NULL);
    if (fd >= 0) {
        close(fd);
    }
    if (rc < 0) {
        drill_fail(c->res, "%s", dr_error_msg());
    } else {
        drill_fail(c->res, "'%s' was not restored", path);
    }
    dr_error_clear();
}

static int cmp_cb(void *arg, const char *path, const struct dr_node *n)
{
    struct cmp_ctx *c = arg;
    if (n->type != DR_NODE_FILE && n->type != DR_NODE_DIR && n->type != DR_NODE_SYMLINK) {
        return 0; /* special files need privileges to recreate: restore warns about them */
    }
    char *local = dr_xasprintf("%s%s", c->dir, path);
    struct stat st;
    if (lstat(local, &st) < 0) {
        c->bad++;
        if (n->type == DR_NODE_FILE) {
            file_reason(c, path, n);
        } else {
            drill_fail(c->res, "'%s' is missing after the restore", path);
        }
    } else if (n->type == DR_NODE_FILE &&
               (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != n->size)) {
        c->bad++;
        drill_fail(c->res, "'%s' has %llu bytes after the restore, the snapshot says %llu", path,
                   (unsigned long long)st.st_size, (unsigned long long)n->size);
    } else if ((n->type == DR_NODE_DIR && !S_ISDIR(st.st_mode)) ||
               (n->type == DR_NODE_SYMLINK && !S_ISLNK(st.st_mode))) {
        c->bad++;
        drill_fail(c->res, "'%s' has the wrong type after the restore", path);
    } else if (n->type == DR_NODE_FILE) {
        c->files++;
        c->bytes += n->size;
    } else if (n->type == DR_NODE_DIR) {
        c->dirs++;
    }
    free(local);
    return 0;
}

/* Restores the snapshot into dir and compares the result with the tree. A damaged snapshot is
 * a failed drill; only errors that say nothing about the snapshot are returned. */
static int restore_and_compare(struct dr_repo *r, const struct dr_snapshot *s, const char *dir,
                               struct dr_drill_result *res)
{
    struct dr_restore_opts ro = {.target = dir};
    struct dr_restore_stats st;
    int rc = dr_restore_run(r, s, &ro, &st);
    if (rc == DR_ECORRUPT || rc == DR_ENOENT || rc == DR_EDAMAGED) {
        if (st.first_loss[0]) {
            /* the restore's first loss names the file or directory, the blob and the pack */
            drill_fail(res, "%s", st.first_loss);
            dr_error_clear();
            return 0;
        }
        /* the tree walk below names the first file and why; this is the fallback */
        drill_fail(res, "restore failed: %s", dr_error_msg());
        char *first = res->reason;
        res->reason = NULL;
        res->ok = true;
        dr_error_clear();
        struct cmp_ctx c = {.r = r, .dir = dir, .res = res};
        int wrc = dr_repo_walk(r, &s->tree, "", cmp_cb, &c);
        if (wrc < 0 || res->ok) {
            free(res->reason);
            res->reason = first;
            res->ok = false;
            dr_error_clear();
        } else {
            free(first);
        }
        return 0;
    }
    if (rc == DR_ENOSPC) {
        /* the host's temporary space, not the snapshot nor the repository: one line, without
         * the hint about the repository's disk that DR_ENOSPC gets */
        char size[32];
        dr_size_format(s->summary.bytes_total, size, sizeof(size));
        return dr_errorf(DR_EIO,
                         "no space left to restore the snapshot (%s) under '%s' (%s): give "
                         "--tmpdir a file system with room for it",
                         size, dir, dr_error_msg());
    }
    if (rc < 0) {
        return dr_error_wrap(rc, "drill cannot restore into '%s'", dir);
    }
    struct cmp_ctx c = {.r = r, .dir = dir, .res = res};
    rc = dr_repo_walk(r, &s->tree, "", cmp_cb, &c);
    if (rc < 0) {
        drill_fail(res, "cannot walk the snapshot's tree: %s", dr_error_msg());
        dr_error_clear();
        return 0;
    }
    if (c.bad == 0) {
        char size[32];
        dr_size_format(c.bytes, size, sizeof(size));
        drill_checked(res,
                      "restored %llu files (%s) and %llu directories, every chunk verified "
                      "against its id, sizes match the snapshot",
                      (unsigned long long)c.files, size, (unsigned long long)c.dirs);
    }
    return 0;
}

/* ---- the user's check ---- */

static int run_restore_command(char **argv, const char *dir, struct dr_drill_result *res)
{
    size_t n = 0;
    while (environ[n]) {
        n++;
    }
    char **envp = dr_xcalloc(n + 2, sizeof(*envp));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "DRREPO_DRILL_DIR=", 17) != 0) {
            envp[k++] = environ[i];
        }
    }
    char *var = dr_xasprintf("DRREPO_DRILL_DIR=%s", dir);
    envp[k++] = var;
    /* the user's check must not read the repository password from our stdin */
    struct dr_proc_spec spec = {.file = argv[0],
                                .argv = argv,
                                .search_path = true,
                                .envp = envp,
                                .dir = dir,
                                .keep_stdout = true};
    struct dr_proc p;
    int rc = dr_proc_spawn(&spec, &p);
    free(var);
    free(envp);
    if (rc < 0) {
        return rc;
    }
    if (p.exec_errno) {
        errno = p.exec_errno;
        return dr_error_errno(DR_ESOURCE, "cannot run restore command '%s'", argv[0]);
    }
    int status = dr_proc_wait(&p);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        drill_checked(res, "restore command '%s' exited with status 0", argv[0]);
    } else {
        char how[96];
        dr_proc_describe(status, how, sizeof(how));
        drill_fail(res, "restore command '%s' %s", argv[0], how);
    }
    return 0;
}

/* ---- the drill ---- */

static const char *kind_of(const char *source)
{
    if (strcmp(source, "redis") == 0) {
        return "redis";
    }
    if (strcmp(source, "postgresql") == 0 || strcmp(source, "pg") == 0) {
        return "postgresql";
    }
    if (strcmp(source, "stdin") == 0 || strcmp(source, "command") == 0) {
        return "stream";
    }
    return "files";
}

int dr_drill_run(struct dr_repo *r, const struct dr_id *id, const struct dr_drill_opts *o,
                 struct dr_drill_result *res)
{
    struct dr_snapshot s;
    struct dr_drill_result out;
    memset(&out, 0, sizeof(out));
    dr_snapshot_init(&s);
    char *tmp = NULL, *data = NULL;
    int64_t t0 = dr_mono_ns();
    out.time_ns = dr_time_now_ns();
    out.snapshot = *id;
    out.ok = true;
    int rc = dr_repo_snapshot_load(r, id, &s);
    if (rc < 0) {
        goto out;
    }
    out.kind = dr_xstrdup(kind_of(s.source ? s.source : ""));
    rc = dr_drill_pg_check_opts(&s, o);
    if (rc < 0) {
        goto out;
    }
    const char *base = o->tmpdir && o->tmpdir[0] ? o->tmpdir : getenv("TMPDIR");
    tmp = dr_xasprintf("%s/drrepo-drill-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        rc = dr_error_errno(dr_error_from_errno(errno),
                            "cannot create a directory for the drill "
                            "in '%s'",
                            base && base[0] ? base : "/tmp");
        free(tmp);
        tmp = NULL;
        goto out;
    }
    data = dr_xasprintf("%s/data", tmp);
    dr_log_detail("drill of %s snapshot: restoring into '%s'", out.kind, data);
    rc = restore_and_compare(r, &s, data, &out);
    int64_t restore_ns = dr_mono_ns() - t0;
    out.rto_ns = restore_ns;
    if (rc < 0 || !out.ok) {
        goto done;
    }
    if (strcmp(out.kind, "redis") == 0) {
        int64_t start_ns = 0;
        rc = drill_redis(&s, tmp, data, &out, &start_ns);
        out.rto_ns = restore_ns + start_ns;
    } else if (strcmp(out.kind, "postgresql") == 0) {
        if (o->pg_target) {
            rc = drill_stage_wal(r, &s, o, tmp, data, &out);
            restore_ns = dr_mono_ns() - t0; /* fetching the WAL is part of the recovery */
        }
        /* dr_drill_pg sets rto_ns to its server's start time; the restore comes before it */
        out.rto_ns = 0;
        if (rc >= 0 && out.ok) {
            rc = dr_drill_pg(r, &s, data, o, &out);
        }
        out.rto_ns += restore_ns;
    } else if (o->pg_target) {
        drill_fail(&out, "a point-in-time drill needs a PostgreSQL base backup, not a %s snapshot",
                   out.kind);
    }
    if (rc >= 0 && out.ok && o->restore_command && o->restore_command[0]) {
        rc = run_restore_command(o->restore_command, data, &out);
    }
done:
    if (rc < 0) {
        goto out;
    }
    out.duration_ns = dr_mono_ns() - t0;
    if (!out.checked) {
        out.checked = dr_xstrdup("");
    }
    rc = dr_drill_save(r, &out);
    if (rc < 0) {
        goto out;
    }
    *res = out;
    memset(&out, 0, sizeof(out));
out:
    if (tmp) {
        remove_tree(tmp);
    }
    free(tmp);
    free(data);
    dr_drill_result_release(&out);
    dr_snapshot_release(&s);
    return rc;
}
