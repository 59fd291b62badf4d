/* redis.c: the Redis source: the RDB fetched over the replication protocol, as `redis-cli --rdb`
 * does, streamed into the chunker without a copy on disk.
 *
 * The sequence is: connect (hiredis), AUTH, INFO (version, replication id and offset, keys per
 * database), REPLCONF capa eof (we can read the diskless form), REPLCONF rdb-only 1 (we want the
 * RDB only, not the replication stream after it), then SYNC. Once SYNC is written the connection
 * stops being request/response: the reply is a bulk payload of any size, which hiredis would
 * buffer whole, so from there on we read the socket ourselves, starting with whatever hiredis
 * already holds in its reader buffer. The framing and the validation of the bytes (magic,
 * version, CRC-64 trailer) are in rdb.c, which needs no server.
 *
 * The URL's password never appears in messages or metadata: the server is named host:port. */
#include "drrepo/source.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/secure.h"
#include "redis_int.h"
#include "source_int.h"

#define CONNECT_TIMEOUT_S 10
#define COMMAND_TIMEOUT_S 60
/* While the server prepares the RDB it sends a newline every second to replicas that asked with
 * SYNC, and during the transfer data flows: two minutes of silence means it is gone. */
#define IDLE_TIMEOUT_MS (120 * 1000)
#define DEFAULT_PORT 6379

/* What INFO told us before SYNC. */
struct redis_info {
    char version[32];
    char replid[41];
    char offset[24];
    struct dr_buf keys;    /* "db0=12,db3=4" */
    struct dr_buf expires; /* "db0=2,db3=0" */
};

struct dr_redis_source {
    char *host, *user, *password;
    int port;
    char what[320];
    redisContext *ctx;
    struct redis_info info;
    bool payload_started;
    struct dr_rdb_payload payload;
    bool allow_empty;
    struct dr_source src;
};

/* ---- URL ---- */

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decodes [s, s+n) into a new string; NULL on a bad escape or an encoded NUL. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = dr_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            dr_wipe(out, n + 1);
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* redis://[user:password@]host[:port][/db]: the database number is ignored (a SYNC copies all
 * databases). */
static int parse_url(struct dr_redis_source *rs, const char *url)
{
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        return dr_errorf(DR_EUSAGE, "redis URL must start with 'redis://' (TLS is not supported)");
    }
    const char *p = url + sizeof(scheme) - 1;
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++) {
        if (*q == '@') {
            at = q; /* the last '@': a password may contain one when not encoded */
        }
    }
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            rs->user = colon > p ? pct_decode(p, (size_t)(colon - p)) : NULL;
            rs->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
            if ((colon > p && !rs->user) || !rs->password) {
                return dr_errorf(DR_EUSAGE, "redis URL has a bad %%-escape in its credentials");
            }
        } else {
            /* "redis://password@host" is how some tools write a password alone */
            rs->password = pct_decode(p, (size_t)(at - p));
            if (!rs->password) {
                return dr_errorf(DR_EUSAGE, "redis URL has a bad %%-escape in its credentials");
            }
        }
        p = at + 1;
    }
    const char *hs = p, *he, *port = NULL;
    if (*p == '[') {
        hs = p + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he) {
            return dr_errorf(DR_EUSAGE, "redis URL has an unterminated '[' in its host");
        }
        port = he + 1 < end && he[1] == ':' ? he + 2 : NULL;
    } else {
        he = memchr(hs, ':', (size_t)(end - hs));
        if (he) {
            port = he + 1;
        } else {
            he = end;
        }
    }
    if (he == hs) {
        return dr_errorf(DR_EUSAGE, "redis URL has no host");
    }
    rs->host = dr_xstrndup(hs, (size_t)(he - hs));
    rs->port = DEFAULT_PORT;
    if (port) {
        long v = 0;
        const char *q = port;
        for (; q < end && *q >= '0' && *q <= '9' && v <= 65535; q++) {
            v = v * 10 + (*q - '0');
        }
        if (q == port || q != end || v < 1 || v > 65535) {
            return dr_errorf(DR_EUSAGE, "redis URL has a bad port '%.*s'", (int)(end - port), port);
        }
        rs->port = (int)v;
    }
    snprintf(rs->what, sizeof(rs->what), "redis server '%s%s%s:%d'",
             strchr(rs->host, ':') ? "[" : "", rs->host, strchr(rs->host, ':') ? "]" : "",
             rs->port);
    return 0;
}

/* ---- commands ---- */

/* The error of a failed command or connection, with a code that says whose fault it is. */
static int reply_error(struct dr_redis_source *rs, redisContext *c, redisReply *r, const char *cmd)
{
    if (!r) {
        return dr_errorf(DR_ENET, "%s: %s failed: %s", rs->what, cmd,
                         c->errstr[0] ? c->errstr : "connection lost");
    }
    const char *m = r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type";
    if (strncmp(m, "NOAUTH", 6) == 0) {
        return dr_errorf(DR_EAUTH,
                         "%s requires a password: %s (give it with --redis-password-file, "
                         "DRREPO_REDIS_PASSWORD or REDISCLI_AUTH)",
                         rs->what, m);
    }
    if (strncmp(m, "WRONGPASS", 9) == 0 || strstr(m, "invalid password") ||
        strstr(m, "invalid username-password")) {
        return dr_errorf(DR_EAUTH, "%s: authentication failed: %s", rs->what, m);
    }
    if (strncmp(m, "NOPERM", 6) == 0) {
        return dr_errorf(DR_ESOURCE, "%s: %s: the user may not replicate: %s", rs->what, cmd, m);
    }
    return dr_errorf(DR_ESOURCE, "%s: %s failed: %s", rs->what, cmd, m);
}

/* Connects and authenticates; *out is the connection. */
static int connect_server(struct dr_redis_source *rs, redisContext **out)
{
    struct timeval tv = {.tv_sec = CONNECT_TIMEOUT_S};
    redisContext *c = redisConnectWithTimeout(rs->host, rs->port, tv);
    int rc = 0;
    if (!c) {
        return dr_errorf(DR_EINTERNAL, "%s: cannot allocate a connection", rs->what);
    }
    if (c->err) {
        rc = dr_errorf(DR_ENET, "cannot connect to %s: %s", rs->what, c->errstr);
        goto out;
    }
    tv.tv_sec = COMMAND_TIMEOUT_S;
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        rc = dr_errorf(DR_ENET, "%s: cannot set a timeout: %s", rs->what, c->errstr);
        goto out;
    }
    if (rs->password) {
        const char *argv[3] = {"AUTH"};
        int argc = 1;
        if (rs->user) {
            argv[argc++] = rs->user;
        }
        argv[argc++] = rs->password;
        redisReply *r = redisCommandArgv(c, argc, argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            rc = reply_error(rs, c, r, "AUTH");
        }
        if (r) {
            freeReplyObject(r);
        }
    }
out:
    if (rc < 0) {
        redisFree(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The value of "field:" in an INFO reply, copied into out. */
static void info_field(const char *info, const char *field, char *out, size_t outlen)
{
    size_t fl = strlen(field);
    for (const char *l = info; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, field, fl) == 0 && l[fl] == ':') {
            size_t n = strcspn(l + fl + 1, "\r\n");
            n = DR_MIN(n, outlen - 1);
            memcpy(out, l + fl + 1, n);
            out[n] = '\0';
            return;
        }
    }
}

/* "db3:keys=10,expires=2,avg_ttl=0" lines of the keyspace section. */
static int info_keyspace(const char *info, struct dr_buf *keys, struct dr_buf *expires)
{
    int rc = 0;
    for (const char *l = info; rc >= 0 && l && *l;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        unsigned db;
        unsigned long long k, e;
        if (sscanf(l, "db%u:keys=%llu,expires=%llu", &db, &k, &e) != 3) {
            continue;
        }
        rc = dr_buf_addf(keys, "%sdb%u=%llu", keys->len ? "," : "", db, k);
        rc = rc < 0 ? rc : dr_buf_addf(expires, "%sdb%u=%llu", expires->len ? "," : "", db, e);
    }
    return rc;
}

static int query_info(struct dr_redis_source *rs, redisContext *c, struct redis_info *out)
{
    redisReply *r = redisCommand(c, "INFO");
    int rc = 0;
    if (!r || r->type != REDIS_REPLY_STRING) {
        rc = reply_error(rs, c, r, "INFO");
        goto out;
    }
    info_field(r->str, "redis_version", out->version, sizeof(out->version));
    info_field(r->str, "master_replid", out->replid, sizeof(out->replid));
    info_field(r->str, "master_repl_offset", out->offset, sizeof(out->offset));
    dr_buf_reset(&out->keys);
    dr_buf_reset(&out->expires);
    rc = info_keyspace(r->str, &out->keys, &out->expires);
out:
    if (r) {
        freeReplyObject(r);
    }
    return rc;
}

/* REPLCONF key value; tolerated when optional and the server does not know it (older Redis). */
static int replconf(struct dr_redis_source *rs, const char *key, const char *value, bool optional)
{
    redisReply *r = redisCommand(rs->ctx, "REPLCONF %s %s", key, value);
    int rc = 0;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (optional && r) {
            dr_log_detail("%s does not accept REPLCONF %s %s (%s); continuing", rs->what, key,
                          value, r->str);
        } else {
            rc = reply_error(rs, rs->ctx, r, "REPLCONF");
        }
    }
    if (r) {
        freeReplyObject(r);
    }
    return rc;
}

/* ---- the payload ---- */

/* The transport under the payload parser: hiredis's buffered bytes first, then the socket. */
static int sock_read(void *arg, uint8_t *buf, size_t len)
{
    struct dr_redis_source *rs = arg;
    redisReader *rd = rs->ctx->reader;
    if (rd->buf && rd->len > rd->pos) {
        size_t n = DR_MIN(DR_MIN(len, rd->len - rd->pos), (size_t)INT_MAX);
        memcpy(buf, rd->buf + rd->pos, n);
        rd->pos += n;
        return (int)n;
    }
    len = DR_MIN(len, (size_t)INT_MAX);
    for (;;) {
        struct pollfd pfd = {.fd = rs->ctx->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, IDLE_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr < 0) {
            return dr_error_errno(DR_EIO, "%s: cannot wait for data", rs->what);
        }
        if (pr == 0) {
            return dr_errorf(DR_ENET, "%s: no data for %d seconds during the RDB transfer",
                             rs->what, IDLE_TIMEOUT_MS / 1000);
        }
        ssize_t n = read(rs->ctx->fd, buf, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n < 0) {
            return dr_error_errno(DR_ENET, "%s: connection failed during the RDB transfer",
                                  rs->what);
        }
        return (int)n;
    }
}

/* Writes SYNC with hiredis and hands the socket to the payload parser. */
static int start_sync(struct dr_redis_source *rs)
{
    if (redisAppendCommand(rs->ctx, "SYNC") != REDIS_OK) {
        return reply_error(rs, rs->ctx, NULL, "SYNC");
    }
    int done = 0;
    while (!done) {
        if (redisBufferWrite(rs->ctx, &done) != REDIS_OK) {
            return reply_error(rs, rs->ctx, NULL, "SYNC");
        }
    }
    dr_rdb_payload_init(&rs->payload, sock_read, rs, rs->what);
    rs->payload_started = true;
    return 0;
}

static int source_read(void *arg, uint8_t *buf, size_t len)
{
    struct dr_redis_source *rs = arg;
    return dr_rdb_payload_read(&rs->payload, buf, len);
}

static void add_meta_if(struct dr_snapshot *s, const char *key, const char *a, const char *b)
{
    const char *v = a && a[0] ? a : b;
    if (v && v[0]) {
        dr_snapshot_add_meta(s, key, v);
    }
}

/* After the last byte: the end and checksum of the RDB, then the metadata. The keys after the
 * transfer are asked on a new connection (the replication one is no longer request/response):
 * when they differ from before, both are recorded, and a drill accepts counts between them. */
static int source_finish(void *arg, int64_t got, struct dr_snapshot *s)
{
    struct dr_redis_source *rs = arg;
    if (got < 0) {
        return 0; /* the read's error is the snapshot's */
    }
    struct dr_rdb_info ri;
    int rc = dr_rdb_payload_finish(&rs->payload, &ri);
    if (rc < 0) {
        return rc;
    }
    char v[64];
    snprintf(v, sizeof(v), "%s:%d", rs->host, rs->port);
    dr_snapshot_add_meta(s, "redis.server", v);
    add_meta_if(s, "redis.version", ri.redis_ver, rs->info.version);
    add_meta_if(s, "redis.replid", ri.repl_id,
                rs->payload.fullresync_id[0] ? rs->payload.fullresync_id : rs->info.replid);
    add_meta_if(s, "redis.repl_offset", ri.repl_offset,
                rs->payload.fullresync_offset[0] ? rs->payload.fullresync_offset : rs->info.offset);
    dr_snapshot_add_meta(s, "redis.keys", rs->info.keys.buf);
    dr_snapshot_add_meta(s, "redis.expires", rs->info.expires.buf);
    snprintf(v, sizeof(v), "%u", ri.version);
    dr_snapshot_add_meta(s, "redis.rdb_version", v);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)ri.size);
    dr_snapshot_add_meta(s, "redis.rdb_size", v);
    if (ri.checksummed) {
        snprintf(v, sizeof(v), "%016llx", (unsigned long long)ri.crc);
    } else {
        snprintf(v, sizeof(v), "off");
    }
    dr_snapshot_add_meta(s, "redis.rdb_crc64", v);
    dr_snapshot_add_meta(s, "redis.payload", rs->payload.eof_form ? "diskless" : "disk");

    struct redis_info after = {.keys = DR_BUF_INIT(1 << 20), .expires = DR_BUF_INIT(1 << 20)};
    redisContext *c = NULL;
    rc = connect_server(rs, &c);
    rc = rc < 0 ? rc : query_info(rs, c, &after);
    if (rc < 0) {
        /* the RDB is complete and valid: the counts from before are what we have */
        dr_log_warn("keys after the transfer not known: %s", dr_error_msg());
        dr_error_clear();
        rc = 0;
    } else if (strcmp(after.keys.buf, rs->info.keys.buf) != 0) {
        dr_snapshot_add_meta(s, "redis.keys_after", after.keys.buf);
        dr_snapshot_add_meta(s, "redis.expires_after", after.expires.buf);
    }
    if (c) {
        redisFree(c);
    }
    dr_buf_release(&after.keys);
    dr_buf_release(&after.expires);
    return rc;
}

/* The RDB is stored as one file, "dump.rdb", like the server's own dump. */
static int source_build(void *arg, const struct dr_source_sink *sink, struct dr_snapshot *s)
{
    struct dr_redis_source *rs = arg;
    struct dr_source_stream st = {
        .name = "dump.rdb",
        .what = "redis",
        .label = "source '",
        .read = source_read,
        .arg = rs,
        .finish = source_finish,
        .allow_empty = rs->allow_empty,
    };
    return dr_source_stream_build(&st, sink, s);
}

int dr_source_redis_open(const char *url, const char *password, bool allow_empty,
                         struct dr_redis_source **out, const struct dr_source **out_src)
{
    struct dr_redis_source *rs = dr_xcalloc(1, sizeof(*rs));
    rs->info.keys = (struct dr_buf)DR_BUF_INIT(1 << 20);
    rs->info.expires = (struct dr_buf)DR_BUF_INIT(1 << 20);
    int rc = parse_url(rs, url);
    /* "redis://user:@host" names the ACL user and leaves the password to the caller's */
    if (rc >= 0 && rs->password && !*rs->password) {
        free(rs->password);
        rs->password = NULL;
    }
    if (rc >= 0 && !rs->password && password) {
        rs->password = dr_xstrdup(password);
    }
    rc = rc < 0 ? rc : connect_server(rs, &rs->ctx);
    rc = rc < 0 ? rc : query_info(rs, rs->ctx, &rs->info);
    rc = rc < 0 ? rc : replconf(rs, "capa", "eof", false);
    rc = rc < 0 ? rc : replconf(rs, "rdb-only", "1", true);
    rc = rc < 0 ? rc : start_sync(rs);
    if (rc < 0) {
        dr_source_redis_close(rs);
        return rc;
    }
    dr_log_detail("%s: Redis %s, SYNC sent", rs->what, rs->info.version);
    rs->allow_empty = allow_empty;
    rs->src = (struct dr_source){.kind = "redis", .build = source_build, .arg = rs};
    *out = rs;
    *out_src = &rs->src;
    return 0;
}

void dr_source_redis_close(struct dr_redis_source *rs)
{
    if (!rs) {
        return;
    }
    if (rs->ctx) {
        redisFree(rs->ctx);
    }
    if (rs->payload_started) {
        dr_rdb_payload_release(&rs->payload);
    }
    if (rs->password) {
        dr_wipe(rs->password, strlen(rs->password));
    }
    free(rs->password);
    free(rs->user);
    free(rs->host);
    dr_buf_release(&rs->info.keys);
    dr_buf_release(&rs->info.expires);
    free(rs);
}
