/* reader.c: parsing pack preambles, trailers and headers (format/pack.md "Pack file").
 *
 * Every length and offset in a pack is checked against the format's limits and against the
 * pack's real size before it is used, so a truncated, bit-flipped or forged pack ends as
 * DR_ECORRUPT naming the pack, never as a read outside the buffer or a huge allocation. The
 * header is authenticated (with the preamble bound in) before any entry is trusted, and then the
 * entries are still checked: the tag proves who wrote the header, not that the writer was right. */
#include "drrepo/pack.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/reader.h"
#include "pack_int.h"

/* Smallest sealed header: the fixed part with no entries. */
#define PACK_HEADER_MIN (DR_AEAD_OVERHEAD + DR_PACK_HEADER_FIXED_LEN)

static const char *type_name(uint8_t type)
{
    return type == DR_BLOB_TREE ? "tree" : "data";
}

int dr_pack_parse_preamble(const char *pack_name, const uint8_t *pre, size_t len, uint8_t *out_type)
{
    if (len < DR_PACK_PREAMBLE_LEN) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': too short for a preamble (%zu bytes)", pack_name,
                         len);
    }
    if (memcmp(pre, DR_MAGIC_PACK, DR_MAGIC_LEN) != 0) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': bad preamble magic", pack_name);
    }
    /* the version before anything else: a newer version may give the other bytes new meaning */
    uint32_t version = dr_get_u32le(pre + 8);
    if (version > DR_PACK_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED,
                         "pack '%s': format version %u is newer than this build reads (%u)",
                         pack_name, version, DR_PACK_VERSION);
    }
    if (version == 0) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': bad format version 0", pack_name);
    }
    uint8_t type = pre[12];
    if (type != DR_BLOB_DATA && type != DR_BLOB_TREE) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': unknown blob type %u", pack_name, type);
    }
    if (pre[13] || pre[14] || pre[15]) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': reserved preamble bytes are not zero", pack_name);
    }
    *out_type = type;
    return 0;
}

/* The checks on pack_size and hdr_len that the trailer parser and the header parser share. */
static int check_hdr_len(const char *pack_name, uint32_t hdr_len, uint64_t pack_size)
{
    if (pack_size > DR_PACK_FILE_MAX) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': %llu bytes is over the pack size limit",
                         pack_name, (unsigned long long)pack_size);
    }
    if (hdr_len > DR_PACK_HEADER_MAX) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': header length %u is over its limit of %u",
                         pack_name, hdr_len, DR_PACK_HEADER_MAX);
    }
    if (hdr_len < PACK_HEADER_MIN) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': header length %u is too short", pack_name,
                         hdr_len);
    }
    if (pack_size < DR_PACK_PREAMBLE_LEN + DR_PACK_TRAILER_LEN ||
        hdr_len > pack_size - DR_PACK_PREAMBLE_LEN - DR_PACK_TRAILER_LEN) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': header length %u does not fit in %llu bytes",
                         pack_name, hdr_len, (unsigned long long)pack_size);
    }
    return 0;
}

int dr_pack_parse_trailer(const char *pack_name, const uint8_t *trailer, size_t len,
                          uint64_t pack_size, uint32_t *out_hdr_len)
{
    if (len != DR_PACK_TRAILER_LEN) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': trailer is %zu bytes, expected %u", pack_name,
                         len, DR_PACK_TRAILER_LEN);
    }
    if (memcmp(trailer + 4, DR_MAGIC_PACK_END, DR_MAGIC_LEN) != 0) {
        return dr_errorf(DR_ECORRUPT, "pack '%s': bad trailer magic", pack_name);
    }
    uint32_t hdr_len = dr_get_u32le(trailer);
    int rc = check_hdr_len(pack_name, hdr_len, pack_size);
    if (rc < 0) {
        return rc;
    }
    *out_hdr_len = hdr_len;
    return 0;
}

/* Decodes and checks the entries that follow the header's fixed part. */
static int parse_entries(const char *pack_name, struct dr_reader *r, uint8_t type, uint32_t count,
                         uint64_t area_end, struct dr_pack_entry *entries)
{
    char hex[DR_ID_HEX_LEN + 1];
    uint64_t prev_end = DR_PACK_PREAMBLE_LEN;
    for (uint32_t i = 0; i < count; i++) {
        struct dr_pack_entry *e = &entries[i];
        e->type = dr_rd_u8(r);
        dr_rd_copy(r, e->id.b, DR_ID_LEN);
        e->offset = dr_rd_u32le(r);
        e->clen = dr_rd_u32le(r);
        e->ulen = dr_rd_u32le(r);
        if (!dr_rd_ok(r)) {
            DR_BUG("pack header shorter than its checked length");
        }
        dr_id_hex(&e->id, hex);
        if (e->type != type) {
            return dr_errorf(DR_ECORRUPT, "pack '%s': entry %u (blob %s) has type %u in a %s pack",
                             pack_name, i, hex, e->type, type_name(type));
        }
        if (e->clen < DR_AEAD_OVERHEAD + 1 || e->clen > DR_BLOB_RECORD_MAX) {
            return dr_errorf(DR_ECORRUPT,
                             "pack '%s': entry %u (blob %s) has record length %u out of range",
                             pack_name, i, hex, e->clen);
        }
        if (e->ulen > DR_BLOB_MAX) {
            return dr_errorf(DR_ECORRUPT,
                             "pack '%s': entry %u (blob %s) has blob length %u over the limit",
                             pack_name, i, hex, e->ulen);
        }
        if (e->offset < DR_PACK_PREAMBLE_LEN) {
            return dr_errorf(DR_ECORRUPT,
                             "pack '%s': entry %u (blob %s) has offset %u inside the preamble",
                             pack_name, i, hex, e->offset);
        }
        if (e->offset < prev_end) {
            return dr_errorf(DR_ECORRUPT,
                             "pack '%s': entry %u (blob %s) at offset %u overlaps the previous "
                             "record or is out of order",
                             pack_name, i, hex, e->offset);
        }
        uint64_t end = (uint64_t)e->offset + e->clen;
        if (end > area_end) {
            return dr_errorf(DR_ECORRUPT,
                             "pack '%s': entry %u (blob %s) at offset %u, %u bytes, runs past "
                             "the record area (which ends at %llu)",
                             pack_name, i, hex, e->offset, e->clen, (unsigned long long)area_end);
        }
        prev_end = end;
    }
    return 0;
}

int dr_pack_parse_header(const struct dr_keys *k, const char *pack_name, const uint8_t *preamble,
                         const uint8_t *hdr, size_t hdr_len, uint64_t pack_size,
                         struct dr_pack_entry **out_entries, size_t *out_n)
{
    struct dr_buf pt = DR_BUF_INIT(DR_PACK_HEADER_MAX);
    struct dr_pack_entry *entries = NULL;
    uint8_t type = 0;
    int rc = dr_pack_parse_preamble(pack_name, preamble, DR_PACK_PREAMBLE_LEN, &type);
    if (rc < 0) {
        goto out;
    }
    if (hdr_len > DR_PACK_HEADER_MAX) {
        rc = dr_errorf(DR_ECORRUPT, "pack '%s': header length %zu is over its limit", pack_name,
                       hdr_len);
        goto out;
    }
    rc = check_hdr_len(pack_name, (uint32_t)hdr_len, pack_size);
    if (rc < 0) {
        goto out;
    }
    uint64_t area_end = pack_size - DR_PACK_TRAILER_LEN - hdr_len;
    rc = dr_crypto_unseal(k, preamble, DR_PACK_PREAMBLE_LEN, hdr, hdr_len, &pt);
    if (rc == DR_ECORRUPT) {
        rc = dr_errorf(DR_ECORRUPT,
                       "pack '%s': header authentication failed (tampered, or the wrong key)",
                       pack_name);
        goto out;
    }
    if (rc < 0) {
        rc = dr_error_wrap(rc, "pack '%s'", pack_name);
        goto out;
    }
    struct dr_reader r;
    dr_rd_init(&r, pt.buf, pt.len);
    const uint8_t *magic = dr_rd_bytes(&r, DR_MAGIC_LEN);
    uint32_t version = dr_rd_u32le(&r);
    uint32_t count = dr_rd_u32le(&r);
    if (!dr_rd_ok(&r)) {
        rc =
            dr_errorf(DR_ECORRUPT, "pack '%s': header is too short (%zu bytes)", pack_name, pt.len);
        goto out;
    }
    if (memcmp(magic, DR_MAGIC_PACK_HEADER, DR_MAGIC_LEN) != 0) {
        rc = dr_errorf(DR_ECORRUPT, "pack '%s': bad header magic", pack_name);
        goto out;
    }
    if (version > DR_PACK_VERSION) {
        rc = dr_errorf(DR_EUNSUPPORTED,
                       "pack '%s': header version %u is newer than this build reads (%u)",
                       pack_name, version, DR_PACK_VERSION);
        goto out;
    }
    if (version == 0) {
        rc = dr_errorf(DR_ECORRUPT, "pack '%s': bad header version 0", pack_name);
        goto out;
    }
    /* the header's layout follows the version the authenticated preamble states */
    if (version != dr_get_u32le(preamble + 8)) {
        rc = dr_errorf(DR_ECORRUPT, "pack '%s': header version %u differs from the preamble's %u",
                       pack_name, version, dr_get_u32le(preamble + 8));
        goto out;
    }
    if (version >= 2) {
        /* the padding lies between the record area and the header */
        uint32_t pad = dr_rd_u32le(&r);
        if (!dr_rd_ok(&r)) {
            rc = dr_errorf(DR_ECORRUPT, "pack '%s': header is too short (%zu bytes)", pack_name,
                           pt.len);
            goto out;
        }
        if (pad > area_end - DR_PACK_PREAMBLE_LEN) {
            rc = dr_errorf(DR_ECORRUPT, "pack '%s': padding of %u bytes does not fit the pack",
                           pack_name, pad);
            goto out;
        }
        area_end -= pad;
    }
    if (count == 0 || count > DR_PACK_ENTRIES_MAX) {
        rc = dr_errorf(DR_ECORRUPT, "pack '%s': header entry count %u is out of range", pack_name,
                       count);
        goto out;
    }
    /* exact: no trailing bytes, so the header has a single encoding */
    if (dr_rd_left(&r) != (uint64_t)count * DR_PACK_ENTRY_LEN) {
        rc = dr_errorf(DR_ECORRUPT,
                       "pack '%s': header holds %zu bytes of entries, %u entries "
                       "need %llu",
                       pack_name, dr_rd_left(&r), count,
                       (unsigned long long)count * DR_PACK_ENTRY_LEN);
        goto out;
    }
    entries = dr_xcalloc(count, sizeof(*entries));
    rc = parse_entries(pack_name, &r, type, count, area_end, entries);
    if (rc < 0) {
        goto out;
    }
    *out_entries = entries;
    *out_n = count;
    entries = NULL;
out:
    free(entries);
    dr_buf_release(&pt);
    return rc;
}

int dr_pack_read_header(struct dr_backend *b, const struct dr_keys *k, const char *object_name,
                        uint64_t size, uint64_t *out_size, struct dr_pack_entry **out_entries,
                        size_t *out_n, uint8_t *out_type)
{
    struct dr_buf pre = DR_BUF_INIT(DR_PACK_PREAMBLE_LEN);
    struct dr_buf tail = DR_BUF_INIT(DR_PACK_TAIL_READ);
    struct dr_buf big = DR_BUF_INIT(DR_PACK_HEADER_MAX);
    uint8_t type = 0;
    uint32_t hdr_len = 0;
    int rc = size == DR_BACKEND_SIZE_UNKNOWN ? dr_backend_stat(b, object_name, &size) : 0;
    if (rc < 0) {
        goto out;
    }
    if (size < DR_PACK_PREAMBLE_LEN + PACK_HEADER_MIN + DR_PACK_TRAILER_LEN) {
        rc = dr_errorf(DR_ECORRUPT, "pack '%s': too small to be a pack (%llu bytes)", object_name,
                       (unsigned long long)size);
        goto out;
    }
    if (size > DR_PACK_FILE_MAX) {
        rc = dr_errorf(DR_ECORRUPT, "pack '%s': %llu bytes is over the pack size limit",
                       object_name, (unsigned long long)size);
        goto out;
    }
    rc = dr_backend_get(b, object_name, 0, DR_PACK_PREAMBLE_LEN, &pre);
    if (rc < 0) {
        goto out;
    }
    rc = dr_pack_parse_preamble(object_name, (const uint8_t *)pre.buf, pre.len, &type);
    if (rc < 0) {
        goto out;
    }
    uint64_t tail_len = DR_MIN(size - DR_PACK_PREAMBLE_LEN, (uint64_t)DR_PACK_TAIL_READ);
    rc = dr_backend_get(b, object_name, size - tail_len, tail_len, &tail);
    if (rc < 0) {
        goto out;
    }
    const uint8_t *tail_end = (const uint8_t *)tail.buf + tail.len;
    rc = dr_pack_parse_trailer(object_name, tail_end - DR_PACK_TRAILER_LEN, DR_PACK_TRAILER_LEN,
                               size, &hdr_len);
    if (rc < 0) {
        goto out;
    }
    const uint8_t *hdr;
    if ((uint64_t)hdr_len + DR_PACK_TRAILER_LEN <= tail.len) {
        hdr = tail_end - DR_PACK_TRAILER_LEN - hdr_len;
    } else {
        rc = dr_backend_get(b, object_name, size - DR_PACK_TRAILER_LEN - hdr_len, hdr_len, &big);
        if (rc < 0) {
            goto out;
        }
        hdr = (const uint8_t *)big.buf;
    }
    rc = dr_pack_parse_header(k, object_name, (const uint8_t *)pre.buf, hdr, hdr_len, size,
                              out_entries, out_n);
    if (rc < 0) {
        goto out;
    }
    *out_size = size;
    *out_type = type;
out:
    dr_buf_release(&pre);
    dr_buf_release(&tail);
    dr_buf_release(&big);
    return rc;
}
