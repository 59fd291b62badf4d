/* metrics.c: the Prometheus text exposition format (metrics.h). */
#include "drrepo/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/mem.h"

int dr_metrics_labels(struct dr_buf *out, const struct dr_metric_label *l, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = dr_buf_addf(out, "%s%s=\"", i ? "," : "", l[i].name);
        for (const char *p = l[i].value ? l[i].value : ""; rc >= 0 && *p; p++) {
            switch (*p) {
            case '\\': rc = dr_buf_adds(out, "\\\\"); break;
            case '"': rc = dr_buf_adds(out, "\\\""); break;
            case '\n': rc = dr_buf_adds(out, "\\n"); break;
            default: rc = dr_buf_addch(out, *p); break;
            }
        }
        rc = rc < 0 ? rc : dr_buf_addch(out, '"');
    }
    return rc;
}

void dr_metrics_add(struct dr_metrics *m, const char *name, const char *help, const char *type,
                    const struct dr_metric_label *l, size_t nl, double value)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    if (dr_metrics_labels(&b, l, nl) < 0) {
        DR_BUG("metrics: labels past the buffer's maximum");
    }
    DR_GROW(m->v, m->alloc, m->n + 1);
    m->v[m->n++] = (struct dr_metric_sample){
        .name = dr_xstrdup(name),
        .help = dr_xstrdup(help),
        .type = dr_xstrdup(type),
        .labels = dr_xstrdup(b.buf),
        .value = value,
    };
    dr_buf_release(&b);
}

/* A value as the format writes it: integers without a fraction, NaN and the infinities by
 * the names Go's ParseFloat reads. */
static int add_value(struct dr_buf *out, double v)
{
    if (isnan(v)) {
        return dr_buf_adds(out, "NaN");
    }
    if (isinf(v)) {
        return dr_buf_adds(out, v > 0 ? "+Inf" : "-Inf");
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        return dr_buf_addf(out, "%.0f", v);
    }
    return dr_buf_addf(out, "%.6f", v);
}

int dr_metrics_render(const struct dr_metrics *m, struct dr_buf *out)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < m->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            seen = strcmp(m->v[k].name, m->v[i].name) == 0;
        }
        if (seen) {
            continue;
        }
        rc = dr_buf_addf(out, "# HELP %s ", m->v[i].name);
        /* HELP escapes backslash and newline */
        for (const char *p = m->v[i].help; rc >= 0 && *p; p++) {
            rc = *p == '\\'   ? dr_buf_adds(out, "\\\\")
                 : *p == '\n' ? dr_buf_adds(out, "\\n")
                              : dr_buf_addch(out, *p);
        }
        rc = rc < 0 ? rc : dr_buf_addf(out, "\n# TYPE %s %s\n", m->v[i].name, m->v[i].type);
        for (size_t k = i; rc >= 0 && k < m->n; k++) {
            const struct dr_metric_sample *s = &m->v[k];
            if (strcmp(s->name, m->v[i].name) != 0) {
                continue;
            }
            rc = s->labels[0] ? dr_buf_addf(out, "%s{%s} ", s->name, s->labels)
                              : dr_buf_addf(out, "%s ", s->name);
            rc = rc < 0 ? rc : add_value(out, s->value);
            rc = rc < 0 ? rc : dr_buf_addch(out, '\n');
        }
    }
    return rc;
}

void dr_metrics_release(struct dr_metrics *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        free(m->v[i].help);
        free(m->v[i].type);
        free(m->v[i].labels);
    }
    free(m->v);
    *m = (struct dr_metrics)DR_METRICS_INIT;
}

/* Does line[0..len) hold a sample of name with exactly labels? Sets *value_at to the offset of
 * what follows the name and labels. */
static bool sample_matches(const char *line, size_t len, const char *name, const char *labels,
                           size_t *value_at)
{
    size_t nn = strlen(name), nl = strlen(labels);
    if (len < nn || memcmp(line, name, nn) != 0) {
        return false;
    }
    size_t i = nn;
    if (nl) {
        if (len - i < nl + 2 || line[i] != '{' || memcmp(line + i + 1, labels, nl) != 0 ||
            line[i + 1 + nl] != '}') {
            return false;
        }
        i += nl + 2;
    }
    if (i >= len || (line[i] != ' ' && line[i] != '\t')) {
        return false;
    }
    *value_at = i;
    return true;
}

bool dr_metrics_find(const char *text, size_t len, const char *name, const char *labels,
                     double *out)
{
    bool found = false;
    size_t pos = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl != NULL);
        size_t at;
        if (ll == 0 || line[0] == '#' || !sample_matches(line, ll, name, labels, &at)) {
            continue;
        }
        while (at < ll && (line[at] == ' ' || line[at] == '\t')) {
            at++;
        }
        /* the value, up to a blank (a timestamp may follow), copied out of the unterminated
         * text so strtod cannot read past the line */
        char num[64];
        size_t k = 0;
        while (at + k < ll && line[at + k] != ' ' && line[at + k] != '\t') {
            k++;
        }
        if (k == 0 || k >= sizeof(num)) {
            continue;
        }
        memcpy(num, line + at, k);
        num[k] = '\0';
        char *end;
        double v = strtod(num, &end);
        if (*end == '\0' && isfinite(v)) {
            *out = v;
            found = true;
        }
    }
    return found;
}
