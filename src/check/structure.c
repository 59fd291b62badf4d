/* structure.c: the structure pass of check: config, key files, the layout of the
 * repository, each pack header against the index, the two copies of tree packs. */
#include "check_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/interrupt.h"
#include "drrepo/layout.h"
#include "drrepo/lock.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "drrepo/repo.h"
#include "drrepo/walk.h"

/* Key files: each copy must hash to its name, and the intact bytes must parse. A damaged copy
 * is named with what recovers it: the other copy (`repair keys`), or for a key file with no
 * intact copy another password (`key remove`) or a backup. */
int dr_check_keys(struct chk *c)
{
    struct dr_keyslot *v = NULL;
    size_t n = 0;
    bool copies = dr_repo_config(c->r)->version >= 2;
    int rc = dr_repo_keyslots(c->r, true, &v, &n);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        const struct dr_keyslot *s = &v[i];
        c->rep->st.keys++;
        if (s->state != DR_COPY_OK) {
            if (s->bytes.len) {
                dr_check_problem(c->rep, DR_PROB_KEYFILE, s->name,
                                 "%s; 'drrepo repair keys' rewrites it from '%s'", s->why,
                                 s->copy_name);
            } else if (!copies) {
                dr_check_problem(
                    c->rep, DR_PROB_KEYFILE, s->name,
                    "%s, and format version 1 keeps no copy of it: if another password "
                    "opens the repository, remove it with 'drrepo key remove', else restore "
                    "it from a backup of the repository",
                    s->why);
            } else {
                dr_check_problem(
                    c->rep, DR_PROB_KEYFILE, s->name,
                    "%s, and its copy '%s' %s: if another password opens the repository, "
                    "remove it with 'drrepo key remove', else restore it from a backup of "
                    "the repository",
                    s->why, s->copy_name, s->copy_why);
            }
        }
        if (copies && s->copy_state != DR_COPY_OK && s->state == DR_COPY_OK) {
            dr_check_problem(c->rep, DR_PROB_KEYFILE, s->copy_name,
                             "%s; 'drrepo repair keys' rewrites it from '%s'", s->copy_why,
                             s->name);
        }
        /* a key file whose details do not open under this repository's key was not written
         * by a holder of the key: planted (a hostile file costs every open a key derivation,
         * within the budget of format/crypto.md), or changed and renamed to its new hash */
        struct dr_keyfile_info info;
        if (s->bytes.len && dr_keyfile_details(dr_repo_keys(c->r), &dr_repo_config(c->r)->repo_id,
                                               s->bytes.buf, s->bytes.len, &info) < 0) {
            dr_check_problem(c->rep, DR_PROB_KEYFILE, s->name,
                             "%s; remove it with 'drrepo key remove' if you did not add it",
                             dr_error_msg());
        }
        dr_error_clear();
    }
    dr_keyslots_free(v, n);
    return 0;
}

/* The message of a config error without its "config 'NAME' " prefix (the damage line names
 * the object already). */
static const char *config_why(const char *name, const char *msg)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "config '%s' ", name);
    return strncmp(msg, prefix, strlen(prefix)) == 0 ? msg + strlen(prefix) : msg;
}

/* The config: every copy must check and decode, and the two copies must be the same bytes. */
int dr_check_config(struct chk *c)
{
    static const char *names[2] = {DR_OBJ_CONFIG, DR_OBJ_CONFIG_COPY};
    int ncopies = dr_repo_config(c->r)->version >= 2 ? 2 : 1;
    struct dr_buf raw[2] = {DR_BUF_INIT(DR_CONFIG_MAX), DR_BUF_INIT(DR_CONFIG_MAX)};
    bool ok[2] = {false, false};
    char why[2][512];
    int rc = 0;
    for (int i = 0; i < ncopies; i++) {
        struct dr_repo_config cfg;
        rc = dr_backend_get(dr_repo_backend(c->r), names[i], 0, UINT64_MAX, &raw[i]);
        if (rc == DR_EIO) {
            goto out;
        }
        if (rc == DR_ENOENT) {
            snprintf(why[i], sizeof(why[i]), "is missing");
        } else if (rc < 0 || dr_config_decode(dr_repo_keys(c->r), names[i],
                                              (const uint8_t *)raw[i].buf, raw[i].len, &cfg) < 0) {
            snprintf(why[i], sizeof(why[i]), "%s", config_why(names[i], dr_error_msg()));
        } else {
            ok[i] = true;
        }
        dr_error_clear();
        rc = 0;
    }
    for (int i = 0; i < ncopies; i++) {
        int other = 1 - i;
        if (ok[i]) {
            continue;
        }
        if (ncopies == 1) {
            dr_check_problem(
                c->rep, DR_PROB_CONFIG, names[i],
                "%s; format version 1 keeps no second copy: restore it from a backup of the "
                "repository",
                why[i]);
        } else if (ok[other]) {
            dr_check_problem(c->rep, DR_PROB_CONFIG, names[i],
                             "%s; 'drrepo repair config' rewrites it from '%s'", why[i],
                             names[other]);
        } else {
            dr_check_problem(
                c->rep, DR_PROB_CONFIG, names[i],
                "%s, and so is its other copy '%s': restore the config from a backup of "
                "the repository",
                why[i], names[other]);
        }
    }
    if (ncopies == 2 && ok[0] && ok[1] &&
        (raw[0].len != raw[1].len || memcmp(raw[0].buf, raw[1].buf, raw[0].len) != 0)) {
        dr_check_problem(
            c->rep, DR_PROB_CONFIG, names[1],
            "differs from '%s' (both verify); 'drrepo repair config' rewrites it from '%s'",
            names[0], names[0]);
    }
out:
    dr_buf_release(&raw[0]);
    dr_buf_release(&raw[1]);
    return rc;
}

/* Layout: every object must be one the format defines; packs are recorded for later passes. */
int dr_check_layout_cb(void *arg, const char *name, uint64_t size)
{
    struct chk *c = arg;
    enum dr_layout_kind kind;
    struct dr_id id;
    if (dr_layout_parse(name, &kind, &id) < 0) {
        dr_error_clear();
        kind = 0;
    }
    /* second copies (format/repository.md "Redundancy") exist from format version 2 */
    bool v2 = dr_repo_config(c->r)->version >= 2;
    switch (kind) {
    case DR_LAYOUT_TREE_COPIES: c->copies_expected = true; return 0;
    case DR_LAYOUT_CONFIG:
    case DR_LAYOUT_RESERVE:
    case DR_LAYOUT_KEY:
    case DR_LAYOUT_SNAPSHOT:
    case DR_LAYOUT_LOCK:
    case DR_LAYOUT_DRILL:         /* drill results: format/drill.md */
    case DR_LAYOUT_WAL: return 0; /* archived WAL: format/wal.md, checked by check_wal */
    case DR_LAYOUT_CONFIG_COPY:
    case DR_LAYOUT_KEY_COPY:
        if (v2) {
            return 0;
        }
        break;
    case DR_LAYOUT_EPOCH: /* prune's epochs, from format version 3: only their names count */
        if (dr_repo_config(c->r)->version >= 3) {
            return 0;
        }
        break;
    case DR_LAYOUT_DATA:
    case DR_LAYOUT_TREE: {
        struct pack_sum *p = dr_check_pack_get(c, &id);
        p->in_repo = true;
        p->type = kind == DR_LAYOUT_TREE ? DR_BLOB_TREE : DR_BLOB_DATA;
        p->size = size;
        return 0;
    }
    case DR_LAYOUT_TREE_COPY: {
        struct pack_sum *p = dr_check_pack_get(c, &id);
        p->in_copy = true;
        p->type = DR_BLOB_TREE;
        p->copy_size = size;
        return 0;
    }
    }
    dr_check_problem(
        c->rep, DR_PROB_UNKNOWN_FILE, name,
        "not part of the repository layout (left alone; remove it if it is not yours)");
    return 0;
}

int dr_check_index_pack_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *ip)
{
    struct chk *c = arg;
    struct pack_sum *p = dr_check_pack_get(c, id);
    p->in_index = true;
    p->verified_ns = ip->verified_ns;
    if (!p->in_repo && !p->in_copy) {
        p->type = ip->type;
        p->missing = true;
        char *obj = dr_layout_pack_name(ip->type, id);
        dr_check_problem(c->rep, DR_PROB_PACK_MISSING, obj,
                         "is in the index but not in the repository");
        free(obj);
    } else if ((p->in_repo ? p->size : p->copy_size) != ip->size) {
        char *obj = p->in_repo ? dr_layout_pack_name(ip->type, id)
                               : dr_layout_name_dup(DR_LAYOUT_TREE_COPY, id);
        dr_check_problem(c->rep, DR_PROB_PACK_SIZE, obj, "has %llu bytes, the index expects %llu",
                         (unsigned long long)(p->in_repo ? p->size : p->copy_size),
                         (unsigned long long)ip->size);
        free(obj);
    }
    return 0;
}

/* Reads the header of pack p (obj) and, for a tree pack, its copy's: returns 1 with the entries
 * of one that reads, 0 when none does (reported), or an error that stops the check (DR_EIO).
 * A tree pack of which only one copy reads is noted for report_copies. */
static int read_headers(struct chk *c, struct pack_sum *p, const char *obj,
                        struct dr_pack_entry **e, size_t *n)
{
    uint64_t size;
    uint8_t type;
    char *why = NULL;
    int rc = p->in_repo ? dr_pack_read_header(dr_repo_backend(c->r), dr_repo_keys(c->r), obj,
                                              p->size, &size, e, n, &type)
                        : dr_errorf(DR_ENOENT, "is missing");
    if (rc == DR_EIO) {
        return rc;
    }
    if (rc < 0) {
        why = dr_xstrdup(dr_error_msg());
        dr_error_clear();
    }
    if (p->type != DR_BLOB_TREE) {
        if (why) {
            dr_check_problem(c->rep, DR_PROB_PACK_HEADER, obj, "%s", why);
        }
        free(why);
        return why ? 0 : 1;
    }
    char *copy = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, &p->id);
    struct dr_pack_entry *ce = NULL;
    size_t cn = 0;
    int crc = p->in_copy ? dr_pack_read_header(dr_repo_backend(c->r), dr_repo_keys(c->r), copy,
                                               p->copy_size, &size, &ce, &cn, &type)
                         : dr_errorf(DR_ENOENT, "is missing");
    if (crc == DR_EIO) {
        free(why);
        free(copy);
        free(*e);
        *e = NULL;
        return crc;
    }
    if (crc < 0) {
        if (!why) {
            dr_check_copy_bad(p, true, p->in_copy ? DR_PROB_PACK_HEADER : DR_PROB_PACK_MISSING,
                              dr_error_msg());
        } else {
            dr_check_problem(c->rep, p->in_repo ? DR_PROB_PACK_HEADER : DR_PROB_PACK_MISSING, obj,
                             "%s; its copy '%s' too: %s", why, copy, dr_error_msg());
        }
        dr_error_clear();
    } else if (why) {
        dr_check_copy_bad(p, false, p->in_repo ? DR_PROB_PACK_HEADER : DR_PROB_PACK_MISSING, why);
        *e = ce;
        *n = cn;
        ce = NULL;
    } else if (p->copy_size != p->size) {
        char msg[128];
        snprintf(msg, sizeof(msg), "has %llu bytes, the pack %llu",
                 (unsigned long long)p->copy_size, (unsigned long long)p->size);
        dr_check_copy_bad(p, true, DR_PROB_PACK_SIZE, msg);
    }
    free(ce);
    free(copy);
    bool none = why && crc < 0;
    free(why);
    return none ? 0 : 1;
}

/* Reports the tree packs of which one copy is damaged or missing and the other is good: damage
 * that `repair packs` mends. A repository written before tree packs had copies (no
 * DR_OBJ_TREE_COPIES) gets a warning for a missing copy; a lone copy that no snapshot needs
 * (a prune stopped between its two deletions) gets one too, since the next prune deletes it. */
void dr_check_report_copies(struct chk *c, bool recount_complete)
{
    for (size_t i = 0; i < c->npacks; i++) {
        struct pack_sum *p = &c->packs[i];
        if (p->type != DR_BLOB_TREE || (!p->orig_msg && !p->copy_msg)) {
            continue;
        }
        char *orig = dr_layout_pack_name(DR_BLOB_TREE, &p->id),
             *copy = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, &p->id);
        size_t before = c->rep->nproblems;
        if (p->orig_msg && p->copy_msg) {
            dr_check_problem(c->rep, p->orig_kind, orig, "%s", p->orig_msg);
            dr_check_problem(c->rep, p->copy_kind, copy, "%s", p->copy_msg);
        } else if (p->orig_msg) {
            dr_check_problem(c->rep, p->orig_kind, orig,
                             "%s; its copy '%s' is good (run 'drrepo repair packs')", p->orig_msg,
                             copy);
        } else {
            dr_check_problem(c->rep, p->copy_kind, copy,
                             "%s; the pack '%s' is good (run 'drrepo repair packs')", p->copy_msg,
                             orig);
        }
        bool lone_unneeded = recount_complete && p->in_index && p->live == 0 && !p->in_repo;
        bool old_repo = !c->copies_expected && !p->in_copy && !p->orig_msg;
        if (lone_unneeded || old_repo) {
            struct dr_problem *pr = &c->rep->problems[before];
            char *m = dr_xasprintf(
                "%s%s", pr->message,
                old_repo ? " (the pack was written before tree packs had copies)"
                         : " (no snapshot needs this pack: the next prune deletes its copy)");
            free(pr->message);
            pr->message = m;
            pr->warning = true;
            c->rep->ndamage--;
        }
        free(orig);
        free(copy);
    }
}

/* Notes the tree packs that reads during this check found damaged and read from their other
 * copy (the tree walk goes through dr_repo_tree_load, which falls back silently but for a
 * warning). */
void dr_check_note_copy_damage(struct chk *c)
{
    const struct dr_copy_damage *d;
    size_t n = dr_repo_copy_damage(c->r, &d);
    for (size_t i = 0; i < n; i++) {
        struct pack_sum *p = dr_check_pack_find(c, &d[i].pack);
        if (p) {
            dr_check_copy_bad(p, d[i].copy, DR_PROB_PACK_HASH, d[i].message);
        }
    }
}

/* A pack header's entry on its way to meet the index in id order (the id is the sorter's key). */
struct hdr_rec {
    uint32_t pack; /* index into c->packs */
    uint32_t offset, clen, ulen;
    uint8_t type;
};

/* Reads each pack's header: sums per pack, and every entry into a sorter, which dr_check_index_cb
 * meets with the index in id order. A lookup per entry instead read the index at a random place
 * each time: at 10^7 blobs it was most of the check's time, and mapped all of the index's pages
 * into the process (docs/PERFORMANCE.md). */
int dr_check_headers(struct chk *c)
{
    int rc =
        dr_sorter_open(dr_workset_path(c->ws), "headers", sizeof(struct hdr_rec), NULL, &c->hdrs);
    for (size_t i = 0; rc >= 0 && i < c->npacks; i++) {
        struct pack_sum *p = &c->packs[i];
        if (!p->in_repo && !p->in_copy) {
            continue;
        }
        rc = dr_interrupt_check(); /* between packs */
        if (rc < 0) {
            return rc;
        }
        c->rep->st.packs++;
        char *obj = dr_layout_pack_name(p->type, &p->id);
        struct dr_pack_entry *e = NULL;
        size_t n = 0;
        rc = read_headers(c, p, obj, &e, &n);
        if (rc > 0) {
            p->header_ok = true;
            if (!p->in_index) {
                dr_check_problem(c->rep, DR_PROB_INDEX, obj,
                                 "is not in the index (run 'drrepo repair index')");
            }
            rc = 0;
        }
        for (size_t k = 0; rc >= 0 && k < n; k++) {
            p->total_clen += e[k].clen;
            p->total_ulen += e[k].ulen;
            struct hdr_rec h;
            memset(&h, 0, sizeof(h)); /* the padding too: it goes to the scratch file */
            h.pack = (uint32_t)i;
            h.offset = e[k].offset;
            h.clen = e[k].clen;
            h.ulen = e[k].ulen;
            h.type = e[k].type;
            rc = dr_sorter_add(c->hdrs, &e[k].id, &h);
        }
        free(e);
        free(obj);
    }
    return rc < 0 ? rc : 0;
}

/* Takes the header entries of ids below id (all of them without id): blobs that packs hold and
 * the index does not know. A pack the index lacks altogether was reported as such. */
static int unknown_before(struct chk *c, const struct dr_id *id)
{
    struct dr_id hid;
    int rc;
    while ((rc = dr_sorter_peek(c->hdrs, &hid)) > 0 && (!id || dr_id_cmp(&hid, id) < 0)) {
        struct hdr_rec h;
        rc = dr_sorter_next(c->hdrs, &hid, &h);
        if (rc < 0) {
            return rc;
        }
        const struct pack_sum *p = &c->packs[h.pack];
        if (p->in_index) {
            char hx[DR_ID_HEX_LEN + 1];
            char *obj = dr_layout_pack_name(p->type, &p->id);
            dr_check_problem(c->rep, DR_PROB_INDEX, obj,
                             "holds blob %s, which the index does not know (run 'drrepo repair "
                             "index')",
                             hex(&hid, hx));
            free(obj);
        }
    }
    return rc < 0 ? rc : 0;
}

/* Meets an index entry with the header entries of its id: one of them must be in the pack the
 * index names, with the same place and lengths. Entries of the id in other packs are duplicates
 * (the index uses one copy). A pack that is missing or whose header does not read was reported
 * with the pack. */
int dr_check_index_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct chk *c = arg;
    int rc = unknown_before(c, id);
    if (rc < 0) {
        return rc;
    }
    struct pack_sum *p = dr_check_pack_find(c, &b->pack);
    uint32_t want = p ? (uint32_t)(p - c->packs) : UINT32_MAX;
    bool agree = false, in_pack = false;
    struct hdr_rec other = {0}; /* the pack's entry that disagrees */
    struct dr_id hid;
    while ((rc = dr_sorter_peek(c->hdrs, &hid)) > 0 && dr_id_eq(&hid, id)) {
        struct hdr_rec h;
        rc = dr_sorter_next(c->hdrs, &hid, &h);
        if (rc < 0) {
            return rc;
        }
        if (h.pack != want) {
            continue;
        }
        if (h.offset == b->offset && h.clen == b->clen && h.ulen == b->ulen && h.type == b->type) {
            agree = true;
        } else {
            in_pack = true;
            other = h;
        }
    }
    if (rc < 0 || agree || (p && (p->missing || !p->header_ok))) {
        return rc < 0 ? rc : 0;
    }
    char h[DR_ID_HEX_LEN + 1], ph[DR_ID_HEX_LEN + 1];
    if (in_pack) {
        char *obj = dr_layout_pack_name(p->type, &p->id);
        dr_check_problem(c->rep, DR_PROB_INDEX, obj,
                         "blob %s: the index says offset %u length %u, the pack header says "
                         "offset %u length %u (run 'drrepo repair index')",
                         hex(id, h), b->offset, b->clen, other.offset, other.clen);
        free(obj);
        return 0;
    }
    char *obj = dr_xasprintf("blob %s", hex(id, h));
    dr_check_problem(
        c->rep, DR_PROB_INDEX, obj,
        "the index places it in pack %s, which does not contain it (run 'drrepo repair "
        "index')",
        hex(&b->pack, ph));
    free(obj);
    return 0;
}

int dr_check_headers_rest(struct chk *c)
{
    int rc = unknown_before(c, NULL);
    dr_sorter_close(c->hdrs);
    c->hdrs = NULL;
    return rc;
}
