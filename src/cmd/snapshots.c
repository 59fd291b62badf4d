/* snapshots.c: `drrepo snapshots` lists snapshots, oldest first. */
#include "cmd_int.h"

#include <getopt.h>
#include <stdlib.h>

#include "drrepo/drill.h"
#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

/* Drill results, collected once and matched to snapshots by id (oldest first). */
struct drills {
    struct dr_drill_result *v;
    size_t n, alloc;
};

static int drill_cb(void *arg, const struct dr_drill_result *res)
{
    struct drills *d = arg;
    DR_GROW(d->v, d->alloc, d->n + 1);
    struct dr_drill_result *c = &d->v[d->n++];
    *c = *res;
    c->kind = dr_xstrdup(res->kind ? res->kind : "");
    c->checked = dr_xstrdup(res->checked ? res->checked : "");
    c->reason = res->reason ? dr_xstrdup(res->reason) : NULL;
    return 0;
}

/* The last drill of snapshot id, or NULL. */
static const struct dr_drill_result *last_drill(const struct drills *d, const struct dr_id *id)
{
    const struct dr_drill_result *last = NULL;
    for (size_t i = 0; i < d->n; i++) {
        if (dr_id_eq(&d->v[i].snapshot, id)) {
            last = &d->v[i];
        }
    }
    return last;
}

static int json_drills(struct dr_buf *j, const struct drills *d, const struct dr_id *id)
{
    int rc = dr_buf_adds(j, ",\"drills\":[");
    bool first = true;
    for (size_t i = 0; rc >= 0 && i < d->n; i++) {
        const struct dr_drill_result *res = &d->v[i];
        if (!dr_id_eq(&res->snapshot, id)) {
            continue;
        }
        char when[32];
        dr_time_format(res->time_ns, when, sizeof(when));
        rc = dr_buf_addf(j, "%s{\"time\":\"%s\",\"ok\":%s,\"kind\":", first ? "" : ",", when,
                         res->ok ? "true" : "false");
        first = false;
        rc = rc < 0 ? rc : dr_json_str(j, res->kind);
        rc = rc < 0 ? rc
                    : dr_buf_addf(j, ",\"duration_seconds\":%.3f,\"rto_seconds\":%.3f,\"checked\":",
                                  (double)res->duration_ns / 1e9, (double)res->rto_ns / 1e9);
        rc = rc < 0 ? rc : dr_json_str(j, res->checked);
        rc = rc < 0 ? rc : dr_buf_adds(j, ",\"reason\":");
        rc = rc < 0 ? rc : res->reason ? dr_json_str(j, res->reason) : dr_buf_adds(j, "null");
        rc = rc < 0 ? rc : dr_buf_addch(j, '}');
    }
    return rc < 0 ? rc : dr_buf_addch(j, ']');
}

static int json_entry(struct dr_buf *j, const struct dr_snap_entry *e, const struct drills *d)
{
    const struct dr_snapshot *s = &e->snap;
    char hex[DR_ID_HEX_LEN + 1], when[32];
    dr_time_format(s->time_ns, when, sizeof(when));
    int rc = dr_buf_addf(j,
                         "{\"id\":\"%s\",\"short_id\":\"%.8s\",\"time\":\"%s\",\"time_ns\":%lld,"
                         "\"host\":",
                         dr_id_hex(&e->id, hex), hex, when, (long long)s->time_ns);
    rc = rc < 0 ? rc : dr_json_str(j, s->host);
    rc = rc < 0 ? rc : dr_buf_adds(j, ",\"user\":");
    rc = rc < 0 ? rc : dr_json_str(j, s->user);
    rc = rc < 0 ? rc : dr_buf_adds(j, ",\"source\":");
    rc = rc < 0 ? rc : dr_json_str(j, s->source ? s->source : "");
    rc = rc < 0 ? rc : dr_buf_adds(j, ",\"paths\":[");
    for (size_t i = 0; rc >= 0 && i < s->npaths; i++) {
        rc = i ? dr_buf_addch(j, ',') : 0;
        rc = rc < 0 ? rc : dr_json_str(j, s->paths[i]);
    }
    rc = rc < 0 ? rc : dr_buf_adds(j, "],\"tags\":[");
    for (size_t i = 0; rc >= 0 && i < s->ntags; i++) {
        rc = i ? dr_buf_addch(j, ',') : 0;
        rc = rc < 0 ? rc : dr_json_str(j, s->tags[i]);
    }
    rc = rc < 0 ? rc : dr_buf_adds(j, "],\"tree\":\"");
    rc = rc < 0 ? rc : dr_buf_adds(j, dr_id_hex(&s->tree, hex));
    rc = rc < 0 ? rc : dr_buf_adds(j, "\",\"parent\":");
    if (s->has_parent) {
        rc = rc < 0 ? rc : dr_buf_addf(j, "\"%s\"", dr_id_hex(&s->parent, hex));
    } else {
        rc = rc < 0 ? rc : dr_buf_adds(j, "null");
    }
    rc = rc < 0 ? rc : dr_buf_adds(j, ",\"meta\":{");
    for (size_t i = 0; rc >= 0 && i < s->nmeta; i++) {
        rc = i ? dr_buf_addch(j, ',') : 0;
        rc = rc < 0 ? rc : dr_json_str(j, s->meta[i].key);
        rc = rc < 0 ? rc : dr_buf_addch(j, ':');
        rc = rc < 0 ? rc : dr_json_str(j, s->meta[i].value);
    }
    const struct dr_snap_summary *m = &s->summary;
    rc = rc < 0
             ? rc
             : dr_buf_addf(j,
                           "},\"summary\":{\"files_new\":%llu,\"files_changed\":%llu,"
                           "\"files_unchanged\":%llu,\"dirs\":%llu,\"bytes_read\":%llu,"
                           "\"bytes_total\":%llu,\"bytes_added\":%llu,\"errors\":%llu,"
                           "\"duration_seconds\":%.3f}",
                           (unsigned long long)m->files_new, (unsigned long long)m->files_changed,
                           (unsigned long long)m->files_unchanged, (unsigned long long)m->dirs,
                           (unsigned long long)m->bytes_read, (unsigned long long)m->bytes_total,
                           (unsigned long long)m->bytes_added, (unsigned long long)m->errors,
                           (double)m->duration_ns / 1e9);
    rc = rc < 0 ? rc : json_drills(j, d, &e->id);
    return rc < 0 ? rc : dr_buf_addch(j, '}');
}

int dr_cmd_snapshots(struct dr_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"tag", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    const char *host = NULL, *tag = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "H:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'H': host = optarg; break;
        case 't': tag = optarg; break;
        case 'j': ctx->json = true; break;
        default: return dr_cmd_usage(ctx, "unknown option");
        }
    }
    if (optind != argc) {
        return dr_cmd_usage(ctx, "unexpected argument '%s'", argv[optind]);
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_snap_entry *v = NULL;
    size_t n = 0, bad = 0;
    rc = dr_repo_snapshot_list(ctx->r, &v, &n, &bad);
    if (rc < 0) {
        return rc;
    }
    struct drills d = {0};
    /* a snapshots listing should not fail because drill results cannot be read */
    if (dr_drill_list(ctx->r, NULL, drill_cb, &d) < 0) {
        fprintf(stderr, "drrepo: warning: drill results not shown: %s\n", dr_error_msg());
        dr_error_clear();
    }
    struct dr_buf j = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    if (ctx->json) {
        rc = dr_buf_addch(&j, '[');
    } else {
        printf("%-8s  %-20s  %-16s  %-16s  %10s  %-17s  %s\n", "ID", "Time", "Host", "Tags", "Size",
               "Last drill", "Paths");
    }
    size_t shown = 0;
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        const struct dr_snapshot *s = &v[i].snap;
        if (!dr_snapshot_matches(s, host, tag)) {
            continue;
        }
        if (ctx->json) {
            rc = shown ? dr_buf_addch(&j, ',') : 0;
            rc = rc < 0 ? rc : json_entry(&j, &v[i], &d);
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
        rc = dr_buf_adds(&j, "]\n");
        if (rc >= 0) {
            fputs(j.buf, stdout);
        }
    } else if (!ctx->json) {
        printf("%zu snapshots\n", shown);
    }
    dr_buf_release(&j);
    for (size_t i = 0; i < d.n; i++) {
        dr_drill_result_release(&d.v[i]);
    }
    free(d.v);
    dr_snap_list_free(v, n);
    if (rc >= 0 && bad) {
        rc = dr_errorf(DR_ECORRUPT, "%zu snapshots could not be read (run 'drrepo check')", bad);
    }
    return rc;
}
