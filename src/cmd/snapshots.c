/* snapshots.c: `drrepo snapshots` lists snapshots, oldest first. */
#include "cmd_int.h"

#include <stdlib.h>
#include <string.h>

#include "drrepo/drill.h"
#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

/* The last drill of snapshot id, or NULL. */
static const struct dr_drill_result *last_drill(const struct dr_drill_results *d,
                                                const struct dr_id *id)
{
    const struct dr_drill_result *last = NULL;
    for (size_t i = 0; i < d->n; i++) {
        if (dr_id_eq(&d->v[i].snapshot, id)) {
            last = &d->v[i];
        }
    }
    return last;
}

static void json_drills(struct dr_json *w, const struct dr_drill_results *d, const struct dr_id *id)
{
    dr_json_key(w, "drills");
    dr_json_begin_array(w);
    for (size_t i = 0; i < d->n; i++) {
        const struct dr_drill_result *res = &d->v[i];
        if (!dr_id_eq(&res->snapshot, id)) {
            continue;
        }
        char when[32];
        dr_time_format(res->time_ns, when, sizeof(when));
        dr_json_begin_object(w);
        dr_json_kstring(w, "time", when);
        dr_json_kbool(w, "ok", res->ok);
        dr_json_kstring(w, "kind", res->kind);
        dr_json_kfixed(w, "duration_seconds", (double)res->duration_ns / 1e9, 3);
        dr_json_kfixed(w, "rto_seconds", (double)res->rto_ns / 1e9, 3);
        dr_json_kstring(w, "checked", res->checked);
        dr_json_kstring(w, "reason", res->reason); /* null when it passed */
        dr_json_end_object(w);
    }
    dr_json_end_array(w);
}

static void json_entry(struct dr_json *w, const struct dr_snap_entry *e,
                       const struct dr_drill_results *d)
{
    const struct dr_snapshot *s = &e->snap;
    dr_json_begin_object(w);
    dr_cmd_json_snapshot(w, &e->id, s);
    dr_json_key(w, "meta");
    dr_json_begin_object(w);
    for (size_t i = 0; i < s->nmeta; i++) {
        dr_json_kstring(w, s->meta[i].key, s->meta[i].value);
    }
    dr_json_end_object(w);
    const struct dr_snap_summary *m = &s->summary;
    dr_json_key(w, "summary");
    dr_json_begin_object(w);
    dr_json_ku64(w, "files_new", m->files_new);
    dr_json_ku64(w, "files_changed", m->files_changed);
    dr_json_ku64(w, "files_unchanged", m->files_unchanged);
    dr_json_ku64(w, "dirs", m->dirs);
    dr_json_ku64(w, "bytes_read", m->bytes_read);
    dr_json_ku64(w, "bytes_total", m->bytes_total);
    dr_json_ku64(w, "bytes_added", m->bytes_added);
    dr_json_ku64(w, "errors", m->errors);
    dr_json_kfixed(w, "duration_seconds", (double)m->duration_ns / 1e9, 3);
    dr_json_end_object(w);
    json_drills(w, d, &e->id);
    dr_json_end_object(w);
}

#define SNAPSHOTS_LATEST 0x5e8 /* below DR_OPT_GLOBAL_BASE, apart from DR_SELECT_* */

const struct dr_opt dr_cmd_snapshots_opts[] = {
    DR_SELECT_OPTS,
    {"latest", 0, SNAPSHOTS_LATEST, "N",
     "only the N latest snapshots of each host and paths (of those selected)", 0, NULL},
    {0},
};

/* Marks in show[] the snapshots to list: those the selector passes and, with --latest N, only
 * the N latest of each group of the same host and paths (as restic's --latest). v is oldest
 * first. */
static void pick(const struct dr_select *sel, const struct dr_snap_entry *v, size_t n,
                 uint64_t latest, bool *show)
{
    for (size_t i = n; i-- > 0;) {
        show[i] = dr_select_matches(sel, &v[i].snap);
        if (!show[i] || !latest) {
            continue;
        }
        uint64_t newer = 0; /* shown snapshots of the same group after this one */
        for (size_t k = i + 1; k < n; k++) {
            const struct dr_snapshot *a = &v[i].snap, *b = &v[k].snap;
            bool same = show[k] && strcmp(a->host, b->host) == 0 && a->npaths == b->npaths;
            for (size_t p = 0; same && p < a->npaths; p++) {
                same = strcmp(a->paths[p], b->paths[p]) == 0;
            }
            newer += same;
        }
        show[i] = newer < latest;
    }
}

int dr_cmd_snapshots(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_select sel = DR_SELECT_INIT(ctx);
    const char *arg;
    int c;
    uint64_t latest = 0;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        if (c == SNAPSHOTS_LATEST) {
            if (dr_parse_u64(arg, &latest) < 0 || latest == 0) {
                dr_error_clear();
                return dr_cmd_usage(ctx, "--latest needs a number of snapshots above 0, not '%s'",
                                    arg);
            }
        } else if (!dr_select_opt(&sel, c, arg)) {
            DR_BUG("snapshots: an option of the table is not handled");
        }
    }
    if (argc != 0) {
        return dr_cmd_usage(ctx, "unexpected argument '%s'", argv[0]);
    }
    struct dr_snap_entry *v;
    size_t n, bad = 0;
    struct dr_drill_results d;
    int rc = dr_select_list(ctx, &v, &n, &bad, &d);
    if (rc < 0) {
        return rc;
    }
    struct dr_buf j = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &j);
    if (ctx->json) {
        dr_json_begin_array(&w);
    } else {
        printf("%-8s  %-20s  %-16s  %-16s  %10s  %-17s  %s\n", "ID", "Time", "Host", "Tags", "Size",
               "Last drill", "Paths");
    }
    size_t shown = 0;
    bool *show = dr_xcalloc(n ? n : 1, sizeof(*show));
    pick(&sel, v, n, latest, show);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        const struct dr_snapshot *s = &v[i].snap;
        if (!show[i]) {
            continue;
        }
        if (ctx->json) {
            json_entry(&w, &v[i], &d);
        } else {
            char sid[9], when[32], size[32], tagstr[256] = "";
            dr_short_id(&v[i].id, sid);
            dr_time_format(s->time_ns, when, sizeof(when));
            dr_size_format(s->summary.bytes_total, size, sizeof(size));
            size_t off = 0;
            for (size_t t = 0; t < s->ntags && off < sizeof(tagstr); t++) {
                off += (size_t)snprintf(tagstr + off, sizeof(tagstr) - off, "%s%s", t ? "," : "",
                                        s->tags[t]);
            }
            char drill[32] = "-";
            const struct dr_drill_result *dl = last_drill(&d, &v[i].id);
            if (dl) {
                char dwhen[32];
                dr_time_format(dl->time_ns, dwhen, sizeof(dwhen));
                snprintf(drill, sizeof(drill), "%s %.10s", dl->ok ? "ok" : "FAILED", dwhen);
            }
            printf("%-8s  %-20s  %-16s  %-16s  %10s  %-17s  ", sid, when, s->host, tagstr, size,
                   drill);
            for (size_t p = 0; p < s->npaths; p++) {
                printf("%s%s", p ? " " : "", s->paths[p]);
            }
            printf("\n");
        }
        shown++;
    }
    if (ctx->json && rc >= 0) {
        dr_json_end_array(&w);
        rc = dr_cmd_json_emit(&w, stdout);
    } else if (!ctx->json) {
        printf("%zu snapshot%s\n", shown, shown == 1 ? "" : "s");
    }
    dr_buf_release(&j);
    dr_drill_results_release(&d);
    free(show);
    dr_snap_list_free(v, n);
    if (rc >= 0 && bad) {
        rc = dr_errorf(DR_ECORRUPT, "%zu snapshots could not be read (run 'drrepo check')", bad);
    }
    return rc;
}
