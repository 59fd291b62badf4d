#!/bin/bash
# t0126: tag killed (SIGKILL, as a crash would) right after it wrote the retagged snapshot and
# before it forgot the old one leaves both snapshots, never neither: the new one names the old
# as its original, check passes, and forgetting the old id leaves the retagged one, which
# restores. Killed before the new snapshot was written, it leaves the old one alone.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
dr_no_leak_check
if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# skipped: needs a build with -DDR_FAULTS=ON"
    exit 77
fi

R="$REPO"
dr_init
mkdir -p "$T/src"
echo data >"$T/src/f"
dr_expect_success "a snapshot" drrepo snapshot --json "$T/src"
s1=$(jq -r .id "$T/out")

DR_FAULT="writer.before_snapshot_put:kill" dr_must_fail 137 "tag killed before the new snapshot is written" \
    drrepo tag --add keep "$s1"
dr_check "the old snapshot alone is there" test "$(dr_snap_ids)" = "$s1"

DR_FAULT="writer.after_snapshot_put:kill" dr_must_fail 137 "tag killed after the new snapshot is written" \
    drrepo tag --add keep "$s1"
dr_check "both snapshots are there" test "$(dr_snap_ids | wc -l)" -eq 2
new=$(dr_snap_ids | grep -v "$s1")
dr_expect_success "snapshots --json" drrepo snapshots --json
dr_check "the new one names the old one and has the tag" \
    jq -e --arg n "$new" --arg o "$s1" '.[] | select(.id == $n) | .original == $o and .tags == ["keep"]' "$T/out"
dr_expect_success "check passes with both" drrepo check
dr_expect_success "forget the old id" drrepo forget "$s1"
dr_check "the retagged one is left" test "$(dr_snap_ids)" = "$new"
dr_expect_success "check passes" drrepo check
dr_expect_success "it restores" drrepo restore latest --tag keep --target "$T/r"
dr_check "with the data" dr_cmp "$T/src/f" "$T/r$T/src/f"
dr_done
