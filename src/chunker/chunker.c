/* chunker.c: content-defined chunking: FastCDC-style with a keyed Gear table (gear,
 * DR_CHUNKER_GEAR_V1), or a keyed Toeplitz hash whose digest goes through AES before the cut
 * decision (toeplitz-aes, DR_CHUNKER_TOEPLITZ_AES_V1).
 *
 * The algorithm is normative (format/chunker.md); the vectors in format/vectors/chunker-* pin
 * it down. In short: h = (h << 1) + gear[byte] over 64-bit words, so each byte's influence
 * leaves the hash after 64 more bytes and the top bits of h depend on the last 64 bytes. A cut is
 * declared after byte n (min <= n <= max) when the top bits selected by a mask are all zero. The
 * mask is stricter before avg and looser after it (normalized chunking), which pulls chunk sizes
 * towards avg.
 *
 * toeplitz-aes exists because the cut points of keyed Gear leak its key to whoever sees chunk
 * sizes (the stored records' sizes): the 2025 attacks recover it. There the cut decision sees
 * only AES of a universal hash of the window, the construction those papers prove sound
 * (docs/SECURITY.md); it costs an AES block per byte position scanned, computed in batches.
 *
 * dr_chunker_next is pure: the result depends only on the table, the parameters and the bytes
 * passed, so callers may re-ask with a longer buffer after a "need more data" answer.
 *
 * dr_chunker_fixed_next is the other mode, fixed blocks, for files whose changes are in place
 * (PostgreSQL relation files, whose pages never shift: a rolling hash gains nothing there and
 * its larger chunks turn one changed page into a changed megabyte). */
#include "drrepo/chunker.h"

#include <endian.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/secure.h"

/* The hash window: a byte stops influencing h after this many shifts. */
#define GEAR_WINDOW 64

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

const char *dr_chunker_alg_name(uint32_t alg)
{
    switch (alg) {
    case DR_CHUNKER_GEAR_V1: return "gear";
    case DR_CHUNKER_TOEPLITZ_AES_V1: return "toeplitz-aes";
    default: return NULL;
    }
}

int dr_chunker_alg_parse(const char *name, uint32_t *alg)
{
    for (uint32_t a = DR_CHUNKER_GEAR_V1; a <= DR_CHUNKER_TOEPLITZ_AES_V1; a++) {
        if (strcmp(name, dr_chunker_alg_name(a)) == 0) {
            *alg = a;
            return 0;
        }
    }
    return -1;
}

int dr_chunker_params_check(const struct dr_chunker_params *p)
{
    if (!dr_chunker_alg_name(p->alg)) {
        return dr_errorf(DR_EUSAGE, "unknown chunker algorithm %u", p->alg);
    }
    if (p->min < DR_CHUNK_MIN_LIMIT) {
        return dr_errorf(DR_EUSAGE, "chunk minimum %u is below the limit of %u", p->min,
                         DR_CHUNK_MIN_LIMIT);
    }
    if (p->max > DR_CHUNK_MAX_LIMIT) {
        return dr_errorf(DR_EUSAGE, "chunk maximum %u is above the limit of %u", p->max,
                         DR_CHUNK_MAX_LIMIT);
    }
    if (!(p->min < p->avg && p->avg < p->max)) {
        return dr_errorf(DR_EUSAGE, "chunk sizes must satisfy min < avg < max (got %u/%u/%u)",
                         p->min, p->avg, p->max);
    }
    if ((p->avg & (p->avg - 1)) != 0) {
        return dr_errorf(DR_EUSAGE, "chunk average %u is not a power of two", p->avg);
    }
    return 0;
}

/* A mask with ones in the top nbits bits. nbits is in 1..63 for valid parameters. */
static uint64_t top_mask(unsigned nbits)
{
    return ~(uint64_t)0 << (64 - nbits);
}

/* A mask with ones in the low nbits bits. */
static uint64_t low_mask(unsigned nbits)
{
    return ((uint64_t)1 << nbits) - 1;
}

/* t[i] = u64le of the first 8 bytes of BLAKE2b(key, outlen 16, label || byte(i)), i < 256 */
static void derive_table(const uint8_t key[32], const char *label, size_t label_len,
                         uint64_t t[256])
{
    uint8_t msg[32];
    uint8_t out[16];
    memcpy(msg, label, label_len);
    for (unsigned i = 0; i < 256; i++) {
        msg[label_len] = (uint8_t)i;
        dr_crypto_keyed_hash(key, msg, label_len + 1, out, sizeof(out));
        t[i] = dr_get_u64le(out);
    }
    dr_wipe(out, sizeof(out));
}

/* ---- toeplitz-aes: GF(2)[x] modulo P = x^64 + x^4 + x^3 + x + 1 ---- */

#define TP_POLY_LOW 0x1bu /* P without its x^64 term */

/* d * x mod P */
static inline uint64_t tp_xmul(uint64_t d)
{
    return (d << 1) ^ (TP_POLY_LOW & (0 - (d >> 63)));
}

uint64_t dr_chunker_tpaes_digest(const struct dr_chunker *c, const uint8_t w[64])
{
    /* Horner's rule on sum_j x^(63-j) T[w[j]] */
    uint64_t d = 0;
    for (unsigned j = 0; j < GEAR_WINDOW; j++) {
        d = tp_xmul(d) ^ c->gear[w[j]];
    }
    return d;
}

void dr_chunker_init(struct dr_chunker *c, const struct dr_chunker_params *p, const uint8_t key[32])
{
    unsigned bits = (unsigned)__builtin_ctz(p->avg);
    c->alg = p->alg;
    if (p->alg == DR_CHUNKER_TOEPLITZ_AES_V1) {
        static const char tlabel[] = "drrepo-tpaes-v1-T", klabel[] = "drrepo-tpaes-v1-K";
        derive_table(key, tlabel, sizeof(tlabel) - 1, c->gear);
        for (unsigned i = 0; i < 256; i++) {
            uint64_t v = c->gear[i];
            for (unsigned k = 0; k < GEAR_WINDOW; k++) {
                v = tp_xmul(v);
            }
            c->out64[i] = v;
        }
        dr_crypto_keyed_hash(key, klabel, sizeof(klabel) - 1, c->aes_key, sizeof(c->aes_key));
        c->mask_s = low_mask(bits + 2);
        c->mask_l = low_mask(bits - 2);
    } else {
        static const char glabel[] = "drrepo-gear-v1";
        derive_table(key, glabel, sizeof(glabel) - 1, c->gear);
        memset(c->out64, 0, sizeof(c->out64));
        memset(c->aes_key, 0, sizeof(c->aes_key));
        c->mask_s = top_mask(bits + 2);
        c->mask_l = top_mask(bits - 2);
    }
    c->min = p->min;
    c->avg = p->avg;
    c->max = p->max;
}

/* Rolls bytes p[i..end) into *hp and returns the first n = i + 1 whose hash has no bit of mask
 * set, or 0 if there is none. Four bytes per iteration with one combined branch: the cut
 * points are exactly those of the byte-at-a-time loop, only the loop overhead is shared. */
static inline size_t scan(const uint64_t *gear, const uint8_t *p, size_t i, size_t end,
                          uint64_t mask, uint64_t *hp)
{
    uint64_t h = *hp;

    while (end - i >= 4) {
        uint64_t h0 = (h << 1) + gear[p[i]];
        uint64_t h1 = (h0 << 1) + gear[p[i + 1]];
        uint64_t h2 = (h1 << 1) + gear[p[i + 2]];
        uint64_t h3 = (h2 << 1) + gear[p[i + 3]];
        if (UNLIKELY(!(h0 & mask) | !(h1 & mask) | !(h2 & mask) | !(h3 & mask))) {
            if (!(h0 & mask)) {
                return i + 1;
            }
            if (!(h1 & mask)) {
                return i + 2;
            }
            if (!(h2 & mask)) {
                return i + 3;
            }
            return i + 4;
        }
        h = h3;
        i += 4;
    }
    for (; i < end; i++) {
        h = (h << 1) + gear[p[i]];
        if (!(h & mask)) {
            return i + 1;
        }
    }
    *hp = h;
    return 0;
}

/* Positions whose digests go through AES in one call: enough to keep the cipher's vector
 * lanes full and its per-call cost small, few enough that the work past a cut stays small
 * next to a chunk (512 positions against a minimum of 4096 bytes). */
#define TP_BATCH 512

/* toeplitz-aes from the first candidate n = min to end: d is the digest of data[min-64, min).
 * Returns the cut n, or 0 when no position in [min, end] cuts. */
static size_t tpaes_scan(const struct dr_chunker *c, const uint8_t *data, size_t end, uint64_t d)
{
    uint64_t in[TP_BATCH * 2], out[TP_BATCH * 2]; /* blocks: u64le(digest) || 0^8 */
    memset(in, 0, sizeof(in));
    size_t n = c->min;
    while (n <= end) {
        size_t k = DR_MIN((size_t)TP_BATCH, end - n + 1);
        size_t j = 0;
        /* d is the digest of the window that ends at n + j; the last one is not rolled on
         * past end, where data ends */
        for (; j + 1 < k; j++) {
            in[2 * j] = htole64(d);
            size_t m = n + j;
            d = tp_xmul(d) ^ c->out64[data[m - GEAR_WINDOW]] ^ c->gear[data[m]];
        }
        in[2 * j] = htole64(d);
        if (n + j < end) {
            d = tp_xmul(d) ^ c->out64[data[n + j - GEAR_WINDOW]] ^ c->gear[data[n + j]];
        }
        dr_crypto_aes128_ecb(c->aes_key, (const uint8_t *)in, (uint8_t *)out, k);
        /* cuts are rare (one position in 2^(bits-2) at most): a pass without branches finds
         * whether the batch has one, and only then is the first looked for */
        size_t split = n < c->avg ? DR_MIN(k, (size_t)c->avg - n) : 0; /* j < split: mask_s */
        uint64_t hit = 0;
        for (j = 0; j < split; j++) {
            hit |= (le64toh(out[2 * j]) & c->mask_s) == 0;
        }
        for (j = split; j < k; j++) {
            hit |= (le64toh(out[2 * j]) & c->mask_l) == 0;
        }
        for (j = 0; hit && j < k; j++) {
            if ((le64toh(out[2 * j]) & (j < split ? c->mask_s : c->mask_l)) == 0) {
                return n + j;
            }
        }
        n += k;
    }
    return 0;
}

size_t dr_chunker_fixed_next(const struct dr_chunker *c, uint32_t block, size_t len, bool eof)
{
    /* max > avg >= 8192 for valid parameters, so the clamped block is at least one unit */
    size_t b = block <= c->max ? block : c->max - c->max % DR_CHUNK_FIXED_UNIT;
    if (len >= b) {
        return b;
    }
    return eof ? len : 0;
}

/* Gear from the first candidate n = min to end, the mask stricter before avg: the cut n, or 0
 * when no position in [min, end] cuts. */
static size_t gear_scan(const struct dr_chunker *c, const uint8_t *data, size_t end)
{
    /* Warm up the hash over the 64 bytes before min so that the first test, at n == min, sees a
     * full window: the cut decision never depends on where the scan started. */
    uint64_t h = 0;
    size_t i = c->min >= GEAR_WINDOW ? c->min - GEAR_WINDOW : 0;
    for (; i + 1 < c->min; i++) {
        h = (h << 1) + c->gear[data[i]];
    }

    /* i == min - 1: from here on, n = i + 1 >= min. */
    size_t avg_end = DR_MIN(end, (size_t)c->avg - 1);
    size_t n;
    if (i < avg_end) {
        n = scan(c->gear, data, i, avg_end, c->mask_s, &h);
        if (n) {
            return n;
        }
        i = avg_end;
    }
    return i < end ? scan(c->gear, data, i, end, c->mask_l, &h) : 0;
}

size_t dr_chunker_next(const struct dr_chunker *c, const uint8_t *data, size_t len, bool eof)
{
    size_t end = DR_MIN(len, (size_t)c->max);

    if (len == 0) {
        return 0;
    }
    if (len <= c->min) {
        /* No cut can come before min; at exactly min a cut is possible but then the chunk is
         * min bytes either way, and at eof the rest is the last chunk. */
        if (len < c->min || eof) {
            return eof ? len : 0;
        }
    }

    size_t n =
        c->alg == DR_CHUNKER_TOEPLITZ_AES_V1
            ? tpaes_scan(c, data, end, dr_chunker_tpaes_digest(c, data + c->min - GEAR_WINDOW))
            : gear_scan(c, data, end);
    if (n) {
        return n;
    }
    /* no cut: max forces one; short of max, more data may still bring one */
    if (end == c->max) {
        return end;
    }
    return eof ? len : 0;
}
