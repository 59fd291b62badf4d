#!/usr/bin/env bash
# pg-growth.sh: repository growth over several days of pgbench transactions, for the base
# backup (snapshot --pg, default and 64 KiB chunks), logical dumps (pg_dump -Fp and
# -Fc -Z0 through --from-command) and a `pg_basebackup -Ft -X fetch | gzip` baseline (a new
# full copy per day, as plain compressed backups grow).
#
#   DR_TEST_PG_DSN=... DR_TEST_PG_BIN=... bench/pg-growth.sh [DAYS] [TX_PER_DAY] [SCALE]
#
# Uses a database of its own (dropped at the end) on the server DR_TEST_PG_DSN names
# (tools/test-servers.sh starts one). Prints one TSV line per day and form: bytes added.
set -euo pipefail
days=${1:-4}
tx=${2:-1000}
scale=${3:-5}
: "${DR_TEST_PG_DSN:?set DR_TEST_PG_DSN (tools/test-servers.sh start)}"
PGB=${DR_TEST_PG_BIN:?set DR_TEST_PG_BIN}
DRREPO=${DRREPO_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/drrepo}
W=$(mktemp -d "${TMPDIR:-/tmp}/pg-growth.XXXXXX")
export DRREPO_PASSWORD=bench DRREPO_CACHE_DIR="$W/cache"
db=pggrowth_$$
psql() { "$PGB/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
cleanup() { psql "$DR_TEST_PG_DSN" -c "drop database if exists $db" >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
psql "$DR_TEST_PG_DSN" -c "create database $db"
"$PGB/pgbench" -q -i -s "$scale" "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1

forms="pg-default pg-64k dump-Fp dump-Fc-Z0"
for f in $forms; do
    case $f in
    pg-64k) "$DRREPO" -r "$W/$f" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --chunk-min 16K \
        --chunk-avg 64K --chunk-max 256K >/dev/null 2>&1 ;;
    *) "$DRREPO" -r "$W/$f" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 >/dev/null 2>&1 ;;
    esac
done
mkdir -p "$W/gzip"
size() { du -sb "$1" | cut -f1; }
declare -A prev
printf 'day\tform\trepo_bytes\tadded_bytes\n'
for day in $(seq 1 "$days"); do
    if [ "$day" -gt 1 ]; then
        "$PGB/pgbench" -n -t "$tx" -c 2 "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1
    fi
    for f in $forms; do
        case $f in
        pg-*) "$DRREPO" -r "$W/$f" snapshot --pg "$DR_TEST_PG_DSN" >/dev/null 2>&1 ;;
        dump-Fp) "$DRREPO" -r "$W/$f" snapshot --from-command --stdin-name db.sql -- \
            "$PGB/pg_dump" -Fp -d "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1 ;;
        dump-Fc-Z0) "$DRREPO" -r "$W/$f" snapshot --from-command --stdin-name db.dump -- \
            "$PGB/pg_dump" -Fc -Z0 -d "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1 ;;
        esac
        now=$(size "$W/$f")
        printf '%s\t%s\t%s\t%s\n' "$day" "$f" "$now" $((now - ${prev[$f]:-0}))
        prev[$f]=$now
    done
    # baseline: a full compressed copy per day
    "$PGB/pg_basebackup" -d "$DR_TEST_PG_DSN" -D - -Ft -X fetch 2>/dev/null | gzip -c >"$W/gzip/day$day.tar.gz"
    now=$(size "$W/gzip")
    printf '%s\t%s\t%s\t%s\n' "$day" "basebackup-gzip" "$now" $((now - ${prev[gzip]:-0}))
    prev[gzip]=$now
done
