/* stats.c: `drrepo stats`: logical size of the snapshots, what is stored, the dedup ratio and
 * the space prune could reclaim. Computed from the index: no pack is read. The logical size and
 * the count are of the snapshots named (SNAP...) or selected (--host, --tag, --path); the stored
 * sizes are always the whole repository's. */
#include "cmd_int.h"

#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

const struct dr_opt dr_cmd_stats_opts[] = {
    DR_SELECT_OPTS,
    {0},
};

int dr_cmd_stats(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_select sel = DR_SELECT_INIT(ctx);
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        if (!dr_select_opt(&sel, c, arg)) {
            DR_BUG("stats: an option of the table is not handled");
        }
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    /* SNAP arguments ("latest" under the selector, ids) name the snapshots counted; without
     * them, every snapshot the selector passes */
    struct dr_id *ids;
    rc = dr_select_resolve_all(ctx, &sel, argc, argv, &ids);
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    if (rc >= 0) {
        rc = dr_repo_snapshot_list(ctx->r, &v, &n, NULL);
    }
    if (rc < 0) {
        free(ids);
        return rc;
    }
    uint64_t logical = 0;
    size_t counted = 0;
    for (size_t i = 0; i < n; i++) {
        if (dr_select_takes(&sel, ids, (size_t)argc, &v[i])) {
            logical += v[i].snap.summary.bytes_total;
            counted++;
        }
    }
    free(ids);
    if (counted == 0 && dr_select_filtered(&sel)) {
        char *d = dr_select_describe(&sel, "");
        rc = dr_errorf(DR_ENOENT, "no snapshot matches%s", d);
        free(d);
        dr_snap_list_free(v, n);
        return rc;
    }
    dr_snap_list_free(v, n);
    n = counted;
    struct dr_repo_stats t;
    rc = dr_repo_stats(ctx->r, &t);
    if (rc < 0) {
        return rc;
    }
    double ratio = t.pack_bytes ? (double)logical / (double)t.pack_bytes : 0;
    if (ctx->json) {
        struct dr_buf j = DR_BUF_INIT(1 << 20);
        struct dr_json w;
        dr_json_init(&w, &j);
        dr_json_begin_object(&w);
        dr_json_ku64(&w, "snapshots", n);
        dr_json_ku64(&w, "logical_bytes", logical);
        dr_json_ku64(&w, "stored_bytes", t.pack_bytes);
        dr_json_ku64(&w, "packs", t.packs);
        dr_json_ku64(&w, "blobs", t.blobs);
        dr_json_ku64(&w, "unique_bytes", t.unique_bytes);
        dr_json_ku64(&w, "live_bytes", t.live_bytes);
        dr_json_ku64(&w, "reclaimable_bytes", t.dead_bytes);
        dr_json_kfixed(&w, "dedup_ratio", ratio, 3);
        dr_json_end_object(&w);
        return dr_cmd_json_emit(&w, stdout);
    }
    char a[32], b[32], u[32], d[32];
    dr_size_format(logical, a, sizeof(a));
    dr_size_format(t.pack_bytes, b, sizeof(b));
    dr_size_format(t.unique_bytes, u, sizeof(u));
    dr_size_format(t.dead_bytes, d, sizeof(d));
    printf("snapshots:          %zu\n", n);
    printf("logical size:       %s (all snapshots, as restored)\n", a);
    printf("unique data:        %s (before compression)\n", u);
    printf("stored size:        %s in %llu packs, %llu blobs\n", b, (unsigned long long)t.packs,
           (unsigned long long)t.blobs);
    printf("dedup ratio:        %.2fx\n", ratio);
    printf("reclaimable:        %s (unreferenced data; 'drrepo prune' removes it)\n", d);
    return 0;
}
