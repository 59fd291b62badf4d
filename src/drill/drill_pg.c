/* drill_pg.c: the PostgreSQL restore drill (see drill.h and docs/SOURCES.md "PostgreSQL").
 *
 * The restored data directory is started as a scratch server that nobody else can reach: no
 * TCP listener, a Unix socket in a private directory, its own pg_hba.conf (local trust), and
 * archiving off so that it cannot push WAL into the production archive. As root the server runs
 * as the data directory's owner (or "postgres"), since postgres refuses to run as root. The
 * drill waits until the server accepts connections (that wait is its share of the RTO), counts
 * the rows of every table in every database, compares them with the exact counts the snapshot
 * recorded, runs the user's --check-sql, and stops the server. The server runs in its own
 * process group, which is killed if it does not stop, so nothing is left running. */
#include "drrepo/drill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drrepo/buf.h"
#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/proc.h"
#include "drrepo/snapshot.h"
#include "drrepo/util.h"

#include "drill_int.h"

#define DRILL_PORT "5432" /* only names the socket file in our private directory */
#define START_TIMEOUT_S 600
#define STOP_TIMEOUT_S 60
#define CHECK_SQL_MAX (16u << 20)
#define MAX_TABLES 100000

struct drill {
    const struct dr_snapshot *s;
    const char *dir;
    char bin[4096];
    char sockdir[4096];
    char log[4200];
    uid_t uid;
    gid_t gid;
    bool switch_user;
    struct dr_proc proc;
    char *user; /* the cluster's superuser, to connect as */
    struct dr_buf reason;
    size_t ndbs, ntables, ncompared;
    bool pitr;     /* recovered past the backup: its recorded counts do not apply */
    char *nospace; /* the server's log when it stopped for want of space: the drill cannot run */
};

/* The reason is printed as one error line and stored: server messages span lines ("ERROR:  ...
 * \nLINE 1: ...\n ^"), and every run of white space becomes one space. */
DR_PRINTF(2, 3) static void failf(struct drill *d, const char *fmt, ...)
{
    if (d->reason.len) {
        return; /* the first failure is the reason */
    }
    va_list ap;
    va_start(ap, fmt);
    if (dr_buf_vaddf(&d->reason, fmt, ap) < 0) {
        dr_error_clear();
    }
    va_end(ap);
    size_t w = 0;
    for (size_t i = 0; i < d->reason.len; i++) {
        char ch = d->reason.buf[i];
        bool space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
        if (space && (w == 0 || d->reason.buf[w - 1] == ' ')) {
            continue;
        }
        d->reason.buf[w++] = space ? ' ' : ch;
    }
    while (w > 0 && d->reason.buf[w - 1] == ' ') {
        w--;
    }
    d->reason.len = w;
    if (d->reason.buf) {
        d->reason.buf[w] = '\0';
    }
}

/* The server binaries: $DRREPO_PG_BIN, else Debian's directory for the snapshot's major
 * version, else postgres on PATH. DR_ESOURCE when there is none. */
static int find_bin(struct drill *d)
{
    const char *env = getenv("DRREPO_PG_BIN");
    const char *ver = dr_snapshot_get_meta(d->s, "pg.version");
    if (env && *env) {
        snprintf(d->bin, sizeof(d->bin), "%s", env);
    } else if (ver) {
        snprintf(d->bin, sizeof(d->bin), "/usr/lib/postgresql/%.*s/bin",
                 (int)strspn(ver, "0123456789"), ver);
    }
    char p[4200];
    snprintf(p, sizeof(p), "%s/postgres", d->bin);
    if (d->bin[0] && access(p, X_OK) == 0) {
        return 0;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t l = strcspn(path, ":");
        snprintf(p, sizeof(p), "%.*s/postgres", (int)l, path);
        if (l && access(p, X_OK) == 0) {
            snprintf(d->bin, sizeof(d->bin), "%.*s", (int)l, path);
            return 0;
        }
        path += l + (path[l] == ':');
    }
    /* says nothing about the snapshot: the drill could not run here (exit 1, nothing recorded) */
    return dr_errorf(DR_ESOURCE, "not on this host: no postgres server binary "
                                 "found (install it, or set DRREPO_PG_BIN to its bin directory)");
}

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

/* As root: the server runs as the data directory's recorded owner when that is not root, else
 * as "postgres"; the directory is handed to that user and its parents made traversable. False
 * when that is not possible (the drill's reason says why). */
static bool prepare_owner(struct drill *d)
{
    struct stat st;
    char p[4200];
    snprintf(p, sizeof(p), "%s/PG_VERSION", d->dir);
    if (stat(p, &st) < 0) {
        failf(d, "the restored directory has no PG_VERSION: not a data directory");
        return false;
    }
    if (geteuid() != 0) {
        d->uid = geteuid();
        d->gid = getegid();
        if (chmod(d->dir, 0700) < 0) {
            failf(d, "cannot chmod '%s'", d->dir);
            return false;
        }
        return true;
    }
    struct passwd *pw = st.st_uid != 0 ? getpwuid(st.st_uid) : getpwnam("postgres");
    if (!pw) {
        pw = getpwnam("postgres");
    }
    if (!pw || pw->pw_uid == 0) {
        failf(d, "running as root and no 'postgres' user to run the server as");
        return false;
    }
    d->uid = pw->pw_uid;
    d->gid = pw->pw_gid;
    d->switch_user = true;
    chown_uid = d->uid;
    chown_gid = d->gid;
    if (nftw(d->dir, chown_cb, 32, FTW_PHYS) != 0 || chmod(d->dir, 0700) < 0) {
        failf(d, "cannot hand '%s' to user '%s': %s", d->dir, pw->pw_name, strerror(errno));
        return false;
    }
    /* the drill's own temporary parents are private to root: let the server through */
    char *parent = dr_xstrdup(d->dir);
    for (char *slash = strrchr(parent, '/'); slash && slash != parent;
         slash = strrchr(parent, '/')) {
        *slash = '\0';
        if (stat(parent, &st) == 0 && st.st_uid == 0 && !(st.st_mode & S_IXOTH)) {
            if (chmod(parent, (st.st_mode & 07777) | S_IXOTH) < 0) {
                dr_log_warn("cannot make '%s' traversable: %s", parent, strerror(errno));
            }
        }
    }
    free(parent);
    return true;
}

/* Writes text to a new file (chowned when own); false with errno set when that fails. */
static bool write_file(const char *path, const char *text, uid_t uid, gid_t gid, bool own)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return false;
    }
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len;
    if (own && fchown(fd, uid, gid) < 0) {
        ok = false;
    }
    return close(fd) == 0 && ok;
}

static int start_server(struct drill *d)
{
    char hba[4200], sockopt[4300], hbaopt[4300];
    snprintf(hba, sizeof(hba), "%s/pg_hba.conf", d->sockdir);
    snprintf(d->log, sizeof(d->log), "%s/postgres.log", d->sockdir);
    if (!write_file(hba, "local all all trust\n", d->uid, d->gid, d->switch_user)) {
        return dr_error_errno(DR_EIO, "cannot write '%s'", hba);
    }
    snprintf(sockopt, sizeof(sockopt), "unix_socket_directories=%s", d->sockdir);
    snprintf(hbaopt, sizeof(hbaopt), "hba_file=%s", hba);
    char postgres[4200];
    snprintf(postgres, sizeof(postgres), "%s/postgres", d->bin);
    char *argv[] = {postgres,
                    "-D",
                    (char *)d->dir,
                    "-p",
                    DRILL_PORT,
                    "-c",
                    "listen_addresses=",
                    "-c",
                    sockopt,
                    "-c",
                    hbaopt,
                    "-c",
                    "archive_mode=off",
                    "-c",
                    "cluster_name=drrepo-drill",
                    "-c",
                    "logging_collector=off",
                    NULL};
    struct passwd *pw = d->switch_user ? getpwuid(d->uid) : NULL;
    char *name = pw ? dr_xstrdup(pw->pw_name) : NULL;
    /* own process group: the drill can stop the server and every child at once */
    struct dr_proc_spec spec = {.file = postgres,
                                .argv = argv,
                                .log = d->log,
                                .own_group = true,
                                .switch_user = d->switch_user,
                                .uid = d->uid,
                                .gid = d->gid,
                                .user = name};
    int rc = dr_proc_spawn(&spec, &d->proc);
    free(name);
    return rc;
}

static void stop_server(struct drill *d)
{
    /* SIGINT is the fast shutdown; SIGQUIT the immediate one; SIGKILL the last resort; the
     * process group is killed once the postmaster is gone (stray backends) */
    static const int sigs[] = {SIGINT, SIGQUIT, SIGKILL};
    (void)dr_proc_stop(&d->proc, sigs, 3, (int64_t)STOP_TIMEOUT_S * 1000000000);
}

static char *conninfo(struct drill *d, const char *db)
{
    char *qdb = NULL, *qs = NULL, *qu = NULL;
    /* conninfo values are quoted with '' and backslash-escaped */
    const char *v[3] = {db, d->sockdir, d->user};
    char **q[3] = {&qdb, &qs, &qu};
    for (int i = 0; i < 3; i++) {
        struct dr_buf b = DR_BUF_INIT(1 << 20);
        int rc = dr_buf_addch(&b, '\'');
        for (const char *p = v[i]; rc >= 0 && *p; p++) {
            if (*p == '\'' || *p == '\\') {
                rc = dr_buf_addch(&b, '\\');
            }
            if (rc >= 0) {
                rc = dr_buf_addch(&b, *p);
            }
        }
        if (rc >= 0) {
            rc = dr_buf_addch(&b, '\'');
        }
        if (rc < 0) {
            dr_error_clear();
        }
        *q[i] = dr_buf_detach(&b, NULL);
    }
    char *ci = dr_xasprintf("host=%s port=" DRILL_PORT " dbname=%s user=%s connect_timeout=10 "
                            "application_name=drrepo-drill",
                            qs, qdb, qu);
    free(qdb);
    free(qs);
    free(qu);
    return ci;
}

/* A server that stopped because the drill's directory filled up (recovery writes WAL and a
 * checkpoint into it) says nothing about the snapshot: the drill could not run on this host.
 * Keeps tail (one line) in d->nospace and returns true then. */
static bool out_of_space(struct drill *d, char *tail)
{
    if (!tail || !strstr(tail, "No space left on device")) {
        return false;
    }
    for (char *p = tail; *p; p++) {
        *p = *p == '\n' || *p == '\t' ? ' ' : *p;
    }
    d->nospace = tail;
    return true;
}

/* Waits until the server accepts connections (recovery from the backup's WAL comes first). */
static bool wait_ready(struct drill *d, int64_t *out_ns)
{
    int64_t t0 = dr_mono_ns();
    char *ci = conninfo(d, "postgres");
    bool ok = false;
    for (;;) {
        if (PQping(ci) == PQPING_OK) {
            ok = true;
            break;
        }
        if (dr_proc_poll(&d->proc)) {
            static const char *const marks[] = {"FATAL", "PANIC", "ERROR", NULL};
            int st = d->proc.status;
            char *tail = dr_proc_log_tail(d->log, 3, marks);
            if (out_of_space(d, tail)) {
                break;
            }
            failf(d, "the restored server did not start (%s %d): %s",
                  WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                  tail && tail[0] ? tail : "no log");
            free(tail);
            break;
        }
        if (dr_mono_ns() - t0 > (int64_t)START_TIMEOUT_S * 1000000000) {
            failf(d, "the restored server did not accept connections within %d s", START_TIMEOUT_S);
            break;
        }
        dr_sleep_ms(100);
    }
    *out_ns = dr_mono_ns() - t0;
    free(ci);
    return ok;
}

/* A point-in-time drill: the server accepts connections as soon as it is consistent, while it
 * still replays; the recovery is over when it has promoted. A server that stops meanwhile
 * (recovery ended before its target: FATAL) fails the drill with its log's reason. */
static bool wait_promoted(struct drill *d)
{
    int64_t t0 = dr_mono_ns();
    char *ci = conninfo(d, "postgres");
    bool done = false;
    for (;;) {
        PGconn *c = PQconnectdb(ci);
        if (PQstatus(c) == CONNECTION_OK) {
            PGresult *res = PQexec(c, "SELECT pg_is_in_recovery()");
            done = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                   strcmp(PQgetvalue(res, 0, 0), "f") == 0;
            PQclear(res);
        }
        PQfinish(c);
        if (done) {
            break;
        }
        if (dr_proc_poll(&d->proc)) {
            static const char *const marks[] = {"FATAL", "PANIC", NULL};
            char *tail = dr_proc_log_tail(d->log, 3, marks);
            if (out_of_space(d, tail)) {
                break;
            }
            failf(d, "recovery failed: %s", tail && tail[0] ? tail : "the server stopped");
            free(tail);
            break;
        }
        if (dr_mono_ns() - t0 > (int64_t)START_TIMEOUT_S * 1000000000) {
            failf(d, "recovery did not finish within %d s", START_TIMEOUT_S);
            break;
        }
        dr_sleep_ms(100);
    }
    free(ci);
    return done;
}

static PGconn *connect_db(struct drill *d, const char *db)
{
    char *ci = conninfo(d, db);
    PGconn *c = PQconnectdb(ci);
    free(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        failf(d, "cannot connect to database '%s' of the restored server: %s", db,
              PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Counts every permanent table of db; compares with the snapshot's exact counts. */
static void check_db(struct drill *d, const char *db)
{
    PGconn *c = connect_db(d, db);
    if (!c) {
        return;
    }
    PGresult *tabs = PQexec(c, "SELECT n.nspname, c.relname FROM pg_class c "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
                               "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                               "AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2");
    if (PQresultStatus(tabs) != PGRES_TUPLES_OK) {
        failf(d, "database '%s': cannot list tables: %s", db, PQresultErrorMessage(tabs));
        goto out;
    }
    for (int i = 0; i < PQntuples(tabs) && d->ntables < MAX_TABLES; i++) {
        const char *nsp = PQgetvalue(tabs, i, 0), *rel = PQgetvalue(tabs, i, 1);
        char *qn = PQescapeIdentifier(c, nsp, strlen(nsp));
        char *qr = PQescapeIdentifier(c, rel, strlen(rel));
        char *sql = dr_xasprintf("SELECT count(*) FROM %s.%s", qn ? qn : "\"\"", qr ? qr : "\"\"");
        PGresult *res = PQexec(c, sql);
        free(sql);
        PQfreemem(qn);
        PQfreemem(qr);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            failf(d, "table '%s.%s.%s' cannot be read: %s", db, nsp, rel,
                  PQresultErrorMessage(res));
            PQclear(res);
            continue;
        }
        d->ntables++;
        char *key = dr_xasprintf("pg.count.%s.%s.%s", db, nsp, rel);
        const char *want = dr_snapshot_get_meta(d->s, key);
        const char *got = PQgetvalue(res, 0, 0);
        if (want && !d->pitr) {
            d->ncompared++;
            if (strcmp(want, got) != 0) {
                failf(d, "table '%s.%s.%s' has %s rows, the snapshot recorded %s", db, nsp, rel,
                      got, want);
            }
        }
        free(key);
        PQclear(res);
    }
out:
    PQclear(tabs);
    PQfinish(c);
}

/* Every exact count recorded must name a table that the restored server has. */
static void check_recorded(struct drill *d, PGconn *c)
{
    for (size_t i = 0; i < d->s->nmeta; i++) {
        const char *k = d->s->meta[i].key;
        if (strncmp(k, "pg.db.", 6) == 0 && strlen(k) > 11 &&
            strcmp(k + strlen(k) - 5, ".size") == 0) {
            char *db = dr_xstrndup(k + 6, strlen(k) - 11);
            const char *p[1] = {db};
            PGresult *res =
                PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1 AND datallowconn", 1,
                             NULL, p, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
                failf(d, "database '%s' recorded in the snapshot is missing", db);
            }
            PQclear(res);
            free(db);
        }
    }
}

static void check_dbs(struct drill *d)
{
    PGconn *c = connect_db(d, "postgres");
    if (!c) {
        return;
    }
    check_recorded(d, c);
    PGresult *dbs = PQexec(c, "SELECT datname FROM pg_database "
                              "WHERE datallowconn AND NOT datistemplate ORDER BY 1");
    if (PQresultStatus(dbs) != PGRES_TUPLES_OK) {
        failf(d, "cannot list databases: %s", PQresultErrorMessage(dbs));
    }
    for (int i = 0; PQresultStatus(dbs) == PGRES_TUPLES_OK && i < PQntuples(dbs); i++) {
        d->ndbs++;
        check_db(d, PQgetvalue(dbs, i, 0));
    }
    PQclear(dbs);
    PQfinish(c);
}

int dr_drill_pg_check_opts(const struct dr_snapshot *s, const struct dr_drill_opts *o)
{
    const char *src = s->source ? s->source : "";
    if (strcmp(src, "postgresql") == 0) {
        /* the server's socket is <tmpdir>/drrepo-pgdrill.XXXXXX/.s.PGSQL.<port>, and a Unix
         * socket's path has at most 107 bytes: a longer one would stop the server and fail the
         * drill for the name of a directory. (The port cannot be in use: the server has no TCP
         * listener, and the socket's directory is the drill's own.) */
        const char *tmp = o && o->tmpdir ? o->tmpdir : getenv("TMPDIR");
        tmp = tmp && *tmp ? tmp : "/tmp";
        if (strlen(tmp) + sizeof("/drrepo-pgdrill.XXXXXX/.s.PGSQL." DRILL_PORT) > 108) {
            return dr_errorf(DR_ESOURCE,
                             "the drill cannot run under '%s': the scratch server's socket path "
                             "would be longer than the 107 bytes of a Unix socket (give a "
                             "shorter --tmpdir)",
                             tmp);
        }
    }
    if (!o || (!o->check_sql && !o->check_db)) {
        return 0;
    }
    if (strcmp(src, "postgresql") != 0) {
        return dr_errorf(DR_EUSAGE,
                         "--check-sql is for PostgreSQL base backups, not a '%s' snapshot", src);
    }
    if (!o->check_db || o->pg_target) {
        return 0; /* recovery past the backup may create databases it did not record */
    }
    /* the databases the backup saw (pg.db.<name>.size); at most 100 are recorded (pg.c) */
    char *want = dr_xasprintf("pg.db.%s.size", o->check_db);
    size_t ndbs = 0;
    bool found = false;
    for (size_t i = 0; i < s->nmeta; i++) {
        const char *k = s->meta[i].key;
        size_t l = strlen(k);
        if (strncmp(k, "pg.db.", 6) == 0 && l > 11 && strcmp(k + l - 5, ".size") == 0) {
            ndbs++;
            found = found || strcmp(k, want) == 0;
        }
    }
    free(want);
    if (!found && ndbs < 100) {
        return dr_errorf(DR_EUSAGE,
                         "--check-db '%s': the snapshot recorded no database of that name",
                         o->check_db);
    }
    return 0;
}

/* The line of the check file that a server error points at (its 1-based character position
 * in the statement text), 0 when it gives none. */
static unsigned error_line(const PGresult *res, const char *sql)
{
    const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    long n = pos ? strtol(pos, NULL, 10) : 0;
    if (n <= 0) {
        return 0;
    }
    unsigned line = 1;
    for (const char *p = sql; *p && n > 1; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80) {
            n--; /* a character starts here (UTF-8) */
        }
        line += *p == '\n';
    }
    return line;
}

/* --check-sql: the file runs as one simple query in --check-db, else the snapshot's database;
 * every statement must succeed, and when the last returns rows, its first value must be
 * neither false nor NULL (so "SELECT count(*) > 0 FROM orders" is a check). */
static void run_check_sql(struct drill *d, const char *file, const char *db_opt)
{
    struct dr_buf sql = DR_BUF_INIT(CHECK_SQL_MAX);
    FILE *f = fopen(file, "r");
    if (!f) {
        failf(d, "cannot open --check-sql file '%s': %s", file, strerror(errno));
        return;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while (rc >= 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        rc = dr_buf_add(&sql, buf, n);
    }
    fclose(f);
    if (rc < 0) {
        dr_error_clear();
        failf(d, "--check-sql file '%s' is larger than %u bytes", file, CHECK_SQL_MAX);
        dr_buf_release(&sql);
        return;
    }
    const char *db = db_opt ? db_opt : dr_snapshot_get_meta(d->s, "pg.dbname");
    PGconn *c = connect_db(d, db && *db ? db : "postgres");
    if (c) {
        PGresult *res = PQexec(c, sql.buf);
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY) {
            /* "ERROR: relation "x" does not exist": the primary message, and where */
            const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
            const char *prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            unsigned line = error_line(res, sql.buf);
            char at[32] = "";
            if (line) {
                snprintf(at, sizeof(at), " at line %u", line);
            }
            if (prim) {
                failf(d, "--check-sql '%s' failed%s in database '%s': %s: %s", file, at,
                      db && *db ? db : "postgres", sev ? sev : "ERROR", prim);
            } else {
                failf(d, "--check-sql '%s' failed in database '%s': %s", file,
                      db && *db ? db : "postgres", PQresultErrorMessage(res));
            }
        } else if (st == PGRES_TUPLES_OK) {
            const char *v = PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0)
                                ? PQgetvalue(res, 0, 0)
                                : NULL;
            if (!v || strcmp(v, "f") == 0 || strcmp(v, "false") == 0 || !*v) {
                failf(d, "--check-sql '%s': the last query returned %s", file,
                      !v ? "no value" : "false");
            }
        }
        PQclear(res);
        PQfinish(c);
    }
    dr_buf_release(&sql);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int dr_drill_pg(struct dr_repo *r, const struct dr_snapshot *s, const char *dir,
                const struct dr_drill_opts *o, struct dr_drill_result *res)
{
    (void)r;
    struct drill d = {.s = s, .dir = dir, .proc = {.pid = -1}, .reason = DR_BUF_INIT(1 << 16)};
    const char *su = dr_snapshot_get_meta(s, "pg.superuser");
    d.user = dr_xstrdup(su && *su ? su : "postgres");
    int64_t start_ns = 0;
    bool started = false;
    int rc = 0;
    const char *tmp = o && o->tmpdir ? o->tmpdir : getenv("TMPDIR");
    snprintf(d.sockdir, sizeof(d.sockdir), "%s/drrepo-pgdrill.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(d.sockdir)) {
        rc = dr_error_errno(DR_EIO, "cannot create a socket directory in '%s'", tmp);
        d.sockdir[0] = '\0';
        goto out;
    }
    rc = find_bin(&d);
    if (rc < 0) {
        goto out;
    }
    if (!prepare_owner(&d)) {
        goto done;
    }
    if (d.switch_user && chown(d.sockdir, d.uid, d.gid) < 0) {
        rc = dr_error_errno(DR_EIO, "cannot chown '%s'", d.sockdir);
        goto out;
    }
    rc = start_server(&d);
    if (rc < 0) {
        goto out;
    }
    started = wait_ready(&d, &start_ns);
    d.pitr = o && o->pg_target;
    if (started && d.pitr) {
        int64_t t0 = dr_mono_ns();
        started = wait_promoted(&d);
        start_ns += dr_mono_ns() - t0;
    }
    if (d.nospace) {
        rc = dr_errorf(DR_EIO,
                       "no space left for the scratch server under '%s' (give --tmpdir a file "
                       "system with room for the restore and the server's WAL): %s",
                       dir, d.nospace);
        goto out;
    }
    if (started) {
        check_dbs(&d);
        if (o && o->check_sql) {
            run_check_sql(&d, o->check_sql, o->check_db);
        }
    }
done:
    res->ok = d.reason.len == 0;
    res->rto_ns = start_ns;
    drill_checked(res,
                  "postgresql %s: server %s in %.1f s; %zu databases, %zu tables "
                  "counted, %zu compared with the snapshot's counts%s",
                  dr_snapshot_get_meta(s, "pg.version") ? dr_snapshot_get_meta(s, "pg.version")
                                                        : "?",
                  started ? "accepted connections" : "failed to start", (double)start_ns / 1e9,
                  d.ndbs, d.ntables, d.ncompared, o && o->check_sql ? ", --check-sql run" : "");
    free(res->reason);
    res->reason = res->ok ? NULL : dr_buf_detach(&d.reason, NULL);
    if (!res->kind) {
        res->kind = dr_xstrdup("postgresql");
    }
out:
    stop_server(&d);
    if (d.sockdir[0]) {
        nftw(d.sockdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
    dr_buf_release(&d.reason);
    free(d.user);
    free(d.nospace);
    return rc;
}
