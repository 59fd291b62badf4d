/* fs.c: atomic, durable writes (temp file, fsync, rename, fsync dir) and careful reads.
 *
 * The temporary file lives in the destination directory so rename(2) stays on one file system
 * and is atomic. For exclusive writes link(2) is used instead of rename(2): it fails with EEXIST
 * rather than replacing, so two writers of the same name cannot both believe they won. */
#include "drrepo/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/interrupt.h"
#include "drrepo/mem.h"

char *dr_fs_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        return dr_xstrdup(".");
    }
    if (slash == path) {
        return dr_xstrdup("/");
    }
    return dr_xstrndup(path, (size_t)(slash - path));
}

char *dr_fs_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    if (la && a[la - 1] == '/') {
        return dr_xasprintf("%s%s", a, b);
    }
    return dr_xasprintf("%s/%s", a, b);
}

int dr_fs_fsync_dir(const char *dirpath)
{
    int fd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot open directory '%s'", dirpath);
    }
    int rc = 0;
    if (fsync(fd) < 0 && errno != EINVAL) {
        rc = dr_error_errno(DR_EIO, "cannot fsync directory '%s'", dirpath);
    }
    close(fd);
    return rc;
}

/* off < 0: write(2) at the file position; else pwrite(2) at off */
static int write_full(int fd, const void *buf, size_t len, int64_t off, const char *name)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return dr_error_errno(dr_error_from_errno(errno), "cannot write '%s'", name);
        }
        p += n;
        len -= (size_t)n;
        off = off < 0 ? off : off + n;
    }
    return 0;
}

int dr_fs_write_full(int fd, const void *buf, size_t len, const char *name)
{
    return write_full(fd, buf, len, -1, name);
}

int dr_fs_pwrite_full(int fd, const void *buf, size_t len, uint64_t off, const char *name)
{
    return write_full(fd, buf, len, (int64_t)off, name);
}

int dr_fs_pread_full(int fd, void *buf, size_t len, uint64_t off, const char *name)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return dr_error_errno(DR_EIO, "cannot read '%s'", name);
        }
        if (n == 0) {
            return dr_errorf(DR_ECORRUPT, "'%s' is shorter than expected (ends before offset %llu)",
                             name, (unsigned long long)(off + (uint64_t)len));
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int dr_fs_scratch(const char *dir, const char *prefix, char **out_name)
{
    char *path = dr_xasprintf("%s/%s.XXXXXX", dir, prefix);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        int rc = dr_error_errno(errno == ENOSPC ? DR_ENOSPC : DR_EIO,
                                "cannot create a scratch file in '%s'", dir);
        free(path);
        return rc;
    }
    (void)unlink(path);
    if (out_name) {
        *out_name = path;
    } else {
        free(path);
    }
    return fd;
}

int dr_fs_write_atomic(const char *path, const void *data, size_t len, bool exclusive)
{
    char *dir = dr_fs_dirname(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    /* the pid in the name lets cleanup tell a crashed writer's leftover from a live one's */
    char *tmp = dr_xasprintf("%s/" DR_FS_TMP_PREFIX "%ld-%s-XXXXXX", dir, (long)getpid(), base);
    int rc = 0;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = dr_error_errno(dr_error_from_errno(errno), "cannot create a file in '%s'", dir);
        goto out_nofile;
    }
    rc = dr_fs_write_full(fd, data, len, path);
    if (rc < 0) {
        goto out;
    }
    rc = DR_FAULT_POINT("fs.before_fsync");
    if (rc < 0) {
        goto out;
    }
    if (fsync(fd) < 0) {
        rc = dr_error_errno(dr_error_from_errno(errno), "cannot fsync '%s'", path);
        goto out;
    }
    /* mkostemp creates 0600; objects are readable by the owner only, like the key material */
    if (close(fd) < 0) {
        fd = -1;
        rc = dr_error_errno(dr_error_from_errno(errno), "cannot close '%s'", path);
        goto out;
    }
    fd = -1;
    rc = DR_FAULT_POINT("fs.before_rename");
    if (rc < 0) {
        goto out;
    }
    if (exclusive) {
        if (link(tmp, path) < 0) {
            rc = errno == EEXIST
                     ? dr_errorf(DR_EEXIST, "'%s' already exists", path)
                     : dr_error_errno(dr_error_from_errno(errno), "cannot create '%s'", path);
            goto out;
        }
        unlink(tmp);
    } else if (rename(tmp, path) < 0) {
        rc = dr_error_errno(dr_error_from_errno(errno), "cannot rename into '%s'", path);
        goto out;
    }
    free(tmp);
    tmp = NULL;
    rc = dr_fs_fsync_dir(dir);
out:
    if (fd >= 0) {
        close(fd);
    }
    if (tmp) {
        unlink(tmp);
    }
out_nofile:
    free(tmp);
    free(dir);
    return rc;
}

int dr_fs_mkdir_p(const char *path, mode_t mode)
{
    char *p = dr_xstrdup(path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') {
            continue;
        }
        char saved = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            rc = dr_error_errno(dr_error_from_errno(errno), "cannot create directory '%s'", p);
            break;
        }
        *s = saved;
        if (saved == '\0') {
            break;
        }
    }
    free(p);
    return rc;
}

int dr_fs_read_fd(int fd, const char *name, struct dr_buf *out)
{
    for (;;) {
        size_t room = out->max - out->len;
        size_t want = room < 65536 ? room : 65536;
        if (want == 0) {
            /* full: one more byte would exceed the limit */
            char probe;
            ssize_t n = read(fd, &probe, 1);
            if (n > 0) {
                return dr_errorf(DR_ECORRUPT, "'%s' is larger than %zu bytes", name, out->max);
            }
            return n < 0 ? dr_error_errno(DR_EIO, "cannot read '%s'", name) : 0;
        }
        int rc = dr_buf_grow(out, want);
        if (rc < 0) {
            return rc;
        }
        ssize_t n = read(fd, out->buf + out->len, want);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return dr_error_errno(DR_EIO, "cannot read '%s'", name);
        }
        if (n == 0) {
            return 0;
        }
        dr_buf_setlen(out, out->len + (size_t)n);
    }
}

int dr_fs_read_file(const char *path, struct dr_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot open '%s'", path);
    }
    int rc = dr_fs_read_fd(fd, path, out);
    close(fd);
    return rc;
}

int dr_fs_fd_read(void *arg, uint8_t *buf, size_t len)
{
    struct dr_fd_reader *fr = arg;
    for (;;) {
        /* a pipe or a terminal can stay silent for long: wait in short steps, so that a signal
         * (interrupt.h) stops the read even while the handler restarts the system calls; a
         * regular file never keeps a read waiting (a poll per read was a system call per read
         * of every file a snapshot reads) */
        struct pollfd p = {.fd = fr->fd, .events = POLLIN};
        int ready = fr->regular ? 1 : poll(&p, 1, 200);
        int rc = dr_interrupt_check();
        if (rc < 0) {
            return rc;
        }
        if (ready == 0 || (ready < 0 && errno == EINTR)) {
            continue;
        }
        ssize_t got = read(fr->fd, buf, len > INT32_MAX ? INT32_MAX : len);
        if (got >= 0) {
            return (int)got;
        }
        if (errno != EINTR) {
            return dr_error_errno(DR_EIO, "cannot read '%s'", fr->what);
        }
    }
}

long dr_fs_tmp_pid(const char *name)
{
    size_t pl = strlen(DR_FS_TMP_PREFIX);
    if (strncmp(name, DR_FS_TMP_PREFIX, pl) != 0) {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long pid = strtol(name + pl, &end, 10);
    return errno == 0 && end != name + pl && *end == '-' && pid > 0 ? pid : 0;
}
