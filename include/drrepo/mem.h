/* mem.h: allocation that aborts on out-of-memory (git's xmalloc), and overflow-checked sizes.
 * Sizes that come from input must be checked against format limits before they get here. */
#ifndef DR_MEM_H
#define DR_MEM_H

#include "drrepo/common.h"

void *dr_xmalloc(size_t n);
void *dr_xcalloc(size_t nmemb, size_t size);
void *dr_xrealloc(void *p, size_t n);
char *dr_xstrdup(const char *s);
char *dr_xstrndup(const char *s, size_t n);
DR_PRINTF(1, 2) char *dr_xasprintf(const char *fmt, ...);
/* A malloc'd copy of the n bytes at p. */
void *dr_xmemdup(const void *p, size_t n);

/* Grows *arr (of elements of size elem) so that it can hold at least need elements. */
void dr_xgrow(void **arr, size_t *alloc, size_t need, size_t elem);
#define DR_GROW(arr, alloc, need) dr_xgrow((void **)&(arr), &(alloc), (need), sizeof(*(arr)))

#endif
