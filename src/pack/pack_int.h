/* pack_int.h: internals of src/pack/ shared by its files and by the format-vector tests.
 *
 * The two *_nonce hooks exist only so tests/unit/format/test_vectors_pack.c can produce
 * byte-exact records and packs. Sealing two messages with one nonce under one key destroys
 * the confidentiality and authenticity of both, so nothing outside tests may call them. */
#ifndef DR_PACK_PACK_INT_H
#define DR_PACK_PACK_INT_H

#include "drrepo/pack.h"

/* Length of a blob's associated data: type u8 || id[32]. */
#define DR_BLOB_AD_LEN (1 + DR_ID_LEN)

/* Length of the plaintext header before its entries: magic[8] || version u32 || count u32,
 * and from version 2 pad u32. */
#define DR_PACK_HEADER_FIXED_LEN 16
#define DR_PACK_HEADER_FIXED_LEN_V2 20

/* The padmé length of len (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
 * Communication with PURBs", PETS 2019): len rounded up so that only its top
 * floor(log2(floor(log2 len))) + 1 bits may be non-zero, leaking O(log log len) bits of it at a
 * cost of at most 12% (less for larger lengths). */
uint64_t dr_pack_padme(uint64_t len);

/* How much of a pack's end a reader fetches at once: the trailer and, for all but the largest
 * packs, the whole header, so one read serves both (one request on remote backends). */
#define DR_PACK_TAIL_READ (64u * 1024 + DR_PACK_TRAILER_LEN)

/* dr_blob_encode sealing with nonce instead of a random one (NULL: random, as dr_blob_encode).
 * Test vectors only. Errors as dr_blob_encode. */
DR_MUST_CHECK int dr_blob_encode_nonce(const struct dr_keys *k, struct dr_compressor *z,
                                       uint8_t type, const struct dr_id *id, const uint8_t *plain,
                                       size_t len, const uint8_t *nonce, struct dr_buf *out);

/* Makes the next dr_pack_writer_finish seal the header with nonce (copied) instead of a random
 * one. dr_pack_writer_reset forgets it, so it can never be used for two packs. Test vectors
 * only. */
void dr_pack_writer_set_header_nonce(struct dr_pack_writer *w, const uint8_t nonce[DR_NONCE_LEN]);

#endif
