/* walk.h: the one recursive walker of snapshot trees (ls, diff, restore, tar output, check,
 * repair, prune's mark and reference counting are all built on it).
 *
 * The walk is depth-first in tree order (names sorted bytewise). Trees are loaded one directory
 * at a time and released when their entries are done, so memory follows the depth of the tree,
 * not its size. A caller's traversal is expressed in callbacks, every one optional:
 *
 *   enter(tree)            before a tree is loaded: 1 skips it (already seen), < 0 stops
 *   unreadable(tree, err)  a tree could not be loaded: 0 goes on as if it were empty
 *                          (report and continue), < 0 stops; without it the walk stops
 *   node(path, n)          every entry: 1 skips a directory's subtree, < 0 stops
 *   leave_dir(path, n, st) after a directory's subtree, with its status (below)
 *   leave_tree(tree, t)    after all entries of a tree that loaded, with the tree itself
 *
 * Paths are the prefix followed by "/name" for each level ("" gives "/a/b", "./" gives
 * "./a/b": no slash is added after a prefix that ends in one). A path passed to a callback is
 * valid during the call only. */
#ifndef DR_WALK_H
#define DR_WALK_H

#include "drrepo/tree.h"

struct dr_repo;
struct dr_index_txn;
struct dr_workset;

/* Deeper trees are treated as unreadable (only a cycle, i.e. a broken hash, could build one). */
#define DR_WALK_MAX_DEPTH 4096

/* Loads tree id, depth levels below a snapshot's root, for a recursion over trees (the walker,
 * reference counting, check's recount): DR_ECORRUPT past DR_WALK_MAX_DEPTH, else
 * dr_repo_tree_load. */
DR_MUST_CHECK int dr_walk_tree_load(struct dr_repo *r, struct dr_index_txn *txn,
                                    const struct dr_id *id, unsigned depth, struct dr_tree *t);

/* Dedups trees through the set of the workset `seen` (dr_workset_set_add): a tree already in it
 * is skipped whole, before enter is called. The caller clears the set when it wants to. */
#define DR_WALK_DEDUP 0x1u

/* What walking one tree came to (>= 0), or an error (< 0). */
enum dr_walk_status {
    DR_WALK_DONE = 0,       /* loaded, every entry visited */
    DR_WALK_SKIPPED = 1,    /* skipped by the dedup or by enter */
    DR_WALK_UNREADABLE = 2, /* could not be loaded; unreadable reported it */
};

struct dr_walk {
    struct dr_repo *r;        /* loads trees (dr_repo_tree_load) unless load is set */
    struct dr_index_txn *txn; /* for the loads (a read txn will do); may be NULL */
    struct dr_workset *seen;  /* the trees seen, with DR_WALK_DEDUP */
    unsigned flags;           /* DR_WALK_* */
    void *arg;                /* passed to every callback */
    /* Loads tree id into t (initialised); errors as dr_repo_tree_load. */
    int (*load)(void *arg, const struct dr_id *id, struct dr_tree *t);
    int (*enter)(void *arg, const struct dr_id *tree, const char *path);
    /* err is the load's code, its message in dr_error_msg(); cleared by the walker on 0. */
    int (*unreadable)(void *arg, const struct dr_id *tree, const char *path, int err);
    /* n belongs to the walker until leave_tree of its tree; a callback may change it (repair
     * rewrites trees). */
    int (*node)(void *arg, const char *path, struct dr_node *n);
    /* Called for every directory whose node callback returned 0; status is its subtree's
     * enum dr_walk_status or error, and the return value replaces it (< 0 stops). */
    int (*leave_dir)(void *arg, const char *path, struct dr_node *n, int status);
    int (*leave_tree)(void *arg, const struct dr_id *tree, const char *path, struct dr_tree *t);
};

/* Walks the tree root. Returns its enum dr_walk_status, or the first error of a callback or a
 * load that was not reported through unreadable. Errors: DR_ECORRUPT (path too long), the
 * loader's and the callbacks'. */
DR_MUST_CHECK int dr_walk_run(const struct dr_walk *w, const struct dr_id *root,
                              const char *prefix);

#endif
