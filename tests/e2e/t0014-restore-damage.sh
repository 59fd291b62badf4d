#!/usr/bin/env bash
# A restore that meets damage restores everything else (issue 17, items 5 and 7): two damaged
# tree blobs (directories 'd3' and 'd5/inner') and one damaged data blob (file 'd6/f0') in a
# snapshot of 64 files. Each lost directory is named on one error line with its blob; the lost
# directories are restored empty with their metadata, all other files byte-identical; the exit
# code is 4 (docs/exit-codes.md), the hint names `repair snapshots`, and the summary on stdout is
# printed only when the restore succeeds: a failing restore says on stderr how many files were
# restored and how many were not. A tree pack that is gone (not only corrupt) is the same. Both
# copies of the tree pack are damaged (t0240 covers one damaged copy, which loses nothing).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
for d in 0 1 2 3 4 5 6 7; do
    mkdir -p "$src/d$d"
    for f in 0 1 2 3 4 5 6 7; do
        [ "$d" = 5 ] && [ "$f" -ge 4 ] && continue
        "$TOOL" gen "$src/d$d/f$f" $((1000 + 37 * f + 300 * d)) $((d * 8 + f))
    done
done
mkdir -p "$src/d5/inner"
for f in 0 1 2 3; do "$TOOL" gen "$src/d5/inner/g$f" 2000 $((100 + f)); done
find "$src" -exec touch -h -d '2021-06-07 08:09:10.5' {} +
dr_check "setup: 64 files" test "$(find "$src" -type f | wc -l)" -eq 64
# directories a full restore counts: the components of $src, d0..d7 and d5/inner
ndirs=$(($(echo "${src#/}" | awk -F/ '{print NF}') + 9))

objs() { (cd "$REPO" && find data tree snapshots -type f 2>/dev/null | sort); }
new_obj() { comm -13 "$1" "$2" | grep "^$3/"; }
# damage FILE: flip one bit every 64 bytes, so every blob record in the pack fails to
# authenticate
damage() {
    local size off
    size=$(stat -c %s "$1")
    for ((off = 0; off < size; off += 64)); do "$TOOL" flip "$1" "$off"; done
}

dr_init
objs >"$T/o0"
# d6/f0 alone first: its data blob is the only one in its data pack
dr_expect_success "snapshot d6/f0 alone" drrepo snapshot "$src/d6/f0"
objs >"$T/o1"
# then d3 and d5/inner: their tree blobs are in a tree pack of their own (the full snapshot's
# ancestors of them differ, so only these two trees are shared with it)
dr_expect_success "snapshot d3 and d5/inner alone" drrepo snapshot "$src/d3" "$src/d5/inner"
objs >"$T/o2"
dr_expect_success "snapshot the whole tree" drrepo snapshot "$src"
objs >"$T/o3"
P0=$(new_obj "$T/o0" "$T/o1" data)
T1=$(new_obj "$T/o1" "$T/o2" tree)
S=$(new_obj "$T/o2" "$T/o3" snapshots | cut -d/ -f2)
dr_check "setup: one data pack for d6/f0 and one tree pack for d3, d5/inner" \
    test "$(printf '%s\n' "$P0" | grep -c .)" -eq 1 -a "$(printf '%s\n' "$T1" | grep -c .)" -eq 1
cp -a "$REPO" "$T/repo.intact"
cp -a "$DRREPO_CACHE_DIR" "$T/cache.intact"

# the tree the restore should give: the lost directories empty (with their own metadata), the
# lost file's data a hole of its size (it has one chunk), everything else as in the source
exp="$T/expected"
cp -a "$src" "$exp"
rm -r "$exp/d3"/* "$exp/d5/inner"/*
f0_size=$(stat -c %s "$src/d6/f0")
rm "$exp/d6/f0" && truncate -s "$f0_size" "$exp/d6/f0" && chmod --reference="$src/d6/f0" "$exp/d6/f0"
touch -h -d '2021-06-07 08:09:10.5' "$exp/d3" "$exp/d5/inner" "$exp/d6" "$exp/d6/f0"

# a tree pack has a copy (format/repository.md "Tree pack copies"): damage both to lose trees
damage "$REPO/$T1"
damage "$REPO/tree-copy/${T1#tree/}"
damage "$REPO/$P0"
dr_must_fail 4 "damaged trees and data: restore exits 4" drrepo restore "$S" --target "$T/r1"
dr_check "one error line per lost directory" \
    test "$(grep -c "cannot read tree of directory" "$T/err")" -eq 2
dr_check "the line of 'd3' names the directory, the blob and the pack" \
    grep -qE "cannot read tree of directory '$src/d3' \(blob [0-9a-f]{64}\): .*$T1" "$T/err"
dr_check "the line of 'd5/inner' names the directory" \
    grep -qF "cannot read tree of directory '$src/d5/inner' (blob " "$T/err"
dr_check "the file that lost data is named on one line with its range, blob and pack" \
    grep -qE "file '$src/d6/f0': $f0_size bytes in 1 chunk lost, left as holes from byte 0: blob [0-9a-f]{64} in pack '$P0'" "$T/err"
dr_check "one error line for it" test "$(grep -c "file '$src/d6/f0'" "$T/err")" -eq 1
dr_check "the rest is restored, and the damaged file with a hole: 52 of 64 files" \
    test "$(find "$T/r1" -type f | wc -l)" -eq 52
dr_check "d6/f0 is a hole of its size" test "$(du -k "$T/r1$src/d6/f0" | cut -f1)" -eq 0
dr_check "the restored tree is the source less what was lost" dr_same_tree "$exp" "$T/r1$src"
dr_check "the final error says what was restored and what was not" \
    grep -qF "drrepo: error: 2 directories could not be read and 1 file lost data (left as holes) (see above); 52 files and $((ndirs - 2)) directories were restored" "$T/err"
dr_check "the hint names repair snapshots" grep -q "^hint: .*'drrepo repair snapshots'" "$T/err"
dr_check "no success summary on stdout" test ! -s "$T/out"
dr_check "no crash or sanitizer report" test -z "$(grep -E 'Sanitizer|runtime error' "$T/err")"

dr_must_fail 4 "--json: exit 4" drrepo --json restore "$S" --target "$T/r1j"
dr_check "--json: the counts of what was lost" \
    test "$(dr_json_field errors)" = 1 -a "$(dr_json_field dirs_lost)" = 2

# the hint's promise: repair snapshots writes a snapshot that marks what was lost
dr_expect_success "repair snapshots --read-data" drrepo repair snapshots --read-data
dr_must_fail 4 "the repaired snapshot restores, exit 4" \
    drrepo restore latest --tag repaired --target "$T/r2"
dr_check "it names the damaged directory" grep -qF "directory '$src/d3' is marked damaged" "$T/err"
dr_check "it restores the same files (d6/f0 with a hole)" test "$(find "$T/r2" -type f | wc -l)" -eq 52

# a tree pack that is gone: the index is rebuilt without it, the trees are not in any pack
rm -rf "$REPO" "$DRREPO_CACHE_DIR"
cp -a "$T/repo.intact" "$REPO"
cp -a "$T/cache.intact" "$DRREPO_CACHE_DIR"
rm "$REPO/$T1" "$REPO/tree-copy/${T1#tree/}"
dr_must_fail 4 "missing tree pack: restore exits 4" drrepo restore "$S" --target "$T/r3"
dr_check "missing tree pack: one error line per lost directory" \
    test "$(grep -c "cannot read tree of directory '$src/d[35]" "$T/err")" -eq 2
dr_check "missing tree pack: the rest is restored" test "$(find "$T/r3" -type f | wc -l)" -eq 52
dr_check "missing tree pack: no success summary" test ! -s "$T/out"

# a restore that stops (a file in the way, no --overwrite) says how far it got, not "restored"
rm -rf "$REPO" "$DRREPO_CACHE_DIR"
cp -a "$T/repo.intact" "$REPO"
cp -a "$T/cache.intact" "$DRREPO_CACHE_DIR"
mkdir -p "$T/r4$src/d7"
echo "in the way" >"$T/r4$src/d7/f7"
dr_must_fail 1 "a restore that stops exits 1" drrepo restore "$S" --target "$T/r4"
dr_check "it says how many files were restored before it stopped" \
    grep -qF "drrepo: error: restore stopped after 63 files and 8 directories: '$T/r4$src/d7/f7' exists" "$T/err"
dr_check "no success summary when it stops" test ! -s "$T/out"
rm -rf "$T/r4"
dr_expect_success "the intact repository restores" drrepo restore "$S" --target "$T/r4"
dr_check "the summary is printed on success" grep -q "^restored snapshot ${S:0:8} to $T/r4: 64 files, " "$T/out"
dr_check "and the tree is identical" dr_same_tree "$src" "$T/r4$src"
dr_done
