/* gen-data: deterministic benchmark data for bench/run.sh (no network, no dependencies).
 *
 *   gen-data day1 DIR SCALE SEED   create the day-1 data set under DIR (DIR must not exist)
 *   gen-data day2 DIR SCALE SEED   turn a day-1 DIR into day 2, in place (see below)
 *   gen-data stream SIZE SEED      write a SQL-like text dump of SIZE bytes to stdout
 *
 * SCALE multiplies every size and file count (1.0 = about 1 GB). Same SCALE and SEED give
 * byte-identical output on every machine.
 *
 * Day 1 layout (sizes at SCALE 1):
 *   dumps/db1.sql, dumps/db2.sql   2 x 200 MB SQL INSERT text (pg_dump-like, ~4x compressible)
 *   bin/random.bin                 200 MB random bytes (incompressible)
 *   bin/semi.bin                   100 MB semi-compressible (half random, half repeats)
 *   tree/dNN/dMM/fNNNNN.o          20,000 files of 1-64 KB (log-uniform sizes, ~300 MB),
 *                                  object-file-like content, in 20 x 25 nested dirs
 *
 * Day 2 (applied in place; untouched files keep inode, mtime and ctime, so every tool's
 * files cache sees them as unchanged):
 *   dumps: each rewritten with ~3% of lines changed and ~1% of lines inserted, in clustered
 *          bursts (rows of a table get updated together), plus 1% new rows appended
 *   tree:  1% of files modified (a region rewritten), 0.5% deleted, 0.5% new files added
 *   bin/random.bin: 4 MB appended; bin/semi.bin unchanged
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "gen-data: %s %s: %s\n", what, path ? path : "", strerror(errno));
    exit(1);
}

static FILE *xopen(const char *path, const char *mode)
{
    FILE *f = fopen(path, mode);
    if (!f) {
        die("cannot open", path);
    }
    return f;
}

static void xclose(FILE *f, const char *path)
{
    if (ferror(f) || fclose(f) != 0) {
        die("cannot write", path);
    }
}

static void xmkdir(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        die("cannot mkdir", path);
    }
}

static void fill_random(uint8_t *p, size_t n, uint64_t *s)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = rng_next(s);
        memcpy(p + i, &v, 8);
    }
    if (i < n) {
        uint64_t v = rng_next(s);
        memcpy(p + i, &v, n - i);
    }
}

/* Semi-compressible: 64-byte segments, half fresh random, half copied from earlier in the
 * buffer (LZ-matchable by lz4 and zstd alike): about 2x compressible. */
static void fill_semi(uint8_t *p, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i += 64) {
        size_t len = n - i < 64 ? n - i : 64;
        uint64_t r = rng_next(s);
        if (i >= 4096 && (r & 1)) {
            size_t back = 64 + (size_t)((r >> 8) % (4096 - 64));
            memmove(p + i, p + i - back, len);
        } else {
            fill_random(p + i, len, s);
        }
    }
}

/* Object-file-like content: a header, some code-ish low-entropy bytes, some random. */
static void fill_object(uint8_t *p, size_t n, uint64_t *s)
{
    static const char hdr[] = "\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\1\0>\0\1\0\0\0";
    size_t i = 0;
    for (; i < n && i < sizeof(hdr); i++) {
        p[i] = (uint8_t)hdr[i];
    }
    while (i < n) {
        size_t len = 256;
        if (len > n - i) {
            len = n - i;
        }
        uint64_t r = rng_next(s);
        if ((r & 3) == 0) {
            fill_random(p + i, len, s);
        } else {
            static const uint8_t ops[] = {0x48, 0x89, 0xe5, 0x8b, 0x45, 0xfc, 0x83, 0xc0,
                                          0x01, 0x5d, 0xc3, 0x55, 0x00, 0x00, 0x0f, 0x1f};
            for (size_t k = 0; k < len; k++) {
                if ((k & 7) == 0) {
                    r = rng_next(s);
                }
                p[i + k] = ops[(r >> ((k & 7) * 4)) & 15];
            }
        }
        i += len;
    }
}

/* ---- SQL-like text ---- */

static const char *const WORDS[] = {"alpha",  "beta",      "gamma",    "delta",   "users",
                                    "orders", "invoice",   "active",   "paid",    "pending",
                                    "NULL",   "eu-west-1", "us-east-2", "refund", "shipped",
                                    "cart",   "premium",   "trial",    "monthly", "yearly"};
#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))

static int sql_line(char *buf, size_t cap, uint64_t row, uint64_t *s)
{
    uint64_t r1 = rng_next(s), r2 = rng_next(s);
    return snprintf(buf, cap,
                    "INSERT INTO public.orders (id, customer, status, region, amount, note, "
                    "created_at) VALUES (%llu, 'customer_%llu', '%s', '%s', %llu.%02llu, "
                    "'%s %s', '2026-%02llu-%02llu %02llu:%02llu:%02llu');\n",
                    (unsigned long long)row, (unsigned long long)(r1 % 500000),
                    WORDS[(r1 >> 20) % NWORDS], WORDS[(r1 >> 28) % NWORDS],
                    (unsigned long long)((r1 >> 36) % 10000), (unsigned long long)((r2 % 100)),
                    WORDS[(r2 >> 8) % NWORDS], WORDS[(r2 >> 16) % NWORDS],
                    (unsigned long long)(1 + (r2 >> 24) % 12), (unsigned long long)(1 + (r2 >> 28) % 28),
                    (unsigned long long)((r2 >> 34) % 24), (unsigned long long)((r2 >> 40) % 60),
                    (unsigned long long)((r2 >> 46) % 60));
}

static const char SQL_HEAD[] = "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n"
                               "SET client_encoding = 'UTF8';\n\n";

static void write_sql(FILE *f, uint64_t size, uint64_t seed)
{
    uint64_t s = seed, done = 0, row = 1;
    char line[512];
    fputs(SQL_HEAD, f);
    done += sizeof(SQL_HEAD) - 1;
    while (done < size) {
        int n = sql_line(line, sizeof(line), row++, &s);
        if ((uint64_t)n > size - done) {
            n = (int)(size - done);
        }
        fwrite(line, 1, (size_t)n, f);
        done += (uint64_t)n;
    }
}

/* Day-2 version of a dump: copy lines, but in bursts rewrite lines (as UPDATEs would) or insert
 * new rows; then append new rows. Bursts: about 1 per 4 MB (scaled by size), each covering a few
 * thousand lines, so that ~3% changed + ~1% inserted overall. */
static void mutate_sql(const char *path, uint64_t seed)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%.4000s.day2tmp", path);
    FILE *in = xopen(path, "r");
    FILE *out = xopen(tmp, "w");
    uint64_t s = seed, row = 50000000;
    char *line = NULL, gen[512];
    size_t cap = 0;
    ssize_t n;
    long mode = 0, left = 0; /* mode 1: change lines, 2: insert lines */
    uint64_t lines = 0;
    while ((n = getline(&line, &cap, in)) > 0) {
        lines++;
        if (left == 0) {
            double u = rng_unit(&s);
            /* per-line burst start probabilities: mean burst 3000 lines */
            if (u < 0.03 / 3000.0) {
                mode = 1;
                left = 1500 + (long)(rng_next(&s) % 3000);
            } else if (u < 0.04 / 3000.0) {
                mode = 2;
                left = 1500 + (long)(rng_next(&s) % 3000);
            } else {
                mode = 0;
            }
        }
        if (mode == 1 && strncmp(line, "INSERT", 6) == 0) {
            int m = sql_line(gen, sizeof(gen), row++, &s);
            fwrite(gen, 1, (size_t)m, out);
            left--;
            continue;
        }
        if (mode == 2) {
            int m = sql_line(gen, sizeof(gen), row++, &s);
            fwrite(gen, 1, (size_t)m, out);
            left--;
        }
        fwrite(line, 1, (size_t)n, out);
    }
    for (uint64_t i = 0; i < lines / 100; i++) {
        int m = sql_line(gen, sizeof(gen), row++, &s);
        fwrite(gen, 1, (size_t)m, out);
    }
    free(line);
    fclose(in);
    xclose(out, tmp);
    if (rename(tmp, path) < 0) {
        die("cannot rename", tmp);
    }
}

/* ---- files ---- */

static void write_gen(const char *path, uint64_t size, uint64_t seed,
                      void (*fill)(uint8_t *, size_t, uint64_t *), const char *mode)
{
    enum { BUF = 1 << 20 };
    static uint8_t buf[BUF];
    FILE *f = xopen(path, mode);
    uint64_t s = seed;
    for (uint64_t done = 0; done < size;) {
        size_t n = size - done < BUF ? (size_t)(size - done) : BUF;
        fill(buf, n, &s);
        fwrite(buf, 1, n, f);
        done += n;
    }
    xclose(f, path);
}

struct plan {
    double scale;
    uint64_t seed;
    uint64_t dump_size, random_size, semi_size, append_size;
    unsigned nfiles;
};

static struct plan make_plan(const char *scales, const char *seeds)
{
    struct plan p;
    p.scale = atof(scales);
    p.seed = strtoull(seeds, NULL, 10);
    if (p.scale <= 0) {
        fprintf(stderr, "gen-data: bad scale %s\n", scales);
        exit(2);
    }
    const double MB = 1024.0 * 1024.0;
    p.dump_size = (uint64_t)(200 * MB * p.scale);
    p.random_size = (uint64_t)(200 * MB * p.scale);
    p.semi_size = (uint64_t)(100 * MB * p.scale);
    p.append_size = (uint64_t)(4 * MB * p.scale);
    p.nfiles = (unsigned)(20000 * p.scale);
    if (p.nfiles < 10) {
        p.nfiles = 10;
    }
    return p;
}

static void tree_path(char *out, size_t cap, const char *dir, unsigned i, const char *suffix)
{
    snprintf(out, cap, "%s/tree/d%02u/d%02u/f%05u%s", dir, i % 20, (i / 20) % 25, i, suffix);
}

static uint64_t tree_size(uint64_t *s)
{
    /* log-uniform between 1 KiB and 64 KiB */
    double e = 10.0 + 6.0 * rng_unit(s);
    uint64_t v = (uint64_t)exp2(e);
    return v + rng_next(s) % 512;
}

static void day1(const char *dir, struct plan p)
{
    char path[4096];
    if (mkdir(dir, 0755) < 0) {
        die("cannot create (must not exist)", dir);
    }
    snprintf(path, sizeof(path), "%s/dumps", dir);
    xmkdir(path);
    snprintf(path, sizeof(path), "%s/bin", dir);
    xmkdir(path);
    snprintf(path, sizeof(path), "%s/tree", dir);
    xmkdir(path);
    for (unsigned a = 0; a < 20; a++) {
        snprintf(path, sizeof(path), "%s/tree/d%02u", dir, a);
        xmkdir(path);
        for (unsigned b = 0; b < 25; b++) {
            snprintf(path, sizeof(path), "%s/tree/d%02u/d%02u", dir, a, b);
            xmkdir(path);
        }
    }
    for (int d = 1; d <= 2; d++) {
        snprintf(path, sizeof(path), "%s/dumps/db%d.sql", dir, d);
        FILE *f = xopen(path, "w");
        write_sql(f, p.dump_size, p.seed * 1000 + (uint64_t)d);
        xclose(f, path);
    }
    snprintf(path, sizeof(path), "%s/bin/random.bin", dir);
    write_gen(path, p.random_size, p.seed * 1000 + 10, fill_random, "w");
    snprintf(path, sizeof(path), "%s/bin/semi.bin", dir);
    write_gen(path, p.semi_size, p.seed * 1000 + 11, fill_semi, "w");
    uint64_t s = p.seed * 1000 + 20;
    for (unsigned i = 0; i < p.nfiles; i++) {
        tree_path(path, sizeof(path), dir, i, ".o");
        write_gen(path, tree_size(&s), p.seed * 1000000 + i, fill_object, "w");
    }
}

static void day2(const char *dir, struct plan p)
{
    char path[4096];
    for (int d = 1; d <= 2; d++) {
        snprintf(path, sizeof(path), "%s/dumps/db%d.sql", dir, d);
        mutate_sql(path, p.seed * 1000 + 100 + (uint64_t)d);
    }
    snprintf(path, sizeof(path), "%s/bin/random.bin", dir);
    write_gen(path, p.append_size, p.seed * 1000 + 110, fill_random, "a");
    uint64_t s = p.seed * 1000 + 120;
    for (unsigned i = 0; i < p.nfiles; i++) {
        double u = rng_unit(&s);
        tree_path(path, sizeof(path), dir, i, ".o");
        if (u < 0.01) { /* modify: rewrite a region somewhere in the file */
            struct stat st;
            if (stat(path, &st) < 0) {
                die("cannot stat", path);
            }
            uint64_t size = (uint64_t)st.st_size;
            uint64_t len = size / 8 + 1, off = rng_next(&s) % (size - len + 1);
            uint8_t *buf = malloc(len);
            fill_object(buf, len, &s);
            FILE *f = xopen(path, "r+");
            if (fseeko(f, (off_t)off, SEEK_SET) != 0) {
                die("cannot seek", path);
            }
            fwrite(buf, 1, len, f);
            xclose(f, path);
            free(buf);
        } else if (u < 0.015) { /* delete */
            if (unlink(path) < 0) {
                die("cannot unlink", path);
            }
        } else if (u < 0.02) { /* add a sibling */
            tree_path(path, sizeof(path), dir, i, ".new.o");
            write_gen(path, tree_size(&s), p.seed * 1000000 + 500000 + i, fill_object, "w");
        }
    }
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "day1") == 0) {
        day1(argv[2], make_plan(argv[3], argv[4]));
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "day2") == 0) {
        day2(argv[2], make_plan(argv[3], argv[4]));
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "stream") == 0) {
        write_sql(stdout, strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
        return fflush(stdout) == 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: gen-data day1|day2 DIR SCALE SEED | gen-data stream SIZE SEED\n");
    return 2;
}
