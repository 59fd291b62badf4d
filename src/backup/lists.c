/* lists.c: the chunk lists of files that change in place (format/chunklist.md), written when
 * their directory's tree is stored.
 *
 * A relation file of a base backup, cut in 8 KiB blocks, would list every block in its tree:
 * 36 bytes per 8 KiB, rewritten every day for the whole database directory, more than the pages
 * that changed. Its list is written instead as the positions that changed since the parent
 * snapshot's list of the same file, down a chain that a full list ends. The policy (depth, the
 * share of changed chunks beyond which a full list is cheaper) is format/chunklist.md's
 * "Writing". */
#include "drrepo/chunklist.h"

#include "backup_int.h"
#include "drrepo/error.h"

int dr_backup_put_list(struct dr_backup *b, struct dr_node *n, const struct dr_node *pn)
{
    if (n->nchunks == 0 || n->nchunks > DR_CHUNKLIST_COUNT_MAX) {
        n->flags &= ~DR_NODE_F_LISTED;
        return 0;
    }
    /* the parent's expanded list, when it has one: what a change is made against */
    bool listed = pn && pn->type == DR_NODE_FILE && (pn->flags & DR_NODE_F_LISTED) && pn->nlists &&
                  pn->nchunks;
    uint32_t changed = listed ? dr_chunklist_diff_count(pn->chunks, pn->chunk_sizes, pn->nchunks,
                                                        n->chunks, n->chunk_sizes, n->nchunks)
                              : 0;
    if (listed && changed == 0 && pn->nchunks == n->nchunks) {
        n->list = pn->list; /* unchanged: the same list, whatever its depth */
        return 0;
    }
    /* past a quarter changed, a change is most of a full list's bytes and one more blob to read */
    bool change = listed && pn->list_depth < DR_PG_LIST_DEPTH && changed <= n->nchunks / 4;
    struct dr_buf enc = DR_BUF_INIT(DR_BLOB_MAX);
    int rc =
        change ? dr_chunklist_encode_delta(&pn->list, pn->list_depth, pn->chunks, pn->chunk_sizes,
                                           pn->nchunks, n->chunks, n->chunk_sizes, n->nchunks, &enc)
               : dr_chunklist_encode_full(n->chunks, n->chunk_sizes, n->nchunks, &enc);
    if (rc >= 0) {
        rc = dr_pipeline_put_now(b->w, DR_BLOB_TREE, (const uint8_t *)enc.buf, enc.len, &n->list);
    }
    dr_buf_release(&enc);
    return rc;
}
