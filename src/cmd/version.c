/* version.c: `drrepo version`. */
#include "cmd_int.h"

#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/format.h"

#ifndef DR_VERSION
#define DR_VERSION "0"
#endif

int dr_cmd_version(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    printf("drrepo %s (format %u; zstd %s, libsodium %s%s)\n", DR_VERSION, DR_REPO_VERSION,
           dr_compress_version(), dr_crypto_version(),
#ifdef DR_FAULTS
           "; fault points compiled in"
#else
           ""
#endif
    );
    return 0;
}
