/* unlock.c: `drrepo unlock` removes locks whose holder is gone (and, with --remove-all, every
 * lock: only for when the operator knows no drrepo runs anywhere). */
#include "cmd_int.h"

#include <getopt.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/util.h"

struct unlock_ctx {
    struct dr_backend *b;
    bool all;
    int removed, kept;
};

static int unlock_cb(void *arg, const struct dr_lock_info *li)
{
    struct unlock_ctx *uc = arg;
    bool old = dr_time_now_ns() - li->refreshed_ns > DR_LOCK_STALE_NS;
    if (uc->all || !li->host[0] || dr_lock_is_dead(li) || old) {
        if (dr_backend_delete(uc->b, li->name) == 0) {
            printf("removed lock %s (pid %u on %s)\n", li->name, li->pid,
                   li->host[0] ? li->host : "?");
            uc->removed++;
        } else {
            dr_error_clear();
        }
    } else {
        uc->kept++;
    }
    return 0;
}

int dr_cmd_unlock(struct dr_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"remove-all", no_argument, NULL, 'a'}, {0, 0, 0, 0}};
    struct unlock_ctx uc = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'a') {
            return dr_cmd_usage(ctx, "unknown option");
        }
        uc.all = true;
    }
    const char *loc = ctx->repo ? ctx->repo : getenv("DRREPO_REPOSITORY");
    if (!loc) {
        return dr_errorf(DR_EUSAGE, "no repository given: use -r REPO or set DRREPO_REPOSITORY");
    }
    /* no password needed: locks are not encrypted, and a stuck lock must be removable even
     * when the operator only has access to the storage */
    struct dr_backend *b;
    int rc = dr_backend_open(loc, &b);
    if (rc < 0) {
        return rc;
    }
    uint64_t sz;
    if (dr_backend_stat(b, DR_OBJ_CONFIG, &sz) < 0 &&
        dr_backend_stat(b, DR_OBJ_CONFIG_COPY, &sz) < 0) {
        dr_backend_close(b);
        return dr_errorf(DR_ENOREPO, "no repository at '%s'", loc);
    }
    uc.b = b;
    rc = dr_lock_list(b, unlock_cb, &uc);
    dr_backend_close(b);
    if (rc >= 0 && !ctx->quiet) {
        printf("%d locks removed, %d held by running processes kept\n", uc.removed, uc.kept);
    }
    return rc;
}
