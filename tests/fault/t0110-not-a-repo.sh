#!/bin/bash
# t0110: pointing drrepo at something that is not a repository (missing path, empty directory,
# a plain file) exits 10 naming the path and creates nothing; a repository of a newer format
# version is refused with a clear error naming the path and the version, and left untouched.
. "$DR_SRC/tests/e2e/lib.sh"

listing() { (cd "$1" && find . -printf '%y %P %s\n' | sort); }

mkdir -p "$T/src"
echo "data" >"$T/src/f"
mkdir -p "$T/empty"
echo "not a repository" >"$T/plainfile"

for where in "$T/missing/deeper" "$T/empty" "$T/plainfile"; do
    for cmd in "snapshot $T/src" "snapshots" "check" "unlock"; do
        # shellcheck disable=SC2086 # word splitting of $cmd is intended
        dr_must_fail 10 "$cmd in ${where#"$T"/}: exit 10" "$DRREPO" -r "$where" $cmd
        dr_check "$cmd in ${where#"$T"/}: message names the path" grep -qF "'$where'" "$T/err"
    done
done
dr_check "missing path: nothing created" test ! -e "$T/missing"
dr_check "empty dir: still empty" test -z "$(ls -A "$T/empty")"
dr_check "plain file: unchanged" test "$(cat "$T/plainfile")" = "not a repository"

# a newer format version: refused, named, nothing written
dr_init
dr_expect_success "snapshot into a version 1 repository" drrepo snapshot "$T/src"
"$TOOL" setbyte "$REPO/config" 8 2 || dr_fail "setbyte config"
listing "$REPO" >"$T/before"
for cmd in "snapshot $T/src" "snapshots" "check" "restore latest --target $T/r"; do
    # shellcheck disable=SC2086
    dr_must_fail 1 "version 2: $cmd exits 1" drrepo $cmd
    dr_check "version 2: $cmd names the path" grep -qF "'$REPO'" "$T/err"
    dr_check "version 2: $cmd names the version" grep -q "version 2" "$T/err"
    dr_check "version 2: $cmd says a newer drrepo is needed" grep -qiE "newer|upgrade" "$T/err"
    dr_check "version 2: $cmd prints one error line" \
        test "$(grep -c '^drrepo: error' "$T/err")" -eq 1
done
listing "$REPO" >"$T/after"
dr_check "version 2: nothing written to the repository" dr_cmp "$T/before" "$T/after"
dr_check "version 2: nothing restored" test ! -e "$T/r"

# version 0 is not "newer": corrupt, still named
"$TOOL" setbyte "$REPO/config" 8 0 || dr_fail "setbyte config"
dr_must_fail 1 "version 0: exit 1" drrepo snapshots
dr_check "version 0: names the path" grep -qF "'$REPO'" "$T/err"

# back to version 1: everything works again
"$TOOL" setbyte "$REPO/config" 8 1 || dr_fail "setbyte config"
dr_expect_success "version 1 again: check" drrepo check --read-data
dr_expect_success "version 1 again: restore" drrepo restore latest --target "$T/r"
dr_check "version 1 again: restored tree identical" dr_same_tree "$T/src" "$T/r$T/src"
dr_done
