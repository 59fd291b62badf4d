/* source.h: the inputs of a snapshot. Each input is one source, an ops table in src/source/:
 *
 *   files:   file trees walked from the paths given (excludes, one file system)
 *   stdin:   a stream read from a file descriptor, stored as one file
 *   command: the standard output of a command, stored as one file; the command must succeed
 *   redis:   (hiredis) the RDB over the replication protocol, stored as one file "dump.rdb"
 *   pg:      (libpq) a physical base backup (BASE_BACKUP), stored as the cluster's file tree
 *
 * A source builds the snapshot's tree through a sink that the backup engine provides
 * (dr_backup_run) and never calls the engine itself; unit tests drive sources into a fake sink.
 * Errors of the native sources name the server and the cause: DR_ENET (cannot connect,
 * connection dropped), DR_EAUTH (wrong password or credentials), DR_ESOURCE (the server
 * refused: no replication privilege, bad payload, checksum mismatch). */
#ifndef DR_SOURCE_H
#define DR_SOURCE_H

#include <sys/stat.h>

#include "drrepo/snapshot.h"
#include "drrepo/tree.h"

/* A stream reader: returns the number of bytes read (> 0), 0 at the end, or a negative dr_err
 * with the message recorded (dr_errorf). */
typedef int (*dr_stream_read_fn)(void *arg, uint8_t *buf, size_t len);

/* Where a source puts file contents and directories: the backup engine in production, a fake
 * in unit tests. The engine sets every member; sources call them from the thread that runs build,
 * except scanned. */
struct dr_source_sink {
    /* Chunks a stream into file node n (whose name, type, mode, owner and times the source
     * sets, and its size when known, which the engine sizes the chunk list for) and fills its
     * chunk list and size. pnode is the parent snapshot's node for the
     * same file (NULL when none): an RDB file is stored relative to it. what names the input in
     * messages and progress (NULL: n->name). block 0 chunks by content; otherwise the file is
     * cut in fixed blocks of that size (dr_chunker_fixed_next; a multiple of
     * DR_CHUNK_FIXED_UNIT), for files changed in place such as PostgreSQL relation files.
     * Errors: the reader's, and repository errors. */
    int (*add_file)(void *arg, dr_stream_read_fn rd, void *rdarg, const struct dr_node *pnode,
                    const char *what, uint32_t block, struct dr_node *n);
    /* A regular file that the engine opens and reads itself, so that it can use the files
     * cache and store hard links once; n has been filled from st. The file is opened as rel
     * relative to the directory descriptor dirfd (AT_FDCWD with rel the absolute path); path is
     * its absolute path, the files cache's key and the name in messages. Returns 0, 1 when the
     * file could not be read (reported and counted: it is left out), or a repository error.
     * The chunk ids of n may still be pending when it returns: they are written into n's
     * arrays, which the source keeps in n (moved into the directory's tree) until put_tree. */
    int (*read_file)(void *arg, int dirfd, const char *rel, const char *path, const struct stat *st,
                     const struct dr_node *pnode, struct dr_node *n);
    /* Takes the nodes of t (and of pt, the parent snapshot's tree of the same directory, when
     * not NULL), leaving both empty, and stores t as a tree blob once every chunk its files
     * wait for is stored; the source goes on meanwhile. *out gets a value that stands for the
     * tree's id: the source puts it where the id goes (the parent directory's node, the
     * snapshot's tree), and the engine replaces it by the id before anything is written. A
     * file node that the source marked DR_NODE_F_LISTED gets a chunk list (format/chunklist.md):
     * a change to the list of the node of the same name in pt where the writer policy allows,
     * else a full list. */
    int (*put_tree)(void *arg, struct dr_tree *t, struct dr_tree *pt, struct dr_id *out);
    /* Looks for the parent snapshot (same host and the paths already added to s); sets
     * s->parent and *out_tree and returns true when there is one. */
    bool (*parent)(void *arg, struct dr_snapshot *s, struct dr_id *out_tree);
    /* Loads a tree of the parent snapshot into out (initialised); one that cannot be read
     * leaves out empty: a parent only saves reading. */
    void (*load_tree)(void *arg, const struct dr_id *id, struct dr_tree *out);
    /* Counts a directory, and an input that could not be read (already reported through the
     * log with its path): the snapshot is then partial (DR_EPARTIAL). */
    void (*dir)(void *arg);
    void (*input_error)(void *arg);
    /* Adds to the size scan behind the progress ETA; may be called from another thread. Only
     * when want_total is set (progress is shown) does a source need to scan. */
    void (*scanned)(void *arg, uint64_t bytes);
    bool want_total;
    void *arg;
};

/* One input. build sets s->tree through sink and adds paths and metadata to s (s->time_ns and
 * s->host are set). An error means no snapshot is recorded: sources report their failures as
 * DR_ESOURCE, DR_ENET or DR_EAUTH; the sink's errors pass through with their own codes. */
struct dr_source {
    const char *kind; /* recorded as the snapshot's source: "files", "stdin", "postgresql", ... */
    int (*build)(void *arg, const struct dr_source_sink *sink, struct dr_snapshot *s);
    void *arg;
};

/* --exclude-if-present NAME[:HEADER]: a directory that holds an entry named name is left out,
 * itself and all it holds; with a header, only when that entry is a regular file whose first
 * bytes are header (CACHEDIR.TAG's signature). */
struct dr_exclude_marker {
    const char *name; /* a plain file name */
    const char *header;
    size_t header_len; /* 0: the entry's existence is enough */
};

/* The excludes apply to what the walk finds below the paths given, never to a path given. */
struct dr_source_files_opts {
    char **paths;
    size_t npaths;
    char **excludes; /* dr_pattern_match patterns */
    size_t nexcludes;
    char **iexcludes; /* the same, matched with DR_PATTERN_ICASE (--iexclude) */
    size_t niexcludes;
    const struct dr_exclude_marker *markers; /* --exclude-if-present */
    size_t nmarkers;
    bool exclude_larger;  /* --exclude-larger-than: regular files over larger_than bytes */
    uint64_t larger_than; /* are left out (a file of exactly that size is kept) */
    bool one_file_system;
};

/* File trees. o and the strings it points to must outlive the source. Free with
 * dr_source_free. */
struct dr_source *dr_source_files_new(const struct dr_source_files_opts *o);

/* A stream read from fd, stored as the file name; allow_empty accepts zero bytes. name must
 * outlive the source. */
struct dr_source *dr_source_stdin_new(int fd, const char *name, bool allow_empty);

/* The standard output of the command argv (NULL-terminated), stored as the file name; the
 * command must exit 0. argv and name must outlive the source. */
struct dr_source *dr_source_command_new(char **argv, const char *name, bool allow_empty);

/* Frees a source made by one of the _new functions above; NULL is a no-op. */
void dr_source_free(struct dr_source *src);

struct dr_redis_source;
/* url: redis://[user:password@]host:port; password (NULL: none) is the one to AUTH with when
 * the URL has none ("redis://user:@host" names a user without one), so that it need not be on
 * the command line; allow_empty accepts an empty payload */
DR_MUST_CHECK int dr_source_redis_open(const char *url, const char *password, bool allow_empty,
                                       struct dr_redis_source **out,
                                       const struct dr_source **out_src);
void dr_source_redis_close(struct dr_redis_source *rs);

struct dr_pg_source;
/* conninfo: a libpq connection string or URI; replication=database is added */
DR_MUST_CHECK int dr_source_pg_open(const char *conninfo, struct dr_pg_source **out,
                                    const struct dr_source **out_src);
void dr_source_pg_close(struct dr_pg_source *ps);

#endif
