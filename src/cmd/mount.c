/* mount.c: PLACEHOLDER for `drrepo mount` (issue 6). */
#include "cmd_int.h"

#include "drrepo/error.h"

int dr_cmd_mount(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return dr_cmd_usage(ctx, "mount: not implemented yet");
}
