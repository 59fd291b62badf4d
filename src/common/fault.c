/* fault.c: the runtime half of DR_FAULT_POINT, compiled only with DR_FAULTS (see fault.h). */
#include "drrepo/fault.h"

#ifdef DR_FAULTS
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "drrepo/error.h"

/* "pause": a handshake through files named by $DR_FAULT_PAUSE (a path prefix), so a test can
 * run something else at exactly this point: create PREFIX.paused, wait until PREFIX.go exists
 * (at most 5 minutes, so a broken test cannot hang forever), then go on. */
static void pause_here(const char *name)
{
    const char *prefix = getenv("DR_FAULT_PAUSE");
    if (!prefix) {
        return;
    }
    char paused[4096], go[4096];
    snprintf(paused, sizeof(paused), "%s.paused", prefix);
    snprintf(go, sizeof(go), "%s.go", prefix);
    FILE *f = fopen(paused, "w");
    if (f) {
        fprintf(f, "%s\n", name);
        fclose(f);
    }
    for (int i = 0; i < 30000 && access(go, F_OK) != 0; i++) {
        usleep(10000);
    }
}

int dr_fault_hit(const char *name)
{
    const char *spec = getenv("DR_FAULT");
    if (!spec) {
        return 0;
    }
    size_t n = strlen(name);
    if (strncmp(spec, name, n) != 0 || spec[n] != ':') {
        return 0;
    }
    const char *action = spec + n + 1;
    /* "name:action:K" fires on the K-th hit in the process (1-based, across threads: packs are
     * written by the upload thread), to reach later iterations */
    static unsigned hits;
    const char *colon = strchr(action, ':');
    if (colon) {
        unsigned want = (unsigned)strtoul(colon + 1, NULL, 10);
        if (__atomic_add_fetch(&hits, 1, __ATOMIC_SEQ_CST) != want) {
            return 0;
        }
    }
    if (strncmp(action, "kill", 4) == 0) {
        kill(getpid(), SIGKILL);
    } else if (strncmp(action, "exit", 4) == 0) {
        _exit(99);
    } else if (strncmp(action, "pause", 5) == 0) {
        pause_here(name);
    } else if (strncmp(action, "enospc", 6) == 0) {
        return dr_errorf(DR_ENOSPC, "fault point '%s': no space left on device (injected)", name);
    } else if (strncmp(action, "fail", 4) == 0) {
        return dr_errorf(DR_EIO, "fault point '%s': failure (injected)", name);
    }
    return 0;
}
#else
/* keep the translation unit non-empty */
typedef int dr_fault_unused;
#endif
