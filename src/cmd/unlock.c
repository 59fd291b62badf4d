/* unlock.c: `drrepo unlock` removes locks whose holder is gone (and, with --remove-all, every
 * lock: only for when the operator knows no drrepo runs anywhere). */
#include "cmd_int.h"

#include <getopt.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/lock.h"

static void removed_cb(void *arg, const struct dr_lock_info *li)
{
    (void)arg;
    printf("removed lock %s (pid %u on %s)\n", li->name, li->pid, li->host[0] ? li->host : "?");
}

int dr_cmd_unlock(struct dr_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"remove-all", no_argument, NULL, 'a'}, {0, 0, 0, 0}};
    bool all = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'a') {
            return dr_cmd_usage(ctx, "unknown option");
        }
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
