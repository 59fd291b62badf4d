/* wal.c: PostgreSQL WAL archiving (see wal.h, format/wal.md, docs/SOURCES.md). */
#include "drrepo/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/fs.h"
#include "drrepo/layout.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

/* pg_control starts with the system identifier (uint64) and pg_control_version (uint32), in
 * the server's byte order: little-endian on every platform Debian's PostgreSQL runs drrepo on.
 * 903 is PostgreSQL 9.3's version; 1300 is 15's. */
#define PG_CONTROL_VERSION_MIN 900u
#define PG_CONTROL_VERSION_MAX 9999u

int dr_wal_sysid_of(const char *datadir, uint64_t *out)
{
    char *path = dr_fs_join(datadir, "global/pg_control");
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = dr_error_errno(dr_error_from_errno(errno),
                            "cannot read '%s' (is '%s' a PostgreSQL data directory?)", path,
                            datadir);
        free(path);
        return rc;
    }
    uint8_t b[12];
    rc = dr_fs_pread_full(fd, b, sizeof(b), 0, path);
    close(fd);
    if (rc >= 0) {
        uint32_t ver = dr_get_u32le(b + 8);
        uint64_t id = dr_get_u64le(b);
        if (ver < PG_CONTROL_VERSION_MIN || ver > PG_CONTROL_VERSION_MAX || id == 0) {
            rc = dr_errorf(DR_ECORRUPT, "'%s' is not a PostgreSQL control file (version %u)", path,
                           ver);
        } else {
            *out = id;
        }
    }
    free(path);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Reads the whole file at path, refusing one over DR_WAL_FILE_MAX with a message that says so
 * (a wal_segment_size over 64 MiB). */
static int read_wal_file(const char *path, struct dr_buf *out)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        return dr_error_errno(dr_error_from_errno(errno), "cannot read '%s'", path);
    }
    if (!S_ISREG(st.st_mode)) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > DR_WAL_FILE_MAX) {
        return dr_errorf(DR_EUSAGE,
                         "'%s' has %lld bytes; WAL files of more than %u bytes "
                         "(wal_segment_size over 64MB) are not supported",
                         path, (long long)st.st_size, DR_WAL_FILE_MAX);
    }
    return dr_fs_read_file(path, out);
}

int dr_wal_read(struct dr_repo *r, const char *obj, struct dr_buf *out)
{
    struct dr_buf raw = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    int rc = dr_backend_get(dr_repo_backend(r), obj, 0, UINT64_MAX, &raw);
    if (rc >= 0) {
        rc = dr_walseg_decode(dr_repo_keys(r), dr_repo_compressor(r), obj, (const uint8_t *)raw.buf,
                              raw.len, out);
    }
    dr_buf_release(&raw);
    return rc;
}

int dr_wal_push(struct dr_repo *r, uint64_t sysid, const char *path, enum dr_wal_pushed *out)
{
    struct dr_wal_file f;
    int rc = dr_wal_file_parse(base_name(path), &f);
    if (rc < 0) {
        return rc;
    }
    char *obj = dr_wal_object_name(sysid, &f);
    struct dr_buf file = DR_BUF_INIT(DR_WAL_FILE_MAX);
    struct dr_buf enc = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    struct dr_buf old = DR_BUF_INIT(DR_WAL_FILE_MAX);
    rc = read_wal_file(path, &file);
    rc = rc < 0 ? rc
                : dr_walseg_encode(dr_repo_keys(r), dr_repo_compressor(r), obj,
                                   (const uint8_t *)file.buf, file.len, &enc);
    rc = rc < 0 ? rc : DR_FAULT_POINT("wal.before_put");
    if (rc >= 0) {
        /* exclusive: an archived file is never replaced, whatever a caller sends later */
        rc = dr_backend_put(dr_repo_backend(r), obj, enc.buf, enc.len, true);
        *out = DR_WAL_STORED;
    }
    if (rc == DR_EEXIST) {
        /* PostgreSQL pushes a file again when it did not see the first push succeed (a crash
         * after the write, a timeout): the same bytes are a success, other bytes never are */
        dr_error_clear();
        rc = dr_wal_read(r, obj, &old);
        if (rc >= 0 && (old.len != file.len || memcmp(old.buf, file.buf, file.len) != 0)) {
            rc = dr_errorf(DR_EEXIST,
                           "WAL file %s of cluster %" PRIu64
                           " is already archived with different content (%zu bytes archived, "
                           "%zu given); refusing to replace it: is another cluster archiving "
                           "with the same system identifier?",
                           f.name, sysid, old.len, file.len);
        } else if (rc >= 0) {
            *out = DR_WAL_ALREADY;
        } else {
            rc = dr_error_wrap(rc, "WAL file %s is archived but its copy cannot be read", f.name);
        }
    }
    rc = rc < 0 ? rc : DR_FAULT_POINT("wal.after_put");
    dr_buf_release(&file);
    dr_buf_release(&enc);
    dr_buf_release(&old);
    free(obj);
    return rc;
}

int dr_wal_not_archived(const char *name, uint64_t sysid)
{
    return dr_errorf(DR_ENOENT, "WAL file %s of cluster %" PRIu64 " is not in the repository", name,
                     sysid);
}

int dr_wal_get(struct dr_repo *r, uint64_t sysid, const char *name, const char *dest)
{
    struct dr_wal_file f;
    int rc = dr_wal_file_parse(name, &f);
    if (rc < 0) {
        return rc;
    }
    char *obj = dr_wal_object_name(sysid, &f);
    struct dr_buf file = DR_BUF_INIT(DR_WAL_FILE_MAX);
    rc = dr_wal_read(r, obj, &file);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rc = dr_wal_not_archived(name, sysid);
    }
    rc = rc < 0 ? rc : dr_fs_write_atomic(dest, file.buf, file.len, false);
    dr_buf_release(&file);
    free(obj);
    return rc;
}

/* ---- listing ---- */

struct lister {
    struct dr_wal_archive *a;
    size_t n, alloc;
};

static struct dr_wal_archive *archive_of(struct lister *l, uint64_t sysid)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->a[i].sysid == sysid) {
            return &l->a[i];
        }
    }
    DR_GROW(l->a, l->alloc, l->n + 1);
    struct dr_wal_archive *a = &l->a[l->n++];
    memset(a, 0, sizeof(*a));
    a->sysid = sysid;
    return a;
}

struct list_arg {
    struct lister l;
    uint64_t want;
};

static int list_cb(void *arg, const char *name, uint64_t size)
{
    struct list_arg *la = arg;
    uint64_t sysid;
    struct dr_wal_file f;
    size_t pl = strlen(DR_OBJ_WAL);
    if (strncmp(name, DR_OBJ_WAL "/", pl + 1) != 0 ||
        !dr_wal_object_parse(name + pl + 1, &sysid, &f)) {
        return 0; /* not an archived file: check reports what does not belong */
    }
    if (la->want && sysid != la->want) {
        return 0;
    }
    struct dr_wal_archive *a = archive_of(&la->l, sysid);
    DR_GROW(a->v, a->valloc, a->n + 1);
    a->v[a->n++] = (struct dr_wal_entry){.f = f, .size = size};
    a->bytes += size;
    return 0;
}

static int cmp_entry(const void *x, const void *y)
{
    const struct dr_wal_entry *a = x, *b = y;
    if (a->f.tli != b->f.tli) {
        return a->f.tli < b->f.tli ? -1 : 1;
    }
    if (a->f.log != b->f.log) {
        return a->f.log < b->f.log ? -1 : 1;
    }
    if (a->f.seg != b->f.seg) {
        return a->f.seg < b->f.seg ? -1 : 1;
    }
    return strcmp(a->f.name, b->f.name);
}

static int cmp_archive(const void *x, const void *y)
{
    const struct dr_wal_archive *a = x, *b = y;
    return a->sysid < b->sysid ? -1 : a->sysid > b->sysid;
}

uint64_t dr_wal_segno(const struct dr_wal_file *f, uint64_t seg_size)
{
    return (uint64_t)f->log * (0x100000000ull / seg_size) + f->seg;
}

void dr_wal_segment_name(uint32_t tli, uint64_t segno, uint64_t seg_size,
                         char out[DR_WAL_FILE_NAME_MAX])
{
    uint64_t per = 0x100000000ull / seg_size;
    snprintf(out, DR_WAL_FILE_NAME_MAX, "%08" PRIX32 "%08" PRIX32 "%08" PRIX32, tli,
             (uint32_t)(segno / per), (uint32_t)(segno % per));
}

/* The segment size, from the clear header of the first full segment's object: every segment of
 * a cluster has wal_segment_size bytes, a power of two from 1 MiB to 1 GiB. */
static int seg_size_of(struct dr_repo *r, struct dr_wal_archive *a)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].f.kind != DR_WAL_SEGMENT) {
            continue;
        }
        char *obj = dr_wal_object_name(a->sysid, &a->v[i].f);
        struct dr_buf hdr = DR_BUF_INIT(DR_WALSEG_HDR_LEN);
        uint64_t n = 0;
        int rc = dr_backend_get(dr_repo_backend(r), obj, 0, DR_WALSEG_HDR_LEN, &hdr);
        rc = rc < 0 ? rc : dr_walseg_length(obj, (const uint8_t *)hdr.buf, hdr.len, &n);
        if (rc >= 0 && (n < (1u << 20) || n > (1ull << 30) || (n & (n - 1)) != 0)) {
            rc = dr_errorf(DR_ECORRUPT, "%s: %" PRIu64 " bytes is not a WAL segment size", obj, n);
        }
        dr_buf_release(&hdr);
        free(obj);
        if (rc >= 0) {
            a->seg_size = n;
        }
        return rc;
    }
    return 0;
}

static void make_ranges(struct dr_wal_archive *a)
{
    size_t alloc = 0;
    a->nranges = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct dr_wal_file *f = &a->v[i].f;
        if (f->kind != DR_WAL_SEGMENT) {
            continue;
        }
        uint64_t s = dr_wal_segno(f, a->seg_size);
        struct dr_wal_range *last = a->nranges ? &a->ranges[a->nranges - 1] : NULL;
        if (last && last->tli == f->tli && last->last + 1 == s) {
            last->last = s;
            continue;
        }
        DR_GROW(a->ranges, alloc, a->nranges + 1);
        a->ranges[a->nranges++] = (struct dr_wal_range){.tli = f->tli, .first = s, .last = s};
    }
}

int dr_wal_list(struct dr_repo *r, uint64_t sysid, struct dr_wal_archive **out, size_t *out_n)
{
    struct list_arg la = {.want = sysid};
    int rc = dr_backend_list(dr_repo_backend(r), DR_OBJ_WAL, list_cb, &la);
    for (size_t i = 0; rc >= 0 && i < la.l.n; i++) {
        struct dr_wal_archive *a = &la.l.a[i];
        qsort(a->v, a->n, sizeof(a->v[0]), cmp_entry);
        rc = seg_size_of(r, a);
        if (rc >= 0 && a->seg_size) {
            make_ranges(a);
        }
    }
    if (rc < 0) {
        dr_wal_archives_free(la.l.a, la.l.n);
        return rc;
    }
    if (la.l.n) {
        qsort(la.l.a, la.l.n, sizeof(la.l.a[0]), cmp_archive);
    }
    *out = la.l.a;
    *out_n = la.l.n;
    return 0;
}

void dr_wal_archives_free(struct dr_wal_archive *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].v);
        free(a[i].ranges);
    }
    free(a);
}

uint64_t dr_wal_first_gap(const struct dr_wal_archive *a, uint32_t tli, uint64_t from,
                          uint64_t *out_last_ok)
{
    const struct dr_wal_range *hit = NULL, *end = NULL;
    for (size_t i = 0; i < a->nranges; i++) {
        const struct dr_wal_range *g = &a->ranges[i];
        if (g->tli != tli) {
            continue;
        }
        end = g;
        if (g->first <= from && from <= g->last) {
            hit = g;
        }
    }
    *out_last_ok = hit ? hit->last : from ? from - 1 : 0;
    if (!hit) {
        return from ? from : UINT64_MAX; /* UINT64_MAX: segment 0 itself is missing */
    }
    return hit == end ? 0 : hit->last + 1;
}

/* ---- positions and times ---- */

int dr_wal_parse_lsn(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long hi = strtoull(s, &end, 16);
    if (end == s || *end != '/' || errno || hi > UINT32_MAX || s[0] == '-' || s[0] == '+') {
        return dr_errorf(DR_EUSAGE, "'%s' is not an LSN (like 16/B374D848)", s);
    }
    const char *lo_s = end + 1;
    unsigned long long lo = strtoull(lo_s, &end, 16);
    if (end == lo_s || *end != '\0' || errno || lo > UINT32_MAX || lo_s[0] == '-' ||
        lo_s[0] == '+') {
        return dr_errorf(DR_EUSAGE, "'%s' is not an LSN (like 16/B374D848)", s);
    }
    *out = (uint64_t)hi << 32 | lo;
    return 0;
}

/* Reads exactly n decimal digits at *p (no sign, no blank), advancing *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Parses "+HH", "+HHMM" or "+HH:MM" (or with '-') at s into seconds east of UTC. */
static bool parse_offset(const char *s, long *out)
{
    int sign = s[0] == '-' ? -1 : 1;
    int h = 0, m = 0;
    const char *p = s + 1;
    if ((s[0] != '+' && s[0] != '-') || !digits(&p, 2, &h)) {
        return false;
    }
    if (*p == ':') {
        p++;
    }
    if (*p && (!digits(&p, 2, &m) || *p)) {
        return false;
    }
    if (h > 15 || m > 59) {
        return false;
    }
    *out = sign * (h * 3600L + m * 60L);
    return true;
}

int dr_wal_parse_time(const char *s, int64_t *out_ns)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = s;
    bool ok = digits(&p, 4, &tm.tm_year) && *p++ == '-' && digits(&p, 2, &tm.tm_mon) &&
              *p++ == '-' && digits(&p, 2, &tm.tm_mday) && (*p == ' ' || *p == 'T') && p++ &&
              digits(&p, 2, &tm.tm_hour) && *p++ == ':' && digits(&p, 2, &tm.tm_min) &&
              *p++ == ':' && digits(&p, 2, &tm.tm_sec);
    if (!ok || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a time like 'YYYY-MM-DD HH:MM:SS[+TZ]'", s);
    }
    int64_t frac_ns = 0;
    if (*p == '.') {
        int64_t scale = 100000000;
        if (p[1] < '0' || p[1] > '9') {
            return dr_errorf(DR_EUSAGE, "'%s': a '.' without digits after the seconds", s);
        }
        for (p++; *p >= '0' && *p <= '9'; p++) {
            frac_ns += (*p - '0') * scale;
            scale /= 10;
        }
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t;
    long off = 0;
    if (*p == '\0') {
        tm.tm_isdst = -1;
        t = mktime(&tm); /* no zone: the local one, as PostgreSQL's TimeZone defaults to */
    } else if (!strcmp(p, "Z") || !strcmp(p, " UTC") || !strcmp(p, "UTC") ||
               parse_offset(p[0] == ' ' ? p + 1 : p, &off)) {
        t = timegm(&tm) - off;
    } else {
        return dr_errorf(DR_EUSAGE, "'%s': cannot read the time zone '%s' (use +HH:MM or Z)", s, p);
    }
    if (t == (time_t)-1) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a time this system can represent", s);
    }
    *out_ns = (int64_t)t * 1000000000 + frac_ns;
    return 0;
}

/* ---- recovery settings ---- */

#define RECOVERY_MARK "# recovery settings written by drrepo restore\n"

/* Appends "key = 'value'\n" with the value quoted as postgresql.conf wants (' doubled). */
static int conf_line(struct dr_buf *b, const char *key, const char *value)
{
    int rc = dr_buf_addf(b, "%s = '", key);
    for (const char *c = value; rc >= 0 && *c; c++) {
        rc = *c == '\'' ? dr_buf_add(b, "''", 2) : dr_buf_addch(b, *c);
    }
    return rc < 0 ? rc : dr_buf_add(b, "'\n", 2);
}

int dr_wal_write_recovery(const char *datadir, const char *restore_command, const char *end_command,
                          const char *target_kind, const char *target)
{
    char *conf = dr_fs_join(datadir, "postgresql.auto.conf");
    char *signal = dr_fs_join(datadir, "recovery.signal");
    char *standby = dr_fs_join(datadir, "standby.signal");
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    int rc = dr_fs_read_file(conf, &b);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rc = 0;
    }
    /* a second restore into the same directory replaces the block an earlier one wrote (it is
     * always last): a stale target must not linger above the new one */
    char *mark = rc < 0 ? NULL : strstr(b.buf, RECOVERY_MARK);
    if (mark && (mark == b.buf || mark[-1] == '\n')) {
        dr_buf_setlen(&b, (size_t)(mark - b.buf));
    }
    /* later lines win in postgresql.conf files: these override whatever the backup carried */
    rc = rc < 0
             ? rc
             : dr_buf_addf(&b, "%s" RECOVERY_MARK, b.len && b.buf[b.len - 1] != '\n' ? "\n" : "");
    rc = rc < 0 ? rc : conf_line(&b, "restore_command", restore_command);
    if (end_command && rc >= 0) {
        rc = conf_line(&b, "recovery_end_command", end_command);
    }
    rc = rc < 0 ? rc : conf_line(&b, "recovery_target_timeline", "latest");
    if (target_kind && rc >= 0) {
        char *key = dr_xasprintf("recovery_target_%s", target_kind);
        rc = conf_line(&b, key, target);
        rc = rc < 0 ? rc : conf_line(&b, "recovery_target_action", "promote");
        rc = rc < 0 ? rc : conf_line(&b, "recovery_target_inclusive", "true");
        free(key);
    }
    rc = rc < 0 ? rc : dr_fs_write_atomic(conf, b.buf, b.len, false);
    rc = rc < 0 ? rc : dr_fs_write_atomic(signal, "", 0, false);
    if (rc >= 0 && unlink(standby) < 0 && errno != ENOENT) {
        rc = dr_error_errno(DR_EIO, "cannot remove '%s'", standby);
    }
    dr_buf_release(&b);
    free(conf);
    free(signal);
    free(standby);
    return rc;
}

/* ---- point-in-time restore ---- */

int dr_wal_target_parse(enum dr_wal_target_kind kind, const char *value, struct dr_wal_target *out)
{
    struct dr_wal_target t = {.kind = kind, .value = value};
    int rc = 0;
    uint64_t xid;
    switch (kind) {
    case DR_WAL_TARGET_LATEST: t.value = NULL; break;
    case DR_WAL_TARGET_TIME: rc = dr_wal_parse_time(value, &t.time_ns); break;
    case DR_WAL_TARGET_LSN: rc = dr_wal_parse_lsn(value, &t.lsn); break;
    case DR_WAL_TARGET_XID:
        if (dr_parse_u64(value, &xid) < 0 || xid < 3 || xid > UINT32_MAX) {
            rc = dr_errorf(DR_EUSAGE, "'%s' is not a transaction id", value);
        }
        break;
    }
    if (rc >= 0) {
        *out = t;
    }
    return rc;
}

const char *dr_wal_target_setting(const struct dr_wal_target *t)
{
    static const char *const names[] = {
        [DR_WAL_TARGET_LATEST] = NULL,
        [DR_WAL_TARGET_TIME] = "time",
        [DR_WAL_TARGET_LSN] = "lsn",
        [DR_WAL_TARGET_XID] = "xid",
    };
    return names[t->kind];
}

/* The WAL position of base backup s, from its meta (written by src/source/pg.c): false for a
 * snapshot that is not a PostgreSQL base backup, or whose position does not parse. The one
 * reader of these keys for recovery, retention and the window. */
struct backup_pos {
    uint64_t sysid, start_lsn, end_lsn;
    uint32_t end_tli;
};

static bool backup_pos(const struct dr_snapshot *s, struct backup_pos *p)
{
    const char *sid = dr_snapshot_get_meta(s, "pg.system_identifier");
    const char *start = dr_snapshot_get_meta(s, "pg.start_lsn");
    const char *end = dr_snapshot_get_meta(s, "pg.end_lsn");
    const char *tli = dr_snapshot_get_meta(s, "pg.end_timeline");
    uint64_t t;
    if (!s->source || strcmp(s->source, "postgresql") != 0 || !sid || !start || !end || !tli ||
        dr_parse_u64(sid, &p->sysid) < 0 || dr_wal_parse_lsn(start, &p->start_lsn) < 0 ||
        dr_wal_parse_lsn(end, &p->end_lsn) < 0 || dr_parse_u64(tli, &t) < 0 || t == 0 ||
        t > UINT32_MAX) {
        dr_error_clear();
        return false;
    }
    p->end_tli = (uint32_t)t;
    return true;
}

bool dr_wal_backup_reaches(const struct dr_snapshot *s, const struct dr_wal_target *t)
{
    struct backup_pos p;
    if (!backup_pos(s, &p)) {
        return false;
    }
    if (t->kind == DR_WAL_TARGET_TIME) {
        /* a backup is consistent only from its end: recovery to a time before it fails */
        const char *end = dr_snapshot_get_meta(s, "pg.end_time");
        int64_t end_ns = s->time_ns;
        if (end && dr_wal_parse_time(end, &end_ns) < 0) {
            dr_error_clear();
            return false;
        }
        return end_ns <= t->time_ns;
    }
    return t->kind != DR_WAL_TARGET_LSN || p.end_lsn <= t->lsn;
}

int dr_wal_backup_start(const struct dr_snapshot *s, uint64_t seg_size, uint64_t *out_sysid,
                        uint32_t *out_tli, uint64_t *out_segno)
{
    /* the backup carries its WAL up to its end position (BASE_BACKUP ... WAL): what recovery
     * must fetch from the archive starts with the segment that holds the end */
    struct backup_pos p;
    if (!backup_pos(s, &p)) {
        return dr_errorf(DR_ECORRUPT,
                         "the snapshot is not a PostgreSQL base backup with its WAL position "
                         "(meta pg.system_identifier, pg.start_lsn, pg.end_lsn, pg.end_timeline)");
    }
    *out_sysid = p.sysid;
    *out_tli = p.end_tli;
    *out_segno = seg_size ? p.end_lsn / seg_size : 0;
    return 0;
}

int dr_wal_chain(const struct dr_wal_archive *a, size_t n, const struct dr_snapshot *s,
                 const struct dr_wal_target *t, char out_last[DR_WAL_FILE_NAME_MAX],
                 char out_gap[DR_WAL_FILE_NAME_MAX])
{
    uint64_t sysid = 0, segno = 0; /* set when dr_wal_backup_start succeeds */
    uint32_t tli = 0;
    out_last[0] = out_gap[0] = '\0';
    if (n == 0 || a[0].seg_size == 0) {
        return 0;
    }
    uint64_t size = a[0].seg_size, last_ok = 0;
    int rc = dr_wal_backup_start(s, size, &sysid, &tli, &segno);
    uint64_t g = rc < 0 ? 0 : dr_wal_first_gap(&a[0], tli, segno, &last_ok);
    uint64_t gapseg = g == UINT64_MAX ? 0 : g;
    if (g) {
        dr_wal_segment_name(tli, gapseg, size, out_gap);
    }
    if (rc >= 0 && !(g && gapseg == segno)) {
        dr_wal_segment_name(tli, last_ok, size, out_last);
    }
    if (rc >= 0 && g && t->kind == DR_WAL_TARGET_LSN && t->lsn / size >= gapseg) {
        rc = dr_errorf(DR_EDAMAGED,
                       "WAL file %s of cluster %" PRIu64
                       " is missing from the archive: recovery from this base backup cannot "
                       "reach %s",
                       out_gap, sysid, t->value);
    }
    return rc;
}

int dr_wal_check_chain(struct dr_repo *r, const struct dr_snapshot *s,
                       const struct dr_wal_target *t, char out_last[DR_WAL_FILE_NAME_MAX],
                       char out_gap[DR_WAL_FILE_NAME_MAX])
{
    uint64_t sysid = 0, segno = 0; /* set when dr_wal_backup_start succeeds */
    uint32_t tli = 0;
    out_last[0] = out_gap[0] = '\0';
    int rc = dr_wal_backup_start(s, 0, &sysid, &tli, &segno);
    struct dr_wal_archive *a = NULL;
    size_t n = 0;
    rc = rc < 0 ? rc : dr_wal_list(r, sysid, &a, &n);
    rc = rc < 0 ? rc : dr_wal_chain(a, n, s, t, out_last, out_gap);
    dr_wal_archives_free(a, n);
    return rc;
}

/* ---- retention ---- */

/* The lowest start segment of a base backup of cluster a (UINT64_MAX: none). */
static uint64_t oldest_start(const struct dr_wal_archive *a, const struct dr_snap_entry *snaps,
                             size_t n)
{
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        struct backup_pos p;
        if (backup_pos(&snaps[i].snap, &p) && p.sysid == a->sysid) {
            best = DR_MIN(best, p.start_lsn / a->seg_size);
        }
    }
    return best;
}

int dr_wal_prune(struct dr_repo *r, bool dry_run, uint64_t *out_files, uint64_t *out_bytes)
{
    struct dr_wal_archive *a = NULL;
    size_t na = 0, n = 0;
    struct dr_snap_entry *snaps = NULL;
    *out_files = *out_bytes = 0;
    int rc = dr_wal_list(r, 0, &a, &na);
    if (rc >= 0 && na) {
        rc = dr_repo_snapshot_list(r, &snaps, &n, NULL);
    }
    for (size_t i = 0; rc >= 0 && i < na; i++) {
        if (!a[i].seg_size) {
            continue; /* only history files */
        }
        uint64_t keep_from = oldest_start(&a[i], snaps, n);
        for (size_t k = 0; rc >= 0 && k < a[i].n; k++) {
            const struct dr_wal_file *f = &a[i].v[k].f;
            if (keep_from == UINT64_MAX || f->kind == DR_WAL_HISTORY ||
                dr_wal_segno(f, a[i].seg_size) >= keep_from) {
                continue;
            }
            (*out_files)++;
            *out_bytes += a[i].v[k].size;
            if (dry_run) {
                continue;
            }
            char *obj = dr_wal_object_name(a[i].sysid, f);
            rc = dr_repo_check_lock(r);
            rc = rc < 0 ? rc : dr_repo_delete_object(r, obj);
            if (rc == DR_ENOENT) {
                dr_error_clear(); /* another prune was first */
                rc = 0;
            }
            free(obj);
        }
    }
    dr_snap_list_free(snaps, n);
    dr_wal_archives_free(a, na);
    return rc;
}

size_t dr_wal_window_backup(const struct dr_snap_entry *snaps, size_t n, const char *sysid,
                            int64_t time_ns)
{
    struct dr_wal_target t = {.kind = DR_WAL_TARGET_TIME, .time_ns = time_ns};
    size_t best = n;
    for (size_t i = 0; i < n; i++) {
        const char *sid = dr_snapshot_get_meta(&snaps[i].snap, "pg.system_identifier");
        if (sid && strcmp(sid, sysid) == 0 && dr_wal_backup_reaches(&snaps[i].snap, &t)) {
            best = i; /* oldest first: the last that qualifies is the newest */
        }
    }
    return best;
}

/* ---- the recoverable window ---- */

/* The last segment recovery from backup s reaches in archive a (false: none of its WAL is
 * archived), and its timeline. */
static bool reach_of(const struct dr_wal_archive *a, const struct dr_snapshot *s, uint32_t *tli,
                     uint64_t *out)
{
    uint64_t sysid = 0, segno = 0, last_ok = 0;
    if (dr_wal_backup_start(s, a->seg_size, &sysid, tli, &segno) < 0) {
        dr_error_clear();
        return false;
    }
    if (sysid != a->sysid) {
        return false;
    }
    uint64_t g = dr_wal_first_gap(a, *tli, segno, &last_ok);
    if (g == 0) {
        for (size_t i = 0; i < a->nranges; i++) {
            if (a->ranges[i].tli == *tli) {
                last_ok = a->ranges[i].last;
            }
        }
    } else if (g == segno || g == UINT64_MAX) {
        return false;
    }
    *out = last_ok;
    return true;
}

int dr_wal_window(struct dr_repo *r, const struct dr_wal_archive *a,
                  const struct dr_snap_entry *snaps, size_t n, struct dr_wal_window *out)
{
    memset(out, 0, sizeof(*out));
    if (!a->seg_size) {
        return 0;
    }
    uint64_t to = 0;
    uint32_t to_tli = 0;
    bool have = false;
    for (size_t i = n; i-- > 0;) { /* newest first: the newest backup's reach is the end */
        uint64_t reach = 0, sysid = 0, segno = 0;
        uint32_t tli = 0;
        const struct dr_snapshot *s = &snaps[i].snap;
        if (dr_wal_backup_start(s, a->seg_size, &sysid, &tli, &segno) < 0) {
            dr_error_clear();
            continue;
        }
        if (sysid != a->sysid) {
            continue;
        }
        out->backups++;
        bool reaches = reach_of(a, s, &tli, &reach);
        if (!have) {
            have = true;
            to = reaches ? reach : 0;
            to_tli = tli;
            if (!reaches) {
                out->to[0] = '\0';
            }
        } else if (!reaches || tli != to_tli || reach != to) {
            continue;
        }
        const char *end = dr_snapshot_get_meta(s, "pg.end_time");
        out->backup = snaps[i].id;
        out->from_ns = s->time_ns;
        if (end && dr_wal_parse_time(end, &out->from_ns) < 0) {
            dr_error_clear();
        }
        snprintf(out->from_lsn, sizeof(out->from_lsn), "%s", dr_snapshot_get_meta(s, "pg.end_lsn"));
        if (!reaches) {
            return 0; /* the newest backup's WAL is not archived: it alone is the window */
        }
    }
    if (!have || to == 0) {
        return 0;
    }
    dr_wal_segment_name(to_tli, to, a->seg_size, out->to);
    struct dr_wal_file f;
    int rc = dr_wal_file_parse(out->to, &f);
    char *obj = rc < 0 ? NULL : dr_wal_object_name(a->sysid, &f);
    int64_t age = 0;
    rc = rc < 0 ? rc : dr_backend_age(dr_repo_backend(r), obj, &age);
    if (rc >= 0) {
        out->to_ns = dr_time_now_ns() - age;
    } else if (rc == DR_EUNSUPPORTED) {
        dr_error_clear();
        rc = 0;
    }
    free(obj);
    return rc;
}
