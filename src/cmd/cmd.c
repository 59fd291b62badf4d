/* cmd.c: the table of subcommands and the top-level control flow (git's run_builtin with
 * pgBackRest's exit-code-from-error): parse global options, find the command, run it, check
 * stdout, print the recorded error once and map it to the exit code of docs/exit-codes.md. */
#include "cmd_int.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "drrepo/check.h"
#include "drrepo/cli.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/read.h"
#include "drrepo/fault.h"
#include "drrepo/fs.h"
#include "drrepo/index.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

static const struct dr_cmd commands[] = {
    {"init", "create a repository", dr_cmd_init, 0,
     "init [--chunk-min SIZE --chunk-avg SIZE --chunk-max SIZE] [--pack-size SIZE]\n"
     "     [--compression LEVEL] [--kdf-memlimit SIZE --kdf-opslimit N [--insecure-kdf]]"},
    {"snapshot", "save files, stdin or a command's output", dr_cmd_snapshot,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED,
     "snapshot [options] PATH...\n"
     "     snapshot --stdin --stdin-name NAME [options]\n"
     "     snapshot --from-command --stdin-name NAME [options] -- COMMAND [ARG...]\n"
     "     snapshot --redis redis://[user:password@]host:port [options]\n"
     "     snapshot --pg CONNINFO [options]\n"
     "options: --exclude PATTERN --exclude-file FILE --one-file-system --tag TAG --host HOST\n"
     "         --allow-empty --no-rdb-records --json"},
    {"snapshots", "list snapshots", dr_cmd_snapshots, DR_CMD_REPO,
     "snapshots [--host HOST] [--tag TAG] [--json]"},
    {"ls", "list files in a snapshot", dr_cmd_ls, DR_CMD_REPO, "ls SNAP [PATH] [--long]"},
    {"restore", "restore a snapshot", dr_cmd_restore, DR_CMD_REPO | DR_CMD_LOCK_SHARED,
     "restore SNAP --target DIR [--include PATTERN]... [--exclude PATTERN]...\n"
     "     [--overwrite [never|if-changed|always] [--verify-existing]] [--delete] [--dry-run]\n"
     "     [--json]"},
    {"dump", "write a file, or a directory as tar, to stdout", dr_cmd_dump,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED, "dump SNAP PATH"},
    {"diff", "show what changed between two snapshots", dr_cmd_diff, DR_CMD_REPO,
     "diff SNAP1 SNAP2"},
    {"stats", "show repository sizes and dedup ratio", dr_cmd_stats, DR_CMD_REPO, "stats [--json]"},
    {"key", "manage passwords (key files)", dr_cmd_key, DR_CMD_REPO | DR_CMD_NO_INDEX,
     "key list | key add [--new-password-file F] | key remove ID | key passwd "
     "[--new-password-file F]"},
    {"check", "verify the repository's integrity", dr_cmd_check,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_VERIFY_INDEX,
     "check [--read-data] [--read-data-subset N/M|P%|SIZE] [--read-data-max-age DURATION]\n"
     "     [--seed N] [--json]"},
    {"drill", "prove a snapshot restores and works", dr_cmd_drill, DR_CMD_REPO | DR_CMD_LOCK_SHARED,
     "drill SNAP | drill --latest [--host H] [--check-sql FILE] [--restore-command CMD...]"},
    {"mount", "browse snapshots as a read-only file system", dr_cmd_mount,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED,
     "mount MOUNTPOINT [--background [--log FILE]] [--cache-size SIZE] [--readahead N]\n"
     "     [--threads N] [--allow-other]"},
    {"forget", "remove snapshots, by id or by a keep policy", dr_cmd_forget,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_LOCK_RESERVE,
     "forget [SNAP...] [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]\n"
     "     [--keep-monthly N] [--keep-yearly N] [--keep-within DURATION] [--keep-tag TAG]\n"
     "     [--group-by host,tags,paths] [--host H] [--tag T] [--dry-run] [--json]\n"
     "     [--prune [--max-unused PERCENT]]"},
    {"prune", "reclaim space that no snapshot references", dr_cmd_prune,
     DR_CMD_REPO | DR_CMD_LOCK_SHARED | DR_CMD_LOCK_RESERVE,
     "prune [--max-unused PERCENT] [--dry-run] [--json]"},
    {"repair", "rebuild the index, repair damaged snapshots, rewrite damaged copies", dr_cmd_repair,
     DR_CMD_REPO | DR_CMD_NO_INDEX,
     "repair index | repair snapshots [--read-data] [--dry-run] | repair packs [--dry-run]\n"
     "     | repair config | repair keys"},
    {"unlock", "remove locks of processes that are gone", dr_cmd_unlock, 0,
     "unlock [--remove-all]"},
    {"version", "print the version", dr_cmd_version, 0, "version"},
};

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
    case DR_EINTR: return 130;
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
        return dr_errorf(DR_EUSAGE, "%s\nusage: drrepo %s", msg, ctx->cmd->usage);
    }
    return dr_errorf(DR_EUSAGE, "%s", msg);
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

void dr_cmd_progress(void *arg, const struct dr_progress *p, bool final)
{
    const char *label = arg;
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

static char *strip_newline(char *s)
{
    size_t n = strlen(s);
    if (n && s[n - 1] == '\n') {
        s[--n] = '\0';
    }
    if (n && s[n - 1] == '\r') {
        s[--n] = '\0';
    }
    return s;
}

static int read_password_file(const char *path, char **out)
{
    struct dr_buf b = DR_BUF_INIT(65536);
    int rc = dr_fs_read_file(path, &b);
    if (rc < 0) {
        dr_buf_release(&b);
        return dr_error_wrap(rc, "password file");
    }
    char *first = dr_buf_detach(&b, NULL);
    first[strcspn(first, "\n")] = '\0';
    *out = strip_newline(first);
    return 0;
}

static int run_password_command(const char *cmd, char **out)
{
    FILE *f = popen(cmd, "r");
    if (!f) {
        return dr_error_errno(DR_ESOURCE, "cannot run password command '%s'", cmd);
    }
    char buf[4096] = "";
    if (!fgets(buf, sizeof(buf), f)) {
        buf[0] = '\0';
    }
    int st = pclose(f);
    if (st != 0) {
        dr_wipe_str(buf);
        if (st > 0 && WIFEXITED(st)) {
            return dr_errorf(DR_ESOURCE, "password command '%s' exited with status %d", cmd,
                             WEXITSTATUS(st));
        }
        if (st > 0 && WIFSIGNALED(st)) {
            return dr_errorf(DR_ESOURCE, "password command '%s' was killed by signal %d", cmd,
                             WTERMSIG(st));
        }
        return dr_error_errno(DR_ESOURCE, "password command '%s' failed", cmd);
    }
    *out = dr_xstrdup(strip_newline(buf));
    dr_wipe_str(buf);
    return 0;
}

static int prompt_tty(const char *prompt, char **out)
{
    FILE *tty = fopen("/dev/tty", "r+e");
    if (!tty) {
        return dr_errorf(DR_EUSAGE, "no password given and no terminal to ask on: set "
                                    "DRREPO_PASSWORD, --password-file or --password-command");
    }
    struct termios old, quiet;
    int fd = fileno(tty);
    bool have_term = tcgetattr(fd, &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    fprintf(tty, "%s", prompt);
    fflush(tty);
    char buf[4096] = "";
    if (!fgets(buf, sizeof(buf), tty)) {
        buf[0] = '\0';
    }
    if (have_term) {
        tcsetattr(fd, TCSAFLUSH, &old);
    }
    fprintf(tty, "\n");
    fclose(tty);
    *out = dr_xstrdup(strip_newline(buf));
    dr_wipe_str(buf);
    return 0;
}

void dr_cmd_free_password(char *pw)
{
    if (pw) {
        dr_wipe_str(pw);
        free(pw);
    }
}

int dr_cmd_password(struct dr_ctx *ctx, const char *prompt, bool confirm, char **out)
{
    /* options given on the command line win over the environment */
    if (ctx->password_file) {
        return read_password_file(ctx->password_file, out);
    }
    if (ctx->password_command) {
        return run_password_command(ctx->password_command, out);
    }
    const char *env = getenv("DRREPO_PASSWORD");
    if (env) {
        *out = dr_xstrdup(env);
        return 0;
    }
    if (getenv("DRREPO_PASSWORD_FILE")) {
        return read_password_file(getenv("DRREPO_PASSWORD_FILE"), out);
    }
    if (getenv("DRREPO_PASSWORD_COMMAND")) {
        return run_password_command(getenv("DRREPO_PASSWORD_COMMAND"), out);
    }
    char *a = NULL, *b = NULL;
    int rc = prompt_tty(prompt, &a);
    if (rc < 0 || !confirm) {
        *out = a;
        return rc;
    }
    rc = prompt_tty("enter the password again: ", &b);
    if (rc >= 0 && strcmp(a, b) != 0) {
        rc = dr_errorf(DR_EUSAGE, "the passwords do not match");
    }
    dr_cmd_free_password(b);
    if (rc < 0) {
        dr_cmd_free_password(a);
        return rc;
    }
    *out = a;
    return 0;
}

int dr_cmd_new_password(struct dr_ctx *ctx, const char *file, char **out)
{
    (void)ctx;
    const char *env = getenv("DRREPO_NEW_PASSWORD");
    if (env) {
        *out = dr_xstrdup(env);
        return 0;
    }
    if (file) {
        return read_password_file(file, out);
    }
    char *a = NULL, *b = NULL;
    int rc = prompt_tty("enter the new password: ", &a);
    if (rc >= 0) {
        rc = prompt_tty("enter the new password again: ", &b);
    }
    if (rc >= 0 && strcmp(a, b) != 0) {
        rc = dr_errorf(DR_EUSAGE, "the passwords do not match");
    }
    dr_cmd_free_password(b);
    if (rc < 0) {
        dr_cmd_free_password(a);
        return rc;
    }
    *out = a;
    return 0;
}

static const char *repo_location(struct dr_ctx *ctx)
{
    return ctx->repo ? ctx->repo : getenv("DRREPO_REPOSITORY");
}

int dr_cmd_open(struct dr_ctx *ctx)
{
    const char *loc = repo_location(ctx);
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
    if (ctx->cmd->flags & (DR_CMD_LOCK_SHARED | DR_CMD_LOCK_EXCL)) {
        /* tests pause here to let another client prune between our open and our lock */
        rc = DR_FAULT_POINT("cmd.before_lock");
        if (rc < 0) {
            return rc;
        }
        unsigned lf = ((ctx->cmd->flags & DR_CMD_LOCK_EXCL) ? DR_LOCK_EXCLUSIVE : 0) |
                      ((ctx->cmd->flags & DR_CMD_LOCK_RESERVE) ? DR_LOCK_USE_RESERVE : 0);
        rc = dr_repo_lock(ctx->r, lf, &ctx->lock);
        if (rc < 0) {
            return rc;
        }
        /* Only now does the index learn what the repository holds: everything this command
         * decides from it (dedup hits, files-cache hits, parent trees) must hold for the state
         * the lock protects. Synced before the lock, another client's prune could delete packs
         * in between, and a snapshot would reference blobs that are gone. */
        if (dr_repo_index(ctx->r) != NULL) {
            rc = dr_repo_sync_index(ctx->r, false);
            if (rc < 0) {
                return rc;
            }
        }
        /* leftovers of writers that crashed are removed once we hold a lock */
        rc = dr_repo_cleanup(ctx->r);
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
    fprintf(f, "usage: drrepo [-r REPO] [--password-file F | --password-command CMD]\n"
               "              [--cache-dir DIR] [--retry-lock DURATION] [--read-concurrency N]\n"
               "              [--json] [-q] [-v]\n"
               "              COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < DR_ARRAY_LEN(commands); i++) {
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\nrun 'drrepo COMMAND --help' for a command's options; exit codes are in "
               "docs/exit-codes.md\n");
}

/* Levenshtein distance, for "did you mean" on an unknown command. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32) {
        return 99;
    }
    size_t d[33][33];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = DR_MIN(sub, DR_MIN(del, ins));
        }
    }
    return d[la][lb];
}

/* Global options may also follow the command ("drrepo snapshot -q PATH"), as in restic: they
 * are taken out of the command's arguments, up to a "--". Returns the new argc. */
static int take_global_options(struct dr_ctx *ctx, int *verbose, int argc, char **argv)
{
    int out = 1;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        const char *val = NULL;
        if (strcmp(a, "--") == 0) {
            break;
        }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            ctx->quiet = true;
            continue;
        }
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            (*verbose)++;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            ctx->json = true;
            continue;
        }
        if (strcmp(a, "--retry-lock") == 0 && i + 1 < argc) {
            if (dr_parse_duration(argv[i + 1], &ctx->retry_lock_ns) < 0) {
                dr_error_clear();
                ctx->retry_lock_ns = -1;
            }
            i++;
            continue;
        }
        static const struct {
            const char *name;
            size_t off;
        } valued[] = {
            {"--repo", offsetof(struct dr_ctx, repo)},
            {"-r", offsetof(struct dr_ctx, repo)},
            {"--password-file", offsetof(struct dr_ctx, password_file)},
            {"--password-command", offsetof(struct dr_ctx, password_command)},
            {"--cache-dir", offsetof(struct dr_ctx, cache_dir)},
            {"--read-concurrency", offsetof(struct dr_ctx, read_concurrency)},
        };
        for (size_t k = 0; k < DR_ARRAY_LEN(valued) && !slot; k++) {
            size_t n = strlen(valued[k].name);
            if (strcmp(a, valued[k].name) == 0 && i + 1 < argc) {
                slot = (const char **)((char *)ctx + valued[k].off);
                val = argv[++i];
            } else if (strncmp(a, valued[k].name, n) == 0 && a[n] == '=' && a[1] == '-') {
                slot = (const char **)((char *)ctx + valued[k].off);
                val = a + n + 1;
            }
        }
        if (slot) {
            *slot = val;
            continue;
        }
        argv[out++] = argv[i];
    }
    for (; i < argc; i++) {
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

int dr_cli_main(int argc, char **argv)
{
    struct dr_ctx ctx = {0};
    int verbose = 0;
    static const struct option opts[] = {
        {"repo", required_argument, NULL, 'r'},
        {"password-file", required_argument, NULL, 'p'},
        {"password-command", required_argument, NULL, 'c'},
        {"cache-dir", required_argument, NULL, 'C'},
        {"retry-lock", required_argument, NULL, 'R'},
        {"read-concurrency", required_argument, NULL, 'N'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {0, 0, 0, 0},
    };
    /* a closed pipe on stdout ("drrepo dump ... | head") is an error we report, not a kill */
    signal(SIGPIPE, SIG_IGN);
    dr_index_guard_set_handler(index_damaged);
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+r:qvh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': ctx.repo = optarg; break;
        case 'p': ctx.password_file = optarg; break;
        case 'c': ctx.password_command = optarg; break;
        case 'C': ctx.cache_dir = optarg; break;
        case 'N': ctx.read_concurrency = optarg; break;
        case 'R':
            if (dr_parse_duration(optarg, &ctx.retry_lock_ns) < 0) {
                fprintf(stderr, "drrepo: error: %s\n", dr_error_msg());
                return 2;
            }
            break;
        case 'j': ctx.json = true; break;
        case 'q': ctx.quiet = true; break;
        case 'v': verbose++; break;
        case 'h': print_help(stdout); return 0;
        case 'V': return dr_cmd_version(&ctx, 0, NULL) < 0 ? 1 : 0;
        default:
            fprintf(stderr, "drrepo: error: unknown option '%s'\n", argv[optind - 1]);
            print_help(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[optind];
    ctx.cmd = find_cmd(name);
    if (!ctx.cmd) {
        const char *best = NULL;
        size_t bestd = 3;
        for (size_t i = 0; i < DR_ARRAY_LEN(commands); i++) {
            size_t dd = edit_distance(name, commands[i].name);
            if (dd < bestd) {
                bestd = dd;
                best = commands[i].name;
            }
        }
        fprintf(stderr, "drrepo: error: '%s' is not a drrepo command%s%s%s\n", name,
                best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
        return 2;
    }
    int rc = dr_crypto_init();
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    sub_argc = take_global_options(&ctx, &verbose, sub_argc, sub_argv);
    if (ctx.retry_lock_ns < 0) {
        fprintf(stderr, "drrepo: error: --retry-lock takes a duration such as 30s or 2h\n");
        return 2;
    }
    if (ctx.read_concurrency) {
        char *end;
        unsigned long n = strtoul(ctx.read_concurrency, &end, 10);
        if (*ctx.read_concurrency < '0' || *ctx.read_concurrency > '9' || *end || n < 1 ||
            n > DR_READ_WORKERS_MAX) {
            fprintf(stderr,
                    "drrepo: error: --read-concurrency takes a number of workers from 1 "
                    "to %u, not '%s'\n",
                    DR_READ_WORKERS_MAX, ctx.read_concurrency);
            return 2;
        }
        dr_read_set_concurrency((unsigned)n);
    }
    dr_log_set_level(ctx.quiet      ? DR_LOG_WARN
                     : verbose >= 3 ? DR_LOG_TRACE
                     : verbose == 2 ? DR_LOG_DEBUG
                     : verbose == 1 ? DR_LOG_DETAIL
                                    : DR_LOG_INFO);
    ctx.progress = !ctx.quiet && isatty(STDERR_FILENO);
    if (rc >= 0) {
        optind = 0; /* glibc: full re-initialisation for the subcommand's getopt_long */
        rc = ctx.cmd->run(&ctx, sub_argc, sub_argv);
    }
    dr_lock_release(ctx.lock);
    dr_repo_close(ctx.r);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc >= 0 && errno != EPIPE) {
            rc = dr_error_errno(DR_EIO, "cannot write to standard output");
        }
    }
    if (rc < 0) {
        const char *msg = dr_error_msg();
        fprintf(stderr, "drrepo: %s: %s\n", rc == DR_EPARTIAL ? "warning" : "error",
                *msg ? msg : dr_strerror(rc));
        const char *hint = ctx.hint ? ctx.hint : hint_for(rc);
        if (hint) {
            fprintf(stderr, "hint: %s\n", hint);
        }
    }
    return exit_code(rc < 0 ? rc : 0);
}
