/* tar_fuzz.c: fuzz target for the streaming tar reader (src/source/tar.c).
 *
 * The input is read as an archive through a callback that returns it in pieces of varying
 * size (derived from the input, so a run is deterministic), which exercises every boundary of
 * the reader's pull interface. Every member's data is read to its end; the reader must never
 * hand out more bytes than the header announced. A broken promise aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "../../src/source/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
    const uint8_t *p;
    size_t len, pos;
};

static int rd(void *arg, uint8_t *buf, size_t len)
{
    struct input *in = arg;
    size_t left = in->len - in->pos;
    /* pieces of 1..512 bytes, chosen by the input itself */
    size_t piece = left ? 1 + in->p[in->pos % in->len] * 2u : 0;
    size_t n = len < left ? len : left;
    if (n > piece) {
        n = piece;
    }
    memcpy(buf, in->p + in->pos, n);
    in->pos += n;
    return (int)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size, 0};
    struct dr_tar t;
    uint8_t buf[700];
    dr_tar_init(&t, rd, &in, "fuzz");
    for (int members = 0; members < 100000; members++) {
        const struct dr_tar_entry *e;
        int rc = dr_tar_next(&t, &e);
        if (rc <= 0) {
            break;
        }
        if (!e->path || !e->linkname || e->path[0] == '/' || strlen(e->path) > DR_TAR_NAME_MAX) {
            abort();
        }
        uint64_t got = 0;
        for (;;) {
            int n = dr_tar_read(&t, buf, sizeof(buf));
            if (n <= 0) {
                break;
            }
            got += (uint64_t)n;
        }
        if (got > e->size) {
            abort();
        }
    }
    dr_tar_release(&t);
    dr_error_clear();
    return 0;
}
