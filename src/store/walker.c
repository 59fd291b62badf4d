/* walker.c: the one recursive walker of snapshot trees (walk.h). */
#include "drrepo/walk.h"

#include "drrepo/error.h"
#include "drrepo/workset.h"
#include "drrepo/repo.h"

struct walk_state {
    const struct dr_walk *w;
    struct dr_buf path;
};

static int check_depth(unsigned depth)
{
    if (depth > DR_WALK_MAX_DEPTH) {
        return dr_errorf(DR_ECORRUPT, "tree nesting deeper than %d levels (a cycle?)",
                         DR_WALK_MAX_DEPTH);
    }
    return 0;
}

int dr_walk_tree_load(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_id *id,
                      unsigned depth, struct dr_tree *t)
{
    int rc = check_depth(depth);
    return rc < 0 ? rc : dr_repo_tree_load(r, txn, id, t);
}

static int load_tree(const struct dr_walk *w, const struct dr_id *id, unsigned depth,
                     struct dr_tree *t)
{
    if (w->load) {
        int rc = check_depth(depth);
        return rc < 0 ? rc : w->load(w->arg, id, t);
    }
    return dr_walk_tree_load(w->r, w->txn, id, depth, t);
}

static int add_name(struct dr_buf *path, size_t base, const char *name)
{
    dr_buf_setlen(path, base);
    if (base == 0 || path->buf[base - 1] != '/') {
        int rc = dr_buf_addch(path, '/');
        if (rc < 0) {
            return rc;
        }
    }
    return dr_buf_adds(path, name);
}

static int walk_tree(struct walk_state *ws, const struct dr_id *id, unsigned depth)
{
    const struct dr_walk *w = ws->w;
    int rc;
    if (w->flags & DR_WALK_DEDUP) {
        rc = dr_workset_set_add(w->seen, id);
        if (rc <= 0) {
            return rc < 0 ? rc : DR_WALK_SKIPPED;
        }
    }
    if (w->enter) {
        rc = w->enter(w->arg, id, ws->path.buf);
        if (rc != 0) {
            return rc < 0 ? rc : DR_WALK_SKIPPED;
        }
    }
    struct dr_tree t;
    dr_tree_init(&t);
    rc = load_tree(w, id, depth, &t);
    if (rc < 0) {
        dr_tree_release(&t);
        if (!w->unreadable) {
            return rc;
        }
        rc = w->unreadable(w->arg, id, ws->path.buf, rc);
        if (rc < 0) {
            return rc;
        }
        dr_error_clear();
        return DR_WALK_UNREADABLE;
    }
    size_t base = ws->path.len;
    for (size_t i = 0; rc >= 0 && i < t.n; i++) {
        struct dr_node *n = &t.nodes[i];
        rc = add_name(&ws->path, base, n->name);
        if (rc < 0) {
            break;
        }
        rc = w->node ? w->node(w->arg, ws->path.buf, n) : 0;
        if (rc != 0 || n->type != DR_NODE_DIR) {
            continue;
        }
        rc = walk_tree(ws, &n->subtree, depth + 1);
        if (w->leave_dir) {
            /* the subtree's walk may have stopped half-way down: its path is restored here */
            int prc = add_name(&ws->path, base, n->name);
            rc = prc < 0 ? prc : w->leave_dir(w->arg, ws->path.buf, n, rc);
        }
    }
    dr_buf_setlen(&ws->path, base);
    if (rc >= 0 && w->leave_tree) {
        rc = w->leave_tree(w->arg, id, ws->path.buf, &t);
    }
    dr_tree_release(&t);
    return rc < 0 ? rc : DR_WALK_DONE;
}

int dr_walk_run(const struct dr_walk *w, const struct dr_id *root, const char *prefix)
{
    struct walk_state ws = {.w = w, .path = DR_BUF_INIT(1u << 20)};
    int rc = dr_buf_adds(&ws.path, prefix ? prefix : "");
    if (rc >= 0) {
        rc = walk_tree(&ws, root, 0);
    }
    dr_buf_release(&ws.path);
    return rc;
}
