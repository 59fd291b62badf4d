/* unlock.c: `drrepo unlock` removes locks whose holder is gone (and, with --remove-all, every
 * lock: only for when the operator knows no drrepo runs anywhere). With --json, one object:
 * the locks removed and the count of those kept (docs/JSON.md). */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/lock.h"

static void removed_cb(void *arg, const struct dr_lock_info *li)
{
    struct dr_json *w = arg;
    if (w) {
        dr_json_begin_object(w);
        dr_json_kname(w, "name", li->name);
        dr_json_ku64(w, "pid", li->pid);
        dr_json_kname(w, "host", li->host);
        dr_json_kbool(w, "exclusive", li->exclusive);
        dr_json_end_object(w);
        return;
    }
    printf("removed lock %s (pid %u on %s)\n", li->name, li->pid, li->host[0] ? li->host : "?");
}

const struct dr_opt dr_cmd_unlock_opts[] = {
    {"remove-all", 0, 'a', NULL, "remove every lock, also of running processes (when none runs)", 0,
     NULL},
    {0},
};

int dr_cmd_unlock(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)argc; /* no operands: cmd.c refuses them (max_args) */
    (void)argv;
    bool all = false;
    const char *arg;
    while (dr_cmd_opt(ctx, &arg) == 'a') {
        all = true;
    }
    const char *loc = dr_cmd_repo_location(ctx);
    if (!loc) {
        return dr_errorf(DR_EUSAGE, "no repository given: use -r REPO or set DRREPO_REPOSITORY");
    }
    /* no password needed: locks are not encrypted, and a stuck lock must be removable even
     * when the operator only has access to the storage */
    int removed = 0, kept = 0;
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_key(&w, "removed");
    dr_json_begin_array(&w);
    int rc = dr_repo_unlock(loc, all, removed_cb, ctx->json ? &w : NULL, &removed, &kept);
    dr_json_end_array(&w);
    dr_json_ku64(&w, "kept", (uint64_t)kept);
    dr_json_end_object(&w);
    if (rc >= 0 && ctx->json) {
        rc = dr_cmd_json_emit(&w, stdout);
    } else if (rc >= 0 && !ctx->quiet) {
        printf("%d locks removed, %d held by running processes kept\n", removed, kept);
    }
    dr_buf_release(&b);
    return rc;
}
