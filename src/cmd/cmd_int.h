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
};

struct dr_ctx;

struct dr_cmd {
    const char *name;
    const char *summary;
    int (*run)(struct dr_ctx *ctx, int argc, char **argv);
    unsigned flags;
    const char *usage;
};

struct dr_ctx {
    const struct dr_cmd *cmd;
    const char *repo;
    const char *password_file;
    const char *password_command;
    const char *cache_dir;
    const char *read_concurrency; /* --read-concurrency: the read engine's workers */
    bool json;
    bool quiet;
    bool progress; /* stderr is a terminal and not quiet */
    struct dr_repo *r;
    struct dr_lock *lock;
    int64_t retry_lock_ns; /* --retry-lock: how long to wait for a conflicting lock */
    const char *hint;      /* a command's own hint for its error (static); else by error code */
    struct dr_open_failure open_failure; /* what dr_cmd_open found damaged, when it failed */
};

/* Swaps the context's lock for an exclusive one, retrying for up to ctx->retry_lock_ns. */
DR_MUST_CHECK int dr_cmd_lock_exclusive(struct dr_ctx *ctx);

/* Opens the repository named by the context for the current command (per its flags): asks for
 * the password, opens keys and index, takes the lock. */
DR_MUST_CHECK int dr_cmd_open(struct dr_ctx *ctx);

/* The repository password from DRREPO_PASSWORD, --password-file / DRREPO_PASSWORD_FILE,
 * --password-command / DRREPO_PASSWORD_COMMAND, or a prompt on the terminal (twice when
 * confirm). *out is malloc'd (free with dr_cmd_free_password). */
DR_MUST_CHECK int dr_cmd_password(struct dr_ctx *ctx, const char *prompt, bool confirm, char **out);
void dr_cmd_free_password(char *pw);
/* A new password for key add/passwd: DRREPO_NEW_PASSWORD, --new-password-file, or a prompt. */
DR_MUST_CHECK int dr_cmd_new_password(struct dr_ctx *ctx, const char *file, char **out);

/* Prints a usage error for the current command and returns DR_EUSAGE. */
int dr_cmd_usage(struct dr_ctx *ctx, const char *fmt, ...) DR_PRINTF(2, 3);

/* Progress callback printing to stderr (arg is a label such as "snapshot"). */
void dr_cmd_progress(void *arg, const struct dr_progress *p, bool final);

/* The snapshot selector (select.c): --host HOST and --tag TAG, and drill's --latest. A command
 * puts DR_SELECT_OPTIONS (and DR_SELECT_LATEST_OPTION) into its struct option table and passes
 * every option it does not know itself to dr_select_opt. */
#define DR_SELECT_LATEST 0x5e1 /* getopt code of --latest: no short option */
#define DR_SELECT_OPTIONS                                                                          \
    {"host", required_argument, NULL, 'H'},                                                        \
    {                                                                                              \
        "tag", required_argument, NULL, 't'                                                        \
    }
#define DR_SELECT_LATEST_OPTION                                                                    \
    {                                                                                              \
        "latest", no_argument, NULL, DR_SELECT_LATEST                                              \
    }

struct dr_select {
    const char *host; /* --host: NULL for any */
    const char *tag;  /* --tag: NULL for any */
    bool latest;      /* --latest (drill) */
};

/* Takes getopt's c (with its argument) when it is a selector option; false when it is not. */
bool dr_select_opt(struct dr_select *sel, int c, const char *arg);
/* Resolves spec ("latest", an id or a prefix; "latest" whatever spec is when --latest was given)
 * under the selector's host and tag (dr_repo_snapshot_resolve). */
DR_MUST_CHECK int dr_select_resolve(struct dr_ctx *ctx, const struct dr_select *sel,
                                    const char *spec, struct dr_id *out);
/* Does s pass the selector's --host and --tag? */
bool dr_select_matches(const struct dr_select *sel, const struct dr_snapshot *s);

/* Finishes w (dr_json_finish), prints its buffer and a newline to out, and releases the
 * buffer, whether or not it printed. Returns the writer's error, or 0. */
DR_MUST_CHECK int dr_cmd_json_emit(struct dr_json *w, FILE *out);

/* Formats a snapshot's short id (first 8 hex digits) into out[9]. */
void dr_short_id(const struct dr_id *id, char out[9]);

/* Subcommands (src/cmd/<name>.c). */
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
int dr_cmd_unlock(struct dr_ctx *ctx, int argc, char **argv);
int dr_cmd_version(struct dr_ctx *ctx, int argc, char **argv);

#endif
