/* tally.c: counts per id, summed in id order by a sorter (tally.h, sorter.h). */
#include "drrepo/tally.h"

#include <stdlib.h>
#include <string.h>

#include "drrepo/mem.h"
#include "drrepo/sorter.h"

_Static_assert(DR_TALLY_RUN == DR_SORTER_RUN_BYTES / (sizeof(struct dr_id) + sizeof(uint64_t)),
               "DR_TALLY_RUN is a sorter's run of 40-byte records");

struct dr_tally {
    struct dr_sorter *s; /* payload: the count, a uint64_t */
};

static void sum(void *into, const void *from)
{
    uint64_t a, b;
    memcpy(&a, into, sizeof(a));
    memcpy(&b, from, sizeof(b));
    a += b;
    memcpy(into, &a, sizeof(a));
}

int dr_tally_open(const char *dir, struct dr_tally **out)
{
    struct dr_tally *t = dr_xcalloc(1, sizeof(*t));
    int rc = dr_sorter_open(dir, "tally", sizeof(uint64_t), sum, &t->s);
    if (rc < 0) {
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void dr_tally_close(struct dr_tally *t)
{
    if (t) {
        dr_sorter_close(t->s);
        free(t);
    }
}

int dr_tally_add(struct dr_tally *t, const struct dr_id *id, uint64_t n)
{
    return dr_sorter_add(t->s, id, &n);
}

int dr_tally_next(struct dr_tally *t, struct dr_id *id, uint64_t *count)
{
    return dr_sorter_next(t->s, id, count);
}
