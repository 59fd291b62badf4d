/* rdbcheck.c: the RDB validator (see rdb.h): header, EOF opcode and CRC-64 trailer, fed in
 * pieces of any size. The checksum covers every byte before it, but while streaming the end is
 * not known: it runs 8 bytes behind the stream. */
#include "drrepo/rdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/format.h"

#define RDB_HEADER_LEN 9 /* "REDIS" + 4 digits */
#define RDB_OP_AUX 0xfa
#define RDB_OP_EOF 0xff
#define RDB_MIN_CHECKSUM_VERSION 5

/* ---- RDB validation ---- */

void dr_rdb_check_init(struct dr_rdb_check *c)
{
    memset(c, 0, sizeof(*c));
}

static int check_header(struct dr_rdb_check *c, const char *what)
{
    static const char magic[] = "REDIS";
    size_t n = DR_MIN(c->nhead, (size_t)5);
    if (memcmp(c->head, magic, n) != 0) {
        return dr_errorf(DR_ESOURCE, "%s: not an RDB file: it does not start with 'REDIS'", what);
    }
    if (c->nhead < RDB_HEADER_LEN) {
        return 0;
    }
    unsigned v = 0;
    for (size_t i = 5; i < RDB_HEADER_LEN; i++) {
        if (c->head[i] < '0' || c->head[i] > '9') {
            return dr_errorf(DR_ESOURCE, "%s: not an RDB file: bad version '%.4s'", what,
                             (const char *)c->head + 5);
        }
        v = v * 10 + (unsigned)(c->head[i] - '0');
    }
    if (v == 0) {
        return dr_errorf(DR_ESOURCE, "%s: not an RDB file: version 0", what);
    }
    c->version = v;
    c->header_ok = true;
    return 0;
}

int dr_rdb_check_update(struct dr_rdb_check *c, const uint8_t *p, size_t n, const char *what)
{
    if (n == 0) {
        return 0;
    }
    c->size += n;
    if (c->nhead < DR_RDB_HEAD_KEEP) {
        size_t k = DR_MIN(n, DR_RDB_HEAD_KEEP - c->nhead);
        memcpy(c->head + c->nhead, p, k);
        c->nhead += k;
    }
    if (!c->header_ok) {
        int rc = check_header(c, what);
        if (rc < 0) {
            return rc;
        }
    }
    /* tail holds the last <= 9 bytes; all bytes but the last 8 go through the checksum */
    uint8_t tmp[9 + 9];
    if (n >= 9) {
        size_t done = c->ntail == 9 ? 1 : 0; /* a full tail's first byte is summed already */
        c->crc = dr_crc64(c->crc, c->tail + done, c->ntail - done);
        c->crc = dr_crc64(c->crc, p, n - 8);
        memcpy(c->tail, p + n - 9, 9);
        c->ntail = 9;
        return 0;
    }
    memcpy(tmp, c->tail, c->ntail);
    memcpy(tmp + c->ntail, p, n);
    size_t t = c->ntail + n;
    /* bytes of the old tail that were not yet checksummed: all but its first when it was full */
    size_t done = c->ntail == 9 ? 1 : 0;
    size_t upto = t > 8 ? t - 8 : 0; /* bytes of tmp that must now be in the checksum */
    if (upto > done) {
        c->crc = dr_crc64(c->crc, tmp + done, upto - done);
    }
    size_t keep = DR_MIN(t, (size_t)9);
    memcpy(c->tail, tmp + t - keep, keep);
    c->ntail = keep;
    return 0;
}

/* An RDB string at *off in the first bytes of the file, as text (integers in decimal). false
 * when it does not fit in what was kept, or is compressed (the caller then does without). */
static bool aux_string(const struct dr_rdb_check *c, size_t *off, char *out, size_t outlen)
{
    const uint8_t *h = c->head;
    size_t o = *off, end = c->nhead;
    if (o >= end) {
        return false;
    }
    uint8_t b = h[o++];
    uint64_t len = 0;
    switch (b >> 6) {
    case 0: len = b & 0x3f; break;
    case 1:
        if (o >= end) {
            return false;
        }
        len = ((uint64_t)(b & 0x3f) << 8) | h[o++];
        break;
    case 2: {
        size_t w = b == 0x80 ? 4 : b == 0x81 ? 8 : 0;
        if (w == 0 || end - o < w) {
            return false;
        }
        for (size_t i = 0; i < w; i++) {
            len = (len << 8) | h[o + i];
        }
        o += w;
        break;
    }
    default: {
        /* integers saved as strings: 8, 16 or 32 bits, little-endian */
        int64_t v;
        unsigned enc = b & 0x3f;
        size_t w = enc == 0 ? 1 : enc == 1 ? 2 : enc == 2 ? 4 : 0;
        if (w == 0 || end - o < w) {
            return false;
        }
        if (w == 1) {
            v = (int8_t)h[o];
        } else if (w == 2) {
            v = (int16_t)dr_get_u16le(h + o);
        } else {
            v = (int32_t)dr_get_u32le(h + o);
        }
        *off = o + w;
        snprintf(out, outlen, "%lld", (long long)v);
        return true;
    }
    }
    if (len > end - o) {
        return false;
    }
    size_t k = DR_MIN((size_t)len, outlen - 1);
    memcpy(out, h + o, k);
    out[k] = '\0';
    *off = o + (size_t)len;
    return true;
}

/* Copies s into out, cut to fit: aux values are short, and a longer one is not trusted whole. */
static void copy_str(char *out, size_t outlen, const char *s)
{
    size_t n = DR_MIN(strlen(s), outlen - 1);
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The aux fields at the start of the file (redis-ver, repl-id, repl-offset, ...): reading stops
 * at the first other opcode or at anything that does not fit in the kept bytes. */
static void read_aux(const struct dr_rdb_check *c, struct dr_rdb_info *out)
{
    size_t off = RDB_HEADER_LEN;
    while (off < c->nhead && c->head[off] == RDB_OP_AUX) {
        char key[32], val[64];
        off++;
        if (!aux_string(c, &off, key, sizeof(key)) || !aux_string(c, &off, val, sizeof(val))) {
            return;
        }
        if (strcmp(key, "redis-ver") == 0) {
            copy_str(out->redis_ver, sizeof(out->redis_ver), val);
        } else if (strcmp(key, "repl-id") == 0) {
            copy_str(out->repl_id, sizeof(out->repl_id), val);
        } else if (strcmp(key, "repl-offset") == 0) {
            copy_str(out->repl_offset, sizeof(out->repl_offset), val);
        }
    }
}

int dr_rdb_check_final(struct dr_rdb_check *c, const char *what, struct dr_rdb_info *out)
{
    if (!c->header_ok) {
        return dr_errorf(DR_ESOURCE, "%s: not an RDB file: only %llu bytes", what,
                         (unsigned long long)c->size);
    }
    struct dr_rdb_info info;
    memset(&info, 0, sizeof(info));
    info.version = c->version;
    info.size = c->size;
    bool sum = c->version >= RDB_MIN_CHECKSUM_VERSION;
    if (c->size < RDB_HEADER_LEN + 1 + (sum ? 8 : 0)) {
        return dr_errorf(DR_ESOURCE, "%s: RDB file is truncated: only %llu bytes", what,
                         (unsigned long long)c->size);
    }
    const uint8_t *eof = sum ? c->tail + c->ntail - 9 : c->tail + c->ntail - 1;
    if (*eof != RDB_OP_EOF) {
        return dr_errorf(DR_ESOURCE,
                         "%s: RDB file is truncated or damaged: it does not end with the EOF "
                         "opcode",
                         what);
    }
    if (sum) {
        uint64_t stored = dr_get_u64le(c->tail + c->ntail - 8);
        if (stored != 0 && stored != c->crc) {
            return dr_errorf(DR_ESOURCE,
                             "%s: RDB checksum mismatch: the file says %016llx, its bytes give "
                             "%016llx",
                             what, (unsigned long long)stored, (unsigned long long)c->crc);
        }
        info.checksummed = stored != 0;
        info.crc = stored;
    }
    read_aux(c, &info);
    *out = info;
    return 0;
}
