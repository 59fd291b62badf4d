/* proc.c: spawning, stopping and log tails of the servers a drill starts (see proc.h).
 *
 * The child reports a failed exec through a close-on-exec pipe: the parent reads EOF when the
 * exec succeeded, or the errno when it did not, so a missing binary is known at once rather
 * than from a later poll. */
#include "drrepo/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

#define POLL_NS 20000000LL /* how often dr_proc_stop looks */
#define TAIL_BYTES 65536

extern char **environ;

static void child_fail(int fd, int code)
{
    int e = errno;
    if (write(fd, &e, sizeof(e)) < 0) {
        /* nothing to do: the exit status says it */
    }
    _exit(code);
}

int dr_proc_spawn(const struct dr_proc_spec *spec, struct dr_proc *p)
{
    memset(p, 0, sizeof(*p));
    p->pid = -1;
    p->own_group = spec->own_group;
    int logfd = -1;
    if (spec->log) {
        logfd = open(spec->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (logfd < 0) {
            return dr_error_errno(DR_EIO, "cannot create '%s'", spec->log);
        }
        if (spec->switch_user && fchown(logfd, spec->uid, spec->gid) < 0) {
            close(logfd);
            return dr_error_errno(DR_EIO, "cannot chown '%s'", spec->log);
        }
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        if (logfd >= 0) {
            close(logfd);
        }
        return dr_error_errno(DR_EINTERNAL, "cannot create a pipe for '%s'", spec->file);
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        if (logfd >= 0) {
            close(logfd);
        }
        return dr_error_errno(DR_EINTERNAL, "cannot fork for '%s'", spec->file);
    }
    if (pid == 0) {
        if (spec->own_group) {
            setpgid(0, 0); /* the server and every child of it can be stopped at once */
        }
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        if (logfd >= 0) {
            dup2(logfd, 1);
            dup2(logfd, 2);
        } else if (devnull >= 0 && !spec->keep_stdout) {
            dup2(devnull, 1);
        }
        if (spec->switch_user && (setgid(spec->gid) < 0 || initgroups(spec->user, spec->gid) < 0 ||
                                  setuid(spec->uid) < 0)) {
            child_fail(pfd[1], 126);
        }
        if (spec->dir && chdir(spec->dir) < 0) {
            child_fail(pfd[1], 127);
        }
        char *const *envp = spec->envp ? spec->envp : environ;
        if (spec->search_path) {
            execvpe(spec->file, spec->argv, envp);
        } else {
            execve(spec->file, spec->argv, envp);
        }
        child_fail(pfd[1], 127);
    }
    if (spec->own_group) {
        setpgid(pid, pid);
    }
    close(pfd[1]);
    if (logfd >= 0) {
        close(logfd);
    }
    p->pid = pid;
    int e = 0;
    ssize_t n;
    while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR) {
    }
    close(pfd[0]);
    if (n == (ssize_t)sizeof(e)) {
        while (waitpid(pid, &p->status, 0) < 0 && errno == EINTR) {
        }
        p->pid = -1;
        p->exec_errno = e ? e : EIO;
    }
    return 0;
}

int dr_proc_poll(struct dr_proc *p)
{
    if (p->pid <= 0) {
        return 1;
    }
    pid_t w = waitpid(p->pid, &p->status, WNOHANG);
    if (w == p->pid || (w < 0 && errno != EINTR)) {
        p->pid = -1;
        return 1;
    }
    return 0;
}

int dr_proc_wait(struct dr_proc *p)
{
    while (p->pid > 0) {
        pid_t w = waitpid(p->pid, &p->status, 0);
        if (w == p->pid || (w < 0 && errno != EINTR)) {
            p->pid = -1;
        }
    }
    return p->status;
}

int dr_proc_stop(struct dr_proc *p, const int *sigs, size_t nsigs, int64_t grace_ns)
{
    if (p->pid <= 0) {
        return p->status;
    }
    pid_t pid = p->pid;
    for (size_t i = 0; i < nsigs; i++) {
        kill(pid, sigs[i]);
        int64_t end = dr_mono_ns() + grace_ns;
        for (;;) {
            if (dr_proc_poll(p)) {
                if (p->own_group) {
                    kill(-pid, SIGKILL); /* stray children of a killed server */
                }
                return p->status;
            }
            if (dr_mono_ns() > end) {
                break;
            }
            struct timespec ts = {0, POLL_NS};
            nanosleep(&ts, NULL);
        }
    }
    return -1;
}

void dr_proc_describe(int status, char *out, size_t outlen)
{
    if (WIFEXITED(status)) {
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(out, outlen, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(out, outlen, "stopped");
    }
}

static bool has_mark(const char *line, const char *const *marks)
{
    for (size_t i = 0; marks && marks[i]; i++) {
        if (strstr(line, marks[i])) {
            return true;
        }
    }
    return false;
}

char *dr_proc_log_tail(const char *path, unsigned max_lines, const char *const *marks)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    char *buf = dr_xmalloc(TAIL_BYTES + 1);
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > TAIL_BYTES ? end - TAIL_BYTES : 0;
    ssize_t n = pread(fd, buf, TAIL_BYTES, from);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    /* the lines, non-empty, in order; marked ones counted */
    size_t nl = 0, alloc = 0, nmarked = 0;
    char **lines = NULL;
    for (char *q = buf; *q;) {
        char *e = strchr(q, '\n');
        if (e) {
            *e = '\0';
        }
        if (*q) {
            DR_GROW(lines, alloc, nl + 1);
            lines[nl++] = q;
            nmarked += has_mark(q, marks);
        }
        if (!e) {
            break;
        }
        q = e + 1;
    }
    bool only_marked = nmarked > 0;
    size_t want = DR_MIN((size_t)max_lines, only_marked ? nmarked : nl);
    char **pick = dr_xcalloc(want ? want : 1, sizeof(*pick));
    size_t k = want;
    for (size_t i = nl; i-- > 0 && k > 0;) {
        if (!only_marked || has_mark(lines[i], marks)) {
            pick[--k] = lines[i];
        }
    }
    size_t len = 1;
    for (size_t i = 0; i < want; i++) {
        len += strlen(pick[i]) + 3;
    }
    char *out = dr_xmalloc(len);
    out[0] = '\0';
    size_t at = 0;
    for (size_t i = 0; i < want; i++) {
        at += (size_t)snprintf(out + at, len - at, "%s%s", i ? " / " : "", pick[i]);
    }
    free(pick);
    free(lines);
    free(buf);
    return out;
}

bool dr_proc_gone(long pid)
{
    if (pid <= 0 || (long)(pid_t)pid != pid) {
        return false;
    }
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}
