/* select.c: the snapshot selector that drill, dump, forget, ls, restore and snapshots share.
 * --host and --tag narrow what "latest" means (and which snapshots a listing or a keep policy
 * sees); drill's --latest stands for the snapshot argument "latest". Each command keeps its own
 * option loop and hands these options to dr_select_opt. */
#include "cmd_int.h"

bool dr_select_opt(struct dr_select *sel, int c, const char *arg)
{
    switch (c) {
    case 'H': sel->host = arg; return true;
    case 't': sel->tag = arg; return true;
    case DR_SELECT_LATEST: sel->latest = true; return true;
    default: return false;
    }
}

int dr_select_resolve(struct dr_ctx *ctx, const struct dr_select *sel, const char *spec,
                      struct dr_id *out)
{
    return dr_repo_snapshot_resolve(ctx->r, sel->latest ? "latest" : spec, sel->host, sel->tag,
                                    out);
}

bool dr_select_matches(const struct dr_select *sel, const struct dr_snapshot *s)
{
    return dr_snapshot_matches(s, sel->host, sel->tag);
}
