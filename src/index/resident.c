/* resident.c: a bound on how much of the LMDB maps a process keeps mapped in.
 *
 * LMDB reads through a shared map of its data file, and a page read once stays mapped into the
 * process until the map is closed. Those pages are the kernel's page cache, but they count in
 * the process's resident set: `check` of a repository of 10^7 blobs touches its whole 1.8 GiB
 * index and showed a peak RSS of 1.9 GiB for 65 MiB of its own memory (docs/PERFORMANCE.md),
 * which is what memory monitors, `ps` and the OOM killer's choice of victim look at.
 *
 * So the maps register here (the index at open, check's and prune's working set), every
 * RESIDENT_EVERY calls into LMDB the process's mapped file pages are read from
 * /proc/self/statm, and past DR_INDEX_RESIDENT_MAX every registered map whose file is not small
 * (RESIDENT_KEEP) is unmapped with madvise(MADV_DONTNEED). On a shared file map that only drops
 * this process's page-table entries: the pages stay in the page cache with their contents (a write
 * transaction's dirty pages are in LMDB's own memory, not in the map), and the next read maps them
 * again with a minor fault. Pointers into the map stay valid. Hot pages (the trees' upper levels)
 * come back at once; a command that touches less than the bound never sheds. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/fs.h"
#include "index_int.h"

#define RESIDENT_SLOTS 8
/* Calls between two looks at statm (a pread of the file kept open: about a microsecond). A call
 * maps in a few pages at most (a B-tree's depth), each with up to 15 neighbours that the kernel's
 * fault-around maps with it when they are in the page cache: the bound is passed by at most
 * 256 x 4 x 64 KiB (64 MiB) before it is seen, and in practice by much less. */
#define RESIDENT_EVERY 256
/* A map whose file is smaller than this is never unmapped: it cannot hold more, and a small
 * file is one that is read at random and hot (a check's working set at 10^7 blobs is ~20 MiB
 * beside an index of 1.8 GiB; unmapping it made every one of its pages fault again). */
#define RESIDENT_KEEP ((uint64_t)32 << 20)

struct resident_slot {
    void *map;
    size_t len;
    int fd; /* the LMDB data file's: its size is how much of the map can be mapped in */
    bool used;
};

static struct resident_slot slots[RESIDENT_SLOTS];
static pthread_mutex_t resident_mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local unsigned resident_calls;
static uint64_t resident_sheds; /* atomic: how often the maps were unmapped (tests) */
static uint64_t resident_max = DR_INDEX_RESIDENT_MAX; /* atomic; tests lower it */
static uint64_t resident_keep = RESIDENT_KEEP;        /* atomic; tests lower it */

int dr_index_resident_register(void *map, size_t len, int fd)
{
    int slot = -1;
    pthread_mutex_lock(&resident_mu);
    for (int i = 0; i < RESIDENT_SLOTS && slot < 0; i++) {
        if (!slots[i].used) {
            slots[i] = (struct resident_slot){.map = map, .len = len, .fd = fd, .used = true};
            slot = i;
        }
    }
    pthread_mutex_unlock(&resident_mu);
    return slot; /* -1: no slot free; that map is not bounded */
}

void dr_index_resident_unregister(int slot)
{
    if (slot >= 0 && slot < RESIDENT_SLOTS) {
        pthread_mutex_lock(&resident_mu);
        slots[slot].used = false;
        pthread_mutex_unlock(&resident_mu);
    }
}

int dr_index_map_of(const char *dir, void **out_map, size_t *out_len)
{
    char *file = dr_fs_join(dir, "data.mdb");
    char *real = realpath(file, NULL);
    free(file);
    FILE *fp = real ? fopen("/proc/self/maps", "r") : NULL;
    int rc = -1;
    char line[4352];
    while (fp && rc < 0 && fgets(line, sizeof(line), fp)) {
        unsigned long lo, hi;
        int path_at = 0;
        line[strcspn(line, "\n")] = '\0';
        /* start-end perms offset dev inode path */
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &path_at) >= 2 && path_at > 0 &&
            strcmp(line + path_at, real) == 0) {
            *out_map = (void *)lo;
            *out_len = hi - lo;
            rc = 0;
        }
    }
    if (fp) {
        fclose(fp);
    }
    free(real);
    return rc;
}

/* The process's resident file-backed and shared pages, in bytes (0 when unknown). */
static uint64_t mapped_bytes(void)
{
    /* statm stays open: an open and a close for each look cost 2% of a check at 10^7 blobs.
     * Opened again in a forked child, whose /proc/self is not its parent's. */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int statm = -1;
    static pid_t owner;
    pthread_mutex_lock(&mu);
    if (statm < 0 || owner != getpid()) {
        if (statm >= 0) {
            close(statm);
        }
        statm = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        owner = getpid();
    }
    int fd = statm;
    pthread_mutex_unlock(&mu);
    if (fd < 0) {
        return 0;
    }
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    unsigned long size, resident, shared;
    if (sscanf(buf, "%lu %lu %lu", &size, &resident, &shared) != 3) {
        return 0;
    }
    return (uint64_t)shared * (uint64_t)sysconf(_SC_PAGESIZE);
}

void dr_index_resident_shed(void)
{
    uint64_t keep = __atomic_load_n(&resident_keep, __ATOMIC_RELAXED);
    pthread_mutex_lock(&resident_mu);
    for (int i = 0; i < RESIDENT_SLOTS; i++) {
        struct stat st;
        if (!slots[i].used || fstat(slots[i].fd, &st) < 0 || (uint64_t)st.st_size < keep) {
            continue;
        }
        /* only unmaps: cannot lose data on a shared file map (see the top of the file); and
         * only the file's part of the map, not the address space reserved beyond it */
        size_t len = (uint64_t)st.st_size < slots[i].len ? (size_t)st.st_size : slots[i].len;
        (void)madvise(slots[i].map, len, MADV_DONTNEED);
    }
    pthread_mutex_unlock(&resident_mu);
    __atomic_add_fetch(&resident_sheds, 1, __ATOMIC_RELAXED);
}

void dr_index_resident_tick(void)
{
    if (++resident_calls < RESIDENT_EVERY) {
        return;
    }
    resident_calls = 0;
    if (mapped_bytes() > __atomic_load_n(&resident_max, __ATOMIC_RELAXED)) {
        dr_index_resident_shed();
    }
}

uint64_t dr_index_resident_set_max(uint64_t bytes)
{
    return __atomic_exchange_n(&resident_max, bytes, __ATOMIC_RELAXED);
}

uint64_t dr_index_resident_set_keep(uint64_t bytes)
{
    return __atomic_exchange_n(&resident_keep, bytes, __ATOMIC_RELAXED);
}

uint64_t dr_index_resident_sheds(void)
{
    return __atomic_load_n(&resident_sheds, __ATOMIC_RELAXED);
}
