/* diff.c: `drrepo diff SNAP1 SNAP2` compares two snapshots' trees. Identical subtrees have the
 * same id and are skipped without being loaded.
 *
 * A directory that could not be read (wholly) when a snapshot was taken (DR_NODE_F_INCOMPLETE)
 * is marked: "[incomplete]" after a directory added or removed, and a line "! DIR/" where one
 * of the two snapshots has it incomplete and the directories differ, because entries shown
 * below it as removed or added may only have been unreadable.
 *
 * With --json, one JSON object per line: one per change ("message_type": "change", with the
 * same modifier as the text and its name in "change"), then the counts ("message_type":
 * "statistics"; docs/JSON.md). */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

struct diff_stats {
    uint64_t added, removed, modified, incomplete;
    bool json;
    int rc; /* the first error of a JSON line (sticky) */
};

static bool incomplete(const struct dr_node *n)
{
    return n->type == DR_NODE_DIR && (n->flags & DR_NODE_F_INCOMPLETE);
}

static bool same_content(const struct dr_node *a, const struct dr_node *b)
{
    if (a->type != b->type || a->nchunks != b->nchunks || a->size != b->size) {
        return false;
    }
    for (uint32_t i = 0; i < a->nchunks; i++) {
        if (!dr_id_eq(&a->chunks[i], &b->chunks[i])) {
            return false;
        }
    }
    return !(a->type == DR_NODE_SYMLINK && strcmp(a->target, b->target) != 0);
}

static int print_all(struct dr_repo *r, const struct dr_node *n, const char *path, char mark,
                     struct diff_stats *st);

struct list_ctx {
    char mark;
    struct diff_stats *st;
};

static const char *change_name(char mark)
{
    switch (mark) {
    case '+': return "added";
    case '-': return "removed";
    case 'M': return "modified";
    case 'T': return "type";
    case 'U': return "metadata";
    default: return "incomplete";
    }
}

/* One change as a JSON line: a is the node before (NULL when added), b after (NULL when
 * removed); where says which snapshot has an incomplete directory ('!'). */
static void json_change(struct diff_stats *st, char mark, const char *path, const struct dr_node *a,
                        const struct dr_node *b, const char *where)
{
    struct dr_buf buf = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    const struct dr_node *n = b ? b : a;
    char modifier[2] = {mark, '\0'};
    dr_json_init(&w, &buf);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "message_type", "change");
    dr_json_kname(&w, "path", path);
    dr_json_kstring(&w, "change", change_name(mark));
    dr_json_kstring(&w, "modifier", modifier);
    dr_json_kstring(&w, "type", dr_cmd_node_type(n));
    if (a && b) {
        dr_json_kstring(&w, "old_type", dr_cmd_node_type(a));
        dr_json_ku64(&w, "old_size", a->size);
        dr_json_ku64(&w, "new_size", b->size);
    } else {
        dr_json_ku64(&w, "size", n->size);
    }
    dr_json_kbool(&w, "incomplete", incomplete(n));
    if (where) {
        dr_json_kstring(&w, "incomplete_in", where);
    }
    dr_json_end_object(&w);
    int rc = dr_cmd_json_emit(&w, stdout);
    st->rc = st->rc < 0 ? st->rc : rc;
}

static void print_entry(char mark, const char *path, const struct dr_node *n, struct diff_stats *st)
{
    if (st->json) {
        json_change(st, mark, path, mark == '-' ? n : NULL, mark == '+' ? n : NULL, NULL);
    } else {
        printf("%c %s%s%s\n", mark, path, n->type == DR_NODE_DIR ? "/" : "",
               incomplete(n) ? " [incomplete]" : "");
    }
    st->incomplete += incomplete(n);
}

/* A change of an entry both snapshots have (T, M, U, !). */
static void print_pair(char mark, const char *path, const struct dr_node *a,
                       const struct dr_node *b, struct diff_stats *st)
{
    const char *where = mark != '!'      ? NULL
                        : !incomplete(b) ? "first"
                        : !incomplete(a) ? "second"
                                         : "both";
    if (st->json) {
        json_change(st, mark, path, a, b, where);
    } else if (where) {
        printf("! %s/ [incomplete in %s]\n", path,
               strcmp(where, "both") == 0    ? "both snapshots"
               : strcmp(where, "first") == 0 ? "the first snapshot"
                                             : "the second snapshot");
    } else {
        printf("%c %s\n", mark, path);
    }
}

static int list_cb(void *arg, const char *path, const struct dr_node *n)
{
    struct list_ctx *lc = arg;
    print_entry(lc->mark, path, n, lc->st);
    return 0;
}

static int print_all(struct dr_repo *r, const struct dr_node *n, const char *path, char mark,
                     struct diff_stats *st)
{
    print_entry(mark, path, n, st);
    if (mark == '+') {
        st->added++;
    } else {
        st->removed++;
    }
    if (n->type == DR_NODE_DIR) {
        struct list_ctx lc = {mark, st};
        return dr_repo_walk(r, &n->subtree, path, list_cb, &lc);
    }
    return 0;
}

static int diff_trees(struct dr_repo *r, const struct dr_id *a, const struct dr_id *b,
                      const char *prefix, struct diff_stats *st)
{
    if (dr_id_eq(a, b)) {
        return 0;
    }
    struct dr_tree ta, tb;
    dr_tree_init(&ta);
    dr_tree_init(&tb);
    int rc = dr_repo_tree_load(r, NULL, a, &ta);
    if (rc >= 0) {
        rc = dr_repo_tree_load(r, NULL, b, &tb);
    }
    size_t i = 0, j = 0;
    while (rc >= 0 && (i < ta.n || j < tb.n)) {
        int cmp = i >= ta.n ? 1 : j >= tb.n ? -1 : strcmp(ta.nodes[i].name, tb.nodes[j].name);
        const struct dr_node *n = cmp <= 0 ? &ta.nodes[i] : &tb.nodes[j];
        char *path = dr_xasprintf("%s/%s", prefix, n->name);
        if (cmp < 0) {
            rc = print_all(r, n, path, '-', st);
            i++;
        } else if (cmp > 0) {
            rc = print_all(r, n, path, '+', st);
            j++;
        } else {
            const struct dr_node *m = &tb.nodes[j];
            if (n->type != m->type) {
                print_pair('T', path, n, m, st);
                st->modified++;
            } else if (n->type == DR_NODE_DIR) {
                if ((incomplete(n) || incomplete(m)) &&
                    (n->flags != m->flags || !dr_id_eq(&n->subtree, &m->subtree))) {
                    print_pair('!', path, n, m, st);
                    st->incomplete++;
                }
                rc = diff_trees(r, &n->subtree, &m->subtree, path, st);
            } else if (!same_content(n, m)) {
                print_pair('M', path, n, m, st);
                st->modified++;
            } else if (n->mode != m->mode || n->uid != m->uid || n->gid != m->gid ||
                       n->mtime_ns != m->mtime_ns) {
                print_pair('U', path, n, m, st);
                st->modified++;
            }
            i++;
            j++;
        }
        free(path);
        rc = rc < 0 ? rc : st->rc;
    }
    dr_tree_release(&ta);
    dr_tree_release(&tb);
    return rc;
}

const struct dr_opt dr_cmd_diff_opts[] = {
    DR_SELECT_OPTS,
    {0},
};

int dr_cmd_diff(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_select sel = DR_SELECT_INIT(ctx);
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        if (!dr_select_opt(&sel, c, arg)) {
            DR_BUG("diff: an option of the table is not handled");
        }
    }
    if (argc != 2) {
        return dr_cmd_usage(ctx, "diff takes two snapshots");
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_id ia, ib;
    struct dr_snapshot sa, sb;
    dr_snapshot_init(&sa);
    dr_snapshot_init(&sb);
    rc = dr_select_resolve(ctx, &sel, argv[0], &ia);
    if (rc >= 0) {
        rc = dr_select_resolve(ctx, &sel, argv[1], &ib);
    }
    if (rc >= 0) {
        rc = dr_repo_snapshot_load(ctx->r, &ia, &sa);
    }
    if (rc >= 0) {
        rc = dr_repo_snapshot_load(ctx->r, &ib, &sb);
    }
    struct diff_stats st = {.json = ctx->json};
    if (rc >= 0) {
        rc = diff_trees(ctx->r, &sa.tree, &sb.tree, "", &st);
    }
    if (rc >= 0 && ctx->json) {
        struct dr_buf buf = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        struct dr_json w;
        dr_json_init(&w, &buf);
        dr_json_begin_object(&w);
        dr_json_kstring(&w, "message_type", "statistics");
        dr_json_key(&w, "source");
        dr_json_begin_object(&w);
        dr_cmd_json_ids(&w, &ia);
        dr_json_end_object(&w);
        dr_json_key(&w, "target");
        dr_json_begin_object(&w);
        dr_cmd_json_ids(&w, &ib);
        dr_json_end_object(&w);
        dr_json_ku64(&w, "added", st.added);
        dr_json_ku64(&w, "removed", st.removed);
        dr_json_ku64(&w, "modified", st.modified);
        dr_json_ku64(&w, "incomplete", st.incomplete);
        dr_json_end_object(&w);
        rc = dr_cmd_json_emit(&w, stdout);
    } else if (rc >= 0) {
        printf("%llu added, %llu removed, %llu modified", (unsigned long long)st.added,
               (unsigned long long)st.removed, (unsigned long long)st.modified);
        if (st.incomplete) {
            printf(", %llu incomplete", (unsigned long long)st.incomplete);
        }
        printf("\n");
    }
    dr_snapshot_release(&sa);
    dr_snapshot_release(&sb);
    return rc;
}
