/* fault.h: named fault points for crash and error tests.
 *
 * DR_FAULT_POINT("pack.before_rename") compiles to nothing unless built with -DDR_FAULTS=ON.
 * With it, the environment variable DR_FAULT="name:action" arms one point; actions are
 * "kill" (SIGKILL self, as a crash would), "exit" (_exit(99)), "enospc" (the point returns
 * DR_ENOSPC so the caller's error path runs), "fail" (the point returns DR_EIO; the caller
 * acts as if the system call it guards had failed, which reaches errors that root, who runs
 * the tests, never meets, such as a directory it cannot read) and "pause" (wait for the test:
 * DR_FAULT_PAUSE=P names a path prefix; the point creates P.paused and waits until P.go
 * exists). Tests that arm points are in tests/fault/. */
#ifndef DR_FAULT_H
#define DR_FAULT_H

#include "drrepo/common.h"

#ifdef DR_FAULTS
int dr_fault_hit(const char *name);
#define DR_FAULT_POINT(name) dr_fault_hit(name)
#else
#define DR_FAULT_POINT(name) ((void)(name), 0)
#endif

#endif
