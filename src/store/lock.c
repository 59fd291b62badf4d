/* lock.c: repository locks (see lock.h for the rules).
 *
 * Leases. A lock is a lease of lease_ns() (DR_LOCK_STALE_NS, 30 minutes), renewed by every
 * refresh. Two clocks judge it, and neither is another host's:
 * - the repository's clock judges other processes' locks: dr_backend_age of the lock object is
 *   how long ago it was last written by the store's own clock, so a host whose clock is an
 *   hour off neither loses its locks early nor keeps dead ones forever. A lock past its lease
 *   is removed by whoever sees it (conflict_cb);
 * - the holder's own boot-time clock judges its lock: it measures from the start of its last
 *   successful write, which is no later than the time the store stamped on the object, and
 *   dr_lock_check refuses to go on once half the lease has passed since. So a holder whose
 *   refreshes fail (network, full disk) stops at least a quarter of an hour before anyone may
 *   remove its lock, and never writes or deletes under a lock that is gone.
 * A lock this host can judge (same host: the process runs or not) is never expired by age. */
#include "drrepo/lock.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/id.h"
#include "drrepo/identity.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"

struct dr_lock {
    struct dr_backend *b;
    struct dr_lock_info info;
    char *obj;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool used_reserve; /* the lock was written into the space of the reserve */
    /* boot_ns() at the start of the last successful write, and whether the lease was given up
     * (then never refreshed again); read by dr_lock_check on other threads, with __atomic */
    int64_t last_ok_ns;
    bool lost;
};

/* The lease, DR_LOCK_STALE_NS; DRREPO_LOCK_LEASE_S (1 to 86400 seconds) sets another, for
 * tests that cannot wait half an hour and for operators who want a shorter one
 * (format/repository.md "Locks"). Every process must use the same lease on one repository. */
static int64_t lease;
static pthread_once_t lease_once = PTHREAD_ONCE_INIT;

static void lease_init(void)
{
    lease = DR_LOCK_STALE_NS;
    const char *v = getenv("DRREPO_LOCK_LEASE_S");
    if (v && *v) {
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (*end || n < 1 || n > 86400) {
            dr_log_warn("ignoring DRREPO_LOCK_LEASE_S='%s': not a number of seconds from 1 to "
                        "86400",
                        v);
        } else {
            lease = (int64_t)n * 1000000000;
        }
    }
}

static int64_t lease_ns(void)
{
    pthread_once(&lease_once, lease_init);
    return lease;
}

/* Refreshes come every sixth of the lease (5 minutes), and every sixtieth (30 s) after one
 * failed, so a short outage costs little of the lease. */
static int64_t refresh_ns(bool failed)
{
    return failed ? lease_ns() / 60 : lease_ns() / 6;
}

/* CLOCK_BOOTTIME, not CLOCK_MONOTONIC: a machine that was suspended for an hour must count that
 * hour, as the store's clock did. */
static int64_t boot_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "31 min 5 s", "2.4 s" */
static void format_age(int64_t ns, char *out, size_t len)
{
    if (ns < 60LL * 1000000000) {
        snprintf(out, len, "%.1f s", (double)ns / 1e9);
    } else {
        long long s = (long long)(ns / 1000000000);
        snprintf(out, len, "%lld min %lld s", s / 60, s % 60);
    }
}

/* Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), 0 if it
 * does not exist. */
static uint64_t proc_start_time(uint32_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name (field 2) may contain spaces: count fields after its closing ')' */
    char *p = strrchr(buf, ')');
    if (!p) {
        return 0;
    }
    int field = 2;
    for (p++; *p && field < 22; p++) {
        if (*p == ' ') {
            field++;
        }
    }
    return strtoull(p, NULL, 10);
}

static void boot_id(char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f) {
        if (fgets(out, (int)len, f)) {
            out[strcspn(out, "\n")] = '\0';
        }
        fclose(f);
    }
}

/* True when li is a readable lock of this host, whose holder this process can look for. */
static bool is_this_host(const struct dr_lock_info *li)
{
    char host[256];
    dr_identity_host(host, sizeof(host), "unknown");
    return li->host[0] && strcmp(host, li->host) == 0;
}

bool dr_lock_is_dead(const struct dr_lock_info *li)
{
    char boot[40];
    if (!is_this_host(li)) {
        return false;
    }
    boot_id(boot, sizeof(boot));
    if (li->boot_id[0] && boot[0] && strcmp(boot, li->boot_id) != 0) {
        return true; /* the machine rebooted since */
    }
    if (kill((pid_t)li->pid, 0) < 0 && errno == ESRCH) {
        return true;
    }
    uint64_t st = proc_start_time(li->pid);
    return st != 0 && li->proc_start != 0 && st != li->proc_start;
}

struct list_ctx {
    struct dr_backend *b;
    dr_lock_cb cb;
    void *arg;
};

static int list_cb(void *arg, const char *name, uint64_t size)
{
    struct list_ctx *lc = arg;
    struct dr_lock_info li;
    memset(&li, 0, sizeof(li));
    struct dr_buf raw = DR_BUF_INIT(4096);
    int rc = size > 4096 ? DR_ECORRUPT : dr_backend_get(lc->b, name, 0, UINT64_MAX, &raw);
    if (rc == DR_ENOENT) {
        dr_buf_release(&raw);
        dr_error_clear();
        return 0; /* released meanwhile */
    }
    if (rc >= 0) {
        rc = dr_lockrec_parse((const uint8_t *)raw.buf, raw.len, &li);
    }
    if (rc < 0) {
        dr_error_clear();
        memset(&li, 0, sizeof(li));
        li.exclusive = true;
    }
    snprintf(li.name, sizeof(li.name), "%s", name);
    dr_buf_release(&raw);
    return lc->cb(lc->arg, &li);
}

int dr_lock_list(struct dr_backend *b, dr_lock_cb cb, void *arg)
{
    struct list_ctx lc = {.b = b, .cb = cb, .arg = arg};
    return dr_backend_list(b, DR_OBJ_LOCKS, list_cb, &lc);
}

struct conflict_ctx {
    struct dr_lock *self;
    int rc;
};

/* The age of lock li by the repository's clock: 1 and *out_age when known, 0 when the store
 * cannot tell or the question failed (the caller goes by the record, as before leases), and
 * DR_ENOENT when the lock is gone. Only for locks this host cannot judge itself. */
static int lock_age(struct dr_backend *b, const struct dr_lock_info *li, int64_t *out_age)
{
    int rc = dr_backend_age(b, li->name, out_age);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        return DR_ENOENT;
    }
    if (rc < 0) {
        dr_log_debug("the age of lock '%s' is unknown: %s", li->name, dr_error_msg());
        dr_error_clear();
        return 0;
    }
    return 1;
}

static int conflict_cb(void *arg, const struct dr_lock_info *li)
{
    struct conflict_ctx *cc = arg;
    struct dr_lock *l = cc->self;
    if (strcmp(li->name, l->obj) == 0) {
        return 0;
    }
    if (li->host[0] && dr_lock_is_dead(li)) {
        /* credentials that may not delete (docs/S3.md, append-only) leave every lock behind:
         * a dead holder's lock conflicts with nothing, so it is passed over without a warning
         * at every run */
        if (dr_backend_delete(l->b, li->name) < 0) {
            dr_log_detail("stale lock '%s' of pid %u on %s (the process is gone) not removed: %s",
                          li->name, li->pid, li->host, dr_error_msg());
            dr_error_clear();
        } else {
            dr_log_warn("removed stale lock '%s' of pid %u on %s (the process is gone)", li->name,
                        li->pid, li->host);
        }
        return 0;
    }
    /* Another host's lock (or an unreadable one): its holder cannot be looked for from here,
     * but its lease can be judged. Past it, the holder has stopped by itself (dr_lock_check),
     * or is gone: the lock is removed like a dead process's. */
    int64_t age = -1;
    char ago[48] = "";
    if (!is_this_host(li)) {
        int rc = lock_age(l->b, li, &age);
        if (rc == DR_ENOENT) {
            return 0; /* released meanwhile */
        }
        if (rc == 0) {
            age = -1;
        } else {
            format_age(age, ago, sizeof(ago));
        }
        if (age > lease_ns()) {
            char lease_s[48];
            format_age(lease_ns(), lease_s, sizeof(lease_s));
            if (li->host[0]) {
                dr_log_warn("removing expired lock '%s' of pid %u on %s: it was last refreshed "
                            "%s ago by the repository's clock, past its lease of %s",
                            li->name, li->pid, li->host, ago, lease_s);
            } else {
                dr_log_warn("removing expired unreadable lock '%s': it was last written %s ago "
                            "by the repository's clock, past the lease of %s",
                            li->name, ago, lease_s);
            }
            if (dr_backend_delete(l->b, li->name) < 0) {
                dr_error_clear();
            }
            return 0;
        }
    }
    if (!li->exclusive && !l->info.exclusive) {
        return 0;
    }
    char when[80];
    if (age >= 0) {
        snprintf(when, sizeof(when), "%s ago by the repository's clock", ago);
    } else {
        dr_time_format(li->refreshed_ns, when, sizeof(when));
    }
    /* without the store's clock, the record's refresh time and ours can only hint */
    bool old = age < 0 && dr_time_now_ns() - li->refreshed_ns > lease_ns();
    if (!li->host[0]) {
        cc->rc = dr_errorf(DR_ELOCKED,
                           "repository is locked by an unreadable lock '%s'; if no "
                           "drrepo is running, remove it with 'drrepo unlock'",
                           li->name);
    } else {
        cc->rc = dr_errorf(DR_ELOCKED,
                           "repository is locked%s by pid %u on %s (user %s, refreshed %s)%s",
                           li->exclusive ? " exclusively" : "", li->pid, li->host, li->user, when,
                           old ? "; the lock looks stale: if that process is gone, run "
                                 "'drrepo unlock'"
                               : "");
    }
    return cc->rc; /* stops the listing: one conflict is enough */
}

static int write_lock(struct dr_lock *l)
{
    struct dr_buf raw = DR_BUF_INIT(4096);
    /* taken before the write: the store stamps the object no earlier, so the holder's count
     * of its lease never runs behind the repository's */
    int64_t start = boot_ns();
    l->info.refreshed_ns = dr_time_now_ns();
    int rc = dr_lockrec_encode(&l->info, &raw);
    if (rc >= 0) {
        rc = dr_backend_put(l->b, l->obj, raw.buf, raw.len, false);
    }
    if (rc >= 0) {
        __atomic_store_n(&l->last_ok_ns, start, __ATOMIC_SEQ_CST);
    }
    dr_buf_release(&raw);
    return rc;
}

/* True, and the lease given up for good, once half of it passed since the last successful
 * write. Given up, the lock is not written again even if the store comes back: another
 * process may have seen it expire by then. */
static bool lease_lost(struct dr_lock *l)
{
    if (__atomic_load_n(&l->lost, __ATOMIC_SEQ_CST)) {
        return true;
    }
    if (boot_ns() - __atomic_load_n(&l->last_ok_ns, __ATOMIC_SEQ_CST) <= lease_ns() / 2) {
        return false;
    }
    __atomic_store_n(&l->lost, true, __ATOMIC_SEQ_CST);
    return true;
}

static void *refresh_main(void *arg)
{
    struct dr_lock *l = arg;
    bool failed = false;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = refresh_ns(failed);
        ts.tv_sec += (time_t)(wait / 1000000000);
        ts.tv_nsec += (long)(wait % 1000000000);
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        if (l->stop) {
            break;
        }
        if (lease_lost(l)) {
            /* nothing more to do but wait for the release; dr_lock_check tells the writer */
            dr_log_warn("lock '%s' could not be refreshed for half its lease: given up", l->obj);
            while (!l->stop) {
                pthread_cond_wait(&l->cv, &l->mu);
            }
            break;
        }
        pthread_mutex_unlock(&l->mu);
        failed = write_lock(l) < 0;
        if (failed) {
            char again[48];
            format_age(refresh_ns(true), again, sizeof(again));
            dr_log_warn("cannot refresh lock '%s' (trying again in %s): %s", l->obj, again,
                        dr_error_msg());
            dr_error_clear();
        }
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int dr_lock_check(struct dr_lock *l)
{
    if (!l || !lease_lost(l)) {
        return 0;
    }
    int64_t since = boot_ns() - __atomic_load_n(&l->last_ok_ns, __ATOMIC_SEQ_CST);
    char ago[48];
    format_age(since, ago, sizeof(ago));
    return dr_errorf(DR_ELOCKED,
                     "the lock could not be refreshed for %s: stopping before its lease runs "
                     "out, so that no other process removes it while this one still writes",
                     ago);
}

int dr_lock_reserve_ensure(struct dr_backend *b)
{
    uint64_t size = 0;
    int rc = dr_backend_stat(b, DR_OBJ_RESERVE, &size);
    if (rc >= 0 && size == DR_LOCK_RESERVE_SIZE) {
        return 0;
    }
    if (rc < 0 && rc != DR_ENOENT) {
        return rc;
    }
    dr_error_clear();
    uint8_t *p = dr_xmalloc(DR_LOCK_RESERVE_SIZE);
    dr_random_bytes(p, DR_LOCK_RESERVE_SIZE);
    rc = dr_backend_put(b, DR_OBJ_RESERVE, p, DR_LOCK_RESERVE_SIZE, false);
    free(p);
    return rc < 0 ? rc : 1;
}

/* No space for the lock: the reserve is deleted, which gives back its blocks, and the lock is
 * written again, as atomically and durably as ever. Another writer may take the space first;
 * then the lock fails with no space as it would have without a reserve. */
static int write_lock_reserve(struct dr_lock *l)
{
    struct dr_error_saved first = {0};
    dr_error_save(&first, DR_ENOSPC);
    if (dr_backend_delete(l->b, DR_OBJ_RESERVE) < 0) {
        /* no reserve (already used, or never written): the first error stands */
        int rc = dr_error_restore(&first);
        dr_error_saved_release(&first);
        return rc;
    }
    dr_error_saved_release(&first);
    dr_log_warn("no space left on the repository's disk: the lock uses the space of the "
                "repository's reserve, which is written again once space is free");
    l->used_reserve = true;
    return write_lock(l);
}

int dr_lock_acquire_flags(struct dr_backend *b, unsigned flags, struct dr_lock **out)
{
    bool exclusive = (flags & DR_LOCK_EXCLUSIVE) != 0;
    struct dr_lock *l = dr_xcalloc(1, sizeof(*l));
    l->b = b;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    uint8_t rnd[16];
    dr_random_bytes(rnd, sizeof(rnd));
    char hex[33];
    dr_hex_encode(rnd, sizeof(rnd), hex);
    l->obj = dr_layout_lock_name(hex);
    l->info.exclusive = exclusive;
    l->info.pid = (uint32_t)getpid();
    l->info.proc_start = proc_start_time(l->info.pid);
    boot_id(l->info.boot_id, sizeof(l->info.boot_id));
    dr_identity_host(l->info.host, sizeof(l->info.host), "unknown");
    dr_identity_user(l->info.user, sizeof(l->info.user), "unknown");
    l->info.created_ns = dr_time_now_ns();
    snprintf(l->info.name, sizeof(l->info.name), "%s", l->obj);
    /* Write first, then look: of two processes racing, at least one sees the other's lock. */
    int rc = write_lock(l);
    if (rc == DR_ENOSPC && (flags & DR_LOCK_USE_RESERVE)) {
        rc = write_lock_reserve(l);
    }
    if (rc < 0) {
        free(l->obj);
        l->obj = NULL;
        dr_lock_release(l);
        return rc;
    }
    struct conflict_ctx cc = {.self = l};
    rc = dr_lock_list(b, conflict_cb, &cc);
    if (cc.rc < 0 || rc < 0) {
        struct dr_error_saved err = {0};
        dr_error_save(&err, cc.rc < 0 ? cc.rc : rc);
        dr_lock_release(l); /* records errors of its own */
        rc = dr_error_restore(&err);
        dr_error_saved_release(&err);
        return rc;
    }
    if (!l->used_reserve) {
        rc = dr_lock_reserve_ensure(b);
        if (rc < 0) {
            dr_log_detail("the repository's reserve is not written: %s", dr_error_msg());
            dr_error_clear();
        }
    }
    if (pthread_create(&l->thread, NULL, refresh_main, l) == 0) {
        l->thread_started = true;
    }
    *out = l;
    return 0;
}

void dr_lock_release(struct dr_lock *l)
{
    if (!l) {
        return;
    }
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    if (l->obj) {
        /* a command that failed releases its lock before its error is printed: the message it
         * recorded must outlive a delete that fails too (the network is gone, or credentials
         * that may not delete, docs/S3.md) */
        struct dr_error_saved prev = {0};
        bool had_msg = dr_error_msg()[0] != '\0';
        dr_error_save(&prev, DR_EIO);
        if (dr_backend_delete(l->b, l->obj) < 0) {
            dr_log_detail("lock '%s' not removed: %s", l->obj, dr_error_msg());
        }
        dr_error_clear();
        if (had_msg) {
            (void)dr_error_restore(&prev);
        }
        dr_error_saved_release(&prev);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->obj);
    free(l);
}
