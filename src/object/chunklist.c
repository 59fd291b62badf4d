/* chunklist.c: encoding, decoding and applying chunk-list blobs (format/chunklist.md). A pure
 * codec: no I/O.
 *
 * The decoder checks every count against the bytes actually present before it allocates, so a
 * hostile blob costs at most a small multiple of its own size; what it cannot check alone (that
 * the base exists and has the depth below, that the positions past the base's end are all set,
 * that the sizes add up) dr_chunklist_apply checks while it expands. */
#include "drrepo/chunklist.h"

#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/reader.h"

#define CORRUPT(...) dr_errorf(DR_ECORRUPT, __VA_ARGS__)

void dr_chunklist_release(struct dr_chunklist *l)
{
    free(l->pos);
    free(l->ids);
    free(l->sizes);
    memset(l, 0, sizeof(*l));
}

static int decode(const uint8_t *p, size_t len, struct dr_chunklist *out)
{
    struct dr_reader r;
    if (len > DR_BLOB_MAX) {
        return CORRUPT("chunk list is %zu bytes, more than a blob holds", len);
    }
    dr_rd_init(&r, p, len);
    const uint8_t *magic = dr_rd_bytes(&r, DR_MAGIC_LEN);
    uint32_t version = dr_rd_u32le(&r);
    out->depth = dr_rd_u32le(&r);
    out->count = dr_rd_u32le(&r);
    out->total = dr_rd_u64le(&r);
    dr_rd_copy(&r, out->base.b, DR_ID_LEN);
    out->nent = dr_rd_u32le(&r);
    if (!dr_rd_ok(&r)) {
        return CORRUPT("chunk list is too short (%zu bytes) for its header", len);
    }
    if (memcmp(magic, DR_CHUNKLIST_MAGIC, DR_MAGIC_LEN) != 0) {
        return CORRUPT("chunk list has bad magic");
    }
    if (version > DR_CHUNKLIST_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED,
                         "chunk list version %u is newer than this build supports (%u)", version,
                         DR_CHUNKLIST_VERSION);
    }
    if (version != DR_CHUNKLIST_VERSION) {
        return CORRUPT("chunk list has invalid version %u", version);
    }
    if (out->depth > DR_CHUNKLIST_DEPTH_MAX) {
        return CORRUPT("chunk list depth %u is over the limit of %u", out->depth,
                       DR_CHUNKLIST_DEPTH_MAX);
    }
    if (out->count == 0 || out->count > DR_CHUNKLIST_COUNT_MAX) {
        return CORRUPT("chunk list of %u chunks (1 to %u allowed)", out->count,
                       (unsigned)DR_CHUNKLIST_COUNT_MAX);
    }
    if (out->nent > out->count || (size_t)out->nent * DR_CHUNKLIST_ENT_LEN != dr_rd_left(&r)) {
        return CORRUPT("chunk list of %u entries does not fill its %zu bytes", out->nent, len);
    }
    bool zero_base = dr_id_is_zero(&out->base);
    if (out->depth == 0 ? (!zero_base || out->nent != out->count) : zero_base) {
        return CORRUPT(out->depth == 0 ? "full chunk list with a base or without every chunk"
                                       : "chunk list of depth %u without a base",
                       out->depth);
    }
    if (out->nent) {
        out->pos = dr_xcalloc(out->nent, sizeof(*out->pos));
        out->ids = dr_xcalloc(out->nent, sizeof(*out->ids));
        out->sizes = dr_xcalloc(out->nent, sizeof(*out->sizes));
    }
    for (uint32_t i = 0; i < out->nent; i++) {
        out->pos[i] = dr_rd_u32le(&r);
        dr_rd_copy(&r, out->ids[i].b, DR_ID_LEN);
        out->sizes[i] = dr_rd_u32le(&r);
        /* strictly increasing and below count; in a full list, every position in order */
        if (out->pos[i] >= out->count || (i && out->pos[i] <= out->pos[i - 1]) ||
            (out->depth == 0 && out->pos[i] != i)) {
            return CORRUPT("chunk list entry %u: position %u out of order or past its end", i,
                           out->pos[i]);
        }
    }
    if (out->depth == 0) {
        /* a full list is its own expansion: its total is checked here (a change's on apply) */
        uint64_t sum = 0;
        for (uint32_t i = 0; i < out->nent; i++) {
            sum += out->sizes[i];
        }
        if (sum != out->total) {
            return CORRUPT("chunk list's sizes add up to %llu bytes, not its %llu",
                           (unsigned long long)sum, (unsigned long long)out->total);
        }
    }
    return 0;
}

int dr_chunklist_decode(const uint8_t *p, size_t len, struct dr_chunklist *out)
{
    memset(out, 0, sizeof(*out));
    int rc = decode(p, len, out);
    if (rc < 0) {
        dr_chunklist_release(out); /* nothing half-decoded is left */
    }
    return rc;
}

int dr_chunklist_apply(const struct dr_chunklist *l, struct dr_id **ids, uint32_t **sizes,
                       uint32_t *n)
{
    uint32_t old = l->depth == 0 ? 0 : *n;
    /* the positions at or past the base's end are new: l must set every one of them, and as its
     * positions are increasing and below count, those are exactly its last count - old entries */
    uint32_t fresh = old < l->count ? l->count - old : 0;
    if (fresh > l->nent || (fresh && l->pos[l->nent - fresh] != old)) {
        return CORRUPT("chunk list of %u chunks leaves positions past its base's %u unset",
                       l->count, old);
    }
    if (l->count != *n || !*ids) {
        *ids = dr_xrealloc(*ids, (size_t)l->count * sizeof(**ids));
        *sizes = dr_xrealloc(*sizes, (size_t)l->count * sizeof(**sizes));
    }
    *n = l->count;
    for (uint32_t i = 0; i < l->nent; i++) {
        (*ids)[l->pos[i]] = l->ids[i];
        (*sizes)[l->pos[i]] = l->sizes[i];
    }
    uint64_t sum = 0;
    for (uint32_t i = 0; i < *n; i++) {
        sum += (*sizes)[i]; /* count * 2^32 cannot overflow 64 bits */
    }
    if (sum != l->total) {
        return CORRUPT("chunk list's sizes add up to %llu bytes, not its %llu",
                       (unsigned long long)sum, (unsigned long long)l->total);
    }
    return 0;
}

static int enc_header(struct dr_buf *out, uint32_t depth, uint32_t count, const uint32_t *sizes,
                      const struct dr_id *base, uint32_t nent)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        total += sizes[i];
    }
    struct dr_id zero = {{0}};
    int rc = dr_buf_add(out, DR_CHUNKLIST_MAGIC, DR_MAGIC_LEN);
    rc = rc ? rc : dr_buf_add_u32le(out, DR_CHUNKLIST_VERSION);
    rc = rc ? rc : dr_buf_add_u32le(out, depth);
    rc = rc ? rc : dr_buf_add_u32le(out, count);
    rc = rc ? rc : dr_buf_add_u64le(out, total);
    rc = rc ? rc : dr_buf_add(out, (base ? base : &zero)->b, DR_ID_LEN);
    rc = rc ? rc : dr_buf_add_u32le(out, nent);
    return rc;
}

static int enc_entry(struct dr_buf *out, uint32_t pos, const struct dr_id *id, uint32_t size)
{
    int rc = dr_buf_add_u32le(out, pos);
    rc = rc ? rc : dr_buf_add(out, id->b, DR_ID_LEN);
    rc = rc ? rc : dr_buf_add_u32le(out, size);
    return rc;
}

int dr_chunklist_encode_full(const struct dr_id *ids, const uint32_t *sizes, uint32_t n,
                             struct dr_buf *out)
{
    if (n == 0 || n > DR_CHUNKLIST_COUNT_MAX) {
        return dr_errorf(DR_EUSAGE, "a chunk list holds 1 to %u chunks, not %u",
                         (unsigned)DR_CHUNKLIST_COUNT_MAX, n);
    }
    int rc = enc_header(out, 0, n, sizes, NULL, n);
    for (uint32_t i = 0; rc >= 0 && i < n; i++) {
        rc = enc_entry(out, i, &ids[i], sizes[i]);
    }
    return rc;
}

static bool differs(const struct dr_id *old_ids, const uint32_t *old_sizes, uint32_t old_n,
                    const struct dr_id *ids, const uint32_t *sizes, uint32_t i)
{
    return i >= old_n || old_sizes[i] != sizes[i] || !dr_id_eq(&old_ids[i], &ids[i]);
}

uint32_t dr_chunklist_diff_count(const struct dr_id *old_ids, const uint32_t *old_sizes,
                                 uint32_t old_n, const struct dr_id *ids, const uint32_t *sizes,
                                 uint32_t n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        k += differs(old_ids, old_sizes, old_n, ids, sizes, i);
    }
    return k;
}

int dr_chunklist_encode_delta(const struct dr_id *base, uint32_t base_depth,
                              const struct dr_id *old_ids, const uint32_t *old_sizes,
                              uint32_t old_n, const struct dr_id *ids, const uint32_t *sizes,
                              uint32_t n, struct dr_buf *out)
{
    if (n == 0 || n > DR_CHUNKLIST_COUNT_MAX || base_depth >= DR_CHUNKLIST_DEPTH_MAX ||
        dr_id_is_zero(base)) {
        return dr_errorf(DR_EUSAGE, "a change of %u chunks to a list of depth %u cannot be encoded",
                         n, base_depth);
    }
    uint32_t k = dr_chunklist_diff_count(old_ids, old_sizes, old_n, ids, sizes, n);
    int rc = enc_header(out, base_depth + 1, n, sizes, base, k);
    for (uint32_t i = 0; rc >= 0 && i < n; i++) {
        if (differs(old_ids, old_sizes, old_n, ids, sizes, i)) {
            rc = enc_entry(out, i, &ids[i], sizes[i]);
        }
    }
    return rc;
}
