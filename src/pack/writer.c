/* writer.c: builds one pack file in memory (format/pack.md "Pack file").
 *
 * The bytes grow in one dr_buf: the preamble at creation, each record as it is added, and the
 * sealed header and the trailer at finish. The pack's name (BLAKE2b of all its bytes) is hashed
 * as the bytes are appended, while a record is still in the cache from its copy, instead of in
 * a second pass over the whole pack at finish. A reset keeps the buffer's memory, so a writer
 * used for pack after pack does not fault in fresh pages for each one.
 * Entries are kept in record order (so they are sorted by offset, as the parser requires), and
 * an open-addressing set over them answers dr_pack_writer_has in O(1): a tree pack may hold
 * hundreds of thousands of small records, and the caller asks once per blob.
 *
 * The writer is sticky-failed (STYLE.md 1.4): after an internal failure every later add and
 * finish returns the first error until reset. Refusing an add because the pack is full is not a
 * failure: the caller finishes this pack and starts the next. */
#include "drrepo/pack.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "pack_int.h"

struct dr_pack_writer {
    const struct dr_keys *k; /* borrowed: must outlive the writer */
    uint8_t type;
    uint32_t version;   /* 2: padded (format/pack.md "Padding"); 1: for version 1 repositories */
    struct dr_buf data; /* preamble + records (+ header + trailer once finished) */
    const char *mapped_buf; /* data.buf when mapped was counted */
    size_t mapped;          /* data's first bytes whose memory is mapped (map_ahead) */
    struct dr_pack_entry *entries;
    size_t n, alloc;
    uint32_t *slots; /* entry index + 1, 0 = empty; nslots is a power of two */
    size_t nslots;
    bool finished;
    struct dr_id pack_id;
    struct dr_hash_state hash; /* of data's bytes so far, until finish */
    int err;                   /* first internal failure, 0 if none */
    bool have_nonce;           /* test vectors only: see dr_pack_writer_set_header_nonce */
    uint8_t nonce[DR_NONCE_LEN];
};

#define SLOTS_MIN 64

/* Blob ids are keyed BLAKE2b outputs, so their first bytes are already uniformly spread. */
static size_t id_slot(const struct dr_id *id, size_t nslots)
{
    return (size_t)dr_get_u64le(id->b) & (nslots - 1);
}

static void set_insert(uint32_t *slots, size_t nslots, const struct dr_pack_entry *entries,
                       uint32_t idx)
{
    size_t i = id_slot(&entries[idx].id, nslots);
    while (slots[i]) {
        i = (i + 1) & (nslots - 1);
    }
    slots[i] = idx + 1;
}

/* Keeps the load factor at or below one half, so probes stay short. */
static void set_grow(struct dr_pack_writer *w)
{
    if (w->nslots && (w->n + 1) * 2 <= w->nslots) {
        return;
    }
    size_t nslots = w->nslots ? w->nslots * 2 : SLOTS_MIN;
    uint32_t *slots = dr_xcalloc(nslots, sizeof(*slots));
    for (size_t i = 0; i < w->n; i++) {
        set_insert(slots, nslots, w->entries, (uint32_t)i);
    }
    free(w->slots);
    w->slots = slots;
    w->nslots = nslots;
}

static void write_preamble(struct dr_pack_writer *w)
{
    uint8_t pre[DR_PACK_PREAMBLE_LEN] = {0};
    memcpy(pre, DR_MAGIC_PACK, DR_MAGIC_LEN);
    dr_put_u32le(pre + 8, w->version);
    pre[12] = w->type;
    /* the buffer's cap is the file limit, far above 16 bytes: this cannot fail */
    if (dr_buf_add(&w->data, pre, sizeof(pre)) < 0) {
        DR_BUG("pack preamble does not fit an empty buffer");
    }
    dr_crypto_pack_hash_init(w->k, &w->hash);
    dr_crypto_hash_update(&w->hash, pre, sizeof(pre));
}

void dr_pack_writer_reserve(struct dr_pack_writer *w, size_t bytes)
{
    if (bytes > w->data.len && dr_buf_grow(&w->data, bytes - w->data.len) < 0) {
        dr_error_clear(); /* only a hint: past the file limit, adds grow the buffer as needed */
    }
}

struct dr_pack_writer *dr_pack_writer_new(const struct dr_keys *k, uint8_t type)
{
    return dr_pack_writer_new_version(k, type, DR_PACK_VERSION);
}

struct dr_pack_writer *dr_pack_writer_new_version(const struct dr_keys *k, uint8_t type,
                                                  uint32_t version)
{
    if (type != DR_BLOB_DATA && type != DR_BLOB_TREE) {
        DR_BUG("pack writer for an unknown blob type");
    }
    if (version != 1 && version != DR_PACK_VERSION) {
        DR_BUG("pack writer for an unknown pack version");
    }
    struct dr_pack_writer *w = dr_xcalloc(1, sizeof(*w));
    w->k = k;
    w->type = type;
    w->version = version;
    dr_buf_init(&w->data, (size_t)DR_PACK_FILE_MAX);
    write_preamble(w);
    return w;
}

void dr_pack_writer_free(struct dr_pack_writer *w)
{
    if (!w) {
        return;
    }
    dr_buf_release(&w->data);
    free(w->entries);
    free(w->slots);
    free(w);
}

/* A pack's buffer, reserved at once (dr_pack_writer_reserve), is mapped in steps of MAP_STEP
 * as records fill it: a step is one system call instead of a page fault per 4 KiB, each an exit
 * in a virtual machine (docs/PERFORMANCE.md), and memory still follows what the pack holds. A
 * writer kept for the next pack keeps its pages mapped. */
#define MAP_STEP ((size_t)2 << 20)

static void map_ahead(struct dr_pack_writer *w, size_t need)
{
    if (w->mapped_buf != w->data.buf) { /* a new allocation */
        w->mapped_buf = w->data.buf;
        w->mapped = 0;
    }
    if (need <= w->mapped || need > w->data.alloc) {
        return; /* mapped, or past the reservation: the add grows the buffer by itself */
    }
    size_t to = DR_MIN(w->data.alloc, (need + MAP_STEP - 1) / MAP_STEP * MAP_STEP);
    dr_buf_map(&w->data, w->mapped, to - w->mapped);
    w->mapped = to;
}

void dr_pack_writer_reset(struct dr_pack_writer *w)
{
    dr_buf_reset(&w->data);
    write_preamble(w);
    w->n = 0;
    if (w->slots) {
        memset(w->slots, 0, w->nslots * sizeof(*w->slots));
    }
    w->finished = false;
    memset(&w->pack_id, 0, sizeof(w->pack_id));
    w->err = 0;
    w->have_nonce = false;
}

void dr_pack_writer_set_header_nonce(struct dr_pack_writer *w, const uint8_t nonce[DR_NONCE_LEN])
{
    memcpy(w->nonce, nonce, DR_NONCE_LEN);
    w->have_nonce = true;
}

uint64_t dr_pack_writer_size(const struct dr_pack_writer *w)
{
    return w->data.len;
}

size_t dr_pack_writer_count(const struct dr_pack_writer *w)
{
    return w->n;
}

bool dr_pack_writer_has(const struct dr_pack_writer *w, const struct dr_id *id)
{
    if (!w->nslots) {
        return false;
    }
    for (size_t i = id_slot(id, w->nslots); w->slots[i]; i = (i + 1) & (w->nslots - 1)) {
        if (dr_id_eq(&w->entries[w->slots[i] - 1].id, id)) {
            return true;
        }
    }
    return false;
}

/* Size of the finished pack, before padding, if it had n entries and size bytes of preamble
 * and records. */
static uint64_t finished_size(uint32_t version, uint64_t size, size_t n)
{
    uint64_t fixed = version >= 2 ? DR_PACK_HEADER_FIXED_LEN_V2 : DR_PACK_HEADER_FIXED_LEN;
    return size + DR_AEAD_OVERHEAD + fixed + (uint64_t)n * DR_PACK_ENTRY_LEN + DR_PACK_TRAILER_LEN;
}

uint64_t dr_pack_writer_size_with(const struct dr_pack_writer *w, size_t reclen)
{
    return finished_size(w->version, w->data.len + reclen, w->n + 1);
}

uint64_t dr_pack_padme(uint64_t len)
{
    if (len < 2) {
        return len;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(len); /* floor(log2 len) >= 1 */
    unsigned s = 64u - (unsigned)__builtin_clzll(e);   /* floor(log2 e) + 1 */
    uint64_t mask = ((uint64_t)1 << (e - s)) - 1;
    return (len + mask) & ~mask;
}

/* The padding that takes the finished pack to its padmé size, within the file limit (padding
 * is not worth refusing a pack for: the limit is far above any target size). */
static uint32_t pad_len(uint32_t version, uint64_t size, size_t n)
{
    if (version < 2) {
        return 0; /* version 1 packs have no padding */
    }
    uint64_t unpadded = finished_size(version, size, n);
    uint64_t padded = DR_MIN(dr_pack_padme(unpadded), (uint64_t)DR_PACK_FILE_MAX);
    return (uint32_t)(padded - unpadded);
}

int dr_pack_writer_add(struct dr_pack_writer *w, const struct dr_id *id, const uint8_t *rec,
                       size_t reclen, uint32_t ulen)
{
    char hex[DR_ID_HEX_LEN + 1];
    if (w->err) {
        return w->err;
    }
    if (w->finished) {
        return dr_errorf(DR_EUSAGE, "pack writer is finished: reset it before adding blobs");
    }
    if (reclen < DR_AEAD_OVERHEAD + 1 || reclen > DR_BLOB_RECORD_MAX || ulen > DR_BLOB_MAX) {
        return dr_errorf(DR_EUSAGE, "blob %s: record of %zu bytes (%u plain) is out of range",
                         dr_id_hex(id, hex), reclen, ulen);
    }
    if (dr_pack_writer_has(w, id)) {
        return dr_errorf(DR_EUSAGE, "blob %s is already in this pack", dr_id_hex(id, hex));
    }
    if (w->n >= DR_PACK_ENTRIES_MAX || dr_pack_writer_size_with(w, reclen) > DR_PACK_FILE_MAX) {
        return dr_errorf(DR_EUSAGE, "pack is full (%zu blobs, %zu bytes)", w->n, w->data.len);
    }
    uint64_t offset = w->data.len;
    map_ahead(w, w->data.len + reclen);
    int rc = dr_buf_add(&w->data, rec, reclen);
    if (rc < 0) {
        /* cannot happen below the file limit checked above; a failed add changed nothing */
        return dr_error_wrap(rc, "pack writer");
    }
    dr_crypto_hash_update(&w->hash, rec, reclen);
    set_grow(w);
    DR_GROW(w->entries, w->alloc, w->n + 1);
    w->entries[w->n] = (struct dr_pack_entry){
        .id = *id,
        .type = w->type,
        .offset = (uint32_t)offset,
        .clen = (uint32_t)reclen,
        .ulen = ulen,
    };
    set_insert(w->slots, w->nslots, w->entries, (uint32_t)w->n);
    w->n++;
    return 0;
}

/* The header plaintext: magic, version, count, padding length, then one 45-byte entry per
 * record. */
static int build_header(const struct dr_pack_writer *w, uint32_t pad, struct dr_buf *hdr)
{
    int rc = dr_buf_grow(hdr, DR_PACK_HEADER_FIXED_LEN_V2 + w->n * DR_PACK_ENTRY_LEN);
    if (rc < 0) {
        return rc;
    }
    rc = dr_buf_add(hdr, DR_MAGIC_PACK_HEADER, DR_MAGIC_LEN);
    rc = rc ? rc : dr_buf_add_u32le(hdr, w->version);
    rc = rc ? rc : dr_buf_add_u32le(hdr, (uint32_t)w->n);
    if (w->version >= 2) {
        rc = rc ? rc : dr_buf_add_u32le(hdr, pad);
    }
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        const struct dr_pack_entry *e = &w->entries[i];
        rc = dr_buf_add_u8(hdr, e->type);
        rc = rc ? rc : dr_buf_add(hdr, e->id.b, DR_ID_LEN);
        rc = rc ? rc : dr_buf_add_u32le(hdr, e->offset);
        rc = rc ? rc : dr_buf_add_u32le(hdr, e->clen);
        rc = rc ? rc : dr_buf_add_u32le(hdr, e->ulen);
    }
    return rc;
}

int dr_pack_writer_finish(struct dr_pack_writer *w, struct dr_id *out_pack_id,
                          const uint8_t **out_data, size_t *out_len)
{
    struct dr_buf hdr = DR_BUF_INIT(DR_PACK_HEADER_MAX);
    size_t records_end = w->data.len;
    /* a copy: sealing appends to data and may move the buffer the preamble lives in */
    uint8_t pre[DR_PACK_PREAMBLE_LEN];
    int rc = 0;
    if (w->err) {
        return w->err;
    }
    if (w->finished) {
        goto done;
    }
    if (w->n == 0) {
        return dr_errorf(DR_EUSAGE, "cannot finish an empty pack");
    }
    memcpy(pre, w->data.buf, sizeof(pre));
    /* zero bytes after the last record (format/pack.md "Padding"): the pack's size then says
     * little about the sizes of the records in it; their length is in the sealed header */
    uint32_t pad = pad_len(w->version, records_end, w->n);
    rc = build_header(w, pad, &hdr);
    if (rc < 0) {
        goto fail;
    }
    rc = dr_buf_grow(&w->data, pad);
    if (rc < 0) {
        goto fail;
    }
    memset((uint8_t *)w->data.buf + records_end, 0, pad);
    dr_buf_setlen(&w->data, records_end + pad);
    if (w->have_nonce) {
        rc = dr_crypto_seal_nonce(w->k, w->nonce, pre, sizeof(pre), hdr.buf, hdr.len, &w->data);
    } else {
        rc = dr_crypto_seal(w->k, pre, sizeof(pre), hdr.buf, hdr.len, &w->data);
    }
    if (rc < 0) {
        goto fail;
    }
    size_t hdr_len = w->data.len - records_end - pad;
    if (hdr_len > DR_PACK_HEADER_MAX) {
        rc = dr_errorf(DR_EINTERNAL, "pack header of %zu bytes is over its limit", hdr_len);
        goto fail;
    }
    rc = dr_buf_add_u32le(&w->data, (uint32_t)hdr_len);
    rc = rc ? rc : dr_buf_add(&w->data, DR_MAGIC_PACK_END, DR_MAGIC_LEN);
    if (rc < 0) {
        goto fail;
    }
    dr_buf_release(&hdr);
    /* the header and trailer are hashed into a copy of the state: a failure above leaves the
     * state as it was, matching the bytes left in data */
    struct dr_hash_state h = w->hash;
    dr_crypto_hash_update(&h, w->data.buf + records_end, w->data.len - records_end);
    dr_crypto_hash_final(&h, &w->pack_id);
    w->finished = true;
    w->have_nonce = false;
done:
    *out_pack_id = w->pack_id;
    *out_data = (const uint8_t *)w->data.buf;
    *out_len = w->data.len;
    return 0;
fail:
    dr_buf_release(&hdr);
    /* leave the bytes as they were before finish, and stay failed until reset */
    dr_buf_setlen(&w->data, records_end);
    w->err = dr_error_wrap(rc < 0 && rc != DR_ECORRUPT ? rc : DR_EINTERNAL, "cannot finish pack");
    return w->err;
}

const struct dr_pack_entry *dr_pack_writer_entries(const struct dr_pack_writer *w, size_t *out_n)
{
    *out_n = w->n;
    return w->entries;
}

int dr_pack_writer_append(struct dr_pack_writer *dst, const struct dr_pack_writer *src)
{
    if (dst->type != src->type || src->finished) {
        return dr_errorf(DR_EUSAGE, "cannot append a finished pack or one of another type");
    }
    for (size_t i = 0; i < src->n; i++) {
        const struct dr_pack_entry *e = &src->entries[i];
        int rc = dr_pack_writer_add(dst, &e->id, (const uint8_t *)src->data.buf + e->offset,
                                    e->clen, e->ulen);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
