/* test_restore.c: the restore engine (src/restore/restore.c) through the in-memory backend,
 * into a scratch directory.
 *
 * Covers: a snapshot restores byte for byte with its modes and the counts in the stats; a
 * second restore into the same target is refused (DR_EEXIST) unless overwrite; an include
 * pattern restores only its subtree; a damaged data blob loses only its own bytes: DR_EDAMAGED,
 * its file is restored with a hole there and counted in errors, its loss named (file, bytes,
 * pack) in first_loss, the rest is restored; a pack whose reads fail leaves every file a hole of
 * its size. The overwrite policies: never leaves every existing file (skipped); if-changed
 * leaves a file of the same size and mtime (its inode too) and rewrites one whose mtime
 * differs, and with verify_existing also one whose content differs; always replaces all.
 * delete removes what the snapshot does not have (a directory with its contents), but not what
 * an exclude protects nor what lies outside an include. A dry run creates nothing, changes
 * nothing, and tells every action it would take. A signal before the restore stops it with
 * DR_EINTR and leaves no temporary file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/interrupt.h"
#include "drrepo/mem.h"
#include "drrepo/restore.h"
#include "fixture.h"
#include "mem_backend.h"

#define STORE "restore"

static const struct dr_test_file files[] = {
    {.name = "a", .size = 40000, .seed = 41},
    {.name = "b", .size = 1000, .seed = 42},
    {.name = "c", .size = 20000, .seed = 43, .in_sub = true},
};

struct env {
    struct dr_test_env *t;
    struct dr_repo *r; /* t->repo[0] */
    char *tmp;
    struct dr_id snap;
    struct dr_snapshot s;
};

static int setup(void **state)
{
    struct env *e = dr_xcalloc(1, sizeof(*e));
    e->t = dr_test_env_new(STORE, 1);
    e->r = e->t->repo[0];
    e->tmp = dr_test_tmpdir();
    dr_test_commit(e->r, files, 3, 1000, &e->snap);
    dr_snapshot_init(&e->s);
    assert_int_equal(dr_repo_snapshot_load(e->r, &e->snap, &e->s), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    dr_snapshot_release(&e->s);
    dr_test_env_free(e->t);
    dr_test_rmtree(e->tmp);
    free(e->tmp);
    free(e);
    return 0;
}

static char *path_in(const char *dir, const char *rel)
{
    return dr_xasprintf("%s/%s", dir, rel);
}

static bool exists(const char *dir, const char *rel)
{
    char *p = path_in(dir, rel);
    struct stat st;
    bool ok = lstat(p, &st) == 0;
    free(p);
    return ok;
}

static void assert_restored(const char *dir, const char *rel, const struct dr_test_file *f)
{
    char *p = path_in(dir, rel);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    uint8_t *got = NULL;
    size_t len = dr_test_read_file(p, &got);
    assert_int_equal(len, f->size);
    uint8_t *want = dr_xmalloc(f->size + 1);
    dr_test_fill(want, f->size, f->seed);
    assert_memory_equal(got, want, f->size);
    free(want);
    free(got);
    free(p);
}

static void test_restore_all(void **state)
{
    struct env *e = *state;
    char *target = path_in(e->tmp, "all");
    struct dr_restore_opts o = {.target = target};
    struct dr_restore_stats st = {0};
    int rc = dr_restore_run(e->r, &e->s, &o, &st);
    if (rc < 0) {
        fail_msg("restore: %s", dr_error_msg());
    }
    assert_int_equal(st.files, 3);
    assert_int_equal(st.bytes, 40000 + 1000 + 20000);
    assert_int_equal(st.errors, 0);
    assert_true(st.dirs >= 1);
    /* the one data pack's records lie together: one get reads them all, each blob once */
    assert_int_equal(st.reads.gets, 1);
    assert_int_equal(st.reads.blobs, 6); /* 3 + 1 + 2 chunks of 16 KiB at most */
    assert_true(st.reads.bytes_used <= st.reads.bytes_fetched);
    assert_restored(target, "a", &files[0]);
    assert_restored(target, "b", &files[1]);
    assert_restored(target, "sub/c", &files[2]);

    /* again into the same place: refused, then allowed with overwrite */
    struct dr_restore_stats st2 = {0};
    assert_int_equal(dr_restore_run(e->r, &e->s, &o, &st2), DR_EEXIST);
    o.overwrite = DR_OVERWRITE_ALWAYS;
    memset(&st2, 0, sizeof(st2));
    assert_int_equal(dr_restore_run(e->r, &e->s, &o, &st2), 0);
    assert_int_equal(st2.files, 3);
    assert_restored(target, "a", &files[0]);
    free(target);
}

static void test_restore_include(void **state)
{
    struct env *e = *state;
    char *target = path_in(e->tmp, "part");
    char *inc[] = {"/sub"};
    struct dr_restore_opts o = {.target = target, .includes = inc, .nincludes = 1};
    struct dr_restore_stats st = {0};
    assert_int_equal(dr_restore_run(e->r, &e->s, &o, &st), 0);
    assert_int_equal(st.files, 1);
    assert_restored(target, "sub/c", &files[2]);
    assert_false(exists(target, "a"));
    assert_false(exists(target, "b"));
    free(target);
}

/* Flips a byte in the middle of the record of the first chunk of the file at path. */
static void damage_file(struct env *e, const char *path)
{
    struct dr_node n = {0};
    assert_int_equal(dr_repo_find_node(e->r, &e->s, path, &n), 0);
    struct dr_index_txn *txn = NULL;
    struct dr_index_blob b;
    assert_int_equal(dr_index_begin(dr_repo_index(e->r), false, &txn), 0);
    assert_int_equal(dr_index_blob_get(txn, &n.chunks[0], &b), 0);
    assert_int_equal(dr_index_commit(txn), 0);
    char hex[DR_ID_HEX_LEN + 1];
    char *name = dr_xasprintf("data/%.2s/%s", dr_id_hex(&b.pack, hex), hex);
    assert_int_equal(dr_mem_backend_flip(STORE, name, b.offset + b.clen / 2, 0x10), 0);
    free(name);
    dr_node_release(&n);
}

/* The file at rel has f's size, zeros in [hole_off, hole_off + hole_len) and f's bytes
 * elsewhere. */
static void assert_holed(const char *dir, const char *rel, const struct dr_test_file *f,
                         size_t hole_off, size_t hole_len)
{
    char *p = path_in(dir, rel);
    uint8_t *got = NULL;
    size_t len = dr_test_read_file(p, &got);
    assert_int_equal(len, f->size);
    uint8_t *want = dr_xmalloc(f->size + 1);
    dr_test_fill(want, f->size, f->seed);
    memset(want + hole_off, 0, hole_len);
    assert_memory_equal(got, want, f->size);
    free(want);
    free(got);
    free(p);
}

static void test_restore_damaged_blob(void **state)
{
    struct env *e = *state;
    damage_file(e, "a");
    char *target = path_in(e->tmp, "damaged");
    struct dr_restore_opts o = {.target = target};
    struct dr_restore_stats st = {0};
    assert_int_equal(dr_restore_run(e->r, &e->s, &o, &st), DR_EDAMAGED);
    assert_non_null(strstr(dr_error_msg(), "restored"));
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.files, 3);
    /* its first chunk (16 KiB, dr_test_commit) is a hole, the rest of it is there */
    assert_holed(target, "a", &files[0], 0, 16384);
    assert_non_null(strstr(st.first_loss, "file '/a': 16384 bytes in 1 chunk lost"));
    assert_non_null(strstr(st.first_loss, "in pack 'data/"));
    assert_restored(target, "b", &files[1]);
    assert_restored(target, "sub/c", &files[2]);
    free(target);
}

static void test_restore_unreadable_pack(void **state)
{
    struct env *e = *state;
    /* every file shares the one data pack: nothing but the directories can be restored */
    assert_int_equal(dr_mem_backend_count(STORE, "data/"), 1);
    dr_mem_backend_fail_get(STORE, "data/", DR_ECORRUPT, -1);
    char *target = path_in(e->tmp, "unreadable");
    struct dr_restore_opts o = {.target = target};
    struct dr_restore_stats st = {0};
    assert_int_equal(dr_restore_run(e->r, &e->s, &o, &st), DR_EDAMAGED);
    assert_int_equal(st.errors, 3);
    assert_int_equal(st.files, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_holed(target, files[i].in_sub ? "sub/c" : files[i].name, &files[i], 0,
                     files[i].size);
    }
    assert_true(exists(target, "sub"));
    /* the coalesced get failed, then one get per record was tried */
    assert_true(st.reads.gets >= 2);
    assert_int_equal(st.reads.blobs, 0);
    dr_mem_backend_fail_get(STORE, "data/", DR_ECORRUPT, 0);
    free(target);
}

static ino_t inode_of(const char *dir, const char *rel)
{
    char *p = path_in(dir, rel);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    free(p);
    return st.st_ino;
}

/* Writes len bytes of 'x' over rel (same inode), then sets its mtime to sec (0: leave it). */
static void scribble(const char *dir, const char *rel, size_t len, time_t sec)
{
    char *p = path_in(dir, rel);
    FILE *f = fopen(p, "r+");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++) {
        fputc('x', f);
    }
    assert_int_equal(fclose(f), 0);
    if (sec) {
        struct timespec ts[2] = {{.tv_sec = sec}, {.tv_sec = sec}};
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
    free(p);
}

static void touch_in(const char *dir, const char *rel)
{
    char *p = path_in(dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("extra", f);
    assert_int_equal(fclose(f), 0);
    free(p);
}

static void mkdir_in(const char *dir, const char *rel)
{
    char *p = path_in(dir, rel);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
}

static int run(struct env *e, struct dr_restore_opts *o, struct dr_restore_stats *st)
{
    memset(st, 0, sizeof(*st));
    int rc = dr_restore_run(e->r, &e->s, o, st);
    if (rc < 0 && rc != DR_EEXIST && rc != DR_EINTR) {
        fail_msg("restore: %s", dr_error_msg());
    }
    return rc;
}

#define SNAP_MTIME 1700000000

static void test_restore_overwrite_policies(void **state)
{
    struct env *e = *state;
    char *target = path_in(e->tmp, "pol");
    struct dr_restore_opts o = {.target = target};
    struct dr_restore_stats st;
    assert_int_equal(run(e, &o, &st), 0);
    ino_t ia = inode_of(target, "a");

    /* never: a changed file stays changed, nothing is an error */
    scribble(target, "b", 10, 0);
    o.overwrite = DR_OVERWRITE_NEVER;
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.skipped, 3);
    assert_int_equal(st.files, 0);
    assert_int_equal(inode_of(target, "a"), ia);

    /* if-changed: b's mtime differs (the scribble), a and c are left, inode and all */
    o.overwrite = DR_OVERWRITE_IF_CHANGED;
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.unchanged, 2);
    assert_int_equal(st.overwritten, 1);
    assert_int_equal(st.files, 1);
    assert_restored(target, "b", &files[1]);
    assert_int_equal(inode_of(target, "a"), ia);

    /* the same size and mtime hide a change from if-changed, not from verify_existing */
    scribble(target, "sub/c", 10, SNAP_MTIME);
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.unchanged, 3);
    o.verify_existing = true;
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.unchanged, 2);
    assert_int_equal(st.overwritten, 1);
    assert_restored(target, "sub/c", &files[2]);
    assert_int_equal(inode_of(target, "a"), ia);
    o.verify_existing = false;

    /* always: every file is replaced */
    o.overwrite = DR_OVERWRITE_ALWAYS;
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.overwritten, 3);
    assert_int_equal(st.files, 3);
    assert_true(inode_of(target, "a") != ia);
    assert_restored(target, "a", &files[0]);
    free(target);
}

static void test_restore_delete(void **state)
{
    struct env *e = *state;
    char *target = path_in(e->tmp, "del");
    struct dr_restore_opts o = {.target = target, .overwrite = DR_OVERWRITE_IF_CHANGED};
    struct dr_restore_stats st;
    assert_int_equal(run(e, &o, &st), 0);
    touch_in(target, "x");
    touch_in(target, "keep.log");
    mkdir_in(target, "d");
    mkdir_in(target, "d/e");
    touch_in(target, "d/e/f");
    touch_in(target, "sub/y");
    char *lnk = path_in(target, "sub/outside");
    assert_int_equal(symlink(e->tmp, lnk), 0); /* removed itself, never followed */
    free(lnk);

    /* an include of /sub: only sub's extra entries go */
    char *inc[] = {"/sub"};
    o.delete = true;
    o.includes = inc;
    o.nincludes = 1;
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.deleted, 2);
    assert_false(exists(target, "sub/y"));
    assert_false(exists(target, "sub/outside"));
    assert_true(exists(target, "x"));

    /* everything, but *.log is excluded: kept */
    char *exc[] = {"*.log"};
    o.includes = NULL;
    o.nincludes = 0;
    o.excludes = exc;
    o.nexcludes = 1;
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.deleted, 4); /* x, d/e/f, d/e, d */
    assert_int_equal(st.unchanged, 3);
    assert_false(exists(target, "x"));
    assert_false(exists(target, "d"));
    assert_true(exists(target, "keep.log"));
    assert_restored(target, "a", &files[0]);
    free(target);
}

struct told {
    unsigned n[DR_RESTORE_DELETE + 1];
};

static void tell(void *arg, enum dr_restore_action a, const char *path)
{
    struct told *t = arg;
    (void)path;
    t->n[a]++;
}

static void test_restore_dry_run(void **state)
{
    struct env *e = *state;
    struct told t = {0};
    char *target = path_in(e->tmp, "dry");
    struct dr_restore_opts o = {
        .target = target, .dry_run = true, .action = tell, .action_arg = &t};
    struct dr_restore_stats st;
    assert_int_equal(run(e, &o, &st), 0);
    assert_false(exists(e->tmp, "dry")); /* not even the target */
    assert_int_equal(st.files, 3);
    assert_int_equal(st.bytes, 40000 + 1000 + 20000);
    assert_int_equal(t.n[DR_RESTORE_WRITE], 3);

    /* into a restored target with a change and an extra file */
    o.dry_run = false;
    assert_int_equal(run(e, &o, &st), 0);
    scribble(target, "b", 10, 0);
    touch_in(target, "x");
    ino_t ib = inode_of(target, "b");
    memset(&t, 0, sizeof(t));
    o.dry_run = true;
    o.delete = true;
    o.overwrite = DR_OVERWRITE_IF_CHANGED;
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.overwritten, 1);
    assert_int_equal(st.unchanged, 2);
    assert_int_equal(st.deleted, 1);
    assert_int_equal(t.n[DR_RESTORE_OVERWRITE], 1);
    assert_int_equal(t.n[DR_RESTORE_UNCHANGED], 2);
    assert_int_equal(t.n[DR_RESTORE_DELETE], 1);
    assert_true(exists(target, "x"));
    assert_int_equal(inode_of(target, "b"), ib);
    free(target);
}

static bool has_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    bool found = false;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        found = found || strncmp(de->d_name, ".drrepo-tmp-", 12) == 0;
    }
    if (d) {
        closedir(d);
    }
    return found;
}

static void test_restore_interrupted(void **state)
{
    struct env *e = *state;
    char *target = path_in(e->tmp, "intr");
    struct dr_restore_opts o = {.target = target};
    struct dr_restore_stats st;
    dr_interrupt_install();
    raise(SIGTERM);
    assert_int_equal(dr_interrupted(), SIGTERM);
    assert_int_equal(run(e, &o, &st), DR_EINTR);
    assert_non_null(strstr(dr_error_msg(), "SIGTERM"));
    dr_interrupt_uninstall();
    assert_false(has_tmp(target));
    assert_int_equal(st.files, 0);
    /* the flag is cleared: the next restore runs */
    assert_int_equal(run(e, &o, &st), 0);
    assert_int_equal(st.files, 3);
    free(target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restore_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_include, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_overwrite_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_interrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_damaged_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_unreadable_pack, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
