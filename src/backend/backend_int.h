/* backend_int.h: the interface every storage driver implements (private to src/backend/).
 *
 * One const ops table per driver, like pgBackRest's StorageInterface and curl's struct Curl_ssl:
 * required entries every driver has, optional entries that may be NULL (the dispatcher supplies
 * the fallback), and feature bits that describe what the driver guarantees.
 *
 * The dispatcher (backend.c) validates every object name before a driver sees it, so drivers may
 * assume names are relative, non-empty, free of "." / ".." components and of empty components.
 * Drivers record their own error messages naming the object (not a driver-internal path). */
#ifndef DR_BACKEND_BACKEND_INT_H
#define DR_BACKEND_BACKEND_INT_H

#include "drrepo/backend.h"

/* Feature bits. */
/* put(exclusive) is atomic: of two concurrent exclusive writers exactly one wins */
#define DR_BACKEND_FEATURE_EXCLUSIVE (1u << 0)
/* objects live in a POSIX file system (temporary files, fsync, cleanup by pid make sense) */
#define DR_BACKEND_FEATURE_POSIX (1u << 1)
/* objects live behind a network: every request is a round trip */
#define DR_BACKEND_FEATURE_REMOTE (1u << 2)

struct dr_backend_ops {
    const char *name;
    unsigned features;

    /* Required. drv is the driver's private state returned by its open function. Every entry
     * must be callable from several threads at once. Semantics and errors as in backend.h. */
    int (*put)(void *drv, const char *name, const void *data, size_t len, bool exclusive);
    int (*get)(void *drv, const char *name, uint64_t off, uint64_t len, struct dr_buf *out);
    int (*stat)(void *drv, const char *name, uint64_t *out_size);
    int (*list)(void *drv, const char *prefix, dr_backend_list_cb cb, void *arg);
    int (*remove)(void *drv, const char *name);
    void (*close)(void *drv);

    /* Optional: NULL means "no temporaries" (cleanup returns 0), "always exists", "no
     * bound on requests at once" (0), "deletes are always allowed" (can_delete returns 1) and
     * "cannot tell an object's age" (DR_EUNSUPPORTED). */
    int (*cleanup)(void *drv);
    /* list without sizes, where they cost more than the listing (a stat per object of a local
     * directory); NULL: list serves */
    int (*list_names)(void *drv, const char *prefix, dr_backend_list_cb cb, void *arg);
    bool (*exists)(void *drv);
    unsigned (*connections)(const void *drv);
    int (*can_delete)(void *drv, const char *probe);
    /* the time since the object was last written, by the store's clock (backend.h) */
    int (*age)(void *drv, const char *name, int64_t *out_age_ns);
};

/* The local directory driver (local/local.c). path is a plain directory path; on success
 * *out_drv is the driver state for dr_backend_local_ops. Cannot fail today (the directory need
 * not exist), but keeps the int shape for drivers that must check their location. */
extern const struct dr_backend_ops dr_backend_local_ops;
DR_MUST_CHECK int dr_backend_local_open(const char *path, void **out_drv);

/* The S3 driver (s3/s3.c). rest is the location after "s3:" ("http(s)://HOST/BUCKET/PREFIX").
 * Errors: DR_EUSAGE (a malformed location, no credentials), DR_ECORRUPT (an unreadable AWS
 * profile file), DR_EINTERNAL. Nothing is sent to the server by open. */
extern const struct dr_backend_ops dr_backend_s3_ops;
DR_MUST_CHECK int dr_backend_s3_open(const char *rest, void **out_drv);
void dr_backend_s3_set_connections(unsigned n);
void dr_backend_s3_set_virtual_host(bool on);

/* Opens a registered driver's state for rest, the part of the location after "<scheme>://". */
typedef int (*dr_backend_open_fn)(const char *rest, void **out_drv);

/* Makes locations "<scheme>://..." open with ops: the hook through which the test-only
 * in-memory driver (tests/support/) is selected. Production code registers nothing, so its
 * behaviour is unchanged: a scheme nobody registered is refused as before. Not thread-safe:
 * call before any dr_backend_open. Registering a scheme again replaces its driver.
 * Errors: DR_EUSAGE (empty scheme, or the small table is full). */
DR_MUST_CHECK int dr_backend_register_driver(const char *scheme, const struct dr_backend_ops *ops,
                                             dr_backend_open_fn open);

#endif
