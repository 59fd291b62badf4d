/* s3ini_fuzz.c: fuzz target for the AWS profile file reader (src/backend/s3/creds.c).
 *
 * Every input is read as a credentials file for the sections "default" and "profile x".
 * Promises checked: it parses or fails with DR_ECORRUPT; every value it sets is non-empty, has
 * no line break and no blank at either end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/backend/s3/s3_int.h"
#include "drrepo/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const char *v)
{
    if (!v) {
        return;
    }
    size_t n = strlen(v);
    if (n == 0 || strchr(v, '\n') || v[0] == ' ' || v[n - 1] == ' ') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *sections[] = {"default", "profile x"};
    for (size_t i = 0; i < 2; i++) {
        struct dr_s3_creds c;
        memset(&c, 0, sizeof(c));
        int rc = dr_s3_ini_parse((const char *)data, size, sections[i], "fuzz", &c);
        if (rc != 0 && rc != DR_ECORRUPT) {
            abort();
        }
        check_value(c.access_key);
        check_value(c.secret_key);
        check_value(c.session_token);
        check_value(c.region);
        dr_s3_creds_release(&c);
        dr_error_clear();
    }
    return 0;
}
