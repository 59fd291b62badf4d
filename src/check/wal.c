/* wal.c: the check of archived PostgreSQL WAL (format/wal.md "Continuity").
 *
 * Recovery replays segments one after another: a missing segment ends every recovery from a
 * base backup before it. WAL before the oldest base backup of a cluster is never replayed (and
 * forget removes it), so a gap counts only after the end of that cluster's oldest base backup
 * on the timeline; a cluster without a base backup is checked over its whole archive. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/wal.h"

#include "check_int.h"

/* The oldest end segment of a base backup of cluster a on timeline tli, or UINT64_MAX when there
 * is none. */
static uint64_t oldest_backup(const struct dr_wal_archive *a, uint32_t tli,
                              const struct dr_snap_entry *snaps, size_t n)
{
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t sysid, segno;
        uint32_t t;
        if (dr_wal_backup_start(&snaps[i].snap, a->seg_size, &sysid, &t, &segno) < 0) {
            dr_error_clear(); /* not a base backup */
            continue;
        }
        if (sysid == a->sysid && t == tli && segno < best) {
            best = segno;
        }
    }
    return best;
}

static void report_gaps(struct chk *c, const struct dr_wal_archive *a,
                        const struct dr_snap_entry *snaps, size_t n)
{
    for (size_t k = 0; k + 1 < a->nranges; k++) {
        const struct dr_wal_range *g = &a->ranges[k], *next = &a->ranges[k + 1];
        if (next->tli != g->tli) {
            continue;
        }
        uint64_t from = oldest_backup(a, g->tli, snaps, n);
        if (from != UINT64_MAX && next->first <= from) {
            continue; /* before the oldest base backup: never replayed */
        }
        char first[DR_WAL_FILE_NAME_MAX], last[DR_WAL_FILE_NAME_MAX];
        dr_wal_segment_name(g->tli, g->last + 1, a->seg_size, first);
        dr_wal_segment_name(g->tli, next->first - 1, a->seg_size, last);
        char obj[64];
        snprintf(obj, sizeof(obj), "wal/%016" PRIx64, a->sysid);
        dr_check_problem(c->rep, DR_PROB_WAL, obj,
                         "WAL of cluster %" PRIu64 " has a gap: %s to %s (%" PRIu64
                         " segments) missing; recovery from a base backup before it stops at "
                         "the gap",
                         a->sysid, first, last, next->first - g->last - 1);
    }
}

/* --read-data: every archived file is fetched, authenticated and decoded. */
static int read_files(struct chk *c, const struct dr_wal_archive *a)
{
    struct dr_buf file = DR_BUF_INIT(DR_WAL_FILE_MAX);
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < a->n; i++) {
        char *obj = dr_wal_object_name(a->sysid, &a->v[i].f);
        dr_buf_setlen(&file, 0);
        rc = dr_wal_read(c->r, obj, &file);
        if (rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED || rc == DR_ENOENT) {
            dr_check_problem(c->rep, DR_PROB_WAL, obj, "%s", dr_error_msg());
            dr_error_clear();
            rc = 0;
        }
        free(obj);
    }
    dr_buf_release(&file);
    return rc;
}

int dr_check_wal(struct chk *c)
{
    struct dr_wal_archive *a = NULL;
    size_t na = 0;
    int rc = dr_wal_list(c->r, 0, &a, &na);
    if (rc == DR_ECORRUPT) {
        /* a segment whose header cannot be read: its cluster cannot be numbered */
        dr_check_problem(c->rep, DR_PROB_WAL, "wal", "%s", dr_error_msg());
        dr_error_clear();
        return 0;
    }
    if (rc < 0 || na == 0) {
        return rc;
    }
    struct dr_snap_entry *snaps = NULL;
    size_t n = 0;
    rc = dr_repo_snapshot_list(c->r, &snaps, &n, NULL);
    for (size_t i = 0; rc >= 0 && i < na; i++) {
        report_gaps(c, &a[i], snaps, n);
        if (c->o->read_data) {
            rc = read_files(c, &a[i]);
        }
    }
    dr_snap_list_free(snaps, n);
    dr_wal_archives_free(a, na);
    return rc;
}
