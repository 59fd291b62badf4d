/* pattern.h: the one glob rule for paths, used by snapshot --exclude and restore --include.
 *
 * A pattern without '/' is matched (fnmatch, no flags) against the last component of the path;
 * a pattern with '/' is matched against the whole path with FNM_PATHNAME, so that '*' does not
 * cross a '/'. */
#ifndef DR_PATTERN_H
#define DR_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

bool dr_pattern_match(const char *pat, const char *path);

/* True when one of the n patterns matches path. */
bool dr_pattern_match_any(char *const *pats, size_t n, const char *path);

#endif
