/* objcache.c: a local copy of the immutable metadata objects of a remote repository.
 *
 * Over a network every read is a round trip. Walking snapshots (the reference count after a
 * snapshot, restore, ls, diff, check, prune) loads one tree blob after another, each a ranged
 * GET of a few hundred bytes: on Ceph RGW a snapshot of 100 MB made ~550 GETs for its trees
 * and spent most of its time waiting for them. Tree packs and snapshot objects are small (the
 * metadata), never change (they are named by the hash of their bytes) and are read again and
 * again, so, as restic does, a remote repository keeps them in the cache directory:
 * <cache>/<repo id>/objects/<object name>. A miss fetches the whole object with one GET, checks
 * its bytes against its name and stores it; a tree pack written by this machine is stored as it
 * is uploaded. Data packs are not cached: they are the bulk, read once by the read engine.
 *
 * The cache is only a cache: a file that cannot be read, or whose record does not decode, is
 * removed and the read goes to the repository (repo.c read_record), so a damaged cache costs a
 * GET, never a wrong answer. Local repositories read their files directly and use none of it. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/layout.h"
#include "drrepo/mem.h"
#include "store_int.h"

/* Objects larger than this are read from the repository by range (a tree pack is at most the
 * pack size; a snapshot object at most 16 MiB). */
#define OBJCACHE_OBJECT_MAX ((uint64_t)256 << 20)

bool dr_objcache_on(const struct dr_repo *r)
{
    return r->cache_dir && dr_backend_is_remote(r->backend);
}

static char *cache_path(const struct dr_repo *r, const char *obj)
{
    char hex[DR_ID_HEX_LEN + 1];
    return dr_xasprintf("%s/%s/objects/%s", r->cache_dir, dr_id_hex(&r->config.repo_id, hex), obj);
}

/* Serves [off, off+len) of the cached file at path into out. 1 when served, 0 on a miss (no
 * file, or one too short: a leftover of another version is a miss, not an error). */
static int read_cached(const char *path, uint64_t off, uint64_t len, struct dr_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= off) {
        uint64_t size = (uint64_t)st.st_size;
        uint64_t n = len == UINT64_MAX ? size - off : len;
        if (n <= size - off && n <= out->max - out->len && dr_buf_grow(out, (size_t)n) >= 0) {
            if (dr_fs_pread_full(fd, out->buf + out->len, (size_t)n, off, path) >= 0) {
                dr_buf_setlen(out, out->len + (size_t)n);
                rc = 1;
            } else {
                out->buf[out->len] = '\0';
            }
        }
    }
    close(fd);
    dr_error_clear();
    return rc;
}

/* Stores data as the cached copy at path; best effort (a full cache disk costs GETs later). */
static void store_cached(const char *path, const void *data, size_t len)
{
    char *dir = dr_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
    }
    if (dr_fs_mkdir_p(dir, 0700) < 0 || dr_fs_write_atomic(path, data, len, false) < 0) {
        dr_error_clear();
    }
    free(dir);
}

int dr_objcache_get(struct dr_repo *r, const char *obj, const struct dr_id *name_hash, uint64_t off,
                    uint64_t len, struct dr_buf *out, bool *out_cached)
{
    *out_cached = false;
    if (!dr_objcache_on(r)) {
        return dr_backend_get(r->backend, obj, off, len, out);
    }
    char *path = cache_path(r, obj);
    int rc = read_cached(path, off, len, out);
    if (rc == 1) {
        *out_cached = true;
        free(path);
        return 0;
    }
    uint64_t size = 0;
    struct dr_buf whole = DR_BUF_INIT(OBJCACHE_OBJECT_MAX);
    rc = dr_backend_get(r->backend, obj, 0, UINT64_MAX, &whole);
    if (rc == DR_ECORRUPT && whole.len == 0) {
        /* larger than the cache takes: read the range as if there were no cache */
        dr_error_clear();
        dr_buf_release(&whole);
        free(path);
        return dr_backend_get(r->backend, obj, off, len, out);
    }
    if (rc >= 0) {
        /* a snapshot object is named by its BLAKE2b-256, a pack as its format version says */
        struct dr_id got, named;
        if (dr_layout_is(obj, DR_LAYOUT_SNAPSHOT, &named)) {
            dr_crypto_hash(whole.buf, whole.len, &got);
        } else {
            dr_crypto_pack_hash(r->keys, whole.buf, whole.len, &got);
        }
        if (dr_id_eq(&got, name_hash)) {
            store_cached(path, whole.buf, whole.len);
        }
        /* bytes that do not match their name are not kept; the caller decodes what it asked
         * for and reports the damage it finds, as without a cache */
        size = whole.len;
        if (off > size || (len != UINT64_MAX && len > size - off)) {
            rc = dr_errorf(DR_ECORRUPT,
                           "object '%s' is shorter than expected (%llu bytes, read of %llu at "
                           "%llu)",
                           obj, (unsigned long long)size,
                           (unsigned long long)(len == UINT64_MAX ? 0 : len),
                           (unsigned long long)off);
        } else {
            rc = dr_buf_add(out, whole.buf + off, len == UINT64_MAX ? size - off : (size_t)len);
            if (rc < 0) {
                rc = dr_error_wrap(rc, "object '%s'", obj);
            }
        }
    }
    dr_buf_release(&whole);
    free(path);
    return rc;
}

void dr_objcache_put(struct dr_repo *r, const char *obj, const void *data, size_t len)
{
    if (!dr_objcache_on(r) || len > OBJCACHE_OBJECT_MAX) {
        return;
    }
    char *path = cache_path(r, obj);
    store_cached(path, data, len);
    free(path);
}

void dr_objcache_drop(struct dr_repo *r, const char *obj)
{
    if (!dr_objcache_on(r)) {
        return;
    }
    char *path = cache_path(r, obj);
    /* best effort: a stale file costs disk space, never a wrong read (records are decoded and
     * authenticated whenever they are read) */
    (void)unlink(path);
    free(path);
}
