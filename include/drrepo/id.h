/* id.h: 32-byte object ids (chunk ids, pack names, snapshot ids) and their hex form. */
#ifndef DR_ID_H
#define DR_ID_H

#include "drrepo/common.h"

#define DR_ID_LEN 32
#define DR_ID_HEX_LEN 64

struct dr_id {
    uint8_t b[DR_ID_LEN];
};

/* Writes 64 lowercase hex digits and a NUL into out (65 bytes). Returns out. */
char *dr_id_hex(const struct dr_id *id, char out[DR_ID_HEX_LEN + 1]);
/* Parses exactly 64 hex digits. DR_EUSAGE if s is not that. */
DR_MUST_CHECK int dr_id_parse(const char *s, struct dr_id *out);
/* Parses 2*n hex digits into n bytes; false on any non-hex digit or wrong length. */
bool dr_hex_decode(const char *s, uint8_t *out, size_t n);
void dr_hex_encode(const uint8_t *p, size_t n, char *out /* 2n+1 */);
bool dr_id_is_zero(const struct dr_id *id);
static inline int dr_id_cmp(const struct dr_id *a, const struct dr_id *b)
{
    return memcmp(a->b, b->b, DR_ID_LEN);
}
static inline bool dr_id_eq(const struct dr_id *a, const struct dr_id *b)
{
    return memcmp(a->b, b->b, DR_ID_LEN) == 0;
}

#endif
