/* progress.h: what a long-running engine (snapshot, restore, check) reports as it goes; the
 * command line turns it into a progress line or JSON. */
#ifndef DR_PROGRESS_H
#define DR_PROGRESS_H

#include "drrepo/common.h"

/* Counters so far; which ones an engine fills is documented with its options. */
struct dr_progress {
    uint64_t files, dirs, bytes_read, bytes_total; /* bytes_total 0 when unknown */
    uint64_t errors;
    int64_t elapsed_ns;
    const char *current; /* path being read, valid during the callback */
};
typedef void (*dr_progress_cb)(void *arg, const struct dr_progress *p, bool final);

#endif
