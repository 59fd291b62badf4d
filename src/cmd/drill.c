/* drill.c: `drrepo drill` restores a snapshot into a temporary place, checks that it works and
 * records the result (src/drill/). Exit codes: 0 the drill passed, 4 it ran and failed
 * (damage found: the reason is printed and recorded), 1 it could not run. */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/drill.h"
#include "drrepo/error.h"
#include "drrepo/util.h"

static int print_json(const struct dr_drill_result *res)
{
    struct dr_buf j = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    char when[32];
    dr_time_format(res->time_ns, when, sizeof(when));
    struct dr_json w;
    dr_json_init(&w, &j);
    dr_json_begin_object(&w);
    dr_cmd_json_ids(&w, &res->snapshot);
    dr_json_kstring(&w, "time", when);
    dr_json_kbool(&w, "ok", res->ok);
    dr_json_kstring(&w, "kind", res->kind ? res->kind : "");
    dr_json_kfixed(&w, "duration_seconds", (double)res->duration_ns / 1e9, 3);
    dr_json_kfixed(&w, "rto_seconds", (double)res->rto_ns / 1e9, 3);
    dr_json_kstring(&w, "checked", res->checked ? res->checked : "");
    dr_json_kstring(&w, "reason", res->reason); /* null when it passed */
    dr_json_end_object(&w);
    int rc = dr_json_finish(&w);
    rc = rc < 0 ? rc : dr_buf_addch(&j, '\n');
    if (rc >= 0) {
        fputs(j.buf, stdout);
    }
    dr_buf_release(&j);
    return rc;
}

static void print_human(const struct dr_drill_result *res)
{
    char sid[9];
    dr_short_id(&res->snapshot, sid);
    printf("drill of snapshot %s (%s): %s\n", sid, res->kind, res->ok ? "passed" : "FAILED");
    if (res->checked && res->checked[0]) {
        printf("checked: %s\n", res->checked);
    }
    printf("time to restore and start (RTO): %.2f s; whole drill: %.2f s\n",
           (double)res->rto_ns / 1e9, (double)res->duration_ns / 1e9);
}

/* everything after --restore-command is the command, options included (DR_OPT_REST) */
#define RESTORE_COMMAND 'R'

const struct dr_opt dr_cmd_drill_opts[] = {
    DR_SELECT_LATEST_OPT,
    DR_SELECT_OPTS,
    {"check-sql", 0, 'c', "FILE", "PostgreSQL: run FILE's SQL against the restored server", 0,
     NULL},
    {"check-db", 0, 'D', "DB",
     "the database --check-sql runs in (default: the one of the snapshot's connection string)", 0,
     NULL},
    {"tmpdir", 0, 'T', "DIR", "restore into a temporary directory under DIR", 0, NULL},
    {"pg", 0, 'P', NULL,
     "the newest PostgreSQL base backup (of --host, --tag, --path; with --pg-*: that reaches "
     "the target) instead of SNAP",
     0, NULL},
    DR_PITR_OPTS,
    {"restore-command", 0, RESTORE_COMMAND, NULL,
     "restore, then run CMD [ARG...] (all that follows) and check that it succeeds", DR_OPT_REST,
     NULL},
    DR_METRICS_FILE_OPT,
    {0},
};

int dr_cmd_drill(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_select sel = DR_SELECT_INIT(ctx);
    struct dr_drill_opts o = {0};
    struct dr_pitr pitr = {0};
    bool pg = false;
    const char *arg;
    int c, rc = 0;
    while (rc >= 0 && (c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case 'P': pg = true; break;
        case 'c': o.check_sql = arg; break;
        case 'D': o.check_db = arg; break;
        case 'T': o.tmpdir = arg; break;
        case RESTORE_COMMAND:
            o.restore_command = ctx->args.rest;
            if (!o.restore_command || !o.restore_command[0]) {
                return dr_cmd_usage(ctx, "--restore-command needs a command");
            }
            break;
        default:
            if (dr_pitr_opt(ctx, &pitr, c, arg, &rc)) {
                break;
            }
            if (!dr_select_opt(&sel, c, arg)) {
                DR_BUG("drill: an option of the table is not handled");
            }
            break;
        }
    }
    if (rc < 0) {
        return rc;
    }
    /* --pg and the recovery targets choose the base backup as restore does (pitr.c) */
    bool choose = sel.latest || ((pg || pitr.given) && argc == 0);
    if (choose ? argc != 0 : argc != 1) {
        return dr_cmd_usage(ctx,
                            choose ? "--latest takes no snapshot id" : "one snapshot is needed");
    }
    if (o.check_db && !o.check_sql) {
        return dr_cmd_usage(ctx, "--check-db is for --check-sql");
    }
    if (!choose && dr_select_filtered(&sel)) {
        return dr_cmd_usage(ctx, "--host, --tag and --path select the snapshot with --latest or "
                                 "--pg");
    }
    rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_id id;
    struct dr_wal_target latest = {.kind = DR_WAL_TARGET_LATEST};
    if ((pg || pitr.given) && argc == 0) {
        rc = dr_pitr_backup(ctx, &sel, NULL, pitr.given ? &pitr.target : &latest, &id);
    } else {
        rc = dr_select_resolve(ctx, &sel, argv[0], &id);
    }
    if (rc < 0) {
        return rc;
    }
    o.pg_target = pitr.given ? &pitr.target : NULL;
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    if (dr_repo_snapshot_load(ctx->r, &id, &s) >= 0) {
        /* the metrics' labels: the drilled snapshot's host and source */
        snprintf(ctx->metrics.host, sizeof(ctx->metrics.host), "%s", s.host ? s.host : "");
        snprintf(ctx->metrics.source, sizeof(ctx->metrics.source), "%s", s.source ? s.source : "");
    }
    dr_error_clear();
    dr_snapshot_release(&s);
    struct dr_drill_result res;
    rc = dr_drill_run(ctx->r, &id, &o, &res);
    if (rc < 0) {
        return dr_error_wrap(rc, "the drill could not run");
    }
    ctx->metrics.drill = true;
    ctx->metrics.drill_ok = res.ok;
    ctx->metrics.drill_rto = (double)res.rto_ns / 1e9;
    if (ctx->json) {
        rc = print_json(&res);
    } else {
        print_human(&res);
    }
    if (rc >= 0 && !res.ok) {
        /* the reason is printed once, as this error on stderr (the report on stdout does not
         * repeat it); --json carries it too */
        char sid[9];
        dr_short_id(&res.snapshot, sid);
        rc = dr_errorf(DR_EDAMAGED, "drill of snapshot %s failed: %s", sid,
                       res.reason ? res.reason : "unknown reason");
    }
    dr_drill_result_release(&res);
    return rc;
}
