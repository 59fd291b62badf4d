/* zstd.c: blob payload compression over libzstd, mapping its errors to DR_E*.
 *
 * Encoded form: one encoding byte (DR_ENC_ZSTD or DR_ENC_RAW) followed by the payload. ZSTD is
 * used only when the frame is strictly smaller than the input, so the encoded form is never
 * more than one byte larger than the input. Decoding trusts nothing: the caller states the exact
 * plaintext length (from the authenticated index or pack header) and any other result is
 * corruption. Memory for the output is bounded by that length, whatever the frame claims.
 *
 * A large input is probed first (probe_says_raw): zstd's own early exit does not help with
 * incompressible data, since zstd stores such blocks raw inside the frame and the frame only
 * outgrows its len - 1 capacity at the very end, after every block was searched for matches. */
#include "drrepo/compress.h"

#include <stdlib.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"

struct dr_compressor {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
};

struct dr_compressor *dr_compressor_new(int level)
{
    struct dr_compressor *z = dr_xcalloc(1, sizeof(*z));

    /* The header promises 1..19; a level outside that comes from a caller that skipped its
     * validation, and clamping is kinder than aborting a backup over it. */
    if (level < 1) {
        level = 1;
    } else if (level > 19) {
        level = 19;
    }
    z->cctx = ZSTD_createCCtx();
    z->dctx = ZSTD_createDCtx();
    if (!z->cctx || !z->dctx) {
        DR_BUG("out of memory creating zstd contexts");
    }
    if (ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level))) {
        DR_BUG("zstd rejected a compression level in 1..19");
    }
    /* Sizes are stored and authenticated by the pack layer; a zstd checksum would only cost
     * time. The content size in the frame header lets a reader reject a bad size early. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1))) {
        DR_BUG("zstd rejected a frame parameter");
    }
    return z;
}

void dr_compressor_free(struct dr_compressor *z)
{
    if (!z) {
        return;
    }
    ZSTD_freeCCtx(z->cctx);
    ZSTD_freeDCtx(z->dctx);
    free(z);
}

/* Inputs below PROBE_MIN are compressed whole (the probe would be a large part of the work);
 * above it, PROBE_SAMPLES windows of PROBE_LEN bytes spread evenly over the input stand for it.
 * 4 x 8 KiB is 3% of a 1 MiB chunk, and 8 KiB windows still see the short-range repeats that
 * make most compressible data compressible. */
#define PROBE_MIN ((size_t)128 * 1024)
#define PROBE_SAMPLES 4
#define PROBE_LEN ((size_t)8 * 1024)

/* True when the samples of src do not shrink by even 1/64 under zstd: the whole input is then
 * stored raw without compressing it. Data whose only redundancy lies farther apart than a
 * window (two copies of one incompressible block within a chunk) is stored raw too: a loss of
 * space that content-defined chunking and dedup mostly recover, accepted for not compressing
 * every incompressible chunk twice over. Any zstd failure here says "compress": the full
 * attempt then reports it. */
static bool probe_says_raw(struct dr_compressor *z, const uint8_t *src, size_t len)
{
    uint8_t out[PROBE_LEN];
    size_t in_total = 0, out_total = 0;
    size_t step = (len - PROBE_LEN) / (PROBE_SAMPLES - 1);
    for (size_t i = 0; i < PROBE_SAMPLES; i++) {
        size_t r = ZSTD_compress2(z->cctx, out, sizeof(out), src + i * step, PROBE_LEN);
        if (ZSTD_isError(r)) {
            if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall) {
                return false;
            }
            r = PROBE_LEN; /* no smaller than the sample */
        }
        in_total += PROBE_LEN;
        out_total += r;
    }
    return out_total > in_total - in_total / 64;
}

int dr_compress(struct dr_compressor *z, const uint8_t *src, size_t len, struct dr_buf *out)
{
    size_t need;

    /* Both outcomes fit in 1 + len bytes: ZSTD is kept only when strictly smaller. */
    if (__builtin_add_overflow(len, 1, &need)) {
        return dr_errorf(DR_ECORRUPT, "input of %zu bytes is too large to compress", len);
    }
    int rc = dr_buf_grow(out, need);
    if (rc < 0) {
        return rc;
    }
    uint8_t *dst = (uint8_t *)out->buf + out->len;

    if (len > 1 && !(len >= PROBE_MIN && probe_says_raw(z, src, len))) {
        /* A capacity of len - 1 makes zstd itself stop with dstSize_tooSmall as soon as the
         * frame would not be smaller than the input, instead of finishing a useless frame. */
        size_t r = ZSTD_compress2(z->cctx, dst + 1, len - 1, src, len);
        if (!ZSTD_isError(r)) {
            dst[0] = DR_ENC_ZSTD;
            dr_buf_setlen(out, out->len + 1 + r);
            return 0;
        }
        if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall) {
            return dr_errorf(DR_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(r));
        }
    }
    dst[0] = DR_ENC_RAW;
    if (len) {
        memcpy(dst + 1, src, len);
    }
    dr_buf_setlen(out, out->len + 1 + len);
    return 0;
}

int dr_decompress(struct dr_compressor *z, const uint8_t *src, size_t len, size_t expect_len,
                  struct dr_buf *out)
{
    if (len < 1) {
        return dr_errorf(DR_ECORRUPT, "compressed payload is empty (no encoding byte)");
    }
    const uint8_t *payload = src + 1;
    size_t plen = len - 1;

    switch (src[0]) {
    case DR_ENC_RAW:
        if (plen != expect_len) {
            return dr_errorf(DR_ECORRUPT, "raw payload is %zu bytes, expected %zu", plen,
                             expect_len);
        }
        return dr_buf_add(out, payload, plen);
    case DR_ENC_ZSTD: break;
    default: return dr_errorf(DR_ECORRUPT, "unknown payload encoding %u", src[0]);
    }

    /* Cheap early rejection when the frame states its size; the decode below enforces the
     * size either way, so frames without a content size are still held to expect_len. */
    unsigned long long fcs = ZSTD_getFrameContentSize(payload, plen);
    if (fcs == ZSTD_CONTENTSIZE_ERROR) {
        return dr_errorf(DR_ECORRUPT, "zstd frame header is invalid");
    }
    if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != expect_len) {
        return dr_errorf(DR_ECORRUPT, "zstd frame holds %llu bytes, expected %zu", fcs, expect_len);
    }

    int rc = dr_buf_grow(out, expect_len);
    if (rc < 0) {
        return rc;
    }
    /* One-shot decoding into exactly expect_len bytes of room: zstd writes straight into dst
     * and fails with dstSize_tooSmall rather than write past it, so the allocation is bounded
     * by expect_len and not by anything the frame says. */
    uint8_t *dst = (uint8_t *)out->buf + out->len;
    size_t r = ZSTD_decompressDCtx(z->dctx, dst, expect_len, payload, plen);
    if (ZSTD_isError(r)) {
        return dr_errorf(DR_ECORRUPT, "zstd frame does not decode: %s", ZSTD_getErrorName(r));
    }
    if (r != expect_len) {
        return dr_errorf(DR_ECORRUPT, "zstd frame decodes to %zu bytes, expected %zu", r,
                         expect_len);
    }
    dr_buf_setlen(out, out->len + r);
    return 0;
}

const char *dr_compress_version(void)
{
    return ZSTD_versionString();
}
