/* source_int.h: what the sources share: owner names, nodes from stat, and one file from a
 * stream (stdin, a command, Redis). The ops table itself is struct dr_source (source.h). */
#ifndef DR_SOURCE_INT_H
#define DR_SOURCE_INT_H

#include <sys/stat.h>

#include "drrepo/source.h"

/* uid/gid -> name. getpwuid_r parses /etc/passwd (or asks NSS) on every call, which for a tree
 * of many small files costs more than reading them; a tree has few distinct owners. */
struct dr_owner_cache {
    struct dr_owner {
        uint32_t id;
        bool group;
        char *name;
    } * v;
    size_t n, alloc;
};

void dr_source_owner_cache_release(struct dr_owner_cache *oc);

/* Sets n->user and n->group from n->uid and n->gid. */
void dr_source_owner_names(struct dr_owner_cache *oc, struct dr_node *n);

/* Fills n (overwritten) from st: name, type, mode, owner, times, inode, size of a file. */
void dr_source_node_from_stat(struct dr_owner_cache *oc, struct dr_node *n, const char *name,
                              const struct stat *st);

/* One stream stored as a root tree holding one file. */
struct dr_source_stream {
    const char *name; /* the file's name in the snapshot */
    /* names the input in messages and progress: the command line, the source's kind, or
     * "standard input" */
    const char *what;
    /* how a message about an empty input starts: "command '", "source '" or NULL for standard
     * input */
    const char *label;
    dr_stream_read_fn read;
    void *arg;
    /* Called after the stream was read (got: the byte count or the read error): validates
     * what was read (a checksum, an end mark, an exit status) and adds metadata. An error
     * means no snapshot is recorded. May be NULL. */
    int (*finish)(void *arg, int64_t got, struct dr_snapshot *s);
    bool allow_empty;
    /* a failed read (DR_EIO) is a failed source (DR_ESOURCE): stdin and commands, whose reads
     * are of a pipe; a native source records its own error */
    bool eio_is_source;
};

/* Builds s from the stream st through sink. Errors: DR_ESOURCE (nothing read without
 * allow_empty, a failed read), finish's, the reader's and the sink's. */
DR_MUST_CHECK int dr_source_stream_build(const struct dr_source_stream *st,
                                         const struct dr_source_sink *sink, struct dr_snapshot *s);

#endif
