/* config.h: the repository config object (format/repository.md "Config"): its fields and
 * its codec. The names of the config and key objects and their copies are in layout.h. */
#ifndef DR_CONFIG_H
#define DR_CONFIG_H

#include "drrepo/buf.h"
#include "drrepo/chunker.h"
#include "drrepo/crypto.h"
#include "drrepo/layout.h" /* DR_OBJ_CONFIG, DR_OBJ_KEYS and their copies */

struct dr_repo_config {
    uint32_t version; /* repository format version: 1 or DR_REPO_VERSION */
    struct dr_id repo_id;
    struct dr_chunker_params chunker;
    uint32_t pack_size;
    int32_t zstd_level;
    int64_t created_ns;
};

/* Config codec (format/repository.md "Config").
 * _encode appends the config of format version c->version (1 or 2) to out, its body sealed with
 * nonce (NULL: a random one; only test vectors pass one). DR_EINTERNAL for another version.
 * _check verifies one copy without a key and reads its clear part (version, repository id) into
 * out: for version 2 and later the trailing checksum is verified before any field is believed;
 * a config without a valid checksum is accepted only as version 1. Errors, naming the object
 * name: DR_ENOREPO (not a config at all), DR_EUNSUPPORTED (a newer version with a valid
 * checksum), DR_ECORRUPT (damaged: the message says how).
 * _decode is _check plus the sealed body under k: DR_ECORRUPT when it does not authenticate
 * (damage, since k came from a key file bound to this repository id) or holds invalid values. */
DR_MUST_CHECK int dr_config_encode(const struct dr_keys *k, const struct dr_repo_config *c,
                                   const uint8_t *nonce, struct dr_buf *out);
DR_MUST_CHECK int dr_config_check(const char *name, const uint8_t *p, size_t len,
                                  struct dr_repo_config *out);
DR_MUST_CHECK int dr_config_decode(const struct dr_keys *k, const char *name, const uint8_t *p,
                                   size_t len, struct dr_repo_config *out);

#endif
