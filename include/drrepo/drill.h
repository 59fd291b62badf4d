/* drill.h: restore drills: prove that a snapshot restores and works, and record the result.
 *
 * A drill restores the snapshot into a temporary directory and checks it according to its
 * source: PostgreSQL (start a scratch server, count rows, run --check-sql), Redis (start a
 * scratch redis-server, compare keys per database), streams and file trees (verify every byte
 * against its chunk ids; --restore-command runs the user's own check). The result is stored in
 * the repository as a drill object beside the snapshot (format/drill.md). */
#ifndef DR_DRILL_H
#define DR_DRILL_H

#include "drrepo/drillrec.h"
#include "drrepo/repo.h"
#include "drrepo/wal.h"

struct dr_drill_opts {
    const char *check_sql;  /* PostgreSQL: a file of SQL run against the restored server */
    const char *check_db;   /* the database check_sql runs in (NULL: the snapshot's pg.dbname) */
    char **restore_command; /* argv run with DRREPO_DRILL_DIR set to the restored files */
    const char *tmpdir;     /* where to restore (default $TMPDIR or /tmp) */
    /* PostgreSQL: recover to this target from the archived WAL (a point-in-time drill), NULL
     * for the base backup alone */
    const struct dr_wal_target *pg_target;
};

/* Runs a drill of snapshot id (dispatching on its source) and stores the result. Returns 0 when
 * the drill ran (pass or fail: see res->ok), or an error when it could not run at all. */
DR_MUST_CHECK int dr_drill_run(struct dr_repo *r, const struct dr_id *id,
                               const struct dr_drill_opts *o, struct dr_drill_result *res);

/* Refuses, before anything is restored, options that cannot apply to snapshot s: --check-sql
 * or --check-db on a snapshot that is not a PostgreSQL base backup, and a --check-db that names
 * no database the snapshot recorded (DR_EUSAGE); for a PostgreSQL snapshot, a temporary
 * directory whose name is too long for the scratch server's socket (DR_ESOURCE). */
DR_MUST_CHECK int dr_drill_pg_check_opts(const struct dr_snapshot *s,
                                         const struct dr_drill_opts *o);

/* The PostgreSQL part (src/drill/drill_pg.c): dir holds the restored data directory. Fills res
 * (ok, checked, reason, rto_ns). Returns an error only when the drill could not run. */
DR_MUST_CHECK int dr_drill_pg(struct dr_repo *r, const struct dr_snapshot *s, const char *dir,
                              const struct dr_drill_opts *o, struct dr_drill_result *res);

/* Stored results. */
DR_MUST_CHECK int dr_drill_save(struct dr_repo *r, const struct dr_drill_result *res);
typedef int (*dr_drill_cb)(void *arg, const struct dr_drill_result *res);
/* Calls cb for every stored drill result (of snapshot id, or all when id is NULL), oldest
 * first. */
DR_MUST_CHECK int dr_drill_list(struct dr_repo *r, const struct dr_id *id, dr_drill_cb cb,
                                void *arg);

/* Every stored drill result, oldest first, copied out of the listing (dr_drill_results_load):
 * for commands that match results to snapshots. */
struct dr_drill_results {
    struct dr_drill_result *v;
    size_t n, alloc;
};
DR_MUST_CHECK int dr_drill_results_load(struct dr_repo *r, struct dr_drill_results *out);
void dr_drill_results_release(struct dr_drill_results *d);

/* Copies the drill results of snapshot src_id of src into dst as results of dst_id (the
 * snapshot's copy there: `drrepo copy`), sealed under dst's key. A result the target already
 * holds for dst_id (same start time and outcome: an earlier copy) is not stored again. The
 * copies are recorded as run on this host (the original's host is not decoded). Returns the
 * number stored. Errors: listing and storing errors. */
DR_MUST_CHECK int dr_drill_copy(struct dr_repo *src, const struct dr_id *src_id,
                                struct dr_repo *dst, const struct dr_id *dst_id);

/* Deletes the stored drill results whose snapshot no longer exists (forgotten); prune calls it
 * under the exclusive lock. Returns the number removed. Unreadable results are left for check
 * to report. */
DR_MUST_CHECK int dr_drill_prune(struct dr_repo *r);

#endif
