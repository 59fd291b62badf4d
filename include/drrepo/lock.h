/* lock.h: repository locks (format/repository.md "Locks").
 *
 * A lock is an object locks/<random hex> naming its holder: host, pid, the process start time
 * and boot id (so a reused pid is not mistaken for the holder), creation and refresh times.
 * Snapshots and checks hold shared locks, deleting operations exclusive ones; a lock conflicts
 * with another holder's lock when either is exclusive. A lock whose holder is gone (same host,
 * and no process with that pid and start time runs, or the machine rebooted) is stale: it is
 * removed automatically with a warning, because a backup killed by the OOM killer must never
 * block the next night's run.
 *
 * A lock is also a lease of DR_LOCK_STALE_NS (30 minutes; DRREPO_LOCK_LEASE_S for tests),
 * renewed by a thread that rewrites it every sixth of the lease (every 30 s after a failed
 * try). The lease of a lock this host cannot judge (another host's, an unreadable one) is
 * judged by the repository's clock (dr_backend_age), never by the clock of either host: one
 * older than the lease is removed with a warning by the next process that takes a lock, and
 * does not conflict. Its holder has stopped by then: dr_lock_check fails once half the lease
 * passed without a successful refresh, and writers call it before each commit point (a
 * snapshot object, a deletion). When the store cannot tell an age, a lock of another host not
 * refreshed for the lease by its record is only reported as probably stale; `drrepo unlock`
 * removes it. */
#ifndef DR_LOCK_H
#define DR_LOCK_H

#include "drrepo/backend.h"
#include "drrepo/layout.h"
#include "drrepo/lockrec.h"

#define DR_LOCK_STALE_NS (30LL * 60 * 1000000000)

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
/* Whether the lock's lease still holds: 0 while its last successful refresh is less than half
 * the lease ago (by this machine's boot-time clock, which counts suspended time), DR_ELOCKED
 * with a message after that. Once it failed it keeps failing: the lease is given up, the lock
 * is no longer refreshed, and the holder must stop writing and deleting, because another
 * process may soon remove the lock as expired. NULL (no lock held) is 0. Thread-safe. */
DR_MUST_CHECK int dr_lock_check(struct dr_lock *l);

/* Stops refreshing and removes the lock. NULL is a no-op. */
void dr_lock_release(struct dr_lock *l);

/* Calls cb for every lock in the repository. Unparseable lock files are reported with
 * exclusive = true and an empty host. */
typedef int (*dr_lock_cb)(void *arg, const struct dr_lock_info *info);
DR_MUST_CHECK int dr_lock_list(struct dr_backend *b, dr_lock_cb cb, void *arg);

/* True when the lock's holder is known to be gone (same host, process or boot gone). */
bool dr_lock_is_dead(const struct dr_lock_info *info);

#endif
