/* password.c: where the passwords and other secrets of a command come from. The repository's
 * password (and copy's target's) from the environment, a file, a command or the terminal, in
 * that order, with messages that name what to set; a new password for key add/passwd; and
 * secrets of sources (a Redis password file). Kept apart from cmd.c, which parses and
 * dispatches, because it is the one place that handles secrets: it wipes what it reads. */
#include "cmd_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"

static char *strip_newline(char *s)
{
    size_t n = strlen(s);
    if (n && s[n - 1] == '\n') {
        s[--n] = '\0';
    }
    if (n && s[n - 1] == '\r') {
        s[--n] = '\0';
    }
    return s;
}

/* Where a password comes from: the source repository's (-r) or copy's target's (--to), with the
 * names of their options and environment variables, which the messages mention. */
struct pw_names {
    const char *what; /* "" or "target " */
    const char *file, *command;
    const char *env, *env_file, *env_command;
    const char *hint; /* what to set, for the message when there is no terminal */
};

int dr_cmd_read_secret(const char *path, const char *what, char **out)
{
    struct dr_buf b = DR_BUF_INIT(65536);
    int rc = dr_fs_read_file(path, &b);
    if (rc < 0) {
        dr_buf_release(&b);
        return dr_error_wrap(rc, "%s", what);
    }
    char *first = dr_buf_detach(&b, NULL);
    first[strcspn(first, "\n")] = '\0';
    *out = strip_newline(first);
    return 0;
}

static int read_password_file(const char *path, const char *what, char **out)
{
    char name[64];
    snprintf(name, sizeof(name), "%spassword file", what);
    return dr_cmd_read_secret(path, name, out);
}

static int run_password_command(const char *cmd, const char *what, char **out)
{
    FILE *f = popen(cmd, "r");
    if (!f) {
        return dr_error_errno(DR_ESOURCE, "cannot run %spassword command '%s'", what, cmd);
    }
    char buf[4096] = "";
    if (!fgets(buf, sizeof(buf), f)) {
        buf[0] = '\0';
    }
    int st = pclose(f);
    if (st != 0) {
        dr_wipe_str(buf);
        if (st > 0 && WIFEXITED(st)) {
            return dr_errorf(DR_ESOURCE, "%spassword command '%s' exited with status %d", what, cmd,
                             WEXITSTATUS(st));
        }
        if (st > 0 && WIFSIGNALED(st)) {
            return dr_errorf(DR_ESOURCE, "%spassword command '%s' was killed by signal %d", what,
                             cmd, WTERMSIG(st));
        }
        return dr_error_errno(DR_ESOURCE, "%spassword command '%s' failed", what, cmd);
    }
    *out = dr_xstrdup(strip_newline(buf));
    dr_wipe_str(buf);
    return 0;
}

static int prompt_tty(const char *prompt, const char *what, const char *hint, char **out)
{
    FILE *tty = fopen("/dev/tty", "r+e");
    if (!tty) {
        return dr_errorf(DR_EUSAGE, "no %spassword given and no terminal to ask on: set %s", what,
                         hint);
    }
    struct termios old, quiet;
    int fd = fileno(tty);
    bool have_term = tcgetattr(fd, &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    fprintf(tty, "%s", prompt);
    fflush(tty);
    char buf[4096] = "";
    if (!fgets(buf, sizeof(buf), tty)) {
        buf[0] = '\0';
    }
    if (have_term) {
        tcsetattr(fd, TCSAFLUSH, &old);
    }
    fprintf(tty, "\n");
    fclose(tty);
    *out = dr_xstrdup(strip_newline(buf));
    dr_wipe_str(buf);
    return 0;
}

void dr_cmd_free_password(char *pw)
{
    if (pw) {
        dr_wipe_str(pw);
        free(pw);
    }
}

/* A password typed twice on the terminal (a new one): *out only when both agree. */
static int prompt_confirmed(const char *prompt, const char *again, const char *what,
                            const char *hint, char **out)
{
    char *a = NULL, *b = NULL;
    int rc = prompt_tty(prompt, what, hint, &a);
    rc = rc < 0 ? rc : prompt_tty(again, what, hint, &b);
    if (rc >= 0 && strcmp(a, b) != 0) {
        rc = dr_errorf(DR_EUSAGE, "the passwords do not match");
    }
    dr_cmd_free_password(b);
    if (rc < 0) {
        dr_cmd_free_password(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int get_password(const struct pw_names *nm, const char *prompt, bool confirm, char **out)
{
    /* options given on the command line win over the environment */
    if (nm->file) {
        return read_password_file(nm->file, nm->what, out);
    }
    if (nm->command) {
        return run_password_command(nm->command, nm->what, out);
    }
    const char *env = getenv(nm->env);
    if (env) {
        *out = dr_xstrdup(env);
        return 0;
    }
    if (getenv(nm->env_file)) {
        return read_password_file(getenv(nm->env_file), nm->what, out);
    }
    if (getenv(nm->env_command)) {
        return run_password_command(getenv(nm->env_command), nm->what, out);
    }
    if (!confirm) {
        return prompt_tty(prompt, nm->what, nm->hint, out);
    }
    return prompt_confirmed(prompt, "enter the password again: ", nm->what, nm->hint, out);
}

int dr_cmd_password(struct dr_ctx *ctx, const char *prompt, bool confirm, char **out)
{
    const struct pw_names nm = {
        .what = "",
        .file = ctx->password_file,
        .command = ctx->password_command,
        .env = "DRREPO_PASSWORD",
        .env_file = "DRREPO_PASSWORD_FILE",
        .env_command = "DRREPO_PASSWORD_COMMAND",
        .hint = "DRREPO_PASSWORD, --password-file or --password-command",
    };
    return get_password(&nm, prompt, confirm, out);
}

int dr_cmd_target_password(const char *file, const char *command, char **out)
{
    const struct pw_names nm = {
        .what = "target ",
        .file = file,
        .command = command,
        .env = "DRREPO_TO_PASSWORD",
        .env_file = "DRREPO_TO_PASSWORD_FILE",
        .env_command = "DRREPO_TO_PASSWORD_COMMAND",
        .hint = "DRREPO_TO_PASSWORD, --to-password-file or --to-password-command",
    };
    return get_password(&nm, "enter password for the target repository: ", false, out);
}

int dr_cmd_new_password(struct dr_ctx *ctx, const char *file, char **out)
{
    (void)ctx;
    const char *env = getenv("DRREPO_NEW_PASSWORD");
    if (env) {
        *out = dr_xstrdup(env);
        return 0;
    }
    if (file) {
        return read_password_file(file, "", out);
    }
    return prompt_confirmed("enter the new password: ", "enter the new password again: ", "new ",
                            "DRREPO_NEW_PASSWORD or --new-password-file", out);
}
