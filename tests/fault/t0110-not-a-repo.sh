#!/bin/bash
# t0110: pointing drrepo at something that is not a repository (missing path, empty directory,
# a plain file) exits 10 naming the path and creates nothing; a repository of a newer format
# version (a config with that version and a valid checksum) is refused with a clear error naming
# the path and the version, and left untouched. (A version field damaged by bit rot is not a newer
# version: t0235.)
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

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

# a newer format version (both copies, with valid checksums): refused, named, nothing written
dr_init
dr_expect_success "snapshot into a repository of the newest version" drrepo snapshot "$T/src"
cp "$REPO/config" "$T/config.orig"
"$TOOL" config-version "$REPO/config" 5 || dr_fail "config-version config"
"$TOOL" config-version "$REPO/copies/config" 5 || dr_fail "config-version copies/config"
listing "$REPO" >"$T/before"
for cmd in "snapshot $T/src" "snapshots" "check" "restore latest --target $T/r"; do
    # shellcheck disable=SC2086
    dr_must_fail 1 "version 5: $cmd exits 1" drrepo $cmd
    dr_check "version 5: $cmd names the path" grep -qF "'$REPO'" "$T/err"
    dr_check "version 5: $cmd names the version" grep -q "version 5" "$T/err"
    dr_check "version 5: $cmd says a newer drrepo is needed" grep -qiE "newer|upgrade" "$T/err"
    dr_check "version 5: $cmd prints one error line" \
        test "$(grep -c '^drrepo: error' "$T/err")" -eq 1
done
listing "$REPO" >"$T/after"
dr_check "version 5: nothing written to the repository" dr_cmp "$T/before" "$T/after"
dr_check "version 5: nothing restored" test ! -e "$T/r"

# version 0, with a valid checksum: not "newer", corrupt, still named
"$TOOL" config-version "$REPO/config" 0 || dr_fail "config-version"
"$TOOL" config-version "$REPO/copies/config" 0 || dr_fail "config-version"
dr_must_fail 1 "version 0: exit 1" drrepo snapshots
dr_check "version 0: names the path" grep -qF "'$REPO'" "$T/err"

# back to the original config: everything works again
cp "$T/config.orig" "$REPO/config"
cp "$T/config.orig" "$REPO/copies/config"
dr_expect_success "version 2 again: check" drrepo check --read-data
dr_expect_success "version 2 again: restore" drrepo restore latest --target "$T/r"
dr_check "version 2 again: restored tree identical" dr_same_tree "$T/src" "$T/r$T/src"
dr_done
