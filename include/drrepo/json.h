/* json.h: a small JSON writer into a struct dr_buf.
 *
 * The writer places the commas and colons; callers say what comes next. Strings are escaped in
 * full: '"' and '\\' with a backslash, bytes below 0x20 as \u00xx, and every byte that is not
 * part of valid UTF-8 (stray continuation bytes, overlong forms, surrogates, truncated
 * sequences) as \ufffd, one per byte, so any C string gives valid JSON and the same input always
 * gives the same output. Errors are sticky: after the first failure (the buffer's cap) the calls
 * do nothing and dr_json_finish returns it. */
#ifndef DR_JSON_H
#define DR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drrepo/buf.h"

#define DR_JSON_DEPTH 32

struct dr_json {
    struct dr_buf *b;
    int rc;
    unsigned depth;
    bool more[DR_JSON_DEPTH]; /* per open level: a value was written, the next needs a comma */
    bool after_key;
};

void dr_json_init(struct dr_json *j, struct dr_buf *b);
/* The first error, or 0; DR_EINTERNAL when objects or arrays are left open (or closed too
 * often). */
DR_MUST_CHECK int dr_json_finish(struct dr_json *j);

void dr_json_begin_object(struct dr_json *j);
void dr_json_end_object(struct dr_json *j);
void dr_json_begin_array(struct dr_json *j);
void dr_json_end_array(struct dr_json *j);
void dr_json_key(struct dr_json *j, const char *key);

/* A string value; NULL writes null. */
void dr_json_string(struct dr_json *j, const char *s);
void dr_json_u64(struct dr_json *j, uint64_t v);
void dr_json_i64(struct dr_json *j, int64_t v);
/* v with a fixed number of decimals ("%.*f"). */
void dr_json_fixed(struct dr_json *j, double v, int decimals);
void dr_json_bool(struct dr_json *j, bool v);
void dr_json_null(struct dr_json *j);

/* key and value in one call. */
void dr_json_kstring(struct dr_json *j, const char *key, const char *s);
void dr_json_ku64(struct dr_json *j, const char *key, uint64_t v);
void dr_json_ki64(struct dr_json *j, const char *key, int64_t v);
void dr_json_kfixed(struct dr_json *j, const char *key, double v, int decimals);
void dr_json_kbool(struct dr_json *j, const char *key, bool v);

/* Appends s as one escaped JSON string (quotes included) to b. */
DR_MUST_CHECK int dr_json_escape(struct dr_buf *b, const char *s);

/* Is s valid UTF-8 by the rules above (every byte passed through by dr_json_escape)? */
bool dr_json_utf8_valid(const char *s);

/* Names from the file system and the command line are bytes, not text: the JSON string of one
 * that is not valid UTF-8 has \ufffd where the bad bytes were, which cannot be turned back. So
 * these write, beside the string, a sibling "<key>_bytes" holding the exact bytes in base64
 * (RFC 4648 with padding) when, and only when, the string is not valid UTF-8: a script uses
 * "<key>_bytes" when it is there and "<key>" otherwise (docs/JSON.md).
 *
 * dr_json_kname: "key": s[, "key_bytes": base64(s)]. dr_json_knames: "key": [v...], and when
 * any of v is not valid UTF-8, "key_bytes": [...] of the same length, base64 for those and null
 * for the others. */
void dr_json_kname(struct dr_json *j, const char *key, const char *s);
void dr_json_knames(struct dr_json *j, const char *key, const char *const *v, size_t n);

#endif
