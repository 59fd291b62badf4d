/* redis_payload.c: the SYNC payload framing parser (see redis_int.h). No I/O of its own: bytes
 * come from a transport callback, so every framing case can be tested with scripted byte streams.
 *
 * In the diskless form the length is unknown and the file is followed by a 40-byte mark, so the
 * last 39 bytes received can never be handed on until more data shows that no mark starts among
 * them; the mark is searched at every offset (not only at the end of a read, as Redis's replica
 * does) so that bytes the server sends after the mark cannot hide it. The file's own validation
 * (header, EOF opcode, CRC-64) is the RDB layer's (dr_rdb_check). */
#include "redis_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

#define LINE_MAX_LEN 1024

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
