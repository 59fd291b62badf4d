/* keys.c: key files: several passwords can open one repository, each wrapping the same master
 * key (restic's and borg 2's model).
 *
 * From format version 2 every key file has a second copy, copies/keys/<id>, with the same bytes
 * (format/repository.md "Redundancy"). Both are named by the hash of their bytes, so a damaged
 * copy is found without a key and the other one used. A key is the union of the two names: a
 * key whose first copy was lost still opens the repository (with a warning), which is why
 * removing a key deletes the second copy first, so that an interrupted removal leaves the key
 * visible in `key list` rather than hidden in copies/. */
#include "drrepo/repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/identity.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "store_int.h"

/* ---- the key files of a repository, with their copies --------------------------------------- */

/* The names found by listing keys/ and copies/keys/: sorted and merged into slots afterwards,
 * so that many key files (planted ones, say) cost n log n, not n squared. */
struct name_list {
    struct name_entry {
        struct dr_id id;
        bool copy;
    } * v;
    size_t n, alloc;
    bool copies; /* listing copies/keys */
};

static int name_list_cb(void *arg, const char *name, uint64_t size)
{
    struct name_list *nl = arg;
    (void)size;
    struct dr_id id;
    /* anything else in keys/ is not a key file: check's layout pass reports it */
    if (!dr_layout_is(name, nl->copies ? DR_LAYOUT_KEY_COPY : DR_LAYOUT_KEY, &id)) {
        return 0;
    }
    DR_GROW(nl->v, nl->alloc, nl->n + 1);
    nl->v[nl->n].id = id;
    nl->v[nl->n].copy = nl->copies;
    nl->n++;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    const struct name_entry *x = a, *y = b;
    int c = memcmp(x->id.b, y->id.b, DR_ID_LEN);
    return c ? c : (int)x->copy - (int)y->copy;
}

/* One slot per distinct id of nl (sorted), with the states of the copies that were listed. */
static struct dr_keyslot *slots_from_names(const struct name_list *nl, size_t *out_n)
{
    struct dr_keyslot *v = dr_xcalloc(nl->n ? nl->n : 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < nl->n; i++) {
        if (n == 0 || !dr_id_eq(&v[n - 1].id, &nl->v[i].id)) {
            struct dr_keyslot *s = &v[n++];
            s->id = nl->v[i].id;
            dr_layout_name(DR_LAYOUT_KEY, &s->id, s->name);
            dr_layout_name(DR_LAYOUT_KEY_COPY, &s->id, s->copy_name);
            s->state = s->copy_state = DR_COPY_MISSING;
            dr_buf_init(&s->bytes, DR_KEYFILE_MAX);
        }
        if (nl->v[i].copy) {
            v[n - 1].copy_state = DR_COPY_UNREAD;
        } else {
            v[n - 1].state = DR_COPY_UNREAD;
        }
    }
    *out_n = n;
    return v;
}

/* Reads one copy of s into s->bytes when it is intact; sets *state and why. DR_EIO only. */
static int read_copy(struct dr_repo *r, struct dr_keyslot *s, const char *name,
                     enum dr_copy_state *state, char *why, size_t whylen)
{
    struct dr_buf raw = DR_BUF_INIT(DR_KEYFILE_MAX);
    int rc = dr_backend_get(r->backend, name, 0, UINT64_MAX, &raw);
    if (rc == DR_ENOENT) {
        *state = DR_COPY_MISSING;
        snprintf(why, whylen, "is missing");
        rc = 0;
    } else if (rc == DR_ECORRUPT) {
        *state = DR_COPY_DAMAGED;
        snprintf(why, whylen, "is damaged (%s)", dr_error_msg());
        rc = 0;
    } else if (rc >= 0) {
        struct dr_id got;
        dr_crypto_hash(raw.buf, raw.len, &got);
        if (dr_id_eq(&got, &s->id)) {
            *state = DR_COPY_OK;
            if (s->bytes.len == 0) {
                rc = dr_buf_add(&s->bytes, raw.buf, raw.len);
            }
        } else {
            *state = DR_COPY_DAMAGED;
            snprintf(why, whylen, "is damaged (its content does not match its name)");
        }
    }
    if (rc >= 0) {
        dr_error_clear(); /* a missing or damaged copy is a state, not an error */
    }
    dr_buf_release(&raw);
    return rc < 0 ? rc : 0;
}

void dr_keyslots_free(struct dr_keyslot *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dr_buf_release(&v[i].bytes);
    }
    free(v);
}

int dr_repo_keyslots(struct dr_repo *r, bool read_all, struct dr_keyslot **out, size_t *out_n)
{
    struct name_list nl = {0};
    struct dr_keyslot *v = NULL;
    size_t n = 0;
    bool copies = r->config.version >= 2;
    int rc = dr_backend_list(r->backend, DR_OBJ_KEYS, name_list_cb, &nl);
    if (rc >= 0 && copies) {
        nl.copies = true;
        rc = dr_backend_list(r->backend, DR_OBJ_KEYS_COPY, name_list_cb, &nl);
    }
    if (rc < 0) {
        free(nl.v);
        return rc;
    }
    if (nl.n) {
        qsort(nl.v, nl.n, sizeof(*nl.v), name_cmp);
    }
    v = slots_from_names(&nl, &n);
    free(nl.v);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        struct dr_keyslot *s = &v[i];
        if (s->state == DR_COPY_UNREAD) {
            rc = read_copy(r, s, s->name, &s->state, s->why, sizeof(s->why));
        } else {
            snprintf(s->why, sizeof(s->why), "is missing");
        }
        if (rc < 0 || !copies) {
            continue;
        }
        if (s->copy_state == DR_COPY_UNREAD && (read_all || s->state != DR_COPY_OK)) {
            rc = read_copy(r, s, s->copy_name, &s->copy_state, s->copy_why, sizeof(s->copy_why));
        } else if (s->copy_state == DR_COPY_MISSING) {
            snprintf(s->copy_why, sizeof(s->copy_why), "is missing");
        }
    }
    if (rc < 0) {
        dr_keyslots_free(v, n);
        return rc;
    }
    *out = v;
    *out_n = n;
    return 0;
}

/* ---- opening --------------------------------------------------------------------------------- */

/* Says on stderr that s is read from its second copy, or cannot be read at all. */
static void warn_slot(const struct dr_repo *r, const struct dr_keyslot *s)
{
    if (s->state == DR_COPY_OK) {
        return;
    }
    if (s->bytes.len) {
        dr_log_warn("key file '%s' %s; using its copy '%s': run 'drrepo repair keys'", s->name,
                    s->why, s->copy_name);
    } else if (r->config.version < 2) {
        dr_log_warn("key file '%s' %s, and format version 1 keeps no copy of it; skipped", s->name,
                    s->why);
    } else {
        dr_log_warn("key file '%s' %s, and its copy '%s' %s; skipped", s->name, s->why,
                    s->copy_name, s->copy_why);
    }
}

/* A key file an open may run Argon2id on. */
struct cand {
    struct dr_keyslot *s;
    uint64_t work;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->work != y->work) {
        return x->work < y->work ? -1 : 1;
    }
    return memcmp(x->s->id.b, y->s->id.b, DR_ID_LEN);
}

/* The budget of this open: DRREPO_KDF_BUDGET (a size: byte-passes) or dr_kdf_budget. */
static int open_budget(uint64_t cheapest, uint64_t *out)
{
    const char *e = getenv("DRREPO_KDF_BUDGET");
    if (!e || !*e) {
        *out = dr_kdf_budget(cheapest);
        return 0;
    }
    if (dr_parse_size(e, out) < 0) {
        return dr_errorf(DR_EUSAGE, "DRREPO_KDF_BUDGET '%s' is not a size such as 16G", e);
    }
    return 0;
}

static void size_str(uint64_t v, char *out, size_t n)
{
    if (v >= (1ull << 30) && v % (1ull << 30) == 0) {
        snprintf(out, n, "%llu GiB", (unsigned long long)(v >> 30));
    } else {
        snprintf(out, n, "%llu KiB", (unsigned long long)(v >> 10));
    }
}

int dr_repo_load_keys(struct dr_repo *r, const char *password, const char *hint,
                      struct dr_open_failure *f)
{
    struct dr_keyslot *v = NULL;
    struct cand *c = NULL;
    size_t n = 0, nc = 0;
    uint8_t master[DR_MASTER_KEY_LEN];
    int n_auth = 0, n_damaged = 0, n_untried = 0, other_rc = 0;
    uint64_t budget = 0, spent = 0;
    const char *damaged = NULL;
    char other_msg[512] = "";
    int rc = dr_repo_keyslots(r, false, &v, &n);
    if (rc < 0) {
        goto out;
    }
    /* Every key file's clear header is checked first, at no cost, so that the key derivations
     * can be ordered and bounded (format/crypto.md "Opening a repository"). */
    c = dr_xcalloc(n ? n : 1, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        struct dr_keyslot *s = &v[i];
        struct dr_keyfile_info info;
        warn_slot(r, s);
        if (!s->bytes.len) {
            n_damaged++;
            damaged = s->name;
            continue;
        }
        int irc = dr_keyfile_info(s->bytes.buf, s->bytes.len, &info);
        if (irc < 0) {
            /* intact bytes that do not parse: a newer key file version, or a file that was
             * planted or written by a broken drrepo */
            dr_log_warn("key file '%s': %s; skipped", s->name, dr_error_msg());
            if (!other_rc) {
                other_rc = irc;
                snprintf(other_msg, sizeof(other_msg), "key file '%s': %s", s->name,
                         dr_error_msg());
                snprintf(f->object, sizeof(f->object), "%s", s->name);
            }
        } else {
            c[nc].s = s;
            c[nc].work = dr_kdf_work(info.opslimit, info.memlimit);
            nc++;
        }
        dr_error_clear();
    }
    if (nc) {
        qsort(c, nc, sizeof(*c), cand_cmp);
        rc = open_budget(c[0].work, &budget);
        if (rc < 0) {
            goto out;
        }
    }
    /* the key file that opened the repository last time (from this cache) goes first */
    for (size_t i = 1; hint && i < nc; i++) {
        if (strcmp(c[i].s->name, hint) == 0) {
            struct cand h = c[i];
            memmove(c + 1, c, i * sizeof(*c));
            c[0] = h;
        }
    }
    for (size_t i = 0; i < nc && !r->keys; i++) {
        struct dr_keyslot *s = c[i].s;
        if (!dr_kdf_may_try(budget, spent, c[i].work, i == 0)) {
            n_untried++;
            dr_log_detail("key file '%s' not tried: its Argon2id work would exceed the budget",
                          s->name);
            continue;
        }
        dr_log_detail("running argon2id on key file '%s'", s->name);
        rc = dr_keyfile_open(s->bytes.buf, s->bytes.len, &r->config.repo_id, password,
                             strlen(password), master);
        if (rc == 0) {
            r->keys = dr_keys_from_master(master);
            /* the config's clear version: its sealed body, decoded next, covers it */
            dr_keys_set_format(r->keys, r->config.version);
            r->keyfile_name = dr_xstrdup(s->name);
        } else {
            spent += c[i].work;
            if (rc == DR_EAUTH) {
                n_auth++;
            } else {
                dr_log_warn("key file '%s': %s; skipped", s->name, dr_error_msg());
                if (!other_rc) {
                    other_rc = rc;
                    snprintf(other_msg, sizeof(other_msg), "key file '%s': %s", s->name,
                             dr_error_msg());
                    snprintf(f->object, sizeof(f->object), "%s", s->name);
                }
            }
        }
        dr_error_clear();
    }
    rc = 0;
    if (r->keys) {
        goto out;
    }
    char untried[256] = "";
    if (n_untried) {
        char b[32];
        size_str(budget, b, sizeof(b));
        snprintf(untried, sizeof(untried),
                 "; %d key file%s not tried: those that failed used up the Argon2id budget of "
                 "an open (%s-passes; DRREPO_KDF_BUDGET raises it)",
                 n_untried, n_untried == 1 ? " was" : "s were", b);
    }
    if (n_auth > 0) {
        rc = dr_errorf(
            DR_EAUTH, "wrong password: no key file of repository '%s' opens with it%s%s%s",
            r->location, n_damaged ? " (some key files are damaged: see the warnings above)" : "",
            untried,
            r->config.version < 2 ? "; format version 1 cannot tell this from a "
                                    "damaged repository id in 'config'"
                                  : "");
    } else if (n_damaged == 1 && !other_rc) {
        rc = dr_errorf(DR_ECORRUPT,
                       "key file '%s' of repository '%s' is damaged and has no intact copy: "
                       "restore it from a backup of the repository",
                       damaged, r->location);
        snprintf(f->object, sizeof(f->object), "%s", damaged);
    } else if (n_damaged > 0 && !other_rc) {
        rc = dr_errorf(DR_ECORRUPT,
                       "every key file of repository '%s' is damaged (%d, named above): restore "
                       "them from a backup of the repository",
                       r->location, n_damaged);
        snprintf(f->object, sizeof(f->object), "%s", DR_OBJ_KEYS);
    } else if (other_rc) {
        rc = dr_errorf(other_rc, "%s%s", other_msg, untried);
    } else {
        rc = dr_errorf(DR_ECORRUPT, "repository '%s' has no key files", r->location);
        snprintf(f->object, sizeof(f->object), "%s", DR_OBJ_KEYS);
    }
out:
    dr_wipe(master, sizeof(master));
    free(c);
    dr_keyslots_free(v, n);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------------------
 */

static void host_user(char *host, size_t hostlen, char *user, size_t userlen)
{
    dr_identity_host(host, hostlen, "unknown");
    dr_identity_user(user, userlen, "unknown");
}

int dr_repo_write_keyfile(struct dr_backend *b, const struct dr_keys *k,
                          const struct dr_repo_config *c, const char *password, uint64_t ops,
                          uint64_t mem, struct dr_id *out_name)
{
    char host[256], user[256];
    host_user(host, sizeof(host), user, sizeof(user));
    struct dr_buf kf = DR_BUF_INIT(DR_KEYFILE_MAX);
    char *obj = NULL;
    struct dr_keyfile_params p = {
        /* what a version 1 repository gets written stays readable by the drrepo that made it */
        .version = c->version >= 2 ? DR_KEYFILE_VERSION : 1,
        .opslimit = ops,
        .memlimit = mem,
        .host = host,
        .user = user,
        .created_ns = dr_time_now_ns(),
    };
    int rc = dr_keyfile_create(k, &c->repo_id, password, strlen(password), &p, &kf);
    if (rc < 0) {
        goto out;
    }
    struct dr_id name;
    dr_crypto_hash(kf.buf, kf.len, &name);
    obj = dr_layout_name_dup(DR_LAYOUT_KEY, &name);
    rc = dr_backend_put(b, obj, kf.buf, kf.len, true);
    if (rc >= 0 && c->version >= 2) {
        free(obj);
        obj = dr_layout_name_dup(DR_LAYOUT_KEY_COPY, &name);
        rc = dr_backend_put(b, obj, kf.buf, kf.len, true);
    }
    if (rc >= 0 && out_name) {
        *out_name = name;
    }
out:
    free(obj);
    dr_buf_release(&kf);
    return rc;
}

/* ---- key list, add, remove, passwd ----------------------------------------------------------- */

int dr_repo_key_list(struct dr_repo *r, dr_key_cb cb, void *arg)
{
    struct dr_keyslot *v = NULL;
    size_t n = 0;
    int rc = dr_repo_keyslots(r, false, &v, &n);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        struct dr_keyfile_info info;
        memset(&info, 0, sizeof(info));
        warn_slot(r, &v[i]);
        if (v[i].bytes.len && dr_keyfile_details(r->keys, &r->config.repo_id, v[i].bytes.buf,
                                                 v[i].bytes.len, &info) < 0) {
            dr_log_warn("key file '%s' cannot be read: %s", v[i].name, dr_error_msg());
            dr_error_clear();
            info.version = 0;
        }
        bool current = r->keyfile_name && strcmp(r->keyfile_name, v[i].name) == 0;
        rc = cb(arg, &v[i].id, &info, current);
    }
    dr_keyslots_free(v, n);
    return rc;
}

int dr_repo_key_add(struct dr_repo *r, const char *password, uint64_t ops, uint64_t mem,
                    struct dr_id *out_id)
{
    if (!ops || !mem) {
        struct dr_keyslot *v = NULL;
        size_t n = 0;
        struct dr_keyfile_info info;
        int rc = dr_repo_keyslots(r, false, &v, &n);
        for (size_t i = 0; rc >= 0 && i < n; i++) {
            if (strcmp(v[i].name, r->keyfile_name) == 0) {
                rc = dr_keyfile_info(v[i].bytes.buf, v[i].bytes.len, &info);
                ops = ops ? ops : info.opslimit;
                mem = mem ? mem : info.memlimit;
            }
        }
        dr_keyslots_free(v, n);
        if (rc < 0) {
            return rc;
        }
        if (!ops || !mem) {
            return dr_errorf(DR_ENOENT, "the key file in use, '%s', is gone", r->keyfile_name);
        }
    }
    return dr_repo_write_keyfile(r->backend, r->keys, &r->config, password, ops, mem, out_id);
}

/* Deletes both copies of key file id, the second first (see the top of the file). */
static int delete_key(struct dr_repo *r, const struct dr_id *id)
{
    char *copy = dr_layout_name_dup(DR_LAYOUT_KEY_COPY, id);
    char *obj = dr_layout_name_dup(DR_LAYOUT_KEY, id);
    int rc = dr_backend_delete(r->backend, copy);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rc = 0;
    }
    if (rc >= 0) {
        rc = dr_backend_delete(r->backend, obj);
    }
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rc = 0;
    }
    free(copy);
    free(obj);
    return rc;
}

int dr_repo_key_remove(struct dr_repo *r, const char *name)
{
    struct dr_keyslot *v = NULL;
    size_t n = 0, nmatch = 0, match = 0;
    int rc = dr_repo_keyslots(r, false, &v, &n);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        char hex[DR_ID_HEX_LEN + 1];
        if (strncmp(dr_id_hex(&v[i].id, hex), name, strlen(name)) == 0) {
            match = i;
            nmatch++;
        }
    }
    if (nmatch == 0) {
        rc = dr_errorf(DR_ENOENT, "no key file '%s'", name);
    } else if (nmatch > 1) {
        rc = dr_errorf(DR_EUSAGE, "key prefix '%s' is ambiguous", name);
    } else if (r->keyfile_name && strcmp(v[match].name, r->keyfile_name) == 0) {
        rc = dr_errorf(DR_EUSAGE, "refusing to remove the key in use; open the repository "
                                  "with another password to remove it");
    } else if (n <= 1) {
        rc = dr_errorf(DR_EUSAGE, "refusing to remove the last key");
    } else {
        rc = delete_key(r, &v[match].id);
    }
    dr_keyslots_free(v, n);
    return rc;
}

int dr_repo_key_passwd(struct dr_repo *r, const char *password, struct dr_id *out_id)
{
    struct dr_id id, old;
    enum dr_layout_kind kind;
    int rc = dr_repo_key_add(r, password, 0, 0, &id);
    if (rc < 0) {
        return rc;
    }
    /* the new key is durable before the old one goes: a crash leaves both, never neither */
    rc = dr_layout_parse(r->keyfile_name, &kind, &old);
    if (rc >= 0) {
        rc = delete_key(r, &old);
    }
    if (rc < 0) {
        return rc;
    }
    free(r->keyfile_name);
    r->keyfile_name = dr_layout_name_dup(DR_LAYOUT_KEY, &id);
    *out_id = id;
    return 0;
}
