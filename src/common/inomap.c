/* inomap.c: the (device, inode) map of inomap.h. Linear probing in a power-of-two table that
 * doubles when it would pass half full; entries are never removed (a run's hard links are
 * kept until it ends). */
#include "drrepo/inomap.h"

#include <stdlib.h>

#include "drrepo/mem.h"

void dr_inomap_init(struct dr_inomap *m)
{
    m->slots = NULL;
    m->nslots = m->n = 0;
}

void dr_inomap_release(struct dr_inomap *m)
{
    free(m->slots);
    dr_inomap_init(m);
}

static size_t first_slot(uint64_t dev, uint64_t ino, size_t mask)
{
    uint64_t h = ino * 0x9E3779B97F4A7C15ULL ^ (dev + 0x632BE59BD9B4E019ULL);
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    return (size_t)h & mask;
}

size_t dr_inomap_get(const struct dr_inomap *m, uint64_t dev, uint64_t ino)
{
    if (!m->nslots) {
        return SIZE_MAX;
    }
    size_t mask = m->nslots - 1;
    for (size_t k = first_slot(dev, ino, mask); m->slots[k].idx1; k = (k + 1) & mask) {
        if (m->slots[k].dev == dev && m->slots[k].ino == ino) {
            return m->slots[k].idx1 - 1;
        }
    }
    return SIZE_MAX;
}

static void insert(struct dr_inomap_slot *slots, size_t nslots, const struct dr_inomap_slot *e)
{
    size_t mask = nslots - 1;
    size_t k = first_slot(e->dev, e->ino, mask);
    while (slots[k].idx1) {
        k = (k + 1) & mask;
    }
    slots[k] = *e;
}

void dr_inomap_put(struct dr_inomap *m, uint64_t dev, uint64_t ino, size_t idx)
{
    if ((m->n + 1) * 2 > m->nslots) {
        size_t nslots = m->nslots ? m->nslots * 2 : 64;
        struct dr_inomap_slot *slots = dr_xcalloc(nslots, sizeof(*slots));
        for (size_t k = 0; k < m->nslots; k++) {
            if (m->slots[k].idx1) {
                insert(slots, nslots, &m->slots[k]);
            }
        }
        free(m->slots);
        m->slots = slots;
        m->nslots = nslots;
    }
    struct dr_inomap_slot e = {.dev = dev, .ino = ino, .idx1 = idx + 1};
    insert(m->slots, m->nslots, &e);
    m->n++;
}
