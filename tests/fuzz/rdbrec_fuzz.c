/* rdbrec_fuzz.c: fuzz target for the RDB record splitter (src/rdb/rdbrec.c) and the
 * record-encoded storage (src/rdb/rdbstore.c).
 *
 * Any input the splitter accepts is encoded and decoded again in memory, and must come back
 * byte for byte; then it is encoded once more relative to that first encoding (as the next
 * snapshot of an unchanged file is), must reuse every record and come back byte for byte too.
 * An input the splitter refuses must have emitted nothing. A broken promise aborts. The corpus
 * holds real Redis 7.0 files (every value type, with and without LZF). */
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
    const struct blobs *parent;
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

static int keep(void *arg, uint32_t i)
{
    struct blobs *b = arg;
    if (!b->parent || i >= b->parent->n) {
        abort();
    }
    uint8_t *c = dr_xmalloc(b->parent->len[i] + 1);
    memcpy(c, b->parent->p[i], b->parent->len[i]);
    return put(b, c, b->parent->len[i]);
}

static void blobs_free(struct blobs *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->p[i]);
    }
    free(b->p);
    free(b->len);
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

static struct dr_node make_node(const struct blobs *b, size_t size)
{
    struct dr_node n = {.type = DR_NODE_FILE, .flags = DR_NODE_F_RECORDS, .size = size};
    n.nchunks = (uint32_t)b->n;
    n.chunks = dr_xcalloc(b->n + 1, sizeof(*n.chunks));
    n.chunk_sizes = dr_xcalloc(b->n + 1, sizeof(*n.chunk_sizes));
    for (size_t i = 0; i < b->n; i++) {
        n.chunk_sizes[i] = (uint32_t)b->len[i];
    }
    return n;
}

/* Decodes b and aborts unless it gives back data exactly. */
static void expect_decodes(struct blobs *b, const uint8_t *data, size_t size)
{
    struct dr_node n = make_node(b, size);
    struct io io = {.b = b, .want = data, .wantlen = size};
    if (dr_rdbstore_decode(&n, get_io, wr, &io) < 0 || io.pos != size) {
        abort();
    }
    free(n.chunks);
    free(n.chunk_sizes);
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
    struct blobs b = {0}, b2 = {0};
    struct dr_rdbstore_enc_opts o = {.hash_key = hkey, .ch = &ch, .blob_target = 64};
    struct dr_rdbstore_sink sink = {put, keep, &b};
    struct dr_rdbstore_stats st;
    int rc = dr_rdbstore_encode(data, size, &o, &sink, &st);
    if (rc < 0 && b.n != 0) {
        abort();
    }
    if (rc >= 0) {
        expect_decodes(&b, data, size);
        struct dr_node pn = make_node(&b, size);
        struct dr_rdbstore_parent *par;
        if (dr_rdbstore_parent_load(&pn, get, &b, hkey, &par) < 0) {
            abort();
        }
        free(pn.chunks);
        free(pn.chunk_sizes);
        o.parent = par;
        b2.parent = &b;
        sink.arg = &b2;
        if (dr_rdbstore_encode(data, size, &o, &sink, &st) < 0 || st.written != 0) {
            abort();
        }
        dr_rdbstore_parent_free(par);
        expect_decodes(&b2, data, size);
    }
    dr_error_clear();
    blobs_free(&b);
    blobs_free(&b2);
    return 0;
}
