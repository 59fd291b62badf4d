/* sorter.h: records of an id and a payload of fixed size, added in any order and read back in id
 * order, in memory of a fixed size whatever their number.
 *
 * An external merge sort: records are gathered in a buffer of DR_SORTER_RUN_BYTES, which is
 * sorted and written as one run to a scratch file when full; reading merges the runs. Each
 * record is written once and read once, in order. A pass that meets tens of millions of ids
 * with an LMDB B-tree (check's pack headers against the index, its recount against the index's
 * counts) does it in id order through a sorter, so that the B-tree is read once from end to end
 * instead of a page at a random place per id.
 *
 * With a combine function, records of equal ids are folded into one (before a run is written and
 * while merging), and each id is read back once: the tally (tally.h) sums counts so. Without
 * one, every record is read back; records of equal ids come one after another, in no set order.
 *
 * The scratch file is created in the directory given (a workset's: see dr_workset_path) and
 * unlinked at once, so nothing of it outlives the process. */
#ifndef DR_SORTER_H
#define DR_SORTER_H

#include <stddef.h>
#include <stdint.h>

#include "drrepo/id.h"

struct dr_sorter;

/* Bytes of records gathered in memory before a run is written (twice that is allocated: the
 * sort does not work in place). */
#define DR_SORTER_RUN_BYTES ((size_t)10 << 20)
/* The largest payload. */
#define DR_SORTER_PAYLOAD_MAX 32

/* Folds the payload `from` of a record into `into`, of a record with the same id. */
typedef void (*dr_sorter_combine_fn)(void *into, const void *from);

/* Creates a sorter of records with `payload` bytes (at most DR_SORTER_PAYLOAD_MAX) after the id,
 * whose scratch file is in dir and named after `what` in messages. combine may be NULL.
 * Errors: DR_EIO, DR_ENOSPC. */
DR_MUST_CHECK int dr_sorter_open(const char *dir, const char *what, size_t payload,
                                 dr_sorter_combine_fn combine, struct dr_sorter **out);
/* NULL is a no-op. */
void dr_sorter_close(struct dr_sorter *s);

/* Adds a record. DR_EUSAGE once reading has begun; DR_EIO, DR_ENOSPC from writing a run (the
 * sorter then stays failed). */
DR_MUST_CHECK int dr_sorter_add(struct dr_sorter *s, const struct dr_id *id, const void *payload);

/* Reads the records in increasing id order (dr_id_cmp): returns 1 with *id and the payload, 0
 * after the last. The first call ends the adding. Errors: DR_EIO. */
DR_MUST_CHECK int dr_sorter_next(struct dr_sorter *s, struct dr_id *id, void *payload);

/* The id of the record the next dr_sorter_next returns, without taking it: 1, or 0 after the
 * last. Errors: as dr_sorter_next. */
DR_MUST_CHECK int dr_sorter_peek(struct dr_sorter *s, struct dr_id *id);

#endif
