#!/usr/bin/env bash
# Key files and the password KDF: Argon2id limits below the documented floor are refused at init
# unless --insecure-kdf is given; key files do not carry the host and user names in the clear
# (key list still shows them), and check names key files that were not written with the
# repository's key (planted by someone with write access but without the key).
. "$DR_SRC/tests/e2e/lib.sh"

# --- the floor ----------------------------------------------------------------------------------
dr_must_fail 2 "init below the floor is refused" drrepo init --kdf-memlimit 8K --kdf-opslimit 1
dr_check "the refusal names the floor and --insecure-kdf" grep -q -- "--insecure-kdf" "$T/err"
dr_check "nothing was created" test ! -e "$REPO"
dr_must_fail 2 "32 MiB of memory is below the floor" drrepo init --kdf-memlimit 32M --kdf-opslimit 4
dr_must_fail 2 "one pass over 64 MiB is below the floor" drrepo init --kdf-memlimit 64M --kdf-opslimit 1
dr_check "nothing was created" test ! -e "$REPO"
dr_expect_success "--insecure-kdf allows it" \
    drrepo init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1
K=$(cd "$REPO/keys" && ls)

# --- no host or user name in the clear ----------------------------------------------------------
host=$(hostname)
user=$(id -un)
dr_expect_success "key list" drrepo key list
dr_check "key list shows the user" grep -qF " $user " "$T/out"
dr_check "key list shows the host" grep -qF " $host" "$T/out"
# (names this short could occur in random bytes by chance)
if [ "${#user}" -ge 4 ]; then
    dr_check "the key file does not contain the user name" test -z "$(grep -lF "$user" "$REPO/keys/$K")"
fi
if [ "${#host}" -ge 4 ]; then
    dr_check "the key file does not contain the host name" test -z "$(grep -lF "$host" "$REPO/keys/$K")"
fi
DRREPO_NEW_PASSWORD=second dr_expect_success "key add" drrepo key add
dr_expect_success "key list with two keys" drrepo key list
dr_check "both keys show the user" test "$(grep -cF " $user " "$T/out")" -eq 2

# --- planted key files ----------------------------------------------------------------------------
for i in 1 2; do "$TOOL" plant-key "$REPO" 1 8K "planted-$i" >/dev/null || dr_fail "plant"; done
dr_expect_success "the repository still opens" drrepo snapshots
dr_must_fail 4 "check reports the planted key files" drrepo check
dr_check "check names them as not written with this repository's key" \
    test "$(grep -c "^damage: key-file: keys/.*not written with this repository's key" "$T/err")" -eq 2
dr_done
