/* http.c: one S3 request, done right once so every operation gets it right.
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4). What curl 7.88 leaves to the caller, we do: the
 * query is built canonical by the caller (sorted keys, RFC 3986 encoding, "k=" never "k"),
 * because curl signs it as given; x-amz-content-sha256 is sent, with the body's real SHA-256,
 * because curl does not add it and the server needs it; Content-MD5 is sent on PUT so the
 * server refuses a body damaged on the way (the newer x-amz-checksum-* headers are not sent:
 * not every S3-compatible store knows them). Bodies go as POSTFIELDS with a custom method, so
 * curl hashes exactly the bytes it sends.
 *
 * Retries: connection failures, timeouts, 5xx, 429 and bodies cut short are retried with
 * exponential backoff and jitter (so that many clients that failed together do not retry
 * together); a request that moves no byte for timeout_s is cut. After the last try the error
 * names the object, the HTTP status and the server's error code, in one line.
 *
 * Handles are pooled: a request takes an idle handle (or makes one, up to max_conns) and gives
 * it back, so its connection is reused by the next request, and max_conns bounds the
 * connections open at once. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "s3_int.h"

/* An error body is a few hundred bytes; keep at most this much of one. */
#define ERR_BODY_MAX 8192
/* A backoff never waits longer than this between two tries. */
#define BACKOFF_MAX_MS 10000

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static unsigned env_uint(const char *name, unsigned dflt, unsigned lo, unsigned hi)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        return dflt;
    }
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end || n < lo || n > hi) {
        return dflt;
    }
    return (unsigned)n;
}

int dr_s3_http_init(struct dr_s3_http *h, const char *endpoint, const struct dr_s3_creds *c,
                    unsigned max_conns)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        return dr_errorf(DR_EINTERNAL, "cannot initialise libcurl: %s",
                         curl_easy_strerror(global_rc));
    }
    memset(h, 0, sizeof(*h));
    h->endpoint = dr_xstrdup(endpoint);
    h->userpwd = dr_xasprintf("%s:%s", c->access_key, c->secret_key);
    if (c->session_token) {
        h->token_hdr = dr_xasprintf("x-amz-security-token: %s", c->session_token);
    }
    h->sigv4 = dr_xasprintf("aws:amz:%s:s3", c->region);
    h->max_conns = max_conns ? max_conns : 1;
    /* DRREPO_S3_RETRIES and DRREPO_S3_TIMEOUT are for tests and odd networks (docs/S3.md) */
    h->attempts = 1 + env_uint("DRREPO_S3_RETRIES", 5, 0, 100);
    h->backoff_ms = 200;
    h->timeout_s = (long)env_uint("DRREPO_S3_TIMEOUT", 60, 1, 3600);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->idle = dr_xcalloc(h->max_conns, sizeof(*h->idle));
    return 0;
}

void dr_s3_http_release(struct dr_s3_http *h)
{
    for (unsigned i = 0; i < h->nidle; i++) {
        curl_easy_cleanup(h->idle[i]);
    }
    free(h->idle);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h->endpoint);
    if (h->userpwd) {
        explicit_bzero(h->userpwd, strlen(h->userpwd));
    }
    free(h->userpwd);
    if (h->token_hdr) {
        explicit_bzero(h->token_hdr, strlen(h->token_hdr));
    }
    free(h->token_hdr);
    free(h->sigv4);
    memset(h, 0, sizeof(*h));
}

/* An idle handle, a new one while fewer than max_conns exist, or a wait for one. */
static CURL *take_handle(struct dr_s3_http *h)
{
    pthread_mutex_lock(&h->mu);
    while (h->nidle == 0 && h->nmade >= h->max_conns) {
        pthread_cond_wait(&h->cv, &h->mu);
    }
    if (h->nidle > 0) {
        CURL *c = h->idle[--h->nidle];
        pthread_mutex_unlock(&h->mu);
        return c;
    }
    h->nmade++;
    pthread_mutex_unlock(&h->mu);
    CURL *c = curl_easy_init();
    if (!c) {
        pthread_mutex_lock(&h->mu);
        h->nmade--;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
    }
    return c;
}

static void give_handle(struct dr_s3_http *h, CURL *c)
{
    pthread_mutex_lock(&h->mu);
    h->idle[h->nidle++] = c;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

int dr_s3_uri_encode(struct dr_buf *b, const char *s, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            rc = dr_buf_addch(b, c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = dr_buf_add(b, e, 3);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* One attempt's transfer state, shared with curl's write callback. */
struct xfer {
    CURL *c;
    struct dr_s3_req *req;
    bool status_known, ok;
    bool overflow;     /* the success body did not fit req->out */
    struct dr_buf err; /* the body of a failure response (capped) */
    uint64_t received; /* bytes of a success body */
};

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    if (!x->status_known) {
        long st = 0;
        curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &st);
        x->ok = st >= 200 && st < 300;
        x->status_known = true;
    }
    if (!x->ok) {
        size_t room = ERR_BODY_MAX - x->err.len;
        if (dr_buf_add(&x->err, p, len < room ? len : room) < 0) {
            return 0;
        }
        return len;
    }
    x->received += len;
    if (x->req->out && dr_buf_add(x->req->out, p, len) < 0) {
        x->overflow = true;
        return 0; /* stops the transfer */
    }
    return len;
}

/* The value of header line p (len bytes, not NUL-terminated, CRLF included) when its name is
 * name (case-insensitive, with its colon): *v and the return value give the value without the
 * blanks around it; -1 when the line is another header. */
static long header_value(const char *p, size_t len, const char *name, const char **v)
{
    size_t nl = strlen(name), a, b = len;
    if (len <= nl || strncasecmp(p, name, nl) != 0) {
        return -1;
    }
    a = nl;
    while (a < b && (p[a] == ' ' || p[a] == '\t')) {
        a++;
    }
    while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n' || p[b - 1] == ' ')) {
        b--;
    }
    *v = p + a;
    return (long)(b - a);
}

/* The time of an HTTP-date (RFC 9110 formats, read by curl_getdate), or -1. */
static int64_t header_time(const char *p, long len)
{
    char v[128];
    if (len < 0 || (size_t)len >= sizeof(v)) {
        return -1;
    }
    memcpy(v, p, (size_t)len);
    v[len] = '\0';
    time_t t = curl_getdate(v, NULL);
    return t < 0 ? -1 : (int64_t)t;
}

/* Keeps the headers read: Date and Last-Modified (an object's age by the server's clock) and
 * ETag (a multipart upload names its parts by it). Each attempt starts them again (attempt). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct dr_s3_req *req = arg;
    size_t len = size * n;
    const char *v;
    long vl;
    if ((vl = header_value(p, len, "date:", &v)) >= 0) {
        req->date_s = header_time(v, vl);
    } else if ((vl = header_value(p, len, "last-modified:", &v)) >= 0) {
        req->last_modified_s = header_time(v, vl);
    } else if ((vl = header_value(p, len, "etag:", &v)) >= 0 && (size_t)vl < sizeof(req->etag)) {
        memcpy(req->etag, v, (size_t)vl);
        req->etag[vl] = '\0';
    }
    return len;
}

/* hex of SHA-256 and base64 of MD5 of the body, by OpenSSL (libcurl's own TLS library) */
static int digests(const struct dr_s3_req *req, char sha_hex[65], char md5_b64[32])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char sha[EVP_MAX_MD_SIZE], md5[EVP_MAX_MD_SIZE];
    unsigned sl = 0, ml = 0;
    const void *body = req->body ? req->body : "";
    if (!EVP_Digest(body, req->body_len, sha, &sl, EVP_sha256(), NULL) || sl != 32) {
        return dr_errorf(DR_EINTERNAL, "%s: cannot compute SHA-256 of the request body", req->what);
    }
    for (unsigned i = 0; i < 32; i++) {
        sha_hex[2 * i] = hex[sha[i] >> 4];
        sha_hex[2 * i + 1] = hex[sha[i] & 15];
    }
    sha_hex[64] = '\0';
    md5_b64[0] = '\0';
    if (req->content_md5) {
        if (!EVP_Digest(body, req->body_len, md5, &ml, EVP_md5(), NULL) || ml != 16) {
            return dr_errorf(DR_EINTERNAL, "%s: cannot compute MD5 of the request body", req->what);
        }
        EVP_EncodeBlock((unsigned char *)md5_b64, md5, 16); /* 24 characters + NUL */
    }
    return 0;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *h, bool *failed)
{
    struct curl_slist *n = curl_slist_append(l, h);
    if (!n) {
        *failed = true;
        return l;
    }
    return n;
}

/* What an attempt came to. */
enum outcome { DONE, RETRY, FAIL };

/* Whether a curl failure may pass on a second try: not a bad URL or a refused certificate.
 * CURLE_UNSUPPORTED_PROTOCOL is retried: the scheme was checked at open, and curl also reports
 * a garbled answer with it (bytes that are no status line, "HTTP/0.9"). */
static bool curl_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_LOGIN_DENIED:
    case CURLE_OUT_OF_MEMORY: return false;
    default: return true;
    }
}

/* One attempt. On FAIL or RETRY *rc holds the error (recorded) it would end with. */
static enum outcome attempt(struct dr_s3_http *h, CURL *c, struct dr_s3_req *req,
                            struct curl_slist *hdrs, const char *url, int *rc)
{
    size_t out_start = req->out ? req->out->len : 0;
    struct xfer x = {.c = c, .req = req};
    dr_buf_init(&x.err, ERR_BODY_MAX + 1);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, h->sigv4);
    curl_easy_setopt(c, CURLOPT_USERPWD, h->userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->timeout_s);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, req);
    req->etag[0] = '\0';
    req->date_s = req->last_modified_s = -1;
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    char range[64];
    if (req->range_len > 0) {
        if (req->range_len == UINT64_MAX) {
            snprintf(range, sizeof(range), "%llu-", (unsigned long long)req->range_off);
        } else {
            snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)req->range_off,
                     (unsigned long long)(req->range_off + req->range_len - 1));
        }
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    CURLcode cc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    req->status = st;
    req->code[0] = '\0';
    enum outcome o = DONE;
    if (x.overflow) {
        *rc = dr_errorf(DR_ECORRUPT, "%s: the server sent more than the %zu bytes expected",
                        req->what, req->out->max);
        o = FAIL;
    } else if (cc != CURLE_OK) {
        *rc = dr_errorf(DR_ENET, "%s: %s %s%s: %s", req->what, req->method, h->endpoint, req->path,
                        curl_easy_strerror(cc));
        o = curl_retryable(cc) ? RETRY : FAIL;
    } else if (st < 200 || st >= 300) {
        char msg[256];
        dr_s3_xml_error(x.err.buf, x.err.len, req->code, sizeof(req->code), msg, sizeof(msg));
        int code = DR_EIO;
        if (st == 404) {
            code = DR_ENOENT;
        } else if (st == 412 && req->if_none_match) {
            code = DR_EEXIST;
        } else if (st == 416) {
            code = DR_ECORRUPT;
        } else if (st >= 500 || st == 429 || st == 408 ||
                   strcmp(req->code, "RequestTimeout") == 0) {
            code = DR_ENET;
            o = RETRY;
        }
        if (o != RETRY) {
            o = FAIL;
        }
        *rc = dr_errorf(code, "%s: %s answered HTTP %ld%s%s%s%s", req->what, req->method, st,
                        req->code[0] ? " " : "", req->code, msg[0] ? ": " : "", msg);
    } else {
        curl_off_t cl = -1;
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        req->content_length = cl >= 0 ? (uint64_t)cl : 0;
        if (strcmp(req->method, "GET") == 0 && cl >= 0 && x.received != (uint64_t)cl) {
            *rc = dr_errorf(DR_ENET, "%s: the body was cut short (%llu of %lld bytes)", req->what,
                            (unsigned long long)x.received, (long long)cl);
            o = RETRY;
        }
    }
    if (o != DONE && req->out) {
        dr_buf_setlen(req->out, out_start); /* a retry starts the body again */
    }
    dr_buf_release(&x.err);
    return o;
}

/* Sleeps the backoff before try number n (1 for the first retry): base * 2^(n-1), capped,
 * drawn from its upper half so that clients that failed together spread out. */
static void backoff(const struct dr_s3_http *h, unsigned n)
{
    static __thread unsigned seed;
    if (!seed) {
        seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&seed;
    }
    unsigned long ms = h->backoff_ms;
    for (unsigned i = 1; i < n && ms < BACKOFF_MAX_MS; i++) {
        ms *= 2;
    }
    if (ms > BACKOFF_MAX_MS) {
        ms = BACKOFF_MAX_MS;
    }
    ms = ms / 2 + (unsigned long)rand_r(&seed) % (ms / 2 + 1);
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int dr_s3_http_do(struct dr_s3_http *h, struct dr_s3_req *req)
{
    char sha_hex[65], md5_b64[32];
    int rc = digests(req, sha_hex, md5_b64);
    if (rc < 0) {
        return rc;
    }
    bool failed = false;
    struct curl_slist *hdrs = NULL;
    char line[128];
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha_hex);
    hdrs = add_header(hdrs, line, &failed);
    if (req->content_md5) {
        snprintf(line, sizeof(line), "Content-MD5: %s", md5_b64);
        hdrs = add_header(hdrs, line, &failed);
    }
    if (req->if_none_match) {
        hdrs = add_header(hdrs, "If-None-Match: *", &failed);
    }
    if (req->body) {
        hdrs = add_header(hdrs, "Content-Type: application/octet-stream", &failed);
    }
    if (h->token_hdr) {
        hdrs = add_header(hdrs, h->token_hdr, &failed);
    }
    /* no "Expect:" to save the 100-continue round trip of big uploads: curl 7.88 signs the
     * header it then does not send, and every request fails with SignatureDoesNotMatch */
    char *url =
        dr_xasprintf("%s%s%s%s", h->endpoint, req->path, req->query[0] ? "?" : "", req->query);
    CURL *c = failed ? NULL : take_handle(h);
    if (!c) {
        rc = dr_errorf(DR_EINTERNAL, "%s: cannot set up an HTTP request", req->what);
        goto out;
    }
    for (unsigned n = 0;; n++) {
        enum outcome o = attempt(h, c, req, hdrs, url, &rc);
        if (o == DONE) {
            rc = 0;
            break;
        }
        if (o == FAIL || n + 1 >= h->attempts) {
            if (o == RETRY && n > 0) {
                rc = dr_errorf(rc, "%s (after %u tries)", dr_error_msg(), n + 1);
            }
            break;
        }
        dr_error_clear();
        req->retried = true;
        backoff(h, n + 1);
    }
    give_handle(h, c);
out:
    curl_slist_free_all(hdrs);
    free(url);
    return rc;
}
