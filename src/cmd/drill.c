/* drill.c: PLACEHOLDER for `drrepo drill` (issue 5). */
#include "cmd_int.h"

#include "drrepo/error.h"

int dr_cmd_drill(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return dr_cmd_usage(ctx, "drill: not implemented yet");
}
