/* layout.h: the names of repository objects (format/repository.md "Layout").
 *
 * Every object name that drrepo writes or reads is built here and parsed here, so that one
 * place says what the repository holds. A name is a kind and, for most kinds, the id that is
 * the plain hash of the object's bytes (or, for a pack copy, of the pack's bytes). Hex digits
 * are lowercase; a pack name repeats the id's first two digits as its directory. */
#ifndef DR_LAYOUT_H
#define DR_LAYOUT_H

#include <stdint.h>

#include "drrepo/common.h"
#include "drrepo/id.h"

/* Objects of one name. */
#define DR_OBJ_CONFIG "config"
#define DR_OBJ_CONFIG_COPY "copies/config" /* format version 2 on */
#define DR_OBJ_TREE_COPIES "tree-copies"   /* empty: every tree pack has its copy */
#define DR_OBJ_RESERVE "reserve"           /* freed by prune and forget on a full disk */

/* Directories, the prefix of every name of their kind ("a directory" for dr_backend_list). */
#define DR_OBJ_KEYS "keys"
#define DR_OBJ_KEYS_COPY "copies/keys" /* format version 2 on */
#define DR_OBJ_DATA "data"
#define DR_OBJ_TREE "tree"
#define DR_OBJ_TREE_COPY "tree-copy"
#define DR_OBJ_SNAPSHOTS "snapshots"
#define DR_OBJ_LOCKS "locks"
#define DR_OBJ_DRILLS "drills"
#define DR_OBJ_WAL "wal"       /* archived PostgreSQL WAL (format/wal.md) */
#define DR_OBJ_EPOCHS "epochs" /* format version 3 on: prune's marks (format/repository.md) */

/* Long enough for every name built here ("tree-copy/ab/<64 hex>" is 77 bytes). */
#define DR_LAYOUT_NAME_MAX 96

enum dr_layout_kind {
    DR_LAYOUT_CONFIG = 1,  /* config */
    DR_LAYOUT_CONFIG_COPY, /* copies/config */
    DR_LAYOUT_KEY,         /* keys/<64 hex> */
    DR_LAYOUT_KEY_COPY,    /* copies/keys/<64 hex> */
    DR_LAYOUT_DATA,        /* data/<2 hex>/<64 hex> */
    DR_LAYOUT_TREE,        /* tree/<2 hex>/<64 hex> */
    DR_LAYOUT_TREE_COPY,   /* tree-copy/<2 hex>/<64 hex> */
    DR_LAYOUT_TREE_COPIES, /* tree-copies */
    DR_LAYOUT_SNAPSHOT,    /* snapshots/<64 hex> */
    DR_LAYOUT_LOCK,        /* locks/<token> */
    DR_LAYOUT_DRILL,       /* drills/<64 hex> */
    DR_LAYOUT_RESERVE,     /* reserve */
    DR_LAYOUT_WAL,         /* wal/<16 hex>/[<16 hex>/]<WAL file name> (walseg.h) */
    DR_LAYOUT_EPOCH,       /* epochs/<64 hex> */
};

/* The directory of a kind named by an id or a token, or the whole name of a kind of one
 * name. Static storage. */
const char *dr_layout_prefix(enum dr_layout_kind kind);
/* True for the kinds whose name carries an id (keys, packs, pack copies, snapshots, drills,
 * epochs). */
bool dr_layout_has_id(enum dr_layout_kind kind);

/* The kind of a pack of blob type type (DR_BLOB_DATA or DR_BLOB_TREE). */
enum dr_layout_kind dr_layout_pack_kind(uint8_t type);

/* Writes the name of the object of kind and id into out and returns out. id is ignored (may be
 * NULL) for a kind of one name; DR_LAYOUT_LOCK is built by dr_layout_lock_name. */
char *dr_layout_name(enum dr_layout_kind kind, const struct dr_id *id,
                     char out[DR_LAYOUT_NAME_MAX]);
/* The same, on the heap: free() it. */
char *dr_layout_name_dup(enum dr_layout_kind kind, const struct dr_id *id);
/* The name of a pack of blob type type: "data/ab/<hex>" or "tree/ab/<hex>" (free() it). */
char *dr_layout_pack_name(uint8_t type, const struct dr_id *id);
/* The name of a lock whose token is token, a name component ("locks/<token>"; free() it). */
char *dr_layout_lock_name(const char *token);

/* Parses an object name: its kind and, for a kind with an id, the id (zero otherwise). Exactly
 * what the builders write parses: the prefix, the length, lowercase hex, and a pack's
 * directory equal to the first two digits of its id. A lock is any one component under
 * "locks/" (its name is a random token; what counts is its content). Errors: DR_EUSAGE (not a
 * repository object's name; out-params unchanged). */
DR_MUST_CHECK int dr_layout_parse(const char *name, enum dr_layout_kind *out_kind,
                                  struct dr_id *out_id);
/* Whether name is the name of an object of kind, its id (for a kind with one) in *out_id: the
 * filter of a listing of one directory, which skips other names. Records no error. */
bool dr_layout_is(const char *name, enum dr_layout_kind kind, struct dr_id *out_id);

#endif
