/* repo.c: opening, creating and closing repositories; storing packs and deleting objects
 * (reading them is blobread.c).
 *
 * The index is a cache (see index.h): dr_repo_open brings it up to date with what the
 * repository holds before anything relies on it, so a crash between writing an object and
 * indexing it, another client's snapshots, or a deleted index never leave it wrong. */
#include "drrepo/repo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fault.h"
#include "drrepo/format.h"
#include "drrepo/fs.h"
#include "drrepo/identity.h"
#include "drrepo/layout.h"
#include "drrepo/lock.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/pack.h"
#include "drrepo/secure.h"
#include "drrepo/util.h"
#include "drrepo/workset.h"
#include "store_int.h"

void dr_repo_params_default(struct dr_repo_params *p)
{
    *p = (struct dr_repo_params){
        .chunker = {.alg = DR_CHUNKER_GEAR_V1,
                    .min = DR_DEFAULT_CHUNK_MIN,
                    .avg = DR_DEFAULT_CHUNK_AVG,
                    .max = DR_DEFAULT_CHUNK_MAX},
        .pack_size = DR_DEFAULT_PACK_SIZE,
        .zstd_level = DR_DEFAULT_ZSTD_LEVEL,
        .kdf_opslimit = DR_KDF_OPSLIMIT_DEFAULT,
        .kdf_memlimit = DR_KDF_MEMLIMIT_DEFAULT,
        .version = DR_REPO_VERSION,
    };
}

static int count_cb(void *arg, const char *name, uint64_t size)
{
    (void)name;
    (void)size;
    (*(int *)arg)++;
    return 0;
}

int dr_repo_init(const char *location, const char *password, const struct dr_repo_params *params,
                 struct dr_id *out_repo_id)
{
    int rc = dr_crypto_init();
    if (rc < 0) {
        return rc;
    }
    if (!password || !*password) {
        return dr_errorf(DR_EUSAGE, "an empty password is not allowed");
    }
    rc = dr_chunker_params_check(&params->chunker);
    if (rc < 0) {
        return rc;
    }
    if (params->pack_size < DR_PACK_SIZE_MIN || params->pack_size > DR_PACK_SIZE_MAX) {
        return dr_errorf(DR_EUSAGE, "pack size must be between %u and %u bytes", DR_PACK_SIZE_MIN,
                         DR_PACK_SIZE_MAX);
    }
    if (params->zstd_level < 1 || params->zstd_level > 19) {
        return dr_errorf(DR_EUSAGE, "compression level must be between 1 and 19");
    }
    if (params->version < 2 || params->version > DR_REPO_VERSION) {
        return dr_errorf(DR_EUSAGE, "format version must be between 2 and %u", DR_REPO_VERSION);
    }
    if (!params->insecure_kdf) {
        rc = dr_kdf_check_floor(params->kdf_opslimit, params->kdf_memlimit);
        if (rc < 0) {
            return rc;
        }
    }
    struct dr_backend *b = NULL;
    struct dr_keys *k = NULL;
    struct dr_buf cfg = DR_BUF_INIT(DR_CONFIG_MAX);
    rc = dr_backend_open(location, &b);
    if (rc < 0) {
        return rc;
    }
    uint64_t size;
    if (dr_backend_stat(b, DR_OBJ_CONFIG, &size) == 0 ||
        dr_backend_stat(b, DR_OBJ_CONFIG_COPY, &size) == 0) {
        rc = dr_errorf(DR_EEXIST, "a repository already exists at '%s'", location);
        goto out;
    }
    int n = 0;
    rc = dr_backend_list(b, "", count_cb, &n);
    if (rc < 0) {
        goto out;
    }
    if (n > 0) {
        rc = dr_errorf(DR_EEXIST, "'%s' is not empty; refusing to create a repository there",
                       location);
        goto out;
    }
    k = dr_keys_new_random();
    dr_keys_set_format(k, params->version);
    struct dr_repo_config c = {
        .version = params->version,
        .chunker = params->chunker,
        .pack_size = params->pack_size,
        .zstd_level = params->zstd_level,
        .created_ns = dr_time_now_ns(),
    };
    dr_random_bytes(c.repo_id.b, sizeof(c.repo_id.b));
    /* Key file (both copies) first, then the config's second copy, the config last: a
     * repository "exists" once config does, and by then it can be opened. A crash in between
     * leaves a directory that init may be re-run on after emptying it. */
    rc =
        dr_repo_write_keyfile(b, k, &c, password, params->kdf_opslimit, params->kdf_memlimit, NULL);
    if (rc < 0) {
        goto out;
    }
    /* before config: a repository that exists has it, so every tree pack it will ever hold is
     * expected to have its copy (format/repository.md "Tree pack copies") */
    rc = dr_backend_put(b, DR_OBJ_TREE_COPIES, "", 0, false);
    if (rc < 0) {
        goto out;
    }
    rc = dr_config_encode(k, &c, NULL, &cfg);
    if (rc < 0) {
        goto out;
    }
    rc = dr_backend_put(b, DR_OBJ_CONFIG_COPY, cfg.buf, cfg.len, true);
    if (rc < 0) {
        goto out;
    }
    rc = dr_backend_put(b, DR_OBJ_CONFIG, cfg.buf, cfg.len, true);
    if (rc < 0) {
        goto out;
    }
    /* after config, so that a disk too small for it still gets a repository; the next command
     * that takes a lock writes it then (lock.h) */
    if (dr_lock_reserve_ensure(b) < 0) {
        dr_log_warn("the repository's reserve is not written (%s); the next command that takes "
                    "a lock writes it",
                    dr_error_msg());
        dr_error_clear();
    }
    if (out_repo_id) {
        *out_repo_id = c.repo_id;
    }
out:
    dr_buf_release(&cfg);
    dr_keys_free(k);
    dr_backend_close(b);
    return rc;
}

static char *default_cache_dir(void)
{
    const char *e = getenv("DRREPO_CACHE_DIR");
    if (e && *e) {
        return dr_xstrdup(e);
    }
    e = getenv("XDG_CACHE_HOME");
    if (e && *e) {
        return dr_xasprintf("%s/drrepo", e);
    }
    e = getenv("HOME");
    if (e && *e) {
        return dr_xasprintf("%s/.cache/drrepo", e);
    }
    char *home = dr_identity_home();
    if (home) {
        char *dir = dr_xasprintf("%s/.cache/drrepo", home);
        free(home);
        return dir;
    }
    return dr_xstrdup("/var/cache/drrepo");
}

/* The key file that opened the repository last time from this cache directory, which an open
 * tries first (format/crypto.md "Opening a repository"): with the right password, planted key
 * files then cost nothing. A hint only: whatever it names is verified like any key file. */
static char *last_key_path(const struct dr_repo *r)
{
    char hex[DR_ID_HEX_LEN + 1];
    return dr_xasprintf("%s/%s/last-key", r->cache_dir, dr_id_hex(&r->config.repo_id, hex));
}

static char *last_key_read(const struct dr_repo *r)
{
    char *path = last_key_path(r);
    struct dr_buf b = DR_BUF_INIT(256);
    char *out = NULL;
    if (dr_fs_read_file(path, &b) >= 0 && b.len > 0) {
        b.buf[strcspn(b.buf, "\n")] = '\0';
        out = dr_xstrdup(b.buf);
    }
    dr_error_clear();
    dr_buf_release(&b);
    free(path);
    return out;
}

static void last_key_write(const struct dr_repo *r)
{
    char *path = last_key_path(r);
    char *dir = dr_fs_dirname(path);
    char *line = dr_xasprintf("%s\n", r->keyfile_name);
    int rc = dr_fs_mkdir_p(dir, 0700);
    rc = rc < 0 ? rc : dr_fs_write_atomic(path, line, strlen(line), false);
    if (rc < 0) {
        /* a cache that cannot be written costs the next open its hint, nothing more */
        dr_log_debug("cannot remember the key file in '%s': %s", path, dr_error_msg());
        dr_error_clear();
    }
    free(line);
    free(dir);
    free(path);
}

/* One copy of the config as read by open. */
struct cfg_copy {
    const char *name;
    struct dr_buf raw;
    int rc;        /* 1: not read yet; 0: intact (dr_config_check); < 0: why not */
    char why[512]; /* for rc < 0: the message */
    struct dr_repo_config clear;
};

/* Reads and checks one copy. Only an I/O error is returned: a missing or damaged copy is a
 * state of cc. */
static int cfg_read(struct dr_repo *r, struct cfg_copy *cc)
{
    dr_buf_reset(&cc->raw);
    cc->rc = dr_backend_get(r->backend, cc->name, 0, UINT64_MAX, &cc->raw);
    if (cc->rc == DR_ENOENT) {
        snprintf(cc->why, sizeof(cc->why), "config '%s' is missing", cc->name);
    } else if (cc->rc == DR_ECORRUPT) {
        snprintf(cc->why, sizeof(cc->why), "config '%s' is damaged: %s", cc->name, dr_error_msg());
    } else if (cc->rc < 0) {
        return cc->rc;
    } else {
        cc->rc = dr_config_check(cc->name, (const uint8_t *)cc->raw.buf, cc->raw.len, &cc->clear);
        snprintf(cc->why, sizeof(cc->why), "%s", cc->rc < 0 ? dr_error_msg() : "");
    }
    dr_error_clear();
    return 0;
}

/* Chooses the copy of the config to believe before a key is open (format/repository.md
 * "Redundancy"): the first copy when it checks, else the second with a warning; a version 1
 * config has no second copy. Sets *out_used; the error names both copies when neither will do. */
static int config_choose(struct dr_repo *r, struct cfg_copy cc[2], int *out_used)
{
    int rc = cfg_read(r, &cc[0]);
    if (rc < 0) {
        return rc;
    }
    if (cc[0].rc == 0) {
        *out_used = 0;
        return 0;
    }
    if (cc[0].rc == DR_EUNSUPPORTED) {
        return dr_errorf(DR_EUNSUPPORTED, "repository '%s': %s", r->location, cc[0].why);
    }
    rc = cfg_read(r, &cc[1]);
    if (rc < 0) {
        return rc;
    }
    if (cc[1].rc == 0) {
        dr_log_warn("%s; using its copy '%s': run 'drrepo repair config'", cc[0].why, cc[1].name);
        *out_used = 1;
        return 0;
    }
    if (cc[0].rc == DR_ENOENT && cc[1].rc == DR_ENOENT) {
        return dr_errorf(DR_ENOREPO,
                         "no repository at '%s' (no config file; create one with 'drrepo init')",
                         r->location);
    }
    if (cc[0].rc == DR_ENOREPO && cc[1].rc == DR_ENOENT) {
        return dr_errorf(DR_ENOREPO, "'%s' is not a drrepo repository (no valid config)",
                         r->location);
    }
    if (cc[1].rc == DR_EUNSUPPORTED) {
        return dr_errorf(DR_EUNSUPPORTED, "repository '%s': %s", r->location, cc[1].why);
    }
    if (cc[1].rc == DR_ENOENT && cc[0].rc == DR_ECORRUPT) {
        /* a version 1 config is damaged (version 1 keeps no copy), or a version 2 config and
         * its copy are both gone or damaged: which, the damaged bytes cannot tell */
        return dr_errorf(DR_ECORRUPT,
                         "repository '%s': %s, and it has no second copy '%s': restore the "
                         "config from a backup of the repository",
                         r->location, cc[0].why, cc[1].name);
    }
    return dr_errorf(DR_ECORRUPT,
                     "repository '%s': %s; and %s: restore the config from a backup of the "
                     "repository",
                     r->location, cc[0].why, cc[1].why);
}

/* Decodes the chosen copy with the key; if it does not authenticate, the other copy is tried
 * (version 2). Fills r->config. */
static int config_decode(struct dr_repo *r, struct cfg_copy cc[2], int used)
{
    int rc = dr_config_decode(r->keys, cc[used].name, (const uint8_t *)cc[used].raw.buf,
                              cc[used].raw.len, &r->config);
    if (rc >= 0) {
        return rc;
    }
    char first[512];
    snprintf(first, sizeof(first), "%s", dr_error_msg());
    if (cc[used].clear.version < 2) {
        return dr_errorf(rc,
                         "repository '%s': %s; format version 1 keeps no second copy: restore "
                         "'config' from a backup of the repository",
                         r->location, first);
    }
    if (used == 1) {
        return dr_errorf(rc,
                         "repository '%s': %s: restore the config from a backup of the "
                         "repository",
                         r->location, first);
    }
    rc = cfg_read(r, &cc[1]);
    if (rc < 0) {
        return rc;
    }
    if (cc[1].rc == 0 && dr_id_eq(&cc[1].clear.repo_id, &cc[0].clear.repo_id)) {
        rc = dr_config_decode(r->keys, cc[1].name, (const uint8_t *)cc[1].raw.buf, cc[1].raw.len,
                              &r->config);
        if (rc >= 0) {
            dr_log_warn("%s; using its copy '%s': run 'drrepo repair config'", first, cc[1].name);
            return 0;
        }
    }
    return dr_errorf(DR_ECORRUPT,
                     "repository '%s': %s; and its copy '%s' will not do either: restore the "
                     "config from a backup of the repository",
                     r->location, first, cc[1].name);
}

int dr_repo_open(const struct dr_repo_open_opts *opts, struct dr_repo **out)
{
    struct dr_open_failure ignored, *f = opts->out_failure ? opts->out_failure : &ignored;
    memset(f, 0, sizeof(*f));
    f->stage = DR_OPEN_CONFIG;
    int rc = dr_crypto_init();
    if (rc < 0) {
        return rc;
    }
    struct dr_repo *r = dr_xcalloc(1, sizeof(*r));
    struct cfg_copy cc[2] = {
        {.name = DR_OBJ_CONFIG, .raw = DR_BUF_INIT(DR_CONFIG_MAX), .rc = 1},
        {.name = DR_OBJ_CONFIG_COPY, .raw = DR_BUF_INIT(DR_CONFIG_MAX), .rc = 1},
    };
    int used = 0;
    char *hint = NULL;
    r->location = dr_xstrdup(opts->location);
    rc = dr_backend_open(opts->location, &r->backend);
    if (rc < 0) {
        goto out;
    }
    rc = config_choose(r, cc, &used);
    if (rc == DR_EIO && !dr_backend_exists(r->backend)) {
        rc = dr_errorf(DR_ENOREPO,
                       "no repository at '%s' (no config file; create one with "
                       "'drrepo init')",
                       opts->location);
    }
    if (rc < 0) {
        snprintf(f->object, sizeof(f->object), "%s", DR_OBJ_CONFIG);
        goto out;
    }
    r->config = cc[used].clear;
    r->cache_dir = opts->cache_dir ? dr_xstrdup(opts->cache_dir) : default_cache_dir();
    f->stage = DR_OPEN_KEYS;
    hint = last_key_read(r);
    rc = dr_repo_load_keys(r, opts->password ? opts->password : "", hint, f);
    if (rc < 0) {
        goto out;
    }
    if (!hint || strcmp(hint, r->keyfile_name) != 0) {
        last_key_write(r);
    }
    f->stage = DR_OPEN_CONFIG;
    rc = config_decode(r, cc, used);
    if (rc < 0) {
        snprintf(f->object, sizeof(f->object), "%s", DR_OBJ_CONFIG);
        goto out;
    }
    f->stage = DR_OPEN_INDEX;
    f->object[0] = '\0';
    r->z = dr_compressor_new(r->config.zstd_level);
    if (!opts->no_index) {
        rc = dr_repo_index_attach(r, opts->verify_index);
        if (rc >= 0 && !opts->no_sync) {
            rc = dr_repo_sync_index(r, DR_SYNC_CHANGES);
        }
        if (rc < 0) {
            goto out;
        }
    }
    *out = r;
    r = NULL;
    rc = 0;
out:
    free(hint);
    dr_buf_release(&cc[0].raw);
    dr_buf_release(&cc[1].raw);
    dr_repo_close(r);
    return rc;
}

struct dr_backend *dr_repo_backend(struct dr_repo *r)
{
    return r->backend;
}

struct dr_index *dr_repo_index(struct dr_repo *r)
{
    return r->index;
}

const struct dr_keys *dr_repo_keys(const struct dr_repo *r)
{
    return r->keys;
}

const struct dr_repo_config *dr_repo_config(const struct dr_repo *r)
{
    return &r->config;
}

struct dr_compressor *dr_repo_compressor(struct dr_repo *r)
{
    return r->z;
}

const char *dr_repo_cache_dir(const struct dr_repo *r)
{
    return r->cache_dir;
}

uint32_t dr_repo_pack_version(const struct dr_repo *r)
{
    return r->config.version >= 2 ? DR_PACK_VERSION : 1;
}

int dr_repo_workset_open(struct dr_repo *r, struct dr_workset **out)
{
    char hex[DR_ID_HEX_LEN + 1];
    char *dir = dr_xasprintf("%s/%s", r->cache_dir, dr_id_hex(&r->config.repo_id, hex));
    int rc = dr_workset_open(dir, out);
    free(dir);
    return rc;
}

int dr_repo_own_workset(struct dr_repo *r, struct dr_workset **out)
{
    if (!r->ws) {
        int rc = dr_repo_workset_open(r, &r->ws);
        if (rc < 0) {
            return rc;
        }
    }
    *out = r->ws;
    return 0;
}

int dr_repo_lock(struct dr_repo *r, unsigned flags, struct dr_lock **out)
{
    return dr_lock_acquire_flags(r->backend, flags, out);
}

void dr_repo_set_lock(struct dr_repo *r, struct dr_lock *l)
{
    r->lock = l;
}

int dr_repo_check_lock(struct dr_repo *r)
{
    return dr_lock_check(r->lock);
}

int dr_repo_cleanup(struct dr_repo *r)
{
    return dr_backend_cleanup(r->backend);
}

int dr_repo_reserve_ensure(struct dr_repo *r)
{
    return dr_lock_reserve_ensure(r->backend);
}

void dr_repo_close(struct dr_repo *r)
{
    if (!r) {
        return;
    }
    dr_workset_close(r->ws);
    dr_index_close(r->index);
    dr_keys_free(r->keys);
    dr_backend_close(r->backend);
    dr_compressor_free(r->z);
    dr_repo_reads_free(r);
    for (size_t i = 0; i < r->nvanished; i++) {
        free(r->vanished[i].blobs);
    }
    free(r->vanished);
    free(r->location);
    free(r->cache_dir);
    free(r->keyfile_name);
    free(r);
}

int dr_repo_store_pack(struct dr_repo *r, struct dr_pack_writer *w, uint8_t type,
                       const char *fault_before, const char *fault_after, struct dr_id *out_pid,
                       size_t *out_len)
{
    const uint8_t *data;
    int rc = dr_pack_writer_finish(w, out_pid, &data, out_len);
    if (rc < 0) {
        return rc;
    }
    char *obj = dr_layout_pack_name(type, out_pid);
    rc = DR_FAULT_POINT(fault_before);
    if (rc >= 0 && type == DR_BLOB_TREE) {
        /* the copy first: a tree pack then never exists without its copy, and a crash between
         * the two writes leaves a lone copy that sync indexes like the pack (unreferenced, so
         * prune deletes it) */
        char *copy = dr_layout_name_dup(DR_LAYOUT_TREE_COPY, out_pid);
        rc = dr_backend_put(r->backend, copy, data, *out_len, false);
        free(copy);
        if (rc >= 0) {
            rc = DR_FAULT_POINT("pack.after_tree_copy");
        }
    }
    if (rc >= 0) {
        rc = dr_backend_put(r->backend, obj, data, *out_len, false);
    }
    if (rc >= 0 && type == DR_BLOB_TREE) {
        dr_objcache_put(r, obj, data, *out_len);
    }
    free(obj);
    return rc < 0 ? rc : DR_FAULT_POINT(fault_after);
}

int dr_repo_delete_object(struct dr_repo *r, const char *obj)
{
    /* Every deletion (prune's packs, forget's snapshots) is a commit point: a holder whose lease
     * may be running out must not delete what a process that took the repository after it
     * now relies on. One check is a clock read, so each deletion has its own. */
    int rc = dr_repo_check_lock(r);
    if (rc < 0) {
        return rc;
    }
    rc = dr_backend_delete(r->backend, obj);
    dr_objcache_drop(r, obj);
    return rc;
}
