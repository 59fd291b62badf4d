#!/usr/bin/env bash
# t0610-pg-faults.sh: `snapshot --pg` failures. Each must fail with a message naming the server
# and the cause, record no snapshot and leave a repository that `check` passes: server down,
# wrong password (a scratch cluster with scram-sha-256, started and stopped here), a role
# without the replication privilege, and the walsender terminated mid-backup. Also a role that
# may not read some tables: the snapshot succeeds and records which row counts it skipped.
. "${DR_SRC:?}/tests/e2e/lib.sh" || exit 1

. "$DR_SRC/tests/integration/pg_lib.sh"

role=drt_norepl_$$
lprole=drt_backup_$$
monrole=drt_monitor_$$
db=drt_big_$$
pdb=drt_priv_$$
scratch_pid=
cleanup() {
    src -c "drop database if exists $db" -c "drop database if exists $pdb" -c "drop role if exists $role" \
        -c "drop role if exists $lprole" -c "drop role if exists $monrole" >/dev/null 2>&1
    if [ -n "$scratch_pid" ]; then
        kill -INT "$scratch_pid" 2>/dev/null
        for _ in $(seq 1 100); do dr_running "$scratch_pid" || break; sleep 0.1; done
    fi
    dr_cleanup
}
trap cleanup EXIT

dr_init
drrepo snapshots --json >"$T/snaps.before" 2>/dev/null
unchanged() {
    drrepo snapshots --json >"$T/snaps.now" 2>/dev/null
    cmp -s "$T/snaps.before" "$T/snaps.now"
}

# 1. nothing listens on the port
dr_must_fail 1 "server down fails" drrepo snapshot --pg "host=127.0.0.1 port=1 user=postgres dbname=postgres"
dr_check "error names the server and the cause" grep -q "postgresql '127.0.0.1:1'.*refused" "$T/err"
dr_check "no snapshot recorded (down)" unchanged

# 1b. the least-privilege role of docs/SOURCES.md (REPLICATION and pg_read_all_data), and a
# connection string without dbname: libpq would take the role's name as the database, which
# does not exist; drrepo connects to 'postgres' and lists the databases from there
src -c "create role $lprole login replication" -c "grant pg_read_all_data to $lprole" || exit 1
nodb=$(sed -E 's/(^| )dbname=[^ ]*//' <<<"$DR_TEST_PG_DSN")
dr_check "the test's DSN without dbname has none" sh -c "! echo '$nodb' | grep -q dbname"
dr_expect_success "--pg without dbname, as the least-privilege role" \
    drrepo snapshot --json --pg "$nodb user=$lprole"
dr_check "the first snapshot of the server has no parent" grep -q '"parent":null' "$T/out"
dr_check "no row count was skipped" sh -c "! grep -q 'not recorded' '$T/err'"
dr_expect_success "its snapshot passes check" drrepo check
drrepo snapshots --json >"$T/snaps.before" 2>/dev/null

# 1c. a role with REPLICATION and pg_monitor but not pg_read_all_data (docs/SOURCES.md, "A
# least-privilege role"): it cannot read the table 'secret', whose row count is skipped with a
# warning naming database and table and recorded as pg.skipped.* instead of failing the backup;
# given pg_read_all_data every count is there; row-level security on the table skips it again
# (its count would be filtered). pg_hba.conf is not changed here: the server is shared.
# meta SNAPID KEY: the value of KEY in the metadata of snapshot SNAPID (empty when absent);
# meta_field SNAPID FIELD: a field of its `snapshots --json` entry
meta_field() {
    drrepo snapshots --json 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["id"] == sys.argv[1]:
        v = s.get("meta", {}).get(sys.argv[3], "") if sys.argv[2] == "meta" else s[sys.argv[2]]
        print("" if v is None else v)' "$1" "$2" "${3:-}"
}
meta() { meta_field "$1" meta "$2"; }
src -c "create database $pdb" -c "create role $monrole login replication" -c "grant pg_monitor to $monrole" || exit 1
"$PGB/psql" -X -q -v ON_ERROR_STOP=1 "$DR_TEST_PG_DSN dbname=$pdb" \
    -c "create table secret (v int); insert into secret select generate_series(1, 42);" || exit 1
dr_expect_success "--pg as a role that may not read a table" \
    drrepo snapshot --json --pg "$DR_TEST_PG_DSN user=$monrole"
id=$(dr_json_field id)
first=$id
dr_check "the skip is a warning naming database and table" \
    grep -q "warning: row count of table 'public.secret' of database '$pdb' not recorded: the backup role may not read it" "$T/err"
dr_check "the skip is one line per table" test "$(grep -c "public.secret' of database '$pdb'" "$T/err")" = 1
dr_check "the metadata records the skip" test "$(meta "$id" "pg.skipped.$pdb.public.secret")" = no-privilege
dr_check "and no count for the table" test -z "$(meta "$id" "pg.count.$pdb.public.secret")"
dr_check "pg.counts.skipped counts it" test "$(meta "$id" pg.counts.skipped)" -ge 1
src -c "grant pg_read_all_data to $monrole" || exit 1
dr_expect_success "--pg as that role with pg_read_all_data" \
    drrepo snapshot --json --pg "$DR_TEST_PG_DSN user=$monrole"
id=$(dr_json_field id)
dr_check "a --pg snapshot's parent is the server's latest earlier snapshot" \
    test "$(dr_json_field parent)" = "$first"
dr_check "snapshots lists the same parent" test "$(meta_field "$id" parent)" = "$first"
dr_check "no row count skipped with pg_read_all_data" sh -c "! grep -q 'not recorded' '$T/err'"
dr_check "pg.counts.skipped is 0" test "$(meta "$id" pg.counts.skipped)" = 0
dr_check "the table's count is recorded" test "$(meta "$id" "pg.count.$pdb.public.secret")" = 42
"$PGB/psql" -X -q -v ON_ERROR_STOP=1 "$DR_TEST_PG_DSN dbname=$pdb" \
    -c "alter table secret enable row level security" \
    -c "create policy few on secret using (v < 10)" || exit 1
dr_expect_success "--pg with row-level security on the table" \
    drrepo snapshot --json --pg "$DR_TEST_PG_DSN user=$monrole"
id=$(dr_json_field id)
dr_check "row security: a warning naming the table" \
    grep -q "row count of table 'public.secret' of database '$pdb' not recorded: row-level security" "$T/err"
dr_check "row security: recorded as such" test "$(meta "$id" "pg.skipped.$pdb.public.secret")" = row-security
dr_check "row security: no (filtered) count recorded" test -z "$(meta "$id" "pg.count.$pdb.public.secret")"
src -c "drop database $pdb" -c "drop role $monrole" >/dev/null || dr_fail "drop $pdb and $monrole"
drrepo snapshots --json >"$T/snaps.before" 2>/dev/null

# 2. a role without the replication privilege
src -c "create role $role login" || exit 1
dr_must_fail 1 "role without replication privilege fails" \
    drrepo snapshot --pg "$DR_TEST_PG_DSN user=$role"
dr_check "error says replication role" grep -q "replication" "$T/err"
dr_check "no snapshot recorded (no privilege)" unchanged

# 3. wrong password: a scratch cluster with scram-sha-256 on its own port
sdir="$T/scratch"
mkdir -p "$sdir" && chown postgres: "$sdir"
echo secret >"$sdir/pw" && chown postgres: "$sdir/pw"
if runuser -u postgres -- "$PGB/initdb" -D "$sdir/data" -A scram-sha-256 -U postgres \
    --pwfile="$sdir/pw" >/dev/null 2>&1 &&
    runuser -u postgres -- "$PGB/pg_ctl" -D "$sdir/data" -l "$sdir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -k $sdir -p 25499" start >/dev/null 2>&1; then
    scratch_pid=$(head -n 1 "$sdir/data/postmaster.pid")
    dr_must_fail 14 "wrong password fails with exit 14 (the source refused us)" drrepo snapshot \
        --pg "host=127.0.0.1 port=25499 user=postgres password=wrong dbname=postgres"
    dr_check "error says password authentication" grep -q "127.0.0.1:25499.*password authentication" "$T/err"
    dr_check "no snapshot recorded (password)" unchanged
    dr_expect_success "right password works" drrepo snapshot --json \
        --pg "host=127.0.0.1 port=25499 user=postgres password=secret dbname=postgres"
    dr_check "another server's snapshot has no parent" grep -q '"parent":null' "$T/out"
    drrepo snapshots --json >"$T/snaps.before" 2>/dev/null
else
    dr_fail "scratch cluster did not start: $(tail -n 3 "$sdir/log" 2>/dev/null)"
fi

# 4. the walsender is terminated while a (throttled) backup streams
src -c "create database $db" || exit 1
"$PGB/pgbench" -q -i -s 3 "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1
DRREPO_PG_MAX_RATE=2048 "$DRREPO" -r "$REPO" snapshot --pg "$DR_TEST_PG_DSN" >"$T/out" 2>"$T/err" &
snap=$!
killed=0
for _ in $(seq 1 200); do
    n=$(src -c "select count(pg_terminate_backend(pid)) from pg_stat_progress_basebackup where phase = 'streaming database files'" 2>/dev/null)
    if [ "${n:-0}" -gt 0 ]; then killed=1; break; fi
    sleep 0.1
done
wait $snap
rc=$?
dr_check "walsender terminated during the backup" [ $killed = 1 ]
dr_check "dropped connection fails the snapshot (exit $rc)" [ $rc = 1 ]
dr_check "error names the interruption" grep -q "postgresql '127.0.0.1:.*backup stream interrupted" "$T/err"
dr_check "no snapshot recorded (dropped)" unchanged
dr_expect_success "repository still valid" drrepo check

dr_done
