/* drill_int.h: what the parts of the drill engine share (drill.c: the runner; drill_redis.c: the
 * Redis check; drill_pg.c: the PostgreSQL check; record.c: the stored results). Private to
 * src/drill/. */
#ifndef DR_DRILL_INT_H
#define DR_DRILL_INT_H

#include <stdint.h>

#include "drrepo/drill.h"
#include "drrepo/snapshot.h"

/* Marks the drill failed with a reason; the first reason given is the one kept. */
void drill_fail(struct dr_drill_result *res, const char *fmt, ...) DR_PRINTF(2, 3);
/* Appends to what the drill checked ("; "-separated). */
void drill_checked(struct dr_drill_result *res, const char *fmt, ...) DR_PRINTF(2, 3);

/* Starts redis-server on the RDB restored into datadir (scratch files in tmp), waits until it
 * answers, compares the keys per database with s's metadata and stops it. out_start_ns gets the
 * time until it answered. Returns an error only when the drill could not run. */
int drill_redis(const struct dr_snapshot *s, const char *tmp, const char *datadir,
                struct dr_drill_result *res, int64_t *out_start_ns);

/* A point-in-time drill's WAL (drill_wal.c): checks the archive's chain from the base backup s
 * to o->pg_target (a gap fails the drill, as does a gap before the end of the archive for
 * "latest"), fetches every archived file recovery may ask for into tmp/wal (authenticated and
 * decoded, readable by the server's user), and writes the recovery settings into datadir with a
 * restore_command that copies from there. Returns an error only when the drill could not run;
 * res says why it failed otherwise. */
int drill_stage_wal(struct dr_repo *r, const struct dr_snapshot *s, const struct dr_drill_opts *o,
                    const char *tmp, const char *datadir, struct dr_drill_result *res);

#endif
