/* json.c: the JSON writer (see json.h), the one way drrepo writes JSON: every string escaped
 * (RFC 8259), and names that are not valid UTF-8 also as their exact bytes in base64. */
#include "drrepo/json.h"

#include <string.h>

#include "drrepo/error.h"

void dr_json_init(struct dr_json *j, struct dr_buf *b)
{
    memset(j, 0, sizeof(*j));
    j->b = b;
}

int dr_json_finish(struct dr_json *j)
{
    if (j->rc >= 0 && (j->depth != 0 || j->after_key)) {
        j->rc = dr_errorf(DR_EINTERNAL, "JSON output left unfinished");
    }
    return j->rc;
}

/* Before a value or a key: the comma, when one came before it at this level. */
static bool start_item(struct dr_json *j)
{
    if (j->rc < 0) {
        return false;
    }
    if (j->after_key) {
        j->after_key = false;
        return true;
    }
    if (j->depth > 0 && j->more[j->depth - 1]) {
        j->rc = dr_buf_addch(j->b, ',');
    }
    if (j->depth > 0) {
        j->more[j->depth - 1] = true;
    }
    return j->rc >= 0;
}

static void open_level(struct dr_json *j, char c)
{
    if (!start_item(j)) {
        return;
    }
    if (j->depth >= DR_JSON_DEPTH) {
        j->rc = dr_errorf(DR_EINTERNAL, "JSON output nested deeper than %d", DR_JSON_DEPTH);
        return;
    }
    j->more[j->depth++] = false;
    j->rc = dr_buf_addch(j->b, c);
}

static void close_level(struct dr_json *j, char c)
{
    if (j->rc < 0) {
        return;
    }
    if (j->depth == 0 || j->after_key) {
        j->rc = dr_errorf(DR_EINTERNAL, "JSON output closes what is not open");
        return;
    }
    j->depth--;
    j->rc = dr_buf_addch(j->b, c);
}

void dr_json_begin_object(struct dr_json *j)
{
    open_level(j, '{');
}

void dr_json_end_object(struct dr_json *j)
{
    close_level(j, '}');
}

void dr_json_begin_array(struct dr_json *j)
{
    open_level(j, '[');
}

void dr_json_end_array(struct dr_json *j)
{
    close_level(j, ']');
}

void dr_json_key(struct dr_json *j, const char *key)
{
    if (!start_item(j)) {
        return;
    }
    j->rc = dr_json_escape(j->b, key);
    j->rc = j->rc < 0 ? j->rc : dr_buf_addch(j->b, ':');
    j->after_key = j->rc >= 0;
}

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 when p does not start one. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c >= 0xc2 && c <= 0xdf) {
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

int dr_json_escape(struct dr_buf *b, const char *s)
{
    int rc = dr_buf_addch(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (rc >= 0 && *p) {
        if (*p == '"' || *p == '\\') {
            rc = dr_buf_addch(b, '\\');
            rc = rc < 0 ? rc : dr_buf_addch(b, *p++);
        } else if (*p < 0x20) {
            rc = dr_buf_addf(b, "\\u%04x", *p++);
        } else if (*p < 0x80) {
            rc = dr_buf_addch(b, *p++);
        } else {
            /* a NUL ends the string before a sequence is read past it: utf8_len checks the
             * continuation bytes in order and stops at the first that is not one */
            size_t n = utf8_len(p);
            if (n == 0) {
                rc = dr_buf_adds(b, "\\ufffd");
                p++;
            } else {
                rc = dr_buf_add(b, p, n);
                p += n;
            }
        }
    }
    return rc < 0 ? rc : dr_buf_addch(b, '"');
}

void dr_json_string(struct dr_json *j, const char *s)
{
    if (!s) {
        dr_json_null(j);
    } else if (start_item(j)) {
        j->rc = dr_json_escape(j->b, s);
    }
}

void dr_json_u64(struct dr_json *j, uint64_t v)
{
    if (start_item(j)) {
        j->rc = dr_buf_addf(j->b, "%llu", (unsigned long long)v);
    }
}

void dr_json_i64(struct dr_json *j, int64_t v)
{
    if (start_item(j)) {
        j->rc = dr_buf_addf(j->b, "%lld", (long long)v);
    }
}

void dr_json_fixed(struct dr_json *j, double v, int decimals)
{
    if (start_item(j)) {
        j->rc = dr_buf_addf(j->b, "%.*f", decimals, v);
    }
}

void dr_json_bool(struct dr_json *j, bool v)
{
    if (start_item(j)) {
        j->rc = dr_buf_adds(j->b, v ? "true" : "false");
    }
}

void dr_json_null(struct dr_json *j)
{
    if (start_item(j)) {
        j->rc = dr_buf_adds(j->b, "null");
    }
}

void dr_json_kstring(struct dr_json *j, const char *key, const char *s)
{
    dr_json_key(j, key);
    dr_json_string(j, s);
}

void dr_json_ku64(struct dr_json *j, const char *key, uint64_t v)
{
    dr_json_key(j, key);
    dr_json_u64(j, v);
}

void dr_json_ki64(struct dr_json *j, const char *key, int64_t v)
{
    dr_json_key(j, key);
    dr_json_i64(j, v);
}

void dr_json_kfixed(struct dr_json *j, const char *key, double v, int decimals)
{
    dr_json_key(j, key);
    dr_json_fixed(j, v, decimals);
}

void dr_json_kbool(struct dr_json *j, const char *key, bool v)
{
    dr_json_key(j, key);
    dr_json_bool(j, v);
}

bool dr_json_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : utf8_len(p);
        if (n == 0) {
            return false;
        }
        p += n;
    }
    return true;
}

/* Appends s's bytes in base64 (RFC 4648, standard alphabet, padded) as a JSON string. */
static int add_base64(struct dr_buf *b, const char *s)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    int rc = dr_buf_addch(b, '"');
    for (size_t i = 0; rc >= 0 && i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        v |= i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0;
        v |= i + 2 < n ? p[i + 2] : 0;
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        rc = dr_buf_add(b, q, sizeof(q));
    }
    return rc < 0 ? rc : dr_buf_addch(b, '"');
}

/* "<key>_bytes" */
static void bytes_key(struct dr_json *j, const char *key)
{
    struct dr_buf k = DR_BUF_INIT(1 << 16);
    int rc = dr_buf_addf(&k, "%s_bytes", key);
    if (rc < 0) {
        j->rc = j->rc < 0 ? j->rc : rc;
    } else {
        dr_json_key(j, k.buf);
    }
    dr_buf_release(&k);
}

void dr_json_kname(struct dr_json *j, const char *key, const char *s)
{
    dr_json_kstring(j, key, s);
    if (s && !dr_json_utf8_valid(s)) {
        bytes_key(j, key);
        if (start_item(j)) {
            j->rc = add_base64(j->b, s);
        }
    }
}

void dr_json_knames(struct dr_json *j, const char *key, const char *const *v, size_t n)
{
    bool raw = false;
    dr_json_key(j, key);
    dr_json_begin_array(j);
    for (size_t i = 0; i < n; i++) {
        dr_json_string(j, v[i]);
        raw |= v[i] && !dr_json_utf8_valid(v[i]);
    }
    dr_json_end_array(j);
    if (!raw) {
        return;
    }
    bytes_key(j, key);
    dr_json_begin_array(j);
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || dr_json_utf8_valid(v[i])) {
            dr_json_null(j);
        } else if (start_item(j)) {
            j->rc = add_base64(j->b, v[i]);
        }
    }
    dr_json_end_array(j);
}
