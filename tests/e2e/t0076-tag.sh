#!/usr/bin/env bash
# drrepo tag (src/cmd/tag.c): --add, --remove and --set rewrite the selected snapshots with new
# tags; the new snapshot names the old one as its original and the old one is gone; snapshots
# whose tags would not change are left alone; --set with --add is a usage error; snapshots
# --tag then selects the retagged ones; check passes afterwards; --json lists the changes.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

R="$REPO"
dr_init
mkdir -p "$T/src/a" "$T/other"
echo one >"$T/src/a/f"
echo two >"$T/other/g"
dr_expect_success "a snapshot of src" drrepo snapshot --json --tag daily "$T/src"
s1=$(jq -r .id "$T/out")
dr_expect_success "a snapshot of other" drrepo snapshot --json "$T/other"
s2=$(jq -r .id "$T/out")

dr_must_fail 2 "no --add, --remove or --set" drrepo tag "$s1"
dr_check "it says what to give" grep -q "tag: give --add, --remove or --set" "$T/err"
dr_must_fail 2 "--set with --add" drrepo tag --set x --add y "$s1"
dr_check "it names both" grep -q -- "--set replaces the tags: it cannot be combined with --add" "$T/err"
dr_must_fail 2 "a SNAP that is not a snapshot id" drrepo tag --add x nosuchsnap
dr_must_fail 1 "a selector that matches nothing" drrepo tag --add x --host nosuchhost
dr_check "it names the selector" grep -q "no snapshot matches --host nosuchhost" "$T/err"
dr_check "nothing was changed" test "$(dr_snap_ids | tr '\n' ' ')" = "$(printf '%s\n' "$s1" "$s2" | sort | tr '\n' ' ')"

dr_expect_success "tag --add by id, as JSON" drrepo tag --json --add keep,weekly "$s1"
dr_check "one snapshot changed, the old one named" \
    jq -e --arg o "$s1" '.snapshots_changed == 1 and .snapshots_considered == 1
        and .changed[0].old.id == $o and .changed[0].old.short_id == $o[0:8]
        and (.changed[0].id | length) == 64 and .changed[0].short_id == .changed[0].id[0:8]
        and .changed[0].tags == ["daily", "keep", "weekly"]' "$T/out"
n1=$(jq -r '.changed[0].id' "$T/out")
dr_check "the old snapshot is gone, the new one is there" \
    test "$(dr_snap_ids | tr '\n' ' ')" = "$(printf '%s\n' "$n1" "$s2" | sort | tr '\n' ' ')"
dr_expect_success "snapshots --json" drrepo snapshots --json
dr_check "the new snapshot names the old one as its original and keeps its paths" \
    jq -e --arg n "$n1" --arg o "$s1" \
    '(.[] | select(.id == $n) | .original == $o and .paths == [$ARGS.named.p]) and
     ([.[] | select(.original == null)] | length) == 1' --arg p "$T/src" "$T/out"
dr_expect_success "snapshots --tag keep selects it" drrepo snapshots --json --tag keep
dr_check "only the retagged one" jq -e --arg n "$n1" '[.[].id] == [$n]' "$T/out"

dr_expect_success "tag --add of a tag it has: nothing to do" drrepo tag --add keep "$n1"
dr_check "it says so" grep -q "0 snapshots changed, 1 left as they were" "$T/out"
dr_check "the snapshot is left alone" test -f "$R/snapshots/$n1"

dr_expect_success "tag --remove by selector" drrepo tag --remove weekly --tag keep
n2=$(dr_snap_ids | grep -v "$s2")
dr_check "the snapshot was replaced" test "$n2" != "$n1" -a ! -f "$R/snapshots/$n1"
dr_check "it printed the change" grep -q "snapshot ${n1:0:8} replaced by ${n2:0:8}" "$T/out"
dr_expect_success "snapshots --json" drrepo snapshots --json
dr_check "weekly is gone, the original is still the first snapshot" \
    jq -e --arg n "$n2" --arg o "$s1" '.[] | select(.id == $n) | .tags == ["daily", "keep"] and .original == $o' "$T/out"

dr_expect_success "tag --set on every snapshot (no SNAP, no selector: restic's behaviour)" \
    drrepo tag --set archive,final
dr_check "both changed" grep -q "2 snapshots changed, 0 left as they were" "$T/out"
dr_expect_success "snapshots --tag archive,final" drrepo snapshots --json --tag archive,final
dr_check "selects both, with exactly these tags" \
    jq -e 'length == 2 and all(.[]; .tags == ["archive", "final"])' "$T/out"
dr_check "the second snapshot's new one names it" \
    jq -e --arg o "$s2" 'any(.[]; .original == $o)' "$T/out"
dr_expect_success "tag --set of the same tags in another order: no change" drrepo tag --set final,archive
dr_check "both left alone" grep -q "0 snapshots changed, 2 left as they were" "$T/out"
dr_expect_success "tag --set '' removes every tag" drrepo tag --set '' --path "$T/other"
dr_expect_success "snapshots --json --path" drrepo snapshots --json --path "$T/other"
dr_check "no tag left" jq -e 'length == 1 and .[0].tags == []' "$T/out"

dr_expect_success "check passes after tagging" drrepo check
dr_expect_success "the retagged snapshot restores" drrepo restore latest --tag archive --target "$T/r"
dr_check "with its content" dr_cmp "$T/src/a/f" "$T/r$T/src/a/f"
dr_same_ids "after tag"
dr_done
