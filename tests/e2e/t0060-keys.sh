#!/usr/bin/env bash
# Several passwords open one repository; key remove and passwd keep at least one way in.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
mkdir -p "$T/src" && echo data > "$T/src/f" && drrepo snapshot "$T/src" >/dev/null 2>&1
DRREPO_NEW_PASSWORD=second dr_expect_success "key add" drrepo key add
dr_expect_success "key list" drrepo key list
cp "$T/out" "$T/keys"
dr_check "two keys listed, the current one marked" test "$(wc -l < "$T/out")" -eq 2 -a "$(grep -c '^\*' "$T/out")" -eq 1
DRREPO_PASSWORD=second dr_expect_success "the second password opens it" drrepo snapshots
first=$(grep '^\*' "$T/keys" | awk '{print $2}')
dr_must_fail 2 "removing the key in use is refused" drrepo key remove "$first"
DRREPO_PASSWORD=second dr_expect_success "another key removes it" drrepo key remove "$first"
dr_must_fail 12 "the removed password no longer opens it" drrepo snapshots
printf 'third\n' > "$T/pwfile"
DRREPO_PASSWORD=second dr_expect_success "key passwd" drrepo key passwd --new-password-file "$T/pwfile"
DRREPO_PASSWORD=second dr_must_fail 12 "the old password no longer opens it" drrepo snapshots
unset DRREPO_PASSWORD
dr_expect_success "--password-file opens it" drrepo --password-file "$T/pwfile" snapshots
dr_expect_success "--password-command opens it" drrepo --password-command "echo third" snapshots
dr_must_fail 1 "a failing --password-command is an error" drrepo --password-command "false" snapshots
dr_must_fail 2 "no password and no terminal is a clear usage error" setsid "$DRREPO" -r "$REPO" snapshots
dr_check "the error says how to give a password" grep -q "DRREPO_PASSWORD" "$T/err"
dr_done
