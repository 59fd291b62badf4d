/* rdb.c: the RDB validator and the SYNC payload framing parser (see redis_int.h). No I/O of its
 * own: bytes come from a transport callback, so every framing case can be tested with scripted
 * byte streams.
 *
 * Two things make the framing subtle. In the diskless form the length is unknown and the file is
 * followed by a 40-byte mark, so the last 39 bytes received can never be handed on until more
 * data shows that no mark starts among them; the mark is searched at every offset (not only at
 * the end of a read, as Redis's replica does) so that bytes the server sends after the mark
 * cannot hide it. And the CRC-64 trailer covers every byte before it, but while streaming we do
 * not know where the end is: the checksum runs 8 bytes behind the stream. */
#include "redis_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

#define RDB_HEADER_LEN 9 /* "REDIS" + 4 digits */
#define RDB_OP_AUX 0xfa
#define RDB_OP_EOF 0xff
#define RDB_MIN_CHECKSUM_VERSION 5
#define LINE_MAX_LEN 1024

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

/* ---- the SYNC payload ---- */

void dr_rdb_payload_init(struct dr_rdb_payload *p, dr_stream_read_fn raw, void *raw_arg,
                         const char *what)
{
    memset(p, 0, sizeof(*p));
    p->raw = raw;
    p->raw_arg = raw_arg;
    p->what = what;
    p->buf = dr_xmalloc(DR_RDB_PAYLOAD_BUF);
    dr_rdb_check_init(&p->check);
}

void dr_rdb_payload_release(struct dr_rdb_payload *p)
{
    free(p->buf);
    p->buf = NULL;
}

static int fail(struct dr_rdb_payload *p, int rc)
{
    p->err = rc;
    return rc;
}

/* Moves the unread bytes to the front and reads more from the transport. */
static int fill(struct dr_rdb_payload *p)
{
    if (p->pos > 0) {
        memmove(p->buf, p->buf + p->pos, p->len - p->pos);
        p->len -= p->pos;
        /* before the header, ready and scanned stay 0 while pos moves over its lines */
        p->ready = p->header_done ? p->ready - p->pos : 0;
        p->scanned = p->header_done ? p->scanned - p->pos : 0;
        p->pos = 0;
    }
    if (p->len == DR_RDB_PAYLOAD_BUF) {
        DR_BUG("rdb payload buffer full");
    }
    int got = p->raw(p->raw_arg, p->buf + p->len, DR_RDB_PAYLOAD_BUF - p->len);
    if (got < 0) {
        return got;
    }
    if (got == 0) {
        unsigned long long have = (unsigned long long)(p->received + (p->len - p->pos));
        if (!p->header_done) {
            return dr_errorf(DR_ENET,
                             "%s: connection closed before the RDB payload started (the server "
                             "may have stopped or refused the replica)",
                             p->what);
        }
        if (p->eof_form) {
            return dr_errorf(DR_ENET,
                             "%s: connection closed after %llu bytes of the RDB payload, before "
                             "its end mark",
                             p->what, have);
        }
        return dr_errorf(
            DR_ENET, "%s: connection closed after %llu of %llu bytes of the RDB payload", p->what,
            (unsigned long long)(p->expected - p->remaining), (unsigned long long)p->expected);
    }
    p->len += (size_t)got;
    return 0;
}

/* One header line (without "\r\n"). Returns 1 when the payload starts after it. */
static int header_line(struct dr_rdb_payload *p, const char *line, size_t n)
{
    if (n == 0) {
        p->keepalives++; /* the server is preparing the RDB and keeps the link alive */
        return 0;
    }
    if (line[0] == '-') {
        return dr_errorf(DR_ESOURCE, "%s refused SYNC: %.*s", p->what, (int)DR_MIN(n, 300),
                         line + 1);
    }
    if (n > 12 && memcmp(line, "+FULLRESYNC ", 12) == 0) {
        /* "+FULLRESYNC <40-char replid> <offset>" from servers that answer like PSYNC */
        const char *id = line + 12, *sp = memchr(id, ' ', n - 12);
        if (sp && sp - id == 40) {
            memcpy(p->fullresync_id, id, 40);
            p->fullresync_id[40] = '\0';
            size_t ol = DR_MIN((size_t)(line + n - sp - 1), sizeof(p->fullresync_offset) - 1);
            memcpy(p->fullresync_offset, sp + 1, ol);
            p->fullresync_offset[ol] = '\0';
        }
        return 0;
    }
    if (line[0] == '$' && n > 5 && memcmp(line + 1, "EOF:", 4) == 0) {
        if (n != 5 + DR_RDB_EOF_MARK_LEN) {
            return dr_errorf(DR_ESOURCE,
                             "%s: bad diskless payload header: the end mark has %zu "
                             "bytes, not %d",
                             p->what, n - 5, DR_RDB_EOF_MARK_LEN);
        }
        memcpy(p->mark, line + 5, DR_RDB_EOF_MARK_LEN);
        p->eof_form = true;
        return 1;
    }
    if (line[0] == '$' && n > 1 && n <= 21) {
        uint64_t v = 0;
        for (size_t i = 1; i < n; i++) {
            if (line[i] < '0' || line[i] > '9' || v > (UINT64_MAX - 9) / 10) {
                goto bad;
            }
            v = v * 10 + (uint64_t)(line[i] - '0');
        }
        if (v == 0) {
            return dr_errorf(DR_ESOURCE, "%s sent an empty RDB payload", p->what);
        }
        p->expected = p->remaining = v;
        return 1;
    }
bad:
    return dr_errorf(DR_ESOURCE, "%s: unexpected reply to SYNC: '%.*s'", p->what,
                     (int)DR_MIN(n, 100), line);
}

static int parse_header(struct dr_rdb_payload *p)
{
    for (;;) {
        uint8_t *start = p->buf + p->pos;
        uint8_t *nl = memchr(start, '\n', p->len - p->pos);
        if (!nl) {
            if (p->len - p->pos > LINE_MAX_LEN) {
                return dr_errorf(DR_ESOURCE, "%s: reply to SYNC is not a line of the protocol",
                                 p->what);
            }
            return 0;
        }
        size_t n = (size_t)(nl - start);
        p->pos += n + 1;
        if (n > 0 && start[n - 1] == '\r') {
            n--;
        }
        int rc = header_line(p, (const char *)start, n);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            p->header_done = true;
            p->ready = p->scanned = p->pos;
            return 0;
        }
    }
}

/* Marks what of the buffered bytes is payload that may be handed on. */
static void update_ready(struct dr_rdb_payload *p)
{
    if (!p->eof_form) {
        uint64_t take = DR_MIN((uint64_t)(p->len - p->ready), p->remaining);
        p->ready += (size_t)take;
        p->remaining -= take;
        if (p->remaining == 0) {
            p->done = true;
            p->len = p->ready; /* whatever follows is the replication stream: not ours */
        }
        return;
    }
    if (p->len - p->scanned >= DR_RDB_EOF_MARK_LEN) {
        uint8_t *m = memmem(p->buf + p->scanned, p->len - p->scanned, p->mark, DR_RDB_EOF_MARK_LEN);
        if (m) {
            p->ready = p->len = (size_t)(m - p->buf);
            p->done = true;
            return;
        }
        /* a mark may still start in the last 39 bytes */
        p->scanned = p->len - (DR_RDB_EOF_MARK_LEN - 1);
    }
    p->ready = p->scanned;
}

int dr_rdb_payload_read(void *arg, uint8_t *out, size_t len)
{
    struct dr_rdb_payload *p = arg;
    if (p->err) {
        return p->err;
    }
    for (;;) {
        if (p->ready > p->pos) {
            size_t n = DR_MIN(DR_MIN(len, p->ready - p->pos), (size_t)INT32_MAX);
            memcpy(out, p->buf + p->pos, n);
            p->pos += n;
            int rc = dr_rdb_check_update(&p->check, out, n, p->what);
            if (rc < 0) {
                return fail(p, rc);
            }
            p->received += n;
            return (int)n;
        }
        if (p->done) {
            return 0;
        }
        int rc = fill(p);
        if (rc == 0 && !p->header_done) {
            rc = parse_header(p);
        }
        if (rc < 0) {
            return fail(p, rc);
        }
        if (p->header_done) {
            update_ready(p);
        }
    }
}

int dr_rdb_payload_finish(struct dr_rdb_payload *p, struct dr_rdb_info *out)
{
    if (p->err) {
        return p->err;
    }
    if (!p->done || p->ready != p->pos) {
        return dr_errorf(DR_EINTERNAL, "%s: payload checked before its end", p->what);
    }
    int rc = dr_rdb_check_final(&p->check, p->what, out);
    return rc < 0 ? fail(p, rc) : 0;
}
