/* wal.c: `drrepo wal push|get|list`: PostgreSQL's archive_command and restore_command, and the
 * archived WAL per cluster (src/wal/, docs/SOURCES.md "Continuous archiving").
 *
 * The cluster is the system identifier of the data directory the command runs in (PostgreSQL
 * runs both commands there), or of --pg-data, or --system-id as given. */
#include "cmd_int.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/backend.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/interrupt.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "drrepo/wal.h"

const struct dr_opt dr_cmd_wal_opts[] = {
    {"pg-data", 0, 'D', "DIR", "the cluster is the one of data directory DIR (default: .)", 0,
     NULL},
    {"system-id", 0, 'S', "ID", "the cluster of system identifier ID (decimal, as pg_controldata)",
     0, NULL},
    {"spool", 0, 's', "DIR",
     "push: archive ahead in a background worker; get: prefetch the next segments (DIR: its spool)",
     0, NULL},
    {"prefetch", 0, 'n', "N", "get with --spool: segments fetched ahead (default 8, at most 256)",
     0, NULL},
    {0},
};

/* PostgreSQL stops recovery when restore_command exits with a code over 125, and takes any
 * other failure for the end of the archive: an archive it cannot read must not end a recovery
 * early, so every error of `wal get` but a missing file exits 126 (docs/exit-codes.md). */
static int get_exit(int rc, int code)
{
    return rc == DR_ENOENT || rc == DR_EINTR ? code : 126;
}

static int sysid_opt(const char *datadir, const char *given, uint64_t *out)
{
    if (given) {
        if (dr_parse_u64(given, out) < 0 || *out == 0) {
            return dr_errorf(DR_EUSAGE, "--system-id '%s' is not a system identifier", given);
        }
        return 0;
    }
    return dr_wal_sysid_of(datadir ? datadir : ".", out);
}

static void print_window(const struct dr_wal_window *w)
{
    if (!w->backups) {
        printf("  no base backup of this cluster: nothing to recover from\n");
        return;
    }
    char from[32], to[32], sid[9];
    dr_time_format(w->from_ns, from, sizeof(from));
    dr_time_format(w->to_ns, to, sizeof(to));
    dr_short_id(&w->backup, sid);
    printf("  recoverable from %s (end of base backup %s, LSN %s) to ", from, sid, w->from_lsn);
    if (w->to[0]) {
        printf("the end of %s (archived %s)\n", w->to, w->to_ns ? to : "at an unknown time");
    } else {
        printf("the end of that backup (none of its WAL is archived)\n");
    }
}

static void print_list(const struct dr_wal_archive *a, const struct dr_wal_window *win, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char size[32];
        dr_size_format(a[i].bytes, size, sizeof(size));
        printf("cluster %" PRIu64 ": %zu files, %s", a[i].sysid, a[i].n, size);
        if (a[i].seg_size) {
            printf(", segments of %" PRIu64 " MiB", a[i].seg_size >> 20);
        }
        printf("\n");
        for (size_t k = 0; k < a[i].nranges; k++) {
            const struct dr_wal_range *g = &a[i].ranges[k];
            char first[DR_WAL_FILE_NAME_MAX], last[DR_WAL_FILE_NAME_MAX];
            dr_wal_segment_name(g->tli, g->first, a[i].seg_size, first);
            dr_wal_segment_name(g->tli, g->last, a[i].seg_size, last);
            printf("  timeline %" PRIu32 ": %s - %s (%" PRIu64 " segments)%s\n", g->tli, first,
                   last, g->last - g->first + 1,
                   k + 1 < a[i].nranges && a[i].ranges[k + 1].tli == g->tli ? ", then a gap" : "");
        }
        print_window(&win[i]);
    }
}

static void window_json(struct dr_json *w, const struct dr_wal_window *win)
{
    dr_json_key(w, "window");
    if (!win->backups) {
        dr_json_null(w);
        return;
    }
    char from[32], to[32];
    dr_time_format(win->from_ns, from, sizeof(from));
    dr_time_format(win->to_ns, to, sizeof(to));
    dr_json_begin_object(w);
    dr_json_ku64(w, "base_backups", win->backups);
    dr_json_key(w, "base_backup");
    dr_json_begin_object(w);
    dr_cmd_json_ids(w, &win->backup);
    dr_json_end_object(w);
    dr_json_kstring(w, "from", from);
    dr_json_kstring(w, "from_lsn", win->from_lsn);
    dr_json_kstring(w, "to_segment", win->to[0] ? win->to : NULL);
    dr_json_kstring(w, "to_archived", win->to[0] && win->to_ns ? to : NULL);
    dr_json_end_object(w);
}

static int list_json(const struct dr_wal_archive *a, const struct dr_wal_window *win, size_t n)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_array(&w);
    for (size_t i = 0; i < n; i++) {
        char sid[24];
        snprintf(sid, sizeof(sid), "%" PRIu64, a[i].sysid);
        dr_json_begin_object(&w);
        dr_json_kstring(&w, "system_identifier", sid);
        dr_json_ku64(&w, "files", a[i].n);
        dr_json_ku64(&w, "bytes", a[i].bytes);
        dr_json_ku64(&w, "segment_size", a[i].seg_size);
        dr_json_key(&w, "ranges");
        dr_json_begin_array(&w);
        for (size_t k = 0; k < a[i].nranges; k++) {
            const struct dr_wal_range *g = &a[i].ranges[k];
            char first[DR_WAL_FILE_NAME_MAX], last[DR_WAL_FILE_NAME_MAX];
            dr_wal_segment_name(g->tli, g->first, a[i].seg_size, first);
            dr_wal_segment_name(g->tli, g->last, a[i].seg_size, last);
            dr_json_begin_object(&w);
            dr_json_ku64(&w, "timeline", g->tli);
            dr_json_kstring(&w, "first", first);
            dr_json_kstring(&w, "last", last);
            dr_json_ku64(&w, "segments", g->last - g->first + 1);
            dr_json_end_object(&w);
        }
        dr_json_end_array(&w);
        window_json(&w, &win[i]);
        dr_json_end_object(&w);
    }
    dr_json_end_array(&w);
    return dr_cmd_json_emit(&w, stdout);
}

/* ---- the spool (src/wal/spool.c): the worker processes ---- */

/* How long a command waits for a worker that is still at work, at most, before doing the work
 * itself: longer than a busy worker's round, shorter than anything PostgreSQL gives up at. */
#define WORKER_WAIT_NS ((int64_t)120 * 1000000000)
/* How long a push worker goes on without new ready files, and lives at most: it holds a shared
 * lock, which forget and prune wait for. */
#define PUSH_IDLE_NS ((int64_t)1000000000)
#define PUSH_LIFE_NS ((int64_t)60 * 1000000000)

/* Starts a worker: a child process that holds the spool lock lockfd (taken by the caller, who
 * gives up its copy) and returns 1 from here to run the worker's part; the caller gets 0. The
 * child leaves PostgreSQL's process group and writes its messages to dir/worker.log. Forked
 * before the repository is opened, so that the child opens its own. */
static int spawn_worker(const char *dir, int lockfd)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(lockfd);
        return dr_error_errno(DR_EIO, "cannot start the WAL spool worker");
    }
    if (pid > 0) {
        close(lockfd);
        return 0;
    }
    (void)setsid();
    char *log = dr_fs_join(dir, "worker.log");
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    free(log);
    if (null >= 0) {
        (void)dup2(null, STDIN_FILENO);
        (void)dup2(null, STDOUT_FILENO);
        (void)dup2(fd >= 0 ? fd : null, STDERR_FILENO);
        close(null);
    }
    if (fd >= 0) {
        close(fd);
    }
    /* lockfd stays open (close-on-exec only) for the child's life: that is the lock */
    return 1;
}

/* The push worker: rounds of dr_wal_push_ready under a shared lock, until no file is ready for
 * PUSH_IDLE_NS or PUSH_LIFE_NS passed. */
static int push_worker(struct dr_ctx *ctx, uint64_t sysid, const char *waldir, const char *dir)
{
    int rc = dr_cmd_open(ctx);
    rc = rc < 0 ? rc : dr_cmd_lock(ctx, 0);
    int64_t start = dr_mono_ns(), idle_since = start;
    while (rc >= 0 && dr_mono_ns() - start < PUSH_LIFE_NS && !dr_interrupted()) {
        size_t n = 0;
        rc = dr_wal_push_ready(ctx->r, sysid, waldir, dir, &n);
        if (n) {
            idle_since = dr_mono_ns();
        } else if (dr_mono_ns() - idle_since > PUSH_IDLE_NS) {
            break;
        } else {
            dr_sleep_ms(20);
        }
    }
    return rc;
}

/* wal push with --spool: 0 when the worker archived the file (nothing more to do), 1 when the
 * caller pushes it itself (the worker failed at it, or is gone without it). */
static int push_spooled(struct dr_ctx *ctx, uint64_t sysid, const char *path, const char *spool)
{
    char *dir = NULL;
    int rc = dr_wal_spool_dir(spool, sysid, "push", &dir);
    if (rc < 0) {
        return rc;
    }
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *waldir = slash ? dr_fs_dirname(path) : dr_xstrdup(".");
    int got = dr_wal_spool_pushed(dir, name);
    int lockfd = -1;
    if (got == 0) {
        rc = dr_wal_spool_lock(dir, &lockfd);
        rc = rc > 0 ? spawn_worker(dir, lockfd) : rc;
        if (rc == 1) {
            rc = push_worker(ctx, sysid, waldir, dir);
            ctx->exit_map = NULL;
            free(waldir);
            free(dir);
            /* the child's part ends the process through the ordinary exit */
            return rc < 0 ? rc : 2;
        }
    }
    int64_t start = dr_mono_ns();
    while (rc >= 0 && got == 0 && dr_mono_ns() - start < WORKER_WAIT_NS && !dr_interrupted()) {
        bool busy = dr_wal_spool_busy(dir);
        got = dr_wal_spool_pushed(dir, name);
        if (!got && !busy) {
            break;
        }
        if (!got) {
            dr_sleep_ms(10);
        }
    }
    free(waldir);
    free(dir);
    if (rc < 0) {
        return rc;
    }
    if (got > 0) {
        dr_log_debug("%s archived by the spool's worker", name);
        return 0;
    }
    return 1;
}

/* The get worker, in the child: prefetch after name. */
static int get_worker(struct dr_ctx *ctx, uint64_t sysid, const char *dir, const char *after,
                      unsigned n)
{
    int rc = dr_cmd_open(ctx);
    return rc < 0 ? rc : dr_wal_prefetch(ctx->r, sysid, dir, after, n);
}

/* Starts a get worker prefetching after name, unless one runs: 1 in the child (its part is
 * done when this returns; rc in *child_rc), 0 in the caller. */
static int start_prefetch(struct dr_ctx *ctx, uint64_t sysid, const char *dir, const char *after,
                          unsigned n, int *child_rc)
{
    int lockfd = -1;
    int rc = dr_wal_spool_lock(dir, &lockfd);
    if (rc <= 0) {
        return rc;
    }
    /* the last worker's plan goes first: a command must not wait on it for this worker */
    dr_wal_spool_plan_clear(dir);
    rc = spawn_worker(dir, lockfd);
    if (rc == 1) {
        *child_rc = get_worker(ctx, sysid, dir, after, n);
    }
    return rc;
}

/* Starts a prefetch after name when the spool is given, name is a segment and no worker runs:
 * 1 in the worker child, whose part is then done (*child_rc), 0 in the caller. Prefetching is
 * an accelerator: a failure to start it is a warning. */
static int prefetch_after(struct dr_ctx *ctx, uint64_t sysid, const char *spool, const char *name,
                          unsigned n, int *child_rc)
{
    struct dr_wal_file f;
    char *dir = NULL;
    int rc = dr_wal_file_parse(name, &f);
    if (rc < 0 || f.kind != DR_WAL_SEGMENT) {
        dr_error_clear();
        return 0;
    }
    rc = dr_wal_spool_dir(spool, sysid, "get", &dir);
    rc = rc < 0 ? rc : start_prefetch(ctx, sysid, dir, name, n, child_rc);
    free(dir);
    if (rc < 0) {
        dr_log_warn("WAL prefetching not started: %s", dr_error_msg());
        dr_error_clear();
        return 0;
    }
    return rc;
}

/* wal get with --spool: 1 taken from the spool, 0 the caller fetches it, 2 this is the worker
 * child and its part is done (*child_rc). */
static int get_spooled(struct dr_ctx *ctx, uint64_t sysid, const char *name, const char *dest,
                       const char *spool, unsigned n, int *child_rc)
{
    char *dir = NULL;
    int rc = dr_wal_spool_dir(spool, sysid, "get", &dir);
    if (rc < 0) {
        return rc;
    }
    /* a worker at work on it: wait for the file (the plan is written once the worker has listed
     * the archive) */
    struct dr_wal_plan p;
    int64_t start = dr_mono_ns();
    int took = 0;
    for (;;) {
        took = dr_wal_spool_take(dir, name, dest);
        bool busy = took == 0 && dr_wal_spool_busy(dir);
        rc = took < 0 ? took : dr_wal_spool_plan(dir, name, &p);
        if (took || rc < 0 || !busy || (p.has && !p.planned) ||
            dr_mono_ns() - start > WORKER_WAIT_NS || dr_interrupted()) {
            break;
        }
        dr_sleep_ms(10);
    }
    free(dir);
    if (rc < 0 || took <= 0) {
        return rc < 0 ? rc : 0;
    }
    /* keep the worker ahead of recovery: a new one when half of the plan is used */
    if (p.has && !p.end && p.last[0] && p.queued <= n / 2) {
        return prefetch_after(ctx, sysid, spool, p.last, n, child_rc) == 1 ? 2 : 1;
    }
    return 1;
}

/* DR_ENOENT, with its message, when the key-free probe (dr_wal_archived) finds WAL file name not
 * archived in a repository that is there; else 0, also when the probe cannot tell (the open and
 * the fetch then say why). Exit 1 is for a missing file, never for a wrong location. */
static int probe_missing(struct dr_ctx *ctx, uint64_t sysid, const char *name)
{
    const char *loc = dr_cmd_repo_location(ctx);
    struct dr_backend *b = NULL;
    uint64_t size;
    int rc = DR_EIO; /* cannot tell */
    if (loc && *loc && dr_backend_open(loc, &b) >= 0 &&
        dr_backend_stat(b, DR_OBJ_CONFIG, &size) >= 0) {
        rc = dr_wal_archived(b, sysid, name);
    }
    if (b) {
        dr_backend_close(b);
    }
    if (rc != DR_ENOENT) {
        dr_error_clear();
        return 0;
    }
    return rc;
}

static int wal_get(struct dr_ctx *ctx, uint64_t sysid, const char *name, const char *dest,
                   const char *spool, unsigned n)
{
    int rc = 0, child_rc = 0;
    if (spool) {
        rc = get_spooled(ctx, sysid, name, dest, spool, n, &child_rc);
        if (rc == 2) {
            ctx->exit_map = NULL;
            return child_rc;
        }
        if (rc != 0) {
            return rc < 0 ? rc : 0;
        }
    }
    rc = probe_missing(ctx, sysid, name);
    if (rc < 0) {
        return rc;
    }
    /* this one is fetched here while a worker fetches the next ones */
    if (spool && prefetch_after(ctx, sysid, spool, name, n, &child_rc) == 1) {
        ctx->exit_map = NULL;
        return child_rc;
    }
    rc = dr_cmd_open(ctx);
    if (rc == DR_ENOENT) {
        /* exit 1 of wal get means "not archived", the end of the archive for PostgreSQL: a
         * missing repository is another error, which must stop recovery */
        rc = DR_EIO;
    }
    return rc < 0 ? rc : dr_wal_get(ctx->r, sysid, name, dest);
}

static int wal_push(struct dr_ctx *ctx, uint64_t sysid, const char *path, const char *spool)
{
    int rc = spool ? push_spooled(ctx, sysid, path, spool) : 1;
    if (rc == 2) {
        return 0; /* the worker's part */
    }
    if (rc != 1) {
        return rc;
    }
    /* a shared lock: pushes run beside snapshots and each other, never under forget's or
     * prune's exclusive lock (the push fails, and PostgreSQL retries it) */
    rc = dr_cmd_open(ctx);
    rc = rc < 0 ? rc : dr_cmd_lock(ctx, 0);
    enum dr_wal_pushed how = DR_WAL_STORED;
    rc = rc < 0 ? rc : dr_wal_push(ctx->r, sysid, path, &how);
    if (rc >= 0 && how == DR_WAL_ALREADY) {
        dr_log_info("%s was already archived with the same content", path);
    }
    return rc;
}

int dr_cmd_wal(struct dr_ctx *ctx, int argc, char **argv)
{
    const char *datadir = NULL, *given = NULL, *spool = NULL, *arg;
    unsigned prefetch = 8;
    bool prefetch_given = false;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        if (c == 'D') {
            datadir = arg;
        } else if (c == 's') {
            spool = arg;
        } else if (c == 'n') {
            uint64_t v;
            if (dr_parse_u64(arg, &v) < 0 || v < 1 || v > 256) {
                return dr_cmd_usage(ctx, "--prefetch '%s' is not a number from 1 to 256", arg);
            }
            prefetch = (unsigned)v;
            prefetch_given = true;
        } else {
            given = arg;
        }
    }
    if (argc < 1) {
        return dr_cmd_usage(ctx, "wal needs a subcommand: push, get or list");
    }
    const char *sub = argv[0];
    int want = !strcmp(sub, "push") ? 1 : !strcmp(sub, "get") ? 2 : !strcmp(sub, "list") ? 0 : -1;
    if (want < 0) {
        return dr_cmd_usage(ctx, "unknown wal subcommand '%s' (push, get, list)", sub);
    }
    if (argc - 1 != want) {
        return dr_cmd_usage(ctx, "'wal %s' takes %s", sub,
                            want == 1   ? "one path (%p)"
                            : want == 2 ? "a WAL file name and a path (%f %p)"
                                        : "no arguments");
    }
    if (spool && !want) {
        return dr_cmd_usage(ctx, "--spool is for wal push and wal get");
    }
    if (prefetch_given && (want != 2 || !spool)) {
        return dr_cmd_usage(ctx, "--prefetch is for wal get with --spool");
    }
    if (want == 2) {
        ctx->exit_map = get_exit;
    }
    uint64_t sysid = 0;
    int rc = 0;
    if (want || given) {
        rc = sysid_opt(datadir, given, &sysid);
    }
    if (rc >= 0 && want == 1) {
        return wal_push(ctx, sysid, argv[1], spool);
    }
    if (want == 2) {
        if (rc == DR_ENOENT) {
            rc = DR_EIO; /* no pg_control: not "not archived" (wal_get) */
        }
        return rc < 0 ? rc : wal_get(ctx, sysid, argv[1], argv[2], spool, prefetch);
    }
    rc = rc < 0 ? rc : dr_cmd_open(ctx);
    struct dr_wal_archive *a = NULL;
    size_t n = 0;
    rc = rc < 0 ? rc : dr_wal_list(ctx->r, sysid, &a, &n);
    /* the window needs the base backups: their ends and WAL positions */
    struct dr_snap_entry *snaps = NULL;
    size_t ns = 0;
    struct dr_wal_window *win = dr_xcalloc(n + 1, sizeof(*win));
    if (rc >= 0 && n) {
        rc = dr_repo_snapshot_list(ctx->r, &snaps, &ns, NULL);
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = dr_wal_window(ctx->r, &a[i], snaps, ns, &win[i]);
    }
    if (rc >= 0 && ctx->json) {
        rc = list_json(a, win, n);
    } else if (rc >= 0) {
        print_list(a, win, n);
    }
    free(win);
    dr_snap_list_free(snaps, ns);
    dr_wal_archives_free(a, n);
    return rc;
}
