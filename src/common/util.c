/* util.c: number and size parsing, clocks and human-readable formatting. */
#include "drrepo/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "drrepo/error.h"

int dr_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0])) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a number", s ? s : "");
    }
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a number", s);
    }
    *out = v;
    return 0;
}

int dr_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0])) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a size", s ? s : "");
    }
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a size", s);
    }
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return dr_errorf(DR_EUSAGE, "'%s' is not a size (use K, M, G or T)", s);
    }
    if (*end) {
        end++;
        if (*end == 'i' || *end == 'I') {
            end++;
        }
        if (*end == 'B' || *end == 'b') {
            end++;
        }
    }
    if (*end || (shift && v > (UINT64_MAX >> shift))) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a size", s);
    }
    *out = (uint64_t)v << shift;
    return 0;
}

int64_t dr_time_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t dr_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void dr_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

void dr_time_format(int64_t ns, char *out, size_t outlen)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void dr_size_format(uint64_t n, char *out, size_t outlen)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < DR_ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0) {
        snprintf(out, outlen, "%llu B", (unsigned long long)n);
    } else {
        snprintf(out, outlen, "%.1f %s", v, units[u]);
    }
}

int dr_parse_duration(const char *s, int64_t *out_ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a duration (use e.g. 90s, 30m, 12h, 7d, 2w)", s);
    }
    double mult;
    switch (*end) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 7 * 86400; break;
    default: return dr_errorf(DR_EUSAGE, "'%s' is not a duration (use e.g. 90s, 30m, 12h, 7d)", s);
    }
    if (end[1] != '\0' || v * mult > 1e10) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a duration (use e.g. 90s, 30m, 12h, 7d)", s);
    }
    *out_ns = (int64_t)(v * mult * 1e9);
    return 0;
}

int dr_strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}
