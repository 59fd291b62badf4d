/* records.c: the blob, pack and snapshot records of the index: codecs, get, put, delete,
 * reference counts, and iteration. */
#include "index_int.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/reader.h"

/* ---- record codecs --------------------------------------------------------------------- */

static void blob_encode(uint8_t v[BLOB_VAL_LEN], const struct dr_index_blob *b)
{
    memcpy(v, b->pack.b, DR_ID_LEN);
    v[32] = b->type;
    dr_put_u32le(v + 33, b->offset);
    dr_put_u32le(v + 37, b->clen);
    dr_put_u32le(v + 41, b->ulen);
    dr_put_u32le(v + 45, b->refs);
}

static int blob_decode(const struct dr_index *idx, const void *key, size_t keylen, const MDB_val *v,
                       struct dr_index_blob *out)
{
    struct dr_reader r;
    struct dr_index_blob b;
    dr_rd_init(&r, v->mv_data, v->mv_size);
    dr_rd_copy(&r, b.pack.b, DR_ID_LEN);
    b.type = dr_rd_u8(&r);
    b.offset = dr_rd_u32le(&r);
    b.clen = dr_rd_u32le(&r);
    b.ulen = dr_rd_u32le(&r);
    b.refs = dr_rd_u32le(&r);
    if (keylen != DR_ID_LEN || v->mv_size != BLOB_VAL_LEN || !dr_rd_ok(&r)) {
        return dr_index_record_corrupt(idx, "blob", key, keylen);
    }
    *out = b;
    return 0;
}

static void pack_encode(uint8_t v[PACK_VAL_LEN], const struct dr_index_pack *p)
{
    v[0] = p->type;
    dr_put_u64le(v + 1, p->size);
    dr_put_u32le(v + 9, p->count);
    dr_put_u64le(v + 13, p->live_bytes);
    dr_put_u64le(v + 21, p->dead_bytes);
    dr_put_u64le(v + 29, (uint64_t)p->verified_ns);
    v[37] = p->verified_ok;
}

static int pack_decode(const struct dr_index *idx, const void *key, size_t keylen, const MDB_val *v,
                       struct dr_index_pack *out)
{
    struct dr_reader r;
    struct dr_index_pack p;
    dr_rd_init(&r, v->mv_data, v->mv_size);
    p.type = dr_rd_u8(&r);
    p.size = dr_rd_u64le(&r);
    p.count = dr_rd_u32le(&r);
    p.live_bytes = dr_rd_u64le(&r);
    p.dead_bytes = dr_rd_u64le(&r);
    p.verified_ns = (int64_t)dr_rd_u64le(&r);
    p.verified_ok = dr_rd_u8(&r);
    if (keylen != DR_ID_LEN || v->mv_size != PACK_VAL_LEN || !dr_rd_ok(&r) || p.verified_ok > 1) {
        return dr_index_record_corrupt(idx, "pack", key, keylen);
    }
    *out = p;
    return 0;
}

static void snap_encode(uint8_t v[SNAP_VAL_LEN], const struct dr_index_snap *s)
{
    dr_put_u64le(v, (uint64_t)s->time_ns);
    memcpy(v + 8, s->tree.b, DR_ID_LEN);
    v[40] = s->counted;
    memcpy(v + 41, s->origin.b, DR_ID_LEN);
}

static int snap_decode(const struct dr_index *idx, const void *key, size_t keylen, const MDB_val *v,
                       struct dr_index_snap *out)
{
    struct dr_reader r;
    struct dr_index_snap s;
    dr_rd_init(&r, v->mv_data, v->mv_size);
    s.time_ns = (int64_t)dr_rd_u64le(&r);
    dr_rd_copy(&r, s.tree.b, DR_ID_LEN);
    s.counted = dr_rd_u8(&r);
    dr_rd_copy(&r, s.origin.b, DR_ID_LEN);
    if (keylen != DR_ID_LEN || v->mv_size != SNAP_VAL_LEN || !dr_rd_ok(&r) || s.counted > 1) {
        return dr_index_record_corrupt(idx, "snapshot", key, keylen);
    }
    *out = s;
    return 0;
}

/* ---- blobs ----------------------------------------------------------------------------- */

/* 1 found, 0 absent (no message), < 0 error. */
static int blob_lookup(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_blob *out)
{
    MDB_val v;
    int rc = dr_index_db_get(t, DB_BLOBS, id->b, DR_ID_LEN, &v);
    if (rc <= 0) {
        return rc;
    }
    rc = blob_decode(t->idx, id->b, DR_ID_LEN, &v, out);
    return rc < 0 ? rc : 1;
}

static int blob_store(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_blob *b)
{
    uint8_t v[BLOB_VAL_LEN];
    blob_encode(v, b);
    return dr_index_db_put(t, DB_BLOBS, id->b, DR_ID_LEN, v, sizeof(v));
}

int dr_index_blob_get(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_blob *out)
{
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = blob_lookup(t, id, out);
    if (rc == 0) {
        return dr_index_not_found("blob", id);
    }
    return dr_index_write_result(t, rc < 0 ? rc : 0);
}

int dr_index_blob_put(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_blob *b)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    return dr_index_write_result(t, blob_store(t, id, b));
}

int dr_index_blob_del(struct dr_index_txn *t, const struct dr_id *id)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_db_del(t, DB_BLOBS, id->b, DR_ID_LEN);
    if (rc == 0) {
        return dr_index_not_found("blob", id);
    }
    return dr_index_write_result(t, rc < 0 ? rc : 0);
}

/* ---- packs ----------------------------------------------------------------------------- */

static int pack_lookup(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_pack *out)
{
    MDB_val v;
    int rc = dr_index_db_get(t, DB_PACKS, id->b, DR_ID_LEN, &v);
    if (rc <= 0) {
        return rc;
    }
    rc = pack_decode(t->idx, id->b, DR_ID_LEN, &v, out);
    return rc < 0 ? rc : 1;
}

static int pack_store(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_pack *p)
{
    uint8_t v[PACK_VAL_LEN];
    pack_encode(v, p);
    return dr_index_db_put(t, DB_PACKS, id->b, DR_ID_LEN, v, sizeof(v));
}

int dr_index_pack_get(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_pack *out)
{
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = pack_lookup(t, id, out);
    if (rc == 0) {
        return dr_index_not_found("pack", id);
    }
    return dr_index_write_result(t, rc < 0 ? rc : 0);
}

int dr_index_pack_put(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_pack *p)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    return dr_index_write_result(t, pack_store(t, id, p));
}

int dr_index_pack_del(struct dr_index_txn *t, const struct dr_id *id)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_db_del(t, DB_PACKS, id->b, DR_ID_LEN);
    if (rc == 0) {
        return dr_index_not_found("pack", id);
    }
    return dr_index_write_result(t, rc < 0 ? rc : 0);
}

/* Moves clen between the pack's dead and live bytes after a refcount crossed 0. Returns the new
 * count (at most INT32_MAX). */
static int blob_ref(struct dr_index_txn *t, const struct dr_id *id, int delta)
{
    char hex[DR_ID_HEX_LEN + 1];
    struct dr_index_blob b;
    struct dr_index_pack p;
    int rc = blob_lookup(t, id, &b);
    if (rc == 0) {
        return dr_index_not_found("blob", id);
    }
    if (rc < 0) {
        return rc;
    }
    if (delta < 0 && b.refs == 0) {
        return dr_index_damaged(t->idx->dir, "the refcount of blob %s would go below 0",
                                dr_id_hex(id, hex));
    }
    if (delta > 0 && b.refs == UINT32_MAX) {
        return dr_index_damaged(t->idx->dir, "the refcount of blob %s overflows",
                                dr_id_hex(id, hex));
    }
    b.refs = delta > 0 ? b.refs + 1 : b.refs - 1;
    bool to_live = delta > 0 && b.refs == 1;
    bool to_dead = delta < 0 && b.refs == 0;
    if (to_live || to_dead) {
        rc = pack_lookup(t, &b.pack, &p);
        if (rc == 0) {
            char phex[DR_ID_HEX_LEN + 1];
            return dr_errorf(DR_ENOENT, "pack %s of blob %s is not in the index",
                             dr_id_hex(&b.pack, phex), dr_id_hex(id, hex));
        }
        if (rc < 0) {
            return rc;
        }
        uint64_t *from = to_live ? &p.dead_bytes : &p.live_bytes;
        uint64_t *to = to_live ? &p.live_bytes : &p.dead_bytes;
        if (*from < b.clen) {
            return dr_index_damaged(t->idx->dir,
                                    "the record of pack %s has inconsistent live/dead bytes",
                                    dr_id_hex(&b.pack, hex));
        }
        *from -= b.clen;
        *to += b.clen;
        rc = pack_store(t, &b.pack, &p);
        if (rc < 0) {
            return rc;
        }
    }
    rc = blob_store(t, id, &b);
    return rc < 0 ? rc : b.refs > INT32_MAX ? INT32_MAX : (int)b.refs;
}

int dr_index_blob_ref(struct dr_index_txn *t, const struct dr_id *id, int delta)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (delta != 1 && delta != -1) {
        return dr_errorf(DR_EUSAGE, "blob refcount delta must be +1 or -1, not %d", delta);
    }
    /* Unlike a delete, a missing blob here means the counting is wrong: fail the txn. */
    return dr_index_txn_fail(t, blob_ref(t, id, delta));
}

static int pack_add(struct dr_index_txn *t, const struct dr_id *pack_id, uint8_t type,
                    uint64_t size, const struct dr_pack_entry *entries, size_t n)
{
    struct dr_index_pack p;
    int rc = pack_lookup(t, pack_id, &p);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    p = (struct dr_index_pack){.type = type, .size = size, .count = (uint32_t)n};
    for (size_t i = 0; i < n; i++) {
        const struct dr_pack_entry *e = &entries[i];
        struct dr_index_blob b;
        rc = blob_lookup(t, &e->id, &b);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            b = (struct dr_index_blob){
                .pack = *pack_id,
                .type = e->type,
                .offset = e->offset,
                .clen = e->clen,
                .ulen = e->ulen,
                .refs = 0,
            };
            rc = blob_store(t, &e->id, &b);
            if (rc < 0) {
                return rc;
            }
            p.dead_bytes += e->clen;
        } else if (dr_id_eq(&b.pack, pack_id) && b.offset == e->offset && b.refs > 0) {
            /* a blob record left behind by a pack record deleted alone: it is this very
             * record and still referenced */
            p.live_bytes += e->clen;
        } else {
            /* a copy indexed elsewhere (or earlier in this pack): a duplicate */
            p.dead_bytes += e->clen;
        }
    }
    return pack_store(t, pack_id, &p);
}

int dr_index_pack_add(struct dr_index_txn *t, const struct dr_id *pack_id, uint8_t type,
                      uint64_t size, const struct dr_pack_entry *entries, size_t n)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (n > DR_PACK_ENTRIES_MAX) {
        return dr_errorf(DR_EUSAGE, "pack with %zu entries (at most %u)", n, DR_PACK_ENTRIES_MAX);
    }
    return dr_index_txn_fail(t, pack_add(t, pack_id, type, size, entries, n));
}

static int pack_remove(struct dr_index_txn *t, const struct dr_id *pack_id,
                       const struct dr_pack_entry *entries, size_t n)
{
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        struct dr_index_blob b;
        int rc = blob_lookup(t, &entries[i].id, &b);
        if (rc < 0) {
            return rc;
        }
        /* only the copy indexed in this pack: a duplicate's blob record names another pack */
        if (rc == 1 && dr_id_eq(&b.pack, pack_id)) {
            rc = dr_index_db_del(t, DB_BLOBS, entries[i].id.b, DR_ID_LEN);
            if (rc < 0) {
                return rc;
            }
            removed++;
        }
    }
    int rc = dr_index_db_del(t, DB_PACKS, pack_id->b, DR_ID_LEN);
    return rc < 0 ? rc : removed;
}

int dr_index_pack_remove(struct dr_index_txn *t, const struct dr_id *pack_id,
                         const struct dr_pack_entry *entries, size_t n)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    if (n > DR_PACK_ENTRIES_MAX) {
        return dr_errorf(DR_EUSAGE, "pack with %zu entries (at most %u)", n, DR_PACK_ENTRIES_MAX);
    }
    return dr_index_txn_fail(t, pack_remove(t, pack_id, entries, n));
}

/* ---- snapshots ------------------------------------------------------------------------- */

int dr_index_snap_get(struct dr_index_txn *t, const struct dr_id *id, struct dr_index_snap *out)
{
    MDB_val v;
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_db_get(t, DB_SNAPS, id->b, DR_ID_LEN, &v);
    if (rc == 0) {
        return dr_index_not_found("snapshot", id);
    }
    if (rc > 0) {
        rc = snap_decode(t->idx, id->b, DR_ID_LEN, &v, out);
    }
    return dr_index_write_result(t, rc);
}

int dr_index_snap_put(struct dr_index_txn *t, const struct dr_id *id, const struct dr_index_snap *s)
{
    uint8_t v[SNAP_VAL_LEN];
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    snap_encode(v, s);
    return dr_index_write_result(t, dr_index_db_put(t, DB_SNAPS, id->b, DR_ID_LEN, v, sizeof(v)));
}

int dr_index_snap_del(struct dr_index_txn *t, const struct dr_id *id)
{
    int rc = dr_index_txn_check(t, true);
    if (rc < 0) {
        return rc;
    }
    rc = dr_index_db_del(t, DB_SNAPS, id->b, DR_ID_LEN);
    if (rc == 0) {
        return dr_index_not_found("snapshot", id);
    }
    return dr_index_write_result(t, rc < 0 ? rc : 0);
}

/* ---- iteration ------------------------------------------------------------------------- */

/* Decodes one record of db and hands it to the matching callback. */
static int walk_one(const struct dr_index *idx, int db, const struct walk_cbs *cbs,
                    const MDB_val *k, const MDB_val *v)
{
    struct dr_id id;
    int rc;
    if (k->mv_size == DR_ID_LEN) {
        memcpy(id.b, k->mv_data, DR_ID_LEN);
    }
    if (db == DB_BLOBS) {
        struct dr_index_blob b;
        rc = blob_decode(idx, k->mv_data, k->mv_size, v, &b);
        return rc < 0 ? rc : cbs->blob(cbs->arg, &id, &b);
    }
    if (db == DB_PACKS) {
        struct dr_index_pack p;
        rc = pack_decode(idx, k->mv_data, k->mv_size, v, &p);
        return rc < 0 ? rc : cbs->pack(cbs->arg, &id, &p);
    }
    struct dr_index_snap s;
    rc = snap_decode(idx, k->mv_data, k->mv_size, v, &s);
    return rc < 0 ? rc : cbs->snap(cbs->arg, &id, &s);
}

int dr_index_walk(struct dr_index_txn *t, int db, const struct walk_cbs *cbs)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = dr_index_txn_check(t, false);
    if (rc < 0) {
        return rc;
    }
    int mrc = LMDB(mdb_cursor_open(t->txn, t->idx->dbi[db], &cur));
    if (mrc) {
        cur = NULL;
        rc = dr_index_txn_lmdb_err(t, mrc, "mdb_cursor_open");
        goto out;
    }
    for (mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_FIRST)); mrc == 0;
         mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) {
        rc = walk_one(t->idx, db, cbs, &k, &v);
        if (rc < 0) {
            goto out;
        }
    }
    rc = mrc == MDB_NOTFOUND ? 0 : dr_index_txn_lmdb_err(t, mrc, "mdb_cursor_get");
out:
    if (cur) {
        mdb_cursor_close(cur);
    }
    /* a callback's own error is the caller's business; the txn fails only for index errors */
    return rc;
}

int dr_index_blob_foreach(struct dr_index_txn *t, dr_index_blob_cb cb, void *arg)
{
    struct walk_cbs cbs = {.blob = cb, .arg = arg};
    return dr_index_walk(t, DB_BLOBS, &cbs);
}

int dr_index_pack_foreach(struct dr_index_txn *t, dr_index_pack_cb cb, void *arg)
{
    struct walk_cbs cbs = {.pack = cb, .arg = arg};
    return dr_index_walk(t, DB_PACKS, &cbs);
}

int dr_index_snap_foreach(struct dr_index_txn *t, dr_index_snap_cb cb, void *arg)
{
    struct walk_cbs cbs = {.snap = cb, .arg = arg};
    return dr_index_walk(t, DB_SNAPS, &cbs);
}
