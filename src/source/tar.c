/* tar.c: the streaming tar reader (see tar.h).
 *
 * Invariants: t->left is the unread data of the current member and t->pad the bytes after it
 * up to the next header; both are consumed before the next header is read. Every field is
 * decoded from the 512-byte block by offset with its length, never by struct overlay, and every
 * size is checked against the limits in tar.h before memory is allocated for it. The first
 * error is kept in t->rc and returned by every later call. */
#include "tar.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

/* ustar header fields: offset and length */
#define F_NAME 0, 100
#define F_MODE 100, 8
#define F_UID 108, 8
#define F_GID 116, 8
#define F_SIZE 124, 12
#define F_MTIME 136, 12
#define F_CHKSUM 148, 8
#define O_TYPE 156
#define F_LINK 157, 100
#define O_MAGIC 257
#define F_UNAME 265, 32
#define F_GNAME 297, 32
#define F_DEVMAJOR 329, 8
#define F_DEVMINOR 337, 8
#define F_PREFIX 345, 155

/* pax values that override the next member's header */
struct pax {
    bool has_size, has_mtime, has_uid, has_gid;
    uint64_t size, uid, gid;
    int64_t mtime_ns;
};

static int fail(struct dr_tar *t, int rc)
{
    if (t->rc == 0) {
        t->rc = rc;
    }
    return rc;
}

static int corrupt(struct dr_tar *t, const char *why)
{
    return fail(t, dr_errorf(DR_ECORRUPT, "tar archive '%s': %s at offset %llu", t->what, why,
                             (unsigned long long)t->offset));
}

void dr_tar_init(struct dr_tar *t, dr_tar_read_fn rd, void *arg, const char *what)
{
    memset(t, 0, sizeof(*t));
    t->rd = rd;
    t->arg = arg;
    t->what = what ? what : "";
}

static void clear_ext(struct dr_tar *t)
{
    free(t->pax_path);
    free(t->pax_link);
    free(t->gnu_path);
    free(t->gnu_link);
    t->pax_path = t->pax_link = t->gnu_path = t->gnu_link = NULL;
}

void dr_tar_release(struct dr_tar *t)
{
    clear_ext(t);
    free(t->path);
    free(t->link);
    t->path = t->link = NULL;
}

/* Reads exactly n bytes. Returns 1, 0 when the input ends before the first byte (only if
 * eof_ok), or an error: an end of input anywhere else is a truncated archive. */
static int read_full(struct dr_tar *t, uint8_t *buf, size_t n, bool eof_ok)
{
    size_t have = 0;
    while (have < n) {
        size_t want = n - have;
        int got = t->rd(t->arg, buf + have, want > INT_MAX ? INT_MAX : want);
        if (got < 0) {
            return fail(t, got);
        }
        if (got == 0) {
            if (have == 0 && eof_ok) {
                return 0;
            }
            return corrupt(t, "archive is truncated");
        }
        if ((size_t)got > want) {
            DR_BUG("tar read callback returned more than asked");
        }
        have += (size_t)got;
        t->offset += (uint64_t)got;
    }
    return 1;
}

static int skip(struct dr_tar *t, uint64_t n)
{
    uint8_t scratch[4096];
    while (n > 0) {
        size_t step = n > sizeof(scratch) ? sizeof(scratch) : (size_t)n;
        int rc = read_full(t, scratch, step, false);
        if (rc < 0) {
            return rc;
        }
        n -= step;
    }
    return 0;
}

/* A numeric field: octal digits, optionally led by spaces and ended by NUL or space, or GNU
 * base-256 (high bit of the first byte set; negative values are refused). An empty field is
 * 0, as many writers leave devmajor/devminor empty. */
static bool parse_num(const uint8_t *h, size_t off, size_t len, uint64_t max, uint64_t *out)
{
    const uint8_t *p = h + off;
    uint64_t v = 0;
    if (p[0] & 0x80) {
        if (p[0] != 0x80) {
            return false;
        }
        for (size_t i = 1; i < len; i++) {
            if (v > (UINT64_MAX >> 8)) {
                return false;
            }
            v = (v << 8) | p[i];
        }
    } else {
        size_t i = 0;
        while (i < len && p[i] == ' ') {
            i++;
        }
        for (; i < len && p[i] >= '0' && p[i] <= '7'; i++) {
            if (v > (UINT64_MAX >> 3)) {
                return false;
            }
            v = (v << 3) | (uint64_t)(p[i] - '0');
        }
        /* the rest must be terminators */
        for (; i < len; i++) {
            if (p[i] != '\0' && p[i] != ' ') {
                return false;
            }
        }
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
}

static size_t field_len(const uint8_t *h, size_t off, size_t len)
{
    const void *nul = memchr(h + off, '\0', len);
    return nul ? (size_t)((const uint8_t *)nul - (h + off)) : len;
}

static bool all_zero(const uint8_t *b)
{
    for (size_t i = 0; i < DR_TAR_BLOCK; i++) {
        if (b[i]) {
            return false;
        }
    }
    return true;
}

/* The checksum is the sum of the header's bytes with the checksum field read as spaces. Some
 * old writers summed signed chars; both sums are accepted, as GNU tar does. */
static bool checksum_ok(const uint8_t *h)
{
    uint64_t want;
    if (!parse_num(h, F_CHKSUM, UINT32_MAX, &want)) {
        return false;
    }
    uint64_t us = 0;
    int64_t ss = 0;
    for (size_t i = 0; i < DR_TAR_BLOCK; i++) {
        uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];
        us += c;
        ss += (int8_t)c;
    }
    return us == want || (ss >= 0 && (uint64_t)ss == want);
}

/* Decimal digits of a pax value, with an optional fraction for times. */
static bool pax_u64(const char *v, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;
    if (len == 0 || len > 20) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || n > (UINT64_MAX - 9) / 10) {
            return false;
        }
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    if (n > max) {
        return false;
    }
    *out = n;
    return true;
}

static bool pax_time(const char *v, size_t len, int64_t *out)
{
    bool neg = len > 0 && v[0] == '-';
    size_t i = neg ? 1 : 0, dot = i;
    while (dot < len && v[dot] != '.') {
        dot++;
    }
    uint64_t sec;
    if (!pax_u64(v + i, dot - i, (uint64_t)INT64_MAX / 1000000000, &sec)) {
        return false;
    }
    int64_t ns = 0;
    if (dot < len) {
        int64_t scale = 100000000;
        for (size_t j = dot + 1; j < len; j++) {
            if (v[j] < '0' || v[j] > '9') {
                return false;
            }
            ns += (v[j] - '0') * scale;
            scale /= 10;
        }
    }
    int64_t t = (int64_t)sec * 1000000000 + ns;
    *out = neg ? -t : t;
    return true;
}

static char *dup_name(struct dr_tar *t, const char *v, size_t len, int *rc)
{
    if (len == 0 || len > DR_TAR_NAME_MAX || memchr(v, '\0', len)) {
        *rc = corrupt(t, "bad or overlong name in an extended header");
        return NULL;
    }
    return dr_xstrndup(v, len);
}

/* Parses pax records "LEN key=value\n" from buf. Global headers (keep == false) are
 * validated and ignored: PostgreSQL does not write them, and their scope rules differ. */
static int parse_pax(struct dr_tar *t, const char *buf, size_t n, bool keep, struct pax *px)
{
    size_t pos = 0;
    while (pos < n) {
        size_t i = pos, reclen = 0;
        while (i < n && buf[i] >= '0' && buf[i] <= '9' && i - pos < 8) {
            reclen = reclen * 10 + (size_t)(buf[i] - '0');
            i++;
        }
        if (i == pos || i >= n || buf[i] != ' ' || reclen <= i - pos + 1 || reclen > n - pos ||
            buf[pos + reclen - 1] != '\n') {
            return corrupt(t, "malformed pax record");
        }
        const char *key = buf + i + 1;
        const char *end = buf + pos + reclen - 1; /* the '\n' */
        const char *eq = memchr(key, '=', (size_t)(end - key));
        if (!eq || eq == key) {
            return corrupt(t, "malformed pax record");
        }
        size_t klen = (size_t)(eq - key), vlen = (size_t)(end - eq - 1);
        const char *v = eq + 1;
        int rc = 0;
        if (!keep) {
            /* validated above; nothing to apply */
        } else if (klen == 4 && memcmp(key, "path", 4) == 0) {
            free(t->pax_path);
            t->pax_path = dup_name(t, v, vlen, &rc);
        } else if (klen == 8 && memcmp(key, "linkpath", 8) == 0) {
            free(t->pax_link);
            t->pax_link = dup_name(t, v, vlen, &rc);
        } else if (klen == 4 && memcmp(key, "size", 4) == 0) {
            px->has_size = pax_u64(v, vlen, DR_TAR_SIZE_MAX, &px->size);
            rc = px->has_size ? 0 : corrupt(t, "bad pax size");
        } else if (klen == 5 && memcmp(key, "mtime", 5) == 0) {
            px->has_mtime = pax_time(v, vlen, &px->mtime_ns);
            rc = px->has_mtime ? 0 : corrupt(t, "bad pax mtime");
        } else if (klen == 3 && memcmp(key, "uid", 3) == 0) {
            px->has_uid = pax_u64(v, vlen, UINT32_MAX, &px->uid);
            rc = px->has_uid ? 0 : corrupt(t, "bad pax uid");
        } else if (klen == 3 && memcmp(key, "gid", 3) == 0) {
            px->has_gid = pax_u64(v, vlen, UINT32_MAX, &px->gid);
            rc = px->has_gid ? 0 : corrupt(t, "bad pax gid");
        }
        if (rc < 0) {
            return rc;
        }
        pos += reclen;
    }
    return 0;
}

/* Reads an extension member's data (pax header or GNU long name) of size bytes, capped. */
static int read_ext(struct dr_tar *t, uint64_t size, uint64_t max, char **out)
{
    if (size > max) {
        return corrupt(t, "extended header is too large");
    }
    uint64_t padded = (size + DR_TAR_BLOCK - 1) / DR_TAR_BLOCK * DR_TAR_BLOCK;
    char *buf = dr_xmalloc((size_t)size + 1);
    int rc = read_full(t, (uint8_t *)buf, (size_t)size, false);
    if (rc >= 0) {
        rc = skip(t, padded - size);
    }
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *out = buf;
    return 0;
}

/* Checks and normalises a member path in place: strips "./" prefixes and trailing '/', and
 * refuses absolute paths, empty, "." and ".." components (a hostile archive must not name
 * anything outside the tree it describes). */
static int clean_path(struct dr_tar *t, char *p, bool is_dir)
{
    char *s = p;
    while (s[0] == '.' && s[1] == '/') {
        s += 2;
        while (*s == '/') {
            s++;
        }
    }
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '/') {
        s[--len] = '\0';
    }
    if (len == 1 && s[0] == '.') {
        s[--len] = '\0';
    }
    memmove(p, s, len + 1);
    if (len == 0) {
        return is_dir ? 0 : corrupt(t, "member with an empty path");
    }
    if (p[0] == '/') {
        return corrupt(t, "member with an absolute path");
    }
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t cl = e ? (size_t)(e - c) : strlen(c);
        if (cl == 0 || (cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.')) {
            return corrupt(t, "member path with an empty, '.' or '..' component");
        }
        c += cl + (e ? 1 : 0);
    }
    return 0;
}

static int build_entry(struct dr_tar *t, const uint8_t *h, const struct pax *px)
{
    struct dr_tar_entry *e = &t->ent;
    uint64_t mode, uid, gid, size, dmaj, dmin, mtime;
    if (!parse_num(h, F_MODE, UINT32_MAX, &mode) || !parse_num(h, F_UID, UINT32_MAX, &uid) ||
        !parse_num(h, F_GID, UINT32_MAX, &gid) || !parse_num(h, F_SIZE, DR_TAR_SIZE_MAX, &size) ||
        !parse_num(h, F_MTIME, (uint64_t)INT64_MAX / 1000000000, &mtime) ||
        !parse_num(h, F_DEVMAJOR, UINT32_MAX, &dmaj) ||
        !parse_num(h, F_DEVMINOR, UINT32_MAX, &dmin)) {
        return corrupt(t, "bad numeric field in header");
    }
    char type = (char)h[O_TYPE];
    if (type == '\0' || type == '7') {
        type = DR_TAR_FILE;
    }
    if (type < DR_TAR_FILE || type > DR_TAR_FIFO) {
        return fail(t, dr_errorf(DR_EUNSUPPORTED,
                                 "tar archive '%s': member type 0x%02x is not supported at "
                                 "offset %llu",
                                 t->what, (unsigned)(uint8_t)type, (unsigned long long)t->offset));
    }
    if (px->has_size) {
        size = px->size;
    }
    free(t->path);
    free(t->link);
    t->path = t->link = NULL;
    if (t->pax_path) {
        t->path = t->pax_path;
        t->pax_path = NULL;
    } else if (t->gnu_path) {
        t->path = t->gnu_path;
        t->gnu_path = NULL;
    } else {
        size_t nl = field_len(h, F_NAME);
        size_t pl = memcmp(h + O_MAGIC, "ustar\0", 6) == 0 ? field_len(h, F_PREFIX) : 0;
        t->path = dr_xmalloc(pl + 1 + nl + 1);
        size_t at = 0;
        if (pl) {
            memcpy(t->path, h + 345, pl);
            t->path[pl] = '/';
            at = pl + 1;
        }
        memcpy(t->path + at, h, nl);
        t->path[at + nl] = '\0';
    }
    if (t->pax_link) {
        t->link = t->pax_link;
        t->pax_link = NULL;
    } else if (t->gnu_link) {
        t->link = t->gnu_link;
        t->gnu_link = NULL;
    } else {
        t->link = dr_xstrndup((const char *)h + 157, field_len(h, F_LINK));
    }
    clear_ext(t);
    int rc = clean_path(t, t->path, type == DR_TAR_DIR);
    if (rc < 0) {
        return rc;
    }
    if ((type == DR_TAR_SYMLINK || type == DR_TAR_HARDLINK) && t->link[0] == '\0') {
        return corrupt(t, "link member without a target");
    }
    memset(e, 0, sizeof(*e));
    e->path = t->path;
    e->linkname = t->link;
    e->type = type;
    e->mode = (uint32_t)(mode & 07777);
    e->uid = (uint32_t)(px->has_uid ? px->uid : uid);
    e->gid = (uint32_t)(px->has_gid ? px->gid : gid);
    memcpy(e->uname, h + 265, field_len(h, F_UNAME));
    memcpy(e->gname, h + 297, field_len(h, F_GNAME));
    e->mtime_ns = px->has_mtime ? px->mtime_ns : (int64_t)mtime * 1000000000;
    e->devmajor = (uint32_t)dmaj;
    e->devminor = (uint32_t)dmin;
    /* only regular files have data; anything else a writer put after a header is skipped */
    uint64_t padded = (size + DR_TAR_BLOCK - 1) / DR_TAR_BLOCK * DR_TAR_BLOCK;
    e->size = type == DR_TAR_FILE ? size : 0;
    t->left = e->size;
    t->pad = (uint32_t)(padded - size);
    if (type != DR_TAR_FILE) {
        /* a non-file's data counts as padding to skip: keep it within the 32-bit field by
         * skipping it here */
        rc = skip(t, padded);
        t->pad = 0;
    }
    return rc;
}

int dr_tar_next(struct dr_tar *t, const struct dr_tar_entry **out)
{
    uint8_t h[DR_TAR_BLOCK];
    struct pax px = {0};
    if (t->rc < 0) {
        return t->rc;
    }
    if (t->done) {
        return 0;
    }
    int rc = skip(t, t->left + t->pad);
    if (rc < 0) {
        return rc;
    }
    t->left = t->pad = 0;
    for (;;) {
        bool pending = t->pax_path || t->pax_link || t->gnu_path || t->gnu_link || px.has_size ||
                       px.has_mtime || px.has_uid || px.has_gid;
        rc = read_full(t, h, sizeof(h), !pending);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            t->done = true; /* PostgreSQL's archives end without the zero blocks */
            return 0;
        }
        if (all_zero(h)) {
            rc = read_full(t, h, sizeof(h), true);
            if (rc < 0) {
                return rc;
            }
            if (rc == 1 && !all_zero(h)) {
                return corrupt(t, "zero block followed by data");
            }
            if (pending) {
                return corrupt(t, "extended header without a member");
            }
            t->done = true;
            t->trailer = true;
            return 0;
        }
        if (!checksum_ok(h)) {
            return corrupt(t, "header checksum mismatch");
        }
        char type = (char)h[O_TYPE];
        if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
            uint64_t size;
            char *data = NULL;
            if (!parse_num(h, F_SIZE, DR_TAR_SIZE_MAX, &size)) {
                return corrupt(t, "bad size in extended header");
            }
            bool pax = type == 'x' || type == 'g';
            rc = read_ext(t, size, pax ? DR_TAR_PAX_MAX : DR_TAR_NAME_MAX, &data);
            if (rc < 0) {
                return rc;
            }
            if (pax) {
                rc = parse_pax(t, data, (size_t)size, type == 'x', &px);
            } else {
                char **slot = type == 'L' ? &t->gnu_path : &t->gnu_link;
                free(*slot);
                /* GNU pads the name with NULs; the name ends at the first */
                *slot = dup_name(t, data, strnlen(data, (size_t)size), &rc);
            }
            free(data);
            if (rc < 0) {
                return rc;
            }
            continue;
        }
        rc = build_entry(t, h, &px);
        if (rc < 0) {
            return rc;
        }
        *out = &t->ent;
        return 1;
    }
}

int dr_tar_read(struct dr_tar *t, uint8_t *buf, size_t len)
{
    if (t->rc < 0) {
        return t->rc;
    }
    if (t->left == 0 || len == 0) {
        return 0;
    }
    size_t want = len;
    if (want > t->left) {
        want = (size_t)t->left;
    }
    if (want > INT_MAX) {
        want = INT_MAX;
    }
    int got = t->rd(t->arg, buf, want);
    if (got < 0) {
        return fail(t, got);
    }
    if (got == 0) {
        return corrupt(t, "archive is truncated inside a member");
    }
    if ((size_t)got > want) {
        DR_BUG("tar read callback returned more than asked");
    }
    t->left -= (uint64_t)got;
    t->offset += (uint64_t)got;
    return got;
}
