/* lock.c: repository locks (see lock.h for the rules). */
#include "drrepo/lock.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
};

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

bool dr_lock_is_dead(const struct dr_lock_info *li)
{
    char host[256], boot[40];
    dr_identity_host(host, sizeof(host), "unknown");
    if (strcmp(host, li->host) != 0) {
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
    if (!li->exclusive && !l->info.exclusive) {
        return 0;
    }
    char when[32];
    dr_time_format(li->refreshed_ns, when, sizeof(when));
    bool old = dr_time_now_ns() - li->refreshed_ns > DR_LOCK_STALE_NS;
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
    l->info.refreshed_ns = dr_time_now_ns();
    int rc = dr_lockrec_encode(&l->info, &raw);
    if (rc >= 0) {
        rc = dr_backend_put(l->b, l->obj, raw.buf, raw.len, false);
    }
    dr_buf_release(&raw);
    return rc;
}

static void *refresh_main(void *arg)
{
    struct dr_lock *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += DR_LOCK_REFRESH_NS / 1000000000;
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        if (l->stop) {
            break;
        }
        pthread_mutex_unlock(&l->mu);
        if (write_lock(l) < 0) {
            dr_log_warn("cannot refresh lock '%s': %s", l->obj, dr_error_msg());
            dr_error_clear();
        }
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
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
