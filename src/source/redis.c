/* redis.c: PLACEHOLDER, to be replaced by the Redis source (issue 5). */
#include "drrepo/source.h"

#include "drrepo/error.h"

int dr_source_redis_open(const char *url, struct dr_redis_source **out,
                         const struct dr_stream_source **out_src)
{
    (void)out;
    (void)out_src;
    return dr_errorf(DR_EUNSUPPORTED, "redis source '%s': not implemented yet", url);
}

void dr_source_redis_close(struct dr_redis_source *rs)
{
    (void)rs;
}
