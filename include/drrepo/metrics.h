/* metrics.h: the Prometheus text exposition format (version 0.0.4), for node-exporter's
 * textfile collector and `drrepo metrics`. A builder collects samples; rendering groups them
 * by metric name under one `# HELP` and one `# TYPE` line, as the format requires. Also the
 * one reader: finding a sample's value in an earlier file (to carry a value over). */
#ifndef DR_METRICS_H
#define DR_METRICS_H

#include "drrepo/buf.h"

struct dr_metric_label {
    const char *name; /* [a-zA-Z_][a-zA-Z0-9_]* (not checked: callers use constants) */
    const char *value;
};

struct dr_metric_sample {
    char *name, *help, *type; /* owned */
    char *labels;             /* owned: rendered label pairs without braces; "" for none */
    double value;
};

struct dr_metrics {
    struct dr_metric_sample *v;
    size_t n, alloc;
};

#define DR_METRICS_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Appends the label pairs rendered as the format writes them between braces:
 * `a="x",b="y"`, with each value escaped (backslash, double quote and newline become \\, \"
 * and \n). Errors: those of dr_buf_add (DR_ECORRUPT past the buffer's maximum). */
DR_MUST_CHECK int dr_metrics_labels(struct dr_buf *out, const struct dr_metric_label *l, size_t n);

/* Adds one sample. type is "gauge" or "counter"; name, help and type are copied. */
void dr_metrics_add(struct dr_metrics *m, const char *name, const char *help, const char *type,
                    const struct dr_metric_label *l, size_t nl, double value);

/* Appends the text of all samples to out: per name (in the order names were first added) the
 * `# HELP` and `# TYPE` lines, then its samples. Errors: those of dr_buf_add. */
DR_MUST_CHECK int dr_metrics_render(const struct dr_metrics *m, struct dr_buf *out);

/* Frees the samples; m is empty and reusable afterwards. */
void dr_metrics_release(struct dr_metrics *m);

/* Finds the last sample of name whose label pairs are exactly labels (as dr_metrics_labels
 * renders them; "" for none) in text[0..len), which may be any bytes: lines that do not parse
 * are skipped. Returns true and sets *out when found with a finite value. */
bool dr_metrics_find(const char *text, size_t len, const char *name, const char *labels,
                     double *out);

#endif
