/* namespace.c: the names of the mounted file system (see fuse.c for the layout): the snapshot
 * list and its tags and hosts, the cache of decoded trees, path resolution and attributes. All of
 * it runs on the FUSE loop thread. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "mount_int.h"

/* ---- snapshots list (loop thread) ------------------------------------------------------- */

void mfs_free_list(struct mfs *m)
{
    for (size_t i = 0; i < m->nsnaps; i++) {
        free(m->names[i]);
    }
    free(m->names);
    dr_snap_list_free(m->snaps, m->nsnaps);
    for (size_t i = 0; i < m->ntags; i++) {
        free(m->tags[i]);
    }
    free(m->tags);
    for (size_t i = 0; i < m->nhosts; i++) {
        free(m->hosts[i]);
    }
    free(m->hosts);
    m->names = m->tags = m->hosts = NULL;
    m->snaps = NULL;
    m->nsnaps = m->ntags = m->nhosts = 0;
}

/* Adds s to a sorted set of names if it is usable as a file name. */
static void set_add(char ***set, size_t *n, const char *s)
{
    if (!dr_name_valid(s, strlen(s))) {
        return;
    }
    size_t i = 0;
    while (i < *n && strcmp((*set)[i], s) < 0) {
        i++;
    }
    if (i < *n && strcmp((*set)[i], s) == 0) {
        return;
    }
    *set = dr_xrealloc(*set, (*n + 1) * sizeof(**set));
    memmove(*set + i + 1, *set + i, (*n - i) * sizeof(**set));
    (*set)[i] = dr_xstrdup(s);
    (*n)++;
}

static bool known_snapshot(const struct mfs *m, const struct dr_id *id)
{
    for (size_t i = 0; i < m->nsnaps; i++) {
        if (dr_id_eq(&m->snaps[i].id, id)) {
            return true;
        }
    }
    return false;
}

/* Re-lists the snapshots when the list is older than the TTL: new snapshots appear without a
 * remount. A snapshot written by another client may use packs this index has not seen, so a
 * new snapshot triggers an index sync first. Failures keep the previous list. */
void mfs_refresh(struct mfs *m)
{
    int64_t now = dr_mono_ns();
    if (m->listed_ns && now - m->listed_ns < DR_MOUNT_TTL_NS) {
        return;
    }
    struct dr_snap_entry *list = NULL;
    size_t n = 0, bad = 0;
    int rc = dr_repo_snapshot_list(m->r, &list, &n, &bad);
    if (rc < 0) {
        dr_log_warn("cannot list snapshots: %s", dr_error_msg());
        dr_error_clear();
        return;
    }
    bool fresh = false;
    for (size_t i = 0; i < n && m->listed_ns; i++) {
        fresh = fresh || !known_snapshot(m, &list[i].id);
    }
    if (fresh) {
        pthread_rwlock_wrlock(&m->repo_rw);
        rc = dr_repo_sync_index(m->r, DR_SYNC_CHANGES);
        pthread_rwlock_unlock(&m->repo_rw);
        if (rc < 0) {
            dr_log_warn("cannot update the index for new snapshots: %s", dr_error_msg());
            dr_error_clear();
        }
    }
    mfs_free_list(m);
    m->snaps = list;
    m->nsnaps = n;
    m->names = dr_xcalloc(n ? n : 1, sizeof(*m->names));
    for (size_t i = 0; i < n; i++) {
        char t[32], sid[9];
        dr_time_format(list[i].snap.time_ns, t, sizeof(t));
        dr_hex_encode(list[i].id.b, 4, sid);
        m->names[i] = dr_xasprintf("%s_%s", t, sid);
        for (size_t k = 0; k < list[i].snap.ntags; k++) {
            set_add(&m->tags, &m->ntags, list[i].snap.tags[k]);
        }
        if (list[i].snap.host) {
            set_add(&m->hosts, &m->nhosts, list[i].snap.host);
        }
    }
    m->listed_ns = now;
}

/* Does snapshot i belong to the group (tags/<g> or hosts/<g>)? */
bool mfs_in_group(const struct mfs *m, size_t i, bool tag, const char *g)
{
    const struct dr_snapshot *s = &m->snaps[i].snap;
    return tag ? dr_snapshot_has_tag(s, g) : (s->host && strcmp(s->host, g) == 0);
}

static bool set_has(char **set, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(set[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- trees (loop thread) ------------------------------------------------------------------ */

/* The decoded tree id, from the cache or the repository. Valid until the next tree_get. */
int mfs_tree_get(struct mfs *m, const struct dr_id *id, const struct dr_tree **out)
{
    unsigned slot = ((unsigned)id->b[0] | (unsigned)id->b[1] << 8) % TREE_SLOTS;
    struct tree_slot *ts = &m->trees[slot];
    if (ts->valid && dr_id_eq(&ts->id, id)) {
        *out = &ts->t;
        return 0;
    }
    if (ts->valid) {
        dr_tree_release(&ts->t);
        ts->valid = false;
    }
    dr_tree_init(&ts->t);
    int rc = dr_repo_tree_load(m->r, NULL, id, &ts->t);
    if (rc < 0) {
        dr_tree_release(&ts->t);
        return rc;
    }
    ts->id = *id;
    ts->valid = true;
    *out = &ts->t;
    return 0;
}

/* ---- path resolution (loop thread) -------------------------------------------------------- */

static int find_snap(const struct mfs *m, const char *name, size_t len, size_t *out)
{
    for (size_t i = 0; i < m->nsnaps; i++) {
        if (strlen(m->names[i]) == len && memcmp(m->names[i], name, len) == 0) {
            *out = i;
            return 0;
        }
    }
    return -ENOENT;
}

/* Newest snapshot (in the group when g != NULL), or -ENOENT. */
static int newest(const struct mfs *m, bool tag, const char *g, size_t *out)
{
    for (size_t i = m->nsnaps; i-- > 0;) {
        if (!g || mfs_in_group(m, i, tag, g)) {
            *out = i;
            return 0;
        }
    }
    return -ENOENT;
}

/* Splits off the next component of *p; returns its length (0 at the end). */
static size_t next_comp(const char **p, const char **comp)
{
    while (**p == '/') {
        (*p)++;
    }
    *comp = *p;
    size_t n = strcspn(*p, "/");
    *p += n;
    return n;
}

static bool comp_is(const char *c, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(c, s, n) == 0;
}

/* Resolves a path of the inside of a snapshot, starting after "snapshots/<name>". */
static int resolve_in_snapshot(struct mfs *m, const char *p, struct res *out)
{
    struct dr_id dir = m->snaps[out->snap].snap.tree;
    const char *c;
    size_t n = next_comp(&p, &c);
    if (n == 0) {
        out->k = V_SNAPROOT;
        return 0;
    }
    out->k = V_NODE;
    out->inpath = c - 1;
    for (;;) {
        const struct dr_tree *t;
        int rc = mfs_tree_get(m, &dir, &t);
        if (rc < 0) {
            dr_log_error("cannot read directory '%s': %s", out->inpath, dr_error_msg());
            dr_error_clear();
            return -EIO;
        }
        char name[DR_NAME_MAX + 1];
        if (n > DR_NAME_MAX) {
            return -ENAMETOOLONG;
        }
        memcpy(name, c, n);
        name[n] = '\0';
        const struct dr_node *node = dr_tree_find(t, name);
        if (!node) {
            return -ENOENT;
        }
        n = next_comp(&p, &c);
        if (n == 0) {
            out->node = node;
            return 0;
        }
        if (node->type != DR_NODE_DIR) {
            return -ENOTDIR;
        }
        dir = node->subtree;
    }
}

int mfs_resolve(struct mfs *m, const char *path, struct res *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = path ? path : "/";
    const char *c, *c2, *c3;
    size_t n = next_comp(&p, &c);
    if (n == 0) {
        out->k = V_ROOT;
        return 0;
    }
    /* requests inside a snapshot do not re-list: only the top levels do */
    bool inside = comp_is(c, n, "snapshots") && *p && strchr(p + 1, '/');
    if (!inside) {
        mfs_refresh(m);
    }
    if (comp_is(c, n, "latest")) {
        size_t i;
        if (next_comp(&p, &c2) != 0) {
            return -ENOTDIR;
        }
        int rc = newest(m, false, NULL, &i);
        if (rc < 0) {
            return rc;
        }
        out->k = V_LINK;
        snprintf(out->link, sizeof(out->link), "snapshots/%s", m->names[i]);
        return 0;
    }
    if (comp_is(c, n, "snapshots")) {
        size_t n2 = next_comp(&p, &c2);
        if (n2 == 0) {
            out->k = V_SNAPSHOTS;
            return 0;
        }
        int rc = find_snap(m, c2, n2, &out->snap);
        if (rc < 0 && inside) {
            mfs_refresh(m);
            rc = find_snap(m, c2, n2, &out->snap);
        }
        return rc < 0 ? rc : resolve_in_snapshot(m, p, out);
    }
    bool tag = comp_is(c, n, "tags");
    if (!tag && !comp_is(c, n, "hosts")) {
        return -ENOENT;
    }
    out->tag = tag;
    size_t n2 = next_comp(&p, &c2);
    if (n2 == 0) {
        out->k = V_GROUPS;
        return 0;
    }
    if (n2 > DR_NAME_MAX) {
        return -ENAMETOOLONG;
    }
    char *group = out->group;
    memcpy(group, c2, n2);
    group[n2] = '\0';
    if (!set_has(tag ? m->tags : m->hosts, tag ? m->ntags : m->nhosts, group)) {
        return -ENOENT;
    }
    size_t n3 = next_comp(&p, &c3);
    if (n3 == 0) {
        out->k = V_GROUP;
        return 0;
    }
    if (next_comp(&p, &c2) != 0) {
        return -ENOTDIR; /* the entries of a group are symlinks */
    }
    size_t i;
    int rc = comp_is(c3, n3, "latest") ? newest(m, tag, group, &i) : find_snap(m, c3, n3, &i);
    if (rc < 0 || !mfs_in_group(m, i, tag, group)) {
        return -ENOENT;
    }
    out->k = V_LINK;
    snprintf(out->link, sizeof(out->link), "../../snapshots/%s", m->names[i]);
    return 0;
}

/* ---- attributes --------------------------------------------------------------------------- */

/* Inode numbers are hashes: of (snapshot, dev, inode) for hard-linked files, so that every name
 * of one file has the same number, and of (snapshot, path) for everything else. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return h;
}

ino_t mfs_ino_of(const struct mfs *m, const struct res *rs, const char *path)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    if (rs->k == V_NODE || rs->k == V_SNAPROOT) {
        h = fnv(h, m->snaps[rs->snap].id.b, sizeof(m->snaps[rs->snap].id.b));
    }
    if (rs->k == V_NODE && rs->node->type == DR_NODE_FILE && rs->node->nlink > 1) {
        h = fnv(h, "L", 1);
        h = fnv(h, &rs->node->dev, sizeof(rs->node->dev));
        h = fnv(h, &rs->node->inode, sizeof(rs->node->inode));
    } else if (rs->k == V_NODE) {
        h = fnv(h, rs->inpath, strlen(rs->inpath));
    } else {
        h = fnv(h, path, strlen(path));
    }
    return (ino_t)(h < 2 ? h + 2 : h);
}

static void ts_of(int64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
    if (ts->tv_nsec < 0) {
        ts->tv_sec--;
        ts->tv_nsec += 1000000000;
    }
}

mode_t mfs_type_bits(uint8_t type)
{
    switch (type) {
    case DR_NODE_DIR: return S_IFDIR;
    case DR_NODE_SYMLINK: return S_IFLNK;
    case DR_NODE_CHARDEV: return S_IFCHR;
    case DR_NODE_BLOCKDEV: return S_IFBLK;
    case DR_NODE_FIFO: return S_IFIFO;
    case DR_NODE_SOCKET: return S_IFSOCK;
    default: return S_IFREG;
    }
}

void mfs_fill_stat(const struct mfs *m, const struct res *rs, const char *path, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = mfs_ino_of(m, rs, path);
    st->st_uid = m->uid;
    st->st_gid = m->gid;
    st->st_blksize = 4096;
    int64_t t = m->nsnaps ? m->snaps[m->nsnaps - 1].snap.time_ns : 0;
    switch (rs->k) {
    case V_ROOT:
    case V_SNAPSHOTS:
    case V_GROUPS:
    case V_GROUP:
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
        break;
    case V_LINK:
        st->st_mode = S_IFLNK | 0777;
        st->st_nlink = 1;
        st->st_size = (off_t)strlen(rs->link);
        break;
    case V_SNAPROOT:
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
        t = m->snaps[rs->snap].snap.time_ns;
        break;
    case V_NODE: {
        const struct dr_node *n = rs->node;
        st->st_mode = mfs_type_bits(n->type) | (n->mode & 07777);
        st->st_nlink = n->type == DR_NODE_DIR ? 2 : (n->nlink ? n->nlink : 1);
        st->st_uid = n->uid;
        st->st_gid = n->gid;
        st->st_size = (off_t)(n->type == DR_NODE_SYMLINK && n->target ? strlen(n->target)
                              : n->type == DR_NODE_FILE               ? n->size
                                                                      : 0);
        st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
        st->st_rdev = (dev_t)n->rdev;
        ts_of(n->mtime_ns, &st->st_mtim);
        st->st_atim = st->st_mtim;
        ts_of(n->ctime_ns, &st->st_ctim);
        return;
    }
    }
    ts_of(t, &st->st_mtim);
    st->st_atim = st->st_ctim = st->st_mtim;
}
