/* tag.c: `drrepo tag`: adds, removes or sets the tags of the snapshots named (SNAP...) or
 * selected (--host, --tag, --path), as restic's `tag`.
 *
 * A snapshot object is named by its hash (format/snapshot.md), so a snapshot's tags cannot be
 * changed in place: each changed snapshot is written anew with the new tags and the field
 * `original` naming the snapshot it replaces (kept when the old one already had it, as restic
 * does, so that it always names the first snapshot of the line and `repair snapshots` still
 * knows a repaired snapshot's damaged original), then the old one is forgotten. The new one is
 * written first, durably (dr_pipeline_commit: the index records its references, then the
 * object is put with fsync), and only then is the old one removed (dr_forget_one): a crash in
 * between leaves both snapshots, never neither, and `forget` of the old id tidies up. The data
 * is not touched: the new snapshot names the same tree, so no pack is written and nothing
 * becomes unreferenced.
 *
 * A snapshot whose tags would not change is left as it is. With neither SNAP nor a selector,
 * every snapshot is considered: restic's behaviour; each change is printed. */
#include "cmd_int.h"

#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/pipeline.h"
#include "drrepo/prune.h"
#include "drrepo/util.h"

enum { OPT_ADD = 1, OPT_REMOVE, OPT_SET };

const struct dr_opt dr_cmd_tag_opts[] = {
    {"add", 0, OPT_ADD, "TAG[,TAG]", "add these tags (repeatable)", DR_OPT_REPEAT, NULL},
    {"remove", 0, OPT_REMOVE, "TAG[,TAG]", "remove these tags (repeatable)", DR_OPT_REPEAT, NULL},
    {"set", 0, OPT_SET, "TAG[,TAG]",
     "replace the tags with these (repeatable; --set '' removes them all)", DR_OPT_REPEAT, NULL},
    DR_SELECT_OPTS,
    {0},
};

/* Is tag one of the comma-separated lists of option id in the command line? */
static bool listed(const struct dr_args *a, int id, const char *tag)
{
    size_t tl = strlen(tag);
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].id != id) {
            continue;
        }
        for (const char *p = a->v[i].arg;;) {
            size_t len = strcspn(p, ",");
            if (len == tl && memcmp(p, tag, len) == 0) {
                return true;
            }
            if (!p[len]) {
                break;
            }
            p += len + 1;
        }
    }
    return false;
}

static bool has_tag(const struct dr_snapshot *s, const char *tag, size_t len)
{
    for (size_t i = 0; i < s->ntags; i++) {
        if (strlen(s->tags[i]) == len && memcmp(s->tags[i], tag, len) == 0) {
            return true;
        }
    }
    return false;
}

/* Appends the tags of every list of option id to s, each once, in the order given. */
static void add_listed(struct dr_snapshot *s, const struct dr_args *a, int id)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].id != id) {
            continue;
        }
        for (const char *p = a->v[i].arg;;) {
            size_t len = strcspn(p, ",");
            if (len > 0 && !has_tag(s, p, len)) {
                char *t = dr_xstrndup(p, len);
                dr_snapshot_add_tag(s, t);
                free(t);
            }
            if (!p[len]) {
                break;
            }
            p += len + 1;
        }
    }
}

/* The tags old gets: --set's, or old's without --remove's and with --add's. */
static void new_tags(const struct dr_args *a, bool set, const struct dr_snapshot *old,
                     struct dr_snapshot *out)
{
    dr_snapshot_init(out);
    if (set) {
        add_listed(out, a, OPT_SET);
        return;
    }
    for (size_t i = 0; i < old->ntags; i++) {
        if (!listed(a, OPT_REMOVE, old->tags[i]) &&
            !has_tag(out, old->tags[i], strlen(old->tags[i]))) {
            dr_snapshot_add_tag(out, old->tags[i]);
        }
    }
    add_listed(out, a, OPT_ADD);
}

/* Tags are a set: the same tags in another order (--set b,a on a,b) are no change. */
static bool same_tags(const struct dr_snapshot *a, const struct dr_snapshot *b)
{
    if (a->ntags != b->ntags) {
        return false;
    }
    for (size_t i = 0; i < a->ntags; i++) {
        if (!has_tag(b, a->tags[i], strlen(a->tags[i]))) {
            return false;
        }
    }
    return true;
}

struct change {
    struct dr_id old, new;
    size_t entry; /* index into the snapshot list: its new tags are in tags[] */
};

/* Writes the snapshot that replaces e with the tags of t, then forgets e. */
static int retag(struct dr_pipeline *w, struct dr_repo *r, const struct dr_snap_entry *e,
                 const struct dr_snapshot *t, struct dr_id *out)
{
    struct dr_snapshot s;
    dr_snapshot_copy(&s, &e->snap);
    for (size_t i = 0; i < s.ntags; i++) {
        free(s.tags[i]);
    }
    free(s.tags);
    s.tags = NULL;
    s.ntags = 0;
    for (size_t i = 0; i < t->ntags; i++) {
        dr_snapshot_add_tag(&s, t->tags[i]);
    }
    if (!s.has_original) {
        s.original = e->id;
        s.has_original = true;
    }
    /* first the new snapshot, durably; a crash before the forget below leaves two snapshots
     * with the same tree and different tags, never none */
    int rc = dr_pipeline_commit(w, &s, out);
    dr_snapshot_release(&s);
    if (rc >= 0) {
        rc = dr_forget_one(r, &e->id);
    }
    return rc;
}

static int print_json(const struct change *ch, size_t nch, const struct dr_snapshot *tags,
                      size_t considered)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_ku64(&w, "snapshots_considered", considered);
    dr_json_ku64(&w, "snapshots_changed", nch);
    dr_json_key(&w, "changed");
    dr_json_begin_array(&w);
    for (size_t i = 0; i < nch; i++) {
        const struct dr_snapshot *t = &tags[ch[i].entry];
        dr_json_begin_object(&w);
        dr_cmd_json_ids(&w, &ch[i].new);
        dr_json_key(&w, "old");
        dr_json_begin_object(&w);
        dr_cmd_json_ids(&w, &ch[i].old);
        dr_json_end_object(&w);
        dr_json_knames(&w, "tags", (const char *const *)t->tags, t->ntags);
        dr_json_end_object(&w);
    }
    dr_json_end_array(&w);
    dr_json_end_object(&w);
    return dr_cmd_json_emit(&w, stdout);
}

int dr_cmd_tag(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_select sel = DR_SELECT_INIT(ctx);
    bool add = false, remove = false, set = false;
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        add |= c == OPT_ADD;
        remove |= c == OPT_REMOVE;
        set |= c == OPT_SET;
        if (c != OPT_ADD && c != OPT_REMOVE && c != OPT_SET && !dr_select_opt(&sel, c, arg)) {
            DR_BUG("tag: an option of the table is not handled");
        }
    }
    if (!add && !remove && !set) {
        return dr_cmd_usage(ctx, "give --add, --remove or --set");
    }
    if (set && (add || remove)) {
        return dr_cmd_usage(ctx, "--set replaces the tags: it cannot be combined with --add or "
                                 "--remove");
    }
    ctx->deletes = true; /* the replaced snapshots are removed */
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_id *ids;
    rc = dr_select_resolve_all(ctx, &sel, argc, argv, &ids);
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    if (rc >= 0) {
        rc = dr_repo_snapshot_list(ctx->r, &v, &n, NULL);
    }
    struct dr_snapshot *tags = dr_xcalloc(n + 1, sizeof(*tags));
    struct change *ch = dr_xcalloc(n + 1, sizeof(*ch));
    size_t nch = 0, considered = 0;
    struct dr_pipeline *w = NULL;
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        if (!dr_select_takes(&sel, ids, (size_t)argc, &v[i])) {
            continue;
        }
        considered++;
        new_tags(&ctx->args, set, &v[i].snap, &tags[i]);
        if (same_tags(&tags[i], &v[i].snap)) {
            continue; /* nothing to change: the snapshot is left as it is */
        }
        if (!w) {
            rc = dr_pipeline_open(ctx->r, &w);
        }
        if (rc >= 0) {
            rc = retag(w, ctx->r, &v[i], &tags[i], &ch[nch].new);
        }
        if (rc >= 0) {
            ch[nch].old = v[i].id;
            ch[nch].entry = i;
            if (!ctx->json && !ctx->quiet) {
                char a[9], b[9];
                dr_short_id(&v[i].id, a);
                dr_short_id(&ch[nch].new, b);
                printf("snapshot %s replaced by %s\n", a, b);
            }
            nch++;
        }
    }
    dr_pipeline_free(w);
    if (rc >= 0 && considered == 0 && !argc) {
        char *d = dr_select_describe(&sel, "");
        rc = dr_errorf(DR_ENOENT, "no snapshot matches%s", d);
        free(d);
    }
    if (rc >= 0 && ctx->json) {
        rc = print_json(ch, nch, tags, considered);
    } else if (rc >= 0 && !ctx->quiet) {
        printf("%zu snapshots changed, %zu left as they were\n", nch, considered - nch);
    }
    for (size_t i = 0; i < n; i++) {
        dr_snapshot_release(&tags[i]);
    }
    free(tags);
    free(ch);
    free(ids);
    dr_snap_list_free(v, n);
    return rc;
}
