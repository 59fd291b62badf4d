/* mount_int.h: what the parts of the FUSE file system share (fuse.c: the operations, the
 * read-ahead threads and setup; namespace.c: the snapshot list, the tree cache, path resolution
 * and attributes). Private to src/mount/. */
#ifndef DR_MOUNT_INT_H
#define DR_MOUNT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "drrepo/mount.h"
#include "drrepo/snapshot.h"
#include "drrepo/tree.h"

#define TREE_SLOTS 512u /* decoded trees kept (direct-mapped by id) */
#define QUEUE_MAX 64u   /* read-ahead requests waiting for a thread */
#define MAX_THREADS 8u

struct tree_slot {
    bool valid;
    struct dr_id id;
    struct dr_tree t;
};

struct mfs {
    struct dr_repo *r;
    const struct dr_mount_opts *o;
    uid_t uid;
    gid_t gid;

    /* loop thread only */
    struct dr_snap_entry *snaps; /* oldest first */
    size_t nsnaps;
    char **names; /* "<time>_<short id>", parallel to snaps */
    char **tags, **hosts;
    size_t ntags, nhosts;
    int64_t listed_ns;
    struct tree_slot *trees;

    /* shared with the read-ahead threads */
    struct dr_chunk_cache *cache;
    pthread_rwlock_t repo_rw; /* fetches: read; index sync: write */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    struct dr_id queue[QUEUE_MAX];
    size_t qhead, qlen;
    bool stop;
    pthread_t threads[1]; /* the read-ahead dispatcher */
    unsigned nthreads;
    unsigned ra_workers; /* the read engine's workers for read-ahead (--threads) */
};

/* An open file: what reads need, copied out of the tree so the tree cache may drop it. */
struct ofile {
    char *path; /* for messages */
    struct dr_filemap map;
    struct dr_id *chunks;
    uint64_t next_off; /* where a sequential reader reads next */
    size_t ra_next;    /* first extent not queued for read-ahead yet */
    int fd;            /* a record-encoded file, rebuilt into an unlinked temporary file; or -1 */
};

enum vkind {
    V_ROOT,
    V_SNAPSHOTS,
    V_GROUPS,   /* tags/ or hosts/ */
    V_GROUP,    /* tags/<tag>/ or hosts/<host>/ */
    V_LINK,     /* a symlink we make up */
    V_SNAPROOT, /* snapshots/<name>/ */
    V_NODE,     /* something inside a snapshot */
};

struct res {
    enum vkind k;
    bool tag;                    /* V_GROUPS, V_GROUP: tags (else hosts) */
    char group[DR_NAME_MAX + 1]; /* V_GROUP: the tag or host */
    char link[512];              /* V_LINK target */
    size_t snap;                 /* V_SNAPROOT, V_NODE */
    const char *inpath;          /* V_NODE: path inside the snapshot, borrowed from the request */
    const struct dr_node *node;  /* V_NODE: valid until the next tree_get */
};

/* ---- namespace.c (loop thread) ---- */

/* Frees the snapshot list, names, tags and hosts. */
void mfs_free_list(struct mfs *m);
/* Re-lists the snapshots when the list is older than the TTL (see namespace.c). */
void mfs_refresh(struct mfs *m);
/* Does snapshot i belong to the group (tags/<g> or hosts/<g>)? */
bool mfs_in_group(const struct mfs *m, size_t i, bool tag, const char *g);
/* The decoded tree id, from the cache or the repository. Valid until the next mfs_tree_get. */
int mfs_tree_get(struct mfs *m, const struct dr_id *id, const struct dr_tree **out);
/* Resolves a path of the file system; 0 or a negative errno. */
int mfs_resolve(struct mfs *m, const char *path, struct res *out);
ino_t mfs_ino_of(const struct mfs *m, const struct res *rs, const char *path);
mode_t mfs_type_bits(uint8_t type);
void mfs_fill_stat(const struct mfs *m, const struct res *rs, const char *path, struct stat *st);

#endif
