/* record.c: storing drill results in the repository, listing them, and removing those whose
 * snapshot was forgotten. The record's bytes are the object codec's (object/drillrec.c,
 * format/drill.md); its name is the layout's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill_int.h"
#include "drrepo/backend.h"
#include "drrepo/drill.h"
#include "drrepo/drillrec.h"
#include "drrepo/error.h"
#include "drrepo/identity.h"
#include "drrepo/layout.h"
#include "drrepo/log.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

int dr_drill_save(struct dr_repo *r, const struct dr_drill_result *res)
{
    char host[256];
    dr_identity_host(host, sizeof(host), "");
    struct dr_buf file = DR_BUF_INIT(DR_DRILLREC_FILE_MAX);
    struct dr_id id;
    int rc = dr_drillrec_encode(dr_repo_keys(r), res, host, &file, &id);
    if (rc >= 0) {
        char *name = dr_layout_name_dup(DR_LAYOUT_DRILL, &id);
        rc = dr_backend_put(dr_repo_backend(r), name, file.buf, file.len, false);
        if (rc < 0) {
            rc = dr_error_wrap(rc, "cannot store the drill result");
        }
        free(name);
    }
    dr_buf_release(&file);
    return rc;
}

struct drill_names {
    char **v;
    size_t n, alloc;
};

static int list_cb(void *arg, const char *name, uint64_t size)
{
    struct drill_names *dn = arg;
    (void)size;
    DR_GROW(dn->v, dn->alloc, dn->n + 1);
    dn->v[dn->n++] = dr_xstrdup(name);
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct dr_drill_result *x = a, *y = b;
    return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

/* Reads every drill result of the repository in listing order and hands each to cb (name, the
 * decoded result; cb takes ownership of res). A result removed meanwhile is skipped; one that
 * cannot be read is skipped too, with a warning when warn is set (check reports it either way):
 * one unreadable result must not hide the others. Errors: listing errors, and cb's. */
typedef int (*each_cb)(void *arg, const char *name, struct dr_drill_result *res);
static int each_result(struct dr_repo *r, bool warn, each_cb cb, void *arg)
{
    struct drill_names dn = {0};
    struct dr_buf raw = DR_BUF_INIT(DR_DRILLREC_FILE_MAX);
    int rc = dr_backend_list_names(dr_repo_backend(r), DR_OBJ_DRILLS, list_cb, &dn);
    for (size_t i = 0; rc >= 0 && i < dn.n; i++) {
        enum dr_layout_kind kind;
        struct dr_id did;
        if (dr_layout_parse(dn.v[i], &kind, &did) < 0 || kind != DR_LAYOUT_DRILL) {
            dr_error_clear();
            continue; /* not a drill object: check reports it */
        }
        dr_buf_reset(&raw);
        struct dr_drill_result res;
        int grc = dr_backend_get(dr_repo_backend(r), dn.v[i], 0, UINT64_MAX, &raw);
        if (grc >= 0) {
            grc =
                dr_drillrec_decode(dr_repo_keys(r), &did, (const uint8_t *)raw.buf, raw.len, &res);
        }
        if (grc < 0) {
            if (warn && grc != DR_ENOENT) {
                dr_log_warn("skipping drill result '%s': %s", dn.v[i], dr_error_msg());
            }
            dr_error_clear();
            continue;
        }
        rc = cb(arg, dn.v[i], &res);
    }
    for (size_t i = 0; i < dn.n; i++) {
        free(dn.v[i]);
    }
    free(dn.v);
    dr_buf_release(&raw);
    return rc;
}

struct list_ctx {
    const struct dr_id *id;
    struct dr_drill_result *v;
    size_t n, alloc;
};

static int collect(void *arg, const char *name, struct dr_drill_result *res)
{
    struct list_ctx *l = arg;
    (void)name;
    if (l->id && !dr_id_eq(l->id, &res->snapshot)) {
        dr_drill_result_release(res);
        return 0;
    }
    DR_GROW(l->v, l->alloc, l->n + 1);
    l->v[l->n++] = *res;
    return 0;
}

int dr_drill_list(struct dr_repo *r, const struct dr_id *id, dr_drill_cb cb, void *arg)
{
    struct list_ctx l = {.id = id};
    int rc = each_result(r, true, collect, &l);
    if (l.n > 1) {
        qsort(l.v, l.n, sizeof(*l.v), by_time);
    }
    for (size_t i = 0; rc >= 0 && i < l.n; i++) {
        rc = cb(arg, &l.v[i]);
    }
    for (size_t i = 0; i < l.n; i++) {
        dr_drill_result_release(&l.v[i]);
    }
    free(l.v);
    return rc;
}

static int collect_cb(void *arg, const struct dr_drill_result *res)
{
    struct dr_drill_results *d = arg;
    DR_GROW(d->v, d->alloc, d->n + 1);
    struct dr_drill_result *c = &d->v[d->n++];
    *c = *res;
    c->kind = dr_xstrdup(res->kind ? res->kind : "");
    c->checked = dr_xstrdup(res->checked ? res->checked : "");
    c->reason = res->reason ? dr_xstrdup(res->reason) : NULL;
    return 0;
}

int dr_drill_results_load(struct dr_repo *r, struct dr_drill_results *out)
{
    memset(out, 0, sizeof(*out));
    int rc = dr_drill_list(r, NULL, collect_cb, out);
    if (rc < 0) {
        dr_drill_results_release(out);
    }
    return rc;
}

void dr_drill_results_release(struct dr_drill_results *d)
{
    for (size_t i = 0; i < d->n; i++) {
        dr_drill_result_release(&d->v[i]);
    }
    free(d->v);
    memset(d, 0, sizeof(*d));
}

struct prune_ctx {
    struct dr_repo *r;
    int removed;
};

/* Deletes a result whose snapshot is gone. */
static int prune_one(void *arg, const char *name, struct dr_drill_result *res)
{
    struct prune_ctx *p = arg;
    char *snap = dr_layout_name_dup(DR_LAYOUT_SNAPSHOT, &res->snapshot);
    uint64_t size;
    int rc = dr_backend_stat(dr_repo_backend(p->r), snap, &size);
    free(snap);
    dr_drill_result_release(res);
    if (rc != DR_ENOENT) {
        return rc < 0 ? rc : 0;
    }
    dr_error_clear();
    rc = dr_backend_delete(dr_repo_backend(p->r), name);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        return 0;
    }
    if (rc >= 0) {
        p->removed++;
    }
    return rc < 0 ? rc : 0;
}

int dr_drill_prune(struct dr_repo *r)
{
    struct prune_ctx p = {.r = r};
    int rc = each_result(r, false, prune_one, &p);
    return rc < 0 ? rc : p.removed;
}

struct copy_ctx {
    struct dr_drill_result *have; /* the target's results of the copy */
    size_t nhave, ahave;
    struct dr_repo *dst;
    const struct dr_id *dst_id;
    int copied;
};

static int copy_have(void *arg, const struct dr_drill_result *res)
{
    struct copy_ctx *cc = arg;
    DR_GROW(cc->have, cc->ahave, cc->nhave + 1);
    cc->have[cc->nhave++] = (struct dr_drill_result){.time_ns = res->time_ns, .ok = res->ok};
    return 0;
}

static int copy_one(void *arg, const struct dr_drill_result *res)
{
    struct copy_ctx *cc = arg;
    for (size_t i = 0; i < cc->nhave; i++) {
        if (cc->have[i].time_ns == res->time_ns && cc->have[i].ok == res->ok) {
            return 0; /* copied by an earlier run */
        }
    }
    struct dr_drill_result c = *res;
    c.snapshot = *cc->dst_id;
    int rc = dr_drill_save(cc->dst, &c);
    if (rc >= 0) {
        cc->copied++;
    }
    return rc;
}

int dr_drill_copy(struct dr_repo *src, const struct dr_id *src_id, struct dr_repo *dst,
                  const struct dr_id *dst_id)
{
    struct copy_ctx cc = {.dst = dst, .dst_id = dst_id};
    int rc = dr_drill_list(dst, dst_id, copy_have, &cc);
    if (rc >= 0) {
        rc = dr_drill_list(src, src_id, copy_one, &cc);
    }
    free(cc.have);
    return rc < 0 ? rc : cc.copied;
}
