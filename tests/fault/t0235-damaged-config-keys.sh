#!/bin/bash
# t0235: damage to the config or to key files is named as what it is, with what recovers it:
# never "index" damage with a hint to run `repair index`, never "wrong password" for a key file
# that does not match its name, never "upgrade drrepo" for a flipped version bit.
#   - a format version 1 repository (tests/data/repo-v1, written by drrepo before version 2)
#     still opens; damage to its config or its only key file is reported as such (version 1
#     keeps one copy of each, so the hint is a backup);
#   - format version 2 on (a new repository is version 4): a newer version with a valid
#     checksum is refused ("upgrade"); a flipped version bit is damage, repaired from the second
#     copy; both copies of the config or of the only key file damaged: a clear error naming
#     both, `check` exit 4 naming them.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

HELLO="hello from a format version 1 repository"
# v1 KEYFILE: a fresh copy of the version 1 fixture in $REPO
v1() {
    rm -rf "$REPO" "$DRREPO_CACHE_DIR"
    cp -r "$DR_SRC/tests/data/repo-v1" "$REPO"
    V1KEY=$(cd "$REPO/keys" && ls)
}
no_crash() {
    dr_check "$1: no crash (exit $rc)" test "$rc" -lt 128
    dr_check "$1: no sanitizer report" test -z "$(grep -E 'Sanitizer|runtime error' "$T/err")"
}
run() {
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
# not_index NAME: check did not call it index damage or suggest 'repair index'
not_index() {
    dr_check "$1: not reported as index damage" test -z "$(grep -E 'damage: index|repair index' "$T/err")"
}

# --- format version 1 ---------------------------------------------------------------------------
v1
dr_expect_success "v1: opens" drrepo dump latest hello.txt
dr_check "v1: content" test "$(cat "$T/out")" = "$HELLO"
dr_expect_success "v1: check --read-data" drrepo check --read-data
# what is written into a version 1 repository stays readable by the builds that made it: version
# 1 packs, without padding (format/pack.md)
mkdir -p "$T/v1src" && head -c 300000 /dev/urandom >"$T/v1src/f"
dr_expect_success "v1: snapshot" drrepo snapshot "$T/v1src"
dr_check "v1: every pack is version 1" sh -c "for p in \$(find '$REPO/data' '$REPO/tree' -type f); do
    [ \"\$(od -An -tx1 -j8 -N4 \"\$p\" | tr -d ' ')\" = 01000000 ] || exit 1; done"
dr_expect_success "v1: check --read-data after the snapshot" drrepo check --read-data

v1
"$TOOL" flip "$REPO/config" 12 3 # reserved: bound into the sealed body's associated data
run drrepo snapshots
dr_check "v1 reserved flip: exit 1 (exit $rc)" test "$rc" -eq 1
dr_check "v1 reserved flip: names 'config' as damaged" grep -qE "'config'.*damaged" "$T/err"
no_crash "v1 reserved flip: snapshots"
run drrepo check
dr_check "v1 reserved flip: check exits 4 (exit $rc)" test "$rc" -eq 4
dr_check "v1 reserved flip: check reports the config" grep -q "^damage: config: config: " "$T/err"
dr_check "v1 reserved flip: check says a backup recovers it" grep -q "backup" "$T/err"
not_index "v1 reserved flip"

v1
"$TOOL" flip "$REPO/config" 8 4 # version 1 -> 17
run drrepo snapshots
dr_check "v1 version flip: exit 1 (exit $rc)" test "$rc" -eq 1
dr_check "v1 version flip: names 'config' as damaged" grep -qE "'config'.*damaged" "$T/err"
dr_check "v1 version flip: not 'upgrade drrepo'" test -z "$(grep -iE 'upgrade|newer' "$T/err")"
run drrepo check
dr_check "v1 version flip: check exits 4 (exit $rc)" test "$rc" -eq 4
dr_check "v1 version flip: check reports the config" grep -q "^damage: config: config: " "$T/err"
not_index "v1 version flip"

v1
"$TOOL" flip "$REPO/keys/$V1KEY" 70 2
run drrepo snapshots
dr_check "v1 key flip: exit 1, not 'wrong password' (exit $rc)" test "$rc" -eq 1
dr_check "v1 key flip: names the key file as damaged" grep -qE "'keys/$V1KEY'.*damaged" "$T/err"
dr_check "v1 key flip: does not say wrong password" test -z "$(grep -i 'wrong password' "$T/err")"
no_crash "v1 key flip: snapshots"
run drrepo check
dr_check "v1 key flip: check exits 4 (exit $rc)" test "$rc" -eq 4
dr_check "v1 key flip: check reports the key file" grep -q "^damage: key-file: keys/$V1KEY: " "$T/err"
not_index "v1 key flip"

v1
"$TOOL" flip "$REPO/config" 20 0 # repository id: version 1 cannot tell it from a wrong password
run drrepo snapshots
dr_check "v1 repository id flip: exit 12 (exit $rc)" test "$rc" -eq 12
dr_check "v1 repository id flip: the message mentions the config" grep -q "'config'" "$T/err"

# --- format version 2 ---------------------------------------------------------------------------
rm -rf "$REPO" "$DRREPO_CACHE_DIR"
dr_init
echo data >"$T/f"
dr_expect_success "v2: snapshot" drrepo snapshot "$T/f"
K=$(cd "$REPO/keys" && ls)
cp -a "$REPO" "$T/base"
fresh() {
    rm -rf "$REPO" "$DRREPO_CACHE_DIR"
    cp -a "$T/base" "$REPO"
}

fresh
"$TOOL" config-version "$REPO/config" 5 && "$TOOL" config-version "$REPO/copies/config" 5 \
    || dr_fail "config-version"
run drrepo snapshots
dr_check "v2 newer version: exit 1 (exit $rc)" test "$rc" -eq 1
dr_check "v2 newer version: says upgrade, names version 5" grep -qE "version 5.*upgrade" "$T/err"

fresh
"$TOOL" flip "$REPO/config" 8 2 # version 4 -> 0, checksum not updated: damage, not newer
run drrepo snapshots
dr_check "v2 version flip: opens from the copy (exit $rc)" test "$rc" -eq 0
dr_check "v2 version flip: warns naming 'config'" grep -qE "warning: .*'config'.*damaged" "$T/err"
dr_check "v2 version flip: not 'upgrade drrepo'" test -z "$(grep -iE 'upgrade|newer' "$T/err")"
run drrepo check
dr_check "v2 version flip: check exits 4 (exit $rc)" test "$rc" -eq 4
dr_check "v2 version flip: check names 'config'" grep -q "^damage: config: config: " "$T/err"
dr_check "v2 version flip: check says 'repair config'" grep -q "repair config" "$T/err"
not_index "v2 version flip"
dr_expect_success "v2 version flip: repair config" drrepo repair config
dr_check "v2 version flip: config restored" cmp -s "$REPO/config" "$T/base/config"
dr_expect_success "v2 version flip: check after repair" drrepo check

fresh
"$TOOL" flip "$REPO/config" 30 1
"$TOOL" flip "$REPO/copies/config" 60 5
run drrepo snapshots
dr_check "v2 both config copies: exit 1 (exit $rc)" test "$rc" -eq 1
dr_check "v2 both config copies: names both" \
    test -n "$(grep -F "'config'" "$T/err" | grep -F "'copies/config'")"
no_crash "v2 both config copies: snapshots"
run drrepo check
dr_check "v2 both config copies: check exits 4 (exit $rc)" test "$rc" -eq 4
dr_check "v2 both config copies: check reports the config" grep -q "^damage: config: " "$T/err"
dr_check "v2 both config copies: check says a backup recovers it" grep -q "backup" "$T/err"
not_index "v2 both config copies"

fresh
"$TOOL" flip "$REPO/keys/$K" 100 1
"$TOOL" flip "$REPO/copies/keys/$K" 50 6
run drrepo snapshots
dr_check "v2 both key copies: exit 1, not 'wrong password' (exit $rc)" test "$rc" -eq 1
dr_check "v2 both key copies: names the key file as damaged" grep -qE "'keys/$K'.*damaged" "$T/err"
dr_check "v2 both key copies: does not say wrong password" test -z "$(grep -i 'wrong password' "$T/err")"
run drrepo check
dr_check "v2 both key copies: check exits 4 (exit $rc)" test "$rc" -eq 4
dr_check "v2 both key copies: check reports the key file" grep -q "^damage: key-file: keys/$K: " "$T/err"
not_index "v2 both key copies"
dr_done
