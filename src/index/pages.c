/* pages.c: a structural check of an LMDB data file, done with plain reads, before LMDB is let
 * near pages it would trust.
 *
 * LMDB (0.9) has no page checksums: garbage in a page makes it read out of bounds or, in a write
 * transaction, copy a node of garbage size over its heap. This check reads every page up to the
 * last one in use and verifies what LMDB relies on: each page names itself (its header's page
 * number is its position), its kind is one that LMDB writes (branch, leaf, overflow), its
 * pointer array and every node lie inside the page, every child or overflow page number lies
 * inside the file. Free pages (listed in LMDB's free-page database, which is walked first) are
 * skipped: they may hold anything, such as the tail of a freed overflow value. Random bytes fail
 * the first test with certainty (64 bits).
 *
 * It costs a read of the whole file, so it is run only when the file is not the one drrepo last
 * committed or verified (index.c keeps a stamp of size, mtime and inode): after damage by anything
 * else, a copy, or a crash between a commit and the stamp. Values are not checked here; every
 * record decoder checks its value's length. The layout is LMDB's (mdb.c: MDB_page, MDB_node),
 * stable across the 0.9 series whose data format version is 1. */
#include "index_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

#define PAGEHDRSZ 16
#define NODESZ 8
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define P_LEAF2 0x20
#define P_KNOWN 0xc07fu /* every flag LMDB defines, including the in-memory ones */
#define F_BIGDATA 0x01
#define MDB_MAGIC 0xBEEFC0DEu
#define MDB_DATA_VERSION 1u

static uint16_t u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)u16(p) | (uint32_t)u16(p + 2) << 16;
}

static uint64_t u64(const uint8_t *p)
{
    return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

/* One branch or leaf page. Returns NULL when it is sound, else what is wrong (static text). */
static const char *check_nodes(const uint8_t *pg, size_t psize, uint16_t flags, uint64_t last)
{
    uint16_t lower = u16(pg + 12), upper = u16(pg + 14);
    if (lower < PAGEHDRSZ || lower > upper || upper > psize || (lower - PAGEHDRSZ) % 2) {
        return "its free-space bounds are impossible";
    }
    if (flags & P_LEAF2) {
        return "it is of a kind the index never writes";
    }
    size_t n = (lower - PAGEHDRSZ) / 2;
    for (size_t i = 0; i < n; i++) {
        size_t off = u16(pg + PAGEHDRSZ + 2 * i);
        if (off < upper || off + NODESZ > psize) {
            return "a node lies outside the page";
        }
        const uint8_t *node = pg + off;
        uint32_t dsize = u16(node) | (uint32_t)u16(node + 2) << 16;
        uint16_t nflags = u16(node + 4), ksize = u16(node + 6);
        if (off + NODESZ + ksize > psize) {
            return "a key lies outside the page";
        }
        if (flags & P_BRANCH) {
            /* a branch node's child page number is stored in the size and flag fields */
            uint64_t child = (uint64_t)dsize | (uint64_t)nflags << 32;
            if (child < 2 || child > last) {
                return "a child page number is outside the file";
            }
            continue;
        }
        if (nflags & F_BIGDATA) {
            if (off + NODESZ + ksize + 8 > psize) {
                return "a value lies outside the page";
            }
            uint64_t ov = u64(node + NODESZ + ksize);
            if (ov < 2 || ov > last) {
                return "an overflow page number is outside the file";
            }
        } else if (off + NODESZ + ksize + (size_t)dsize > psize) {
            return "a value lies outside the page";
        }
    }
    return NULL;
}

/* The free pages: LMDB's database 0 maps a transaction id to the pages it freed, as an array of
 * size_t (count, then page numbers). Walked from the current meta page's root; each of its pages
 * is checked like any other before its nodes are used. */
struct freewalk {
    int fd;
    size_t psize;
    uint64_t last;
    uint8_t *free; /* bitmap, one bit a page */
    uint8_t *pg;   /* one page */
    uint8_t *val;  /* an overflow value */
    int depth;
};

static const char *read_page(struct freewalk *fw, uint64_t pgno, uint8_t *into, size_t n)
{
    ssize_t got = pread(fw->fd, into, n * fw->psize, (off_t)(pgno * fw->psize));
    return got == (ssize_t)(n * fw->psize) ? NULL : "a page cannot be read";
}

static void mark_free(struct freewalk *fw, const uint8_t *idl, size_t len)
{
    if (len < 8) {
        return;
    }
    uint64_t n = u64(idl);
    for (uint64_t i = 0; i < n && 8 + 8 * (i + 1) <= len; i++) {
        uint64_t p = u64(idl + 8 + 8 * i);
        if (p >= 2 && p <= fw->last) {
            fw->free[p / 8] |= (uint8_t)(1u << (p % 8));
        }
    }
}

static const char *walk_free(struct freewalk *fw, uint64_t pgno)
{
    if (++fw->depth > 32) {
        return "the free-page tree is deeper than any real one";
    }
    const char *bad = read_page(fw, pgno, fw->pg, 1);
    uint16_t flags = u16(fw->pg + 10);
    if (!bad && (u64(fw->pg) != pgno || !(flags & (P_BRANCH | P_LEAF)))) {
        bad = "a free-page tree page does not name itself";
    }
    if (!bad) {
        bad = check_nodes(fw->pg, fw->psize, flags, fw->last);
    }
    size_t n = bad ? 0 : (u16(fw->pg + 12) - PAGEHDRSZ) / 2;
    /* the page buffer is reused below: copy out what the loop needs */
    uint8_t *page = n ? dr_xmalloc(fw->psize) : NULL;
    if (page) {
        memcpy(page, fw->pg, fw->psize);
    }
    for (size_t i = 0; i < n && !bad; i++) {
        const uint8_t *node = page + u16(page + PAGEHDRSZ + 2 * i);
        uint32_t dsize = u16(node) | (uint32_t)u16(node + 2) << 16;
        uint16_t nflags = u16(node + 4), ksize = u16(node + 6);
        if (flags & P_BRANCH) {
            bad = walk_free(fw, (uint64_t)dsize | (uint64_t)nflags << 32);
        } else if (nflags & F_BIGDATA) {
            uint64_t ov = u64(node + NODESZ + ksize);
            size_t pages = ((size_t)dsize + PAGEHDRSZ + fw->psize - 1) / fw->psize;
            if (ov + pages - 1 > fw->last) {
                bad = "a free-page list is outside the file";
                break;
            }
            fw->val = dr_xrealloc(fw->val, pages * fw->psize);
            bad = read_page(fw, ov, fw->val, pages);
            if (!bad && (u64(fw->val) != ov || !(u16(fw->val + 10) & P_OVERFLOW))) {
                bad = "a free-page list's overflow page does not name itself";
            }
            if (!bad) {
                mark_free(fw, fw->val + PAGEHDRSZ, dsize);
                /* the list's own pages are in use, not free */
            }
        } else {
            mark_free(fw, node + NODESZ + ksize, dsize);
        }
    }
    free(page);
    fw->depth--;
    return bad;
}

static const char *check_meta(const uint8_t *pg, uint64_t pgno, uint64_t npages)
{
    if (u64(pg) != pgno || !(u16(pg + 10) & P_META)) {
        return "it is not a meta page";
    }
    if (u32(pg + PAGEHDRSZ) != MDB_MAGIC || u32(pg + PAGEHDRSZ + 4) != MDB_DATA_VERSION) {
        return "its magic or version is wrong";
    }
    /* MDB_meta: magic 4, version 4, address 8, mapsize 8, two MDB_db of 48 bytes, last page 8 */
    const uint8_t *dbs = pg + PAGEHDRSZ + 24;
    uint64_t last = u64(pg + PAGEHDRSZ + 24 + 96);
    if (last >= npages) {
        return "its last page is past the end of the file";
    }
    for (int i = 0; i < 2; i++) {
        uint64_t root = u64(dbs + 48 * i + 40);
        if (root != UINT64_MAX && (root < 2 || root > last)) {
            return "a root page number is outside the file";
        }
    }
    return NULL;
}

int dr_index_check_pages(int fd, size_t psize, uint64_t last_pgno, uint64_t file_size, char *why,
                         size_t whylen)
{
    enum { BATCH = 256 };
    if (psize < 512 || psize > 65536 || psize & (psize - 1)) {
        snprintf(why, whylen, "page size %zu is impossible", psize);
        return 1;
    }
    uint64_t npages = file_size / psize;
    if (last_pgno >= npages) {
        snprintf(why, whylen, "its last page %llu is past the end of the file",
                 (unsigned long long)last_pgno);
        return 1;
    }
    uint8_t *buf = dr_xmalloc(psize * BATCH);
    int rc = 0;
    /* the meta pages first; the one with the higher transaction id is the current one */
    struct freewalk fw = {.fd = fd, .psize = psize, .last = last_pgno};
    fw.free = dr_xcalloc(1, last_pgno / 8 + 1);
    fw.pg = dr_xmalloc(psize);
    uint64_t free_root = UINT64_MAX, best_txn = 0;
    const char *bad = NULL;
    for (uint64_t m = 0; m < 2 && !bad; m++) {
        bad = read_page(&fw, m, fw.pg, 1);
        bad = bad ? bad : check_meta(fw.pg, m, npages);
        uint64_t txn = bad ? 0 : u64(fw.pg + PAGEHDRSZ + 24 + 96 + 8);
        if (!bad && (m == 0 || txn > best_txn)) {
            best_txn = txn;
            free_root = u64(fw.pg + PAGEHDRSZ + 24 + 40); /* dbs[0].md_root */
        }
        if (bad) {
            snprintf(why, whylen, "meta page %llu: %s", (unsigned long long)m, bad);
        }
    }
    if (!bad && free_root != UINT64_MAX) {
        bad = walk_free(&fw, free_root);
        if (bad) {
            snprintf(why, whylen, "%s", bad);
        }
    }
    if (bad) {
        rc = 1;
    }
    uint64_t skip_until = 0; /* pages after an overflow head hold its value, not headers */
    for (uint64_t base = 0; base <= last_pgno && rc == 0; base += BATCH) {
        size_t want = (size_t)DR_MIN((uint64_t)BATCH, last_pgno + 1 - base) * psize;
        ssize_t got = pread(fd, buf, want, (off_t)(base * psize));
        if (got < 0) {
            rc = dr_error_errno(DR_EIO, "cannot read the index file");
            break;
        }
        if ((size_t)got != want) {
            snprintf(why, whylen, "it is shorter than its pages");
            rc = 1;
            break;
        }
        for (size_t i = 0; i * psize < want && rc == 0; i++) {
            uint64_t pgno = base + i;
            const uint8_t *pg = buf + i * psize;
            bad = NULL;
            uint16_t flags = u16(pg + 10);
            if (pgno < 2 || (fw.free[pgno / 8] & (1u << (pgno % 8)))) {
                continue; /* metas were checked above; a free page may hold anything */
            } else if (pgno < skip_until && u64(pg) != pgno) {
                continue; /* the content of an overflow value */
            } else if (u64(pg) != pgno || (flags & ~P_KNOWN) || (flags & P_META)) {
                bad = "its header does not name it";
            } else if (flags & P_OVERFLOW) {
                uint32_t count = u32(pg + 12);
                if (count == 0 || pgno + count - 1 > last_pgno) {
                    bad = "its overflow run is outside the file";
                } else {
                    skip_until = DR_MAX(skip_until, pgno + count);
                }
            } else if (flags & (P_BRANCH | P_LEAF)) {
                bad = check_nodes(pg, psize, flags, last_pgno);
            } else {
                bad = "it is of no known kind";
            }
            if (bad) {
                snprintf(why, whylen, "page %llu: %s", (unsigned long long)pgno, bad);
                rc = 1;
            }
        }
    }
    free(buf);
    free(fw.free);
    free(fw.pg);
    free(fw.val);
    return rc;
}
