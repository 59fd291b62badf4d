/* retention.c: keep policies (see retention.h). */
#include "drrepo/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "drrepo/mem.h"

bool dr_keep_policy_empty(const struct dr_keep_policy *p)
{
    return !p->last && !p->hourly && !p->daily && !p->weekly && !p->monthly && !p->yearly &&
           p->within_ns <= 0 && p->ntags == 0;
}

static bool str_list_eq(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    /* order-insensitive: tags and paths are sets */
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t k = 0; k < nb && !found; k++) {
            found = strcmp(a[i], b[k]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static bool same_group(unsigned by, const struct dr_keep_input *a, const struct dr_keep_input *b)
{
    if ((by & DR_GROUP_HOST) && strcmp(a->host, b->host) != 0) {
        return false;
    }
    if ((by & DR_GROUP_TAGS) && !str_list_eq(a->tags, a->ntags, b->tags, b->ntags)) {
        return false;
    }
    if ((by & DR_GROUP_PATHS) && !str_list_eq(a->paths, a->npaths, b->paths, b->npaths)) {
        return false;
    }
    return true;
}

/* Bucket of a time for each period, in local time. */
static long bucket(int64_t ns, unsigned kind)
{
    time_t t = (time_t)(ns / 1000000000);
    if (ns < 0 && ns % 1000000000) {
        t--;
    }
    struct tm tm;
    localtime_r(&t, &tm);
    long y = tm.tm_year + 1900L;
    switch (kind) {
    case DR_KEEP_HOURLY: return ((y * 1000 + tm.tm_yday) * 100) + tm.tm_hour;
    case DR_KEEP_DAILY: return y * 1000 + tm.tm_yday;
    case DR_KEEP_WEEKLY: {
        char buf[16];
        strftime(buf, sizeof(buf), "%G%V", &tm); /* ISO 8601 year and week */
        return strtol(buf, NULL, 10);
    }
    case DR_KEEP_MONTHLY: return y * 100 + tm.tm_mon;
    default: return y;
    }
}

struct order {
    size_t idx;
    int64_t t;
};

static int newest_first(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    if (x->t != y->t) {
        return x->t > y->t ? -1 : 1;
    }
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool has_tag(const struct dr_keep_input *s, char **tags, size_t ntags)
{
    for (size_t i = 0; i < s->ntags; i++) {
        for (size_t k = 0; k < ntags; k++) {
            if (strcmp(s->tags[i], tags[k]) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Applies the policy to one group, given newest first. */
static void apply_group(const struct dr_keep_policy *p, const struct dr_keep_input *in,
                        const struct order *ord, size_t n, struct dr_keep_result *out)
{
    static const unsigned kinds[] = {DR_KEEP_HOURLY, DR_KEEP_DAILY, DR_KEEP_WEEKLY, DR_KEEP_MONTHLY,
                                     DR_KEEP_YEARLY};
    const uint32_t limits[] = {p->hourly, p->daily, p->weekly, p->monthly, p->yearly};
    uint32_t used[5] = {0};
    long last[5];
    bool have[5] = {false};
    for (size_t i = 0; i < n; i++) {
        size_t s = ord[i].idx;
        unsigned r = 0;
        if (i < p->last) {
            r |= DR_KEEP_LAST;
        }
        for (size_t k = 0; k < 5; k++) {
            if (used[k] >= limits[k]) {
                continue;
            }
            long b = bucket(ord[i].t, kinds[k]);
            if (!have[k] || b != last[k]) {
                r |= kinds[k];
                last[k] = b;
                have[k] = true;
                used[k]++;
            }
        }
        if (p->within_ns > 0 && ord[0].t - ord[i].t <= p->within_ns) {
            r |= DR_KEEP_WITHIN;
        }
        if (p->ntags && has_tag(&in[s], p->tags, p->ntags)) {
            r |= DR_KEEP_TAG;
        }
        out[s].reasons = r;
    }
}

void dr_keep_apply(const struct dr_keep_policy *p, unsigned group_by,
                   const struct dr_keep_input *in, size_t n, struct dr_keep_result *out)
{
    size_t *group = dr_xcalloc(n + 1, sizeof(*group));
    size_t *rep = dr_xcalloc(n + 1, sizeof(*rep)); /* first member of each group */
    size_t ngroups = 0;
    for (size_t i = 0; i < n; i++) {
        size_t g = 0;
        while (g < ngroups && !same_group(group_by, &in[rep[g]], &in[i])) {
            g++;
        }
        if (g == ngroups) {
            rep[ngroups++] = i;
        }
        group[i] = g;
        out[i].group = g;
    }
    struct order *ord = dr_xcalloc(n + 1, sizeof(*ord));
    for (size_t g = 0; g < ngroups; g++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (group[i] == g) {
                ord[m++] = (struct order){i, in[i].time_ns};
            }
        }
        qsort(ord, m, sizeof(*ord), newest_first);
        apply_group(p, in, ord, m, out);
    }
    free(ord);
    free(rep);
    free(group);
}

void dr_keep_reasons(unsigned reasons, char *buf, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {DR_KEEP_LAST, "last"},     {DR_KEEP_HOURLY, "hourly"},   {DR_KEEP_DAILY, "daily"},
        {DR_KEEP_WEEKLY, "weekly"}, {DR_KEEP_MONTHLY, "monthly"}, {DR_KEEP_YEARLY, "yearly"},
        {DR_KEEP_WITHIN, "within"}, {DR_KEEP_TAG, "tag"},         {DR_KEEP_WAL, "wal-window"},
    };
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < DR_ARRAY_LEN(names); i++) {
        if ((reasons & names[i].bit) && off < len) {
            int w = snprintf(buf + off, len - off, "%s%s", off ? "," : "", names[i].name);
            off += w > 0 ? (size_t)w : 0;
        }
    }
}
