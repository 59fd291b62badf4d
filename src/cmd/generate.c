/* generate.c: `drrepo generate`: bash and zsh completion and man pages, written from the same
 * tables the parser reads (the command table and the global options of cmd.c, each command's
 * option table), so that none of them is a second copy of the option list that could drift
 * from what the parser accepts. The build runs it for `make install` (CMakeLists.txt).
 *
 * What an option's argument is completed with follows from the name of its argument in the
 * table: a *DIR or MOUNTPOINT is a directory, a FILE, PATH or REPO a file name, anything else
 * (PATTERN, SIZE, DURATION...) is not completed. A command's subcommands ("key list") are the
 * lower-case second words of its usage lines. */
#include "cmd_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"

#ifndef DR_VERSION
#define DR_VERSION "0"
#endif

enum { G_BASH = 1, G_ZSH, G_MAN };

const struct dr_opt dr_cmd_generate_opts[] = {
    {"bash-completion", 0, G_BASH, "FILE", "write the bash completion script to FILE ('-': stdout)",
     0, NULL},
    {"zsh-completion", 0, G_ZSH, "FILE",
     "write the zsh completion function to FILE ('-': stdout; install it as _drrepo)", 0, NULL},
    {"man", 0, G_MAN, "DIR", "write the man pages to DIR: drrepo.1 and drrepo-COMMAND.1 for each",
     0, NULL},
    {0},
};

enum arg_kind { ARG_NONE, ARG_WORD, ARG_FILE, ARG_DIR };

static enum arg_kind arg_kind(const struct dr_opt *o)
{
    if (o->flags & DR_OPT_REST) {
        return ARG_FILE; /* a command and its arguments */
    }
    if (!o->arg) {
        return ARG_NONE;
    }
    if (strstr(o->arg, "DIR") || strstr(o->arg, "MOUNTPOINT")) {
        return ARG_DIR;
    }
    if (strstr(o->arg, "FILE") || strstr(o->arg, "PATH") || strstr(o->arg, "REPO")) {
        return ARG_FILE;
    }
    return ARG_WORD;
}

static bool listed(const struct dr_opt *o)
{
    return o->name && !(o->flags & DR_OPT_HIDDEN);
}

/* The subcommands of c: the second words of its usage lines that are lower-case words, each
 * once, separated by spaces (empty: none). */
static void subcommands(const struct dr_cmd *c, char *out, size_t len)
{
    out[0] = '\0';
    for (const char *u = c->usage; *u;) {
        size_t line = strcspn(u, "\n");
        const char *w = u + strcspn(u, " \n");
        if (w < u + line) {
            w++;
            size_t n = strspn(w, "abcdefghijklmnopqrstuvwxyz-");
            bool word = n > 0 && w[0] != '-' && (w[n] == ' ' || w[n] == '\n' || w[n] == '\0');
            char one[32];
            if (word && n < sizeof(one)) {
                snprintf(one, sizeof(one), " %.*s ", (int)n, w);
                char padded[512];
                snprintf(padded, sizeof(padded), " %s ", out);
                if (!strstr(padded, one)) {
                    size_t used = strlen(out);
                    snprintf(out + used, len - used, "%s%.*s", used ? " " : "", (int)n, w);
                }
            }
        }
        u += line + (u[line] == '\n');
    }
}

/* ---- bash ---- */

/* "--name -s" of the options of table whose argument is of kind k, as a case pattern
 * ("--a|-a|--b"); empty when there is none. */
static void bash_pattern(FILE *f, const struct dr_opt *const *tables, size_t n, enum arg_kind k)
{
    bool first = true;
    for (size_t t = 0; t < n; t++) {
        for (const struct dr_opt *o = tables[t]; listed(o); o++) {
            if (arg_kind(o) != k || (o->flags & DR_OPT_OPTIONAL)) {
                continue;
            }
            fprintf(f, "%s--%s", first ? "" : "|", o->name);
            if (o->short_name) {
                fprintf(f, "|-%c", o->short_name);
            }
            first = false;
        }
    }
}

/* As bash_pattern, for every option that takes an argument (whatever its kind). */
static void bash_pattern_args(FILE *f, const struct dr_opt *opts)
{
    bool first = true;
    for (const struct dr_opt *o = opts; listed(o); o++) {
        if (arg_kind(o) == ARG_NONE || (o->flags & DR_OPT_OPTIONAL)) {
            continue;
        }
        fprintf(f, "%s--%s", first ? "" : "|", o->name);
        if (o->short_name) {
            fprintf(f, "|-%c", o->short_name);
        }
        first = false;
    }
}

static bool has_kind(const struct dr_opt *const *tables, size_t n, enum arg_kind k)
{
    for (size_t t = 0; t < n; t++) {
        for (const struct dr_opt *o = tables[t]; listed(o); o++) {
            if (arg_kind(o) == k) {
                return true;
            }
        }
    }
    return false;
}

static void bash_names(FILE *f, const struct dr_opt *opts)
{
    for (const struct dr_opt *o = opts; o && listed(o); o++) {
        fprintf(f, " --%s", o->name);
        if (o->short_name) {
            fprintf(f, " -%c", o->short_name);
        }
    }
}

/* The "case $prev in" arms that complete the argument of an option of tables. */
static void bash_prev_case(FILE *f, const struct dr_opt *const *tables, size_t n,
                           const char *indent)
{
    static const struct {
        enum arg_kind k;
        const char *action;
    } arms[] = {
        {ARG_FILE, "_drrepo_compgen -f"},
        {ARG_DIR, "_drrepo_compgen -d"},
        {ARG_WORD, "COMPREPLY=()"},
    };
    fprintf(f, "%scase $prev in\n", indent);
    for (size_t a = 0; a < DR_ARRAY_LEN(arms); a++) {
        if (!has_kind(tables, n, arms[a].k)) {
            continue;
        }
        fprintf(f, "%s", indent);
        bash_pattern(f, tables, n, arms[a].k);
        fprintf(f, ") %s; return ;;\n", arms[a].action);
    }
    /* an optional argument with choices (restore --overwrite): the choices, or the next word */
    for (size_t t = 0; t < n; t++) {
        for (const struct dr_opt *o = tables[t]; listed(o); o++) {
            if (o->choices) {
                fprintf(f, "%s--%s)\n%s    if [[ $cur != -* ]]; then\n%s        _drrepo_words \"",
                        indent, o->name, indent, indent);
                for (const char *const *c = o->choices; *c; c++) {
                    fprintf(f, "%s%s", c == o->choices ? "" : " ", *c);
                }
                fprintf(f, "\"\n%s        return\n%s    fi\n%s    ;;\n", indent, indent, indent);
            }
        }
    }
    fprintf(f, "%s*) ;;\n%sesac\n", indent, indent);
}

static void write_bash(FILE *f, const struct dr_cmd *cmds, size_t ncmds, const struct dr_opt *g)
{
    const struct dr_opt *const globals[] = {g};
    fprintf(f,
            "# bash completion for drrepo %s: written by 'drrepo generate --bash-completion' "
            "from\n# drrepo's option tables; regenerate it, do not edit it.\n",
            DR_VERSION);
    fprintf(f, "_drrepo_words() {\n"
               "    mapfile -t COMPREPLY < <(compgen -W \"$1\" -- \"$cur\")\n"
               "}\n"
               "_drrepo_compgen() {\n"
               "    mapfile -t COMPREPLY < <(compgen \"$1\" -- \"$cur\")\n"
               "}\n"
               "_drrepo() {\n"
               "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
               "    local cmd='' i\n"
               "    # --opt=VALUE: bash splits at '=', the option is the word before it\n"
               "    if [ \"$prev\" = = ] && [ \"$COMP_CWORD\" -ge 2 ]; then\n"
               "        prev=${COMP_WORDS[COMP_CWORD - 2]}\n"
               "    elif [ \"$cur\" = = ]; then\n"
               "        cur=''\n"
               "    fi\n"
               "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
               "        case ${COMP_WORDS[i]} in\n"
               "        ");
    bash_pattern_args(f, g);
    fprintf(f, ") i=$((i + 1)) ;;\n"
               "        -*) ;;\n"
               "        *)\n"
               "            cmd=${COMP_WORDS[i]}\n"
               "            break\n"
               "            ;;\n"
               "        esac\n"
               "    done\n");
    bash_prev_case(f, globals, 1, "    ");
    fprintf(f, "    local globals='");
    bash_names(f, g);
    fprintf(f, "'\n    local opts='' subs='' operands=1\n    case $cmd in\n    '')\n"
               "        if [[ $cur == -* ]]; then\n"
               "            _drrepo_words \"$globals\"\n"
               "        else\n"
               "            _drrepo_words '");
    for (size_t i = 0; i < ncmds; i++) {
        fprintf(f, "%s%s", i ? " " : "", cmds[i].name);
    }
    fprintf(f, "'\n        fi\n        return\n        ;;\n");
    for (size_t i = 0; i < ncmds; i++) {
        const struct dr_cmd *c = &cmds[i];
        char subs[512];
        subcommands(c, subs, sizeof(subs));
        fprintf(f, "    %s)\n", c->name);
        if (c->opts) {
            const struct dr_opt *const own[] = {c->opts};
            bash_prev_case(f, own, 1, "        ");
            fprintf(f, "        opts='");
            bash_names(f, c->opts);
            fprintf(f, "'\n");
        }
        if (strcmp(c->name, "help") == 0) {
            fprintf(f, "        subs='");
            for (size_t k = 0; k < ncmds; k++) {
                fprintf(f, "%s%s", k ? " " : "", cmds[k].name);
            }
            fprintf(f, "'\n");
        } else if (*subs) {
            fprintf(f, "        subs='%s'\n", subs);
        }
        if (c->max_args == 0) {
            fprintf(f, "        operands=0\n");
        }
        fprintf(f, "        ;;\n");
    }
    fprintf(f, "    *) return ;;\n"
               "    esac\n"
               "    if [[ $cur == -* ]]; then\n"
               "        _drrepo_words \"$opts $globals\"\n"
               "    elif [ -n \"$subs\" ] && [ \"$prev\" = \"$cmd\" ]; then\n"
               "        _drrepo_words \"$subs\"\n"
               "    elif [ \"$operands\" = 1 ]; then\n"
               "        _drrepo_compgen -f\n"
               "    fi\n"
               "}\n"
               "complete -F _drrepo -o filenames drrepo\n");
}

/* ---- zsh ---- */

/* s inside a single-quoted _arguments spec, in an explanation ("[...]") when in_brackets. */
static void zsh_quote(FILE *f, const char *s, bool in_brackets)
{
    for (; *s; s++) {
        if (*s == '\'') {
            fputs("'\\''", f);
        } else if (in_brackets && (*s == '[' || *s == ']' || *s == '\\')) {
            fprintf(f, "\\%c", *s);
        } else if (!in_brackets && *s == ':') {
            fputs("\\:", f);
        } else {
            fputc(*s, f);
        }
    }
}

static void zsh_spec(FILE *f, const struct dr_opt *o, const char *form, const char *indent,
                     const char *end)
{
    fprintf(f, "%s'%s%s", indent, (o->flags & DR_OPT_REPEAT) ? "*" : "", form);
    enum arg_kind k = arg_kind(o);
    if (o->flags & DR_OPT_REST) {
        fputs("[", f);
        zsh_quote(f, o->help, true);
        fprintf(f, "]:command:_command_names -e:*::arguments:_normal'%s", end);
        return;
    }
    if (k != ARG_NONE && (o->flags & DR_OPT_OPTIONAL)) {
        fputs("-", f); /* the value only as --opt=VALUE */
    } else if (k != ARG_NONE) {
        fputs(form[1] == '-' ? "=" : "+", f);
    }
    fputs("[", f);
    zsh_quote(f, o->help, true);
    fputs("]", f);
    if (k != ARG_NONE) {
        fputs(":", f);
        zsh_quote(f, o->arg, false);
        fputs(":", f);
        if (o->choices) {
            fputs("(", f);
            for (const char *const *c = o->choices; *c; c++) {
                fprintf(f, "%s%s", c == o->choices ? "" : " ", *c);
            }
            fputs(")", f);
        } else {
            fputs(k == ARG_FILE ? "_files" : k == ARG_DIR ? "_files -/" : " ", f);
        }
    }
    fprintf(f, "'%s", end);
}

/* The _arguments specs of opts, one a line: "--name" and "-s" each (zsh_spec). */
static void zsh_specs(FILE *f, const struct dr_opt *opts, const char *indent, const char *end)
{
    for (const struct dr_opt *o = opts; o && listed(o); o++) {
        char form[80];
        snprintf(form, sizeof(form), "--%s", o->name);
        zsh_spec(f, o, form, indent, end);
        if (o->short_name) {
            snprintf(form, sizeof(form), "-%c", o->short_name);
            zsh_spec(f, o, form, indent, end);
        }
    }
}

static void write_zsh(FILE *f, const struct dr_cmd *cmds, size_t ncmds, const struct dr_opt *g)
{
    fprintf(f,
            "#compdef drrepo\n# zsh completion for drrepo %s: written by 'drrepo generate "
            "--zsh-completion' from\n# drrepo's option tables; regenerate it, do not edit "
            "it. Install it as _drrepo in a\n# directory of $fpath.\n",
            DR_VERSION);
    fprintf(f, "_drrepo() {\n    local curcontext=$curcontext state state_descr line ret=1\n"
               "    typeset -A opt_args\n    local -a globals\n    globals=(\n");
    zsh_specs(f, g, "        ", "\n");
    fprintf(f, "    )\n    _arguments -C -S $globals ':command:->command' '*::argument:->argument' "
               "&& ret=0\n    case $state in\n    command)\n        local -a commands\n"
               "        commands=(\n");
    for (size_t i = 0; i < ncmds; i++) {
        fprintf(f, "            '");
        zsh_quote(f, cmds[i].name, false);
        fputs(":", f);
        zsh_quote(f, cmds[i].summary, false);
        fputs("'\n", f);
    }
    fprintf(f,
            "        )\n        _describe -t commands 'drrepo command' commands && ret=0\n"
            "        ;;\n    argument)\n        curcontext=${curcontext%%:*:*}:drrepo-$words[1]:\n"
            "        case $words[1] in\n");
    for (size_t i = 0; i < ncmds; i++) {
        const struct dr_cmd *c = &cmds[i];
        char subs[512];
        subcommands(c, subs, sizeof(subs));
        fprintf(f, "        %s)\n            _arguments -S $globals \\\n", c->name);
        zsh_specs(f, c->opts, "                ", " \\\n");
        if (strcmp(c->name, "help") == 0) {
            fprintf(f, "                '1:command:(");
            for (size_t k = 0; k < ncmds; k++) {
                fprintf(f, "%s%s", k ? " " : "", cmds[k].name);
            }
            fprintf(f, ")' \\\n");
        } else if (*subs) {
            fprintf(f, "                '1:subcommand:(%s)' \\\n", subs);
        }
        if (c->max_args != 0) {
            fprintf(f, "                '*:argument:_files' \\\n");
        }
        fprintf(f, "                && ret=0\n            ;;\n");
    }
    fprintf(f, "        esac\n        ;;\n    esac\n    return ret\n}\n_drrepo \"$@\"\n");
}

/* ---- man ---- */

/* s as roff text: backslashes, hyphens (so that options print as ASCII '-'), and a '.' or '\''
 * at the start of a line. */
static void roff(FILE *f, const char *s)
{
    bool bol = true;
    for (; *s; s++) {
        if (bol && (*s == '.' || *s == '\'')) {
            fputs("\\&", f);
        }
        if (*s == '\\') {
            fputs("\\e", f);
        } else if (*s == '-') {
            fputs("\\-", f);
        } else {
            fputc(*s, f);
        }
        bol = *s == '\n';
    }
}

static void man_options(FILE *f, const struct dr_opt *opts)
{
    for (const struct dr_opt *o = opts; o && listed(o); o++) {
        fputs(".TP\n", f);
        if (o->short_name) {
            fprintf(f, "\\fB\\-%c\\fR, ", o->short_name);
        }
        fputs("\\fB", f);
        roff(f, "--");
        roff(f, o->name);
        fputs("\\fR", f);
        const char *arg = o->arg ? o->arg : (o->flags & DR_OPT_REST) ? "CMD [ARG...]" : NULL;
        if (arg) {
            bool opt = (o->flags & DR_OPT_OPTIONAL) != 0;
            fputs(opt ? "[=\\fI" : " \\fI", f);
            roff(f, arg);
            fputs(opt ? "\\fR]" : "\\fR", f);
        }
        fputs("\n", f);
        roff(f, o->help);
        fputs((o->flags & DR_OPT_REPEAT) ? " (repeatable)\n" : "\n", f);
    }
}

static void man_head(FILE *f, const char *name, const char *summary)
{
    char upper[64];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof(upper); i++) {
        upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
    }
    upper[i] = '\0';
    fputs(".TH ", f);
    roff(f, upper);
    fprintf(f, " 1 \"\" \"drrepo %s\" \"drrepo manual\"\n", DR_VERSION);
    fputs(".\\\" written by 'drrepo generate --man' from drrepo's option tables: do not edit\n", f);
    fputs(".SH NAME\n", f);
    roff(f, name);
    fputs(" \\- ", f);
    roff(f, summary);
    fputs("\n", f);
}

static void man_tail(FILE *f, const struct dr_opt *g)
{
    fputs(".SH GLOBAL OPTIONS\nAccepted before and after the command.\n", f);
    man_options(f, g);
    fputs(".SH EXIT STATUS\n0 on success; 2 for a usage error; 3 for a warning; other codes "
          "(1, 4, 10 to 14, 126, 129, 130, 143) are listed in docs/exit-codes.md of drrepo's "
          "sources.\n",
          f);
}

static void write_cmd_page(FILE *f, const struct dr_cmd *c, const struct dr_opt *g)
{
    char name[64];
    snprintf(name, sizeof(name), "drrepo-%s", c->name);
    man_head(f, name, c->summary);
    fputs(".SH SYNOPSIS\n.nf\n", f);
    for (const char *u = c->usage; *u;) {
        size_t len = strcspn(u, "\n");
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)DR_MIN(len, sizeof(line) - 1), u);
        fputs("\\fBdrrepo\\fR ", f);
        roff(f, line);
        fputs("\n", f);
        u += len + (u[len] == '\n');
    }
    fputs(".fi\n.SH DESCRIPTION\n", f);
    roff(f, c->summary);
    fputs(".\nSee \\fBdrrepo help ", f);
    roff(f, c->name);
    fputs("\\fR for the same text, and docs/USAGE.md of drrepo's sources for examples.\n", f);
    if (c->opts && listed(c->opts)) {
        fputs(".SH OPTIONS\n", f);
        man_options(f, c->opts);
    }
    man_tail(f, g);
    fputs(".SH SEE ALSO\n\\fBdrrepo\\fR(1)\n", f);
}

static void write_main_page(FILE *f, const struct dr_cmd *cmds, size_t ncmds,
                            const struct dr_opt *g)
{
    man_head(f, "drrepo", "deduplicating, encrypted backups with restore drills");
    fputs(".SH SYNOPSIS\n\\fBdrrepo\\fR [global options] \\fICOMMAND\\fR [options] [ARGS]\n"
          ".SH COMMANDS\n",
          f);
    for (size_t i = 0; i < ncmds; i++) {
        fputs(".TP\n\\fBdrrepo\\-", f);
        roff(f, cmds[i].name);
        fputs("\\fR(1)\n", f);
        roff(f, cmds[i].summary);
        fputs("\n", f);
    }
    man_tail(f, g);
    fputs(".SH ENVIRONMENT\nDRREPO_REPOSITORY, DRREPO_PASSWORD, DRREPO_PASSWORD_FILE, "
          "DRREPO_PASSWORD_COMMAND, DRREPO_CACHE_DIR, DRREPO_METRICS_FILE: see docs/USAGE.md.\n",
          f);
}

/* ---- output ---- */

/* What a writer produced (an open_memstream buffer) to path, atomically; "-" is stdout. */
static int emit(const char *path, char *text, size_t len)
{
    if (strcmp(path, "-") == 0) {
        fwrite(text, 1, len, stdout);
        return 0;
    }
    int rc = dr_fs_write_atomic(path, text, len, false);
    if (rc < 0) {
        return dr_error_wrap(rc, "cannot write '%s'", path);
    }
    /* the atomic writer makes files for the owner only; these are for everyone, like a man
     * page installed by a package */
    if (chmod(path, 0644) != 0) {
        return dr_error_errno(DR_EIO, "cannot make '%s' readable", path);
    }
    return 0;
}

enum page { P_BASH, P_ZSH, P_MAIN, P_CMD };

static int generate(const char *path, enum page p, const struct dr_cmd *c)
{
    size_t ncmds = 0;
    const struct dr_cmd *cmds = dr_cmd_table(&ncmds);
    const struct dr_opt *g = dr_cmd_global_opts();
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        return dr_error_errno(DR_EIO, "cannot write '%s'", path);
    }
    switch (p) {
    case P_BASH: write_bash(f, cmds, ncmds, g); break;
    case P_ZSH: write_zsh(f, cmds, ncmds, g); break;
    case P_MAIN: write_main_page(f, cmds, ncmds, g); break;
    case P_CMD: write_cmd_page(f, c, g); break;
    }
    int rc =
        fclose(f) == 0 ? emit(path, text, len) : dr_error_errno(DR_EIO, "cannot write '%s'", path);
    free(text);
    return rc;
}

static int generate_man(const char *dir)
{
    int rc = dr_fs_mkdir_p(dir, 0755);
    if (rc < 0) {
        return dr_error_wrap(rc, "cannot create '%s'", dir);
    }
    size_t ncmds = 0;
    const struct dr_cmd *cmds = dr_cmd_table(&ncmds);
    char *path = dr_xasprintf("%s/drrepo.1", dir);
    rc = generate(path, P_MAIN, NULL);
    free(path);
    for (size_t i = 0; i < ncmds && rc >= 0; i++) {
        path = dr_xasprintf("%s/drrepo-%s.1", dir, cmds[i].name);
        rc = generate(path, P_CMD, &cmds[i]);
        free(path);
    }
    return rc;
}

/* The tables are the one source of parsing, help, completion and man pages, so the build (which
 * runs `drrepo generate`) refuses tables in which two options of a command, or an option and a
 * global one, share an id, a long name or a short name: a shared id would make one option act
 * as the other without a word from the compiler when the two are handled in different places. */
static int check_opt_pair(const char *cmd, const struct dr_opt *a, const struct dr_opt *b)
{
    if (a->id == b->id || strcmp(a->name, b->name) == 0 ||
        (a->short_name && a->short_name == b->short_name)) {
        return dr_errorf(DR_EINTERNAL,
                         "the option table of '%s' gives --%s and --%s the same id, name or "
                         "short name",
                         cmd, a->name, b->name);
    }
    return 0;
}

static int check_tables(const struct dr_cmd *cmds, size_t ncmds, const struct dr_opt *g)
{
    int rc = 0;
    for (size_t i = 0; g[i].name && rc >= 0; i++) {
        for (size_t j = i + 1; g[j].name && rc >= 0; j++) {
            rc = check_opt_pair("global options", &g[i], &g[j]);
        }
    }
    for (size_t c = 0; c < ncmds && rc >= 0; c++) {
        const struct dr_opt *o = cmds[c].opts;
        for (size_t i = 0; o && o[i].name && rc >= 0; i++) {
            for (size_t j = i + 1; o[j].name && rc >= 0; j++) {
                rc = check_opt_pair(cmds[c].name, &o[i], &o[j]);
            }
            for (size_t j = 0; g[j].name && rc >= 0; j++) {
                rc = check_opt_pair(cmds[c].name, &o[i], &g[j]);
            }
        }
    }
    return rc;
}

int dr_cmd_generate(struct dr_ctx *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const char *bash = NULL, *zsh = NULL, *man = NULL, *arg;
    int c;
    while ((c = dr_cmd_opt(ctx, &arg)) != 0) {
        switch (c) {
        case G_BASH: bash = arg; break;
        case G_ZSH: zsh = arg; break;
        case G_MAN: man = arg; break;
        default: break;
        }
    }
    if (!bash && !zsh && !man) {
        return dr_cmd_usage(ctx, "give --bash-completion FILE, --zsh-completion FILE or --man DIR");
    }
    size_t ncmds = 0;
    const struct dr_cmd *cmds = dr_cmd_table(&ncmds);
    int rc = check_tables(cmds, ncmds, dr_cmd_global_opts());
    if (rc >= 0 && bash) {
        rc = generate(bash, P_BASH, NULL);
    }
    if (rc >= 0 && zsh) {
        rc = generate(zsh, P_ZSH, NULL);
    }
    if (rc >= 0 && man) {
        rc = generate_man(man);
    }
    return rc;
}
