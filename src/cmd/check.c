/* check.c: `drrepo check`: proves that every snapshot is restorable, and says in user terms what
 * is not: the damaged objects, and the snapshots and paths they affect. Exit 0 clean, 4 damage
 * found, 1 (or 11 when locked) when the check itself could not run. */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/check.h"
#include "drrepo/error.h"
#include "drrepo/util.h"

static const char *kind_name(int kind)
{
    switch (kind) {
    case DR_PROB_INDEX: return "index";
    case DR_PROB_KEYFILE: return "key-file";
    case DR_PROB_SNAPSHOT: return "snapshot";
    case DR_PROB_TREE: return "tree";
    case DR_PROB_BLOB_MISSING: return "blob-missing";
    case DR_PROB_PACK_MISSING: return "pack-missing";
    case DR_PROB_PACK_SIZE: return "pack-size";
    case DR_PROB_PACK_HEADER: return "pack-header";
    case DR_PROB_PACK_HASH: return "pack-hash";
    case DR_PROB_BLOB_DAMAGED: return "blob-damaged";
    case DR_PROB_REFCOUNT: return "refcount";
    case DR_PROB_UNKNOWN_FILE: return "unknown-file";
    case DR_PROB_TRANSIENT: return "transient";
    case DR_PROB_CONFIG: return "config";
    case DR_PROB_WAL: return "wal";
    default: return "other";
    }
}

/* The --json report of a check that found damage before it could start. */
static void print_damage_json(const char *kind, const char *object, const char *msg)
{
    struct dr_buf j = DR_BUF_INIT(8192);
    struct dr_json w;
    dr_json_init(&w, &j);
    dr_json_begin_object(&w);
    dr_json_kbool(&w, "ok", false);
    dr_json_ku64(&w, "damage", 1);
    dr_json_key(&w, "problems");
    dr_json_begin_array(&w);
    dr_json_begin_object(&w);
    dr_json_kstring(&w, "kind", kind);
    dr_json_kbool(&w, "warning", false);
    dr_json_kstring(&w, "object", object);
    dr_json_kstring(&w, "message", msg);
    dr_json_end_object(&w);
    dr_json_end_array(&w);
    dr_json_key(&w, "affected");
    dr_json_begin_array(&w);
    dr_json_end_array(&w);
    dr_json_end_object(&w);
    if (dr_json_finish(&w) >= 0 && dr_buf_addch(&j, '\n') >= 0) {
        fputs(j.buf, stdout);
    }
    dr_buf_release(&j);
}

static int print_json(const struct dr_check_report *rep, bool read_data)
{
    struct dr_buf j = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    const struct dr_check_stats *s = &rep->st;
    struct dr_json w;
    dr_json_init(&w, &j);
    dr_json_begin_object(&w);
    dr_json_kbool(&w, "ok", rep->ndamage == 0);
    dr_json_ku64(&w, "damage", rep->ndamage);
    dr_json_kbool(&w, "read_data", read_data);
    dr_json_key(&w, "problems");
    dr_json_begin_array(&w);
    for (size_t i = 0; i < rep->nproblems; i++) {
        const struct dr_problem *p = &rep->problems[i];
        dr_json_begin_object(&w);
        dr_json_kstring(&w, "kind", kind_name(p->kind));
        dr_json_kbool(&w, "warning", p->warning);
        dr_json_kstring(&w, "object", p->object);
        dr_json_kstring(&w, "message", p->message);
        dr_json_end_object(&w);
    }
    dr_json_end_array(&w);
    dr_json_key(&w, "affected");
    dr_json_begin_array(&w);
    for (size_t i = 0; i < rep->naffected; i++) {
        const struct dr_affected *a = &rep->affected[i];
        char hex[DR_ID_HEX_LEN + 1];
        dr_json_begin_object(&w);
        dr_cmd_json_ids(&w, &a->snapshot);
        /* the name before ids were "id" everywhere: documented, and scripts read it */
        dr_json_kstring(&w, "snapshot", dr_id_hex(&a->snapshot, hex));
        dr_json_kname(&w, "path", a->path);
        dr_json_kstring(&w, "object", a->object);
        dr_json_end_object(&w);
    }
    dr_json_end_array(&w);
    dr_json_ku64(&w, "affected_not_listed", rep->affected_dropped);
    dr_json_key(&w, "stats");
    dr_json_begin_object(&w);
    dr_json_ku64(&w, "snapshots", s->snapshots);
    dr_json_ku64(&w, "trees", s->trees);
    dr_json_ku64(&w, "blobs", s->blobs);
    dr_json_ku64(&w, "packs", s->packs);
    dr_json_ku64(&w, "keys", s->keys);
    dr_json_ku64(&w, "packs_read", s->packs_read);
    dr_json_ku64(&w, "bytes_read", s->bytes_read);
    dr_json_ku64(&w, "gets", s->gets);
    dr_json_ku64(&w, "bytes_fetched", s->bytes_fetched);
    dr_json_ku64(&w, "unreferenced_packs", s->unreferenced_packs);
    dr_json_ku64(&w, "unreferenced_blobs", s->unreferenced_blobs);
    dr_json_ku64(&w, "unreferenced_bytes", s->unreferenced_bytes);
    dr_json_kfixed(&w, "duration_seconds", (double)s->duration_ns / 1e9, 3);
    dr_json_end_object(&w);
    dr_json_end_object(&w);
    int rc = dr_json_finish(&w);
    rc = rc < 0 ? rc : dr_buf_addch(&j, '\n');
    if (rc >= 0) {
        fputs(j.buf, stdout);
    }
    dr_buf_release(&j);
    return rc;
}

static void print_text(const struct dr_check_report *rep, bool read_data, bool quiet)
{
    for (size_t i = 0; i < rep->nproblems; i++) {
        const struct dr_problem *p = &rep->problems[i];
        fprintf(stderr, "%s: %s: %s: %s\n", p->warning ? "warning" : "damage", kind_name(p->kind),
                p->object, p->message);
    }
    for (size_t i = 0; i < rep->naffected; i++) {
        const struct dr_affected *a = &rep->affected[i];
        char sid[9];
        dr_short_id(&a->snapshot, sid);
        fprintf(stderr, "affected: snapshot %s: %s (%s)\n", sid, a->path, a->object);
    }
    if (rep->affected_dropped) {
        fprintf(stderr, "affected: ... and %llu more paths (use --json for the list)\n",
                (unsigned long long)rep->affected_dropped);
    }
    if (quiet) {
        return;
    }
    const struct dr_check_stats *s = &rep->st;
    char rd[32], unref[32];
    dr_size_format(s->bytes_read, rd, sizeof(rd));
    dr_size_format(s->unreferenced_bytes, unref, sizeof(unref));
    printf("checked %llu snapshots, %llu trees, %llu blobs, %llu packs, %llu keys",
           (unsigned long long)s->snapshots, (unsigned long long)s->trees,
           (unsigned long long)s->blobs, (unsigned long long)s->packs, (unsigned long long)s->keys);
    if (read_data) {
        printf("; read %llu packs (%s)", (unsigned long long)s->packs_read, rd);
    }
    printf(" in %.1fs\n", (double)s->duration_ns / 1e9);
    if (s->unreferenced_blobs) {
        printf("%llu blobs (%s) in %llu packs are not referenced by any snapshot; 'drrepo "
               "prune' removes them\n",
               (unsigned long long)s->unreferenced_blobs, unref,
               (unsigned long long)s->unreferenced_packs);
    }
    if (rep->ndamage == 0) {
        printf("no errors were found\n");
    }
}

/* The repository could not be opened because something is damaged: the config or every key
 * file (with no intact copy), or the local index. That is damage found, not a failed check:
 * one damage line naming the object, exit 4, and the error says what recovers it. */
static int open_damage(struct dr_ctx *ctx)
{
    const struct dr_open_failure *f = &ctx->open_failure;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", dr_error_msg());
    int kind = f->stage == DR_OPEN_CONFIG ? DR_PROB_CONFIG
               : f->stage == DR_OPEN_KEYS ? DR_PROB_KEYFILE
                                          : DR_PROB_INDEX;
    const char *object = kind == DR_PROB_INDEX ? "local index" : f->object;
    fprintf(stderr, "damage: %s: %s: %s\n", kind_name(kind), object, msg);
    if (ctx->json) {
        print_damage_json(kind_name(kind), object, msg);
    }
    if (kind == DR_PROB_INDEX) {
        return dr_errorf(DR_EDAMAGED, "the local index is damaged; run 'drrepo repair index'");
    }
    /* the message already says what recovers it: with no intact copy, a backup */
    if (kind == DR_PROB_KEYFILE && strcmp(object, DR_OBJ_KEYS) == 0) {
        return dr_errorf(DR_EDAMAGED, "the repository cannot be opened: every key file is "
                                      "damaged");
    }
    return dr_errorf(DR_EDAMAGED, "the repository cannot be opened: %s '%s' is damaged",
                     kind == DR_PROB_CONFIG ? "the config" : "key file", object);
}

const struct dr_opt dr_cmd_check_opts[] = {
    {"read-data", 0, 'd', NULL, "also read and verify every pack's data", 0, NULL},
    {"read-data-subset", 0, 's', "N/M|P%|SIZE", "read this part of the data (implies --read-data)",
     0, NULL},
    {"read-data-max-age", 0, 'a', "DURATION",
     "read the packs not verified within DURATION (implies --read-data)", 0, NULL},
    {"seed", 0, 'S', "N", "the random choice of a percentage or size subset", 0, NULL},
    DR_METRICS_FILE_OPT,
    {0},
};

int dr_cmd_check(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_check_opts o = {0};
    const char *arg;
    int c, rc = 0;
    while (rc >= 0 && (c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case 'd': o.read_data = true; break;
        case 's':
            o.read_data = true;
            rc = dr_check_parse_subset(arg, &o);
            break;
        case 'a':
            o.read_data = true;
            rc = dr_parse_duration(arg, &o.max_age_ns);
            break;
        case 'S': rc = dr_parse_u64(arg, &o.seed); break;
        default: DR_BUG("check: an option of the table is not handled");
        }
    }
    if (rc >= 0 && argc != 0) {
        rc = dr_cmd_usage(ctx, "unexpected argument '%s'", argv[0]);
    }
    if (rc < 0) {
        return rc;
    }
    rc = dr_cmd_open(ctx);
    if (rc == DR_EINDEX) {
        /* the local index cannot be read: that is damage (of the cache), not a failed check */
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", dr_error_msg());
        fprintf(stderr, "damage: index: %s\n", msg);
        if (ctx->json) {
            print_damage_json("index", "local index", msg);
        }
        return dr_errorf(DR_EDAMAGED, "the local index is damaged; the next command rebuilds it "
                                      "from the repository, or run 'drrepo repair index' now");
    }
    if (rc == DR_ECORRUPT) {
        return open_damage(ctx);
    }
    if (rc < 0) {
        return rc;
    }
    if (ctx->progress && o.read_data) {
        o.progress = dr_cmd_progress;
        o.progress_arg = "check";
    }
    struct dr_check_report rep;
    rc = dr_check_run(ctx->r, &o, &rep);
    if (rc >= 0) {
        ctx->metrics.check = true;
        ctx->metrics.check_errors = rep.ndamage;
        if (ctx->json) {
            rc = print_json(&rep, o.read_data);
        } else {
            print_text(&rep, o.read_data, ctx->quiet);
        }
    }
    if (rc >= 0 && rep.ndamage) {
        rc = dr_errorf(DR_EDAMAGED, "%zu problems found (see above)", rep.ndamage);
    }
    dr_check_report_release(&rep);
    return rc;
}
