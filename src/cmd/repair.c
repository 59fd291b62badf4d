/* repair.c: `drrepo repair index` rebuilds the local index from the repository;
 * `drrepo repair snapshots` writes repaired copies of damaged snapshots; `drrepo repair packs`
 * rewrites a damaged or missing copy of a tree pack from the good one; `drrepo repair config`
 * and `drrepo repair keys` rewrite a damaged or missing copy of the config or of a key file from
 * its intact copy. */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/repair.h"
#include "drrepo/util.h"

static int repair_index(struct dr_ctx *ctx)
{
    /* exclusive: the index directory is removed and rebuilt under every local user of it */
    int rc = dr_cmd_lock(ctx, DR_LOCK_EXCLUSIVE);
    if (rc < 0) {
        return rc;
    }
    rc = dr_repair_index(ctx->r);
    if (rc < 0) {
        return rc;
    }
    uint64_t blobs = 0, packs = 0, snaps = 0;
    rc = dr_repo_index_counts(ctx->r, &blobs, &packs, &snaps);
    if (rc >= 0 && !ctx->quiet) {
        printf("index rebuilt from the repository: %llu packs, %llu blobs, %llu snapshots\n",
               (unsigned long long)packs, (unsigned long long)blobs, (unsigned long long)snaps);
    }
    return rc;
}

static int repair_packs(struct dr_ctx *ctx, bool dry_run)
{
    /* shared: the names written are byte-identical to what they should hold, so concurrent
     * snapshots and checks are not disturbed; prune (exclusive) cannot delete under us */
    int rc = dr_cmd_lock(ctx, 0);
    if (rc < 0) {
        return rc;
    }
    struct dr_repair_packs_result res;
    rc = dr_repair_packs(ctx->r, dry_run, &res);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < res.nwritten; i++) {
        printf("%s: %s from its good copy\n", res.written[i],
               dry_run ? "would be written again" : "written again");
    }
    for (size_t i = 0; i < res.nunrepairable; i++) {
        printf("%s: no good copy; run 'drrepo repair snapshots'\n", res.unrepairable[i]);
    }
    if (!ctx->quiet) {
        printf("%llu tree packs checked, %zu %s, %zu without a good copy\n",
               (unsigned long long)res.packs, res.nwritten,
               dry_run ? "would be mended (dry run)" : "mended", res.nunrepairable);
    }
    rc = res.nunrepairable
             ? dr_errorf(DR_ECORRUPT, "%zu tree packs have no good copy", res.nunrepairable)
             : 0;
    dr_repair_packs_result_release(&res);
    return rc;
}

static int repair_snapshots(struct dr_ctx *ctx, bool read_data, bool dry_run)
{
    int rc = dr_cmd_lock(ctx, 0);
    if (rc < 0) {
        return rc;
    }
    rc = dr_repo_index_attach(ctx->r, false);
    if (rc >= 0) {
        rc = dr_repo_sync_index(ctx->r, false);
    }
    struct dr_repair_result res;
    if (rc >= 0) {
        rc = dr_repair_snapshots(ctx->r, read_data, dry_run, &res);
    }
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < res.nfiles; i++) {
        char sid[9], lost[32];
        dr_short_id(&res.files[i].snapshot, sid);
        dr_size_format(res.files[i].lost_bytes, lost, sizeof(lost));
        if (res.files[i].ranges) {
            printf("snapshot %s: %s: %s lost in %u ranges; marked damaged\n", sid,
                   res.files[i].path, lost, res.files[i].ranges);
        } else {
            printf("snapshot %s: %s: directory unreadable; kept empty, marked damaged\n", sid,
                   res.files[i].path);
        }
    }
    for (size_t i = 0; i < res.nnew; i++) {
        char a[9], b[9];
        dr_short_id(&res.old_ids[i], a);
        dr_short_id(&res.new_ids[i], b);
        printf("snapshot %s repaired as %s (tag 'repaired'); the original is kept until you "
               "forget it\n",
               a, b);
    }
    if (!ctx->quiet) {
        printf("%llu snapshots checked, %llu %s\n", (unsigned long long)res.snapshots_checked,
               (unsigned long long)res.snapshots_repaired,
               dry_run ? "would be repaired (dry run)" : "repaired");
    }
    dr_repair_result_release(&res);
    return 0;
}

static void copy_note(void *arg, const char *object, const char *from)
{
    struct dr_ctx *ctx = arg;
    if (!ctx->quiet) {
        printf("rewrote '%s' from '%s'\n", object, from);
    }
}

static int repair_copies(struct dr_ctx *ctx, bool keys)
{
    /* exclusive: key remove deletes copies under the same lock, and must not see one rewritten
     * behind it */
    int rc = dr_cmd_lock_exclusive(ctx);
    if (rc < 0) {
        return rc;
    }
    rc = keys ? dr_repair_keys(ctx->r, copy_note, ctx) : dr_repair_config(ctx->r, copy_note, ctx);
    if (rc < 0 || ctx->quiet) {
        return rc;
    }
    if (dr_repo_config(ctx->r)->version < 2) {
        printf("format version 1 keeps one copy of the %s: nothing to repair\n",
               keys ? "key files" : "config");
    } else if (rc == 0) {
        printf("every copy of the %s is intact: nothing to repair\n",
               keys ? "key files" : "config");
    }
    return 0;
}

const struct dr_opt dr_cmd_repair_opts[] = {
    {"read-data", 0, 'd', NULL, "snapshots: also read the data to find damaged chunks", 0, NULL},
    {"dry-run", 'n', 'n', NULL, "snapshots, packs: say what would be repaired, change nothing", 0,
     NULL},
    {0},
};

int dr_cmd_repair(struct dr_ctx *ctx, int argc, char **argv)
{
    static const char *const subs[] = {"index", "snapshots", "config", "keys", "packs"};
    size_t sub = DR_ARRAY_LEN(subs);
    for (size_t i = 0; argc >= 1 && i < DR_ARRAY_LEN(subs); i++) {
        sub = strcmp(argv[0], subs[i]) == 0 ? i : sub;
    }
    if (sub == DR_ARRAY_LEN(subs)) {
        return dr_cmd_usage(ctx, "repair needs 'index', 'snapshots', 'packs', 'config' or 'keys'");
    }
    bool index = sub == 0, snapshots = sub == 1, packs = sub == 4;
    bool read_data = false, dry_run = false;
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        read_data |= c == 'd';
        dry_run |= c == 'n';
    }
    if (argc != 1 || (!snapshots && read_data) || (!snapshots && !packs && dry_run)) {
        return dr_cmd_usage(ctx, "unexpected arguments for 'repair %s'", argv[0]);
    }
    int rc = dr_cmd_open(ctx); /* keys and config only: the index is this command's business */
    if (rc < 0) {
        return rc;
    }
    if (index) {
        return repair_index(ctx);
    }
    if (packs) {
        return repair_packs(ctx, dry_run);
    }
    return snapshots ? repair_snapshots(ctx, read_data, dry_run) : repair_copies(ctx, sub == 3);
}
