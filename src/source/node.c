/* node.c: nodes from stat and owner names, shared by the sources. */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/mem.h"
#include "drrepo/util.h"
#include "source_int.h"

static const char *owner_name(struct dr_owner_cache *oc, uint32_t id, bool group)
{
    for (size_t i = 0; i < oc->n; i++) {
        if (oc->v[i].id == id && oc->v[i].group == group) {
            return oc->v[i].name;
        }
    }
    char buf[4096];
    const char *name = "";
    if (group) {
        struct group gr, *grp = NULL;
        getgrgid_r(id, &gr, buf, sizeof(buf), &grp);
        name = grp ? grp->gr_name : "";
    } else {
        struct passwd pw, *pwp = NULL;
        getpwuid_r(id, &pw, buf, sizeof(buf), &pwp);
        name = pwp ? pwp->pw_name : "";
    }
    DR_GROW(oc->v, oc->alloc, oc->n + 1);
    oc->v[oc->n] = (struct dr_owner){id, group, dr_xstrndup(name, DR_MIN(strlen(name), 255))};
    return oc->v[oc->n++].name;
}

void dr_source_owner_cache_release(struct dr_owner_cache *oc)
{
    for (size_t i = 0; i < oc->n; i++) {
        free(oc->v[i].name);
    }
    free(oc->v);
}

void dr_source_owner_names(struct dr_owner_cache *oc, struct dr_node *n)
{
    n->user = dr_xstrdup(owner_name(oc, n->uid, false));
    n->group = dr_xstrdup(owner_name(oc, n->gid, true));
}

void dr_source_node_from_stat(struct dr_owner_cache *oc, struct dr_node *n, const char *name,
                              const struct stat *st)
{
    memset(n, 0, sizeof(*n));
    n->name = dr_xstrdup(name);
    n->mode = st->st_mode & 07777;
    n->uid = st->st_uid;
    n->gid = st->st_gid;
    dr_source_owner_names(oc, n);
    n->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    n->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
    n->dev = st->st_dev;
    n->inode = st->st_ino;
    n->nlink = (uint32_t)st->st_nlink;
    if (S_ISREG(st->st_mode)) {
        n->type = DR_NODE_FILE;
        n->size = (uint64_t)st->st_size;
    } else if (S_ISDIR(st->st_mode)) {
        n->type = DR_NODE_DIR;
    } else if (S_ISLNK(st->st_mode)) {
        n->type = DR_NODE_SYMLINK;
    } else if (S_ISCHR(st->st_mode)) {
        n->type = DR_NODE_CHARDEV;
        n->rdev = st->st_rdev;
    } else if (S_ISBLK(st->st_mode)) {
        n->type = DR_NODE_BLOCKDEV;
        n->rdev = st->st_rdev;
    } else if (S_ISFIFO(st->st_mode)) {
        n->type = DR_NODE_FIFO;
    } else {
        n->type = DR_NODE_SOCKET;
    }
}
