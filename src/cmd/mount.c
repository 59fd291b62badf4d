/* mount.c: `drrepo mount MOUNTPOINT` serves every snapshot as a read-only file system
 * (src/mount/fuse.c, docs/MOUNT.md) until it is unmounted or interrupted.
 *
 * --background forks before anything else is set up. The repository, its LMDB index and the
 * lock (whose refresh thread must live in the process that holds the lock) are opened in the
 * child; a forked child inherits no threads, and LMDB environments must not cross a fork. The
 * parent waits until the child reports the file system mounted, or exits with the child's status
 * when it fails, so `drrepo mount --background M && ls M` works and errors still reach the user's
 * terminal. */
#include "cmd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/mount.h"
#include "drrepo/util.h"

#define ALTERNATIVES                                                                               \
    "\nhint: to get files out without mounting, use 'drrepo restore SNAP --target DIR --include "  \
    "PATH' or 'drrepo dump SNAP PATH' (a directory is written as a tar stream)"

struct bg {
    int fd;          /* the pipe to the waiting parent; -1 in the foreground */
    const char *log; /* --log FILE: where the daemon's messages go */
    const char *mountpoint;
};

/* Called by the file system once mounted: tells the user, and in the background releases the
 * parent and detaches from the terminal. */
static void on_ready(void *arg)
{
    struct bg *bg = arg;
    dr_log_info("mounted at '%s'; unmount with 'fusermount3 -u %s'%s", bg->mountpoint,
                bg->mountpoint, bg->fd < 0 ? " or Ctrl-C" : "");
    if (bg->fd < 0) {
        return;
    }
    if (setsid() < 0) {
        dr_log_warn("setsid: %s", strerror(errno));
    }
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    int logfd = bg->log ? open(bg->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
    if (nul >= 0) {
        dup2(nul, STDIN_FILENO);
        dup2(nul, STDOUT_FILENO);
        dup2(logfd >= 0 ? logfd : nul, STDERR_FILENO);
        close(nul);
    }
    if (logfd >= 0) {
        close(logfd);
    }
    /* the parent exits once it reads this byte */
    char ok = 'R';
    if (write(bg->fd, &ok, 1) != 1) {
        dr_log_warn("cannot tell the parent process that the mount is ready");
    }
    close(bg->fd);
    bg->fd = -1;
    if (chdir("/") < 0) {
        dr_log_warn("chdir /: %s", strerror(errno));
    }
}

/* Paths given relative to the current directory, made absolute before the daemon changes to "/".
 * Only paths that exist are changed (a repository URL stays as it is). */
static const char *absolute(const char *p, char **keep)
{
    if (!p || p[0] == '/') {
        return p;
    }
    char *abs = realpath(p, NULL);
    if (!abs) {
        return p;
    }
    *keep = abs;
    return abs;
}

/* The parent of --background: waits for "mounted" or for the child's exit. */
static int wait_child(pid_t pid, int fd)
{
    char c;
    ssize_t n;
    do {
        n = read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n == 1) {
        return 0;
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    /* the child printed its error already; end with its exit status, as if we were it */
    fflush(stdout);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

const struct dr_opt dr_cmd_mount_opts[] = {
    {"background", 0, 'b', NULL, "run as a daemon once mounted", 0, NULL},
    {"log", 0, 'l', "FILE", "with --background: append messages to FILE", 0, NULL},
    {"cache-size", 0, 'c', "SIZE", "memory for decoded chunks (at least 1M)", 0, NULL},
    {"readahead", 0, 'a', "N", "chunks read ahead of a sequential reader (up to 64)", 0, NULL},
    {"threads", 0, 'T', "N", "threads serving the file system (up to 8)", 0, NULL},
    {"allow-other", 0, 'o', NULL, "let other users see the mount (FUSE allow_other)", 0, NULL},
    {"debug-fuse", 0, 'd', NULL, "log every FUSE request", DR_OPT_HIDDEN, NULL},
    {0},
};

int dr_cmd_mount(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_mount_opts mo = {
        .cache_size = DR_MOUNT_CACHE_DEFAULT,
        .readahead = DR_MOUNT_READAHEAD_DEFAULT,
        .threads = 2,
    };
    struct bg bg = {.fd = -1};
    bool background = false;
    uint64_t v;
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case 'b': background = true; break;
        case 'c':
            if (dr_parse_size(arg, &v) < 0 || v < 1024 * 1024) {
                dr_error_clear();
                return dr_cmd_usage(ctx, "--cache-size takes a size of at least 1M, such as 64M");
            }
            mo.cache_size = v;
            break;
        case 'a':
        case 'T':
            if (dr_parse_u64(arg, &v) < 0 || v > (c == 'a' ? 64 : 8)) {
                dr_error_clear();
                return dr_cmd_usage(ctx, "%s takes a number up to %d",
                                    c == 'a' ? "--readahead" : "--threads", c == 'a' ? 64 : 8);
            }
            if (c == 'a') {
                mo.readahead = (unsigned)v;
            } else {
                mo.threads = (unsigned)v;
            }
            break;
        case 'o': mo.allow_other = true; break;
        case 'l': bg.log = arg; break;
        case 'd': mo.debug = true; break;
        default: DR_BUG("mount: an option of the table is not handled");
        }
    }
    if (argc != 1) {
        return dr_cmd_usage(ctx, "mount takes one mountpoint");
    }
    char *mp = NULL, *repo = NULL, *cache = NULL, *pwfile = NULL, *logf = NULL;
    int rc = 0;
    const char *mpath = argv[0];
    struct stat st;
    int serr = stat(mpath, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (serr) {
        rc = dr_errorf(DR_EUSAGE, "cannot mount at '%s': %s" ALTERNATIVES, mpath, strerror(serr));
        goto out;
    }
    const char *why = dr_mount_unavailable();
    if (why) {
        rc = dr_errorf(DR_EUNSUPPORTED, "cannot mount: FUSE is not available here: %s" ALTERNATIVES,
                       why);
        goto out;
    }
    mo.mountpoint = absolute(mpath, &mp);
    bg.mountpoint = mo.mountpoint;
    if (background) {
        ctx->repo = absolute(ctx->repo, &repo);
        ctx->cache_dir = absolute(ctx->cache_dir, &cache);
        ctx->password_file = absolute(ctx->password_file, &pwfile);
        bg.log = absolute(bg.log, &logf);
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            rc = dr_error_errno(DR_EIO, "cannot create a pipe");
            goto out;
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            close(p[0]);
            close(p[1]);
            rc = dr_error_errno(DR_EIO, "cannot fork");
            goto out;
        }
        if (pid > 0) {
            close(p[1]);
            rc = wait_child(pid, p[0]);
            goto out;
        }
        close(p[0]);
        bg.fd = p[1];
    }
    /* in the daemon when --background: the repository, index and lock are opened after fork.
     * The stop signals are blocked in every thread but the FUSE loop's (dr_mount_run unblocks
     * them there); the lock's refresh thread inherits the mask from here. */
    /* FUSE installs its handlers only where the action is the default one: the stop signals
     * end the FUSE loop (exit 0, as before), not the command line's interrupt flag */
    dr_interrupt_uninstall();
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    rc = dr_cmd_open(ctx);
    if (rc >= 0) {
        mo.ready = on_ready;
        mo.ready_arg = &bg;
        rc = dr_mount_run(ctx->r, &mo);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (bg.fd >= 0) {
        close(bg.fd);
    }
out:
    free(mp);
    free(logf);
    /* ctx may point at these until the command returns; cmd.c only reads them during open */
    ctx->repo = ctx->cache_dir = ctx->password_file = NULL;
    free(repo);
    free(cache);
    free(pwfile);
    return rc;
}
