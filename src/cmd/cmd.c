/* cmd.c: the table of subcommands and the top-level control flow (git's run_builtin with
 * pgBackRest's exit-code-from-error): parse the command line (opt.c: global options, the
 * command, its options), run it, check stdout, print the recorded error once and map it to the
 * exit code of docs/exit-codes.md. `--help` of the program and of each command is printed from
 * the same tables the parser reads. */
#include "cmd_int.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "drrepo/backend.h"
#include "drrepo/check.h"
#include "drrepo/cli.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/read.h"
#include "drrepo/fault.h"
#include "drrepo/fs.h"
#include "drrepo/index.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

static int cmd_help(struct dr_ctx *ctx, int argc, char **argv);

static const struct dr_cmd commands[] = {
    {"init", "create a repository", dr_cmd_init, 0,
     "init [--chunk-min SIZE --chunk-avg SIZE --chunk-max SIZE] [--chunker gear|toeplitz-aes]\n"
     "init [--pack-size SIZE] [--format-version N]\n"
     "init [--compression LEVEL] [--kdf-memlimit SIZE --kdf-opslimit N [--insecure-kdf]]",
     dr_cmd_init_opts, 0},
    {"snapshot", "save files, stdin or a command's output", dr_cmd_snapshot,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_METRICS,
     "snapshot [options] PATH...\n"
     "snapshot --files-from FILE [options] [PATH...]\n"
     "snapshot --stdin --stdin-name NAME [options]\n"
     "snapshot --from-command --stdin-name NAME [options] -- COMMAND [ARG...]\n"
     "snapshot --redis redis://[user:password@]host:port [options]\n"
     "snapshot --pg CONNINFO [options]",
     dr_cmd_snapshot_opts, -1},
    {"snapshots", "list snapshots", dr_cmd_snapshots, DR_CMD_REPO,
     "snapshots [--host HOST] [--tag TAG] [--path PATH] [--latest N] [--json]",
     dr_cmd_snapshots_opts, 0},
    {"ls", "list files in a snapshot", dr_cmd_ls, DR_CMD_REPO, "ls [--long] SNAP [PATH]",
     dr_cmd_ls_opts, 2},
    {"restore", "restore a snapshot", dr_cmd_restore, DR_CMD_REPO | DR_CMD_LOCK_SHARED,
     "restore SNAP --target DIR [--include PATTERN]... [--exclude PATTERN]... [options]\n"
     "restore [SNAP] --target DIR --pg-time TIME | --pg-lsn LSN | --pg-xid XID | --pg-latest",
     dr_cmd_restore_opts, 1},
    {"dump", "write a file, or a directory as tar, to stdout", dr_cmd_dump,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED, "dump SNAP PATH", dr_cmd_dump_opts, 2},
    {"diff", "show what changed between two snapshots", dr_cmd_diff, DR_CMD_REPO,
     "diff [--host HOST] [--tag TAG] [--path PATH] SNAP1 SNAP2", dr_cmd_diff_opts, 2},
    {"find", "find the snapshots that hold paths matching a pattern", dr_cmd_find, DR_CMD_REPO,
     "find PATTERN... [--host HOST] [--tag TAG] [--path PATH] [SNAP...] [--json]", dr_cmd_find_opts,
     -1},
    {"stats", "show repository sizes and dedup ratio", dr_cmd_stats, DR_CMD_REPO,
     "stats [--host HOST] [--tag TAG] [--path PATH] [SNAP...] [--json]", dr_cmd_stats_opts, -1},
    {"key", "manage passwords (key files)", dr_cmd_key, DR_CMD_REPO | DR_CMD_NO_INDEX,
     "key list\n"
     "key add [--new-password-file FILE]\n"
     "key remove ID\n"
     "key passwd [--new-password-file FILE]",
     dr_cmd_key_opts, 2},
    {"check", "verify the repository's integrity", dr_cmd_check,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_VERIFY_INDEX | DR_CMD_METRICS | DR_CMD_SYNC_LIST,
     "check [options]", dr_cmd_check_opts, 0},
    {"drill", "prove a snapshot restores and works", dr_cmd_drill,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_METRICS,
     "drill [options] SNAP [--restore-command CMD [ARG...]]\n"
     "drill --latest [--host HOST] [--tag TAG] [options] [--restore-command CMD [ARG...]]\n"
     "drill --pg [--pg-time TIME | --pg-lsn LSN | --pg-xid XID | --pg-latest] [options]",
     dr_cmd_drill_opts, 1},
    {"mount", "browse snapshots as a read-only file system", dr_cmd_mount,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED, "mount [options] MOUNTPOINT", dr_cmd_mount_opts, 1},
    {"forget", "remove snapshots, by id or by a keep policy", dr_cmd_forget,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_LOCK_RESERVE | DR_CMD_METRICS,
     "forget [options] SNAP...\n"
     "forget --keep-* N... [--keep-within DURATION] [--keep-tag TAG] [options]",
     dr_cmd_forget_opts, -1},
    {"prune", "reclaim space that no snapshot references", dr_cmd_prune,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_LOCK_RESERVE | DR_CMD_METRICS | DR_CMD_SYNC_LIST,
     "prune [--max-unused PERCENT] [--dry-run] [--json]", dr_cmd_prune_opts, 0},
    {"tag", "add, remove or set the tags of snapshots", dr_cmd_tag,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED,
     "tag [--add TAG[,TAG]]... [--remove TAG[,TAG]]... [--host HOST] [--tag TAG] [--path PATH] "
     "[SNAP...]\n"
     "tag --set TAG[,TAG]... [--host HOST] [--tag TAG] [--path PATH] [SNAP...]",
     dr_cmd_tag_opts, -1},
    {"repair", "rebuild the index, repair damaged snapshots, rewrite damaged copies", dr_cmd_repair,
     DR_CMD_REPO | DR_CMD_NO_INDEX,
     "repair index\n"
     "repair snapshots [--read-data] [--dry-run]\n"
     "repair packs [--dry-run]\n"
     "repair config\n"
     "repair keys",
     dr_cmd_repair_opts, 1},
    {"copy", "copy snapshots into another repository", dr_cmd_copy,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_METRICS,
     "copy [SNAP...] [--host HOST] [--tag TAG] [--path PATH] --to REPO [options]", dr_cmd_copy_opts,
     -1},
    {"metrics", "print Prometheus metrics of every host and source", dr_cmd_metrics, DR_CMD_REPO,
     "metrics", NULL, 0},
    {"wal", "archive PostgreSQL WAL (archive_command, restore_command)", dr_cmd_wal,
     DR_CMD_REPO | DR_CMD_NO_INDEX,
     "wal push [--pg-data DIR] [--system-id ID] [--spool DIR] PATH\n"
     "wal get [--pg-data DIR] [--system-id ID] [--spool DIR [--prefetch N]] NAME PATH\n"
     "wal list [--system-id ID] [--json]",
     dr_cmd_wal_opts, 3},
    {"unlock", "remove locks of processes that are gone", dr_cmd_unlock, 0, "unlock [--remove-all]",
     dr_cmd_unlock_opts, 0},
    {"version", "print the version", dr_cmd_version, 0, "version", NULL, 0},
    {"generate", "write shell completion and man pages", dr_cmd_generate, 0,
     "generate [--bash-completion FILE] [--zsh-completion FILE] [--man DIR]", dr_cmd_generate_opts,
     0},
    {"help", "show the commands, or a command's usage and options", cmd_help, 0, "help [COMMAND]",
     NULL, 1},
};

/* The global options: accepted before and after the command name (restic's habit), read by the
 * same parser as the command's. A new one is a row here and a case in set_global. */
enum {
    G_REPO = DR_OPT_GLOBAL_BASE,
    G_PASSWORD_FILE,
    G_PASSWORD_COMMAND,
    G_CACHE_DIR,
    G_RETRY_LOCK,
    G_READ_CONCURRENCY,
    G_CONNECTIONS,
    G_S3_VIRTUAL_HOST,
    G_JSON,
    G_PROGRESS_JSON,
    G_QUIET,
    G_VERBOSE,
    G_HELP,
    G_VERSION,
};

static const struct dr_opt global_opts[] = {
    {"repo", 'r', G_REPO, "REPO", "the repository (or DRREPO_REPOSITORY)", 0, NULL},
    {"password-file", 0, G_PASSWORD_FILE, "FILE", "read the password from FILE's first line", 0,
     NULL},
    {"password-command", 0, G_PASSWORD_COMMAND, "CMD", "the password is CMD's first output line", 0,
     NULL},
    {"cache-dir", 0, G_CACHE_DIR, "DIR", "where the local index lives (or DRREPO_CACHE_DIR)", 0,
     NULL},
    {"retry-lock", 0, G_RETRY_LOCK, "DURATION",
     "wait up to DURATION (30s, 2h) for a conflicting lock instead of exiting 11", 0, NULL},
    {"read-concurrency", 0, G_READ_CONCURRENCY, "N", "workers of the read engine (1 to 32)", 0,
     NULL},
    {"connections", 0, G_CONNECTIONS, "N",
     "requests to an S3 repository at once (1 to 64, default 5)", 0, NULL},
    {"s3-virtual-host", 0, G_S3_VIRTUAL_HOST, NULL,
     "address S3 buckets as BUCKET.HOST (or DRREPO_S3_VIRTUAL_HOST=1)", 0, NULL},
    {"json", 0, G_JSON, NULL, "machine-readable output on stdout where the command has it", 0,
     NULL},
    {"progress-json", 0, G_PROGRESS_JSON, NULL,
     "progress as JSON lines on stderr (the default with --json when stderr is a terminal)", 0,
     NULL},
    {"quiet", 'q', G_QUIET, NULL, "no progress, no informational output", 0, NULL},
    {"verbose", 'v', G_VERBOSE, NULL, "more detail on stderr; -vv debug, -vvv trace", 0, NULL},
    {"help", 'h', G_HELP, NULL, "show the usage and options (of the command)", 0, NULL},
    {"version", 0, G_VERSION, NULL, "print the version", DR_OPT_HIDDEN, NULL},
    {0},
};

const struct dr_cmd *dr_cmd_table(size_t *n)
{
    *n = DR_ARRAY_LEN(commands);
    return commands;
}

const struct dr_opt *dr_cmd_global_opts(void)
{
    return global_opts;
}

/* The one mapping from error codes to exit codes (docs/exit-codes.md). */
static int exit_code(int rc)
{
    switch (rc) {
    case DR_OK: return 0;
    case DR_EUSAGE: return 2;
    case DR_EPARTIAL: return 3;
    case DR_EDAMAGED: return 4;
    case DR_ENOREPO: return 10;
    case DR_ELOCKED: return 11;
    case DR_EAUTH: return 12;
    case DR_EINDEX: return 13;
    case DR_EINTR: {
        /* 128 + the signal, as a shell reports a process that the signal ended */
        int sig = dr_interrupted();
        return sig ? 128 + sig : 130;
    }
    default: return 1;
    }
}

#define INDEX_HINT                                                                                 \
    "the index is a cache: the next command rebuilds it from the repository (nothing in the "      \
    "repository is affected); 'drrepo repair index' rebuilds it now"

static void put_str(const char *s)
{
    (void)!write(STDERR_FILENO, s, strlen(s));
}

/* The index guard's damage handler (index.h): runs in a signal handler, so it only writes. */
static void index_damaged(const char *dir, const char *what)
{
    put_str("drrepo: error: the local index '");
    put_str(dir);
    put_str("' is damaged (");
    put_str(what);
    put_str(")\nhint: " INDEX_HINT "\n");
    _exit(exit_code(DR_EINDEX));
}

static const char *hint_for(int rc)
{
    switch (rc) {
    case DR_ENOSPC: return "free space on the repository's disk; nothing half-written was kept";
    case DR_ELOCKED: return "wait for the other drrepo to finish, or see 'drrepo unlock'";
    case DR_EINDEX: return INDEX_HINT;
    default: return NULL;
    }
}

int dr_cmd_usage(struct dr_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ctx->cmd) {
        return dr_errorf(DR_EUSAGE, "%s: %s (see 'drrepo %s --help')", ctx->cmd->name, msg,
                         ctx->cmd->name);
    }
    return dr_errorf(DR_EUSAGE, "%s", msg);
}

int dr_cmd_opt(struct dr_ctx *ctx, const char **out_arg)
{
    struct dr_args *a = &ctx->args;
    while (a->next < a->n) {
        const struct dr_optval *v = &a->v[a->next++];
        if (v->id < DR_OPT_GLOBAL_BASE && v->id != DR_METRICS_FILE_ID) {
            *out_arg = v->arg;
            return v->id;
        }
    }
    *out_arg = NULL;
    return 0;
}

int dr_cmd_lock(struct dr_ctx *ctx, unsigned flags)
{
    return dr_cmd_lock_repo(ctx, ctx->r, flags, &ctx->lock);
}

int dr_cmd_lock_repo(struct dr_ctx *ctx, struct dr_repo *r, unsigned flags, struct dr_lock **lock)
{
    dr_repo_set_lock(r, NULL);
    dr_lock_release(*lock);
    *lock = NULL;
    int64_t deadline = dr_mono_ns() + ctx->retry_lock_ns;
    bool said = false;
    for (;;) {
        int rc = dr_repo_lock(r, flags, lock);
        if (rc >= 0) {
            /* the store checks the lease at its commit points (snapshot, deletions) */
            dr_repo_set_lock(r, *lock);
        }
        if (rc != DR_ELOCKED || dr_mono_ns() >= deadline) {
            return rc;
        }
        if (!said && !ctx->quiet) {
            dr_log_info("waiting for the %s lock: %s",
                        (flags & DR_LOCK_EXCLUSIVE) ? "exclusive" : "shared", dr_error_msg());
            said = true;
        }
        dr_error_clear();
        sleep(1);
        rc = dr_interrupt_check(); /* waiting is stopped like any work */
        if (rc < 0) {
            return rc;
        }
    }
}

int dr_cmd_lock_exclusive(struct dr_ctx *ctx)
{
    unsigned flags = DR_LOCK_EXCLUSIVE;
    if (ctx->cmd->flags & DR_CMD_LOCK_RESERVE) {
        flags |= DR_LOCK_USE_RESERVE;
    }
    return dr_cmd_lock(ctx, flags);
}

void dr_short_id(const struct dr_id *id, char out[9])
{
    dr_hex_encode(id->b, 4, out);
}

int dr_cmd_json_emit(struct dr_json *w, FILE *out)
{
    int rc = dr_json_finish(w);
    rc = rc < 0 ? rc : dr_buf_addch(w->b, '\n');
    if (rc >= 0) {
        fputs(w->b->buf, out);
    }
    dr_buf_release(w->b);
    return rc;
}

/* Progress as JSON (--progress-json, or --json on a terminal): set once by dr_cli_main before
 * the command runs, read by the engines' progress callbacks (on their threads). */
static bool progress_json;

/* One JSON line on stderr per tick, and one with "final": true at the end (docs/JSON.md,
 * "Progress"). Written with one fputs so that a tick never splits across lines. */
static void progress_json_line(const char *label, const struct dr_progress *p, bool final)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "message_type", "progress");
    dr_json_kstring(&w, "command", label);
    dr_json_kbool(&w, "final", final);
    dr_json_kfixed(&w, "elapsed_seconds", (double)p->elapsed_ns / 1e9, 3);
    dr_json_ku64(&w, "files", p->files);
    dr_json_ku64(&w, "dirs", p->dirs);
    dr_json_ku64(&w, "bytes_read", p->bytes_read);
    dr_json_key(&w, "bytes_total");
    if (p->bytes_total) {
        dr_json_u64(&w, p->bytes_total);
    } else {
        dr_json_null(&w);
    }
    dr_json_key(&w, "percent_done");
    if (p->bytes_total) {
        double pct = 100.0 * (double)p->bytes_read / (double)p->bytes_total;
        dr_json_fixed(&w, pct > 100.0 ? 100.0 : pct, 1);
    } else {
        dr_json_null(&w);
    }
    dr_json_ku64(&w, "errors", p->errors);
    if (!final && p->current) {
        dr_json_kname(&w, "current", p->current);
    } else {
        dr_json_kstring(&w, "current", NULL);
    }
    dr_json_end_object(&w);
    if (dr_cmd_json_emit(&w, stderr) < 0) {
        dr_error_clear(); /* progress is best effort: the command's own outcome stands */
    }
    fflush(stderr);
}

void dr_cmd_progress(void *arg, const struct dr_progress *p, bool final)
{
    const char *label = arg;
    if (progress_json) {
        progress_json_line(label, p, final);
        return;
    }
    char done[32], rate[32];
    dr_size_format(p->bytes_read, done, sizeof(done));
    double secs = (double)p->elapsed_ns / 1e9;
    dr_size_format(secs > 0 ? (uint64_t)((double)p->bytes_read / secs) : 0, rate, sizeof(rate));
    char eta[48] = "";
    if (p->bytes_total > p->bytes_read && p->bytes_read > 0 && secs > 0) {
        double left = (double)(p->bytes_total - p->bytes_read) / ((double)p->bytes_read / secs);
        snprintf(eta, sizeof(eta), ", ETA %d:%02d", (int)left / 60, (int)left % 60);
    }
    fprintf(stderr, "\r\033[K%s: [%d:%02d] %llu files, %llu dirs, %s, %s/s%s%s", label,
            (int)secs / 60, (int)secs % 60, (unsigned long long)p->files,
            (unsigned long long)p->dirs, done, rate, eta, p->errors ? ", errors" : "");
    if (final) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

const char *dr_cmd_repo_location(const struct dr_ctx *ctx)
{
    return ctx->repo ? ctx->repo : getenv("DRREPO_REPOSITORY");
}

int dr_cmd_open(struct dr_ctx *ctx)
{
    const char *loc = dr_cmd_repo_location(ctx);
    if (!loc || !*loc) {
        return dr_errorf(DR_EUSAGE, "no repository given: use -r REPO or set DRREPO_REPOSITORY");
    }
    char *pw = NULL;
    int rc = dr_cmd_password(ctx, "enter password for repository: ", false, &pw);
    if (rc < 0) {
        return rc;
    }
    struct dr_repo_open_opts o = {
        .location = loc,
        .password = pw,
        .cache_dir = ctx->cache_dir,
        .no_index = (ctx->cmd->flags & DR_CMD_NO_INDEX) != 0,
        .verify_index = (ctx->cmd->flags & DR_CMD_VERIFY_INDEX) != 0,
        /* a command that locks syncs the index once it holds the lock (below) */
        .no_sync = (ctx->cmd->flags & (DR_CMD_LOCK_SHARED | DR_CMD_LOCK_EXCL)) != 0,
        .out_failure = &ctx->open_failure,
    };
    rc = dr_repo_open(&o, &ctx->r);
    dr_cmd_free_password(pw);
    if (rc < 0) {
        return rc;
    }
    if (ctx->deletes) {
        /* before the lock, whose object credentials that cannot delete would leave behind */
        rc = dr_repo_check_deletes(ctx->r);
        if (rc < 0) {
            return rc;
        }
    }
    if (ctx->cmd->flags & (DR_CMD_LOCK_SHARED | DR_CMD_LOCK_EXCL)) {
        /* tests pause here to let another client prune between our open and our lock */
        rc = DR_FAULT_POINT("cmd.before_lock");
        if (rc < 0) {
            return rc;
        }
        unsigned lf = ((ctx->cmd->flags & DR_CMD_LOCK_EXCL) ? DR_LOCK_EXCLUSIVE : 0) |
                      ((ctx->cmd->flags & DR_CMD_LOCK_RESERVE) ? DR_LOCK_USE_RESERVE : 0);
        rc = dr_cmd_lock(ctx, lf);
        if (rc < 0) {
            return rc;
        }
        /* Only now does the index learn what the repository holds: everything this command
         * decides from it (dedup hits, files-cache hits, parent trees) must hold for the state
         * the lock protects. Synced before the lock, another client's prune could delete packs
         * in between, and a snapshot would reference blobs that are gone. */
        if (dr_repo_index(ctx->r) != NULL) {
            rc = dr_repo_sync_index(ctx->r, (ctx->cmd->flags & DR_CMD_SYNC_LIST) ? DR_SYNC_LIST
                                                                                 : DR_SYNC_CHANGES);
            if (rc < 0) {
                return rc;
            }
        }
        /* leftovers of writers that crashed are removed once we hold a lock */
        rc = ctx->dry_run ? 0 : dr_repo_cleanup(ctx->r);
        if (rc > 0) {
            dr_log_info("removed %d temporary files left by interrupted runs", rc);
        }
        if (rc < 0) {
            dr_error_clear();
        }
    }
    return 0;
}

static const struct dr_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < DR_ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static void print_help(FILE *f)
{
    fprintf(f, "usage: drrepo [global options] COMMAND [options] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < DR_ARRAY_LEN(commands); i++) {
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\nglobal options (before or after the command):\n");
    dr_opt_print_table(f, global_opts);
    fprintf(f, "\nrun 'drrepo help COMMAND' or 'drrepo COMMAND --help' for a command's options; "
               "exit codes are in docs/exit-codes.md\n");
}

static void print_cmd_help(FILE *f, const struct dr_cmd *c)
{
    const char *u = c->usage;
    for (int n = 0; *u; n++) {
        size_t len = strcspn(u, "\n");
        fprintf(f, "%s drrepo %.*s\n", n ? "   or:" : "usage:", (int)len, u);
        u += len + (u[len] == '\n');
    }
    fprintf(f, "\n%s\n", c->summary);
    if (c->opts && c->opts[0].name) {
        fprintf(f, "\noptions:\n");
        dr_opt_print_table(f, c->opts);
    }
    fprintf(f, "\nglobal options (before or after the command):\n");
    dr_opt_print_table(f, global_opts);
}

static int unknown_cmd(const char *name)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < DR_ARRAY_LEN(commands); i++) {
        size_t dd = dr_opt_edit_distance(name, commands[i].name);
        if (dd < bestd) {
            bestd = dd;
            best = commands[i].name;
        }
    }
    return dr_errorf(DR_EUSAGE, "'%s' is not a drrepo command%s%s%s", name,
                     best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
}

/* `drrepo help [COMMAND]`: the same text as `drrepo [COMMAND] --help`. */
static int cmd_help(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    if (argc == 0) {
        print_help(stdout);
        return 0;
    }
    const struct dr_cmd *c = find_cmd(argv[0]);
    if (!c) {
        return unknown_cmd(argv[0]);
    }
    print_cmd_help(stdout, c);
    return 0;
}

/* The global options found by the parser, into the context. */
static int set_global(struct dr_ctx *ctx, const struct dr_optval *v, int *verbose)
{
    switch (v->id) {
    case G_REPO: ctx->repo = v->arg; break;
    case G_PASSWORD_FILE: ctx->password_file = v->arg; break;
    case G_PASSWORD_COMMAND: ctx->password_command = v->arg; break;
    case G_CACHE_DIR: ctx->cache_dir = v->arg; break;
    case G_READ_CONCURRENCY: ctx->read_concurrency = v->arg; break;
    case G_CONNECTIONS: ctx->connections = v->arg; break;
    case G_S3_VIRTUAL_HOST: dr_backend_set_s3_virtual_host(true); break;
    case G_RETRY_LOCK:
        if (dr_parse_duration(v->arg, &ctx->retry_lock_ns) < 0 || ctx->retry_lock_ns < 0) {
            return dr_errorf(DR_EUSAGE,
                             "--retry-lock takes a duration such as 30s or 2h, not "
                             "'%s'",
                             v->arg);
        }
        break;
    case G_JSON: ctx->json = true; break;
    case G_PROGRESS_JSON: ctx->progress_json = true; break;
    case G_QUIET: ctx->quiet = true; break;
    case G_VERBOSE: (*verbose)++; break;
    default: break; /* G_HELP, G_VERSION: the caller's */
    }
    return 0;
}

/* A decimal count from lo to hi given to option opt. */
static int parse_count(const char *opt, const char *what, const char *s, unsigned lo, unsigned hi,
                       unsigned *out)
{
    char *end;
    unsigned long n = strtoul(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || n < lo || n > hi) {
        return dr_errorf(DR_EUSAGE, "%s takes %s from %u to %u, not '%s'", opt, what, lo, hi, s);
    }
    *out = (unsigned)n;
    return 0;
}

static bool has_opt(const struct dr_args *a, int id)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].id == id) {
            return true;
        }
    }
    return false;
}

/* Parses the command line into ctx: global options, the command, its options and operands.
 * Returns 1 when it printed the help or the version (exit 0), 0 to run the command. */
static int parse_cmdline(struct dr_ctx *ctx, int argc, char **argv, int *verbose)
{
    const struct dr_opt *const globals[] = {global_opts};
    int i = 1;
    int rc = dr_opt_parse(globals, 1, NULL, true, argc, argv, &i, &ctx->args);
    if (rc >= 0 && i < argc) {
        ctx->cmd = find_cmd(argv[i]);
        if (!ctx->cmd) {
            return unknown_cmd(argv[i]);
        }
        static const struct dr_opt none[] = {{0}};
        const struct dr_opt *const tables[] = {ctx->cmd->opts ? ctx->cmd->opts : none, global_opts};
        i++;
        rc = dr_opt_parse(tables, 2, ctx->cmd->name, false, argc, argv, &i, &ctx->args);
    }
    if (rc < 0) {
        return rc;
    }
    if (has_opt(&ctx->args, G_HELP)) {
        if (ctx->cmd) {
            print_cmd_help(stdout, ctx->cmd);
        } else {
            print_help(stdout);
        }
        return 1;
    }
    if (has_opt(&ctx->args, G_VERSION)) {
        return dr_cmd_version(ctx, 0, NULL) < 0 ? -1 : 1;
    }
    if (!ctx->cmd) {
        print_help(stderr);
        return dr_errorf(DR_EUSAGE, "no command given");
    }
    for (size_t k = 0; k < ctx->args.n; k++) {
        rc = set_global(ctx, &ctx->args.v[k], verbose);
        if (rc < 0) {
            return rc;
        }
    }
    if (ctx->cmd->max_args >= 0 && ctx->args.nops > (size_t)ctx->cmd->max_args) {
        return ctx->cmd->max_args == 0
                   ? dr_cmd_usage(ctx, "unexpected argument '%s': %s takes none", ctx->args.ops[0],
                                  ctx->cmd->name)
                   : dr_cmd_usage(ctx, "unexpected argument '%s'",
                                  ctx->args.ops[ctx->cmd->max_args]);
    }
    unsigned n = 0;
    if (ctx->read_concurrency) {
        rc = parse_count("--read-concurrency", "a number of workers", ctx->read_concurrency, 1,
                         DR_READ_WORKERS_MAX, &n);
        if (rc < 0) {
            return rc;
        }
        dr_read_set_concurrency(n);
    }
    if (ctx->connections) {
        rc = parse_count("--connections", "a number of connections", ctx->connections, 1,
                         DR_CONNECTIONS_MAX, &n);
        if (rc < 0) {
            return rc;
        }
        dr_backend_set_connections(n);
    }
    return 0;
}

/* Was --json asked for? The parser's answer; when it stopped at an error before it reached the
 * option, a word "--json" before "--" on the command line. */
static bool wants_json(const struct dr_ctx *ctx, int argc, char **argv)
{
    if (ctx->json || has_opt(&ctx->args, G_JSON)) {
        return true;
    }
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            return true;
        }
    }
    return false;
}

/* The error as one JSON object on a line of its own, after the text line on stderr
 * (docs/JSON.md, "Errors"): `code` and `exit` are the exit code, `error.kind` the error's
 * stable name, which tells apart the errors that share exit code 1. */
static void print_error_json(int rc, int code, const char *msg, const char *hint)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_key(&w, "error");
    dr_json_begin_object(&w);
    dr_json_kname(&w, "message", msg);
    dr_json_kstring(&w, "kind", dr_error_name(rc));
    dr_json_ku64(&w, "code", (uint64_t)code);
    dr_json_kstring(&w, "hint", hint);
    dr_json_end_object(&w);
    dr_json_ku64(&w, "code", (uint64_t)code);
    dr_json_ku64(&w, "exit", (uint64_t)code);
    dr_json_kbool(&w, "warning", rc == DR_EPARTIAL);
    dr_json_end_object(&w);
    if (dr_cmd_json_emit(&w, stderr) < 0) {
        put_str("drrepo: error: cannot write the error as JSON\n");
    }
}

int dr_cli_main(int argc, char **argv)
{
    struct dr_ctx ctx = {0};
    int verbose = 0;
    /* a closed pipe on stdout ("drrepo dump ... | head") is an error we report, not a kill */
    signal(SIGPIPE, SIG_IGN);
    dr_index_guard_set_handler(index_damaged);
    int rc = parse_cmdline(&ctx, argc, argv, &verbose);
    if (rc > 0) {
        dr_args_release(&ctx.args);
        return fflush(stdout) != 0 || ferror(stdout) ? 1 : 0;
    }
    if (rc >= 0) {
        rc = dr_crypto_init();
    }
    dr_log_set_level(ctx.quiet      ? DR_LOG_WARN
                     : verbose >= 3 ? DR_LOG_TRACE
                     : verbose == 2 ? DR_LOG_DEBUG
                     : verbose == 1 ? DR_LOG_DETAIL
                                    : DR_LOG_INFO);
    /* --progress-json asks for progress whatever stderr is; --json on a terminal gets it as
     * JSON too, since a text progress line there would be mixed with the JSON error line */
    bool tty = !ctx.quiet && isatty(STDERR_FILENO);
    ctx.progress_json = ctx.progress_json || (ctx.json && tty);
    ctx.progress = tty || ctx.progress_json;
    progress_json = ctx.progress_json;
    int64_t start_ns = dr_mono_ns();
    ctx.metrics.size_warning = -1;
    if (ctx.cmd && (ctx.cmd->flags & DR_CMD_METRICS)) {
        ctx.metrics.file = getenv("DRREPO_METRICS_FILE");
        for (size_t k = 0; k < ctx.args.n; k++) {
            if (ctx.args.v[k].id == DR_METRICS_FILE_ID) {
                ctx.metrics.file = ctx.args.v[k].arg;
            }
        }
    }
    if (rc >= 0) {
        /* SIGINT, SIGTERM and SIGHUP stop every command at its next safe point: it unwinds
         * through its error path with DR_EINTR, and the lock is released below */
        dr_interrupt_install();
        rc = ctx.cmd->run(&ctx, (int)ctx.args.nops, ctx.args.ops);
    }
    if (ctx.r) {
        dr_repo_set_lock(ctx.r, NULL);
    }
    dr_lock_release(ctx.lock);
    dr_repo_close(ctx.r);
    bool json = wants_json(&ctx, argc, argv);
    dr_args_release(&ctx.args);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc >= 0 && errno != EPIPE) {
            rc = dr_error_errno(DR_EIO, "cannot write to standard output");
        }
    }
    /* the command's own mapping (wal get, a source's refused credentials) is the code the
     * JSON error reports too */
    int code = exit_code(rc < 0 ? rc : 0);
    if (rc < 0 && ctx.exit_map) {
        code = ctx.exit_map(rc, code);
    }
    if (rc == DR_EINTR && dr_interrupted()) {
        const char *msg = dr_error_msg();
        fprintf(stderr, "drrepo: interrupted (%s): %s: %s\n", dr_interrupt_name(dr_interrupted()),
                ctx.cmd->name, *msg ? msg : "stopped");
        if (json) {
            print_error_json(rc, code, *msg ? msg : dr_strerror(rc), NULL);
        }
    } else if (rc < 0) {
        const char *msg = dr_error_msg();
        fprintf(stderr, "drrepo: %s: %s\n", rc == DR_EPARTIAL ? "warning" : "error",
                *msg ? msg : dr_strerror(rc));
        const char *hint = ctx.hint ? ctx.hint : hint_for(rc);
        if (hint) {
            fprintf(stderr, "hint: %s\n", hint);
        }
        if (json) {
            print_error_json(rc, code, *msg ? msg : dr_strerror(rc), hint);
        }
    }
    /* after the command, whatever its outcome: a failed run must show in monitoring too */
    dr_cmd_metrics_write(&ctx, code, dr_mono_ns() - start_ns);
    return code;
}
