/* snapshot.h: snapshot objects (format/SPEC.md "Snapshot"), stored one per file as
 * snapshots/<id> where id is the BLAKE2b-256 of the file. The body is a list of tagged fields
 * (unknown tags are skipped), sealed with the repository key. */
#ifndef DR_SNAPSHOT_H
#define DR_SNAPSHOT_H

#include "drrepo/buf.h"
#include "drrepo/crypto.h"
#include "drrepo/id.h"

struct dr_snap_summary {
    uint64_t files_new, files_changed, files_unchanged;
    uint64_t dirs;
    uint64_t bytes_read;  /* bytes of file content read from the source */
    uint64_t bytes_total; /* logical size of the snapshot (sum of file sizes) */
    uint64_t bytes_added; /* bytes written to the repository (after dedup and compression) */
    uint64_t blobs_added;
    uint64_t errors; /* inputs that could not be read */
    int64_t duration_ns;
};

/* A key=value pair of source metadata (server version, exit status of a command, ...). */
struct dr_snap_meta {
    char *key, *value;
};

struct dr_snapshot {
    int64_t time_ns;
    char *host, *user; /* owned */
    char **tags;       /* owned, ntags */
    size_t ntags;
    char **paths; /* owned, npaths: source paths or the stdin name */
    size_t npaths;
    struct dr_id tree;   /* root tree blob */
    struct dr_id parent; /* zero when none */
    bool has_parent;
    char *source; /* "files", "stdin", "command", ... owned */
    struct dr_snap_summary summary;
    struct dr_snap_meta *meta; /* owned, nmeta */
    size_t nmeta;
    struct dr_id original; /* for repaired snapshots: the snapshot this repairs */
    bool has_original;
};

void dr_snapshot_init(struct dr_snapshot *s);
void dr_snapshot_release(struct dr_snapshot *s);
/* Helpers that copy their arguments. */
void dr_snapshot_add_tag(struct dr_snapshot *s, const char *tag);
void dr_snapshot_add_path(struct dr_snapshot *s, const char *path);
void dr_snapshot_add_meta(struct dr_snapshot *s, const char *key, const char *value);
/* Makes dst (not initialised) a deep copy of src, every field included, for a snapshot that
 * replaces src with a change (repair snapshots, tag); release dst with dr_snapshot_release. */
void dr_snapshot_copy(struct dr_snapshot *dst, const struct dr_snapshot *src);
/* The value of a meta key, or NULL. */
const char *dr_snapshot_get_meta(const struct dr_snapshot *s, const char *key);

/* The origin of s: a hash of its host and paths (in order), which the index keeps for every
 * snapshot so that a new snapshot finds its parent (the newest one of the same host and paths)
 * without reading every snapshot object (format/index.md). */
void dr_snapshot_origin(const struct dr_snapshot *s, struct dr_id *out);

/* Encodes and seals s into out (the bytes of the snapshot file) and sets *out_id to its name.
 * Errors: DR_EUSAGE (a field over its limit). */
DR_MUST_CHECK int dr_snapshot_encode(const struct dr_keys *k, const struct dr_snapshot *s,
                                     struct dr_buf *out, struct dr_id *out_id);

/* Appends the body plaintext of s (the tagged fields, before sealing) to out. Deterministic:
 * dr_snapshot_encode seals exactly these bytes. Exposed for test vectors and forging tools.
 * Errors: DR_EUSAGE (a field over its limit, the body over DR_SNAPSHOT_MAX). */
DR_MUST_CHECK int dr_snapshot_encode_body(const struct dr_snapshot *s, struct dr_buf *out);

/* Verifies that the file's hash equals id, opens and parses it into s (initialised).
 * Errors: DR_ECORRUPT (hash mismatch, tag, field), DR_EUNSUPPORTED; messages name the id. */
DR_MUST_CHECK int dr_snapshot_decode(const struct dr_keys *k, const struct dr_id *id,
                                     const uint8_t *p, size_t len, struct dr_snapshot *s);

#endif
