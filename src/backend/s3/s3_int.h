/* s3_int.h: the S3 driver's parts (private to src/backend/s3/).
 *
 * s3.c     the driver: location, the ops table, what each operation asks of the server
 * http.c   one request: a pooled curl handle, SigV4 signing by libcurl, retries with backoff
 * xml.c    the two response bodies read: ListObjectsV2's listing and the error document
 * creds.c  credentials and region from the environment and the AWS profile files
 *
 * Every parser here reads bytes from the network or from a file the user points at: each is
 * bounds-checked and has a fuzz target (tests/fuzz/s3xml_fuzz.c, s3ini_fuzz.c). */
#ifndef DR_BACKEND_S3_INT_H
#define DR_BACKEND_S3_INT_H

#include <pthread.h>

#include "../backend_int.h"

/* ---- credentials (creds.c) ---- */

struct dr_s3_creds {
    char *access_key, *secret_key, *session_token, *region; /* owned; NULL when not set */
};

/* Reads key = value pairs of one section of an INI file as the AWS tools write them:
 * "[name]" in the credentials file, "[profile name]" (or "[default]") in the config file.
 * Sets in c only fields still NULL: aws_access_key_id, aws_secret_access_key,
 * aws_session_token, region. Errors: DR_ECORRUPT (a line longer than 4 KiB, or a NUL byte),
 * naming what. */
DR_MUST_CHECK int dr_s3_ini_parse(const char *text, size_t len, const char *section,
                                  const char *what, struct dr_s3_creds *c);

/* The credentials in force: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION or AWS_DEFAULT_REGION first, then the profile AWS_PROFILE (default "default") of
 * AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials) and AWS_CONFIG_FILE (default
 * ~/.aws/config); the region defaults to us-east-1. Errors: DR_EUSAGE (no key found: the
 * message says where it looked), DR_ECORRUPT (an unreadable profile file). */
DR_MUST_CHECK int dr_s3_creds_load(struct dr_s3_creds *c);
void dr_s3_creds_release(struct dr_s3_creds *c);

/* ---- response bodies (xml.c) ---- */

/* Calls cb for each object of a ListBucketResult (ListObjectsV2) document, with its key
 * (entities decoded, NUL-terminated) and size, and reports whether the listing goes on and
 * with which continuation token (token is reset and filled; empty when none). A negative
 * return of cb stops and is returned. Errors: DR_ECORRUPT (not a listing, a malformed element,
 * a size that is not a number), naming the request in what. */
typedef int (*dr_s3_key_cb)(void *arg, const char *key, uint64_t size);
DR_MUST_CHECK int dr_s3_xml_list(const char *doc, size_t len, const char *what, dr_s3_key_cb cb,
                                 void *arg, bool *out_truncated, struct dr_buf *token);

/* The decoded text of the first element tag of doc into out (reset first). Errors:
 * DR_ECORRUPT (no such element, or one that is malformed), naming what. */
DR_MUST_CHECK int dr_s3_xml_value(const char *doc, size_t len, const char *tag, const char *what,
                                  struct dr_buf *out);

/* Calls cb for each upload of a ListMultipartUploadsResult document: its key, upload id and
 * initiation time (seconds since the epoch, UTC). Errors: DR_ECORRUPT, as dr_s3_xml_list. */
typedef int (*dr_s3_upload_cb)(void *arg, const char *key, const char *upload_id,
                               int64_t initiated_s);
DR_MUST_CHECK int dr_s3_xml_uploads(const char *doc, size_t len, const char *what,
                                    dr_s3_upload_cb cb, void *arg);

/* The Code and Message of an S3 Error document, decoded and cut to the sizes given; both empty
 * when doc is not one. Never fails. */
void dr_s3_xml_error(const char *doc, size_t len, char *code, size_t code_size, char *msg,
                     size_t msg_size);

/* ---- requests (http.c) ---- */

/* The connection to one endpoint: settings that never change after open, and a pool of curl
 * handles (one per request in flight, at most max_conns) so connections are reused. */
struct dr_s3_http {
    char *endpoint;  /* "http://host:port", no trailing slash */
    char *userpwd;   /* "access:secret" for CURLOPT_USERPWD */
    char *token_hdr; /* "x-amz-security-token: ..." or NULL */
    char *sigv4;     /* "aws:amz:REGION:s3" */
    unsigned max_conns;
    unsigned attempts;   /* tries per request, 1 + retries */
    unsigned backoff_ms; /* first retry's delay; doubles, with jitter */
    long timeout_s;      /* a request that moves no byte for this long is cut */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void **idle; /* CURL * */
    unsigned nidle, nmade;
};

/* What one request is: method, the path below the endpoint ("/bucket/key", already encoded),
 * the canonical query ("" or sorted, encoded "k=v&k=v"), an optional body and headers, and where
 * a successful response's body goes. */
struct dr_s3_req {
    const char *method; /* "GET", "PUT", "HEAD", "DELETE", "POST" */
    const char *path;
    const char *query;
    const char *what; /* for messages: "object 'data/ab/..'", "bucket 'b'" */
    const void *body;
    size_t body_len;
    bool if_none_match; /* send If-None-Match: * */
    bool content_md5;   /* send Content-MD5 of the body */
    uint64_t range_off; /* with range_len > 0: Range: bytes=off-(off+len-1) */
    uint64_t range_len; /* UINT64_MAX: to the end */
    struct dr_buf *out; /* body of a 2xx response is appended here (NULL: dropped) */
    /* results */
    long status;             /* HTTP status of the last attempt; 0 when none arrived */
    bool retried;            /* an earlier attempt may have been carried out unanswered */
    char etag[80];           /* the ETag response header of a 2xx answer, or "" */
    char code[64];           /* the server's error code ("NoSuchKey"), or "" */
    uint64_t content_length; /* of a 2xx HEAD/GET response, when the server sent it */
    /* the response's Date and Last-Modified headers, seconds since the epoch by the server's
     * clock; -1 when the last attempt's response had none (or one curl_getdate cannot read) */
    int64_t date_s, last_modified_s;
};

/* Sets up h for endpoint with the credentials; the pool starts empty. Errors: DR_EINTERNAL
 * (libcurl could not be initialised). */
DR_MUST_CHECK int dr_s3_http_init(struct dr_s3_http *h, const char *endpoint,
                                  const struct dr_s3_creds *c, unsigned max_conns);
void dr_s3_http_release(struct dr_s3_http *h);

/* Performs req, retrying with backoff on what may pass (connection failures, timeouts, 5xx,
 * 429, a body shorter than announced). Returns 0 for a 2xx status. Otherwise the status and
 * code are in req and the result is: DR_ENOENT (404), DR_EEXIST (412 with if_none_match),
 * DR_ECORRUPT (416), DR_EIO (403 and other 4xx), DR_ENET (no answer, or 5xx after every try),
 * each with one message naming req->what, the status and the server's code. A 403 is not a
 * wrong password (exit 12): it is the store refusing the credentials or the operation. */
DR_MUST_CHECK int dr_s3_http_do(struct dr_s3_http *h, struct dr_s3_req *req);

/* Appends s to b percent-encoded as RFC 3986 wants for SigV4 (unreserved characters kept; '/'
 * kept when keep_slash). Errors: as dr_buf_add. */
DR_MUST_CHECK int dr_s3_uri_encode(struct dr_buf *b, const char *s, size_t len, bool keep_slash);

#endif
