/* ls.c: `drrepo ls SNAP [PATH]` lists a snapshot's files from its trees (no file data read).
 *
 * A directory that could not be read when the snapshot was taken (DR_NODE_F_INCOMPLETE) is
 * marked "[incomplete]" in the long listing; the short listing stays one path per line, for
 * scripts, and names such directories in a warning on stderr instead.
 *
 * With --json, one JSON object per line, as restic's `ls --json`: first the snapshot
 * ("message_type": "snapshot"), then one per entry ("message_type": "node"; docs/JSON.md). */
#include "cmd_int.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/util.h"

static void warn_incomplete(const char *path)
{
    dr_log_warn("directory '%s' could not be read when the snapshot was taken: it holds only "
                "the entries that were read",
                path);
}

static void mode_string(const struct dr_node *n, char out[11])
{
    static const char types[] = "?-dlcbps";
    out[0] = n->type < sizeof(types) - 1 ? types[n->type] : '?';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++) {
        out[1 + i] = (n->mode & (1u << (8 - i))) ? rwx[i] : '-';
    }
    /* setuid, setgid and sticky in the execute places, as ls(1): lower case over an x */
    static const struct {
        unsigned bit;
        int at;
        char with_x, without_x;
    } special[] = {{04000, 3, 's', 'S'}, {02000, 6, 's', 'S'}, {01000, 9, 't', 'T'}};
    for (size_t i = 0; i < DR_ARRAY_LEN(special); i++) {
        if (n->mode & special[i].bit) {
            out[special[i].at] =
                out[special[i].at] == 'x' ? special[i].with_x : special[i].without_x;
        }
    }
    out[10] = '\0';
}

struct ls_ctx {
    bool lng;
    bool json;
};

/* One object on a line of its own: the snapshot (n NULL) or a node. */
static int json_line(const char *path, const struct dr_node *n, const struct dr_id *id,
                     const struct dr_snapshot *s)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_json w;
    dr_json_init(&w, &b);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "message_type", n ? "node" : "snapshot");
    if (n) {
        dr_cmd_json_node(&w, path, n);
    } else {
        dr_cmd_json_snapshot(&w, id, s);
    }
    dr_json_end_object(&w);
    return dr_cmd_json_emit(&w, stdout);
}

static int ls_cb(void *arg, const char *path, const struct dr_node *n)
{
    struct ls_ctx *lc = arg;
    if (lc->json) {
        if (n->type == DR_NODE_DIR && (n->flags & DR_NODE_F_INCOMPLETE)) {
            warn_incomplete(path);
        }
        return json_line(path, n, NULL, NULL);
    }
    if (!lc->lng) {
        printf("%s\n", path);
        if (n->type == DR_NODE_DIR && (n->flags & DR_NODE_F_INCOMPLETE)) {
            warn_incomplete(path);
        }
        return 0;
    }
    char mode[11], when[32];
    mode_string(n, mode);
    dr_time_format(n->mtime_ns, when, sizeof(when));
    printf("%s %8s %8s %12llu %s %s", mode, n->user && *n->user ? n->user : "-",
           n->group && *n->group ? n->group : "-", (unsigned long long)n->size, when, path);
    if (n->type == DR_NODE_SYMLINK) {
        printf(" -> %s", n->target);
    }
    if (n->flags & DR_NODE_F_DAMAGED) {
        printf(" [damaged]");
    }
    if (n->type == DR_NODE_DIR && (n->flags & DR_NODE_F_INCOMPLETE)) {
        printf(" [incomplete]");
    }
    printf("\n");
    return 0;
}

const struct dr_opt dr_cmd_ls_opts[] = {
    {"long", 'l', 'l', NULL, "mode, owner, size and time of each entry", 0, NULL},
    DR_SELECT_OPTS,
    {0},
};

int dr_cmd_ls(struct dr_ctx *ctx, int argc, char **argv)
{
    struct ls_ctx lc = {.json = ctx->json};
    struct dr_select sel = DR_SELECT_INIT(ctx);
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        if (c == 'l') {
            lc.lng = true;
        } else if (!dr_select_opt(&sel, c, arg)) {
            DR_BUG("ls: an option of the table is not handled");
        }
    }
    if (argc < 1 || argc > 2) {
        return dr_cmd_usage(ctx, "ls takes a snapshot and an optional path");
    }
    const char *spec = argv[0];
    const char *path = argc == 2 ? argv[1] : "/";
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_id id;
    rc = dr_select_resolve(ctx, &sel, spec, &id);
    if (rc < 0) {
        return rc;
    }
    struct dr_snapshot s;
    struct dr_node n;
    dr_snapshot_init(&s);
    memset(&n, 0, sizeof(n));
    rc = dr_repo_snapshot_load(ctx->r, &id, &s);
    if (rc >= 0) {
        rc = dr_repo_find_node(ctx->r, &s, path, &n);
        if (rc == DR_ENOENT) {
            /* "latest" is not narrowed by the PATH argument (which snapshot "latest" is must not
             * depend on what is listed); --path is how to ask for the latest that saved it */
            char sid[9];
            char *d = dr_select_describe(&sel, spec);
            dr_short_id(&id, sid);
            dr_error_clear();
            rc = dr_errorf(DR_ENOENT, "snapshot %s (%s) has no path '%s'%s%s", sid, d, path,
                           strcmp(spec, "latest") == 0
                               ? "; to list the latest snapshot that saved it: "
                                 "ls latest --path "
                               : "",
                           strcmp(spec, "latest") == 0 ? path : "");
            free(d);
        }
    }
    if (rc >= 0 && lc.json) {
        rc = json_line(NULL, NULL, &id, &s);
    }
    if (rc >= 0) {
        if (n.type == DR_NODE_DIR) {
            /* the directory listed is not printed itself: say it here */
            if (n.flags & DR_NODE_F_INCOMPLETE) {
                warn_incomplete(path);
            }
            rc = dr_repo_walk(ctx->r, &n.subtree, path, ls_cb, &lc);
        } else {
            rc = ls_cb(&lc, path, &n);
        }
    }
    dr_node_release(&n);
    dr_snapshot_release(&s);
    return rc;
}
