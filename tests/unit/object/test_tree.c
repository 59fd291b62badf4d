/* test_tree.c: the tree blob codec (src/object/tree.c).
 *
 * Covers: round trip of every node type with every field; encode rejecting unsorted, duplicate
 * and unsafe names and inconsistent nodes (DR_EUSAGE); decode rejecting each kind of corruption
 * of a valid blob (DR_ECORRUPT, DR_EUNSUPPORTED), including truncation at every length;
 * forward-compatible records with trailing bytes; dr_tree_sort, dr_tree_find, dr_name_valid;
 * dr_node_scalars, a copy that owns nothing (names, chunks, ranges, chunk lists). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/tree.h"
#include "codec.h"

/* Offsets inside a one-node blob, for tests that corrupt one field. */
#define OFF_COUNT 12
#define OFF_REC_LEN 16
#define OFF_TYPE 20
#define OFF_NAME_LEN 21
#define OFF_NAME 23

static void fill_id(struct dr_id *id, uint8_t seed)
{
    for (int i = 0; i < DR_ID_LEN; i++) {
        id->b[i] = (uint8_t)(seed + i);
    }
}

/* A node with every common field set to a distinct value. */
static void node_base(struct dr_node *n, const char *name, uint8_t type)
{
    memset(n, 0, sizeof(*n));
    n->name = dr_xstrdup(name);
    n->type = type;
    n->mode = 04755;
    n->uid = 1000;
    n->gid = 100;
    n->user = dr_xstrdup("alice");
    n->group = dr_xstrdup("staff");
    n->mtime_ns = 1700000000123456789LL;
    n->ctime_ns = -5; /* before the epoch: i64 must survive */
    n->dev = 0x0123456789abcdefULL;
    n->inode = 424242;
    n->nlink = 2;
    n->rdev = 0;
    n->flags = 0;
}

static void add_file(struct dr_tree *t, const char *name, uint32_t nchunks)
{
    struct dr_node n;
    node_base(&n, name, DR_NODE_FILE);
    n.nchunks = nchunks;
    n.chunks = nchunks ? dr_xcalloc(nchunks, sizeof(n.chunks[0])) : NULL;
    n.chunk_sizes = nchunks ? dr_xcalloc(nchunks, sizeof(n.chunk_sizes[0])) : NULL;
    for (uint32_t i = 0; i < nchunks; i++) {
        fill_id(&n.chunks[i], (uint8_t)(i * 7));
        n.chunk_sizes[i] = 1000 + i;
        n.size += 1000 + i;
    }
    dr_tree_add(t, &n);
}

static void add_simple(struct dr_tree *t, const char *name, uint8_t type)
{
    struct dr_node n;
    node_base(&n, name, type);
    if (type == DR_NODE_DIR) {
        fill_id(&n.subtree, 0x40);
    } else if (type == DR_NODE_SYMLINK) {
        n.target = dr_xstrdup("../some/where else");
        n.size = strlen(n.target);
    } else if (type == DR_NODE_CHARDEV || type == DR_NODE_BLOCKDEV) {
        n.rdev = 0x0803;
    }
    dr_tree_add(t, &n);
}

/* A tree with one node of every type, sorted. */
static void build_full(struct dr_tree *t)
{
    dr_tree_init(t);
    add_simple(t, "zsock", DR_NODE_SOCKET);
    add_file(t, "file.txt", 3);
    add_simple(t, "dir", DR_NODE_DIR);
    add_simple(t, "link", DR_NODE_SYMLINK);
    add_simple(t, "tty", DR_NODE_CHARDEV);
    add_simple(t, "sda", DR_NODE_BLOCKDEV);
    add_simple(t, "fifo", DR_NODE_FIFO);
    add_file(t, "empty", 0);
    /* A damaged file: one lost range, chunks short of the size. */
    struct dr_node n;
    node_base(&n, "broken", DR_NODE_FILE);
    n.flags = DR_NODE_F_DAMAGED;
    n.nchunks = 1;
    n.chunks = dr_xcalloc(1, sizeof(n.chunks[0]));
    n.chunk_sizes = dr_xcalloc(1, sizeof(n.chunk_sizes[0]));
    fill_id(&n.chunks[0], 9);
    n.chunk_sizes[0] = 10;
    n.size = 30;
    n.ndamaged = 1;
    n.damaged = dr_xcalloc(1, sizeof(n.damaged[0]));
    n.damaged[0].off = 10;
    n.damaged[0].len = 20;
    dr_tree_add(t, &n);
    dr_tree_sort(t);
}

static void encode_ok(const struct dr_tree *t, struct dr_buf *b)
{
    dr_buf_init(b, DR_BUF_MAX_DEFAULT);
    int rc = dr_tree_encode(t, b);
    if (rc < 0) {
        fail_msg("encode: %s", dr_error_msg());
    }
}

static void assert_str_eq_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        assert_ptr_equal(a, b);
    } else {
        assert_string_equal(a, b);
    }
}

static void assert_node_eq(const struct dr_node *a, const struct dr_node *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->uid, b->uid);
    assert_int_equal(a->gid, b->gid);
    assert_string_equal(a->user, b->user);
    assert_string_equal(a->group, b->group);
    assert_true(a->mtime_ns == b->mtime_ns);
    assert_true(a->ctime_ns == b->ctime_ns);
    assert_true(a->size == b->size);
    assert_true(a->dev == b->dev);
    assert_true(a->inode == b->inode);
    assert_int_equal(a->nlink, b->nlink);
    assert_true(a->rdev == b->rdev);
    assert_int_equal(a->flags, b->flags);
    assert_str_eq_null(a->target, b->target);
    if (a->type == DR_NODE_DIR) {
        assert_memory_equal(a->subtree.b, b->subtree.b, DR_ID_LEN);
    }
    assert_int_equal(a->nchunks, b->nchunks);
    for (uint32_t i = 0; i < a->nchunks; i++) {
        assert_memory_equal(a->chunks[i].b, b->chunks[i].b, DR_ID_LEN);
        assert_int_equal(a->chunk_sizes[i], b->chunk_sizes[i]);
    }
    assert_int_equal(a->ndamaged, b->ndamaged);
    for (uint32_t i = 0; i < a->ndamaged; i++) {
        assert_true(a->damaged[i].off == b->damaged[i].off);
        assert_true(a->damaged[i].len == b->damaged[i].len);
    }
}

static void assert_tree_eq(const struct dr_tree *a, const struct dr_tree *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_node_eq(&a->nodes[i], &b->nodes[i]);
    }
}

/* Decodes p and expects code; on error the tree must be left empty. */
static void expect_decode(const void *p, size_t len, int code)
{
    struct dr_tree t;
    dr_tree_init(&t);
    int rc = dr_tree_decode(p, len, &t);
    if (rc != code) {
        fail_msg("decode of %zu bytes: got %d (%s), want %d", len, rc, dr_error_msg(), code);
    }
    if (rc < 0) {
        assert_int_equal(t.n, 0);
        assert_null(t.nodes);
        assert_true(strlen(dr_error_msg()) > 0);
    }
    dr_tree_release(&t);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct dr_tree t, d;
    struct dr_buf b;

    build_full(&t);
    encode_ok(&t, &b);
    assert_memory_equal(b.buf, DR_MAGIC_TREE, DR_MAGIC_LEN);

    dr_tree_init(&d);
    assert_int_equal(dr_tree_decode((const uint8_t *)b.buf, b.len, &d), 0);
    assert_tree_eq(&t, &d);
    assert_int_equal(d.n, 9);

    /* Re-encoding the decoded tree gives the same bytes: the encoding is canonical. */
    struct dr_buf b2;
    encode_ok(&d, &b2);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.buf, b2.buf, b.len);

    dr_buf_release(&b2);
    dr_buf_release(&b);
    dr_tree_release(&d);
    dr_tree_release(&t);
}

static void test_empty_tree(void **state)
{
    (void)state;
    struct dr_tree t, d;
    struct dr_buf b;

    dr_tree_init(&t);
    encode_ok(&t, &b);
    assert_int_equal(b.len, 16);
    dr_tree_init(&d);
    assert_int_equal(dr_tree_decode((const uint8_t *)b.buf, b.len, &d), 0);
    assert_int_equal(d.n, 0);
    dr_tree_release(&d);
    dr_buf_release(&b);
}

static void test_null_owner_encodes_empty(void **state)
{
    (void)state;
    struct dr_tree t, d;
    struct dr_buf b;

    dr_tree_init(&t);
    add_simple(&t, "f", DR_NODE_FIFO);
    free(t.nodes[0].user);
    t.nodes[0].user = NULL;
    encode_ok(&t, &b);
    dr_tree_init(&d);
    assert_int_equal(dr_tree_decode((const uint8_t *)b.buf, b.len, &d), 0);
    assert_string_equal(d.nodes[0].user, "");
    assert_string_equal(d.nodes[0].group, "staff");
    dr_tree_release(&d);
    dr_tree_release(&t);
    dr_buf_release(&b);
}

static void expect_encode_usage(struct dr_tree *t)
{
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_tree_encode(t, &b), DR_EUSAGE);
    assert_int_equal(b.len, 0); /* nothing appended on failure */
    dr_buf_release(&b);
    dr_tree_release(t);
}

static void test_encode_rejects(void **state)
{
    (void)state;
    struct dr_tree t;
    static const char *const bad_names[] = {"", ".", "..", "a/b", "/"};

    /* unsorted */
    dr_tree_init(&t);
    add_simple(&t, "b", DR_NODE_FIFO);
    add_simple(&t, "a", DR_NODE_FIFO);
    expect_encode_usage(&t);
    /* duplicate */
    dr_tree_init(&t);
    add_simple(&t, "a", DR_NODE_FIFO);
    add_simple(&t, "a", DR_NODE_DIR);
    expect_encode_usage(&t);
    /* invalid names */
    for (size_t i = 0; i < DR_ARRAY_LEN(bad_names); i++) {
        dr_tree_init(&t);
        add_simple(&t, bad_names[i], DR_NODE_FIFO);
        expect_encode_usage(&t);
    }
    /* NULL name */
    dr_tree_init(&t);
    add_simple(&t, "x", DR_NODE_FIFO);
    free(t.nodes[0].name);
    t.nodes[0].name = NULL;
    expect_encode_usage(&t);
    /* name over DR_NAME_MAX */
    char *longname = dr_xmalloc(DR_NAME_MAX + 2);
    memset(longname, 'n', DR_NAME_MAX + 1);
    longname[DR_NAME_MAX + 1] = '\0';
    dr_tree_init(&t);
    add_simple(&t, longname, DR_NODE_FIFO);
    expect_encode_usage(&t);
    free(longname);
    /* unknown type */
    dr_tree_init(&t);
    add_simple(&t, "x", 0);
    expect_encode_usage(&t);
    dr_tree_init(&t);
    add_simple(&t, "x", 8);
    expect_encode_usage(&t);
    /* mode with file-type bits */
    dr_tree_init(&t);
    add_simple(&t, "x", DR_NODE_FIFO);
    t.nodes[0].mode = 0100644;
    expect_encode_usage(&t);
    /* symlink without target */
    dr_tree_init(&t);
    add_simple(&t, "x", DR_NODE_SYMLINK);
    free(t.nodes[0].target);
    t.nodes[0].target = dr_xstrdup("");
    expect_encode_usage(&t);
    /* target on a non-symlink */
    dr_tree_init(&t);
    add_simple(&t, "x", DR_NODE_FIFO);
    t.nodes[0].target = dr_xstrdup("t");
    expect_encode_usage(&t);
    /* chunks on a directory */
    dr_tree_init(&t);
    add_file(&t, "x", 1);
    t.nodes[0].type = DR_NODE_DIR;
    expect_encode_usage(&t);
    /* size mismatch */
    dr_tree_init(&t);
    add_file(&t, "x", 2);
    t.nodes[0].size++;
    expect_encode_usage(&t);
    /* damaged range past the end */
    dr_tree_init(&t);
    add_file(&t, "x", 1);
    t.nodes[0].flags = DR_NODE_F_DAMAGED;
    t.nodes[0].ndamaged = 1;
    t.nodes[0].damaged = dr_xcalloc(1, sizeof(struct dr_range));
    t.nodes[0].damaged[0].off = UINT64_MAX;
    t.nodes[0].damaged[0].len = 2;
    expect_encode_usage(&t);
    dr_tree_init(&t);
    add_file(&t, "x", 1);
    t.nodes[0].flags = DR_NODE_F_DAMAGED;
    t.nodes[0].ndamaged = 1;
    t.nodes[0].damaged = dr_xcalloc(1, sizeof(struct dr_range));
    t.nodes[0].damaged[0].off = 1;
    t.nodes[0].damaged[0].len = t.nodes[0].size; /* one byte past the end */
    expect_encode_usage(&t);
    /* owner name over 255 bytes */
    dr_tree_init(&t);
    add_simple(&t, "x", DR_NODE_FIFO);
    free(t.nodes[0].user);
    t.nodes[0].user = dr_xmalloc(300);
    memset(t.nodes[0].user, 'u', 299);
    t.nodes[0].user[299] = '\0';
    expect_encode_usage(&t);
}

static void test_name_valid(void **state)
{
    (void)state;
    assert_true(dr_name_valid("a", 1));
    assert_true(dr_name_valid("...", 3));
    assert_true(dr_name_valid(".hidden", 7));
    assert_true(dr_name_valid("\xff\xfe", 2)); /* names are bytes, not UTF-8 */
    assert_false(dr_name_valid("", 0));
    assert_false(dr_name_valid(".", 1));
    assert_false(dr_name_valid("..", 2));
    assert_false(dr_name_valid("a/b", 3));
    assert_false(dr_name_valid("a\0b", 3));
    char *n = dr_xmalloc(DR_NAME_MAX + 1);
    memset(n, 'x', DR_NAME_MAX + 1);
    assert_true(dr_name_valid(n, DR_NAME_MAX));
    assert_false(dr_name_valid(n, DR_NAME_MAX + 1));
    free(n);
}

/* A one-node blob: a file "q" with 2 chunks. Returned in b (release it). */
static void one_file_blob(struct dr_buf *b)
{
    struct dr_tree t;
    dr_tree_init(&t);
    add_file(&t, "q", 2);
    encode_ok(&t, b);
    dr_tree_release(&t);
}

/* Offset of the size field in a node whose name, user and group have these lengths. */
static size_t off_size(size_t nl, size_t ul, size_t gl)
{
    return OFF_NAME + nl + 12 + 1 + ul + 1 + gl + 16;
}

/* Rebuilds the one-node blob b with its name replaced by name[0..nl), fixing rec_len. */
static void replace_name(struct dr_buf *b, const char *name, size_t nl)
{
    struct dr_buf o = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    uint16_t old = dr_get_u16le((uint8_t *)b->buf + OFF_NAME_LEN);
    uint32_t rec = dr_get_u32le((uint8_t *)b->buf + OFF_REC_LEN);
    assert_int_equal(dr_buf_add(&o, b->buf, OFF_NAME_LEN), 0);
    assert_int_equal(dr_buf_add_u16le(&o, (uint16_t)nl), 0);
    assert_int_equal(dr_buf_add(&o, name, nl), 0);
    assert_int_equal(dr_buf_add(&o, b->buf + OFF_NAME + old, b->len - OFF_NAME - old), 0);
    dr_put_u32le((uint8_t *)o.buf + OFF_REC_LEN, (uint32_t)(rec - old + nl));
    dr_buf_release(b);
    *b = o;
}

static void test_decode_truncated(void **state)
{
    (void)state;
    struct dr_tree t;
    struct dr_buf b;

    build_full(&t);
    encode_ok(&t, &b);
    dr_test_truncations(b.buf, b.len, expect_decode);
    expect_decode(b.buf, b.len, 0);
    dr_buf_release(&b);
    dr_tree_release(&t);
}

static void test_decode_header(void **state)
{
    (void)state;
    struct dr_buf b;
    one_file_blob(&b);
    uint8_t *p = (uint8_t *)b.buf;

    expect_decode(p, b.len, 0);
    p[0] = 'X'; /* wrong magic */
    expect_decode(p, b.len, DR_ECORRUPT);
    p[0] = 'D';
    dr_put_u32le(p + 8, 3); /* newer version */
    expect_decode(p, b.len, DR_EUNSUPPORTED);
    assert_non_null(strstr(dr_error_msg(), "version 3"));
    dr_put_u32le(p + 8, 0); /* version 0 never existed */
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_put_u32le(p + 8, 1);
    /* count too large: implausible for the length, and over the limit */
    dr_put_u32le(p + OFF_COUNT, 2);
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_put_u32le(p + OFF_COUNT, 1000);
    expect_decode(p, b.len, DR_ECORRUPT);
    /* rejected up front, before the node array is allocated, not by running out of records */
    assert_non_null(strstr(dr_error_msg(), "count 1000"));
    dr_put_u32le(p + OFF_COUNT, UINT32_MAX);
    expect_decode(p, b.len, DR_ECORRUPT);
    /* count too small: the record is left over */
    dr_put_u32le(p + OFF_COUNT, 0);
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_put_u32le(p + OFF_COUNT, 1);
    expect_decode(p, b.len, 0);
    /* oversized input */
    expect_decode(p, (size_t)DR_TREE_MAX + 1, DR_ECORRUPT);
    dr_buf_release(&b);
}

static void test_decode_trailing_garbage(void **state)
{
    (void)state;
    struct dr_buf b;
    one_file_blob(&b);
    assert_int_equal(dr_buf_addch(&b, 0), 0);
    expect_decode(b.buf, b.len, DR_ECORRUPT);
    dr_buf_release(&b);
}

static void test_decode_rec_len(void **state)
{
    (void)state;
    struct dr_buf b;
    one_file_blob(&b);
    uint8_t *p = (uint8_t *)b.buf;
    uint32_t rec = dr_get_u32le(p + OFF_REC_LEN);
    assert_int_equal(rec, b.len - 20);

    dr_put_u32le(p + OFF_REC_LEN, UINT32_MAX); /* overflow */
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_put_u32le(p + OFF_REC_LEN, rec + 1); /* one past the input */
    expect_decode(p, b.len, DR_ECORRUPT);
    /* shorter than its fields: every length below the real one fails (the remainder then
     * also becomes trailing garbage, but the record is checked first) */
    for (uint32_t l = 0; l < rec; l++) {
        dr_put_u32le(p + OFF_REC_LEN, l);
        expect_decode(p, b.len, DR_ECORRUPT);
    }
    dr_buf_release(&b);
}

static void test_decode_bad_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {{"", 0}, {".", 1}, {"..", 2}, {"a/b", 3}, {"/", 1}, {"a\0b", 3}, {"\0", 1}};

    for (size_t i = 0; i < DR_ARRAY_LEN(bad); i++) {
        struct dr_buf b;
        one_file_blob(&b);
        replace_name(&b, bad[i].s, bad[i].len);
        expect_decode(b.buf, b.len, DR_ECORRUPT);
        assert_non_null(strstr(dr_error_msg(), "name"));
        dr_buf_release(&b);
    }
    /* The helper itself is sound: a good replacement decodes. */
    struct dr_buf b;
    one_file_blob(&b);
    replace_name(&b, "good name", 9);
    expect_decode(b.buf, b.len, 0);
    dr_buf_release(&b);
    /* A name over DR_NAME_MAX (the u16 length allows more). */
    char *n = dr_xmalloc(DR_NAME_MAX + 1);
    memset(n, 'x', DR_NAME_MAX + 1);
    one_file_blob(&b);
    replace_name(&b, n, DR_NAME_MAX + 1);
    expect_decode(b.buf, b.len, DR_ECORRUPT);
    dr_buf_release(&b);
    one_file_blob(&b);
    replace_name(&b, n, DR_NAME_MAX);
    expect_decode(b.buf, b.len, 0);
    dr_buf_release(&b);
    free(n);
}

/* Encodes nodes "a" and "b" and patches the second name's single byte. */
static void expect_two_names(char second, int code)
{
    struct dr_tree t;
    struct dr_buf b;
    dr_tree_init(&t);
    add_simple(&t, "a", DR_NODE_FIFO);
    add_simple(&t, "b", DR_NODE_FIFO);
    encode_ok(&t, &b);
    uint8_t *p = (uint8_t *)b.buf;
    size_t second_rec = OFF_REC_LEN + 4 + dr_get_u32le(p + OFF_REC_LEN);
    assert_int_equal(p[second_rec + 7], 'b');
    p[second_rec + 7] = (uint8_t)second;
    expect_decode(p, b.len, code);
    if (code < 0) {
        assert_non_null(strstr(dr_error_msg(), "sorted"));
    }
    dr_buf_release(&b);
    dr_tree_release(&t);
}

static void test_decode_unsorted(void **state)
{
    (void)state;
    expect_two_names('c', 0);
    expect_two_names('a', DR_ECORRUPT); /* duplicate */
    expect_two_names('A', DR_ECORRUPT); /* before 'a' */
    /* bytewise: 0xff sorts after 'a' (unsigned comparison) */
    expect_two_names((char)0xff, 0);
}

static void test_decode_fields(void **state)
{
    (void)state;
    struct dr_buf b;
    size_t osz = off_size(1, 5, 5); /* "q", "alice", "staff" */
    size_t onchunks = osz + 8 * 3 + 4 + 8 + 4;
    uint8_t *p;

    /* size mismatch */
    one_file_blob(&b);
    p = (uint8_t *)b.buf;
    assert_int_equal(dr_get_u64le(p + osz), 2001);
    dr_put_u64le(p + osz, 2002);
    expect_decode(p, b.len, DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "size"));
    /* ...which the damaged flag allows (ranges must still fit) */
    dr_put_u32le(p + onchunks - 4, DR_NODE_F_DAMAGED);
    expect_decode(p, b.len, 0);
    dr_buf_release(&b);

    /* chunk count beyond the record */
    one_file_blob(&b);
    p = (uint8_t *)b.buf;
    assert_int_equal(dr_get_u32le(p + onchunks), 2);
    dr_put_u32le(p + onchunks, 3);
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_put_u32le(p + onchunks, UINT32_MAX);
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_put_u32le(p + onchunks, 1); /* fewer chunks: sizes no longer add up */
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_buf_release(&b);

    /* damaged count beyond the record */
    one_file_blob(&b);
    p = (uint8_t *)b.buf;
    size_t ond = onchunks + 4 + 2 * 36;
    assert_int_equal(dr_get_u32le(p + ond), 0);
    dr_put_u32le(p + ond, 1);
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_buf_release(&b);

    /* unknown type */
    one_file_blob(&b);
    p = (uint8_t *)b.buf;
    p[OFF_TYPE] = 0;
    expect_decode(p, b.len, DR_ECORRUPT);
    p[OFF_TYPE] = 8;
    expect_decode(p, b.len, DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "type"));
    /* a file record read as a fifo has trailing bytes, which are skipped: still valid */
    p[OFF_TYPE] = DR_NODE_FIFO;
    expect_decode(p, b.len, 0);
    dr_buf_release(&b);

    /* mode over 07777 */
    one_file_blob(&b);
    p = (uint8_t *)b.buf;
    dr_put_u32le(p + OFF_NAME + 1, 010000);
    expect_decode(p, b.len, DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "mode"));
    dr_buf_release(&b);

    /* NUL in the user name */
    one_file_blob(&b);
    p = (uint8_t *)b.buf;
    assert_int_equal(p[OFF_NAME + 1 + 13], 'a');
    p[OFF_NAME + 1 + 13] = 0;
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_buf_release(&b);
}

static void test_decode_symlink(void **state)
{
    (void)state;
    struct dr_tree t;
    struct dr_buf b;

    dr_tree_init(&t);
    add_simple(&t, "l", DR_NODE_SYMLINK);
    encode_ok(&t, &b);
    uint8_t *p = (uint8_t *)b.buf;
    size_t otl = off_size(1, 5, 5) + 8 * 3 + 4 + 8 + 4;
    uint16_t tl = dr_get_u16le(p + otl);
    assert_int_equal(tl, strlen(t.nodes[0].target));
    expect_decode(p, b.len, 0);
    p[otl + 2 + 3] = 0; /* NUL inside the target */
    expect_decode(p, b.len, DR_ECORRUPT);
    p[otl + 2 + 3] = 'x';
    dr_put_u16le(p + otl, (uint16_t)(tl + 1)); /* longer than the record */
    expect_decode(p, b.len, DR_ECORRUPT);
    dr_put_u16le(p + otl, 0); /* empty target: the rest is skipped as trailing bytes */
    expect_decode(p, b.len, DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "target"));
    dr_buf_release(&b);
    dr_tree_release(&t);
}

static void test_forward_compat(void **state)
{
    (void)state;
    struct dr_tree t, d;
    struct dr_buf b;

    /* Two nodes; the first record gets 7 extra bytes that a newer writer might add. */
    dr_tree_init(&t);
    add_file(&t, "a", 2);
    add_simple(&t, "b", DR_NODE_DIR);
    encode_ok(&t, &b);
    uint8_t *p = (uint8_t *)b.buf;
    uint32_t rec = dr_get_u32le(p + OFF_REC_LEN);
    size_t end = OFF_REC_LEN + 4 + rec;

    struct dr_buf x = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_buf_add(&x, b.buf, end), 0);
    assert_int_equal(dr_buf_add(&x, "future!", 7), 0);
    assert_int_equal(dr_buf_add(&x, b.buf + end, b.len - end), 0);
    dr_put_u32le((uint8_t *)x.buf + OFF_REC_LEN, rec + 7);

    dr_tree_init(&d);
    assert_int_equal(dr_tree_decode((const uint8_t *)x.buf, x.len, &d), 0);
    assert_tree_eq(&t, &d);
    dr_tree_release(&d);

    /* Re-encoding drops the unknown bytes: back to the canonical form. */
    struct dr_buf y;
    dr_tree_init(&d);
    assert_int_equal(dr_tree_decode((const uint8_t *)x.buf, x.len, &d), 0);
    encode_ok(&d, &y);
    assert_int_equal(y.len, b.len);
    assert_memory_equal(y.buf, b.buf, b.len);

    dr_buf_release(&y);
    dr_buf_release(&x);
    dr_buf_release(&b);
    dr_tree_release(&d);
    dr_tree_release(&t);
}

static void test_sort_find(void **state)
{
    (void)state;
    struct dr_tree t;
    static const char *const names[] = {"m", "b", "\xc3\xa9t\xc3\xa9", "a", "zz", "B", "z", "aa"};

    dr_tree_init(&t);
    assert_null(dr_tree_find(&t, "a"));
    for (size_t i = 0; i < DR_ARRAY_LEN(names); i++) {
        add_simple(&t, names[i], DR_NODE_FIFO);
    }
    dr_tree_sort(&t);
    for (size_t i = 1; i < t.n; i++) {
        assert_true(strcmp(t.nodes[i - 1].name, t.nodes[i].name) < 0);
    }
    /* bytewise order: uppercase, lowercase, then UTF-8 bytes >= 0x80 */
    assert_string_equal(t.nodes[0].name, "B");
    assert_string_equal(t.nodes[t.n - 1].name, "\xc3\xa9t\xc3\xa9");
    for (size_t i = 0; i < DR_ARRAY_LEN(names); i++) {
        const struct dr_node *n = dr_tree_find(&t, names[i]);
        assert_non_null(n);
        assert_string_equal(n->name, names[i]);
    }
    assert_null(dr_tree_find(&t, "c"));
    assert_null(dr_tree_find(&t, ""));
    assert_null(dr_tree_find(&t, "zzz"));
    assert_null(dr_tree_find(&t, "0"));

    struct dr_buf b;
    encode_ok(&t, &b); /* sorted, so it encodes */
    dr_buf_release(&b);
    dr_tree_release(&t);
    assert_int_equal(t.n, 0);
    assert_null(t.nodes);
}

/* dr_node_scalars: a copy that owns nothing. Both it and the node it came from are released
 * (a double free or a leak would show under the sanitizers), and its scalars are the node's. */
static void test_node_scalars(void **state)
{
    (void)state;
    struct dr_node n = {0};
    n.name = dr_xstrdup("f");
    n.user = dr_xstrdup("u");
    n.group = dr_xstrdup("g");
    n.type = DR_NODE_FILE;
    n.size = 10;
    n.nlink = 2;
    n.flags = DR_NODE_F_LISTED;
    n.nchunks = 1;
    n.chunks = dr_xcalloc(1, sizeof(*n.chunks));
    n.chunk_sizes = dr_xcalloc(1, sizeof(*n.chunk_sizes));
    n.ndamaged = 1;
    n.damaged = dr_xcalloc(1, sizeof(*n.damaged));
    memset(n.list.b, 7, sizeof(n.list.b));
    n.list_depth = 3;
    n.nlists = 2;
    n.lists = dr_xcalloc(2, sizeof(*n.lists));
    struct dr_node m = dr_node_scalars(&n);
    assert_null(m.name);
    assert_null(m.user);
    assert_null(m.group);
    assert_null(m.chunks);
    assert_null(m.chunk_sizes);
    assert_null(m.damaged);
    assert_null(m.lists);
    assert_int_equal(m.nlists, 0);
    assert_int_equal(m.type, DR_NODE_FILE);
    assert_int_equal(m.size, 10);
    assert_int_equal(m.nlink, 2);
    assert_int_equal(m.flags, DR_NODE_F_LISTED);
    assert_int_equal(m.nchunks, 1);
    assert_int_equal(m.ndamaged, 1);
    assert_memory_equal(m.list.b, n.list.b, sizeof(n.list.b));
    assert_int_equal(m.list_depth, 3);
    dr_node_release(&m);
    dr_node_release(&n);
}

/* dr_node_refs_distinct: a file's chunks and chunk lists, each id once, sorted (a chunk named
 * twice, a list that is also a chunk); a directory's tree is not among them; a symlink names
 * nothing. */
static void test_node_refs_distinct(void **state)
{
    (void)state;
    struct dr_id id[4];
    for (int i = 0; i < 4; i++) {
        memset(id[i].b, 0x40 - 0x10 * i, sizeof(id[i].b)); /* id[3] < id[2] < ... */
    }
    struct dr_node f = {.name = dr_xstrdup("f"), .type = DR_NODE_FILE, .nchunks = 4};
    f.chunks = dr_xcalloc(4, sizeof(*f.chunks));
    f.chunks[0] = id[0];
    f.chunks[1] = id[1];
    f.chunks[2] = id[0];
    f.chunks[3] = id[2];
    f.nlists = 2;
    f.lists = dr_xcalloc(2, sizeof(*f.lists));
    f.lists[0] = id[3];
    f.lists[1] = id[1];
    struct dr_id *v;
    size_t n = dr_node_refs_distinct(&f, &v);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_memory_equal(&v[i], &id[3 - i], sizeof(v[i]));
    }
    free(v);
    dr_node_release(&f);

    struct dr_node d = {.name = dr_xstrdup("d"), .type = DR_NODE_DIR, .subtree = id[1]};
    assert_int_equal(dr_node_refs_distinct(&d, &v), 0);
    assert_null(v);
    dr_node_release(&d);
    struct dr_node l = {.name = dr_xstrdup("l"), .type = DR_NODE_SYMLINK};
    l.target = dr_xstrdup("f");
    assert_int_equal(dr_node_refs_distinct(&l, &v), 0);
    assert_null(v);
    dr_node_release(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_tree),
        cmocka_unit_test(test_null_owner_encodes_empty),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_header),
        cmocka_unit_test(test_decode_trailing_garbage),
        cmocka_unit_test(test_decode_rec_len),
        cmocka_unit_test(test_decode_bad_names),
        cmocka_unit_test(test_decode_unsorted),
        cmocka_unit_test(test_decode_fields),
        cmocka_unit_test(test_decode_symlink),
        cmocka_unit_test(test_forward_compat),
        cmocka_unit_test(test_sort_find),
        cmocka_unit_test(test_node_scalars),
        cmocka_unit_test(test_node_refs_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
