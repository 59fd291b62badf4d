/* filemap.c: the offset table of a file in a snapshot (mount.h).
 *
 * A file node lists its chunks and their plaintext sizes in order; a file repaired by `repair
 * snapshots` also lists the byte ranges that were lost, which sit between chunks. Laying both out
 * once per open file turns "which chunks cover bytes X..Y" into a binary search, so a read in the
 * middle of a 10 GB file fetches only the chunks it touches. */
#include "drrepo/mount.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

static void add(struct dr_filemap *m, size_t *alloc, uint64_t off, uint64_t len, uint32_t chunk)
{
    DR_GROW(m->ext, *alloc, m->n + 1);
    m->ext[m->n++] = (struct dr_extent){.off = off, .len = len, .chunk = chunk};
}

/* Appends the lost ranges that start at *off (restore's order: lost ranges come before the chunk
 * that follows them). */
static void add_lost(const struct dr_node *n, struct dr_filemap *m, size_t *alloc, uint32_t *di,
                     uint64_t *off)
{
    while (*di < n->ndamaged && n->damaged[*di].off == *off) {
        if (n->damaged[*di].len > 0) {
            add(m, alloc, *off, n->damaged[*di].len, DR_EXTENT_LOST);
            *off += n->damaged[*di].len;
        }
        (*di)++;
    }
}

int dr_filemap_build(const struct dr_node *n, struct dr_filemap *out)
{
    struct dr_filemap m = {0};
    size_t alloc = 0;
    uint64_t off = 0;
    uint32_t di = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n->nchunks; i++) {
        add_lost(n, &m, &alloc, &di, &off);
        if (n->chunk_sizes[i] == 0) {
            continue; /* an empty chunk covers nothing; keeping it would break the search */
        }
        if (off + n->chunk_sizes[i] < off) {
            rc = dr_errorf(DR_ECORRUPT, "file '%s': chunk sizes overflow", n->name);
            goto out;
        }
        add(&m, &alloc, off, n->chunk_sizes[i], i);
        off += n->chunk_sizes[i];
    }
    add_lost(n, &m, &alloc, &di, &off);
    if (di != n->ndamaged) {
        rc = dr_errorf(DR_ECORRUPT,
                       "file '%s': lost range %u (offset %llu) does not start at a chunk boundary",
                       n->name, di, (unsigned long long)n->damaged[di].off);
        goto out;
    }
    if (off != n->size) {
        rc = dr_errorf(DR_ECORRUPT, "file '%s': its chunks hold %llu bytes, the tree says %llu",
                       n->name, (unsigned long long)off, (unsigned long long)n->size);
        goto out;
    }
    m.size = off;
    *out = m;
    return 0;
out:
    free(m.ext);
    *out = (struct dr_filemap){0};
    return rc;
}

void dr_filemap_release(struct dr_filemap *m)
{
    free(m->ext);
    *m = (struct dr_filemap){0};
}

size_t dr_filemap_find(const struct dr_filemap *m, uint64_t off)
{
    if (off >= m->size) {
        return m->n;
    }
    /* the last extent that starts at or before off; extents are contiguous, so it contains off */
    size_t lo = 0, hi = m->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->ext[mid].off <= off) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}
