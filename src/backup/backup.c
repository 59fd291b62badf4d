/* backup.c: the backup engine's run (see backup.h) and the sink that sources build through.
 *
 * Trees are built bottom-up by the source, one directory at a time: file contents are chunked
 * and handed to the write pipeline, and a directory's tree blob is encoded and stored once the
 * pipeline has produced every chunk id it holds (trees.c), while the walk goes on. An unchanged
 * directory yields the same tree blob, which the pipeline deduplicates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_int.h"
#include "drrepo/error.h"
#include "drrepo/identity.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

#define READ_SIZE (1u << 20)

/* Loads the parent snapshot's tree for a directory; an unreadable one is simply not used. */
static void load_parent_tree(struct dr_backup *b, const struct dr_id *id, struct dr_tree *out)
{
    dr_tree_init(out);
    if (id && dr_repo_tree_load(b->r, b->rtxn, id, out) < 0) {
        dr_log_detail("parent tree unusable: %s", dr_error_msg());
        dr_error_clear();
        dr_tree_release(out);
        dr_tree_init(out);
    }
}

struct parent_ctx {
    struct dr_id origin; /* of the new snapshot */
    bool found;
    struct dr_id id;
    struct dr_index_snap rec;
};

static int parent_cb(void *arg, const struct dr_id *id, const struct dr_index_snap *rec)
{
    struct parent_ctx *pc = arg;
    /* the newest, ties broken by id as the snapshot list orders them */
    if (dr_id_eq(&rec->origin, &pc->origin) &&
        (!pc->found || rec->time_ns > pc->rec.time_ns ||
         (rec->time_ns == pc->rec.time_ns && dr_id_cmp(id, &pc->id) > 0))) {
        pc->found = true;
        pc->id = *id;
        pc->rec = *rec;
    }
    return 0;
}

/* The parent: the newest snapshot of the same host and paths. Its tree serves as a second
 * files cache (see files_cache_hit). It is found through the index's snapshot records, which
 * keep each snapshot's origin (host and paths), time and tree, and which the open brought in
 * step with the repository: one pass over small records instead of reading and decrypting
 * every snapshot object, a cost that grew with the repository's snapshots. */
static bool find_parent(struct dr_backup *b, struct dr_snapshot *s, struct dr_id *out_tree)
{
    struct parent_ctx pc = {.found = false};
    dr_snapshot_origin(s, &pc.origin);
    if (dr_index_snap_foreach(b->rtxn, parent_cb, &pc) < 0) {
        /* a parent only saves reading: without one every file is read */
        dr_log_detail("no parent snapshot: %s", dr_error_msg());
        dr_error_clear();
        return false;
    }
    if (pc.found) {
        s->parent = pc.id;
        s->has_parent = true;
        *out_tree = pc.rec.tree;
        b->parent_time_ns = pc.rec.time_ns;
    }
    return pc.found;
}

/* The sink that sources build through (struct dr_source_sink). */
static int sink_add_file(void *arg, dr_stream_read_fn rd, void *rdarg, const struct dr_node *pnode,
                         const char *what, uint32_t block, struct dr_node *n)
{
    struct dr_backup *b = arg;
    b->prog.files++;
    /* the size the source expects (0: unknown) sizes the chunk list */
    int64_t got =
        dr_backup_chunk_stream(b, rd, rdarg, n, pnode, n->size, block, what ? what : n->name);
    if (got < 0) {
        return (int)got;
    }
    b->sum.files_new++;
    b->sum.bytes_total += n->size;
    return 0;
}

static int sink_read_file(void *arg, int dirfd, const char *rel, const char *path,
                          const struct stat *st, const struct dr_node *pnode, struct dr_node *n)
{
    return dr_backup_read_file(arg, dirfd, rel, path, st, pnode, n);
}

static int sink_put_tree(void *arg, struct dr_tree *t, struct dr_tree *pt, struct dr_id *out)
{
    return dr_backup_put_tree(arg, t, pt, out);
}

static bool sink_parent(void *arg, struct dr_snapshot *s, struct dr_id *out_tree)
{
    return find_parent(arg, s, out_tree);
}

static void sink_load_tree(void *arg, const struct dr_id *id, struct dr_tree *out)
{
    load_parent_tree(arg, id, out);
}

static void sink_dir(void *arg)
{
    struct dr_backup *b = arg;
    b->sum.dirs++;
    b->prog.dirs++;
}

static void sink_input_error(void *arg)
{
    struct dr_backup *b = arg;
    b->sum.errors++;
    b->prog.errors++;
}

static void sink_scanned(void *arg, uint64_t bytes)
{
    struct dr_backup *b = arg;
    __atomic_add_fetch(&b->scan_total, bytes, __ATOMIC_RELAXED);
}

int dr_backup_run(struct dr_repo *r, const struct dr_source *src, const struct dr_backup_opts *o,
                  struct dr_id *out_id, struct dr_snapshot *out_snap)
{
    struct dr_backup b = {.r = r, .o = o};
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    b.start_ns = dr_mono_ns();
    b.last_progress_ns = b.start_ns;
    b.start_wall = o->time_ns ? o->time_ns : dr_time_now_ns();
    dr_chunker_init(&b.ch, &dr_repo_config(r)->chunker, dr_repo_keys(r)->chunker_key);
    dr_rdbstore_hash_key(dr_repo_keys(r)->chunker_key, b.rdb_key);
    b.bufsize = dr_repo_config(r)->chunker.max + READ_SIZE;
    dr_backup_blocks_init(&b);
    dr_backup_trees_init(&b);
    b.spool = tmpfile();
    int rc = o->dry_run ? dr_pipeline_open_dry_run(r, &b.w) : dr_pipeline_open(r, &b.w);
    if (rc < 0) {
        goto out;
    }
    rc = dr_index_begin(dr_repo_index(r), false, &b.rtxn);
    if (rc < 0) {
        goto out;
    }
    char host[256], user[256];
    if (o->host) {
        snprintf(host, sizeof(host), "%s", o->host);
    } else {
        dr_identity_host(host, sizeof(host), "unknown");
    }
    host[sizeof(host) - 1] = '\0';
    dr_identity_user(user, sizeof(user), "");
    s.time_ns = b.start_wall;
    s.host = dr_xstrdup(host);
    s.user = dr_xstrdup(user);
    for (size_t i = 0; i < o->ntags; i++) {
        dr_snapshot_add_tag(&s, o->tags[i]);
    }
    s.source = dr_xstrdup(src->kind);
    struct dr_source_sink sink = {
        .add_file = sink_add_file,
        .read_file = sink_read_file,
        .put_tree = sink_put_tree,
        .parent = sink_parent,
        .load_tree = sink_load_tree,
        .dir = sink_dir,
        .input_error = sink_input_error,
        .scanned = sink_scanned,
        .want_total = o->progress != NULL,
        .arg = &b,
    };
    rc = src->build(src->arg, &sink, &s);
    if (rc < 0) {
        goto out;
    }
    if (b.rdb_files) {
        char v[32];
        snprintf(v, sizeof(v), "%llu", (unsigned long long)b.rdb_files);
        dr_snapshot_add_meta(&s, "rdb.records", v);
    }
    if (b.rdb_fallback) {
        char *v = dr_xasprintf("%llu file(s) stored as plain chunks; first %s",
                               (unsigned long long)b.rdb_fallback, b.rdb_note);
        dr_snapshot_add_meta(&s, "rdb.fallback", v);
        free(v);
    }
    struct dr_pipeline_stats ws;
    rc = dr_pipeline_flush(b.w);
    if (rc >= 0) {
        rc = dr_backup_resolve(&b, &s.tree); /* every tree is stored now */
    }
    if (rc < 0) {
        goto out;
    }
    dr_pipeline_get_stats(b.w, &ws);
    b.sum.bytes_added = ws.bytes_added;
    b.sum.blobs_added = ws.blobs_added;
    b.sum.duration_ns = dr_mono_ns() - b.start_ns;
    s.summary = b.sum;
    if (o->dry_run) {
        memset(out_id, 0, sizeof(*out_id));
    } else {
        rc = dr_pipeline_commit(b.w, &s, out_id);
        if (rc < 0) {
            goto out;
        }
    }
    dr_index_abort(b.rtxn);
    b.rtxn = NULL;
    if (!o->dry_run) {
        dr_backup_spool_apply(&b);
    }
    dr_backup_progress(&b, NULL, true);
    *out_snap = s;
    dr_snapshot_init(&s);
    rc = b.sum.errors ? dr_errorf(DR_EPARTIAL,
                                  "%llu inputs could not be read; the snapshot "
                                  "leaves them out",
                                  (unsigned long long)b.sum.errors)
                      : 0;
out:
    dr_index_abort(b.rtxn);
    dr_pipeline_free(b.w);
    if (b.spool) {
        fclose(b.spool);
    }
    for (size_t i = 0; i < b.nlinks; i++) {
        free(b.links[i].chunks);
        free(b.links[i].sizes);
    }
    free(b.links);
    dr_inomap_release(&b.linkmap);
    dr_backup_blocks_free(&b); /* after the pipeline, which released its slices */
    dr_backup_trees_free(&b);
    free(b.rdb_note);
    dr_snapshot_release(&s);
    return rc;
}
