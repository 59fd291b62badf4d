/* stats.c: `drrepo stats`: logical size of the snapshots, what is stored, the dedup ratio and
 * the space prune could reclaim. Computed from the index: no pack is read. */
#include "cmd_int.h"

#include <getopt.h>

#include "drrepo/error.h"
#include "drrepo/util.h"

int dr_cmd_stats(struct dr_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'j') {
            return dr_cmd_usage(ctx, "unknown option");
        }
        ctx->json = true;
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    rc = dr_repo_snapshot_list(ctx->r, &v, &n, NULL);
    if (rc < 0) {
        return rc;
    }
    uint64_t logical = 0;
    for (size_t i = 0; i < n; i++) {
        logical += v[i].snap.summary.bytes_total;
    }
    dr_snap_list_free(v, n);
    struct dr_repo_stats t;
    rc = dr_repo_stats(ctx->r, &t);
    if (rc < 0) {
        return rc;
    }
    double ratio = t.pack_bytes ? (double)logical / (double)t.pack_bytes : 0;
    if (ctx->json) {
        printf("{\"snapshots\":%zu,\"logical_bytes\":%llu,\"stored_bytes\":%llu,\"packs\":%llu,"
               "\"blobs\":%llu,\"unique_bytes\":%llu,\"live_bytes\":%llu,"
               "\"reclaimable_bytes\":%llu,\"dedup_ratio\":%.3f}\n",
               n, (unsigned long long)logical, (unsigned long long)t.pack_bytes,
               (unsigned long long)t.packs, (unsigned long long)t.blobs,
               (unsigned long long)t.unique_bytes, (unsigned long long)t.live_bytes,
               (unsigned long long)t.dead_bytes, ratio);
        return 0;
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
