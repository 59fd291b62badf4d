/* test_layout.c: the names of repository objects (src/object/layout.c).
 *
 * Covers: every kind builds the name format/repository.md gives and parses back to its kind
 * and id; the heap and buffer builders agree; pack kinds from blob types; prefixes; names that
 * are not objects are refused (wrong length, uppercase or non-hex digits, a pack directory that
 * is not the id's first digits, unknown or partial prefixes, extra components). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/layout.h"
#include "drrepo/mem.h"

#define HEX "abacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9ca"

static void fill_id(struct dr_id *id)
{
    for (size_t i = 0; i < DR_ID_LEN; i++) {
        id->b[i] = (uint8_t)(0xab + i);
    }
}

static const struct {
    enum dr_layout_kind kind;
    const char *name;
    bool has_id;
} names[] = {
    {DR_LAYOUT_CONFIG, "config", false},
    {DR_LAYOUT_CONFIG_COPY, "copies/config", false},
    {DR_LAYOUT_KEY, "keys/" HEX, true},
    {DR_LAYOUT_KEY_COPY, "copies/keys/" HEX, true},
    {DR_LAYOUT_DATA, "data/ab/" HEX, true},
    {DR_LAYOUT_TREE, "tree/ab/" HEX, true},
    {DR_LAYOUT_TREE_COPY, "tree-copy/ab/" HEX, true},
    {DR_LAYOUT_TREE_COPIES, "tree-copies", false},
    {DR_LAYOUT_SNAPSHOT, "snapshots/" HEX, true},
    {DR_LAYOUT_DRILL, "drills/" HEX, true},
    {DR_LAYOUT_RESERVE, "reserve", false},
    {DR_LAYOUT_EPOCH, "epochs/" HEX, true},
};

static void test_build_and_parse(void **state)
{
    (void)state;
    struct dr_id id, zero, got_any;
    fill_id(&id);
    memset(&zero, 0, sizeof(zero));
    for (size_t i = 0; i < DR_ARRAY_LEN(names); i++) {
        char buf[DR_LAYOUT_NAME_MAX];
        assert_ptr_equal(dr_layout_name(names[i].kind, &id, buf), buf);
        assert_string_equal(buf, names[i].name);
        char *dup = dr_layout_name_dup(names[i].kind, &id);
        assert_string_equal(dup, names[i].name);
        free(dup);
        assert_int_equal(dr_layout_has_id(names[i].kind), names[i].has_id);

        enum dr_layout_kind kind = 0;
        struct dr_id got;
        memset(&got, 0x55, sizeof(got));
        assert_int_equal(dr_layout_parse(names[i].name, &kind, &got), 0);
        assert_int_equal(kind, names[i].kind);
        assert_true(dr_id_eq(&got, names[i].has_id ? &id : &zero));
        /* dr_layout_is: this kind and no other, without an error recorded */
        memset(&got, 0x55, sizeof(got));
        assert_true(dr_layout_is(names[i].name, names[i].kind, &got));
        assert_true(dr_id_eq(&got, names[i].has_id ? &id : &zero));
        enum dr_layout_kind other =
            names[i].kind == DR_LAYOUT_SNAPSHOT ? DR_LAYOUT_EPOCH : DR_LAYOUT_SNAPSHOT;
        assert_false(dr_layout_is(names[i].name, other, &got));
        assert_false(dr_error_msg()[0]);

        /* the prefix starts the name: the whole name, or the directory before a '/' */
        const char *pre = dr_layout_prefix(names[i].kind);
        size_t pl = strlen(pre);
        assert_memory_equal(names[i].name, pre, pl);
        assert_true(names[i].name[pl] == '\0' || names[i].name[pl] == '/');
    }
    assert_false(dr_layout_is("snapshots/not-hex", DR_LAYOUT_SNAPSHOT, &got_any));
    assert_false(dr_error_msg()[0]);
    /* a kind of one name ignores the id */
    char buf[DR_LAYOUT_NAME_MAX];
    assert_string_equal(dr_layout_name(DR_LAYOUT_CONFIG, NULL, buf), "config");
}

static void test_packs(void **state)
{
    (void)state;
    struct dr_id id;
    fill_id(&id);
    assert_int_equal(dr_layout_pack_kind(DR_BLOB_DATA), DR_LAYOUT_DATA);
    assert_int_equal(dr_layout_pack_kind(DR_BLOB_TREE), DR_LAYOUT_TREE);
    char *n = dr_layout_pack_name(DR_BLOB_DATA, &id);
    assert_string_equal(n, "data/ab/" HEX);
    free(n);
    n = dr_layout_pack_name(DR_BLOB_TREE, &id);
    assert_string_equal(n, "tree/ab/" HEX);
    free(n);
}

static void test_locks(void **state)
{
    (void)state;
    char *n = dr_layout_lock_name("0123456789abcdef0123456789abcdef");
    assert_string_equal(n, "locks/0123456789abcdef0123456789abcdef");
    enum dr_layout_kind kind;
    struct dr_id got, zero;
    memset(&zero, 0, sizeof(zero));
    assert_int_equal(dr_layout_parse(n, &kind, &got), 0);
    assert_int_equal(kind, DR_LAYOUT_LOCK);
    assert_true(dr_id_eq(&got, &zero));
    free(n);
    /* a lock's name is a token: any one component */
    assert_int_equal(dr_layout_parse("locks/testlock42", &kind, &got), 0);
    assert_int_equal(kind, DR_LAYOUT_LOCK);
    assert_int_equal(dr_layout_parse("locks/a/b", &kind, &got), DR_EUSAGE);
    dr_error_clear();
    assert_int_equal(dr_layout_parse("locks/", &kind, &got), DR_EUSAGE);
    dr_error_clear();
    assert_int_equal(dr_layout_parse("locks", &kind, &got), DR_EUSAGE);
    dr_error_clear();
}

static void test_bad_names(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "/",
        "configs",
        "config/",
        "copies",
        "copies/",
        "copies/config/x",
        "reserved",
        "tree-copies/x",
        "keys",
        "keys/",
        /* wrong length */
        "keys/" HEX "0",
        "keys/abacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9c",
        "snapshots/abacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9c",
        "drills/" HEX "x",
        "copies/keys/ab",
        /* not hex, or not lowercase */
        "snapshots/ABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CA",
        "drills/abacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9zz",
        "keys/gbacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9ca",
        /* packs: the shape of format/repository.md and nothing else */
        "data",
        "data/ab/",
        "data/ab",
        "data/" HEX,
        "snapshots/ab/" HEX,
        "data/ac/" HEX,
        "tree-copy/ac/" HEX,
        "data/AB/ABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CA",
        "data/ab/abacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9c",
        "data/ab/" HEX "x",
        "data/ab/abacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9zz",
        "data-ab/" HEX,
        "data/abx" HEX,
        "tree/ab/" HEX "/x",
        /* unknown prefixes */
        "blobs/" HEX,
        "index/" HEX,
        "Snapshots/" HEX,
        "./snapshots/" HEX,
        "/snapshots/" HEX,
        "tree-copyx/ab/" HEX,
        "copies/snapshots/" HEX,
    };
    for (size_t i = 0; i < DR_ARRAY_LEN(bad); i++) {
        enum dr_layout_kind kind = 0;
        struct dr_id got;
        memset(&got, 0x55, sizeof(got));
        if (dr_layout_parse(bad[i], &kind, &got) != DR_EUSAGE) {
            fail_msg("'%s' parsed as an object name (kind %d)", bad[i], (int)kind);
        }
        assert_non_null(strstr(dr_error_msg(), "is not the name of a repository object"));
        dr_error_clear();
        /* out-params are left alone */
        assert_int_equal(kind, 0);
        assert_int_equal(got.b[0], 0x55);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_parse),
        cmocka_unit_test(test_packs),
        cmocka_unit_test(test_locks),
        cmocka_unit_test(test_bad_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
