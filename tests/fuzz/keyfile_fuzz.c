/* keyfile_fuzz.c: fuzz target for dr_keyfile_info, dr_keyfile_details and dr_keyfile_open
 * (src/crypto/keyfile.c).
 *
 * Every input goes through dr_keyfile_info and dr_keyfile_details (under the corpus's master
 * key: no KDF); dr_keyfile_open is tried with the fixed password
 * and repository id of tests/fuzz/gen_corpus.c only when the file asks for cheap Argon2id
 * limits, so that a mutated cost cannot make one input take seconds or gigabytes. Keys must
 * match gen_corpus.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PASSWORD "fuzz password"
#define CHEAP_OPSLIMIT 2u
#define CHEAP_MEMLIMIT (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool inited;
    struct dr_keyfile_info info;
    struct dr_id repo_id;
    uint8_t master[DR_MASTER_KEY_LEN];

    if (!inited) {
        if (dr_crypto_init() < 0) {
            abort();
        }
        inited = true;
    }
    memset(&info, 0, sizeof(info));
    if (dr_keyfile_info(data, size, &info) < 0) {
        return 0;
    }
    /* The strings are NUL-terminated within their arrays. */
    if (!memchr(info.host, '\0', sizeof(info.host)) ||
        !memchr(info.user, '\0', sizeof(info.user))) {
        abort();
    }
    for (int i = 0; i < DR_ID_LEN; i++) {
        repo_id.b[i] = (uint8_t)(0xc0 + i);
    }
    /* the details of a version 2 file open under the corpus's master key, at no KDF cost */
    static struct dr_keys *k;
    if (!k) {
        uint8_t m[DR_MASTER_KEY_LEN];
        for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
            m[i] = (uint8_t)(0x40 + i);
        }
        k = dr_keys_from_master(m);
    }
    memset(&info, 0, sizeof(info));
    int drc = dr_keyfile_details(k, &repo_id, data, size, &info);
    if (drc == 0 && (info.details_sealed || !memchr(info.host, '\0', sizeof(info.host)) ||
                     !memchr(info.user, '\0', sizeof(info.user)))) {
        abort();
    }
    if (drc != 0 && drc != DR_ECORRUPT && drc != DR_EUNSUPPORTED) {
        abort();
    }
    if (info.opslimit > CHEAP_OPSLIMIT || info.memlimit > CHEAP_MEMLIMIT) {
        return 0;
    }
    int rc = dr_keyfile_open(data, size, &repo_id, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD), master);
    if (rc == 0) {
        /* The corpus wraps master 40 41 .. 5f; a forged file opening to anything else would
         * mean the tag was not checked. */
        for (int i = 0; i < DR_MASTER_KEY_LEN; i++) {
            if (master[i] != (uint8_t)(0x40 + i)) {
                abort();
            }
        }
    } else if (rc != DR_EAUTH && rc != DR_ECORRUPT && rc != DR_EUNSUPPORTED && rc != DR_EINTERNAL) {
        abort();
    }
    return 0;
}
