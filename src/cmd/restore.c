/* restore.c: `drrepo restore SNAP --target DIR`. */
#include "cmd_int.h"

#include <getopt.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/restore.h"
#include "drrepo/util.h"

int dr_cmd_restore(struct dr_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"target", required_argument, NULL, 'T'},
        {"include", required_argument, NULL, 'i'},
        {"exclude", required_argument, NULL, 'e'},
        {"overwrite", no_argument, NULL, 'o'},
        DR_SELECT_OPTIONS,
        {0, 0, 0, 0},
    };
    struct dr_restore_opts o = {0};
    size_t ai = 0, ae = 0;
    struct dr_select sel = {0};
    int c, rc = 0;
    while (rc >= 0 && (c = getopt_long(argc, argv, "T:i:e:H:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'T': o.target = optarg; break;
        case 'i':
            DR_GROW(o.includes, ai, o.nincludes + 1);
            o.includes[o.nincludes++] = optarg;
            break;
        case 'e':
            DR_GROW(o.excludes, ae, o.nexcludes + 1);
            o.excludes[o.nexcludes++] = optarg;
            break;
        case 'o': o.overwrite = true; break;
        default:
            if (!dr_select_opt(&sel, c, optarg)) {
                rc = dr_cmd_usage(ctx, "unknown option");
            }
            break;
        }
    }
    if (rc >= 0 && argc - optind != 1) {
        rc = dr_cmd_usage(ctx, "restore takes one snapshot");
    }
    if (rc >= 0 && !o.target) {
        rc = dr_cmd_usage(ctx, "--target DIR is required");
    }
    if (rc >= 0) {
        rc = dr_cmd_open(ctx);
    }
    struct dr_id id;
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    if (rc >= 0) {
        rc = dr_select_resolve(ctx, &sel, argv[optind], &id);
    }
    if (rc >= 0) {
        rc = dr_repo_snapshot_load(ctx->r, &id, &s);
    }
    if (rc >= 0) {
        if (ctx->progress) {
            o.progress = dr_cmd_progress;
            o.progress_arg = "restore";
        }
        struct dr_restore_stats st;
        rc = dr_restore_run(ctx->r, &s, &o, &st);
        /* the summary only for a restore that succeeded: one that failed says on stderr how
         * much it restored and what it could not */
        if (rc >= 0 && !ctx->quiet && !ctx->json) {
            char size[32], sid[9];
            dr_size_format(st.bytes, size, sizeof(size));
            dr_short_id(&id, sid);
            printf("restored snapshot %s to %s: %llu files, %llu dirs, %s\n", sid, o.target,
                   (unsigned long long)st.files, (unsigned long long)st.dirs, size);
        } else if (ctx->json) {
            struct dr_buf j = DR_BUF_INIT(1 << 20);
            struct dr_json w;
            dr_json_init(&w, &j);
            dr_json_begin_object(&w);
            dr_json_ku64(&w, "files", st.files);
            dr_json_ku64(&w, "dirs", st.dirs);
            dr_json_ku64(&w, "links", st.links);
            dr_json_ku64(&w, "bytes", st.bytes);
            dr_json_ku64(&w, "errors", st.errors);
            dr_json_ku64(&w, "dirs_lost", st.dirs_lost);
            dr_json_ku64(&w, "damaged", st.damaged);
            dr_json_ku64(&w, "incomplete", st.incomplete);
            dr_json_end_object(&w);
            if (dr_cmd_json_emit(&w, stdout) < 0) {
                dr_error_clear(); /* the restore's outcome decides the exit code */
            }
        }
        if (st.errors || st.dirs_lost) {
            ctx->hint = "'drrepo repair snapshots' recovers a snapshot with lost trees or data: "
                        "it writes a copy that marks them damaged and restores everything "
                        "else; 'drrepo check' lists all damage";
        }
    }
    dr_snapshot_release(&s);
    free(o.includes);
    free(o.excludes);
    return rc;
}
