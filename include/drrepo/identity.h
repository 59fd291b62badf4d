/* identity.h: who and where this process runs: the host name and the user name recorded in
 * snapshots, key files, locks and drill results, and the home directory. */
#ifndef DR_IDENTITY_H
#define DR_IDENTITY_H

#include "drrepo/common.h"

/* Writes the host name into out (len bytes, always NUL-terminated, cut if longer), or unknown
 * when the system cannot tell. */
void dr_identity_host(char *out, size_t len, const char *unknown);
/* Writes the login name of the real user into out (as dr_identity_host), or unknown when the
 * user has no passwd entry. */
void dr_identity_user(char *out, size_t len, const char *unknown);
/* The home directory of the real user from the passwd database, or NULL (free() it). */
char *dr_identity_home(void);

#endif
