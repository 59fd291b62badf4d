/* log.h: levelled logging to stderr. Library code logs at detail and below only; errors are
 * returned, and printed once by src/cmd/. */
#ifndef DR_LOG_H
#define DR_LOG_H

#include "drrepo/common.h"

enum dr_log_level {
    DR_LOG_ERROR,
    DR_LOG_WARN,
    DR_LOG_INFO,
    DR_LOG_DETAIL,
    DR_LOG_DEBUG,
    DR_LOG_TRACE,
};

void dr_log_set_level(enum dr_log_level lvl);
enum dr_log_level dr_log_get_level(void);
DR_PRINTF(2, 3) void dr_log(enum dr_log_level lvl, const char *fmt, ...);

#define dr_log_error(...) dr_log(DR_LOG_ERROR, __VA_ARGS__)
#define dr_log_warn(...) dr_log(DR_LOG_WARN, __VA_ARGS__)
#define dr_log_info(...) dr_log(DR_LOG_INFO, __VA_ARGS__)
#define dr_log_detail(...) dr_log(DR_LOG_DETAIL, __VA_ARGS__)
#define dr_log_debug(...) dr_log(DR_LOG_DEBUG, __VA_ARGS__)
#define dr_log_trace(...) dr_log(DR_LOG_TRACE, __VA_ARGS__)

#endif
