/* replay.c: a plain-C driver for the libFuzzer-style targets in tests/fuzz/<name>_fuzz.c, so that
 * every parser's corpus and a few thousand mutations of it run as an ordinary ctest (under
 * ASan/UBSan in CI) without clang or libFuzzer. docs/FUZZING.md describes real fuzzing.
 *
 * Usage: <target> <corpus dir | input file>
 *   Every file of the corpus is run as is, then DR_FUZZ_ROUNDS (default 2000) mutated inputs
 *   derived from it with a xorshift generator seeded by DR_FUZZ_SEED (default fixed, printed).
 *   The same seed and corpus give the same inputs, so any failure is reproducible. When an
 *   input crashes (sanitizer report, abort or fault), it is written to
 *   $DR_FUZZ_CRASH_DIR (default .)/crash-<target>-<seed>-<round> first, and can be replayed
 *   by passing that file instead of the directory.
 *
 * Each input lives in a heap block of exactly its size, so ASan flags a read one byte past it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Provided by the sanitizer runtime when the target is built with ASan/UBSan; NULL otherwise. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

#define INPUT_MAX (1u << 20)
#define DEFAULT_SEED 0x6472726570ULL /* "drrep" */
#define DEFAULT_ROUNDS 2000u

struct input {
    char *name;
    uint8_t *data;
    size_t len;
};

static struct input *corpus;
static size_t ncorpus;
static uint64_t rng_state;

/* What is running now, for the crash hook. Written before each run; read only on death. */
static const uint8_t *cur_data;
static size_t cur_len;
static char crash_path[4096];

static uint64_t rnd(void)
{
    /* xorshift64*: tiny, deterministic across platforms, good enough to pick mutations. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* Async-signal-safe: open and write only. */
static void save_current(void)
{
    if (!cur_data || !crash_path[0]) {
        return;
    }
    int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return;
    }
    size_t off = 0;
    while (off < cur_len) {
        ssize_t n = write(fd, cur_data + off, cur_len - off);
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    close(fd);
    static const char msg[] = "replay: crashing input saved to ";
    ssize_t ignored = write(2, msg, sizeof(msg) - 1);
    ignored = write(2, crash_path, strlen(crash_path));
    ignored = write(2, "\n", 1);
    (void)ignored;
}

static void on_signal(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int read_file(const char *path, struct input *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(INPUT_MAX);
    size_t n = buf ? fread(buf, 1, INPUT_MAX, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: cannot read '%s'\n", path);
        free(buf);
        return -1;
    }
    /* Shrink to the exact size so that overreads hit the redzone. */
    out->data = malloc(n ? n : 1);
    if (!out->data) {
        free(buf);
        return -1;
    }
    memcpy(out->data, buf, n);
    free(buf);
    out->len = n;
    out->name = strdup(path);
    return out->name ? 0 : -1;
}

static int cmp_input(const void *a, const void *b)
{
    return strcmp(((const struct input *)a)->name, ((const struct input *)b)->name);
}

/* Loads every regular file of dir, sorted by name so that runs are reproducible. */
static int load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open corpus '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        struct stat st;
        int n = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        struct input *grown = realloc(corpus, (ncorpus + 1) * sizeof(*corpus));
        if (!grown) {
            rc = -1;
            break;
        }
        corpus = grown;
        rc = read_file(path, &corpus[ncorpus]);
        if (rc == 0) {
            ncorpus++;
        }
    }
    closedir(d);
    if (ncorpus > 1) {
        qsort(corpus, ncorpus, sizeof(*corpus), cmp_input);
    }
    return rc;
}

static void run(const uint8_t *data, size_t len)
{
    cur_data = data;
    cur_len = len;
    (void)LLVMFuzzerTestOneInput(data, len);
    cur_data = NULL;
}

/* Values that tend to sit on the edge of a length or count check. */
static uint32_t interesting(size_t len)
{
    static const uint32_t v[] = {0,       1,          2,          0x7f,       0x80,
                                 0xff,    0x100,      0x7fff,     0x8000,     0xffff,
                                 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};
    size_t i = rnd_below(DR_ARRAY_LEN(v) + 3);
    if (i < DR_ARRAY_LEN(v)) {
        return v[i];
    }
    /* near the input's own length, where off-by-ones live */
    return (uint32_t)(len + (i - DR_ARRAY_LEN(v)) - 1);
}

/* Applies one random mutation to buf[0..*len) (capacity INPUT_MAX). */
static void mutate_once(uint8_t *buf, size_t *len)
{
    size_t n = *len;
    switch (rnd_below(8)) {
    case 0: /* flip a bit */
        if (n) {
            buf[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
        }
        break;
    case 1: /* set a byte */
        if (n) {
            buf[rnd_below(n)] = (uint8_t)rnd();
        }
        break;
    case 2: /* truncate */ *len = rnd_below(n + 1); break;
    case 3: { /* insert random bytes */
        size_t k = 1 + rnd_below(16);
        size_t at = rnd_below(n + 1);
        if (n + k <= INPUT_MAX) {
            memmove(buf + at + k, buf + at, n - at);
            for (size_t i = 0; i < k; i++) {
                buf[at + i] = (uint8_t)rnd();
            }
            *len = n + k;
        }
        break;
    }
    case 4: { /* duplicate a range somewhere else */
        if (!n) {
            break;
        }
        size_t from = rnd_below(n);
        size_t k = 1 + rnd_below(DR_MIN(n - from, 256));
        size_t at = rnd_below(n + 1);
        if (n + k <= INPUT_MAX) {
            uint8_t tmp[256];
            memcpy(tmp, buf + from, k);
            memmove(buf + at + k, buf + at, n - at);
            memcpy(buf + at, tmp, k);
            *len = n + k;
        }
        break;
    }
    case 5: { /* erase a range */
        if (!n) {
            break;
        }
        size_t at = rnd_below(n);
        size_t k = 1 + rnd_below(DR_MIN(n - at, 64));
        memmove(buf + at, buf + at + k, n - at - k);
        *len = n - k;
        break;
    }
    case 6: /* an interesting little-endian u32 (length and count fields) */
        if (n >= 4) {
            uint32_t v = interesting(n);
            size_t at = rnd_below(n - 3);
            for (int i = 0; i < 4; i++) {
                buf[at + i] = (uint8_t)(v >> (8 * i));
            }
        }
        break;
    default: /* an interesting u16 */
        if (n >= 2) {
            uint32_t v = interesting(n);
            size_t at = rnd_below(n - 1);
            buf[at] = (uint8_t)v;
            buf[at + 1] = (uint8_t)(v >> 8);
        }
        break;
    }
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir | input file>\n", argv[0]);
        return 2;
    }
    const char *env = getenv("DR_FUZZ_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : DEFAULT_SEED;
    env = getenv("DR_FUZZ_ROUNDS");
    unsigned long rounds = env ? strtoul(env, NULL, 0) : DEFAULT_ROUNDS;
    const char *crash_dir = getenv("DR_FUZZ_CRASH_DIR");
    crash_dir = crash_dir ? crash_dir : ".";

    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(save_current);
    }
    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGILL, on_signal);

    struct stat st;
    if (stat(argv[1], &st) == 0 && S_ISREG(st.st_mode)) {
        /* Replaying one input, e.g. a saved crash: no mutations. */
        corpus = calloc(1, sizeof(*corpus));
        if (!corpus || read_file(argv[1], &corpus[0]) < 0) {
            return 1;
        }
        ncorpus = 1;
        rounds = 0;
    } else if (load_dir(argv[1]) < 0) {
        return 1;
    }

    printf("replay: %s: %zu corpus files, %lu mutation rounds, DR_FUZZ_SEED=%#" PRIx64 "\n",
           base_name(argv[0]), ncorpus, rounds, seed);
    fflush(stdout);

    snprintf(crash_path, sizeof(crash_path), "%s/crash-%s-corpus", crash_dir, base_name(argv[0]));
    for (size_t i = 0; i < ncorpus; i++) {
        run(corpus[i].data, corpus[i].len);
    }

    rng_state = seed ? seed : DEFAULT_SEED; /* xorshift must not start at 0 */
    uint8_t *work = malloc(INPUT_MAX);
    if (!work) {
        return 1;
    }
    for (unsigned long r = 0; r < rounds; r++) {
        size_t len = 0;
        if (ncorpus) {
            const struct input *in = &corpus[rnd_below(ncorpus)];
            memcpy(work, in->data, in->len);
            len = in->len;
        }
        size_t nmut = 1 + rnd_below(4);
        for (size_t m = 0; m < nmut; m++) {
            mutate_once(work, &len);
        }
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
            return 1;
        }
        memcpy(exact, work, len);
        snprintf(crash_path, sizeof(crash_path), "%s/crash-%s-%#" PRIx64 "-%lu", crash_dir,
                 base_name(argv[0]), seed, r);
        run(exact, len);
        free(exact);
    }
    free(work);

    printf("replay: %lu inputs, 0 crashes\n", (unsigned long)ncorpus + rounds);
    for (size_t i = 0; i < ncorpus; i++) {
        free(corpus[i].data);
        free(corpus[i].name);
    }
    free(corpus);
    return 0;
}
