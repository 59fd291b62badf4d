/* test_chunker.c: unit tests for src/chunker/chunker.c.
 *
 * Covers: dr_chunker_params_check (every rejected case), dr_chunker_init (table and masks),
 * dr_chunker_next (agreement with a naive byte-at-a-time reference that starts hashing at offset
 * 0, the rolled hash equal to a freshly computed window hash at every cut, bounds, streaming
 * with "need more data", determinism, key dependence, resistance to an insertion, mean size),
 * and dr_chunker_fixed_next (page-aligned blocks, the short last block, the clamp to max).
 * toeplitz-aes: its digest against the definition (a sum of powers of x times table entries,
 * computed apart from the Horner and rolling forms), its cut points against a byte-at-a-time
 * reference that computes every window's digest afresh and encrypts it alone, and the
 * algorithm-independent properties above (bounds, streaming, keys, insertion, mean size), which
 * run once per algorithm.
 *
 * Inputs come from a fixed-seed xorshift generator; set DR_TEST_SEED to try another seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "drrepo/chunker.h"
#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"

static uint64_t seed = 0x64727265706f3031ull;

static void fill_random(uint8_t *p, size_t n, uint64_t s)
{
    uint64_t x = s ? s : 1;
    size_t i = 0;
    while (i < n) {
        /* xorshift64*: fast and good enough to look random to a rolling hash */
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545F4914F6CDD1Dull;
        for (int b = 0; b < 8 && i < n; b++, i++) {
            p[i] = (uint8_t)(v >> (8 * b));
        }
    }
}

static const uint8_t key_a[32] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t key_b[32] = {9, 9, 9};

/* the algorithm of the group of tests running (main runs the common ones once per algorithm) */
static uint32_t alg = DR_CHUNKER_GEAR_V1;

static int use_gear(void **state)
{
    (void)state;
    alg = DR_CHUNKER_GEAR_V1;
    return 0;
}

static int use_tpaes(void **state)
{
    (void)state;
    alg = DR_CHUNKER_TOEPLITZ_AES_V1;
    return 0;
}

static void init(struct dr_chunker *c, uint32_t min, uint32_t avg, uint32_t max, const uint8_t *key)
{
    struct dr_chunker_params p = {.alg = alg, .min = min, .avg = avg, .max = max};
    assert_int_equal(dr_chunker_params_check(&p), 0);
    dr_chunker_init(c, &p, key);
}

/* Splits data into chunks; returns the number of chunks and stores their lengths. */
static size_t chunk_all(const struct dr_chunker *c, const uint8_t *data, size_t len,
                        size_t **out_lens)
{
    size_t *lens = NULL, alloc = 0, n = 0, off = 0;
    while (off < len) {
        size_t k = dr_chunker_next(c, data + off, len - off, true);
        assert_true(k > 0 && k <= len - off);
        DR_GROW(lens, alloc, n + 1);
        lens[n++] = k;
        off += k;
    }
    *out_lens = lens;
    return n;
}

/* The reference: hashes from offset 0, byte at a time, testing the rule literally. */
static size_t ref_next(const struct dr_chunker *c, const uint8_t *d, size_t len, bool eof)
{
    uint64_t h = 0;
    for (size_t i = 0; i < len; i++) {
        h = (h << 1) + c->gear[d[i]];
        size_t n = i + 1;
        if (n >= c->min) {
            uint64_t m = n < c->avg ? c->mask_s : c->mask_l;
            if ((h & m) == 0) {
                return n;
            }
        }
        if (n == c->max) {
            return n;
        }
    }
    return eof ? len : 0;
}

static uint64_t window_hash(const struct dr_chunker *c, const uint8_t *d, size_t n)
{
    uint64_t h = 0;
    for (size_t i = n - 64; i < n; i++) {
        h = (h << 1) + c->gear[d[i]];
    }
    return h;
}

static void test_params_check(void **state)
{
    (void)state;
    struct dr_chunker_params ok = {DR_CHUNKER_GEAR_V1, DR_DEFAULT_CHUNK_MIN, DR_DEFAULT_CHUNK_AVG,
                                   DR_DEFAULT_CHUNK_MAX};
    assert_int_equal(dr_chunker_params_check(&ok), 0);
    struct dr_chunker_params lim = {DR_CHUNKER_GEAR_V1, DR_CHUNK_MIN_LIMIT, 8192,
                                    DR_CHUNK_MAX_LIMIT};
    assert_int_equal(dr_chunker_params_check(&lim), 0);

    struct dr_chunker_params bad[] = {
        {0, 4096, 16384, 65536},
        {3, 4096, 16384, 65536},
        {DR_CHUNKER_GEAR_V1, DR_CHUNK_MIN_LIMIT - 1, 16384, 65536},
        {DR_CHUNKER_GEAR_V1, 4096, 16384, DR_CHUNK_MAX_LIMIT + 1},
        {DR_CHUNKER_GEAR_V1, 4096, 12288, 65536},  /* avg not a power of two */
        {DR_CHUNKER_GEAR_V1, 16384, 16384, 65536}, /* min == avg */
        {DR_CHUNKER_GEAR_V1, 32768, 16384, 65536}, /* min > avg */
        {DR_CHUNKER_GEAR_V1, 4096, 65536, 65536},  /* avg == max */
        {DR_CHUNKER_GEAR_V1, 4096, 16384, 8192},   /* max < avg */
        {DR_CHUNKER_GEAR_V1, 0, 0, 0},
        {DR_CHUNKER_GEAR_V1, UINT32_MAX, UINT32_MAX, UINT32_MAX},
    };
    struct dr_chunker_params tp = {DR_CHUNKER_TOEPLITZ_AES_V1, DR_DEFAULT_CHUNK_MIN,
                                   DR_DEFAULT_CHUNK_AVG, DR_DEFAULT_CHUNK_MAX};
    assert_int_equal(dr_chunker_params_check(&tp), 0);
    for (size_t i = 0; i < DR_ARRAY_LEN(bad); i++) {
        dr_error_clear();
        assert_int_equal(dr_chunker_params_check(&bad[i]), DR_EUSAGE);
        assert_true(dr_error_msg()[0] != '\0');
    }
}

static void test_masks(void **state)
{
    (void)state;
    struct dr_chunker c;
    init(&c, 4096, 16384, 65536, key_a);
    /* avg 2^14: 16 top bits before avg, 12 after */
    assert_true(c.mask_s == 0xffff000000000000ull);
    assert_true(c.mask_l == 0xfff0000000000000ull);
    init(&c, DR_DEFAULT_CHUNK_MIN, DR_DEFAULT_CHUNK_AVG, DR_DEFAULT_CHUNK_MAX, key_a);
    assert_true(c.mask_s == 0xfffffc0000000000ull);
    assert_true(c.mask_l == 0xffffc00000000000ull);
    assert_int_equal(c.min, DR_DEFAULT_CHUNK_MIN);
    assert_int_equal(c.max, DR_DEFAULT_CHUNK_MAX);
    /* the table is keyed and not degenerate */
    for (int i = 1; i < 256; i++) {
        assert_true(c.gear[i] != c.gear[0]);
    }
}

/* The fast scan must agree with the literal rule for every params/length combination,
 * including lengths that are not a multiple of the unrolling. */
static void test_matches_reference(void **state)
{
    (void)state;
    const size_t len = 3u << 20;
    uint8_t *data = dr_xmalloc(len);
    fill_random(data, len, seed);
    static const uint32_t params[][3] = {
        {4096, 8192, 16384},
        {4096, 16384, 65536},
        {8192, 65536, 131072},
        {4097, 8192, 12289},
    };
    for (size_t p = 0; p < DR_ARRAY_LEN(params); p++) {
        struct dr_chunker c;
        init(&c, params[p][0], params[p][1], params[p][2], key_a);
        size_t off = 0;
        while (off < len) {
            size_t left = len - off;
            size_t got = dr_chunker_next(&c, data + off, left, true);
            size_t want = ref_next(&c, data + off, left, true);
            assert_int_equal(got, want);
            off += got;
        }
    }
    free(data);
}

static void test_rolled_equals_fresh(void **state)
{
    (void)state;
    const size_t len = 8u << 20;
    uint8_t *data = dr_xmalloc(len);
    fill_random(data, len, seed + 1);
    struct dr_chunker c;
    init(&c, 4096, 16384, 65536, key_a);
    size_t off = 0, cuts = 0;
    while (off < len) {
        size_t n = dr_chunker_next(&c, data + off, len - off, true);
        if (n < c.max && off + n < len) {
            /* a content cut: the window hash over the last 64 bytes selects it */
            uint64_t m = n < c.avg ? c.mask_s : c.mask_l;
            assert_true((window_hash(&c, data + off, n) & m) == 0);
            cuts++;
        }
        /* and no earlier position from min on would have been selected */
        for (size_t k = c.min; k < n; k += 1 + (k & 7)) {
            uint64_t m = k < c.avg ? c.mask_s : c.mask_l;
            assert_true((window_hash(&c, data + off, k) & m) != 0);
        }
        off += n;
    }
    assert_true(cuts > 100);
    free(data);
}

static void test_bounds_and_concat(void **state)
{
    (void)state;
    const size_t len = (16u << 20) + 12345;
    uint8_t *data = dr_xmalloc(len);
    fill_random(data, len, seed + 2);
    struct dr_chunker c;
    init(&c, 16384, 65536, 262144, key_a);
    size_t *lens;
    size_t n = chunk_all(&c, data, len, &lens);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            assert_true(lens[i] >= c.min && lens[i] <= c.max);
        } else {
            assert_true(lens[i] >= 1 && lens[i] <= c.max);
        }
        total += lens[i];
    }
    assert_int_equal(total, len);
    free(lens);

    /* constant input has no content cuts or cuts everywhere: chunks are max or min long */
    memset(data, 0, len);
    n = chunk_all(&c, data, len, &lens);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_true(lens[i] == c.min || lens[i] == c.max);
    }
    free(lens);
    free(data);
}

static void test_need_more(void **state)
{
    (void)state;
    const size_t len = 1u << 20;
    uint8_t *data = dr_xmalloc(len);
    fill_random(data, len, seed + 3);
    struct dr_chunker c;
    init(&c, 4096, 16384, 65536, key_a);

    assert_int_equal(dr_chunker_next(&c, data, 0, false), 0);
    assert_int_equal(dr_chunker_next(&c, data, 0, true), 0);
    assert_int_equal(dr_chunker_next(&c, data, 1, false), 0);
    assert_int_equal(dr_chunker_next(&c, data, 1, true), 1);
    assert_int_equal(dr_chunker_next(&c, data, c.min - 1, false), 0);
    assert_int_equal(dr_chunker_next(&c, data, c.min - 1, true), c.min - 1);

    size_t off = 0;
    for (int round = 0; round < 20; round++) {
        size_t cut = dr_chunker_next(&c, data + off, len - off, false);
        assert_true(cut >= c.min && cut <= c.max);
        for (size_t l = 1; l <= cut + 100 && l <= len - off; l += 1 + l / 7) {
            size_t got = dr_chunker_next(&c, data + off, l, false);
            size_t got_eof = dr_chunker_next(&c, data + off, l, true);
            if (l < cut) {
                assert_int_equal(got, 0);
                assert_int_equal(got_eof, l);
            } else {
                assert_int_equal(got, cut);
                assert_int_equal(got_eof, cut);
            }
        }
        assert_int_equal(dr_chunker_next(&c, data + off, cut - 1, false), 0);
        assert_int_equal(dr_chunker_next(&c, data + off, cut, false), cut);
        off += cut;
    }

    /* no content cut at all: max is returned as soon as max bytes are there */
    memset(data, 0, len);
    size_t z = dr_chunker_next(&c, data, len, false);
    if (z == c.max) {
        assert_int_equal(dr_chunker_next(&c, data, c.max - 1, false), 0);
        assert_int_equal(dr_chunker_next(&c, data, c.max, false), c.max);
    } else {
        assert_int_equal(z, c.min);
    }
    free(data);
}

/* A caller that reads in odd-sized pieces and keeps a window must see the same chunks as one
 * call over the whole input. */
static void test_streaming(void **state)
{
    (void)state;
    const size_t len = 6u << 20;
    uint8_t *data = dr_xmalloc(len);
    fill_random(data, len, seed + 4);
    struct dr_chunker c;
    init(&c, 4096, 16384, 65536, key_a);
    size_t *lens;
    size_t n = chunk_all(&c, data, len, &lens);

    size_t start = 0, have = 0, idx = 0, step = 777;
    while (start < len) {
        bool eof = have == len;
        size_t k = dr_chunker_next(&c, data + start, have - start, eof);
        if (k == 0) {
            assert_false(eof);
            have = DR_MIN(len, have + step);
            step = step * 5 % 40009 + 1;
            continue;
        }
        assert_true(idx < n);
        assert_int_equal(k, lens[idx]);
        idx++;
        start += k;
    }
    assert_int_equal(idx, n);
    free(lens);
    free(data);
}

static void test_deterministic_and_keyed(void **state)
{
    (void)state;
    const size_t len = 4u << 20;
    uint8_t *data = dr_xmalloc(len);
    fill_random(data, len, seed + 5);
    struct dr_chunker c1, c2, c3;
    init(&c1, 4096, 16384, 65536, key_a);
    init(&c2, 4096, 16384, 65536, key_a);
    init(&c3, 4096, 16384, 65536, key_b);
    assert_memory_equal(c1.gear, c2.gear, sizeof(c1.gear));
    size_t *l1, *l2, *l3;
    size_t n1 = chunk_all(&c1, data, len, &l1);
    size_t n2 = chunk_all(&c2, data, len, &l2);
    size_t n3 = chunk_all(&c3, data, len, &l3);
    assert_int_equal(n1, n2);
    assert_memory_equal(l1, l2, n1 * sizeof(*l1));

    /* another key: cut points (as offsets) are essentially unrelated */
    size_t same = 0, a = 0, b = 0, oa = 0, ob = 0;
    while (a < n1 && b < n3) {
        size_t ea = oa + l1[a], eb = ob + l3[b];
        if (ea == eb) {
            same++;
        }
        if (ea <= eb) {
            oa = ea;
            a++;
        } else {
            ob = eb;
            b++;
        }
    }
    assert_true(same < n1 / 10);
    free(l1);
    free(l2);
    free(l3);
    free(data);
}

/* Bytes of the edited input that lie in chunks also present in the original chunking. */
static double shared_fraction(const struct dr_chunker *c, const uint8_t *orig, size_t olen,
                              const uint8_t *edit, size_t elen, size_t at, size_t ins)
{
    size_t *lo, *le;
    size_t no = chunk_all(c, orig, olen, &lo);
    size_t ne = chunk_all(c, edit, elen, &le);
    size_t shared = 0, io = 0, oo = 0, oe = 0;
    for (size_t ie = 0; ie < ne; ie++) {
        size_t start = oe, len = le[ie];
        oe += len;
        if (start < at + ins && start + len > at) {
            continue; /* contains the edit: cannot be shared */
        }
        size_t want = start >= at + ins ? start - ins : start;
        while (io < no && oo < want) {
            oo += lo[io++];
        }
        if (io < no && oo == want && lo[io] == len) {
            shared += len;
        }
    }
    free(lo);
    free(le);
    return (double)shared / (double)elen;
}

static void check_insertion(uint32_t min, uint32_t avg, uint32_t max, size_t len, size_t at)
{
    const size_t ins = 100;
    uint8_t *orig = dr_xmalloc(len);
    uint8_t *edit = dr_xmalloc(len + ins);
    fill_random(orig, len, seed + 6);
    memcpy(edit, orig, at);
    fill_random(edit + at, ins, seed + 7);
    memcpy(edit + at + ins, orig + at, len - at);
    struct dr_chunker c;
    init(&c, min, avg, max, key_a);
    double f = shared_fraction(&c, orig, len, edit, len + ins, at, ins);
    if (f < 0.90) {
        fail_msg("only %.1f%% of the edited input is shared (params %u/%u/%u)", f * 100, min, avg,
                 max);
    }
    free(orig);
    free(edit);
}

static void test_insertion_small(void **state)
{
    (void)state;
    check_insertion(16384, 65536, 262144, 64u << 20, 5000);
}

static void test_insertion_default(void **state)
{
    (void)state;
    check_insertion(DR_DEFAULT_CHUNK_MIN, DR_DEFAULT_CHUNK_AVG, DR_DEFAULT_CHUNK_MAX, 32u << 20,
                    300000);
}

/* the insertion at small sizes in an eighth of the input: enough chunks either side */
static void test_insertion_short(void **state)
{
    (void)state;
    check_insertion(4096, 16384, 65536, 8u << 20, 5000);
}

static void test_mean_size(void **state)
{
    (void)state;
    const size_t len = 32u << 20;
    uint8_t *data = dr_xmalloc(len);
    fill_random(data, len, seed + 8);
    static const uint32_t params[][3] = {{4096, 16384, 65536}, {16384, 65536, 262144}};
    for (size_t p = 0; p < DR_ARRAY_LEN(params); p++) {
        struct dr_chunker c;
        init(&c, params[p][0], params[p][1], params[p][2], key_a);
        size_t *lens;
        size_t n = chunk_all(&c, data, len, &lens);
        double mean = (double)len / (double)n;
        if (mean < 0.75 * c.avg || mean > 1.5 * c.avg) {
            fail_msg("mean chunk size %.0f is far from avg %u", mean, c.avg);
        }
        free(lens);
    }
    free(data);
}

/* Cuts len bytes in fixed blocks, fed in pieces of step bytes as a stream reader would, and
 * checks every boundary is a multiple of want (itself a multiple of the 8 KiB page) and only the
 * last chunk is short. */
static void check_fixed(const struct dr_chunker *c, uint32_t block, uint32_t want, size_t len,
                        size_t step)
{
    size_t off = 0, have = 0, nchunks = 0;
    bool eof = false;
    assert_int_equal(want % DR_CHUNK_FIXED_UNIT, 0);
    while (!(eof && have == 0)) {
        size_t more = DR_MIN(step, len - off - have);
        have += more;
        eof = off + have == len;
        size_t cut;
        while ((cut = dr_chunker_fixed_next(c, block, have, eof)) > 0) {
            assert_true(cut <= have);
            off += cut;
            have -= cut;
            nchunks++;
            if (off % want != 0) {
                assert_int_equal(off, len); /* only the last chunk ends off a boundary */
            } else {
                assert_true(cut == want || off == len);
            }
        }
        if (!eof) {
            assert_true(have < want); /* 0 only while a whole block is not there yet */
        }
    }
    assert_int_equal(off, len);
    assert_int_equal(nchunks, (len + want - 1) / want);
}

static void test_fixed(void **state)
{
    (void)state;
    struct dr_chunker c;
    init(&c, 16384, 65536, 262144, key_a);
    /* the policy's block, a file of whole pages and one with a short tail */
    check_fixed(&c, DR_PG_REL_BLOCK, DR_PG_REL_BLOCK, 40 * (size_t)DR_PG_REL_BLOCK, 100000);
    check_fixed(&c, DR_PG_REL_BLOCK, DR_PG_REL_BLOCK, 3 * (size_t)DR_PG_REL_BLOCK + 3 * 8192, 7);
    check_fixed(&c, 8192, 8192, 100 * 8192 + 1, 65536);
    check_fixed(&c, 65536, 65536, 5000, 4096); /* shorter than a block: one short chunk */
    assert_int_equal(dr_chunker_fixed_next(&c, 65536, 0, true), 0);
    assert_int_equal(dr_chunker_fixed_next(&c, 65536, 65535, false), 0);
    assert_int_equal(dr_chunker_fixed_next(&c, 65536, 65535, true), 65535);
    assert_int_equal(dr_chunker_fixed_next(&c, 65536, 200000, false), 65536);
    /* a block above the repository's max: the largest multiple of 8 KiB not above max */
    init(&c, 4096, 16384, 50000, key_a);
    assert_int_equal(dr_chunker_fixed_next(&c, 131072, 1 << 20, false), 49152);
    check_fixed(&c, 131072, 49152, 10 * 49152 + 100, 30000);
    init(&c, 4096, 8192, 8193, key_a);
    assert_int_equal(dr_chunker_fixed_next(&c, 65536, 1 << 20, false), 8192);
}

/* ---- toeplitz-aes ---- */

/* v * x^k mod P, one doubling at a time */
static uint64_t tp_mulxk(uint64_t v, unsigned k)
{
    while (k--) {
        v = (v << 1) ^ ((v >> 63) ? 0x1bu : 0);
    }
    return v;
}

/* The definition: sum over j of x^(63-j) T[w[j]] mod P. */
static uint64_t tp_digest_def(const struct dr_chunker *c, const uint8_t *w)
{
    uint64_t d = 0;
    for (unsigned j = 0; j < 64; j++) {
        d ^= tp_mulxk(c->gear[w[j]], 63 - j);
    }
    return d;
}

/* The same by Horner's rule, here apart from the chunker's (test_tpaes_digest ties the two
 * forms together; this one is cheap enough for every position of the reference below). */
static uint64_t tp_digest_horner(const struct dr_chunker *c, const uint8_t *w)
{
    uint64_t d = 0;
    for (unsigned j = 0; j < 64; j++) {
        d = tp_mulxk(d, 1) ^ c->gear[w[j]];
    }
    return d;
}

/* The cut rule read literally: every candidate's window digested afresh, encrypted alone. */
static size_t tp_ref_next(const struct dr_chunker *c, const uint8_t *d, size_t len, bool eof)
{
    for (size_t n = c->min; n <= len && n <= c->max; n++) {
        uint8_t blk[16] = {0};
        dr_put_u64le(blk, tp_digest_horner(c, d + n - 64));
        dr_crypto_aes128_ecb(c->aes_key, blk, blk, 1);
        uint64_t m = n < c->avg ? c->mask_s : c->mask_l;
        if ((dr_get_u64le(blk) & m) == 0) {
            return n;
        }
        if (n == c->max) {
            return n;
        }
    }
    return eof || len < c->min ? (eof ? len : 0) : 0;
}

static void test_tpaes_digest(void **state)
{
    (void)state;
    struct dr_chunker c;
    init(&c, 4096, 16384, 65536, key_a);
    assert_int_equal(c.mask_s, 0xffffu); /* low bits: AES output has no weak end */
    assert_int_equal(c.mask_l, 0xfffu);
    for (unsigned b = 0; b < 256; b++) {
        assert_int_equal(c.out64[b], tp_mulxk(c.gear[b], 64));
    }
    uint8_t w[64 + 200];
    fill_random(w, sizeof(w), seed + 11);
    for (size_t i = 0; i + 64 <= sizeof(w); i++) {
        assert_int_equal(dr_chunker_tpaes_digest(&c, w + i), tp_digest_def(&c, w + i));
        assert_int_equal(tp_digest_horner(&c, w + i), tp_digest_def(&c, w + i));
    }
    /* linear in the table: the digest of a window of one repeated byte b is T[b] times
     * (x^63 + ... + 1), not 0 and not T[b] (the collision the rotation of buzhash has) */
    memset(w, 7, 64);
    uint64_t d = dr_chunker_tpaes_digest(&c, w);
    assert_true(d != 0 && d != c.gear[7]);
}

static void test_tpaes_matches_reference(void **state)
{
    (void)state;
    const size_t len = 1u << 20;
    uint8_t *data = dr_xmalloc(len);
    fill_random(data, len, seed + 12);
    /* a run of zeros and a repeated pattern: windows whose digests repeat */
    memset(data + 300000, 0, 70000);
    for (size_t i = 500000; i < 600000; i++) {
        data[i] = (uint8_t)(i % 3);
    }
    struct dr_chunker c;
    init(&c, 4096, 16384, 65536, key_a);
    size_t off = 0, nchunks = 0;
    while (off < len) {
        size_t want = tp_ref_next(&c, data + off, len - off, true);
        size_t got = dr_chunker_next(&c, data + off, len - off, true);
        assert_int_equal(got, want);
        off += got;
        nchunks++;
    }
    assert_true(nchunks > 10);
    free(data);
}

int main(void)
{
    const char *s = getenv("DR_TEST_SEED");
    if (s && *s) {
        seed = strtoull(s, NULL, 0);
        fprintf(stderr, "test_chunker: seed %llu\n", (unsigned long long)seed);
    }
    const struct CMUnitTest gear[] = {
        cmocka_unit_test(test_params_check),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_rolled_equals_fresh),
        cmocka_unit_test(test_fixed),
    };
    /* what holds for every content-defined algorithm */
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_bounds_and_concat), cmocka_unit_test(test_need_more),
        cmocka_unit_test(test_streaming),         cmocka_unit_test(test_deterministic_and_keyed),
        cmocka_unit_test(test_insertion_small),   cmocka_unit_test(test_insertion_default),
        cmocka_unit_test(test_mean_size),
    };
    /* the same on shorter inputs (insertions): under the sanitizers the scan's AES per
     * position would make these the slowest tests of the quick label */
    const struct CMUnitTest tpaes[] = {
        cmocka_unit_test(test_tpaes_digest),      cmocka_unit_test(test_tpaes_matches_reference),
        cmocka_unit_test(test_bounds_and_concat), cmocka_unit_test(test_need_more),
        cmocka_unit_test(test_streaming),         cmocka_unit_test(test_deterministic_and_keyed),
        cmocka_unit_test(test_insertion_short),   cmocka_unit_test(test_mean_size),
    };
    int rc = cmocka_run_group_tests_name("gear", gear, use_gear, NULL);
    rc += cmocka_run_group_tests_name("gear-common", common, use_gear, NULL);
    rc += cmocka_run_group_tests_name("toeplitz-aes", tpaes, use_tpaes, NULL);
    return rc;
}
