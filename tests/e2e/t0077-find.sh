#!/usr/bin/env bash
# drrepo find (src/cmd/find.c): the snapshots that hold a path matching a pattern (the patterns
# of restore --include, src/common/pattern.c), each with its matches' size and mtime; across
# snapshots, with `**`, anchored and not; SNAP and selector narrow the snapshots; --json is one
# object per line; nothing found exits 1 with one line.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
mkdir -p "$T/src/a/b" "$T/src/c"
echo hello >"$T/src/a/b/out.log"
echo x >"$T/src/c/cafe"
touch -d '2020-01-02 03:04:05 UTC' "$T/src/a/b/out.log"
dr_expect_success "first snapshot" drrepo snapshot --json "$T/src"
s1=$(jq -r .id "$T/out")
echo second >"$T/src/c/new.log"
rm "$T/src/c/cafe"
dr_expect_success "second snapshot, tagged" drrepo snapshot --json --tag two "$T/src"
s2=$(jq -r .id "$T/out")

dr_expect_success "find '*.log' across both snapshots" drrepo find '*.log'
dr_check "the first snapshot's match, with its size and mtime" \
    grep -q "^  *6  2020-01-02T03:04:05Z  $T/src/a/b/out.log$" "$T/out"
dr_check "each snapshot is named before its matches" \
    test "$(grep -c "^snapshot \(${s1:0:8}\|${s2:0:8}\) of " "$T/out")" -eq 2
dr_check "the new file is found in the second only" \
    test "$(grep -c "$T/src/c/new.log" "$T/out")" -eq 1
dr_check "the counts" grep -q "^3 matches in 2 of 2 snapshots$" "$T/out"

dr_expect_success "find an anchored pattern with **" drrepo find --json "$T/src/**/out.log"
dr_check "one line per match and the statistics, each parses" \
    test "$(jq -c . "$T/out" | wc -l)" -eq 3
dr_check "the matches name their snapshots, path, size and mtime" \
    jq -se --arg a "$s1" --arg b "$s2" --arg p "$T/src/a/b/out.log" \
    '[.[] | select(.message_type == "match")] | length == 2 and ([.[].snapshot.id] == [$a, $b])
     and all(.[]; .path == $p and .size == 6 and .type == "file" and .mtime == "2020-01-02T03:04:05Z"
     and .snapshot.short_id == .snapshot.id[0:8])' "$T/out"
dr_check "the statistics come last" \
    jq -se '.[-1] == {"message_type": "statistics", "snapshots": 2, "snapshots_matched": 2, "matches": 2}' "$T/out"
dr_expect_success "** in the middle of a pattern that names a directory" drrepo find --json "$T/src/**/b"
dr_check "the directory is found" jq -se --arg p "$T/src/a/b" '[.[] | select(.message_type == "match")] | length == 2 and all(.[]; .path == $p and .type == "dir")' "$T/out"

dr_expect_success "a name of hex digits is a pattern, not a snapshot" drrepo find cafe
dr_check "found in the first snapshot only" \
    sh -c "grep -q '^snapshot ${s1:0:8} ' '$T/out' && ! grep -q '^snapshot ${s2:0:8} ' '$T/out'"
dr_expect_success "two patterns and a SNAP" drrepo find --json cafe '*.log' "$s2"
dr_check "only that snapshot is searched" \
    jq -se '.[-1].snapshots == 1 and .[-1].matches == 2' "$T/out"
dr_expect_success "latest under a selector" drrepo find --json '[n]ew.log' --tag two latest
dr_check "the tagged snapshot" jq -se --arg b "$s2" '.[0].snapshot.id == $b and .[-1].matches == 1' "$T/out"
dr_expect_success "a selector without SNAP" drrepo find --json out.log --tag two
dr_check "only the selected snapshot" jq -se '.[-1].snapshots == 1' "$T/out"

dr_must_fail 1 "nothing found" drrepo find 'nothing*'
dr_check "one line that names the pattern" \
    test "$(cat "$T/err")" = "drrepo: error: no path matches 'nothing*' in 2 snapshots"
dr_must_fail 1 "a selector that matches nothing" drrepo find '*.log' --host nosuchhost
dr_check "it names the selector" grep -q "no snapshot matches --host nosuchhost" "$T/err"
dr_must_fail 2 "no pattern" drrepo find
dr_done
