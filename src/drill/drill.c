/* drill.c: restore drills (see drill.h) and the drill result objects (format/drill.md).
 *
 * A drill restores the snapshot into a private temporary directory, which proves every chunk
 * (restore authenticates each one and recomputes its id), compares what landed on disk with the
 * tree, then checks the data the way its source calls for: a scratch redis-server that must load
 * the RDB with the recorded keys per database, the PostgreSQL drill (drill_pg.c), and the user's
 * --restore-command. The outcome is a result, not an error: a damaged snapshot gives a drill
 * that ran and failed (ok = false, reason set), which is stored like a pass. Only a drill that
 * could not run at all (no such snapshot, no temporary space, no redis-server binary) returns an
 * error and stores nothing.
 *
 * Whatever the drill starts, it stops: servers are killed by pid on every path, and the
 * temporary directory is removed. */
#include "drrepo/drill.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/reader.h"
#include "drrepo/restore.h"
#include "drrepo/util.h"

extern char **environ;

#define DRILL_VERSION 1u
#define DRILL_HDR_LEN (DR_MAGIC_LEN + 4 + 4)
#define REDIS_START_TIMEOUT_NS (600LL * 1000000000) /* a large RDB takes a while to load */
#define STOP_GRACE_NS (10LL * 1000000000)

enum drill_tag {
    TAG_SNAPSHOT = 1,
    TAG_TIME = 2,
    TAG_DURATION = 3,
    TAG_RTO = 4,
    TAG_OK = 5,
    TAG_KIND = 6,
    TAG_CHECKED = 7,
    TAG_REASON = 8,
    TAG_HOST = 9,
    TAG_KNOWN_MAX = 9,
};

void dr_drill_result_release(struct dr_drill_result *res)
{
    free(res->kind);
    free(res->checked);
    free(res->reason);
    memset(res, 0, sizeof(*res));
}

/* ---- the drill object ---- */

static int add_field(struct dr_buf *b, uint16_t tag, const void *v, size_t len)
{
    int rc = dr_buf_add_u16le(b, tag);
    rc = rc < 0 ? rc : dr_buf_add_u32le(b, (uint32_t)len);
    return rc < 0 ? rc : dr_buf_add(b, v, len);
}

static int add_i64(struct dr_buf *b, uint16_t tag, int64_t v)
{
    uint8_t t[8];
    dr_put_u64le(t, (uint64_t)v);
    return add_field(b, tag, t, sizeof(t));
}

static int add_str(struct dr_buf *b, uint16_t tag, const char *s)
{
    if (!s || !s[0]) {
        return 0;
    }
    /* a reason can quote a long server log: cut it rather than fail to record the drill */
    size_t n = DR_MIN(strlen(s), (size_t)DR_STRING_MAX);
    return add_field(b, tag, s, n);
}

static int encode(const struct dr_keys *k, const struct dr_drill_result *res, const char *host,
                  struct dr_buf *out, struct dr_id *out_id)
{
    struct dr_buf body = DR_BUF_INIT(DR_DRILL_MAX);
    uint8_t ok = res->ok ? 1 : 0;
    int rc = add_field(&body, TAG_SNAPSHOT, res->snapshot.b, DR_ID_LEN);
    rc = rc < 0 ? rc : add_i64(&body, TAG_TIME, res->time_ns);
    rc = rc < 0 ? rc : add_i64(&body, TAG_DURATION, res->duration_ns);
    rc = rc < 0 ? rc : add_i64(&body, TAG_RTO, res->rto_ns);
    rc = rc < 0 ? rc : add_field(&body, TAG_OK, &ok, 1);
    rc = rc < 0 ? rc : add_str(&body, TAG_KIND, res->kind);
    rc = rc < 0 ? rc : add_str(&body, TAG_CHECKED, res->checked);
    rc = rc < 0 ? rc : add_str(&body, TAG_REASON, res->reason);
    rc = rc < 0 ? rc : add_str(&body, TAG_HOST, host);
    if (rc < 0) {
        dr_buf_release(&body);
        return dr_errorf(DR_EUSAGE, "drill result is larger than %u bytes", DR_DRILL_MAX);
    }
    uint8_t hdr[DRILL_HDR_LEN];
    memcpy(hdr, DR_MAGIC_DRILL, DR_MAGIC_LEN);
    dr_put_u32le(hdr + DR_MAGIC_LEN, DRILL_VERSION);
    dr_put_u32le(hdr + DR_MAGIC_LEN + 4, 0);
    size_t start = out->len;
    rc = dr_buf_add(out, hdr, sizeof(hdr));
    rc = rc < 0 ? rc : dr_crypto_seal(k, hdr, sizeof(hdr), body.buf, body.len, out);
    if (rc >= 0) {
        dr_crypto_hash(out->buf + start, out->len - start, out_id);
    }
    dr_buf_release(&body);
    return rc;
}

#define CORRUPT(hex, fmt, ...) dr_errorf(DR_ECORRUPT, "drill %s: " fmt, (hex), ##__VA_ARGS__)

static int dec_str(const char *hex, const uint8_t *v, size_t len, char **out)
{
    if (len > DR_STRING_MAX || memchr(v, '\0', len)) {
        return CORRUPT(hex, "string field is over %u bytes or contains NUL", DR_STRING_MAX);
    }
    free(*out);
    *out = dr_xstrndup((const char *)v, len);
    return 0;
}

/* Verifies the name, opens and parses a drill object into res (zeroed first). */
static int decode(const struct dr_keys *k, const struct dr_id *id, const uint8_t *p, size_t len,
                  struct dr_drill_result *res)
{
    char hex[DR_ID_HEX_LEN + 1];
    struct dr_id got;
    dr_id_hex(id, hex);
    dr_crypto_hash(p, len, &got);
    if (!dr_id_eq(&got, id)) {
        return CORRUPT(hex, "content does not match its name");
    }
    if (len < DRILL_HDR_LEN || memcmp(p, DR_MAGIC_DRILL, DR_MAGIC_LEN) != 0) {
        return CORRUPT(hex, "bad magic");
    }
    uint32_t version = dr_get_u32le(p + DR_MAGIC_LEN);
    if (version > DRILL_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED, "drill %s: version %u is newer than supported (%u)", hex,
                         version, DRILL_VERSION);
    }
    if (version != DRILL_VERSION || dr_get_u32le(p + DR_MAGIC_LEN + 4) != 0) {
        return CORRUPT(hex, "invalid version or reserved field");
    }
    if (len - DRILL_HDR_LEN > (size_t)DR_DRILL_MAX + DR_AEAD_OVERHEAD) {
        return CORRUPT(hex, "file is %zu bytes, more than the limit", len);
    }
    struct dr_buf body = DR_BUF_INIT(DR_DRILL_MAX);
    struct dr_drill_result r;
    memset(&r, 0, sizeof(r));
    unsigned seen = 0;
    int rc = dr_crypto_unseal(k, p, DRILL_HDR_LEN, p + DRILL_HDR_LEN, len - DRILL_HDR_LEN, &body);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "drill %s: cannot open (wrong key or tampered)", hex);
        goto out;
    }
    struct dr_reader rd;
    dr_rd_init(&rd, (const uint8_t *)body.buf, body.len);
    while (rc >= 0 && dr_rd_left(&rd) > 0) {
        uint16_t tag = dr_rd_u16le(&rd);
        uint32_t flen = dr_rd_u32le(&rd);
        if (!dr_rd_ok(&rd) || flen > dr_rd_left(&rd)) {
            rc = CORRUPT(hex, "field with tag %u overruns the body", tag);
            break;
        }
        const uint8_t *v = dr_rd_bytes(&rd, flen);
        if (tag == 0 || tag > TAG_KNOWN_MAX) {
            continue; /* a field from a newer writer */
        }
        if (seen & (1u << tag)) {
            rc = CORRUPT(hex, "field %u appears twice", tag);
            break;
        }
        seen |= 1u << tag;
        bool fixed8 = tag == TAG_TIME || tag == TAG_DURATION || tag == TAG_RTO;
        if ((tag == TAG_SNAPSHOT && flen != DR_ID_LEN) || (fixed8 && flen != 8) ||
            (tag == TAG_OK && (flen != 1 || v[0] > 1))) {
            rc = CORRUPT(hex, "field %u has a bad value", tag);
            break;
        }
        switch (tag) {
        case TAG_SNAPSHOT: memcpy(r.snapshot.b, v, DR_ID_LEN); break;
        case TAG_TIME: r.time_ns = (int64_t)dr_get_u64le(v); break;
        case TAG_DURATION: r.duration_ns = (int64_t)dr_get_u64le(v); break;
        case TAG_RTO: r.rto_ns = (int64_t)dr_get_u64le(v); break;
        case TAG_OK: r.ok = v[0] == 1; break;
        case TAG_KIND: rc = dec_str(hex, v, flen, &r.kind); break;
        case TAG_CHECKED: rc = dec_str(hex, v, flen, &r.checked); break;
        case TAG_REASON: rc = dec_str(hex, v, flen, &r.reason); break;
        default: break; /* host: recorded for people reading the object, not used here */
        }
    }
    const unsigned required = (1u << TAG_SNAPSHOT) | (1u << TAG_TIME) | (1u << TAG_OK);
    if (rc >= 0 && (seen & required) != required) {
        rc = CORRUPT(hex, "a required field (snapshot, time, ok) is missing");
    }
    if (rc >= 0) {
        if (!r.kind) {
            r.kind = dr_xstrdup("");
        }
        if (!r.checked) {
            r.checked = dr_xstrdup("");
        }
        *res = r;
        memset(&r, 0, sizeof(r));
    }
out:
    dr_drill_result_release(&r);
    dr_buf_release(&body);
    return rc;
}

int dr_drill_save(struct dr_repo *r, const struct dr_drill_result *res)
{
    char host[256];
    if (gethostname(host, sizeof(host)) < 0) {
        host[0] = '\0';
    }
    host[sizeof(host) - 1] = '\0';
    struct dr_buf file = DR_BUF_INIT(DRILL_HDR_LEN + DR_DRILL_MAX + DR_AEAD_OVERHEAD);
    struct dr_id id;
    int rc = encode(dr_repo_keys(r), res, host, &file, &id);
    if (rc >= 0) {
        char hex[DR_ID_HEX_LEN + 1];
        char *name = dr_xasprintf("drills/%s", dr_id_hex(&id, hex));
        rc = dr_backend_put(dr_repo_backend(r), name, file.buf, file.len, false);
        if (rc < 0) {
            rc = dr_error_wrap(rc, "cannot store the drill result");
        }
        free(name);
    }
    dr_buf_release(&file);
    return rc;
}

struct drill_names {
    char **v;
    size_t n, alloc;
};

static int list_cb(void *arg, const char *name, uint64_t size)
{
    struct drill_names *dn = arg;
    (void)size;
    DR_GROW(dn->v, dn->alloc, dn->n + 1);
    dn->v[dn->n++] = dr_xstrdup(name);
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct dr_drill_result *x = a, *y = b;
    return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

int dr_drill_list(struct dr_repo *r, const struct dr_id *id, dr_drill_cb cb, void *arg)
{
    struct drill_names dn = {0};
    struct dr_drill_result *v = NULL;
    size_t n = 0, alloc = 0;
    struct dr_buf raw = DR_BUF_INIT(DRILL_HDR_LEN + DR_DRILL_MAX + DR_AEAD_OVERHEAD);
    int rc = dr_backend_list(dr_repo_backend(r), "drills", list_cb, &dn);
    for (size_t i = 0; rc >= 0 && i < dn.n; i++) {
        struct dr_id did;
        const char *base = strrchr(dn.v[i], '/');
        if (!base || dr_id_parse(base + 1, &did) < 0) {
            dr_error_clear();
            continue; /* not a drill object: check reports it */
        }
        dr_buf_reset(&raw);
        struct dr_drill_result res;
        int grc = dr_backend_get(dr_repo_backend(r), dn.v[i], 0, UINT64_MAX, &raw);
        if (grc >= 0) {
            grc = decode(dr_repo_keys(r), &did, (const uint8_t *)raw.buf, raw.len, &res);
        }
        if (grc == DR_ENOENT) {
            dr_error_clear(); /* removed meanwhile */
            continue;
        }
        if (grc < 0) {
            /* one unreadable result must not hide the others */
            dr_log_warn("skipping drill result '%s': %s", dn.v[i], dr_error_msg());
            dr_error_clear();
            continue;
        }
        if (id && !dr_id_eq(id, &res.snapshot)) {
            dr_drill_result_release(&res);
            continue;
        }
        DR_GROW(v, alloc, n + 1);
        v[n++] = res;
    }
    if (n > 1) {
        qsort(v, n, sizeof(*v), by_time);
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = cb(arg, &v[i]);
    }
    for (size_t i = 0; i < n; i++) {
        dr_drill_result_release(&v[i]);
    }
    free(v);
    for (size_t i = 0; i < dn.n; i++) {
        free(dn.v[i]);
    }
    free(dn.v);
    dr_buf_release(&raw);
    return rc;
}

/* ---- helpers: results, processes, temporary directory ---- */

static void set_fail(struct dr_drill_result *res, const char *fmt, ...) DR_PRINTF(2, 3);
static void set_fail(struct dr_drill_result *res, const char *fmt, ...)
{
    if (!res->ok && res->reason) {
        return; /* the first reason is the one that matters */
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
    }
    va_end(ap);
    res->ok = false;
    free(res->reason);
    res->reason = msg ? msg : dr_xstrdup("drill failed");
}

static void add_checked(struct dr_drill_result *res, const char *fmt, ...) DR_PRINTF(2, 3);
static void add_checked(struct dr_drill_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *part = NULL;
    if (vasprintf(&part, fmt, ap) < 0) {
        part = NULL;
    }
    va_end(ap);
    if (!part) {
        return;
    }
    char *all = res->checked ? dr_xasprintf("%s; %s", res->checked, part) : dr_xstrdup(part);
    free(res->checked);
    free(part);
    res->checked = all;
}

static int unlock_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR) {
        chmod(path, (st->st_mode & 07777) | S_IRWXU); /* restored modes may forbid removal */
    }
    return 0;
}

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) < 0 && errno != ENOENT) {
        dr_log_warn("cannot remove '%s': %s", path, strerror(errno));
    }
    return 0;
}

static void remove_tree(const char *dir)
{
    if (nftw(dir, unlock_cb, 16, FTW_PHYS) < 0 ||
        nftw(dir, remove_cb, 16, FTW_PHYS | FTW_DEPTH) < 0) {
        dr_log_warn("cannot remove the drill's temporary directory '%s': %s", dir, strerror(errno));
    }
}

/* Waits up to grace for pid, then kills it hard. Never leaves it running or a zombie. */
static int stop_process(pid_t pid, int sig)
{
    int status = 0;
    kill(pid, sig);
    int64_t end = dr_mono_ns() + STOP_GRACE_NS;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) {
            return status;
        }
        if (dr_mono_ns() > end) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return status;
        }
        usleep(20000);
    }
}

static void describe_status(int status, char *out, size_t outlen)
{
    if (WIFEXITED(status)) {
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(out, outlen, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(out, outlen, "stopped");
    }
}

/* ---- comparing the restored files with the tree ---- */

struct cmp_ctx {
    struct dr_repo *r;
    const char *dir;
    struct dr_drill_result *res;
    uint64_t files, dirs, bytes, bad;
};

/* Why a file could not be restored: its content is read again (to /dev/null) to get the
 * message that names the damaged chunk and pack. */
static void file_reason(struct cmp_ctx *c, const char *path, const struct dr_node *n)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int rc = fd < 0 ? dr_error_errno(DR_EIO, "cannot open /dev/null")
                    : dr_restore_file_to_fd(c->r, n, fd, path);
    if (fd >= 0) {
        close(fd);
    }
    if (rc < 0) {
        set_fail(c->res, "%s", dr_error_msg());
    } else {
        set_fail(c->res, "'%s' was not restored", path);
    }
    dr_error_clear();
}

static int cmp_cb(void *arg, const char *path, const struct dr_node *n)
{
    struct cmp_ctx *c = arg;
    if (n->type != DR_NODE_FILE && n->type != DR_NODE_DIR && n->type != DR_NODE_SYMLINK) {
        return 0; /* special files need privileges to recreate: restore warns about them */
    }
    char *local = dr_xasprintf("%s%s", c->dir, path);
    struct stat st;
    if (lstat(local, &st) < 0) {
        c->bad++;
        if (n->type == DR_NODE_FILE) {
            file_reason(c, path, n);
        } else {
            set_fail(c->res, "'%s' is missing after the restore", path);
        }
    } else if (n->type == DR_NODE_FILE &&
               (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != n->size)) {
        c->bad++;
        set_fail(c->res, "'%s' has %llu bytes after the restore, the snapshot says %llu", path,
                 (unsigned long long)st.st_size, (unsigned long long)n->size);
    } else if ((n->type == DR_NODE_DIR && !S_ISDIR(st.st_mode)) ||
               (n->type == DR_NODE_SYMLINK && !S_ISLNK(st.st_mode))) {
        c->bad++;
        set_fail(c->res, "'%s' has the wrong type after the restore", path);
    } else if (n->type == DR_NODE_FILE) {
        c->files++;
        c->bytes += n->size;
    } else if (n->type == DR_NODE_DIR) {
        c->dirs++;
    }
    free(local);
    return 0;
}

/* Restores the snapshot into dir and compares the result with the tree. A damaged snapshot is
 * a failed drill; only errors that say nothing about the snapshot are returned. */
static int restore_and_compare(struct dr_repo *r, const struct dr_snapshot *s, const char *dir,
                               struct dr_drill_result *res)
{
    struct dr_restore_opts ro = {.target = dir};
    struct dr_restore_stats st;
    int rc = dr_restore_run(r, s, &ro, &st);
    if (rc == DR_ECORRUPT || rc == DR_ENOENT || rc == DR_EDAMAGED) {
        /* the tree walk below names the first file and why; this is the fallback */
        set_fail(res, "restore failed: %s", dr_error_msg());
        char *first = res->reason;
        res->reason = NULL;
        res->ok = true;
        dr_error_clear();
        struct cmp_ctx c = {.r = r, .dir = dir, .res = res};
        int wrc = dr_repo_walk(r, &s->tree, "", cmp_cb, &c);
        if (wrc < 0 || res->ok) {
            free(res->reason);
            res->reason = first;
            res->ok = false;
            dr_error_clear();
        } else {
            free(first);
        }
        return 0;
    }
    if (rc < 0) {
        return dr_error_wrap(rc, "drill cannot restore into '%s'", dir);
    }
    struct cmp_ctx c = {.r = r, .dir = dir, .res = res};
    rc = dr_repo_walk(r, &s->tree, "", cmp_cb, &c);
    if (rc < 0) {
        set_fail(res, "cannot walk the snapshot's tree: %s", dr_error_msg());
        dr_error_clear();
        return 0;
    }
    if (c.bad == 0) {
        char size[32];
        dr_size_format(c.bytes, size, sizeof(size));
        add_checked(res,
                    "restored %llu files (%s) and %llu directories, every chunk verified "
                    "against its id, sizes match the snapshot",
                    (unsigned long long)c.files, size, (unsigned long long)c.dirs);
    }
    return 0;
}

/* ---- the user's check ---- */

static int run_restore_command(char **argv, const char *dir, struct dr_drill_result *res)
{
    size_t n = 0;
    while (environ[n]) {
        n++;
    }
    char **envp = dr_xcalloc(n + 2, sizeof(*envp));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "DRREPO_DRILL_DIR=", 17) != 0) {
            envp[k++] = environ[i];
        }
    }
    char *var = dr_xasprintf("DRREPO_DRILL_DIR=%s", dir);
    envp[k++] = var;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    /* the user's check must not read the repository password from our stdin */
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(var);
    free(envp);
    if (err != 0) {
        errno = err;
        return dr_error_errno(DR_ESOURCE, "cannot run restore command '%s'", argv[0]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        add_checked(res, "restore command '%s' exited with status 0", argv[0]);
    } else {
        char how[96];
        describe_status(status, how, sizeof(how));
        set_fail(res, "restore command '%s' %s", argv[0], how);
    }
    return 0;
}

/* ---- Redis ---- */

struct db_count {
    unsigned db;
    uint64_t keys;
};

struct counts {
    struct db_count *v;
    size_t n, alloc;
};

/* "db0=12,db3=4" (the snapshot's redis.keys metadata) into c. */
static bool parse_counts(const char *s, struct counts *c)
{
    while (s && *s) {
        unsigned db;
        unsigned long long k;
        int used = 0;
        if (sscanf(s, "db%u=%llu%n", &db, &k, &used) != 2) {
            return false;
        }
        DR_GROW(c->v, c->alloc, c->n + 1);
        c->v[c->n++] = (struct db_count){db, k};
        s += used;
        if (*s == ',') {
            s++;
        }
    }
    return true;
}

static uint64_t count_of(const struct counts *c, unsigned db)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].db == db) {
            return c->v[i].keys;
        }
    }
    return 0;
}

/* The last lines of the scratch server's log: why it would not start. */
static char *log_tail(const char *path)
{
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return dr_xstrdup("(no log)");
    }
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    /* the last two non-empty lines, joined */
    char *last = NULL, *prev = NULL;
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
        }
        if (*p) {
            prev = last;
            last = p;
        }
        if (!nl) {
            break;
        }
        p = nl + 1;
    }
    if (!last) {
        return dr_xstrdup("(empty log)");
    }
    return prev ? dr_xasprintf("%s / %s", prev, last) : dr_xstrdup(last);
}

/* PING over the Unix socket: 1 answered, 0 not yet (no socket, or loading), < 0 never will. */
static int redis_ping(const char *sock)
{
    struct timeval tv = {.tv_sec = 2};
    redisContext *c = redisConnectUnixWithTimeout(sock, tv);
    if (!c || c->err) {
        if (c) {
            redisFree(c);
        }
        return 0;
    }
    redisReply *rep = redisCommand(c, "PING");
    int ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
    if (rep) {
        freeReplyObject(rep);
    }
    redisFree(c);
    return ok;
}

static int redis_keyspace(const char *sock, struct counts *got, char *version, size_t vlen)
{
    struct timeval tv = {.tv_sec = 30};
    redisContext *c = redisConnectUnixWithTimeout(sock, tv);
    int rc = 0;
    if (!c || c->err) {
        rc = dr_errorf(DR_ENET, "cannot connect to the scratch redis-server: %s",
                       c ? c->errstr : "out of memory");
        goto out;
    }
    redisReply *rep = redisCommand(c, "INFO");
    if (!rep || rep->type != REDIS_REPLY_STRING) {
        rc = dr_errorf(DR_ESOURCE, "scratch redis-server: INFO failed: %s",
                       rep && rep->type == REDIS_REPLY_ERROR ? rep->str : c->errstr);
    } else {
        for (const char *l = rep->str; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            unsigned db;
            unsigned long long k;
            if (sscanf(l, "db%u:keys=%llu", &db, &k) == 2) {
                DR_GROW(got->v, got->alloc, got->n + 1);
                got->v[got->n++] = (struct db_count){db, k};
            } else if (strncmp(l, "redis_version:", 14) == 0) {
                snprintf(version, vlen, "%.*s", (int)strcspn(l + 14, "\r\n"), l + 14);
            }
        }
    }
    if (rep) {
        freeReplyObject(rep);
    }
out:
    if (c) {
        redisFree(c);
    }
    return rc;
}

/* Compares the keys per database of the loaded RDB with what the snapshot recorded. Keys with
 * a TTL may have expired since (a loading server drops them), and when the counts changed
 * during the transfer the snapshot has both: a count is accepted in
 * [min(before, after) - keys with a TTL, max(before, after)]. */
static void compare_counts(const struct dr_snapshot *s, const struct counts *got,
                           struct dr_drill_result *res, struct dr_buf *summary)
{
    struct counts keys = {0}, exp = {0}, keys2 = {0}, exp2 = {0};
    const char *k2 = dr_snapshot_get_meta(s, "redis.keys_after");
    if (!parse_counts(dr_snapshot_get_meta(s, "redis.keys"), &keys) ||
        !parse_counts(dr_snapshot_get_meta(s, "redis.expires"), &exp) ||
        !parse_counts(k2 ? k2 : dr_snapshot_get_meta(s, "redis.keys"), &keys2) ||
        !parse_counts(k2 ? dr_snapshot_get_meta(s, "redis.expires_after")
                         : dr_snapshot_get_meta(s, "redis.expires"),
                      &exp2)) {
        set_fail(res, "the snapshot's redis.keys metadata cannot be read");
        goto out;
    }
    struct counts all = {0};
    for (size_t i = 0; i < keys.n + keys2.n + got->n; i++) {
        unsigned db = i < keys.n             ? keys.v[i].db
                      : i < keys.n + keys2.n ? keys2.v[i - keys.n].db
                                             : got->v[i - keys.n - keys2.n].db;
        bool have = false;
        for (size_t j = 0; j < all.n; j++) {
            have = have || all.v[j].db == db;
        }
        if (!have) {
            DR_GROW(all.v, all.alloc, all.n + 1);
            all.v[all.n++] = (struct db_count){db, 0};
        }
    }
    for (size_t i = 0; i < all.n; i++) {
        unsigned db = all.v[i].db;
        uint64_t a = count_of(&keys, db), b = count_of(&keys2, db);
        uint64_t ttl = DR_MAX(count_of(&exp, db), count_of(&exp2, db));
        uint64_t lo = DR_MIN(a, b), hi = DR_MAX(a, b), n = count_of(got, db);
        lo = lo > ttl ? lo - ttl : 0;
        if (n < lo || n > hi) {
            set_fail(res,
                     "db%u has %llu keys after loading the RDB; the snapshot recorded %llu "
                     "(%llu with a TTL)",
                     db, (unsigned long long)n, (unsigned long long)a,
                     (unsigned long long)count_of(&exp, db));
        }
        if (dr_buf_addf(summary, "%sdb%u=%llu", i ? "," : "", db, (unsigned long long)n) < 0) {
            dr_error_clear();
        }
    }
    free(all.v);
out:
    free(keys.v);
    free(exp.v);
    free(keys2.v);
    free(exp2.v);
}

/* Starts redis-server on the restored RDB (no TCP port; a private Unix socket), waits until it
 * answers, compares the keys per database and stops it. rto gets the time to answer. */
static int drill_redis(const struct dr_snapshot *s, const char *tmp, const char *datadir,
                       struct dr_drill_result *res, int64_t *out_start_ns)
{
    char *sock = dr_xasprintf("%s/redis.sock", tmp);
    char *logf = dr_xasprintf("%s/redis.log", tmp);
    char *rdb = dr_xasprintf("%s/dump.rdb", datadir);
    const char *bin = getenv("DRREPO_REDIS_SERVER");
    bin = bin && bin[0] ? bin : "redis-server";
    pid_t pid = -1;
    int rc = 0;
    struct counts got = {0};
    struct dr_buf summary = DR_BUF_INIT(1 << 20);
    struct stat st;
    if (stat(rdb, &st) < 0) {
        set_fail(res, "the snapshot has no dump.rdb");
        goto out;
    }
    if (strlen(sock) >= 100) {
        rc = dr_errorf(DR_ESOURCE, "temporary directory '%s' is too long for a Unix socket path",
                       tmp);
        goto out;
    }
    char *argv[] = {(char *)bin,
                    "--port",
                    "0",
                    "--unixsocket",
                    sock,
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    (char *)datadir,
                    "--dbfilename",
                    "dump.rdb",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--logfile",
                    logf,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    int64_t t0 = dr_mono_ns();
    int err = posix_spawnp(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
        pid = -1;
        errno = err;
        rc = dr_error_errno(DR_ESOURCE,
                            "cannot run '%s' for the drill (install redis-server, or set "
                            "DRREPO_REDIS_SERVER)",
                            bin);
        goto out;
    }
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            pid = -1;
            char how[96];
            describe_status(status, how, sizeof(how));
            char *tail = log_tail(logf);
            set_fail(res, "redis-server %s before it answered: %s", how, tail);
            free(tail);
            goto out;
        }
        if (redis_ping(sock) == 1) {
            break;
        }
        if (dr_mono_ns() - t0 > REDIS_START_TIMEOUT_NS) {
            set_fail(res, "redis-server did not answer within %lld s",
                     REDIS_START_TIMEOUT_NS / 1000000000);
            goto out;
        }
        usleep(20000);
    }
    *out_start_ns = dr_mono_ns() - t0;
    char version[32] = "?";
    rc = redis_keyspace(sock, &got, version, sizeof(version));
    if (rc < 0) {
        set_fail(res, "%s", dr_error_msg());
        dr_error_clear();
        rc = 0;
        goto out;
    }
    compare_counts(s, &got, res, &summary);
    if (res->ok) {
        add_checked(res,
                    "redis-server %s loaded dump.rdb (%llu bytes) in %.2f s with the recorded "
                    "keys per database (%s)",
                    version, (unsigned long long)st.st_size, (double)*out_start_ns / 1e9,
                    summary.len ? summary.buf : "no keys");
    }
out:
    if (pid > 0) {
        int status = stop_process(pid, SIGTERM);
        dr_log_detail("scratch redis-server (pid %ld) stopped (status %d)", (long)pid, status);
    }
    free(got.v);
    dr_buf_release(&summary);
    free(sock);
    free(logf);
    free(rdb);
    return rc;
}

/* ---- the drill ---- */

static const char *kind_of(const char *source)
{
    if (strcmp(source, "redis") == 0) {
        return "redis";
    }
    if (strcmp(source, "postgresql") == 0 || strcmp(source, "pg") == 0) {
        return "postgresql";
    }
    if (strcmp(source, "stdin") == 0 || strcmp(source, "command") == 0) {
        return "stream";
    }
    return "files";
}

int dr_drill_run(struct dr_repo *r, const struct dr_id *id, const struct dr_drill_opts *o,
                 struct dr_drill_result *res)
{
    struct dr_snapshot s;
    struct dr_drill_result out;
    memset(&out, 0, sizeof(out));
    dr_snapshot_init(&s);
    char *tmp = NULL, *data = NULL;
    int64_t t0 = dr_mono_ns();
    out.time_ns = dr_time_now_ns();
    out.snapshot = *id;
    out.ok = true;
    int rc = dr_repo_snapshot_load(r, id, &s);
    if (rc < 0) {
        goto out;
    }
    out.kind = dr_xstrdup(kind_of(s.source ? s.source : ""));
    const char *base = o->tmpdir && o->tmpdir[0] ? o->tmpdir : getenv("TMPDIR");
    tmp = dr_xasprintf("%s/drrepo-drill-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        rc = dr_error_errno(dr_error_from_errno(errno),
                            "cannot create a directory for the drill "
                            "in '%s'",
                            base && base[0] ? base : "/tmp");
        free(tmp);
        tmp = NULL;
        goto out;
    }
    data = dr_xasprintf("%s/data", tmp);
    dr_log_detail("drill of %s snapshot: restoring into '%s'", out.kind, data);
    rc = restore_and_compare(r, &s, data, &out);
    int64_t restore_ns = dr_mono_ns() - t0;
    out.rto_ns = restore_ns;
    if (rc < 0 || !out.ok) {
        goto done;
    }
    if (strcmp(out.kind, "redis") == 0) {
        int64_t start_ns = 0;
        rc = drill_redis(&s, tmp, data, &out, &start_ns);
        out.rto_ns = restore_ns + start_ns;
    } else if (strcmp(out.kind, "postgresql") == 0) {
        /* dr_drill_pg sets rto_ns to its server's start time; the restore comes before it */
        out.rto_ns = 0;
        rc = dr_drill_pg(r, &s, data, o, &out);
        out.rto_ns += restore_ns;
    }
    if (rc >= 0 && out.ok && o->restore_command && o->restore_command[0]) {
        rc = run_restore_command(o->restore_command, data, &out);
    }
done:
    if (rc < 0) {
        goto out;
    }
    out.duration_ns = dr_mono_ns() - t0;
    if (!out.checked) {
        out.checked = dr_xstrdup("");
    }
    rc = dr_drill_save(r, &out);
    if (rc < 0) {
        goto out;
    }
    *res = out;
    memset(&out, 0, sizeof(out));
out:
    if (tmp) {
        remove_tree(tmp);
    }
    free(tmp);
    free(data);
    dr_drill_result_release(&out);
    dr_snapshot_release(&s);
    return rc;
}

int dr_drill_prune(struct dr_repo *r)
{
    struct drill_names dn = {0};
    struct dr_buf raw = DR_BUF_INIT(DRILL_HDR_LEN + DR_DRILL_MAX + DR_AEAD_OVERHEAD);
    int removed = 0;
    int rc = dr_backend_list(dr_repo_backend(r), "drills", list_cb, &dn);
    for (size_t i = 0; rc >= 0 && i < dn.n; i++) {
        struct dr_id did;
        const char *base = strrchr(dn.v[i], '/');
        if (!base || dr_id_parse(base + 1, &did) < 0) {
            dr_error_clear();
            continue;
        }
        dr_buf_reset(&raw);
        struct dr_drill_result res;
        int grc = dr_backend_get(dr_repo_backend(r), dn.v[i], 0, UINT64_MAX, &raw);
        if (grc >= 0) {
            grc = decode(dr_repo_keys(r), &did, (const uint8_t *)raw.buf, raw.len, &res);
        }
        if (grc < 0) {
            dr_error_clear(); /* removed meanwhile, or unreadable: check reports it */
            continue;
        }
        char hex[DR_ID_HEX_LEN + 1];
        char *snap = dr_xasprintf("snapshots/%s", dr_id_hex(&res.snapshot, hex));
        uint64_t size;
        int src = dr_backend_stat(dr_repo_backend(r), snap, &size);
        free(snap);
        dr_drill_result_release(&res);
        if (src == DR_ENOENT) {
            dr_error_clear();
            rc = dr_backend_delete(dr_repo_backend(r), dn.v[i]);
            if (rc == DR_ENOENT) {
                dr_error_clear();
                rc = 0;
            } else if (rc >= 0) {
                removed++;
            }
        } else if (src < 0) {
            rc = src;
        }
    }
    for (size_t i = 0; i < dn.n; i++) {
        free(dn.v[i]);
    }
    free(dn.v);
    dr_buf_release(&raw);
    return rc < 0 ? rc : removed;
}
