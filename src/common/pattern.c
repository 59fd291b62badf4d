/* pattern.c: the glob rule of pattern.h. */
#include "drrepo/pattern.h"

#include <fnmatch.h>
#include <string.h>

bool dr_pattern_match(const char *pat, const char *path)
{
    if (strchr(pat, '/')) {
        return fnmatch(pat, path, FNM_PATHNAME) == 0;
    }
    const char *base = strrchr(path, '/');
    return fnmatch(pat, base ? base + 1 : path, 0) == 0;
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
