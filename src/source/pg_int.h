/* pg_int.h: the parts of the PostgreSQL source that do not need a server, so that tests can
 * feed them crafted streams (pgBackRest's harness idea, without wrapping libpq).
 *
 * The consumer reads the PostgreSQL 15 BASE_BACKUP CopyOut stream one CopyData payload at a
 * time: 'n' (new archive: name and tablespace path, NUL-terminated), 'd' (data of the current
 * archive or of the manifest), 'p' (progress: 8-byte big-endian count) and 'm' (the manifest
 * follows as 'd' messages). It parses each archive as tar while it arrives, hands every file's
 * bytes to sink->add_file with a reader that yields exactly that member and hashes it
 * (SHA-256), builds the directory tree bottom-up with sink->put_tree, and when the manifest has
 * arrived verifies it: its own checksum, and every file's size and checksum; a file missing on
 * either side fails. Files under pg_wal/ are not in the manifest (pg_verifybackup checks WAL by
 * replaying it) and are exempt. */
#ifndef DR_SOURCE_PG_INT_H
#define DR_SOURCE_PG_INT_H

#include "drrepo/source.h"

/* The manifest is held in memory until it has been verified and stored. */
#define DR_PG_MANIFEST_MAX ((size_t)1 << 30)

/* Returns the next CopyData payload in *out (valid until the next call): 1, 0 at the end of
 * the copy, or a negative dr_err with the message recorded (a dropped connection). */
typedef int (*dr_pg_msg_fn)(void *arg, const uint8_t **out, size_t *out_len);

/* Consumes the whole stream. On success sets *out_root to the root tree's id and adds
 * pg.chunking, pg.tablespace.<oid>.location and pg.manifest.files to s. server names the server in
 * messages. Errors: DR_ESOURCE (bad stream, bad archive, manifest missing, malformed or not
 * matching: the message names the server, the file and what differs), the message source's
 * errors, and the sink's. */
/* How a base backup's file at path (relative to the data directory, tablespaces under
 * pg_tblspc/<oid>/) of size bytes is chunked, the policy of format/chunker.md "Page-aligned
 * relation files": DR_PG_REL_BLOCK for a relation file (the main, _fsm or _vm fork or a
 * segment of one, under global/, base/<db>/ or pg_tblspc/<oid>/<version>/<db>/) that has a
 * chunk list (dr_pg_file_listed), or whose directory's fixed blocks listed in the tree, counted
 * in *dir_chunks (0 for a new directory), stay within DR_PG_REL_DIR_CHUNKS; 0 (content-defined)
 * for anything else and for the small files past that. */
uint32_t dr_pg_file_block(const char *path, uint64_t size, uint64_t *dir_chunks);
/* Whether a relation file of size bytes in fixed blocks keeps its chunks in a chunk list
 * (format/chunklist.md) rather than in its directory's tree: DR_PG_LIST_MIN blocks or more. */
bool dr_pg_file_listed(uint64_t size);

/* Consumes a base backup's COPY stream into trees through sink; ptree is the parent snapshot's
 * root tree (NULL: none), whose chunk lists the new relation files' lists change. */
DR_MUST_CHECK int dr_pg_stream_consume(dr_pg_msg_fn next, void *arg,
                                       const struct dr_source_sink *sink, const char *server,
                                       struct dr_snapshot *s, const struct dr_id *ptree,
                                       struct dr_id *out_root);

#endif
