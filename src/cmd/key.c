/* key.c: `drrepo key list|add|remove|passwd`. With --json, list prints one array with an object
 * per key file, and add, passwd and remove one object naming the key (docs/JSON.md). */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/util.h"

static int list_cb(void *arg, const struct dr_id *id, const struct dr_keyfile_info *info,
                   bool current)
{
    struct dr_json *w = arg;
    char hex[DR_ID_HEX_LEN + 1], when[32];
    dr_time_format(info->created_ns, when, sizeof(when));
    if (w) {
        /* details_sealed: a version 2 key file read without its key, whose time, user and host
         * are sealed; version 0: a key file that could not be read */
        bool known = info->version && !info->details_sealed;
        dr_json_begin_object(w);
        dr_json_kstring(w, "id", dr_id_hex(id, hex));
        dr_json_kbool(w, "current", current);
        dr_json_kbool(w, "readable", info->version != 0);
        dr_json_ku64(w, "version", info->version);
        dr_json_kstring(w, "created", known ? when : NULL);
        dr_json_kname(w, "user", known ? info->user : NULL);
        dr_json_kname(w, "host", known ? info->host : NULL);
        dr_json_end_object(w);
        return 0;
    }
    printf("%s %.12s  %-20s  %-12s  %s\n", current ? "*" : " ", dr_id_hex(id, hex),
           info->version ? when : "(unreadable)", info->user, info->host);
    return 0;
}

/* add, passwd, remove with --json: {"action", "id"} (remove: the id as given, "id_given"). */
static int key_json(const char *action, const char *id, const char *given)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "action", action);
    if (id) {
        dr_json_kstring(&w, "id", id);
    } else {
        dr_json_kname(&w, "id_given", given);
    }
    dr_json_end_object(&w);
    return dr_cmd_json_emit(&w, stdout);
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
            struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
            struct dr_json w;
            dr_json_init(&w, &b);
            dr_json_begin_array(&w);
            rc = dr_repo_key_list(ctx->r, list_cb, ctx->json ? &w : NULL);
            dr_json_end_array(&w);
            if (rc >= 0 && ctx->json) {
                rc = dr_cmd_json_emit(&w, stdout);
            }
            dr_buf_release(&b);
        } else if (!strcmp(sub, "add")) {
            rc = dr_repo_key_add(ctx->r, pw, 0, 0, &id);
            if (rc >= 0 && ctx->json) {
                rc = key_json("added", dr_id_hex(&id, hex), NULL);
            } else if (rc >= 0) {
                printf("added key %.12s\n", dr_id_hex(&id, hex));
            }
        } else if (!strcmp(sub, "passwd")) {
            /* remove, passwd and repair keys hold the exclusive lock: none may see a copy
             * deleted or rewritten behind it (format/repository.md "Redundancy") */
            rc = dr_cmd_lock_exclusive(ctx);
            rc = rc < 0 ? rc : dr_repo_key_passwd(ctx->r, pw, &id);
            if (rc >= 0 && ctx->json) {
                rc = key_json("passwd", dr_id_hex(&id, hex), NULL);
            } else if (rc >= 0) {
                printf("password changed; key %.12s replaces the old one\n", dr_id_hex(&id, hex));
            }
        } else {
            rc = dr_cmd_lock_exclusive(ctx);
            rc = rc < 0 ? rc : dr_repo_key_remove(ctx->r, argv[1]);
            if (rc >= 0 && ctx->json) {
                rc = key_json("removed", NULL, argv[1]);
            } else if (rc >= 0) {
                printf("removed key %s\n", argv[1]);
            }
        }
    }
    dr_cmd_free_password(pw);
    return rc;
}
