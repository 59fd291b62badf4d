#!/bin/bash
# t0226: check's recount of references (src/check/refs.c) against the counts that snapshot and
# forget keep in the index, on a history built to trip an incremental recount: one content in
# two directories of a snapshot and twice in one directory, a directory and a file that leave
# and come back, a directory shared by two origins (source paths) whose snapshots interleave in
# time. A clean check agrees with the index; a count changed in the index is reported with the
# number of snapshots that really reach the blob.
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

# the index's counts, which snapshot wrote: X 3 (a/x in 1 and 4, b/x in 1, 3, 4), W 4 (c in
# both origins), V 3 (two files of one directory), U 2 (leaves at 3, back at 4), Y and Z 1
dr_check "setup: the index counts one blob 4 times (W)" test "$(refs_of 4 | wc -l)" -eq 1
dr_check "setup: two blobs 3 times (X, V)" test "$(refs_of 3 | wc -l)" -eq 2
dr_check "setup: one blob twice (U)" test "$(refs_of 2 | wc -l)" -eq 1
dr_check "setup: two blobs once (Y, Z)" test "$(refs_of 1 | wc -l)" -eq 2

dr_expect_success "check agrees with the index" drrepo check
dr_check "check walked 4 snapshots" grep -q "checked 4 snapshots" "$T/out"

U=$(refs_of 2)
W=$(refs_of 4)
dr_expect_success "setup: count U 5 times in the index" "$TOOL" index-refs "$(IDX)" "$U" 5
dr_expect_success "setup: count W 3 times in the index" "$TOOL" index-refs "$(IDX)" "$W" 3
dr_must_fail 4 "check finds the changed counts" drrepo check
dr_check "check: U is reached by 2 snapshots" \
    grep -q "blob $U: the index counts 5 references, the snapshots reach it 2 times" "$T/err"
dr_check "check: W is reached by 4 snapshots" \
    grep -q "blob $W: the index counts 3 references, the snapshots reach it 4 times" "$T/err"
dr_check "check: no other count differs" test "$(grep -c 'references, the snapshots' "$T/err")" -eq 2
dr_expect_success "repair index" drrepo repair index
dr_expect_success "check after repair index" drrepo check

# forget the snapshot where U and Y were away and X was in one place only; the counts follow
S3=$(drrepo snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4 | sed -n 3p)
dr_expect_success "forget snapshot 3 and prune" drrepo forget "$S3" --prune
dr_expect_success "check after forget agrees with the index" drrepo check
dr_check "check walked 3 snapshots" grep -q "checked 3 snapshots" "$T/out"
dr_done
