/* select.c: the snapshot selector that drill, dump, forget, ls, restore and snapshots share.
 * --host and --tag narrow what "latest" means (and which snapshots a listing or a keep policy
 * sees), and so does --path where a command offers it (copy); drill's --latest stands for the
 * snapshot argument "latest". Each command keeps its own
 * option loop and hands these options to dr_select_opt. */
#include "cmd_int.h"

#include "drrepo/error.h"

bool dr_select_opt(struct dr_select *sel, int c, const char *arg)
{
    switch (c) {
    case 'H': sel->host = arg; return true;
    case 't': sel->tag = arg; return true;
    case DR_SELECT_LATEST: sel->latest = true; return true;
    case DR_SELECT_PATH: sel->path = arg; return true;
    default: return false;
    }
}

int dr_select_resolve(struct dr_ctx *ctx, const struct dr_select *sel, const char *spec,
                      struct dr_id *out)
{
    if (sel->path && (sel->latest || strcmp(spec, "latest") == 0)) {
        /* the store's resolver knows host and tag; the path is the selector's own */
        struct dr_snap_entry *v = NULL;
        size_t n = 0;
        int rc = dr_repo_snapshot_list(ctx->r, &v, &n, NULL);
        size_t i = n;
        while (rc >= 0 && i-- > 0 && !dr_select_matches(sel, &v[i].snap)) {
        }
        if (rc >= 0 && i < n) {
            *out = v[i].id;
        } else if (rc >= 0) {
            rc = dr_errorf(DR_ENOENT, "no snapshot matches 'latest'%s%s%s%s with path %s",
                           sel->host ? " for host " : "", sel->host ? sel->host : "",
                           sel->tag ? " with tag " : "", sel->tag ? sel->tag : "", sel->path);
        }
        dr_snap_list_free(v, n);
        return rc;
    }
    return dr_repo_snapshot_resolve(ctx->r, sel->latest ? "latest" : spec, sel->host, sel->tag,
                                    out);
}

bool dr_select_matches(const struct dr_select *sel, const struct dr_snapshot *s)
{
    if (!dr_snapshot_matches(s, sel->host, sel->tag)) {
        return false;
    }
    if (!sel->path) {
        return true;
    }
    for (size_t i = 0; i < s->npaths; i++) {
        if (strcmp(s->paths[i], sel->path) == 0) {
            return true;
        }
    }
    return false;
}
