/* lock.h: repository locks (format/repository.md "Locks").
 *
 * A lock is an object locks/<random hex> naming its holder: host, pid, the process start time
 * and boot id (so a reused pid is not mistaken for the holder), creation and refresh times.
 * Snapshots and checks hold shared locks, deleting operations exclusive ones; a lock conflicts
 * with another holder's lock when either is exclusive. A lock whose holder is gone (same host,
 * and no process with that pid and start time runs, or the machine rebooted) is stale: it is
 * removed automatically with a warning, because a backup killed by the OOM killer must never
 * block the next night's run. A lock of another host not refreshed for 30 minutes is reported
 * as probably stale; `drrepo unlock` removes it. Held locks are refreshed every 5 minutes. */
#ifndef DR_LOCK_H
#define DR_LOCK_H

#include "drrepo/backend.h"
#include "drrepo/layout.h"
#include "drrepo/lockrec.h"

#define DR_LOCK_STALE_NS (30LL * 60 * 1000000000)
#define DR_LOCK_REFRESH_NS (5LL * 60 * 1000000000)

struct dr_lock;

/* The reserve (format/repository.md "Reserve"), object DR_OBJ_RESERVE: random bytes that exist
 * only to be deleted, so that a command that frees space can still write its lock when the disk
 * is full. Random, so that no file system stores it compressed, deduplicated or sparse. */
#define DR_LOCK_RESERVE_SIZE (1u << 20)

enum {
    DR_LOCK_EXCLUSIVE = 1u << 0,
    /* when there is no space for the lock, delete the reserve and write the lock again: only
     * for commands that free space (prune, forget), or the first full disk would use it up */
    DR_LOCK_USE_RESERVE = 1u << 1,
};

/* Takes a lock (flags: DR_LOCK_*). Once it is held, writes the reserve if it is missing (a
 * repository made before it existed, or after a full disk used it), unless this lock just
 * used it; that write is best effort. Errors: DR_ELOCKED (a conflicting live lock exists; the
 * message names its holder), DR_EIO, DR_ENOSPC (with DR_LOCK_USE_RESERVE: even after the
 * reserve was deleted, or there was none). */
DR_MUST_CHECK int dr_lock_acquire_flags(struct dr_backend *b, unsigned flags, struct dr_lock **out);
/* Writes the reserve unless it exists with its size. Returns 1 when it was written, 0 when it
 * was there. Errors: DR_ENOSPC, DR_EIO (nothing half-written is left: the write is atomic). */
DR_MUST_CHECK int dr_lock_reserve_ensure(struct dr_backend *b);
/* Stops refreshing and removes the lock. NULL is a no-op. */
void dr_lock_release(struct dr_lock *l);

/* Calls cb for every lock in the repository. Unparseable lock files are reported with
 * exclusive = true and an empty host. */
typedef int (*dr_lock_cb)(void *arg, const struct dr_lock_info *info);
DR_MUST_CHECK int dr_lock_list(struct dr_backend *b, dr_lock_cb cb, void *arg);

/* True when the lock's holder is known to be gone (same host, process or boot gone). */
bool dr_lock_is_dead(const struct dr_lock_info *info);

#endif
