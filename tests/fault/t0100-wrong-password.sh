#!/bin/bash
# t0100: wrong, missing and empty passwords fail clearly and write nothing to the repository;
# --password-file and --password-command open it.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

# every file and directory of the repository with its size (mtimes of locks would differ)
listing() { (cd "$REPO" && find . -printf '%y %P %s\n' | sort); }

mkdir -p "$T/src/sub"
echo "hello" >"$T/src/a.txt"
echo "world" >"$T/src/sub/b.txt"
dr_init
dr_expect_success "first snapshot" drrepo snapshot "$T/src"
listing >"$T/before"

for cmd in "snapshot $T/src" "snapshots" "check" "restore latest --target $T/r1" "ls latest"; do
    # shellcheck disable=SC2086 # word splitting of $cmd is intended
    DRREPO_PASSWORD=wrong-password dr_must_fail 12 "wrong password: $cmd exits 12" drrepo $cmd
    dr_check "wrong password: $cmd prints one line" test "$(wc -l <"$T/err")" -eq 1
    dr_check "wrong password: $cmd mentions the password" grep -qi "password" "$T/err"
    listing >"$T/after"
    dr_check "wrong password: $cmd writes nothing" dr_cmp "$T/before" "$T/after"
done
dr_check "wrong password: nothing restored" test ! -e "$T/r1"

# drrepo without DRREPO_PASSWORD in its environment
nopw() { env -u DRREPO_PASSWORD "$DRREPO" -r "$REPO" "$@"; }

# no password and no terminal: a usage error naming the ways to give one, never a hang
if command -v setsid >/dev/null; then
    dr_must_fail 2 "no password, no tty: exit 2" setsid -w env -u DRREPO_PASSWORD \
        "$DRREPO" -r "$REPO" snapshots </dev/null
else
    dr_must_fail 2 "no password, no tty: exit 2" nopw snapshots </dev/null
fi
dr_check "no password: message names DRREPO_PASSWORD" grep -q "DRREPO_PASSWORD" "$T/err"
listing >"$T/after"
dr_check "no password: nothing written" dr_cmp "$T/before" "$T/after"

# --password-file and --password-command
printf 'correct-horse\n' >"$T/pwfile"
printf 'not-it\n' >"$T/badpwfile"
dr_expect_success "--password-file opens" nopw --password-file "$T/pwfile" snapshots
dr_must_fail 12 "--password-file with the wrong password: exit 12" \
    nopw --password-file "$T/badpwfile" snapshots
dr_must_fail 1 "--password-file missing: exit 1" nopw --password-file "$T/nonexistent" snapshots
dr_check "missing password file is named" grep -q "nonexistent" "$T/err"
DRREPO_PASSWORD_FILE="$T/pwfile" dr_expect_success "DRREPO_PASSWORD_FILE opens" nopw snapshots
dr_expect_success "--password-command opens" \
    nopw --password-command "echo correct-horse" snapshot "$T/src"
dr_must_fail 12 "--password-command with the wrong password: exit 12" \
    nopw --password-command "echo nope" snapshots
dr_must_fail 1 "--password-command that fails: exit 1" nopw --password-command "exit 5" snapshots
dr_check "failing password command is named" grep -q "exit 5" "$T/err"
dr_check "failing password command: its exit status 5 is reported" grep -q "status 5" "$T/err"
dr_expect_success "snapshots after password tests" drrepo snapshots --json
dr_check "two snapshots recorded" test "$(grep -o '"short_id"' "$T/out" | wc -l)" -eq 2
dr_expect_success "check after password tests" drrepo check --read-data

# an empty password is refused at init, and nothing is left behind
DRREPO_PASSWORD="" dr_must_fail 2 "init with an empty password: exit 2" \
    "$DRREPO" -r "$T/repo2" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1
dr_check "empty password: message says so" grep -qi "empty password" "$T/err"
dr_check "empty password: no config written" test ! -e "$T/repo2/config"
dr_check "empty password: no key written" test -z "$(find "$T/repo2" -type f 2>/dev/null)"
dr_init "$T/repo2"
dr_check "init works after the refused one" test -f "$T/repo2/config"
printf '\n' >"$T/emptypw"
dr_must_fail 2 "init with an empty --password-file: exit 2" env -u DRREPO_PASSWORD \
    "$DRREPO" -r "$T/repo3" --password-file "$T/emptypw" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1
dr_check "empty password file: no config written" test ! -e "$T/repo3/config"

dr_expect_success "restore after all" drrepo restore latest --target "$T/r2"
dr_check "restored tree identical" dr_same_tree "$T/src" "$T/r2$T/src"
dr_done
