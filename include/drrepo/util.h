/* util.h: small parsers and clock helpers shared by the command line and the library. */
#ifndef DR_UTIL_H
#define DR_UTIL_H

#include "drrepo/common.h"

/* Parses a decimal unsigned integer; DR_EUSAGE on anything else or overflow. */
DR_MUST_CHECK int dr_parse_u64(const char *s, uint64_t *out);
/* Parses a size with an optional K/M/G/T suffix (powers of 1024; "KiB" and "KB" accepted). */
DR_MUST_CHECK int dr_parse_size(const char *s, uint64_t *out);
/* Parses a duration such as "90s", "30m", "12h", "7d", "2w" (fractions allowed).
 * DR_EUSAGE on anything else. */
DR_MUST_CHECK int dr_parse_duration(const char *s, int64_t *out_ns);
/* Wall-clock time in nanoseconds since the epoch. */
int64_t dr_time_now_ns(void);
/* Monotonic time in nanoseconds. */
int64_t dr_mono_ns(void);
/* Sleeps ms milliseconds (the whole time, a signal's interruption resumed). */
void dr_sleep_ms(long ms);
/* Formats ns-since-epoch as "2026-11-21T20:42:05Z" (UTC) into out (at least 32 bytes). */
void dr_time_format(int64_t ns, char *out, size_t outlen);
/* Formats a byte count as "1.5 MiB" into out. */
void dr_size_format(uint64_t n, char *out, size_t outlen);
/* The qsort and bsearch comparison of two elements of an array of strings (char *): strcmp
 * order. */
int dr_strp_cmp(const void *a, const void *b);

#endif
