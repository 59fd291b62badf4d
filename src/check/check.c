/* check.c: integrity checks (see check.h).
 *
 * Working sets live in a private workset (workset.h: a set and a map in an LMDB environment of
 * the check's own), the pack headers' entries in a sorter and the recount in a tally (sorter.h,
 * tally.h: sorted runs on a scratch file), never in RAM proportional to the number of blobs;
 * only per-pack sums are kept in memory (packs are ~16 MiB each). Both meet the index in id
 * order, in one walk of it each, instead of a lookup per blob at a random place. Of the shared
 * index the check takes a read transaction, which blocks no writer, and short write transactions
 * that record when packs were verified: a `check --read-data` of hours never holds the index's one
 * writer lock, so `snapshot` and every other command keep working beside it. The check never
 * changes the repository.
 *
 * This file holds the report and runs the passes: structure.c (config, keys, layout, pack
 * headers), refs.c (the walks of the snapshots) and read_data.c (--read-data). */
#include "drrepo/check.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/layout.h"
#include "drrepo/format.h"
#include "drrepo/lock.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "drrepo/repo.h"
#include "drrepo/walk.h"

#include "check_int.h"

/* ---- report ------------------------------------------------------------------------------- */

DR_PRINTF(4, 5)
void dr_check_problem(struct dr_check_report *rep, int kind, const char *object, const char *fmt,
                      ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    DR_GROW(rep->problems, rep->aproblems, rep->nproblems + 1);
    struct dr_problem *p = &rep->problems[rep->nproblems++];
    p->kind = kind;
    p->warning = kind == DR_PROB_UNKNOWN_FILE || kind == DR_PROB_TRANSIENT;
    p->object = dr_xstrdup(object);
    p->message = dr_xstrdup(msg);
    if (!p->warning) {
        rep->ndamage++;
    }
}

void dr_check_affected(struct dr_check_report *rep, const struct dr_id *snap, const char *path,
                       const char *object)
{
    if (rep->naffected >= DR_CHECK_AFFECTED_MAX) {
        rep->affected_dropped++;
        return;
    }
    DR_GROW(rep->affected, rep->aaffected, rep->naffected + 1);
    struct dr_affected *a = &rep->affected[rep->naffected++];
    a->snapshot = *snap;
    a->path = dr_xstrdup(*path ? path : "/");
    a->object = dr_xstrdup(object);
}

void dr_check_report_release(struct dr_check_report *rep)
{
    for (size_t i = 0; i < rep->nproblems; i++) {
        free(rep->problems[i].object);
        free(rep->problems[i].message);
    }
    for (size_t i = 0; i < rep->naffected; i++) {
        free(rep->affected[i].path);
        free(rep->affected[i].object);
    }
    free(rep->problems);
    free(rep->affected);
    memset(rep, 0, sizeof(*rep));
}

/* ---- option parsing ----------------------------------------------------------------------- */

int dr_check_parse_subset(const char *s, struct dr_check_opts *o)
{
    unsigned n, m;
    char extra;
    if (sscanf(s, "%u/%u%c", &n, &m, &extra) == 2) {
        if (m == 0 || n == 0 || n > m) {
            return dr_errorf(DR_EUSAGE, "--read-data-subset '%s': N/M needs 1 <= N <= M", s);
        }
        o->subset = DR_SUBSET_PART;
        o->part_n = n;
        o->part_m = m;
        return 0;
    }
    size_t len = strlen(s);
    if (len > 1 && s[len - 1] == '%') {
        char *end;
        double p = strtod(s, &end);
        if (end != s + len - 1 || !(p > 0 && p <= 100)) {
            return dr_errorf(DR_EUSAGE, "--read-data-subset '%s': a percentage is 0 < P <= 100", s);
        }
        o->subset = DR_SUBSET_PERCENT;
        o->percent = p;
        return 0;
    }
    uint64_t size;
    if (dr_parse_size(s, &size) < 0 || size == 0) {
        dr_error_clear();
        return dr_errorf(DR_EUSAGE, "--read-data-subset '%s': use N/M, P%% or a size like 5G", s);
    }
    o->subset = DR_SUBSET_SIZE;
    o->size = size;
    return 0;
}

/* ---- the check ---------------------------------------------------------------------------- */

/* Notes that one copy of tree pack p is bad (the first reason wins). */
void dr_check_copy_bad(struct pack_sum *p, bool copy, int kind, const char *msg)
{
    char **m = copy ? &p->copy_msg : &p->orig_msg;
    if (!*m) {
        *m = dr_xstrdup(msg);
        *(copy ? &p->copy_kind : &p->orig_kind) = kind;
    }
}

static int pack_sum_cmp(const void *a, const void *b)
{
    return dr_id_cmp(&((const struct pack_sum *)a)->id, &((const struct pack_sum *)b)->id);
}

struct pack_sum *dr_check_pack_find(struct chk *c, const struct dr_id *id)
{
    if (c->npacks == 0) {
        return NULL;
    }
    if (!c->sorted) {
        qsort(c->packs, c->npacks, sizeof(*c->packs), pack_sum_cmp);
        c->sorted = true;
    }
    struct pack_sum key = {.id = *id};
    return bsearch(&key, c->packs, c->npacks, sizeof(*c->packs), pack_sum_cmp);
}

struct pack_sum *dr_check_pack_get(struct chk *c, const struct dr_id *id)
{
    struct pack_sum *p = dr_check_pack_find(c, id);
    if (p) {
        return p;
    }
    DR_GROW(c->packs, c->apacks, c->npacks + 1);
    p = &c->packs[c->npacks++];
    memset(p, 0, sizeof(*p));
    p->id = *id;
    c->sorted = false;
    return p;
}

int dr_check_run(struct dr_repo *r, const struct dr_check_opts *o, struct dr_check_report *rep)
{
    struct chk c = {.r = r, .o = o, .rep = rep};
    struct snap_ids ids = {0};
    int64_t start = dr_mono_ns();
    memset(rep, 0, sizeof(*rep));
    int rc = dr_check_config(&c);
    if (rc >= 0) {
        rc = dr_check_keys(&c);
    }
    if (rc >= 0) {
        rc = dr_backend_list(dr_repo_backend(r), "", dr_check_layout_cb, &c);
    }
    if (rc >= 0) {
        rc = dr_backend_list_names(dr_repo_backend(r), DR_OBJ_SNAPSHOTS, dr_check_snap_list_cb,
                                   &ids);
    }
    if (rc >= 0) {
        rc = dr_repo_workset_open(r, &c.ws);
    }
    if (rc >= 0) {
        rc = dr_index_begin(dr_repo_index(r), false, &c.txn);
    }
    if (rc < 0) {
        goto out;
    }
    rc = dr_index_pack_foreach(c.txn, dr_check_index_pack_cb, &c);
    if (rc >= 0) {
        rc = dr_check_headers(&c);
    }
    if (rc >= 0) {
        rc = dr_index_blob_foreach(c.txn, dr_check_index_cb, &c);
    }
    if (rc >= 0) {
        rc = dr_check_headers_rest(&c);
    }
    if (rc >= 0) {
        rc = dr_check_recount(&c, &ids);
    }
    /* with unreadable trees or snapshots the recount is incomplete: comparing it would report
     * every blob below them as a refcount error, burying the real damage */
    bool recount_complete = true;
    for (size_t i = 0; i < rep->nproblems; i++) {
        int k = rep->problems[i].kind;
        if (k == DR_PROB_TREE || k == DR_PROB_SNAPSHOT) {
            recount_complete = false;
        }
    }
    /* the recount meets the index in id order: ids the index lacks are missing blobs, found
     * even when the counts cannot be compared */
    c.recount_complete = recount_complete;
    if (rc >= 0) {
        c.tally_more = dr_tally_next(c.tally, &c.tally_id, &c.tally_sum);
        rc = c.tally_more < 0 ? c.tally_more : dr_index_blob_foreach(c.txn, dr_check_refs_cb, &c);
    }
    if (rc >= 0) {
        rc = dr_check_refs_rest(&c);
    }
    if (rc >= 0 && recount_complete) {
        rc = dr_index_pack_foreach(c.txn, dr_check_live_cb, &c);
    }
    if (rc >= 0 && o->read_data) {
        /* no read txn while packs are read: it would pin every page that other processes'
         * commits free for the hours a scrub may take. What follows reads the index again;
         * snapshots added meanwhile are not in ids, and blobs added for them are in packs
         * that c.packs does not know, so nothing below misreads them. */
        dr_index_abort(c.txn);
        c.txn = NULL;
        rc = dr_check_read_data(&c);
        if (rc >= 0) {
            rc = dr_index_begin(dr_repo_index(r), false, &c.txn);
        }
    }
    if (rc >= 0) {
        dr_check_note_copy_damage(&c);
        dr_check_report_copies(&c, recount_complete);
        rc = dr_index_blob_foreach(c.txn, dr_check_damaged_pack_blobs_cb, &c);
    }
    if (rc >= 0 && rep->ndamage) {
        rc = dr_check_walk_snapshots(&c, &ids);
    }
    if (rc >= 0) {
        rc = dr_check_wal(&c);
    }
    dr_index_abort(c.txn);
out:
    /* before the workset: their files are in the workset's directory */
    dr_sorter_close(c.hdrs);
    dr_tally_close(c.tally);
    dr_workset_close(c.ws);
    rep->st.duration_ns = dr_mono_ns() - start;
    for (size_t i = 0; i < c.npacks; i++) {
        free(c.packs[i].orig_msg);
        free(c.packs[i].copy_msg);
    }
    free(c.packs);
    free(ids.v);
    return rc;
}
