/* copy.c: `drrepo copy` copies snapshots (ids, 'latest', or all that --host, --tag and --path
 * select) from the repository -r into the repository --to, which has its own password and
 * keys (src/copy/). Drill results of the snapshots are copied along (src/drill/). The source
 * is held under a shared lock, the target under the shared lock a snapshot takes. */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/copy.h"
#include "drrepo/drill.h"
#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

enum {
    O_TO = 1,
    O_TO_PASSWORD_FILE,
    O_TO_PASSWORD_COMMAND,
    O_TO_CACHE_DIR,
};

const struct dr_opt dr_cmd_copy_opts[] = {
    {"to", 0, O_TO, "REPO", "the target repository (required)", 0, NULL},
    {"to-password-file", 0, O_TO_PASSWORD_FILE, "FILE",
     "the target's password is FILE's first line (or DRREPO_TO_PASSWORD_FILE)", 0, NULL},
    {"to-password-command", 0, O_TO_PASSWORD_COMMAND, "CMD",
     "the target's password is CMD's first output line (or DRREPO_TO_PASSWORD_COMMAND)", 0, NULL},
    {"to-cache-dir", 0, O_TO_CACHE_DIR, "DIR",
     "where the target's local index lives (default: the source's cache root)", 0, NULL},
    DR_SELECT_OPTS,
    DR_METRICS_FILE_OPT,
    {0},
};

struct target {
    const char *loc, *pw_file, *pw_command, *cache_dir;
    struct dr_repo *r;
    struct dr_lock *lock;
};

/* Opens, locks (shared, as a snapshot does) and syncs the target, as dr_cmd_open does for -r. */
static int open_target(struct dr_ctx *ctx, struct target *t)
{
    char *pw = NULL;
    int rc = dr_cmd_target_password(t->pw_file, t->pw_command, &pw);
    if (rc < 0) {
        return rc;
    }
    struct dr_repo_open_opts o = {
        .location = t->loc,
        .password = pw,
        .cache_dir = t->cache_dir ? t->cache_dir : ctx->cache_dir,
        .no_sync = true, /* synced below, under the lock */
    };
    rc = dr_repo_open(&o, &t->r);
    dr_cmd_free_password(pw);
    if (rc < 0) {
        return dr_error_wrap(rc, "target repository '%s'", t->loc);
    }
    rc = dr_cmd_lock_repo(ctx, t->r, 0, &t->lock);
    if (rc >= 0) {
        rc = dr_repo_sync_index(t->r, DR_SYNC_CHANGES);
    }
    if (rc < 0) {
        return dr_error_wrap(rc, "target repository '%s'", t->loc);
    }
    rc = dr_repo_cleanup(t->r);
    if (rc > 0) {
        dr_log_info("removed %d temporary files left by interrupted runs in the target", rc);
    }
    if (rc < 0) {
        dr_error_clear();
    }
    return 0;
}

/* The snapshots to copy, oldest first (so that a parent's copy exists before its child's):
 * the operands resolved under the selector, or every snapshot it selects. */
static int select_snapshots(struct dr_ctx *ctx, const struct dr_select *sel, int argc, char **argv,
                            struct dr_id **out, size_t *out_n)
{
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    int rc = dr_repo_snapshot_list(ctx->r, &v, &n, NULL);
    bool *want = rc >= 0 ? dr_xcalloc(n + 1, sizeof(*want)) : NULL;
    for (int i = 0; rc >= 0 && i < argc; i++) {
        struct dr_id id;
        rc = dr_select_resolve(ctx, sel, argv[i], &id);
        for (size_t k = 0; rc >= 0 && k < n; k++) {
            want[k] |= dr_id_eq(&v[k].id, &id);
        }
    }
    for (size_t k = 0; rc >= 0 && argc == 0 && k < n; k++) {
        want[k] = dr_select_matches(sel, &v[k].snap);
    }
    *out = NULL;
    *out_n = 0;
    if (rc >= 0) {
        *out = dr_xcalloc(n + 1, sizeof(**out));
        for (size_t k = 0; k < n; k++) {
            if (want[k]) {
                (*out)[(*out_n)++] = v[k].id;
            }
        }
    }
    free(want);
    dr_snap_list_free(v, n);
    return rc;
}

static void json_result(struct dr_json *w, const struct dr_copy_result *res, int drills)
{
    char hex[DR_ID_HEX_LEN + 1];
    dr_json_begin_object(w);
    dr_json_kstring(w, "source_id", dr_id_hex(&res->source_id, hex));
    dr_json_kstring(w, "target_id", dr_id_hex(&res->target_id, hex));
    dr_json_kbool(w, "skipped", res->skipped);
    dr_json_ku64(w, "blobs_added", res->blobs_added);
    dr_json_ku64(w, "bytes_added", res->bytes_added);
    dr_json_ku64(w, "blobs_read", res->blobs_read);
    dr_json_ku64(w, "drills_copied", (uint64_t)drills);
    dr_json_end_object(w);
}

static void print_result(const struct dr_copy_result *res, int drills)
{
    char s8[9], t8[9], size[32];
    dr_short_id(&res->source_id, s8);
    dr_short_id(&res->target_id, t8);
    if (res->skipped) {
        printf("snapshot %s already copied as %s", s8, t8);
    } else {
        dr_size_format(res->bytes_added, size, sizeof(size));
        printf("copied snapshot %s to %s: %llu blobs, %s added", s8, t8,
               (unsigned long long)res->blobs_added, size);
    }
    if (drills > 0) {
        printf(" (%d drill result%s copied)", drills, drills == 1 ? "" : "s");
    }
    printf("\n");
}

int dr_cmd_copy(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_select sel = DR_SELECT_INIT(ctx);
    struct target t = {0};
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case O_TO: t.loc = arg; break;
        case O_TO_PASSWORD_FILE: t.pw_file = arg; break;
        case O_TO_PASSWORD_COMMAND: t.pw_command = arg; break;
        case O_TO_CACHE_DIR: t.cache_dir = arg; break;
        default:
            if (!dr_select_opt(&sel, c, arg)) {
                DR_BUG("copy: an option of the table is not handled");
            }
            break;
        }
    }
    if (!t.loc || !*t.loc) {
        return dr_cmd_usage(ctx, "--to REPO names the repository to copy into");
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_id *ids = NULL;
    size_t n = 0;
    rc = select_snapshots(ctx, &sel, argc, argv, &ids, &n);
    if (rc >= 0 && n == 0) {
        rc = dr_errorf(DR_ENOENT, "no snapshot matches the selection");
    }
    if (rc >= 0) {
        rc = open_target(ctx, &t);
    }
    struct dr_copy *cp = NULL;
    if (rc >= 0) {
        rc = dr_copy_open(ctx->r, t.r, &cp);
    }
    struct dr_buf jb = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &jb);
    dr_json_begin_array(&w);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        struct dr_copy_result res;
        rc = dr_copy_snapshot(cp, &ids[i], &res);
        int drills = 0;
        if (rc >= 0) {
            /* also after a skip: a run that died after the snapshot's commit left them out */
            drills = dr_drill_copy(ctx->r, &res.source_id, t.r, &res.target_id);
            char hex[DR_ID_HEX_LEN + 1];
            rc = drills < 0 ? dr_error_wrap(drills, "drill results of snapshot %.8s",
                                            dr_id_hex(&res.source_id, hex))
                            : 0;
        }
        if (rc >= 0 && ctx->json) {
            json_result(&w, &res, drills);
        } else if (rc >= 0) {
            print_result(&res, drills);
            fflush(stdout);
        }
    }
    dr_json_end_array(&w);
    if (rc >= 0 && ctx->json) {
        rc = dr_cmd_json_emit(&w, stdout);
    } else {
        dr_buf_release(&jb);
    }
    dr_copy_free(cp);
    if (t.r) {
        dr_repo_set_lock(t.r, NULL);
    }
    dr_lock_release(t.lock);
    dr_repo_close(t.r);
    free(ids);
    return rc;
}
