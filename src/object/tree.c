/* tree.c: encoding and decoding of tree blobs (format/tree.md). A pure codec: no I/O.
 *
 * Invariants: a decoded tree satisfies everything the encoder demands (sorted unique safe names,
 * known types, bounded lengths, chunk sizes adding up to the file size), so decode(x) can always
 * be re-encoded, and restore can trust names without re-checking them. The decoder checks every
 * length against the bytes that are actually left before allocating for it, so hostile input
 * costs at most a small multiple of its own size in memory. */
#include "drrepo/tree.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/reader.h"

/* The newest version read; canonical_version says which a tree is written in. */
#define TREE_VERSION 2u
#define TREE_VERSION_LISTS 2u /* the first with chunk lists (DR_NODE_F_LISTED) */
#define TREE_HDR_LEN (DR_MAGIC_LEN + 4 + 4)
/* type(1) + name_len(2) + mode, uid, gid (12) + user_len, group_len (2) + mtime, ctime, size,
 * dev, inode (40) + nlink (4) + rdev (8) + flags (4): the fixed part of a record after rec_len. */
#define NODE_FIXED_LEN (1 + 2 + 12 + 2 + 40 + 4 + 8 + 4)
/* The smallest record: rec_len, the fixed part and a one-byte name. Used to bound count by the
 * input's length before the node array is allocated. */
#define NODE_MIN_LEN (4 + NODE_FIXED_LEN + 1)
#define CHUNK_REC_LEN (DR_ID_LEN + 4)
#define RANGE_REC_LEN 16
#define MODE_MAX 07777u

bool dr_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > DR_NAME_MAX) {
        return false;
    }
    if (memchr(name, '/', len) || memchr(name, '\0', len)) {
        return false;
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
        return false;
    }
    return true;
}

void dr_node_release(struct dr_node *n)
{
    free(n->name);
    free(n->user);
    free(n->group);
    free(n->target);
    free(n->chunks);
    free(n->chunk_sizes);
    free(n->damaged);
    free(n->lists);
    memset(n, 0, sizeof(*n));
}

struct dr_node dr_node_scalars(const struct dr_node *n)
{
    struct dr_node m = *n;
    m.name = m.user = m.group = m.target = NULL;
    m.chunks = NULL;
    m.chunk_sizes = NULL;
    m.damaged = NULL;
    m.lists = NULL;
    m.nlists = 0;
    return m;
}

void dr_tree_init(struct dr_tree *t)
{
    t->n = 0;
    t->alloc = 0;
    t->nodes = NULL;
}

void dr_tree_release(struct dr_tree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        dr_node_release(&t->nodes[i]);
    }
    free(t->nodes);
    dr_tree_init(t);
}

void dr_tree_add(struct dr_tree *t, struct dr_node *n)
{
    DR_GROW(t->nodes, t->alloc, t->n + 1);
    t->nodes[t->n++] = *n;
    memset(n, 0, sizeof(*n));
}

/* strcmp compares as unsigned char, which is the bytewise order the format requires; names
 * cannot contain NUL, so it sees every byte. */
static int node_cmp(const void *a, const void *b)
{
    const struct dr_node *x = a, *y = b;
    return strcmp(x->name, y->name);
}

void dr_tree_sort(struct dr_tree *t)
{
    if (t->n > 1) {
        qsort(t->nodes, t->n, sizeof(t->nodes[0]), node_cmp);
    }
}

const struct dr_node *dr_tree_find(const struct dr_tree *t, const char *name)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, t->nodes[mid].name);
        if (c == 0) {
            return &t->nodes[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

static int id_cmp(const void *a, const void *b)
{
    return dr_id_cmp(a, b);
}

size_t dr_node_refs_distinct(const struct dr_node *n, struct dr_id **out)
{
    uint32_t nr = dr_node_nrefs(n);
    *out = NULL;
    if (nr == 0) {
        return 0;
    }
    struct dr_id *v = dr_xmalloc((size_t)nr * sizeof(*v));
    for (uint32_t i = 0; i < nr; i++) {
        v[i] = *dr_node_ref(n, i);
    }
    qsort(v, nr, sizeof(*v), id_cmp);
    size_t u = 0;
    for (uint32_t i = 0; i < nr; i++) {
        if (u == 0 || !dr_id_eq(&v[u - 1], &v[i])) {
            v[u++] = v[i];
        }
    }
    *out = v;
    return u;
}

static bool type_known(uint8_t type)
{
    return type >= DR_NODE_FILE && type <= DR_NODE_SOCKET;
}

/* Checks the parts of a file node that tie chunks, damage ranges and size together. Returns
 * NULL when they are consistent, or what is wrong (for the caller's message). */
static const char *check_file(const struct dr_node *n)
{
    if (n->flags & DR_NODE_F_LISTED) {
        /* the list is the whole content: no damage, no record encoding; the sizes are checked
         * once it is expanded, when it has its chunks */
        if (n->ndamaged || (n->flags & (DR_NODE_F_DAMAGED | DR_NODE_F_RECORDS))) {
            return "file with a chunk list that is also damaged or record-encoded";
        }
        if (dr_id_is_zero(&n->list)) {
            return "file with a chunk list of id zero";
        }
        if (n->nchunks == 0) {
            return NULL;
        }
    }
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n->nchunks; i++) {
        if (__builtin_add_overflow(sum, (uint64_t)n->chunk_sizes[i], &sum)) {
            return "chunk sizes overflow";
        }
    }
    /* A damaged file (written by repair) has lost ranges whose chunks are gone, so its chunks
     * may add up to less than its size; every other file must add up exactly. */
    if (!(n->flags & (DR_NODE_F_DAMAGED | DR_NODE_F_RECORDS)) && sum != n->size) {
        return "chunk sizes do not add up to the file size";
    }
    /* A record-encoded file (format/rdb.md) lists blobs whose plaintext is an encoding of the
     * content: at least its head blob, and never together with lost ranges (repair turns a
     * broken one into a plain damaged file). */
    if ((n->flags & DR_NODE_F_RECORDS) &&
        (n->nchunks == 0 || n->ndamaged || (n->flags & DR_NODE_F_DAMAGED))) {
        return "record-encoded file without its head blob or with damaged ranges";
    }
    for (uint32_t i = 0; i < n->ndamaged; i++) {
        uint64_t end;
        if (__builtin_add_overflow(n->damaged[i].off, n->damaged[i].len, &end) || end > n->size) {
            return "damaged range lies outside the file";
        }
    }
    return NULL;
}

/* The version a tree is written in: 2 exactly when a file has a chunk list, so that a tree an
 * older reader could read before chunk lists is still one it reads; the encoding is canonical. */
static uint32_t canonical_version(const struct dr_tree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->nodes[i].type == DR_NODE_FILE && (t->nodes[i].flags & DR_NODE_F_LISTED)) {
            return TREE_VERSION_LISTS;
        }
    }
    return 1;
}

/* ---- encode ---- */

static int enc_check_node(const struct dr_node *n, size_t i, const struct dr_node *prev)
{
    if (!n->name || !dr_name_valid(n->name, strlen(n->name))) {
        return dr_errorf(DR_EUSAGE, "tree node %zu: invalid name", i);
    }
    if (prev && strcmp(prev->name, n->name) >= 0) {
        return dr_errorf(DR_EUSAGE, "tree node %zu ('%s'): names not sorted or not unique", i,
                         n->name);
    }
    if (!type_known(n->type)) {
        return dr_errorf(DR_EUSAGE, "tree node '%s': unknown type %u", n->name, n->type);
    }
    if (n->mode > MODE_MAX) {
        return dr_errorf(DR_EUSAGE, "tree node '%s': mode %#o has bits above 07777", n->name,
                         n->mode);
    }
    if ((n->user && strlen(n->user) > DR_OWNER_NAME_MAX) ||
        (n->group && strlen(n->group) > DR_OWNER_NAME_MAX)) {
        return dr_errorf(DR_EUSAGE, "tree node '%s': user or group name longer than %u bytes",
                         n->name, DR_OWNER_NAME_MAX);
    }
    if (n->type == DR_NODE_SYMLINK) {
        size_t tl = n->target ? strlen(n->target) : 0;
        if (tl == 0 || tl > DR_TARGET_MAX) {
            return dr_errorf(DR_EUSAGE, "tree node '%s': symlink target empty or over %u bytes",
                             n->name, DR_TARGET_MAX);
        }
    } else if (n->target) {
        /* Dropping it silently would lose data the caller meant to store. */
        return dr_errorf(DR_EUSAGE, "tree node '%s': only symlinks have a target", n->name);
    }
    if (n->type == DR_NODE_FILE) {
        if ((n->nchunks && (!n->chunks || !n->chunk_sizes)) || (n->ndamaged && !n->damaged)) {
            return dr_errorf(DR_EUSAGE, "tree node '%s': chunk or range array missing", n->name);
        }
        const char *why = check_file(n);
        if (why) {
            return dr_errorf(DR_EUSAGE, "tree node '%s': %s", n->name, why);
        }
    } else if (n->nchunks || n->ndamaged || (n->flags & DR_NODE_F_LISTED)) {
        return dr_errorf(DR_EUSAGE, "tree node '%s': only files have chunks", n->name);
    }
    return 0;
}

static int enc_str8(struct dr_buf *b, const char *s)
{
    size_t l = s ? strlen(s) : 0;
    int rc = dr_buf_add_u8(b, (uint8_t)l);
    if (rc == 0) {
        rc = dr_buf_add(b, s ? s : "", l);
    }
    return rc;
}

/* Appends the record of n after its rec_len slot, then fills the slot in. */
static int enc_node(struct dr_buf *b, const struct dr_node *n)
{
    size_t start = b->len;
    size_t nl = strlen(n->name);
    int rc = 0;

    rc = rc ? rc : dr_buf_add_u32le(b, 0);
    rc = rc ? rc : dr_buf_add_u8(b, n->type);
    rc = rc ? rc : dr_buf_add_u16le(b, (uint16_t)nl);
    rc = rc ? rc : dr_buf_add(b, n->name, nl);
    rc = rc ? rc : dr_buf_add_u32le(b, n->mode);
    rc = rc ? rc : dr_buf_add_u32le(b, n->uid);
    rc = rc ? rc : dr_buf_add_u32le(b, n->gid);
    rc = rc ? rc : enc_str8(b, n->user);
    rc = rc ? rc : enc_str8(b, n->group);
    rc = rc ? rc : dr_buf_add_u64le(b, (uint64_t)n->mtime_ns);
    rc = rc ? rc : dr_buf_add_u64le(b, (uint64_t)n->ctime_ns);
    rc = rc ? rc : dr_buf_add_u64le(b, n->size);
    rc = rc ? rc : dr_buf_add_u64le(b, n->dev);
    rc = rc ? rc : dr_buf_add_u64le(b, n->inode);
    rc = rc ? rc : dr_buf_add_u32le(b, n->nlink);
    rc = rc ? rc : dr_buf_add_u64le(b, n->rdev);
    rc = rc ? rc : dr_buf_add_u32le(b, n->flags);
    if (n->type == DR_NODE_DIR) {
        rc = rc ? rc : dr_buf_add(b, n->subtree.b, DR_ID_LEN);
    } else if (n->type == DR_NODE_SYMLINK) {
        size_t tl = strlen(n->target);
        rc = rc ? rc : dr_buf_add_u16le(b, (uint16_t)tl);
        rc = rc ? rc : dr_buf_add(b, n->target, tl);
    } else if (n->type == DR_NODE_FILE && (n->flags & DR_NODE_F_LISTED)) {
        /* no chunks and no ranges here: the list holds them */
        rc = rc ? rc : dr_buf_add_u32le(b, 0);
        rc = rc ? rc : dr_buf_add_u32le(b, 0);
        rc = rc ? rc : dr_buf_add(b, n->list.b, DR_ID_LEN);
    } else if (n->type == DR_NODE_FILE) {
        rc = rc ? rc : dr_buf_add_u32le(b, n->nchunks);
        for (uint32_t i = 0; rc == 0 && i < n->nchunks; i++) {
            rc = dr_buf_add(b, n->chunks[i].b, DR_ID_LEN);
            rc = rc ? rc : dr_buf_add_u32le(b, n->chunk_sizes[i]);
        }
        rc = rc ? rc : dr_buf_add_u32le(b, n->ndamaged);
        for (uint32_t i = 0; rc == 0 && i < n->ndamaged; i++) {
            rc = dr_buf_add_u64le(b, n->damaged[i].off);
            rc = rc ? rc : dr_buf_add_u64le(b, n->damaged[i].len);
        }
    }
    if (rc < 0) {
        return rc;
    }
    /* The record is bounded by the buffer's max (DR_TREE_MAX), far below 4 GiB. */
    dr_put_u32le((uint8_t *)b->buf + start, (uint32_t)(b->len - start - 4));
    return 0;
}

int dr_tree_encode(const struct dr_tree *t, struct dr_buf *out)
{
    struct dr_buf b = DR_BUF_INIT(DR_TREE_MAX);
    int rc;

    if (t->n > DR_TREE_NODES_MAX) {
        return dr_errorf(DR_EUSAGE, "tree has %zu nodes, more than the limit of %u", t->n,
                         DR_TREE_NODES_MAX);
    }
    for (size_t i = 0; i < t->n; i++) {
        rc = enc_check_node(&t->nodes[i], i, i ? &t->nodes[i - 1] : NULL);
        if (rc < 0) {
            return rc;
        }
    }

    uint32_t version = canonical_version(t);
    rc = dr_buf_add(&b, DR_MAGIC_TREE, DR_MAGIC_LEN);
    rc = rc ? rc : dr_buf_add_u32le(&b, version);
    rc = rc ? rc : dr_buf_add_u32le(&b, (uint32_t)t->n);
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        rc = enc_node(&b, &t->nodes[i]);
    }
    if (rc < 0) {
        rc = dr_errorf(DR_EUSAGE, "tree is larger than the limit of %u bytes", DR_TREE_MAX);
        goto out;
    }
    rc = dr_buf_add(out, b.buf, b.len);
out:
    dr_buf_release(&b);
    return rc;
}

/* ---- decode ---- */

/* Copies len bytes into a new NUL-terminated string. The caller has checked that they contain
 * no NUL, so the C string holds all of them. */
static char *dup_bytes(const uint8_t *p, size_t len)
{
    char *s = dr_xmalloc(len + 1);
    if (len) {
        memcpy(s, p, len);
    }
    s[len] = '\0';
    return s;
}

/* Reads a u8-length owner name. NULL (and the reader failed or *bad set) on error. */
static char *dec_owner(struct dr_reader *r, bool *bad)
{
    uint8_t l = dr_rd_u8(r);
    const uint8_t *p = dr_rd_bytes(r, l);
    if (!p) {
        return NULL;
    }
    if (memchr(p, '\0', l)) {
        *bad = true;
        return NULL;
    }
    return dup_bytes(p, l);
}

#define CORRUPT(...) dr_errorf(DR_ECORRUPT, __VA_ARGS__)

static int dec_file(struct dr_reader *r, struct dr_node *n, size_t i)
{
    if (n->flags & DR_NODE_F_LISTED) {
        uint32_t nc = dr_rd_u32le(r);
        uint32_t nd = dr_rd_u32le(r);
        dr_rd_copy(r, n->list.b, DR_ID_LEN);
        if (dr_rd_ok(r) && (nc || nd)) {
            return CORRUPT("tree node %zu: file with a chunk list has chunks or ranges of its own",
                           i);
        }
        const char *why = dr_rd_ok(r) ? check_file(n) : NULL;
        return why ? CORRUPT("tree node %zu: %s", i, why) : 0;
    }
    uint32_t nc = dr_rd_u32le(r);
    /* Bound by what the record still holds before allocating. */
    if (!dr_rd_ok(r) || nc > dr_rd_left(r) / CHUNK_REC_LEN) {
        return CORRUPT("tree node %zu: chunk count %u exceeds its record", i, nc);
    }
    n->nchunks = nc;
    if (nc) {
        n->chunks = dr_xcalloc(nc, sizeof(n->chunks[0]));
        n->chunk_sizes = dr_xcalloc(nc, sizeof(n->chunk_sizes[0]));
    }
    for (uint32_t j = 0; j < nc; j++) {
        dr_rd_copy(r, n->chunks[j].b, DR_ID_LEN);
        n->chunk_sizes[j] = dr_rd_u32le(r);
    }
    uint32_t nd = dr_rd_u32le(r);
    if (!dr_rd_ok(r) || nd > dr_rd_left(r) / RANGE_REC_LEN) {
        return CORRUPT("tree node %zu: damaged range count %u exceeds its record", i, nd);
    }
    n->ndamaged = nd;
    if (nd) {
        n->damaged = dr_xcalloc(nd, sizeof(n->damaged[0]));
    }
    for (uint32_t j = 0; j < nd; j++) {
        n->damaged[j].off = dr_rd_u64le(r);
        n->damaged[j].len = dr_rd_u64le(r);
    }
    const char *why = check_file(n);
    if (why) {
        return CORRUPT("tree node %zu: %s", i, why);
    }
    return 0;
}

/* Decodes the record body in r (exactly rec_len bytes) into n. Fields past the known ones are
 * ignored: a newer writer may append to a record without changing the version. */
static int dec_node(struct dr_reader *r, struct dr_node *n, size_t i, const struct dr_node *prev,
                    uint32_t version)
{
    bool bad = false;

    n->type = dr_rd_u8(r);
    uint16_t nl = dr_rd_u16le(r);
    const uint8_t *name = dr_rd_bytes(r, nl);
    if (!name) {
        return CORRUPT("tree node %zu: record too short for its name", i);
    }
    if (!dr_name_valid((const char *)name, nl)) {
        return CORRUPT("tree node %zu: name is not a valid path component", i);
    }
    n->name = dup_bytes(name, nl);
    if (prev && strcmp(prev->name, n->name) >= 0) {
        return CORRUPT("tree node %zu ('%s'): names not sorted or not unique", i, n->name);
    }
    if (!type_known(n->type)) {
        return CORRUPT("tree node %zu ('%s'): unknown type %u", i, n->name, n->type);
    }
    n->mode = dr_rd_u32le(r);
    n->uid = dr_rd_u32le(r);
    n->gid = dr_rd_u32le(r);
    n->user = dec_owner(r, &bad);
    n->group = bad ? NULL : dec_owner(r, &bad);
    if (bad) {
        return CORRUPT("tree node %zu ('%s'): user or group name contains NUL", i, n->name);
    }
    n->mtime_ns = (int64_t)dr_rd_u64le(r);
    n->ctime_ns = (int64_t)dr_rd_u64le(r);
    n->size = dr_rd_u64le(r);
    n->dev = dr_rd_u64le(r);
    n->inode = dr_rd_u64le(r);
    n->nlink = dr_rd_u32le(r);
    n->rdev = dr_rd_u64le(r);
    n->flags = dr_rd_u32le(r);
    if (version < TREE_VERSION_LISTS || n->type != DR_NODE_FILE) {
        n->flags &= ~DR_NODE_F_LISTED; /* not defined there: ignored, as every unknown bit */
    }
    if (!dr_rd_ok(r)) {
        return CORRUPT("tree node %zu ('%s'): record too short", i, n->name);
    }
    if (n->mode > MODE_MAX) {
        return CORRUPT("tree node %zu ('%s'): mode %#o has bits above 07777", i, n->name, n->mode);
    }

    if (n->type == DR_NODE_DIR) {
        dr_rd_copy(r, n->subtree.b, DR_ID_LEN);
    } else if (n->type == DR_NODE_SYMLINK) {
        uint16_t tl = dr_rd_u16le(r);
        const uint8_t *tp = dr_rd_bytes(r, tl);
        if (tp && (tl == 0 || memchr(tp, '\0', tl))) {
            return CORRUPT("tree node %zu ('%s'): symlink target empty or contains NUL", i,
                           n->name);
        }
        /* tl is a u16, so DR_TARGET_MAX (65535) holds by construction. */
        if (tp) {
            n->target = dup_bytes(tp, tl);
        }
    } else if (n->type == DR_NODE_FILE) {
        int rc = dec_file(r, n, i);
        if (rc < 0) {
            return rc;
        }
    }
    if (!dr_rd_ok(r)) {
        return CORRUPT("tree node %zu ('%s'): record too short", i, n->name);
    }
    return 0;
}

int dr_tree_decode(const uint8_t *p, size_t len, struct dr_tree *t)
{
    struct dr_reader r;
    int rc = 0;

    if (len > DR_TREE_MAX) {
        return CORRUPT("tree is %zu bytes, more than the limit of %u", len, DR_TREE_MAX);
    }
    dr_rd_init(&r, p, len);
    const uint8_t *magic = dr_rd_bytes(&r, DR_MAGIC_LEN);
    uint32_t version = dr_rd_u32le(&r);
    uint32_t count = dr_rd_u32le(&r);
    if (!dr_rd_ok(&r)) {
        return CORRUPT("tree is too short (%zu bytes) for its header", len);
    }
    if (memcmp(magic, DR_MAGIC_TREE, DR_MAGIC_LEN) != 0) {
        return CORRUPT("tree has bad magic");
    }
    if (version > TREE_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED, "tree version %u is newer than this build supports (%u)",
                         version, TREE_VERSION);
    }
    if (version == 0) {
        return CORRUPT("tree has invalid version %u", version);
    }
    if (count > DR_TREE_NODES_MAX || count > dr_rd_left(&r) / NODE_MIN_LEN) {
        return CORRUPT("tree node count %u is impossible for %zu bytes", count, len);
    }

    t->nodes = count ? dr_xcalloc(count, sizeof(t->nodes[0])) : NULL;
    t->alloc = count;
    t->n = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t rec_len = dr_rd_u32le(&r);
        if (!dr_rd_ok(&r) || rec_len > dr_rd_left(&r)) {
            rc = CORRUPT("tree node %u: record length %u exceeds the %zu bytes left", i, rec_len,
                         dr_rd_left(&r));
            goto out;
        }
        struct dr_reader rec;
        dr_rd_init(&rec, dr_rd_bytes(&r, rec_len), rec_len);
        /* Count the node first so that out: releases whatever dec_node allocated. */
        t->n++;
        rc = dec_node(&rec, &t->nodes[i], i, i ? &t->nodes[i - 1] : NULL, version);
        if (rc < 0) {
            goto out;
        }
    }
    if (dr_rd_left(&r) != 0) {
        rc = CORRUPT("tree has %zu bytes after its %u nodes", dr_rd_left(&r), count);
        goto out;
    }
    if (version != canonical_version(t)) {
        rc = CORRUPT("tree of version 2 has no file with a chunk list");
        goto out;
    }
out:
    if (rc < 0) {
        dr_tree_release(t);
    }
    return rc;
}
