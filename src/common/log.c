/* log.c: the logger: one global level, lines to stderr prefixed with "drrepo: ". */
#include "drrepo/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum dr_log_level cur_level = DR_LOG_INFO;

void dr_log_set_level(enum dr_log_level lvl)
{
    cur_level = lvl;
}

enum dr_log_level dr_log_get_level(void)
{
    return cur_level;
}

void dr_log(enum dr_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "", "detail", "debug", "trace"};
    if (lvl > cur_level) {
        return;
    }
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (lvl == DR_LOG_INFO) {
        fprintf(stderr, "drrepo: %s\n", line);
    } else {
        fprintf(stderr, "drrepo: %s: %s\n", names[lvl], line);
    }
}
