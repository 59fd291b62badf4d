/* rdbstore.c: record-encoded storage of RDB files, version 2 (see rdbstore.h, format/rdb.md).
 *
 * Why records and not chunks: Redis writes keys in hash-table order and the keys that change
 * overnight are spread evenly through the file, so every content-defined chunk of any useful
 * size is touched and every chunk-based tool stores the whole file again each day. Here each
 * key record is looked up among the records of the same file in the parent snapshot: one whose
 * bytes are unchanged is referenced where it already lies (blob, ordinal), and only new or
 * changed records are written, packed into large blobs that compress as well as plain chunks.
 * The file's order and the bytes that are not key records live in a layout stream of literals
 * and runs of references; runs are long while the server keeps its order, so the layout is a
 * small fraction of the file, and it is cut by the ordinary chunker.
 *
 * Reused blobs die record by record as keys change. A blob of which less than half is still
 * referenced is compacted (its live records written again with the new ones), a bounded amount
 * per snapshot so that the daily cost stays smooth; prune then reclaims the old blob once the
 * snapshots that still list it are forgotten.
 *
 * Lookups compare bytes, never trust a hash: the keyed hash only finds the candidate. */
#include "drrepo/rdbstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/rdbrec.h"
#include "rdbstore_int.h"

static int add_varint(struct dr_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        t[n] |= v ? 0x80 : 0;
        n++;
    } while (v);
    return dr_buf_add(b, t, n);
}

/* ---- encoding ---- */

struct enc {
    const uint8_t *p;
    struct item *v;
    size_t n, alloc;
    uint64_t nrec, rec_bytes, literal_bytes;
};

static void add_item(struct enc *e, uint64_t off, uint64_t len, uint32_t ref)
{
    /* adjacent inline bytes become one literal */
    if (ref == REF_LIT && e->n && e->v[e->n - 1].ref == REF_LIT &&
        e->v[e->n - 1].off + e->v[e->n - 1].len == off &&
        (uint64_t)e->v[e->n - 1].len + len <= UINT32_MAX / 2) {
        e->v[e->n - 1].len += (uint32_t)len;
        return;
    }
    DR_GROW(e->v, e->alloc, e->n + 1);
    e->v[e->n++] = (struct item){.off = off, .len = (uint32_t)len, .ref = ref};
}

static int on_item(void *arg, const struct dr_rdbrec_item *it)
{
    struct enc *e = arg;
    if (it->kind == DR_RDBREC_KEY && it->len < DR_RDBSTORE_BIG_RECORD) {
        add_item(e, it->off, it->len, REF_NEW);
        e->nrec++;
        e->rec_bytes += it->len;
        return 0;
    }
    /* frame bytes and big records: inline, cut by the chunker with the layout; a literal is
     * split so that its length always fits the item */
    uint64_t off = it->off, left = it->len;
    e->literal_bytes += left;
    while (left) {
        uint64_t k = DR_MIN(left, (uint64_t)(UINT32_MAX / 2));
        add_item(e, off, k, REF_LIT);
        off += k;
        left -= k;
    }
    return 0;
}

/* Where the next written record goes: blobs are filled in file order and end once they hold
 * target bytes. */
struct cut {
    uint32_t blob, ord, target;
    uint64_t bytes;
};

static void cut_next(struct cut *c, uint32_t len, uint32_t *blob, uint32_t *ord)
{
    if (c->ord && c->bytes >= c->target) {
        c->blob++;
        c->ord = 0;
        c->bytes = 0;
    }
    *blob = c->blob;
    *ord = c->ord++;
    c->bytes += len;
}

struct compact {
    uint32_t blob;
    uint64_t live, total;
};

static int compact_cmp(const void *a, const void *b)
{
    const struct compact *x = a, *y = b;
    /* ascending live fraction: x.live / x.total < y.live / y.total */
    unsigned __int128 l = (unsigned __int128)x->live * y->total;
    unsigned __int128 r = (unsigned __int128)y->live * x->total;
    return l < r ? -1 : l > r ? 1 : (x->blob > y->blob) - (x->blob < y->blob);
}

/* Matches the records with the parent's and decides which parent blobs the node lists again:
 * keep[j] is blob j's index in the new node, or NO_BLOB when nothing in it is referenced or it
 * is compacted (its referenced records are then written again). Returns the number kept. */
static uint32_t plan_reuse(struct enc *e, const struct dr_rdbstore_parent *par, uint32_t *keep,
                           struct dr_rdbstore_stats *st)
{
    const struct stage *s = &par->s;
    uint64_t *live = dr_xcalloc((size_t)s->nblobs + 1, sizeof(*live));
    uint8_t *used = dr_xcalloc((size_t)s->nrec / 8 + 1, 1);
    uint32_t *cursor = dr_xcalloc((size_t)s->nrec + 1, sizeof(*cursor));
    for (size_t i = 0; i < e->n; i++) {
        struct item *it = &e->v[i];
        if (it->ref != REF_NEW) {
            continue;
        }
        it->ref = dr_rdbstore_parent_find(par, e->p + it->off, it->len);
        if (it->ref != REF_NEW) {
            it->ref = dr_rdbstore_parent_take(par, it->ref, cursor);
        }
        if (it->ref != REF_NEW && !(used[it->ref / 8] & (1u << (it->ref % 8)))) {
            used[it->ref / 8] |= (uint8_t)(1u << (it->ref % 8));
            live[dr_rdbstore_blob_of(s, it->ref)] += it->len;
        }
    }
    /* compaction: the emptiest blobs first, within the budget */
    struct compact *c = dr_xmalloc(((size_t)s->nblobs + 1) * sizeof(*c));
    size_t nc = 0;
    for (uint32_t j = 0; j < s->nblobs; j++) {
        uint64_t total = s->off[s->first[j + 1]] - s->off[s->first[j]];
        keep[j] = live[j] ? 0 : NO_BLOB;
        if (live[j] && live[j] * DR_RDBSTORE_COMPACT_LIVE < total) {
            c[nc++] = (struct compact){.blob = j, .live = live[j], .total = total};
        }
    }
    qsort(c, nc, sizeof(*c), compact_cmp);
    uint64_t budget = DR_MAX(e->rec_bytes / DR_RDBSTORE_COMPACT_BUDGET, DR_RDBSTORE_BLOB_TARGET);
    uint64_t spent = 0;
    for (size_t k = 0; k < nc && spent + c[k].live <= budget; k++) {
        keep[c[k].blob] = NO_BLOB;
        spent += c[k].live;
        st->blobs_compacted++;
    }
    uint32_t nkept = 0;
    for (uint32_t j = 0; j < s->nblobs; j++) {
        if (keep[j] != NO_BLOB) {
            keep[j] = nkept++;
        }
    }
    for (size_t i = 0; i < e->n; i++) {
        struct item *it = &e->v[i];
        if (it->ref < REF_NEW) {
            if (keep[dr_rdbstore_blob_of(s, it->ref)] == NO_BLOB) {
                it->ref = REF_NEW;
            } else {
                st->reused++;
            }
        }
    }
    free(c);
    free(cursor);
    free(used);
    free(live);
    return nkept;
}

struct run {
    uint32_t blob, first, count;
};

static int flush_run(struct dr_buf *lay, struct run *r)
{
    int rc = 0;
    if (r->count) {
        rc = dr_buf_addch(lay, OP_COPY);
        rc = rc < 0 ? rc : add_varint(lay, r->blob);
        rc = rc < 0 ? rc : add_varint(lay, r->first);
        rc = rc < 0 ? rc : add_varint(lay, r->count);
        r->count = 0;
    }
    return rc;
}

/* The layout stream in file order; records written anew are numbered after the kept blobs. */
static int build_layout(const struct enc *e, const struct dr_rdbstore_parent *par,
                        const uint32_t *keep, uint32_t nkept, uint32_t target, struct dr_buf *lay,
                        uint32_t *out_nnew)
{
    struct run run = {0};
    struct cut cut = {.target = target};
    bool any_new = false;
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < e->n; i++) {
        const struct item *it = &e->v[i];
        if (it->ref == REF_LIT) {
            rc = flush_run(lay, &run);
            rc = rc < 0 ? rc : dr_buf_addch(lay, OP_LIT);
            rc = rc < 0 ? rc : add_varint(lay, it->len);
            rc = rc < 0 ? rc : dr_buf_add(lay, e->p + it->off, it->len);
            continue;
        }
        uint32_t blob, ord;
        if (it->ref == REF_NEW) {
            cut_next(&cut, it->len, &blob, &ord);
            blob += nkept;
            any_new = true;
        } else {
            uint32_t pb = dr_rdbstore_blob_of(&par->s, it->ref);
            blob = keep[pb];
            ord = it->ref - par->s.first[pb];
        }
        if (run.count && run.blob == blob && run.first + run.count == ord) {
            run.count++;
        } else {
            rc = flush_run(lay, &run);
            run = (struct run){.blob = blob, .first = ord, .count = 1};
        }
    }
    rc = rc < 0 ? rc : flush_run(lay, &run);
    *out_nnew = any_new ? cut.blob + 1 : 0;
    return rc;
}

/* Builds one new record blob of the items idx[0 .. n). */
static int put_blob(const struct enc *e, const size_t *idx, size_t n,
                    const struct dr_rdbstore_sink *sink)
{
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    int rc = add_varint(&b, n);
    for (size_t k = 0; rc >= 0 && k < n; k++) {
        rc = add_varint(&b, e->v[idx[k]].len);
    }
    for (size_t k = 0; rc >= 0 && k < n; k++) {
        rc = dr_buf_add(&b, e->p + e->v[idx[k]].off, e->v[idx[k]].len);
    }
    if (rc < 0) {
        dr_buf_release(&b);
        return rc;
    }
    size_t len;
    uint8_t *data = (uint8_t *)dr_buf_detach(&b, &len);
    return sink->put(sink->arg, data, len);
}

/* Emits the new record blobs, cut exactly as build_layout numbered them. */
static int put_new_blobs(const struct enc *e, uint32_t target, const struct dr_rdbstore_sink *sink,
                         struct dr_rdbstore_stats *st)
{
    struct cut cut = {.target = target};
    size_t *idx = NULL, n = 0, alloc = 0;
    uint32_t cur = 0;
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < e->n; i++) {
        if (e->v[i].ref != REF_NEW) {
            continue;
        }
        uint32_t blob, ord;
        cut_next(&cut, e->v[i].len, &blob, &ord);
        if (blob != cur) {
            rc = put_blob(e, idx, n, sink);
            n = 0;
            cur = blob;
            st->blobs_new++;
        }
        DR_GROW(idx, alloc, n + 1);
        idx[n++] = i;
        st->written++;
        st->written_bytes += e->v[i].len;
    }
    if (rc >= 0 && n) {
        rc = put_blob(e, idx, n, sink);
        st->blobs_new++;
    }
    free(idx);
    return rc;
}

struct dr_rdbstore_enc {
    struct enc e;
    size_t len;
};

int dr_rdbstore_scan(const uint8_t *p, size_t len, struct dr_rdbstore_enc **out)
{
    struct dr_rdbstore_enc *x = dr_xcalloc(1, sizeof(*x));
    x->e.p = p;
    x->len = len;
    *out = NULL;
    int rc = dr_rdbrec_parse(p, len, on_item, &x->e);
    if (rc >= 0 && x->e.nrec > DR_RDBSTORE_RECORDS_MAX) {
        rc = dr_errorf(DR_EUNSUPPORTED, "rdb: %llu key records are more than this format holds",
                       (unsigned long long)x->e.nrec);
    }
    if (rc < 0) {
        dr_rdbstore_enc_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

void dr_rdbstore_enc_free(struct dr_rdbstore_enc *x)
{
    if (x) {
        free(x->e.v);
        free(x);
    }
}

int dr_rdbstore_emit(struct dr_rdbstore_enc *x, const struct dr_rdbstore_enc_opts *o,
                     const struct dr_rdbstore_sink *sink, struct dr_rdbstore_stats *out_stats)
{
    struct enc *e = &x->e;
    struct dr_rdbstore_stats st = {0};
    struct dr_buf lay = DR_BUF_INIT(SIZE_MAX / 2);
    const struct dr_rdbstore_parent *par = o->parent;
    uint32_t *keep = NULL, nkept = 0, nnew = 0;
    /* the blob size grows with the file so that the node's chunk list stays bounded */
    uint32_t target = o->blob_target ? o->blob_target : DR_RDBSTORE_BLOB_TARGET;
    while (e->rec_bytes / target >= DR_RDBSTORE_BLOBS_MAX / 4 && target < DR_BLOB_MAX / 4) {
        target *= 2;
    }
    if (par) {
        keep = dr_xmalloc(((size_t)par->s.nblobs + 1) * sizeof(*keep));
        nkept = plan_reuse(e, par, keep, &st);
    }
    int rc = build_layout(e, par, keep, nkept, target, &lay, &nnew);
    if (rc >= 0 && (uint64_t)nkept + nnew > DR_RDBSTORE_BLOBS_MAX) {
        rc = dr_errorf(DR_EUNSUPPORTED, "rdb: %llu record blobs are more than a node holds",
                       (unsigned long long)nkept + nnew);
    }
    if (rc < 0) {
        goto out;
    }
    /* count the layout chunks first: the head that names them comes before them */
    uint32_t nlayout = 0;
    for (size_t off = 0; off < lay.len; nlayout++) {
        off += dr_chunker_next(o->ch, (const uint8_t *)lay.buf + off, lay.len - off, true);
    }
    uint8_t *head = dr_xmalloc(DR_RDBSTORE_HEAD_LEN);
    memcpy(head, DR_RDBSTORE_MAGIC, 8);
    dr_put_u32le(head + 8, DR_RDBSTORE_VERSION);
    dr_put_u32le(head + 12, 0);
    dr_put_u64le(head + 16, x->len);
    dr_put_u64le(head + 24, e->nrec);
    dr_put_u64le(head + 32, lay.len);
    dr_put_u32le(head + 40, nlayout);
    dr_put_u32le(head + 44, nkept + nnew);
    rc = sink->put(sink->arg, head, DR_RDBSTORE_HEAD_LEN);
    for (size_t off = 0; rc >= 0 && off < lay.len;) {
        size_t cut = dr_chunker_next(o->ch, (const uint8_t *)lay.buf + off, lay.len - off, true);
        uint8_t *c = dr_xmalloc(cut);
        memcpy(c, lay.buf + off, cut);
        rc = sink->put(sink->arg, c, cut);
        off += cut;
    }
    for (uint32_t j = 0; rc >= 0 && par && j < par->s.nblobs; j++) {
        if (keep[j] != NO_BLOB) {
            rc = sink->keep(sink->arg, par->chunk0 + j);
            st.blobs_kept++;
        }
    }
    rc = rc < 0 ? rc : put_new_blobs(e, target, sink, &st);
    if (rc >= 0 && out_stats) {
        st.records = e->nrec;
        st.layout_len = lay.len;
        st.layout_chunks = nlayout;
        st.literal_bytes = e->literal_bytes;
        *out_stats = st;
    }
out:
    free(keep);
    dr_buf_release(&lay);
    return rc;
}

int dr_rdbstore_encode(const uint8_t *p, size_t len, const struct dr_rdbstore_enc_opts *o,
                       const struct dr_rdbstore_sink *sink, struct dr_rdbstore_stats *out_stats)
{
    struct dr_rdbstore_enc *x;
    int rc = dr_rdbstore_scan(p, len, &x);
    if (rc >= 0) {
        rc = dr_rdbstore_emit(x, o, sink, out_stats);
        dr_rdbstore_enc_free(x);
    }
    return rc;
}

/* ---- decoding ---- */

/* Decodes the items of lay[0 .. len) that are complete; *pos is where the first incomplete one
 * starts. */
struct dec {
    const struct dr_node *n;
    const struct stage *s;
    dr_rdbstore_write_fn write;
    void *arg;
    uint64_t written, refs, nrec;
};

static int dec_items(struct dec *d, const uint8_t *p, size_t len, size_t *pos)
{
    while (*pos < len) {
        size_t at = *pos + 1;
        uint8_t op = p[*pos];
        uint64_t a, b, c;
        if (op == OP_LIT) {
            if (!dr_rdbstore_get_varint(p, len, &at, &a) || a > len - at) {
                return 0; /* completed by the next chunk */
            }
            if (a > d->n->size - d->written) {
                return dr_errorf(DR_ECORRUPT, "record layout: more bytes than the file has");
            }
            int rc = d->write(d->arg, p + at, (size_t)a);
            if (rc < 0) {
                return rc;
            }
            d->written += a;
            *pos = at + (size_t)a;
        } else if (op == OP_COPY) {
            if (!dr_rdbstore_get_varint(p, len, &at, &a) ||
                !dr_rdbstore_get_varint(p, len, &at, &b) ||
                !dr_rdbstore_get_varint(p, len, &at, &c)) {
                return 0;
            }
            if (a >= d->s->nblobs || c == 0 || c > d->nrec - d->refs ||
                b > d->s->first[a + 1] - d->s->first[a] ||
                c > d->s->first[a + 1] - d->s->first[a] - b) {
                return dr_errorf(DR_ECORRUPT,
                                 "record layout: reference %llu names no record of its blob",
                                 (unsigned long long)d->refs);
            }
            uint32_t r = d->s->first[a] + (uint32_t)b;
            uint64_t from = d->s->off[r], bytes = d->s->off[r + c] - from;
            if (bytes > d->n->size - d->written) {
                return dr_errorf(DR_ECORRUPT, "record layout: more bytes than the file has");
            }
            int rc = d->write(d->arg, d->s->map + from, (size_t)bytes);
            if (rc < 0) {
                return rc;
            }
            d->written += bytes;
            d->refs += c;
            *pos = at;
        } else {
            return dr_errorf(DR_ECORRUPT, "record layout: unknown item 0x%02x", op);
        }
    }
    return 0;
}

/* The caller's get as a fetch function for one worker: decoding fetches on this thread. */

int dr_rdbstore_decode(const struct dr_node *n, dr_rdbstore_get_fn get, dr_rdbstore_write_fn write,
                       void *arg)
{
    uint32_t nlayout = 0, nblobs = 0;
    uint64_t nrec = 0;
    struct stage s = {0};
    int rc = dr_rdbstore_head_get(n, get, arg, &nlayout, &nblobs, &nrec);
    if (rc < 0) {
        return rc;
    }
    rc = dr_rdbstore_stage_load(get, arg, 1 + nlayout, nblobs, &s);
    if (rc < 0) {
        dr_rdbstore_stage_free(&s);
        return rc;
    }
    /* the layout, one chunk at a time; an item may span chunks, so a tail is carried over */
    struct dec d = {.n = n, .s = &s, .write = write, .arg = arg, .nrec = nrec};
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    struct dr_buf lay = DR_BUF_INIT(SIZE_MAX / 2);
    for (uint32_t li = 0; rc >= 0 && li < nlayout; li++) {
        rc = get(arg, 1 + li, &b);
        rc = rc < 0 ? rc : dr_buf_add(&lay, b.buf, b.len);
        size_t pos = 0;
        rc = rc < 0 ? rc : dec_items(&d, (const uint8_t *)lay.buf, lay.len, &pos);
        if (rc >= 0) {
            memmove(lay.buf, lay.buf + pos, lay.len - pos);
            dr_buf_setlen(&lay, lay.len - pos);
        }
    }
    if (rc >= 0 && lay.len != 0) {
        rc = dr_errorf(DR_ECORRUPT, "record layout: truncated item");
    }
    if (rc >= 0 && (d.refs != nrec || d.written != n->size)) {
        rc = dr_errorf(DR_ECORRUPT, "record layout: %llu of %llu records, %llu of %llu bytes",
                       (unsigned long long)d.refs, (unsigned long long)nrec,
                       (unsigned long long)d.written, (unsigned long long)n->size);
    }
    dr_buf_release(&lay);
    dr_buf_release(&b);
    dr_rdbstore_stage_free(&s);
    return rc;
}
