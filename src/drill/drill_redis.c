/* drill_redis.c: the Redis restore drill (see drill.c): a scratch redis-server that must load
 * the restored RDB and hold the keys per database that the snapshot recorded. The server listens
 * on a private Unix socket only and is stopped (SIGTERM, then SIGKILL) on every path. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drill_int.h"
#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/proc.h"
#include "drrepo/util.h"

#define REDIS_START_TIMEOUT_NS (600LL * 1000000000) /* a large RDB takes a while to load */
#define STOP_GRACE_NS (10LL * 1000000000)

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
        drill_fail(res, "the snapshot's redis.keys metadata cannot be read");
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
            drill_fail(res,
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
int drill_redis(const struct dr_snapshot *s, const char *tmp, const char *datadir,
                struct dr_drill_result *res, int64_t *out_start_ns)
{
    char *sock = dr_xasprintf("%s/redis.sock", tmp);
    char *logf = dr_xasprintf("%s/redis.log", tmp);
    char *rdb = dr_xasprintf("%s/dump.rdb", datadir);
    const char *bin = getenv("DRREPO_REDIS_SERVER");
    bin = bin && bin[0] ? bin : "redis-server";
    struct dr_proc proc = {.pid = -1};
    int rc = 0;
    struct counts got = {0};
    struct dr_buf summary = DR_BUF_INIT(1 << 20);
    struct stat st;
    if (stat(rdb, &st) < 0) {
        drill_fail(res, "the snapshot has no dump.rdb");
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
    struct dr_proc_spec spec = {.file = bin, .argv = argv, .search_path = true};
    int64_t t0 = dr_mono_ns();
    rc = dr_proc_spawn(&spec, &proc);
    if (rc < 0) {
        goto out;
    }
    if (proc.exec_errno) {
        errno = proc.exec_errno;
        rc = dr_error_errno(DR_ESOURCE,
                            "cannot run '%s' for the drill (install redis-server, or set "
                            "DRREPO_REDIS_SERVER)",
                            bin);
        goto out;
    }
    for (;;) {
        if (dr_proc_poll(&proc)) {
            char how[96];
            dr_proc_describe(proc.status, how, sizeof(how));
            char *tail = dr_proc_log_tail(logf, 2, NULL);
            drill_fail(res, "redis-server %s before it answered: %s", how,
                       !tail     ? "(no log)"
                       : tail[0] ? tail
                                 : "(empty log)");
            free(tail);
            goto out;
        }
        if (redis_ping(sock) == 1) {
            break;
        }
        if (dr_mono_ns() - t0 > REDIS_START_TIMEOUT_NS) {
            drill_fail(res, "redis-server did not answer within %lld s",
                       REDIS_START_TIMEOUT_NS / 1000000000);
            goto out;
        }
        usleep(20000);
    }
    *out_start_ns = dr_mono_ns() - t0;
    char version[32] = "?";
    rc = redis_keyspace(sock, &got, version, sizeof(version));
    if (rc < 0) {
        drill_fail(res, "%s", dr_error_msg());
        dr_error_clear();
        rc = 0;
        goto out;
    }
    compare_counts(s, &got, res, &summary);
    if (res->ok) {
        drill_checked(res,
                      "redis-server %s loaded dump.rdb (%llu bytes) in %.2f s with the recorded "
                      "keys per database (%s)",
                      version, (unsigned long long)st.st_size, (double)*out_start_ns / 1e9,
                      summary.len ? summary.buf : "no keys");
    }
out:
    if (proc.pid > 0) {
        static const int sigs[] = {SIGTERM, SIGKILL};
        long pid = (long)proc.pid;
        int status = dr_proc_stop(&proc, sigs, 2, STOP_GRACE_NS);
        dr_log_detail("scratch redis-server (pid %ld) stopped (status %d)", pid, status);
    }
    free(got.v);
    dr_buf_release(&summary);
    free(sock);
    free(logf);
    free(rdb);
    return rc;
}
