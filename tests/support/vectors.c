/* vectors.c: the vector file reader of the format tests (see vectors.h). */
#include "vectors.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/id.h"
#include "drrepo/mem.h"

void vfile_load(struct vfile *v, const char *name)
{
    const char *src = getenv("DR_SRC");
    char *path = dr_xasprintf("%s/format/vectors/%s", src && *src ? src : ".", name);
    dr_buf_init(&v->text, 64u << 20);
    v->lines = NULL;
    v->n = v->alloc = 0;
    if (dr_fs_read_file(path, &v->text) < 0) {
        fail_msg("cannot read %s: %s (set DR_SRC to the source tree)", path, dr_error_msg());
    }
    free(path);
    char *p = v->text.buf;
    while (*p) {
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        if (eol) {
            *eol = '\0';
        }
        if (*p != '#' && *p != '\0') {
            struct vline l = {.ntok = 0};
            char *q = p;
            while (*q && l.ntok < VEC_MAX_TOKENS) {
                while (*q == ' ' || *q == '\t' || *q == '\r') {
                    *q++ = '\0';
                }
                if (!*q) {
                    break;
                }
                l.tok[l.ntok++] = q;
                while (*q && *q != ' ' && *q != '\t' && *q != '\r') {
                    q++;
                }
            }
            DR_GROW(v->lines, v->alloc, v->n + 1);
            v->lines[v->n++] = l;
        }
        p = next;
    }
}

void vfile_free(struct vfile *v)
{
    dr_buf_release(&v->text);
    free(v->lines);
}

const char *vget(const struct vfile *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->lines[i].ntok >= 2 && strcmp(v->lines[i].tok[0], name) == 0) {
            return v->lines[i].tok[1];
        }
    }
    fail_msg("vector field '%s' missing", name);
    return NULL;
}

void unhex_buf(const char *s, struct dr_buf *b)
{
    if (strcmp(s, "-") == 0) {
        return;
    }
    size_t n = strlen(s) / 2;
    assert_int_equal(dr_buf_grow(b, n), 0);
    if (strlen(s) % 2 || !dr_hex_decode(s, (uint8_t *)b->buf + b->len, n)) {
        fail_msg("bad hex: %.80s", s);
    }
    dr_buf_setlen(b, b->len + n);
}

void unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n || !dr_hex_decode(s, out, n)) {
        fail_msg("bad hex of %zu bytes: %.80s", n, s);
    }
}
