/* proc.h: child processes that a drill starts and must stop: spawning with stdio redirected,
 * polling, stopping with a grace period (a polite signal first, SIGKILL last), and the tail of a
 * log file that says why a server would not start.
 *
 * Whoever spawns a process stops it: dr_proc_stop on every path, which also reaps it, so no
 * process is left running or as a zombie. */
#ifndef DR_PROC_H
#define DR_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "drrepo/common.h"

struct dr_proc_spec {
    const char *file;  /* the program: a path, or a name looked up on PATH when search_path */
    char *const *argv; /* argv[0] included, NULL-terminated */
    bool search_path;
    char *const *envp; /* the environment; NULL: ours */
    const char *dir;   /* the working directory; NULL: ours */
    const char *log;   /* stdout and stderr go to this file (created 0600, truncated); when NULL,
                          stdout goes to /dev/null (or is kept: keep_stdout) and stderr is kept */
    bool keep_stdout;
    bool own_group;   /* a process group of its own: dr_proc_stop kills the whole group last */
    bool switch_user; /* run as uid/gid with user's supplementary groups (the log is chowned) */
    uid_t uid;
    gid_t gid;
    const char *user;
};

struct dr_proc {
    pid_t pid; /* > 0 while the process may run; -1 once it has been reaped */
    bool own_group;
    int status;     /* wait status, once reaped */
    int exec_errno; /* != 0 when the program could not be started (see dr_proc_spawn) */
};

/* Starts spec's program with stdin from /dev/null. Errors: DR_EIO (cannot create or chown the
 * log), DR_EINTERNAL (fork failed). When the program cannot be executed (or the identity switch
 * fails, or the working directory cannot be entered) the child exits with status 127 (126), as a
 * shell's would: dr_proc_spawn still returns 0, with p->exec_errno set to the reason and p reaped
 * (pid -1, status that exit), so callers choose whether that is an error or a failed check. */
DR_MUST_CHECK int dr_proc_spawn(const struct dr_proc_spec *spec, struct dr_proc *p);

/* Has the process exited? 1 (reaped, status in p->status), or 0 while it runs. */
int dr_proc_poll(struct dr_proc *p);

/* Waits for the process to exit and returns its wait status (p->status). */
int dr_proc_wait(struct dr_proc *p);

/* Sends sigs[0], waits up to grace_ns for the process to exit, then sigs[1], and so on (end the
 * list with SIGKILL). When it has exited, a process of its own group has the rest of the group
 * killed too (stray children of a killed server). Returns the wait status, or -1 when it is still
 * running after the last signal's grace (pid stays set). Does nothing (returns p->status) for a
 * process already reaped. */
int dr_proc_stop(struct dr_proc *p, const int *sigs, size_t nsigs, int64_t grace_ns);

/* "exited with status N", "was killed by signal N (NAME)" or "stopped". */
void dr_proc_describe(int status, char *out, size_t outlen);

/* The last lines of a log file (at most max_lines non-empty lines out of its last 64 KiB)
 * joined with " / ". When marks (NULL-terminated) is set and some lines contain a mark, only
 * those are taken: the FATAL lines say more than whatever came last. Returns NULL when the file
 * cannot be read, "" when it has no lines; free() the result. */
char *dr_proc_log_tail(const char *path, unsigned max_lines, const char *const *marks);

/* True when no process with this pid runs on this host (kill(pid, 0) fails with ESRCH): a
 * leftover named after its writer's pid (a temporary file, a working set) is then stale. A pid
 * out of range is not taken as gone. */
bool dr_proc_gone(long pid);

#endif
