/* tally.h: counts per id, added in any order and read back summed in id order, in memory of a
 * fixed size whatever their number.
 *
 * Why not a workset map (workset.h): adding to a counter kept in a B-tree keyed by id reads and
 * rewrites a page at a random place for every addition; once the tree outgrows the caches, each
 * addition costs a page write, and a check's recount makes tens of millions of them. A tally
 * appends: it is a sorter (sorter.h) of ids with a count, equal ids summed, so the disk it takes
 * is 40 bytes per addition at most, written once and read once, in order.
 *
 * The scratch file is created in the directory given (a workset's: see dr_workset_path) and
 * unlinked at once, so nothing of it outlives the process. */
#ifndef DR_TALLY_H
#define DR_TALLY_H

#include <stdint.h>

#include "drrepo/id.h"

struct dr_tally;

/* Records per run (40 bytes each, in memory and on disk): a sorter's run. */
#define DR_TALLY_RUN (1u << 18)

/* Creates a tally whose scratch file is in dir. Errors: DR_EIO, DR_ENOSPC. */
DR_MUST_CHECK int dr_tally_open(const char *dir, struct dr_tally **out);
/* NULL is a no-op. */
void dr_tally_close(struct dr_tally *t);

/* Adds n to id's count. DR_EUSAGE once reading has begun; DR_EIO, DR_ENOSPC from writing a run
 * (the tally then stays failed). */
DR_MUST_CHECK int dr_tally_add(struct dr_tally *t, const struct dr_id *id, uint64_t n);

/* Reads the counts in increasing id order (dr_id_cmp), each id once with the sum of what was
 * added to it: returns 1 with *id and *sum, 0 after the last. The first call ends the adding.
 * Errors: DR_EIO. */
DR_MUST_CHECK int dr_tally_next(struct dr_tally *t, struct dr_id *id, uint64_t *sum);

#endif
