/* select.c: the one snapshot selector of drill, dump, forget, ls, restore, snapshots, stats,
 * diff, copy, find and tag.
 *
 * --host, --tag and --path narrow what "latest" means and which snapshots a listing, a keep
 * policy or a copy sees. A repeated option is OR (--host a --host b: either host); the commas in
 * one --tag are AND (--tag a,b: both tags), as in restic. --path PATH passes a snapshot that saved
 * PATH or a directory above it, or whose source is PATH ("pg:HOST:PORT" for a --pg snapshot,
 * "redis:HOST:PORT" for a --redis one). drill's --latest stands for the snapshot argument
 * "latest".
 *
 * The selector keeps no copies: the values are read from the parsed command line (ctx->args)
 * when a snapshot is tested, so nothing is allocated and nothing needs releasing. */
#include "cmd_int.h"

#include <stdlib.h>
#include <string.h>

#include "drrepo/drill.h"
#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"

bool dr_select_opt(struct dr_select *sel, int c, const char *arg)
{
    (void)arg;
    switch (c) {
    case 'H': sel->nhost++; return true;
    case 't': sel->ntag++; return true;
    case DR_SELECT_PATH: sel->npath++; return true;
    case DR_SELECT_LATEST: sel->latest = true; return true;
    default: return false;
    }
}

bool dr_select_filtered(const struct dr_select *sel)
{
    return sel->nhost || sel->ntag || sel->npath;
}

/* Does s have every tag of the comma-separated list? */
static bool has_all_tags(const struct dr_snapshot *s, const char *list)
{
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            bool found = false;
            for (size_t i = 0; i < s->ntags && !found; i++) {
                found = strlen(s->tags[i]) == len && memcmp(s->tags[i], p, len) == 0;
            }
            if (!found) {
                return false;
            }
        }
        if (!p[len]) {
            return true;
        }
        p += len + 1;
    }
}

/* Is dir the path itself or a directory above it ("/srv" for "/srv/a"; "/" for all)? */
static bool path_covers(const char *dir, const char *path)
{
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') {
        dl--;
    }
    if (strncmp(dir, path, dl) != 0) {
        return false;
    }
    return path[dl] == '\0' || path[dl] == '/' || (dl == 1 && dir[0] == '/');
}

static bool has_path(const struct dr_snapshot *s, const char *want)
{
    for (size_t i = 0; i < s->npaths; i++) {
        const char *p = s->paths[i];
        if (strcmp(p, want) == 0 || (p[0] == '/' && want[0] == '/' && path_covers(p, want))) {
            return true;
        }
        /* a --pg snapshot records postgresql://HOST:PORT */
        if (strncmp(want, "pg:", 3) == 0 && strncmp(p, "postgresql://", 13) == 0 &&
            strcmp(p + 13, want + 3) == 0) {
            return true;
        }
    }
    const char *redis = dr_snapshot_get_meta(s, "redis.server");
    return redis && strncmp(want, "redis:", 6) == 0 && strcmp(redis, want + 6) == 0;
}

bool dr_select_matches(const struct dr_select *sel, const struct dr_snapshot *s)
{
    if (!dr_select_filtered(sel)) {
        return true;
    }
    bool host = !sel->nhost, tag = !sel->ntag, path = !sel->npath;
    const struct dr_args *a = sel->args;
    for (size_t i = 0; a && i < a->n; i++) {
        const struct dr_optval *o = &a->v[i];
        switch (o->id) {
        case 'H': host = host || strcmp(s->host, o->arg) == 0; break;
        case 't': tag = tag || has_all_tags(s, o->arg); break;
        case DR_SELECT_PATH: path = path || has_path(s, o->arg); break;
        default: break;
        }
    }
    return host && tag && path;
}

char *dr_select_describe(const struct dr_select *sel, const char *spec)
{
    char *d = dr_xstrdup(sel->latest ? "latest" : spec);
    const struct dr_args *a = sel->args;
    for (size_t i = 0; a && i < a->n; i++) {
        const struct dr_optval *o = &a->v[i];
        const char *name = o->id == 'H'              ? "host"
                           : o->id == 't'            ? "tag"
                           : o->id == DR_SELECT_PATH ? "path"
                                                     : NULL;
        if (name) {
            char *next = dr_xasprintf("%s --%s %s", d, name, o->arg);
            free(d);
            d = next;
        }
    }
    return d;
}

int dr_select_resolve(struct dr_ctx *ctx, const struct dr_select *sel, const char *spec,
                      struct dr_id *out)
{
    if (!sel->latest && strcmp(spec, "latest") != 0) {
        return dr_repo_snapshot_resolve(ctx->r, spec, NULL, NULL, out);
    }
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    int rc = dr_repo_snapshot_list(ctx->r, &v, &n, NULL);
    size_t i = n;
    while (rc >= 0 && i-- > 0 && !dr_select_matches(sel, &v[i].snap)) {
    }
    if (rc >= 0 && i < n) {
        *out = v[i].id;
    } else if (rc >= 0) {
        char *d = dr_select_describe(sel, spec);
        rc = dr_errorf(DR_ENOENT, "no snapshot matches %s", d);
        free(d);
    }
    dr_snap_list_free(v, n);
    return rc;
}

int dr_select_list(struct dr_ctx *ctx, struct dr_snap_entry **v, size_t *n, size_t *bad,
                   struct dr_drill_results *drills)
{
    *v = NULL;
    *n = 0;
    *drills = (struct dr_drill_results){0};
    int rc = dr_cmd_open(ctx);
    rc = rc < 0 ? rc : dr_repo_snapshot_list(ctx->r, v, n, bad);
    if (rc >= 0 && dr_drill_results_load(ctx->r, drills) < 0) {
        /* a listing of snapshots should not fail because drill results cannot be read */
        dr_log_warn("drill results left out: %s", dr_error_msg());
        dr_error_clear();
    }
    return rc;
}

bool dr_select_takes(const struct dr_select *sel, const struct dr_id *ids, size_t nids,
                     const struct dr_snap_entry *e)
{
    if (nids == 0) {
        return dr_select_matches(sel, &e->snap);
    }
    for (size_t k = 0; k < nids; k++) {
        if (dr_id_eq(&ids[k], &e->id)) {
            return true;
        }
    }
    return false;
}

int dr_select_resolve_all(struct dr_ctx *ctx, const struct dr_select *sel, int argc, char **argv,
                          struct dr_id **out)
{
    *out = dr_xcalloc(argc ? (size_t)argc : 1, sizeof(**out));
    int rc = 0;
    for (int i = 0; i < argc && rc >= 0; i++) {
        rc = dr_select_resolve(ctx, sel, argv[i], &(*out)[i]);
    }
    return rc;
}
