/* test_mount_filemap.c: the per-file offset table of `drrepo mount` (src/mount/filemap.c).
 *
 * Covers: a plain file's extents are its chunks laid end to end; dr_filemap_find at every chunk
 * boundary, inside chunks and at and past EOF; empty files and empty chunks; files marked damaged
 * with lost ranges before, between and after chunks; rejection (DR_ECORRUPT) of chunk sizes that
 * do not add up to the node's size and of lost ranges that do not start at a chunk boundary; and a
 * randomised check (seeded, printed) that find agrees with a linear scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/mount.h"

static void make_file(struct dr_node *n, const uint32_t *sizes, uint32_t nchunks)
{
    memset(n, 0, sizeof(*n));
    n->name = dr_xstrdup("f");
    n->type = DR_NODE_FILE;
    n->nchunks = nchunks;
    n->chunks = dr_xcalloc(nchunks ? nchunks : 1, sizeof(*n->chunks));
    n->chunk_sizes = dr_xcalloc(nchunks ? nchunks : 1, sizeof(*n->chunk_sizes));
    for (uint32_t i = 0; i < nchunks; i++) {
        n->chunk_sizes[i] = sizes[i];
        n->chunks[i].b[0] = (uint8_t)i;
        n->size += sizes[i];
    }
}

static void add_lost(struct dr_node *n, uint64_t off, uint64_t len)
{
    n->damaged = dr_xrealloc(n->damaged, (n->ndamaged + 1) * sizeof(*n->damaged));
    n->damaged[n->ndamaged++] = (struct dr_range){off, len};
    n->size += len;
    n->flags |= DR_NODE_F_DAMAGED;
}

static void test_plain(void **state)
{
    (void)state;
    const uint32_t sizes[] = {100, 200, 50};
    struct dr_node n;
    make_file(&n, sizes, 3);
    struct dr_filemap m;
    assert_int_equal(dr_filemap_build(&n, &m), 0);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.size, 350);
    assert_int_equal(m.ext[1].off, 100);
    assert_int_equal(m.ext[2].off, 300);
    assert_int_equal(m.ext[2].chunk, 2);
    assert_int_equal(dr_filemap_find(&m, 0), 0);
    assert_int_equal(dr_filemap_find(&m, 99), 0);
    assert_int_equal(dr_filemap_find(&m, 100), 1);
    assert_int_equal(dr_filemap_find(&m, 299), 1);
    assert_int_equal(dr_filemap_find(&m, 300), 2);
    assert_int_equal(dr_filemap_find(&m, 349), 2);
    assert_int_equal(dr_filemap_find(&m, 350), 3);
    assert_int_equal(dr_filemap_find(&m, UINT64_MAX), 3);
    dr_filemap_release(&m);
    dr_node_release(&n);
}

static void test_empty(void **state)
{
    (void)state;
    struct dr_node n;
    make_file(&n, NULL, 0);
    struct dr_filemap m;
    assert_int_equal(dr_filemap_build(&n, &m), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(dr_filemap_find(&m, 0), 0);
    dr_filemap_release(&m);
    dr_node_release(&n);
    /* a zero-length chunk covers nothing and is left out */
    const uint32_t sizes[] = {10, 0, 10};
    make_file(&n, sizes, 3);
    assert_int_equal(dr_filemap_build(&n, &m), 0);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.ext[1].chunk, 2);
    assert_int_equal(dr_filemap_find(&m, 10), 1);
    dr_filemap_release(&m);
    dr_node_release(&n);
}

static void test_damaged(void **state)
{
    (void)state;
    const uint32_t sizes[] = {100, 100};
    struct dr_node n;
    make_file(&n, sizes, 2);
    add_lost(&n, 0, 30);   /* before chunk 0 */
    add_lost(&n, 130, 20); /* between chunk 0 and 1 */
    add_lost(&n, 250, 5);  /* after the last chunk */
    struct dr_filemap m;
    assert_int_equal(dr_filemap_build(&n, &m), 0);
    assert_int_equal(m.n, 5);
    assert_int_equal(m.size, 255);
    assert_int_equal(m.ext[0].chunk, DR_EXTENT_LOST);
    assert_int_equal(m.ext[1].chunk, 0);
    assert_int_equal(m.ext[1].off, 30);
    assert_int_equal(m.ext[2].chunk, DR_EXTENT_LOST);
    assert_int_equal(m.ext[3].chunk, 1);
    assert_int_equal(m.ext[3].off, 150);
    assert_int_equal(m.ext[4].chunk, DR_EXTENT_LOST);
    assert_int_equal(dr_filemap_find(&m, 29), 0);
    assert_int_equal(dr_filemap_find(&m, 30), 1);
    assert_int_equal(dr_filemap_find(&m, 149), 2);
    assert_int_equal(dr_filemap_find(&m, 254), 4);
    dr_filemap_release(&m);
    dr_node_release(&n);
}

static void test_inconsistent(void **state)
{
    (void)state;
    const uint32_t sizes[] = {100, 100};
    struct dr_node n;
    make_file(&n, sizes, 2);
    n.size = 199;
    struct dr_filemap m;
    assert_int_equal(dr_filemap_build(&n, &m), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "the tree says 199"));
    assert_null(m.ext);
    n.size = 200;
    add_lost(&n, 50, 10); /* inside chunk 0: not a boundary */
    assert_int_equal(dr_filemap_build(&n, &m), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "chunk boundary"));
    dr_node_release(&n);
    dr_error_clear();
}

static void test_random(void **state)
{
    (void)state;
    unsigned seed = getenv("DR_SEED") ? (unsigned)strtoul(getenv("DR_SEED"), NULL, 10) : 12345u;
    printf("# seed %u\n", seed);
    srand(seed);
    for (int round = 0; round < 50; round++) {
        uint32_t nc = (uint32_t)(rand() % 200);
        uint32_t *sizes = dr_xcalloc(nc ? nc : 1, sizeof(*sizes));
        for (uint32_t i = 0; i < nc; i++) {
            sizes[i] = (uint32_t)(1 + rand() % 5000);
        }
        struct dr_node n;
        make_file(&n, sizes, nc);
        struct dr_filemap m;
        assert_int_equal(dr_filemap_build(&n, &m), 0);
        for (int k = 0; k < 200 && m.size; k++) {
            uint64_t off = (uint64_t)rand() % m.size;
            size_t lin = 0;
            while (!(m.ext[lin].off <= off && off < m.ext[lin].off + m.ext[lin].len)) {
                lin++;
            }
            assert_int_equal(dr_filemap_find(&m, off), lin);
        }
        dr_filemap_release(&m);
        dr_node_release(&n);
        free(sizes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),   cmocka_unit_test(test_empty),
        cmocka_unit_test(test_damaged), cmocka_unit_test(test_inconsistent),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
