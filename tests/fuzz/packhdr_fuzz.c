/* packhdr_fuzz.c: fuzz target for dr_pack_parse_preamble, dr_pack_parse_trailer and
 * dr_pack_parse_header (src/pack/reader.c).
 *
 * The first input byte picks what the rest is:
 *   even: a whole pack file: the preamble is its first 16 bytes, the trailer its last 12, and
 *         the sealed header sits before the trailer, as dr_pack_read_header finds them;
 *   odd:  preamble[16] | record-area length u32le | header plaintext. The plaintext is sealed
 *         with the fixed key and the preamble as associated data, so that the entry checks
 *         behind the AEAD are reached by mutations.
 * Accepted headers must keep the parser's promises (entries of the pack's type, inside the
 * record area, in offset order, not overlapping); a broken promise aborts. The key must match
 * tests/fuzz/gen_corpus.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dr_keys *keys(void)
{
    static struct dr_keys *k;
    if (!k) {
        uint8_t m[DR_MASTER_KEY_LEN];
        if (dr_crypto_init() < 0) {
            abort();
        }
        for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
            m[i] = (uint8_t)(0x40 + i);
        }
        k = dr_keys_from_master(m);
    }
    return k;
}

static void check_entries(uint8_t type, const struct dr_pack_entry *e, size_t n, uint64_t area_end)
{
    uint64_t prev_end = DR_PACK_PREAMBLE_LEN;
    for (size_t i = 0; i < n; i++) {
        uint64_t end = (uint64_t)e[i].offset + e[i].clen;
        if (e[i].type != type || e[i].offset < prev_end || end > area_end ||
            e[i].ulen > DR_BLOB_MAX) {
            abort();
        }
        prev_end = end;
    }
}

static void parse_header(const uint8_t *pre, const uint8_t *hdr, size_t hdr_len, uint64_t pack_size)
{
    struct dr_pack_entry *e = NULL;
    size_t n = 0;
    uint8_t type;

    if (dr_pack_parse_preamble("fuzz", pre, DR_PACK_PREAMBLE_LEN, &type) < 0) {
        return;
    }
    if (dr_pack_parse_header(keys(), "fuzz", pre, hdr, hdr_len, pack_size, &e, &n) == 0) {
        check_entries(type, e, n, pack_size - DR_PACK_TRAILER_LEN - hdr_len);
        free(e);
    }
}

static void whole_pack(const uint8_t *p, size_t len)
{
    uint8_t type;
    uint32_t hdr_len;

    if (dr_pack_parse_preamble("fuzz", p, len, &type) < 0 || len < DR_PACK_TRAILER_LEN) {
        return;
    }
    const uint8_t *trailer = p + len - DR_PACK_TRAILER_LEN;
    if (dr_pack_parse_trailer("fuzz", trailer, DR_PACK_TRAILER_LEN, len, &hdr_len) < 0) {
        return;
    }
    /* The trailer parser promises that the header fits between preamble and trailer. */
    if ((uint64_t)hdr_len + DR_PACK_PREAMBLE_LEN + DR_PACK_TRAILER_LEN > len) {
        abort();
    }
    parse_header(p, trailer - hdr_len, hdr_len, len);
}

static void plain_header(const uint8_t *p, size_t len)
{
    struct dr_buf sealed = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);

    if (len < DR_PACK_PREAMBLE_LEN + 4) {
        return;
    }
    const uint8_t *pre = p;
    uint32_t area = dr_get_u32le(p + DR_PACK_PREAMBLE_LEN);
    const uint8_t *pt = p + DR_PACK_PREAMBLE_LEN + 4;
    size_t ptlen = len - DR_PACK_PREAMBLE_LEN - 4;
    if (dr_crypto_seal(keys(), pre, DR_PACK_PREAMBLE_LEN, pt, ptlen, &sealed) < 0) {
        abort();
    }
    uint64_t pack_size = DR_PACK_PREAMBLE_LEN + (uint64_t)area + sealed.len + DR_PACK_TRAILER_LEN;
    parse_header(pre, (const uint8_t *)sealed.buf, sealed.len, pack_size);
    dr_buf_release(&sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        plain_header(data + 1, size - 1);
    } else {
        whole_pack(data + 1, size - 1);
    }
    return 0;
}
