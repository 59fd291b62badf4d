/* check.c: `drrepo check [--read-data]`: proves that every snapshot is restorable.
 *
 * Structure (no data read): every snapshot object opens; every tree it reaches decodes; every
 * blob a tree names is in the index; every pack the index names exists with the size it
 * expects. --read-data also reads every pack, checks its name against its content hash and
 * authenticates, decompresses and re-hashes every blob in it. Damage is reported with the
 * object and the snapshot and path it affects; the exit code says "damaged" (4). */
#include "cmd_int.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/util.h"

struct check {
    struct dr_ctx *ctx;
    struct dr_index_txn *txn; /* write txn: the scratch set dedups trees and blobs */
    const char *snap;         /* short id of the snapshot being walked */
    uint64_t errors, trees, blobs, packs, bytes;
};

static void damage(struct check *c, const char *fmt, ...) DR_PRINTF(2, 3);
static void damage(struct check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "damage: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    c->errors++;
}

static int check_tree(struct check *c, const struct dr_id *tree, const char *path, unsigned depth)
{
    char hex[DR_ID_HEX_LEN + 1];
    if (depth > 4096) {
        damage(c, "snapshot %s: '%s': trees nest too deep", c->snap, path);
        return 0;
    }
    int rc = dr_index_scratch_add(c->txn, tree);
    if (rc <= 0) {
        return rc;
    }
    c->trees++;
    struct dr_tree t;
    dr_tree_init(&t);
    rc = dr_repo_tree_load(c->ctx->r, c->txn, tree, &t);
    if (rc < 0) {
        if (rc == DR_EIO) {
            return rc;
        }
        damage(c, "snapshot %s: directory '%s' (tree %.16s) cannot be read: %s", c->snap,
               *path ? path : "/", dr_id_hex(tree, hex), dr_error_msg());
        dr_error_clear();
        return 0;
    }
    for (size_t i = 0; rc >= 0 && i < t.n; i++) {
        const struct dr_node *n = &t.nodes[i];
        char *p = dr_xasprintf("%s/%s", path, n->name);
        if (n->type == DR_NODE_DIR) {
            rc = check_tree(c, &n->subtree, p, depth + 1);
        }
        for (uint32_t k = 0; rc >= 0 && k < n->nchunks; k++) {
            rc = dr_index_scratch_add(c->txn, &n->chunks[k]);
            if (rc != 1) {
                continue;
            }
            c->blobs++;
            struct dr_index_blob b;
            rc = dr_index_blob_get(c->txn, &n->chunks[k], &b);
            if (rc == DR_ENOENT) {
                dr_error_clear();
                damage(c, "snapshot %s: file '%s': data blob %.16s is missing", c->snap, p,
                       dr_id_hex(&n->chunks[k], hex));
                rc = 0;
            }
        }
        free(p);
    }
    dr_tree_release(&t);
    return rc < 0 ? rc : 0;
}

static int pack_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *p)
{
    struct check *c = arg;
    char *obj = dr_pack_object_name(p->type, id);
    uint64_t size;
    c->packs++;
    int rc = dr_backend_stat(c->ctx->r->backend, obj, &size);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        damage(c, "pack '%s' is missing", obj);
        rc = 0;
    } else if (rc >= 0 && size != p->size) {
        damage(c, "pack '%s' has %llu bytes, the index expects %llu", obj, (unsigned long long)size,
               (unsigned long long)p->size);
    }
    free(obj);
    return rc < 0 ? rc : 0;
}

struct pack_list {
    struct dr_id *ids;
    uint8_t *types;
    size_t n, alloc, talloc;
};

static int collect_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *p)
{
    struct pack_list *pl = arg;
    DR_GROW(pl->ids, pl->alloc, pl->n + 1);
    DR_GROW(pl->types, pl->talloc, pl->n + 1);
    pl->ids[pl->n] = *id;
    pl->types[pl->n] = p->type;
    pl->n++;
    return 0;
}

/* Reads one whole pack and verifies it byte for byte. */
static int read_pack(struct check *c, const struct dr_id *id, uint8_t type)
{
    struct dr_repo *r = c->ctx->r;
    char *obj = dr_pack_object_name(type, id);
    struct dr_buf data = DR_BUF_INIT((size_t)DR_PACK_FILE_MAX);
    struct dr_buf plain = DR_BUF_INIT(DR_BLOB_MAX);
    struct dr_pack_entry *e = NULL;
    size_t n = 0;
    int rc = dr_backend_get(r->backend, obj, 0, UINT64_MAX, &data);
    if (rc < 0) {
        if (rc == DR_EIO) {
            goto out;
        }
        damage(c, "%s", dr_error_msg());
        dr_error_clear();
        rc = 0;
        goto out;
    }
    c->bytes += data.len;
    struct dr_id got;
    dr_crypto_hash(data.buf, data.len, &got);
    if (!dr_id_eq(&got, id)) {
        damage(c, "pack '%s': content does not match its name (bit rot or a renamed file)", obj);
    }
    const uint8_t *d = (const uint8_t *)data.buf;
    uint8_t ptype;
    uint32_t hlen;
    rc = dr_pack_parse_preamble(obj, d, data.len, &ptype);
    if (rc >= 0) {
        rc = dr_pack_parse_trailer(obj, d + data.len - DR_MIN(data.len, DR_PACK_TRAILER_LEN),
                                   DR_MIN(data.len, DR_PACK_TRAILER_LEN), data.len, &hlen);
    }
    if (rc >= 0) {
        rc = dr_pack_parse_header(r->keys, obj, d, d + data.len - DR_PACK_TRAILER_LEN - hlen, hlen,
                                  data.len, &e, &n);
    }
    if (rc < 0) {
        damage(c, "%s", dr_error_msg());
        dr_error_clear();
        rc = 0;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        dr_buf_reset(&plain);
        int brc = dr_blob_decode(r->keys, r->z, e[i].type, &e[i].id, d + e[i].offset, e[i].clen,
                                 e[i].ulen, &plain);
        if (brc < 0) {
            damage(c, "pack '%s': %s", obj, dr_error_msg());
            dr_error_clear();
        }
    }
out:
    free(e);
    free(obj);
    dr_buf_release(&data);
    dr_buf_release(&plain);
    return rc;
}

int dr_cmd_check(struct dr_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"read-data", no_argument, NULL, 'd'}, {0, 0, 0, 0}};
    bool read_data = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'd') {
            return dr_cmd_usage(ctx, "unknown option");
        }
        read_data = true;
    }
    int rc = dr_cmd_open(ctx);
    if (rc < 0) {
        return rc;
    }
    struct check c = {.ctx = ctx};
    struct dr_snap_entry *v = NULL;
    size_t n = 0, bad = 0;
    rc = dr_repo_snapshot_list(ctx->r, &v, &n, &bad);
    if (rc < 0) {
        return rc;
    }
    c.errors += bad;
    rc = dr_index_begin(ctx->r->index, true, &c.txn);
    if (rc >= 0) {
        rc = dr_index_scratch_clear(c.txn);
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        char sid[9];
        dr_short_id(&v[i].id, sid);
        c.snap = sid;
        rc = check_tree(&c, &v[i].snap.tree, "", 0);
    }
    if (rc >= 0) {
        rc = dr_index_scratch_clear(c.txn);
    }
    if (rc >= 0) {
        rc = dr_index_pack_foreach(c.txn, pack_cb, &c);
    }
    struct pack_list pl = {0};
    if (rc >= 0 && read_data) {
        rc = dr_index_pack_foreach(c.txn, collect_cb, &pl);
    }
    if (c.txn) {
        int crc = dr_index_commit(c.txn);
        rc = rc < 0 ? rc : crc;
    }
    uint64_t packs_listed = c.packs;
    for (size_t i = 0; rc >= 0 && i < pl.n; i++) {
        rc = read_pack(&c, &pl.ids[i], pl.types[i]);
        if (ctx->progress) {
            fprintf(stderr, "\rcheck: read %zu/%zu packs", i + 1, pl.n);
        }
    }
    if (ctx->progress && pl.n) {
        fprintf(stderr, "\n");
    }
    free(pl.ids);
    free(pl.types);
    dr_snap_list_free(v, n);
    if (rc < 0) {
        return rc;
    }
    if (!ctx->quiet) {
        printf("%zu snapshots, %llu trees, %llu data blobs, %llu packs checked%s\n", n,
               (unsigned long long)c.trees, (unsigned long long)c.blobs,
               (unsigned long long)packs_listed, read_data ? " (all data read)" : "");
    }
    if (c.errors) {
        return dr_errorf(DR_EDAMAGED, "%llu problems found (see above)",
                         (unsigned long long)c.errors);
    }
    if (!ctx->quiet) {
        printf("no errors were found\n");
    }
    return 0;
}
