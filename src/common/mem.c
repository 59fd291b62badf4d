/* mem.c: allocation that never returns NULL. drrepo cannot do anything useful once malloc
 * fails, and checking every small allocation hides the real error paths (git xmalloc). */
#include "drrepo/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static DR_NORETURN void oom(size_t n)
{
    fprintf(stderr, "drrepo: fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *dr_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        oom(n);
    }
    return p;
}

void *dr_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p) {
        oom(nmemb * size);
    }
    return p;
}

void *dr_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        oom(n);
    }
    return q;
}

void *dr_xmemdup(const void *p, size_t n)
{
    void *q = dr_xmalloc(n ? n : 1);
    memcpy(q, p, n);
    return q;
}

char *dr_xstrdup(const char *s)
{
    return dr_xstrndup(s, strlen(s));
}

char *dr_xstrndup(const char *s, size_t n)
{
    char *p = dr_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *dr_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0) {
        oom(0);
    }
    return p;
}

void dr_xgrow(void **arr, size_t *alloc, size_t need, size_t elem)
{
    if (need <= *alloc) {
        return;
    }
    size_t n = *alloc ? *alloc : 8;
    while (n < need) {
        if (__builtin_mul_overflow(n, 2, &n)) {
            oom(SIZE_MAX);
        }
    }
    size_t bytes;
    if (__builtin_mul_overflow(n, elem, &bytes)) {
        oom(SIZE_MAX);
    }
    *arr = dr_xrealloc(*arr, bytes);
    *alloc = n;
}
