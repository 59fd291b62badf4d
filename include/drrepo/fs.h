/* fs.h: durable file-system primitives. Every file drrepo writes is written once, atomically:
 * a temporary file in the same directory, fsync, rename over the final name, fsync of the
 * directory (Redis rdbSave, git lockfile). Readers never see a half-written file. */
#ifndef DR_FS_H
#define DR_FS_H

#include <sys/types.h>

#include "drrepo/buf.h"

/* Prefix of every temporary file drrepo creates: ".drrepo-tmp-<pid>-<name>-XXXXXX". Leftovers
 * whose pid no longer runs are removed by the backend's cleanup. */
#define DR_FS_TMP_PREFIX ".drrepo-tmp-"

/* The writer's pid in a temporary name (DR_FS_TMP_PREFIX "<pid>-…"), or 0 when name is not
 * one. */
long dr_fs_tmp_pid(const char *name);

/* Creates a scratch file in dir, named prefix.XXXXXX, and unlinks it at once: the descriptor
 * (close-on-exec) keeps it, and nothing of it outlives the process. Returns the descriptor;
 * *out_name (may be NULL) gets its former path, malloc'd, for messages. Errors: DR_ENOSPC,
 * DR_EIO naming dir. */
DR_MUST_CHECK int dr_fs_scratch(const char *dir, const char *prefix, char **out_name);

/* Writes data to path atomically and durably. If exclusive, fails with DR_EEXIST when path
 * exists (checked by link(2), so two writers cannot both win). Errors: DR_EIO, DR_ENOSPC,
 * DR_ENOENT (directory missing), DR_EEXIST. On failure no file with the final name is created
 * and the temporary file is removed. */
DR_MUST_CHECK int dr_fs_write_atomic(const char *path, const void *data, size_t len,
                                     bool exclusive);

/* fsyncs the directory that holds path (or path itself if it is a directory). */
DR_MUST_CHECK int dr_fs_fsync_dir(const char *dirpath);

/* mkdir -p with mode 0700 for new directories. DR_EIO on failure. */
DR_MUST_CHECK int dr_fs_mkdir_p(const char *path, mode_t mode);

/* Reads a whole file into out (appending), failing with DR_ECORRUPT past out->max. Errors:
 * those of open (DR_ENOENT for a missing file, else DR_EIO), DR_EIO, DR_ECORRUPT. */
DR_MUST_CHECK int dr_fs_read_file(const char *path, struct dr_buf *out);
/* The same from an open descriptor (a pipe: standard input), read to its end; name is for
 * messages. The descriptor is left open. */
DR_MUST_CHECK int dr_fs_read_fd(int fd, const char *name, struct dr_buf *out);

/* Reads exactly len bytes at off; DR_ECORRUPT ("short") if the file ends first. */
DR_MUST_CHECK int dr_fs_pread_full(int fd, void *buf, size_t len, uint64_t off, const char *name);

/* Writes all of len bytes; maps ENOSPC to DR_ENOSPC. */
DR_MUST_CHECK int dr_fs_write_full(int fd, const void *buf, size_t len, const char *name);

/* Writes all of len bytes at off (pwrite: several threads may write one file); as
 * dr_fs_write_full otherwise. */
DR_MUST_CHECK int dr_fs_pwrite_full(int fd, const void *buf, size_t len, uint64_t off,
                                    const char *name);

/* Returns the directory part of path in a new string (free() it). */
char *dr_fs_dirname(const char *path);

/* Joins a and b with one '/' (free() the result). */
char *dr_fs_join(const char *a, const char *b);

/* A file descriptor read as a stream (a regular file, stdin, a command's pipe): the
 * dr_stream_read_fn shape with arg a struct dr_fd_reader. Returns the bytes read (> 0), 0 at the
 * end, DR_EIO naming what, or DR_EINTR when a signal arrived (interrupt.h: checked while it
 * waits for data); EINTR is retried. */
struct dr_fd_reader {
    int fd;
    const char *what;
    bool regular; /* a regular file: reads do not wait, so they are not polled first */
};
DR_MUST_CHECK int dr_fs_fd_read(void *arg, uint8_t *buf, size_t len);

#endif
