/* opt.c: the one option parser of the command line, and the option lines of `--help`, both read
 * from the option tables (struct dr_opt) that cmd.c (global options) and each command declare.
 *
 * What it accepts is what getopt_long accepted, so that scripts keep working: "--opt value" and
 * "--opt=value", a unique prefix of a long name, short options bundled ("-vv", "-xe PATTERN",
 * "-ePATTERN"), options and operands in any order, and "--" ending the options. An option's
 * value is the next word whatever it looks like ("--exclude -foo"). Unlike getopt, an error
 * names the option and the command in one line, and global options are accepted after the
 * command name by the same code that reads them before it. */
#include "cmd_int.h"

#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"

static void push_val(struct dr_args *a, int id, const char *arg)
{
    DR_GROW(a->v, a->alloc, a->n + 1);
    a->v[a->n++] = (struct dr_optval){.id = id, .arg = arg};
}

static void push_op(struct dr_args *a, char *op)
{
    DR_GROW(a->ops, a->opsalloc, a->nops + 2);
    a->ops[a->nops++] = op;
    a->ops[a->nops] = NULL;
}

void dr_args_release(struct dr_args *a)
{
    free(a->v);
    free(a->ops);
    memset(a, 0, sizeof(*a));
}

/* "snapshot: " before a command's errors, nothing before the command. */
static const char *prefix(const char *cmd, char *buf, size_t len)
{
    if (!cmd) {
        return "";
    }
    snprintf(buf, len, "%s: ", cmd);
    return buf;
}

static int usage_error(const char *cmd, const char *what, const char *hint)
{
    char p[64];
    return dr_errorf(DR_EUSAGE, "%s%s%s (see 'drrepo %s%s--help')", prefix(cmd, p, sizeof(p)), what,
                     hint ? hint : "", cmd ? cmd : "", cmd ? " " : "");
}

/* Levenshtein distance of two short names (99 for long ones), for "did you mean". */
size_t dr_opt_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32) {
        return 99;
    }
    size_t d[33][33];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = DR_MIN(sub, DR_MIN(del, ins));
        }
    }
    return d[la][lb];
}

static int unknown_long(const struct dr_opt *const *tables, size_t ntables, const char *cmd,
                        const char *name, size_t len)
{
    char given[64], what[160], hint[96] = "";
    snprintf(given, sizeof(given), "%.*s", (int)DR_MIN(len, sizeof(given) - 1), name);
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t t = 0; t < ntables; t++) {
        for (const struct dr_opt *o = tables[t]; o->name; o++) {
            size_t d = dr_opt_edit_distance(given, o->name);
            if (d < bestd && !(o->flags & DR_OPT_HIDDEN)) {
                bestd = d;
                best = o->name;
            }
        }
    }
    if (best) {
        snprintf(hint, sizeof(hint), "; did you mean '--%s'?", best);
    }
    snprintf(what, sizeof(what), "unknown option '--%s'", given);
    return usage_error(cmd, what, hint);
}

/* The option named by "--name" (len characters of it): an exact match, else the one option
 * whose name starts with it. */
static int find_long(const struct dr_opt *const *tables, size_t ntables, const char *cmd,
                     const char *name, size_t len, const struct dr_opt **out)
{
    const struct dr_opt *found = NULL, *other = NULL;
    for (size_t t = 0; t < ntables; t++) {
        for (const struct dr_opt *o = tables[t]; o->name; o++) {
            if (strncmp(o->name, name, len) != 0) {
                continue;
            }
            if (o->name[len] == '\0') {
                *out = o;
                return 0;
            }
            if (!found) {
                found = o;
            } else if (strcmp(found->name, o->name) != 0) {
                other = o;
            }
        }
    }
    if (found && other) {
        char what[192];
        snprintf(what, sizeof(what), "option '--%.*s' is ambiguous ('--%s', '--%s', ...)",
                 (int)DR_MIN(len, 64), name, found->name, other->name);
        return usage_error(cmd, what, NULL);
    }
    if (!found) {
        return unknown_long(tables, ntables, cmd, name, len);
    }
    *out = found;
    return 0;
}

static const struct dr_opt *find_short(const struct dr_opt *const *tables, size_t ntables, char c)
{
    for (size_t t = 0; t < ntables; t++) {
        for (const struct dr_opt *o = tables[t]; o->name; o++) {
            if (o->short_name == c) {
                return o;
            }
        }
    }
    return NULL;
}

static bool is_choice(const struct dr_opt *o, const char *word)
{
    for (const char *const *c = o->choices; c && *c; c++) {
        if (strcmp(*c, word) == 0) {
            return true;
        }
    }
    return false;
}

static int needs_value(const char *cmd, const struct dr_opt *o, bool as_short)
{
    char what[128];
    if (as_short) {
        snprintf(what, sizeof(what), "option '-%c' needs %s", o->short_name, o->arg);
    } else {
        snprintf(what, sizeof(what), "option '--%s' needs %s", o->name, o->arg);
    }
    return usage_error(cmd, what, NULL);
}

/* A long option at argv[*i] ("--name" or "--name=value"). Returns 1 when it was a DR_OPT_REST
 * option (the rest of argv is taken). */
static int long_opt(const struct dr_opt *const *tables, size_t ntables, const char *cmd, int argc,
                    char **argv, int *i, struct dr_args *a)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct dr_opt *o = NULL;
    int rc = find_long(tables, ntables, cmd, name, len, &o);
    if (rc < 0) {
        return rc;
    }
    (*i)++;
    if (o->flags & DR_OPT_REST) {
        if (eq) {
            char what[96];
            snprintf(what, sizeof(what), "option '--%s' takes what follows it, not '='", o->name);
            return usage_error(cmd, what, NULL);
        }
        if (*i < argc && strcmp(argv[*i], "--") == 0) {
            (*i)++;
        }
        push_val(a, o->id, NULL);
        a->rest = argv + *i; /* argv is NULL-terminated */
        *i = argc;
        return 1;
    }
    if (!o->arg) {
        if (eq) {
            char what[96];
            snprintf(what, sizeof(what), "option '--%s' takes no value", o->name);
            return usage_error(cmd, what, NULL);
        }
        push_val(a, o->id, NULL);
    } else if (eq) {
        push_val(a, o->id, eq + 1);
    } else if (o->flags & DR_OPT_OPTIONAL) {
        bool take = *i < argc && is_choice(o, argv[*i]);
        push_val(a, o->id, take ? argv[(*i)++] : NULL);
    } else if (*i < argc) {
        push_val(a, o->id, argv[(*i)++]);
    } else {
        return needs_value(cmd, o, false);
    }
    return 0;
}

/* Short options at argv[*i], possibly bundled: "-vv", "-xeVALUE", "-e VALUE". */
static int short_opts(const struct dr_opt *const *tables, size_t ntables, const char *cmd, int argc,
                      char **argv, int *i, struct dr_args *a)
{
    const char *p = argv[(*i)++] + 1;
    for (; *p; p++) {
        const struct dr_opt *o = find_short(tables, ntables, *p);
        if (!o) {
            char what[64];
            snprintf(what, sizeof(what), "unknown option '-%c'", *p);
            return usage_error(cmd, what, NULL);
        }
        if (!o->arg || (o->flags & DR_OPT_OPTIONAL)) {
            push_val(a, o->id, NULL);
            continue;
        }
        if (p[1]) {
            push_val(a, o->id, p + 1);
        } else if (*i < argc) {
            push_val(a, o->id, argv[(*i)++]);
        } else {
            return needs_value(cmd, o, true);
        }
        break;
    }
    return 0;
}

int dr_opt_parse(const struct dr_opt *const *tables, size_t ntables, const char *cmd,
                 bool stop_at_operand, int argc, char **argv, int *i, struct dr_args *a)
{
    while (*i < argc) {
        char *w = argv[*i];
        int rc = 0;
        if (strcmp(w, "--") == 0 && !stop_at_operand) {
            for ((*i)++; *i < argc; (*i)++) {
                push_op(a, argv[*i]);
            }
        } else if (w[0] == '-' && w[1] == '-' && w[2]) {
            rc = long_opt(tables, ntables, cmd, argc, argv, i, a);
        } else if (w[0] == '-' && w[1] && w[1] != '-') {
            rc = short_opts(tables, ntables, cmd, argc, argv, i, a);
        } else if (stop_at_operand) {
            return 0;
        } else {
            push_op(a, w);
            (*i)++;
        }
        if (rc < 0) {
            return rc;
        }
    }
    if (!stop_at_operand && !a->ops) {
        push_op(a, NULL); /* an empty, NULL-terminated list */
        a->nops = 0;
    }
    return 0;
}

void dr_opt_print_table(FILE *f, const struct dr_opt *opts)
{
    int width = 0;
    char col[96];
    for (int pass = 0; pass < 2; pass++) {
        for (const struct dr_opt *o = opts; o && o->name; o++) {
            if (o->flags & DR_OPT_HIDDEN) {
                continue;
            }
            char sh[8] = "    ";
            if (o->short_name) {
                snprintf(sh, sizeof(sh), "-%c, ", o->short_name);
            }
            const char *arg = o->arg ? o->arg : (o->flags & DR_OPT_REST) ? "CMD [ARG...]" : "";
            bool opt = (o->flags & DR_OPT_OPTIONAL) != 0;
            int n = snprintf(col, sizeof(col), "%s--%s%s%s%s%s", sh, o->name, *arg ? " " : "",
                             opt ? "[" : "", arg, opt ? "]" : "");
            if (pass == 0) {
                width = n > width && n < 40 ? n : width;
                continue;
            }
            /* a column too wide for the others gets a line of its own */
            fprintf(f, n > width ? "  %s\n  %*s  %s%s\n" : "  %s%*s  %s%s\n", col,
                    n > width ? width : width - n, "", o->help,
                    (o->flags & DR_OPT_REPEAT) ? " (repeatable)" : "");
        }
    }
}
