/* test_metrics.c: the Prometheus text format (src/common/metrics.c).
 *
 * Covers: label values escaped (backslash, double quote, newline) and passed through
 * otherwise; samples grouped by name under one HELP and TYPE line; integer, fractional, NaN
 * and infinite values; finding a sample's value in an old file by exact labels, with lines
 * that do not parse (truncated, overlong values, other labels, comments, no trailing newline,
 * a trailing timestamp) skipped or read safely. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/metrics.h"

static void test_labels(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(1 << 20);
    const struct dr_metric_label l[] = {
        {"host", "a\\b\"c\nd"},
        {"source", "files"},
        {"command", NULL},
    };
    assert_int_equal(dr_metrics_labels(&b, l, 3), 0);
    assert_string_equal(b.buf, "host=\"a\\\\b\\\"c\\nd\",source=\"files\",command=\"\"");
    dr_buf_release(&b);
}

static void test_render(void **state)
{
    (void)state;
    struct dr_metrics m = DR_METRICS_INIT;
    const struct dr_metric_label a[] = {{"host", "a"}}, b[] = {{"host", "b"}};
    dr_metrics_add(&m, "x_total", "help with \\ and\nnewline", "gauge", a, 1, 3);
    dr_metrics_add(&m, "y", "y's help", "gauge", NULL, 0, -0.5);
    dr_metrics_add(&m, "x_total", "help with \\ and\nnewline", "gauge", b, 1, 1700000000.25);
    dr_metrics_add(&m, "z", "z", "gauge", NULL, 0, NAN);
    dr_metrics_add(&m, "z", "z", "gauge", a, 1, -INFINITY);
    struct dr_buf out = DR_BUF_INIT(1 << 20);
    assert_int_equal(dr_metrics_render(&m, &out), 0);
    assert_string_equal(out.buf, "# HELP x_total help with \\\\ and\\nnewline\n"
                                 "# TYPE x_total gauge\n"
                                 "x_total{host=\"a\"} 3\n"
                                 "x_total{host=\"b\"} 1700000000.250000\n"
                                 "# HELP y y's help\n"
                                 "# TYPE y gauge\n"
                                 "y -0.500000\n"
                                 "# HELP z z\n"
                                 "# TYPE z gauge\n"
                                 "z NaN\n"
                                 "z{host=\"a\"} -Inf\n");
    dr_buf_release(&out);
    dr_metrics_release(&m);
    assert_int_equal(m.n, 0);
    dr_metrics_release(&m);
}

static void test_find(void **state)
{
    (void)state;
    const char *t =
        "# HELP s s\n"
        "s{host=\"a\"} 12\n"
        "s{host=\"b\"} 99\n"
        "s{host=\"a\",x=\"1\"} 7\n"
        "s_other{host=\"a\"} 5\n"
        "s 3 1700000000000\n"
        "s{host=\"c\"} 1e999\n"
        "s{host=\"d\"} 12abc\n"
        "s{host=\"e\"} 1234567890123456789012345678901234567890123456789012345678901234567\n"
        "s{host=\"f\"\n"
        "s{host=\"a\"} 13";
    double v = 0;
    assert_true(dr_metrics_find(t, strlen(t), "s", "host=\"a\"", &v));
    assert_true(v == 13); /* the last one wins, without a trailing newline */
    assert_true(dr_metrics_find(t, strlen(t), "s", "host=\"b\"", &v));
    assert_true(v == 99);
    assert_true(dr_metrics_find(t, strlen(t), "s", "", &v));
    assert_true(v == 3);
    assert_false(dr_metrics_find(t, strlen(t), "s", "host=\"c\"", &v));
    assert_false(dr_metrics_find(t, strlen(t), "s", "host=\"d\"", &v));
    assert_false(dr_metrics_find(t, strlen(t), "s", "host=\"e\"", &v));
    assert_false(dr_metrics_find(t, strlen(t), "s", "host=\"f\"", &v));
    assert_false(dr_metrics_find(t, strlen(t), "s", "host=\"x\"", &v));
    /* cut anywhere: never reads past len */
    for (size_t n = 0; n < strlen(t); n++) {
        char *cut = malloc(n ? n : 1);
        memcpy(cut, t, n);
        (void)dr_metrics_find(cut, n, "s", "host=\"a\"", &v);
        free(cut);
    }
    assert_false(dr_metrics_find("", 0, "s", "", &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
