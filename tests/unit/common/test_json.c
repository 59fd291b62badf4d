/* test_json.c: the JSON writer (src/common/json.c).
 *
 * Covers: escaping of '"', '\\' and control characters (\u00xx), a path with a newline, valid
 * UTF-8 passed through and invalid UTF-8 replaced byte by byte with \ufffd, NULL as null,
 * nesting of objects and arrays with the commas placed by the writer, numbers, booleans, and
 * the errors of unbalanced output; names that are not valid UTF-8 with their exact bytes in a
 * "<key>_bytes" sibling in base64 (every padding length), alone and in arrays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/json.h"

static void expect_escape(const char *in, const char *want)
{
    struct dr_buf b = DR_BUF_INIT(1 << 20);
    assert_int_equal(dr_json_escape(&b, in), 0);
    assert_non_null(b.buf);
    assert_string_equal(b.buf, want);
    dr_buf_release(&b);
}

static void test_escape(void **state)
{
    (void)state;
    expect_escape("", "\"\"");
    expect_escape("plain", "\"plain\"");
    expect_escape("say \"hi\"", "\"say \\\"hi\\\"\"");
    expect_escape("C:\\dir\\", "\"C:\\\\dir\\\\\"");
    expect_escape("/data/a\nb", "\"/data/a\\u000ab\"");
    expect_escape("\t\r\x01\x1f", "\"\\u0009\\u000d\\u0001\\u001f\"");
    expect_escape("\x7f ok", "\"\x7f ok\"");
}

static void test_utf8(void **state)
{
    (void)state;
    expect_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    expect_escape("a\xff"
                  "b",
                  "\"a\\ufffdb\"");                             /* never valid */
    expect_escape("\x80", "\"\\ufffd\"");                       /* stray continuation */
    expect_escape("\xc0\xaf", "\"\\ufffd\\ufffd\"");            /* overlong */
    expect_escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    expect_escape("\xe2\x82", "\"\\ufffd\\ufffd\"");            /* truncated at the end */
    expect_escape("\xe2\x82x", "\"\\ufffd\\ufffdx\"");          /* truncated in the middle */
    expect_escape("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* over U+10FFFF */
}

static void test_nesting(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(1 << 20);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "path", "/a\nb");
    dr_json_kbool(&w, "ok", true);
    dr_json_ku64(&w, "n", 18446744073709551615ULL);
    dr_json_ki64(&w, "t", -5);
    dr_json_kfixed(&w, "secs", 1.23456, 3);
    dr_json_kstring(&w, "parent", NULL);
    dr_json_key(&w, "list");
    dr_json_begin_array(&w);
    dr_json_string(&w, "x");
    dr_json_begin_object(&w);
    dr_json_end_object(&w);
    dr_json_begin_array(&w);
    dr_json_end_array(&w);
    dr_json_null(&w);
    dr_json_bool(&w, false);
    dr_json_end_array(&w);
    dr_json_key(&w, "empty");
    dr_json_begin_array(&w);
    dr_json_end_array(&w);
    dr_json_key(&w, "meta");
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "k\"1", "v");
    dr_json_kstring(&w, "k2", "w");
    dr_json_end_object(&w);
    dr_json_end_object(&w);
    assert_int_equal(dr_json_finish(&w), 0);
    assert_string_equal(b.buf, "{\"path\":\"/a\\u000ab\",\"ok\":true,\"n\":18446744073709551615,"
                               "\"t\":-5,\"secs\":1.235,\"parent\":null,"
                               "\"list\":[\"x\",{},[],null,false],\"empty\":[],"
                               "\"meta\":{\"k\\\"1\":\"v\",\"k2\":\"w\"}}");
    dr_buf_release(&b);

    /* top-level array of objects */
    dr_json_init(&w, &b);
    dr_json_begin_array(&w);
    for (int i = 0; i < 3; i++) {
        dr_json_begin_object(&w);
        dr_json_ki64(&w, "i", i);
        dr_json_end_object(&w);
    }
    dr_json_end_array(&w);
    assert_int_equal(dr_json_finish(&w), 0);
    assert_string_equal(b.buf, "[{\"i\":0},{\"i\":1},{\"i\":2}]");
    dr_buf_release(&b);
}

static void test_unbalanced(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(1 << 20);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    assert_int_equal(dr_json_finish(&w), DR_EINTERNAL);
    dr_error_clear();
    dr_buf_release(&b);

    dr_json_init(&w, &b);
    dr_json_begin_array(&w);
    dr_json_end_array(&w);
    dr_json_end_array(&w);
    assert_int_equal(dr_json_finish(&w), DR_EINTERNAL);
    dr_error_clear();
    dr_buf_release(&b);

    /* the buffer's cap is a sticky error */
    struct dr_buf small = DR_BUF_INIT(8);
    dr_json_init(&w, &small);
    dr_json_begin_array(&w);
    dr_json_string(&w, "longer than eight bytes");
    dr_json_end_array(&w);
    assert_true(dr_json_finish(&w) < 0);
    dr_error_clear();
    dr_buf_release(&small);
}

static void expect_name(const char *in, const char *want)
{
    struct dr_buf b = DR_BUF_INIT(1 << 20);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_kname(&w, "name", in);
    dr_json_end_object(&w);
    assert_int_equal(dr_json_finish(&w), 0);
    assert_string_equal(b.buf, want);
    dr_buf_release(&b);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(dr_json_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80"));
    assert_false(dr_json_utf8_valid("a\xff"));
    expect_name("plain \"q\"", "{\"name\":\"plain \\\"q\\\"\"}");
    expect_name("caf\xc3\xa9", "{\"name\":\"caf\xc3\xa9\"}");
    expect_name("\xff\xfe", "{\"name\":\"\\ufffd\\ufffd\",\"name_bytes\":\"//4=\"}");
    expect_name("a\xff", "{\"name\":\"a\\ufffd\",\"name_bytes\":\"Yf8=\"}");
    expect_name("ab\xff", "{\"name\":\"ab\\ufffd\",\"name_bytes\":\"YWL/\"}");
    expect_name("\xff", "{\"name\":\"\\ufffd\",\"name_bytes\":\"/w==\"}");

    struct dr_buf b = DR_BUF_INIT(1 << 20);
    struct dr_json w;
    const char *ok[] = {"/a", "/b"}, *bad[] = {"/a", "/\xfe"};
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_knames(&w, "paths", ok, 2);
    dr_json_knames(&w, "more", bad, 2);
    dr_json_end_object(&w);
    assert_int_equal(dr_json_finish(&w), 0);
    assert_string_equal(b.buf, "{\"paths\":[\"/a\",\"/b\"],\"more\":[\"/a\",\"/\\ufffd\"],"
                               "\"more_bytes\":[null,\"L/4=\"]}");
    dr_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),  cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_nesting), cmocka_unit_test(test_unbalanced),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
