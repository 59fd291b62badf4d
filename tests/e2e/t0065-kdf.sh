#!/usr/bin/env bash
# Key files and the password KDF: Argon2id limits below the documented floor are refused at init
# unless --insecure-kdf is given; key files do not carry the host and user names in the clear
# (key list still shows them); key files planted in keys/ by someone without the key cannot make
# an open run Argon2id beyond the budget of format/crypto.md ("Opening a repository"), the error
# says how many were not tried, and check names them.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

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
# kdf_runs: how many times the last command ran Argon2id (logged at -v)
kdf_runs() { grep -c "running argon2id" "$T/err"; }
dr_expect_success "one Argon2id run for an open with the right password" drrepo -v snapshots
dr_check "one run (got $(kdf_runs))" test "$(kdf_runs)" -eq 1
# three expensive files: 64 passes over 64 MiB each (4 GiB-passes, over the 2 GiB-passes budget
# on their own), and two as cheap as ours, with passwords nobody knows
for i in 1 2 3; do "$TOOL" plant-key "$REPO" 64 64M "planted-$i" >/dev/null || dr_fail "plant"; done
for i in 4 5; do "$TOOL" plant-key "$REPO" 1 8K "planted-$i" >/dev/null || dr_fail "plant"; done
dr_check "setup: seven key files" test "$(ls "$REPO/keys" | wc -l)" -eq 7
dr_expect_success "the right password still opens it" drrepo -v snapshots
dr_check "the key that opened it last time is tried first (runs: $(kdf_runs))" test "$(kdf_runs)" -eq 1
rm -f "$DRREPO_CACHE_DIR"/*/last-key
dr_expect_success "without that hint too" drrepo -v snapshots
dr_check "the expensive planted files were not tried (runs: $(kdf_runs))" test "$(kdf_runs)" -le 4
DRREPO_PASSWORD=second dr_expect_success "so does the second password" drrepo -v snapshots
dr_check "the expensive planted files were not tried (runs: $(kdf_runs))" test "$(kdf_runs)" -le 4
dr_must_fail 12 "a wrong password is still exit 12" env DRREPO_PASSWORD=wrong "$DRREPO" -r "$REPO" -v snapshots
dr_check "the cheap files were tried, the expensive ones not (runs: $(kdf_runs))" test "$(kdf_runs)" -eq 4
dr_check "the error says three key files were not tried" grep -q "3 key files were not tried" "$T/err"
dr_must_fail 12 "DRREPO_KDF_BUDGET lowers the budget" env DRREPO_KDF_BUDGET=1K DRREPO_PASSWORD=wrong "$DRREPO" -r "$REPO" -v snapshots
dr_check "only the first key file was tried (runs: $(kdf_runs))" test "$(kdf_runs)" -eq 1
dr_check "the error says six were not tried" grep -q "6 key files were not tried" "$T/err"
dr_must_fail 2 "a DRREPO_KDF_BUDGET that is not a size is a usage error" env DRREPO_KDF_BUDGET=lots "$DRREPO" -r "$REPO" snapshots
dr_must_fail 4 "check reports the planted key files" drrepo check
dr_check "check names them as not written with this repository's key" \
    test "$(grep -c "^damage: key-file: keys/.*not written with this repository's key" "$T/err")" -eq 5
dr_done
