/* id.c: hex encoding of ids. */
#include "drrepo/id.h"

#include "drrepo/error.h"

static const char hexdig[] = "0123456789abcdef";

void dr_hex_encode(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

char *dr_id_hex(const struct dr_id *id, char out[DR_ID_HEX_LEN + 1])
{
    dr_hex_encode(id->b, DR_ID_LEN, out);
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool dr_hex_decode(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]);
        int lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

int dr_id_parse(const char *s, struct dr_id *out)
{
    struct dr_id id;
    if (!dr_hex_decode(s, id.b, DR_ID_LEN)) {
        return dr_errorf(DR_EUSAGE, "'%s' is not a 64-digit hex id", s);
    }
    *out = id;
    return 0;
}

bool dr_id_is_zero(const struct dr_id *id)
{
    for (size_t i = 0; i < DR_ID_LEN; i++) {
        if (id->b[i]) {
            return false;
        }
    }
    return true;
}
