/* version.c: `drrepo version`; with --json one object (docs/JSON.md). */
#include "cmd_int.h"

#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/format.h"

#ifndef DR_VERSION
#define DR_VERSION "0"
#endif

int dr_cmd_version(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
#ifdef DR_FAULTS
    bool faults = true;
#else
    bool faults = false;
#endif
    if (ctx->json) {
        struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        struct dr_json w;
        dr_json_init(&w, &b);
        dr_json_begin_object(&w);
        dr_json_kstring(&w, "version", DR_VERSION);
        dr_json_ku64(&w, "format", DR_REPO_VERSION);
        dr_json_kstring(&w, "zstd", dr_compress_version());
        dr_json_kstring(&w, "libsodium", dr_crypto_version());
        dr_json_kbool(&w, "fault_points", faults);
        dr_json_end_object(&w);
        return dr_cmd_json_emit(&w, stdout);
    }
    printf("drrepo %s (format %u; zstd %s, libsodium %s%s)\n", DR_VERSION, DR_REPO_VERSION,
           dr_compress_version(), dr_crypto_version(), faults ? "; fault points compiled in" : "");
    return 0;
}
