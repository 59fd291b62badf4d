/* check.c: integrity checks (see check.h).
 *
 * Working sets live in the index's scratch set and work map (LMDB), never in RAM proportional
 * to the number of blobs; only per-pack sums are kept in memory (packs are ~16 MiB each). The
 * check uses one write transaction on the local index for its scratch data; it never changes
 * the repository, and of the index it only updates the per-pack verification times. */
#include "drrepo/check.h"

#include <ctype.h>
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
#include "drrepo/lock.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "drrepo/repo.h"
#include "drrepo/walk.h"

/* ---- report ------------------------------------------------------------------------------- */

DR_PRINTF(4, 5)
static void problem(struct dr_check_report *rep, int kind, const char *object, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    DR_GROW(rep->problems, rep->aproblems, rep->nproblems + 1);
    struct dr_problem *p = &rep->problems[rep->nproblems++];
    p->kind = kind;
    p->warning = kind == DR_PROB_UNKNOWN_FILE || kind == DR_PROB_TRANSIENT;
    p->object = dr_xstrdup(object);
    p->message = dr_xstrdup(msg);
    if (!p->warning) {
        rep->ndamage++;
    }
}

static void affected(struct dr_check_report *rep, const struct dr_id *snap, const char *path,
                     const char *object)
{
    if (rep->naffected >= DR_CHECK_AFFECTED_MAX) {
        rep->affected_dropped++;
        return;
    }
    DR_GROW(rep->affected, rep->aaffected, rep->naffected + 1);
    struct dr_affected *a = &rep->affected[rep->naffected++];
    a->snapshot = *snap;
    a->path = dr_xstrdup(*path ? path : "/");
    a->object = dr_xstrdup(object);
}

void dr_check_report_release(struct dr_check_report *rep)
{
    for (size_t i = 0; i < rep->nproblems; i++) {
        free(rep->problems[i].object);
        free(rep->problems[i].message);
    }
    for (size_t i = 0; i < rep->naffected; i++) {
        free(rep->affected[i].path);
        free(rep->affected[i].object);
    }
    free(rep->problems);
    free(rep->affected);
    memset(rep, 0, sizeof(*rep));
}

/* ---- option parsing ----------------------------------------------------------------------- */

int dr_check_parse_subset(const char *s, struct dr_check_opts *o)
{
    unsigned n, m;
    char extra;
    if (sscanf(s, "%u/%u%c", &n, &m, &extra) == 2) {
        if (m == 0 || n == 0 || n > m) {
            return dr_errorf(DR_EUSAGE, "--read-data-subset '%s': N/M needs 1 <= N <= M", s);
        }
        o->subset = DR_SUBSET_PART;
        o->part_n = n;
        o->part_m = m;
        return 0;
    }
    size_t len = strlen(s);
    if (len > 1 && s[len - 1] == '%') {
        char *end;
        double p = strtod(s, &end);
        if (end != s + len - 1 || !(p > 0 && p <= 100)) {
            return dr_errorf(DR_EUSAGE, "--read-data-subset '%s': a percentage is 0 < P <= 100", s);
        }
        o->subset = DR_SUBSET_PERCENT;
        o->percent = p;
        return 0;
    }
    uint64_t size;
    if (dr_parse_size(s, &size) < 0 || size == 0) {
        dr_error_clear();
        return dr_errorf(DR_EUSAGE, "--read-data-subset '%s': use N/M, P%% or a size like 5G", s);
    }
    o->subset = DR_SUBSET_SIZE;
    o->size = size;
    return 0;
}

/* ---- the check ---------------------------------------------------------------------------- */

/* What the structure pass learns about each pack; kept in a sorted array (O(packs) memory). */
struct pack_sum {
    struct dr_id id;
    uint8_t type;
    bool in_repo, in_index, header_ok, missing;
    bool in_copy;       /* a tree pack's copy is listed (format/repository.md) */
    uint64_t size;      /* from the repository listing */
    uint64_t copy_size; /* the copy's, from the listing */
    /* a tree pack of which one copy is damaged or missing: why (malloc'd), reported with the
     * other copy's state once everything is known (report_copies) */
    char *orig_msg, *copy_msg;
    int orig_kind, copy_kind;
    uint64_t total_clen; /* sum of the header's record lengths */
    uint64_t live;       /* recounted: clen of indexed records that snapshots reach */
    int64_t verified_ns;
};

struct chk {
    struct dr_repo *r;
    const struct dr_check_opts *o;
    struct dr_check_report *rep;
    struct dr_index_txn *txn;
    struct pack_sum *packs;
    size_t npacks, apacks;
    bool sorted;
    const struct dr_id *snap; /* snapshot being walked */
    char snaphex[9];
    uint32_t pass;        /* 1: count references, 2: find files affected by damaged blobs */
    bool copies_expected; /* DR_PACK_COPIES_OBJ exists: every tree pack must have its copy */
};

/* Notes that one copy of tree pack p is bad (the first reason wins). */
static void copy_bad(struct pack_sum *p, bool copy, int kind, const char *msg)
{
    char **m = copy ? &p->copy_msg : &p->orig_msg;
    if (!*m) {
        *m = dr_xstrdup(msg);
        *(copy ? &p->copy_kind : &p->orig_kind) = kind;
    }
}

static int pack_sum_cmp(const void *a, const void *b)
{
    return dr_id_cmp(&((const struct pack_sum *)a)->id, &((const struct pack_sum *)b)->id);
}

static struct pack_sum *pack_find(struct chk *c, const struct dr_id *id)
{
    if (c->npacks == 0) {
        return NULL;
    }
    if (!c->sorted) {
        qsort(c->packs, c->npacks, sizeof(*c->packs), pack_sum_cmp);
        c->sorted = true;
    }
    struct pack_sum key = {.id = *id};
    return bsearch(&key, c->packs, c->npacks, sizeof(*c->packs), pack_sum_cmp);
}

static struct pack_sum *pack_get(struct chk *c, const struct dr_id *id)
{
    struct pack_sum *p = pack_find(c, id);
    if (p) {
        return p;
    }
    DR_GROW(c->packs, c->apacks, c->npacks + 1);
    p = &c->packs[c->npacks++];
    memset(p, 0, sizeof(*p));
    p->id = *id;
    c->sorted = false;
    return p;
}

static const char *hex(const struct dr_id *id, char buf[DR_ID_HEX_LEN + 1])
{
    return dr_id_hex(id, buf);
}

/* Key files: each copy must hash to its name, and the intact bytes must parse. A damaged copy
 * is named with what recovers it: the other copy (`repair keys`), or for a key file with no
 * intact copy another password (`key remove`) or a backup. */
static int check_keys(struct chk *c)
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
                problem(c->rep, DR_PROB_KEYFILE, s->name,
                        "%s; 'drrepo repair keys' rewrites it from '%s'", s->why, s->copy_name);
            } else if (!copies) {
                problem(c->rep, DR_PROB_KEYFILE, s->name,
                        "%s, and format version 1 keeps no copy of it: if another password "
                        "opens the repository, remove it with 'drrepo key remove', else restore "
                        "it from a backup of the repository",
                        s->why);
            } else {
                problem(c->rep, DR_PROB_KEYFILE, s->name,
                        "%s, and its copy '%s' %s: if another password opens the repository, "
                        "remove it with 'drrepo key remove', else restore it from a backup of "
                        "the repository",
                        s->why, s->copy_name, s->copy_why);
            }
        }
        if (copies && s->copy_state != DR_COPY_OK && s->state == DR_COPY_OK) {
            problem(c->rep, DR_PROB_KEYFILE, s->copy_name,
                    "%s; 'drrepo repair keys' rewrites it from '%s'", s->copy_why, s->name);
        }
        /* a key file whose details do not open under this repository's key was not written
         * by a holder of the key: planted (a hostile file costs every open a key derivation,
         * within the budget of format/crypto.md), or changed and renamed to its new hash */
        struct dr_keyfile_info info;
        if (s->bytes.len && dr_keyfile_details(dr_repo_keys(c->r), &dr_repo_config(c->r)->repo_id,
                                               s->bytes.buf, s->bytes.len, &info) < 0) {
            problem(c->rep, DR_PROB_KEYFILE, s->name,
                    "%s; remove it with 'drrepo key remove' if you did not add it", dr_error_msg());
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
static int check_config(struct chk *c)
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
            problem(c->rep, DR_PROB_CONFIG, names[i],
                    "%s; format version 1 keeps no second copy: restore it from a backup of the "
                    "repository",
                    why[i]);
        } else if (ok[other]) {
            problem(c->rep, DR_PROB_CONFIG, names[i],
                    "%s; 'drrepo repair config' rewrites it from '%s'", why[i], names[other]);
        } else {
            problem(c->rep, DR_PROB_CONFIG, names[i],
                    "%s, and so is its other copy '%s': restore the config from a backup of "
                    "the repository",
                    why[i], names[other]);
        }
    }
    if (ncopies == 2 && ok[0] && ok[1] &&
        (raw[0].len != raw[1].len || memcmp(raw[0].buf, raw[1].buf, raw[0].len) != 0)) {
        problem(c->rep, DR_PROB_CONFIG, names[1],
                "differs from '%s' (both verify); 'drrepo repair config' rewrites it from '%s'",
                names[0], names[0]);
    }
out:
    dr_buf_release(&raw[0]);
    dr_buf_release(&raw[1]);
    return rc;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return false;
        }
    }
    return s[n] == '\0';
}

/* Layout: every object must be one the format defines; packs are recorded for later passes. */
static int layout_cb(void *arg, const char *name, uint64_t size)
{
    struct chk *c = arg;
    if (strcmp(name, DR_OBJ_CONFIG) == 0 || strcmp(name, DR_LOCK_RESERVE_OBJ) == 0) {
        return 0;
    }
    if (strcmp(name, DR_PACK_COPIES_OBJ) == 0) {
        c->copies_expected = true;
        return 0;
    }
    if (strncmp(name, "keys/", 5) == 0 && is_hex(name + 5, DR_ID_HEX_LEN)) {
        return 0;
    }
    /* second copies (format/repository.md "Redundancy"), from format version 2 */
    if (dr_repo_config(c->r)->version >= 2 &&
        (strcmp(name, DR_OBJ_CONFIG_COPY) == 0 ||
         (strncmp(name, "copies/keys/", 12) == 0 && is_hex(name + 12, DR_ID_HEX_LEN)))) {
        return 0;
    }
    if (strncmp(name, "snapshots/", 10) == 0 && is_hex(name + 10, DR_ID_HEX_LEN)) {
        return 0;
    }
    if (strncmp(name, "locks/", 6) == 0 && strchr(name + 6, '/') == NULL) {
        return 0;
    }
    if (strncmp(name, "drills/", 7) == 0 && is_hex(name + 7, DR_ID_HEX_LEN)) {
        return 0; /* drill results (format/drill.md) */
    }
    uint8_t type;
    struct dr_id id;
    if (dr_pack_name_parse(name, &type, &id) == 0) {
        struct pack_sum *p = pack_get(c, &id);
        p->in_repo = true;
        p->type = type;
        p->size = size;
        return 0;
    }
    dr_error_clear();
    if (dr_pack_copy_name_parse(name, &id) == 0) {
        struct pack_sum *p = pack_get(c, &id);
        p->in_copy = true;
        p->type = DR_BLOB_TREE;
        p->copy_size = size;
        return 0;
    }
    dr_error_clear();
    problem(c->rep, DR_PROB_UNKNOWN_FILE, name,
            "not part of the repository layout (left alone; remove it if it is not yours)");
    return 0;
}

static int index_pack_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *ip)
{
    struct chk *c = arg;
    struct pack_sum *p = pack_get(c, id);
    p->in_index = true;
    p->verified_ns = ip->verified_ns;
    if (!p->in_repo && !p->in_copy) {
        p->type = ip->type;
        p->missing = true;
        char *obj = dr_pack_object_name(ip->type, id);
        problem(c->rep, DR_PROB_PACK_MISSING, obj, "is in the index but not in the repository");
        free(obj);
    } else if ((p->in_repo ? p->size : p->copy_size) != ip->size) {
        char *obj = p->in_repo ? dr_pack_object_name(ip->type, id) : dr_pack_copy_name(id);
        problem(c->rep, DR_PROB_PACK_SIZE, obj, "has %llu bytes, the index expects %llu",
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
    int rc = p->in_repo ? dr_pack_read_header(dr_repo_backend(c->r), dr_repo_keys(c->r), obj, &size,
                                              e, n, &type)
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
            problem(c->rep, DR_PROB_PACK_HEADER, obj, "%s", why);
        }
        free(why);
        return why ? 0 : 1;
    }
    char *copy = dr_pack_copy_name(&p->id);
    struct dr_pack_entry *ce = NULL;
    size_t cn = 0;
    int crc = p->in_copy ? dr_pack_read_header(dr_repo_backend(c->r), dr_repo_keys(c->r), copy,
                                               &size, &ce, &cn, &type)
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
            copy_bad(p, true, p->in_copy ? DR_PROB_PACK_HEADER : DR_PROB_PACK_MISSING,
                     dr_error_msg());
        } else {
            problem(c->rep, p->in_repo ? DR_PROB_PACK_HEADER : DR_PROB_PACK_MISSING, obj,
                    "%s; its copy '%s' too: %s", why, copy, dr_error_msg());
        }
        dr_error_clear();
    } else if (why) {
        copy_bad(p, false, p->in_repo ? DR_PROB_PACK_HEADER : DR_PROB_PACK_MISSING, why);
        *e = ce;
        *n = cn;
        ce = NULL;
    } else if (p->copy_size != p->size) {
        char msg[128];
        snprintf(msg, sizeof(msg), "has %llu bytes, the pack %llu",
                 (unsigned long long)p->copy_size, (unsigned long long)p->size);
        copy_bad(p, true, DR_PROB_PACK_SIZE, msg);
    }
    free(ce);
    free(copy);
    bool none = why && crc < 0;
    free(why);
    return none ? 0 : 1;
}

/* Reports the tree packs of which one copy is damaged or missing and the other is good: damage
 * that `repair packs` mends. A repository written before tree packs had copies (no
 * DR_PACK_COPIES_OBJ) gets a warning for a missing copy; a lone copy that no snapshot needs
 * (a prune stopped between its two deletions) gets one too, since the next prune deletes it. */
static void report_copies(struct chk *c, bool recount_complete)
{
    for (size_t i = 0; i < c->npacks; i++) {
        struct pack_sum *p = &c->packs[i];
        if (p->type != DR_BLOB_TREE || (!p->orig_msg && !p->copy_msg)) {
            continue;
        }
        char *orig = dr_pack_object_name(DR_BLOB_TREE, &p->id), *copy = dr_pack_copy_name(&p->id);
        size_t before = c->rep->nproblems;
        if (p->orig_msg && p->copy_msg) {
            problem(c->rep, p->orig_kind, orig, "%s", p->orig_msg);
            problem(c->rep, p->copy_kind, copy, "%s", p->copy_msg);
        } else if (p->orig_msg) {
            problem(c->rep, p->orig_kind, orig,
                    "%s; its copy '%s' is good (run 'drrepo repair packs')", p->orig_msg, copy);
        } else {
            problem(c->rep, p->copy_kind, copy,
                    "%s; the pack '%s' is good (run 'drrepo repair packs')", p->copy_msg, orig);
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
static void note_copy_damage(struct chk *c)
{
    const struct dr_copy_damage *d;
    size_t n = dr_repo_copy_damage(c->r, &d);
    for (size_t i = 0; i < n; i++) {
        struct pack_sum *p = pack_find(c, &d[i].pack);
        if (p) {
            copy_bad(p, d[i].copy, DR_PROB_PACK_HASH, d[i].message);
        }
    }
}

/* Reads each pack's header and compares it with the index entry by entry. Index entries that
 * a header confirms go into the scratch set; those left over are claims no pack backs. */
static int check_headers(struct chk *c)
{
    int rc = dr_index_scratch_clear(c->txn);
    for (size_t i = 0; rc >= 0 && i < c->npacks; i++) {
        struct pack_sum *p = &c->packs[i];
        if (!p->in_repo && !p->in_copy) {
            continue;
        }
        c->rep->st.packs++;
        char *obj = dr_pack_object_name(p->type, &p->id);
        struct dr_pack_entry *e = NULL;
        size_t n = 0;
        rc = read_headers(c, p, obj, &e, &n);
        if (rc < 0) {
            free(obj);
            return rc;
        }
        if (rc == 0) {
            free(obj);
            continue;
        }
        p->header_ok = true;
        if (!p->in_index) {
            problem(c->rep, DR_PROB_INDEX, obj, "is not in the index (run 'drrepo repair index')");
        }
        for (size_t k = 0; rc >= 0 && k < n; k++) {
            p->total_clen += e[k].clen;
            struct dr_index_blob b;
            int brc = dr_index_blob_get(c->txn, &e[k].id, &b);
            if (brc == DR_ENOENT) {
                dr_error_clear();
                if (p->in_index) {
                    char h[DR_ID_HEX_LEN + 1];
                    problem(c->rep, DR_PROB_INDEX, obj,
                            "holds blob %s, which the index does not know (run 'drrepo repair "
                            "index')",
                            hex(&e[k].id, h));
                }
                continue;
            }
            if (brc < 0) {
                rc = brc;
                break;
            }
            if (!dr_id_eq(&b.pack, &p->id)) {
                continue; /* a duplicate: the index uses another copy */
            }
            if (b.offset != e[k].offset || b.clen != e[k].clen || b.ulen != e[k].ulen ||
                b.type != e[k].type) {
                char h[DR_ID_HEX_LEN + 1];
                problem(c->rep, DR_PROB_INDEX, obj,
                        "blob %s: the index says offset %u length %u, the pack header says "
                        "offset %u length %u (run 'drrepo repair index')",
                        hex(&e[k].id, h), b.offset, b.clen, e[k].offset, e[k].clen);
                continue;
            }
            rc = dr_index_scratch_add(c->txn, &e[k].id);
        }
        free(e);
        free(obj);
    }
    return rc < 0 ? rc : 0;
}

static int unconfirmed_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct chk *c = arg;
    int rc = dr_index_scratch_has(c->txn, id);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    struct pack_sum *p = pack_find(c, &b->pack);
    if (p && (p->missing || !p->header_ok)) {
        return 0; /* reported with the pack */
    }
    char h[DR_ID_HEX_LEN + 1], ph[DR_ID_HEX_LEN + 1];
    char *obj = dr_xasprintf("blob %s", hex(id, h));
    problem(c->rep, DR_PROB_INDEX, obj,
            "the index places it in pack %s, which does not contain it (run 'drrepo repair "
            "index')",
            hex(&b->pack, ph));
    free(obj);
    return 0;
}

/* Work map values: u32 reference count, u8 flags. */
#define W_DAMAGED 1u
#define W_REPORTED 2u

static int work_get(struct chk *c, const struct dr_id *id, uint32_t *count, uint8_t *flags)
{
    uint8_t v[5] = {0};
    int rc = dr_index_work_get(c->txn, id, v, sizeof(v));
    if (rc == DR_ENOENT) {
        dr_error_clear();
        *count = 0;
        *flags = 0;
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    *count = dr_get_u32le(v);
    *flags = v[4];
    return 1;
}

static int work_set(struct chk *c, const struct dr_id *id, uint32_t count, uint8_t flags)
{
    uint8_t v[5];
    dr_put_u32le(v, count);
    v[4] = flags;
    return dr_index_work_put(c->txn, id, v, sizeof(v));
}

/* Pass 1 counts one reference per snapshot per distinct blob and flags missing blobs and
 * unreadable trees as damaged; pass 2 names every path that uses a damaged blob or tree. The
 * scratch set holds what this snapshot's walk has seen (pass 2 dedups trees only, so that every
 * file sharing a damaged chunk is named). */
static int visit_blob(struct chk *c, const struct dr_id *id, const char *path, bool is_tree)
{
    int rc = 1;
    if (c->pass == 1 && !is_tree) { /* trees: the walk's dedup added them */
        rc = dr_index_scratch_add(c->txn, id);
        if (rc <= 0) {
            return rc;
        }
    }
    uint32_t count;
    uint8_t flags;
    rc = work_get(c, id, &count, &flags);
    if (rc < 0) {
        return rc;
    }
    char h[DR_ID_HEX_LEN + 1];
    if (c->pass == 2) {
        if (flags & W_DAMAGED) {
            char *obj = dr_xasprintf("%s %s", is_tree ? "tree" : "blob", hex(id, h));
            affected(c->rep, c->snap, path, obj);
            free(obj);
        }
        return 0;
    }
    if (!is_tree) {
        c->rep->st.blobs++;
        struct dr_index_blob b;
        rc = dr_index_blob_get(c->txn, id, &b);
        if (rc == DR_ENOENT) {
            dr_error_clear();
            if (!(flags & W_REPORTED)) {
                char *obj = dr_xasprintf("blob %s", hex(id, h));
                struct dr_vanished *v = dr_repo_vanished_find(c->r, id);
                char *pobj = v ? dr_pack_object_name(v->type, &v->pack) : NULL;
                if (v && !v->reported) {
                    problem(c->rep, DR_PROB_PACK_MISSING, pobj,
                            "is gone from the repository, and snapshots still need blobs that "
                            "were only in it");
                    v->reported = true;
                }
                problem(c->rep, DR_PROB_BLOB_MISSING, obj, "is referenced but in no pack%s%s%s",
                        v ? " (it was in pack '" : "", v ? pobj : "", v ? "')" : "");
                free(pobj);
                free(obj);
                flags |= W_REPORTED | W_DAMAGED;
            }
        } else if (rc < 0) {
            return rc;
        }
    }
    return work_set(c, id, count + 1, flags);
}

static int walk_enter(void *arg, const struct dr_id *tree, const char *path)
{
    struct chk *c = arg;
    int rc = visit_blob(c, tree, path, true);
    if (rc < 0) {
        return rc;
    }
    if (c->pass == 1) {
        c->rep->st.trees++;
    }
    return 0;
}

static int walk_unreadable(void *arg, const struct dr_id *tree, const char *path, int err)
{
    struct chk *c = arg;
    if (err == DR_EIO || c->pass != 1) {
        return err == DR_EIO ? err : 0;
    }
    char h[DR_ID_HEX_LEN + 1];
    char *obj = dr_xasprintf("tree %s", hex(tree, h));
    char *why = dr_xstrdup(dr_error_msg());
    uint32_t count;
    uint8_t flags;
    int rc = work_get(c, tree, &count, &flags);
    if (rc >= 0 && !(flags & W_REPORTED)) {
        problem(c->rep, DR_PROB_TREE, obj, "%s (directory '%s')", why, *path ? path : "/");
        rc = work_set(c, tree, count, flags | W_REPORTED | W_DAMAGED);
    }
    free(why);
    free(obj);
    return rc < 0 ? rc : 0;
}

static int walk_node(void *arg, const char *path, struct dr_node *n)
{
    struct chk *c = arg;
    int rc = 0;
    for (uint32_t k = 0; rc >= 0 && k < n->nchunks; k++) {
        rc = visit_blob(c, &n->chunks[k], path, false);
    }
    return rc < 0 ? rc : 0;
}

/* Walks one snapshot's trees for the current pass; the scratch set dedups its trees. */
static int walk_tree(struct chk *c, const struct dr_id *root)
{
    struct dr_walk w = {
        .r = c->r,
        .txn = c->txn,
        .flags = DR_WALK_DEDUP,
        .arg = c,
        .enter = walk_enter,
        .unreadable = walk_unreadable,
        .node = walk_node,
    };
    int rc = dr_walk_run(&w, root, "");
    return rc < 0 ? rc : 0;
}

struct snap_ids {
    struct dr_id *v;
    size_t n, alloc;
};

static int snap_list_cb(void *arg, const char *name, uint64_t size)
{
    (void)size;
    struct snap_ids *s = arg;
    struct dr_id id;
    if (dr_id_parse(name + strlen("snapshots/"), &id) < 0) {
        dr_error_clear();
        return 0;
    }
    DR_GROW(s->v, s->alloc, s->n + 1);
    s->v[s->n++] = id;
    return 0;
}

/* Loads each snapshot and walks its trees for the given pass. */
static int walk_snapshots(struct chk *c, const struct snap_ids *ids)
{
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < ids->n; i++) {
        char h[DR_ID_HEX_LEN + 1];
        struct dr_snapshot s;
        dr_snapshot_init(&s);
        rc = dr_repo_snapshot_load(c->r, &ids->v[i], &s);
        if (rc < 0) {
            if (c->pass == 1) {
                char *obj = dr_xasprintf("snapshot %s", hex(&ids->v[i], h));
                problem(c->rep, DR_PROB_SNAPSHOT, obj, "cannot be read: %s", dr_error_msg());
                free(obj);
            }
            dr_error_clear();
            dr_snapshot_release(&s);
            rc = 0;
            continue;
        }
        if (c->pass == 1) {
            c->rep->st.snapshots++;
        }
        c->snap = &ids->v[i];
        rc = dr_index_scratch_clear(c->txn);
        if (rc >= 0) {
            rc = walk_tree(c, &s.tree);
        }
        dr_snapshot_release(&s);
    }
    return rc;
}

/* Compares each indexed blob's refcount with the recount, and sums live bytes per pack. */
static int refs_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct chk *c = arg;
    uint32_t count;
    uint8_t flags;
    int rc = work_get(c, id, &count, &flags);
    if (rc < 0) {
        return rc;
    }
    struct pack_sum *p = pack_find(c, &b->pack);
    if (count > 0 && p) {
        p->live += b->clen;
    }
    if (count == 0) {
        c->rep->st.unreferenced_blobs++;
        c->rep->st.unreferenced_bytes += b->clen;
    }
    if (b->refs != count) {
        char h[DR_ID_HEX_LEN + 1];
        char *obj = dr_xasprintf("blob %s", hex(id, h));
        problem(c->rep, DR_PROB_REFCOUNT, obj,
                "the index counts %u references, the snapshots reach it %u times (run 'drrepo "
                "repair index')",
                b->refs, count);
        free(obj);
    }
    return 0;
}

static int live_cb(void *arg, const struct dr_id *id, const struct dr_index_pack *ip)
{
    struct chk *c = arg;
    struct pack_sum *p = pack_find(c, id);
    if (!p || !p->header_ok) {
        return 0;
    }
    if (p->live == 0) {
        c->rep->st.unreferenced_packs++;
    }
    uint64_t dead = p->total_clen - DR_MIN(p->live, p->total_clen);
    if (ip->live_bytes != p->live || ip->dead_bytes != dead) {
        char *obj = dr_pack_object_name(ip->type, id);
        problem(c->rep, DR_PROB_REFCOUNT, obj,
                "the index counts %llu live and %llu dead bytes, a recount gives %llu and %llu "
                "(run 'drrepo repair index')",
                (unsigned long long)ip->live_bytes, (unsigned long long)ip->dead_bytes,
                (unsigned long long)p->live, (unsigned long long)dead);
        free(obj);
    }
    return 0;
}

/* Marks every blob the index places in a damaged pack (missing, unreadable) as damaged. */
static int damaged_pack_blobs_cb(void *arg, const struct dr_id *id, const struct dr_index_blob *b)
{
    struct chk *c = arg;
    struct pack_sum *p = pack_find(c, &b->pack);
    if (!p || !(p->missing || !p->header_ok)) {
        return 0;
    }
    uint32_t count;
    uint8_t flags;
    int rc = work_get(c, id, &count, &flags);
    return rc < 0 ? rc : work_set(c, id, count, flags | W_DAMAGED);
}

/* ---- read data ---------------------------------------------------------------------------- */

struct bad_blob {
    struct dr_id id;
    char *msg;
};

/* Verifies one pack's bytes. Returns 0 and fills *bad (malloc'd) with the blobs that fail, and
 * *pack_msg when the pack as a whole is bad. */
static int verify_pack_bytes(struct dr_repo *r, struct dr_compressor *z, const char *obj,
                             const struct dr_id *id, const struct dr_buf *data,
                             struct bad_blob **bad, size_t *nbad, char **pack_msg)
{
    const uint8_t *d = (const uint8_t *)data->buf;
    struct dr_pack_entry *e = NULL;
    size_t n = 0;
    uint8_t ptype;
    uint32_t hlen;
    *bad = NULL;
    *nbad = 0;
    *pack_msg = NULL;
    struct dr_id got;
    dr_crypto_hash(data->buf, data->len, &got);
    bool hash_ok = dr_id_eq(&got, id);
    int rc = dr_pack_parse_preamble(obj, d, data->len, &ptype);
    if (rc >= 0) {
        size_t tl = DR_MIN(data->len, (size_t)DR_PACK_TRAILER_LEN);
        rc = dr_pack_parse_trailer(obj, d + data->len - tl, tl, data->len, &hlen);
    }
    if (rc >= 0) {
        rc = dr_pack_parse_header(dr_repo_keys(r), obj, d,
                                  d + data->len - DR_PACK_TRAILER_LEN - hlen, hlen, data->len, &e,
                                  &n);
    }
    if (rc < 0) {
        *pack_msg = dr_xstrdup(dr_error_msg());
        dr_error_clear();
        return 0;
    }
    if (!hash_ok) {
        *pack_msg = dr_xstrdup("content does not match its name (bit rot, or a renamed file)");
    }
    struct dr_buf plain = DR_BUF_INIT(DR_BLOB_MAX);
    size_t abad = 0;
    for (size_t i = 0; i < n; i++) {
        dr_buf_reset(&plain);
        if (dr_blob_decode(dr_repo_keys(r), z, e[i].type, &e[i].id, d + e[i].offset, e[i].clen,
                           e[i].ulen, &plain) < 0) {
            DR_GROW(*bad, abad, *nbad + 1);
            (*bad)[*nbad].id = e[i].id;
            (*bad)[*nbad].msg = dr_xstrdup(dr_error_msg());
            (*nbad)++;
            dr_error_clear();
        }
    }
    dr_buf_release(&plain);
    free(e);
    return 0;
}

static void free_bad(struct bad_blob *bad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(bad[i].msg);
    }
    free(bad);
}

/* One pack's verification, done on a worker thread; the main thread records the outcome. */
struct pack_job {
    struct pack_sum *p;
    char *obj;
    int read_rc; /* < 0: the pack could not be read (saved in read_err) */
    struct dr_error_saved read_err;
    uint64_t len;
    struct bad_blob *bad, *bad2; /* first read, and the re-read when the first failed */
    size_t nbad, nbad2;
    char *pmsg, *pmsg2;
    bool reread_failed; /* the re-read itself could not read the pack */
    bool done;
    bool is_copy;          /* obj is a tree pack's copy */
    struct pack_job *twin; /* the copy of this tree pack, verified by the same worker after it */
};

struct job_queue {
    struct chk *c;
    struct pack_job *jobs;
    size_t n, next;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void run_job(struct dr_repo *r, struct dr_compressor *z, struct pack_job *j)
{
    struct dr_buf data = DR_BUF_INIT((size_t)DR_PACK_FILE_MAX);
    j->read_rc = dr_backend_get(dr_repo_backend(r), j->obj, 0, UINT64_MAX, &data);
    if (j->read_rc < 0) {
        dr_error_save(&j->read_err, j->read_rc);
        dr_error_clear();
        goto out;
    }
    j->len = data.len;
    verify_pack_bytes(r, z, j->obj, &j->p->id, &data, &j->bad, &j->nbad, &j->pmsg);
    if (j->pmsg || j->nbad) {
        /* read once more: flaky RAM, cables and disks cause false alarms that a re-read clears */
        dr_buf_reset(&data);
        if (dr_backend_get(dr_repo_backend(r), j->obj, 0, UINT64_MAX, &data) >= 0) {
            verify_pack_bytes(r, z, j->obj, &j->p->id, &data, &j->bad2, &j->nbad2, &j->pmsg2);
        } else {
            dr_error_clear();
            j->reread_failed = true;
        }
    }
out:
    dr_buf_release(&data);
    if (j->twin) {
        run_job(r, z, j->twin);
    }
}

static void *job_worker(void *arg)
{
    struct job_queue *q = arg;
    struct dr_compressor *z = dr_compressor_new(dr_repo_config(q->c->r)->zstd_level);
    for (;;) {
        pthread_mutex_lock(&q->mu);
        size_t i = q->next < q->n ? q->next++ : q->n;
        pthread_mutex_unlock(&q->mu);
        if (i >= q->n) {
            break;
        }
        run_job(q->c->r, z, &q->jobs[i]);
        pthread_mutex_lock(&q->mu);
        q->jobs[i].done = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    dr_compressor_free(z);
    return NULL;
}

/* Settles one read of a job: turns a re-read that failed into the persistent result and
 * reports a failure that a re-read cleared as transient. Returns 1 when the object failed for
 * good (the first reason in *why, borrowed from j), 0 when it is good, or DR_EIO. */
static int settle(struct chk *c, struct pack_job *j, const char **why)
{
    if (j->read_rc < 0) {
        if (j->read_rc == DR_EIO) {
            return dr_error_restore(&j->read_err);
        }
        *why = j->read_err.msg;
        return 1;
    }
    if (!j->is_copy || !j->p->in_repo) {
        c->rep->st.packs_read++; /* a pack counts once; its copy's bytes count too */
    }
    c->rep->st.bytes_read += j->len;
    if (!j->pmsg && !j->nbad) {
        return 0;
    }
    if (j->reread_failed) {
        j->pmsg2 = j->pmsg ? dr_xstrdup(j->pmsg) : NULL;
        j->bad2 = j->bad;
        j->nbad2 = j->nbad;
        j->bad = NULL;
        j->nbad = 0;
    }
    if (!j->pmsg2 && j->nbad2 == 0) {
        problem(c->rep, DR_PROB_TRANSIENT, j->obj,
                "failed verification once (%s) and passed when read again: check the "
                "machine's memory and disk",
                j->pmsg ? j->pmsg : j->bad[0].msg);
        return 0;
    }
    *why = j->pmsg2 ? j->pmsg2 : j->bad2[0].msg;
    return 1;
}

/* True when the read j gives no good record at all (unreadable, or its header is). */
static bool wholly_bad(const struct pack_job *j)
{
    return j->read_rc < 0 || (j->pmsg2 && !j->bad2 && !strstr(j->pmsg2, "does not match its name"));
}

/* True when the read j can give no good record of blob id. */
static bool lacks(const struct pack_job *j, const struct dr_id *id)
{
    if (wholly_bad(j)) {
        return true;
    }
    for (size_t i = 0; i < j->nbad2; i++) {
        if (dr_id_eq(&j->bad2[i].id, id)) {
            return true;
        }
    }
    return false;
}

/* Reports a read that failed for good. other: the twin read of the same tree pack, which also
 * failed; a blob counts as damaged only when no copy has it good. */
static int report_failed(struct chk *c, struct pack_job *j, const struct pack_job *other)
{
    const char *obj = j->obj;
    struct pack_sum *p = j->p;
    if (j->read_rc < 0) {
        problem(c->rep, DR_PROB_PACK_HEADER, obj, "%s", j->read_err.msg);
        return 0;
    }
    int rc = 0;
    if (j->pmsg2) {
        problem(c->rep,
                strstr(j->pmsg2, "does not match its name") ? DR_PROB_PACK_HASH
                                                            : DR_PROB_PACK_HEADER,
                obj, "%s (persistent: failed twice)", j->pmsg2);
        if (!j->bad2 && !strstr(j->pmsg2, "does not match its name") &&
            (!other || wholly_bad(other))) {
            p->header_ok = false; /* every blob of this pack is unverifiable */
        }
    }
    for (size_t i = 0; rc >= 0 && i < j->nbad2; i++) {
        char h[DR_ID_HEX_LEN + 1];
        char *bobj = dr_xasprintf("blob %s", hex(&j->bad2[i].id, h));
        problem(c->rep, DR_PROB_BLOB_DAMAGED, bobj, "in pack '%s': %s (persistent)", obj,
                j->bad2[i].msg);
        free(bobj);
        if (other && !lacks(other, &j->bad2[i].id)) {
            continue;
        }
        uint32_t count;
        uint8_t flags;
        rc = work_get(c, &j->bad2[i].id, &count, &flags);
        if (rc >= 0) {
            rc = work_set(c, &j->bad2[i].id, count, flags | W_DAMAGED);
        }
    }
    return rc;
}

/* Records one finished job in the report and the index (main thread, in selection order). A
 * tree pack's two copies are judged together: when one is good, the other is noted for
 * report_copies (damage that `repair packs` mends) and no blob counts as damaged. */
static int record_job(struct chk *c, struct pack_job *j)
{
    struct pack_sum *p = j->p;
    const char *why = NULL, *why2 = NULL;
    int bad = settle(c, j, &why);
    int bad2 = bad < 0 || !j->twin ? 0 : settle(c, j->twin, &why2);
    int rc = bad < 0 ? bad : bad2 < 0 ? bad2 : 0;
    if (rc < 0) {
        return rc;
    }
    if (j->twin && bad != bad2) {
        struct pack_job *b = bad ? j : j->twin;
        copy_bad(p, b->is_copy, b->read_rc < 0 ? DR_PROB_PACK_HEADER : DR_PROB_PACK_HASH,
                 bad ? why : why2);
    } else if (bad) {
        rc = report_failed(c, j, j->twin);
        if (rc >= 0 && j->twin) {
            rc = report_failed(c, j->twin, j);
        }
    }
    if (rc >= 0) {
        struct dr_index_pack ip;
        if (dr_index_pack_get(c->txn, &p->id, &ip) == 0) {
            ip.verified_ns = dr_time_now_ns();
            ip.verified_ok = bad || bad2 ? 0 : 1;
            rc = dr_index_pack_put(c->txn, &p->id, &ip);
        } else {
            dr_error_clear();
        }
    }
    return rc;
}

static void job_release(struct pack_job *j)
{
    if (j->twin) {
        job_release(j->twin);
        free(j->twin);
    }
    free(j->obj);
    dr_error_saved_release(&j->read_err);
    free_bad(j->bad, j->nbad);
    free_bad(j->bad2, j->nbad2);
    free(j->pmsg);
    free(j->pmsg2);
}

static int by_verified(const void *a, const void *b)
{
    const struct pack_sum *x = *(struct pack_sum *const *)a, *y = *(struct pack_sum *const *)b;
    if (x->verified_ns != y->verified_ns) {
        return x->verified_ns < y->verified_ns ? -1 : 1;
    }
    return dr_id_cmp(&x->id, &y->id);
}

/* Chooses the packs to read: a deterministic part, a random sample, a byte budget or an age
 * limit; least recently verified first, so repeated partial scrubs cover everything. */
static size_t select_packs(struct chk *c, struct pack_sum ***out)
{
    const struct dr_check_opts *o = c->o;
    struct pack_sum **v = dr_xcalloc(c->npacks + 1, sizeof(*v));
    size_t n = 0;
    int64_t now = dr_time_now_ns();
    uint64_t seed = o->seed ? o->seed : (uint64_t)now;
    for (size_t i = 0; i < c->npacks; i++) {
        struct pack_sum *p = &c->packs[i];
        if (!p->in_repo && !p->in_copy) {
            continue;
        }
        if (o->subset == DR_SUBSET_PART && dr_get_u32le(p->id.b) % o->part_m != o->part_n - 1) {
            continue;
        }
        if (o->subset == DR_SUBSET_PERCENT) {
            /* a keyed hash of the pack id and the seed: uniform, reproducible with --seed */
            uint8_t in[40];
            struct dr_id h;
            memcpy(in, p->id.b, 32);
            dr_put_u64le(in + 32, seed);
            dr_crypto_hash(in, sizeof(in), &h);
            double u = (double)dr_get_u32le(h.b) / 4294967296.0;
            if (u >= o->percent / 100.0) {
                continue;
            }
        }
        if (o->max_age_ns > 0 && p->verified_ns > now - o->max_age_ns) {
            continue;
        }
        v[n++] = p;
    }
    qsort(v, n, sizeof(*v), by_verified);
    if (o->subset == DR_SUBSET_SIZE) {
        uint64_t sum = 0;
        size_t k = 0;
        while (k < n && sum < o->size) {
            sum += v[k++]->size;
        }
        n = k;
    }
    *out = v;
    return n;
}

/* Verifies the selected packs on one worker thread per core (the work is hashing, decryption
 * and decompression: CPU-bound), recording results in selection order on this thread. */
static int read_data(struct chk *c)
{
    struct pack_sum **sel;
    size_t n = select_packs(c, &sel);
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < n; i++) {
        total += sel[i]->size;
    }
    struct job_queue q = {.c = c, .n = n};
    q.jobs = dr_xcalloc(n + 1, sizeof(*q.jobs));
    for (size_t i = 0; i < n; i++) {
        struct pack_job *j = &q.jobs[i];
        j->p = sel[i];
        if (sel[i]->type == DR_BLOB_TREE && !sel[i]->in_repo) {
            j->obj = dr_pack_copy_name(&sel[i]->id); /* a lone copy; the pack is reported */
            j->is_copy = true;
        } else {
            j->obj = dr_pack_object_name(sel[i]->type, &sel[i]->id);
        }
        if (sel[i]->type == DR_BLOB_TREE && sel[i]->in_repo && sel[i]->in_copy) {
            /* --read-data verifies both copies of a tree pack */
            j->twin = dr_xcalloc(1, sizeof(*j->twin));
            j->twin->p = sel[i];
            j->twin->obj = dr_pack_copy_name(&sel[i]->id);
            j->twin->is_copy = true;
            total += sel[i]->copy_size;
        }
    }
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    pthread_t threads[16];
    int started = 0;
    for (int t = 0; t < nthreads && (size_t)t < n; t++) {
        if (pthread_create(&threads[t], NULL, job_worker, &q) == 0) {
            started++;
        }
    }
    if (started == 0 && n) {
        job_worker(&q); /* no threads: verify on this one */
    }
    int64_t start = dr_mono_ns();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&q.mu);
        while (!q.jobs[i].done) {
            pthread_cond_wait(&q.cv, &q.mu);
        }
        pthread_mutex_unlock(&q.mu);
        rc = record_job(c, &q.jobs[i]);
        done += q.jobs[i].len + (q.jobs[i].twin ? q.jobs[i].twin->len : 0);
        if (c->o->progress) {
            struct dr_progress pr = {.files = c->rep->st.packs_read,
                                     .bytes_read = done,
                                     .bytes_total = total,
                                     .elapsed_ns = dr_mono_ns() - start,
                                     .current = q.jobs[i].obj};
            c->o->progress(c->o->progress_arg, &pr, i + 1 == n);
        }
        if (rc < 0) {
            /* stop the workers early: no job after the running ones is taken; they are joined
             * below, and unstarted jobs are never waited for */
            pthread_mutex_lock(&q.mu);
            q.next = q.n;
            pthread_mutex_unlock(&q.mu);
            break;
        }
    }
    for (int t = 0; t < started; t++) {
        pthread_join(threads[t], NULL);
    }
    for (size_t i = 0; i < n; i++) {
        job_release(&q.jobs[i]);
    }
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.cv);
    free(q.jobs);
    free(sel);
    return rc;
}

int dr_check_run(struct dr_repo *r, const struct dr_check_opts *o, struct dr_check_report *rep)
{
    struct chk c = {.r = r, .o = o, .rep = rep};
    struct snap_ids ids = {0};
    int64_t start = dr_mono_ns();
    memset(rep, 0, sizeof(*rep));
    int rc = check_config(&c);
    if (rc >= 0) {
        rc = check_keys(&c);
    }
    if (rc >= 0) {
        rc = dr_backend_list(dr_repo_backend(r), "", layout_cb, &c);
    }
    if (rc >= 0) {
        rc = dr_backend_list(dr_repo_backend(r), "snapshots", snap_list_cb, &ids);
    }
    if (rc >= 0) {
        rc = dr_index_begin(dr_repo_index(r), true, &c.txn);
    }
    if (rc < 0) {
        goto out;
    }
    rc = dr_index_pack_foreach(c.txn, index_pack_cb, &c);
    if (rc >= 0) {
        rc = check_headers(&c);
    }
    if (rc >= 0) {
        rc = dr_index_blob_foreach(c.txn, unconfirmed_cb, &c);
    }
    if (rc >= 0) {
        rc = dr_index_work_clear(c.txn);
    }
    if (rc >= 0) {
        c.pass = 1;
        rc = walk_snapshots(&c, &ids);
    }
    /* with unreadable trees or snapshots the recount is incomplete: comparing it would report
     * every blob below them as a refcount error, burying the real damage */
    bool recount_complete = true;
    for (size_t i = 0; i < rep->nproblems; i++) {
        int k = rep->problems[i].kind;
        if (k == DR_PROB_TREE || k == DR_PROB_SNAPSHOT) {
            recount_complete = false;
        }
    }
    if (rc >= 0 && recount_complete) {
        rc = dr_index_blob_foreach(c.txn, refs_cb, &c);
    }
    if (rc >= 0 && recount_complete) {
        rc = dr_index_pack_foreach(c.txn, live_cb, &c);
    }
    if (rc >= 0 && o->read_data) {
        rc = read_data(&c);
    }
    if (rc >= 0) {
        note_copy_damage(&c);
        report_copies(&c, recount_complete);
        rc = dr_index_blob_foreach(c.txn, damaged_pack_blobs_cb, &c);
    }
    if (rc >= 0 && rep->ndamage) {
        c.pass = 2;
        rc = walk_snapshots(&c, &ids);
    }
    if (rc >= 0) {
        rc = dr_index_scratch_clear(c.txn);
    }
    if (rc >= 0) {
        rc = dr_index_work_clear(c.txn);
    }
    if (rc >= 0) {
        rc = dr_index_commit(c.txn);
    } else {
        dr_index_abort(c.txn);
    }
out:
    rep->st.duration_ns = dr_mono_ns() - start;
    for (size_t i = 0; i < c.npacks; i++) {
        free(c.packs[i].orig_msg);
        free(c.packs[i].copy_msg);
    }
    free(c.packs);
    free(ids.v);
    return rc;
}
