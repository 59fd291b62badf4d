/* pg_stream_int.h: the BASE_BACKUP consumer's state, shared by pg_stream.c (archives to a
 * tree) and pg_manifest.c (the backup manifest checked against what was read). */
#ifndef DR_PG_STREAM_INT_H
#define DR_PG_STREAM_INT_H

#include "drrepo/buf.h"
#include "drrepo/crypto.h"
#include "pg_int.h"

struct dr_pg_dir {
    char *name;
    struct dr_node meta; /* from the archive's directory entry; has_meta says whether one came */
    bool has_meta;
    struct dr_tree entries; /* files and symlinks */
    uint64_t fixed_chunks;  /* of its files cut in fixed blocks (dr_pg_file_block) */
    struct dr_pg_dir **subs;
    size_t nsubs, asubs;
};

struct dr_pg_seen {
    char *path;
    uint64_t size;
    uint8_t sha[DR_SHA256_LEN];
    bool matched;
};

struct dr_pg_consumer {
    dr_pg_msg_fn next;
    void *arg;
    const struct dr_source_sink *sink;
    const char *server;
    struct dr_snapshot *s;
    /* the current 'd' payload of the archive being read */
    const uint8_t *msg;
    size_t len;
    /* the message that ended the current archive: 'n', 'm' or 0 for the end of the copy */
    int pending;
    const uint8_t *pmsg;
    size_t plen;
    struct dr_pg_dir root;
    struct dr_pg_seen *seen;
    size_t nseen, aseen;
    struct dr_buf manifest;
};

/* The reader handed to add_file: one tar member, hashed as it passes. */
struct member {
    struct dr_tar *tar;
    struct dr_sha256 sha;
    uint64_t got;
};

/* Records a DR_ESOURCE naming the server; returns it. */
DR_PRINTF(2, 3) int dr_pg_bad(struct dr_pg_consumer *c, const char *fmt, ...);

/* Parses the manifest received into c->manifest and checks it against the files read
 * (c->seen: sizes and SHA-256); adds pg.manifest.files to the snapshot. Errors: DR_ESOURCE. */
DR_MUST_CHECK int dr_pg_manifest_verify(struct dr_pg_consumer *c);

#endif
