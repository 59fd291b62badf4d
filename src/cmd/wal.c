/* wal.c: `drrepo wal push|get|list`: PostgreSQL's archive_command and restore_command, and the
 * archived WAL per cluster (src/wal/, docs/SOURCES.md "Continuous archiving").
 *
 * The cluster is the system identifier of the data directory the command runs in (PostgreSQL
 * runs both commands there), or of --pg-data, or --system-id as given. */
#include "cmd_int.h"

#include <inttypes.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "drrepo/wal.h"

const struct dr_opt dr_cmd_wal_opts[] = {
    {"pg-data", 0, 'D', "DIR", "the cluster is the one of data directory DIR (default: .)", 0,
     NULL},
    {"system-id", 0, 'S', "ID", "the cluster of system identifier ID (decimal, as pg_controldata)",
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

int dr_cmd_wal(struct dr_ctx *ctx, int argc, char **argv)
{
    const char *datadir = NULL, *given = NULL, *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        if (c == 'D') {
            datadir = arg;
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
    if (want == 2) {
        ctx->exit_map = get_exit;
    }
    uint64_t sysid = 0;
    int rc = 0;
    if (want || given) {
        rc = sysid_opt(datadir, given, &sysid);
    }
    if (rc >= 0 && want == 1) {
        /* a shared lock: pushes run beside snapshots and each other, never under forget's or
         * prune's exclusive lock (the push fails, and PostgreSQL retries it) */
        rc = dr_cmd_open(ctx);
        rc = rc < 0 ? rc : dr_cmd_lock(ctx, 0);
        enum dr_wal_pushed how = DR_WAL_STORED;
        rc = rc < 0 ? rc : dr_wal_push(ctx->r, sysid, argv[1], &how);
        if (rc >= 0 && how == DR_WAL_ALREADY) {
            dr_log_info("%s was already archived with the same content", argv[1]);
        }
        return rc;
    }
    rc = rc < 0 ? rc : dr_cmd_open(ctx);
    if (rc == DR_ENOENT && want == 2) {
        /* exit 1 of wal get means "not archived", the end of the archive for PostgreSQL: a
         * missing pg_control (a wrong --pg-data) is another error, which must stop recovery */
        rc = DR_EIO;
    }
    if (rc >= 0 && want == 2) {
        return dr_wal_get(ctx->r, sysid, argv[1], argv[2]);
    }
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
