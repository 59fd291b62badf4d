#!/bin/bash
# t0226: check's recount of references (src/check/refs.c) against the counts that snapshot and
# forget keep in the index, on a history built to trip an incremental recount: one content in
# two directories of a snapshot and twice in one directory, a directory and a file that leave
# and come back, a directory shared by two origins (source paths) whose snapshots interleave in
# time. Counts are hierarchical (format/index.md): a blob counts the nodes of live trees that
# name it. A clean check agrees with the index; a count changed in the index is reported with
# the count that the recount gives.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
IDX() { find "$T/cache" -mindepth 2 -maxdepth 2 -type d -name index; }
# data blobs with reference count N (one line per blob: id)
refs_of() { "$TOOL" index-refs "$(IDX)" | awk -v n="$1" '$2 == 0 && $3 == n { print $1 }'; }

S=$T/src
mkdir -p "$S/a" "$S/b" "$S/c" "$S/d" "$S/e" "$T/src2"
echo "content X" >"$S/a/x"
echo "content X" >"$S/b/x"
echo "content W" >"$S/c/w"
echo "content U" >"$S/d/u"
echo "content V" >"$S/e/dup1"
echo "content V" >"$S/e/dup2"
echo "content Z" >"$T/src2/z"
cp -a "$S/c" "$T/src2/c"
dr_expect_success "snapshot 1 (src)" drrepo snapshot "$S"
dr_expect_success "snapshot 2 (src2)" drrepo snapshot "$T/src2"
echo "content Y" >"$S/a/x"
rm "$S/d/u"
dr_expect_success "snapshot 3 (src: a/x is Y, d/u gone)" drrepo snapshot "$S"
echo "content X" >"$S/a/x"
echo "content U" >"$S/d/u"
dr_expect_success "snapshot 4 (src: a/x and d/u back)" drrepo snapshot "$S"

# the index's counts, which snapshot wrote, one per node of a live tree that names the blob (a
# file's directory tree differs from one snapshot to the next when the file's metadata does):
# X 3 (a/ in 1 and in 4, b/ in 1, 3 and 4 unchanged), W 2 (c/ in each origin), U 2 (d/ in 1,
# and in 4 where it came back), V 2 (two files of one directory: two nodes of one tree), Y and
# Z 1
dr_check "setup: the index counts one blob 3 times (X)" test "$(refs_of 3 | wc -l)" -eq 1
dr_check "setup: three blobs twice (W, U, V)" test "$(refs_of 2 | wc -l)" -eq 3
dr_check "setup: two blobs once (Y, Z)" test "$(refs_of 1 | wc -l)" -eq 2
dr_check "setup: nothing else" test "$(refs_of 4 | wc -l)" -eq 0

dr_expect_success "check agrees with the index" drrepo check
dr_check "check walked 4 snapshots" grep -q "checked 4 snapshots" "$T/out"

X=$(refs_of 3)
V=$(refs_of 1 | head -1)
dr_expect_success "setup: count X 5 times in the index" "$TOOL" index-refs "$(IDX)" "$X" 5
dr_expect_success "setup: count a blob of 1 as 4 in the index" "$TOOL" index-refs "$(IDX)" "$V" 4
dr_must_fail 4 "check finds the changed counts" drrepo check
dr_check "check: X is named by 3 live trees" \
    grep -q "blob $X: the index counts 5 references, a recount from the snapshots gives 3" "$T/err"
dr_check "check: the other by 1" \
    grep -q "blob $V: the index counts 4 references, a recount from the snapshots gives 1" "$T/err"
dr_check "check: no other count differs" test "$(grep -c 'references, a recount' "$T/err")" -eq 2
dr_expect_success "repair index" drrepo repair index
dr_expect_success "check after repair index" drrepo check

# forget the snapshot where U and Y were away and X was in one place only; the counts follow
S3=$(drrepo snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4 | sed -n 3p)
dr_expect_success "forget snapshot 3 and prune" drrepo forget "$S3" --prune
dr_expect_success "check after forget agrees with the index" drrepo check
dr_check "check walked 3 snapshots" grep -q "checked 3 snapshots" "$T/out"
dr_done
