/* blobread.c: reading one blob, tree or snapshot object of an open repository: the record of
 * a blob found through the index, decrypted, decompressed and checked against its id; a tree
 * pack's second copy when the first is damaged (logged, for check); a bounded cache of tree
 * plaintexts for the walks that load the same subtrees again and again; snapshot objects
 * through the metadata cache of a remote repository. The read engine (read.c) reads many
 * blobs at once; this is the one-at-a-time path that everything else uses. */
#include "drrepo/repo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/chunklist.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/util.h"
#include "store_int.h"

int dr_repo_blob_get(struct dr_repo *r, struct dr_index_txn *txn, uint8_t type,
                     const struct dr_id *id, struct dr_buf *out)
{
    return dr_repo_blob_get_z(r, txn, r->z, type, id, out);
}

int dr_repo_chunk_get(struct dr_repo *r, struct dr_compressor *z, const struct dr_node *n,
                      uint32_t i, struct dr_buf *out)
{
    dr_buf_reset(out);
    int rc = dr_repo_blob_get_z(r, NULL, z ? z : r->z, DR_BLOB_DATA, &n->chunks[i], out);
    if (rc >= 0 && out->len != n->chunk_sizes[i]) {
        rc = dr_errorf(DR_ECORRUPT, "chunk %u has %zu bytes, the tree says %u", i, out->len,
                       n->chunk_sizes[i]);
    }
    return rc;
}

/* Tree packs read from their other copy. Blob reads may run on several threads (mount), so
 * the log has its own lock. */
struct dr_copy_log {
    pthread_mutex_t mu;
    struct dr_copy_damage *v;
    size_t n, alloc;
};

static void copy_log_free(struct dr_copy_log *l)
{
    if (!l) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].message);
    }
    free(l->v);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

size_t dr_repo_copy_damage(struct dr_repo *r, const struct dr_copy_damage **out)
{
    *out = r->copylog ? r->copylog->v : NULL;
    return r->copylog ? r->copylog->n : 0;
}

/* Records that one copy of pack failed with msg while the other served the read; warns the
 * first time per pack and copy. */
static void copy_log_add(struct dr_repo *r, const struct dr_id *pack, bool copy, const char *msg)
{
    if (!r->copylog) {
        struct dr_copy_log *l = dr_xcalloc(1, sizeof(*l));
        pthread_mutex_init(&l->mu, NULL);
        r->copylog = l; /* first use is on the opening thread (the open-time sync reads trees) */
    }
    struct dr_copy_log *l = r->copylog;
    pthread_mutex_lock(&l->mu);
    bool seen = false;
    for (size_t i = 0; i < l->n && !seen; i++) {
        seen = l->v[i].copy == copy && dr_id_eq(&l->v[i].pack, pack);
    }
    if (!seen) {
        DR_GROW(l->v, l->alloc, l->n + 1);
        l->v[l->n++] =
            (struct dr_copy_damage){.pack = *pack, .copy = copy, .message = dr_xstrdup(msg)};
    }
    pthread_mutex_unlock(&l->mu);
    if (!seen) {
        char *orig = dr_layout_pack_name(DR_BLOB_TREE, pack),
             *cp = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, pack);
        dr_log_warn("tree pack '%s' is damaged or missing (%s); its copy '%s' is used instead "
                    "(run 'drrepo check', then 'drrepo repair packs')",
                    copy ? cp : orig, msg, copy ? orig : cp);
        free(orig);
        free(cp);
    }
}

/* Reads the record of blob b from the pack object obj and decodes it into out. */
static int read_record(struct dr_repo *r, struct dr_compressor *z, const char *obj, uint8_t type,
                       const struct dr_id *id, const struct dr_index_blob *b, struct dr_buf *out)
{
    char hex[DR_ID_HEX_LEN + 1];
    struct dr_buf rec = DR_BUF_INIT(DR_BLOB_RECORD_MAX);
    size_t keep = out->len;
    bool cached = false;
    int rc = type == DR_BLOB_TREE
                 ? dr_objcache_get(r, obj, &b->pack, b->offset, b->clen, &rec, &cached)
                 : dr_backend_get(r->backend, obj, b->offset, b->clen, &rec);
    if (rc < 0) {
        rc = dr_error_wrap(rc, "blob %s", dr_id_hex(id, hex));
        goto out;
    }
    rc = dr_blob_decode(r->keys, z, type, id, (const uint8_t *)rec.buf, rec.len, b->ulen, out);
    if (rc < 0 && cached) {
        /* the local copy is damaged: it goes, and the repository's record is read */
        dr_buf_setlen(out, keep);
        dr_objcache_drop(r, obj);
        dr_error_clear();
        dr_buf_reset(&rec);
        rc = dr_backend_get(r->backend, obj, b->offset, b->clen, &rec);
        if (rc < 0) {
            rc = dr_error_wrap(rc, "blob %s", dr_id_hex(id, hex));
            goto out;
        }
        rc = dr_blob_decode(r->keys, z, type, id, (const uint8_t *)rec.buf, rec.len, b->ulen, out);
    }
    if (rc < 0) {
        dr_buf_setlen(out, keep);
        rc = dr_error_wrap(rc, "pack '%s'", obj);
    }
out:
    dr_buf_release(&rec);
    return rc;
}

int dr_repo_blob_get_z(struct dr_repo *r, struct dr_index_txn *txn, struct dr_compressor *z,
                       uint8_t type, const struct dr_id *id, struct dr_buf *out)
{
    struct dr_index_txn *own = NULL;
    char hex[DR_ID_HEX_LEN + 1];
    char *obj = NULL, *copy = NULL, *why = NULL;
    int rc = 0;
    if (!txn) {
        rc = dr_index_begin(r->index, false, &own);
        if (rc < 0) {
            return rc;
        }
        txn = own;
    }
    struct dr_index_blob b;
    rc = dr_index_blob_get(txn, id, &b);
    if (rc == DR_ENOENT) {
        rc = dr_errorf(DR_ENOENT, "blob %s is not in any pack of the index", dr_id_hex(id, hex));
        goto out;
    }
    if (rc < 0) {
        goto out;
    }
    if (b.type != type) {
        rc = dr_errorf(DR_ECORRUPT, "blob %s: the index says type %u, expected %u",
                       dr_id_hex(id, hex), b.type, type);
        goto out;
    }
    if (own) {
        /* the lookup is done: do not hold a reader slot during the read and decode */
        dr_index_abort(own);
        own = NULL;
    }
    obj = dr_layout_pack_name(b.type, &b.pack);
    rc = read_record(r, z, obj, type, id, &b, out);
    if (rc >= 0 || type != DR_BLOB_TREE) {
        goto out;
    }
    /* a tree pack has a copy (format/repository.md "Tree pack copies"): a missing, short or
     * damaged original is read from it. EIO too: a bad sector under one file is damage that
     * the other file does not share. */
    why = dr_xstrdup(dr_error_msg());
    int orc = rc;
    copy = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, &b.pack);
    rc = read_record(r, z, copy, type, id, &b, out);
    if (rc >= 0) {
        copy_log_add(r, &b.pack, false, why);
    } else if (rc == DR_ENOENT) {
        rc = dr_errorf(orc, "%s (and the pack has no copy '%s')", why, copy);
    } else {
        rc = dr_errorf(orc, "%s; its copy is damaged too: %s", why, dr_error_msg());
    }
out:
    free(why);
    free(copy);
    free(obj);
    if (own) {
        dr_index_abort(own);
    }
    return rc;
}

/* A direct-mapped cache of the plaintexts of blobs of type tree: trees and chunk lists. Walks
 * over many snapshots (forget, check, prune's mark, sync) load the same unchanged subtrees, and
 * the same chains of chunk lists, again and again; each load is a read, a decryption and a
 * decompression. Bounded by slot count and total bytes, so memory stays flat. */
#define TREE_CACHE_SLOTS 4096
#define TREE_CACHE_BYTES (32u << 20)
#define TREE_CACHE_ENTRY_MAX (256u << 10)

struct dr_tree_cache {
    struct tc_slot {
        struct dr_id id;
        uint8_t *data;
        size_t len;
    } slot[TREE_CACHE_SLOTS];
    size_t bytes;
};

static void tree_cache_free(struct dr_tree_cache *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < TREE_CACHE_SLOTS; i++) {
        free(c->slot[i].data);
    }
    free(c);
}

static struct tc_slot *tree_cache_slot(struct dr_repo *r, const struct dr_id *id)
{
    if (!r->trees) {
        r->trees = dr_xcalloc(1, sizeof(*r->trees));
    }
    return &r->trees->slot[dr_get_u32le(id->b) % TREE_CACHE_SLOTS];
}

static void tree_cache_put(struct dr_repo *r, const struct dr_id *id, const char *data, size_t len)
{
    struct tc_slot *s = tree_cache_slot(r, id);
    if (len > TREE_CACHE_ENTRY_MAX) {
        return;
    }
    r->trees->bytes -= s->len;
    free(s->data);
    s->data = NULL;
    s->len = 0;
    if (r->trees->bytes + len > TREE_CACHE_BYTES) {
        return;
    }
    s->id = *id;
    s->data = dr_xmalloc(len + 1);
    memcpy(s->data, data, len);
    s->len = len;
    r->trees->bytes += len;
}

/* The plaintext of the tree-type blob id into raw (empty), through the cache. */
static int tree_blob_get(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_id *id,
                         struct dr_buf *raw)
{
    struct tc_slot *cs = tree_cache_slot(r, id);
    if (cs->data && dr_id_eq(&cs->id, id)) {
        /* a cached plaintext was authenticated and its id checked when it was first read */
        return dr_buf_add(raw, cs->data, cs->len);
    }
    int rc = dr_repo_blob_get(r, txn, DR_BLOB_TREE, id, raw);
    if (rc >= 0) {
        tree_cache_put(r, id, raw->buf, raw->len);
    }
    return rc;
}

/* Reads the chain of chunk lists that n names, head first, into chain (at most
 * DR_CHUNKLIST_DEPTH_MAX + 1: each base has the depth below its list's, down to 0). */
static int list_chain(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_node *n,
                      struct dr_chunklist *chain, uint32_t *out_n)
{
    struct dr_buf raw = DR_BUF_INIT(DR_BLOB_MAX);
    struct dr_id id = n->list;
    char hex[DR_ID_HEX_LEN + 1];
    int rc = 0;
    uint32_t k = 0;
    for (;;) {
        dr_buf_reset(&raw);
        rc = tree_blob_get(r, txn, &id, &raw);
        if (rc >= 0) {
            rc = dr_chunklist_decode((const uint8_t *)raw.buf, raw.len, &chain[k]);
        }
        if (rc >= 0) {
            k++;
            if (k > 1 && chain[k - 1].depth + 1 != chain[k - 2].depth) {
                rc = dr_errorf(DR_ECORRUPT, "its base has depth %u under a list of depth %u",
                               chain[k - 1].depth, chain[k - 2].depth);
            }
        }
        if (rc < 0) {
            rc = dr_error_wrap(rc, "chunk list %s", dr_id_hex(&id, hex));
            break;
        }
        if (chain[k - 1].depth == 0) {
            break;
        }
        id = chain[k - 1].base;
    }
    dr_buf_release(&raw);
    *out_n = k;
    return rc;
}

/* Gives a file node with a chunk list (DR_NODE_F_LISTED) its chunks: the chain's full list at
 * the bottom, each change applied on top, and the list blobs read, which the node references. */
static int expand_list(struct dr_repo *r, struct dr_index_txn *txn, struct dr_node *n)
{
    struct dr_chunklist chain[DR_CHUNKLIST_DEPTH_MAX + 1];
    uint32_t k = 0;
    int rc = list_chain(r, txn, n, chain, &k);
    for (uint32_t i = k; rc >= 0 && i-- > 0;) {
        rc = dr_chunklist_apply(&chain[i], &n->chunks, &n->chunk_sizes, &n->nchunks);
        if (rc < 0) {
            char hex[DR_ID_HEX_LEN + 1];
            rc = dr_error_wrap(rc, "chunk list %s",
                               dr_id_hex(i ? &chain[i - 1].base : &n->list, hex));
        }
    }
    if (rc >= 0 && chain[0].total != n->size) {
        rc = dr_errorf(DR_ECORRUPT, "chunk list holds %llu bytes, the file %llu",
                       (unsigned long long)chain[0].total, (unsigned long long)n->size);
    }
    if (rc >= 0) {
        n->list_depth = chain[0].depth;
        n->nlists = k;
        n->lists = dr_xcalloc(k, sizeof(*n->lists));
        n->lists[0] = n->list;
        for (uint32_t i = 1; i < k; i++) {
            n->lists[i] = chain[i - 1].base;
        }
    }
    for (uint32_t i = 0; i < k; i++) {
        dr_chunklist_release(&chain[i]);
    }
    return rc < 0 ? dr_error_wrap(rc, "file '%s'", n->name) : 0;
}

/* The one tree loader: salvage keeps a file whose chunk list is damaged or missing unexpanded
 * (dr_repo_tree_load_salvage) instead of failing the tree. */
static int tree_load(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_id *id,
                     struct dr_tree *t, bool salvage)
{
    char hex[DR_ID_HEX_LEN + 1];
    struct dr_buf raw = DR_BUF_INIT(DR_TREE_MAX);
    int rc = tree_blob_get(r, txn, id, &raw);
    if (rc < 0) {
        goto out;
    }
    rc = dr_tree_decode((const uint8_t *)raw.buf, raw.len, t);
    for (size_t i = 0; rc >= 0 && i < t->n; i++) {
        struct dr_node *n = &t->nodes[i];
        if (n->flags & DR_NODE_F_LISTED) {
            rc = expand_list(r, txn, n);
        }
        if (rc < 0 && salvage && rc != DR_EIO) {
            dr_log_warn("tree %s: %s; the file's content cannot be listed", dr_id_hex(id, hex),
                        dr_error_msg());
            dr_error_clear();
            free(n->chunks);
            free(n->chunk_sizes);
            n->chunks = NULL;
            n->chunk_sizes = NULL;
            n->nchunks = 0;
            rc = 0;
        }
    }
    if (rc < 0) {
        dr_tree_release(t);
        rc = dr_error_wrap(rc, "tree %s", dr_id_hex(id, hex));
    }
out:
    dr_buf_release(&raw);
    return rc;
}

int dr_repo_tree_load(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_id *id,
                      struct dr_tree *t)
{
    return tree_load(r, txn, id, t, false);
}

int dr_repo_tree_load_salvage(struct dr_repo *r, struct dr_index_txn *txn, const struct dr_id *id,
                              struct dr_tree *t)
{
    return tree_load(r, txn, id, t, true);
}

int dr_repo_snapshot_load(struct dr_repo *r, const struct dr_id *id, struct dr_snapshot *s)
{
    char hex[DR_ID_HEX_LEN + 1];
    char *obj = dr_layout_name_dup(DR_LAYOUT_SNAPSHOT, id);
    dr_id_hex(id, hex);
    struct dr_buf raw = DR_BUF_INIT(DR_SNAPSHOT_MAX);
    bool cached = false;
    int rc = dr_objcache_get(r, obj, id, 0, UINT64_MAX, &raw, &cached);
    if (rc == DR_ENOENT) {
        rc = dr_errorf(DR_ENOENT, "snapshot %s does not exist", hex);
    }
    if (rc >= 0) {
        rc = dr_snapshot_decode(r->keys, id, (const uint8_t *)raw.buf, raw.len, s);
    }
    if (rc < 0 && cached) {
        /* the local copy is damaged: it goes, and the repository's object is read */
        dr_objcache_drop(r, obj);
        dr_error_clear();
        dr_buf_reset(&raw);
        rc = dr_backend_get(r->backend, obj, 0, UINT64_MAX, &raw);
        if (rc >= 0) {
            rc = dr_snapshot_decode(r->keys, id, (const uint8_t *)raw.buf, raw.len, s);
        }
    }
    free(obj);
    dr_buf_release(&raw);
    return rc;
}

void dr_repo_reads_free(struct dr_repo *r)
{
    tree_cache_free(r->trees);
    copy_log_free(r->copylog);
    r->trees = NULL;
    r->copylog = NULL;
}
