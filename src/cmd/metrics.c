/* metrics.c: Prometheus metrics (docs/MONITORING.md). The metrics file of --metrics-file,
 * written by dr_cli_main after a command ran (on success and on failure), and `drrepo
 * metrics`, the same text for every host and source of a repository from its snapshots and
 * drill results, for a central monitoring host. */
#include "cmd_int.h"

#include <math.h>
#include <stdlib.h>

#include "drrepo/drill.h"
#include "drrepo/drillrec.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/identity.h"
#include "drrepo/mem.h"
#include "drrepo/metrics.h"
#include "drrepo/util.h"

#define P "drrepo_"

/* The largest old metrics file we read to carry the last success time over. */
#define OLD_FILE_MAX (4u << 20)

static void add(struct dr_metrics *m, const struct dr_metric_label *l, size_t nl, const char *name,
                const char *help, double v)
{
    dr_metrics_add(m, name, help, "gauge", l, nl, v);
}

/* The metrics of a saved snapshot s (or the summary of one): sizes, files, bytes. */
static void add_snapshot(struct dr_metrics *m, const struct dr_metric_label *l, size_t nl,
                         const struct dr_snap_summary *sum, bool has_parent, uint64_t parent_size)
{
    add(m, l, nl, P "bytes_read", "bytes of file content read from the source",
        (double)sum->bytes_read);
    add(m, l, nl, P "bytes_added", "bytes added to the repository (after dedup and compression)",
        (double)sum->bytes_added);
    struct dr_metric_label fl[8];
    size_t n = nl < 7 ? nl : 7;
    memcpy(fl, l, n * sizeof(*l));
    static const char *const states[] = {"new", "changed", "unchanged"};
    const uint64_t counts[] = {sum->files_new, sum->files_changed, sum->files_unchanged};
    for (size_t i = 0; i < 3; i++) {
        fl[n] = (struct dr_metric_label){"state", states[i]};
        add(m, fl, n + 1, P "files", "files of the snapshot, by state against its parent",
            (double)counts[i]);
    }
    add(m, l, nl, P "snapshot_size_bytes", "logical size of the snapshot (sum of file sizes)",
        (double)sum->bytes_total);
    if (has_parent && parent_size > 0) {
        add(m, l, nl, P "snapshot_size_change_ratio",
            "(size - parent's size) / parent's size of the snapshot",
            ((double)sum->bytes_total - (double)parent_size) / (double)parent_size);
    }
}

void dr_cmd_metrics_write(struct dr_ctx *ctx, int code, int64_t duration_ns)
{
    struct dr_cmd_metrics *cm = &ctx->metrics;
    if (!cm->file || !*cm->file || !ctx->cmd) {
        return;
    }
    if (!cm->host[0]) {
        dr_identity_host(cm->host, sizeof(cm->host), "unknown");
    }
    const struct dr_metric_label l[] = {
        {"host", cm->host},
        {"source", cm->source},
        {"command", ctx->cmd->name},
    };
    const size_t nl = DR_ARRAY_LEN(l);
    struct dr_metrics m = DR_METRICS_INIT;
    struct dr_buf old = DR_BUF_INIT(OLD_FILE_MAX), labels = DR_BUF_INIT(DR_BUF_MAX_DEFAULT),
                  out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    double now = floor((double)dr_time_now_ns() / 1e9);
    double last_success = now;
    bool have_success = code == 0;
    if (!have_success) {
        /* carry over the success of an earlier run; an old file that is missing, too big or
         * garbled just has none */
        if (dr_fs_read_file(cm->file, &old) >= 0 && dr_metrics_labels(&labels, l, nl) >= 0) {
            have_success = dr_metrics_find(old.buf, old.len, P "last_success_timestamp_seconds",
                                           labels.buf, &last_success);
        }
        dr_error_clear();
    }
    add(&m, l, nl, P "last_run_timestamp_seconds", "when the last run ended (Unix time)", now);
    if (have_success) {
        add(&m, l, nl, P "last_success_timestamp_seconds",
            "when the last successful run ended (Unix time)", last_success);
    }
    add(&m, l, nl, P "exit_code", "exit code of the last run (docs/exit-codes.md)", code);
    add(&m, l, nl, P "duration_seconds", "how long the last run took", (double)duration_ns / 1e9);
    if (cm->snapshot) {
        add_snapshot(&m, l, nl, &cm->sum, cm->has_parent, cm->parent_size);
    }
    if (cm->size_warning >= 0 && cm->snapshot) {
        add(&m, l, nl, P "snapshot_size_change_warning",
            "1 when the size changed by more than --warn-size-change", cm->size_warning);
    }
    if (cm->check) {
        add(&m, l, nl, P "check_errors", "problems the last check found", (double)cm->check_errors);
    }
    if (cm->drill) {
        add(&m, l, nl, P "drill_success", "1 when the last drill passed, else 0", cm->drill_ok);
        add(&m, l, nl, P "drill_rto_seconds", "restore and start time of the last drill",
            cm->drill_rto);
    }
    int rc = dr_metrics_render(&m, &out);
    rc = rc < 0 ? rc : dr_fs_write_atomic(cm->file, out.buf, out.len, false);
    if (rc < 0) {
        fprintf(stderr, "drrepo: warning: cannot write the metrics file '%s': %s\n", cm->file,
                dr_error_msg());
        dr_error_clear();
    }
    dr_metrics_release(&m);
    dr_buf_release(&old);
    dr_buf_release(&labels);
    dr_buf_release(&out);
}

/* `drrepo metrics`: the latest snapshot of every host and source, and the last drill of a
 * snapshot of each. */
struct group {
    size_t latest;                       /* index in the snapshot list */
    const struct dr_drill_result *drill; /* the latest drill of one of its snapshots */
};

static bool same_group(const struct dr_snapshot *a, const struct dr_snapshot *b)
{
    return strcmp(a->host ? a->host : "", b->host ? b->host : "") == 0 &&
           strcmp(a->source ? a->source : "", b->source ? b->source : "") == 0;
}

static const struct dr_snapshot *find_snap(const struct dr_snap_entry *v, size_t n,
                                           const struct dr_id *id)
{
    for (size_t i = 0; i < n; i++) {
        if (dr_id_eq(&v[i].id, id)) {
            return &v[i].snap;
        }
    }
    return NULL;
}

int dr_cmd_metrics(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)argc; /* the table says metrics takes no argument: the parser refused any */
    (void)argv;
    struct dr_snap_entry *v;
    size_t n, bad = 0;
    struct dr_drill_results d;
    int rc = dr_select_list(ctx, &v, &n, &bad, &d);
    if (rc < 0) {
        return rc;
    }
    /* the list is oldest first: the last snapshot of a group is its latest */
    struct group *g = NULL;
    size_t ng = 0, galloc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < ng && !same_group(&v[g[k].latest].snap, &v[i].snap)) {
            k++;
        }
        if (k == ng) {
            DR_GROW(g, galloc, ng + 1);
            g[ng++] = (struct group){0};
        }
        g[k].latest = i;
    }
    for (size_t i = 0; i < d.n; i++) {
        const struct dr_snapshot *s = find_snap(v, n, &d.v[i].snapshot);
        for (size_t k = 0; s && k < ng; k++) {
            if (same_group(&v[g[k].latest].snap, s) &&
                (!g[k].drill || g[k].drill->time_ns <= d.v[i].time_ns)) {
                g[k].drill = &d.v[i];
            }
        }
    }
    struct dr_metrics m = DR_METRICS_INIT;
    for (size_t k = 0; k < ng; k++) {
        const struct dr_snapshot *s = &v[g[k].latest].snap;
        const struct dr_metric_label l[] = {
            {"host", s->host},
            {"source", s->source},
            {"command", "snapshot"},
        };
        add(&m, l, 3, P "last_success_timestamp_seconds",
            "when the last successful run ended (Unix time)", floor((double)s->time_ns / 1e9));
        const struct dr_snapshot *parent = s->has_parent ? find_snap(v, n, &s->parent) : NULL;
        add_snapshot(&m, l, 3, &s->summary, parent != NULL,
                     parent ? parent->summary.bytes_total : 0);
        if (g[k].drill) {
            const struct dr_metric_label dl[] = {
                {"host", s->host},
                {"source", s->source},
                {"command", "drill"},
            };
            add(&m, dl, 3, P "last_run_timestamp_seconds", "when the last run ended (Unix time)",
                floor((double)(g[k].drill->time_ns + g[k].drill->duration_ns) / 1e9));
            add(&m, dl, 3, P "drill_success", "1 when the last drill passed, else 0",
                g[k].drill->ok);
            add(&m, dl, 3, P "drill_rto_seconds", "restore and start time of the last drill",
                (double)g[k].drill->rto_ns / 1e9);
        }
    }
    struct dr_buf out = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    rc = dr_metrics_render(&m, &out);
    if (rc >= 0) {
        fputs(out.buf, stdout);
    }
    dr_buf_release(&out);
    dr_metrics_release(&m);
    free(g);
    dr_drill_results_release(&d);
    dr_snap_list_free(v, n);
    if (rc >= 0 && bad) {
        rc = dr_errorf(DR_ECORRUPT, "%zu snapshots could not be read (run 'drrepo check')", bad);
    }
    return rc;
}
