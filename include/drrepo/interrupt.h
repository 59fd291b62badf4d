/* interrupt.h: the signal flag (STYLE 1.6: the one piece of global state besides the logger and
 * the error slot). The command line installs the handler for SIGINT, SIGTERM and SIGHUP around
 * every command; the handler only records the signal, and the engines check it at their safe
 * points (between files, packs, snapshots, and in their read callbacks), then unwind through
 * their normal error path (temporary files removed, nothing committed, lock released by the
 * command's exit) with DR_EINTR. A second signal ends the process at once with 128 + its number:
 * a lock may then be left, owned by a dead process, which the next command on this host removes. */
#ifndef DR_INTERRUPT_H
#define DR_INTERRUPT_H

#include "drrepo/common.h"

/* Installs the handler for SIGINT, SIGTERM and SIGHUP (unless SIGHUP is ignored, as under
 * nohup) and clears the flag. */
void dr_interrupt_install(void);
/* Restores the default actions and clears the flag. */
void dr_interrupt_uninstall(void);
/* The signal that arrived since dr_interrupt_install, or 0. Async-signal-safe to read. */
int dr_interrupted(void);
/* "SIGINT", "SIGTERM", "SIGHUP" or "a signal". */
const char *dr_interrupt_name(int sig);
/* DR_EINTR with a message naming the signal when one arrived, else 0. Any thread. */
DR_MUST_CHECK int dr_interrupt_check(void);

#endif
