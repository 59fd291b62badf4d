#!/usr/bin/env bash
# t0830-s3-copy: `drrepo copy` as the offsite copy of issue 13: a local repository into a
# repository on Ceph RGW (tools/test-servers.sh) and from there into a second local one; each
# with its own password. Restores are byte-identical from RGW and from the second local
# repository, `check --read-data` passes on RGW, and a second copy to RGW uploads nothing (no
# blob, no pack: the bucket's object list is the same afterwards, locks aside).
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/s3_lib.sh"
s3_require

R=$(s3_loc repo)
BACK="$T/back"
s3() { DRREPO_PASSWORD=s3-secret "$DRREPO" -r "$R" "$@"; }
dr_init
DRREPO_PASSWORD=s3-secret dr_init "$R"
DRREPO_PASSWORD=back-secret dr_init "$BACK"

SRC="$T/src"
mkdir -p "$SRC/a/b" "$SRC/big"
"$TOOL" gen "$SRC/big/one" 6M 1
"$TOOL" gen "$SRC/big/two" 3M 2
for i in $(seq 1 30); do "$TOOL" gen "$SRC/a/b/f$i" 7K $((100 + i)) text; done
ln -s a/b/f1 "$SRC/link"
: >"$SRC/empty"
dr_expect_success "snapshot 1" drrepo snapshot "$SRC" --tag first
cp -a "$SRC" "$T/state1"
"$TOOL" gen "$SRC/big/two" 3M 3
rm "$SRC/a/b/f7"
dr_expect_success "snapshot 2" drrepo snapshot "$SRC" --tag second

dr_expect_success "copy local -> RGW" \
    env DRREPO_TO_PASSWORD=s3-secret "$DRREPO" -r "$REPO" copy --to "$R" --json
dr_check "two snapshots copied" test "$(grep -o '"skipped":false' "$T/out" | wc -l)" -eq 2
dr_expect_success "check --read-data on RGW" s3 check --read-data
rm -rf "$T/r1" "$T/r2"
dr_expect_success "restore snapshot 1 from RGW" s3 restore latest --tag first --target "$T/r1"
dr_check "snapshot 1 restores byte-identical from RGW" dr_same_tree "$T/state1" "$T/r1$SRC"
dr_expect_success "restore snapshot 2 from RGW" s3 restore latest --tag second --target "$T/r2"
dr_check "snapshot 2 restores byte-identical from RGW" dr_same_tree "$SRC" "$T/r2$SRC"

s3 stats --json >"$T/stats1" 2>"$T/err" || dr_fail "stats"
dr_expect_success "a second copy to RGW" \
    env DRREPO_TO_PASSWORD=s3-secret "$DRREPO" -r "$REPO" copy --to "$R" --json
dr_check "both skipped" test "$(grep -o '"skipped":true' "$T/out" | wc -l)" -eq 2
dr_check "no bytes uploaded" sh -c "! grep -q '\"bytes_added\":[1-9]' '$T/out'"
s3 stats --json >"$T/stats2" 2>"$T/err" || dr_fail "stats"
dr_check "the bucket holds the same packs" cmp -s "$T/stats1" "$T/stats2"

dr_expect_success "copy RGW -> local" \
    env DRREPO_PASSWORD=s3-secret DRREPO_TO_PASSWORD=back-secret "$DRREPO" -r "$R" copy --to "$BACK"
dr_check "two snapshots copied back" test "$(grep -c '^copied snapshot' "$T/out")" -eq 2
back() { DRREPO_PASSWORD=back-secret "$DRREPO" -r "$BACK" "$@"; }
dr_expect_success "check --read-data on the local copy" back check --read-data
rm -rf "$T/r3" "$T/r4"
dr_expect_success "restore snapshot 1 from the local copy" back restore latest --tag first --target "$T/r3"
dr_check "snapshot 1 restores byte-identical after local -> RGW -> local" dr_same_tree "$T/state1" "$T/r3$SRC"
dr_expect_success "restore snapshot 2 from the local copy" back restore latest --tag second --target "$T/r4"
dr_check "snapshot 2 restores byte-identical after local -> RGW -> local" dr_same_tree "$SRC" "$T/r4$SRC"
dr_done
