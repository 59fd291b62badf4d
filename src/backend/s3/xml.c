/* xml.c: the two S3 response bodies drrepo reads.
 *
 * Not an XML parser: S3 answers in a fixed, flat vocabulary (ListBucketResult with Contents,
 * Key, Size, IsTruncated, NextContinuationToken; Error with Code and Message), and finding
 * those elements by name is all that is needed. drrepo's dependencies are fixed (no XML
 * library), and a scanner of named elements is small enough to bounds-check line by line; every
 * read below is against the span's length, and the fuzz target tests/fuzz/s3xml_fuzz.c runs it
 * on hostile bodies. Text is entity-decoded (the five named entities and numeric references,
 * which S3 uses for '&', '<' and control-free names); CDATA and comments do not occur in these
 * documents and make the element malformed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drrepo/error.h"
#include "s3_int.h"

/* A document's element text is bounded: object keys are at most 1 KiB, tokens a few hundred
 * bytes. */
#define XML_TEXT_MAX 4096

struct span {
    const char *p;
    size_t n;
};

/* Finds the next element <tag ...>text</tag> (or <tag/>) in s at or after *pos and sets text to
 * what is between its tags. Returns 1 when found (and moves *pos past it), 0 when there is none,
 * DR_ECORRUPT when one starts but does not end. */
static int next_elem(struct span s, size_t *pos, const char *tag, struct span *text)
{
    size_t tl = strlen(tag);
    size_t i = *pos;
    while (i < s.n) {
        const char *lt = memchr(s.p + i, '<', s.n - i);
        if (!lt) {
            return 0;
        }
        i = (size_t)(lt - s.p);
        size_t j = i + 1 + tl; /* just past the name */
        if (j >= s.n || memcmp(lt + 1, tag, tl) != 0 ||
            !(s.p[j] == '>' || s.p[j] == '/' || s.p[j] == ' ' || s.p[j] == '\t' || s.p[j] == '\r' ||
              s.p[j] == '\n')) {
            i++;
            continue;
        }
        const char *gt = memchr(s.p + j, '>', s.n - j);
        if (!gt) {
            return DR_ECORRUPT;
        }
        size_t k = (size_t)(gt - s.p); /* k >= j >= 1 */
        if (s.p[k - 1] == '/') {
            text->p = s.p + k + 1;
            text->n = 0;
            *pos = k + 1;
            return 1;
        }
        size_t start = k + 1;
        for (size_t c = start; c < s.n;) {
            const char *close = memchr(s.p + c, '<', s.n - c);
            if (!close) {
                break;
            }
            c = (size_t)(close - s.p);
            if (s.n - c >= tl + 3 && close[1] == '/' && memcmp(close + 2, tag, tl) == 0 &&
                close[2 + tl] == '>') {
                text->p = s.p + start;
                text->n = c - start;
                *pos = c + tl + 3;
                return 1;
            }
            c++;
        }
        return DR_ECORRUPT;
    }
    return 0;
}

/* Appends the code point cp as UTF-8. 0, surrogates and values past U+10FFFF are refused. */
static int add_utf8(struct dr_buf *out, unsigned long cp)
{
    unsigned char u[4];
    size_t n;
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        return DR_ECORRUPT;
    }
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return dr_buf_add(out, u, n);
}

/* Decodes an entity reference starting at t.p[i] == '&' into out; *used is its length. */
static int decode_entity(struct span t, size_t i, struct dr_buf *out, size_t *used)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
    const char *p = t.p + i + 1;
    size_t left = t.n - i - 1;
    for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
        size_t nl = strlen(named[k].name);
        if (left >= nl && memcmp(p, named[k].name, nl) == 0) {
            *used = 1 + nl;
            return dr_buf_addch(out, named[k].c);
        }
    }
    if (left < 3 || p[0] != '#') {
        return DR_ECORRUPT;
    }
    bool hex = p[1] == 'x';
    unsigned long cp = 0;
    size_t d = hex ? 2 : 1, digits = 0;
    for (; d < left && p[d] != ';'; d++, digits++) {
        int v;
        char c = p[d];
        if (c >= '0' && c <= '9') {
            v = c - '0';
        } else if (hex && c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        } else if (hex && c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
        } else {
            return DR_ECORRUPT;
        }
        if (digits >= 8) {
            return DR_ECORRUPT;
        }
        cp = cp * (hex ? 16 : 10) + (unsigned long)v;
    }
    if (d >= left || digits == 0) {
        return DR_ECORRUPT;
    }
    *used = 1 + d + 1;
    return add_utf8(out, cp);
}

/* Replaces out's content with t entity-decoded. Errors: DR_ECORRUPT (a bad reference, markup
 * inside text, or text past XML_TEXT_MAX). */
static int decode_text(struct span t, struct dr_buf *out)
{
    dr_buf_reset(out);
    if (t.n > XML_TEXT_MAX) {
        return DR_ECORRUPT;
    }
    for (size_t i = 0; i < t.n;) {
        char c = t.p[i];
        int rc;
        if (c == '<' || c == '\0') {
            return DR_ECORRUPT;
        }
        if (c == '&') {
            size_t used = 0;
            rc = decode_entity(t, i, out, &used);
            i += used;
        } else {
            rc = dr_buf_addch(out, c);
            i++;
        }
        if (rc < 0) {
            return DR_ECORRUPT;
        }
    }
    return 0;
}

/* The first element tag of s: 1 when found (text set), 0 when there is none, DR_ECORRUPT when
 * one starts but does not end. */
static int first_elem(struct span s, const char *tag, struct span *text)
{
    size_t pos = 0;
    return next_elem(s, &pos, tag, text);
}

/* The decoded text of the first element tag of s into out. DR_ECORRUPT when there is none, or
 * it is malformed. */
static int elem_text(struct span s, const char *tag, struct dr_buf *out)
{
    struct span t;
    return first_elem(s, tag, &t) > 0 && decode_text(t, out) == 0 ? 0 : DR_ECORRUPT;
}

static int parse_u64(struct span t, uint64_t *out)
{
    uint64_t v = 0;
    if (t.n == 0 || t.n > 20) {
        return DR_ECORRUPT;
    }
    for (size_t i = 0; i < t.n; i++) {
        if (t.p[i] < '0' || t.p[i] > '9') {
            return DR_ECORRUPT;
        }
        uint64_t d = (uint64_t)(t.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return DR_ECORRUPT;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int bad_listing(const char *what, const char *why)
{
    return dr_errorf(DR_ECORRUPT, "%s: the server's listing is malformed: %s", what, why);
}

int dr_s3_xml_list(const char *doc, size_t len, const char *what, dr_s3_key_cb cb, void *arg,
                   bool *out_truncated, struct dr_buf *token)
{
    struct span s = {doc, len}, body, t;
    int rc = first_elem(s, "ListBucketResult", &body);
    if (rc <= 0) {
        return bad_listing(what, "no ListBucketResult element");
    }
    struct dr_buf key = DR_BUF_INIT(XML_TEXT_MAX + 1);
    *out_truncated = false;
    dr_buf_reset(token);
    rc = first_elem(body, "IsTruncated", &t);
    if (rc < 0) {
        rc = bad_listing(what, "IsTruncated");
        goto out;
    }
    if (rc > 0) {
        *out_truncated = t.n == 4 && memcmp(t.p, "true", 4) == 0;
    }
    rc = first_elem(body, "NextContinuationToken", &t);
    if (rc < 0 || (rc > 0 && decode_text(t, token) < 0)) {
        rc = bad_listing(what, "NextContinuationToken");
        goto out;
    }
    if (*out_truncated && token->len == 0) {
        rc = bad_listing(what, "truncated without a continuation token");
        goto out;
    }
    size_t p = 0;
    struct span contents;
    while ((rc = next_elem(body, &p, "Contents", &contents)) > 0) {
        uint64_t size = 0;
        if (elem_text(contents, "Key", &key) < 0 || key.len == 0) {
            rc = bad_listing(what, "an object without a readable Key");
            goto out;
        }
        if (first_elem(contents, "Size", &t) <= 0 || parse_u64(t, &size) < 0) {
            rc = bad_listing(what, "an object without a readable Size");
            goto out;
        }
        rc = cb(arg, key.buf, size);
        if (rc < 0) {
            goto out;
        }
    }
    if (rc < 0) {
        rc = bad_listing(what, "an unterminated Contents element");
    }
out:
    dr_buf_release(&key);
    return rc < 0 ? rc : 0;
}

/* Copies the decoded text of element tag in s into out (cut to size, NUL-terminated). */
static void copy_elem(struct span s, const char *tag, char *out, size_t size)
{
    struct dr_buf b = DR_BUF_INIT(XML_TEXT_MAX + 1);
    out[0] = '\0';
    if (elem_text(s, tag, &b) == 0) {
        snprintf(out, size, "%s", b.buf);
    }
    dr_buf_release(&b);
}

void dr_s3_xml_error(const char *doc, size_t len, char *code, size_t code_size, char *msg,
                     size_t msg_size)
{
    struct span s = {doc, len}, body;
    code[0] = '\0';
    msg[0] = '\0';
    if (first_elem(s, "Error", &body) <= 0) {
        return;
    }
    copy_elem(body, "Code", code, code_size);
    copy_elem(body, "Message", msg, msg_size);
}

int dr_s3_xml_value(const char *doc, size_t len, const char *tag, const char *what,
                    struct dr_buf *out)
{
    struct span s = {doc, len};
    if (elem_text(s, tag, out) < 0) {
        return dr_errorf(DR_ECORRUPT, "%s: the server's answer has no readable %s", what, tag);
    }
    return 0;
}

/* "2026-12-02T12:00:00.000Z" (ISO 8601 in UTC, as S3 writes times) in seconds since the epoch. */
static int parse_time(struct span t, int64_t *out)
{
    char buf[40];
    if (t.n < 19 || t.n >= sizeof(buf)) {
        return DR_ECORRUPT;
    }
    memcpy(buf, t.p, t.n);
    buf[t.n] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) {
        return DR_ECORRUPT;
    }
    *out = (int64_t)timegm(&tm);
    return 0;
}

int dr_s3_xml_uploads(const char *doc, size_t len, const char *what, dr_s3_upload_cb cb, void *arg)
{
    struct span s = {doc, len}, body, up, t;
    if (first_elem(s, "ListMultipartUploadsResult", &body) <= 0) {
        return bad_listing(what, "no ListMultipartUploadsResult element");
    }
    struct dr_buf key = DR_BUF_INIT(XML_TEXT_MAX + 1), id = DR_BUF_INIT(XML_TEXT_MAX + 1);
    size_t p = 0;
    int rc;
    while ((rc = next_elem(body, &p, "Upload", &up)) > 0) {
        int64_t when = 0;
        if (elem_text(up, "Key", &key) < 0 || key.len == 0) {
            rc = bad_listing(what, "an upload without a readable Key");
            goto out;
        }
        if (elem_text(up, "UploadId", &id) < 0 || id.len == 0) {
            rc = bad_listing(what, "an upload without a readable UploadId");
            goto out;
        }
        if (first_elem(up, "Initiated", &t) <= 0 || parse_time(t, &when) < 0) {
            rc = bad_listing(what, "an upload without a readable Initiated time");
            goto out;
        }
        rc = cb(arg, key.buf, id.buf, when);
        if (rc < 0) {
            goto out;
        }
    }
    if (rc < 0) {
        rc = bad_listing(what, "an unterminated Upload element");
    }
out:
    dr_buf_release(&key);
    dr_buf_release(&id);
    return rc < 0 ? rc : 0;
}
