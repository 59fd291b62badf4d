/* repair.c: `drrepo repair index` rebuilds the local index from the repository;
 * `drrepo repair snapshots` writes repaired copies of damaged snapshots; `drrepo repair packs`
 * rewrites a damaged or missing copy of a tree pack from the good one; `drrepo repair config`
 * and `drrepo repair keys` rewrite a damaged or missing copy of the config or of a key file from
 * its intact copy.
 *
 * With --json each prints one object saying what it did, "repair" naming the subcommand
 * (docs/JSON.md); a repair that fails after it has done its work (packs without a good copy)
 * prints it before the error. */
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
    if (rc >= 0 && ctx->json) {
        struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        struct dr_json w;
        dr_json_init(&w, &b);
        dr_json_begin_object(&w);
        dr_json_kstring(&w, "repair", "index");
        dr_json_ku64(&w, "packs", packs);
        dr_json_ku64(&w, "blobs", blobs);
        dr_json_ku64(&w, "snapshots", snaps);
        dr_json_end_object(&w);
        return dr_cmd_json_emit(&w, stdout);
    }
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
    if (ctx->json) {
        struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        struct dr_json w;
        dr_json_init(&w, &b);
        dr_json_begin_object(&w);
        dr_json_kstring(&w, "repair", "packs");
        dr_json_kbool(&w, "dry_run", dry_run);
        dr_json_ku64(&w, "packs_checked", res.packs);
        dr_json_knames(&w, "written", (const char *const *)res.written, res.nwritten);
        dr_json_knames(&w, "unrepairable", (const char *const *)res.unrepairable,
                       res.nunrepairable);
        dr_json_end_object(&w);
        rc = dr_cmd_json_emit(&w, stdout);
    }
    for (size_t i = 0; !ctx->json && i < res.nwritten; i++) {
        printf("%s: %s from its good copy\n", res.written[i],
               dry_run ? "would be written again" : "written again");
    }
    for (size_t i = 0; !ctx->json && i < res.nunrepairable; i++) {
        printf("%s: no good copy; run 'drrepo repair snapshots'\n", res.unrepairable[i]);
    }
    if (!ctx->quiet && !ctx->json) {
        printf("%llu tree packs checked, %zu %s, %zu without a good copy\n",
               (unsigned long long)res.packs, res.nwritten,
               dry_run ? "would be mended (dry run)" : "mended", res.nunrepairable);
    }
    if (rc >= 0 && res.nunrepairable) {
        rc = dr_errorf(DR_ECORRUPT, "%zu tree packs have no good copy", res.nunrepairable);
    }
    dr_repair_packs_result_release(&res);
    return rc;
}

static int repair_snapshots_json(const struct dr_repair_result *res, bool read_data, bool dry_run)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "repair", "snapshots");
    dr_json_kbool(&w, "dry_run", dry_run);
    dr_json_kbool(&w, "read_data", read_data);
    dr_json_ku64(&w, "snapshots_checked", res->snapshots_checked);
    dr_json_ku64(&w, "snapshots_repaired", res->snapshots_repaired);
    dr_json_key(&w, "damaged");
    dr_json_begin_array(&w);
    for (size_t i = 0; i < res->nfiles; i++) {
        const struct dr_repair_file *f = &res->files[i];
        dr_json_begin_object(&w);
        dr_cmd_json_ids(&w, &f->snapshot);
        dr_json_kname(&w, "path", f->path);
        /* no ranges: a directory whose tree could not be read, kept empty */
        dr_json_kstring(&w, "what", f->ranges ? "file" : "directory");
        dr_json_ku64(&w, "lost_bytes", f->lost_bytes);
        dr_json_ku64(&w, "ranges", f->ranges);
        dr_json_end_object(&w);
    }
    dr_json_end_array(&w);
    dr_json_key(&w, "repaired");
    dr_json_begin_array(&w);
    for (size_t i = 0; i < res->nnew; i++) {
        dr_json_begin_object(&w);
        dr_cmd_json_ids(&w, &res->new_ids[i]);
        dr_json_key(&w, "original");
        dr_json_begin_object(&w);
        dr_cmd_json_ids(&w, &res->old_ids[i]);
        dr_json_end_object(&w);
        dr_json_end_object(&w);
    }
    dr_json_end_array(&w);
    dr_json_end_object(&w);
    return dr_cmd_json_emit(&w, stdout);
}

static int repair_snapshots(struct dr_ctx *ctx, bool read_data, bool dry_run)
{
    int rc = dr_cmd_lock(ctx, 0);
    if (rc < 0) {
        return rc;
    }
    rc = dr_repo_index_attach(ctx->r, false);
    if (rc >= 0) {
        rc = dr_repo_sync_index(ctx->r, DR_SYNC_LIST);
    }
    struct dr_repair_result res;
    if (rc >= 0) {
        rc = dr_repair_snapshots(ctx->r, read_data, dry_run, &res);
    }
    if (rc < 0) {
        return rc;
    }
    if (ctx->json) {
        rc = repair_snapshots_json(&res, read_data, dry_run);
        dr_repair_result_release(&res);
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

struct copy_notes {
    struct dr_ctx *ctx;
    struct dr_json *w; /* --json: the open "rewritten" array */
};

static void copy_note(void *arg, const char *object, const char *from)
{
    struct copy_notes *cn = arg;
    if (cn->w) {
        dr_json_begin_object(cn->w);
        dr_json_kname(cn->w, "object", object);
        dr_json_kname(cn->w, "from", from);
        dr_json_end_object(cn->w);
    } else if (!cn->ctx->quiet) {
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
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    struct copy_notes cn = {.ctx = ctx, .w = ctx->json ? &w : NULL};
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "repair", keys ? "keys" : "config");
    dr_json_key(&w, "rewritten");
    dr_json_begin_array(&w);
    rc = keys ? dr_repair_keys(ctx->r, copy_note, &cn) : dr_repair_config(ctx->r, copy_note, &cn);
    dr_json_end_array(&w);
    /* format version 1 keeps one copy of each: there is nothing to rewrite from */
    dr_json_kbool(&w, "single_copy", dr_repo_config(ctx->r)->version < 2);
    dr_json_end_object(&w);
    if (ctx->json) {
        /* what was rewritten before a key file without an intact copy stopped it, too */
        int jrc = dr_cmd_json_emit(&w, stdout);
        return rc < 0 ? rc : jrc;
    }
    dr_buf_release(&b);
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
