/* dump.c: `drrepo dump SNAP PATH` writes one file of a snapshot to stdout, verified chunk by
 * chunk, so that `drrepo dump latest db.sql | psql` works. A directory is written as a tar
 * stream (`drrepo dump latest /etc | tar -x -C out`), for partial restores where FUSE is not
 * available. */
#include "cmd_int.h"

#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/restore.h"
#include "drrepo/tarwrite.h"

const struct dr_opt dr_cmd_dump_opts[] = {
    DR_SELECT_OPTS,
    {0},
};

int dr_cmd_dump(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_select sel = DR_SELECT_INIT(ctx);
    const char *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        if (!dr_select_opt(&sel, c, arg)) {
            DR_BUG("dump: an option of the table is not handled");
        }
    }
    if (argc != 2) {
        return dr_cmd_usage(ctx, "dump takes a snapshot and a path");
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct dr_id id;
    struct dr_snapshot s;
    struct dr_node n;
    dr_snapshot_init(&s);
    memset(&n, 0, sizeof(n));
    rc = dr_select_resolve(ctx, &sel, argv[0], &id);
    if (rc >= 0) {
        rc = dr_repo_snapshot_load(ctx->r, &id, &s);
    }
    if (rc >= 0) {
        rc = dr_repo_find_node(ctx->r, &s, argv[1], &n);
    }
    if (rc >= 0 && n.type == DR_NODE_DIR && isatty(STDOUT_FILENO)) {
        rc = dr_errorf(DR_EUSAGE,
                       "'%s' is a directory and would be written to the terminal as a tar "
                       "stream; redirect it ('> out.tar') or pipe it ('| tar -x -C DIR')",
                       argv[1]);
    }
    struct dr_read_stats reads = {0};
    if (rc >= 0) {
        fflush(stdout);
        struct dr_tar_stats ts = {0};
        rc = n.type == DR_NODE_DIR
                 ? dr_tar_write_dir(ctx->r, &n, STDOUT_FILENO, &ts)
                 : dr_restore_file_to_fd(ctx->r, &n, STDOUT_FILENO, argv[1], &reads);
        if (n.type == DR_NODE_DIR) {
            reads = ts.reads;
        }
        /* -v: what the reads cost the backend (read amplification, a request bill) */
        dr_log_detail("read %llu chunks with %llu requests: %llu bytes fetched, %llu used",
                      (unsigned long long)(reads.blobs + reads.errors),
                      (unsigned long long)reads.gets, (unsigned long long)reads.bytes_fetched,
                      (unsigned long long)reads.bytes_used);
    }
    dr_node_release(&n);
    dr_snapshot_release(&s);
    return rc;
}
