#!/usr/bin/env bash
# The command line (src/cmd/opt.c): every command's --help lists its options (the option names
# are promises to scripts: each one listed here must stay); an unknown option or a missing
# value is named in one line with exit 2; global options work before and after the command,
# as --opt=value and --opt value; -vv; a stray operand is refused; --retry-lock is honoured by
# a command other than prune.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

declare -A opts=(
    [init]="--chunk-min --chunk-avg --chunk-max --pack-size --compression --kdf-memlimit --kdf-opslimit --insecure-kdf"
    [snapshot]="--exclude --exclude-file --iexclude --exclude-if-present --exclude-larger-than --files-from --files-from-verbatim --files-from-raw --one-file-system --tag --host --stdin --from-command --stdin-name --redis --redis-password-file --pg --allow-empty --no-rdb-records --rdb-records --warn-size-change --fail-on-size-change --dry-run --metrics-file"
    [snapshots]="--host --tag"
    [ls]="--long --host --tag"
    [restore]="--target --include --exclude --overwrite --verify-existing --delete --dry-run --host --tag"
    [dump]="--host --tag"
    [diff]=""
    [stats]=""
    [key]="--new-password-file"
    [check]="--read-data --read-data-subset --read-data-max-age --seed --metrics-file"
    [drill]="--latest --host --tag --check-sql --tmpdir --restore-command --metrics-file"
    [mount]="--background --log --cache-size --readahead --threads --allow-other"
    [forget]="--keep-last --keep-hourly --keep-daily --keep-weekly --keep-monthly --keep-yearly --keep-within --keep-tag --group-by --host --tag --prune --max-unused --dry-run --metrics-file"
    [prune]="--max-unused --dry-run --metrics-file"
    [repair]="--read-data --dry-run"
    [tag]="--add --remove --set --host --tag --path"
    [find]="--host --tag --path"
    [copy]="--to --to-password-file --to-password-command --to-cache-dir --host --tag --path --metrics-file"
    [metrics]=""
    [wal]="--pg-data --system-id"
    [unlock]="--remove-all"
    [version]=""
    [generate]="--bash-completion --zsh-completion --man"
    [help]=""
)
globals="--repo --password-file --password-command --cache-dir --retry-lock --read-concurrency --json --progress-json --quiet --verbose --help"

dr_expect_success "drrepo --help" "$DRREPO" --help
cp "$T/out" "$T/help"
dr_expect_success "drrepo help" "$DRREPO" help
dr_check "'drrepo help' is 'drrepo --help'" dr_cmp "$T/help" "$T/out"
listed=$(awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$T/help")
dr_check "the help lists every command" \
    test "$(sort <<<"$listed" | tr '\n' ' ')" = "$(printf '%s\n' "${!opts[@]}" | sort | tr '\n' ' ')"
for g in $globals; do
    grep -q -- "$g\b" "$T/help" || dr_fail "drrepo --help does not list $g"
done

for c in "${!opts[@]}"; do
    dr_expect_success "$c --help" "$DRREPO" "$c" --help
    cp "$T/out" "$T/help-$c"
    dr_check "$c --help starts with its usage" grep -q "^usage: drrepo $c" "$T/help-$c"
    dr_check "$c --help writes nothing to stderr" test ! -s "$T/err"
    missing=""
    for o in ${opts[$c]} $globals; do
        grep -q -- "$o\b" "$T/help-$c" || missing="$missing $o"
    done
    dr_check "$c --help lists its options and the global ones${missing:+ (missing:$missing)}" \
        test -z "$missing"
    dr_expect_success "$c -h" "$DRREPO" "$c" -h
    dr_check "$c -h is $c --help" dr_cmp "$T/help-$c" "$T/out"
    dr_expect_success "help $c" "$DRREPO" help "$c"
    dr_check "help $c is $c --help" dr_cmp "$T/help-$c" "$T/out"
done
dr_must_fail 2 "help of an unknown command" "$DRREPO" help snapshoot
dr_check "it suggests the command" grep -q "did you mean 'snapshot'" "$T/err"

dr_init
mkdir -p "$T/src" && echo data > "$T/src/f"
dr_must_fail 2 "an unknown option" drrepo snapshot --excldue x "$T/src"
dr_check "it is named with the command, in one line" \
    test "$(cat "$T/err")" = "drrepo: error: snapshot: unknown option '--excldue'; did you mean '--exclude'? (see 'drrepo snapshot --help')"
dr_must_fail 2 "an unknown short option" drrepo snapshot -Z "$T/src"
dr_check "it is named" grep -q "snapshot: unknown option '-Z'" "$T/err"
dr_must_fail 2 "an unknown option before the command" "$DRREPO" --no-such -r "$REPO" snapshots
dr_check "it is named" grep -q "unknown option '--no-such'" "$T/err"
dr_must_fail 2 "a missing value" drrepo snapshot "$T/src" --exclude
dr_check "it names the option" \
    grep -q "snapshot: option '--exclude' needs PATTERN" "$T/err"
dr_must_fail 2 "a missing value of a global option after the command" drrepo snapshots --retry-lock
dr_check "it names the option" grep -q "option '--retry-lock' needs DURATION" "$T/err"
dr_must_fail 2 "a value given to an option that takes none" drrepo snapshots --json=yes
dr_check "it says so" grep -q "option '--json' takes no value" "$T/err"
dr_must_fail 2 "a bad duration" drrepo snapshots --retry-lock=soon
dr_check "it names the value" grep -q "retry-lock.*'soon'" "$T/err"

dr_expect_success "a snapshot, with -vv" drrepo snapshot -vv "$T/src"
dr_expect_success "-v -v after the command" drrepo snapshots -v -v
dr_expect_success "-vv before the command" drrepo -vv snapshots
for form in "--retry-lock=5s" "--retry-lock 5s"; do
    # shellcheck disable=SC2086
    dr_expect_success "snapshots $form" drrepo snapshots $form
    # shellcheck disable=SC2086
    dr_expect_success "$form snapshots" drrepo $form snapshots
done
dr_expect_success "--repo=REPO after the command" "$DRREPO" snapshots --repo="$REPO"
dr_expect_success "-r REPO after the command" "$DRREPO" snapshots -r "$REPO"
dr_expect_success "--json after the command" drrepo snapshots --json
dr_check "it is JSON" grep -q '^\[{"id":' "$T/out"
dr_expect_success "a unique prefix of a long option (as getopt took it)" drrepo snapshots --hos "$(hostname)"

dr_must_fail 2 "stats with an argument that is not a snapshot" drrepo stats nosuchsnap
dr_check "it names the argument" grep -q "'nosuchsnap' is not a snapshot id" "$T/err"
dr_expect_success "stats takes a snapshot" drrepo stats latest
dr_must_fail 2 "unlock with a stray argument" drrepo unlock foo
dr_must_fail 2 "version with a stray argument" drrepo version now
dr_must_fail 2 "snapshots with a stray argument" drrepo snapshots latest

# --retry-lock for a command that locks (not only prune): a snapshot waits for another host's
# exclusive lock to go, and without --retry-lock exits 11 at once
"$TOOL" lock "$REPO" exclusive busy-host 4343 60
dr_must_fail 11 "a snapshot without --retry-lock is refused at once" drrepo snapshot "$T/src"
lockfile=$(ls "$REPO/locks")
(sleep 2; rm -f "$REPO/locks/$lockfile") &
dr_expect_success "snapshot --retry-lock=30s waits for the lock to go" \
    drrepo snapshot --retry-lock=30s "$T/src"
wait
dr_check "it said it was waiting" grep -q "waiting for the shared lock" "$T/err"
"$TOOL" lock "$REPO" exclusive busy-host 4344 60
dr_must_fail 11 "check --retry-lock 1s gives up after a second" drrepo check --retry-lock 1s
rm -f "$REPO"/locks/*
dr_done
