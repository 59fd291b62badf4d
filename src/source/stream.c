/* stream.c: sources that produce one file from a stream: stdin, and the standard output of a
 * command; dr_source_stream_build stores any stream (Redis uses it too) as a root tree holding
 * one file. For a command, the child's exit status decides: only a zero exit with output (or
 * allow_empty) becomes a snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/buf.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "source_int.h"

extern char **environ;

int dr_source_stream_build(const struct dr_source_stream *st, const struct dr_source_sink *sink,
                           struct dr_snapshot *s)
{
    struct dr_owner_cache owners = {0};
    struct dr_node n;
    memset(&n, 0, sizeof(n));
    n.name = dr_xstrdup(st->name);
    n.type = DR_NODE_FILE;
    n.mode = 0600;
    n.uid = getuid();
    n.gid = getgid();
    dr_source_owner_names(&owners, &n);
    dr_source_owner_cache_release(&owners);
    n.mtime_ns = n.ctime_ns = s->time_ns;
    n.nlink = 1;
    /* the parent's node of the same name: a record-encoded RDB is stored relative to it */
    struct dr_tree pt;
    struct dr_id ptree;
    dr_tree_init(&pt);
    dr_snapshot_add_path(s, st->name);
    if (sink->parent(sink->arg, s, &ptree)) {
        sink->load_tree(sink->arg, &ptree, &pt);
    }
    const struct dr_node *pnode = dr_tree_find(&pt, st->name);
    int64_t got = sink->add_file(sink->arg, st->read, st->arg, pnode, st->what, 0, &n);
    if (got >= 0) {
        got = (int64_t)n.size;
    }
    dr_tree_release(&pt);
    int rc = st->finish ? st->finish(st->arg, got, s) : 0;
    if (rc >= 0 && got < 0) {
        rc = (int)got;
        if (rc == DR_EIO && st->eio_is_source) {
            rc = dr_error_wrap(DR_ESOURCE, "no snapshot was recorded");
        }
    }
    if (rc >= 0 && got == 0 && !st->allow_empty) {
        rc = dr_errorf(DR_ESOURCE,
                       "%s%s%s produced no data; no snapshot was recorded (use "
                       "--allow-empty to accept an empty stream)",
                       st->label ? st->label : "standard input", st->label ? st->what : "",
                       st->label ? "'" : "");
    }
    if (rc >= 0) {
        struct dr_tree t;
        dr_tree_init(&t);
        dr_tree_add(&t, &n);
        rc = sink->put_tree(sink->arg, &t, NULL, &s->tree);
        dr_tree_release(&t);
    } else {
        dr_node_release(&n);
    }
    return rc;
}

struct stream {
    struct dr_source src; /* first: dr_source_free frees the whole */
    int fd;
    char **argv;
    const char *name;
    bool allow_empty;
};

static int stdin_build(void *arg, const struct dr_source_sink *sink, struct dr_snapshot *s)
{
    const struct stream *in = arg;
    struct dr_fd_reader fr = {in->fd, "standard input", false};
    struct dr_source_stream st = {
        .name = in->name,
        .what = "standard input",
        .read = dr_fs_fd_read,
        .arg = &fr,
        .allow_empty = in->allow_empty,
        .eio_is_source = true,
    };
    return dr_source_stream_build(&st, sink, s);
}

struct dr_source *dr_source_stdin_new(int fd, const char *name, bool allow_empty)
{
    struct stream *in = dr_xcalloc(1, sizeof(*in));
    in->fd = fd;
    in->name = name;
    in->allow_empty = allow_empty;
    in->src = (struct dr_source){.kind = "stdin", .build = stdin_build, .arg = in};
    return &in->src;
}

static char *command_string(char **argv)
{
    struct dr_buf s = DR_BUF_INIT(DR_STRING_MAX);
    for (size_t i = 0; argv[i]; i++) {
        if ((i && dr_buf_addch(&s, ' ') < 0) || dr_buf_adds(&s, argv[i]) < 0) {
            break;
        }
    }
    return dr_buf_detach(&s, NULL);
}

struct child {
    struct dr_fd_reader fr;
    pid_t pid;
};

/* Reaps the command once its output is read (or not: then it is stopped first). */
static int command_finish(void *arg, int64_t got, struct dr_snapshot *s)
{
    struct child *c = arg;
    int rc = 0;
    close(c->fr.fd);
    int status;
    if (got < 0) {
        kill(c->pid, SIGTERM);
    }
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got >= 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        rc = dr_errorf(DR_ESOURCE,
                       "command '%s' exited with status %d; no snapshot was "
                       "recorded",
                       c->fr.what, WEXITSTATUS(status));
    } else if (got >= 0 && WIFSIGNALED(status)) {
        rc = dr_errorf(DR_ESOURCE,
                       "command '%s' was killed by signal %d (%s); no snapshot "
                       "was recorded",
                       c->fr.what, WTERMSIG(status), strsignal(WTERMSIG(status)));
    }
    if (rc >= 0 && got >= 0) {
        dr_snapshot_add_meta(s, "command.exit_status", "0");
    }
    return rc;
}

static int command_build(void *arg, const struct dr_source_sink *sink, struct dr_snapshot *s)
{
    const struct stream *in = arg;
    char *cmd = command_string(in->argv);
    int rc = 0;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        rc = dr_error_errno(DR_EIO, "cannot create a pipe");
        goto out;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    struct child c = {.fr = {pfd[0], cmd}};
    int err = posix_spawnp(&c.pid, in->argv[0], &fa, NULL, in->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (err != 0) {
        close(pfd[0]);
        errno = err;
        rc = dr_error_errno(DR_ESOURCE, "cannot run command '%s'", cmd);
        goto out;
    }
    dr_snapshot_add_meta(s, "command", cmd);
    struct dr_source_stream st = {
        .name = in->name,
        .what = cmd,
        .label = "command '",
        .read = dr_fs_fd_read,
        .arg = &c, /* its first member is the dr_fd_reader that dr_fs_fd_read takes */
        .finish = command_finish,
        .allow_empty = in->allow_empty,
        .eio_is_source = true,
    };
    rc = dr_source_stream_build(&st, sink, s);
out:
    free(cmd);
    return rc;
}

struct dr_source *dr_source_command_new(char **argv, const char *name, bool allow_empty)
{
    struct stream *in = dr_xcalloc(1, sizeof(*in));
    in->fd = -1;
    in->argv = argv;
    in->name = name;
    in->allow_empty = allow_empty;
    in->src = (struct dr_source){.kind = "command", .build = command_build, .arg = in};
    return &in->src;
}
