/* prune.c: `drrepo prune` and `drrepo forget`. Forgetting and repacking run under a shared
 * lock, beside running snapshots; deleting takes the exclusive lock (waiting up to
 * --retry-lock for running snapshots to finish). */
#include "cmd_int.h"

#include <stdlib.h>
#include <unistd.h>

#include "drrepo/drill.h"
#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/prune.h"
#include "drrepo/retention.h"
#include "drrepo/util.h"
#include "drrepo/wal.h"

/* Prints the summary to out (stdout, or stderr when stdout carries another JSON document).
 *
 * A repack that runs out of space does not stop prune: the packs that nothing references are
 * deleted all the same, since on a full disk that is what frees space (what the repack copied
 * before it stopped is indexed; what it did not copy stays where it was, and live). The
 * summary is printed, and the error is returned at the end. */
static int run_prune(struct dr_ctx *ctx, const struct dr_prune_opts *o, FILE *out)
{
    struct dr_prune_stats st;
    uint64_t wal_files = 0, wal_bytes = 0;
    char *nospace = NULL;
    int rc = dr_prune_repack(ctx->r, o, &st);
    if (rc == DR_ENOSPC && !o->dry_run) {
        nospace = dr_xstrdup(dr_error_msg());
        dr_error_clear();
        dr_log_warn("%s: the repack stops here; prune goes on to delete the packs that nothing "
                    "references",
                    nospace);
        rc = 0;
    }
    if (rc < 0) {
        return rc;
    }
    if (!o->dry_run) {
        rc = dr_cmd_lock_exclusive(ctx);
        if (rc >= 0) {
            rc = dr_prune_delete(ctx->r, o, &st);
        }
        if (rc >= 0 && dr_repo_reserve_ensure(ctx->r) < 0) {
            /* the space freed is not enough for it: the next command that locks tries again */
            dr_log_warn("the repository's reserve is not written again: %s", dr_error_msg());
            dr_error_clear();
        }
        if (rc >= 0) {
            /* drill results of forgotten snapshots go too */
            rc = dr_drill_prune(ctx->r);
            st.drills_removed = rc > 0 ? (uint64_t)rc : 0;
        }
        if (rc >= 0) {
            /* and archived WAL that no base backup left can replay */
            rc = dr_wal_prune(ctx->r, false, &wal_files, &wal_bytes);
        }
        if (rc < 0) {
            free(nospace);
            return rc;
        }
    } else {
        rc = dr_prune_delete(ctx->r, o, &st); /* dry run: cross-checks only */
        rc = rc < 0 ? rc : dr_wal_prune(ctx->r, true, &wal_files, &wal_bytes);
        if (rc < 0) {
            return rc;
        }
    }
    char total[32], del[32], rep[32], copied[32], freed[32];
    dr_size_format(st.bytes_total, total, sizeof(total));
    dr_size_format(st.bytes_delete, del, sizeof(del));
    dr_size_format(st.bytes_repack, rep, sizeof(rep));
    dr_size_format(st.bytes_copied, copied, sizeof(copied));
    dr_size_format(st.bytes_freed, freed, sizeof(freed));
    if (ctx->json) {
        struct dr_buf j = DR_BUF_INIT(1 << 20);
        struct dr_json w;
        dr_json_init(&w, &j);
        dr_json_begin_object(&w);
        dr_json_kbool(&w, "dry_run", o->dry_run);
        dr_json_ku64(&w, "packs_total", st.packs_total);
        dr_json_ku64(&w, "bytes_total", st.bytes_total);
        dr_json_ku64(&w, "packs_unused", st.packs_delete);
        dr_json_ku64(&w, "bytes_unused", st.bytes_delete);
        dr_json_ku64(&w, "packs_repack", st.packs_repack);
        dr_json_ku64(&w, "bytes_repack", st.bytes_repack);
        dr_json_ku64(&w, "blobs_repacked", st.blobs_repacked);
        dr_json_ku64(&w, "bytes_copied", st.bytes_copied);
        dr_json_ku64(&w, "packs_written", st.packs_written);
        dr_json_ku64(&w, "packs_deleted", st.packs_deleted);
        dr_json_ku64(&w, "bytes_freed", st.bytes_freed);
        dr_json_ku64(&w, "drills_removed", st.drills_removed);
        dr_json_ku64(&w, "wal_files_removed", wal_files);
        dr_json_ku64(&w, "wal_bytes_removed", wal_bytes);
        dr_json_end_object(&w);
        if (dr_json_finish(&w) >= 0) {
            fprintf(out, "%s\n", j.buf);
        }
        dr_buf_release(&j);
    } else if (!ctx->quiet) {
        fprintf(out,
                "packs: %llu (%s); %llu with no live data (%s); %llu over %.1f%% unused (%s)\n",
                (unsigned long long)st.packs_total, total, (unsigned long long)st.packs_delete, del,
                (unsigned long long)st.packs_repack, o->max_unused, rep);
        if (o->dry_run) {
            if (wal_files) {
                fprintf(out, "would remove %llu archived WAL files older than every base backup\n",
                        (unsigned long long)wal_files);
            }
            fprintf(out, "dry run: nothing was changed\n");
        } else {
            fprintf(
                out, "repacked %llu blobs (%s) into %llu new packs; deleted %llu packs, freed %s\n",
                (unsigned long long)st.blobs_repacked, copied, (unsigned long long)st.packs_written,
                (unsigned long long)st.packs_deleted, freed);
            if (wal_files) {
                char wb[32];
                dr_size_format(wal_bytes, wb, sizeof(wb));
                fprintf(out, "removed %llu archived WAL files (%s) older than every base backup\n",
                        (unsigned long long)wal_files, wb);
            }
            if (st.drills_removed) {
                fprintf(out, "removed %llu drill results of forgotten snapshots\n",
                        (unsigned long long)st.drills_removed);
            }
        }
    }
    if (nospace) {
        rc = dr_errorf(DR_ENOSPC,
                       "prune deleted %llu packs that nothing references (freed %s) but had no "
                       "space to repack: %s; run prune again",
                       (unsigned long long)st.packs_deleted, freed, nospace);
        free(nospace);
        return rc;
    }
    return 0;
}

static int parse_prune_opt(struct dr_ctx *ctx, int c, const char *arg, struct dr_prune_opts *o)
{
    char *end;
    switch (c) {
    case 'u':
        o->max_unused = strtod(arg, &end);
        if (end == arg || (*end && strcmp(end, "%") != 0) || o->max_unused < 0 ||
            o->max_unused > 100) {
            return dr_cmd_usage(ctx, "--max-unused takes a percentage from 0 to 100");
        }
        return 0;
    case 'n': o->dry_run = true; return 0;
    default: DR_BUG("prune: an option of the table is not handled");
    }
}

#define PRUNE_OPTS                                                                                 \
    {"max-unused", 0, 'u', "PERCENT", "repack packs with more than PERCENT unused (default 5)", 0, \
     NULL},                                                                                        \
    {                                                                                              \
        "dry-run", 'n', 'n', NULL, "say what would be done, change nothing", 0, NULL               \
    }

const struct dr_opt dr_cmd_prune_opts[] = {
    PRUNE_OPTS,
    DR_METRICS_FILE_OPT,
    {0},
};

int dr_cmd_prune(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_prune_opts o = {.max_unused = 5};
    const char *arg;
    int c, rc = 0;
    while (rc >= 0 && (c = dr_cmd_opt(ctx, &arg)) != 0) {
        rc = parse_prune_opt(ctx, c, arg, &o);
    }
    if (rc >= 0 && argc != 0) {
        rc = dr_cmd_usage(ctx, "unexpected argument '%s'", argv[0]);
    }
    if (rc >= 0) {
        ctx->deletes = !o.dry_run;
        rc = dr_cmd_open(ctx);
    }
    return rc < 0 ? rc : run_prune(ctx, &o, stdout);
}

/* ---- forget ------------------------------------------------------------------------------- */

struct strv {
    char **v;
    size_t n, alloc;
};

static int parse_count(struct dr_ctx *ctx, const char *name, const char *arg, uint32_t *out)
{
    uint64_t v;
    if (dr_parse_u64(arg, &v) < 0 || v > UINT32_MAX) {
        return dr_cmd_usage(ctx, "%s takes a number", name);
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_group_by(struct dr_ctx *ctx, const char *s, unsigned *out)
{
    unsigned g = 0;
    char *copy = dr_xstrdup(s);
    char *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "host") == 0) {
            g |= DR_GROUP_HOST;
        } else if (strcmp(t, "tags") == 0) {
            g |= DR_GROUP_TAGS;
        } else if (strcmp(t, "paths") == 0) {
            g |= DR_GROUP_PATHS;
        } else if (strcmp(t, "") != 0) {
            rc = dr_cmd_usage(ctx, "--group-by takes host, tags and paths, separated by commas");
        }
    }
    free(copy);
    *out = g;
    return rc;
}

static void print_line(const char *verb, const struct dr_snap_entry *e, const char *why)
{
    char sid[9], when[32];
    dr_short_id(&e->id, sid);
    dr_time_format(e->snap.time_ns, when, sizeof(when));
    printf("%-6s %s  %s  %-16s  %-24s ", verb, sid, when, e->snap.host, why);
    for (size_t p = 0; p < e->snap.npaths; p++) {
        printf("%s%s", p ? " " : "", e->snap.paths[p]);
    }
    printf("\n");
}

/* --keep-wal-within: of each PostgreSQL cluster among the snapshots considered, the newest base
 * backup that ended at or before since is kept, so that recovery to any moment after since has
 * a base backup to start from (prune keeps the WAL from the oldest base backup on). */
static void keep_wal_window(const struct dr_snap_entry *v, size_t n, const bool *considered,
                            bool *remove, unsigned *reasons, int64_t since)
{
    for (size_t i = 0; i < n; i++) {
        const char *sid = dr_snapshot_get_meta(&v[i].snap, "pg.system_identifier");
        if (!considered[i] || !sid) {
            continue;
        }
        size_t k = dr_wal_window_backup(v, n, sid, since);
        if (k < n && considered[k] && remove[k]) {
            remove[k] = false;
            reasons[k] |= DR_KEEP_WAL;
        }
    }
}

const struct dr_opt dr_cmd_forget_opts[] = {
    {"keep-last", 0, 1, "N", "keep the N latest snapshots", 0, NULL},
    {"keep-hourly", 0, 2, "N", "keep the latest snapshot of each of the last N hours", 0, NULL},
    {"keep-daily", 0, 3, "N", "keep the latest snapshot of each of the last N days", 0, NULL},
    {"keep-weekly", 0, 4, "N", "keep the latest snapshot of each of the last N weeks", 0, NULL},
    {"keep-monthly", 0, 5, "N", "keep the latest snapshot of each of the last N months", 0, NULL},
    {"keep-yearly", 0, 6, "N", "keep the latest snapshot of each of the last N years", 0, NULL},
    {"keep-within", 0, 7, "DURATION", "keep every snapshot younger than DURATION", 0, NULL},
    {"keep-tag", 0, 8, "TAG", "keep every snapshot with tag TAG", DR_OPT_REPEAT, NULL},
    {"keep-wal-within", 0, 10, "DURATION",
     "PostgreSQL: keep the base backup (and its WAL) that point-in-time recovery to any moment "
     "of the last DURATION starts from",
     0, NULL},
    {"group-by", 0, 9, "host,tags,paths", "apply the policy per group (default host,paths)", 0,
     NULL},
    DR_SELECT_OPTS,
    {"prune", 0, 'P', NULL, "prune afterwards", 0, NULL},
    PRUNE_OPTS,
    DR_METRICS_FILE_OPT,
    {0},
};

int dr_cmd_forget(struct dr_ctx *ctx, int argc, char **argv)
{
    struct dr_keep_policy pol = {0};
    struct strv keep_tags = {0};
    struct dr_prune_opts po = {.max_unused = 5};
    unsigned group_by = DR_GROUP_HOST | DR_GROUP_PATHS;
    struct dr_select sel = DR_SELECT_INIT(ctx);
    bool prune = false;
    int64_t wal_within_ns = -1;
    const char *arg;
    int c, rc = 0;
    while (rc >= 0 && (c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case 1: rc = parse_count(ctx, "--keep-last", arg, &pol.last); break;
        case 2: rc = parse_count(ctx, "--keep-hourly", arg, &pol.hourly); break;
        case 3: rc = parse_count(ctx, "--keep-daily", arg, &pol.daily); break;
        case 4: rc = parse_count(ctx, "--keep-weekly", arg, &pol.weekly); break;
        case 5: rc = parse_count(ctx, "--keep-monthly", arg, &pol.monthly); break;
        case 6: rc = parse_count(ctx, "--keep-yearly", arg, &pol.yearly); break;
        case 7: rc = dr_parse_duration(arg, &pol.within_ns); break;
        case 8:
            DR_GROW(keep_tags.v, keep_tags.alloc, keep_tags.n + 1);
            keep_tags.v[keep_tags.n++] = (char *)arg;
            break;
        case 9: rc = parse_group_by(ctx, arg, &group_by); break;
        case 10: rc = dr_parse_duration(arg, &wal_within_ns); break;
        case 'P': prune = true; break;
        default:
            if (!dr_select_opt(&sel, c, arg)) {
                rc = parse_prune_opt(ctx, c, arg, &po);
            }
            break;
        }
    }
    pol.tags = keep_tags.v;
    pol.ntags = keep_tags.n;
    char **ids = argv;
    size_t nids = (size_t)argc;
    if (rc >= 0 && nids == 0 && dr_keep_policy_empty(&pol)) {
        rc = dr_cmd_usage(ctx, "give snapshots to forget or a --keep-* policy (an empty policy "
                               "would remove everything)");
    }
    if (rc >= 0 && nids && !dr_keep_policy_empty(&pol)) {
        rc = dr_cmd_usage(ctx, "give either snapshots or a policy, not both");
    }
    if (rc >= 0) {
        ctx->deletes = !po.dry_run;
        rc = dr_cmd_open(ctx);
    }
    struct dr_snap_entry *v = NULL;
    size_t n = 0;
    if (rc >= 0) {
        rc = dr_repo_snapshot_list(ctx->r, &v, &n, NULL);
    }
    bool *remove = rc >= 0 ? dr_xcalloc(n + 1, sizeof(*remove)) : NULL;
    unsigned *reasons = rc >= 0 ? dr_xcalloc(n + 1, sizeof(*reasons)) : NULL;
    size_t *group = rc >= 0 ? dr_xcalloc(n + 1, sizeof(*group)) : NULL;
    bool *considered = rc >= 0 ? dr_xcalloc(n + 1, sizeof(*considered)) : NULL;
    if (rc >= 0 && nids) {
        for (size_t i = 0; rc >= 0 && i < nids; i++) {
            struct dr_id id;
            rc = dr_select_resolve(ctx, &sel, ids[i], &id);
            for (size_t k = 0; rc >= 0 && k < n; k++) {
                if (dr_id_eq(&v[k].id, &id)) {
                    remove[k] = considered[k] = true;
                }
            }
        }
    } else if (rc >= 0) {
        struct dr_keep_input *in = dr_xcalloc(n + 1, sizeof(*in));
        struct dr_keep_result *res = dr_xcalloc(n + 1, sizeof(*res));
        size_t *map = dr_xcalloc(n + 1, sizeof(*map));
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (!dr_select_matches(&sel, &v[i].snap)) {
                continue;
            }
            const struct dr_snapshot *s = &v[i].snap;
            in[m] =
                (struct dr_keep_input){s->time_ns, s->host, s->tags, s->ntags, s->paths, s->npaths};
            map[m++] = i;
        }
        dr_keep_apply(&pol, group_by, in, m, res);
        for (size_t k = 0; k < m; k++) {
            considered[map[k]] = true;
            reasons[map[k]] = res[k].reasons;
            remove[map[k]] = res[k].reasons == 0;
            group[map[k]] = res[k].group;
        }
        free(in);
        free(res);
        free(map);
        if (wal_within_ns >= 0) {
            keep_wal_window(v, n, considered, remove, reasons, dr_time_now_ns() - wal_within_ns);
        }
    }
    if (rc >= 0) {
        struct dr_buf j = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        struct dr_json w;
        dr_json_init(&w, &j);
        dr_json_begin_array(&w);
        size_t nrem = 0;
        for (size_t i = 0; i < n; i++) {
            if (!considered[i]) {
                continue;
            }
            char why[96];
            dr_keep_reasons(reasons[i], why, sizeof(why));
            nrem += remove[i];
            if (ctx->json) {
                dr_json_begin_object(&w);
                dr_cmd_json_ids(&w, &v[i].id);
                dr_json_ku64(&w, "group", group[i]);
                dr_json_kstring(&w, "action", remove[i] ? "remove" : "keep");
                dr_json_kstring(&w, "reasons", why);
                dr_json_end_object(&w);
            } else if (!ctx->quiet) {
                print_line(remove[i] ? "remove" : "keep", &v[i], remove[i] ? "" : why);
            }
        }
        dr_json_end_array(&w);
        if (ctx->json && dr_json_finish(&w) >= 0 && dr_buf_addch(&j, '\n') >= 0) {
            fputs(j.buf, stdout);
        }
        dr_buf_release(&j);
        if (!ctx->json && !ctx->quiet) {
            printf("%s%zu snapshot%s to remove\n", po.dry_run ? "dry run: " : "", nrem,
                   nrem == 1 ? "" : "s");
        }
        if (!po.dry_run && nrem) {
            struct dr_id *gone = dr_xcalloc(nrem, sizeof(*gone));
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (remove[i]) {
                    gone[k++] = v[i].id;
                }
            }
            rc = dr_forget(ctx->r, gone, k);
            free(gone);
        }
    }
    free(remove);
    free(reasons);
    free(group);
    free(considered);
    free(keep_tags.v);
    dr_snap_list_free(v, n);
    if (rc >= 0 && prune) {
        /* one JSON document on stdout per command: forget's list; prune's summary then goes
         * to stderr as text */
        bool json = ctx->json;
        ctx->json = false;
        rc = run_prune(ctx, &po, json ? stderr : stdout);
        ctx->json = json;
    }
    return rc;
}
