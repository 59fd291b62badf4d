/* rdb.h: the RDB file as a whole: Redis's CRC-64 (crc64.c) and the validator of a whole file
 * (rdbcheck.c), used by the Redis source while it streams and by the drill. Records inside the
 * file are rdbrec.h's; storing them is rdbstore.h's. */
#ifndef DR_RDB_H
#define DR_RDB_H

#include "drrepo/common.h"

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

#endif
