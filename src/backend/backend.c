/* backend.c: the dispatcher in front of the storage drivers.
 *
 * It picks a driver from the location, and it validates every object name before any driver
 * sees it: a name is a relative path of non-empty components, none of them "." or "..", none
 * starting with the temporary-file prefix, with no control characters. That one check is what
 * keeps a hostile name (from a corrupt index or snapshot) from reaching outside the repository,
 * so drivers need not repeat it. */
#include "drrepo/backend.h"

#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"

/* Longest object name accepted; real names are under 80 bytes ("data/ab/<64 hex>"). */
#define DR_BACKEND_NAME_MAX 1024

/* Drivers registered for a scheme (dr_backend_register_driver): only tests register one. */
#define DR_BACKEND_DRIVERS_MAX 4

struct registered_driver {
    char scheme[16];
    const struct dr_backend_ops *ops;
    dr_backend_open_fn open;
};

static struct registered_driver drivers[DR_BACKEND_DRIVERS_MAX];

struct dr_backend {
    const struct dr_backend_ops *ops;
    void *drv;
    char *location;
};

static int bad_name(const char *name, const char *why)
{
    return dr_errorf(DR_EUSAGE, "invalid object name '%s': %s", name, why);
}

/* Checks a name as described at the top of the file. allow_empty is for list prefixes, where ""
 * means the whole repository. */
static int check_name(const char *name, bool allow_empty)
{
    if (!name) {
        return dr_errorf(DR_EUSAGE, "invalid object name: none given");
    }
    size_t len = strlen(name);
    if (len == 0) {
        return allow_empty ? 0 : bad_name(name, "empty");
    }
    if (len > DR_BACKEND_NAME_MAX) {
        return bad_name(name, "too long");
    }
    if (name[0] == '/') {
        return bad_name(name, "absolute");
    }
    /* stricter than "no .. component": no hex or fixed name contains two dots anyway */
    if (strstr(name, "..")) {
        return bad_name(name, "contains '..'");
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) {
            return bad_name(name, "contains a control character");
        }
    }
    const char *comp = name;
    for (;;) {
        const char *slash = strchr(comp, '/');
        size_t clen = slash ? (size_t)(slash - comp) : strlen(comp);
        if (clen == 0) {
            return bad_name(name, "empty path component");
        }
        if (clen == 1 && comp[0] == '.') {
            return bad_name(name, "'.' path component");
        }
        if (clen >= strlen(DR_FS_TMP_PREFIX) &&
            memcmp(comp, DR_FS_TMP_PREFIX, strlen(DR_FS_TMP_PREFIX)) == 0) {
            return bad_name(name, "reserved for temporary files");
        }
        if (!slash) {
            break;
        }
        comp = slash + 1;
    }
    return 0;
}

/* True when loc starts with "<scheme>://" (RFC 3986 scheme characters). */
static bool has_scheme(const char *loc)
{
    const char *p = loc;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        return false;
    }
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.') {
        p++;
    }
    return strncmp(p, "://", 3) == 0;
}

int dr_backend_register_driver(const char *scheme, const struct dr_backend_ops *ops,
                               dr_backend_open_fn open)
{
    size_t len = scheme ? strlen(scheme) : 0;
    if (len == 0 || len >= sizeof(drivers[0].scheme) || !ops || !open) {
        return dr_errorf(DR_EUSAGE, "cannot register a storage driver without scheme or ops");
    }
    struct registered_driver *free_slot = NULL;
    for (size_t i = 0; i < DR_BACKEND_DRIVERS_MAX; i++) {
        if (strcmp(drivers[i].scheme, scheme) == 0) {
            free_slot = &drivers[i];
            break;
        }
        if (!free_slot && drivers[i].scheme[0] == '\0') {
            free_slot = &drivers[i];
        }
    }
    if (!free_slot) {
        return dr_errorf(DR_EUSAGE, "cannot register storage driver '%s': table full", scheme);
    }
    memcpy(free_slot->scheme, scheme, len + 1);
    free_slot->ops = ops;
    free_slot->open = open;
    return 0;
}

/* The registered driver whose scheme starts location (followed by "://"), or NULL. */
static const struct registered_driver *find_driver(const char *location)
{
    for (size_t i = 0; i < DR_BACKEND_DRIVERS_MAX; i++) {
        size_t len = strlen(drivers[i].scheme);
        if (len > 0 && strncmp(location, drivers[i].scheme, len) == 0 &&
            strncmp(location + len, "://", 3) == 0) {
            return &drivers[i];
        }
    }
    return NULL;
}

/* The handle around a driver's opened state. */
static struct dr_backend *wrap(const struct dr_backend_ops *ops, void *drv, const char *location)
{
    struct dr_backend *b = dr_xcalloc(1, sizeof(*b));
    b->ops = ops;
    b->drv = drv;
    b->location = dr_xstrdup(location);
    return b;
}

/* Opens a location of a registered driver. */
static int open_registered(const struct registered_driver *d, const char *location,
                           struct dr_backend **out)
{
    void *drv = NULL;
    int rc = d->open(location + strlen(d->scheme) + 3, &drv);
    if (rc < 0) {
        return rc;
    }
    *out = wrap(d->ops, drv, location);
    return 0;
}

/* The length of a restic-style scheme prefix ("s3:", "sftp:", "rest:", "b2:"): a scheme name
 * of two or more characters, then ':' and no "//". A local directory whose name has such a
 * colon is written with a slash ("./s3:x"). 0 when loc has none. */
static size_t colon_scheme(const char *loc)
{
    const char *p = loc;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        return 0;
    }
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.') {
        p++;
    }
    return *p == ':' && p - loc >= 2 && strncmp(p, "://", 3) != 0 ? (size_t)(p - loc) : 0;
}

int dr_backend_open(const char *location, struct dr_backend **out)
{
    if (!location || !*location) {
        return dr_errorf(DR_EUSAGE, "no repository location given");
    }
    size_t cs = colon_scheme(location);
    if (cs == 2 && strncmp(location, "s3", 2) == 0) {
        void *drv = NULL;
        int rc = dr_backend_s3_open(location + 3, &drv);
        if (rc < 0) {
            return rc;
        }
        *out = wrap(&dr_backend_s3_ops, drv, location);
        return 0;
    }
    if (cs) {
        /* never a local path: "s3:https://…" once made a directory named "s3:https:" */
        return dr_errorf(DR_EUSAGE,
                         "unsupported repository location '%s': '%.*s:' locations are not "
                         "supported; a repository is a local directory (a path, or file:///path; "
                         "write './%s' for a directory whose name has a colon) or an S3 bucket "
                         "(s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX])",
                         location, (int)cs, location, location);
    }
    const char *path = location;
    if (strncmp(location, "file://", 7) == 0) {
        path = location + 7;
        if (strncmp(path, "localhost/", 10) == 0) {
            path += 9;
        }
        if (path[0] != '/') {
            return dr_errorf(DR_EUSAGE,
                             "unsupported repository location '%s': file:// needs an absolute path",
                             location);
        }
    } else if (has_scheme(location)) {
        const struct registered_driver *d = find_driver(location);
        if (d) {
            return open_registered(d, location, out);
        }
        /* s3://BUCKET is the AWS CLI's form: say which one drrepo takes */
        return dr_errorf(DR_EUSAGE,
                         "unsupported repository location '%s': a repository is a local "
                         "directory (a path, or file:///path) or an S3 bucket "
                         "(s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX])",
                         location);
    }
    /* "/repo/" and "/repo" are the same directory; keep "/" itself */
    size_t plen = strlen(path);
    while (plen > 1 && path[plen - 1] == '/') {
        plen--;
    }
    char *dir = dr_xstrndup(path, plen);
    void *drv = NULL;
    int rc = dr_backend_local_open(dir, &drv);
    free(dir);
    if (rc < 0) {
        return rc;
    }
    *out = wrap(&dr_backend_local_ops, drv, location);
    return 0;
}

void dr_backend_set_connections(unsigned n)
{
    dr_backend_s3_set_connections(n);
}

void dr_backend_set_s3_virtual_host(bool on)
{
    dr_backend_s3_set_virtual_host(on);
}

void dr_backend_close(struct dr_backend *b)
{
    if (!b) {
        return;
    }
    b->ops->close(b->drv);
    free(b->location);
    free(b);
}

const char *dr_backend_location(const struct dr_backend *b)
{
    return b->location;
}

int dr_backend_put(struct dr_backend *b, const char *name, const void *data, size_t len,
                   bool exclusive)
{
    int rc = check_name(name, false);
    if (rc < 0) {
        return rc;
    }
    return b->ops->put(b->drv, name, data, len, exclusive);
}

int dr_backend_get(struct dr_backend *b, const char *name, uint64_t off, uint64_t len,
                   struct dr_buf *out)
{
    int rc = check_name(name, false);
    if (rc < 0) {
        return rc;
    }
    return b->ops->get(b->drv, name, off, len, out);
}

int dr_backend_stat(struct dr_backend *b, const char *name, uint64_t *out_size)
{
    int rc = check_name(name, false);
    if (rc < 0) {
        return rc;
    }
    return b->ops->stat(b->drv, name, out_size);
}

static int list(struct dr_backend *b, const char *prefix, bool sizes, dr_backend_list_cb cb,
                void *arg)
{
    if (!prefix) {
        prefix = "";
    }
    /* accept "data/" for "data": a trailing slash is how people write directories (but "/"
     * stays "/" and is rejected as absolute) */
    size_t plen = strlen(prefix);
    while (plen > 1 && prefix[plen - 1] == '/') {
        plen--;
    }
    char *p = dr_xstrndup(prefix, plen);
    int rc = check_name(p, true);
    if (rc == 0) {
        rc = !sizes && b->ops->list_names ? b->ops->list_names(b->drv, p, cb, arg)
                                          : b->ops->list(b->drv, p, cb, arg);
    }
    free(p);
    return rc;
}

int dr_backend_list(struct dr_backend *b, const char *prefix, dr_backend_list_cb cb, void *arg)
{
    return list(b, prefix, true, cb, arg);
}

int dr_backend_list_names(struct dr_backend *b, const char *prefix, dr_backend_list_cb cb,
                          void *arg)
{
    return list(b, prefix, false, cb, arg);
}

int dr_backend_age(struct dr_backend *b, const char *name, int64_t *out_age_ns)
{
    int rc = check_name(name, false);
    if (rc < 0) {
        return rc;
    }
    if (!b->ops->age) {
        return dr_errorf(DR_EUNSUPPORTED, "the %s store cannot tell the age of object '%s'",
                         b->ops->name, name);
    }
    rc = b->ops->age(b->drv, name, out_age_ns);
    if (rc >= 0 && *out_age_ns < 0) {
        *out_age_ns = 0; /* written "in the future": a clock stepped back */
    }
    return rc;
}

int dr_backend_delete(struct dr_backend *b, const char *name)
{
    int rc = check_name(name, false);
    if (rc < 0) {
        return rc;
    }
    return b->ops->remove(b->drv, name);
}

int dr_backend_can_delete(struct dr_backend *b, const char *probe)
{
    int rc = check_name(probe, false);
    if (rc < 0) {
        return rc;
    }
    return b->ops->can_delete ? b->ops->can_delete(b->drv, probe) : 1;
}

int dr_backend_cleanup(struct dr_backend *b)
{
    return b->ops->cleanup ? b->ops->cleanup(b->drv) : 0;
}

bool dr_backend_exists(struct dr_backend *b)
{
    return b->ops->exists ? b->ops->exists(b->drv) : true;
}

bool dr_backend_is_remote(const struct dr_backend *b)
{
    return (b->ops->features & DR_BACKEND_FEATURE_REMOTE) != 0;
}

unsigned dr_backend_connections(const struct dr_backend *b)
{
    return b->ops->connections ? b->ops->connections(b->drv) : 0;
}
