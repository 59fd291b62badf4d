/* source.h: native sources: servers read directly instead of through a dump command.
 *
 *   Redis (hiredis): the RDB over the replication protocol, stored as one file "dump.rdb".
 *   PostgreSQL (libpq): a physical base backup (BASE_BACKUP), stored as the cluster's file tree.
 *
 * Each open function connects and prepares; the returned source is used by dr_backup_run and
 * freed with the matching _close. Errors name the server and the cause: DR_ENET (cannot
 * connect, connection dropped), DR_EAUTH (wrong password or credentials), DR_ESOURCE (the
 * server refused: no replication privilege, bad payload, checksum mismatch). */
#ifndef DR_SOURCE_H
#define DR_SOURCE_H

#include "drrepo/backup.h"

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
