/* compress.h: zstd compression of blob payloads. A compressor holds a reusable context and is
 * used by one thread at a time. */
#ifndef DR_COMPRESS_H
#define DR_COMPRESS_H

#include "drrepo/buf.h"

struct dr_compressor;

/* Cannot fail (aborts on out-of-memory). level: zstd level, 1..19. */
struct dr_compressor *dr_compressor_new(int level);
void dr_compressor_free(struct dr_compressor *z);

/* Appends to out the encoding byte followed by the payload: DR_ENC_ZSTD and the zstd frame when
 * that is smaller than the input, otherwise DR_ENC_RAW and the input unchanged. An input of
 * 128 KiB or more whose samples do not compress is stored raw without a full zstd pass (the
 * probe in zstd.c): redundancy only at distances longer than a sample is then not used.
 * Errors: DR_EINTERNAL (zstd failed), DR_ECORRUPT (out's max exceeded). */
DR_MUST_CHECK int dr_compress(struct dr_compressor *z, const uint8_t *src, size_t len,
                              struct dr_buf *out);

/* Decodes "encoding byte + payload" as written by dr_compress, appending exactly expect_len
 * bytes to out. Errors: DR_ECORRUPT (unknown encoding, bad frame, size not expect_len),
 * with a message that does not name the object: callers wrap it. */
DR_MUST_CHECK int dr_decompress(struct dr_compressor *z, const uint8_t *src, size_t len,
                                size_t expect_len, struct dr_buf *out);

/* The libzstd version, for `drrepo version`. */
const char *dr_compress_version(void);

#endif
