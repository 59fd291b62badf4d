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

#endif
