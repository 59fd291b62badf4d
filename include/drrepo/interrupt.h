/* interrupt.h: the signal flag (STYLE 1.6: the one piece of global state besides the logger and
 * the error slot). A command that can stop cleanly in the middle (restore) installs the handler
 * for SIGINT and SIGTERM around its work; the handler only sets the flag, and the engine checks
 * it between files and in its read callbacks, then unwinds through its normal error path
 * (temporary files removed, lock released by the command's exit) with DR_EINTR. A second
 * signal ends the process at once: the handler is reset after the first. */
#ifndef DR_INTERRUPT_H
#define DR_INTERRUPT_H

#include "drrepo/common.h"

/* Installs the handler for SIGINT and SIGTERM and clears the flag. */
void dr_interrupt_install(void);
/* Restores the default actions and clears the flag. */
void dr_interrupt_uninstall(void);
/* The signal that arrived since dr_interrupt_install, or 0. Async-signal-safe to read. */
int dr_interrupted(void);
/* DR_EINTR with a message naming the signal when one arrived, else 0. Any thread. */
DR_MUST_CHECK int dr_interrupt_check(void);

#endif
