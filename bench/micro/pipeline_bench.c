/* pipeline_bench.c: the per-core limit of the write path on real data: what one core does per
 * new byte of a snapshot when nothing else is in the way (no file reads, no threads, no packs
 * written). Every regular file under DIR is read into memory first, then timed on this one
 * thread, stage by stage, over the same chunks the snapshot makes (default chunker parameters):
 *
 *   chunk    the gear chunker's cut points
 *   id       the keyed blob id of every chunk (HMAC-SHA-256, or keyed BLAKE2b for FORMAT < 4)
 *   encode   the record: the compressibility probe, zstd at LEVEL, XChaCha20-Poly1305
 *
 * "limit" is their sum as one core's throughput, and "x 2" what two cores could do if the
 * pipeline spread that work perfectly. bench/README.md says how it is used. Also printed, as
 * the cost the limit leaves out: the pack name (SHA-256, or BLAKE2b for FORMAT < 4, over the
 * sealed records). FORMAT is the repository format version whose hashes are used (default:
 * the newest).
 *
 * Not built by ctest (speed is not a test). Build against an optimised drcore:
 *   cc -O2 -Iinclude bench/micro/pipeline_bench.c build-rel/libdrcore.a $(pkg-config --libs \
 *      libsodium libzstd lmdb libpq hiredis libcurl libcrypto) -lpthread -lm -o /tmp/pipeline_bench
 *   /tmp/pipeline_bench DIR [LEVEL [FORMAT]]
 */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drrepo/buf.h"
#include "drrepo/chunker.h"
#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/format.h"
#include "drrepo/pack.h"
#include "drrepo/util.h"

struct file {
    uint8_t *p;
    size_t len;
};

static struct file *files;
static size_t nfiles, cap;
static size_t total;

static int add_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode)) {
        return 0;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    uint8_t *p = malloc(st->st_size ? (size_t)st->st_size : 1);
    size_t got = 0;
    while (p && got < (size_t)st->st_size) {
        ssize_t n = read(fd, p + got, (size_t)st->st_size - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (!p || got != (size_t)st->st_size) {
        fprintf(stderr, "%s: short read\n", path);
        free(p);
        return 1;
    }
    if (nfiles == cap) {
        cap = cap ? cap * 2 : 1024;
        files = realloc(files, cap * sizeof(*files));
        if (!files) {
            return 1;
        }
    }
    files[nfiles++] = (struct file){.p = p, .len = got};
    total += got;
    return 0;
}

struct cut {
    const uint8_t *p;
    size_t len;
};

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s DIR [ZSTD-LEVEL [FORMAT-VERSION]]\n", argv[0]);
        return 2;
    }
    int level = argc >= 3 ? atoi(argv[2]) : DR_DEFAULT_ZSTD_LEVEL;
    uint32_t format = argc >= 4 ? (uint32_t)atoi(argv[3]) : DR_REPO_VERSION;
    if (dr_crypto_init() < 0 || nftw(argv[1], add_file, 64, FTW_PHYS) != 0) {
        return 1;
    }
    struct dr_keys *k = dr_keys_new_random();
    dr_keys_set_format(k, format);
    struct dr_chunker_params cp = {.alg = DR_CHUNKER_GEAR_V1,
                                   .min = DR_DEFAULT_CHUNK_MIN,
                                   .avg = DR_DEFAULT_CHUNK_AVG,
                                   .max = DR_DEFAULT_CHUNK_MAX};
    struct dr_chunker ch;
    dr_chunker_init(&ch, &cp, k->chunker_key);

    /* chunk: the cut points, kept for the stages after */
    size_t ncuts = 0, cutcap = 1024;
    struct cut *cuts = malloc(cutcap * sizeof(*cuts));
    int64_t t0 = dr_mono_ns();
    for (size_t f = 0; f < nfiles && cuts; f++) {
        size_t off = 0;
        while (off < files[f].len) {
            size_t n = dr_chunker_next(&ch, files[f].p + off, files[f].len - off, true);
            if (ncuts == cutcap) {
                cutcap *= 2;
                cuts = realloc(cuts, cutcap * sizeof(*cuts));
                if (!cuts) {
                    break;
                }
            }
            cuts[ncuts++] = (struct cut){.p = files[f].p + off, .len = n};
            off += n;
        }
    }
    int64_t t_chunk = dr_mono_ns() - t0;
    if (!cuts) {
        return 1;
    }

    struct dr_id *ids = malloc(ncuts * sizeof(*ids));
    t0 = dr_mono_ns();
    for (size_t i = 0; i < ncuts; i++) {
        dr_crypto_blob_id(k, cuts[i].p, cuts[i].len, &ids[i]);
    }
    int64_t t_id = dr_mono_ns() - t0;

    /* encode into one reused buffer, as a pipeline slot does; the pack name is hashed over the
     * records afterwards, outside the limit */
    struct dr_compressor *z = dr_compressor_new(level);
    struct dr_buf rec = DR_BUF_INIT(DR_BLOB_MAX + 4096);
    struct dr_hash_state hs;
    uint64_t sealed = 0;
    int64_t t_enc = 0, t_name = 0;
    dr_crypto_pack_hash_init(k, &hs);
    for (size_t i = 0; i < ncuts; i++) {
        dr_buf_reset(&rec);
        t0 = dr_mono_ns();
        if (dr_blob_encode(k, z, DR_BLOB_DATA, &ids[i], cuts[i].p, cuts[i].len, &rec) < 0) {
            fprintf(stderr, "encode failed\n");
            return 1;
        }
        int64_t t1 = dr_mono_ns();
        dr_crypto_hash_update(&hs, rec.buf, rec.len);
        t_name += dr_mono_ns() - t1;
        t_enc += t1 - t0;
        sealed += rec.len;
    }
    struct dr_id name;
    dr_crypto_hash_final(&hs, &name);

    int64_t limit = t_chunk + t_id + t_enc;
    printf("data: %zu files, %.1f MiB, %zu chunks; zstd level %d; format %u; sealed %.1f MiB\n",
           nfiles, (double)total / 1048576.0, ncuts, level, format, (double)sealed / 1048576.0);
    printf("chunk  %6.3f s  %7.0f MiB/s\n", secs(t_chunk),
           (double)total / 1048576.0 / secs(t_chunk));
    printf("id     %6.3f s  %7.0f MiB/s\n", secs(t_id), (double)total / 1048576.0 / secs(t_id));
    printf("encode %6.3f s  %7.0f MiB/s\n", secs(t_enc), (double)total / 1048576.0 / secs(t_enc));
    printf("limit  %6.3f s  %7.0f MiB/s per core, x 2 = %.0f MiB/s\n", secs(limit),
           (double)total / 1048576.0 / secs(limit), 2 * (double)total / 1048576.0 / secs(limit));
    printf("not in the limit: pack name %.3f s (%.0f MiB/s of records)\n", secs(t_name),
           (double)sealed / 1048576.0 / secs(t_name));
    dr_buf_release(&rec);
    dr_compressor_free(z);
    dr_keys_free(k);
    for (size_t f = 0; f < nfiles; f++) {
        free(files[f].p);
    }
    free(files);
    free(cuts);
    free(ids);
    return 0;
}
