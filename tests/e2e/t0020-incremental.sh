#!/usr/bin/env bash
# Incremental snapshots: the files cache means an unchanged tree reads no file content; a
# changed file is read again; a changed subtree costs its own blobs only. The parent is the
# newest snapshot of the same host and paths (found through the index's snapshot records, which
# a rebuilt index has again), never another host's.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
mkdir -p "$src/d1" "$src/d2"
for i in $(seq 1 40); do "$TOOL" gen "$src/d1/f$i" 200K "$i"; done
"$TOOL" gen "$src/d2/big" 8M 99
# the files cache skips files changed within the last second (racy timestamps)
sleep 1.1
dr_init
dr_expect_success "first snapshot" drrepo snapshot "$src" --json
first=$(dr_json_field snapshot_id)
dr_check "first snapshot reads everything" test "$(dr_json_field bytes_read)" -ge 16000000
dr_expect_success "second snapshot of the unchanged tree" drrepo snapshot "$src" --json
dr_check "it reads no file content" test "$(dr_json_field bytes_read)" -eq 0
dr_check "all files are unchanged" test "$(dr_json_field files_unchanged)" -eq 41
dr_check "it adds (almost) nothing" test "$(dr_json_field bytes_added)" -lt 4096
dr_check "its parent is the first snapshot" test "$(dr_json_field parent)" = "$first"
"$TOOL" gen "$src/d1/f7" 200K 1007
touch -d '1 minute ago' "$src/d1/f7"
sleep 1.1
dr_expect_success "snapshot after one change" drrepo snapshot "$src" --json
dr_check "only the changed file is read" test "$(dr_json_field bytes_read)" -eq 204800
dr_check "it is counted as changed" test "$(dr_json_field files_changed)" -eq 1
dr_check "it adds about that file" test "$(dr_json_field bytes_added)" -lt 300000
third=$(dr_json_field snapshot_id)
dr_expect_success "another host's snapshot of the same paths" \
    drrepo snapshot --host elsewhere "$src" --json
dr_check "it does not take this host's snapshot as its parent" \
    test "$(dr_json_field parent)" != "$third"
dr_expect_success "a snapshot of other paths" drrepo snapshot "$src/d1" --json
dr_check "it has no parent" sh -c "! grep -q '\"parent\":\"' '$T/out'"
rm -rf "$T/cache"
dr_expect_success "snapshot without a local index (cache deleted)" drrepo snapshot "$src" --json
dr_check "the rebuilt index dedups everything" test "$(dr_json_field bytes_added)" -lt 4096
dr_check "its parent is this host's last snapshot of these paths" \
    test "$(dr_json_field parent)" = "$third"
dr_check "through the parent, no file is read" test "$(dr_json_field bytes_read)" -eq 0
dr_expect_success "restore the latest" drrepo restore latest --target "$T/rst"
dr_check "restored tree is identical" dr_same_tree "$src" "$T/rst$src"
dr_expect_success "diff between first and latest" drrepo diff "$first" latest
dr_check "diff reports the modified file" grep -q "^M $src/d1/f7" "$T/out"
dr_done
