/* vectors.h: the reader of the test vector files in format/vectors/ that the format tests share:
 * lines of whitespace-separated tokens, "#" comments, "name value" fields, hex values.
 *
 * The functions assert with cmocka, so they are called from inside tests only. */
#ifndef DR_TESTS_VECTORS_H
#define DR_TESTS_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#include "drrepo/buf.h"

#define VEC_MAX_TOKENS 8

/* One line of a vector file, split into tokens (pointers into the file's text). */
struct vline {
    char *tok[VEC_MAX_TOKENS];
    int ntok;
};

struct vfile {
    struct dr_buf text;
    struct vline *lines;
    size_t n, alloc;
};

/* Reads format/vectors/NAME of the source tree ($DR_SRC, else .); comment and empty lines are
 * left out. Fails the test when the file cannot be read. */
void vfile_load(struct vfile *v, const char *name);
void vfile_free(struct vfile *v);
/* The value (second token) of the first line whose first token is name; fails the test when
 * there is none. */
const char *vget(const struct vfile *v, const char *name);
/* Decodes exactly n bytes of hex into out; fails the test on anything else. */
void unhex(const char *s, uint8_t *out, size_t n);
/* Appends the bytes of hex s to b ("-" is empty); fails the test on bad hex. */
void unhex_buf(const char *s, struct dr_buf *b);

#endif
