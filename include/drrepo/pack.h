/* pack.h: blob records and pack files (format/SPEC.md "Blob record", "Pack file").
 *
 * A blob record is nonce || AEAD(encoding byte || payload) || tag, with type || id as associated
 * data. A pack is a 16-byte preamble, records back to back, an encrypted header listing every
 * record, and a 12-byte trailer giving the header's length. The pack's name is the BLAKE2b-256
 * of all its bytes. The header alone is enough to rebuild the index. */
#ifndef DR_PACK_H
#define DR_PACK_H

#include "drrepo/backend.h"
#include "drrepo/compress.h"
#include "drrepo/crypto.h"
#include "drrepo/format.h"

#define DR_PACK_PREAMBLE_LEN 16
#define DR_PACK_TRAILER_LEN 12
#define DR_PACK_ENTRY_LEN 45 /* type 1 + id 32 + offset 4 + clen 4 + ulen 4 */

struct dr_pack_entry {
    struct dr_id id;
    uint8_t type;
    uint32_t offset; /* of the record within the pack */
    uint32_t clen;   /* record length (encrypted, with nonce and tag) */
    uint32_t ulen;   /* plaintext length of the blob */
};

/* Encodes plain as a blob record (compress, then seal) and appends it to out.
 * id must be dr_crypto_blob_id(plain). Errors: DR_EUSAGE (len > DR_BLOB_MAX), DR_EINTERNAL. */
DR_MUST_CHECK int dr_blob_encode(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                                 const struct dr_id *id, const uint8_t *plain, size_t len,
                                 struct dr_buf *out);

/* Opens a blob record: authenticates (type, id bound in), decompresses to exactly ulen bytes,
 * recomputes the id and compares. Appends the plaintext to out.
 * Errors: DR_ECORRUPT, with a message naming the blob id. */
DR_MUST_CHECK int dr_blob_decode(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                                 const struct dr_id *id, const uint8_t *rec, size_t reclen,
                                 uint32_t ulen, struct dr_buf *out);

/* dr_blob_decode for a verifier that does not keep the plaintext: the same checks and the same
 * messages, with scratch (the opened record) and plain (a compressed blob's plaintext) the
 * caller's working buffers, emptied on entry and their memory kept, so a loop over records
 * allocates once; their max must allow DR_BLOB_RECORD_MAX and DR_BLOB_MAX. A raw blob is hashed
 * in scratch and plain is not touched. Errors: DR_ECORRUPT, naming the blob id. */
DR_MUST_CHECK int dr_blob_verify(const struct dr_keys *k, struct dr_compressor *z, uint8_t type,
                                 const struct dr_id *id, const uint8_t *rec, size_t reclen,
                                 uint32_t ulen, struct dr_buf *scratch, struct dr_buf *plain);

/* Builds one pack in memory. Not thread-safe. */
struct dr_pack_writer;

/* k is borrowed and must outlive the writer. */
struct dr_pack_writer *dr_pack_writer_new(const struct dr_keys *k, uint8_t type);
/* The same for pack format version (1 or DR_PACK_VERSION): a repository of format version 1
 * gets version 1 packs, unpadded, which every reader of such a repository reads
 * (dr_repo_pack_version). */
struct dr_pack_writer *dr_pack_writer_new_version(const struct dr_keys *k, uint8_t type,
                                                  uint32_t version);
void dr_pack_writer_free(struct dr_pack_writer *w);
/* Appends a record made by dr_blob_encode. Errors: DR_EUSAGE when the pack is full
 * (DR_PACK_ENTRIES_MAX entries or DR_PACK_FILE_MAX bytes), when id is already in the pack, when
 * reclen or ulen is out of the format's range, or after finish; the writer is unchanged then. */
DR_MUST_CHECK int dr_pack_writer_add(struct dr_pack_writer *w, const struct dr_id *id,
                                     const uint8_t *rec, size_t reclen, uint32_t ulen);
/* Makes room for bytes of pack (preamble included) at once, so that adds up to that size never
 * move the buffer. Only a hint: it does nothing past the file limit. */
void dr_pack_writer_reserve(struct dr_pack_writer *w, size_t bytes);
/* Bytes so far (preamble + records) and number of records. */
uint64_t dr_pack_writer_size(const struct dr_pack_writer *w);
size_t dr_pack_writer_count(const struct dr_pack_writer *w);
/* The unpadded size of the finished pack (preamble, records, header, trailer) if one more
 * record of reclen bytes were added: what a writer compares with its target size. */
uint64_t dr_pack_writer_size_with(const struct dr_pack_writer *w, size_t reclen);
/* True when the id was added to this (unfinished) pack. */
bool dr_pack_writer_has(const struct dr_pack_writer *w, const struct dr_id *id);
/* Appends header and trailer and computes the name. The bytes, entries and id stay valid until
 * dr_pack_writer_reset or _free. Errors: DR_EUSAGE (empty pack), DR_EINTERNAL. */
DR_MUST_CHECK int dr_pack_writer_finish(struct dr_pack_writer *w, struct dr_id *out_pack_id,
                                        const uint8_t **out_data, size_t *out_len);
const struct dr_pack_entry *dr_pack_writer_entries(const struct dr_pack_writer *w, size_t *out_n);
/* Appends every record of src (unfinished, of dst's type, sharing no id with dst) to dst, in
 * src's order; src is left as it was. Used to merge two small packs into one before they are
 * stored. Errors: DR_EUSAGE as dr_pack_writer_add (dst full, a shared id, finished writers,
 * types that differ); dst then holds the records added before the failure. */
DR_MUST_CHECK int dr_pack_writer_append(struct dr_pack_writer *dst,
                                        const struct dr_pack_writer *src);
/* Empties the writer for the next pack of the same type; its memory is kept for reuse. */
void dr_pack_writer_reset(struct dr_pack_writer *w);

/* Parses the 16-byte preamble: magic, version, type. Errors: DR_ECORRUPT, DR_EUNSUPPORTED. */
DR_MUST_CHECK int dr_pack_parse_preamble(const char *pack_name, const uint8_t *pre, size_t len,
                                         uint8_t *out_type);

/* Parses the 12-byte trailer of a pack of pack_size bytes and returns the encrypted header's
 * length, checked to fit between preamble and trailer and within DR_PACK_HEADER_MAX.
 * Errors: DR_ECORRUPT (message names pack_name). */
DR_MUST_CHECK int dr_pack_parse_trailer(const char *pack_name, const uint8_t *trailer, size_t len,
                                        uint64_t pack_size, uint32_t *out_hdr_len);

/* Decrypts and parses the header (the hdr_len bytes before the trailer). The preamble is bound
 * in as associated data. Every entry is checked: type equal to the pack's, records within the
 * record area (between preamble and header), in offset order, non-overlapping, clen and ulen
 * within limits. On success *out_entries is a malloc'd array (free() it).
 * Errors: DR_ECORRUPT (tag, magic, count, entry), DR_EUNSUPPORTED; messages name pack_name. */
DR_MUST_CHECK int dr_pack_parse_header(const struct dr_keys *k, const char *pack_name,
                                       const uint8_t *preamble, const uint8_t *hdr, size_t hdr_len,
                                       uint64_t pack_size, struct dr_pack_entry **out_entries,
                                       size_t *out_n);

/* Reads a pack's header through the backend (preamble, trailer, header). size is the object's
 * size when the caller has it from a listing (a stat fewer: a request on object storage), or
 * DR_BACKEND_SIZE_UNKNOWN to ask the backend; *out_size is the size used. Errors as
 * dr_pack_parse_header plus the backend's; DR_ECORRUPT for a pack too small. */
DR_MUST_CHECK int dr_pack_read_header(struct dr_backend *b, const struct dr_keys *k,
                                      const char *object_name, uint64_t size, uint64_t *out_size,
                                      struct dr_pack_entry **out_entries, size_t *out_n,
                                      uint8_t *out_type);

/* ---- streaming verification (check --read-data) ---- */

/* The bytes a verifier fetches with one get: what it holds of a pack besides the record being
 * decoded (which may be longer). */
#define DR_PACK_VERIFY_WINDOW ((size_t)4 << 20)

struct dr_pack_bad_blob {
    struct dr_id id;
    char *msg; /* malloc'd */
};

/* What dr_pack_verify found. Release with dr_pack_verify_result_release. */
struct dr_pack_verify_result {
    uint64_t size;  /* the object's size */
    char *pack_msg; /* malloc'd, or NULL: why the pack as a whole is bad (preamble, trailer,
                       header, or "content does not match its name (…)") */
    struct dr_pack_bad_blob *bad; /* malloc'd: the records that fail, in pack order */
    size_t nbad;
    uint64_t gets;          /* backend gets made (also when dr_pack_verify fails) */
    uint64_t bytes_fetched; /* bytes those gets returned */
};

void dr_pack_verify_result_release(struct dr_pack_verify_result *res);

/* One worker's state for verifying packs one after the other: a window of the pack, a record's
 * opened bytes, a blob's plaintext and a decompressor. Its memory is bounded by
 * max(window, largest record) + largest record + largest compressed blob, whatever the size
 * of the pack. Not thread-safe; one per thread. */
struct dr_pack_verifier;

/* k is borrowed and must outlive the verifier. window 0: DR_PACK_VERIFY_WINDOW (tests use
 * small windows to make records straddle them). */
struct dr_pack_verifier *dr_pack_verifier_new(const struct dr_keys *k, int zstd_level,
                                              size_t window);
void dr_pack_verifier_free(struct dr_pack_verifier *v);

/* Verifies the pack stored as object_name, reading it front to back in ranged gets of one
 * window: the preamble, trailer and header first (the header of a small pack comes with the
 * first window, a larger pack's end with one more get), then every record in order, each
 * authenticated, decoded and its id recomputed as soon as the window holds it, while the hash
 * of all the bytes is computed and compared with want (the pack's name). A pack whose preamble,
 * trailer or header is bad is not read further. size is the object's size when the caller has
 * it from a listing (objects never change), which saves a request per pack on object storage;
 * DR_BACKEND_SIZE_UNKNOWN asks the backend. Returns 0 with *out filled (pack_msg and bad
 * empty for a good pack), or the backend's error when the object could not be read (DR_ENOENT,
 * DR_EIO, DR_ENET, DR_ECORRUPT when it is shorter than its size); out->gets and
 * out->bytes_fetched are set either way, the rest of *out is empty on error. */
DR_MUST_CHECK int dr_pack_verify(struct dr_pack_verifier *v, struct dr_backend *b,
                                 const char *object_name, uint64_t size, const struct dr_id *want,
                                 struct dr_pack_verify_result *out);

#endif
