/* repo_int.h: declarations shared inside src/repo/ only. */
#ifndef DR_REPO_REPO_INT_H
#define DR_REPO_REPO_INT_H

#include "drrepo/repo.h"

/* Config codec (config.c). */
DR_MUST_CHECK int dr_config_encode(const struct dr_keys *k, const struct dr_repo_config *c,
                                   struct dr_buf *out);
/* Parses the clear part only (no key needed). DR_ENOREPO, DR_EUNSUPPORTED, DR_ECORRUPT. */
DR_MUST_CHECK int dr_config_parse_clear(const char *where, const uint8_t *p, size_t len,
                                        struct dr_repo_config *out);
DR_MUST_CHECK int dr_config_decode(const struct dr_keys *k, const char *where, const uint8_t *p,
                                   size_t len, struct dr_repo_config *out);

/* Writes a new key file for k (repo.c). */
DR_MUST_CHECK int dr_repo_write_keyfile(struct dr_backend *b, const struct dr_keys *k,
                                        const struct dr_id *repo_id, const char *password,
                                        uint64_t ops, uint64_t mem, struct dr_id *out_name);

/* Finishes a pack writer (names the pack: the hash of its bytes) and writes the pack durably,
 * with the two fault points named around the write. *out_pid and *out_len describe it. The
 * caller indexes it afterwards (repo.c). */
struct dr_pack_writer;
DR_MUST_CHECK int dr_repo_store_pack(struct dr_repo *r, struct dr_pack_writer *w, uint8_t type,
                                     const char *fault_before, const char *fault_after,
                                     struct dr_id *out_pid, size_t *out_len);

#endif
