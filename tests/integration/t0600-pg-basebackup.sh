#!/usr/bin/env bash
# t0600-pg-basebackup.sh: `snapshot --pg` against a real PostgreSQL 15 (tools/test-servers.sh):
# snapshot, restore, pg_verifybackup, start the restored cluster on a private socket and
# compare the rows of every table with the source; growth over several days of pgbench
# transactions; `drrepo drill` on the snapshot.
. "${DR_SRC:?}/tests/e2e/lib.sh" || exit 1

. "$DR_SRC/tests/integration/pg_lib.sh"

db=drt_$$
DSN_DB="$DR_TEST_PG_DSN dbname=$db"
src -c "create database $db" || exit 1
cleanup_db() { src -c "drop database if exists $db" >/dev/null 2>&1; }
trap 'cleanup_db; dr_cleanup' EXIT
"$PGB/pgbench" -q -i -s 5 "$DSN_DB" >/dev/null 2>&1 || { echo "not ok - pgbench -i"; exit 1; }
"$PGB/psql" -X -q -v ON_ERROR_STOP=1 "$DSN_DB" <<'EOF' || exit 1
create table docs (id serial primary key, body text);
insert into docs (body) select repeat(md5(i::text), 20) from generate_series(1, 2000) i;
create schema "Other Schema";
create table "Other Schema"."Mixed Case" (v int);
insert into "Other Schema"."Mixed Case" select generate_series(1, 777);
create unlogged table scratch (v int);
insert into scratch select generate_series(1, 10);
EOF

# "db.schema.table count" for every permanent table of every database, sorted
counts() {
    local dsn=$1 d
    for d in $("$PGB/psql" -X -At "$dsn" -c "select datname from pg_database where datallowconn and not datistemplate order by 1"); do
        "$PGB/psql" -X -At "$dsn dbname=$d" -c "select format('select %L || '' '' || count(*) from %I.%I;', '$d.' || n.nspname || '.' || c.relname, n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and c.relpersistence = 'p' and n.nspname not in ('pg_catalog', 'information_schema') order by 1" |
            "$PGB/psql" -X -At "$dsn dbname=$d"
    done | sort
}

# a database repository: small chunks let unchanged 8 KiB pages deduplicate (docs/SOURCES.md)
"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --chunk-min 16K --chunk-avg 64K \
    --chunk-max 256K >"$T/out" 2>"$T/err" || dr_fail "init"

counts "$DR_TEST_PG_DSN" >"$T/counts.src"
dr_expect_success "snapshot --pg" drrepo snapshot --pg "$DR_TEST_PG_DSN"
dr_check "no server notice on stderr" sh -c "! grep -q NOTICE '$T/err'"
drrepo snapshots --json >"$T/snap1.json" 2>/dev/null
dr_check "metadata recorded" grep -q '"pg.system_identifier"' "$T/snap1.json"
dr_check "exact counts recorded" grep -q "\"pg.count.$db.public.pgbench_accounts\":\"500000\"" "$T/snap1.json"

dr_expect_success "restore" drrepo restore latest --target "$T/data"
chown -R postgres: "$T/data" && chmod 700 "$T/data"
dr_expect_success "pg_verifybackup accepts the restored directory" \
    runuser -u postgres -- "$PGB/pg_verifybackup" "$T/data"

# start the restored cluster on a private socket, compare, stop it by pid
sock="$T/sock"
mkdir -p "$sock" && chown postgres: "$sock"
dr_expect_success "restored cluster starts" runuser -u postgres -- "$PGB/pg_ctl" -D "$T/data" \
    -l "$sock/restored.log" -w -t 300 -o "-c listen_addresses= -k $sock -p 25999 -c archive_mode=off" start
if [ -f "$T/data/postmaster.pid" ]; then
    counts "host=$sock port=25999 user=postgres dbname=postgres" >"$T/counts.restored"
    pid=$(head -n 1 "$T/data/postmaster.pid")
    kill -INT "$pid"
    for _ in $(seq 1 300); do dr_running "$pid" || break; sleep 0.2; done
    dr_check "restored server stopped" test -z "$(dr_running "$pid" && echo running)"
    dr_check "row counts of every table equal the source" dr_cmp "$T/counts.src" "$T/counts.restored"
    dr_check "rows were compared" grep -q "$db.public.pgbench_accounts 500000" "$T/counts.restored"
else
    dr_fail "restored cluster did not start: $(tail -n 3 "$sock/restored.log")"
fi

# growth over "days" of pgbench transactions: each day's increment must be much less than a
# full copy (day 1)
size() { du -sb "$REPO" | cut -f1; }
day1=$(size)
prev=$day1
echo "# day 1: repository $day1 bytes"
for day in 2 3 4; do
    "$PGB/pgbench" -n -t 100 -c 2 "$DSN_DB" >/dev/null 2>&1 || dr_fail "pgbench day $day"
    dr_expect_success "snapshot day $day" drrepo snapshot --pg "$DR_TEST_PG_DSN"
    now=$(size)
    inc=$((now - prev))
    echo "# day $day: repository $now bytes, increment $inc bytes ($((100 * inc / day1))% of day 1)"
    dr_check "day $day increment < 50% of day 1" [ $((2 * inc)) -lt "$day1" ]
    prev=$now
done
dr_expect_success "check" drrepo check

# the restore drill (src/drill/drill_pg.c through `drrepo drill`)
if "$DRREPO" -r "$REPO" drill --help 2>&1 | grep -q "not implemented"; then
    echo "# drrepo drill not available in this build: drill steps skipped"
else
    echo "select count(*) > 0 from pg_database where datname = '$db'" >"$T/check.sql"
    dr_expect_success "drill passes" drrepo drill latest --check-sql "$T/check.sql"
    echo "select false" >"$T/bad.sql"
    dr_must_fail 4 "drill fails on a false --check-sql" drrepo drill latest --check-sql "$T/bad.sql"
    dr_check "drill names the reason" grep -q "check-sql.*returned false" "$T/err"
    dr_check "no drill server left running" sh -c "! pgrep -f 'drrepo-dril[l]' >/dev/null"
fi

dr_done
