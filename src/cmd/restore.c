/* restore.c: `drrepo restore SNAP --target DIR`, with the policies for what is already in the
 * target (--overwrite, --delete), --dry-run, and a clean stop on SIGINT/SIGTERM. */
#include "cmd_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/restore.h"
#include "drrepo/util.h"
#include "drrepo/wal.h"

static const char *const action_names[] = {
    [DR_RESTORE_WRITE] = "write",   [DR_RESTORE_OVERWRITE] = "overwrite",
    [DR_RESTORE_SKIP] = "skip",     [DR_RESTORE_UNCHANGED] = "unchanged",
    [DR_RESTORE_DELETE] = "delete",
};

/* The lines of a text dry run: "would write PATH". */
static const char *const action_text[] = {
    [DR_RESTORE_WRITE] = "would write",   [DR_RESTORE_OVERWRITE] = "would overwrite",
    [DR_RESTORE_SKIP] = "would skip",     [DR_RESTORE_UNCHANGED] = "would leave unchanged",
    [DR_RESTORE_DELETE] = "would delete",
};

/* A dry run's list: "would write PATH" lines, or objects of the JSON "actions" array. */
struct plan {
    struct dr_json *w; /* NULL: text */
};

static void plan_action(void *arg, enum dr_restore_action a, const char *path)
{
    struct plan *p = arg;
    if (p->w) {
        dr_json_begin_object(p->w);
        dr_json_kstring(p->w, "action", action_names[a]);
        dr_json_kname(p->w, "path", path);
        dr_json_end_object(p->w);
    } else {
        printf("%s %s\n", action_text[a], path);
    }
}

/* "never", "if-changed", "always"; -1 for anything else. */
static int parse_policy(const char *s)
{
    if (strcmp(s, "never") == 0) {
        return DR_OVERWRITE_NEVER;
    }
    if (strcmp(s, "if-changed") == 0) {
        return DR_OVERWRITE_IF_CHANGED;
    }
    if (strcmp(s, "always") == 0) {
        return DR_OVERWRITE_ALWAYS;
    }
    return -1;
}

/* ", 3 unchanged, 1 deleted": the policy counts that are not zero. */
static void print_policy_counts(const struct dr_restore_stats *st)
{
    const struct {
        const char *name;
        uint64_t n;
    } c[] = {
        {"overwritten", st->overwritten},
        {"unchanged", st->unchanged},
        {"skipped", st->skipped},
        {"deleted", st->deleted},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        if (c[i].n) {
            printf(", %llu %s", (unsigned long long)c[i].n, c[i].name);
        }
    }
}

static void json_stats(struct dr_json *w, const struct dr_restore_stats *st, bool dry_run)
{
    dr_json_kbool(w, "dry_run", dry_run);
    dr_json_ku64(w, "files", st->files);
    dr_json_ku64(w, "dirs", st->dirs);
    dr_json_ku64(w, "links", st->links);
    dr_json_ku64(w, "bytes", st->bytes);
    dr_json_ku64(w, "overwritten", st->overwritten);
    dr_json_ku64(w, "unchanged", st->unchanged);
    dr_json_ku64(w, "skipped", st->skipped);
    dr_json_ku64(w, "deleted", st->deleted);
    dr_json_ku64(w, "errors", st->errors);
    dr_json_ku64(w, "dirs_lost", st->dirs_lost);
    dr_json_ku64(w, "damaged", st->damaged);
    dr_json_ku64(w, "incomplete", st->incomplete);
    /* what reading the contents cost the backend: requests, bytes they returned, bytes of the
     * blobs used (read amplification; on object storage, the request bill) */
    dr_json_ku64(w, "gets", st->reads.gets);
    dr_json_ku64(w, "bytes_fetched", st->reads.bytes_fetched);
    dr_json_ku64(w, "bytes_used", st->reads.bytes_used);
}

static const char *const policies[] = {"never", "if-changed", "always", NULL};

/* Appends s to b quoted for sh: in single quotes, a quote as '\'' */
static int sh_quote(struct dr_buf *b, const char *s)
{
    int rc = dr_buf_addch(b, '\'');
    for (; rc >= 0 && *s; s++) {
        rc = *s == '\'' ? dr_buf_add(b, "'\\''", 4) : dr_buf_addch(b, *s);
    }
    return rc < 0 ? rc : dr_buf_add(b, "' ", 2);
}

/* The restore_command of a recovery: this drrepo, with this repository and the same way to
 * the password, fetching the cluster's WAL. The server runs it as its own user, so that user
 * must be able to read the repository and the password file (docs/SOURCES.md). malloc'd. */
static char *restore_command(struct dr_ctx *ctx, uint64_t sysid)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(exe, sizeof(exe), "drrepo");
    } else {
        exe[n] = '\0';
    }
    const char *repo = dr_cmd_repo_location(ctx);
    const char *pwf = ctx->password_file ? ctx->password_file : getenv("DRREPO_PASSWORD_FILE");
    const char *pwc = ctx->password_command;
    if (!pwc && !pwf) {
        pwc = getenv("DRREPO_PASSWORD_COMMAND");
    }
    struct dr_buf b = DR_BUF_INIT(1 << 16);
    int rc = sh_quote(&b, exe);
    rc = rc < 0 ? rc : dr_buf_add(&b, "-r ", 3);
    rc = rc < 0 ? rc : sh_quote(&b, repo ? repo : "");
    if (pwf) {
        rc = rc < 0 ? rc : dr_buf_add(&b, "--password-file ", 16);
        rc = rc < 0 ? rc : sh_quote(&b, pwf);
    } else if (pwc) {
        rc = rc < 0 ? rc : dr_buf_add(&b, "--password-command ", 19);
        rc = rc < 0 ? rc : sh_quote(&b, pwc);
    } else {
        dr_log_warn("restore_command: the password came from DRREPO_PASSWORD or a prompt; the "
                    "server must have DRREPO_PASSWORD in its environment to fetch WAL (or use "
                    "--password-file)");
    }
    /* the spool in the restored pg_wal (relative: the server runs the command in its data
     * directory; base backups leave pg_wal's contents out): one worker derives the key and
     * fetches ahead of replay, instead of a key derivation per segment */
    rc = rc < 0
             ? rc
             : dr_buf_addf(&b, "wal get --system-id %llu --spool " DR_WAL_RESTORE_SPOOL " %%f %%p",
                           (unsigned long long)sysid);
    if (rc < 0) {
        DR_BUG("restore_command does not fit in 64 KiB");
    }
    return dr_buf_detach(&b, NULL);
}

const struct dr_opt dr_cmd_restore_opts[] = {
    {"target", 'T', 'T', "DIR", "restore into DIR (required)", 0, NULL},
    {"include", 'i', 'i', "PATTERN", "restore only paths that match PATTERN", DR_OPT_REPEAT, NULL},
    {"exclude", 'e', 'e', "PATTERN", "leave out paths that match PATTERN", DR_OPT_REPEAT, NULL},
    {"overwrite", 0, 'o', "never|if-changed|always",
     "what to do with files already in the target (default never; bare: always)", DR_OPT_OPTIONAL,
     policies},
    {"verify-existing", 0, 'V', NULL, "with --overwrite if-changed: compare contents too", 0, NULL},
    {"delete", 0, 'D', NULL, "delete files in the target that the snapshot does not have", 0, NULL},
    {"dry-run", 0, 'n', NULL, "say what would be done, change nothing", 0, NULL},
    DR_PITR_OPTS,
    DR_SELECT_OPTS,
    {0},
};

int dr_cmd_restore(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_restore_opts o = {0};
    size_t ai = 0, ae = 0;
    struct dr_select sel = DR_SELECT_INIT(ctx);
    struct dr_pitr pitr = {0};
    const char *arg;
    int c, rc = 0;
    while (rc >= 0 && (c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case 'T': o.target = arg; break;
        case 'i':
            DR_GROW(o.includes, ai, o.nincludes + 1);
            o.includes[o.nincludes++] = (char *)arg;
            break;
        case 'e':
            DR_GROW(o.excludes, ae, o.nexcludes + 1);
            o.excludes[o.nexcludes++] = (char *)arg;
            break;
        case 'o': {
            /* "--overwrite if-changed" as restic spells it, "--overwrite=if-changed", and the
             * bare "--overwrite" of earlier versions, which means always (the parser takes the
             * next word only when it is one of the policies) */
            const char *pol = arg;
            int p = pol ? parse_policy(pol) : DR_OVERWRITE_ALWAYS;
            if (p < 0) {
                rc = dr_cmd_usage(ctx, "--overwrite takes never, if-changed or always, not '%s'",
                                  pol);
            } else {
                o.overwrite = (enum dr_restore_overwrite)p;
            }
            break;
        }
        case 'V': o.verify_existing = true; break;
        case 'D': o.delete = true; break;
        case 'n': o.dry_run = true; break;
        default:
            if (dr_pitr_opt(ctx, &pitr, c, arg, &rc)) {
                break;
            }
            if (!dr_select_opt(&sel, c, arg)) {
                DR_BUG("restore: an option of the table is not handled");
            }
            break;
        }
    }
    if (rc >= 0 && argc != 1 && !(pitr.given && argc == 0)) {
        rc = dr_cmd_usage(ctx, "restore takes one snapshot");
    }
    if (rc >= 0 && !o.target) {
        rc = dr_cmd_usage(ctx, "--target DIR is required");
    }
    if (rc >= 0 && o.verify_existing && o.overwrite != DR_OVERWRITE_IF_CHANGED) {
        rc = dr_cmd_usage(ctx, "--verify-existing goes with --overwrite if-changed");
    }
    if (rc >= 0) {
        rc = dr_cmd_open(ctx);
    }
    struct dr_id id;
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    if (rc >= 0) {
        rc = pitr.given ? dr_pitr_backup(ctx, &sel, argc ? argv[0] : NULL, &pitr.target, &id)
                        : dr_select_resolve(ctx, &sel, argv[0], &id);
    }
    if (rc >= 0) {
        rc = dr_repo_snapshot_load(ctx->r, &id, &s);
    }
    char wal_last[DR_WAL_FILE_NAME_MAX] = "", wal_gap[DR_WAL_FILE_NAME_MAX] = "";
    if (rc >= 0 && pitr.given) {
        /* before anything is written: a recovery that cannot reach its target is refused */
        if (!dr_wal_backup_reaches(&s, &pitr.target)) {
            rc = dr_errorf(DR_EUSAGE,
                           "snapshot %s is not a PostgreSQL base backup that ends "
                           "before the target %s",
                           argv[0], pitr.target.value ? pitr.target.value : "");
        }
        rc = rc < 0 ? rc : dr_wal_check_chain(ctx->r, &s, &pitr.target, wal_last, wal_gap);
        if (rc >= 0 && wal_gap[0]) {
            dr_log_warn("WAL file %s is missing from the archive: recovery stops at %s", wal_gap,
                        wal_last[0] ? wal_last : "the end of the base backup");
        } else if (rc >= 0 && !wal_last[0]) {
            dr_log_warn("no WAL of this cluster is archived: recovery ends with the base backup");
        }
    }
    if (rc >= 0) {
        if (ctx->progress) {
            o.progress = dr_cmd_progress;
            o.progress_arg = "restore";
        }
        struct dr_buf j = DR_BUF_INIT(1 << 30);
        struct dr_json w;
        dr_json_init(&w, &j);
        struct plan plan = {.w = ctx->json ? &w : NULL};
        if (ctx->json) {
            dr_json_begin_object(&w);
        }
        if (o.dry_run) {
            o.action = plan_action;
            o.action_arg = &plan;
            if (ctx->json) {
                dr_json_key(&w, "actions");
                dr_json_begin_array(&w);
            }
        }
        struct dr_restore_stats st;
        /* a signal stops the restore between files (cmd.c installs the handler): its temporary
         * files are removed and the lock is released on the way out (exit 128 + the signal) */
        rc = dr_restore_run(ctx->r, &s, &o, &st);
        /* the summary only for a restore that succeeded: one that failed says on stderr how
         * much it restored and what it could not */
        if (rc >= 0 && !ctx->quiet && !ctx->json) {
            char size[32], sid[9];
            dr_size_format(st.bytes, size, sizeof(size));
            dr_short_id(&id, sid);
            printf("%s snapshot %s to %s: %llu files, %llu dirs, %s",
                   o.dry_run ? "dry run: would restore" : "restored", sid, o.target,
                   (unsigned long long)st.files, (unsigned long long)st.dirs, size);
            print_policy_counts(&st);
            printf("\n");
        } else if (ctx->json) {
            if (o.dry_run) {
                dr_json_end_array(&w);
            }
            json_stats(&w, &st, o.dry_run);
            dr_json_end_object(&w);
            if (dr_cmd_json_emit(&w, stdout) < 0) {
                dr_error_clear(); /* the restore's outcome decides the exit code */
            }
        }
        dr_buf_release(&j);
        if (rc >= 0 && pitr.given && !o.dry_run) {
            uint64_t sysid = 0, segno;
            uint32_t tli;
            rc = dr_wal_backup_start(&s, 0, &sysid, &tli, &segno);
            char *cmd = rc < 0 ? NULL : restore_command(ctx, sysid);
            /* the spool goes when recovery ends, with what was fetched past the target; after
             * its worker, which holds the spool's lock while it fetches (flock(1), util-linux) */
            char *end =
                dr_xasprintf("test ! -d %s/%llu/get || flock %s/%llu/get/lock rm -rf %s",
                             DR_WAL_RESTORE_SPOOL, (unsigned long long)sysid, DR_WAL_RESTORE_SPOOL,
                             (unsigned long long)sysid, DR_WAL_RESTORE_SPOOL);
            rc = rc < 0 ? rc
                        : dr_wal_write_recovery(o.target, cmd, end,
                                                dr_wal_target_setting(&pitr.target),
                                                pitr.target.value);
            free(end);
            if (rc >= 0 && !ctx->quiet && !ctx->json) {
                printf(
                    "recovery settings written to %s/postgresql.auto.conf: start PostgreSQL "
                    "on it to recover to %s%s%s%s\n",
                    o.target, pitr.target.value ? pitr.target.value : "the end of the archived WAL",
                    wal_last[0] ? " (archived WAL through " : "", wal_last, wal_last[0] ? ")" : "");
            }
            free(cmd);
        }
        if (st.errors || st.dirs_lost) {
            ctx->hint = "'drrepo repair snapshots' recovers a snapshot with lost trees or data: "
                        "it writes a copy that marks them damaged and restores everything "
                        "else; 'drrepo check' lists all damage";
        }
    }
    dr_snapshot_release(&s);
    free(o.includes);
    free(o.excludes);
    return rc;
}
