/* walseg.h: the archived WAL file object wal/<system id>/... (format/wal.md): a PostgreSQL WAL
 * segment, partial segment, backup history or timeline history file, compressed and sealed
 * under the repository key and named after the file, so that `wal push` of the same file is
 * idempotent and `wal get` finds it by the name PostgreSQL asks for. Pushing and fetching are
 * wal/ (wal.h). */
#ifndef DR_WALSEG_H
#define DR_WALSEG_H

#include "drrepo/buf.h"
#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/format.h"

#define DR_WAL_PREFIX "wal"
/* The clear header: magic, version, reserved, the file's length. */
#define DR_WALSEG_HDR_LEN (DR_MAGIC_LEN + 4 + 4 + 8)
#define DR_WALSEG_OBJ_MAX (DR_WALSEG_HDR_LEN + 1 + DR_WAL_FILE_MAX + DR_AEAD_OVERHEAD + 1024)
/* A WAL file name is at most 24 + 1 + 8 + 7 characters ("<24 hex>.<8 hex>.backup"). */
#define DR_WAL_FILE_NAME_MAX 48

enum dr_wal_kind {
    DR_WAL_SEGMENT = 1, /* 000000010000000A000000FF */
    DR_WAL_PARTIAL,     /* <segment>.partial: the last, incomplete segment of a timeline */
    DR_WAL_BACKUP,      /* <segment>.<8 hex>.backup: a backup history file */
    DR_WAL_HISTORY,     /* 00000002.history: a timeline history file */
};

/* A WAL file name as PostgreSQL writes it (uppercase hex), parsed. */
struct dr_wal_file {
    enum dr_wal_kind kind;
    uint32_t tli;      /* timeline */
    uint32_t log, seg; /* the segment's two halves (not for a history file) */
    char name[DR_WAL_FILE_NAME_MAX];
};

/* Parses a WAL file name (no directory). Errors: DR_EUSAGE (not a WAL file name PostgreSQL
 * archives; the message quotes it). */
DR_MUST_CHECK int dr_wal_file_parse(const char *name, struct dr_wal_file *out);

/* The repository object of file f of the cluster sysid: "wal/<16 hex>/<file>" for a history
 * file, "wal/<16 hex>/<first 16 characters of the file>/<file>" for the others (one directory
 * per 4 GiB of WAL). malloc'd. */
char *dr_wal_object_name(uint64_t sysid, const struct dr_wal_file *f);

/* Parses an object name below "wal/" (what follows "wal/"): true when it is exactly what
 * dr_wal_object_name builds, with the cluster and the file in the out-params (may be NULL). */
bool dr_wal_object_parse(const char *rest, uint64_t *out_sysid, struct dr_wal_file *out);

/* Appends the object of the len bytes of file to out, sealed under k for the object name obj,
 * zstd-compressed with z when that is smaller. Errors: DR_EUSAGE (len over DR_WAL_FILE_MAX),
 * those of the compressor and the crypto layer. */
DR_MUST_CHECK int dr_walseg_encode(const struct dr_keys *k, struct dr_compressor *z,
                                   const char *obj, const uint8_t *file, size_t len,
                                   struct dr_buf *out);
/* The file length recorded in the clear header of an object (at least DR_WALSEG_HDR_LEN bytes
 * of it). Errors: DR_ECORRUPT (bad magic, reserved field, a length over the limit),
 * DR_EUNSUPPORTED (newer version), each naming obj. */
DR_MUST_CHECK int dr_walseg_length(const char *obj, const uint8_t *p, size_t len,
                                   uint64_t *out_len);
/* Opens the object obj (the len bytes at p) under k and appends the file's bytes to out.
 * Errors: DR_ECORRUPT (malformed, tampered, moved under another name, or a wrong key),
 * DR_EUNSUPPORTED, each naming obj. */
DR_MUST_CHECK int dr_walseg_decode(const struct dr_keys *k, struct dr_compressor *z,
                                   const char *obj, const uint8_t *p, size_t len,
                                   struct dr_buf *out);

#endif
