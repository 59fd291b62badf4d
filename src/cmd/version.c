/* version.c: `drrepo version`. */
#include "cmd_int.h"

#include <sodium.h>
#include <zstd.h>

#ifndef DR_VERSION
#define DR_VERSION "0"
#endif

int dr_cmd_version(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    printf("drrepo %s (format %u; zstd %s, libsodium %s%s)\n", DR_VERSION, 1u, ZSTD_versionString(),
           sodium_version_string(),
#ifdef DR_FAULTS
           "; fault points compiled in"
#else
           ""
#endif
    );
    return 0;
}
