/* guard.c: a damaged local index must not kill a command.
 *
 * The index is LMDB, which trusts its pages: garbage in a page can make it read outside its map
 * (SIGSEGV, or SIGBUS past the end of the file) or fail one of its assertions (abort), instead of
 * returning MDB_CORRUPTED. The index is only a cache, so such damage costs a rebuild, never data:
 * this guard turns it into that.
 *
 * - Each open index registers the address range of its map. A SIGSEGV or SIGBUS whose faulting
 *   address lies in a registered map (or within 4 GiB past its end: LMDB's value sizes are 32-bit)
 *   while an index is open, or that happens while the thread is inside an LMDB call (the index
 *   marks its calls) or in LMDB's own code (a page number from garbage can make LMDB dereference
 *   a non-canonical address, which the kernel reports with no address at all), is index damage. Any
 * other fault is passed on to the handler that was installed before (the sanitizers' in tests) or
 * to the default action, so real bugs still crash loudly.
 * - LMDB's assertion callback is routed here too.
 * - On damage, a marker file `damaged` is created in the index directory (the next open sets the
 *   index aside and rebuilds it from the repository), and the process's damage handler is called:
 *   drrepo's command layer prints one error line and exits with the documented code.
 *
 * Everything the signal handler touches is prepared at registration: it only reads fixed-size
 * buffers and calls async-signal-safe functions (open, close, write, _exit). */
#include "drrepo/index.h"

#include <fcntl.h>
#include <link.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <ucontext.h>
#include <unistd.h>

#include "drrepo/error.h"

#define GUARD_SLOTS 4
#define GUARD_SLACK ((uintptr_t)1 << 32)

struct guard_slot {
    volatile sig_atomic_t used;
    uintptr_t lo, hi;
    char dir[1024];
    char marker[1100];
};

static struct guard_slot slots[GUARD_SLOTS];
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static bool installed;
static struct sigaction prev_segv, prev_bus;
static dr_index_damage_fn damage_fn;
static uintptr_t lmdb_lo, lmdb_hi; /* LMDB's executable code, when it is a shared library */
static _Thread_local volatile sig_atomic_t in_lmdb_call; /* this thread is inside LMDB() */

void dr_index_guard_enter(void)
{
    in_lmdb_call++;
}

void dr_index_guard_leave(void)
{
    in_lmdb_call--;
}

static void put_marker(const char *marker)
{
    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Async-signal-safe: called from the fault handler and from LMDB's assertion callback. */
static void damaged(const struct guard_slot *s, const char *what)
{
    put_marker(s->marker);
    if (damage_fn) {
        damage_fn(s->dir, what); /* does not return */
    }
    static const char msg[] = "drrepo: the local index is damaged; it is rebuilt by the next run\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(13);
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    const struct sigaction *prev = sig == SIGSEGV ? &prev_segv : &prev_bus;
    if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
        prev->sa_sigaction(sig, si, uc);
        return;
    }
    if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* back to the default action; returning re-runs the faulting instruction, which now kills */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
}

static uintptr_t fault_pc(const void *uc)
{
#if defined(__x86_64__) && defined(REG_RIP)
    return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    uintptr_t pc = fault_pc(uc);
    bool in_lmdb = in_lmdb_call > 0 || (pc && pc >= lmdb_lo && pc < lmdb_hi);
    const char *what =
        sig == SIGBUS ? "reading it faulted with SIGBUS" : "reading it faulted with SIGSEGV";
    for (int i = 0; i < GUARD_SLOTS; i++) {
        const struct guard_slot *s = &slots[i];
        if (s->used && (in_lmdb || (a >= s->lo && a - s->lo < (s->hi - s->lo) + GUARD_SLACK))) {
            damaged(s, what);
        }
    }
    chain(sig, si, uc);
}

/* Finds the executable segment of the loaded object that holds mdb_get. */
static int find_lmdb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t fn = (uintptr_t)arg;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "lmdb")) {
        return 0;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) {
            continue;
        }
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (fn >= lo && fn < hi) {
            lmdb_lo = lo;
            lmdb_hi = hi;
            return 1;
        }
    }
    return 0;
}

void dr_index_guard_set_handler(dr_index_damage_fn fn)
{
    damage_fn = fn;
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);
    dl_iterate_phdr(find_lmdb, (void *)(uintptr_t)&mdb_get);
    installed = true;
}

int dr_index_guard_register(const char *dir, const void *map, size_t mapsize)
{
    int slot = -1;
    pthread_mutex_lock(&guard_mu);
    if (!installed) {
        install();
    }
    for (int i = 0; i < GUARD_SLOTS && slot < 0; i++) {
        if (!slots[i].used) {
            slot = i;
            struct guard_slot *s = &slots[i];
            snprintf(s->dir, sizeof(s->dir), "%s", dir);
            snprintf(s->marker, sizeof(s->marker), "%s/%s", dir, DR_INDEX_DAMAGED_MARKER);
            s->lo = (uintptr_t)map;
            s->hi = (uintptr_t)map + mapsize;
            __atomic_store_n(&s->used, 1, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&guard_mu);
    return slot; /* -1: no slot free; the index works, unguarded */
}

void dr_index_guard_unregister(int slot)
{
    if (slot >= 0 && slot < GUARD_SLOTS) {
        __atomic_store_n(&slots[slot].used, 0, __ATOMIC_RELEASE);
    }
}

void dr_index_guard_assert(int slot, const char *msg)
{
    (void)msg;
    if (slot >= 0 && slot < GUARD_SLOTS && slots[slot].used) {
        damaged(&slots[slot], "an LMDB assertion failed reading it");
    }
}

void dr_index_mark_damaged(const char *dir)
{
    char marker[1100];
    int n = snprintf(marker, sizeof(marker), "%s/%s", dir, DR_INDEX_DAMAGED_MARKER);
    if (n > 0 && (size_t)n < sizeof(marker)) {
        put_marker(marker);
    }
}

bool dr_index_is_marked_damaged(const char *dir)
{
    char marker[1100];
    int n = snprintf(marker, sizeof(marker), "%s/%s", dir, DR_INDEX_DAMAGED_MARKER);
    struct stat st;
    return n > 0 && (size_t)n < sizeof(marker) && stat(marker, &st) == 0;
}
