/* redis_int.h: the parts of the Redis source that need no server, so that unit tests and the
 * drill can use them: Redis's CRC-64 (crc64.c), the RDB validator and the SYNC payload framing
 * parser (rdb.c). The network side (hiredis, AUTH, INFO, SYNC) is in redis.c.
 *
 * The payload parser is a reader over a reader: it is fed by a transport callback (the socket in
 * redis.c, scripted byte streams in tests/unit/source/test_redis_payload.c) and returns the bytes
 * of the RDB file, without the framing, while it validates them. */
#ifndef DR_SOURCE_REDIS_INT_H
#define DR_SOURCE_REDIS_INT_H

#include "drrepo/backup.h"

/* ---- CRC-64/Jones as Redis computes it (src/crc64.c in Redis): reflected, polynomial
 * 0xad93d23594c935a9, initial value 0, no final xor. crc64("123456789") = 0xe9c6d914c4b8d9ca. */
uint64_t dr_crc64(uint64_t crc, const void *p, size_t len);

/* ---- RDB validation, fed in pieces of any size ----
 *
 * An RDB file starts with "REDIS" and a 4-digit version, and (version >= 5) ends with the EOF
 * opcode 0xff and an 8-byte little-endian CRC-64 of every byte before the checksum; a checksum of
 * zero means the server had rdbchecksum off. */
#define DR_RDB_HEAD_KEEP 4096 /* leading bytes kept to read the aux fields from */

struct dr_rdb_check {
    uint64_t size;
    uint64_t crc;    /* over the bytes that left the tail window */
    uint8_t tail[9]; /* the last bytes seen (EOF opcode + checksum) */
    size_t ntail;    /* valid bytes in tail */
    uint8_t head[DR_RDB_HEAD_KEEP];
    size_t nhead;
    unsigned version; /* from the header, once 9 bytes were seen */
    bool header_ok;
};

struct dr_rdb_info {
    unsigned version;
    uint64_t size;
    bool checksummed; /* false: the trailer is zero (rdbchecksum off) or the version has none */
    uint64_t crc;     /* the checksum (computed = stored) when checksummed */
    /* aux fields from the start of the file; empty when absent */
    char redis_ver[32];
    char repl_id[41];
    char repl_offset[24];
};

void dr_rdb_check_init(struct dr_rdb_check *c);
/* Feeds the next n bytes. Fails early, as soon as the header is known to be wrong.
 * Errors: DR_ESOURCE (message "not an RDB file: ..."; what names the input). */
DR_MUST_CHECK int dr_rdb_check_update(struct dr_rdb_check *c, const uint8_t *p, size_t n,
                                      const char *what);
/* Validates the end of the file (EOF opcode, checksum) and fills out.
 * Errors: DR_ESOURCE (too short, no EOF opcode, checksum mismatch; the message names what). */
DR_MUST_CHECK int dr_rdb_check_final(struct dr_rdb_check *c, const char *what,
                                     struct dr_rdb_info *out);

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
