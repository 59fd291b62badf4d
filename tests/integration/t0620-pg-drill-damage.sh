#!/usr/bin/env bash
# t0620-pg-drill-damage.sh: `drrepo drill` of a PostgreSQL snapshot passes, and after a byte of
# the data is damaged it fails (exit 4) with the reason naming the file and the object, and
# leaves no scratch server running. --check-sql in --check-db, and its error on one line. A
# drill that cannot run on this host (no server binary, a socket path too long, no space for
# the restore or for the server) exits 1 and records nothing.
. "${DR_SRC:?}/tests/e2e/lib.sh" || exit 1

. "$DR_SRC/tests/integration/pg_lib.sh"

db=drd_$$
src -c "create database $db" || exit 1
trap 'src -c "drop database if exists $db" >/dev/null 2>&1; dr_cleanup' EXIT
"$PGB/psql" -X -q -v ON_ERROR_STOP=1 "$DR_TEST_PG_DSN dbname=$db" \
    -c "create table t (i int); insert into t select generate_series(1, 5000);" || exit 1

"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --chunk-min 16K --chunk-avg 64K \
    --chunk-max 256K >"$T/out" 2>"$T/err" || { dr_fail "init"; dr_done; }
dr_expect_success "snapshot --pg" drrepo snapshot --pg "$DR_TEST_PG_DSN"
dr_expect_success "drill of the intact snapshot passes" drrepo drill latest
dr_check "the drill counted rows" grep -q "tables counted" "$T/out"

# --check-sql runs in --check-db (the table t is only in $db; the snapshot's connection string
# names postgres)
printf 'select 1;\nselect count(*) = 5000 from t\n' >"$T/t.sql"
dr_expect_success "--check-sql in --check-db passes" drrepo drill latest --check-sql "$T/t.sql" --check-db "$db"
dr_check "it ran the check" grep -q -- "--check-sql run" "$T/out"
# without --check-db it runs in postgres, where t does not exist: one error line, printed once
dr_must_fail 4 "--check-sql in the default database fails" drrepo drill latest --check-sql "$T/t.sql"
dr_check "the error is one line naming file, line, database and cause" \
    grep -qx "drrepo: error: drill of snapshot [0-9a-f]* failed: --check-sql '$T/t.sql' failed at line 2 in database 'postgres': ERROR: relation \"t\" does not exist" "$T/err"
dr_check "stderr is that one line" test "$(wc -l <"$T/err")" = 1
dr_check "the reason is printed once" test "$(cat "$T/out" "$T/err" | grep -c 'does not exist')" = 1
dr_check "the report still says FAILED" grep -q "FAILED" "$T/out"
dr_expect_success "the failed drill is recorded with that reason" drrepo snapshots --json
dr_check "recorded reason" grep -q 'failed at line 2 in database .postgres.: ERROR: relation' "$T/out"

# a drill that cannot run on this host says nothing about the snapshot: exit 1, one line,
# nothing recorded (docs/DRILLS.md). The records are compared through `snapshots --json`.
drrepo snapshots --json >"$T/drills.before"
unchanged() {
    drrepo snapshots --json >"$T/drills.after" 2>/dev/null
    dr_cmp "$T/drills.before" "$T/drills.after"
}
# bad --check-db / --check-sql options are refused before anything is restored (exit 2)
dr_must_fail 2 "--check-db naming no recorded database exits 2" \
    drrepo drill latest --check-sql "$T/t.sql" --check-db "nosuch_$db"
dr_check "it names the database" grep -q "^drrepo: error: .*--check-db 'nosuch_$db': the snapshot recorded no database of that name$" "$T/err"
dr_check "in one line" test "$(wc -l <"$T/err")" = 1
dr_must_fail 2 "--check-db without --check-sql exits 2" drrepo drill latest --check-db "$db"
dr_check "nothing recorded (bad --check-db)" unchanged

# no server binary
DRREPO_PG_BIN="$T/no-pg-bin" PATH=/usr/bin:/bin dr_must_fail 1 \
    "a drill with no postgres binary exits 1" drrepo drill latest
dr_check "it says the drill cannot run here" grep -q "the drill could not run: not on this host: no postgres server binary" "$T/err"
dr_check "in one line (no binary)" test "$(wc -l <"$T/err")" = 1
dr_check "and records nothing" unchanged

# port in use: cannot happen. The scratch server has no TCP listener (listen_addresses=''), and
# its socket is in a directory the drill creates (drill_pg.c); the port only names the socket
# file. What can happen is a temporary directory too long for a Unix socket's path:
long="$T/$(printf 'l%.0s' $(seq 1 100))"
mkdir -p "$long"
dr_must_fail 1 "a --tmpdir too long for the server's socket exits 1" drrepo drill latest --tmpdir "$long"
dr_check "it names the directory and the limit" grep -q "cannot run under '$long': .*107 bytes" "$T/err"
dr_check "in one line (socket path)" test "$(wc -l <"$T/err")" = 1
dr_check "nothing recorded (socket path)" unchanged

# no space: a small tmpfs (mounted here as root, unmounted at the end; skipped when the mount is
# refused). First too small for the restore; then room for the restored files (sparse where
# the WAL is zeros) but not for the 16 MiB WAL segment that the scratch server writes when it
# ends recovery.
MNT="$T/mnt"
mkdir -p "$MNT"
if mount -t tmpfs -o size=4m,mode=0755 tmpfs "$MNT" 2>"$T/mount.err"; then
    trap 'umount "$MNT" 2>/dev/null || umount -l "$MNT"; src -c "drop database if exists $db" >/dev/null 2>&1; dr_cleanup' EXIT
    dr_must_fail 1 "no space for the restore exits 1" drrepo drill latest --tmpdir "$MNT"
    dr_check "it says so" grep -q "^drrepo: error: the drill could not run: no space left to restore the snapshot .*No space left on device.*--tmpdir" "$T/err"
    dr_check "in one line, without the repository-disk hint (restore)" test "$(wc -l <"$T/err")" = 1
    dr_check "nothing recorded (no space for the restore)" unchanged
    dr_check "nothing left in the temporary directory (restore)" test -z "$(ls -A "$MNT")"
    umount "$MNT"
    drrepo restore latest --target "$T/sized" >/dev/null 2>&1
    kb=$(du -s --block-size=1K "$T/sized" | cut -f1)
    rm -rf "$T/sized"
    mount -t tmpfs -o size=$((kb + 4096))k,mode=0755 tmpfs "$MNT" || dr_fail "second tmpfs mount"
    dr_must_fail 1 "no space for the scratch server exits 1" drrepo drill latest --tmpdir "$MNT"
    dr_check "it says so, with the server's message" grep -q "^drrepo: error: the drill could not run: no space left for the scratch server .*No space left on device" "$T/err"
    dr_check "in one line (server)" test "$(wc -l <"$T/err")" = 1
    dr_check "nothing recorded (no space for the server)" unchanged
    dr_check "nothing left in the temporary directory (server)" test -z "$(ls -A "$MNT")"
    dr_check "no scratch postgres left running (no space)" test -z "$(pgrep -f "postgres.*$MNT" || true)"
    umount "$MNT"
else
    echo "# skip: no tmpfs for the no-space drills: $(cat "$T/mount.err")"
fi

# damage the largest data pack: some file of the cluster can no longer be restored
pack=$(ls -S "$REPO"/data/*/* | head -n 1)
"$TOOL" flip "$pack" 5000
dr_must_fail 4 "drill of the damaged snapshot fails with exit 4" drrepo drill latest
dr_check "the reason names the damaged object" grep -q "authentication failed" "$T/err"
dr_check "the reason names the pack" grep -qF "$(basename "$pack")" "$T/err"
dr_check "no scratch postgres left running" \
    test -z "$(pgrep -f "postgres.*${T}" || true)"
dr_expect_success "snapshots lists the drill results" drrepo snapshots --json
dr_check "both drill results are recorded" test "$(grep -o '"ok":' "$T/out" | wc -l)" -ge 2
dr_done
