/* codec.c: shared helpers of the object codec unit tests (see codec.h). */
#include "codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"

struct dr_keys *dr_test_key, *dr_test_other_key;

int dr_test_keys_setup(void **state)
{
    (void)state;
    uint8_t m[DR_MASTER_KEY_LEN];
    if (dr_crypto_init() < 0) {
        return -1;
    }
    for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
        m[i] = (uint8_t)i;
    }
    dr_test_key = dr_keys_from_master(m);
    m[0] ^= 1;
    dr_test_other_key = dr_keys_from_master(m);
    return 0;
}

int dr_test_keys_teardown(void **state)
{
    (void)state;
    dr_keys_free(dr_test_key);
    dr_keys_free(dr_test_other_key);
    dr_test_key = dr_test_other_key = NULL;
    return 0;
}

void dr_test_truncations(const void *buf, size_t len,
                         void (*expect)(const void *p, size_t len, int code))
{
    for (size_t l = 0; l < len; l++) {
        uint8_t *p = dr_xmalloc(l ? l : 1);
        memcpy(p, buf, l);
        expect(p, l, DR_ECORRUPT);
        free(p);
    }
}
