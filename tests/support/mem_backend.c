/* mem_backend.c: the in-memory storage driver for unit tests (see mem_backend.h).
 *
 * Stores are kept in one process-wide list under a mutex; each store has its own mutex, held
 * for the whole of every operation so that puts are atomic and every entry may be called from
 * several threads, as backend_int.h requires. Objects are a plain array searched linearly: a
 * unit test's repository holds tens of objects. list copies the matching names first and calls
 * back without the lock, so a callback may use the backend (delete what it lists). */
#include "mem_backend.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend_int.h"
#include "drrepo/error.h"
#include "drrepo/mem.h"

struct mem_object {
    char *name;
    uint8_t *data;
    size_t len;
    int64_t written_ns; /* CLOCK_REALTIME of the last put, or as a test set it */
};

struct mem_fault {
    char *prefix; /* NULL: no rule */
    int err;
    int count; /* < 0: forever */
};

struct mem_store {
    char *name;
    pthread_mutex_t mu;
    struct mem_object *objs;
    size_t n, alloc;
    struct mem_fault fail_get, fail_put;
    uint64_t gets, puts;
    unsigned get_delay_ms; /* every get waits this long first (a network's latency) */
    struct mem_store *next;
};

static pthread_mutex_t stores_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mem_store *stores;

/* The store called name; created when create is set. Never freed while a handle uses it (tests
 * destroy stores only after closing their repositories). */
static struct mem_store *store_find(const char *name, bool create)
{
    pthread_mutex_lock(&stores_mu);
    struct mem_store *s = stores;
    while (s && strcmp(s->name, name) != 0) {
        s = s->next;
    }
    if (!s && create) {
        s = dr_xcalloc(1, sizeof(*s));
        s->name = dr_xstrdup(name);
        pthread_mutex_init(&s->mu, NULL);
        s->next = stores;
        stores = s;
    }
    pthread_mutex_unlock(&stores_mu);
    return s;
}

static struct mem_object *obj_find(struct mem_store *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->objs[i].name, name) == 0) {
            return &s->objs[i];
        }
    }
    return NULL;
}

static bool has_prefix(const char *name, const char *prefix)
{
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* Consumes one use of fault rule f for name: returns its error, or 0 when it does not apply. */
static int fault_take(struct mem_fault *f, const char *name)
{
    if (!f->prefix || f->count == 0 || !has_prefix(name, f->prefix)) {
        return 0;
    }
    if (f->count > 0) {
        f->count--;
    }
    return dr_errorf(f->err, "injected fault on object '%s'", name);
}

static void fault_set(struct mem_fault *f, const char *prefix, int err, int count)
{
    free(f->prefix);
    f->prefix = count != 0 ? dr_xstrdup(prefix) : NULL;
    f->err = err;
    f->count = count;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int mem_open(const char *rest, void **out_drv)
{
    if (!*rest) {
        return dr_errorf(DR_EUSAGE, "mem:// needs a store name");
    }
    *out_drv = store_find(rest, true);
    return 0;
}

static void mem_close(void *drv)
{
    (void)drv; /* the store outlives its handles */
}

static int mem_put(void *drv, const char *name, const void *data, size_t len, bool exclusive)
{
    struct mem_store *s = drv;
    pthread_mutex_lock(&s->mu);
    s->puts++;
    int rc = fault_take(&s->fail_put, name);
    struct mem_object *o = obj_find(s, name);
    if (rc == 0 && o && exclusive) {
        rc = dr_errorf(DR_EEXIST, "object '%s' already exists", name);
    }
    if (rc == 0) {
        uint8_t *copy = dr_xmalloc(len ? len : 1);
        if (len) {
            memcpy(copy, data, len);
        }
        if (!o) {
            if (s->n == s->alloc) {
                s->alloc = s->alloc ? 2 * s->alloc : 16;
                s->objs = dr_xrealloc(s->objs, s->alloc * sizeof(*s->objs));
            }
            o = &s->objs[s->n++];
            o->name = dr_xstrdup(name);
        } else {
            free(o->data);
        }
        o->data = copy;
        o->len = len;
        o->written_ns = now_ns();
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int mem_get(void *drv, const char *name, uint64_t off, uint64_t len, struct dr_buf *out)
{
    struct mem_store *s = drv;
    unsigned delay = __atomic_load_n(&s->get_delay_ms, __ATOMIC_RELAXED);
    if (delay) {
        struct timespec ts = {.tv_sec = delay / 1000, .tv_nsec = (long)(delay % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&s->mu);
    s->gets++;
    int rc = fault_take(&s->fail_get, name);
    struct mem_object *o = rc == 0 ? obj_find(s, name) : NULL;
    if (rc == 0 && !o) {
        rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
    }
    if (rc == 0) {
        uint64_t end = len == UINT64_MAX ? o->len : off + len;
        if (off > o->len || end > o->len || end < off) {
            rc = dr_errorf(DR_ECORRUPT, "object '%s' is %zu bytes, shorter than requested", name,
                           o->len);
        } else {
            rc = dr_buf_add(out, o->data + off, (size_t)(end - off));
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int mem_stat(void *drv, const char *name, uint64_t *out_size)
{
    struct mem_store *s = drv;
    pthread_mutex_lock(&s->mu);
    struct mem_object *o = obj_find(s, name);
    int rc = 0;
    if (o) {
        *out_size = o->len;
    } else {
        rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int mem_age(void *drv, const char *name, int64_t *out_age_ns)
{
    struct mem_store *s = drv;
    pthread_mutex_lock(&s->mu);
    struct mem_object *o = obj_find(s, name);
    int rc = 0;
    if (o) {
        *out_age_ns = now_ns() - o->written_ns;
    } else {
        rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* True when name is below the "directory" prefix ("" is the whole store). */
static bool below(const char *name, const char *prefix)
{
    size_t plen = strlen(prefix);
    return plen == 0 || (strncmp(name, prefix, plen) == 0 && name[plen] == '/');
}

static int mem_list(void *drv, const char *prefix, dr_backend_list_cb cb, void *arg)
{
    struct mem_store *s = drv;
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    char **names = dr_xcalloc(s->n + 1, sizeof(*names));
    uint64_t *sizes = dr_xcalloc(s->n + 1, sizeof(*sizes));
    for (size_t i = 0; i < s->n; i++) {
        if (below(s->objs[i].name, prefix)) {
            names[n] = dr_xstrdup(s->objs[i].name);
            sizes[n++] = s->objs[i].len;
        }
    }
    pthread_mutex_unlock(&s->mu);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc >= 0) {
            rc = cb(arg, names[i], sizes[i]);
        }
        free(names[i]);
    }
    free(names);
    free(sizes);
    return rc < 0 ? rc : 0;
}

/* Removes object o of s (the mutex held). */
static void obj_remove(struct mem_store *s, struct mem_object *o)
{
    free(o->name);
    free(o->data);
    *o = s->objs[--s->n];
}

static int mem_remove(void *drv, const char *name)
{
    struct mem_store *s = drv;
    pthread_mutex_lock(&s->mu);
    struct mem_object *o = obj_find(s, name);
    int rc = 0;
    if (o) {
        obj_remove(s, o);
    } else {
        rc = dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static const struct dr_backend_ops mem_ops = {
    .name = "mem",
    .features = DR_BACKEND_FEATURE_EXCLUSIVE,
    .put = mem_put,
    .get = mem_get,
    .stat = mem_stat,
    .list = mem_list,
    .remove = mem_remove,
    .close = mem_close,
    .age = mem_age,
};

/* memnet://: the same stores as a remote backend of MEMNET_CONNECTIONS connections, for what
 * the read engine does over a network. */
#define MEMNET_CONNECTIONS 4

static unsigned memnet_connections(const void *drv)
{
    (void)drv;
    return MEMNET_CONNECTIONS;
}

/* mem_ops but remote, with connections (filled in by dr_mem_backend_register) */
static struct dr_backend_ops memnet_ops;

int dr_mem_backend_register(void)
{
    if (!memnet_ops.name) { /* tests register once per setup, with repositories open */
        memnet_ops = mem_ops;
        memnet_ops.name = "memnet";
        memnet_ops.features |= DR_BACKEND_FEATURE_REMOTE;
        memnet_ops.connections = memnet_connections;
    }
    int rc = dr_backend_register_driver("mem", &mem_ops, mem_open);
    return rc < 0 ? rc : dr_backend_register_driver("memnet", &memnet_ops, mem_open);
}

void dr_mem_backend_set_get_delay(const char *store, unsigned ms)
{
    struct mem_store *s = store_find(store, true);
    __atomic_store_n(&s->get_delay_ms, ms, __ATOMIC_RELAXED);
}

void dr_mem_backend_destroy(const char *store)
{
    pthread_mutex_lock(&stores_mu);
    struct mem_store **pp = &stores;
    while (*pp && strcmp((*pp)->name, store) != 0) {
        pp = &(*pp)->next;
    }
    struct mem_store *s = *pp;
    if (s) {
        *pp = s->next;
    }
    pthread_mutex_unlock(&stores_mu);
    if (!s) {
        return;
    }
    while (s->n > 0) {
        obj_remove(s, &s->objs[0]);
    }
    free(s->objs);
    fault_set(&s->fail_get, NULL, 0, 0);
    fault_set(&s->fail_put, NULL, 0, 0);
    pthread_mutex_destroy(&s->mu);
    free(s->name);
    free(s);
}

size_t dr_mem_backend_count(const char *store, const char *prefix)
{
    struct mem_store *s = store_find(store, false);
    size_t n = 0;
    if (!s) {
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        n += has_prefix(s->objs[i].name, prefix);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t dr_mem_backend_names(const char *store, const char *prefix, char ***out)
{
    struct mem_store *s = store_find(store, false);
    size_t n = 0;
    char **names = NULL;
    if (s) {
        pthread_mutex_lock(&s->mu);
        names = dr_xcalloc(s->n + 1, sizeof(*names));
        for (size_t i = 0; i < s->n; i++) {
            if (has_prefix(s->objs[i].name, prefix)) {
                names[n++] = dr_xstrdup(s->objs[i].name);
            }
        }
        pthread_mutex_unlock(&s->mu);
        qsort(names, n, sizeof(*names), cmp_str);
    }
    *out = names;
    return n;
}

void dr_mem_backend_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* Runs fn on object name of store under the store's mutex. */
static int with_object(const char *store, const char *name,
                       int (*fn)(struct mem_store *s, struct mem_object *o, uint64_t a, uint8_t b),
                       uint64_t a, uint8_t b)
{
    struct mem_store *s = store_find(store, false);
    if (!s) {
        return dr_errorf(DR_ENOENT, "no store '%s'", store);
    }
    pthread_mutex_lock(&s->mu);
    struct mem_object *o = obj_find(s, name);
    int rc = o ? fn(s, o, a, b) : dr_errorf(DR_ENOENT, "object '%s' does not exist", name);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int do_size(struct mem_store *s, struct mem_object *o, uint64_t a, uint8_t b)
{
    (void)s, (void)a, (void)b;
    return o->len > INT32_MAX ? INT32_MAX : (int)o->len;
}

static int do_flip(struct mem_store *s, struct mem_object *o, uint64_t off, uint8_t mask)
{
    (void)s;
    if (off >= o->len) {
        return dr_errorf(DR_EUSAGE, "offset %llu past the end of '%s'", (unsigned long long)off,
                         o->name);
    }
    o->data[off] ^= mask;
    return 0;
}

static int do_truncate(struct mem_store *s, struct mem_object *o, uint64_t len, uint8_t b)
{
    (void)s, (void)b;
    if (len > o->len) {
        return dr_errorf(DR_EUSAGE, "length %llu past the end of '%s'", (unsigned long long)len,
                         o->name);
    }
    o->len = (size_t)len;
    return 0;
}

static int do_drop(struct mem_store *s, struct mem_object *o, uint64_t a, uint8_t b)
{
    (void)a, (void)b;
    obj_remove(s, o);
    return 0;
}

static int do_age(struct mem_store *s, struct mem_object *o, uint64_t age_ns, uint8_t b)
{
    (void)s, (void)b;
    o->written_ns = now_ns() - (int64_t)age_ns;
    return 0;
}

int dr_mem_backend_set_age(const char *store, const char *name, int64_t age_ns)
{
    return with_object(store, name, do_age, (uint64_t)age_ns, 0);
}

int64_t dr_mem_backend_size(const char *store, const char *name)
{
    int rc = with_object(store, name, do_size, 0, 0);
    return rc < 0 ? -1 : rc;
}

int dr_mem_backend_flip(const char *store, const char *name, uint64_t off, uint8_t mask)
{
    return with_object(store, name, do_flip, off, mask);
}

int dr_mem_backend_truncate(const char *store, const char *name, uint64_t len)
{
    return with_object(store, name, do_truncate, len, 0);
}

int dr_mem_backend_drop(const char *store, const char *name)
{
    return with_object(store, name, do_drop, 0, 0);
}

static void set_fault(const char *store, bool get, const char *prefix, int err, int count)
{
    struct mem_store *s = store_find(store, true);
    pthread_mutex_lock(&s->mu);
    fault_set(get ? &s->fail_get : &s->fail_put, prefix, err, count);
    pthread_mutex_unlock(&s->mu);
}

void dr_mem_backend_fail_get(const char *store, const char *prefix, int err, int count)
{
    set_fault(store, true, prefix, err, count);
}

void dr_mem_backend_fail_put(const char *store, const char *prefix, int err, int count)
{
    set_fault(store, false, prefix, err, count);
}

static uint64_t counter(const char *store, bool gets)
{
    struct mem_store *s = store_find(store, false);
    uint64_t v = 0;
    if (s) {
        pthread_mutex_lock(&s->mu);
        v = gets ? s->gets : s->puts;
        pthread_mutex_unlock(&s->mu);
    }
    return v;
}

uint64_t dr_mem_backend_gets(const char *store)
{
    return counter(store, true);
}

uint64_t dr_mem_backend_puts(const char *store)
{
    return counter(store, false);
}
