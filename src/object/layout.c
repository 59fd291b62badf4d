/* layout.c: the names of repository objects (see layout.h, format/repository.md "Layout"). */
#include "drrepo/layout.h"

#include <stdio.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "drrepo/walseg.h"

enum shape {
    ONE,    /* the prefix is the whole name */
    FLAT,   /* prefix "/" <64 hex> */
    FANNED, /* prefix "/" <2 hex> "/" <64 hex> */
    TOKEN,  /* prefix "/" <one component> */
    WAL,    /* prefix "/" what dr_wal_object_name builds (walseg.h) */
};

static const struct {
    enum dr_layout_kind kind;
    const char *prefix;
    enum shape shape;
} kinds[] = {
    {DR_LAYOUT_CONFIG, DR_OBJ_CONFIG, ONE},
    {DR_LAYOUT_CONFIG_COPY, DR_OBJ_CONFIG_COPY, ONE},
    {DR_LAYOUT_KEY, DR_OBJ_KEYS, FLAT},
    {DR_LAYOUT_KEY_COPY, DR_OBJ_KEYS_COPY, FLAT},
    {DR_LAYOUT_DATA, DR_OBJ_DATA, FANNED},
    {DR_LAYOUT_TREE, DR_OBJ_TREE, FANNED},
    {DR_LAYOUT_TREE_COPY, DR_OBJ_TREE_COPY, FANNED},
    {DR_LAYOUT_TREE_COPIES, DR_OBJ_TREE_COPIES, ONE},
    {DR_LAYOUT_SNAPSHOT, DR_OBJ_SNAPSHOTS, FLAT},
    {DR_LAYOUT_LOCK, DR_OBJ_LOCKS, TOKEN},
    {DR_LAYOUT_DRILL, DR_OBJ_DRILLS, FLAT},
    {DR_LAYOUT_RESERVE, DR_OBJ_RESERVE, ONE},
    {DR_LAYOUT_WAL, DR_OBJ_WAL, WAL},
    {DR_LAYOUT_EPOCH, DR_OBJ_EPOCHS, FLAT},
};

static size_t slot(enum dr_layout_kind kind)
{
    for (size_t i = 0; i < DR_ARRAY_LEN(kinds); i++) {
        if (kinds[i].kind == kind) {
            return i;
        }
    }
    DR_BUG("unknown object kind");
}

const char *dr_layout_prefix(enum dr_layout_kind kind)
{
    return kinds[slot(kind)].prefix;
}

bool dr_layout_has_id(enum dr_layout_kind kind)
{
    enum shape s = kinds[slot(kind)].shape;
    return s == FLAT || s == FANNED;
}

enum dr_layout_kind dr_layout_pack_kind(uint8_t type)
{
    return type == DR_BLOB_TREE ? DR_LAYOUT_TREE : DR_LAYOUT_DATA;
}

char *dr_layout_name(enum dr_layout_kind kind, const struct dr_id *id, char out[DR_LAYOUT_NAME_MAX])
{
    size_t i = slot(kind);
    char hex[DR_ID_HEX_LEN + 1];
    int n = 0;
    switch (kinds[i].shape) {
    case ONE: n = snprintf(out, DR_LAYOUT_NAME_MAX, "%s", kinds[i].prefix); break;
    case FLAT:
        n = snprintf(out, DR_LAYOUT_NAME_MAX, "%s/%s", kinds[i].prefix, dr_id_hex(id, hex));
        break;
    case FANNED:
        dr_id_hex(id, hex);
        n = snprintf(out, DR_LAYOUT_NAME_MAX, "%s/%.2s/%s", kinds[i].prefix, hex, hex);
        break;
    case TOKEN: DR_BUG("a lock's name is built by dr_layout_lock_name");
    case WAL: DR_BUG("a WAL file's name is built by dr_wal_object_name");
    }
    if (n < 0 || n >= DR_LAYOUT_NAME_MAX) {
        DR_BUG("object name does not fit");
    }
    return out;
}

char *dr_layout_name_dup(enum dr_layout_kind kind, const struct dr_id *id)
{
    char name[DR_LAYOUT_NAME_MAX];
    return dr_xstrdup(dr_layout_name(kind, id, name));
}

char *dr_layout_pack_name(uint8_t type, const struct dr_id *id)
{
    return dr_layout_name_dup(dr_layout_pack_kind(type), id);
}

char *dr_layout_lock_name(const char *token)
{
    return dr_xasprintf("%s/%s", DR_OBJ_LOCKS, token);
}

/* Exactly n lowercase hex digits at s, then the end of the string. */
static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return s[n] == '\0';
}

/* Parses the part of a name after "<prefix>/" as shape s. */
static bool parse_rest(enum shape s, const char *rest, struct dr_id *out_id)
{
    switch (s) {
    case ONE: return false;
    case TOKEN: return rest[0] != '\0' && strchr(rest, '/') == NULL;
    case WAL: return dr_wal_object_parse(rest, NULL, NULL);
    case FLAT: return is_hex(rest, DR_ID_HEX_LEN) && dr_hex_decode(rest, out_id->b, DR_ID_LEN);
    case FANNED:
        return strlen(rest) == 3 + DR_ID_HEX_LEN && rest[2] == '/' &&
               memcmp(rest, rest + 3, 2) == 0 && is_hex(rest + 3, DR_ID_HEX_LEN) &&
               dr_hex_decode(rest + 3, out_id->b, DR_ID_LEN);
    }
    return false;
}

int dr_layout_parse(const char *name, enum dr_layout_kind *out_kind, struct dr_id *out_id)
{
    for (size_t i = 0; i < DR_ARRAY_LEN(kinds); i++) {
        size_t pl = strlen(kinds[i].prefix);
        if (strncmp(name, kinds[i].prefix, pl) != 0) {
            continue;
        }
        struct dr_id id;
        memset(&id, 0, sizeof(id));
        bool ok = kinds[i].shape == ONE
                      ? name[pl] == '\0'
                      : name[pl] == '/' && parse_rest(kinds[i].shape, name + pl + 1, &id);
        if (ok) {
            *out_kind = kinds[i].kind;
            *out_id = id;
            return 0;
        }
    }
    return dr_errorf(DR_EUSAGE, "'%s' is not the name of a repository object", name);
}

bool dr_layout_is(const char *name, enum dr_layout_kind kind, struct dr_id *out_id)
{
    enum dr_layout_kind k;
    if (dr_layout_parse(name, &k, out_id) < 0) {
        dr_error_clear();
        return false;
    }
    return k == kind;
}
