/* tarwrite.c: a snapshot directory as a pax/ustar stream (tarwrite.h).
 *
 * The header encoder is pure and separate from the tree walk so that it can be tested against
 * tar(1) byte for byte. Each member's size is in its header before its data, so a file whose
 * chunk fails to verify is finished with zeros: stopping would leave a stream that tar rejects as
 * a whole, while zeros damage one file and the error is reported at the end. */
#include "drrepo/inomap.h"
#include "drrepo/tarwrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/sysmacros.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/interrupt.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/rdbstore.h"
#include "drrepo/restore.h"
#include "drrepo/walk.h"

/* ---- header encoding ---------------------------------------------------------------------- */

/* Writes v as zero-padded octal into a field of width bytes (width-1 digits and a NUL).
 * Returns false when it does not fit. */
static bool octal(char *field, size_t width, uint64_t v)
{
    if (width - 1 < 22 && v >> (3 * (width - 1)) != 0) {
        return false;
    }
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%0*llo", (int)(width - 1), (unsigned long long)v);
    memcpy(field, tmp, width);
    return true;
}

/* Appends one pax record "LEN key=value\n", where LEN counts the whole record. */
static int pax_record(struct dr_buf *pax, const char *key, const char *value)
{
    size_t body = 1 + strlen(key) + 1 + strlen(value) + 1; /* " key=value\n" */
    size_t len = body + 1;
    while (len != body + (size_t)snprintf(NULL, 0, "%zu", len)) {
        len = body + (size_t)snprintf(NULL, 0, "%zu", len);
    }
    return dr_buf_addf(pax, "%zu %s=%s\n", len, key, value);
}

/* Splits path into ustar's prefix (up to 155) and name (up to 100) at a '/'. */
static bool split_path(const char *path, size_t *out_cut)
{
    size_t n = strlen(path);
    if (n <= 100) {
        *out_cut = 0;
        return true;
    }
    /* the name part may not be empty; a trailing '/' of a directory stays in the name */
    for (size_t i = n - 1; i > 0; i--) {
        if (path[i] == '/' && i <= 155 && n - i - 1 <= 100 && n - i - 1 > 0) {
            *out_cut = i;
            return true;
        }
    }
    return false;
}

static void checksum(uint8_t *h)
{
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < DR_TAR_BLOCK; i++) {
        sum += h[i];
    }
    char tmp[16];
    snprintf(tmp, sizeof(tmp), "%06o", sum);
    memcpy(h + 148, tmp, 7); /* six digits and a NUL, then the space left from the fill */
}

static void fill_ustar(uint8_t *h, const char *name, char type, uint64_t size, uint32_t mode)
{
    memset(h, 0, DR_TAR_BLOCK);
    memcpy(h, name, DR_MIN(strlen(name), (size_t)100));
    octal((char *)h + 100, 8, mode & 07777);
    octal((char *)h + 108, 8, 0);
    octal((char *)h + 116, 8, 0);
    octal((char *)h + 124, 12, size);
    octal((char *)h + 136, 12, 0);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
}

static int add_block_padded(struct dr_buf *out, const void *p, size_t n)
{
    int rc = dr_buf_add(out, p, n);
    size_t pad = (DR_TAR_BLOCK - n % DR_TAR_BLOCK) % DR_TAR_BLOCK;
    static const uint8_t zeros[DR_TAR_BLOCK];
    return rc < 0 ? rc : dr_buf_add(out, zeros, pad);
}

int dr_tar_header(const struct dr_tar_entry *e, struct dr_buf *out)
{
    if (!e->path || !*e->path || !strchr("0123456", e->typeflag) || !e->typeflag) {
        return dr_errorf(DR_EUSAGE, "tar member '%s': bad path or type", e->path ? e->path : "");
    }
    struct dr_buf pax = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    uint8_t h[DR_TAR_BLOCK];
    char num[64];
    int rc = 0;
    size_t cut = 0;
    bool path_fits = split_path(e->path, &cut);
    const char *link = e->linkname ? e->linkname : "";
    const char *uname = e->uname ? e->uname : "";
    const char *gname = e->gname ? e->gname : "";
    uint64_t size = e->typeflag == '0' ? e->size : 0;

    memset(h, 0, sizeof(h));
    if (path_fits) {
        memcpy(h, e->path + (cut ? cut + 1 : 0), strlen(e->path + (cut ? cut + 1 : 0)));
        memcpy(h + 345, e->path, cut);
    } else {
        memcpy(h, e->path, 100); /* readers without pax see a truncated name */
        rc = pax_record(&pax, "path", e->path);
    }
    octal((char *)h + 100, 8, e->mode & 07777);
    if (rc >= 0 && !octal((char *)h + 108, 8, e->uid)) {
        snprintf(num, sizeof(num), "%u", e->uid);
        rc = pax_record(&pax, "uid", num);
    }
    if (rc >= 0 && !octal((char *)h + 116, 8, e->gid)) {
        snprintf(num, sizeof(num), "%u", e->gid);
        rc = pax_record(&pax, "gid", num);
    }
    if (rc >= 0 && !octal((char *)h + 124, 12, size)) {
        octal((char *)h + 124, 12, 0);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
        rc = pax_record(&pax, "size", num);
    }
    int64_t sec = e->mtime_ns / 1000000000, nsec = e->mtime_ns % 1000000000;
    if (nsec < 0) {
        sec--;
        nsec += 1000000000;
    }
    if (rc >= 0 && (nsec != 0 || sec < 0 || !octal((char *)h + 136, 12, (uint64_t)sec))) {
        octal((char *)h + 136, 12, sec < 0 ? 0 : (uint64_t)sec & 077777777777ULL);
        if (sec < 0 && nsec > 0) {
            snprintf(num, sizeof(num), "-%lld.%09lld", (long long)(-(sec + 1)),
                     (long long)(1000000000 - nsec));
        } else {
            snprintf(num, sizeof(num), "%lld.%09lld", (long long)sec, (long long)nsec);
        }
        rc = pax_record(&pax, "mtime", num);
    }
    h[156] = (uint8_t)e->typeflag;
    if (strlen(link) <= 100) {
        memcpy(h + 157, link, strlen(link));
    } else if (rc >= 0) {
        memcpy(h + 157, link, 100);
        rc = pax_record(&pax, "linkpath", link);
    }
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (strlen(uname) < 32) {
        memcpy(h + 265, uname, strlen(uname));
    } else if (rc >= 0) {
        rc = pax_record(&pax, "uname", uname);
    }
    if (strlen(gname) < 32) {
        memcpy(h + 297, gname, strlen(gname));
    } else if (rc >= 0) {
        rc = pax_record(&pax, "gname", gname);
    }
    if (e->typeflag == '3' || e->typeflag == '4') {
        if (!octal((char *)h + 329, 8, e->devmajor) || !octal((char *)h + 337, 8, e->devminor)) {
            rc = rc < 0 ? rc
                        : dr_errorf(DR_EUSAGE, "tar member '%s': device number too large", e->path);
        }
    }
    if (rc < 0) {
        goto out;
    }
    checksum(h);
    if (pax.len > 0) {
        /* the extended header's own name only matters to readers that do not know pax */
        uint8_t x[DR_TAR_BLOCK];
        fill_ustar(x, "././@PaxHeader", 'x', pax.len, 0644);
        checksum(x);
        rc = dr_buf_add(out, x, sizeof(x));
        if (rc >= 0) {
            rc = add_block_padded(out, pax.buf, pax.len);
        }
    }
    if (rc >= 0) {
        rc = dr_buf_add(out, h, sizeof(h));
    }
out:
    dr_buf_release(&pax);
    return rc;
}

/* ---- the tree walk ------------------------------------------------------------------------ */

struct link_seen {
    uint64_t dev, ino;
    char *path;
};

struct tw {
    struct dr_repo *r;
    int fd;
    struct dr_tar_stats st;
    struct link_seen *links;
    size_t nlinks, alinks;
    struct dr_inomap linkmap; /* (dev, inode) -> index into links */
    struct dr_buf hdr;
    int out_rc; /* an output error: it ends the archive (a read error only its member) */
};

static int emit(struct tw *w, const void *p, size_t n)
{
    /* a signal ends the archive like an output error: between writes, never inside one */
    int rc = dr_interrupt_check();
    return rc < 0 ? rc : dr_fs_write_full(w->fd, p, n, "standard output");
}

static int emit_zeros(struct tw *w, uint64_t n)
{
    static const uint8_t zeros[65536];
    while (n > 0) {
        size_t k = (size_t)DR_MIN(n, (uint64_t)sizeof(zeros));
        int rc = emit(w, zeros, k);
        if (rc < 0) {
            return rc;
        }
        n -= k;
    }
    return 0;
}

struct rec_tw {
    struct tw *w;
    struct dr_chunk_reader *cr;
    uint64_t written;
    int out_rc; /* an output error, which ends the archive (a read error only this member) */
};

static int rec_tw_get(void *arg, uint32_t i, struct dr_buf *out)
{
    struct rec_tw *t = arg;
    return dr_chunk_reader_get(t->cr, i, out);
}

static int rec_tw_write(void *arg, const uint8_t *p, size_t len)
{
    struct rec_tw *t = arg;
    int rc = emit(t->w, p, len);
    if (rc < 0) {
        t->out_rc = rc;
        return rc;
    }
    t->written += len;
    t->w->st.bytes += len;
    return 0;
}

/* A record-encoded file (format/rdb.md): rebuilt in order; if that fails part way, the rest of
 * the member is zeros, as for a plain file whose chunk fails. */
static int emit_records(struct tw *w, const struct dr_node *n, const char *path)
{
    struct rec_tw t = {.w = w, .cr = dr_chunk_reader_new(w->r, n)};
    int rc = dr_rdbstore_decode(n, rec_tw_get, rec_tw_write, &t);
    dr_chunk_reader_free(t.cr, &w->st.reads);
    if (rc < 0 && t.out_rc < 0) {
        return t.out_rc;
    }
    if (rc < 0) {
        dr_log_error("'%s': %s; the rest of the file is written as zeros", path, dr_error_msg());
        dr_error_clear();
        w->st.errors++;
        rc = emit_zeros(w, n->size - t.written);
    }
    if (rc >= 0) {
        rc = emit_zeros(w, (DR_TAR_BLOCK - n->size % DR_TAR_BLOCK) % DR_TAR_BLOCK);
    }
    return rc;
}

static int tw_write(void *arg, const uint8_t *p, size_t len)
{
    struct tw *w = arg;
    int rc = emit(w, p, len);
    if (rc < 0) {
        w->out_rc = rc;
        return rc;
    }
    w->st.bytes += len;
    return 0;
}

/* Writes the data of a file member: exactly n->size bytes, then padding to the block. Lost
 * ranges of a damaged file and chunks that fail are zeros. Only output errors are returned. */
static int emit_content(struct tw *w, const struct dr_node *n, const char *path)
{
    if (n->flags & DR_NODE_F_RECORDS) {
        return emit_records(w, n, path);
    }
    int rc = dr_restore_content(w->r, n, path, true, tw_write, w, &w->st.reads);
    if (rc == 1) {
        w->st.errors++;
    } else if (rc < 0 && w->out_rc >= 0) {
        /* the index could not be read for this member: say so, and zeros keep the archive's
         * framing */
        dr_log_error("'%s': %s; the file is written as zeros", path, dr_error_msg());
        dr_error_clear();
        w->st.errors++;
        rc = emit_zeros(w, n->size);
    }
    if (rc >= 0) {
        rc = emit_zeros(w, (DR_TAR_BLOCK - n->size % DR_TAR_BLOCK) % DR_TAR_BLOCK);
    }
    return rc;
}

static char type_flag(uint8_t type)
{
    switch (type) {
    case DR_NODE_FILE: return '0';
    case DR_NODE_DIR: return '5';
    case DR_NODE_SYMLINK: return '2';
    case DR_NODE_CHARDEV: return '3';
    case DR_NODE_BLOCKDEV: return '4';
    case DR_NODE_FIFO: return '6';
    default: return 0;
    }
}

static int write_node(struct tw *w, const struct dr_node *n, const char *path)
{
    char flag = type_flag(n->type);
    if (!flag) {
        w->st.skipped++;
        dr_log_detail("'%s': sockets cannot be stored in tar; skipped", path);
        return 0;
    }
    struct dr_tar_entry e = {
        .path = path,
        .typeflag = flag,
        .mode = n->mode,
        .uid = n->uid,
        .gid = n->gid,
        .uname = n->user,
        .gname = n->group,
        .size = n->size,
        .mtime_ns = n->mtime_ns,
        .linkname = n->type == DR_NODE_SYMLINK ? n->target : NULL,
        .devmajor = major((dev_t)n->rdev),
        .devminor = minor((dev_t)n->rdev),
    };
    bool first_link = false;
    if (n->type == DR_NODE_FILE && n->nlink > 1) {
        size_t i = dr_inomap_get(&w->linkmap, n->dev, n->inode);
        if (i != SIZE_MAX) {
            e.typeflag = '1';
            e.linkname = w->links[i].path;
        }
        first_link = e.typeflag == '0';
    }
    dr_buf_reset(&w->hdr);
    int rc = dr_tar_header(&e, &w->hdr);
    if (rc >= 0) {
        rc = emit(w, w->hdr.buf, w->hdr.len);
    }
    if (rc < 0) {
        return rc;
    }
    if (n->flags & DR_NODE_F_DAMAGED) {
        dr_log_warn("'%s' is marked damaged in this snapshot: %s", path,
                    n->type == DR_NODE_DIR ? "its contents were lost"
                                           : "its lost ranges are written as zeros");
        w->st.damaged++;
    }
    switch (e.typeflag) {
    case '0':
        if (first_link) {
            DR_GROW(w->links, w->alinks, w->nlinks + 1);
            w->links[w->nlinks] = (struct link_seen){n->dev, n->inode, dr_xstrdup(path)};
            dr_inomap_put(&w->linkmap, n->dev, n->inode, w->nlinks++);
        }
        w->st.files++;
        return emit_content(w, n, path);
    case '1': w->st.links++; return 0;
    case '5': w->st.dirs++; return 0; /* its entries follow: the walk goes into it */
    default: w->st.files++; return 0;
    }
}

/* Members are named "./a" and directories "./a/". */
static char *member_path(const char *path, bool dir)
{
    size_t len = strlen(path);
    return dr_xasprintf("%s%s", path, dir && (len == 0 || path[len - 1] != '/') ? "/" : "");
}

static int tar_node(void *arg, const char *path, struct dr_node *n)
{
    char *p = member_path(path, n->type == DR_NODE_DIR);
    int rc = write_node(arg, n, p);
    free(p);
    return rc;
}

static int tar_unreadable(void *arg, const struct dr_id *tree, const char *path, int err)
{
    (void)tree;
    (void)err;
    struct tw *w = arg;
    char *p = member_path(path, true);
    dr_log_error("directory '%s': %s; its contents are left out", p, dr_error_msg());
    free(p);
    w->st.errors++;
    return 0;
}

int dr_tar_write_dir(struct dr_repo *r, const struct dr_node *dir, int fd, struct dr_tar_stats *out)
{
    if (dir->type != DR_NODE_DIR) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a directory", dir->name);
    }
    struct tw w = {
        .r = r,
        .fd = fd,
        .hdr = DR_BUF_INIT(DR_BUF_MAX_DEFAULT),
    };
    struct dr_walk walk = {
        .r = r,
        .arg = &w,
        .unreadable = tar_unreadable,
        .node = tar_node,
    };
    int rc = write_node(&w, dir, "./");
    if (rc >= 0) {
        rc = dr_walk_run(&walk, &dir->subtree, "./");
    }
    if (rc >= 0) {
        rc = emit_zeros(&w, 2 * DR_TAR_BLOCK); /* the end-of-archive marker */
    }
    for (size_t i = 0; i < w.nlinks; i++) {
        free(w.links[i].path);
    }
    free(w.links);
    dr_inomap_release(&w.linkmap);
    dr_buf_release(&w.hdr);
    if (out) {
        *out = w.st;
    }
    if (rc >= 0 && w.st.errors) {
        rc = dr_errorf(DR_ECORRUPT, "%llu files or directories could not be read (see above)",
                       (unsigned long long)w.st.errors);
    } else if (rc >= 0 && w.st.damaged) {
        rc = dr_errorf(DR_EDAMAGED, "%llu members are marked damaged and are incomplete",
                       (unsigned long long)w.st.damaged);
    }
    return rc;
}
