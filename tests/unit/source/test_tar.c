/* test_tar.c: the streaming tar reader (src/source/tar.c) and the BASE_BACKUP stream consumer
 * (src/source/pg_stream.c) fed from crafted archives and manifests.
 *
 * Covers: ustar members (file, directory, symlink), ustar prefix, pax path/linkpath/size, GNU
 * long names, archives with and without the zero-block trailer, reads in small pieces;
 * truncated headers and data, bad checksums, bad numbers, unsafe paths, oversized and malformed
 * pax records, unsupported types; and for the consumer: a verified backup with a tablespace,
 * a checksum mismatch, a size mismatch, a file missing from either side, a damaged manifest,
 * and a stream without a manifest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../../src/source/pg_int.h"
#include "drrepo/buf.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/id.h"
#include "../../../src/source/tar.h"

/* ---- a tiny tar writer */

static void octal(uint8_t *f, size_t len, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%0*llo", (int)len - 1, (unsigned long long)v);
    memcpy(f, tmp, len - 1);
    f[len - 1] = 0;
}

static void header(struct dr_buf *b, const char *name, char type, uint64_t size, const char *link,
                   const char *prefix)
{
    uint8_t h[512] = {0};
    memcpy(h, name, strlen(name) > 100 ? 100 : strlen(name));
    octal(h + 100, 8, type == '5' ? 0700 : 0600);
    octal(h + 108, 8, 101);
    octal(h + 116, 8, 104);
    octal(h + 124, 12, size);
    octal(h + 136, 12, 1700000000);
    h[156] = (uint8_t)type;
    if (link) {
        memcpy(h + 157, link, strlen(link));
    }
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memcpy(h + 265, "postgres", 8);
    memcpy(h + 297, "postgres", 8);
    if (prefix) {
        memcpy(h + 345, prefix, strlen(prefix));
    }
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) {
        sum += h[i];
    }
    snprintf((char *)h + 148, 8, "%06o", sum);
    assert_int_equal(dr_buf_add(b, h, 512), 0);
}

static void data(struct dr_buf *b, const void *p, size_t len)
{
    static const uint8_t zero[512];
    assert_int_equal(dr_buf_add(b, p, len), 0);
    if (len % 512) {
        assert_int_equal(dr_buf_add(b, zero, 512 - len % 512), 0);
    }
}

static void file(struct dr_buf *b, const char *name, const char *content)
{
    header(b, name, '0', strlen(content), NULL, NULL);
    data(b, content, strlen(content));
}

static void pax(struct dr_buf *b, const char *records)
{
    header(b, "PaxHeaders/x", 'x', strlen(records), NULL, NULL);
    data(b, records, strlen(records));
}

static void trailer(struct dr_buf *b)
{
    static const uint8_t zero[1024];
    assert_int_equal(dr_buf_add(b, zero, sizeof(zero)), 0);
}

/* ---- reading */

struct src {
    const uint8_t *p;
    size_t len, pos, piece;
};

static int src_read(void *arg, uint8_t *buf, size_t len)
{
    struct src *s = arg;
    size_t n = s->len - s->pos;
    if (n > len) {
        n = len;
    }
    if (s->piece && n > s->piece) {
        n = s->piece;
    }
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    return (int)n;
}

/* Reads the whole archive into "path type size data|" lines; returns the final rc. */
static int read_all(const struct dr_buf *b, size_t piece, struct dr_buf *out)
{
    struct src s = {(const uint8_t *)b->buf, b->len, 0, piece};
    struct dr_tar t;
    int rc;
    dr_tar_init(&t, src_read, &s, "test");
    for (;;) {
        const struct dr_tar_entry *e;
        rc = dr_tar_next(&t, &e);
        if (rc <= 0) {
            break;
        }
        assert_int_equal(dr_buf_addf(out, "%s %c %llu [%s] ", e->path, e->type,
                                     (unsigned long long)e->size, e->linkname),
                         0);
        uint8_t buf[7];
        int n;
        while ((n = dr_tar_read(&t, buf, sizeof(buf))) > 0) {
            assert_int_equal(dr_buf_add(out, buf, (size_t)n), 0);
        }
        if (n < 0) {
            rc = n;
            break;
        }
        assert_int_equal(dr_buf_addch(out, '|'), 0);
    }
    dr_tar_release(&t);
    return rc;
}

static void test_ustar(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(1 << 20), out = DR_BUF_INIT(1 << 20);
    header(&b, "./base/", '5', 0, NULL, NULL);
    file(&b, "base/1", "hello world");
    header(&b, "pg_tblspc/16385", '2', 0, "/srv/ts", NULL);
    header(&b, "long", '0', 3, NULL, "prefix/dir");
    data(&b, "abc", 3);
    file(&b, "empty", "");
    trailer(&b);
    for (size_t piece = 0; piece < 600; piece += 97) {
        dr_buf_reset(&out);
        assert_int_equal(read_all(&b, piece, &out), 0);
        assert_string_equal(out.buf, "base 5 0 [] |base/1 0 11 [] hello world|"
                                     "pg_tblspc/16385 2 0 [/srv/ts] |prefix/dir/long 0 3 [] abc|"
                                     "empty 0 0 [] |");
    }
    dr_buf_release(&b);
    dr_buf_release(&out);
}

static void test_long_names(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(1 << 20), out = DR_BUF_INIT(1 << 20);
    char longname[300], rec[400];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    memcpy(longname + 10, "/", 1);
    /* pax: "LEN path=...\n" where LEN counts itself */
    size_t l = strlen(longname) + strlen(" path=\n");
    size_t total = l + 3;
    snprintf(rec, sizeof(rec), "%zu path=%s\n", total, longname);
    assert_int_equal(strlen(rec), total);
    pax(&b, rec);
    file(&b, "short", "x");
    /* GNU long name */
    header(&b, "././@LongLink", 'L', strlen(longname) + 1, NULL, NULL);
    data(&b, longname, strlen(longname) + 1);
    file(&b, "short2", "yz");
    assert_int_equal(read_all(&b, 0, &out), 0); /* no trailer: PostgreSQL's archives */
    char want[1000];
    snprintf(want, sizeof(want), "%s 0 1 [] x|%s 0 2 [] yz|", longname, longname);
    assert_string_equal(out.buf, want);
    dr_buf_release(&b);
    dr_buf_release(&out);
}

static void expect_corrupt(struct dr_buf *b, const char *needle)
{
    struct dr_buf out = DR_BUF_INIT(1 << 20);
    int rc = read_all(b, 0, &out);
    if (rc != DR_ECORRUPT && rc != DR_EUNSUPPORTED) {
        fail_msg("rc %d for '%s': %s", rc, needle, dr_error_msg());
    }
    if (!strstr(dr_error_msg(), needle)) {
        fail_msg("message '%s' lacks '%s'", dr_error_msg(), needle);
    }
    dr_buf_release(&out);
    dr_buf_reset(b);
}

static void test_corrupt(void **state)
{
    (void)state;
    struct dr_buf b = DR_BUF_INIT(1 << 20);
    file(&b, "a", "hello");
    dr_buf_setlen(&b, 300);
    expect_corrupt(&b, "truncated");

    header(&b, "a", '0', 2000, NULL, NULL);
    data(&b, "abc", 3);
    expect_corrupt(&b, "truncated");

    file(&b, "a", "hello");
    b.buf[10] ^= 1;
    expect_corrupt(&b, "checksum");

    header(&b, "../etc/passwd", '0', 0, NULL, NULL);
    expect_corrupt(&b, "'..'");

    header(&b, "/abs", '0', 0, NULL, NULL);
    expect_corrupt(&b, "absolute");

    header(&b, "a", '0', 0, NULL, NULL);
    memcpy(b.buf + 124, "99999999999", 11); /* not octal; fix the checksum */
    memset(b.buf + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) {
        sum += (uint8_t)b.buf[i];
    }
    snprintf(b.buf + 148, 8, "%06o", sum);
    expect_corrupt(&b, "numeric");

    pax(&b, "99999 path=x\n");
    file(&b, "a", "");
    expect_corrupt(&b, "pax");

    pax(&b, "5 =a\n");
    expect_corrupt(&b, "pax");

    header(&b, "PaxHeaders/x", 'x', 1ull << 40, NULL, NULL);
    expect_corrupt(&b, "too large");

    header(&b, "a", 'S', 0, NULL, NULL);
    expect_corrupt(&b, "not supported");

    pax(&b, "11 path=ab\n");
    trailer(&b);
    expect_corrupt(&b, "without a member");

    header(&b, "a", '2', 0, NULL, NULL);
    expect_corrupt(&b, "without a target");
    dr_buf_release(&b);
}

/* ---- the BASE_BACKUP stream consumer */

struct msgs {
    struct dr_buf m[16];
    size_t n, pos;
};

static void msg(struct msgs *ms, char type, const void *p, size_t len)
{
    struct dr_buf *b = &ms->m[ms->n++];
    dr_buf_init(b, 1 << 20);
    assert_int_equal(dr_buf_addch(b, type), 0);
    assert_int_equal(dr_buf_add(b, p, len), 0);
}

static int msg_next(void *arg, const uint8_t **out, size_t *out_len)
{
    struct msgs *ms = arg;
    if (ms->pos == ms->n) {
        return 0;
    }
    *out = (const uint8_t *)ms->m[ms->pos].buf;
    *out_len = ms->m[ms->pos].len;
    ms->pos++;
    return 1;
}

struct fake_sink {
    size_t files, trees;
    uint64_t bytes;
    size_t fixed; /* files the consumer asked to cut in DR_PG_REL_BLOCK blocks */
    char names[8][64];
};

static int fake_add(void *arg, dr_stream_read_fn rd, void *rdarg, const struct dr_node *pnode,
                    const char *what, uint32_t block, struct dr_node *n)
{
    (void)pnode;
    (void)what;
    struct fake_sink *fs = arg;
    if (block) {
        assert_int_equal(block, DR_PG_REL_BLOCK);
        assert_true(fs->fixed < 8);
        snprintf(fs->names[fs->fixed++], sizeof(fs->names[0]), "%s", n->name);
    }
    uint8_t buf[100];
    int got;
    while ((got = rd(rdarg, buf, sizeof(buf))) > 0) {
        fs->bytes += (uint64_t)got;
        n->size += (uint64_t)got;
    }
    fs->files++;
    return got;
}

static void fake_dir(void *arg)
{
    (void)arg;
}

static int fake_put(void *arg, struct dr_tree *t, struct dr_tree *pt, struct dr_id *out)
{
    assert_null(pt); /* no parent snapshot here */
    struct fake_sink *fs = arg;
    fs->trees++;
    memset(out, (int)fs->trees, sizeof(*out));
    for (size_t i = 1; i < t->n; i++) {
        assert_true(strcmp(t->nodes[i - 1].name, t->nodes[i].name) < 0);
    }
    dr_tree_release(t);
    dr_tree_init(t);
    return 0;
}

static void sha_hex(const char *s, char out[65])
{
    uint8_t h[32];
    crypto_hash_sha256(h, (const uint8_t *)s, strlen(s));
    dr_hex_encode(h, 32, out);
}

/* A manifest in PostgreSQL's layout, its last line the checksum of what comes before. */
static void manifest(struct dr_buf *m, const char *files)
{
    char sum[65];
    assert_int_equal(
        dr_buf_addf(m,
                    "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n%s\n],\n"
                    "\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", "
                    "\"End-LSN\": \"0/2000100\" }\n],\n",
                    files),
        0);
    sha_hex(m->buf, sum);
    assert_int_equal(dr_buf_addf(m, "\"Manifest-Checksum\": \"%s\"}\n", sum), 0);
}

static void entry(struct dr_buf *f, const char *path, const char *content, const char *sum_of)
{
    char sum[65];
    sha_hex(sum_of ? sum_of : content, sum);
    assert_int_equal(dr_buf_addf(f,
                                 "%s{ \"Path\": \"%s\", \"Size\": %zu, \"Last-Modified\": "
                                 "\"2023-11-14 22:13:20 GMT\", \"Checksum-Algorithm\": "
                                 "\"SHA256\", \"Checksum\": \"%s\" }",
                                 f->len ? ",\n" : "", path, strlen(content), sum),
                     0);
}

/* Runs the consumer on: tablespace 16385 archive, base.tar, manifest. */
static int run_stream(const char *files_json, bool with_manifest, bool damage_manifest,
                      struct fake_sink *fs, struct dr_snapshot *s)
{
    struct msgs ms = {0};
    struct dr_buf ts = DR_BUF_INIT(1 << 20), base = DR_BUF_INIT(1 << 20), m = DR_BUF_INIT(1 << 20);
    file(&ts, "PG_15_202209061/16384/16400", "tablespace data");
    file(&base, "backup_label", "START WAL LOCATION: 0/2000028\n");
    header(&base, "base", '5', 0, NULL, NULL);
    header(&base, "base/1", '5', 0, NULL, NULL);
    file(&base, "base/1/1259", "relation pages");
    header(&base, "pg_tblspc/16385", '2', 0, "/srv/ts", NULL);
    header(&base, "pg_wal", '5', 0, NULL, NULL);
    file(&base, "pg_wal/000000010000000000000002", "wal");
    msg(&ms, 'n', "16385.tar\0/srv/ts", 18);
    msg(&ms, 'd', ts.buf, 700);
    msg(&ms, 'p', "\0\0\0\0\0\0\0\1", 8);
    msg(&ms, 'd', ts.buf + 700, ts.len - 700);
    msg(&ms, 'n', "base.tar\0", 10);
    msg(&ms, 'd', base.buf, base.len);
    if (with_manifest) {
        manifest(&m, files_json);
        if (damage_manifest) {
            strstr(m.buf, "2023")[3] = '4'; /* a byte the JSON parser cannot notice */
        }
        msg(&ms, 'm', "", 0);
        msg(&ms, 'd', m.buf, 40);
        msg(&ms, 'd', m.buf + 40, m.len - 40);
    }
    struct dr_source_sink sink = {
        .add_file = fake_add, .put_tree = fake_put, .dir = fake_dir, .arg = fs};
    struct dr_id root;
    int rc = dr_pg_stream_consume(msg_next, &ms, &sink, "test:5432", s, NULL, &root);
    for (size_t i = 0; i < ms.n; i++) {
        dr_buf_release(&ms.m[i]);
    }
    dr_buf_release(&ts);
    dr_buf_release(&base);
    dr_buf_release(&m);
    return rc;
}

static void check_stream(const char *files_json, bool with_manifest, bool damage, int want_rc,
                         const char *needle)
{
    struct fake_sink fs = {0};
    struct dr_snapshot s;
    dr_snapshot_init(&s);
    int rc = run_stream(files_json, with_manifest, damage, &fs, &s);
    if (rc != want_rc || (needle && !strstr(dr_error_msg(), needle))) {
        fail_msg("rc %d (want %d): %s (want '%s')", rc, want_rc, dr_error_msg(),
                 needle ? needle : "");
    }
    if (rc == 0) {
        assert_int_equal(fs.files, 5); /* 4 archive files and backup_manifest */
        assert_string_equal(dr_snapshot_get_meta(&s, "pg.tablespace.16385.location"), "/srv/ts");
        assert_string_equal(dr_snapshot_get_meta(&s, "pg.manifest.files"), "3");
        assert_non_null(dr_snapshot_get_meta(&s, "pg.chunking"));
        assert_non_null(strstr(dr_snapshot_get_meta(&s, "pg.chunking"), "relation-pages-v2 "));
        /* root, base, base/1, pg_tblspc, pg_tblspc/16385 + 2 below, pg_wal */
        assert_int_equal(fs.trees, 8);
        /* the two relation files, not backup_label, the WAL segment or the manifest */
        assert_int_equal(fs.fixed, 2);
        assert_string_equal(fs.names[0], "16400");
        assert_string_equal(fs.names[1], "1259");
    }
    dr_snapshot_release(&s);
}

static void test_stream(void **state)
{
    (void)state;
    struct dr_buf ok = DR_BUF_INIT(1 << 20);
    entry(&ok, "backup_label", "START WAL LOCATION: 0/2000028\n", NULL);
    entry(&ok, "base/1/1259", "relation pages", NULL);
    entry(&ok, "pg_tblspc/16385/PG_15_202209061/16384/16400", "tablespace data", NULL);
    check_stream(ok.buf, true, false, 0, NULL);
    check_stream(ok.buf, false, false, DR_ESOURCE, "no backup manifest");
    check_stream(ok.buf, true, true, DR_ESOURCE, "manifest checksum mismatch");

    struct dr_buf bad = DR_BUF_INIT(1 << 20);
    entry(&bad, "backup_label", "START WAL LOCATION: 0/2000028\n", NULL);
    entry(&bad, "base/1/1259", "relation pages", "other pages..");
    entry(&bad, "pg_tblspc/16385/PG_15_202209061/16384/16400", "tablespace data", NULL);
    check_stream(bad.buf, true, false, DR_ESOURCE, "checksum mismatch for 'base/1/1259'");

    dr_buf_reset(&bad);
    entry(&bad, "backup_label", "START WAL LOCATION: 0/2000028\n", NULL);
    entry(&bad, "base/1/1259", "relation pages+", "relation pages");
    entry(&bad, "pg_tblspc/16385/PG_15_202209061/16384/16400", "tablespace data", NULL);
    check_stream(bad.buf, true, false, DR_ESOURCE, "size mismatch for 'base/1/1259'");

    dr_buf_reset(&bad);
    entry(&bad, "backup_label", "START WAL LOCATION: 0/2000028\n", NULL);
    entry(&bad, "pg_tblspc/16385/PG_15_202209061/16384/16400", "tablespace data", NULL);
    check_stream(bad.buf, true, false, DR_ESOURCE, "'base/1/1259' is in the backup but not in");

    entry(&bad, "base/1/1259", "relation pages", NULL);
    entry(&bad, "global/pg_control", "x", NULL);
    check_stream(bad.buf, true, false, DR_ESOURCE, "'global/pg_control' is in the backup manifest");
    dr_buf_release(&ok);
    dr_buf_release(&bad);
}

/* The chunking policy of format/chunker.md "Page-aligned relation files". */
static void test_relation_paths(void **state)
{
    (void)state;
    static const char *const fixed[] = {
        "global/1262",
        "global/1262_fsm",
        "global/1262_vm",
        "base/1/1259",
        "base/16384/16385",
        "base/16384/16385.1",
        "base/16384/16385_fsm.2",
        "base/16384/2619_vm",
        "base/5/4294967295.12",
        "pg_tblspc/16385/PG_15_202209061/16384/16400",
        "pg_tblspc/16385/PG_15_202209061/16384/16400_vm.3",
    };
    static const char *const cdc[] = {
        "global/pg_control",
        "global/pg_filenode.map",
        "base/16384/PG_VERSION",
        "base/16384/pg_filenode.map",
        "base/16384/16385_init",
        "base/16384/16385_fsmx",
        "base/16384/16385.",
        "base/16384/16385.1.2",
        "base/16384/16385_vm_fsm",
        "base/16384/t3_16390",
        "base/16384/12345678901",
        "base/x/16385",
        "base/16385",
        "base//16385",
        "pg_wal/000000010000000000000002",
        "backup_label",
        "backup_manifest",
        "pg_xact/0000",
        "pg_multixact/offsets/0000",
        "16384/16385",
        "xbase/1/1259",
        "pg_tblspc/16385/16384/16400",
        "pg_tblspc/16385/PG_15_202209061/16400",
        "pg_tblspc/16385/PG_15_202209061/16384/16400/1",
        "pg_tblspc/PG_15/16384/16400",
        "global/1262/1",
        "",
    };
    uint64_t chunks = 0;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (dr_pg_file_block(fixed[i], 100, &chunks) != DR_PG_REL_BLOCK) {
            fail_msg("'%s' is a relation file", fixed[i]);
        }
    }
    assert_int_equal(chunks, sizeof(fixed) / sizeof(fixed[0]));
    for (size_t i = 0; i < sizeof(cdc) / sizeof(cdc[0]); i++) {
        if (dr_pg_file_block(cdc[i], 100, &chunks) != 0) {
            fail_msg("'%s' is not a relation file", cdc[i]);
        }
    }
    assert_int_equal(chunks, sizeof(fixed) / sizeof(fixed[0]));

    /* relation files of DR_PG_LIST_MIN blocks and more have chunk lists: fixed blocks always,
     * and nothing from the directory's budget for blocks listed in its tree */
    const uint64_t seg = (uint64_t)1 << 30;
    chunks = 0;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(dr_pg_file_block("base/5/16385.7", seg, &chunks), DR_PG_REL_BLOCK);
    }
    assert_int_equal(chunks, 0);
    assert_true(dr_pg_file_listed((uint64_t)DR_PG_LIST_MIN * DR_PG_REL_BLOCK));
    assert_false(dr_pg_file_listed((uint64_t)DR_PG_LIST_MIN * DR_PG_REL_BLOCK - 1));
    /* smaller ones list their blocks in the tree, in fixed blocks until the next would not fit
     * in DR_PG_REL_DIR_CHUNKS, then by content; a file that fits still gets blocks */
    const uint64_t small = (uint64_t)(DR_PG_LIST_MIN - 1) * DR_PG_REL_BLOCK,
                   per_small = small / DR_PG_REL_BLOCK + 1;
    uint64_t fixed_small = 0;
    for (uint64_t i = 0; i < DR_PG_REL_DIR_CHUNKS / per_small + 10; i++) {
        fixed_small += dr_pg_file_block("base/5/16386", small, &chunks) != 0;
    }
    assert_int_equal(fixed_small, DR_PG_REL_DIR_CHUNKS / per_small);
    assert_true(chunks <= DR_PG_REL_DIR_CHUNKS);
    assert_int_equal(dr_pg_file_block("base/5/16390", 100, &chunks), DR_PG_REL_BLOCK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ustar),          cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_corrupt),        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_relation_paths),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
