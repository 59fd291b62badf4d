#!/usr/bin/env bash
# The scale generator of bench/scale.sh (dr-test-tool scale-gen) at a tiny scale: what it builds
# must be a repository that drrepo itself accepts (packs, index, reference counts, snapshot
# objects), so that the scale figures are measured on a real repository.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
# 5 snapshots of 100 new blobs each: one directory of 100 files rewritten per snapshot, two
# directories in all; the first snapshot writes both
dr_expect_success "scale-gen 5 x 100" "$TOOL" scale-gen "$REPO" 5 100
dr_check "it reports what it wrote" grep -qx 'snapshots 5 data_blobs 600 blobs_added 6[0-9][0-9] packs [1-9][0-9]*' "$T/out"
drrepo snapshots --json > "$T/snaps"
dr_check "five snapshots" \
    test "$(grep -o '"id"' "$T/snaps" | wc -l)" -eq 5
dr_expect_success "check passes" drrepo check
dr_expect_success "check --read-data passes" drrepo check --read-data
drrepo ls latest > "$T/ls"
dr_check "the newest snapshot lists 2 directories of 100 files" \
    test "$(grep -c '/d000[01]/f0' "$T/ls")" -eq 200
# a second run generates the same content again: it adds snapshots and no blob (deduplicated
# through the index it synced)
dr_expect_success "scale-gen again adds to the repository" "$TOOL" scale-gen "$REPO" 2 100
dr_check "and stores no blob twice" grep -q 'blobs_added 0 packs 0$' "$T/out"
drrepo snapshots --json > "$T/snaps"
dr_check "seven snapshots" test "$(grep -o '"id"' "$T/snaps" | wc -l)" -eq 7
# the reference counts are right: forgetting and pruning the oldest keeps every blob the
# remaining snapshots need and removes what only the forgotten ones held
dr_expect_success "forget --keep-last 2 --prune" drrepo forget --keep-last 2 --prune
dr_expect_success "check after prune passes" drrepo check --read-data
drrepo ls latest > "$T/ls2"
dr_check "the newest snapshot is intact" dr_cmp "$T/ls" "$T/ls2"
dr_done
