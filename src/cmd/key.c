/* key.c: `drrepo key list|add|remove|passwd`. */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/util.h"

static int list_cb(void *arg, const struct dr_id *id, const struct dr_keyfile_info *info,
                   bool current)
{
    (void)arg;
    char hex[DR_ID_HEX_LEN + 1], when[32];
    dr_time_format(info->created_ns, when, sizeof(when));
    printf("%s %.12s  %-20s  %-12s  %s\n", current ? "*" : " ", dr_id_hex(id, hex),
           info->version ? when : "(unreadable)", info->user, info->host);
    return 0;
}

const struct dr_opt dr_cmd_key_opts[] = {
    {"new-password-file", 0, 'f', "FILE", "add, passwd: the new password is FILE's first line", 0,
     NULL},
    {0},
};

int dr_cmd_key(struct dr_ctx *ctx, int argc, char **argv)
{
    if (argc < 1) {
        return dr_cmd_usage(ctx, "key needs a subcommand");
    }
    const char *sub = argv[0];
    const char *file = NULL, *arg;
    while (dr_cmd_opt(ctx, &arg) == 'f') {
        file = arg;
    }
    bool is_remove = strcmp(sub, "remove") == 0;
    if (strcmp(sub, "list") && strcmp(sub, "add") && strcmp(sub, "passwd") && !is_remove) {
        return dr_cmd_usage(ctx, "unknown key subcommand '%s'", sub);
    }
    if (argc - 1 != (is_remove ? 1 : 0)) {
        return dr_cmd_usage(ctx, "wrong number of arguments for 'key %s'", sub);
    }
    char *pw = NULL;
    int rc = 0;
    if (!strcmp(sub, "add") || !strcmp(sub, "passwd")) {
        rc = dr_cmd_new_password(ctx, file, &pw);
        if (rc >= 0 && !*pw) {
            rc = dr_errorf(DR_EUSAGE, "an empty password is not allowed");
        }
        if (rc < 0) {
            dr_cmd_free_password(pw);
            return rc;
        }
    }
    rc = dr_cmd_open(ctx);
    struct dr_id id;
    char hex[DR_ID_HEX_LEN + 1];
    if (rc >= 0) {
        if (!strcmp(sub, "list")) {
            rc = dr_repo_key_list(ctx->r, list_cb, NULL);
        } else if (!strcmp(sub, "add")) {
            rc = dr_repo_key_add(ctx->r, pw, 0, 0, &id);
            if (rc >= 0) {
                printf("added key %.12s\n", dr_id_hex(&id, hex));
            }
        } else if (!strcmp(sub, "passwd")) {
            /* remove, passwd and repair keys hold the exclusive lock: none may see a copy
             * deleted or rewritten behind it (format/repository.md "Redundancy") */
            rc = dr_cmd_lock_exclusive(ctx);
            rc = rc < 0 ? rc : dr_repo_key_passwd(ctx->r, pw, &id);
            if (rc >= 0) {
                printf("password changed; key %.12s replaces the old one\n", dr_id_hex(&id, hex));
            }
        } else {
            rc = dr_cmd_lock_exclusive(ctx);
            rc = rc < 0 ? rc : dr_repo_key_remove(ctx->r, argv[1]);
            if (rc >= 0) {
                printf("removed key %s\n", argv[1]);
            }
        }
    }
    dr_cmd_free_password(pw);
    return rc;
}
