/* snapshot.c: `drrepo snapshot` of paths, stdin or a command's output. */
#include "cmd_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"
#include "drrepo/source.h"
#include "drrepo/util.h"

struct strv {
    char **v;
    size_t n, alloc;
};

static void strv_push(struct strv *s, char *str)
{
    DR_GROW(s->v, s->alloc, s->n + 1);
    s->v[s->n++] = str;
}

static void strv_clear(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i]);
    }
    free(s->v);
}

/* How a list file is read. LIST_LINES (--exclude-file, --files-from): a line less its trailing
 * blanks and carriage return, blank lines and lines starting with '#' skipped. LIST_VERBATIM
 * (--files-from-verbatim): every non-empty line as it is. LIST_RAW (--files-from-raw): names
 * that each end with a NUL byte, as find -print0 writes them; a list whose last name has no NUL
 * was cut short, and is refused rather than backed up in part (restic does the same). */
enum list_kind { LIST_LINES, LIST_VERBATIM, LIST_RAW };

/* Appends the entries of the list file path to out. A list of paths (paths) may be '-',
 * standard input, and be larger: a million paths is some 100 MB. Errors: those of
 * dr_fs_read_file, and DR_EUSAGE for a list of paths that is not of its kind. */
static int read_list(const char *path, enum list_kind kind, bool paths, struct strv *out)
{
    struct dr_buf b = DR_BUF_INIT(paths ? DR_BUF_MAX_DEFAULT : 64u << 20);
    int rc = paths && strcmp(path, "-") == 0 ? dr_fs_read_fd(STDIN_FILENO, "standard input", &b)
                                             : dr_fs_read_file(path, &b);
    if (rc >= 0 && paths && kind != LIST_RAW && memchr(b.buf, '\0', b.len)) {
        /* a text list would be cut at the NUL without a word: it is a raw list */
        rc = dr_errorf(DR_EUSAGE,
                       "'%s' holds a NUL byte (a list of names ending with NUL is "
                       "--files-from-raw)",
                       path);
    }
    if (rc >= 0 && kind == LIST_RAW) {
        for (size_t at = 0; at < b.len && rc >= 0;) {
            const char *nul = memchr(b.buf + at, '\0', b.len - at);
            if (!nul) {
                rc = dr_errorf(DR_EUSAGE,
                               "'%s': the last name does not end with a NUL byte "
                               "(the list was cut short?)",
                               path);
            } else if (nul == b.buf + at) {
                rc = dr_errorf(DR_EUSAGE, "'%s': an empty name at byte %zu", path, at);
            } else {
                strv_push(out, dr_xstrdup(b.buf + at));
                at = (size_t)(nul - b.buf) + 1;
            }
        }
    } else if (rc >= 0) {
        char *save = NULL;
        for (char *line = strtok_r(b.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            size_t n = strlen(line);
            while (kind == LIST_LINES && n &&
                   (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r')) {
                line[--n] = '\0';
            }
            if (n && (kind == LIST_VERBATIM || line[0] != '#')) {
                strv_push(out, dr_xstrdup(line));
            }
        }
    }
    dr_buf_release(&b);
    return rc;
}

/* --files-from and its variants: a list that cannot be read, or is not of its kind, is a bad
 * command line (exit 2), as a path given that does not exist is. */
static int read_files_from(struct dr_ctx *ctx, const char *opt, const char *path,
                           enum list_kind kind, struct strv *out)
{
    int rc = read_list(path, kind, true, out);
    return rc < 0 ? dr_cmd_usage(ctx, "%s: %s", opt, dr_error_msg()) : 0;
}

/* --exclude-if-present NAME[:HEADER]: the name up to the first ':' (as restic splits it, so
 * that CACHEDIR.TAG:Signature: 8a47... keeps the colon of its header). m points into arg. */
static int parse_marker(struct dr_ctx *ctx, const char *arg, struct dr_exclude_marker *m,
                        char **name)
{
    const char *colon = strchr(arg, ':');
    size_t nlen = colon ? (size_t)(colon - arg) : strlen(arg);
    if (!dr_name_valid(arg, nlen)) {
        return dr_cmd_usage(ctx, "--exclude-if-present takes a file name, not '%s'", arg);
    }
    *name = dr_xstrndup(arg, nlen);
    *m = (struct dr_exclude_marker){
        .name = *name,
        .header = colon ? colon + 1 : NULL,
        .header_len = colon ? strlen(colon + 1) : 0,
    };
    return 0;
}

/* --warn-size-change: compares the snapshot's logical size with its parent's (the metrics'
 * parent_size), warns on stderr when they differ by more than pct percent and returns whether
 * it did. A snapshot without a parent, or whose parent was empty, has nothing to compare. */
static bool size_change_warns(struct dr_ctx *ctx, const struct dr_snapshot *s, double pct)
{
    const struct dr_cmd_metrics *cm = &ctx->metrics;
    if (!cm->has_parent || cm->parent_size == 0) {
        return false;
    }
    double now = (double)s->summary.bytes_total, before = (double)cm->parent_size;
    double change = (now - before) / before * 100.0;
    if (fabs(change) <= pct) {
        return false;
    }
    char a[32], b[32], pid[9];
    dr_size_format(cm->parent_size, a, sizeof(a));
    dr_size_format(s->summary.bytes_total, b, sizeof(b));
    dr_short_id(&s->parent, pid);
    fprintf(stderr,
            "drrepo: warning: the snapshot's size changed by %+.1f%% against its parent %s: "
            "%s (%llu bytes) then, %s (%llu bytes) now; more than --warn-size-change %g%%\n",
            change, pid, a, (unsigned long long)cm->parent_size, b,
            (unsigned long long)s->summary.bytes_total, pct);
    return true;
}

/* The result of a snapshot, or of a dry run (dry: no id, nothing was written). */
static int print_result(struct dr_ctx *ctx, const struct dr_id *id, const struct dr_snapshot *s,
                        bool dry)
{
    char hex[DR_ID_HEX_LEN + 1], when[32];
    dr_id_hex(id, hex);
    dr_time_format(s->time_ns, when, sizeof(when));
    const struct dr_snap_summary *m = &s->summary;
    if (ctx->json) {
        struct dr_buf j = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        char phex[DR_ID_HEX_LEN + 1];
        struct dr_json w;
        dr_json_init(&w, &j);
        dr_json_begin_object(&w);
        if (!dry) {
            dr_cmd_json_ids(&w, id);
            /* the name before ids were "id" everywhere: documented, and scripts read it */
            dr_json_kstring(&w, "snapshot_id", hex);
        }
        dr_json_kbool(&w, "dry_run", dry);
        dr_json_kstring(&w, "time", when);
        dr_json_kname(&w, "host", s->host);
        dr_json_knames(&w, "paths", (const char *const *)s->paths, s->npaths);
        dr_json_knames(&w, "tags", (const char *const *)s->tags, s->ntags);
        dr_json_kstring(&w, "parent", s->has_parent ? dr_id_hex(&s->parent, phex) : NULL);
        dr_json_ku64(&w, "files_new", m->files_new);
        dr_json_ku64(&w, "files_changed", m->files_changed);
        dr_json_ku64(&w, "files_unchanged", m->files_unchanged);
        dr_json_ku64(&w, "dirs", m->dirs);
        dr_json_ku64(&w, "bytes_read", m->bytes_read);
        dr_json_ku64(&w, "bytes_total", m->bytes_total);
        dr_json_ku64(&w, "bytes_added", m->bytes_added);
        dr_json_ku64(&w, "blobs_added", m->blobs_added);
        dr_json_ku64(&w, "errors", m->errors);
        dr_json_kfixed(&w, "duration_seconds", (double)m->duration_ns / 1e9, 3);
        /* --warn-size-change's inputs: the parent's size (null: none, or not readable) and
         * whether it warned (null: not asked) */
        dr_json_key(&w, "parent_bytes_total");
        if (ctx->metrics.has_parent) {
            dr_json_u64(&w, ctx->metrics.parent_size);
        } else {
            dr_json_null(&w);
        }
        dr_json_key(&w, "size_change_warning");
        if (ctx->metrics.size_warning >= 0) {
            dr_json_bool(&w, ctx->metrics.size_warning == 1);
        } else {
            dr_json_null(&w);
        }
        dr_json_end_object(&w);
        return dr_cmd_json_emit(&w, stdout);
    }
    if (ctx->quiet) {
        return 0;
    }
    char read[32], added[32], total[32];
    dr_size_format(m->bytes_read, read, sizeof(read));
    dr_size_format(m->bytes_added, added, sizeof(added));
    dr_size_format(m->bytes_total, total, sizeof(total));
    printf("files: %llu new, %llu changed, %llu unchanged; %llu dirs\n",
           (unsigned long long)m->files_new, (unsigned long long)m->files_changed,
           (unsigned long long)m->files_unchanged, (unsigned long long)m->dirs);
    printf("data: %s total, %s read, %s %s the repository (after dedup and compression)\n", total,
           read, added, dry ? "would be added to" : "added to");
    if (dry) {
        printf("dry run: %llu new blobs would be added; nothing was written (%.1fs)\n",
               (unsigned long long)m->blobs_added, (double)m->duration_ns / 1e9);
    } else {
        printf("snapshot %.8s saved in %.1fs\n", hex, (double)m->duration_ns / 1e9);
    }
    return 0;
}

/* The ids of the options below (the letters of the short forms serve the others): named, so
 * that a new option cannot take an id in use, which the switch over them would not notice when
 * it is handled elsewhere. */
enum {
    O_STDIN = 1,
    O_FROM_COMMAND,
    O_STDIN_NAME,
    O_EXCLUDE_FILE,
    O_ALLOW_EMPTY,
    O_REDIS,
    O_PG,
    O_RDB_RECORDS,
    O_NO_RDB_RECORDS,
    O_WARN_SIZE_CHANGE,
    O_FAIL_ON_SIZE_CHANGE,
    O_IEXCLUDE,
    O_REDIS_PASSWORD_FILE,
    O_EXCLUDE_IF_PRESENT,
    O_EXCLUDE_LARGER_THAN,
    O_FILES_FROM,
    O_FILES_FROM_VERBATIM,
    O_FILES_FROM_RAW,
    O_DRY_RUN,
};

const struct dr_opt dr_cmd_snapshot_opts[] = {
    {"exclude", 'e', 'e', "PATTERN", "leave out paths that match PATTERN", DR_OPT_REPEAT, NULL},
    {"exclude-file", 0, O_EXCLUDE_FILE, "FILE", "exclude the patterns of FILE, one a line",
     DR_OPT_REPEAT, NULL},
    {"iexclude", 0, O_IEXCLUDE, "PATTERN", "as --exclude, with letters matching either case",
     DR_OPT_REPEAT, NULL},
    {"exclude-if-present", 0, O_EXCLUDE_IF_PRESENT, "NAME",
     "leave out directories holding NAME (NAME:HEADER: starting with HEADER)", DR_OPT_REPEAT, NULL},
    {"exclude-larger-than", 0, O_EXCLUDE_LARGER_THAN, "SIZE",
     "leave out files larger than SIZE (K, M, G, T)", 0, NULL},
    {"files-from", 0, O_FILES_FROM, "FILE",
     "also save the paths FILE lists, one a line ('-': stdin)", DR_OPT_REPEAT, NULL},
    {"files-from-verbatim", 0, O_FILES_FROM_VERBATIM, "FILE",
     "as --files-from, every line a path (no comments)", DR_OPT_REPEAT, NULL},
    {"files-from-raw", 0, O_FILES_FROM_RAW, "FILE",
     "as --files-from, each path ending with a NUL byte", DR_OPT_REPEAT, NULL},
    {"one-file-system", 'x', 'x', NULL, "do not cross mount points", 0, NULL},
    {"tag", 't', 't', "TAG", "tag the snapshot with TAG", DR_OPT_REPEAT, NULL},
    {"host", 'H', 'H', "HOST", "record HOST instead of this machine's name", 0, NULL},
    {"stdin", 0, O_STDIN, NULL, "save standard input as one file (with --stdin-name)", 0, NULL},
    {"from-command", 0, O_FROM_COMMAND, NULL,
     "save the output of the command after '--' as one file", 0, NULL},
    {"stdin-name", 0, O_STDIN_NAME, "NAME", "the file name of --stdin or --from-command", 0, NULL},
    {"redis", 0, O_REDIS, "URL", "save a Redis server's RDB (redis://[user:password@]host:port)", 0,
     NULL},
    {"redis-password-file", 0, O_REDIS_PASSWORD_FILE, "FILE",
     "the Redis password is FILE's first line (or DRREPO_REDIS_PASSWORD, REDISCLI_AUTH)", 0, NULL},
    {"pg", 0, O_PG, "CONNINFO", "save a PostgreSQL cluster as a physical base backup", 0, NULL},
    {"allow-empty", 0, O_ALLOW_EMPTY, NULL, "accept a stream of zero bytes", 0, NULL},
    {"no-rdb-records", 0, O_NO_RDB_RECORDS, NULL, "store Redis RDB files as plain chunks", 0, NULL},
    {"rdb-records", 0, O_RDB_RECORDS, NULL, "store RDB files by their key records (the default)", 0,
     NULL},
    {"warn-size-change", 0, O_WARN_SIZE_CHANGE, "PCT",
     "warn when the size differs from the parent's by more than PCT percent", 0, NULL},
    {"fail-on-size-change", 0, O_FAIL_ON_SIZE_CHANGE, NULL,
     "exit 3 on that warning (the snapshot is still saved)", 0, NULL},
    {"dry-run", 'n', O_DRY_RUN, NULL, "read and chunk, say what would be added, write nothing", 0,
     NULL},
    DR_METRICS_FILE_OPT,
    {0},
};

/* The Redis password when the URL has none: --redis-password-file, else DRREPO_REDIS_PASSWORD,
 * else REDISCLI_AUTH (redis-cli's); NULL when none is given. Never on the command line, where
 * every user of the host could read it for the whole run. */
static int redis_password(const char *file, char **out)
{
    *out = NULL;
    if (file) {
        return dr_cmd_read_secret(file, "redis password file", out);
    }
    const char *env = getenv("DRREPO_REDIS_PASSWORD");
    if (!env || !*env) {
        env = getenv("REDISCLI_AUTH");
    }
    if (env && *env) {
        *out = dr_xstrdup(env);
    }
    return 0;
}

/* A source that refused our credentials exits 14, not 12 (a wrong repository password):
 * docs/exit-codes.md. */
static int source_auth_exit(int rc, int code)
{
    return rc == DR_EAUTH ? 14 : code;
}

int dr_cmd_snapshot(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_backup_opts o = {.rdb_records = true};
    struct dr_source_files_opts fo = {0};
    bool allow_empty = false;
    struct dr_source *owned = NULL;
    const struct dr_source *src = NULL;
    struct strv excl = {0}, iexcl = {0}, tags = {0}, paths = {0}, marker_names = {0};
    struct dr_exclude_marker *markers = NULL;
    size_t nmarkers = 0, amarkers = 0;
    /* the --files-from lists, read once the command line is known to be good: '-' must not
     * take standard input from --stdin */
    struct list_arg {
        const char *opt, *path;
        enum list_kind kind;
    } *lists = NULL;
    size_t nlists = 0, alists = 0, nstdin = 0;
    bool use_stdin = false, from_cmd = false;
    const char *name = NULL, *redis_url = NULL, *pg_conninfo = NULL, *redis_pw_file = NULL;
    char *redis_pw = NULL;
    struct dr_redis_source *redis = NULL;
    double warn_pct = -1;
    bool fail_on_change = false;
    struct dr_pg_source *pg = NULL;
    const char *arg;
    int c, rc = 0;
    while (rc >= 0 && (c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case O_STDIN: use_stdin = true; break;
        case O_FROM_COMMAND: from_cmd = true; break;
        case O_STDIN_NAME: name = arg; break;
        case 'e': strv_push(&excl, dr_xstrdup(arg)); break;
        case O_EXCLUDE_FILE:
            /* an exclude file that cannot be read is a bad command line, as a list of paths */
            rc = read_list(arg, LIST_LINES, false, &excl);
            rc = rc < 0 ? dr_cmd_usage(ctx, "--exclude-file: %s", dr_error_msg()) : 0;
            break;
        case O_IEXCLUDE: strv_push(&iexcl, dr_xstrdup(arg)); break;
        case O_EXCLUDE_IF_PRESENT: {
            char *mname = NULL;
            DR_GROW(markers, amarkers, nmarkers + 1);
            rc = parse_marker(ctx, arg, &markers[nmarkers], &mname);
            if (rc >= 0) {
                strv_push(&marker_names, mname);
                nmarkers++;
            }
            break;
        }
        case O_EXCLUDE_LARGER_THAN:
            fo.exclude_larger = true;
            rc = dr_parse_size(arg, &fo.larger_than) < 0
                     ? dr_cmd_usage(
                           ctx, "--exclude-larger-than takes a size such as 500M, not '%s'", arg)
                     : 0;
            break;
        case O_FILES_FROM:
        case O_FILES_FROM_VERBATIM:
        case O_FILES_FROM_RAW:
            DR_GROW(lists, alists, nlists + 1);
            lists[nlists++] = (struct list_arg){
                c == O_FILES_FROM            ? "--files-from"
                : c == O_FILES_FROM_VERBATIM ? "--files-from-verbatim"
                                             : "--files-from-raw",
                arg,
                c == O_FILES_FROM            ? LIST_LINES
                : c == O_FILES_FROM_VERBATIM ? LIST_VERBATIM
                                             : LIST_RAW,
            };
            nstdin += strcmp(arg, "-") == 0;
            break;
        case 'x': fo.one_file_system = true; break;
        case 't': strv_push(&tags, dr_xstrdup(arg)); break;
        case 'H': o.host = arg; break;
        case O_ALLOW_EMPTY: allow_empty = true; break;
        case O_RDB_RECORDS: o.rdb_records = true; break;
        case O_NO_RDB_RECORDS: o.rdb_records = false; break;
        case O_REDIS: redis_url = arg; break;
        case O_REDIS_PASSWORD_FILE: redis_pw_file = arg; break;
        case O_PG: pg_conninfo = arg; break;
        case O_WARN_SIZE_CHANGE: {
            char *end;
            warn_pct = strtod(arg, &end);
            if (end == arg || *end || !(warn_pct >= 0 && warn_pct <= 1e9)) {
                rc = dr_cmd_usage(ctx, "--warn-size-change takes a percentage such as 20, not '%s'",
                                  arg);
            }
            break;
        }
        case O_FAIL_ON_SIZE_CHANGE: fail_on_change = true; break;
        case O_DRY_RUN: o.dry_run = true; break;
        default: DR_BUG("snapshot: an option of the table is not handled");
        }
    }
    char **rest = argv;
    int nrest = argc;
    int nsources = use_stdin + from_cmd + (redis_url != NULL) + (pg_conninfo != NULL);
    if (rc >= 0 && nsources > 1) {
        rc = dr_cmd_usage(ctx, "--stdin, --from-command, --redis and --pg cannot be combined");
    }
    if (rc >= 0 && nlists && nsources) {
        rc = dr_cmd_usage(ctx, "%s lists paths: it cannot be combined with --%s", lists[0].opt,
                          use_stdin   ? "stdin"
                          : from_cmd  ? "from-command"
                          : redis_url ? "redis"
                                      : "pg");
    }
    if (rc >= 0 && nstdin > 1) {
        rc = dr_cmd_usage(ctx, "standard input ('-') can be the list of one --files-from only");
    }
    for (size_t i = 0; i < nlists && rc >= 0; i++) {
        rc = read_files_from(ctx, lists[i].opt, lists[i].path, lists[i].kind, &paths);
    }
    if (rc >= 0 && (redis_url || pg_conninfo)) {
        if (nrest) {
            rc = dr_cmd_usage(ctx, "no paths are taken with --%s", redis_url ? "redis" : "pg");
        }
    } else if (rc >= 0 && (use_stdin || from_cmd)) {
        if (!name) {
            rc = dr_cmd_usage(ctx, "--stdin-name NAME is required with --%s",
                              use_stdin ? "stdin" : "from-command");
        } else if (!dr_name_valid(name, strlen(name))) {
            rc = dr_cmd_usage(ctx, "--stdin-name '%s' must be a plain file name", name);
        } else if (use_stdin && nrest) {
            rc = dr_cmd_usage(ctx, "no paths are taken with --stdin");
        } else if (from_cmd && nrest == 0) {
            rc = dr_cmd_usage(ctx, "--from-command needs a command after '--'");
        }
    } else if (rc >= 0 && nrest == 0 && paths.n == 0) {
        rc = nlists
                 ? dr_cmd_usage(ctx, "nothing to snapshot: the %s lists name no path", lists[0].opt)
                 : dr_cmd_usage(ctx, "nothing to snapshot: give paths, --stdin or --from-command");
    }
    if (rc >= 0 && redis_pw_file && !redis_url) {
        rc = dr_cmd_usage(ctx, "--redis-password-file is for --redis");
    }
    if (rc >= 0 && fail_on_change && warn_pct < 0) {
        rc = dr_cmd_usage(ctx, "--fail-on-size-change needs --warn-size-change PCT");
    }
    /* the metrics' labels, known before anything can fail */
    snprintf(ctx->metrics.source, sizeof(ctx->metrics.source), "%s",
             from_cmd      ? "command"
             : use_stdin   ? "stdin"
             : redis_url   ? "redis"
             : pg_conninfo ? "postgresql"
                           : "files");
    if (o.host) {
        snprintf(ctx->metrics.host, sizeof(ctx->metrics.host), "%s", o.host);
    }
    if (rc >= 0 && use_stdin && isatty(STDIN_FILENO)) {
        rc = dr_cmd_usage(ctx, "--stdin reads from a pipe or file, not from a terminal");
    }
    if (rc < 0) {
        goto out;
    }
    fo.excludes = excl.v;
    fo.nexcludes = excl.n;
    fo.iexcludes = iexcl.v;
    fo.niexcludes = iexcl.n;
    fo.markers = markers;
    fo.nmarkers = nmarkers;
    if (from_cmd) {
        owned = dr_source_command_new(rest, name, allow_empty); /* argv is NULL-terminated */
    } else if (use_stdin) {
        owned = dr_source_stdin_new(STDIN_FILENO, name, allow_empty);
    } else if (!redis_url && !pg_conninfo) {
        /* the paths given and those the lists name, as one set (the source sorts them and
         * drops repeats) */
        for (int i = 0; i < nrest; i++) {
            strv_push(&paths, dr_xstrdup(rest[i]));
        }
        fo.paths = paths.v;
        fo.npaths = paths.n;
        owned = dr_source_files_new(&fo);
    }
    src = owned;
    o.tags = tags.v;
    o.ntags = tags.n;
    if (ctx->progress) {
        o.progress = dr_cmd_progress;
        o.progress_arg = "snapshot";
    }
    ctx->dry_run = o.dry_run;
    rc = dr_cmd_open(ctx);
    if (rc < 0) {
        goto out;
    }
    /* connect only once the repository is open and locked: a server's replication slot or
     * snapshot should not be held while we wait for a password */
    if (redis_url) {
        rc = redis_password(redis_pw_file, &redis_pw);
        rc = rc < 0 ? rc : dr_source_redis_open(redis_url, redis_pw, allow_empty, &redis, &src);
    } else if (pg_conninfo) {
        rc = dr_source_pg_open(pg_conninfo, &pg, &src);
    }
    if (rc == DR_EAUTH) {
        /* the repository opened: it is the source's credentials that were refused */
        ctx->exit_map = source_auth_exit;
    }
    if (rc < 0) {
        goto out;
    }
    struct dr_id id;
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    rc = dr_backup_run(ctx->r, src, &o, &id, &s);
    bool size_warned = false;
    if (rc >= 0 || rc == DR_EPARTIAL) {
        struct dr_cmd_metrics *cm = &ctx->metrics;
        cm->snapshot = !o.dry_run; /* a dry run saved no snapshot to report */
        cm->sum = s.summary;
        snprintf(cm->host, sizeof(cm->host), "%s", s.host ? s.host : "");
        snprintf(cm->source, sizeof(cm->source), "%s", s.source ? s.source : "");
        if (s.has_parent) {
            struct dr_snapshot ps;
            dr_snapshot_init(&ps);
            struct dr_error_saved saved = {0};
            dr_error_save(&saved, rc);
            /* the parent's size is for the report: a parent that cannot be read has none */
            if (dr_repo_snapshot_load(ctx->r, &s.parent, &ps) >= 0) {
                cm->has_parent = true;
                cm->parent_size = ps.summary.bytes_total;
            }
            if (rc < 0) {
                (void)dr_error_restore(&saved);
            } else {
                dr_error_clear();
            }
            dr_error_saved_release(&saved);
            dr_snapshot_release(&ps);
        }
        if (warn_pct >= 0) {
            size_warned = size_change_warns(ctx, &s, warn_pct);
            cm->size_warning = size_warned;
        }
        /* the partial snapshot's message outlives printing the result */
        struct dr_error_saved partial = {0};
        dr_error_save(&partial, rc);
        int prc = print_result(ctx, &id, &s, o.dry_run);
        rc = rc == DR_EPARTIAL ? dr_error_restore(&partial) : prc;
        dr_error_saved_release(&partial);
    }
    if (rc >= 0 && size_warned && fail_on_change) {
        rc = dr_errorf(DR_EPARTIAL,
                       "the snapshot's size changed by more than %g%% "
                       "(--fail-on-size-change); the snapshot was saved",
                       warn_pct);
    }
    dr_snapshot_release(&s);
out:
    dr_cmd_free_password(redis_pw);
    dr_source_redis_close(redis);
    dr_source_pg_close(pg);
    dr_source_free(owned);
    strv_clear(&excl);
    strv_clear(&iexcl);
    strv_clear(&tags);
    strv_clear(&paths);
    strv_clear(&marker_names);
    free(markers);
    free(lists);
    return rc;
}
