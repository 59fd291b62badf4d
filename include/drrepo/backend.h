/* backend.h: where repository objects are stored. Objects are named by relative paths such as
 * "config", "keys/<hex>", "data/ab/<hex>", "snapshots/<hex>". The operations are those an object
 * store offers (put a whole object, get a byte range, stat, list, delete), so an S3 backend can
 * be added behind this interface (src/backend/backend_int.h) without touching the layers above.
 *
 * A backend handle may be used from several threads at once. */
#ifndef DR_BACKEND_H
#define DR_BACKEND_H

#include "drrepo/buf.h"

struct dr_backend;

/* Opens the backend for location: a local directory path (or file:///path), or an S3 bucket
 * (s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX], docs/S3.md). The directory or bucket need not exist
 * yet (init creates it). Errors: DR_EUSAGE (unknown scheme, malformed location, no S3
 * credentials), DR_ECORRUPT (an unreadable AWS profile file). */
DR_MUST_CHECK int dr_backend_open(const char *location, struct dr_backend **out);
void dr_backend_close(struct dr_backend *b);

/* Requests to a remote store at once, per backend opened after the call (--connections; 0 is
 * the default, 5). Local directories ignore it. Not thread-safe: call before opening. */
void dr_backend_set_connections(unsigned n);
#define DR_CONNECTIONS_MAX 64

/* Addresses S3 buckets virtual-host style (https://BUCKET.HOST/KEY) instead of path style
 * (https://HOST/BUCKET/KEY) in backends opened after the call (--s3-virtual-host). */
void dr_backend_set_s3_virtual_host(bool on);

/* The location as given, for messages. Valid until close. */
const char *dr_backend_location(const struct dr_backend *b);

/* Stores data under name atomically and durably: after success the whole object is there, after
 * failure or a crash nothing with that name is. If exclusive, DR_EEXIST when name exists.
 * Errors: DR_EIO, DR_ENOSPC, DR_EEXIST, DR_ENET. */
DR_MUST_CHECK int dr_backend_put(struct dr_backend *b, const char *name, const void *data,
                                 size_t len, bool exclusive);

/* Appends bytes [off, off+len) of the object to out; len UINT64_MAX means "to the end".
 * Errors: DR_ENOENT (no such object), DR_ECORRUPT (object shorter than off+len, or out's max
 * exceeded), DR_EIO, DR_ENET. */
DR_MUST_CHECK int dr_backend_get(struct dr_backend *b, const char *name, uint64_t off, uint64_t len,
                                 struct dr_buf *out);

/* Size of the object. Errors: DR_ENOENT, DR_EIO. */
DR_MUST_CHECK int dr_backend_stat(struct dr_backend *b, const char *name, uint64_t *out_size);

/* Calls cb for every object below prefix (a "directory" such as "data" or "snapshots"), with its
 * full relative name and size, in no particular order. Temporary files are not listed. A
 * missing prefix lists nothing. A negative return from cb stops the listing and is returned.
 * Errors: DR_EIO, DR_ENET. */
typedef int (*dr_backend_list_cb)(void *arg, const char *name, uint64_t size);
DR_MUST_CHECK int dr_backend_list(struct dr_backend *b, const char *prefix, dr_backend_list_cb cb,
                                  void *arg);

/* dr_backend_list for callers that need only the names: a local directory then lists without a
 * stat per object (which made opening a repository of 10,000 snapshots cost a stat each), and
 * cb may get size DR_BACKEND_SIZE_UNKNOWN. */
#define DR_BACKEND_SIZE_UNKNOWN UINT64_MAX
DR_MUST_CHECK int dr_backend_list_names(struct dr_backend *b, const char *prefix,
                                        dr_backend_list_cb cb, void *arg);

/* How long ago the object was last written, in nanoseconds, measured entirely by the store's
 * own clock: a local directory compares the file's mtime with this machine's clock (the clock
 * that wrote it); S3 takes both the object's Last-Modified and the response's Date from the
 * server (one HEAD). So the age of another host's lock does not depend on how far that host's
 * clock, or this one's, is off. Never negative. Errors: DR_ENOENT, DR_EIO, DR_ENET,
 * DR_EUNSUPPORTED (the store cannot tell: callers fall back to what the object itself says). */
DR_MUST_CHECK int dr_backend_age(struct dr_backend *b, const char *name, int64_t *out_age_ns);

/* Removes the object. DR_ENOENT if it does not exist; DR_EIO. */
DR_MUST_CHECK int dr_backend_delete(struct dr_backend *b, const char *name);

/* Whether the credentials in use may delete objects, asked without changing anything: probe
 * names an object that does not exist (a random name in the directory the caller means to
 * delete from), and the store is asked to delete it. S3 answers a DELETE of a missing key with
 * 204 where deletes are allowed and with 403 where a policy denies them (append-only
 * credentials, docs/S3.md). Returns 1 yes (also for backends that have no such restriction:
 * local directories), 0 no (the store refused; no message is recorded). Errors: DR_EUSAGE (an
 * invalid name), DR_EIO, DR_ENET. */
DR_MUST_CHECK int dr_backend_can_delete(struct dr_backend *b, const char *probe);

/* Removes temporary files left by writers that crashed (local: by dead pids on this host, or
 * older than a day). Returns the number removed. Backends without temporaries return 0. */
DR_MUST_CHECK int dr_backend_cleanup(struct dr_backend *b);

/* True when the backend's location exists at all (used to tell "no repository here"). */
bool dr_backend_exists(struct dr_backend *b);

/* True when objects live behind a network (S3): each request costs a round trip, so readers
 * coalesce more and run more requests at once. */
bool dr_backend_is_remote(const struct dr_backend *b);

/* The number of requests the backend runs at once (--connections); 0 for local directories,
 * which have no such bound. */
unsigned dr_backend_connections(const struct dr_backend *b);

#endif
