/* config_fuzz.c: fuzz target for dr_config_check and dr_config_decode (src/object/config.c).
 *
 * Every input goes through dr_config_check (no key: the checksum, magic and version rules of
 * format/repository.md) and dr_config_decode under the fixed master key of
 * tests/fuzz/gen_corpus.c. Promises checked: an accepted config of version 2 or later ends with
 * the BLAKE2b-256 of the rest; whatever decodes has version 1 or 2 and valid parameters; and
 * decode never accepts what check refuses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/repo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dr_keys *k;
    struct dr_repo_config c, d;

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
    int crc = dr_config_check("config", data, size, &c);
    if (crc != 0 && crc != DR_ECORRUPT && crc != DR_ENOREPO && crc != DR_EUNSUPPORTED) {
        abort();
    }
    if (crc == 0 && c.version >= 2) {
        struct dr_id sum;
        dr_crypto_hash(data, size - DR_ID_LEN, &sum);
        if (size < DR_ID_LEN || memcmp(sum.b, data + size - DR_ID_LEN, DR_ID_LEN) != 0) {
            abort();
        }
    }
    int drc = dr_config_decode(k, "config", data, size, &d);
    if (drc == 0) {
        if (crc != 0 || d.version != c.version || d.version < 1 || d.version > DR_REPO_VERSION ||
            dr_chunker_params_check(&d.chunker) < 0) {
            abort();
        }
    } else if (drc != crc && drc != DR_ECORRUPT) {
        abort();
    }
    dr_error_clear();
    return 0;
}
