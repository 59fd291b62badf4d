/* creds.c: S3 credentials and region, found where the AWS tools look for them, so that a machine
 * set up for `aws s3 cp` needs nothing more: the environment first, then the profile files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"
#include "s3_int.h"

/* A profile file is a few lines; a bigger one is not what we are looking for. */
#define INI_FILE_MAX (1u << 20)
#define INI_LINE_MAX 4096

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void set_once(char **field, const char *v, size_t n)
{
    if (!*field) {
        *field = dr_xstrndup(v, n);
    }
}

/* [p, e) with blanks cut at both ends */
static void trim(const char **p, const char **e)
{
    while (*p < *e && (**p == ' ' || **p == '\t' || **p == '\r')) {
        (*p)++;
    }
    while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r')) {
        (*e)--;
    }
}

int dr_s3_ini_parse(const char *text, size_t len, const char *section, const char *what,
                    struct dr_s3_creds *c)
{
    bool in = false;
    size_t sl = strlen(section);
    for (size_t i = 0, lineno = 1; i < len; lineno++) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (end - i > INI_LINE_MAX) {
            return dr_errorf(DR_ECORRUPT, "%s: line %zu is too long", what, lineno);
        }
        if (memchr(text + i, '\0', end - i)) {
            return dr_errorf(DR_ECORRUPT, "%s: line %zu holds a NUL byte", what, lineno);
        }
        const char *p = text + i, *e = text + end;
        i = end + 1;
        trim(&p, &e);
        if (p == e || *p == '#' || *p == ';') {
            continue;
        }
        if (*p == '[') {
            if (e[-1] != ']' || e - p < 2) {
                in = false;
                continue;
            }
            const char *np = p + 1, *ne = e - 1;
            trim(&np, &ne);
            in = (size_t)(ne - np) == sl && memcmp(np, section, sl) == 0;
            continue;
        }
        if (!in) {
            continue;
        }
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (!eq) {
            continue;
        }
        const char *kp = p, *ke = eq, *vp = eq + 1, *ve = e;
        trim(&kp, &ke);
        trim(&vp, &ve);
        size_t kl = (size_t)(ke - kp), vl = (size_t)(ve - vp);
        if (vl == 0) {
            continue;
        }
#define KEY_IS(s) (kl == strlen(s) && memcmp(kp, s, kl) == 0)
        if (KEY_IS("aws_access_key_id")) {
            set_once(&c->access_key, vp, vl);
        } else if (KEY_IS("aws_secret_access_key")) {
            set_once(&c->secret_key, vp, vl);
        } else if (KEY_IS("aws_session_token")) {
            set_once(&c->session_token, vp, vl);
        } else if (KEY_IS("region")) {
            set_once(&c->region, vp, vl);
        }
#undef KEY_IS
    }
    return 0;
}

/* Reads the profile section of one file; a missing file is no error. */
static int read_profile(const char *path, const char *section, struct dr_s3_creds *c)
{
    struct dr_buf b = DR_BUF_INIT(INI_FILE_MAX);
    int rc = dr_fs_read_file(path, &b);
    if (rc == DR_ENOENT) {
        dr_error_clear();
        rc = 0;
    } else if (rc >= 0) {
        rc = dr_s3_ini_parse(b.buf, b.len, section, path, c);
    } else {
        rc = dr_error_wrap(rc, "cannot read the AWS profile file");
    }
    dr_buf_release(&b);
    return rc;
}

int dr_s3_creds_load(struct dr_s3_creds *c)
{
    memset(c, 0, sizeof(*c));
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (ak && sk) {
        c->access_key = dr_xstrdup(ak);
        c->secret_key = dr_xstrdup(sk);
        if (env("AWS_SESSION_TOKEN")) {
            c->session_token = dr_xstrdup(env("AWS_SESSION_TOKEN"));
        }
    }
    const char *region = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
    if (region) {
        c->region = dr_xstrdup(region);
    }
    const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
    const char *home = env("HOME");
    char *cred_path = env("AWS_SHARED_CREDENTIALS_FILE")
                          ? dr_xstrdup(env("AWS_SHARED_CREDENTIALS_FILE"))
                          : (home ? dr_fs_join(home, ".aws/credentials") : NULL);
    char *conf_path = env("AWS_CONFIG_FILE") ? dr_xstrdup(env("AWS_CONFIG_FILE"))
                                             : (home ? dr_fs_join(home, ".aws/config") : NULL);
    int rc = 0;
    if (!c->access_key && cred_path) {
        rc = read_profile(cred_path, profile, c);
    }
    if (rc >= 0 && conf_path && (!c->region || !c->access_key)) {
        /* the config file names profiles "[profile NAME]", except the default one */
        char *section = strcmp(profile, "default") == 0 ? dr_xstrdup("default")
                                                        : dr_xasprintf("profile %s", profile);
        rc = read_profile(conf_path, section, c);
        free(section);
    }
    if (rc >= 0 && (!c->access_key || !c->secret_key)) {
        rc = dr_errorf(DR_EUSAGE,
                       "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                       "write profile '%s' into %s",
                       profile, cred_path ? cred_path : "~/.aws/credentials");
    }
    free(cred_path);
    free(conf_path);
    if (rc < 0) {
        dr_s3_creds_release(c);
        return rc;
    }
    if (!c->region) {
        c->region = dr_xstrdup("us-east-1");
    }
    return 0;
}

/* frees a secret after overwriting it, so it does not linger in freed heap memory */
static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void dr_s3_creds_release(struct dr_s3_creds *c)
{
    free(c->access_key);
    free_secret(c->secret_key);
    free_secret(c->session_token);
    free(c->region);
    memset(c, 0, sizeof(*c));
}
