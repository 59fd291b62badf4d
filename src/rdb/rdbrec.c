/* rdbrec.c: the RDB record splitter (see rdbrec.h and format/rdb.md).
 *
 * Every length read from the file is checked against the bytes that are left before it is used,
 * so a corrupt or hostile file can only make the walk fail, never read outside the buffer; the
 * first overrun makes the cursor sticky-failed and the walk reports it once. Nesting is bounded
 * by the format itself (no recursion here), so the depth is fixed. */
#include "drrepo/rdbrec.h"

#include "drrepo/error.h"
#include "drrepo/rdb.h"

#define OP_SLOT_INFO 0xf4 /* Redis 7.4 (RDB 12): refused with its version */
#define OP_FUNCTION2 0xf5
#define OP_FUNCTION_PRE_GA 0xf6
#define OP_MODULE_AUX 0xf7
#define OP_IDLE 0xf8
#define OP_FREQ 0xf9
#define OP_AUX 0xfa
#define OP_RESIZEDB 0xfb
#define OP_EXPIRETIME_MS 0xfc
#define OP_EXPIRETIME 0xfd
#define OP_SELECTDB 0xfe
#define OP_EOF 0xff

enum {
    T_STRING = 0,
    T_LIST = 1,
    T_SET = 2,
    T_ZSET = 3,
    T_HASH = 4,
    T_ZSET_2 = 5,
    T_MODULE_2 = 7,
    T_HASH_ZIPMAP = 9,
    T_LIST_ZIPLIST = 10,
    T_SET_INTSET = 11,
    T_ZSET_ZIPLIST = 12,
    T_HASH_ZIPLIST = 13,
    T_LIST_QUICKLIST = 14,
    T_STREAM_LISTPACKS = 15,
    T_HASH_LISTPACK = 16,
    T_ZSET_LISTPACK = 17,
    T_LIST_QUICKLIST_2 = 18,
    T_STREAM_LISTPACKS_2 = 19,
    T_SET_LISTPACK = 20,
    T_STREAM_LISTPACKS_3 = 21,
};

/* module value opcodes (RDB_MODULE_OPCODE_*) */
enum { M_EOF = 0, M_SINT = 1, M_UINT = 2, M_FLOAT = 3, M_DOUBLE = 4, M_STRING = 5 };

struct cur {
    const uint8_t *p;
    size_t len, pos;
    int err; /* sticky: the first failure */
};

static void fail(struct cur *c, int code, const char *what)
{
    if (c->err == 0) {
        c->err = dr_errorf(code, "rdb: %s at offset %zu", what, c->pos);
    }
}

static void skip(struct cur *c, uint64_t n)
{
    if (c->err) {
        return;
    }
    if (n > c->len - c->pos) {
        fail(c, DR_ECORRUPT, "truncated");
        return;
    }
    c->pos += (size_t)n;
}

static uint8_t u8(struct cur *c)
{
    if (c->err || c->pos >= c->len) {
        fail(c, DR_ECORRUPT, "truncated");
        return 0;
    }
    return c->p[c->pos++];
}

/* An RDB length (rdbLoadLen). *special is set for the string encodings (top bits 11). */
static uint64_t len_enc(struct cur *c, bool *special)
{
    uint8_t b = u8(c);
    *special = false;
    switch (b >> 6) {
    case 0: return b & 0x3f;
    case 1: return ((uint64_t)(b & 0x3f) << 8) | u8(c);
    case 2: {
        size_t w = b == 0x80 ? 4 : b == 0x81 ? 8 : 0;
        if (w == 0) {
            fail(c, DR_ECORRUPT, "bad length encoding");
            return 0;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < w; i++) {
            v = (v << 8) | u8(c);
        }
        return v;
    }
    default: *special = true; return b & 0x3f;
    }
}

static uint64_t len_plain(struct cur *c)
{
    bool special;
    uint64_t v = len_enc(c, &special);
    if (special) {
        fail(c, DR_ECORRUPT, "string encoding where a length was expected");
    }
    return v;
}

/* A string in any of its encodings: raw, integer (8/16/32 bit) or LZF. */
static void string(struct cur *c)
{
    bool special;
    uint64_t v = len_enc(c, &special);
    if (!special) {
        skip(c, v);
        return;
    }
    switch (v) {
    case 0: skip(c, 1); break;
    case 1: skip(c, 2); break;
    case 2: skip(c, 4); break;
    case 3: {
        uint64_t clen = len_plain(c);
        (void)len_plain(c); /* uncompressed length: not needed to delimit */
        skip(c, clen);
        break;
    }
    default: fail(c, DR_ECORRUPT, "bad string encoding"); break;
    }
}

/* A double as text (type ZSET): length byte, 253-255 are NaN and the infinities. */
static void text_double(struct cur *c)
{
    uint8_t l = u8(c);
    if (l < 253) {
        skip(c, l);
    }
}

/* Counted loops check that each element takes at least one byte, so that a huge count in a
 * corrupt file fails on the first overrun instead of spinning. */
static void strings(struct cur *c, uint64_t n)
{
    for (uint64_t i = 0; i < n && !c->err; i++) {
        string(c);
    }
}

/* A module value or module aux payload: typed opcodes until M_EOF. */
static void module_body(struct cur *c)
{
    for (;;) {
        uint64_t op = len_plain(c);
        if (c->err) {
            return;
        }
        switch (op) {
        case M_EOF: return;
        case M_SINT:
        case M_UINT: (void)len_plain(c); break;
        case M_FLOAT: skip(c, 4); break;
        case M_DOUBLE: skip(c, 8); break;
        case M_STRING: string(c); break;
        default: fail(c, DR_EUNSUPPORTED, "unknown module opcode"); return;
        }
    }
}

static void stream(struct cur *c, unsigned type)
{
    uint64_t nlp = len_plain(c);
    for (uint64_t i = 0; i < nlp && !c->err; i++) {
        string(c); /* node key (master id) */
        string(c); /* listpack */
    }
    for (int i = 0; i < 3; i++) {
        (void)len_plain(c); /* length, last id ms, seq */
    }
    if (type >= T_STREAM_LISTPACKS_2) {
        for (int i = 0; i < 5; i++) {
            (void)len_plain(c); /* first id, max deleted id, entries added */
        }
    }
    uint64_t ngroups = len_plain(c);
    for (uint64_t g = 0; g < ngroups && !c->err; g++) {
        string(c);          /* group name */
        (void)len_plain(c); /* last id ms */
        (void)len_plain(c); /* last id seq */
        if (type >= T_STREAM_LISTPACKS_2) {
            (void)len_plain(c); /* entries read */
        }
        uint64_t npel = len_plain(c);
        for (uint64_t k = 0; k < npel && !c->err; k++) {
            skip(c, 16 + 8);    /* raw id, delivery time */
            (void)len_plain(c); /* delivery count */
        }
        uint64_t ncons = len_plain(c);
        for (uint64_t k = 0; k < ncons && !c->err; k++) {
            string(c);                                      /* consumer name */
            skip(c, type >= T_STREAM_LISTPACKS_3 ? 16 : 8); /* seen (and active) time */
            uint64_t cpel = len_plain(c);
            for (uint64_t j = 0; j < cpel && !c->err; j++) {
                skip(c, 16);
            }
        }
    }
}

static void value(struct cur *c, unsigned type)
{
    switch (type) {
    case T_STRING:
    case T_HASH_ZIPMAP:
    case T_LIST_ZIPLIST:
    case T_SET_INTSET:
    case T_ZSET_ZIPLIST:
    case T_HASH_ZIPLIST:
    case T_HASH_LISTPACK:
    case T_ZSET_LISTPACK:
    case T_SET_LISTPACK: string(c); break;
    case T_LIST:
    case T_SET:
    case T_LIST_QUICKLIST: strings(c, len_plain(c)); break;
    case T_HASH: {
        uint64_t n = len_plain(c);
        for (uint64_t i = 0; i < n && !c->err; i++) {
            string(c);
            string(c);
        }
        break;
    }
    case T_ZSET: {
        uint64_t n = len_plain(c);
        for (uint64_t i = 0; i < n && !c->err; i++) {
            string(c);
            text_double(c);
        }
        break;
    }
    case T_ZSET_2: {
        uint64_t n = len_plain(c);
        for (uint64_t i = 0; i < n && !c->err; i++) {
            string(c);
            skip(c, 8);
        }
        break;
    }
    case T_LIST_QUICKLIST_2: {
        uint64_t n = len_plain(c);
        for (uint64_t i = 0; i < n && !c->err; i++) {
            (void)len_plain(c); /* container: plain or packed */
            string(c);
        }
        break;
    }
    case T_MODULE_2:
        (void)len_plain(c); /* module id */
        module_body(c);
        break;
    case T_STREAM_LISTPACKS:
    case T_STREAM_LISTPACKS_2:
    case T_STREAM_LISTPACKS_3: stream(c, type); break;
    default: fail(c, DR_EUNSUPPORTED, "unknown value type"); break;
    }
}

bool dr_rdbrec_magic(const uint8_t *p, size_t n)
{
    if (n < 9 || memcmp(p, "REDIS", 5) != 0) {
        return false;
    }
    for (size_t i = 5; i < 9; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
    }
    return true;
}

/* A key record begins with an optional expiry, then an optional LRU or LFU hint, then the value
 * type: given the record's first byte op, skips the prefix and returns the type. */
static uint8_t record_type(struct cur *c, uint8_t op)
{
    if (op == OP_EXPIRETIME_MS || op == OP_EXPIRETIME) {
        skip(c, op == OP_EXPIRETIME_MS ? 8 : 4);
        op = u8(c);
    }
    if (op == OP_IDLE) {
        (void)len_plain(c);
        op = u8(c);
    } else if (op == OP_FREQ) {
        skip(c, 1);
        op = u8(c);
    }
    return op;
}

bool dr_rdbrec_key(const uint8_t *rec, size_t len, size_t *key_off, size_t *key_len)
{
    struct cur c = {.p = rec, .len = len};
    uint8_t op = record_type(&c, u8(&c));
    size_t off = c.pos;
    if (op < OP_SLOT_INFO) {
        string(&c);
    }
    if (c.err || op >= OP_SLOT_INFO) {
        dr_error_clear();
        return false;
    }
    *key_off = off;
    *key_len = c.pos - off;
    return true;
}

static int emit(dr_rdbrec_fn fn, void *arg, const struct dr_rdbrec_item *it)
{
    return it->len ? fn(arg, it) : 0;
}

int dr_rdbrec_parse(const uint8_t *p, size_t len, dr_rdbrec_fn fn, void *arg)
{
    if (!dr_rdbrec_magic(p, len)) {
        return dr_errorf(DR_ECORRUPT, "rdb: no 'REDIS' header");
    }
    unsigned version = 0;
    for (size_t i = 5; i < 9; i++) {
        version = version * 10 + (unsigned)(p[i] - '0');
    }
    if (version == 0 || version > DR_RDBREC_VERSION_MAX) {
        return dr_errorf(DR_EUNSUPPORTED, "rdb: version %u is not supported", version);
    }
    struct cur c = {.p = p, .len = len, .pos = 9};
    struct dr_rdbrec_item frame = {.kind = DR_RDBREC_FRAME, .off = 0};
    uint64_t db = 0;
    int rc = 0;
    for (;;) {
        size_t start = c.pos;
        uint8_t op = u8(&c);
        if (c.err) {
            break;
        }
        if (op == OP_EOF) {
            break;
        }
        switch (op) {
        case OP_SELECTDB: db = len_plain(&c); continue;
        case OP_RESIZEDB:
            (void)len_plain(&c);
            (void)len_plain(&c);
            continue;
        case OP_AUX:
            string(&c);
            string(&c);
            continue;
        case OP_FUNCTION2: string(&c); continue;
        case OP_MODULE_AUX:
            (void)len_plain(&c); /* module id */
            module_body(&c);
            continue;
        default: break;
        }
        op = record_type(&c, op);
        if (c.err) {
            break;
        }
        if (op >= OP_SLOT_INFO) {
            fail(&c, op == OP_FUNCTION_PRE_GA || op == OP_SLOT_INFO ? DR_EUNSUPPORTED : DR_ECORRUPT,
                 "unexpected opcode");
            break;
        }
        struct dr_rdbrec_item it = {.kind = DR_RDBREC_KEY, .off = start, .db = db};
        it.key_off = c.pos;
        string(&c);
        it.key_len = c.pos - it.key_off;
        value(&c, op);
        if (c.err) {
            break;
        }
        it.len = c.pos - start;
        frame.len = start - frame.off;
        rc = emit(fn, arg, &frame);
        rc = rc < 0 ? rc : fn(arg, &it);
        if (rc < 0) {
            return rc;
        }
        frame.off = c.pos;
    }
    if (c.err) {
        return c.err;
    }
    /* the EOF opcode was read; the checksum follows from version 5 on */
    size_t end = c.pos;
    if (version >= 5) {
        skip(&c, 8);
        if (c.err) {
            return c.err;
        }
        uint64_t stored = dr_get_u64le(p + end);
        if (stored != 0 && dr_crc64(0, p, end) != stored) {
            return dr_errorf(DR_ECORRUPT, "rdb: checksum mismatch");
        }
    }
    if (c.pos != len) {
        return dr_errorf(DR_ECORRUPT, "rdb: %zu bytes after the end of the file", len - c.pos);
    }
    frame.len = len - frame.off;
    return emit(fn, arg, &frame);
}
