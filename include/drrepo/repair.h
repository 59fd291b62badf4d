/* repair.h: `repair index`, `repair packs`, `repair snapshots`, `repair config` and `repair keys`.
 *
 * Neither ever deletes a pack: a pack that still holds a readable blob stays, and unreferenced
 * data is prune's to remove. */
#ifndef DR_REPAIR_H
#define DR_REPAIR_H

#include "drrepo/repo.h"

/* Rebuilds the local index from nothing: removes the index directory of the repository
 * (whatever state it is in), then indexes every pack header and counts every snapshot's
 * references. r must have been opened with no_index. On success r->index is open. */
DR_MUST_CHECK int dr_repair_index(struct dr_repo *r);

struct dr_repair_packs_result {
    uint64_t packs;      /* tree packs seen (by either name) */
    char **written;      /* object names written again from their good copy */
    char **unrepairable; /* tree packs of which no copy is good (repair snapshots is next) */
    size_t nwritten, awritten, nunrepairable, aunrepairable;
    bool marker_written; /* DR_OBJ_TREE_COPIES was missing and is now written */
};

/* Mends the two copies of every tree pack (format/repository.md "Tree pack copies"): a name
 * that is missing, or whose bytes do not hash to the pack id, is written again (atomically)
 * from the other name when that one's bytes do. Needs no key and no index: the pack's name is
 * the hash of its bytes. Then writes DR_OBJ_TREE_COPIES if missing, so that later checks
 * expect every copy. dry_run reports without writing. Errors: the backend's (DR_EIO, DR_ENOSPC);
 * packs that cannot be mended are listed in the result, not errors. */
DR_MUST_CHECK int dr_repair_packs(struct dr_repo *r, bool dry_run,
                                  struct dr_repair_packs_result *out);
void dr_repair_packs_result_release(struct dr_repair_packs_result *res);

struct dr_repair_file {
    struct dr_id snapshot;
    char *path;
    uint64_t lost_bytes;
    uint32_t ranges;
};

struct dr_repair_result {
    uint64_t snapshots_checked, snapshots_repaired;
    struct dr_id *new_ids, *old_ids;
    struct dr_repair_file *files;
    size_t nfiles, afiles, nnew, anew;
};

/* For every snapshot that references missing or unreadable blobs, writes a repaired snapshot
 * in which each damaged file stays listed with flag DR_NODE_F_DAMAGED and the lost byte ranges
 * recorded (and an unreadable directory stays as an empty directory marked damaged). The
 * repaired snapshot keeps the original's time, host and paths, gets the tag "repaired" and
 * names the original, which is kept until the user forgets it. A blob counts as damaged when it
 * is not indexed, its pack is missing, or (read_data, its pack failed the last
 * `check --read-data`, or its pack's size differs from the index's) it fails to read and
 * verify. dry_run reports without writing. */
DR_MUST_CHECK int dr_repair_snapshots(struct dr_repo *r, bool read_data, bool dry_run,
                                      struct dr_repair_result *out);
void dr_repair_result_release(struct dr_repair_result *res);

/* `repair config` and `repair keys` (format version 2, format/repository.md "Redundancy"):
 * every copy of the config, or of each key file, that is missing, damaged or (config) differs
 * from an intact one is rewritten from the intact one, atomically. r is open (so at least one
 * copy of the config and of the key in use was intact). cb, if not NULL, is called for each
 * rewritten object with the copy it came from. Returns the number rewritten; for a repository
 * of format version 1, which keeps one copy of each, 0. Errors: DR_ECORRUPT (a key file has no
 * intact copy; the others are repaired first, and the message names it and what recovers it),
 * DR_EIO, DR_ENOSPC. */
typedef void (*dr_repair_copy_cb)(void *arg, const char *object, const char *from);
DR_MUST_CHECK int dr_repair_config(struct dr_repo *r, dr_repair_copy_cb cb, void *arg);
DR_MUST_CHECK int dr_repair_keys(struct dr_repo *r, dr_repair_copy_cb cb, void *arg);

#endif
