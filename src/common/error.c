/* error.c: the thread-local error message slot behind dr_errorf() and friends. */
#include "drrepo/error.h"
#include "drrepo/mem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DR_ERRMSG_MAX 1024

static _Thread_local char errmsg[DR_ERRMSG_MAX];
static _Thread_local int errmsg_set;

const char *dr_strerror(int code)
{
    switch (code) {
    case DR_OK: return "success";
    case DR_EIO: return "input/output error";
    case DR_ENOENT: return "not found";
    case DR_ECORRUPT: return "corrupt data";
    case DR_EAUTH: return "wrong password or key";
    case DR_ENOSPC: return "no space left on device";
    case DR_ELOCKED: return "repository is locked";
    case DR_EUSAGE: return "usage error";
    case DR_ESOURCE: return "input source failed";
    case DR_ENET: return "network error";
    case DR_EUNSUPPORTED: return "unsupported format or feature";
    case DR_EINTERNAL: return "internal error";
    case DR_ENOREPO: return "not a repository";
    case DR_EEXIST: return "already exists";
    case DR_EPARTIAL: return "some inputs could not be read";
    case DR_EINTR: return "interrupted";
    case DR_EDAMAGED: return "the repository is damaged";
    case DR_EINDEX: return "the local index is damaged";
    default: return "unknown error";
    }
}

const char *dr_error_name(int code)
{
    switch (code) {
    case DR_OK: return "ok";
    case DR_EIO: return "io";
    case DR_ENOENT: return "noent";
    case DR_ECORRUPT: return "corrupt";
    case DR_EAUTH: return "auth";
    case DR_ENOSPC: return "nospc";
    case DR_ELOCKED: return "locked";
    case DR_EUSAGE: return "usage";
    case DR_ESOURCE: return "source";
    case DR_ENET: return "net";
    case DR_EUNSUPPORTED: return "unsupported";
    case DR_EINTERNAL: return "internal";
    case DR_ENOREPO: return "norepo";
    case DR_EEXIST: return "exist";
    case DR_EPARTIAL: return "partial";
    case DR_EINTR: return "intr";
    case DR_EDAMAGED: return "damaged";
    case DR_EINDEX: return "index";
    default: return "unknown";
    }
}

/* Formats into a buffer of its own first: an argument may be dr_error_msg() itself (a message
 * that wraps the one before), and vsnprintf into the buffer it reads from garbles both. */
static void vset(const char *fmt, va_list ap)
{
    char buf[DR_ERRMSG_MAX];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (n < 0) {
        buf[0] = '\0';
    }
    memcpy(errmsg, buf, sizeof(errmsg));
    errmsg_set = 1;
}

int dr_errorf(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(fmt, ap);
    va_end(ap);
    return code;
}

int dr_error_errno(int code, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vset(fmt, ap);
    va_end(ap);
    size_t len = strlen(errmsg);
    snprintf(errmsg + len, sizeof(errmsg) - len, ": %s", strerror(saved));
    return code;
}

int dr_error_from_errno(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT: return DR_ENOSPC;
    case ENOENT:
    case ENOTDIR: return DR_ENOENT;
    case EEXIST: return DR_EEXIST;
    case EINTR: return DR_EINTR;
    default: return DR_EIO;
    }
}

static size_t append(char *dst, size_t at, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (at + n >= cap) {
        n = cap - 1 - at;
    }
    memcpy(dst + at, src, n);
    dst[at + n] = '\0';
    return at + n;
}

int dr_error_wrap(int code, const char *fmt, ...)
{
    char prefix[DR_ERRMSG_MAX];
    char old[DR_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return code;
    }
    size_t oldlen = strlen(errmsg_set ? errmsg : dr_strerror(code));
    memcpy(old, errmsg_set ? errmsg : dr_strerror(code), oldlen + 1);
    size_t at = append(errmsg, 0, sizeof(errmsg), prefix);
    at = append(errmsg, at, sizeof(errmsg), ": ");
    append(errmsg, at, sizeof(errmsg), old);
    errmsg_set = 1;
    return code;
}

const char *dr_error_msg(void)
{
    return errmsg_set ? errmsg : "";
}

void dr_error_clear(void)
{
    errmsg[0] = '\0';
    errmsg_set = 0;
}

void dr_error_save(struct dr_error_saved *out, int code)
{
    free(out->msg);
    out->code = code;
    out->msg = dr_xstrdup(dr_error_msg());
}

int dr_error_restore(const struct dr_error_saved *e)
{
    return dr_errorf(e->code, "%s", e->msg ? e->msg : dr_strerror(e->code));
}

void dr_error_saved_release(struct dr_error_saved *e)
{
    free(e->msg);
    e->msg = NULL;
    e->code = DR_OK;
}

void dr_bug_at(const char *file, int line, const char *msg)
{
    fprintf(stderr, "drrepo: BUG at %s:%d: %s\n", file, line, msg);
    abort();
}
