/* diff.c: `drrepo diff SNAP1 SNAP2` compares two snapshots' trees. Identical subtrees have the
 * same id and are skipped without being loaded.
 *
 * A directory that could not be read (wholly) when a snapshot was taken (DR_NODE_F_INCOMPLETE)
 * is marked: "[incomplete]" after a directory added or removed, and a line "! DIR/" where one
 * of the two snapshots has it incomplete and the directories differ, because entries shown
 * below it as removed or added may only have been unreadable. */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

struct diff_stats {
    uint64_t added, removed, modified, incomplete;
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

static void print_entry(char mark, const char *path, const struct dr_node *n, struct diff_stats *st)
{
    printf("%c %s%s%s\n", mark, path, n->type == DR_NODE_DIR ? "/" : "",
           incomplete(n) ? " [incomplete]" : "");
    st->incomplete += incomplete(n);
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
                printf("T %s\n", path);
                st->modified++;
            } else if (n->type == DR_NODE_DIR) {
                if ((incomplete(n) || incomplete(m)) &&
                    (n->flags != m->flags || !dr_id_eq(&n->subtree, &m->subtree))) {
                    printf("! %s/ [incomplete in %s]\n", path,
                           !incomplete(m)   ? "the first snapshot"
                           : !incomplete(n) ? "the second snapshot"
                                            : "both snapshots");
                    st->incomplete++;
                }
                rc = diff_trees(r, &n->subtree, &m->subtree, path, st);
            } else if (!same_content(n, m)) {
                printf("M %s\n", path);
                st->modified++;
            } else if (n->mode != m->mode || n->uid != m->uid || n->gid != m->gid ||
                       n->mtime_ns != m->mtime_ns) {
                printf("U %s\n", path);
                st->modified++;
            }
            i++;
            j++;
        }
        free(path);
    }
    dr_tree_release(&ta);
    dr_tree_release(&tb);
    return rc;
}

int dr_cmd_diff(struct dr_ctx *ctx, int argc, char **argv)
{
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
    rc = dr_repo_snapshot_resolve(ctx->r, argv[0], NULL, NULL, &ia);
    if (rc >= 0) {
        rc = dr_repo_snapshot_resolve(ctx->r, argv[1], NULL, NULL, &ib);
    }
    if (rc >= 0) {
        rc = dr_repo_snapshot_load(ctx->r, &ia, &sa);
    }
    if (rc >= 0) {
        rc = dr_repo_snapshot_load(ctx->r, &ib, &sb);
    }
    struct diff_stats st = {0};
    if (rc >= 0) {
        rc = diff_trees(ctx->r, &sa.tree, &sb.tree, "", &st);
    }
    if (rc >= 0) {
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
