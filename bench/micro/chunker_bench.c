/* chunker_bench.c: throughput of the chunkers (gear, toeplitz-aes) and of blob ids over a
 * 256 MiB random buffer.
 * Not built by ctest (speed is not a test). Build against an optimised drcore, for example:
 *   cc -O2 -Iinclude bench/micro/chunker_bench.c build/libdrcore.a $(pkg-config --libs \
 *      libsodium libzstd lmdb libpq hiredis libcurl libcrypto) -lpthread -lm -o /tmp/chunker_bench
 */
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "drrepo/chunker.h"
#include "drrepo/crypto.h"
#include "drrepo/format.h"
#include "drrepo/util.h"

#define BENCH_LEN ((size_t)256 << 20)

static double mbps(size_t bytes, int64_t ns)
{
    return (double)bytes / (1024.0 * 1024.0) / ((double)ns / 1e9);
}

static void bench_chunker(const uint8_t *buf, uint32_t alg, uint32_t min, uint32_t avg,
                          uint32_t max)
{
    struct dr_chunker_params p = {.alg = alg, .min = min, .avg = avg, .max = max};
    static const uint8_t key[32] = {1};
    struct dr_chunker c;
    dr_chunker_init(&c, &p, key);

    int64_t best = INT64_MAX;
    size_t nchunks = 0;
    for (int rep = 0; rep < 3; rep++) {
        int64_t t0 = dr_mono_ns();
        size_t off = 0;
        nchunks = 0;
        while (off < BENCH_LEN) {
            size_t n = dr_chunker_next(&c, buf + off, BENCH_LEN - off, true);
            off += n;
            nchunks++;
        }
        int64_t t = dr_mono_ns() - t0;
        best = t < best ? t : best;
    }
    printf("chunker %s %u/%u/%u: %.0f MB/s (%zu chunks, mean %zu bytes)\n",
           alg == DR_CHUNKER_GEAR_V1 ? "gear" : "toeplitz-aes", min, avg, max,
           mbps(BENCH_LEN, best), nchunks, BENCH_LEN / nchunks);
}

static void bench_blob_id(const uint8_t *buf, uint32_t format)
{
    struct dr_keys *k = dr_keys_new_random();
    dr_keys_set_format(k, format);
    struct dr_id id;
    int64_t best = INT64_MAX;
    const size_t blob = (size_t)1 << 20;
    for (int rep = 0; rep < 3; rep++) {
        int64_t t0 = dr_mono_ns();
        for (size_t off = 0; off < BENCH_LEN; off += blob) {
            dr_crypto_blob_id(k, buf + off, blob, &id);
        }
        int64_t t = dr_mono_ns() - t0;
        best = t < best ? t : best;
    }
    printf("blob id (1 MiB blobs), format %u: %.0f MB/s\n", format, mbps(BENCH_LEN, best));
    dr_keys_free(k);
}

int main(void)
{
    if (dr_crypto_init() < 0) {
        return 1;
    }
    uint8_t *buf = malloc(BENCH_LEN);
    if (!buf) {
        return 1;
    }
    randombytes_buf(buf, BENCH_LEN);
    static const uint32_t algs[] = {DR_CHUNKER_GEAR_V1, DR_CHUNKER_TOEPLITZ_AES_V1};
    for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        bench_chunker(buf, algs[a], 4096, 16384, 65536);
        bench_chunker(buf, algs[a], 16384, 65536, 262144);
        bench_chunker(buf, algs[a], DR_DEFAULT_CHUNK_MIN, DR_DEFAULT_CHUNK_AVG,
                      DR_DEFAULT_CHUNK_MAX);
    }
    bench_blob_id(buf, 3);
    bench_blob_id(buf, DR_REPO_VERSION);
    free(buf);
    return 0;
}
