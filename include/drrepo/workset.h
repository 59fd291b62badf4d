/* workset.h: a private working set for one piece of work (check, prune, reference counting):
 * a set of ids and a map id -> small value, kept in an LMDB environment of its own, so that
 * neither RAM nor the shared index's write lock grows with the repository.
 *
 * Why not the shared index: the index (index.h) is shared by every drrepo process on the cache
 * directory, and LMDB serialises its writers. Working sets kept there forced their users to hold
 * the index's one write transaction for their whole run (a `check --read-data` for hours), and
 * every other command that writes the index (`snapshot`, and every open that reconciles) waited.
 *
 * A workset lives in a fresh directory `<dir>/work.<pid>.XXXXXX` (mkdtemp), opened with
 * MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOLOCK: nothing in it must survive a crash, and only its
 * owner opens it. dr_workset_close removes the directory. One left by a process that was killed
 * is removed by the next dr_workset_open in the same parent directory (see stale_sweep in
 * src/index/workset.c: by a pid check).
 *
 * Writes go into one LMDB write transaction that is committed every DR_WORKSET_BATCH writes, so
 * that its dirty pages (held in RAM by LMDB until commit) stay bounded; a commit costs no fsync.
 * The owner uses a workset from one thread at a time.
 *
 * A workset that failed stays failed (LMDB's rule): every later call returns the first error. */
#ifndef DR_WORKSET_H
#define DR_WORKSET_H

#include "drrepo/id.h"

struct dr_workset;

/* Largest map value. */
#define DR_WORKSET_VAL_MAX 64u
/* Writes per internal commit. */
#define DR_WORKSET_BATCH 4096u

/* Creates a workset in a new directory under dir (created 0700 if missing; the repository's
 * cache directory, see dr_repo_workset_open), first removing worksets of dead processes there.
 * Errors: DR_EIO, DR_ENOSPC. */
DR_MUST_CHECK int dr_workset_open(const char *dir, struct dr_workset **out);
/* Closes the environment and removes its directory. NULL is a no-op. */
void dr_workset_close(struct dr_workset *ws);
/* The workset's directory, for messages and tests. */
const char *dr_workset_path(const struct dr_workset *ws);

/* Set. _add returns 1 when id was not in the set (and adds it), 0 when it was. _has returns 1 or
 * 0. _clear empties the set. Errors: DR_EIO, DR_ENOSPC, DR_EUSAGE (a write during a foreach). */
DR_MUST_CHECK int dr_workset_set_add(struct dr_workset *ws, const struct dr_id *id);
DR_MUST_CHECK int dr_workset_set_has(struct dr_workset *ws, const struct dr_id *id);
DR_MUST_CHECK int dr_workset_set_clear(struct dr_workset *ws);

/* Map: id -> value of 1 to DR_WORKSET_VAL_MAX bytes. _put inserts or replaces (DR_EUSAGE for an
 * empty or longer value; the workset stays usable). _get copies up to len bytes into val and
 * returns the stored length, or 0 when id is absent (no error is set). */
DR_MUST_CHECK int dr_workset_map_put(struct dr_workset *ws, const struct dr_id *id, const void *val,
                                     size_t len);
DR_MUST_CHECK int dr_workset_map_get(struct dr_workset *ws, const struct dr_id *id, void *val,
                                     size_t len);
DR_MUST_CHECK int dr_workset_map_clear(struct dr_workset *ws);
/* Removes id from the map; one that is not there is no error. */
DR_MUST_CHECK int dr_workset_map_del(struct dr_workset *ws, const struct dr_id *id);

/* Calls cb for every map entry in id order; val is valid during the call only. A negative
 * return from cb stops the walk and is returned. cb must not write to this workset (DR_EUSAGE);
 * it may use anything else, the shared index included. */
typedef int (*dr_workset_cb)(void *arg, const struct dr_id *id, const void *val, size_t len);
DR_MUST_CHECK int dr_workset_map_foreach(struct dr_workset *ws, dr_workset_cb cb, void *arg);

#endif
