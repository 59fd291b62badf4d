/* tarwrite.h: writing a directory of a snapshot as a tar stream (`drrepo dump SNAP DIR`).
 *
 * The stream is POSIX pax: ustar headers, preceded by a pax extended header ('x') for what ustar
 * cannot hold (paths over its 100+155 bytes, link targets over 100, sizes of 8 GiB and more,
 * large uids, long owner names, and sub-second or out-of-range mtimes), so GNU tar, bsdtar and
 * busybox tar read it. Hard links are written once as a file and then as links to that name. */
#ifndef DR_TARWRITE_H
#define DR_TARWRITE_H

#include "drrepo/read.h"
#include "drrepo/repo.h"

#define DR_TAR_BLOCK 512u

/* One archive member, for dr_tar_header. */
struct dr_tar_entry {
    const char *path; /* as stored, e.g. "./a/b" (directories end in '/') */
    char typeflag;    /* '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6'
                         fifo */
    uint32_t mode;    /* permission bits (07777) */
    uint32_t uid, gid;
    const char *uname, *gname; /* may be NULL or "" */
    uint64_t size;             /* of the data that follows (files only) */
    int64_t mtime_ns;
    const char *linkname; /* hard link and symlink targets, else NULL */
    uint32_t devmajor, devminor;
};

/* Appends the header blocks of e to out: a pax extended header when needed, then the ustar
 * header. The result is a multiple of DR_TAR_BLOCK. Pure; no I/O.
 * Errors: DR_EUSAGE (empty path, unknown typeflag), DR_ECORRUPT (out's max exceeded). */
DR_MUST_CHECK int dr_tar_header(const struct dr_tar_entry *e, struct dr_buf *out);

struct dr_tar_stats {
    uint64_t files, dirs, links, bytes;
    uint64_t errors;  /* files whose data could not be read (zeros were written) */
    uint64_t damaged; /* files and directories marked damaged by `repair snapshots` */
    uint64_t skipped; /* sockets, which tar cannot hold */
    struct dr_read_stats reads;
};

/* Writes dir (a directory node, such as dr_repo_find_node returns) and everything below it to
 * fd as a complete tar stream, members named "./", "./name", ... Every chunk is authenticated
 * before its bytes are written. A file whose chunk cannot be read is completed with zeros so the
 * stream stays valid, logged, and counted; the stream goes on. Returns DR_ECORRUPT at the end if
 * any file failed, else DR_EDAMAGED if a member was marked damaged (its lost ranges are zeros),
 * DR_EIO/DR_ENOSPC when fd cannot be written. out may be NULL. */
DR_MUST_CHECK int dr_tar_write_dir(struct dr_repo *r, const struct dr_node *dir, int fd,
                                   struct dr_tar_stats *out);

#endif
