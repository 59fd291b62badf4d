/* format.h: constants of the on-disk format, mirroring format/SPEC.md (format version 2).
 * Every object starts with an 8-byte ASCII magic and a u32le version; every length has a
 * maximum stated here and in the spec. A reader meeting a newer version fails with
 * DR_EUNSUPPORTED naming the object. */
#ifndef DR_FORMAT_H
#define DR_FORMAT_H

#include "drrepo/common.h"

/* The repository format version, recorded in the config: 2 adds the config's checksum and the
 * second copies of the config and key files; 3 adds prune's epochs, which let a client skip
 * listing every pack; 4 hashes blob ids with HMAC-SHA-256 and pack names with SHA-256
 * (DR_REPO_VERSION_SHA256) instead of BLAKE2b (format/SPEC.md "Changes"). Older versions are
 * still read; what a repository of an older version gets written stays that version. */
#define DR_REPO_VERSION 4u
#define DR_REPO_VERSION_SHA256 4u
/* The version of the objects that have not changed since format version 1: the lock (packs
 * have their own, DR_PACK_VERSION). */
#define DR_FORMAT_VERSION 1u
/* The pack version written (format/pack.md): 2 pads the pack to its padmé size, after the last
 * record, with the padding's length in the header. Versions 1 and 2 are read. */
#define DR_PACK_VERSION 2u
#define DR_MAGIC_LEN 8

#define DR_MAGIC_CONFIG "DRREPCFG"
#define DR_MAGIC_KEY "DRREPKEY"
#define DR_MAGIC_PACK "DRREPPAK"
#define DR_MAGIC_PACK_HEADER "DRPAKHDR"
#define DR_MAGIC_PACK_END "DRPAKEND"
#define DR_MAGIC_TREE "DRREPTRE"
#define DR_MAGIC_SNAPSHOT "DRREPSNP"
#define DR_MAGIC_LOCK "DRREPLCK"
#define DR_MAGIC_DRILL "DRREPDRL"
#define DR_MAGIC_WAL "DRREPWAL"

/* Blob types: bound into every blob's associated data and kept in separate packs. */
enum dr_blob_type {
    DR_BLOB_DATA = 0,
    DR_BLOB_TREE = 1,
};

/* Blob payload encodings (first plaintext byte of an encrypted blob record). */
enum dr_blob_enc {
    DR_ENC_RAW = 0,
    DR_ENC_ZSTD = 1,
};

/* XChaCha20-Poly1305: 24-byte nonce before the ciphertext, 16-byte tag after it. */
#define DR_NONCE_LEN 24
#define DR_TAG_LEN 16
#define DR_AEAD_OVERHEAD (DR_NONCE_LEN + DR_TAG_LEN)

/* Limits. Anything larger is rejected as corrupt before memory is allocated for it. */
#define DR_CHUNK_MIN_LIMIT (4u * 1024)         /* smallest allowed chunker minimum */
#define DR_CHUNK_MAX_LIMIT (64u * 1024 * 1024) /* largest allowed chunker maximum */
#define DR_BLOB_MAX (64u * 1024 * 1024)        /* plaintext of any blob */
#define DR_BLOB_RECORD_MAX (DR_BLOB_MAX + 1 + DR_AEAD_OVERHEAD + 1024) /* encoded blob */
#define DR_PACK_SIZE_MIN (1u * 1024 * 1024)
#define DR_PACK_SIZE_MAX (1024u * 1024 * 1024) /* target size limit; records may overshoot */
#define DR_PACK_FILE_MAX ((uint64_t)2 * 1024 * 1024 * 1024)
#define DR_PACK_ENTRIES_MAX 1000000u
#define DR_PACK_HEADER_MAX (64u * 1024 * 1024)
#define DR_TREE_MAX (64u * 1024 * 1024) /* encoded tree blob plaintext */
#define DR_TREE_NODES_MAX 4000000u
#define DR_NAME_MAX 4096u      /* one path component */
#define DR_TARGET_MAX 65535u   /* symlink target */
#define DR_OWNER_NAME_MAX 255u /* user / group name */
#define DR_SNAPSHOT_MAX (16u * 1024 * 1024)
#define DR_STRING_MAX 65535u /* any string field in a snapshot */
#define DR_KEYFILE_MAX (64u * 1024)
#define DR_CONFIG_MAX (64u * 1024)
#define DR_DRILL_MAX (1024u * 1024) /* drill result body (format/drill.md) */
#define DR_WAL_FILE_MAX DR_BLOB_MAX /* an archived WAL file (format/wal.md) */

/* Chunker algorithms recorded in the config. */
#define DR_CHUNKER_GEAR_V1 1u
#define DR_CHUNKER_TOEPLITZ_AES_V1 2u /* format/chunker.md "toeplitz-aes" */

/* Fixed-size chunking (format/chunker.md "Fixed blocks"): blocks are multiples of the unit, the
 * page size of PostgreSQL relation files. The writer policy relation-pages-v2 (format/chunker.md):
 * a base backup's relation files are cut in blocks of DR_PG_REL_BLOCK, one page (docs/
 * PERFORMANCE.md has the measurement behind the size). A relation file of at least
 * DR_PG_LIST_MIN blocks keeps its chunks in a chunk list (format/chunklist.md), a change to the
 * parent snapshot's list of the same file while the chain stays within DR_PG_LIST_DEPTH and the
 * change holds at most a quarter of the chunks; a full list otherwise. Smaller relation files
 * list their blocks in the tree, at most DR_PG_REL_DIR_CHUNKS of them per directory: a
 * directory is one tree blob, 36 bytes per chunk, and half of DR_TREE_MAX in fixed blocks leaves
 * the other half for the rest. */
#define DR_CHUNK_FIXED_UNIT 8192u
#define DR_PG_REL_BLOCK 8192u
#define DR_PG_REL_DIR_CHUNKS (DR_TREE_MAX / 2 / 36)
#define DR_PG_LIST_MIN 8u
#define DR_PG_LIST_DEPTH 127u

/* Defaults chosen at init. */
#define DR_DEFAULT_CHUNK_MIN (512u * 1024)
#define DR_DEFAULT_CHUNK_AVG (1024u * 1024)
#define DR_DEFAULT_CHUNK_MAX (8u * 1024 * 1024)
#define DR_DEFAULT_PACK_SIZE (16u * 1024 * 1024)
#define DR_DEFAULT_ZSTD_LEVEL 3

#endif
