/* repo_int.h: declarations shared inside src/repo/ only. */
#ifndef DR_REPO_REPO_INT_H
#define DR_REPO_REPO_INT_H

#include "drrepo/repo.h"

/* Writes a new key file for k (keys.c): for a repository of format version 2 also its second
 * copy, after the first. */
DR_MUST_CHECK int dr_repo_write_keyfile(struct dr_backend *b, const struct dr_keys *k,
                                        const struct dr_repo_config *c, const char *password,
                                        uint64_t ops, uint64_t mem, struct dr_id *out_name);

/* The state of one copy of a small critical object. */
enum dr_copy_state {
    DR_COPY_OK,
    DR_COPY_MISSING,
    DR_COPY_DAMAGED,
    DR_COPY_UNREAD, /* not read: the first copy was intact and the caller asked for no more */
};

/* One key file with its two copies (keys/<id>, copies/keys/<id>). bytes holds the intact
 * content, the first copy's when it is intact, else the second's; empty when neither is. */
struct dr_keyslot {
    struct dr_id id;
    char name[80], copy_name[80];
    enum dr_copy_state state, copy_state;
    char why[256], copy_why[256]; /* what is wrong with a missing or damaged copy */
    struct dr_buf bytes;
};

/* Every key file of the repository, sorted by id: the union of the names in keys/ and (format
 * version 2) copies/keys/, each copy verified against its name. read_all reads every second
 * copy; otherwise a second copy is read only when the first is not intact. Errors: DR_EIO
 * (listing or reading failed; damage is not an error but a state). Free with
 * dr_keyslots_free. */
DR_MUST_CHECK int dr_repo_keyslots(struct dr_repo *r, bool read_all, struct dr_keyslot **out,
                                   size_t *out_n);
void dr_keyslots_free(struct dr_keyslot *v, size_t n);

/* Opens a key file with password into r->keys and r->keyfile_name (keys.c): hint (a key file
 * name, or NULL) first, then the others cheapest first, within the Argon2id budget of
 * format/crypto.md "Opening a repository". Errors: DR_EAUTH (the message counts the key files
 * not tried), DR_ECORRUPT (every key file damaged; f->object names it), DR_EUNSUPPORTED,
 * DR_EUSAGE (a bad DRREPO_KDF_BUDGET), DR_EIO. */
DR_MUST_CHECK int dr_repo_load_keys(struct dr_repo *r, const char *password, const char *hint,
                                    struct dr_open_failure *f);

/* Finishes a pack writer (names the pack: the hash of its bytes) and writes the pack durably,
 * with the two fault points named around the write. *out_pid and *out_len describe it. The
 * caller indexes it afterwards (repo.c). */
struct dr_pack_writer;
DR_MUST_CHECK int dr_repo_store_pack(struct dr_repo *r, struct dr_pack_writer *w, uint8_t type,
                                     const char *fault_before, const char *fault_after,
                                     struct dr_id *out_pid, size_t *out_len);

#endif
