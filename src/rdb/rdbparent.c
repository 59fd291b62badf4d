/* rdbparent.c: the read side of the RDB record store shared by encoding and decoding (see
 * rdbstore.h, format/rdb.md): the head blob, record blobs staged in a temporary file by
 * parallel fetches, and the parent's records indexed by keyed hash for lookups. */
#include "drrepo/rdbstore.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/rdbrec.h"
#include "rdbstore_int.h"

void dr_rdbstore_hash_key(const uint8_t chunker_key[32], uint8_t out[DR_RDBSTORE_HASH_KEY_LEN])
{
    static const char ctx[] = "drrepo rdb record lookup v2";
    dr_crypto_keyed_hash(chunker_key, ctx, sizeof(ctx) - 1, out, DR_RDBSTORE_HASH_KEY_LEN);
}

/* The lookup hash of a record: of its key, which is short and identifies the record that a
 * changed one replaces (the same key in two databases gives two candidates, told apart by
 * comparing bytes). Keyed, so that chosen key names cannot crowd one probe sequence. */
static uint64_t rec_hash(const uint8_t *key, const uint8_t *p, size_t len)
{
    size_t ko, kl;
    if (dr_rdbrec_key(p, len, &ko, &kl)) {
        p += ko;
        len = kl;
    }
    return dr_crypto_shorthash(key, p, len);
}

bool dr_rdbstore_get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
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

/* ---- the head ---- */

int dr_rdbstore_head_parse(const uint8_t *p, size_t len, const struct dr_node *n,
                           uint32_t *out_nlayout, uint32_t *out_nblobs)
{
    if (len != DR_RDBSTORE_HEAD_LEN || memcmp(p, DR_RDBSTORE_MAGIC, 8) != 0) {
        return dr_errorf(DR_ECORRUPT, "record head: bad magic or length %zu", len);
    }
    uint32_t version = dr_get_u32le(p + 8);
    if (version == 0) {
        return dr_errorf(DR_ECORRUPT, "record head: version 0");
    }
    if (version != DR_RDBSTORE_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED,
                         "record encoding version %u is not read by this drrepo (it reads "
                         "version %u)",
                         version, DR_RDBSTORE_VERSION);
    }
    uint64_t size = dr_get_u64le(p + 16), nrec = dr_get_u64le(p + 24);
    uint64_t laylen = dr_get_u64le(p + 32);
    uint32_t nlayout = dr_get_u32le(p + 40), nblobs = dr_get_u32le(p + 44);
    if (dr_get_u32le(p + 12) != 0 || size != n->size ||
        (uint64_t)nlayout + nblobs + 1 != n->nchunks || nblobs > DR_RDBSTORE_BLOBS_MAX ||
        nrec > DR_RDBSTORE_RECORDS_MAX || (nrec && !nblobs)) {
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
    *out_nblobs = nblobs;
    return 0;
}

/* Fetches and checks the head of n. */
int dr_rdbstore_head_get(const struct dr_node *n, dr_rdbstore_get_fn get, void *arg,
                         uint32_t *nlayout, uint32_t *nblobs, uint64_t *nrec)
{
    if (n->nchunks == 0) {
        return dr_errorf(DR_ECORRUPT, "record-encoded file without chunks");
    }
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    int rc = get(arg, 0, &b);
    if (rc >= 0) {
        rc = dr_rdbstore_head_parse((const uint8_t *)b.buf, b.len, n, nlayout, nblobs);
    }
    if (rc >= 0) {
        *nrec = dr_get_u64le((const uint8_t *)b.buf + 24);
    }
    dr_buf_release(&b);
    return rc;
}

/* ---- staging record blobs ---- */

void dr_rdbstore_stage_free(struct stage *s)
{
    if (s->map) {
        munmap(s->map, s->maplen);
    }
    if (s->f) {
        fclose(s->f);
    }
    free(s->off);
    free(s->first);
    memset(s, 0, sizeof(*s));
}

/* Parses one record blob (count varint, count lengths, the records) onto the stage. */
static int stage_blob(struct stage *s, const uint8_t *p, size_t len, uint32_t j, size_t *aoff)
{
    size_t pos = 0;
    uint64_t cnt;
    if (!dr_rdbstore_get_varint(p, len, &pos, &cnt) || cnt == 0 || cnt > len - pos ||
        cnt > DR_RDBSTORE_RECORDS_MAX - s->nrec) {
        return dr_errorf(DR_ECORRUPT, "record blob %u: bad record count", j);
    }
    DR_GROW(s->off, *aoff, (size_t)s->nrec + (size_t)cnt + 1);
    uint64_t base = s->off[s->nrec], total = 0;
    for (uint64_t k = 0; k < cnt; k++) {
        uint64_t l;
        if (!dr_rdbstore_get_varint(p, len, &pos, &l) || l == 0 || l >= DR_RDBSTORE_BIG_RECORD) {
            return dr_errorf(DR_ECORRUPT, "record blob %u: bad record length", j);
        }
        total += l;
        s->off[s->nrec + k + 1] = base + total;
    }
    if (total != len - pos) {
        return dr_errorf(DR_ECORRUPT, "record blob %u: record lengths do not add up", j);
    }
    if (fwrite(p + pos, 1, (size_t)total, s->f) != total) {
        return dr_error_errno(DR_EIO, "cannot write the record staging file");
    }
    s->nrec += (uint32_t)cnt;
    return 0;
}

/* Stages record blobs chunk0 .. chunk0 + nblobs - 1 of a node, fetched through get in order
 * (one ascending run, which the caller reads ahead). */
int dr_rdbstore_stage_load(dr_rdbstore_get_fn get, void *arg, uint32_t chunk0, uint32_t nblobs,
                           struct stage *s)
{
    memset(s, 0, sizeof(*s));
    size_t aoff = 0;
    DR_GROW(s->off, aoff, 1);
    s->off[0] = 0;
    s->first = dr_xmalloc(((size_t)nblobs + 1) * sizeof(*s->first));
    s->nblobs = nblobs;
    s->f = tmpfile();
    if (!s->f) {
        return dr_error_errno(DR_EIO, "cannot create a record staging file");
    }
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    int rc = 0;
    for (uint32_t j = 0; rc >= 0 && j < nblobs; j++) {
        rc = get(arg, chunk0 + j, &b);
        if (rc >= 0) {
            s->first[j] = s->nrec;
            rc = stage_blob(s, (const uint8_t *)b.buf, b.len, j, &aoff);
        }
    }
    dr_buf_release(&b);
    s->first[nblobs] = s->nrec;
    if (rc >= 0 && fflush(s->f) != 0) {
        rc = dr_error_errno(DR_EIO, "cannot write the record staging file");
    }
    s->maplen = (size_t)s->off[s->nrec];
    if (rc >= 0 && s->maplen) {
        s->map = mmap(NULL, s->maplen, PROT_READ, MAP_PRIVATE, fileno(s->f), 0);
        if (s->map == MAP_FAILED) {
            s->map = NULL;
            rc = dr_error_errno(DR_EIO, "cannot map the record staging file");
        }
    }
    return rc;
}

/* The blob that holds staged record r. */
uint32_t dr_rdbstore_blob_of(const struct stage *s, uint32_t r)
{
    uint32_t lo = 0, hi = s->nblobs;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->first[mid] <= r) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* ---- the parent ---- */

int dr_rdbstore_parent_load(const struct dr_node *n, dr_rdbstore_get_fn get, void *arg,
                            const uint8_t *hash_key, struct dr_rdbstore_parent **out)
{
    uint32_t nlayout = 0, nblobs = 0;
    uint64_t nrec = 0;
    *out = NULL;
    int rc = dr_rdbstore_head_get(n, get, arg, &nlayout, &nblobs, &nrec);
    if (rc < 0) {
        return rc;
    }
    struct dr_rdbstore_parent *p = dr_xcalloc(1, sizeof(*p));
    memcpy(p->key, hash_key, DR_RDBSTORE_HASH_KEY_LEN);
    p->chunk0 = 1 + nlayout;
    rc = dr_rdbstore_stage_load(get, arg, p->chunk0, nblobs, &p->s);
    if (rc < 0) {
        dr_rdbstore_parent_free(p);
        return rc;
    }
    size_t cap = 16;
    while (cap < (size_t)p->s.nrec * 2) {
        cap *= 2;
    }
    p->tab = dr_xcalloc(cap, sizeof(*p->tab));
    p->mask = cap - 1;
    /* records with the same bytes share one slot and are chained in file order (tail[] holds
     * each chain's last record while the table is built) */
    p->dup = dr_xmalloc(((size_t)p->s.nrec + 1) * sizeof(*p->dup));
    uint32_t *tail = dr_xmalloc(((size_t)p->s.nrec + 1) * sizeof(*tail));
    for (uint32_t r = 0; r < p->s.nrec; r++) {
        const uint8_t *rec = p->s.map + p->s.off[r];
        size_t len = p->s.off[r + 1] - p->s.off[r];
        uint64_t h = rec_hash(p->key, rec, len);
        uint32_t tag = (uint32_t)(h >> 32);
        size_t i = (size_t)h & p->mask;
        p->dup[r] = NO_DUP;
        tail[r] = r;
        while (p->tab[i].rec1) {
            uint32_t q = p->tab[i].rec1 - 1;
            if (p->tab[i].tag == tag && p->s.off[q + 1] - p->s.off[q] == len &&
                memcmp(p->s.map + p->s.off[q], rec, len) == 0) {
                break;
            }
            i = (i + 1) & p->mask;
        }
        if (p->tab[i].rec1) {
            uint32_t head = p->tab[i].rec1 - 1;
            p->dup[tail[head]] = r;
            tail[head] = r;
        } else {
            p->tab[i] = (struct slot){.rec1 = r + 1, .tag = tag};
        }
    }
    free(tail);
    *out = p;
    return 0;
}

void dr_rdbstore_parent_free(struct dr_rdbstore_parent *p)
{
    if (p) {
        dr_rdbstore_stage_free(&p->s);
        free(p->tab);
        free(p->dup);
        free(p);
    }
}

/* The first parent record with exactly these bytes, or REF_NEW. */
uint32_t dr_rdbstore_parent_find(const struct dr_rdbstore_parent *p, const uint8_t *rec, size_t len)
{
    uint64_t h = rec_hash(p->key, rec, len);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & p->mask; p->tab[i].rec1; i = (i + 1) & p->mask) {
        uint32_t r = p->tab[i].rec1 - 1;
        if (p->tab[i].tag == tag && p->s.off[r + 1] - p->s.off[r] == len &&
            memcmp(p->s.map + p->s.off[r], rec, len) == 0) {
            return r;
        }
    }
    return REF_NEW;
}

/* Which of the parent's records with the same bytes as record head a new record references.
 * They are taken in order (the k-th equal record of the new file references the k-th of the
 * parent's), so that an unchanged file references every parent record exactly once: if all
 * of them took the first, the others would count as dead, and a blob of such duplicates (one
 * key with one value in several databases) would be compacted, and written again with the
 * same duplicates, on every snapshot. cursor[head] is 0 before the first take, then the next
 * record + 1, or UINT32_MAX once the chain is used up (further copies reference head). */
uint32_t dr_rdbstore_parent_take(const struct dr_rdbstore_parent *p, uint32_t head,
                                 uint32_t *cursor)
{
    uint32_t c = cursor[head];
    if (c == UINT32_MAX) {
        return head;
    }
    uint32_t r = c ? c - 1 : head;
    cursor[head] = p->dup[r] == NO_DUP ? UINT32_MAX : p->dup[r] + 1;
    return r;
}
