/* keys.c: managing key files: several passwords can open one repository, each wrapping the
 * same master key (restic's and borg 2's model). */
#include "drrepo/repo.h"

#include <stdio.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "repo_int.h"

struct klist {
    struct dr_repo *r;
    dr_key_cb cb;
    void *arg;
    const char *prefix;
    struct dr_id match;
    int nmatch, total;
};

static int key_cb(void *arg, const char *name, uint64_t size)
{
    struct klist *kl = arg;
    const char *slash = strrchr(name, '/');
    struct dr_id id;
    if (dr_id_parse(slash ? slash + 1 : name, &id) < 0) {
        dr_error_clear();
        return 0;
    }
    kl->total++;
    if (kl->prefix) {
        if (strncmp(slash ? slash + 1 : name, kl->prefix, strlen(kl->prefix)) == 0) {
            kl->match = id;
            kl->nmatch++;
        }
        return 0;
    }
    struct dr_keyfile_info info;
    memset(&info, 0, sizeof(info));
    struct dr_buf raw = DR_BUF_INIT(DR_KEYFILE_MAX);
    int rc = size > DR_KEYFILE_MAX ? DR_ECORRUPT
                                   : dr_backend_get(kl->r->backend, name, 0, UINT64_MAX, &raw);
    if (rc >= 0) {
        rc = dr_keyfile_info(raw.buf, raw.len, &info);
    }
    if (rc < 0) {
        dr_log_warn("key file '%s' cannot be read: %s", name, dr_error_msg());
        dr_error_clear();
        info.version = 0;
    }
    dr_buf_release(&raw);
    bool current = kl->r->keyfile_name && strcmp(kl->r->keyfile_name, name) == 0;
    return kl->cb(kl->arg, &id, &info, current);
}

int dr_repo_key_list(struct dr_repo *r, dr_key_cb cb, void *arg)
{
    struct klist kl = {.r = r, .cb = cb, .arg = arg};
    return dr_backend_list(r->backend, "keys", key_cb, &kl);
}

static int current_info(struct dr_repo *r, struct dr_keyfile_info *out)
{
    struct dr_buf raw = DR_BUF_INIT(DR_KEYFILE_MAX);
    int rc = dr_backend_get(r->backend, r->keyfile_name, 0, UINT64_MAX, &raw);
    if (rc >= 0) {
        rc = dr_keyfile_info(raw.buf, raw.len, out);
    }
    dr_buf_release(&raw);
    return rc;
}

int dr_repo_key_add(struct dr_repo *r, const char *password, uint64_t ops, uint64_t mem,
                    struct dr_id *out_id)
{
    if (!ops || !mem) {
        struct dr_keyfile_info info;
        int rc = current_info(r, &info);
        if (rc < 0) {
            return rc;
        }
        ops = ops ? ops : info.opslimit;
        mem = mem ? mem : info.memlimit;
    }
    return dr_repo_write_keyfile(r->backend, r->keys, &r->config.repo_id, password, ops, mem,
                                 out_id);
}

int dr_repo_key_remove(struct dr_repo *r, const char *name)
{
    struct klist kl = {.r = r, .prefix = name};
    int rc = dr_backend_list(r->backend, "keys", key_cb, &kl);
    if (rc < 0) {
        return rc;
    }
    if (kl.nmatch == 0) {
        return dr_errorf(DR_ENOENT, "no key file '%s'", name);
    }
    if (kl.nmatch > 1) {
        return dr_errorf(DR_EUSAGE, "key prefix '%s' is ambiguous", name);
    }
    char hex[DR_ID_HEX_LEN + 1];
    char *obj = dr_xasprintf("keys/%s", dr_id_hex(&kl.match, hex));
    if (r->keyfile_name && strcmp(obj, r->keyfile_name) == 0) {
        free(obj);
        return dr_errorf(DR_EUSAGE, "refusing to remove the key in use; open the repository "
                                    "with another password to remove it");
    }
    if (kl.total <= 1) {
        free(obj);
        return dr_errorf(DR_EUSAGE, "refusing to remove the last key");
    }
    rc = dr_backend_delete(r->backend, obj);
    free(obj);
    return rc;
}

int dr_repo_key_passwd(struct dr_repo *r, const char *password, struct dr_id *out_id)
{
    struct dr_id id;
    int rc = dr_repo_key_add(r, password, 0, 0, &id);
    if (rc < 0) {
        return rc;
    }
    /* the new key is durable before the old one goes: a crash leaves both, never neither */
    rc = dr_backend_delete(r->backend, r->keyfile_name);
    if (rc < 0) {
        return rc;
    }
    char hex[DR_ID_HEX_LEN + 1];
    free(r->keyfile_name);
    r->keyfile_name = dr_xasprintf("keys/%s", dr_id_hex(&id, hex));
    *out_id = id;
    return 0;
}
