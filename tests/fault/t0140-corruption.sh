#!/bin/bash
# t0140: one flipped byte in a data pack, a tree pack, a snapshot object, a key file or a pack
# header, and a truncated pack. Each time check (check --read-data for data) exits 4 naming the
# damaged object, restoring what depends on it fails with an error naming the object (never a
# crash), and everything else still restores byte-identical.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

# Three snapshots with disjoint new objects:
#   S0: dA with keep          (data pack P0, tree pack T0)
#   SA: dA with keep and a    (only a is new: data pack PA; tree pack TA)
#   SB: dB with b             (data pack PB, tree pack TB)
dr_init "$T/base"
C0="$T/cache-base"
R="$T/base" C="$C0"
dr_r() { DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "$@"; }
snap_id() { dr_r snapshots --json 2>/dev/null | grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4 | sort; }
objs() { (cd "$R" && find data tree snapshots keys -type f 2>/dev/null | sort); }
new_obj() { comm -13 "$1" "$2" | grep "^$3/"; }

mkdir -p "$T/dA" "$T/dB"
"$TOOL" gen "$T/dA/keep" 100K 1
objs >"$T/o0"
dr_expect_success "snapshot S0" dr_r snapshot "$T/dA"
objs >"$T/o1"
cp -a "$T/dA" "$T/dA0"
"$TOOL" gen "$T/dA/a" 300K 2
dr_expect_success "snapshot SA" dr_r snapshot "$T/dA"
objs >"$T/o2"
"$TOOL" gen "$T/dB/b" 300K 3
echo "small" >"$T/dB/s"
dr_expect_success "snapshot SB" dr_r snapshot "$T/dB"
objs >"$T/o3"
S0=$(new_obj "$T/o0" "$T/o1" snapshots | cut -d/ -f2)
SA=$(new_obj "$T/o1" "$T/o2" snapshots | cut -d/ -f2)
SB=$(new_obj "$T/o2" "$T/o3" snapshots | cut -d/ -f2)
PA=$(new_obj "$T/o1" "$T/o2" data)
TA=$(new_obj "$T/o1" "$T/o2" tree)
dr_check "setup: one new data pack and one tree pack for SA" \
    test "$(printf '%s\n' "$PA" | grep -c .)" -eq 1 -a "$(printf '%s\n' "$TA" | grep -c .)" -eq 1
dr_check "setup: three snapshots" test -n "$S0" -a -n "$SA" -a -n "$SB"
K1=$(cd "$T/base/keys" && find . -type f -printf "%f\n")
DRREPO_NEW_PASSWORD=second-password dr_expect_success "add a second key" dr_r key add
K2=$(cd "$T/base/keys" && find . -type f ! -name "$K1" -printf "%f\n")
dr_expect_success "setup: check --read-data of the intact repository" dr_r check --read-data

# fresh copy of the intact repository and its cache for one case
fresh() {
    R="$T/repo.$1" C="$T/cache.$1"
    rm -rf "$R" "$C"
    cp -a "$T/base" "$R"
    cp -a "$C0" "$C"
}
# no_crash NAME: the last command exited normally (no signal, no sanitizer report)
no_crash() {
    dr_check "$1: no crash" test "$rc" -lt 128
    dr_check "$1: no sanitizer report" test -z "$(grep -E 'Sanitizer|runtime error' "$T/err")"
}
# run CMD...: like dr_must_fail without a fixed code; exit status in $rc
run() {
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
restore_same() { # NAME SNAP SRC DEST-PATH [restore options]
    local name=$1 snap=$2 src=$3 dest=$4
    shift 4
    rm -rf "$T/r"
    dr_expect_success "$name: restore ${snap:0:8}" dr_r restore "$snap" --target "$T/r" "$@"
    dr_check "$name: identical" dr_same_tree "$src" "$T/r$dest"
}

# (a) a data pack: one byte in its record area
fresh data
"$TOOL" flip "$R/$PA" 1000
run dr_r check --read-data
dr_check "data: check --read-data exits 4" test "$rc" -eq 4
dr_check "data: check names the pack" grep -qF "$PA" "$T/err"
dr_check "data: check names the affected file" grep -qF "$T/dA/a" "$T/err"
no_crash "data: check"
run dr_r restore "$SA" --target "$T/r.data"
dr_check "data: restoring SA fails (exit $rc)" test "$rc" -ne 0
dr_check "data: the restore error names the pack" grep -qF "$PA" "$T/err"
dr_check "data: the restore error names the file" grep -qF "$T/dA/a" "$T/err"
no_crash "data: restore"
rm -rf "$T/r.data"
run dr_r restore "$SA" --target "$T/r.data" --include "$T/dA/a"
dr_check "data: restoring only the damaged file fails (exit $rc)" test "$rc" -ne 0 -a "$rc" -lt 128
dr_check "data: that error names the pack" grep -qF "$PA" "$T/err"
rm -rf "$T/r"
dr_expect_success "data: restore the unaffected file of SA" \
    dr_r restore "$SA" --target "$T/r" --include "$T/dA/keep"
dr_check "data: unaffected file identical" dr_cmp "$T/dA/keep" "$T/r$T/dA/keep"
dr_check "data: only that file restored" test "$(ls "$T/r$T/dA")" = keep
restore_same "data: S0" "$S0" "$T/dA0" "$T/dA"
restore_same "data: SB" "$SB" "$T/dB" "$T/dB"
run dr_r dump "$SA" "$T/dA/a"
dr_check "data: dump of the damaged file fails (exit $rc)" test "$rc" -ne 0 -a "$rc" -lt 128
dr_check "data: dump error names the pack" grep -qF "$PA" "$T/err"

# (b) a tree pack
fresh tree
# both names of the tree pack (a damaged tree pack alone is read from its copy: t0240)
"$TOOL" flip "$R/$TA" 40
"$TOOL" flip "$R/tree-copy/${TA#tree/}" 40
run dr_r check
dr_check "tree: check exits 4" test "$rc" -eq 4
dr_check "tree: check names the pack" grep -qF "$TA" "$T/err"
dr_check "tree: check names the snapshot" grep -qF "${SA:0:8}" "$T/err"
no_crash "tree: check"
run dr_r check --read-data
dr_check "tree: check --read-data exits 4" test "$rc" -eq 4
run dr_r restore "$SA" --target "$T/r.tree"
dr_check "tree: restoring SA fails (exit $rc)" test "$rc" -ne 0
dr_check "tree: the restore error names the pack" grep -qF "$TA" "$T/err"
no_crash "tree: restore"
run dr_r ls "$SA"
dr_check "tree: ls of SA fails (exit $rc)" test "$rc" -ne 0 -a "$rc" -lt 128
restore_same "tree: S0" "$S0" "$T/dA0" "$T/dA"
restore_same "tree: SB" "$SB" "$T/dB" "$T/dB"

# (c) a snapshot object
fresh snap
"$TOOL" flip "$R/snapshots/$SA" 60
run dr_r check
dr_check "snapshot: check exits 4" test "$rc" -eq 4
dr_check "snapshot: check names the snapshot" grep -qF "$SA" "$T/err"
no_crash "snapshot: check"
run dr_r snapshots
dr_check "snapshot: snapshots still lists the others" grep -q "${SB:0:8}" "$T/out"
dr_check "snapshot: snapshots names the damaged one" grep -qF "${SA:0:8}" "$T/err"
no_crash "snapshot: snapshots"
run dr_r restore "$SA" --target "$T/r.snap"
dr_check "snapshot: restoring SA fails (exit $rc)" test "$rc" -ne 0
dr_check "snapshot: the error names the snapshot" grep -qF "${SA:0:8}" "$T/err"
no_crash "snapshot: restore"
restore_same "snapshot: S0" "$S0" "$T/dA0" "$T/dA"
restore_same "snapshot: SB" "$SB" "$T/dB" "$T/dB"

# (d) a key file, in a repository with two keys: its second copy keeps it working
fresh key
"$TOOL" flip "$R/keys/$K1" 70
DRREPO_PASSWORD=second-password run dr_r snapshots
dr_check "key: the other key still opens (exit $rc)" test "$rc" -eq 0
run dr_r snapshots
dr_check "key: its own password opens from the copy (exit $rc)" test "$rc" -eq 0
dr_check "key: with a warning naming the damaged key file" grep -qF "warning: key file 'keys/$K1'" "$T/err"
no_crash "key: open"
DRREPO_PASSWORD=second-password run dr_r check
dr_check "key: check exits 4 (exit $rc)" test "$rc" -eq 4
dr_check "key: check names the key file" grep -qF "damage: key-file: keys/$K1: " "$T/err"
no_crash "key: check"
# both copies damaged: its own password no longer opens it, and the error says why. The intact
# second key file rejects the password, so this is a wrong password (12), not damage (1, which
# is the answer only when no key file could be tried), with the damaged key file named
"$TOOL" flip "$R/copies/keys/$K1" 70
run dr_r snapshots
dr_check "key: both copies damaged: its own password fails (exit $rc)" test "$rc" -eq 12
dr_check "key: that error names the damaged key file" grep -qF "$K1" "$T/err"
no_crash "key: open with both copies damaged"
DRREPO_PASSWORD=second-password restore_same "key: SA with the other key" "$SA" "$T/dA" "$T/dA"
DRREPO_PASSWORD=second-password restore_same "key: SB with the other key" "$SB" "$T/dB" "$T/dB"
dr_check "key: the intact key file is untouched" test -f "$R/keys/$K2"

# (e) the sealed header at the end of a data pack: check --read-data finds it; the blobs
# themselves are intact and authenticated, so restoring through the index still works
fresh header
size=$(stat -c %s "$R/$PA")
"$TOOL" flip "$R/$PA" $((size - 20))
run dr_r check --read-data
dr_check "pack header: check --read-data exits 4" test "$rc" -eq 4
dr_check "pack header: check names the pack" grep -qF "$PA" "$T/err"
no_crash "pack header: check"
restore_same "pack header: SA" "$SA" "$T/dA" "$T/dA"

# (f) a truncated data pack: found without reading data (its size is in the index). Cut to half:
# the end of a version 2 pack is padding, header and trailer, and a cut that reaches no record
# leaves every record readable (restore would then rightly succeed)
fresh truncated
"$TOOL" truncate "$R/$PA" $((size / 2))
run dr_r check
dr_check "truncated: check exits 4" test "$rc" -eq 4
dr_check "truncated: check names the pack" grep -qF "$PA" "$T/err"
no_crash "truncated: check"
run dr_r restore "$SA" --target "$T/r.trunc"
dr_check "truncated: restoring SA fails (exit $rc)" test "$rc" -ne 0 -a "$rc" -lt 128
dr_check "truncated: the restore error names the pack" grep -qF "$PA" "$T/err"
restore_same "truncated: S0" "$S0" "$T/dA0" "$T/dA"
restore_same "truncated: SB" "$SB" "$T/dB" "$T/dB"

# the intact repository is untouched by all of this
R="$T/base" C="$C0"
dr_expect_success "base: check --read-data" dr_r check --read-data
dr_done
