/* unlock.c: `drrepo unlock` removes locks whose holder is gone (and, with --remove-all, every
 * lock: only for when the operator knows no drrepo runs anywhere). */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/lock.h"

static void removed_cb(void *arg, const struct dr_lock_info *li)
{
    (void)arg;
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
    const char *loc = ctx->repo ? ctx->repo : getenv("DRREPO_REPOSITORY");
    if (!loc) {
        return dr_errorf(DR_EUSAGE, "no repository given: use -r REPO or set DRREPO_REPOSITORY");
    }
    /* no password needed: locks are not encrypted, and a stuck lock must be removable even
     * when the operator only has access to the storage */
    int removed = 0, kept = 0;
    int rc = dr_repo_unlock(loc, all, removed_cb, NULL, &removed, &kept);
    if (rc >= 0 && !ctx->quiet) {
        printf("%d locks removed, %d held by running processes kept\n", removed, kept);
    }
    return rc;
}
