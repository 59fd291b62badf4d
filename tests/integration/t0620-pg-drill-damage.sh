#!/usr/bin/env bash
# t0620-pg-drill-damage.sh: `drrepo drill` of a PostgreSQL snapshot passes, and after a byte of
# the data is damaged it fails (exit 4) with the reason naming the file and the object, and
# leaves no scratch server running.
. "${DR_SRC:?}/tests/e2e/lib.sh"

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

# a host without the server binary: the drill cannot run here, which says nothing about the
# snapshot: exit 1, nothing recorded (docs/DRILLS.md)
drrepo snapshots --json >"$T/drills.before"
DRREPO_PG_BIN="$T/no-pg-bin" PATH=/usr/bin:/bin dr_must_fail 1 \
    "a drill with no postgres binary exits 1" drrepo drill latest
dr_check "it says the drill cannot run here" grep -q "cannot run on this host: no postgres server binary" "$T/err"
drrepo snapshots --json >"$T/drills.after"
dr_check "and records nothing" dr_cmp "$T/drills.before" "$T/drills.after"

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
