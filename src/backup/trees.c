/* trees.c: directory trees stored without stopping the pipeline (the sink's put_tree).
 *
 * A source hands a directory's tree over as soon as it has walked the directory, while the
 * chunks of its files are still in the write pipeline. The engine keeps the tree until they have
 * their ids: dr_pipeline_then encodes and stores it once every blob submitted before it is
 * retired, and in the order the trees were handed over, which is bottom-up, so a directory's
 * subdirectories are stored before it. The reader and chunker meanwhile go on with the next
 * directory; the pipeline used to be drained at the end of every directory, which left the
 * workers idle while the next directory was opened and its first files read.
 *
 * The source gets a token in place of the tree's id: a random prefix drawn per run, then the
 * number of a cell that the id is written to once the tree is stored. The token travels as an
 * id would (into the parent directory's node, into the snapshot's tree field) and is replaced by
 * the id when the parent's tree is encoded or the snapshot is committed (dr_backup_resolve).
 * A token never reaches the repository: resolving one whose tree is not stored fails
 * (DR_EINTERNAL). */
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"

#define TOKEN_PREFIX_LEN (DR_ID_LEN - 8)

struct dr_backup_cell {
    struct dr_id id;
    bool stored;   /* id is the tree's */
    uint32_t next; /* on the free list (UINT32_MAX ends it) */
};

void dr_backup_trees_init(struct dr_backup *b)
{
    dr_random_bytes(b->token_prefix, sizeof(b->token_prefix));
    b->cells = NULL;
    b->ncells = b->acells = 0;
    b->free_cell = UINT32_MAX;
}

void dr_backup_trees_free(struct dr_backup *b)
{
    free(b->cells);
    b->cells = NULL;
    b->ncells = b->acells = 0;
}

static uint32_t cell_new(struct dr_backup *b)
{
    uint32_t c = b->free_cell;
    if (c != UINT32_MAX) {
        b->free_cell = b->cells[c].next;
    } else {
        if (b->ncells == UINT32_MAX) {
            DR_BUG("more directories pending than cells can number");
        }
        DR_GROW(b->cells, b->acells, b->ncells + 1);
        c = (uint32_t)b->ncells++;
    }
    b->cells[c] = (struct dr_backup_cell){.stored = false, .next = UINT32_MAX};
    return c;
}

static struct dr_id token(const struct dr_backup *b, uint32_t cell)
{
    struct dr_id t;
    memcpy(t.b, b->token_prefix, TOKEN_PREFIX_LEN);
    dr_put_u64le(t.b + TOKEN_PREFIX_LEN, cell);
    return t;
}

int dr_backup_resolve(struct dr_backup *b, struct dr_id *id)
{
    _Static_assert(sizeof(b->token_prefix) == TOKEN_PREFIX_LEN, "token prefix");
    if (memcmp(id->b, b->token_prefix, TOKEN_PREFIX_LEN) != 0) {
        return 0; /* an id already */
    }
    uint64_t c = dr_get_u64le(id->b + TOKEN_PREFIX_LEN);
    if (c >= b->ncells || !b->cells[c].stored) {
        return dr_errorf(DR_EINTERNAL, "a directory's tree was wanted before it was stored");
    }
    *id = b->cells[c].id;
    /* each token is held by one node (or the snapshot): its cell is free once read */
    b->cells[c].stored = false;
    b->cells[c].next = b->free_cell;
    b->free_cell = (uint32_t)c;
    return 0;
}

/* Encodes and stores t now (every chunk id of its files known, its subdirectories stored). */
static int store_now(struct dr_backup *b, struct dr_tree *t, const struct dr_tree *pt,
                     struct dr_id *out)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < t->n; i++) {
        if (t->nodes[i].type == DR_NODE_DIR) {
            rc = dr_backup_resolve(b, &t->nodes[i].subtree);
        }
    }
    if (rc < 0) {
        return rc;
    }
    dr_tree_sort(t);
    for (size_t i = 0; rc >= 0 && i < t->n; i++) {
        struct dr_node *n = &t->nodes[i];
        if (n->type == DR_NODE_FILE && (n->flags & DR_NODE_F_LISTED) && !n->nlists) {
            rc = dr_pipeline_put_list(b->w, n, pt ? dr_tree_find(pt, n->name) : NULL);
        }
    }
    struct dr_buf enc = DR_BUF_INIT(DR_TREE_MAX);
    if (rc >= 0) {
        rc = dr_tree_encode(t, &enc);
    }
    if (rc >= 0) {
        rc = dr_pipeline_put_tree(b->w, (const uint8_t *)enc.buf, enc.len, out);
    }
    dr_buf_release(&enc);
    return rc;
}

/* A tree handed over and not yet stored: it owns the source's nodes (and the parent
 * snapshot's tree of the same directory, for chunk lists), and the pipeline's jobs still write
 * chunk ids into its files' arrays. */
struct pending_tree {
    struct dr_backup *b;
    struct dr_tree t, pt;
    bool has_pt;
    uint32_t cell;
};

static int pending_store(void *arg)
{
    struct pending_tree *p = arg;
    struct dr_id id;
    int rc = store_now(p->b, &p->t, p->has_pt ? &p->pt : NULL, &id);
    if (rc >= 0) {
        p->b->cells[p->cell].id = id;
        p->b->cells[p->cell].stored = true;
    }
    return rc;
}

static void pending_free(void *arg)
{
    struct pending_tree *p = arg;
    dr_tree_release(&p->t);
    dr_tree_release(&p->pt);
    free(p);
}

int dr_backup_put_tree(struct dr_backup *b, struct dr_tree *t, struct dr_tree *pt,
                       struct dr_id *out)
{
    struct pending_tree *p = dr_xcalloc(1, sizeof(*p));
    p->b = b;
    p->t = *t;
    dr_tree_init(t);
    dr_tree_init(&p->pt);
    if (pt) {
        p->pt = *pt;
        p->has_pt = true;
        dr_tree_init(pt);
    }
    p->cell = cell_new(b);
    *out = token(b, p->cell);
    return dr_pipeline_then(b->w, pending_store, pending_free, p);
}
