/* files.c: the file tree source. It walks the paths given, depth first, one directory at a
 * time: the directory's entries are read, sorted and stat'ed, regular files go to the sink
 * (which reads them with the files cache), and the directory is handed to the sink as a tree.
 * Excluded paths are skipped (by pattern, by an --exclude-if-present marker in a directory, by
 * size); with one_file_system a mount point is kept as an empty directory.
 * A directory that cannot be read is stored with what was read and marked incomplete.
 *
 * Entries are stat'ed, opened and listed relative to their directory's descriptor (fstatat,
 * openat), which spares the kernel the lookup of every component of the absolute path for each
 * file; the absolute path is still built, for excludes, messages and the files cache. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/format.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pattern.h"
#include "drrepo/util.h"
#include "source_int.h"

struct files {
    struct dr_source src; /* first: dr_source_free frees the whole */
    struct dr_source_files_opts o;
};

/* Directories kept open while their entries are walked, at most: one descriptor per level of
 * depth. Deeper directories are closed once listed and their entries reached by absolute path,
 * so a very deep tree cannot run out of descriptors. */
#define OPEN_DIRS_MAX 64

/* One walk: the state of one build. */
struct walk {
    const struct dr_source_files_opts *o;
    const struct dr_source_sink *sink;
    struct dr_owner_cache owners;
    dev_t root_dev;
    size_t sources_unread; /* paths given that could not be read at all */
    unsigned open_dirs;    /* directories of the current path kept open (OPEN_DIRS_MAX) */
};

/* An entry as the system calls reach it: name relative to the open directory dfd, or the
 * absolute path with AT_FDCWD; path is always the absolute path. given: a path given to the
 * source, which the excludes never leave out. */
struct entry {
    int dfd;
    const char *rel;
    const char *path;
    bool given;
};

/* How much of a directory's listing was read. A directory not read to the end is stored with
 * what was read and the flag DR_NODE_F_INCOMPLETE, so that ls, diff and restore can say so. */
enum dir_read {
    DIR_READ_ALL,
    DIR_READ_PART, /* the listing failed after some entries */
    DIR_READ_NONE, /* not opened, or the listing failed before any entry */
};

static int walk_dir(struct walk *w, const struct entry *e, const struct dr_id *ptree,
                    struct dr_id *out_tree, enum dir_read *out_read);

/* lstat, or a path that vanished when the fault point "backup.lstat" is armed with "fail". */
static int entry_stat(const struct entry *e, struct stat *st)
{
    if (DR_FAULT_POINT("backup.lstat") < 0) {
        dr_error_clear();
        errno = ENOENT;
        return -1;
    }
    return fstatat(e->dfd, e->rel, st, AT_SYMLINK_NOFOLLOW);
}

/* Does the marker file rel/m->name (relative to dfd; path/m->name in messages) start with the
 * marker's header? One that cannot be read does not: its directory is backed up, which loses
 * nothing, and the warning (when warn) says why. */
static bool header_matches(int dfd, const char *rel, const struct dr_exclude_marker *m,
                           const char *path, bool warn)
{
    /* O_NONBLOCK: the entry was a regular file when stat'ed; should a FIFO have replaced it,
     * the open must not wait for a writer */
    int fd = openat(dfd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    char *buf = dr_xmalloc(m->header_len);
    size_t got = 0;
    int err = fd < 0 ? errno : 0;
    while (fd >= 0 && got < m->header_len) {
        ssize_t n = read(fd, buf + got, m->header_len - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        got += (size_t)n;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (err && warn) {
        dr_log_warn("cannot read '%s/%s' (--exclude-if-present): %s; its directory is backed up",
                    strcmp(path, "/") == 0 ? "" : path, m->name, strerror(err));
    }
    bool match = !err && got == m->header_len && memcmp(buf, m->header, m->header_len) == 0;
    free(buf);
    return match;
}

/* Does the directory rel (relative to dfd; path in messages) hold an --exclude-if-present
 * marker? */
static bool marked(const struct dr_source_files_opts *o, int dfd, const char *rel, const char *path,
                   bool warn)
{
    bool hit = false;
    for (size_t i = 0; i < o->nmarkers && !hit; i++) {
        const struct dr_exclude_marker *m = &o->markers[i];
        char *mrel = dr_xasprintf("%s/%s", strcmp(rel, "/") == 0 ? "" : rel, m->name);
        struct stat st;
        hit = fstatat(dfd, mrel, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (hit && m->header_len) {
            hit = S_ISREG(st.st_mode) && header_matches(dfd, mrel, m, path, warn);
        }
        free(mrel);
    }
    return hit;
}

/* Is the entry left out by its size or, for a directory, by a marker in it? (The patterns are
 * matched before the entry is stat'ed: see walk_dir.) A mount point that one_file_system keeps
 * empty is not looked into: the other file system may be a network one that hangs. */
static bool excluded_by_stat(const struct walk *w, const struct entry *e, const struct stat *st)
{
    const struct dr_source_files_opts *o = w->o;
    if (S_ISREG(st->st_mode)) {
        return o->exclude_larger && (uint64_t)st->st_size > o->larger_than;
    }
    if (S_ISDIR(st->st_mode) && o->nmarkers) {
        return !(o->one_file_system && st->st_dev != w->root_dev) &&
               marked(o, e->dfd, e->rel, e->path, true);
    }
    return false;
}

/* Builds the node for one existing entry; pnode is the parent snapshot's node for the same
 * path (NULL when none). Returns 1 when the entry is left out (unreadable), 2 when an exclude
 * leaves it out (--exclude-if-present, --exclude-larger-than). For a directory,
 * *out_read (if not NULL) tells how much of it was read. */
static int walk_entry(struct walk *w, const struct entry *e, const char *name,
                      const struct dr_node *pnode, struct dr_node *n, enum dir_read *out_read)
{
    struct stat st;
    const char *path = e->path;
    memset(n, 0, sizeof(*n));
    if (out_read) {
        *out_read = DIR_READ_ALL;
    }
    if (entry_stat(e, &st) < 0) {
        dr_log_error("cannot stat '%s': %s", path, strerror(errno));
        w->sink->input_error(w->sink->arg);
        return 1;
    }
    if (!e->given && excluded_by_stat(w, e, &st)) {
        return 2;
    }
    dr_source_node_from_stat(&w->owners, n, name, &st);
    int rc = 0;
    switch (n->type) {
    case DR_NODE_FILE:
        rc = w->sink->read_file(w->sink->arg, e->dfd, e->rel, path, &st, pnode, n);
        break;
    case DR_NODE_DIR:
        w->sink->dir(w->sink->arg);
        if (w->o->one_file_system && st.st_dev != w->root_dev) {
            /* a mount point: kept as an empty directory, like restic and tar do */
            struct dr_tree empty;
            dr_tree_init(&empty);
            rc = w->sink->put_tree(w->sink->arg, &empty, NULL, &n->subtree);
            dr_tree_release(&empty);
        } else {
            enum dir_read got = DIR_READ_ALL;
            rc = walk_dir(w, e, dr_node_subtree(pnode), &n->subtree, &got);
            if (got != DIR_READ_ALL) {
                n->flags |= DR_NODE_F_INCOMPLETE;
            }
            if (out_read) {
                *out_read = got;
            }
        }
        break;
    case DR_NODE_SYMLINK: {
        char target[PATH_MAX + 1];
        ssize_t len = readlinkat(e->dfd, e->rel, target, PATH_MAX);
        if (len <= 0) {
            dr_log_error("cannot read link '%s': %s", path, len < 0 ? strerror(errno) : "empty");
            w->sink->input_error(w->sink->arg);
            return 1;
        }
        n->target = dr_xstrndup(target, (size_t)len);
        n->size = 0;
        break;
    }
    default: break;
    }
    return rc;
}

/* opendir (relative to the parent's descriptor, not following a symlink that replaced the
 * directory since it was stat'ed) and readdir, failing with EACCES and EIO where the fault
 * points "backup.opendir" and "backup.readdir" are armed with "fail" (root, who runs the
 * tests, reads any directory). */
static DIR *dir_open(const struct entry *e)
{
    if (DR_FAULT_POINT("backup.opendir") < 0) {
        dr_error_clear();
        errno = EACCES;
        return NULL;
    }
    int fd = openat(e->dfd, e->rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        errno = err;
    }
    return d;
}

static struct dirent *dir_next(DIR *d)
{
    if (DR_FAULT_POINT("backup.readdir") < 0) {
        dr_error_clear();
        errno = EIO;
        return NULL;
    }
    return readdir(d);
}

/* Does --exclude or --iexclude leave path out? */
static bool excluded(const struct dr_source_files_opts *o, const char *path)
{
    if (dr_pattern_match_any(o->excludes, o->nexcludes, path)) {
        return true;
    }
    for (size_t i = 0; i < o->niexcludes; i++) {
        if (dr_pattern_match_flags(o->iexcludes[i], path, DR_PATTERN_ICASE)) {
            return true;
        }
    }
    return false;
}

/* Stores the directory at path as a tree; *out_read tells how much of its listing was read (a
 * directory that cannot be read is an input error: reported, counted, and stored with what was
 * read, so the snapshot still holds its metadata and its readable entries). */
static int walk_dir(struct walk *w, const struct entry *e, const struct dr_id *ptree,
                    struct dr_id *out_tree, enum dir_read *out_read)
{
    const char *path = e->path;
    DIR *d = dir_open(e);
    struct dr_tree t, pt;
    dr_tree_init(&t);
    w->sink->load_tree(w->sink->arg, ptree, &pt);
    char **names = NULL;
    size_t nnames = 0, anames = 0;
    int rc = 0;
    *out_read = DIR_READ_ALL;
    if (!d) {
        dr_log_error("cannot read directory '%s': %s", path, strerror(errno));
        w->sink->input_error(w->sink->arg);
        dr_tree_release(&pt);
        *out_read = DIR_READ_NONE;
        return w->sink->put_tree(w->sink->arg, &t, NULL,
                                 out_tree); /* kept, as an empty directory marked incomplete */
    }
    /* errno is cleared before each call: only readdir's own failure may mark the directory */
    for (;;) {
        errno = 0;
        struct dirent *de = dir_next(d);
        if (!de) {
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        DR_GROW(names, anames, nnames + 1);
        names[nnames++] = dr_xstrdup(de->d_name);
    }
    if (errno) {
        dr_log_error("cannot list directory '%s': %s", path, strerror(errno));
        w->sink->input_error(w->sink->arg);
        *out_read = nnames ? DIR_READ_PART : DIR_READ_NONE;
    }
    /* kept open for its entries' fstatat and openat, unless the path is already deep */
    int dfd = AT_FDCWD;
    if (w->open_dirs < OPEN_DIRS_MAX) {
        dfd = dirfd(d);
        w->open_dirs++;
    } else {
        closedir(d);
        d = NULL;
    }
    if (nnames) {
        qsort(names, nnames, sizeof(*names), dr_strp_cmp);
    }
    size_t plen = strlen(path);
    for (size_t i = 0; i < nnames && rc >= 0; i++) {
        char *full = plen && path[plen - 1] == '/' ? dr_xasprintf("%s%s", path, names[i])
                                                   : dr_xasprintf("%s/%s", path, names[i]);
        if (!excluded(w->o, full)) {
            struct dr_node n;
            struct entry sub = {dfd, dfd == AT_FDCWD ? full : names[i], full, false};
            rc = walk_entry(w, &sub, names[i], dr_tree_find(&pt, names[i]), &n, NULL);
            if (rc == 0) {
                dr_tree_add(&t, &n);
            } else {
                /* left out (1: unreadable, 2: excluded), or an error that stops the walk (a
                 * signal among them) */
                dr_node_release(&n);
                rc = rc > 0 ? 0 : rc;
            }
        }
        free(full);
    }
    if (d) {
        closedir(d);
        w->open_dirs--;
    }
    if (rc >= 0) {
        rc = w->sink->put_tree(w->sink->arg, &t, NULL, out_tree);
    }
    for (size_t i = 0; i < nnames; i++) {
        free(names[i]);
    }
    free(names);
    dr_tree_release(&t);
    dr_tree_release(&pt);
    return rc;
}

/* The snapshot's root mirrors the absolute paths given: /home/a and /srv/b become a root with
 * "home" and "srv", whose intermediate directories carry their real metadata. paths is sorted
 * and normalised; every element of [lo, hi) starts with prefix. */
static int walk_virtual(struct walk *w, const char *prefix, char **paths, size_t lo, size_t hi,
                        const struct dr_id *ptree, struct dr_id *out_tree)
{
    struct dr_tree t, pt;
    dr_tree_init(&t);
    w->sink->load_tree(w->sink->arg, ptree, &pt);
    int rc = 0;
    size_t plen = strlen(prefix);
    size_t i = lo;
    while (i < hi && rc >= 0) {
        const char *rest = paths[i] + plen + (plen > 1 ? 1 : 0);
        if (*rest == '/') {
            rest++;
        }
        size_t clen = strcspn(rest, "/");
        char *comp = dr_xstrndup(rest, clen);
        char *full = dr_xasprintf("%s/%s", plen > 1 ? prefix : "", comp);
        size_t flen = strlen(full);
        size_t j = i;
        bool exact = false;
        while (j < hi && strncmp(paths[j], full, flen) == 0 &&
               (paths[j][flen] == '\0' || paths[j][flen] == '/')) {
            if (paths[j][flen] == '\0') {
                exact = true;
            }
            j++;
        }
        struct dr_node n;
        const struct dr_node *pnode = dr_tree_find(&pt, comp);
        if (exact) {
            /* a path given: one that cannot be read at all counts against the snapshot */
            enum dir_read got;
            struct entry e = {AT_FDCWD, full, full, true};
            rc = walk_entry(w, &e, comp, pnode, &n, &got);
            if (rc == 1 || (rc == 0 && got == DIR_READ_NONE)) {
                w->sources_unread++;
            }
            if (rc != 0) {
                dr_node_release(&n);
                rc = rc == 1 ? 0 : rc;
            } else {
                dr_tree_add(&t, &n);
            }
        } else {
            struct stat st;
            if (lstat(full, &st) < 0 || !S_ISDIR(st.st_mode)) {
                rc = dr_error_errno(DR_EUSAGE, "cannot use '%s'", full);
            } else {
                dr_source_node_from_stat(&w->owners, &n, comp, &st);
                rc = walk_virtual(w, full, paths, i, j, dr_node_subtree(pnode), &n.subtree);
                if (rc >= 0) {
                    dr_tree_add(&t, &n);
                } else {
                    dr_node_release(&n);
                }
            }
        }
        free(comp);
        free(full);
        i = j;
    }
    if (rc >= 0) {
        rc = w->sink->put_tree(w->sink->arg, &t, NULL, out_tree);
    }
    dr_tree_release(&t);
    dr_tree_release(&pt);
    return rc;
}

/* The size scan behind the progress ETA: a stat-only walk of the same paths in its own thread
 * (restic does the same), started only when progress is shown. nftw has no user argument, so
 * the scanner's state is thread-local. */
static _Thread_local struct walk *scan_w;

static int scan_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    const struct dr_source_files_opts *o = scan_w->o;
    /* the walk's excludes, but for the paths given (level 0), and silent: the walk warns */
    bool below = ftw->level > 0;
    if (excluded(o, path) || (below && flag == FTW_D && marked(o, AT_FDCWD, path, path, false))) {
        return flag == FTW_D ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
    }
    if (flag == FTW_F && S_ISREG(st->st_mode) &&
        !(below && o->exclude_larger && (uint64_t)st->st_size > o->larger_than)) {
        scan_w->sink->scanned(scan_w->sink->arg, (uint64_t)st->st_size);
    }
    return FTW_CONTINUE;
}

static void *scan_main(void *arg)
{
    scan_w = arg;
    int flags = FTW_PHYS | FTW_ACTIONRETVAL | (scan_w->o->one_file_system ? FTW_MOUNT : 0);
    for (size_t i = 0; i < scan_w->o->npaths; i++) {
        nftw(scan_w->o->paths[i], scan_cb, 32, flags);
    }
    return NULL;
}

/* Makes path absolute and removes ".", ".." and repeated '/' lexically (a symlink given on the
 * command line is stored as the link, like tar and restic do). */
static char *normalize(const char *path)
{
    char cwd[PATH_MAX];
    char *abs = path[0] == '/' ? dr_xstrdup(path)
                               : dr_xasprintf("%s/%s", getcwd(cwd, sizeof(cwd)) ? cwd : "/", path);
    char *outp = dr_xmalloc(strlen(abs) + 2);
    size_t o = 0;
    char *save = NULL;
    for (char *c = strtok_r(abs, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0) {
            continue;
        }
        if (strcmp(c, "..") == 0) {
            while (o > 0 && outp[o - 1] != '/') {
                o--;
            }
            if (o > 0) {
                o--;
            }
            continue;
        }
        outp[o++] = '/';
        size_t l = strlen(c);
        memcpy(outp + o, c, l);
        o += l;
    }
    if (o == 0) {
        outp[o++] = '/';
    }
    outp[o] = '\0';
    free(abs);
    return outp;
}

static int walk_paths(struct walk *w, struct dr_snapshot *s)
{
    size_t n = w->o->npaths;
    char **paths = dr_xcalloc(n, sizeof(*paths));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        paths[i] = normalize(w->o->paths[i]);
        struct stat st;
        if (lstat(paths[i], &st) < 0) {
            rc = dr_error_errno(DR_EUSAGE, "cannot back up '%s'", w->o->paths[i]);
        }
        if (i == 0 && rc >= 0) {
            w->root_dev = st.st_dev;
        }
    }
    if (rc >= 0) {
        qsort(paths, n, sizeof(*paths), dr_strp_cmp);
        /* drop duplicates and paths inside another given path */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t pl = k ? strlen(paths[k - 1]) : 0;
            bool inside = k && (strcmp(paths[k - 1], "/") == 0 ||
                                (strncmp(paths[i], paths[k - 1], pl) == 0 &&
                                 (paths[i][pl] == '\0' || paths[i][pl] == '/')));
            if (inside) {
                free(paths[i]);
            } else {
                paths[k++] = paths[i];
            }
        }
        n = k;
        for (size_t i = 0; i < n; i++) {
            dr_snapshot_add_path(s, paths[i]);
        }
        struct dr_id ptree;
        bool have_parent = w->sink->parent(w->sink->arg, s, &ptree);
        if (n == 1 && strcmp(paths[0], "/") == 0) {
            struct stat st;
            rc = lstat("/", &st) < 0 ? dr_error_errno(DR_EIO, "cannot stat '/'") : 0;
            if (rc >= 0) {
                /* the root has no node to mark: a listing of '/' that fails midway is a partial
                 * snapshot, named on stderr, like an unreadable file */
                enum dir_read got;
                w->sink->dir(w->sink->arg);
                struct entry root = {AT_FDCWD, "/", "/", true};
                rc = walk_dir(w, &root, have_parent ? &ptree : NULL, &s->tree, &got);
                w->sources_unread += got == DIR_READ_NONE;
            }
        } else {
            rc = walk_virtual(w, "/", paths, 0, n, have_parent ? &ptree : NULL, &s->tree);
        }
        /* a snapshot of nothing would look like a good backup of an empty tree */
        if (rc >= 0 && w->sources_unread == n) {
            rc = n == 1 ? dr_errorf(DR_ESOURCE,
                                    "'%s' could not be read (see above); no snapshot was recorded",
                                    paths[0])
                        : dr_errorf(DR_ESOURCE,
                                    "none of the %zu paths could be read (see above); no snapshot "
                                    "was recorded",
                                    n);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(paths[i]);
    }
    free(paths);
    return rc;
}

static int files_build(void *arg, const struct dr_source_sink *sink, struct dr_snapshot *s)
{
    const struct files *f = arg;
    struct walk w = {.o = &f->o, .sink = sink};
    pthread_t scanner;
    bool scanning = false;
    if (sink->want_total) {
        scanning = pthread_create(&scanner, NULL, scan_main, &w) == 0;
    }
    int rc = walk_paths(&w, s);
    if (scanning) {
        pthread_join(scanner, NULL);
    }
    dr_source_owner_cache_release(&w.owners);
    return rc;
}

struct dr_source *dr_source_files_new(const struct dr_source_files_opts *o)
{
    struct files *f = dr_xcalloc(1, sizeof(*f));
    f->o = *o;
    f->src = (struct dr_source){.kind = "files", .build = files_build, .arg = f};
    return &f->src;
}

void dr_source_free(struct dr_source *src)
{
    free(src);
}
