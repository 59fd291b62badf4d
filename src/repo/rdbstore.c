/* rdbstore.c: record-encoded storage of RDB files (see rdbstore.h and format/rdb.md).
 *
 * Why groups and not chunks: Redis writes keys in hash-table order and the keys that change
 * overnight are spread evenly through the file, so every content-defined chunk of any useful
 * size is touched. Sorting the key records by a keyed hash of (database, key) gives an order
 * that does not depend on the server's table layout, and cutting that sequence into small
 * groups where the hashes themselves say (a cut after a record whose hash falls below a
 * size-weighted threshold) keeps group membership stable when keys come and go: an added key
 * lands in one group and splits it at most, a removed one merges two at most. The file's own
 * order lives in the layout stream as 4-byte hash references, which dedups by ordinary chunking
 * while the server keeps its order and costs little when it does not (after a restart). */
#include "drrepo/rdbstore.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/rdbrec.h"

#define OP_LIT 0x01
#define OP_REF 0x02
#define OP_REFD 0x03

/* One item of the file in file order: a key record (K_KEY) or bytes stored inline (K_LIT). */
enum { K_LIT = 0, K_KEY = 1 };

struct item {
    uint64_t off;
    uint64_t h; /* key records: the group hash */
    uint32_t len;
    uint32_t dup; /* key records: rank among records with the same top 32 hash bits */
    uint8_t kind;
};

struct enc {
    const uint8_t *p;
    const uint8_t *key;
    struct item *v;
    size_t n, alloc;
    uint64_t literal_bytes;
};

void dr_rdbstore_hash_key(const uint8_t chunker_key[32], uint8_t out[DR_RDBSTORE_HASH_KEY_LEN])
{
    static const char ctx[] = "drrepo rdb record groups v1";
    if (crypto_generichash(out, DR_RDBSTORE_HASH_KEY_LEN, (const uint8_t *)ctx, sizeof(ctx) - 1,
                           chunker_key, 32) != 0) {
        DR_BUG("crypto_generichash rejected fixed parameters");
    }
}

/* SipHash-2-4 of the encoded key, then of (hash, db) for databases other than 0. */
static uint64_t key_hash(const uint8_t *hk, uint64_t db, const uint8_t *key, size_t len)
{
    uint8_t out[8];
    crypto_shorthash(out, key, len, hk);
    uint64_t h = dr_get_u64le(out);
    if (db != 0) {
        uint8_t m[16];
        dr_put_u64le(m, h);
        dr_put_u64le(m + 8, db);
        crypto_shorthash(out, m, sizeof(m), hk);
        h = dr_get_u64le(out);
    }
    return h;
}

static void add_item(struct enc *e, uint8_t kind, uint64_t off, uint64_t len, uint64_t h)
{
    /* adjacent inline bytes become one literal */
    if (kind == K_LIT && e->n && e->v[e->n - 1].kind == K_LIT &&
        e->v[e->n - 1].off + e->v[e->n - 1].len == off &&
        (uint64_t)e->v[e->n - 1].len + len <= UINT32_MAX / 2) {
        e->v[e->n - 1].len += (uint32_t)len;
        return;
    }
    DR_GROW(e->v, e->alloc, e->n + 1);
    e->v[e->n++] = (struct item){.off = off, .len = (uint32_t)len, .h = h, .kind = kind};
}

static int on_item(void *arg, const struct dr_rdbrec_item *it)
{
    struct enc *e = arg;
    if (it->kind == DR_RDBREC_KEY && it->len < DR_RDBSTORE_BIG_RECORD) {
        add_item(e, K_KEY, it->off, it->len,
                 key_hash(e->key, it->db, e->p + it->key_off, (size_t)it->key_len));
        return 0;
    }
    /* frame bytes and big records: inline, cut by the chunker with the layout; a literal is
     * split so that its length always fits the item */
    uint64_t off = it->off, left = it->len;
    e->literal_bytes += left;
    while (left) {
        uint64_t k = DR_MIN(left, (uint64_t)(UINT32_MAX / 2));
        add_item(e, K_LIT, off, k, 0);
        off += k;
        left -= k;
    }
    return 0;
}

static int rec_cmp(const void *a, const void *b, void *arg)
{
    const struct enc *e = arg;
    const struct item *x = &e->v[*(const uint32_t *)a], *y = &e->v[*(const uint32_t *)b];
    if (x->h != y->h) {
        return x->h < y->h ? -1 : 1;
    }
    int c = memcmp(e->p + x->off, e->p + y->off, DR_MIN(x->len, y->len));
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

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

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Whether a group ends after this record: a size-weighted cut on the low 32 hash bits, so a
 * group holds about target bytes and its members are decided by the keys alone. */
static bool cut_after(const struct item *it, uint32_t target)
{
    return (it->h & 0xffffffffu) * (uint64_t)target < ((uint64_t)it->len << 32);
}

int dr_rdbstore_encode(const uint8_t *p, size_t len, const struct dr_rdbstore_enc_opts *o,
                       dr_rdbstore_put_fn put, void *arg, struct dr_rdbstore_stats *out_stats)
{
    struct enc e = {.p = p, .key = o->hash_key};
    struct dr_buf lay = DR_BUF_INIT(SIZE_MAX / 2);
    uint32_t *perm = NULL, *gstart = NULL;
    size_t ngroups = 0, agroups = 0, nrec = 0;
    int rc = dr_rdbrec_parse(p, len, on_item, &e);
    if (rc < 0) {
        goto out;
    }
    for (size_t i = 0; i < e.n; i++) {
        nrec += e.v[i].kind == K_KEY;
    }
    if (nrec > UINT32_MAX / 2) {
        rc = dr_errorf(DR_EUNSUPPORTED, "rdb: %zu key records are more than this format holds",
                       nrec);
        goto out;
    }
    perm = dr_xmalloc((nrec + 1) * sizeof(*perm));
    uint64_t keybytes = 0;
    for (size_t i = 0, k = 0; i < e.n; i++) {
        if (e.v[i].kind == K_KEY) {
            perm[k++] = (uint32_t)i;
            keybytes += e.v[i].len;
        }
    }
    qsort_r(perm, nrec, sizeof(*perm), rec_cmp, &e);
    /* the target doubles until the group count fits the tree node: coarser, still stable */
    uint32_t target = o->group_target ? o->group_target : DR_RDBSTORE_GROUP_TARGET;
    while (keybytes / target >= DR_RDBSTORE_GROUPS_MAX / 2 && target < DR_RDBSTORE_GROUP_MAX) {
        target *= 2;
    }
    size_t gbytes = 0;
    for (size_t k = 0; k < nrec; k++) {
        struct item *it = &e.v[perm[k]];
        it->dup = k && (e.v[perm[k - 1]].h >> 32) == (it->h >> 32) ? e.v[perm[k - 1]].dup + 1 : 0;
        if (gbytes == 0) {
            DR_GROW(gstart, agroups, ngroups + 2);
            gstart[ngroups++] = (uint32_t)k;
        }
        gbytes += it->len;
        if (cut_after(it, target) || gbytes >= DR_RDBSTORE_GROUP_MAX) {
            gbytes = 0;
        }
    }
    if (ngroups > DR_RDBSTORE_GROUPS_MAX) {
        rc = dr_errorf(DR_EUNSUPPORTED, "rdb: %zu record groups are more than a node holds",
                       ngroups);
        goto out;
    }
    if (gstart) {
        gstart[ngroups] = (uint32_t)nrec;
    }
    /* the layout stream, in file order */
    for (size_t i = 0; rc >= 0 && i < e.n; i++) {
        const struct item *it = &e.v[i];
        if (it->kind == K_LIT) {
            rc = dr_buf_addch(&lay, OP_LIT);
            rc = rc < 0 ? rc : add_varint(&lay, it->len);
            rc = rc < 0 ? rc : dr_buf_add(&lay, p + it->off, it->len);
        } else if (it->dup == 0) {
            rc = dr_buf_addch(&lay, OP_REF);
            rc = rc < 0 ? rc : dr_buf_add_u32le(&lay, (uint32_t)(it->h >> 32));
        } else {
            rc = dr_buf_addch(&lay, OP_REFD);
            rc = rc < 0 ? rc : add_varint(&lay, it->dup);
            rc = rc < 0 ? rc : dr_buf_add_u32le(&lay, (uint32_t)(it->h >> 32));
        }
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
    dr_put_u64le(head + 16, len);
    dr_put_u64le(head + 24, nrec);
    dr_put_u64le(head + 32, lay.len);
    dr_put_u32le(head + 40, nlayout);
    dr_put_u32le(head + 44, (uint32_t)ngroups);
    rc = put(arg, head, DR_RDBSTORE_HEAD_LEN);
    for (size_t off = 0; rc >= 0 && off < lay.len;) {
        size_t cut = dr_chunker_next(o->ch, (const uint8_t *)lay.buf + off, lay.len - off, true);
        uint8_t *c = dr_xmalloc(cut);
        memcpy(c, lay.buf + off, cut);
        rc = put(arg, c, cut);
        off += cut;
    }
    for (size_t g = 0; rc >= 0 && g < ngroups; g++) {
        uint32_t a = gstart[g], z = gstart[g + 1];
        size_t sz = varint_len(z - a) + 4 * (size_t)(z - a);
        for (uint32_t k = a; k < z; k++) {
            sz += varint_len(e.v[perm[k]].len) + e.v[perm[k]].len;
        }
        struct dr_buf gb = DR_BUF_INIT(SIZE_MAX / 2);
        rc = dr_buf_grow(&gb, sz);
        rc = rc < 0 ? rc : add_varint(&gb, z - a);
        for (uint32_t k = a; rc >= 0 && k < z; k++) {
            rc = dr_buf_add_u32le(&gb, (uint32_t)(e.v[perm[k]].h >> 32));
        }
        for (uint32_t k = a; rc >= 0 && k < z; k++) {
            rc = add_varint(&gb, e.v[perm[k]].len);
        }
        for (uint32_t k = a; rc >= 0 && k < z; k++) {
            rc = dr_buf_add(&gb, p + e.v[perm[k]].off, e.v[perm[k]].len);
        }
        if (rc < 0) {
            dr_buf_release(&gb);
            break;
        }
        size_t glen;
        uint8_t *data = (uint8_t *)dr_buf_detach(&gb, &glen);
        rc = put(arg, data, glen);
    }
    if (rc >= 0 && out_stats) {
        *out_stats = (struct dr_rdbstore_stats){.records = nrec,
                                                .groups = ngroups,
                                                .layout_len = lay.len,
                                                .layout_chunks = nlayout,
                                                .literal_bytes = e.literal_bytes};
    }
out:
    free(perm);
    free(gstart);
    free(e.v);
    dr_buf_release(&lay);
    return rc;
}

/* ---- decoding ---- */

int dr_rdbstore_head_parse(const uint8_t *p, size_t len, const struct dr_node *n,
                           uint32_t *out_nlayout, uint32_t *out_ngroups)
{
    if (len != DR_RDBSTORE_HEAD_LEN || memcmp(p, DR_RDBSTORE_MAGIC, 8) != 0) {
        return dr_errorf(DR_ECORRUPT, "record head: bad magic or length %zu", len);
    }
    uint32_t version = dr_get_u32le(p + 8);
    if (version == 0) {
        return dr_errorf(DR_ECORRUPT, "record head: version 0");
    }
    if (version > DR_RDBSTORE_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED, "record head: version %u is newer than this drrepo",
                         version);
    }
    uint64_t size = dr_get_u64le(p + 16), nrec = dr_get_u64le(p + 24);
    uint64_t laylen = dr_get_u64le(p + 32);
    uint32_t nlayout = dr_get_u32le(p + 40), ngroups = dr_get_u32le(p + 44);
    if (dr_get_u32le(p + 12) != 0 || size != n->size ||
        (uint64_t)nlayout + ngroups + 1 != n->nchunks || ngroups > nrec || nrec > UINT32_MAX / 2 ||
        (nrec && !ngroups)) {
        return dr_errorf(DR_ECORRUPT, "record head does not match its node");
    }
    uint64_t sum = 0;
    for (uint32_t i = 1; i <= nlayout; i++) {
        sum += n->chunk_sizes[i];
    }
    if (sum != laylen) {
        return dr_errorf(DR_ECORRUPT, "record head: layout chunks hold %llu bytes, not %llu",
                         (unsigned long long)sum, (unsigned long long)laylen);
    }
    *out_nlayout = nlayout;
    *out_ngroups = ngroups;
    return 0;
}

struct rec {
    uint32_t h32;
    uint32_t len;
    uint64_t off; /* in the staging file */
};

static bool get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= len) {
            return false;
        }
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Loads the groups into the staging file and the record index; records must come in
 * non-decreasing order of their hash, as the writer sorts them. */
static int load_groups(const struct dr_node *n, uint32_t first, uint32_t ngroups, uint64_t nrec,
                       dr_rdbstore_get_fn get, void *arg, FILE *stage, struct rec *v)
{
    struct dr_buf g = DR_BUF_INIT(DR_BLOB_MAX);
    uint64_t k = 0, foff = 0;
    int rc = 0;
    for (uint32_t gi = 0; rc >= 0 && gi < ngroups; gi++) {
        rc = get(arg, first + gi, &g);
        if (rc < 0) {
            break;
        }
        const uint8_t *p = (const uint8_t *)g.buf;
        size_t pos = 0;
        uint64_t cnt;
        if (!get_varint(p, g.len, &pos, &cnt) || cnt == 0 || cnt > nrec - k ||
            cnt > (g.len - pos) / 5) {
            rc = dr_errorf(DR_ECORRUPT, "record group %u: bad count", gi);
            break;
        }
        size_t hpos = pos;
        pos += 4 * (size_t)cnt;
        uint64_t total = 0;
        for (uint64_t j = 0; j < cnt; j++) {
            uint64_t l;
            if (!get_varint(p, g.len, &pos, &l) || l == 0 || l >= DR_RDBSTORE_BIG_RECORD) {
                rc = dr_errorf(DR_ECORRUPT, "record group %u: bad record length", gi);
                break;
            }
            struct rec *r = &v[k + j];
            r->h32 = dr_get_u32le(p + hpos + 4 * j);
            r->len = (uint32_t)l;
            r->off = foff + total;
            total += l;
            if (k + j > 0 && v[k + j - 1].h32 > r->h32) {
                rc = dr_errorf(DR_ECORRUPT, "record group %u: records out of order", gi);
                break;
            }
        }
        if (rc >= 0 && total != g.len - pos) {
            rc = dr_errorf(DR_ECORRUPT, "record group %u: lengths do not add up", gi);
        }
        if (rc >= 0 && total && fwrite(p + pos, 1, (size_t)total, stage) != total) {
            rc = dr_error_errno(DR_EIO, "cannot write the record staging file");
        }
        k += cnt;
        foff += total;
    }
    if (rc >= 0 && k != nrec) {
        rc = dr_errorf(DR_ECORRUPT, "record groups hold %llu records, the head says %llu",
                       (unsigned long long)k, (unsigned long long)nrec);
    }
    if (rc >= 0 && fflush(stage) != 0) {
        rc = dr_error_errno(DR_EIO, "cannot write the record staging file");
    }
    dr_buf_release(&g);
    (void)n;
    return rc;
}

int dr_rdbstore_decode(const struct dr_node *n, dr_rdbstore_get_fn get, dr_rdbstore_write_fn write,
                       void *arg)
{
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    struct rec *v = NULL;
    uint8_t *used = NULL;
    FILE *stage = NULL;
    uint8_t *map = NULL;
    size_t maplen = 0;
    uint32_t nlayout, ngroups;
    if (n->nchunks == 0) {
        return dr_errorf(DR_ECORRUPT, "record-encoded file without chunks");
    }
    int rc = get(arg, 0, &b);
    if (rc < 0) {
        goto out;
    }
    rc = dr_rdbstore_head_parse((const uint8_t *)b.buf, b.len, n, &nlayout, &ngroups);
    if (rc < 0) {
        goto out;
    }
    uint64_t nrec = dr_get_u64le((const uint8_t *)b.buf + 24);
    v = dr_xcalloc((size_t)nrec + 1, sizeof(*v));
    used = dr_xcalloc((size_t)nrec / 8 + 1, 1);
    stage = tmpfile();
    if (!stage) {
        rc = dr_error_errno(DR_EIO, "cannot create a record staging file");
        goto out;
    }
    rc = load_groups(n, 1 + nlayout, ngroups, nrec, get, arg, stage, v);
    if (rc < 0) {
        goto out;
    }
    maplen = nrec ? (size_t)(v[nrec - 1].off + v[nrec - 1].len) : 0;
    if (maplen) {
        map = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, fileno(stage), 0);
        if (map == MAP_FAILED) {
            map = NULL;
            rc = dr_error_errno(DR_EIO, "cannot map the record staging file");
            goto out;
        }
    }
    /* the layout, one chunk at a time; an item may span chunks, so a tail is carried over */
    struct dr_buf lay = DR_BUF_INIT(SIZE_MAX / 2);
    uint64_t written = 0, refs = 0;
    for (uint32_t li = 0; rc >= 0 && li < nlayout; li++) {
        rc = get(arg, 1 + li, &b);
        rc = rc < 0 ? rc : dr_buf_add(&lay, b.buf, b.len);
        const uint8_t *p = (const uint8_t *)lay.buf;
        size_t pos = 0;
        bool last = li + 1 == nlayout;
        while (rc >= 0 && pos < lay.len) {
            size_t start = pos;
            uint8_t op = p[pos++];
            uint64_t dup = 0, l = 0;
            bool ok = true;
            if (op == OP_LIT) {
                ok = get_varint(p, lay.len, &pos, &l) && l <= lay.len - pos;
                if (ok && l > n->size - written) {
                    rc = dr_errorf(DR_ECORRUPT, "record layout: more bytes than the file has");
                    break;
                }
                if (ok) {
                    rc = write(arg, p + pos, (size_t)l);
                    written += l;
                    pos += (size_t)l;
                }
            } else if (op == OP_REF || op == OP_REFD) {
                ok = (op == OP_REF || get_varint(p, lay.len, &pos, &dup)) && lay.len - pos >= 4;
                if (ok) {
                    uint32_t h32 = dr_get_u32le(p + pos);
                    pos += 4;
                    /* the first record with this hash, then dup further */
                    size_t lo = 0, hi = (size_t)nrec;
                    while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (v[mid].h32 < h32) {
                            lo = mid + 1;
                        } else {
                            hi = mid;
                        }
                    }
                    if (dup >= nrec - lo || v[lo + dup].h32 != h32 ||
                        (used[(lo + dup) / 8] & (1u << ((lo + dup) % 8)))) {
                        rc = dr_errorf(DR_ECORRUPT,
                                       "record layout: reference %llu names no "
                                       "record or one used before",
                                       (unsigned long long)refs);
                        break;
                    }
                    size_t r = lo + (size_t)dup;
                    if (v[r].len > n->size - written) {
                        rc = dr_errorf(DR_ECORRUPT, "record layout: more bytes than the file has");
                        break;
                    }
                    used[r / 8] |= (uint8_t)(1u << (r % 8));
                    rc = write(arg, map + v[r].off, v[r].len);
                    written += v[r].len;
                    refs++;
                }
            } else {
                rc = dr_errorf(DR_ECORRUPT, "record layout: unknown item 0x%02x", op);
                break;
            }
            if (!ok) {
                if (last) {
                    rc = dr_errorf(DR_ECORRUPT, "record layout: truncated item");
                }
                pos = start; /* completed by the next chunk */
                break;
            }
        }
        if (rc >= 0) {
            memmove(lay.buf, lay.buf + pos, lay.len - pos);
            dr_buf_setlen(&lay, lay.len - pos);
        }
    }
    if (rc >= 0 && (lay.len != 0 || refs != nrec || written != n->size)) {
        rc = dr_errorf(DR_ECORRUPT, "record layout: %llu of %llu records, %llu of %llu bytes",
                       (unsigned long long)refs, (unsigned long long)nrec,
                       (unsigned long long)written, (unsigned long long)n->size);
    }
    dr_buf_release(&lay);
out:
    if (map) {
        munmap(map, maplen);
    }
    if (stage) {
        fclose(stage);
    }
    free(v);
    free(used);
    dr_buf_release(&b);
    return rc;
}
