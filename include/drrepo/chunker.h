/* chunker.h: content-defined chunking (FastCDC-style with a keyed Gear table, or a Toeplitz hash
 * followed by AES, format/chunker.md), and fixed blocks.
 *
 * A pure function over bytes: no I/O, no allocation, no hidden state between calls. The caller
 * keeps a buffer of at least params.max bytes (or whatever is left before end of input) and asks
 * where the next chunk ends. See format/SPEC.md "Chunker" for the exact algorithm, which the
 * test vectors in format/vectors/ pin down. */
#ifndef DR_CHUNKER_H
#define DR_CHUNKER_H

#include "drrepo/common.h"

struct dr_chunker_params {
    uint32_t alg; /* DR_CHUNKER_GEAR_V1 or DR_CHUNKER_TOEPLITZ_AES_V1 */
    uint32_t min, avg, max;
};

struct dr_chunker {
    uint32_t alg;
    uint64_t gear[256];      /* gear: the Gear table; toeplitz-aes: T, the byte entering */
    uint64_t out64[256];     /* toeplitz-aes: x^64 T[b] mod P, the byte leaving the window */
    uint8_t aes_key[16];     /* toeplitz-aes: the key of the PRF on the digest */
    uint64_t mask_s, mask_l; /* stricter mask before avg, looser after (normalized chunking) */
    uint32_t min, avg, max;
};

/* The digest of toeplitz-aes over the 64 bytes w[0..64) (format/chunker.md): exposed for the
 * vectors and for tests that check the rolling form against the definition. */
uint64_t dr_chunker_tpaes_digest(const struct dr_chunker *c, const uint8_t w[64]);

/* The name of a chunker algorithm in the CLI and in output ("gear", "toeplitz-aes"), NULL for
 * an unknown one; and back: 0, or -1 for a name that is none of them. */
const char *dr_chunker_alg_name(uint32_t alg);
DR_MUST_CHECK int dr_chunker_alg_parse(const char *name, uint32_t *alg);

/* Validates parameters: known alg; DR_CHUNK_MIN_LIMIT <= min < avg < max <= DR_CHUNK_MAX_LIMIT;
 * avg a power of two. Returns 0 or DR_EUSAGE (message names the bad value) */
DR_MUST_CHECK int dr_chunker_params_check(const struct dr_chunker_params *p);

/* Derives the tables (and the AES key) from the 32-byte chunker key and sets the masks. p must
 * be valid. */
void dr_chunker_init(struct dr_chunker *c, const struct dr_chunker_params *p,
                     const uint8_t key[32]);

/* Returns the length of the chunk that starts at data[0]:
 *  - a cut point n with min <= n <= max found in data[0..len) -> n;
 *  - len >= max and no earlier cut -> max;
 *  - eof and len < max and no cut -> len (the last chunk; may be shorter than min);
 *  - !eof and len < max and no cut -> 0: the caller must supply more bytes and call again.
 * len == 0 returns 0. */
size_t dr_chunker_next(const struct dr_chunker *c, const uint8_t *data, size_t len, bool eof);

/* Fixed-size chunking (format/chunker.md "Fixed blocks"): the block that is cut is block
 * bytes, or when that exceeds the chunker's max, the largest multiple of DR_CHUNK_FIXED_UNIT
 * not above max, so that a caller's buffer of max bytes always holds a whole block. block is
 * a non-zero multiple of DR_CHUNK_FIXED_UNIT. Returns the length of the chunk that starts at
 * the current offset, with len bytes available from there:
 *  - len >= the block -> the block;
 *  - eof and len < the block -> len (the last chunk; 0 when len is 0);
 *  - !eof and len < the block -> 0: the caller must supply more bytes. */
size_t dr_chunker_fixed_next(const struct dr_chunker *c, uint32_t block, size_t len, bool eof);

#endif
