/* repair_copies.c: `repair config` and `repair keys` rewrite a missing or damaged copy of the
 * config or of a key file from its intact copy (see repair.h). The intact copy is the one that
 * verifies: the config's checksum and sealed body, a key file's hash against its name. Writes
 * replace atomically, so an interrupted repair leaves each copy either as it was or repaired. */
#include "drrepo/repair.h"

#include <stdio.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/log.h"
#include "drrepo/repo.h"

static int rewrite(struct dr_repo *r, const char *object, const char *from, const void *data,
                   size_t len, dr_repair_copy_cb cb, void *arg)
{
    int rc = dr_backend_put(dr_repo_backend(r), object, data, len, false);
    if (rc < 0) {
        return dr_error_wrap(rc, "cannot rewrite '%s' from '%s'", object, from);
    }
    if (cb) {
        cb(arg, object, from);
    }
    return 1;
}

int dr_repair_config(struct dr_repo *r, dr_repair_copy_cb cb, void *arg)
{
    static const char *names[2] = {DR_OBJ_CONFIG, DR_OBJ_CONFIG_COPY};
    struct dr_buf raw[2] = {DR_BUF_INIT(DR_CONFIG_MAX), DR_BUF_INIT(DR_CONFIG_MAX)};
    bool ok[2] = {false, false};
    int rc = 0, n = 0;
    if (dr_repo_config(r)->version < 2) {
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        struct dr_repo_config c;
        rc = dr_backend_get(dr_repo_backend(r), names[i], 0, UINT64_MAX, &raw[i]);
        if (rc == DR_EIO) {
            goto out;
        }
        ok[i] = rc >= 0 && dr_config_decode(dr_repo_keys(r), names[i], (const uint8_t *)raw[i].buf,
                                            raw[i].len, &c) >= 0;
        dr_error_clear();
        rc = 0;
    }
    int good = ok[0] ? 0 : 1;
    if (!ok[good]) {
        /* the open verified one of them a moment ago: something else is changing them */
        rc = dr_errorf(DR_ECORRUPT, "neither '%s' nor '%s' verifies now; nothing rewritten",
                       names[0], names[1]);
        goto out;
    }
    int bad = 1 - good;
    if (!ok[bad] || raw[bad].len != raw[good].len ||
        memcmp(raw[bad].buf, raw[good].buf, raw[good].len) != 0) {
        rc = rewrite(r, names[bad], names[good], raw[good].buf, raw[good].len, cb, arg);
        n += rc > 0 ? rc : 0;
    }
out:
    dr_buf_release(&raw[0]);
    dr_buf_release(&raw[1]);
    return rc < 0 ? rc : n;
}

int dr_repair_keys(struct dr_repo *r, dr_repair_copy_cb cb, void *arg)
{
    struct dr_keyslot *v = NULL;
    size_t n = 0;
    int done = 0, lost = 0;
    const char *lost_name = NULL;
    if (dr_repo_config(r)->version < 2) {
        return 0;
    }
    int rc = dr_repo_keyslots(r, true, &v, &n);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        const struct dr_keyslot *s = &v[i];
        if (!s->bytes.len) {
            lost++;
            lost_name = s->name;
            continue;
        }
        struct dr_keyfile_info info;
        if (dr_keyfile_details(dr_repo_keys(r), &dr_repo_config(r)->repo_id, s->bytes.buf,
                               s->bytes.len, &info) < 0) {
            /* not ours to multiply: a planted file gets no second copy from us */
            dr_log_warn("key file '%s' left alone: %s; remove it with 'drrepo key remove' if "
                        "you did not add it",
                        s->name, dr_error_msg());
            dr_error_clear();
            continue;
        }
        if (s->state != DR_COPY_OK) {
            rc = rewrite(r, s->name, s->copy_name, s->bytes.buf, s->bytes.len, cb, arg);
            done += rc > 0 ? rc : 0;
        }
        if (rc >= 0 && s->copy_state != DR_COPY_OK) {
            rc = rewrite(r, s->copy_name, s->name, s->bytes.buf, s->bytes.len, cb, arg);
            done += rc > 0 ? rc : 0;
        }
    }
    if (rc >= 0 && lost) {
        char which[160];
        if (lost == 1) {
            snprintf(which, sizeof(which), "key file '%s' has", lost_name);
        } else {
            snprintf(which, sizeof(which), "%d key files (such as '%s') have", lost, lost_name);
        }
        rc = dr_errorf(DR_ECORRUPT,
                       "%s no intact copy: if another password opens the repository, remove it "
                       "with 'drrepo key remove', else restore it from a backup of the repository",
                       which);
    }
    dr_keyslots_free(v, n);
    return rc < 0 ? rc : done;
}
