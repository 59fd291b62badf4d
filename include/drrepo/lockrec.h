/* lockrec.h: the lock record, the content of a lock object locks/<token> (format/repository.md
 * "Locks"): who holds the lock, with what it takes to tell a live holder from a dead one.
 * Taking, refreshing and releasing locks is store/lock.c (lock.h). */
#ifndef DR_LOCKREC_H
#define DR_LOCKREC_H

#include "drrepo/buf.h"
#include "drrepo/common.h"

struct dr_lock_info {
    char name[128]; /* the object's name (not in the record: filled by whoever read it) */
    bool exclusive;
    uint32_t pid;
    uint64_t proc_start; /* start time of the holder, clock ticks since boot; 0 if unknown */
    char boot_id[40];
    int64_t created_ns, refreshed_ns;
    char host[256], user[256];
};

/* Parses a lock record. name is not in it and is left empty. Errors: DR_ECORRUPT,
 * DR_EUNSUPPORTED (a newer version). */
DR_MUST_CHECK int dr_lockrec_parse(const uint8_t *p, size_t len, struct dr_lock_info *out);
/* Appends the record of info (all but its name) to out. Errors: those of dr_buf_add. */
DR_MUST_CHECK int dr_lockrec_encode(const struct dr_lock_info *info, struct dr_buf *out);

#endif
