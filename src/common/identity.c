/* identity.c: host and user names of this process (see identity.h). */
#include "drrepo/identity.h"

#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "drrepo/mem.h"

void dr_identity_host(char *out, size_t len, const char *unknown)
{
    if (gethostname(out, len) < 0) {
        snprintf(out, len, "%s", unknown);
    }
    out[len - 1] = '\0';
}

void dr_identity_user(char *out, size_t len, const char *unknown)
{
    struct passwd *pw = getpwuid(getuid());
    snprintf(out, len, "%s", pw ? pw->pw_name : unknown);
}

char *dr_identity_home(void)
{
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir ? dr_xstrdup(pw->pw_dir) : NULL;
}
