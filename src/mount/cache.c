/* cache.c: the bounded cache of decrypted chunks (mount.h).
 *
 * A chunk is authenticated and decompressed once and then served from memory to every read that
 * touches it, which matters because the kernel asks in 128 KiB pieces while chunks are about
 * 1 MiB. Entries are found by a hash of the chunk id (already uniformly random, so its first
 * bytes are the hash) and kept on one LRU list. An entry being loaded is in the table too, so a
 * reader that wants a chunk the read-ahead thread is fetching waits for it instead of fetching
 * it twice. Everything is under one mutex; the work done under it is pointer moves only. */
#include "drrepo/mount.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/mem.h"

#define NBUCKETS 4096u

struct dr_chunk_cache {
    pthread_mutex_t mu;
    pthread_cond_t done;
    uint64_t max_bytes;
    struct dr_cchunk *buckets[NBUCKETS];
    struct dr_cchunk *lru_head, *lru_tail;
    struct dr_chunk_cache_stats st;
};

static unsigned bucket_of(const struct dr_id *id)
{
    return (unsigned)(((uint32_t)id->b[0] | (uint32_t)id->b[1] << 8 | (uint32_t)id->b[2] << 16) %
                      NBUCKETS);
}

struct dr_chunk_cache *dr_chunk_cache_new(uint64_t max_bytes)
{
    struct dr_chunk_cache *c = dr_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->done, NULL);
    c->max_bytes = max_bytes;
    return c;
}

static void free_entry(struct dr_cchunk *e)
{
    free(e->data);
    free(e);
}

void dr_chunk_cache_free(struct dr_chunk_cache *c)
{
    if (!c) {
        return;
    }
    for (struct dr_cchunk *e = c->lru_head, *nx; e; e = nx) {
        nx = e->next_lru;
        free_entry(e);
    }
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void lru_unlink(struct dr_chunk_cache *c, struct dr_cchunk *e)
{
    if (e->prev_lru) {
        e->prev_lru->next_lru = e->next_lru;
    } else {
        c->lru_head = e->next_lru;
    }
    if (e->next_lru) {
        e->next_lru->prev_lru = e->prev_lru;
    } else {
        c->lru_tail = e->prev_lru;
    }
    e->prev_lru = e->next_lru = NULL;
}

static void lru_append(struct dr_chunk_cache *c, struct dr_cchunk *e)
{
    e->prev_lru = c->lru_tail;
    e->next_lru = NULL;
    if (c->lru_tail) {
        c->lru_tail->next_lru = e;
    } else {
        c->lru_head = e;
    }
    c->lru_tail = e;
}

/* Takes e out of the table and the LRU list; it is freed when its last reference goes. */
static void unlink_entry(struct dr_chunk_cache *c, struct dr_cchunk *e)
{
    struct dr_cchunk **pp = &c->buckets[bucket_of(&e->id)];
    while (*pp && *pp != e) {
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = e->next;
    }
    lru_unlink(c, e);
    e->linked = false;
    c->st.bytes -= e->len;
    c->st.entries--;
}

static void evict(struct dr_chunk_cache *c)
{
    struct dr_cchunk *e = c->lru_head;
    while (e && c->st.bytes > c->max_bytes) {
        struct dr_cchunk *nx = e->next_lru;
        if (e->refs == 0 && e->state == DR_CCHUNK_READY) {
            unlink_entry(c, e);
            free_entry(e);
            c->st.evictions++;
        }
        e = nx;
    }
}

int dr_chunk_cache_acquire(struct dr_chunk_cache *c, const struct dr_id *id, bool wait,
                           struct dr_cchunk **out)
{
    pthread_mutex_lock(&c->mu);
    unsigned b = bucket_of(id);
    struct dr_cchunk *e = c->buckets[b];
    while (e && !dr_id_eq(&e->id, id)) {
        e = e->next;
    }
    if (!e) {
        e = dr_xcalloc(1, sizeof(*e));
        e->id = *id;
        e->state = DR_CCHUNK_LOADING;
        e->refs = 1;
        e->linked = true;
        e->next = c->buckets[b];
        c->buckets[b] = e;
        lru_append(c, e);
        c->st.entries++;
        c->st.misses++;
        *out = e;
        pthread_mutex_unlock(&c->mu);
        return 1;
    }
    e->refs++;
    lru_unlink(c, e);
    lru_append(c, e);
    if (e->state == DR_CCHUNK_LOADING && wait) {
        c->st.waits++;
        while (e->state == DR_CCHUNK_LOADING) {
            pthread_cond_wait(&c->done, &c->mu);
        }
    } else if (e->state == DR_CCHUNK_READY) {
        c->st.hits++;
    }
    *out = e;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void dr_chunk_cache_fill(struct dr_chunk_cache *c, struct dr_cchunk *e, uint8_t *data, size_t len)
{
    pthread_mutex_lock(&c->mu);
    e->data = data;
    e->len = len;
    e->state = DR_CCHUNK_READY;
    if (e->linked) {
        c->st.bytes += len;
    }
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->mu);
}

void dr_chunk_cache_fail(struct dr_chunk_cache *c, struct dr_cchunk *e, int err)
{
    pthread_mutex_lock(&c->mu);
    e->state = DR_CCHUNK_FAILED;
    e->err = err;
    if (e->linked) {
        unlink_entry(c, e);
    }
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->mu);
}

void dr_chunk_cache_release(struct dr_chunk_cache *c, struct dr_cchunk *e)
{
    pthread_mutex_lock(&c->mu);
    if (--e->refs == 0 && !e->linked) {
        free_entry(e);
    } else {
        evict(c);
    }
    pthread_mutex_unlock(&c->mu);
}

void dr_chunk_cache_get_stats(struct dr_chunk_cache *c, struct dr_chunk_cache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}
