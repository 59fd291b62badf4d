/* test_vectors_tree.c: the tree and snapshot test vectors in format/vectors/ (README.md there
 * describes each). The vectors are the contract: the code must produce exactly these bytes and
 * ids, and must decode them back to the values listed below.
 *
 * Covers: tree-v1.hex/.id (encode, decode, keyed blob id), snapshot-v1-body.hex (body
 * plaintext), snapshot-v1.hex/.id (file bytes with a fixed nonce, name, decode), and the
 * golden corrupt trees tree-bad-*.hex with the error each must produce.
 *
 * With DR_VECTORS_WRITE=1 the test writes the vector files from the code instead of checking
 * them. Do that only for a deliberate format change, together with format/tree.md or
 * format/snapshot.md, and review the diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/chunklist.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/snapshot.h"
#include "drrepo/tree.h"

/* Master key 40 41 .. 5f (the one of blobid-v1.txt, whose id_key it gives) and nonce
 * 60 61 .. 77, as stated in format/vectors/README.md. */
static struct dr_keys *key;
static uint8_t nonce[DR_NONCE_LEN];
static bool write_mode;

static int setup(void **state)
{
    (void)state;
    uint8_t m[DR_MASTER_KEY_LEN];
    if (dr_crypto_init() < 0) {
        return -1;
    }
    for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
        m[i] = (uint8_t)(0x40 + i);
    }
    for (int i = 0; i < DR_NONCE_LEN; i++) {
        nonce[i] = (uint8_t)(0x60 + i);
    }
    key = dr_keys_from_master(m);
    const char *w = getenv("DR_VECTORS_WRITE");
    write_mode = w && strcmp(w, "1") == 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dr_keys_free(key);
    return 0;
}

static char *vec_path(const char *name)
{
    const char *src = getenv("DR_SRC");
    if (!src) {
        fail_msg("DR_SRC is not set (ctest sets it to the source directory)");
    }
    return dr_xasprintf("%s/format/vectors/%s", src, name);
}

/* Reads a hex vector: hex digits, whitespace ignored. */
static void read_hex(const char *name, struct dr_buf *out)
{
    char *path = vec_path(name);
    FILE *f = fopen(path, "r");
    if (!f) {
        fail_msg("cannot open '%s'", path);
    }
    dr_buf_init(out, DR_BUF_MAX_DEFAULT);
    int c, hi = -1;
    while ((c = fgetc(f)) != EOF) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        }
        int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (v < 0) {
            fail_msg("'%s': not a lowercase hex digit: %c", path, c);
        }
        if (hi < 0) {
            hi = v;
        } else {
            assert_int_equal(dr_buf_addch(out, hi << 4 | v), 0);
            hi = -1;
        }
    }
    assert_int_equal(hi, -1);
    fclose(f);
    free(path);
}

static void write_hex(const char *name, const void *p, size_t len)
{
    char *path = vec_path(name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fail_msg("cannot create '%s'", path);
    }
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++) {
        fprintf(f, "%02x%s", b[i], (i % 32 == 31 || i == len - 1) ? "\n" : "");
    }
    assert_int_equal(fclose(f), 0);
    free(path);
}

/* Checks (or in write mode writes) bytes against a .hex vector. */
static void check_hex(const char *name, const void *p, size_t len)
{
    if (write_mode) {
        write_hex(name, p, len);
        return;
    }
    struct dr_buf v;
    read_hex(name, &v);
    if (v.len != len || memcmp(v.buf, p, len) != 0) {
        size_t i = 0;
        while (i < len && i < v.len && ((const uint8_t *)p)[i] == (uint8_t)v.buf[i]) {
            i++;
        }
        fail_msg("'%s': code gives %zu bytes, vector has %zu; first difference at %zu", name, len,
                 v.len, i);
    }
    dr_buf_release(&v);
}

static void check_id(const char *name, const struct dr_id *id)
{
    check_hex(name, id->b, DR_ID_LEN);
}

static void pattern_id(struct dr_id *id, uint8_t start)
{
    for (int i = 0; i < DR_ID_LEN; i++) {
        id->b[i] = (uint8_t)(start + i);
    }
}

static void node_common(struct dr_node *n, const char *name, uint8_t type)
{
    memset(n, 0, sizeof(*n));
    n->name = dr_xstrdup(name);
    n->type = type;
    n->mode = 0644;
    n->uid = 1000;
    n->gid = 1000;
    n->user = dr_xstrdup("alice");
    n->group = dr_xstrdup("users");
    n->mtime_ns = 1700000000000000000LL;
    n->ctime_ns = 1700000000500000000LL;
    n->dev = 0x801;
    n->inode = 100;
    n->nlink = 1;
}

/* Replaces node_common's owner with uid = gid = id and the names user and group. */
static void set_owner(struct dr_node *n, uint32_t id, const char *user, const char *group)
{
    n->uid = n->gid = id;
    free(n->user);
    free(n->group);
    n->user = dr_xstrdup(user);
    n->group = dr_xstrdup(group);
}

static void file_chunks(struct dr_node *n, uint32_t nchunks, const uint32_t *sizes)
{
    n->nchunks = nchunks;
    n->chunks = dr_xcalloc(nchunks, sizeof(n->chunks[0]));
    n->chunk_sizes = dr_xcalloc(nchunks, sizeof(n->chunk_sizes[0]));
    for (uint32_t i = 0; i < nchunks; i++) {
        pattern_id(&n->chunks[i], (uint8_t)(0xa0 + 0x10 * i));
        n->chunk_sizes[i] = sizes[i];
        n->size += sizes[i];
    }
}

/* Offset of the flags field in a record body (after rec_len): type, name, mode/uid/gid, user,
 * group, mtime, ctime, size, dev, inode, nlink, rdev (format/tree.md). */
#define NODE_FLAGS_OFF(name, user, group)                                                          \
    (1 + 2 + strlen(name) + 12 + 1 + strlen(user) + 1 + strlen(group) + 8 * 5 + 4 + 8)

/* The tree of tree-v1.hex, node by node as listed in format/vectors/README.md. */
static void build_tree(struct dr_tree *t)
{
    static const uint32_t readme_sizes[] = {524288, 1000};
    static const uint32_t ete_sizes[] = {5};
    static const uint32_t damaged_sizes[] = {4096};
    struct dr_node n;

    dr_tree_init(t);
    node_common(&n, "README.md", DR_NODE_FILE);
    file_chunks(&n, 2, readme_sizes);
    dr_tree_add(t, &n);

    node_common(&n, "bin", DR_NODE_DIR);
    n.mode = 0755;
    n.inode = 101;
    n.nlink = 2;
    pattern_id(&n.subtree, 0x20);
    dr_tree_add(t, &n);

    node_common(&n, "damaged", DR_NODE_FILE);
    n.inode = 102;
    n.flags = DR_NODE_F_DAMAGED;
    file_chunks(&n, 1, damaged_sizes);
    n.size = 8192;
    n.ndamaged = 1;
    n.damaged = dr_xcalloc(1, sizeof(n.damaged[0]));
    n.damaged[0].off = 4096;
    n.damaged[0].len = 4096;
    dr_tree_add(t, &n);

    node_common(&n, "dev-null", DR_NODE_CHARDEV);
    n.mode = 0666;
    set_owner(&n, 0, "root", "root");
    n.inode = 103;
    n.rdev = 0x103;
    dr_tree_add(t, &n);

    node_common(&n, "empty", DR_NODE_FILE);
    n.inode = 104;
    dr_tree_add(t, &n);

    node_common(&n, "fifo", DR_NODE_FIFO);
    n.mode = 0600;
    n.inode = 105;
    dr_tree_add(t, &n);

    node_common(&n, "link", DR_NODE_SYMLINK);
    n.mode = 0777;
    n.inode = 106;
    n.target = dr_xstrdup("README.md");
    n.size = 9;
    dr_tree_add(t, &n);

    node_common(&n, "sda", DR_NODE_BLOCKDEV);
    n.mode = 0660;
    n.uid = 0;
    n.gid = 6;
    free(n.user);
    free(n.group);
    n.user = dr_xstrdup("");
    n.group = dr_xstrdup("disk");
    n.inode = 107;
    n.rdev = 0x800;
    n.mtime_ns = -1; /* before the epoch */
    dr_tree_add(t, &n);

    node_common(&n, "sock", DR_NODE_SOCKET);
    n.mode = 04755; /* setuid survives */
    n.inode = 108;
    dr_tree_add(t, &n);

    node_common(&n, "\xc3\xa9t\xc3\xa9", DR_NODE_FILE); /* "été": bytes >= 0x80 sort last */
    n.inode = 109;
    n.nlink = 2;
    file_chunks(&n, 1, ete_sizes);
    dr_tree_add(t, &n);
}

static void assert_trees_equal(const struct dr_tree *a, const struct dr_tree *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct dr_node *x = &a->nodes[i], *y = &b->nodes[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->mode, y->mode);
        assert_int_equal(x->uid, y->uid);
        assert_int_equal(x->gid, y->gid);
        assert_string_equal(x->user, y->user);
        assert_string_equal(x->group, y->group);
        assert_true(x->mtime_ns == y->mtime_ns && x->ctime_ns == y->ctime_ns);
        assert_true(x->size == y->size && x->dev == y->dev && x->inode == y->inode);
        assert_true(x->nlink == y->nlink && x->rdev == y->rdev && x->flags == y->flags);
        if (x->target || y->target) {
            assert_non_null(x->target);
            assert_non_null(y->target);
            assert_string_equal(x->target, y->target);
        }
        assert_memory_equal(x->subtree.b, y->subtree.b, DR_ID_LEN);
        assert_int_equal(x->nchunks, y->nchunks);
        for (uint32_t j = 0; j < x->nchunks; j++) {
            assert_memory_equal(x->chunks[j].b, y->chunks[j].b, DR_ID_LEN);
            assert_int_equal(x->chunk_sizes[j], y->chunk_sizes[j]);
        }
        assert_int_equal(x->ndamaged, y->ndamaged);
        for (uint32_t j = 0; j < x->ndamaged; j++) {
            assert_true(x->damaged[j].off == y->damaged[j].off);
            assert_true(x->damaged[j].len == y->damaged[j].len);
        }
    }
}

static void test_tree_vector(void **state)
{
    (void)state;
    struct dr_tree t, d;
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_id id;

    build_tree(&t);
    assert_int_equal(dr_tree_encode(&t, &b), 0);
    check_hex("tree-v1.hex", b.buf, b.len);
    dr_crypto_blob_id(key, b.buf, b.len, &id);
    check_id("tree-v1.id", &id);

    if (!write_mode) {
        struct dr_buf v;
        read_hex("tree-v1.hex", &v);
        dr_tree_init(&d);
        assert_int_equal(dr_tree_decode((const uint8_t *)v.buf, v.len, &d), 0);
        assert_trees_equal(&t, &d);
        assert_non_null(dr_tree_find(&d, "\xc3\xa9t\xc3\xa9"));
        dr_tree_release(&d);
        dr_buf_release(&v);
    }
    dr_buf_release(&b);
    dr_tree_release(&t);
}

/* The tree of tree-v1-incomplete.hex (README.md): three directories, two of them marked
 * INCOMPLETE (flag bit 2), as a snapshot writes a directory it could not read. */
static void build_incomplete_tree(struct dr_tree *t)
{
    static const char *names[] = {"locked", "ok", "partial"};
    static const uint32_t flags[] = {DR_NODE_F_INCOMPLETE, 0, DR_NODE_F_INCOMPLETE};
    struct dr_node n;
    dr_tree_init(t);
    for (size_t i = 0; i < DR_ARRAY_LEN(names); i++) {
        node_common(&n, names[i], DR_NODE_DIR);
        n.mode = 0755;
        n.inode = 200 + i;
        n.nlink = 2;
        n.flags = flags[i];
        pattern_id(&n.subtree, (uint8_t)(0x40 + 0x20 * i));
        dr_tree_add(t, &n);
    }
}

static void test_tree_incomplete_vector(void **state)
{
    (void)state;
    struct dr_tree t, d;
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_id id;

    assert_int_equal(DR_NODE_F_INCOMPLETE, 1u << 2);
    build_incomplete_tree(&t);
    assert_int_equal(dr_tree_encode(&t, &b), 0);
    check_hex("tree-v1-incomplete.hex", b.buf, b.len);
    dr_crypto_blob_id(key, b.buf, b.len, &id);
    check_id("tree-v1-incomplete.id", &id);

    if (!write_mode) {
        struct dr_buf v;
        read_hex("tree-v1-incomplete.hex", &v);
        dr_tree_init(&d);
        assert_int_equal(dr_tree_decode((const uint8_t *)v.buf, v.len, &d), 0);
        assert_trees_equal(&t, &d);
        assert_true(dr_tree_find(&d, "locked")->flags & DR_NODE_F_INCOMPLETE);
        assert_false(dr_tree_find(&d, "ok")->flags & DR_NODE_F_INCOMPLETE);
        /* a bit a reader does not know is kept, not refused (version 1 readers ignore them) */
        size_t flags_at = 16 + 4 + NODE_FLAGS_OFF("locked", "alice", "users");
        assert_int_equal(dr_get_u32le((const uint8_t *)v.buf + flags_at), DR_NODE_F_INCOMPLETE);
        dr_put_u32le((uint8_t *)v.buf + flags_at, DR_NODE_F_INCOMPLETE | 0x80000000u);
        dr_tree_release(&d);
        dr_tree_init(&d);
        assert_int_equal(dr_tree_decode((const uint8_t *)v.buf, v.len, &d), 0);
        assert_int_equal(d.nodes[0].flags, DR_NODE_F_INCOMPLETE | 0x80000000u);
        dr_tree_release(&d);
        dr_buf_release(&v);
    }
    dr_buf_release(&b);
    dr_tree_release(&t);
}

/* Golden corrupt trees, each derived from the valid vector by one change (README.md). */
static void test_tree_bad_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int code;
    } bad[] = {
        {"tree-bad-dotdot.hex", DR_ECORRUPT},
        {"tree-bad-unsorted.hex", DR_ECORRUPT},
        {"tree-bad-size.hex", DR_ECORRUPT},
        {"tree-bad-version.hex", DR_EUNSUPPORTED},
    };
    struct dr_tree t;
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);

    if (write_mode) {
        /* Derive each from a small tree: file "aa" (one chunk of 3 bytes) and fifo "bb". */
        static const uint32_t sizes[] = {3};
        struct dr_node n;
        dr_tree_init(&t);
        node_common(&n, "aa", DR_NODE_FILE);
        file_chunks(&n, 1, sizes);
        dr_tree_add(&t, &n);
        node_common(&n, "bb", DR_NODE_FIFO);
        dr_tree_add(&t, &n);
        assert_int_equal(dr_tree_encode(&t, &b), 0);
        uint8_t *p = (uint8_t *)b.buf;
        size_t rec2 = 16 + 4 + dr_get_u32le(p + 16);
        /* node 0's name "aa" -> ".." */
        p[23] = p[24] = '.';
        write_hex(bad[0].file, p, b.len);
        p[23] = p[24] = 'a';
        /* node 1's name "bb" -> "a0", which sorts before "aa" */
        p[rec2 + 7] = 'a';
        p[rec2 + 8] = '0';
        write_hex(bad[1].file, p, b.len);
        p[rec2 + 7] = p[rec2 + 8] = 'b';
        /* node 0's size 3 -> 4 (name 2, user 5, group 5) */
        size_t osz = 23 + 2 + 12 + 1 + 5 + 1 + 5 + 16;
        assert_int_equal(dr_get_u64le(p + osz), 3);
        dr_put_u64le(p + osz, 4);
        write_hex(bad[2].file, p, b.len);
        dr_put_u64le(p + osz, 3);
        /* version 3 */
        dr_put_u32le(p + 8, 3);
        write_hex(bad[3].file, p, b.len);
        dr_put_u32le(p + 8, 1);
        dr_tree_release(&t);
        dr_buf_release(&b);
        return;
    }
    for (size_t i = 0; i < DR_ARRAY_LEN(bad); i++) {
        read_hex(bad[i].file, &b);
        dr_tree_init(&t);
        int rc = dr_tree_decode((const uint8_t *)b.buf, b.len, &t);
        if (rc != bad[i].code) {
            fail_msg("%s: got %d (%s), want %d", bad[i].file, rc, dr_error_msg(), bad[i].code);
        }
        assert_int_equal(t.n, 0);
        dr_buf_release(&b);
    }
}

/* The snapshot of snapshot-v1.hex, as listed in format/vectors/README.md. */
static void build_snapshot(struct dr_snapshot *s)
{
    dr_snapshot_init(s);
    s->time_ns = 1763757725000000000LL;
    s->host = dr_xstrdup("db1");
    s->user = dr_xstrdup("postgres");
    dr_snapshot_add_tag(s, "daily");
    dr_snapshot_add_tag(s, "pg");
    dr_snapshot_add_path(s, "/var/lib/postgresql");
    pattern_id(&s->tree, 0x00);
    pattern_id(&s->parent, 0x80);
    s->has_parent = true;
    s->source = dr_xstrdup("files");
    s->summary = (struct dr_snap_summary){
        .files_new = 1,
        .files_changed = 2,
        .files_unchanged = 3,
        .dirs = 4,
        .bytes_read = 5,
        .bytes_total = 6,
        .bytes_added = 7,
        .blobs_added = 8,
        .errors = 9,
        .duration_ns = 10,
    };
    dr_snapshot_add_meta(s, "server_version", "16.2");
    pattern_id(&s->original, 0xc0);
    s->has_original = true;
}

static void test_snapshot_vector(void **state)
{
    (void)state;
    struct dr_snapshot s, d;
    struct dr_buf body = DR_BUF_INIT(DR_SNAPSHOT_MAX);
    struct dr_buf file = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_id id;
    uint8_t hdr[16];

    build_snapshot(&s);
    assert_int_equal(dr_snapshot_encode_body(&s, &body), 0);
    check_hex("snapshot-v1-body.hex", body.buf, body.len);

    /* The file as format/snapshot.md lays it out, sealed with the fixed nonce. */
    memcpy(hdr, DR_MAGIC_SNAPSHOT, DR_MAGIC_LEN);
    dr_put_u32le(hdr + 8, 1);
    dr_put_u32le(hdr + 12, 0);
    assert_int_equal(dr_buf_add(&file, hdr, sizeof(hdr)), 0);
    assert_int_equal(dr_crypto_seal_nonce(key, nonce, hdr, sizeof(hdr), body.buf, body.len, &file),
                     0);
    check_hex("snapshot-v1.hex", file.buf, file.len);
    dr_crypto_hash(file.buf, file.len, &id);
    check_id("snapshot-v1.id", &id);

    if (!write_mode) {
        /* The vector file decodes, under its recorded name, to the snapshot above. */
        struct dr_buf v, vid;
        struct dr_id name;
        read_hex("snapshot-v1.hex", &v);
        read_hex("snapshot-v1.id", &vid);
        assert_int_equal(vid.len, DR_ID_LEN);
        memcpy(name.b, vid.buf, DR_ID_LEN);
        dr_snapshot_init(&d);
        assert_int_equal(dr_snapshot_decode(key, &name, (const uint8_t *)v.buf, v.len, &d), 0);
        assert_true(d.time_ns == s.time_ns);
        assert_string_equal(d.host, "db1");
        assert_string_equal(d.user, "postgres");
        assert_int_equal(d.ntags, 2);
        assert_string_equal(d.tags[0], "daily");
        assert_string_equal(d.tags[1], "pg");
        assert_int_equal(d.npaths, 1);
        assert_string_equal(d.paths[0], "/var/lib/postgresql");
        assert_memory_equal(d.tree.b, s.tree.b, DR_ID_LEN);
        assert_true(d.has_parent);
        assert_memory_equal(d.parent.b, s.parent.b, DR_ID_LEN);
        assert_string_equal(d.source, "files");
        assert_memory_equal(&d.summary, &s.summary, sizeof(s.summary));
        assert_string_equal(dr_snapshot_get_meta(&d, "server_version"), "16.2");
        assert_true(d.has_original);
        assert_memory_equal(d.original.b, s.original.b, DR_ID_LEN);
        dr_snapshot_release(&d);
        dr_buf_release(&vid);
        dr_buf_release(&v);
    }
    dr_buf_release(&file);
    dr_buf_release(&body);
    dr_snapshot_release(&s);
}

/* Parses "<hex>" into out (replacing it). */
static void parse_hex(const char *s, struct dr_buf *out)
{
    size_t n = strlen(s);
    assert_int_equal(n % 2, 0);
    dr_buf_reset(out);
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        assert_int_equal(sscanf(s + i, "%2x", &v), 1);
        assert_int_equal(dr_buf_addch(out, (int)v), 0);
    }
}

/* chunklist-v1.txt (README.md): a full list and two changes on it. Each list's bytes are what
 * the encoder writes from the expansions (a change from its base's expansion), its id is the
 * keyed blob id, and decoding the chain and applying it gives the expansion listed. Written by
 * a separate script from chunklist.md alone; input here, never rewritten from the code. */
static void test_chunklist_vector(void **state)
{
    (void)state;
    char *path = vec_path("chunklist-v1.txt");
    FILE *f = fopen(path, "r");
    if (!f) {
        fail_msg("cannot open '%s'", path);
    }
    char *line = NULL;
    size_t cap = 0;
    struct dr_buf plain = DR_BUF_INIT(DR_BLOB_MAX), enc = DR_BUF_INIT(DR_BLOB_MAX);
    struct dr_id prev_id = {{0}}, *ids = NULL, *prev_ids = NULL;
    uint32_t *sizes = NULL, *prev_sizes = NULL, n = 0, prev_n = 0, depth = 0, lists = 0;
    while (getline(&line, &cap, f) > 0) {
        char name[32], hex[4096], idhex[DR_ID_HEX_LEN + 1];
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "list %31s %4095s %64s", name, hex, idhex) == 3) {
            /* decode and apply on the expansion so far (the base's) */
            parse_hex(hex, &plain);
            struct dr_chunklist l;
            assert_int_equal(dr_chunklist_decode((const uint8_t *)plain.buf, plain.len, &l), 0);
            assert_int_equal(l.depth, lists);
            if (l.depth) {
                assert_true(dr_id_eq(&l.base, &prev_id));
            }
            assert_int_equal(dr_chunklist_apply(&l, &ids, &sizes, &n), 0);
            depth = l.depth;
            dr_chunklist_release(&l);
            /* the encoder writes the same bytes from the expansions */
            dr_buf_reset(&enc);
            assert_int_equal(depth ? dr_chunklist_encode_delta(&prev_id, depth - 1, prev_ids,
                                                               prev_sizes, prev_n, ids, sizes, n,
                                                               &enc)
                                   : dr_chunklist_encode_full(ids, sizes, n, &enc),
                             0);
            assert_int_equal(enc.len, plain.len);
            assert_memory_equal(enc.buf, plain.buf, plain.len);
            struct dr_id want;
            assert_int_equal(dr_id_parse(idhex, &want), 0);
            dr_crypto_blob_id(key, plain.buf, plain.len, &prev_id);
            assert_true(dr_id_eq(&prev_id, &want));
            lists++;
        } else if (strncmp(line, "expands ", 8) == 0) {
            /* "expands <name> <id>:<size>,..." against the expansion */
            const char *p = strchr(line + 8, ' ');
            assert_non_null(p);
            uint32_t k = 0;
            for (p++; *p; k++) {
                char idh[DR_ID_HEX_LEN + 1];
                unsigned size;
                int used = 0;
                assert_int_equal(sscanf(p, "%64[0-9a-f]:%u%n", idh, &size, &used), 2);
                struct dr_id id;
                assert_int_equal(dr_id_parse(idh, &id), 0);
                assert_true(k < n);
                assert_true(dr_id_eq(&ids[k], &id));
                assert_int_equal(sizes[k], size);
                p += used + (p[used] == ',');
            }
            assert_int_equal(k, n);
            free(prev_ids);
            free(prev_sizes);
            prev_ids = dr_xmemdup(ids, n * sizeof(*ids));
            prev_sizes = dr_xmemdup(sizes, n * sizeof(*sizes));
            prev_n = n;
        }
    }
    assert_int_equal(lists, 3);
    free(line);
    fclose(f);
    free(path);
    free(ids);
    free(sizes);
    free(prev_ids);
    free(prev_sizes);
    dr_buf_release(&plain);
    dr_buf_release(&enc);
}

/* tree-v2-list.hex (README.md): a version 2 tree, one file with a chunk list (the last list of
 * chunklist-v1.txt) and one with its chunk in the tree. Written by the same separate script. */
static void test_tree_v2_vector(void **state)
{
    (void)state;
    static const char *names[] = {"16385", "small"};
    struct dr_tree t, d;
    struct dr_node n;
    dr_tree_init(&t);
    for (int i = 0; i < 2; i++) {
        node_common(&n, names[i], DR_NODE_FILE);
        n.mode = 0600;
        set_owner(&n, 26, "postgres", "postgres");
        n.mtime_ns = n.ctime_ns = 1763000000000000000LL;
        n.dev = 0x802;
        n.inode = 300 + (uint64_t)i;
        if (i == 0) {
            n.flags = DR_NODE_F_LISTED;
            n.size = 3 * 8192;
            /* the id of chunklist-v1.txt's change2 */
            assert_int_equal(dr_id_parse("29da015f233f1bdc2f4749f7c4c1dbe1"
                                         "75ec9b9d0643bf756c4b97dd6a203bfa",
                                         &n.list),
                             0);
        } else {
            static const uint32_t five[] = {5};
            file_chunks(&n, 1, five);
        }
        dr_tree_add(&t, &n);
    }
    struct dr_buf v;
    read_hex("tree-v2-list.hex", &v);
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_tree_encode(&t, &b), 0);
    assert_int_equal(dr_get_u32le((const uint8_t *)b.buf + 8), 2);
    check_hex("tree-v2-list.hex", b.buf, b.len);
    struct dr_id id;
    dr_crypto_blob_id(key, b.buf, b.len, &id);
    check_id("tree-v2-list.id", &id);
    dr_tree_init(&d);
    assert_int_equal(dr_tree_decode((const uint8_t *)v.buf, v.len, &d), 0);
    assert_int_equal(d.n, 2);
    assert_true(d.nodes[0].flags & DR_NODE_F_LISTED);
    assert_int_equal(d.nodes[0].nchunks, 0);
    assert_true(dr_id_eq(&d.nodes[0].list, &t.nodes[0].list));
    assert_false(d.nodes[1].flags & DR_NODE_F_LISTED);
    assert_int_equal(d.nodes[1].nchunks, 1);
    dr_tree_release(&d);
    /* without the file with a list, the same tree is version 1 (canonical) */
    dr_node_release(&t.nodes[0]);
    t.nodes[0] = t.nodes[1];
    t.n = 1;
    dr_buf_reset(&b);
    assert_int_equal(dr_tree_encode(&t, &b), 0);
    assert_int_equal(dr_get_u32le((const uint8_t *)b.buf + 8), 1);
    dr_put_u32le((uint8_t *)b.buf + 8, 2);
    dr_tree_init(&d);
    assert_int_equal(dr_tree_decode((const uint8_t *)b.buf, b.len, &d), DR_ECORRUPT);
    dr_tree_release(&t);
    dr_buf_release(&b);
    dr_buf_release(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_vector),      cmocka_unit_test(test_tree_incomplete_vector),
        cmocka_unit_test(test_tree_bad_vectors), cmocka_unit_test(test_snapshot_vector),
        cmocka_unit_test(test_chunklist_vector), cmocka_unit_test(test_tree_v2_vector),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
