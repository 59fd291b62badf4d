/* s3xml_fuzz.c: fuzz target for the S3 response scanner (src/backend/s3/xml.c).
 *
 * Every input is read as a ListObjectsV2 listing, a ListMultipartUploads listing and an error
 * document. Promises checked: a
 * listing either parses or fails with DR_ECORRUPT; every key it reports is non-empty, at most
 * 4 KiB and has no NUL before its end; a truncated listing always comes with a token; the error
 * document's code and message are NUL-terminated within their buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/backend/s3/s3_int.h"
#include "drrepo/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int upload_cb(void *arg, const char *key, const char *upload_id, int64_t initiated_s)
{
    (void)arg;
    (void)initiated_s;
    if (!*key || !*upload_id || strlen(key) > 4096 || strlen(upload_id) > 4096) {
        abort();
    }
    return 0;
}

static int key_cb(void *arg, const char *key, uint64_t size)
{
    size_t *n = arg;
    size_t kl = strlen(key);
    (void)size;
    if (kl == 0 || kl > 4096) {
        abort();
    }
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dr_buf token = DR_BUF_INIT(8192);
    bool more = false;
    size_t n = 0;
    int rc = dr_s3_xml_list((const char *)data, size, "fuzz", key_cb, &n, &more, &token);
    if (rc != 0 && rc != DR_ECORRUPT) {
        abort();
    }
    if (rc == 0 && more && token.len == 0) {
        abort();
    }
    dr_buf_release(&token);
    dr_error_clear();
    rc = dr_s3_xml_uploads((const char *)data, size, "fuzz", upload_cb, NULL);
    if (rc != 0 && rc != DR_ECORRUPT) {
        abort();
    }
    dr_error_clear();
    char code[16], msg[32];
    dr_s3_xml_error((const char *)data, size, code, sizeof(code), msg, sizeof(msg));
    if (strlen(code) >= sizeof(code) || strlen(msg) >= sizeof(msg)) {
        abort();
    }
    return 0;
}
