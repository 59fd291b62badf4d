/* test_s3_parse.c: what the S3 driver reads without a server.
 *
 * Covers: src/backend/s3/xml.c, src/backend/s3/creds.c, the location parsing of
 * src/backend/s3/s3.c and src/backend/backend.c, dr_s3_uri_encode (src/backend/s3/http.c).
 * Listings (keys with entities, sizes, paging token, malformed documents), error documents,
 * profile files (sections, blanks, comments, first value wins), credentials from the
 * environment before the files, and locations that are refused before any request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/backend/s3/s3_int.h"
#include "drrepo/backend.h"
#include "drrepo/error.h"
#include "drrepo/mem.h"

struct keys {
    char names[8][64];
    uint64_t sizes[8];
    int n;
};

static int key_cb(void *arg, const char *key, uint64_t size)
{
    struct keys *k = arg;
    assert_true(k->n < 8);
    snprintf(k->names[k->n], sizeof(k->names[0]), "%s", key);
    k->sizes[k->n++] = size;
    return 0;
}

static int stop_cb(void *arg, const char *key, uint64_t size)
{
    (void)arg;
    (void)key;
    (void)size;
    return DR_EIO;
}

static void test_listing(void **state)
{
    (void)state;
    const char *doc =
        "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><Name>b</Name>"
        "<IsTruncated>true</IsTruncated><NextContinuationToken>t/1=&amp;</NextContinuationToken>"
        "<Contents><Key>r/data/ab</Key><ETag>&quot;e&quot;</ETag><Size>1048576</Size></Contents>"
        "<Contents><Key>r/a&amp;b &lt;&#x263A;&#65;</Key><Size>0</Size></Contents>"
        "</ListBucketResult>";
    struct keys k = {0};
    struct dr_buf tok = DR_BUF_INIT(8192);
    bool more = false;
    assert_int_equal(dr_s3_xml_list(doc, strlen(doc), "t", key_cb, &k, &more, &tok), 0);
    assert_true(more);
    assert_string_equal(tok.buf, "t/1=&");
    assert_int_equal(k.n, 2);
    assert_string_equal(k.names[0], "r/data/ab");
    assert_int_equal(k.sizes[0], 1048576);
    assert_string_equal(k.names[1], "r/a&b <\xe2\x98\xba"
                                    "A");
    assert_int_equal(k.sizes[1], 0);
    /* a callback's error stops the listing and is returned */
    assert_int_equal(dr_s3_xml_list(doc, strlen(doc), "t", stop_cb, NULL, &more, &tok), DR_EIO);

    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    k.n = 0;
    assert_int_equal(dr_s3_xml_list(last, strlen(last), "t", key_cb, &k, &more, &tok), 0);
    assert_false(more);
    assert_int_equal(tok.len, 0);
    assert_int_equal(k.n, 0);
    dr_buf_release(&tok);
}

static void expect_bad_listing(const char *doc)
{
    struct keys k = {0};
    struct dr_buf tok = DR_BUF_INIT(8192);
    bool more;
    assert_int_equal(dr_s3_xml_list(doc, strlen(doc), "listing of 'data'", key_cb, &k, &more, &tok),
                     DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "listing of 'data'"));
    dr_buf_release(&tok);
    dr_error_clear();
}

static void test_bad_listings(void **state)
{
    (void)state;
    expect_bad_listing("");
    expect_bad_listing("<Error><Code>x</Code></Error>");
    expect_bad_listing("<ListBucketResult><Contents><Key>a</Key><Size>1</Size>");
    expect_bad_listing("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>");
    expect_bad_listing("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
                       "</ListBucketResult>");
    expect_bad_listing("<ListBucketResult><Contents><Key>a</Key>"
                       "<Size>99999999999999999999</Size></Contents></ListBucketResult>");
    expect_bad_listing("<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size>"
                       "</Contents></ListBucketResult>");
    expect_bad_listing("<ListBucketResult><Contents><Key>a&#0;</Key><Size>1</Size>"
                       "</Contents></ListBucketResult>");
    expect_bad_listing("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>");
    expect_bad_listing("<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents>"
                       "</ListBucketResult>");
}

struct uploads {
    char key[64], id[64];
    int64_t when;
    int n;
};

static int upload_cb(void *arg, const char *key, const char *upload_id, int64_t initiated_s)
{
    struct uploads *u = arg;
    snprintf(u->key, sizeof(u->key), "%s", key);
    snprintf(u->id, sizeof(u->id), "%s", upload_id);
    u->when = initiated_s;
    u->n++;
    return 0;
}

static void test_uploads(void **state)
{
    (void)state;
    const char *doc =
        "<ListMultipartUploadsResult><Bucket>b</Bucket><Upload><Key>r/data/ab/x</Key>"
        "<UploadId>2~a&amp;b</UploadId><Initiated>2026-12-01T10:20:30.000Z</Initiated>"
        "</Upload><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
    struct uploads u = {0};
    assert_int_equal(dr_s3_xml_uploads(doc, strlen(doc), "t", upload_cb, &u), 0);
    assert_int_equal(u.n, 1);
    assert_string_equal(u.key, "r/data/ab/x");
    assert_string_equal(u.id, "2~a&b");
    assert_int_equal(u.when, 1796120430); /* 2026-12-01T10:20:30Z */
    const char *bad = "<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>i</UploadId>"
                      "<Initiated>yesterday</Initiated></Upload></ListMultipartUploadsResult>";
    assert_int_equal(dr_s3_xml_uploads(bad, strlen(bad), "uploads of 'b'", upload_cb, &u),
                     DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "uploads of 'b'"));
    dr_error_clear();
    struct dr_buf v = DR_BUF_INIT(64);
    const char *init = "<InitiateMultipartUploadResult><UploadId>u&lt;1</UploadId>"
                       "</InitiateMultipartUploadResult>";
    assert_int_equal(dr_s3_xml_value(init, strlen(init), "UploadId", "t", &v), 0);
    assert_string_equal(v.buf, "u<1");
    assert_int_equal(dr_s3_xml_value(init, strlen(init), "ETag", "t", &v), DR_ECORRUPT);
    dr_buf_release(&v);
    dr_error_clear();
}

static void test_error_doc(void **state)
{
    (void)state;
    char code[8], msg[64];
    const char *doc = "<Error><Code>NoSuchKey</Code><Message>a &lt;b&gt;</Message></Error>";
    dr_s3_xml_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg));
    assert_string_equal(code, "NoSuchK"); /* cut to its buffer */
    assert_string_equal(msg, "a <b>");
    dr_s3_xml_error("<html/>", 7, code, sizeof(code), msg, sizeof(msg));
    assert_string_equal(code, "");
    assert_string_equal(msg, "");
}

static void test_ini(void **state)
{
    (void)state;
    const char *ini = "# c\n[default]\naws_access_key_id = AK1\n aws_secret_access_key=SK1\r\n"
                      "[profile x]\nregion = eu-west-1\naws_session_token =  tok  \n"
                      "aws_access_key_id = AK2\naws_access_key_id = AK3\n[other]\nregion=no\n";
    struct dr_s3_creds c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(dr_s3_ini_parse(ini, strlen(ini), "default", "f", &c), 0);
    assert_string_equal(c.access_key, "AK1");
    assert_string_equal(c.secret_key, "SK1");
    assert_null(c.region);
    dr_s3_creds_release(&c);
    assert_int_equal(dr_s3_ini_parse(ini, strlen(ini), "profile x", "f", &c), 0);
    assert_string_equal(c.access_key, "AK2"); /* the first value wins */
    assert_string_equal(c.session_token, "tok");
    assert_string_equal(c.region, "eu-west-1");
    assert_null(c.secret_key);
    dr_s3_creds_release(&c);
    char nul[] = "[default]\nregion=a\0b\n";
    assert_int_equal(dr_s3_ini_parse(nul, sizeof(nul) - 1, "default", "f", &c), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "f: line 2"));
    dr_s3_creds_release(&c);
}

static void test_creds(void **state)
{
    (void)state;
    char dir[] = "/tmp/drrepo-s3creds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *cred = dr_xasprintf("%s/credentials", dir), *conf = dr_xasprintf("%s/config", dir);
    FILE *f = fopen(cred, "w");
    assert_non_null(f);
    fputs("[p]\naws_access_key_id=FILEAK\naws_secret_access_key=FILESK\n", f);
    fclose(f);
    f = fopen(conf, "w");
    assert_non_null(f);
    fputs("[profile p]\nregion=eu-central-1\n", f);
    fclose(f);
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_CONFIG_FILE", conf, 1);
    setenv("AWS_PROFILE", "p", 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    struct dr_s3_creds c;
    assert_int_equal(dr_s3_creds_load(&c), 0);
    assert_string_equal(c.access_key, "FILEAK");
    assert_string_equal(c.region, "eu-central-1");
    dr_s3_creds_release(&c);
    /* the environment comes first */
    setenv("AWS_ACCESS_KEY_ID", "ENVAK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSK", 1);
    setenv("AWS_DEFAULT_REGION", "r1", 1);
    assert_int_equal(dr_s3_creds_load(&c), 0);
    assert_string_equal(c.access_key, "ENVAK");
    assert_string_equal(c.secret_key, "ENVSK");
    assert_string_equal(c.region, "r1");
    dr_s3_creds_release(&c);
    /* no key anywhere: a usage error that says where it looked */
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_PROFILE", "none", 1);
    assert_int_equal(dr_s3_creds_load(&c), DR_EUSAGE);
    assert_non_null(strstr(dr_error_msg(), "AWS_ACCESS_KEY_ID"));
    assert_non_null(strstr(dr_error_msg(), cred));
    unlink(cred);
    unlink(conf);
    rmdir(dir);
    free(cred);
    free(conf);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_DEFAULT_REGION");
}

static void expect_refused(const char *loc, const char *why)
{
    struct dr_backend *b = NULL;
    assert_int_equal(dr_backend_open(loc, &b), DR_EUSAGE);
    assert_null(b);
    if (!strstr(dr_error_msg(), why)) {
        fail_msg("'%s': expected '%s' in: %s", loc, why, dr_error_msg());
    }
    dr_error_clear();
}

static void test_locations(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
    expect_refused("s3:ftp://h/b", "http:// or https://");
    expect_refused("s3:h/b", "http:// or https://");
    expect_refused("s3:http://h", "no bucket");
    expect_refused("s3:http://h/", "no bucket");
    expect_refused("s3:http:///b", "no host");
    expect_refused("s3:http://h/Bucket", "bucket name");
    expect_refused("s3:http://h/b?x=1", "query");
    expect_refused("s3:http://user@h/bkt", "user name");
    expect_refused("s3:http://h/bkt/a//b", "empty path component");
    /* well formed: opening sends nothing, so no server is needed */
    struct dr_backend *b = NULL;
    assert_int_equal(dr_backend_open("s3:http://127.0.0.1:1/bkt/some/prefix/", &b), 0);
    assert_string_equal(dr_backend_location(b), "s3:http://127.0.0.1:1/bkt/some/prefix/");
    dr_backend_close(b);
    /* without credentials the location is refused before any request */
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    expect_refused("s3:http://h/bkt", "no S3 credentials");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
}

static void test_unreachable(void **state)
{
    (void)state;
    /* nothing listens on port 1: a network error naming the object, after the tries */
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
    setenv("DRREPO_S3_RETRIES", "1", 1);
    struct dr_backend *b = NULL;
    assert_int_equal(dr_backend_open("s3:http://127.0.0.1:1/bkt", &b), 0);
    struct dr_buf out = DR_BUF_INIT(1024);
    assert_int_equal(dr_backend_get(b, "config", 0, UINT64_MAX, &out), DR_ENET);
    assert_non_null(strstr(dr_error_msg(), "object 'config'"));
    assert_non_null(strstr(dr_error_msg(), "after 2 tries"));
    dr_buf_release(&out);
    dr_backend_close(b);
    unsetenv("DRREPO_S3_RETRIES");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
}

static void test_uri_encode(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(1024);
    const char *s = "a-b_c.d~e/f g+h=%\xc3\xa9";
    assert_int_equal(dr_s3_uri_encode(&b, s, strlen(s), true), 0);
    assert_string_equal(b.buf, "a-b_c.d~e/f%20g%2Bh%3D%25%C3%A9");
    dr_buf_reset(&b);
    assert_int_equal(dr_s3_uri_encode(&b, "r/data/", 7, false), 0);
    assert_string_equal(b.buf, "r%2Fdata%2F");
    dr_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing),    cmocka_unit_test(test_bad_listings),
        cmocka_unit_test(test_uploads),    cmocka_unit_test(test_error_doc),
        cmocka_unit_test(test_ini),        cmocka_unit_test(test_creds),
        cmocka_unit_test(test_locations),  cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_uri_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
