/* chunker.c: FastCDC-style content-defined chunking with a keyed Gear table (DR_CHUNKER_GEAR_V1).
 *
 * The algorithm is normative (format/chunker.md); the vectors in format/vectors/chunker-* pin
 * it down. In short: h = (h << 1) + gear[byte] over 64-bit words, so each byte's influence
 * leaves the hash after 64 more bytes and the top bits of h depend on the last 64 bytes. A cut is
 * declared after byte n (min <= n <= max) when the top bits selected by a mask are all zero. The
 * mask is stricter before avg and looser after it (normalized chunking), which pulls chunk sizes
 * towards avg.
 *
 * dr_chunker_next is pure: the result depends only on the table, the parameters and the bytes
 * passed, so callers may re-ask with a longer buffer after a "need more data" answer.
 *
 * dr_chunker_fixed_next is the other mode, fixed blocks, for files whose changes are in place
 * (PostgreSQL relation files, whose pages never shift: a rolling hash gains nothing there and
 * its larger chunks turn one changed page into a changed megabyte). */
#include "drrepo/chunker.h"

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/secure.h"

/* The hash window: a byte stops influencing h after this many shifts. */
#define GEAR_WINDOW 64

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

int dr_chunker_params_check(const struct dr_chunker_params *p)
{
    if (p->alg != DR_CHUNKER_GEAR_V1) {
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

void dr_chunker_init(struct dr_chunker *c, const struct dr_chunker_params *p, const uint8_t key[32])
{
    static const char label[] = "drrepo-gear-v1";
    uint8_t msg[sizeof(label)]; /* the 14 label bytes followed by the table index */
    uint8_t out[16];

    memcpy(msg, label, sizeof(label) - 1);
    for (unsigned i = 0; i < 256; i++) {
        msg[sizeof(label) - 1] = (uint8_t)i;
        dr_crypto_keyed_hash(key, msg, sizeof(msg), out, sizeof(out));
        c->gear[i] = dr_get_u64le(out);
    }
    dr_wipe(out, sizeof(out));

    unsigned bits = (unsigned)__builtin_ctz(p->avg);
    c->mask_s = top_mask(bits + 2);
    c->mask_l = top_mask(bits - 2);
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

size_t dr_chunker_fixed_next(const struct dr_chunker *c, uint32_t block, size_t len, bool eof)
{
    /* max > avg >= 8192 for valid parameters, so the clamped block is at least one unit */
    size_t b = block <= c->max ? block : c->max - c->max % DR_CHUNK_FIXED_UNIT;
    if (len >= b) {
        return b;
    }
    return eof ? len : 0;
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
    if (i < end) {
        n = scan(c->gear, data, i, end, c->mask_l, &h);
        if (n) {
            return n;
        }
    }
    if (end == c->max) {
        return end;
    }
    return eof ? len : 0;
}
