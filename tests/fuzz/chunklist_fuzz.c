/* chunklist_fuzz.c: fuzz target for dr_chunklist_decode and dr_chunklist_apply
 * (src/object/chunklist.c).
 *
 * Beyond "does not crash", on every input the decoder accepts: a full list re-encodes to the
 * same bytes (canonical form) and applies to exactly its entries; a change applies to a base
 * expansion of every length from 0 to count + 1 without reading or writing outside it, and
 * when it succeeds the result has count chunks whose sizes add up to total. On rejection the
 * list is left empty. A broken promise aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/chunklist.h"
#include "drrepo/error.h"
#include "drrepo/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_apply(const struct dr_chunklist *l, uint32_t base_n)
{
    struct dr_id *ids = NULL;
    uint32_t *sizes = NULL, n = base_n;
    if (base_n) {
        ids = dr_xcalloc(base_n, sizeof(*ids));
        sizes = dr_xcalloc(base_n, sizeof(*sizes));
    }
    if (dr_chunklist_apply(l, &ids, &sizes, &n) == 0) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            sum += sizes[i];
        }
        if (n != l->count || sum != l->total) {
            abort();
        }
    } else {
        dr_error_clear();
    }
    free(ids);
    free(sizes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dr_chunklist l;
    if (dr_chunklist_decode(data, size, &l) < 0) {
        if (l.nent || l.pos || l.ids || l.sizes) {
            abort();
        }
        dr_error_clear();
        return 0;
    }
    if (l.depth == 0) {
        struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
        if (dr_chunklist_encode_full(l.ids, l.sizes, l.nent, &b) < 0 || b.len != size ||
            memcmp(b.buf, data, size) != 0) {
            abort();
        }
        dr_buf_release(&b);
        check_apply(&l, 0);
    } else if (l.count <= 4096) {
        for (uint32_t n = 1; n <= l.count + 1; n++) {
            check_apply(&l, n);
        }
    } else {
        check_apply(&l, l.count);
    }
    dr_chunklist_release(&l);
    return 0;
}
