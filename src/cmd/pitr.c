/* pitr.c: the options and the choice of base backup of a point-in-time recovery, shared by
 * `restore` and `drill` (cmd_int.h, docs/SOURCES.md "Point-in-time recovery"). */
#include "cmd_int.h"

#include "drrepo/error.h"

bool dr_pitr_opt(struct dr_ctx *ctx, struct dr_pitr *p, int c, const char *arg, int *rc)
{
    enum dr_wal_target_kind kind;
    switch (c) {
    case DR_PITR_TIME: kind = DR_WAL_TARGET_TIME; break;
    case DR_PITR_LSN: kind = DR_WAL_TARGET_LSN; break;
    case DR_PITR_XID: kind = DR_WAL_TARGET_XID; break;
    case DR_PITR_LATEST: kind = DR_WAL_TARGET_LATEST; break;
    default: return false;
    }
    if (p->given) {
        *rc = dr_cmd_usage(ctx, "give one of --pg-time, --pg-lsn, --pg-xid and --pg-latest");
        return true;
    }
    p->given = true;
    *rc = dr_wal_target_parse(kind, arg, &p->target);
    return true;
}

int dr_pitr_backup(struct dr_ctx *ctx, const struct dr_select *sel, const char *spec,
                   const struct dr_wal_target *t, struct dr_id *out)
{
    if (spec) {
        return dr_select_resolve(ctx, sel, spec, out);
    }
    struct dr_snap_entry *list = NULL;
    size_t n = 0;
    int rc = dr_repo_snapshot_list(ctx->r, &list, &n, NULL);
    const struct dr_snap_entry *best = NULL;
    const char *cluster = NULL;
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        const struct dr_snapshot *s = &list[i].snap;
        if (!dr_select_matches(sel, s) || !dr_wal_backup_reaches(s, t)) {
            continue;
        }
        const char *sid = dr_snapshot_get_meta(s, "pg.system_identifier");
        if (cluster && sid && strcmp(cluster, sid) != 0) {
            rc = dr_errorf(DR_EUSAGE,
                           "base backups of several clusters (%s, %s) reach the target: choose "
                           "one with --path pg:HOST:PORT, --host or a snapshot id",
                           cluster, sid);
            break;
        }
        cluster = sid;
        best = &list[i]; /* sorted oldest first: the last is the newest */
    }
    if (rc >= 0 && !best) {
        rc = dr_errorf(DR_ENOENT, "no PostgreSQL base backup%s ends before the target %s",
                       dr_select_filtered(sel) ? " of the selection" : "",
                       t->value ? t->value : "(latest)");
    }
    if (rc >= 0) {
        *out = best->id;
    }
    dr_snap_list_free(list, n);
    return rc;
}
