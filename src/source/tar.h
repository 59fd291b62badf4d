/* tar.h: a streaming, bounds-checked reader of ustar/pax/GNU tar archives.
 *
 * The archive is pulled through a read callback, one header at a time, and a member's data is
 * read by the caller in pieces of any size, so an archive of any size is parsed with a fixed
 * amount of memory and no temporary file (PostgreSQL's BASE_BACKUP sends its archives this way).
 * Nothing in a header is trusted: the header checksum is verified, numeric fields must be valid
 * octal (or GNU base-256) and in range, pax records must be well formed, and long names (pax
 * "path"/"linkpath", GNU 'L'/'K') are capped at DR_TAR_NAME_MAX before anything is allocated.
 *
 * The end of the archive is two zero blocks, or, since PostgreSQL's server sends archives
 * without that trailer, a clean end of input at a header boundary. An end of input anywhere
 * else is a truncated archive. */
#ifndef DR_TAR_H
#define DR_TAR_H

#include "drrepo/common.h"

#define DR_TAR_BLOCK 512u
#define DR_TAR_NAME_MAX 4096u         /* a member's path or link target, in bytes */
#define DR_TAR_PAX_MAX (1024u * 1024) /* one pax extended header */
#define DR_TAR_SIZE_MAX (1ull << 56)  /* a member's size: far beyond any real file */

/* Member types (the typeflag byte, with '\0' and '7' normalised to DR_TAR_FILE). */
enum dr_tar_type {
    DR_TAR_FILE = '0',
    DR_TAR_HARDLINK = '1',
    DR_TAR_SYMLINK = '2',
    DR_TAR_CHARDEV = '3',
    DR_TAR_BLOCKDEV = '4',
    DR_TAR_DIR = '5',
    DR_TAR_FIFO = '6',
};

/* Reads up to len bytes: returns the count (> 0), 0 at the end of input, or a negative dr_err
 * with the message recorded. The same contract as dr_stream_read_fn (source.h). */
typedef int (*dr_tar_read_fn)(void *arg, uint8_t *buf, size_t len);

struct dr_tar_entry {
    const char *path;     /* without a trailing '/'; valid until the next dr_tar_next */
    const char *linkname; /* symlink or hard-link target ("" otherwise); same lifetime */
    char type;            /* enum dr_tar_type */
    uint32_t mode;        /* permission bits (& 07777) */
    uint32_t uid, gid;
    char uname[33], gname[33];
    uint64_t size; /* bytes of data (0 for anything but a regular file) */
    int64_t mtime_ns;
    uint32_t devmajor, devminor;
};

struct dr_tar {
    dr_tar_read_fn rd;
    void *arg;
    const char *what; /* names the archive in messages */
    uint64_t offset;  /* bytes consumed from the input */
    uint64_t left;    /* data bytes of the current member not yet read */
    uint32_t pad;     /* padding after the current member's data */
    int rc;           /* sticky error */
    bool done;
    bool trailer; /* the end was marked by zero blocks (not just an end of input) */
    char *path, *link, *pax_path, *pax_link, *gnu_path, *gnu_link; /* owned */
    struct dr_tar_entry ent;
};

/* Prepares t to read an archive from rd. what (borrowed, must outlive t) names the archive in
 * error messages. Release with dr_tar_release. */
void dr_tar_init(struct dr_tar *t, dr_tar_read_fn rd, void *arg, const char *what);
void dr_tar_release(struct dr_tar *t);

/* Moves to the next member, skipping the unread data of the current one. Returns 1 with *out
 * set (valid until the next call), 0 at the end of the archive, or an error: DR_ECORRUPT (bad
 * checksum, bad number, bad pax record, name too long, unsafe path, truncated archive; the
 * message names the archive and the offset), or the read callback's error. Errors are sticky.
 * Member paths are returned as stored, except that a leading "./" and trailing '/' are removed;
 * absolute paths and ".." components are rejected. */
DR_MUST_CHECK int dr_tar_next(struct dr_tar *t, const struct dr_tar_entry **out);

/* Reads up to len bytes of the current member's data: returns the count, 0 at the end of the
 * member, or an error (DR_ECORRUPT for a truncated archive, or the callback's). */
DR_MUST_CHECK int dr_tar_read(struct dr_tar *t, uint8_t *buf, size_t len);

#endif
