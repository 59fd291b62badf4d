/* verify.c: reading the whole index file in a child process (dr_index_verify_file), so that a
 * damaged LMDB file that would crash the reader is found without crashing drrepo. */
#include "index_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/error.h"

static int noop_blob(void *a, const struct dr_id *i, const struct dr_index_blob *b)
{
    (void)a, (void)i, (void)b;
    return 0;
}
static int noop_pack(void *a, const struct dr_id *i, const struct dr_index_pack *p)
{
    (void)a, (void)i, (void)p;
    return 0;
}
static int noop_snap(void *a, const struct dr_id *i, const struct dr_index_snap *s)
{
    (void)a, (void)i, (void)s;
    return 0;
}

static void child_damaged(const char *dir, const char *what)
{
    (void)dir;
    (void)what;
    _exit(2);
}

int dr_index_verify_file(const char *dir)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        return dr_error_errno(DR_EINTERNAL, "cannot fork to check the index");
    }
    if (pid == 0) {
        /* a fault in the child is the answer, not something to report twice; the child says
         * nothing (a sanitizer's report of LMDB on a damaged page included) */
        dr_index_guard_set_handler(child_damaged);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDERR_FILENO);
            close(devnull);
        }
        struct dr_index *idx;
        struct dr_index_txn *txn;
        int rc = dr_index_open(dir, &idx);
        if (rc >= 0) {
            rc = dr_index_verify(idx);
            /* and decode every record, as the check will */
            if (rc >= 0) {
                rc = dr_index_begin(idx, false, &txn);
            }
            if (rc >= 0) {
                rc = dr_index_blob_foreach(txn, noop_blob, NULL);
                rc = rc < 0 ? rc : dr_index_pack_foreach(txn, noop_pack, NULL);
                rc = rc < 0 ? rc : dr_index_snap_foreach(txn, noop_snap, NULL);
                dr_index_abort(txn);
            }
            dr_index_close(idx);
        }
        _exit(rc < 0 ? 1 : 0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        return 0;
    }
    dr_index_mark_damaged(dir);
    return dr_errorf(DR_EINDEX, "the local index '%s' is damaged (%s)", dir,
                     WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 2)
                         ? "reading it crashed"
                         : "reading it failed");
}
