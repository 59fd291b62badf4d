/* tree_fuzz.c: fuzz target for dr_tree_decode (src/object/tree.c).
 *
 * Beyond "does not crash", it checks the codec's promises on every input the decoder accepts:
 * encode accepts it too (decode validates at least what encode does), the encoding decodes to
 * the same number of nodes and re-encodes to the same bytes (canonical form), and dr_tree_find
 * finds every node. On rejection the tree must be left empty. A broken promise aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct dr_tree *t)
{
    struct dr_buf b1 = DR_BUF_INIT(DR_TREE_MAX), b2 = DR_BUF_INIT(DR_TREE_MAX);
    struct dr_tree u;

    for (size_t i = 0; i < t->n; i++) {
        if (dr_tree_find(t, t->nodes[i].name) != &t->nodes[i]) {
            abort();
        }
    }
    /* Re-encoding drops unknown trailing record bytes, so it is never longer than the input. */
    if (dr_tree_encode(t, &b1) < 0) {
        abort();
    }
    dr_tree_init(&u);
    if (dr_tree_decode((const uint8_t *)b1.buf, b1.len, &u) < 0 || u.n != t->n) {
        abort();
    }
    if (dr_tree_encode(&u, &b2) < 0 || b1.len != b2.len || memcmp(b1.buf, b2.buf, b1.len)) {
        abort();
    }
    dr_tree_release(&u);
    dr_buf_release(&b1);
    dr_buf_release(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dr_tree t;

    dr_tree_init(&t);
    if (dr_tree_decode(data, size, &t) == 0) {
        check_accepted(&t);
    } else if (t.n != 0 || t.nodes != NULL) {
        abort();
    }
    dr_tree_release(&t);
    return 0;
}
