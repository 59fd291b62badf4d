#!/usr/bin/env bash
# drrepo generate (src/cmd/generate.c): the bash and zsh completion and the man pages are
# written from the parser's tables, so they cannot drift from it. Checked against `--help`,
# which prints the same tables: the completion offers every command, and for each command
# exactly the options its --help lists (its own and the global ones); each command has a man
# page that groff reads without a warning and that names every one of its options. The bash
# completion is run as bash runs it (COMP_WORDS, COMP_CWORD), not only read.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_must_fail 2 "generate without anything to write" "$DRREPO" generate
dr_check "it says what to give" grep -q "generate: give --bash-completion FILE" "$T/err"
dr_expect_success "generate all three" "$DRREPO" generate --bash-completion "$T/drrepo.bash" \
    --zsh-completion "$T/_drrepo" --man "$T/man"
dr_expect_success "generate the bash completion to stdout" "$DRREPO" generate --bash-completion -
dr_check "it is the file's text" dr_cmp "$T/drrepo.bash" "$T/out"
dr_check "the files are readable by everyone (as installed)" \
    test "$(stat -c %a "$T/drrepo.bash" "$T/_drrepo" "$T/man/drrepo.1" | sort -u)" = 644

# complete WORD...: what the bash completion offers for the command line "drrepo WORD..." with
# the cursor on the last word, one a line, sorted
complete_words() {
    bash -c '. "$1"; shift; COMP_WORDS=(drrepo "$@"); COMP_CWORD=$#; _drrepo
             printf "%s\n" "${COMPREPLY[@]}"' complete "$T/drrepo.bash" "$@" | sort
}
# help_options: the long and short options of the option lines ("  -s, --long ARG  help") of
# a --help text (stdin), one a line
help_options() {
    awk '/^  +-/ { if ($1 ~ /,$/) { sub(/,$/, "", $1); print $1; print $2 } else print $1 }' |
        sed 's/\[=.*//' | sort -u
}

"$DRREPO" --help >"$T/help"
commands=$(awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$T/help" | sort)
dr_check "the help lists commands" test "$(wc -l <<<"$commands")" -ge 20
dr_check "the completion offers exactly the commands" \
    test "$(complete_words '')" = "$commands"
dr_check "and completes a prefix" test "$(complete_words -r /x snap | tr '\n' ' ')" = "snapshot snapshots "
globals=$(sed -n '/^global options/,$p' "$T/help" | help_options)
dr_check "the completion offers the global options before a command" \
    test "$(complete_words --)" = "$(grep '^--' <<<"$globals")"

for c in $commands; do
    "$DRREPO" "$c" --help >"$T/help-$c"
    own=$(sed -n '/^options:/,/^global options/p' "$T/help-$c" | help_options)
    want=$(printf '%s\n%s\n' "$own" "$globals" | grep -v '^$' | sort -u)
    got=$(complete_words "$c" - | sort -u)
    dr_check "bash: '$c -' offers exactly the options of '$c --help'" test "$got" = "$want"
    if [ "$got" != "$want" ]; then
        diff <(echo "$want") <(echo "$got") | sed 's/^/#   /'
    fi
    # zsh: the command's _arguments block names each of them
    block=$(awk -v c="        $c)" '$0 == c { on = 1; next } on && /^            ;;$/ { exit } on' "$T/_drrepo")
    missing=""
    for o in $own; do
        grep -q -- "'\*\?$o[=+-]\?\[" <<<"$block" || missing="$missing $o"
    done
    dr_check "zsh: the '$c' block names its options${missing:+ (missing:$missing)}" \
        test -n "$block" -a -z "$missing"
    page="$T/man/drrepo-$c.1"
    dr_check "man: drrepo-$c.1 exists" test -s "$page"
    groff -man -ww -z "$page" 2>"$T/groff-err"
    dr_check "man: groff reads drrepo-$c.1 without a warning" test ! -s "$T/groff-err"
    text=$(groff -man -Tascii -P-c -P-b -P-u "$page" 2>/dev/null)
    missing=""
    for o in $own; do
        grep -qe "$o\b" <<<"$text" || missing="$missing $o"
    done
    dr_check "man: drrepo-$c.1 names its options${missing:+ (missing:$missing)}" test -z "$missing"
    dr_check "man: drrepo-$c.1 has its synopsis" grep -q "drrepo $c" <<<"$text"
done
missing=""
for c in $commands; do
    grep -q "drrepo-$c(1)" <<<"$(groff -man -Tascii -P-c -P-b -P-u "$T/man/drrepo.1")" ||
        missing="$missing $c"
done
dr_check "man: drrepo.1 lists every command${missing:+ (missing:$missing)}" test -z "$missing"

# what an option's argument is completed with, and subcommands
mkdir -p "$T/cwd/somedir" && touch "$T/cwd/somefile"
cd "$T/cwd" || exit 1
dr_check "restore --target completes directories" \
    test "$(complete_words restore --target s)" = "somedir"
dr_check "snapshot --exclude-file completes files" \
    test "$(complete_words snapshot --exclude-file s | tr '\n' ' ')" = "somedir somefile "
dr_check "--exclude-file=VALUE too" \
    test "$(complete_words snapshot --exclude-file = s | tr '\n' ' ')" = "somedir somefile "
dr_check "an option's value that is not a file is not completed with files" \
    test -z "$(complete_words snapshot --tag s)"
dr_check "a global option's value before the command is skipped" \
    test "$(complete_words --repo /x key '')" = "$(printf '%s\n' add list passwd remove)"
dr_check "repair completes its subcommands" \
    test "$(complete_words repair '' | tr '\n' ' ')" = "config index keys packs snapshots "
dr_check "help completes the commands" test "$(complete_words help '')" = "$commands"
dr_check "restore --overwrite completes its choices" \
    test "$(complete_words restore --overwrite '' | tr '\n' ' ')" = "always if-changed never "

if command -v shellcheck >/dev/null; then
    dr_expect_success "shellcheck accepts the bash completion" shellcheck -s bash "$T/drrepo.bash"
fi
if command -v zsh >/dev/null; then
    dr_expect_success "zsh parses the completion" zsh -n "$T/_drrepo"
    # loaded by compinit from $fpath as zsh loads it, and bound to drrepo
    dr_expect_success "compinit binds it to drrepo" zsh -f -c \
        'fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -D; print -r -- ${_comps[drrepo]}' \
        zsh "$T"
    dr_check "it is _drrepo" grep -qx _drrepo "$T/out"
fi

dr_must_fail 1 "a directory that cannot be made" "$DRREPO" generate --man /proc/nope/man
dr_check "it names it" grep -q "/proc/nope/man" "$T/err"
dr_done
