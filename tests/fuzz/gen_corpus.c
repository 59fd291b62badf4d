/* gen_corpus.c: writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.
 * Not built by ctest: the generated files are committed, and this program is run by hand only
 * when a format or a target's input layout changes (docs/FUZZING.md has the command line).
 *
 * The output is byte-for-byte reproducible: fixed keys, and fixed nonces through the test-only
 * hooks (dr_crypto_seal_nonce, the pack writer's nonce hooks), each nonce used once. The keys,
 * password and repository id must match the targets:
 *   master key 40 41 .. 5f, repository id c0 c1 .. df, key-file password "fuzz password". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "drrepo/chunklist.h"
#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/repo.h"
#include "drrepo/snapshot.h"
#include "drrepo/tree.h"
#include "drrepo/walseg.h"

#include "../../src/pack/pack_int.h"

static const char *top;
static struct dr_keys *key;
static uint8_t nonce_ctr;

static void die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, dr_error_msg());
    abort();
}

static void check(int rc, const char *what)
{
    if (rc < 0) {
        die(what);
    }
}

/* A fresh fixed nonce for each seal. */
static const uint8_t *next_nonce(void)
{
    static uint8_t n[DR_NONCE_LEN];
    memset(n, 0, sizeof(n));
    n[0] = 0xf0;
    n[1] = ++nonce_ctr;
    return n;
}

static void mkdirs(const char *target)
{
    char *p = dr_xasprintf("%s/tests/fuzz/corpus/%s", top, target);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        perror(p);
        abort();
    }
    free(p);
}

/* Writes mode byte (if >= 0) followed by p[0..len) to corpus/<target>/<name>. */
static void put(const char *target, const char *name, int mode, const void *p, size_t len)
{
    mkdirs(target);
    char *path = dr_xasprintf("%s/tests/fuzz/corpus/%s/%s", top, target, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (mode >= 0) {
        fputc(mode, f);
    }
    if ((len && fwrite(p, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    printf("%s (%zu bytes)\n", path, len + (mode >= 0));
    free(path);
}

static void fill_id(struct dr_id *id, uint8_t start)
{
    for (int i = 0; i < DR_ID_LEN; i++) {
        id->b[i] = (uint8_t)(start + i);
    }
}

static void node(struct dr_tree *t, const char *name, uint8_t type, uint32_t nchunks)
{
    struct dr_node n;
    memset(&n, 0, sizeof(n));
    n.name = dr_xstrdup(name);
    n.type = type;
    n.mode = 0644;
    n.uid = n.gid = 1000;
    n.user = dr_xstrdup("u");
    n.group = dr_xstrdup("g");
    n.mtime_ns = 1700000000000000000LL;
    n.nlink = 1;
    if (type == DR_NODE_DIR) {
        fill_id(&n.subtree, 0x20);
    } else if (type == DR_NODE_SYMLINK) {
        n.target = dr_xstrdup("t");
    } else if (type == DR_NODE_FILE && nchunks) {
        n.nchunks = nchunks;
        n.chunks = dr_xcalloc(nchunks, sizeof(n.chunks[0]));
        n.chunk_sizes = dr_xcalloc(nchunks, sizeof(n.chunk_sizes[0]));
        for (uint32_t i = 0; i < nchunks; i++) {
            fill_id(&n.chunks[i], (uint8_t)i);
            n.chunk_sizes[i] = 100 + i;
            n.size += 100 + i;
        }
    }
    dr_tree_add(t, &n);
}

static void put_tree(const char *name, struct dr_tree *t)
{
    struct dr_buf b = DR_BUF_INIT(DR_TREE_MAX);
    dr_tree_sort(t);
    check(dr_tree_encode(t, &b), "tree encode");
    put("tree_fuzz", name, -1, b.buf, b.len);
    dr_buf_release(&b);
}

static void gen_tree(void)
{
    struct dr_tree t;

    dr_tree_init(&t);
    put_tree("empty", &t);

    dr_tree_init(&t);
    node(&t, "file", DR_NODE_FILE, 3);
    node(&t, "dir", DR_NODE_DIR, 0);
    node(&t, "link", DR_NODE_SYMLINK, 0);
    node(&t, "chr", DR_NODE_CHARDEV, 0);
    node(&t, "blk", DR_NODE_BLOCKDEV, 0);
    node(&t, "fifo", DR_NODE_FIFO, 0);
    node(&t, "sock", DR_NODE_SOCKET, 0);
    node(&t, "zero", DR_NODE_FILE, 0);
    put_tree("all-types", &t);
    dr_tree_release(&t);

    /* A damaged file: chunks short of the size, one lost range. */
    dr_tree_init(&t);
    node(&t, "d", DR_NODE_FILE, 1);
    t.nodes[0].flags = DR_NODE_F_DAMAGED;
    t.nodes[0].size = 300;
    t.nodes[0].ndamaged = 1;
    t.nodes[0].damaged = dr_xcalloc(1, sizeof(struct dr_range));
    t.nodes[0].damaged[0].off = 100;
    t.nodes[0].damaged[0].len = 200;
    put_tree("damaged", &t);

    /* The same with 5 unknown trailing bytes in the record (forward compatibility). */
    struct dr_buf b = DR_BUF_INIT(DR_TREE_MAX);
    check(dr_tree_encode(&t, &b), "tree encode");
    uint32_t rec = dr_get_u32le((uint8_t *)b.buf + 16);
    check(dr_buf_add(&b, "extra", 5), "add");
    dr_put_u32le((uint8_t *)b.buf + 16, rec + 5);
    put("tree_fuzz", "trailing-bytes", -1, b.buf, b.len);
    dr_buf_release(&b);
    dr_tree_release(&t);

    /* Version 2: a file with a chunk list beside one with its chunks in the tree. */
    dr_tree_init(&t);
    node(&t, "listed", DR_NODE_FILE, 0);
    t.nodes[0].flags = DR_NODE_F_LISTED;
    t.nodes[0].size = 16384;
    fill_id(&t.nodes[0].list, 0x70);
    node(&t, "plain", DR_NODE_FILE, 2);
    put_tree("listed", &t);
    dr_tree_release(&t);
}

/* Chunk lists (format/chunklist.md): a full list and a change to it that grows the file. */
static void gen_chunklist(void)
{
    struct dr_id ids[4], base;
    uint32_t sizes[4] = {8192, 8192, 8192, 100};
    for (int i = 0; i < 4; i++) {
        fill_id(&ids[i], (uint8_t)(0x10 * i));
    }
    struct dr_buf b = DR_BUF_INIT(DR_BLOB_MAX);
    check(dr_chunklist_encode_full(ids, sizes, 3, &b), "chunk list encode");
    put("chunklist_fuzz", "full", -1, b.buf, b.len);
    dr_crypto_blob_id(key, b.buf, b.len, &base);
    dr_buf_reset(&b);
    fill_id(&ids[1], 0xe0);
    check(dr_chunklist_encode_delta(&base, 0, ids, sizes, 3, ids, sizes, 4, &b), "delta encode");
    put("chunklist_fuzz", "change", -1, b.buf, b.len);
    dr_buf_release(&b);
}

static void snap_file(const struct dr_snapshot *s, struct dr_buf *body, struct dr_buf *file)
{
    uint8_t hdr[16];
    memcpy(hdr, DR_MAGIC_SNAPSHOT, DR_MAGIC_LEN);
    dr_put_u32le(hdr + 8, 1);
    dr_put_u32le(hdr + 12, 0);
    check(dr_snapshot_encode_body(s, body), "snapshot body");
    check(dr_buf_add(file, hdr, sizeof(hdr)), "add");
    check(dr_crypto_seal_nonce(key, next_nonce(), hdr, sizeof(hdr), body->buf, body->len, file),
          "seal");
}

static void gen_snapshot(void)
{
    struct dr_snapshot s;
    struct dr_buf body = DR_BUF_INIT(DR_SNAPSHOT_MAX), file = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);

    dr_snapshot_init(&s);
    s.time_ns = 1;
    snap_file(&s, &body, &file);
    put("snapshot_fuzz", "file-min", 0, file.buf, file.len);
    put("snapshot_fuzz", "body-min", 1, body.buf, body.len);
    dr_buf_reset(&body);
    dr_buf_reset(&file);

    s.time_ns = 1763757725000000000LL;
    s.host = dr_xstrdup("h");
    s.user = dr_xstrdup("u");
    dr_snapshot_add_tag(&s, "t1");
    dr_snapshot_add_tag(&s, "t2");
    dr_snapshot_add_path(&s, "/p");
    fill_id(&s.tree, 0);
    fill_id(&s.parent, 0x80);
    s.has_parent = true;
    s.source = dr_xstrdup("files");
    s.summary.files_new = 1;
    s.summary.duration_ns = 2;
    dr_snapshot_add_meta(&s, "k", "v");
    fill_id(&s.original, 0xc0);
    s.has_original = true;
    snap_file(&s, &body, &file);
    put("snapshot_fuzz", "file-full", 0, file.buf, file.len);
    put("snapshot_fuzz", "body-full", 1, body.buf, body.len);

    /* An unknown field (tag 99) in the middle, which readers skip. */
    check(dr_buf_add(&body, "\x63\x00\x03\x00\x00\x00xyz", 9), "add");
    put("snapshot_fuzz", "body-unknown-tag", 1, body.buf, body.len);

    dr_buf_release(&body);
    dr_buf_release(&file);
    dr_snapshot_release(&s);
}

static void gen_pack(uint8_t type, int nblobs, const char *file_name, const char *hdr_name)
{
    struct dr_compressor *z = dr_compressor_new(DR_DEFAULT_ZSTD_LEVEL);
    struct dr_pack_writer *w = dr_pack_writer_new(key, type);
    struct dr_buf rec = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    struct dr_buf pt = DR_BUF_INIT(DR_PACK_HEADER_MAX);
    struct dr_buf in = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    const uint8_t *data;
    size_t len;
    struct dr_id pack_id;

    for (int i = 0; i < nblobs; i++) {
        char plain[64];
        int n = snprintf(plain, sizeof(plain), "blob %d of a %s pack, blob %d", i,
                         type == DR_BLOB_TREE ? "tree" : "data", i);
        struct dr_id id;
        dr_crypto_blob_id(key, plain, (size_t)n, &id);
        dr_buf_reset(&rec);
        check(dr_blob_encode_nonce(key, z, type, &id, (const uint8_t *)plain, (size_t)n,
                                   next_nonce(), &rec),
              "blob encode");
        check(dr_pack_writer_add(w, &id, (const uint8_t *)rec.buf, rec.len, (uint32_t)n),
              "pack add");
    }
    dr_pack_writer_set_header_nonce(w, next_nonce());
    check(dr_pack_writer_finish(w, &pack_id, &data, &len), "pack finish");
    put("packhdr_fuzz", file_name, 0, data, len);

    /* The header plaintext, recovered from the pack, for the target's sealing mode. */
    uint32_t hdr_len = dr_get_u32le(data + len - DR_PACK_TRAILER_LEN);
    const uint8_t *hdr = data + len - DR_PACK_TRAILER_LEN - hdr_len;
    check(dr_crypto_unseal(key, data, DR_PACK_PREAMBLE_LEN, hdr, hdr_len, &pt), "header open");
    uint32_t area = (uint32_t)(len - DR_PACK_PREAMBLE_LEN - hdr_len - DR_PACK_TRAILER_LEN);
    check(dr_buf_add(&in, data, DR_PACK_PREAMBLE_LEN), "add");
    check(dr_buf_add_u32le(&in, area), "add");
    check(dr_buf_add(&in, pt.buf, pt.len), "add");
    put("packhdr_fuzz", hdr_name, 1, in.buf, in.len);

    dr_buf_release(&in);
    dr_buf_release(&pt);
    dr_buf_release(&rec);
    dr_pack_writer_free(w);
    dr_compressor_free(z);
}

static void gen_keyfile(void)
{
    uint8_t master[DR_MASTER_KEY_LEN], salt[DR_KEYFILE_SALT_LEN];
    struct dr_id repo_id;
    struct dr_buf b = DR_BUF_INIT(DR_KEYFILE_MAX);

    for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
        master[i] = (uint8_t)(0x40 + i);
    }
    fill_id(&repo_id, 0xc0);
    memset(salt, 0x5a, sizeof(salt));
    /* libsodium's minimum Argon2id limits: opslimit 1, memlimit 8 KiB; version 1 and 2 */
    struct dr_keys *k = dr_keys_from_master(master);
    struct dr_keyfile_params p = {1, 1, 8192, "host", "user", 1700000000000000000LL};
    const uint8_t *nonce = next_nonce();
    check(dr_keyfile_create_det(k, &repo_id, "fuzz password", 13, &p, salt, nonce, nonce, &b),
          "keyfile create");
    put("keyfile_fuzz", "min-limits", -1, b.buf, b.len);
    dr_buf_reset(&b);
    p.version = 2;
    uint8_t wrap_nonce[DR_NONCE_LEN];
    memcpy(wrap_nonce, next_nonce(), sizeof(wrap_nonce));
    check(dr_keyfile_create_det(k, &repo_id, "fuzz password", 13, &p, salt, wrap_nonce,
                                next_nonce(), &b),
          "keyfile create");
    put("keyfile_fuzz", "v2-min-limits", -1, b.buf, b.len);
    dr_keys_free(k);
    dr_buf_release(&b);
}

/* Configs of format versions 1 and 2 (the values of format/vectors/config-*.txt). */
static void gen_config(void)
{
    struct dr_repo_config c = {
        .chunker = {DR_CHUNKER_GEAR_V1, DR_DEFAULT_CHUNK_MIN, DR_DEFAULT_CHUNK_AVG,
                    DR_DEFAULT_CHUNK_MAX},
        .pack_size = DR_DEFAULT_PACK_SIZE,
        .zstd_level = DR_DEFAULT_ZSTD_LEVEL,
        .created_ns = 1700000000000000000LL,
    };
    fill_id(&c.repo_id, 0xc0);
    for (uint32_t v = 1; v <= 2; v++) {
        struct dr_buf b = DR_BUF_INIT(DR_CONFIG_MAX);
        c.version = v;
        check(dr_config_encode(key, &c, next_nonce(), &b), "config encode");
        put("config_fuzz", v == 1 ? "v1" : "v2", -1, b.buf, b.len);
        dr_buf_release(&b);
    }
}

/* An archived WAL file object of file (len bytes) named obj, as dr_walseg_encode writes it but
 * with a fixed nonce. */
static void wal_object(const char *obj, const uint8_t *file, size_t len, struct dr_buf *out)
{
    struct dr_compressor *z = dr_compressor_new(3);
    struct dr_buf pt = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    struct dr_buf ad = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    uint8_t hdr[DR_WALSEG_HDR_LEN];
    memcpy(hdr, DR_MAGIC_WAL, DR_MAGIC_LEN);
    dr_put_u32le(hdr + 8, 1);
    dr_put_u32le(hdr + 12, 0);
    dr_put_u64le(hdr + 16, len);
    check(dr_compress(z, file, len, &pt), "wal compress");
    check(dr_buf_add(&ad, hdr, sizeof(hdr)), "wal ad");
    check(dr_buf_add(&ad, obj, strlen(obj)), "wal ad");
    check(dr_buf_add(out, hdr, sizeof(hdr)), "wal header");
    check(dr_crypto_seal_nonce(key, next_nonce(), ad.buf, ad.len, pt.buf, pt.len, out), "wal seal");
    dr_buf_release(&pt);
    dr_buf_release(&ad);
    dr_compressor_free(z);
}

/* walseg_fuzz reads each input as an object name, as an object under the name below, and as
 * a length byte and a plaintext sealed by the target. */
static void gen_wal(void)
{
    static const char *obj = "wal/65533227e8e4bac0/0000000100000000/000000010000000000000003";
    static const char *names[][2] = {
        {"name-segment", "65533227e8e4bac0/0000000100000000/000000010000000000000003"},
        {"name-partial", "65533227e8e4bac0/000000020000000A/000000020000000A000000FF.partial"},
        {"name-backup",
         "65533227e8e4bac0/0000000100000000/000000010000000000000002.00000028.backup"},
        {"name-history", "65533227e8e4bac0/00000002.history"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        put("walseg_fuzz", names[i][0], -1, names[i][1], strlen(names[i][1]));
    }
    uint8_t file[600];
    for (size_t i = 0; i < sizeof(file); i++) {
        file[i] = i < 64 ? (uint8_t)(i * 37 + 11) : 0;
    }
    struct dr_buf b = DR_BUF_INIT(DR_WALSEG_OBJ_MAX);
    wal_object(obj, file, 64, &b); /* random-looking: raw */
    put("walseg_fuzz", "object-raw", -1, b.buf, b.len);
    dr_buf_reset(&b);
    wal_object(obj, file, sizeof(file), &b); /* mostly zeros: zstd */
    put("walseg_fuzz", "object-zstd", -1, b.buf, b.len);
    dr_buf_reset(&b);
    /* plaintexts: the length byte, then the encoding byte and the payload */
    struct dr_compressor *z = dr_compressor_new(3);
    check(dr_compress(z, file, 200, &b), "wal compress");
    put("walseg_fuzz", "payload-zstd", 200, b.buf, b.len);
    dr_buf_reset(&b);
    check(dr_compress(z, file, 20, &b), "wal compress");
    put("walseg_fuzz", "payload-raw", 20, b.buf, b.len);
    dr_compressor_free(z);
    dr_buf_release(&b);
}

int main(int argc, char **argv)
{
    uint8_t m[DR_MASTER_KEY_LEN];

    if (argc != 2) {
        fprintf(stderr, "usage: %s <source dir>\n", argv[0]);
        return 2;
    }
    top = argv[1];
    check(dr_crypto_init(), "crypto init");
    for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
        m[i] = (uint8_t)(0x40 + i);
    }
    key = dr_keys_from_master(m);

    gen_tree();
    gen_chunklist();
    gen_snapshot();
    gen_pack(DR_BLOB_DATA, 3, "pack-data", "hdr-data");
    gen_pack(DR_BLOB_TREE, 1, "pack-tree", "hdr-tree");
    gen_keyfile();
    gen_config();
    gen_wal();

    dr_keys_free(key);
    return 0;
}
