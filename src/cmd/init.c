/* init.c: `drrepo init` creates a repository. */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/chunker.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/util.h"

static int size_opt(struct dr_ctx *ctx, const char *name, const char *arg, uint32_t *out)
{
    uint64_t v;
    if (dr_parse_size(arg, &v) < 0 || v > UINT32_MAX) {
        return dr_cmd_usage(ctx, "invalid %s '%s'", name, arg);
    }
    *out = (uint32_t)v;
    return 0;
}

const struct dr_opt dr_cmd_init_opts[] = {
    {"chunk-min", 0, 1, "SIZE", "smallest chunk (default 512K)", 0, NULL},
    {"chunk-avg", 0, 2, "SIZE", "average chunk (default 1M)", 0, NULL},
    {"chunk-max", 0, 3, "SIZE", "largest chunk (default 8M)", 0, NULL},
    {"pack-size", 0, 4, "SIZE", "target size of a pack file (default 16M)", 0, NULL},
    {"compression", 0, 5, "LEVEL", "zstd level from 1 to 19 (default 3)", 0, NULL},
    {"kdf-memlimit", 0, 6, "SIZE", "Argon2id memory (default 64M)", 0, NULL},
    {"kdf-opslimit", 0, 7, "N", "Argon2id passes (default 2)", 0, NULL},
    {"insecure-kdf", 0, 8, NULL, "allow Argon2id limits below the floor (tests only)", 0, NULL},
    {"chunker", 0, 9, "NAME",
     "gear (default) or toeplitz-aes: cut points that do not leak the chunker key "
     "(docs/SECURITY.md)",
     0, NULL},
    {"format-version", 0, 10, "N",
     "2 or 3 for hosts whose drrepo reads no newer (default: the newest; docs/USAGE.md)", 0, NULL},
    {0},
};

int dr_cmd_init(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_repo_params p;
    dr_repo_params_default(&p);
    int c, rc = 0;
    uint64_t v;
    const char *arg;
    while (rc >= 0 && (c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case 1: rc = size_opt(ctx, "--chunk-min", arg, &p.chunker.min); break;
        case 2: rc = size_opt(ctx, "--chunk-avg", arg, &p.chunker.avg); break;
        case 3: rc = size_opt(ctx, "--chunk-max", arg, &p.chunker.max); break;
        case 4: rc = size_opt(ctx, "--pack-size", arg, &p.pack_size); break;
        case 5:
            rc = dr_parse_u64(arg, &v) < 0 || v < 1 || v > 19
                     ? dr_cmd_usage(ctx, "--compression takes a zstd level from 1 to 19")
                     : 0;
            p.zstd_level = (int)v;
            break;
        case 6:
            rc = dr_parse_size(arg, &p.kdf_memlimit) < 0
                     ? dr_cmd_usage(ctx, "invalid --kdf-memlimit '%s'", arg)
                     : 0;
            break;
        case 7:
            rc = dr_parse_u64(arg, &p.kdf_opslimit) < 0
                     ? dr_cmd_usage(ctx, "invalid --kdf-opslimit '%s'", arg)
                     : 0;
            break;
        case 8: p.insecure_kdf = true; break;
        case 9:
            rc = dr_chunker_alg_parse(arg, &p.chunker.alg) < 0
                     ? dr_cmd_usage(ctx, "--chunker takes gear or toeplitz-aes, not '%s'", arg)
                     : 0;
            break;
        case 10:
            rc = dr_parse_u64(arg, &v) < 0 || v < 2 || v > DR_REPO_VERSION
                     ? dr_cmd_usage(ctx, "--format-version takes 2 to %u, not '%s'",
                                    DR_REPO_VERSION, arg)
                     : 0;
            p.version = (uint32_t)v;
            break;
        default: DR_BUG("init: an option of the table is not handled");
        }
    }
    if (rc < 0) {
        return rc;
    }
    if (!p.insecure_kdf) {
        /* before the password prompt: a refused init asks for nothing */
        rc = dr_kdf_check_floor(p.kdf_opslimit, p.kdf_memlimit);
        if (rc < 0) {
            return rc;
        }
    }
    if (argc != 0) {
        return dr_cmd_usage(ctx, "unexpected argument '%s'", argv[0]);
    }
    const char *loc = dr_cmd_repo_location(ctx);
    if (!loc || !*loc) {
        return dr_errorf(DR_EUSAGE, "no repository given: use -r REPO or set DRREPO_REPOSITORY");
    }
    rc = dr_chunker_params_check(&p.chunker);
    if (rc < 0) {
        return rc;
    }
    char *pw = NULL;
    rc = dr_cmd_password(ctx, "enter a password for the new repository: ", true, &pw);
    if (rc < 0) {
        return rc;
    }
    struct dr_id id;
    rc = dr_repo_init(loc, pw, &p, &id);
    dr_cmd_free_password(pw);
    if (rc < 0) {
        return rc;
    }
    char hex[DR_ID_HEX_LEN + 1];
    if (ctx->json) {
        struct dr_buf j = DR_BUF_INIT(1 << 20);
        struct dr_json w;
        dr_json_init(&w, &j);
        dr_json_begin_object(&w);
        dr_json_kname(&w, "repository", loc);
        dr_json_kstring(&w, "id", dr_id_hex(&id, hex));
        dr_json_end_object(&w);
        rc = dr_json_finish(&w);
        if (rc >= 0) {
            printf("%s\n", j.buf);
        }
        dr_buf_release(&j);
        return rc;
    } else if (!ctx->quiet) {
        printf("created drrepo repository %.10s at %s\n", dr_id_hex(&id, hex), loc);
        printf("keep the password safe: without it the data cannot be read\n");
    }
    return 0;
}
