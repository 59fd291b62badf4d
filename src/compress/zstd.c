/* zstd.c: blob payload compression over libzstd, mapping its errors to DR_E*.
 *
 * Encoded form: one encoding byte (DR_ENC_ZSTD or DR_ENC_RAW) followed by the payload. ZSTD is
 * used only when the frame is strictly smaller than the input, so the encoded form is never
 * more than one byte larger than the input. Decoding trusts nothing: the caller states the exact
 * plaintext length (from the authenticated index or pack header) and any other result is
 * corruption. Memory for the output is bounded by that length, whatever the frame claims. */
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

    if (len > 1) {
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
