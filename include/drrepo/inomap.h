/* inomap.h: a map from a file's (device, inode) to an index of the caller's: the hard links
 * that a backup or a restore meets, so that each further name is found in constant time
 * however many linked files there are (a scan of all of them made such a tree quadratic). */
#ifndef DR_INOMAP_H
#define DR_INOMAP_H

#include "drrepo/common.h"

struct dr_inomap_slot {
    uint64_t dev, ino;
    size_t idx1; /* the index + 1; 0: an empty slot */
};

/* Open addressing, at most half full. Zero-initialised is empty (or dr_inomap_init). */
struct dr_inomap {
    struct dr_inomap_slot *slots;
    size_t nslots, n;
};

void dr_inomap_init(struct dr_inomap *m);
void dr_inomap_release(struct dr_inomap *m);
/* The index stored for (dev, ino), or SIZE_MAX when there is none. */
size_t dr_inomap_get(const struct dr_inomap *m, uint64_t dev, uint64_t ino);
/* Stores idx (< SIZE_MAX) for (dev, ino), which must not be in the map. */
void dr_inomap_put(struct dr_inomap *m, uint64_t dev, uint64_t ino, size_t idx);

#endif
