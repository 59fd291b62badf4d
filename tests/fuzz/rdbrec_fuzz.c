/* rdbrec_fuzz.c: fuzz target for the RDB record splitter (src/source/rdbrec.c) and the
 * record-encoded storage (src/repo/rdbstore.c).
 *
 * Any input the splitter accepts is encoded and decoded again in memory, and must come back
 * byte for byte; an input it refuses must have emitted nothing. A broken promise aborts. The
 * corpus holds real Redis 7.0 files (every value type, with and without LZF). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/rdbstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct blobs {
    uint8_t **p;
    size_t *len;
    size_t n, alloc;
};

static int put(void *arg, uint8_t *d, size_t len)
{
    struct blobs *b = arg;
    if (b->n == b->alloc) {
        b->alloc = b->alloc ? 2 * b->alloc : 16;
        b->p = dr_xrealloc(b->p, b->alloc * sizeof(*b->p));
        b->len = dr_xrealloc(b->len, b->alloc * sizeof(*b->len));
    }
    b->p[b->n] = d;
    b->len[b->n++] = len;
    return 0;
}

static int get(void *arg, uint32_t i, struct dr_buf *out)
{
    struct blobs *b = arg;
    dr_buf_reset(out);
    return dr_buf_add(out, b->p[i], b->len[i]);
}

struct io {
    struct blobs *b;
    const uint8_t *want;
    size_t wantlen, pos;
};

static int get_io(void *arg, uint32_t i, struct dr_buf *out)
{
    return get(((struct io *)arg)->b, i, out);
}

static int wr(void *arg, const uint8_t *p, size_t len)
{
    struct io *io = arg;
    if (len > io->wantlen - io->pos || memcmp(p, io->want + io->pos, len) != 0) {
        abort();
    }
    io->pos += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dr_chunker ch;
    static bool init;
    static const uint8_t hkey[DR_RDBSTORE_HASH_KEY_LEN] = {7};
    if (!init) {
        static const uint8_t ckey[32] = {3};
        struct dr_chunker_params p = {
            .alg = DR_CHUNKER_GEAR_V1, .min = 4096, .avg = 8192, .max = 16384};
        dr_chunker_init(&ch, &p, ckey);
        init = true;
    }
    struct blobs b = {0};
    struct dr_rdbstore_enc_opts o = {.hash_key = hkey, .ch = &ch, .group_target = 64};
    int rc = dr_rdbstore_encode(data, size, &o, put, &b, NULL);
    if (rc < 0 && b.n != 0) {
        abort();
    }
    if (rc >= 0) {
        struct dr_node n = {.type = DR_NODE_FILE, .flags = DR_NODE_F_RECORDS, .size = size};
        n.nchunks = (uint32_t)b.n;
        n.chunks = dr_xcalloc(b.n + 1, sizeof(*n.chunks));
        n.chunk_sizes = dr_xcalloc(b.n + 1, sizeof(*n.chunk_sizes));
        for (size_t i = 0; i < b.n; i++) {
            n.chunk_sizes[i] = (uint32_t)b.len[i];
        }
        struct io io = {.b = &b, .want = data, .wantlen = size};
        if (dr_rdbstore_decode(&n, get_io, wr, &io) < 0 || io.pos != size) {
            abort();
        }
        free(n.chunks);
        free(n.chunk_sizes);
    }
    dr_error_clear();
    for (size_t i = 0; i < b.n; i++) {
        free(b.p[i]);
    }
    free(b.p);
    free(b.len);
    return 0;
}
