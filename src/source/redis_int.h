/* redis_int.h: the parts of the Redis source that need no server, so that unit tests and the
 * drill can use them: Redis's CRC-64 (crc64.c), the RDB validator and the SYNC payload framing
 * parser (rdb.c). The network side (hiredis, AUTH, INFO, SYNC) is in redis.c.
 *
 * The payload parser is a reader over a reader: it is fed by a transport callback (the socket in
 * redis.c, scripted byte streams in tests/unit/source/test_redis_payload.c) and returns the bytes
 * of the RDB file, without the framing, while it validates them. */
#ifndef DR_SOURCE_REDIS_INT_H
#define DR_SOURCE_REDIS_INT_H

#include "drrepo/rdb.h"
#include "drrepo/source.h"

/* ---- the SYNC payload ----
 *
 * After SYNC the server sends, possibly after "\n" keep-alives and (PSYNC-style servers) a
 * "+FULLRESYNC <replid> <offset>" line, either "$<len>\r\n" and len bytes, or (diskless)
 * "$EOF:<40-byte mark>\r\n", the file, and the mark again. A line starting with '-' is an error
 * from the server. */
#define DR_RDB_EOF_MARK_LEN 40
#define DR_RDB_PAYLOAD_BUF (256u * 1024)

struct dr_rdb_payload {
    dr_stream_read_fn raw; /* the transport: > 0 bytes, 0 when the peer closed, < 0 error */
    void *raw_arg;
    const char *what; /* the server, for messages ("redis server '127.0.0.1:6379'") */
    int err;          /* sticky: the first error */
    bool header_done, eof_form, done;
    uint64_t expected, remaining; /* $len form */
    uint8_t mark[DR_RDB_EOF_MARK_LEN];
    uint8_t *buf; /* DR_RDB_PAYLOAD_BUF: [pos, ready) may be returned, [ready, len) held back */
    size_t pos, ready, len, scanned;
    uint64_t received; /* payload bytes returned so far */
    uint64_t keepalives;
    char fullresync_id[41];
    char fullresync_offset[24];
    struct dr_rdb_check check;
};

/* raw and what must outlive p. */
void dr_rdb_payload_init(struct dr_rdb_payload *p, dr_stream_read_fn raw, void *raw_arg,
                         const char *what);
void dr_rdb_payload_release(struct dr_rdb_payload *p);
/* A dr_stream_read_fn (arg = struct dr_rdb_payload *): the bytes of the RDB file, 0 at its end.
 * Errors: DR_ENET (the connection was cut: the message says after how many bytes), DR_ESOURCE
 * (an error reply, a bad header line, bad magic, bad end mark), the transport's errors. */
DR_MUST_CHECK int dr_rdb_payload_read(void *arg, uint8_t *buf, size_t len);
/* After dr_rdb_payload_read returned 0: validates the file's end and checksum (dr_rdb_check_final)
 * and fills out. Errors: DR_ESOURCE; DR_EINTERNAL when called before the end. */
DR_MUST_CHECK int dr_rdb_payload_finish(struct dr_rdb_payload *p, struct dr_rdb_info *out);

#endif
