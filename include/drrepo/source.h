/* source.h: native sources: servers read directly instead of through a dump command.
 *
 *   Redis (hiredis): the RDB over the replication protocol, stored as one file "dump.rdb".
 *   PostgreSQL (libpq): a physical base backup (BASE_BACKUP), stored as the cluster's file tree.
 *
 * Each open function connects and prepares; the returned source is used by the backup engine
 * (dr_backup_run) and freed with the matching _close. Errors name the server and the cause: DR_ENET
 * (cannot connect, connection dropped), DR_EAUTH (wrong password or credentials), DR_ESOURCE (the
 * server refused: no replication privilege, bad payload, checksum mismatch). */
#ifndef DR_SOURCE_H
#define DR_SOURCE_H

#include "drrepo/snapshot.h"
#include "drrepo/tree.h"

/* A stream reader: returns the number of bytes read (> 0), 0 at the end, or a negative dr_err
 * with the message recorded (dr_errorf). */
typedef int (*dr_stream_read_fn)(void *arg, uint8_t *buf, size_t len);

/* A source that produces one file (a Redis RDB fetched over the replication protocol). */
struct dr_stream_source {
    const char *kind; /* recorded as the snapshot's source, e.g. "redis" */
    dr_stream_read_fn read;
    /* Called after the end of the stream: validates what was read (a checksum, an end mark)
     * and adds metadata with dr_snapshot_add_meta. An error means no snapshot is recorded.
     * May be NULL. */
    int (*finish)(void *arg, struct dr_snapshot *s);
    void *arg;
};

/* Where a source that builds its own file tree puts file contents and directories: the backup
 * engine in production, a fake in unit tests. Sources never call the engine themselves.
 * add_file chunks a stream into file node n (whose name, type, mode, owner and times the source
 * sets) and fills its chunk list and size; put_tree waits for pending chunks, sorts and encodes
 * t and stores it as a tree blob. Errors: the reader's, and repository errors. */
struct dr_source_sink {
    int (*add_file)(void *arg, dr_stream_read_fn rd, void *rdarg, struct dr_node *n);
    int (*put_tree)(void *arg, struct dr_tree *t, struct dr_id *out);
    void *arg;
};

/* A source that produces a file tree (a PostgreSQL base backup parsed from tar streams). */
struct dr_tree_source {
    const char *kind; /* e.g. "postgresql" */
    /* Builds the snapshot's tree through sink; sets s->tree and adds paths and metadata. An
     * error means no snapshot is recorded. */
    int (*build)(void *arg, const struct dr_source_sink *sink, struct dr_snapshot *s);
    void *arg;
};

struct dr_redis_source;
/* url: redis://[user:password@]host:port */
DR_MUST_CHECK int dr_source_redis_open(const char *url, struct dr_redis_source **out,
                                       const struct dr_stream_source **out_src);
void dr_source_redis_close(struct dr_redis_source *rs);

struct dr_pg_source;
/* conninfo: a libpq connection string or URI; replication=database is added */
DR_MUST_CHECK int dr_source_pg_open(const char *conninfo, struct dr_pg_source **out,
                                    const struct dr_tree_source **out_src);
void dr_source_pg_close(struct dr_pg_source *ps);

#endif
