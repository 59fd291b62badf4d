/* pg.c: the PostgreSQL source: a physical base backup over the replication protocol, stored
 * as the cluster's file tree (see source.h and docs/SOURCES.md "PostgreSQL").
 *
 * One replication connection (replication=database) runs BASE_BACKUP with a fast checkpoint,
 * the WAL needed for consistency and a SHA-256 backup manifest. PostgreSQL 15 sends every
 * archive and the manifest in one CopyOut stream; pg_stream.c parses it as it arrives (no
 * temporary copy), chunks each file into the repository and verifies the manifest. A normal
 * connection per database records sizes, row estimates and exact row counts, which the restore
 * drill compares. Counts are taken before and after the backup; only tables whose count was the
 * same both times are recorded as exact, because BASE_BACKUP cannot share a snapshot with a
 * query and the backup's consistent point lies between the two. */
#include "drrepo/source.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "pg_int.h"

/* Bounds on what the metadata records, so that a cluster with huge catalogs still produces a
 * snapshot of bounded size and a backup of bounded duration. */
#define PG_MAX_DBS 100
#define PG_MAX_TABLES 1000      /* per database */
#define PG_COUNT_MAX_ROWS 1.0e7 /* exact counts only for tables estimated at most this big */
#define PG_CONNECT_TIMEOUT "30"

struct count {
    char *key; /* "<db>.<schema>.<table>" */
    long long rows;
    long long reltuples;
    const char *skipped; /* why the rows were not counted (the role may not read them), or NULL */
    char *where;         /* "table 'schema.table' of database 'db'" when skipped, for the warning */
};

struct counts {
    struct count *v;
    size_t n, alloc;
};

struct dr_pg_source {
    char *conninfo;
    char server[300]; /* "host:port", for messages */
    PGconn *repl;
    char *sysid, *version, *dbname; /* from IDENTIFY_SYSTEM and the connection */
    char *copybuf;
    PGresult *endres; /* the end-position result, read when the copy ended */
    struct dr_source src;
};

/* libpq messages end with a newline and may span lines; errors are printed on one line. */
static void one_line(const char *msg, char *out, size_t outlen)
{
    size_t w = 0;
    bool space = false;
    for (const char *p = msg ? msg : ""; *p && w + 1 < outlen; p++) {
        if (*p == '\n' || *p == '\t' || *p == ' ') {
            space = w > 0;
            continue;
        }
        if (space && w + 2 < outlen) {
            out[w++] = ' ';
        }
        space = false;
        out[w++] = *p;
    }
    out[w] = '\0';
}

/* Maps a libpq failure to a code: refused credentials are DR_EAUTH, a server that answered and
 * refused is DR_ESOURCE, anything else (no answer, connection lost) is DR_ENET. */
static int pg_error(const char *server, const char *what, PGconn *conn, const char *msg)
{
    char line[1024];
    one_line(msg ? msg : PQerrorMessage(conn), line, sizeof(line));
    int code = DR_ENET;
    if ((conn && PQconnectionNeedsPassword(conn)) || strstr(line, "password authentication") ||
        strstr(line, "no password supplied") || strstr(line, "authentication failed")) {
        code = DR_EAUTH;
    } else if (strstr(line, "terminating connection") || strstr(line, "server closed") ||
               strstr(line, "connection to server was lost") || strstr(line, "could not receive")) {
        code = DR_ENET;
    } else if (strstr(line, "FATAL") || strstr(line, "ERROR")) {
        code = DR_ESOURCE;
    }
    return dr_errorf(code, "postgresql '%s': %s: %s", server, what, line);
}

/* host:port from the connection string, for messages before a connection exists. */
static int server_name(const char *conninfo, char *out, size_t outlen)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (!opts) {
        char line[512];
        one_line(err, line, sizeof(line));
        PQfreemem(err);
        return dr_errorf(DR_EUSAGE, "bad postgresql connection string: %s", line);
    }
    const char *host = NULL, *port = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "host") == 0 && o->val && *o->val) {
            host = o->val;
        } else if (strcmp(o->keyword, "hostaddr") == 0 && o->val && *o->val && !host) {
            host = o->val;
        } else if (strcmp(o->keyword, "port") == 0 && o->val && *o->val) {
            port = o->val;
        }
    }
    if (!host) {
        host = getenv("PGHOST") ? getenv("PGHOST") : "localhost";
    }
    if (!port) {
        port = getenv("PGPORT") ? getenv("PGPORT") : "5432";
    }
    snprintf(out, outlen, "%s:%s", host, port);
    PQconninfoFree(opts);
    return 0;
}

/* Server notices ("WAL archiving is not enabled ...") go to the log, not to stderr. */
static void notice(void *arg, const char *msg)
{
    char line[1024];
    (void)arg;
    one_line(msg, line, sizeof(line));
    dr_log_detail("postgresql: %s", line);
}

/* Does the user's connection string (or PGDATABASE) name a database? Without one libpq takes
 * the user's name, which with replication=database fails for a role such as "backup" that has
 * no database of its name. A string that does not parse: "yes", so that connecting reports
 * it. */
static bool names_db(const char *conninfo)
{
    const char *env = getenv("PGDATABASE");
    if (env && *env) {
        return true;
    }
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (!opts) {
        PQfreemem(err);
        return true;
    }
    bool named = false;
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "dbname") == 0 && o->val && *o->val) {
            named = true;
        }
    }
    PQconninfoFree(opts);
    return named;
}

/* Connects with the user's connection string, overriding the database when dbname is set and
 * asking for a walsender when replication is. The user's string may set every other option
 * (password, sslmode, ...); only connect_timeout and application_name get defaults. */
static int pg_connect(const char *conninfo, const char *server, const char *dbname,
                      bool replication, PGconn **out)
{
    const char *kw[6], *val[6];
    int n = 0;
    kw[n] = "connect_timeout", val[n++] = PG_CONNECT_TIMEOUT;
    kw[n] = "application_name", val[n++] = "drrepo";
    kw[n] = "dbname", val[n++] = conninfo;
    if (!dbname && !names_db(conninfo)) {
        dbname = "postgres"; /* every cluster has it; the databases are listed from there */
    }
    if (dbname) {
        kw[n] = "dbname", val[n++] = dbname;
    }
    if (replication) {
        kw[n] = "replication", val[n++] = "database";
    }
    kw[n] = NULL, val[n] = NULL;
    PGconn *c = PQconnectdbParams(kw, val, 1);
    if (!c) {
        return dr_errorf(DR_EINTERNAL, "postgresql '%s': out of memory in libpq", server);
    }
    if (PQstatus(c) != CONNECTION_OK) {
        int rc = pg_error(server,
                          replication ? "cannot open a replication connection" : "cannot connect",
                          c, NULL);
        PQfinish(c);
        return rc;
    }
    PQsetNoticeProcessor(c, notice, NULL);
    *out = c;
    return 0;
}

/* Runs a query that must return rows. */
static int query(const char *server, PGconn *c, const char *sql, PGresult **out)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = pg_error(server, "query failed", c, PQresultErrorMessage(res));
        PQclear(res);
        return rc;
    }
    *out = res;
    return 0;
}

static void counts_clear(struct counts *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->v[i].key);
        free(cs->v[i].where);
    }
    free(cs->v);
    memset(cs, 0, sizeof(*cs));
}

static int count_cmp(const void *a, const void *b)
{
    return strcmp(((const struct count *)a)->key, ((const struct count *)b)->key);
}

/* The tables whose rows are counted: permanent tables only. An unlogged table's contents are
 * not in a base backup (recovery empties it), and temporary tables belong to sessions. The
 * catalog is readable by every role, the rows not: whether this role may count a table (SELECT
 * on it or on one of its columns, USAGE on its schema: what count(*) needs) and whether
 * row-level security would hide rows from the count are asked here, in the same query, so that
 * a least-privilege role skips those tables instead of failing the backup on the first one, and
 * a count that row security filtered is never recorded as exact. */
static const char TABLES_SQL[] =
    "SELECT n.nspname, c.relname, c.reltuples::bigint, "
    "has_schema_privilege(n.oid, 'USAGE') AND has_any_column_privilege(c.oid, 'SELECT'), "
    "row_security_active(c.oid) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2 LIMIT 1000";

/* Counts the rows of one database's tables into cs. A database we cannot connect to is
 * skipped with a warning: the backup itself does not depend on it. */
static int count_db(struct dr_pg_source *ps, const char *db, struct counts *cs)
{
    PGconn *c = NULL;
    PGresult *tabs = NULL;
    int rc = pg_connect(ps->conninfo, ps->server, db, false, &c);
    if (rc < 0) {
        dr_log_warn("row counts of database '%s' not recorded: %s", db, dr_error_msg());
        dr_error_clear();
        return 0;
    }
    /* one snapshot for all of a database's counts */
    PGresult *begin = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (PQresultStatus(begin) != PGRES_COMMAND_OK) {
        rc = pg_error(ps->server, "query failed", c, PQresultErrorMessage(begin));
    }
    PQclear(begin);
    if (rc >= 0) {
        rc = query(ps->server, c, TABLES_SQL, &tabs);
    }
    if (rc < 0) {
        goto out;
    }
    for (int i = 0; i < PQntuples(tabs) && i < PG_MAX_TABLES; i++) {
        const char *nsp = PQgetvalue(tabs, i, 0), *rel = PQgetvalue(tabs, i, 1);
        long long est = strtoll(PQgetvalue(tabs, i, 2), NULL, 10);
        long long rows = -1;
        const char *skipped = strcmp(PQgetvalue(tabs, i, 3), "t") != 0   ? "no-privilege"
                              : strcmp(PQgetvalue(tabs, i, 4), "t") == 0 ? "row-security"
                                                                         : NULL;
        if (!skipped && (double)est <= PG_COUNT_MAX_ROWS) {
            char *qn = PQescapeIdentifier(c, nsp, strlen(nsp));
            char *qr = PQescapeIdentifier(c, rel, strlen(rel));
            char *sql =
                dr_xasprintf("SELECT count(*) FROM %s.%s", qn ? qn : "\"\"", qr ? qr : "\"\"");
            PGresult *res = NULL;
            rc = query(ps->server, c, sql, &res);
            if (rc >= 0 && PQntuples(res) == 1) {
                rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            }
            PQclear(res);
            free(sql);
            PQfreemem(qn);
            PQfreemem(qr);
            if (rc < 0) {
                goto out;
            }
        }
        char *where = skipped ? dr_xasprintf("table '%s.%s' of database '%s'", nsp, rel, db) : NULL;
        DR_GROW(cs->v, cs->alloc, cs->n + 1);
        cs->v[cs->n++] = (struct count){.key = dr_xasprintf("%s.%s.%s", db, nsp, rel),
                                        .rows = rows,
                                        .reltuples = est,
                                        .skipped = skipped,
                                        .where = where};
    }
out:
    PQclear(tabs);
    PQfinish(c);
    return rc;
}

static int list_dbs(struct dr_pg_source *ps, PGconn *c, PGresult **out)
{
    return query(ps->server, c,
                 "SELECT datname, pg_database_size(oid) FROM pg_database "
                 "WHERE datallowconn AND NOT datistemplate ORDER BY 1 LIMIT 100",
                 out);
}

static int count_all(struct dr_pg_source *ps, PGresult *dbs, struct counts *cs)
{
    int rc = 0;
    for (int i = 0; rc >= 0 && i < PQntuples(dbs) && i < PG_MAX_DBS; i++) {
        rc = count_db(ps, PQgetvalue(dbs, i, 0), cs);
    }
    if (cs->n > 1) {
        qsort(cs->v, cs->n, sizeof(*cs->v), count_cmp);
    }
    return rc;
}

/* The message source for pg_stream.c: one CopyData payload per call. When the copy ends, the
 * next result must be the end position; an error there (the walsender was terminated, the
 * connection dropped) is reported as such rather than as a truncated archive. */
static int copy_next(void *arg, const uint8_t **out, size_t *out_len)
{
    struct dr_pg_source *ps = arg;
    if (ps->copybuf) {
        PQfreemem(ps->copybuf);
        ps->copybuf = NULL;
    }
    int n = PQgetCopyData(ps->repl, &ps->copybuf, 0);
    if (n > 0) {
        *out = (const uint8_t *)ps->copybuf;
        *out_len = (size_t)n;
        return 1;
    }
    if (n == -1) {
        PGresult *res = PQgetResult(ps->repl);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            int rc = pg_error(ps->server, "backup stream interrupted", ps->repl,
                              res ? PQresultErrorMessage(res) : NULL);
            PQclear(res);
            return rc;
        }
        ps->endres = res;
        return 0;
    }
    return pg_error(ps->server, "backup stream interrupted", ps->repl, NULL);
}

static void meta_ll(struct dr_snapshot *s, const char *prefix, const char *key, long long v)
{
    char *k = dr_xasprintf("%s%s", prefix, key);
    char val[32];
    snprintf(val, sizeof(val), "%lld", v);
    dr_snapshot_add_meta(s, k, val);
    free(k);
}

/* Records counts that were equal before and after the backup as exact (pg.count.*), every
 * table's estimate (pg.rows.*), and the tables the role could not count (pg.skipped.*, with a
 * warning naming each: the drill then counts them without comparing). */
static void record_counts(struct dr_snapshot *s, const struct counts *before,
                          const struct counts *after)
{
    size_t changed = 0, exact = 0, skipped = 0;
    for (size_t i = 0; i < after->n; i++) {
        const struct count *a = &after->v[i];
        const struct count *b =
            before->n ? bsearch(a, before->v, before->n, sizeof(*a), count_cmp) : NULL;
        meta_ll(s, "pg.rows.", a->key, a->reltuples);
        const char *why = a->skipped ? a->skipped : b ? b->skipped : NULL;
        if (why) {
            char *k = dr_xasprintf("pg.skipped.%s", a->key);
            dr_snapshot_add_meta(s, k, why);
            free(k);
            skipped++;
            dr_log_warn("row count of %s not recorded: %s", a->where ? a->where : b->where,
                        strcmp(why, "row-security") == 0
                            ? "row-level security hides rows from the backup role"
                            : "the backup role may not read it");
        } else if (a->rows >= 0 && b && b->rows == a->rows) {
            meta_ll(s, "pg.count.", a->key, a->rows);
            exact++;
        } else if (a->rows >= 0) {
            changed++;
        }
    }
    meta_ll(s, "pg.counts.", "exact", (long long)exact);
    meta_ll(s, "pg.counts.", "changed", (long long)changed);
    meta_ll(s, "pg.counts.", "skipped", (long long)skipped);
}

static int start_backup(struct dr_pg_source *ps, struct dr_snapshot *s)
{
    char rate[64] = "";
    const char *mr = getenv("DRREPO_PG_MAX_RATE");
    uint64_t kb;
    if (mr && *mr) {
        if (dr_parse_u64(mr, &kb) < 0 || kb < 32 || kb > 1048576) {
            return dr_errorf(DR_EUSAGE, "DRREPO_PG_MAX_RATE '%s' must be 32 to 1048576 (kB/s)", mr);
        }
        snprintf(rate, sizeof(rate), ", MAX_RATE %llu", (unsigned long long)kb);
    }
    /* BASE_BACKUP with WAL fetches the WAL at the end; under write load the server may have
     * recycled a segment by then ("requested WAL segment ... has already been removed"). A
     * temporary physical slot reserved now, on this connection, keeps every segment from here
     * on until the session ends, as pg_basebackup's slot does. Without slots (max_replication_
     * slots = 0) the backup still runs, with that risk: warn. */
    char slot[256];
    snprintf(slot, sizeof(slot),
             "CREATE_REPLICATION_SLOT drrepo_%ld_%u TEMPORARY PHYSICAL ( RESERVE_WAL )",
             (long)getpid(), (unsigned)(dr_time_now_ns() & 0xffffff));
    PGresult *sres = PQexec(ps->repl, slot);
    if (PQresultStatus(sres) != PGRES_TUPLES_OK) {
        dr_log_warn("postgresql '%s': cannot reserve WAL with a temporary replication slot (%s); "
                    "under heavy writes the backup may fail for a recycled WAL segment",
                    ps->server, PQresultErrorMessage(sres));
    }
    PQclear(sres);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "BASE_BACKUP ( LABEL 'drrepo', CHECKPOINT 'fast', WAL true, MANIFEST 'yes', "
             "MANIFEST_CHECKSUMS 'SHA256'%s )",
             rate);
    if (!PQsendQuery(ps->repl, sql)) {
        return pg_error(ps->server, "cannot start the base backup", ps->repl, NULL);
    }
    /* the start position, then the tablespace list, then the copy */
    for (int step = 0; step < 3; step++) {
        PGresult *res = PQgetResult(ps->repl);
        ExecStatusType want = step < 2 ? PGRES_TUPLES_OK : PGRES_COPY_OUT;
        if (PQresultStatus(res) != want) {
            int rc = pg_error(ps->server, "base backup refused", ps->repl,
                              res ? PQresultErrorMessage(res) : NULL);
            PQclear(res);
            return rc;
        }
        if (step == 0 && PQntuples(res) == 1 && PQnfields(res) >= 2) {
            dr_snapshot_add_meta(s, "pg.start_lsn", PQgetvalue(res, 0, 0));
            dr_snapshot_add_meta(s, "pg.timeline", PQgetvalue(res, 0, 1));
        }
        PQclear(res);
    }
    return 0;
}

static int finish_backup(struct dr_pg_source *ps, struct dr_snapshot *s)
{
    PGresult *res = ps->endres;
    ps->endres = NULL;
    int rc = 0;
    if (!res || PQntuples(res) != 1 || PQnfields(res) < 2) {
        rc = dr_errorf(DR_ESOURCE, "postgresql '%s': no end position after the backup", ps->server);
        goto out;
    }
    dr_snapshot_add_meta(s, "pg.end_lsn", PQgetvalue(res, 0, 0));
    dr_snapshot_add_meta(s, "pg.end_timeline", PQgetvalue(res, 0, 1));
    /* when the backup became consistent: a point-in-time restore to an earlier time must start
     * from an older backup (wal.h dr_wal_backup_reaches) */
    int64_t now = dr_time_now_ns();
    time_t secs = (time_t)(now / 1000000000);
    struct tm tm;
    char end_time[64];
    gmtime_r(&secs, &tm);
    snprintf(end_time, sizeof(end_time), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long long)(now % 1000000000));
    dr_snapshot_add_meta(s, "pg.end_time", end_time);
    PQclear(res);
    res = PQgetResult(ps->repl);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_error(ps->server, "base backup failed at its end", ps->repl,
                      res ? PQresultErrorMessage(res) : NULL);
        goto out;
    }
    PQclear(res);
    while ((res = PQgetResult(ps->repl)) != NULL) {
        PQclear(res);
    }
out:
    PQclear(res);
    return rc;
}

static int build(void *arg, const struct dr_source_sink *sink, struct dr_snapshot *s)
{
    struct dr_pg_source *ps = arg;
    struct counts before = {0}, after = {0};
    PGconn *c = NULL;
    PGresult *dbs = NULL, *su = NULL;
    int rc = pg_connect(ps->conninfo, ps->server, NULL, false, &c);
    if (rc >= 0) {
        rc = list_dbs(ps, c, &dbs);
    }
    if (rc >= 0) {
        rc = query(ps->server, c, "SELECT rolname FROM pg_roles WHERE oid = 10", &su);
    }
    if (rc >= 0) {
        rc = count_all(ps, dbs, &before);
    }
    /* the snapshot's path names the server; with the host it makes the origin by which the
     * parent is found: the latest earlier snapshot of this server (for --warn-size-change, the
     * listings, and the chunk lists of relation files, which are changes to the parent's;
     * deduplication needs no parent) */
    char path[sizeof(ps->server) + 16];
    struct dr_id ptree;
    snprintf(path, sizeof(path), "postgresql://%s", ps->server);
    dr_snapshot_add_path(s, path);
    bool has_parent = sink->parent(sink->arg, s, &ptree);
    dr_snapshot_add_meta(s, "pg.version", ps->version);
    dr_snapshot_add_meta(s, "pg.system_identifier", ps->sysid);
    dr_snapshot_add_meta(s, "pg.dbname", ps->dbname);
    if (rc >= 0) {
        rc = start_backup(ps, s);
    }
    if (rc < 0) {
        goto out;
    }
    rc = dr_pg_stream_consume(copy_next, ps, sink, ps->server, s, has_parent ? &ptree : NULL,
                              &s->tree);
    if (rc < 0) {
        goto out;
    }
    rc = finish_backup(ps, s);
    if (rc < 0) {
        goto out;
    }
    /* sizes and counts after the backup: see the top of the file */
    PQclear(dbs);
    dbs = NULL;
    rc = list_dbs(ps, c, &dbs);
    if (rc >= 0) {
        rc = count_all(ps, dbs, &after);
    }
    if (rc < 0) {
        goto out;
    }
    for (int i = 0; i < PQntuples(dbs); i++) {
        char *k = dr_xasprintf("pg.db.%s.size", PQgetvalue(dbs, i, 0));
        dr_snapshot_add_meta(s, k, PQgetvalue(dbs, i, 1));
        free(k);
    }
    if (PQntuples(su) == 1) {
        dr_snapshot_add_meta(s, "pg.superuser", PQgetvalue(su, 0, 0));
    }
    record_counts(s, &before, &after);
out:
    if (ps->copybuf) {
        PQfreemem(ps->copybuf);
        ps->copybuf = NULL;
    }
    PQclear(ps->endres);
    ps->endres = NULL;
    PQclear(dbs);
    PQclear(su);
    PQfinish(c);
    counts_clear(&before);
    counts_clear(&after);
    return rc;
}

int dr_source_pg_open(const char *conninfo, struct dr_pg_source **out,
                      const struct dr_source **out_src)
{
    struct dr_pg_source *ps = dr_xcalloc(1, sizeof(*ps));
    PGresult *res = NULL;
    int rc = server_name(conninfo, ps->server, sizeof(ps->server));
    if (rc < 0) {
        goto out;
    }
    ps->conninfo = dr_xstrdup(conninfo);
    rc = pg_connect(conninfo, ps->server, NULL, true, &ps->repl);
    if (rc < 0) {
        goto out;
    }
    int ver = PQserverVersion(ps->repl);
    if (ver < 150000) {
        rc = dr_errorf(DR_EUNSUPPORTED,
                       "postgresql '%s': server version %d.%d is not supported (15 or newer "
                       "sends the base backup as one stream)",
                       ps->server, ver / 10000, ver % 10000);
        goto out;
    }
    rc = query(ps->server, ps->repl, "IDENTIFY_SYSTEM", &res);
    if (rc >= 0 && (PQntuples(res) != 1 || PQnfields(res) < 2)) {
        rc =
            dr_errorf(DR_ESOURCE, "postgresql '%s': unexpected IDENTIFY_SYSTEM answer", ps->server);
    }
    if (rc < 0) {
        goto out;
    }
    ps->src = (struct dr_source){.kind = "postgresql", .build = build, .arg = ps};
    dr_log_detail("postgresql '%s': connected, server %s", ps->server,
                  PQparameterStatus(ps->repl, "server_version"));
out:
    if (rc < 0) {
        PQclear(res);
        dr_source_pg_close(ps);
        return rc;
    }
    /* the identity goes into the snapshot when build runs; keep it on the source */
    ps->sysid = dr_xstrdup(PQgetvalue(res, 0, 0));
    ps->dbname = dr_xstrdup(PQnfields(res) >= 4 ? PQgetvalue(res, 0, 3) : "");
    ps->version = dr_xstrdup(PQparameterStatus(ps->repl, "server_version"));
    PQclear(res);
    *out = ps;
    *out_src = &ps->src;
    return 0;
}

void dr_source_pg_close(struct dr_pg_source *ps)
{
    if (!ps) {
        return;
    }
    if (ps->copybuf) {
        PQfreemem(ps->copybuf);
    }
    PQclear(ps->endres);
    PQfinish(ps->repl);
    free(ps->conninfo);
    free(ps->sysid);
    free(ps->dbname);
    free(ps->version);
    free(ps);
}
