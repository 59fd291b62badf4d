/* rdbrec.h: the RDB record splitter (format/rdb.md "Parsing").
 *
 * A pure function over a whole RDB file in memory (the backup maps a spooled copy): it walks the
 * file once and reports it as a sequence of contiguous items that cover every byte, in order.
 * A key record (expiry, LRU/LFU hints, type, key and encoded value) is one item; everything else
 * (header, aux fields, database selectors and resize hints, function libraries, module aux data,
 * the EOF opcode and the checksum) is reported as frame items. Values are delimited, never
 * decoded: LZF strings, listpacks, ziplists and intsets are opaque strings here.
 *
 * Covers RDB versions 1 to DR_RDBREC_VERSION_MAX (Redis 7.2 writes 11) and every value type up to
 * that version, including streams with consumer groups and module values (delimited through their
 * typed opcodes). Anything else is refused so that the caller stores the file as plain bytes. */
#ifndef DR_RDBREC_H
#define DR_RDBREC_H

#include "drrepo/common.h"

#define DR_RDBREC_VERSION_MAX 11

enum dr_rdbrec_kind {
    DR_RDBREC_FRAME = 1, /* bytes that are not part of a key record */
    DR_RDBREC_KEY = 2,   /* one key record */
};

struct dr_rdbrec_item {
    uint8_t kind;
    uint64_t off, len; /* the item's bytes in the file */
    uint64_t db;       /* key records: the database selected before it */
    uint64_t key_off;  /* key records: the key as encoded (length prefix included) */
    uint64_t key_len;
};

/* Called for each item in file order; a negative return stops the walk and is returned. */
typedef int (*dr_rdbrec_fn)(void *arg, const struct dr_rdbrec_item *it);

/* True if p starts like an RDB file: "REDIS" and four digits (n >= 9). */
bool dr_rdbrec_magic(const uint8_t *p, size_t n);

/* Splits the RDB file p[0..len) into items (see above). When the version has a checksum and the
 * stored one is not zero, it is verified. Bytes after the checksum are refused.
 * Errors: DR_ECORRUPT (truncated, bad length, checksum mismatch, trailing bytes; the message gives
 * the offset), DR_EUNSUPPORTED (a version, opcode, value type or module encoding this parser does
 * not know), or fn's error. */
DR_MUST_CHECK int dr_rdbrec_parse(const uint8_t *p, size_t len, dr_rdbrec_fn fn, void *arg);

/* The key of one key record rec[0..len) as dr_rdbrec_parse delimits records (it starts with an
 * expiry, an LRU/LFU hint or the value type): its offset and length, length prefix included.
 * False when rec does not start like a key record; no error is left set. */
bool dr_rdbrec_key(const uint8_t *rec, size_t len, size_t *key_off, size_t *key_len);

#endif
