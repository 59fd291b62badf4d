/* pattern.h: the one glob rule for paths, used by snapshot --exclude/--iexclude and restore
 * --include/--exclude.
 *
 * A pattern is a sequence of components separated by '/'. In a component, '*' matches any run of
 * characters but '/', '?' one character but '/', "[...]" one character of a set ("[a-c]",
 * "[!a-c]" or "[^a-c]" for its complement), and '\' makes the next character literal. A component
 * that is exactly "**" matches any number of whole components, none included. A leading '/'
 * anchors the pattern at the root of the path; a pattern without it matches the last components
 * of the path at any depth ("*.log", "u/cache" both match "/home/u/cache" as "u/cache" does). A
 * pattern always matches whole components up to the end of the path: "/srv" matches "/srv" and
 * not "/srv/x" (excluding or including a directory covers what is below it because the walkers
 * and dr_restore_included treat a matched directory as a whole). A trailing '/' is ignored.
 *
 * The functions allocate nothing and cannot fail. */
#ifndef DR_PATTERN_H
#define DR_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define DR_PATTERN_ICASE 0x1u /* ASCII letters match either case (--iexclude) */

bool dr_pattern_match(const char *pat, const char *path);
bool dr_pattern_match_flags(const char *pat, const char *path, unsigned flags);

/* True when one of the n patterns matches path. */
bool dr_pattern_match_any(char *const *pats, size_t n, const char *path);

/* True when some path strictly below the directory dir could match pat, so that a walker that
 * looks for matches of pat must enter dir: always for an unanchored pattern, and for an anchored
 * one when dir's components match a prefix of the pattern's ("/srv/ * /out" enters "/srv" and
 * "/srv/x", not "/home"; a "**" enters everything below the components before it). */
bool dr_pattern_may_match_below(const char *pat, const char *dir);

#endif
