/* find.c: `drrepo find PATTERN... [SNAP...]`: which snapshots hold a path that matches one of the
 * patterns, as restic's `find`. The patterns are those of restore --include (pattern.h: `*`,
 * `?`, `[...]`, `**`, a leading '/' anchors); the snapshots are the ones named, or those the
 * selector passes (all without one).
 *
 * Only trees are read (dr_repo_walk, the walker of ls), and a directory below which no pattern
 * can match (dr_pattern_may_match_below) is not entered, so an anchored pattern reads only the
 * trees on its way. Each snapshot's matches are printed under it; with --json, one object per
 * match and per line (as ls --json), then the counts. Finding nothing is an error (exit 1), as a
 * selector that matches nothing is: a script tests the exit code. */
#include "cmd_int.h"

#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/pattern.h"
#include "drrepo/util.h"

const struct dr_opt dr_cmd_find_opts[] = {
    DR_SELECT_OPTS,
    {0},
};

struct find {
    struct dr_ctx *ctx;
    char **pats;
    size_t npats;
    const struct dr_snap_entry *snap; /* the snapshot walked */
    uint64_t matches;                 /* in this snapshot */
};

static int json_match(const struct find *f, const char *path, const struct dr_node *n)
{
    char when[32];
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "message_type", "match");
    dr_json_key(&w, "snapshot");
    dr_json_begin_object(&w);
    dr_cmd_json_ids(&w, &f->snap->id);
    dr_time_format(f->snap->snap.time_ns, when, sizeof(when));
    dr_json_kstring(&w, "time", when);
    dr_json_kname(&w, "host", f->snap->snap.host);
    dr_json_end_object(&w);
    dr_cmd_json_node(&w, path, n);
    dr_json_end_object(&w);
    return dr_cmd_json_emit(&w, stdout);
}

static int find_cb(void *arg, const char *path, const struct dr_node *n)
{
    struct find *f = arg;
    if (dr_pattern_match_any(f->pats, f->npats, path)) {
        if (f->matches++ == 0 && !f->ctx->json) {
            char sid[9], when[32];
            dr_short_id(&f->snap->id, sid);
            dr_time_format(f->snap->snap.time_ns, when, sizeof(when));
            printf("snapshot %s of %s (%s):\n", sid, when, f->snap->snap.host);
        }
        if (f->ctx->json) {
            int rc = json_match(f, path, n);
            if (rc < 0) {
                return rc;
            }
        } else {
            char when[32];
            dr_time_format(n->mtime_ns, when, sizeof(when));
            printf("  %12llu  %s  %s%s\n", (unsigned long long)n->size, when, path,
                   n->type == DR_NODE_DIR ? "/" : "");
        }
    }
    if (n->type != DR_NODE_DIR) {
        return 0;
    }
    for (size_t i = 0; i < f->npats; i++) {
        if (dr_pattern_may_match_below(f->pats[i], path)) {
            return 0;
        }
    }
    return 1; /* nothing below can match: the subtree is not read */
}

/* Could arg be a SNAP: "latest", or a hex prefix of an id (at least 4 digits)? */
static bool looks_like_snap(const char *arg)
{
    if (strcmp(arg, "latest") == 0) {
        return true;
    }
    size_t n = strlen(arg);
    return n >= 4 && n <= DR_ID_HEX_LEN && strspn(arg, "0123456789abcdef") == n;
}

static int print_counts(const struct dr_ctx *ctx, uint64_t snaps, uint64_t found, uint64_t total)
{
    if (ctx->json) {
        struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        struct dr_json w;
        dr_json_init(&w, &b);
        dr_json_begin_object(&w);
        dr_json_kstring(&w, "message_type", "statistics");
        dr_json_ku64(&w, "snapshots", snaps);
        dr_json_ku64(&w, "snapshots_matched", found);
        dr_json_ku64(&w, "matches", total);
        dr_json_end_object(&w);
        return dr_cmd_json_emit(&w, stdout);
    }
    if (!ctx->quiet && total) {
        printf("%llu matches in %llu of %llu snapshots\n", (unsigned long long)total,
               (unsigned long long)found, (unsigned long long)snaps);
    }
    return 0;
}

int dr_cmd_find(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_select sel = DR_SELECT_INIT(ctx);
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        if (!dr_select_opt(&sel, c, arg)) {
            DR_BUG("find: an option of the table is not handled");
        }
    }
    if (argc < 1) {
        return dr_cmd_usage(ctx, "find needs a PATTERN");
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    /* PATTERN... then SNAP...: the trailing arguments that are "latest" or name a snapshot of
     * the repository (a hex prefix); the first argument is always a pattern. The ids are
     * resolved from the last one back, so ids[k] is the snapshot of argv[argc - 1 - k]. */
    struct dr_id *ids = dr_xcalloc((size_t)argc, sizeof(*ids));
    int npats = argc;
    while (rc >= 0 && npats > 1 && looks_like_snap(argv[npats - 1])) {
        rc = dr_select_resolve(ctx, &sel, argv[npats - 1], &ids[argc - npats]);
        if (rc == DR_ENOENT && strcmp(argv[npats - 1], "latest") != 0) {
            /* no such snapshot: the word is a pattern (a name made of hex digits) */
            dr_error_clear();
            rc = 0;
            break;
        }
        npats -= rc >= 0;
    }
    int nsnaps = argc - npats;
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    if (rc >= 0) {
        rc = dr_repo_snapshot_list(ctx->r, &v, &n, NULL);
    }
    struct find f = {.ctx = ctx, .pats = argv, .npats = (size_t)npats};
    uint64_t snaps = 0, found = 0, total = 0;
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        if (!dr_select_takes(&sel, ids, (size_t)nsnaps, &v[i])) {
            continue;
        }
        snaps++;
        f.snap = &v[i];
        f.matches = 0;
        rc = dr_repo_walk(ctx->r, &v[i].snap.tree, "/", find_cb, &f);
        found += f.matches > 0;
        total += f.matches;
    }
    free(ids);
    dr_snap_list_free(v, n);
    if (rc >= 0 && snaps == 0) {
        char *d = dr_select_describe(&sel, "");
        rc = dr_errorf(DR_ENOENT, "no snapshot matches%s", d);
        free(d);
        return rc;
    }
    if (rc >= 0) {
        rc = print_counts(ctx, snaps, found, total);
    }
    if (rc >= 0 && total == 0) {
        rc = dr_errorf(DR_ENOENT, "no path matches '%s'%s in %llu snapshots", argv[0],
                       npats > 1 ? " or the other patterns" : "", (unsigned long long)snaps);
    }
    return rc;
}
