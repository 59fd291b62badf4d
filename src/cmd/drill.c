/* drill.c: `drrepo drill` restores a snapshot into a temporary place, checks that it works and
 * records the result (src/drill/). Exit codes: 0 the drill passed, 4 it ran and failed
 * (damage found: the reason is printed and recorded), 1 it could not run. */
#include "cmd_int.h"

#include <getopt.h>
#include <stdlib.h>

#include "drrepo/drill.h"
#include "drrepo/error.h"
#include "drrepo/util.h"

static int print_json(const struct dr_drill_result *res)
{
    struct dr_buf j = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    char hex[DR_ID_HEX_LEN + 1], when[32], sid[9];
    dr_time_format(res->time_ns, when, sizeof(when));
    dr_short_id(&res->snapshot, sid);
    struct dr_json w;
    dr_json_init(&w, &j);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "snapshot", dr_id_hex(&res->snapshot, hex));
    dr_json_kstring(&w, "short_id", sid);
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
    if (!res->ok) {
        printf("reason: %s\n", res->reason ? res->reason : "unknown");
    }
    printf("time to restore and start (RTO): %.2f s; whole drill: %.2f s\n",
           (double)res->rto_ns / 1e9, (double)res->duration_ns / 1e9);
}

int dr_cmd_drill(struct dr_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        DR_SELECT_LATEST_OPTION,
        DR_SELECT_OPTIONS,
        {"check-sql", required_argument, NULL, 'c'},
        {"tmpdir", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    /* everything after --restore-command is the command, options included: split it off
     * before getopt can take its arguments for ours */
    char **command = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--restore-command") == 0) {
            command = argv + i + 1;
            if (command[0] && strcmp(command[0], "--") == 0) {
                command++;
            }
            if (!command[0]) {
                return dr_cmd_usage(ctx, "--restore-command needs a command");
            }
            argc = i;
            break;
        }
    }
    struct dr_select sel = {0};
    struct dr_drill_opts o = {.restore_command = command};
    int c;
    while ((c = getopt_long(argc, argv, "H:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o.check_sql = optarg; break;
        case 'T': o.tmpdir = optarg; break;
        case 'j': ctx->json = true; break;
        default:
            if (!dr_select_opt(&sel, c, optarg)) {
                return dr_cmd_usage(ctx, "unknown option");
            }
            break;
        }
    }
    int nargs = argc - optind;
    if (sel.latest ? nargs != 0 : nargs != 1) {
        return dr_cmd_usage(ctx, sel.latest ? "--latest takes no snapshot id"
                                            : "one snapshot is needed");
    }
    if (!sel.latest && (sel.host || sel.tag)) {
        return dr_cmd_usage(ctx, "--host and --tag select the snapshot with --latest");
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_id id;
    rc = dr_select_resolve(ctx, &sel, argv[optind], &id);
    if (rc < 0) {
        return rc;
    }
    struct dr_drill_result res;
    rc = dr_drill_run(ctx->r, &id, &o, &res);
    if (rc < 0) {
        return dr_error_wrap(rc, "the drill could not run");
    }
    if (ctx->json) {
        rc = print_json(&res);
    } else {
        print_human(&res);
    }
    if (rc >= 0 && !res.ok) {
        char sid[9];
        dr_short_id(&res.snapshot, sid);
        rc = dr_errorf(DR_EDAMAGED, "drill of snapshot %s failed: %s", sid,
                       res.reason ? res.reason : "unknown reason");
    }
    dr_drill_result_release(&res);
    return rc;
}
