/* s3.c: the S3 storage driver (AWS S3, Ceph RGW and other stores that speak its API).
 *
 * A location s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX] keeps object NAME at key PREFIX/NAME of
 * BUCKET, addressed path-style (http://HOST/BUCKET/KEY), which every S3-compatible store
 * accepts. An S3 PUT is atomic by itself: a reader sees the whole object or none, so no
 * temporary objects are needed and there is nothing for cleanup to remove.
 *
 * Where S3 differs from the interface (backend.h), the driver closes the gap:
 * - an exclusive put is a conditional PUT (If-None-Match: *): the store refuses it with 412
 *   when the key exists, atomically (docs/S3.md says which stores honour it);
 * - DELETE of a missing key succeeds on S3; the interface says DR_ENOENT, so a HEAD goes first
 *   (deletes are rare: prune, forget, unlock, lock release);
 * - a range past the end is an error here as in the local driver, not the short answer S3 gives;
 * - the bucket is made by the first put that finds it missing (init), as restic does.
 *
 * State never changes after open except the connection pool (http.c), so every operation may
 * run on several threads at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "s3_int.h"

/* Connections when the caller sets none (--connections). */
#define S3_CONNS_DEFAULT 5
/* Objects above the part size are uploaded in parts (multipart upload): a failed part is
 * retried alone. Packs are 16 MiB by default, so only a larger --pack-size uses it. S3 wants
 * parts of at least 5 MiB (the last excepted) and at most 10,000 of them. */
#define S3_PART_DEFAULT ((size_t)64 << 20)
#define S3_PART_MIN ((size_t)5 << 20)
#define S3_PARTS_MAX 10000
/* An upload that was started this long ago and never completed is a crashed writer's. */
#define S3_UPLOAD_STALE_S (24 * 60 * 60)

struct s3 {
    struct dr_s3_http http;
    char *bucket;      /* as given */
    char *bucket_path; /* what precedes a key in a path: "/bucket", or "" virtual-host style */
    char *root_path;   /* the bucket's own path: "/bucket", or "/" virtual-host style */
    char *prefix;      /* "" or "a/b/": the repository's key prefix, with its slash */
    char *region;
    size_t part_size;
};

static unsigned s3_conns = S3_CONNS_DEFAULT;
static bool s3_vhost;

void dr_backend_s3_set_virtual_host(bool on)
{
    s3_vhost = on;
}

void dr_backend_s3_set_connections(unsigned n)
{
    s3_conns = n == 0 ? S3_CONNS_DEFAULT : n > DR_CONNECTIONS_MAX ? DR_CONNECTIONS_MAX : n;
}

/* A bucket name as S3 allows it: 3 to 63 of [a-z0-9.-] (RGW allows more; we do not need to). */
static bool bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

static int bad_location(const char *rest, const char *why)
{
    return dr_errorf(DR_EUSAGE,
                     "unsupported repository location 's3:%s': %s (write "
                     "s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX])",
                     rest, why);
}

static void s3_close(void *drv)
{
    struct s3 *s = drv;
    if (!s) {
        return;
    }
    dr_s3_http_release(&s->http);
    free(s->bucket);
    free(s->bucket_path);
    free(s->root_path);
    free(s->prefix);
    free(s->region);
    free(s);
}

int dr_backend_s3_open(const char *rest, void **out_drv)
{
    size_t sl;
    if (strncmp(rest, "http://", 7) == 0) {
        sl = 7;
    } else if (strncmp(rest, "https://", 8) == 0) {
        sl = 8;
    } else {
        return bad_location(rest, "the endpoint must start with http:// or https://");
    }
    const char *host = rest + sl;
    const char *slash = strchr(host, '/');
    if (slash == host || !*host) {
        return bad_location(rest, "no host");
    }
    if (!slash || !slash[1]) {
        return bad_location(rest, "no bucket");
    }
    if (strpbrk(rest, "?#@") || strpbrk(host, " \t")) {
        return bad_location(rest, "a query, fragment, user name or blank is not allowed");
    }
    const char *bucket = slash + 1;
    const char *bend = strchr(bucket, '/');
    size_t blen = bend ? (size_t)(bend - bucket) : strlen(bucket);
    if (!bucket_ok(bucket, blen)) {
        return bad_location(rest, "a bucket name is 3 to 63 lowercase letters, digits, '.', '-'");
    }
    struct dr_s3_creds c;
    int rc = dr_s3_creds_load(&c);
    if (rc < 0) {
        return rc;
    }
    const char *ev = getenv("DRREPO_S3_VIRTUAL_HOST");
    bool vhost = s3_vhost || (ev && strcmp(ev, "1") == 0);
    struct s3 *s = dr_xcalloc(1, sizeof(*s));
    /* virtual-host style names the bucket in the host (https://BUCKET.HOST/KEY), which AWS
     * prefers and requires for new features; path style works everywhere */
    char *endpoint = vhost ? dr_xasprintf("%.*s%.*s.%.*s", (int)sl, rest, (int)blen, bucket,
                                          (int)(slash - host), host)
                           : dr_xstrndup(rest, (size_t)(slash - rest));
    rc = dr_s3_http_init(&s->http, endpoint, &c, s3_conns);
    free(endpoint);
    s->region = dr_xstrdup(c.region);
    dr_s3_creds_release(&c);
    if (rc < 0) {
        free(s->region);
        free(s);
        return rc;
    }
    s->bucket = dr_xstrndup(bucket, blen);
    s->bucket_path = vhost ? dr_xstrdup("") : dr_xasprintf("/%s", s->bucket);
    s->root_path = vhost ? dr_xstrdup("/") : dr_xasprintf("/%s", s->bucket);
    /* the prefix without its slashes at either end, then one slash after it */
    const char *p = bend ? bend : "";
    while (*p == '/') {
        p++;
    }
    size_t plen = strlen(p);
    while (plen > 0 && p[plen - 1] == '/') {
        plen--;
    }
    s->prefix = plen ? dr_xasprintf("%.*s/", (int)plen, p) : dr_xstrdup("");
    /* DRREPO_S3_PART_SIZE: for tests and for stores with other limits (docs/S3.md) */
    uint64_t part = S3_PART_DEFAULT;
    const char *ps = getenv("DRREPO_S3_PART_SIZE");
    if (ps && *ps && (dr_parse_size(ps, &part) < 0 || part < S3_PART_MIN || part > (1u << 30))) {
        s3_close(s);
        return dr_errorf(DR_EUSAGE, "DRREPO_S3_PART_SIZE must be a size from 5M to 1G, not '%s'",
                         ps);
    }
    s->part_size = (size_t)part;
    if (strstr(s->prefix, "//")) {
        s3_close(s);
        return bad_location(rest, "an empty path component in the prefix");
    }
    *out_drv = s;
    return 0;
}

/* The request of method for object name: its path "/bucket/prefix/name" (encoded) and its name
 * for messages, both owned by the request (req_release). */
static int key_req(const struct s3 *s, const char *method, const char *name, struct dr_s3_req *req)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    int rc = dr_buf_adds(&b, s->bucket_path);
    rc = rc < 0 ? rc : dr_buf_addch(&b, '/');
    rc = rc < 0 ? rc : dr_s3_uri_encode(&b, s->prefix, strlen(s->prefix), true);
    rc = rc < 0 ? rc : dr_s3_uri_encode(&b, name, strlen(name), true);
    if (rc < 0) {
        dr_buf_release(&b);
        return dr_error_wrap(rc, "object '%s'", name);
    }
    memset(req, 0, sizeof(*req));
    req->method = method;
    req->path = dr_buf_detach(&b, NULL);
    req->query = "";
    req->what = dr_xasprintf("object '%s'", name);
    return 0;
}

static void req_release(struct dr_s3_req *req)
{
    free((char *)req->path);
    free((char *)req->what);
}

/* Makes the bucket (the first put into a new location). An existing bucket of ours is fine. */
static int make_bucket(struct s3 *s)
{
    char *what = dr_xasprintf("bucket '%s'", s->bucket);
    char *body = NULL;
    /* us-east-1 is the default location; any other must be named (RGW compares it with its
     * zonegroup's api_name when one is set) */
    if (strcmp(s->region, "us-east-1") != 0) {
        body = dr_xasprintf("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
                            "2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
                            "</CreateBucketConfiguration>",
                            s->region);
    }
    struct dr_s3_req req = {.method = "PUT",
                            .path = s->root_path,
                            .query = "",
                            .what = what,
                            .body = body ? body : "",
                            .body_len = body ? strlen(body) : 0,
                            .content_md5 = true};
    int rc = dr_s3_http_do(&s->http, &req);
    if (rc < 0 && strcmp(req.code, "BucketAlreadyOwnedByYou") == 0) {
        dr_error_clear();
        rc = 0;
    }
    free(body);
    free(what);
    return rc;
}

static int s3_get(void *drv, const char *name, uint64_t off, uint64_t len, struct dr_buf *out);
static int head(struct s3 *s, const char *name, uint64_t *out_size);

/* Aborts the multipart upload id of object name (best effort: cleanup finds what is left). */
static void abort_upload(struct s3 *s, const char *name, const char *id)
{
    struct dr_s3_req req;
    struct dr_buf q = DR_BUF_INIT(8192);
    if (key_req(s, "DELETE", name, &req) < 0) {
        dr_error_clear();
        return;
    }
    if (dr_buf_adds(&q, "uploadId=") >= 0 && dr_s3_uri_encode(&q, id, strlen(id), false) >= 0) {
        req.query = q.buf;
        if (dr_s3_http_do(&s->http, &req) < 0) {
            dr_log_detail("cannot abort the upload of '%s': %s", name, dr_error_msg());
        }
    }
    dr_error_clear();
    dr_buf_release(&q);
    req_release(&req);
}

/* Uploads data in parts (CreateMultipartUpload, UploadPart, CompleteMultipartUpload); an
 * upload that fails is aborted. exclusive: the completion is conditional (If-None-Match). */
static int put_multipart(struct s3 *s, const char *name, const void *data, size_t len,
                         bool exclusive, struct dr_s3_req *out_req)
{
    size_t part = s->part_size;
    if ((len + part - 1) / part > S3_PARTS_MAX) {
        part = (len + S3_PARTS_MAX - 1) / S3_PARTS_MAX;
    }
    size_t nparts = (len + part - 1) / part;
    struct dr_buf id = DR_BUF_INIT(4096), q = DR_BUF_INIT(8192), doc = DR_BUF_INIT(1u << 20);
    struct dr_buf done = DR_BUF_INIT((size_t)128 * S3_PARTS_MAX + 256);
    struct dr_s3_req req;
    int rc;
    if (exclusive) {
        /* RGW 16.2 completes an upload over an existing key despite If-None-Match (AWS does
         * not), so look first. Only packs are this large, and a pack is named by the hash of
         * its bytes: two writers that race past this look store the same bytes. */
        uint64_t size;
        rc = head(s, name, &size);
        if (rc >= 0) {
            return dr_errorf(DR_EEXIST, "object '%s' already exists", name);
        }
        if (rc != DR_ENOENT) {
            return rc;
        }
        dr_error_clear();
    }
    rc = key_req(s, "POST", name, &req);
    if (rc < 0) {
        return rc;
    }
    req.query = "uploads=";
    req.out = &doc;
    rc = dr_s3_http_do(&s->http, &req);
    if (rc >= 0) {
        rc = dr_s3_xml_value(doc.buf, doc.len, "UploadId", req.what, &id);
    }
    bool started = rc >= 0;
    rc = rc < 0 ? rc : dr_buf_adds(&done, "<CompleteMultipartUpload>");
    for (size_t i = 0; rc >= 0 && i < nparts; i++) {
        size_t off = i * part, n = len - off < part ? len - off : part;
        dr_buf_reset(&q);
        rc = dr_buf_addf(&q, "partNumber=%zu&uploadId=", i + 1);
        rc = rc < 0 ? rc : dr_s3_uri_encode(&q, id.buf, id.len, false);
        if (rc < 0) {
            break;
        }
        struct dr_s3_req pr;
        rc = key_req(s, "PUT", name, &pr);
        if (rc < 0) {
            break;
        }
        pr.query = q.buf;
        pr.body = (const char *)data + off;
        pr.body_len = n;
        pr.content_md5 = true;
        rc = dr_s3_http_do(&s->http, &pr);
        if (rc >= 0 && !pr.etag[0]) {
            rc = dr_errorf(DR_EIO, "%s: part %zu was stored without an ETag", pr.what, i + 1);
        }
        if (rc >= 0) {
            rc = dr_buf_addf(&done, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
            /* an ETag is a quoted hex string; escape it anyway, it goes into XML */
            for (const char *e = pr.etag; rc >= 0 && *e; e++) {
                rc = *e == '"' ? dr_buf_adds(&done, "&quot;") : dr_buf_addch(&done, *e);
            }
            rc = rc < 0 ? rc : dr_buf_adds(&done, "</ETag></Part>");
        }
        req_release(&pr);
    }
    rc = rc < 0 ? rc : dr_buf_adds(&done, "</CompleteMultipartUpload>");
    if (rc >= 0) {
        dr_buf_reset(&q);
        rc = dr_buf_adds(&q, "uploadId=");
        rc = rc < 0 ? rc : dr_s3_uri_encode(&q, id.buf, id.len, false);
    }
    if (rc >= 0) {
        dr_buf_reset(&doc);
        req.query = q.buf;
        req.body = done.buf;
        req.body_len = done.len;
        req.content_md5 = true;
        req.if_none_match = exclusive;
        rc = dr_s3_http_do(&s->http, &req);
        /* S3 may answer 200 and put an error in the body, when it fails late */
        char code[64], msg[256];
        dr_s3_xml_error(doc.buf, doc.len, code, sizeof(code), msg, sizeof(msg));
        if (rc >= 0 && code[0]) {
            rc = dr_errorf(DR_EIO, "%s: completing the upload failed: %s%s%s", req.what, code,
                           msg[0] ? ": " : "", msg);
        }
    }
    if (rc < 0 && started) {
        struct dr_error_saved err = {0};
        dr_error_save(&err, rc);
        abort_upload(s, name, id.buf);
        rc = dr_error_restore(&err);
        dr_error_saved_release(&err);
    }
    *out_req = req;
    dr_buf_release(&id);
    dr_buf_release(&q);
    dr_buf_release(&doc);
    dr_buf_release(&done);
    return rc;
}

/* True when object name holds exactly data (len bytes). */
static bool same_content(struct s3 *s, const char *name, const void *data, size_t len)
{
    struct dr_buf b = DR_BUF_INIT((size_t)len + 1);
    bool same = s3_get(s, name, 0, UINT64_MAX, &b) >= 0 && b.len == len &&
                (len == 0 || memcmp(b.buf, data, len) == 0);
    dr_buf_release(&b);
    dr_error_clear();
    return same;
}

/* One try at storing the object: a PUT, or a multipart upload above the part size. req is
 * the (last) request, for its status, code and whether it was retried; the caller releases
 * it. */
static int put_once(struct s3 *s, const char *name, const void *data, size_t len, bool exclusive,
                    struct dr_s3_req *req)
{
    memset(req, 0, sizeof(*req));
    if (len > s->part_size) {
        return put_multipart(s, name, data, len, exclusive, req);
    }
    int rc = key_req(s, "PUT", name, req);
    if (rc < 0) {
        return rc;
    }
    req->body = data ? data : "";
    req->body_len = len;
    req->if_none_match = exclusive;
    req->content_md5 = true;
    return dr_s3_http_do(&s->http, req);
}

static int s3_put(void *drv, const char *name, const void *data, size_t len, bool exclusive)
{
    struct s3 *s = drv;
    struct dr_s3_req req;
    int rc = put_once(s, name, data, len, exclusive, &req);
    if (rc == DR_ENOENT && strcmp(req.code, "NoSuchBucket") == 0) {
        dr_error_clear();
        req_release(&req);
        rc = make_bucket(s);
        if (rc >= 0) {
            rc = put_once(s, name, data, len, exclusive, &req);
        } else {
            memset(&req, 0, sizeof(req));
        }
    }
    if (rc == DR_EEXIST && req.retried && same_content(s, name, data, len)) {
        /* an earlier try was stored but its answer was lost: the object is ours */
        dr_error_clear();
        rc = 0;
    } else if (rc == DR_EEXIST) {
        rc = dr_errorf(DR_EEXIST, "object '%s' already exists", name);
    }
    req_release(&req);
    return rc;
}

/* One HEAD of object name; req holds the answer (the caller releases it). */
static int head_req(struct s3 *s, const char *name, struct dr_s3_req *req)
{
    memset(req, 0, sizeof(*req));
    int rc = key_req(s, "HEAD", name, req);
    if (rc < 0) {
        return rc;
    }
    rc = dr_s3_http_do(&s->http, req);
    if (rc == DR_ENOENT) {
        rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
    }
    return rc;
}

static int head(struct s3 *s, const char *name, uint64_t *out_size)
{
    struct dr_s3_req req;
    int rc = head_req(s, name, &req);
    if (rc >= 0) {
        *out_size = req.content_length;
    }
    req_release(&req);
    return rc;
}

static int s3_stat(void *drv, const char *name, uint64_t *out_size)
{
    return head(drv, name, out_size);
}

/* Date - Last-Modified of one HEAD: both are stamped by the server, so the age is the server's
 * alone, at the headers' resolution of a second. A store that sends either header not (none
 * known does) gives DR_EUNSUPPORTED, and the caller falls back to the object's own times. */
static int s3_age(void *drv, const char *name, int64_t *out_age_ns)
{
    struct dr_s3_req req;
    int rc = head_req(drv, name, &req);
    if (rc >= 0 && (req.date_s < 0 || req.last_modified_s < 0)) {
        rc = dr_errorf(DR_EUNSUPPORTED,
                       "object '%s': the server sent no %s header, so its age is unknown", name,
                       req.date_s < 0 ? "Date" : "Last-Modified");
    } else if (rc >= 0) {
        *out_age_ns = (req.date_s - req.last_modified_s) * 1000000000;
    }
    req_release(&req);
    return rc;
}

static int shorter(const char *name, uint64_t size, uint64_t off, uint64_t len)
{
    if (len == UINT64_MAX) {
        return dr_errorf(DR_ECORRUPT,
                         "object '%s' is shorter than expected (%llu bytes, read at %llu)", name,
                         (unsigned long long)size, (unsigned long long)off);
    }
    return dr_errorf(
        DR_ECORRUPT, "object '%s' is shorter than expected (%llu bytes, read of %llu at %llu)",
        name, (unsigned long long)size, (unsigned long long)len, (unsigned long long)off);
}

static int s3_get(void *drv, const char *name, uint64_t off, uint64_t len, struct dr_buf *out)
{
    struct s3 *s = drv;
    uint64_t size = 0;
    int rc;
    if (len == 0) {
        /* no range can ask for nothing: the size says whether the read would fit */
        rc = head(s, name, &size);
        return rc < 0 ? rc : off > size ? shorter(name, size, off, len) : 0;
    }
    if (len != UINT64_MAX && (off > UINT64_MAX - len || len > out->max - out->len)) {
        return dr_errorf(DR_ECORRUPT, "object '%s': a read of %llu bytes is too large", name,
                         (unsigned long long)len);
    }
    size_t start = out->len;
    struct dr_s3_req req;
    rc = key_req(s, "GET", name, &req);
    if (rc < 0) {
        return rc;
    }
    req.range_off = off;
    req.range_len = off == 0 && len == UINT64_MAX ? 0 : len;
    req.out = out;
    rc = dr_s3_http_do(&s->http, &req);
    if (rc == DR_ENOENT) {
        rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
    } else if (rc == DR_ECORRUPT && req.status == 416) {
        /* the range starts at or past the end: at the end is an empty read */
        dr_error_clear();
        rc = head(s, name, &size);
        if (rc >= 0 && !(len == UINT64_MAX && off == size)) {
            rc = shorter(name, size, off, len);
        }
    } else if (rc >= 0 && req.status == 200 && req.range_len > 0) {
        /* a store that ignores Range sends the whole object: keep the range of it */
        size_t got = out->len - start;
        if (off > got || (len != UINT64_MAX && len > got - off)) {
            rc = shorter(name, got, off, len);
            dr_buf_setlen(out, start);
        } else {
            size_t keep = len == UINT64_MAX ? got - (size_t)off : (size_t)len;
            memmove(out->buf + start, out->buf + start + off, keep);
            dr_buf_setlen(out, start + keep);
        }
    } else if (rc >= 0 && len != UINT64_MAX && out->len - start != len) {
        /* a range that runs past the end is answered with what there is */
        rc = shorter(name, off + (out->len - start), off, len);
        dr_buf_setlen(out, start);
    }
    req_release(&req);
    return rc;
}

struct list_state {
    const char *full; /* the key prefix listed */
    size_t strip;     /* length of the repository prefix to cut from keys */
    dr_backend_list_cb cb;
    void *arg;
};

static int list_key(void *arg, const char *key, uint64_t size)
{
    struct list_state *ls = arg;
    size_t fl = strlen(ls->full), kl = strlen(key);
    /* keys outside the prefix, and "directory" markers some tools write, are not objects */
    if (kl <= fl || strncmp(key, ls->full, fl) != 0 || key[kl - 1] == '/') {
        return 0;
    }
    return ls->cb(ls->arg, key + ls->strip, size);
}

static int s3_list(void *drv, const char *prefix, dr_backend_list_cb cb, void *arg)
{
    struct s3 *s = drv;
    char *full = *prefix ? dr_xasprintf("%s%s/", s->prefix, prefix) : dr_xstrdup(s->prefix);
    char *what = dr_xasprintf("listing of '%s'", *prefix ? prefix : "/");
    struct dr_buf enc = DR_BUF_INIT(DR_BUF_MAX_DEFAULT), query = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_buf token = DR_BUF_INIT(8192), page = DR_BUF_INIT(64u << 20);
    struct list_state ls = {.full = full, .strip = strlen(s->prefix), .cb = cb, .arg = arg};
    int rc = dr_s3_uri_encode(&enc, full, strlen(full), false);
    for (bool more = true; rc >= 0 && more;) {
        /* keys in sorted order, values encoded: the query is canonical as curl signs it */
        dr_buf_reset(&query);
        if (token.len) {
            rc = dr_buf_adds(&query, "continuation-token=");
            rc = rc < 0 ? rc : dr_s3_uri_encode(&query, token.buf, token.len, false);
            rc = rc < 0 ? rc : dr_buf_addch(&query, '&');
        }
        rc = rc < 0 ? rc : dr_buf_addf(&query, "list-type=2&prefix=%s", enc.buf);
        if (rc < 0) {
            break;
        }
        dr_buf_reset(&page);
        struct dr_s3_req req = {
            .method = "GET", .path = s->root_path, .query = query.buf, .what = what, .out = &page};
        rc = dr_s3_http_do(&s->http, &req);
        if (rc == DR_ENOENT && strcmp(req.code, "NoSuchBucket") == 0) {
            dr_error_clear();
            rc = 0; /* a missing bucket lists nothing, as a missing directory does */
            break;
        }
        if (rc >= 0) {
            rc = dr_s3_xml_list(page.buf, page.len, what, list_key, &ls, &more, &token);
        }
    }
    dr_buf_release(&enc);
    dr_buf_release(&query);
    dr_buf_release(&token);
    dr_buf_release(&page);
    free(what);
    free(full);
    return rc;
}

static int s3_remove(void *drv, const char *name)
{
    struct s3 *s = drv;
    uint64_t size;
    int rc = head(s, name, &size);
    if (rc < 0) {
        return rc;
    }
    struct dr_s3_req req;
    rc = key_req(s, "DELETE", name, &req);
    if (rc < 0) {
        return rc;
    }
    rc = dr_s3_http_do(&s->http, &req);
    req_release(&req);
    return rc;
}

struct stale_uploads {
    struct s3 *s;
    int64_t now;
    int aborted;
};

static int stale_upload(void *arg, const char *key, const char *upload_id, int64_t initiated_s)
{
    struct stale_uploads *su = arg;
    size_t pl = strlen(su->s->prefix);
    if (strncmp(key, su->s->prefix, pl) != 0 || !key[pl] ||
        su->now - initiated_s < S3_UPLOAD_STALE_S) {
        return 0; /* another repository's, or one that may still be running */
    }
    abort_upload(su->s, key + pl, upload_id);
    su->aborted++;
    return 0;
}

/* Aborts the multipart uploads of this repository that were started more than a day ago and
 * never completed (a writer that crashed mid-upload): the store keeps and bills their parts
 * until then. The day is judged by the local clock: a day of margin covers any clock skew. */
static int s3_cleanup(void *drv)
{
    struct s3 *s = drv;
    char *what = dr_xasprintf("listing of the uploads of bucket '%s'", s->bucket);
    struct dr_buf q = DR_BUF_INIT(8192), doc = DR_BUF_INIT(16u << 20);
    int rc = dr_buf_adds(&q, "prefix=");
    rc = rc < 0 ? rc : dr_s3_uri_encode(&q, s->prefix, strlen(s->prefix), false);
    rc = rc < 0 ? rc : dr_buf_adds(&q, "&uploads=");
    struct stale_uploads su = {.s = s, .now = (int64_t)time(NULL)};
    if (rc >= 0) {
        struct dr_s3_req req = {
            .method = "GET", .path = s->root_path, .query = q.buf, .what = what, .out = &doc};
        rc = dr_s3_http_do(&s->http, &req);
        if (rc == DR_ENOENT) {
            dr_error_clear();
            rc = 0; /* no bucket, no uploads */
        } else if (rc >= 0) {
            /* the first page (1,000 uploads) per run: the next run takes the rest */
            rc = dr_s3_xml_uploads(doc.buf, doc.len, what, stale_upload, &su);
        }
    }
    dr_buf_release(&q);
    dr_buf_release(&doc);
    free(what);
    return rc < 0 ? rc : su.aborted;
}

/* The DELETE of a key that does not exist changes nothing: 204 (or 404 from stores that say so)
 * where deletes are allowed, 403 where they are denied. Sent as is: remove() asks with a HEAD
 * first, which would answer 404 either way. */
static int s3_can_delete(void *drv, const char *probe)
{
    struct s3 *s = drv;
    struct dr_s3_req req;
    int rc = key_req(s, "DELETE", probe, &req);
    if (rc < 0) {
        return rc;
    }
    rc = dr_s3_http_do(&s->http, &req);
    if (rc >= 0 || rc == DR_ENOENT) {
        dr_error_clear();
        rc = 1;
    } else if (req.status == 403 && strcmp(req.code, "SignatureDoesNotMatch") != 0 &&
               strcmp(req.code, "InvalidAccessKeyId") != 0) {
        dr_error_clear();
        rc = 0;
    }
    req_release(&req);
    return rc;
}

static bool s3_exists(void *drv)
{
    struct s3 *s = drv;
    /* asked after an error, whose message must survive the question */
    struct dr_error_saved prev = {0};
    bool had_msg = dr_error_msg()[0] != '\0';
    dr_error_save(&prev, DR_EIO);
    char *what = dr_xasprintf("bucket '%s'", s->bucket);
    struct dr_s3_req req = {.method = "HEAD", .path = s->root_path, .query = "", .what = what};
    int rc = dr_s3_http_do(&s->http, &req);
    free(what);
    /* only a definite "no such bucket" says no; other errors show on the next request */
    bool exists = rc != DR_ENOENT;
    dr_error_clear();
    if (had_msg) {
        (void)dr_error_restore(&prev);
    }
    dr_error_saved_release(&prev);
    return exists;
}

static unsigned s3_connections(const void *drv)
{
    const struct s3 *s = drv;
    return s->http.max_conns;
}

const struct dr_backend_ops dr_backend_s3_ops = {
    .name = "s3",
    .features = DR_BACKEND_FEATURE_EXCLUSIVE | DR_BACKEND_FEATURE_REMOTE,
    .put = s3_put,
    .get = s3_get,
    .stat = s3_stat,
    .list = s3_list,
    .remove = s3_remove,
    .close = s3_close,
    .cleanup = s3_cleanup,
    .exists = s3_exists,
    .connections = s3_connections,
    .can_delete = s3_can_delete,
    .age = s3_age,
};
