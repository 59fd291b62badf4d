#!/usr/bin/env bash
# t0400-drill: `drrepo drill` on stream (--stdin) and file-tree snapshots: passes on good ones,
# --restore-command runs the user's check in the restored directory, results are recorded and
# shown by `snapshots` and `--json`, --latest --host selects, and a drill of damaged data fails
# with exit 4 and the reason. Nothing is left in the temporary directory.
. "$(dirname "$0")/lib.sh" || exit 1

dr_init
mkdir -p "$T/src/sub" "$T/tmp"
"$TOOL" gen "$T/src/a.bin" 3000000 1 >/dev/null
"$TOOL" gen "$T/src/sub/b.txt" 200000 2 text >/dev/null
ln -s a.bin "$T/src/link"
: >"$T/src/empty"
dr_expect_success 'file snapshot' drrepo snapshot --host filehost "$T/src"
files_id=$(drrepo snapshots --json | dr_json_field id /dev/stdin)
"$TOOL" gen "$T/stream.bin" 1500000 3 >/dev/null
dr_expect_success 'stream snapshot' sh -c "\"$DRREPO\" -r \"$REPO\" snapshot --host streamhost --stdin --stdin-name db.dump <\"$T/stream.bin\""

dr_expect_success 'drill of the file tree passes' drrepo drill "${files_id:0:8}" --tmpdir "$T/tmp"
dr_check 'it says what it checked' grep -q 'every chunk verified against its id, sizes match' "$T/out"
dr_check 'kind files' grep -q '(files): passed' "$T/out"
dr_expect_success 'drill --latest --host of the stream passes' drrepo drill --latest --host streamhost --tmpdir "$T/tmp"
dr_check 'kind stream' grep -q '(stream): passed' "$T/out"
dr_check 'temporary directory left empty' test -z "$(ls -A "$T/tmp")"

# the user's own check: cwd and DRREPO_DRILL_DIR are the restored directory
dr_expect_success 'restore command that passes' drrepo drill --latest --host streamhost --json \
    --tmpdir "$T/tmp" --restore-command sh -c 'test "$PWD" = "$DRREPO_DRILL_DIR" && cmp -s db.dump "$0"' "$T/stream.bin"
dr_check 'json result ok' grep -q '"ok":true,"kind":"stream"' "$T/out"
dr_check 'json names the restore command' grep -q "restore command 'sh' exited with status 0" "$T/out"
dr_must_fail 4 'restore command that fails: exit 4' drrepo drill --latest --host streamhost \
    --restore-command sh -c 'exit 3'
dr_check 'the reason is the exit status' grep -q "restore command 'sh' exited with status 3" "$T/err"
dr_must_fail 1 'restore command that cannot run: exit 1' drrepo drill --latest --host streamhost \
    --restore-command /nonexistent/check
dr_must_fail 2 'usage: no snapshot' drrepo drill
dr_must_fail 2 'usage: --host without --latest' drrepo drill "${files_id:0:8}" --host x
drrepo snapshots --json >"$T/drills.before"
dr_must_fail 2 'usage: --check-sql on a file tree' drrepo drill "${files_id:0:8}" --check-sql /dev/null
dr_check 'it says what --check-sql is for' grep -q "check-sql is for PostgreSQL base backups, not a 'files' snapshot" "$T/err"
drrepo snapshots --json >"$T/drills.after"
dr_check 'and records no drill' dr_cmp "$T/drills.before" "$T/drills.after"

dr_expect_success 'snapshots shows the last drill' drrepo snapshots
dr_check 'column present' grep -q 'Last drill' "$T/out"
dr_check 'failed drill shown' grep -q 'FAILED' "$T/out"
dr_expect_success 'snapshots --json has the drills' drrepo snapshots --json
dr_check 'drills array with results' grep -q '"drills":\[{"time"' "$T/out"
dr_expect_success 'check accepts the drill objects' drrepo check
dr_check 'no unknown-file warning' sh -c "! grep -q 'not part of the repository layout' \"$T/out\" \"$T/err\""

# damage: flip a byte in the middle of every data pack
for p in $(find "$REPO/data" -type f); do
    "$TOOL" flip "$p" $(( $(stat -c %s "$p") / 2 )) >/dev/null
done
dr_must_fail 4 'drill of damaged data fails: exit 4' drrepo drill "${files_id:0:8}" --tmpdir "$T/tmp"
dr_check 'the reason names the file and the pack' grep -qE "failed: file '.*a\.bin': .* pack 'data/" "$T/err"
dr_check 'the reason is printed once, on stderr' sh -c "! grep -q \"a\.bin'\" '$T/out'"
dr_check 'temporary directory removed after a failure' test -z "$(ls -A "$T/tmp")"
dr_expect_success 'failed result recorded' drrepo snapshots --json
dr_check 'recorded as failed with its reason' grep -q '"ok":false,"kind":"files".*"reason":"file' "$T/out"
dr_done
