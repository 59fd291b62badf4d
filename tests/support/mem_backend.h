/* mem_backend.h: an in-memory storage driver for unit tests, selected by "mem://<store>".
 *
 * A store is a named set of objects that lives in this process until dr_mem_backend_destroy:
 * every dr_backend_open of "mem://name" sees the same store, so two repository handles (two
 * clients with two caches) share one repository, and a test can reach into the store between
 * calls to damage it. Puts are atomic (the object appears whole, under the store's mutex).
 *
 * Fault injection works on object names (e.g. "data/ab/<hex>") or name prefixes ("data/"):
 * fail the next gets or puts with an error code, flip a byte, truncate or drop an object. */
#ifndef DR_TESTS_MEM_BACKEND_H
#define DR_TESTS_MEM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Registers the "mem" and "memnet" schemes with the backend dispatcher (idempotent). Returns 0
 * or a dr_err. */
int dr_mem_backend_register(void);
/* Every get of store waits ms milliseconds first (0: none). memnet://STORE opens the same
 * store as a remote backend of 4 connections. */
void dr_mem_backend_set_get_delay(const char *store, unsigned ms);

/* Removes the store and every object in it (a no-op when there is none). */
void dr_mem_backend_destroy(const char *store);

/* Number of objects whose name starts with prefix ("" counts all). 0 when no store. */
size_t dr_mem_backend_count(const char *store, const char *prefix);

/* The names starting with prefix, sorted; *out is malloc'd with malloc'd strings, freed by
 * dr_mem_backend_names_free. Returns the count. */
size_t dr_mem_backend_names(const char *store, const char *prefix, char ***out);
void dr_mem_backend_names_free(char **names, size_t n);

/* Size of an object, or -1 when it does not exist. */
int64_t dr_mem_backend_size(const char *store, const char *name);

/* XORs byte off of object name with mask. Errors: DR_ENOENT (no object), DR_EUSAGE (off past
 * the end). */
int dr_mem_backend_flip(const char *store, const char *name, uint64_t off, uint8_t mask);

/* Cuts object name to len bytes. Errors: DR_ENOENT, DR_EUSAGE (len past the end). */
int dr_mem_backend_truncate(const char *store, const char *name, uint64_t len);

/* Makes object name look written age_ns ago by the store's clock (dr_backend_age), as if its
 * writer had stopped refreshing it then. Errors: DR_ENOENT. */
int dr_mem_backend_set_age(const char *store, const char *name, int64_t age_ns);

/* Deletes object name behind the repository's back. Errors: DR_ENOENT. */
int dr_mem_backend_drop(const char *store, const char *name);

/* The next count get calls (count < 0: every one) on objects whose name starts with prefix fail
 * with err (a negative dr_err). A new call replaces the previous rule; count 0 clears it. */
void dr_mem_backend_fail_get(const char *store, const char *prefix, int err, int count);

/* Likewise for puts. */
void dr_mem_backend_fail_put(const char *store, const char *prefix, int err, int count);

/* Number of gets and puts the store has served (successful or not), for tests that assert an
 * object was or was not read. */
uint64_t dr_mem_backend_gets(const char *store);
uint64_t dr_mem_backend_puts(const char *store);

#endif
