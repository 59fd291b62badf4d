/* verify.c: verifying a stored pack front to back in a bounded window (check --read-data).
 *
 * Reading a pack whole to verify it made memory follow the pack size (up to 2 GiB a worker).
 * Here a pack is read in ranged gets of one window, in order, and every byte is fetched once:
 * the window's bytes go into the hash of the whole pack (its name) record by record, just
 * before the record is opened, so each record is hashed and decoded while it is still in the
 * cache. A record that runs past the window is completed by moving its start to the front and
 * fetching the rest, so the window grows to one record at most. The header is read and checked
 * before the records: a pack whose header is bad is not read further (nothing in it can be
 * verified), and the records are opened in the header's order, which is the pack's order.
 *
 * Invariants of struct vstate: the window holds the pack's bytes [win_off, win_off + win.len);
 * the hash has taken [0, hashed) and win_off <= hashed <= win_off + win.len, so nothing leaves
 * the window before it is hashed. */
#include "drrepo/pack.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "pack_int.h"

struct dr_pack_verifier {
    const struct dr_keys *k;
    struct dr_compressor *z;
    size_t window;
    struct dr_buf win;     /* max(window, one record) of the pack */
    struct dr_buf tail;    /* the pack's last DR_PACK_TAIL_READ bytes, when not in win */
    struct dr_buf hdr;     /* a header longer than the tail read */
    struct dr_buf scratch; /* an opened record */
    struct dr_buf plain;   /* a compressed blob's plaintext */
};

/* One verification's progress through a pack. */
struct vstate {
    struct dr_pack_verifier *v;
    struct dr_backend *b;
    const char *obj;
    struct dr_pack_verify_result *res;
    uint64_t win_off;
    uint64_t hashed;
    struct dr_hash_state h;
};

struct dr_pack_verifier *dr_pack_verifier_new(const struct dr_keys *k, int zstd_level,
                                              size_t window)
{
    struct dr_pack_verifier *v = dr_xcalloc(1, sizeof(*v));
    v->k = k;
    v->z = dr_compressor_new(zstd_level);
    /* the first window holds the preamble, which the header's tag binds in */
    v->window = window ? DR_MAX(window, (size_t)DR_PACK_PREAMBLE_LEN) : DR_PACK_VERIFY_WINDOW;
    v->win = (struct dr_buf)DR_BUF_INIT(v->window + DR_BLOB_RECORD_MAX);
    v->tail = (struct dr_buf)DR_BUF_INIT(DR_PACK_TAIL_READ);
    v->hdr = (struct dr_buf)DR_BUF_INIT(DR_PACK_HEADER_MAX);
    v->scratch = (struct dr_buf)DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    v->plain = (struct dr_buf)DR_BUF_INIT(DR_BLOB_MAX);
    return v;
}

void dr_pack_verifier_free(struct dr_pack_verifier *v)
{
    if (!v) {
        return;
    }
    dr_compressor_free(v->z);
    dr_buf_release(&v->win);
    dr_buf_release(&v->tail);
    dr_buf_release(&v->hdr);
    dr_buf_release(&v->scratch);
    dr_buf_release(&v->plain);
    free(v);
}

void dr_pack_verify_result_release(struct dr_pack_verify_result *res)
{
    for (size_t i = 0; i < res->nbad; i++) {
        free(res->bad[i].msg);
    }
    free(res->bad);
    free(res->pack_msg);
    res->bad = NULL;
    res->nbad = 0;
    res->pack_msg = NULL;
}

/* Appends bytes [off, off + len) of the pack to out, counting the get. */
static int fetch(struct vstate *s, uint64_t off, uint64_t len, struct dr_buf *out)
{
    size_t before = out->len;
    s->res->gets++;
    int rc = dr_backend_get(s->b, s->obj, off, len, out);
    s->res->bytes_fetched += out->len - before;
    if (rc >= 0 && out->len - before != len) {
        rc = dr_errorf(DR_ECORRUPT, "object '%s': read of %llu bytes at %llu returned %zu", s->obj,
                       (unsigned long long)len, (unsigned long long)off, out->len - before);
    }
    return rc;
}

/* Hashes the window's bytes up to pack offset end. */
static void hash_to(struct vstate *s, uint64_t end)
{
    if (end > s->hashed) {
        dr_crypto_hash_update(&s->h, s->v->win.buf + (s->hashed - s->win_off), end - s->hashed);
        s->hashed = end;
    }
}

/* Makes the window hold the pack's bytes [from, to), to <= limit (the end of what the stream
 * reads), fetching in order what follows the window. Bytes before from are hashed and dropped;
 * a gap between records is read a window at a time, so the window never holds more than
 * max(window, to - from). */
static int window_hold(struct vstate *s, uint64_t from, uint64_t to, uint64_t limit)
{
    struct dr_pack_verifier *v = s->v;
    while (s->win_off + v->win.len < to) {
        uint64_t end = s->win_off + v->win.len;
        hash_to(s, end);
        uint64_t keep_from = from < end ? (from > s->win_off ? from : s->win_off) : end;
        size_t keep = (size_t)(end - keep_from);
        memmove(v->win.buf, v->win.buf + (keep_from - s->win_off), keep);
        dr_buf_setlen(&v->win, keep);
        s->win_off = keep_from;
        uint64_t n = v->window > keep ? v->window - keep : 0;
        if (from < end && to - end > n) {
            n = to - end; /* the rest of a record longer than the window */
        }
        n = DR_MIN(n, limit - end);
        int rc = fetch(s, end, n, &v->win);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static void add_bad(struct dr_pack_verify_result *res, size_t *abad, const struct dr_id *id)
{
    DR_GROW(res->bad, *abad, res->nbad + 1);
    res->bad[res->nbad].id = *id;
    res->bad[res->nbad].msg = dr_xstrdup(dr_error_msg());
    res->nbad++;
    dr_error_clear();
}

/* Opens the records of the header's entries e[0..n) in order while hashing the record area
 * [0, area_end). */
static int verify_records(struct vstate *s, const struct dr_pack_entry *e, size_t n,
                          uint64_t area_end)
{
    struct dr_pack_verifier *v = s->v;
    size_t abad = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t end = (uint64_t)e[i].offset + e[i].clen;
        int rc = window_hold(s, e[i].offset, end, area_end);
        if (rc < 0) {
            return rc;
        }
        hash_to(s, end);
        const uint8_t *rec = (const uint8_t *)v->win.buf + (e[i].offset - s->win_off);
        if (dr_blob_verify(v->k, v->z, e[i].type, &e[i].id, rec, e[i].clen, e[i].ulen, &v->scratch,
                           &v->plain) < 0) {
            add_bad(s->res, &abad, &e[i].id);
        }
    }
    /* bytes after the last record (none in packs this version writes) count for the name */
    int rc = window_hold(s, area_end, area_end, area_end);
    if (rc >= 0) {
        hash_to(s, area_end);
    }
    return rc;
}

/* Sets res->pack_msg from the error slot (the pack as a whole is bad). */
static void pack_bad(struct dr_pack_verify_result *res)
{
    res->pack_msg = dr_xstrdup(dr_error_msg());
    dr_error_clear();
}

int dr_pack_verify(struct dr_pack_verifier *v, struct dr_backend *b, const char *object_name,
                   uint64_t listed_size, const struct dr_id *want,
                   struct dr_pack_verify_result *out)
{
    struct dr_pack_verify_result res = {0};
    struct vstate s = {.v = v, .b = b, .obj = object_name, .res = &res};
    struct dr_pack_entry *e = NULL;
    size_t n = 0;
    uint8_t ptype;
    uint32_t hlen;
    dr_buf_reset(&v->win);
    dr_buf_reset(&v->tail);
    dr_buf_reset(&v->hdr);
    res.size = listed_size;
    int rc =
        listed_size == DR_BACKEND_SIZE_UNKNOWN ? dr_backend_stat(b, object_name, &res.size) : 0;
    if (rc < 0) {
        goto out;
    }
    uint64_t size = res.size;
    rc = fetch(&s, 0, DR_MIN(size, (uint64_t)v->window), &v->win);
    if (rc < 0) {
        goto out;
    }
    /* the pack's end: in the first window when the pack is that small, else one more get */
    const uint8_t *tail = (const uint8_t *)v->win.buf;
    size_t tail_len = v->win.len;
    if (size > v->win.len) {
        uint64_t tl = DR_MIN(size, (uint64_t)DR_PACK_TAIL_READ);
        rc = fetch(&s, size - tl, tl, &v->tail);
        if (rc < 0) {
            goto out;
        }
        tail = (const uint8_t *)v->tail.buf;
        tail_len = v->tail.len;
    }
    const uint8_t *trailer = tail + tail_len - DR_MIN(tail_len, (size_t)DR_PACK_TRAILER_LEN);
    const uint8_t *hdr = NULL;
    if (dr_pack_parse_preamble(object_name, (const uint8_t *)v->win.buf, v->win.len, &ptype) < 0 ||
        dr_pack_parse_trailer(object_name, trailer, DR_MIN(tail_len, (size_t)DR_PACK_TRAILER_LEN),
                              size, &hlen) < 0) {
        pack_bad(&res);
        goto out;
    }
    if ((uint64_t)hlen + DR_PACK_TRAILER_LEN <= tail_len) {
        hdr = trailer - hlen;
    } else {
        rc = fetch(&s, size - DR_PACK_TRAILER_LEN - hlen, hlen, &v->hdr);
        if (rc < 0) {
            goto out;
        }
        hdr = (const uint8_t *)v->hdr.buf;
    }
    if (dr_pack_parse_header(v->k, object_name, (const uint8_t *)v->win.buf, hdr, hlen, size, &e,
                             &n) < 0) {
        pack_bad(&res);
        goto out;
    }
    /* the header and trailer stay where they are (tail, hdr) while the window moves on */
    uint64_t area_end = size - DR_PACK_TRAILER_LEN - hlen;
    dr_crypto_pack_hash_init(v->k, &s.h);
    rc = verify_records(&s, e, n, area_end);
    if (rc < 0) {
        goto out;
    }
    dr_crypto_hash_update(&s.h, hdr, hlen);
    dr_crypto_hash_update(&s.h, trailer, DR_PACK_TRAILER_LEN);
    struct dr_id got;
    dr_crypto_hash_final(&s.h, &got);
    if (!dr_id_eq(&got, want)) {
        res.pack_msg = dr_xstrdup("content does not match its name (bit rot, or a renamed file)");
    }
out:
    free(e);
    if (rc < 0) {
        dr_pack_verify_result_release(&res);
        res.size = 0;
    }
    *out = res;
    return rc;
}
