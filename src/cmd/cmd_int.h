/* cmd_int.h: what the subcommands in src/cmd/ share: the context, repository setup, password
 * input, progress and JSON output helpers. */
#ifndef DR_CMD_CMD_INT_H
#define DR_CMD_CMD_INT_H

#include <stdio.h>

#include "drrepo/backup.h"
#include "drrepo/buf.h"
#include "drrepo/json.h"
#include "drrepo/lock.h"
#include "drrepo/repo.h"
#include "drrepo/secure.h"
#include "drrepo/wal.h"

static inline void dr_wipe_str(char *s)
{
    dr_wipe(s, strlen(s));
}

enum {
    DR_CMD_REPO = 1u << 0,         /* opens the repository (password, keys, index) */
    DR_CMD_LOCK_SHARED = 1u << 1,  /* holds a shared lock while it runs */
    DR_CMD_LOCK_EXCL = 1u << 2,    /* holds an exclusive lock while it runs */
    DR_CMD_NO_INDEX = 1u << 3,     /* keys and config only */
    DR_CMD_VERIFY_INDEX = 1u << 4, /* check the index file in a child before using it */
    DR_CMD_LOCK_RESERVE = 1u << 5, /* frees space: its locks may use the reserve (lock.h) */
    DR_CMD_METRICS = 1u << 6,      /* takes --metrics-file / DRREPO_METRICS_FILE (metrics.c) */
    DR_CMD_SYNC_LIST = 1u << 7,    /* its sync lists every pack (DR_SYNC_LIST), not only changes */
};

/* What a command with DR_CMD_METRICS reports in its metrics file (metrics.c). The command
 * fills in what it learns; dr_cli_main writes the file after the command returned, whether it
 * succeeded or not, so that a failed run is seen too. */
struct dr_cmd_metrics {
    const char *file; /* --metrics-file, else DRREPO_METRICS_FILE; NULL: no file */
    char host[256];   /* the host label: the snapshot's host; this machine's when empty */
    char source[64];  /* the source label ("files", "stdin", "pg", ...); "" for none */
    bool snapshot;    /* a snapshot was saved: the fields below are set */
    struct dr_snap_summary sum;
    bool has_parent; /* parent_size is the logical size of the snapshot's parent */
    uint64_t parent_size;
    int size_warning; /* -1: no --warn-size-change; else 1 when it warned, 0 when not */
    bool check;       /* check ran: check_errors is the number of problems found */
    uint64_t check_errors;
    bool drill; /* a drill ran: its outcome and RTO */
    bool drill_ok;
    double drill_rto;
};

/* The option of commands with DR_CMD_METRICS (dr_cli_main reads it; dr_cmd_opt skips it). */
#define DR_METRICS_FILE_ID 0x6d1
#define DR_METRICS_FILE_OPT                                                                        \
    {                                                                                              \
        .name = "metrics-file", .id = DR_METRICS_FILE_ID, .arg = "FILE",                           \
        .help = "write Prometheus metrics to FILE, also on failure (or DRREPO_METRICS_FILE)"       \
    }

struct dr_ctx;

/* One option of a command or of the global table (cmd.c). Every option is declared once, in
 * such a table: the one parser (opt.c) reads argv against the global table and the command's,
 * and `--help` is printed from the same rows. A table ends with a row whose name is NULL. */
enum {
    DR_OPT_REPEAT = 1u << 0,   /* may be given more than once (the help says so) */
    DR_OPT_OPTIONAL = 1u << 1, /* optional argument: "--opt=V", or the next word if in choices */
    DR_OPT_REST = 1u << 2,     /* takes every argument after it (drill --restore-command) */
    DR_OPT_HIDDEN = 1u << 3,   /* accepted, but not listed by --help */
};

struct dr_opt {
    const char *name;           /* long name, without "--" */
    char short_name;            /* 0: none */
    int id;                     /* what dr_cmd_opt returns for it; never 0 */
    const char *arg;            /* its argument in the help ("PATTERN"); NULL: takes none */
    const char *help;           /* one line */
    unsigned flags;             /* DR_OPT_* */
    const char *const *choices; /* DR_OPT_OPTIONAL: the words the next argument may be */
};

/* Options are given ids; the global options' ids (cmd.c) start here, out of the way of a
 * command's (characters and small numbers). */
#define DR_OPT_GLOBAL_BASE 0x1000

/* One option as given on the command line, in order. */
struct dr_optval {
    int id;
    const char *arg; /* NULL for an option without argument */
};

/* What the parser found: the options (global and the command's), the operands, and for a
 * DR_OPT_REST option the arguments after it. */
struct dr_args {
    struct dr_optval *v;
    size_t n, alloc;
    size_t next; /* dr_cmd_opt's position */
    char **ops;  /* the operands, NULL-terminated (argv of run) */
    size_t nops, opsalloc;
    char **rest; /* DR_OPT_REST: the arguments after it, NULL-terminated; else NULL */
};

struct dr_cmd {
    const char *name;
    const char *summary;
    int (*run)(struct dr_ctx *ctx, int argc, char **argv);
    unsigned flags;
    const char *usage;         /* synopsis lines without "drrepo ", separated by '\n' */
    const struct dr_opt *opts; /* NULL: no options of its own */
    int max_args;              /* the most operands it takes; -1: no limit */
};

struct dr_ctx {
    const struct dr_cmd *cmd;
    const char *repo;
    const char *password_file;
    const char *password_command;
    const char *cache_dir;
    const char *read_concurrency; /* --read-concurrency: the read engine's workers */
    const char *connections;      /* --connections: requests to a remote store at once */
    bool json;
    bool quiet;
    bool progress;      /* stderr is a terminal and not quiet, or progress_json */
    bool progress_json; /* --progress-json, or --json with stderr a terminal: JSON lines */
    struct dr_repo *r;
    struct dr_lock *lock;
    int64_t retry_lock_ns; /* --retry-lock: how long to wait for a conflicting lock */
    bool deletes;          /* the command deletes objects: dr_cmd_open asks whether it may, first */
    bool dry_run;          /* snapshot --dry-run: dr_cmd_open leaves crashed writers' files */
    const char *hint;      /* a command's own hint for its error (static); else by error code */
    int (*exit_map)(int rc, int code);   /* a command's own exit code for error rc (wal get) */
    struct dr_open_failure open_failure; /* what dr_cmd_open found damaged, when it failed */
    struct dr_args args;                 /* the parsed command line (opt.c) */
    struct dr_cmd_metrics metrics;       /* DR_CMD_METRICS commands: the metrics file's data */
};

/* Writes ctx->metrics to its file (when one was given) for a run that ended with exit code
 * code after duration_ns; the last success time of an earlier run is carried over from the
 * old file when this one failed. A file that cannot be written is a warning on stderr: the
 * exit code stays the command's. */
void dr_cmd_metrics_write(struct dr_ctx *ctx, int code, int64_t duration_ns);

/* The command table and the global options (cmd.c), for generate.c. */
const struct dr_cmd *dr_cmd_table(size_t *n);
const struct dr_opt *dr_cmd_global_opts(void);

/* The parser (opt.c). Reads argv[*i..argc) against the tables (each ending with a NULL name;
 * the first table wins a name both have) and appends options to a->v. With stop_at_operand,
 * stops at the first operand and leaves *i there (the command name); else appends operands to
 * a->ops, and everything after "--" or a DR_OPT_REST option. cmd names the command in errors
 * (NULL: before the command). Returns 0, or DR_EUSAGE for an unknown or ambiguous option or
 * a missing or unwanted value, with a one-line message naming the option. */
DR_MUST_CHECK int dr_opt_parse(const struct dr_opt *const *tables, size_t ntables, const char *cmd,
                               bool stop_at_operand, int argc, char **argv, int *i,
                               struct dr_args *a);
/* Frees what dr_opt_parse allocated (not the strings: they are argv's). */
void dr_args_release(struct dr_args *a);
/* Levenshtein distance of two names (99 when one is over 32 characters), for "did you mean". */
size_t dr_opt_edit_distance(const char *a, const char *b);
/* Prints "  -s, --long ARG   help" lines of a table (DR_OPT_HIDDEN rows left out). */
void dr_opt_print_table(FILE *f, const struct dr_opt *opts);

/* The next of the command's own options (global ones are skipped): its id, with its argument
 * in *out_arg (NULL for none); 0 when there are no more. */
int dr_cmd_opt(struct dr_ctx *ctx, const char **out_arg);

/* Takes the lock of the given DR_LOCK_* flags (releasing the one held), retrying for up to
 * ctx->retry_lock_ns (--retry-lock) while another process holds a conflicting one. */
DR_MUST_CHECK int dr_cmd_lock(struct dr_ctx *ctx, unsigned flags);

/* dr_cmd_lock for another repository than the context's (copy's target): *lock is released
 * first and holds the new lock on success. */
DR_MUST_CHECK int dr_cmd_lock_repo(struct dr_ctx *ctx, struct dr_repo *r, unsigned flags,
                                   struct dr_lock **lock);

/* Swaps the context's lock for an exclusive one, retrying for up to ctx->retry_lock_ns
 * (dr_cmd_lock). */
DR_MUST_CHECK int dr_cmd_lock_exclusive(struct dr_ctx *ctx);

/* The repository's location: -r, else $DRREPO_REPOSITORY; NULL when neither is given. */
const char *dr_cmd_repo_location(const struct dr_ctx *ctx);

/* Opens the repository named by the context for the current command (per its flags): asks for
 * the password, opens keys and index, takes the lock. */
DR_MUST_CHECK int dr_cmd_open(struct dr_ctx *ctx);

/* The repository password from DRREPO_PASSWORD, --password-file / DRREPO_PASSWORD_FILE,
 * --password-command / DRREPO_PASSWORD_COMMAND, or a prompt on the terminal (twice when
 * confirm). *out is malloc'd (free with dr_cmd_free_password). */
DR_MUST_CHECK int dr_cmd_password(struct dr_ctx *ctx, const char *prompt, bool confirm, char **out);
void dr_cmd_free_password(char *pw);
/* The first line of file path (a password), for secrets other than the repository's; what
 * names it in errors ("redis password file"). *out: free with dr_cmd_free_password. */
DR_MUST_CHECK int dr_cmd_read_secret(const char *path, const char *what, char **out);
/* The target repository's password (copy --to): from --to-password-file (file),
 * --to-password-command (command), DRREPO_TO_PASSWORD, DRREPO_TO_PASSWORD_FILE,
 * DRREPO_TO_PASSWORD_COMMAND or a prompt, in the order and with the messages of
 * dr_cmd_password. */
DR_MUST_CHECK int dr_cmd_target_password(const char *file, const char *command, char **out);
/* A new password for key add/passwd: DRREPO_NEW_PASSWORD, --new-password-file, or a prompt. */
DR_MUST_CHECK int dr_cmd_new_password(struct dr_ctx *ctx, const char *file, char **out);

/* Records a one-line usage error for the current command ("CMD: message (see 'drrepo CMD
 * --help')") and returns DR_EUSAGE. */
int dr_cmd_usage(struct dr_ctx *ctx, const char *fmt, ...) DR_PRINTF(2, 3);

/* Progress callback printing to stderr (arg is a label such as "snapshot"). */
void dr_cmd_progress(void *arg, const struct dr_progress *p, bool final);

/* The snapshot selector (select.c): --host HOST, --tag TAG[,TAG...] and --path PATH (each
 * repeatable: OR; the commas of a --tag: AND), and drill's --latest. A command puts
 * DR_SELECT_OPTS (and DR_SELECT_LATEST_OPT) into its option table, starts with
 * DR_SELECT_INIT(ctx) and passes every option it does not know itself to dr_select_opt. */
#define DR_SELECT_LATEST 0x5e1 /* id of --latest: no short option */
#define DR_SELECT_PATH 0x5e2   /* id of --path: no short option */
#define DR_SELECT_OPTS                                                                             \
    {.name = "host",                                                                               \
     .short_name = 'H',                                                                            \
     .id = 'H',                                                                                    \
     .arg = "HOST",                                                                                \
     .help = "only snapshots of HOST (repeat: any of them; 'latest' is the latest of them)",       \
     .flags = DR_OPT_REPEAT},                                                                      \
        {.name = "tag",                                                                            \
         .short_name = 't',                                                                        \
         .id = 't',                                                                                \
         .arg = "TAG[,TAG]",                                                                       \
         .help = "only snapshots with all these tags (repeat: any of the lists)",                  \
         .flags = DR_OPT_REPEAT},                                                                  \
    {                                                                                              \
        .name = "path", .id = DR_SELECT_PATH, .arg = "PATH",                                       \
        .help = "only snapshots that saved PATH or a directory above it, or of source PATH "       \
                "(pg:HOST:PORT, redis:HOST:PORT); repeat: any of them",                            \
        .flags = DR_OPT_REPEAT                                                                     \
    }
#define DR_SELECT_LATEST_OPT                                                                       \
    {                                                                                              \
        .name = "latest", .id = DR_SELECT_LATEST,                                                  \
        .help = "the latest snapshot (of --host, --tag, --path) instead of SNAP"                   \
    }

struct dr_select {
    const struct dr_args *args; /* where the values are read from (DR_SELECT_INIT) */
    size_t nhost, ntag, npath;  /* how many of each were given (0: any) */
    bool latest;                /* --latest (drill) */
};
#define DR_SELECT_INIT(ctx)                                                                        \
    {                                                                                              \
        .args = &(ctx)->args                                                                       \
    }

/* Takes an option id (dr_cmd_opt, with its argument) when it is a selector option; false when it is
 * not. */
bool dr_select_opt(struct dr_select *sel, int c, const char *arg);
/* Was any of --host, --tag, --path given? */
bool dr_select_filtered(const struct dr_select *sel);
/* Resolves spec ("latest", an id or a prefix; "latest" whatever spec is when --latest was given):
 * "latest" is the latest snapshot that passes the selector; an id is taken as it is. Errors:
 * DR_ENOENT naming the selector ("no snapshot matches latest --host db1 --path /srv"), and those
 * of dr_repo_snapshot_resolve. */
DR_MUST_CHECK int dr_select_resolve(struct dr_ctx *ctx, const struct dr_select *sel,
                                    const char *spec, struct dr_id *out);
/* Does s pass the selector's --host, --tag and --path? */
bool dr_select_matches(const struct dr_select *sel, const struct dr_snapshot *s);
/* Does a command that takes SNAP... or a selector act on snapshot e: is it one of ids (the SNAP
 * arguments, resolved), or, when none were given (nids 0), does it pass the selector? */
bool dr_select_takes(const struct dr_select *sel, const struct dr_id *ids, size_t nids,
                     const struct dr_snap_entry *e);
/* Resolves the SNAP arguments (dr_select_resolve: "latest" under the selector, or an id) into
 * *out (malloc'd, argc ids; free it also on error). */
DR_MUST_CHECK int dr_select_resolve_all(struct dr_ctx *ctx, const struct dr_select *sel, int argc,
                                        char **argv, struct dr_id **out);
/* "latest --host db1 --path /srv": spec and the selector options as given, for messages.
 * malloc'd. */
char *dr_select_describe(const struct dr_select *sel, const char *spec);
/* Opens the repository and lists its snapshots (dr_repo_snapshot_list: oldest first, *bad the
 * unreadable ones) with their drill results, for the commands that show snapshots
 * (snapshots, metrics). Drill results that cannot be read are a warning: the listing goes on
 * without them. Free with dr_snap_list_free and dr_drill_results_release. */
struct dr_drill_results;
DR_MUST_CHECK int dr_select_list(struct dr_ctx *ctx, struct dr_snap_entry **v, size_t *n,
                                 size_t *bad, struct dr_drill_results *drills);

/* Point-in-time recovery of PostgreSQL (pitr.c), for restore and drill: --pg-time TIME,
 * --pg-lsn LSN, --pg-xid XID and --pg-latest, of which one may be given. A command puts
 * DR_PITR_OPTS into its option table and passes options it does not know to dr_pitr_opt. */
#define DR_PITR_TIME 0x701
#define DR_PITR_LSN 0x702
#define DR_PITR_XID 0x703
#define DR_PITR_LATEST 0x704
#define DR_PITR_OPTS                                                                                 \
    {"pg-time",                                                                                      \
     0,                                                                                              \
     DR_PITR_TIME,                                                                                   \
     "TIME",                                                                                         \
     "PostgreSQL: recover to TIME ('YYYY-MM-DD HH:MM:SS[+TZ]') from the newest base backup "         \
     "that ends before it",                                                                          \
     0,                                                                                              \
     NULL},                                                                                          \
        {"pg-lsn", 0, DR_PITR_LSN, "LSN", "PostgreSQL: recover to LSN (like 16/B374D848)", 0, NULL}, \
        {"pg-xid", 0, DR_PITR_XID, "XID", "PostgreSQL: recover to transaction XID", 0, NULL},        \
    {                                                                                                \
        "pg-latest", 0, DR_PITR_LATEST, NULL,                                                        \
            "PostgreSQL: recover to the end of the archived WAL", 0, NULL                            \
    }
struct dr_pitr {
    bool given;
    struct dr_wal_target target;
};
/* Takes option c when it is one of DR_PITR_OPTS (true), setting *rc to a usage error for a
 * second target or a value that does not parse; false for another option. */
bool dr_pitr_opt(struct dr_ctx *ctx, struct dr_pitr *p, int c, const char *arg, int *rc);
/* The base backup for a recovery to t: SNAP as given (spec), else the newest snapshot of the
 * selector that is a PostgreSQL base backup reaching t (dr_wal_backup_reaches). Errors:
 * DR_ENOENT (none), DR_EUSAGE (backups of several clusters qualify), listing errors. */
DR_MUST_CHECK int dr_pitr_backup(struct dr_ctx *ctx, const struct dr_select *sel, const char *spec,
                                 const struct dr_wal_target *t, struct dr_id *out);

/* Finishes w (dr_json_finish), prints its buffer and a newline to out, and releases the
 * buffer, whether or not it printed. Returns the writer's error, or 0. */
DR_MUST_CHECK int dr_cmd_json_emit(struct dr_json *w, FILE *out);

/* The shared JSON objects (jsonout.c, docs/JSON.md). dr_cmd_json_ids writes "id" (full hex)
 * and "short_id" (8 hex digits), the names every command gives a snapshot's id;
 * dr_cmd_json_snapshot those and the snapshot's time, host, user, source, paths, tags, tree
 * and parent; dr_cmd_json_node a tree node at path (path, name, type, size, mode, uid, gid,
 * user, group, mtime, ...). Each writes fields into the object the caller has opened. */
void dr_cmd_json_ids(struct dr_json *w, const struct dr_id *id);
void dr_cmd_json_snapshot(struct dr_json *w, const struct dr_id *id, const struct dr_snapshot *s);
void dr_cmd_json_node(struct dr_json *w, const char *path, const struct dr_node *n);
/* A node's type as JSON names it: "file", "dir", "symlink", "chardev", "blockdev", "fifo",
 * "socket". */
const char *dr_cmd_node_type(const struct dr_node *n);

/* Formats a snapshot's short id (first 8 hex digits) into out[9]. */
void dr_short_id(const struct dr_id *id, char out[9]);

/* Subcommands (src/cmd/<name>.c), and their option tables. */
int dr_cmd_init(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_snapshot(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_snapshots(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_ls(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_restore(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_dump(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_diff(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_stats(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_key(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_check(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_drill(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_mount(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_forget(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_prune(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_repair(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_tag(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_find(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_unlock(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_version(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_copy(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_metrics(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_wal(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_generate(struct dr_ctx *ctx, int argc, char **argv);
extern const struct dr_opt dr_cmd_init_opts[], dr_cmd_snapshot_opts[], dr_cmd_snapshots_opts[],
    dr_cmd_ls_opts[], dr_cmd_restore_opts[], dr_cmd_dump_opts[], dr_cmd_key_opts[],
    dr_cmd_check_opts[], dr_cmd_drill_opts[], dr_cmd_mount_opts[], dr_cmd_forget_opts[],
    dr_cmd_prune_opts[], dr_cmd_repair_opts[], dr_cmd_tag_opts[], dr_cmd_find_opts[],
    dr_cmd_unlock_opts[], dr_cmd_copy_opts[], dr_cmd_diff_opts[], dr_cmd_stats_opts[],
    dr_cmd_wal_opts[], dr_cmd_generate_opts[];

#endif
