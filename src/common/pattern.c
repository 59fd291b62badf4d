/* pattern.c: the glob rule of pattern.h.
 *
 * Our own matcher rather than fnmatch(3): fnmatch has no "**", and its case folding
 * (FNM_CASEFOLD) is a GNU extension. Matching works on components in place (no copies, no
 * allocation): a component is the text up to the next '/' or the end. "**" is tried against
 * every number of components by recursion; patterns have few "**", so the search stays small. */
#include "drrepo/pattern.h"

#include <stdint.h>
#include <string.h>

/* End of the component starting at s: the next '/' or the terminating NUL. */
static const char *comp_end(const char *s)
{
    while (*s && *s != '/') {
        s++;
    }
    return s;
}

/* Start of the component after the one ending at e (skips repeated '/'). */
static const char *comp_next(const char *e)
{
    while (*e == '/') {
        e++;
    }
    return e;
}

static int fold(int c, unsigned flags)
{
    if ((flags & DR_PATTERN_ICASE) && c >= 'A' && c <= 'Z') {
        return c - 'A' + 'a';
    }
    return c;
}

/* Matches the bracket expression at *pp (just after '[') against c; advances *pp past the ']'.
 * Returns -1 when the bracket is not closed before pe (then '[' is a literal). */
static int bracket(const char **pp, const char *pe, int c, unsigned flags)
{
    const char *p = *pp;
    bool neg = p < pe && (*p == '!' || *p == '^');
    if (neg) {
        p++;
    }
    bool hit = false;
    bool first = true;
    while (p < pe && (*p != ']' || first)) {
        first = false;
        int lo = (unsigned char)*p;
        if (*p == '\\' && p + 1 < pe) {
            lo = (unsigned char)*++p;
        }
        p++;
        int hi = lo;
        if (p + 1 < pe && *p == '-' && p[1] != ']') {
            p++;
            hi = (unsigned char)*p;
            if (*p == '\\' && p + 1 < pe) {
                hi = (unsigned char)*++p;
            }
            p++;
        }
        int fc = fold(c, flags);
        if ((c >= lo && c <= hi) || (fc >= fold(lo, flags) && fc <= fold(hi, flags))) {
            hit = true;
        }
    }
    if (p >= pe) {
        return -1;
    }
    *pp = p + 1;
    return hit != neg;
}

/* Does the pattern component [p, pe) match the name [s, se)? */
static bool comp_match(const char *p, const char *pe, const char *s, const char *se, unsigned flags)
{
    const char *star_p = NULL, *star_s = NULL;
    while (s < se) {
        if (p < pe && *p == '*') {
            while (p < pe && *p == '*') {
                p++;
            }
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < pe) {
            const char *q = p;
            bool ok;
            if (*q == '?') {
                ok = true;
                q++;
            } else if (*q == '[') {
                q++;
                int b = bracket(&q, pe, (unsigned char)*s, flags);
                if (b < 0) { /* an unclosed '[' is itself */
                    q = p + 1;
                    ok = *s == '[';
                } else {
                    ok = b == 1;
                }
            } else {
                if (*q == '\\' && q + 1 < pe) {
                    q++;
                }
                ok = fold((unsigned char)*q, flags) == fold((unsigned char)*s, flags);
                q++;
            }
            if (ok) {
                p = q;
                s++;
                continue;
            }
        }
        if (!star_p) {
            return false;
        }
        p = star_p; /* let the last '*' take one more character */
        s = ++star_s;
    }
    while (p < pe && *p == '*') {
        p++;
    }
    return p == pe;
}

static bool is_globstar(const char *p, const char *pe)
{
    return pe - p == 2 && p[0] == '*' && p[1] == '*';
}

/* Does the pattern from component p match the path from component s to its end? */
static bool match_from(const char *p, const char *s, unsigned flags)
{
    for (;;) {
        if (!*p) {
            return !*s;
        }
        const char *pe = comp_end(p);
        if (is_globstar(p, pe)) {
            const char *np = comp_next(pe);
            for (const char *t = s;; t = comp_next(comp_end(t))) {
                if (match_from(np, t, flags)) {
                    return true;
                }
                if (!*t) {
                    return false;
                }
            }
        }
        if (!*s) {
            return false;
        }
        const char *se = comp_end(s);
        if (!comp_match(p, pe, s, se, flags)) {
            return false;
        }
        p = comp_next(pe);
        s = comp_next(se);
    }
}

bool dr_pattern_match_flags(const char *pat, const char *path, unsigned flags)
{
    bool anchored = *pat == '/';
    const char *p = comp_next(pat);
    const char *s = comp_next(path);
    if (!*p) {
        return false; /* "" and "/" match nothing: a pattern names something */
    }
    if (anchored) {
        return match_from(p, s, flags);
    }
    for (;; s = comp_next(comp_end(s))) {
        if (match_from(p, s, flags)) {
            return true;
        }
        if (!*s) {
            return false;
        }
    }
}

bool dr_pattern_match(const char *pat, const char *path)
{
    return dr_pattern_match_flags(pat, path, 0);
}

bool dr_pattern_match_any(char *const *pats, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        if (dr_pattern_match(pats[i], path)) {
            return true;
        }
    }
    return false;
}

bool dr_pattern_may_match_below(const char *pat, const char *dir)
{
    if (*pat != '/') {
        return true;
    }
    const char *p = comp_next(pat);
    const char *s = comp_next(dir);
    for (;;) {
        if (!*p) {
            return false; /* the pattern ends at or above dir */
        }
        const char *pe = comp_end(p);
        if (is_globstar(p, pe)) {
            return true;
        }
        if (!*s) {
            return true; /* dir matched a prefix; the rest of the pattern lies below */
        }
        const char *se = comp_end(s);
        if (!comp_match(p, pe, s, se, 0)) {
            return false;
        }
        p = comp_next(pe);
        s = comp_next(se);
    }
}
