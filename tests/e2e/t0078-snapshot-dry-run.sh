#!/usr/bin/env bash
# snapshot --dry-run (dr_pipeline_open_dry_run): reads and chunks everything, dedups against the
# index and within the run, and reports what would be added, but leaves the repository
# byte-identical (no pack, no snapshot, no lock left) and the files cache as it was; its counts
# are those of the real snapshot that follows. Human output and --json ("dry_run": true, no id).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

R="$REPO"
# every file of the repository with its size and content hash
listing() { (cd "$R" && find . -type f -printf '%P %s\n' | sort && find . -type f -exec sha256sum {} + | sort); }
# the summary fields both runs report
# the summary fields both runs report, but bytes_added (below)
counts() { jq -c '{files_new, files_changed, files_unchanged, dirs, bytes_read, bytes_total, blobs_added, errors}' "$1"; }
# same_counts A B: the two runs' summaries are equal (printed when not). bytes_added may differ
# by a few bytes: the directories above the source (/tmp, $T) are stored with their mtimes,
# which this test's own output files and other processes change between the two runs, and a
# tree's compressed size can move with them; every data blob is the same
same_counts() {
    local da ra
    da=$(jq .bytes_added "$1") ra=$(jq .bytes_added "$2")
    [ "$(counts "$1")" = "$(counts "$2")" ] && [ $((da - ra)) -le 64 ] && [ $((ra - da)) -le 64 ] &&
        return 0
    echo "# dry: $(counts "$1") bytes_added $da"; echo "# real: $(counts "$2") bytes_added $ra"
    return 1
}

dr_init
mkdir -p "$T/src/a"
head -c 3000000 /dev/urandom >"$T/src/a/big"
cp "$T/src/a/big" "$T/src/a/copy" # the same chunks twice: counted once
echo small >"$T/src/x"
sleep 2 # as below: the files, not the clock, decide what is read

# a crashed writer's temporary file (two days old: stale): a real run removes it, a dry run
# leaves it for the next real run
leftover="$R/.drrepo-tmp-4194303-pack-abcdef"
echo partial >"$leftover"
touch -d '2 days ago' "$leftover"
listing >"$T/before"
dr_expect_success "dry run of a first snapshot, --json" drrepo snapshot --dry-run --json "$T/src"
cp "$T/out" "$T/dry1.json"
listing >"$T/after"
dr_check "the repository is byte-identical" dr_cmp "$T/before" "$T/after"
dr_check "no lock is left" test -z "$(ls -A "$R/locks")"
dr_check "--json: dry_run, no id, and the summary" \
    jq -e '.dry_run == true and (has("id") | not) and (has("short_id") | not) and
           .files_new == 3 and .bytes_read == 6000006 and .blobs_added > 0 and .parent == null' "$T/dry1.json"
dr_expect_success "snapshots lists none" drrepo snapshots --json
dr_check "none" jq -e 'length == 0' "$T/out"
dr_check "the leftover is still there" test -f "$leftover"
dr_expect_success "the real snapshot" drrepo snapshot --json "$T/src"
cp "$T/out" "$T/real1.json"
dr_check "the real run removed the leftover" test ! -e "$leftover"
dr_check "it is not a dry run" jq -e '.dry_run == false and (.id | length) == 64' "$T/real1.json"
dr_check "the dry run's counts are the real snapshot's (dedup within the run included)" \
    same_counts "$T/dry1.json" "$T/real1.json"

# an incremental run: one file changed, one new; the files cache and the index decide
head -c 200000 /dev/urandom >"$T/src/new"
echo changed >"$T/src/x"
touch -d '2000-01-01' "$T/src/x"
# a file changed within a second before a snapshot is read again by the next one (the files
# cache does not trust its timestamps); past that second the dry run and the real run that
# follows it see the same files cache, whatever the time between them
sleep 2
listing >"$T/before"
dr_expect_success "dry run of the next snapshot" drrepo snapshot --dry-run "$T/src"
dr_check "it says what would be added" grep -q "would be added to the repository" "$T/out"
dr_check "and that nothing was written" grep -q "^dry run: .* nothing was written" "$T/out"
dr_check "no snapshot id is printed" sh -c "! grep -q '^snapshot .* saved' '$T/out'"
dr_expect_success "dry run --json" drrepo snapshot --dry-run --json "$T/src"
cp "$T/out" "$T/dry2.json"
listing >"$T/after"
dr_check "the repository is still byte-identical" dr_cmp "$T/before" "$T/after"
dr_check "the parent is the real snapshot" \
    test "$(jq -r .parent "$T/dry2.json")" = "$(jq -r .id "$T/real1.json")"
dr_expect_success "the real second snapshot" drrepo snapshot --json "$T/src"
cp "$T/out" "$T/real2.json"
dr_check "its counts are the dry run's" same_counts "$T/dry2.json" "$T/real2.json"
dr_check "only the new data is added" jq -e '.files_new == 1 and .bytes_added > 0 and .bytes_added < 1000000' "$T/out"
dr_expect_success "check passes" drrepo check
dr_expect_success "a dry run of --stdin" sh -c "echo piped | '$DRREPO' -r '$R' snapshot --dry-run --json --stdin --stdin-name p"
dr_check "is counted too" jq -e '.dry_run and .bytes_read == 6 and .blobs_added >= 1' "$T/out"
dr_done
