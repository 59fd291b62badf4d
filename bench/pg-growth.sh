#!/usr/bin/env bash
# pg-growth.sh: repository growth over several days of pgbench transactions, for the base
# backup (snapshot --pg: relation files in page-aligned blocks, the rest by content; with the
# default and with 64 KiB chunks), the base backup as an earlier drrepo stored it (all content-
# defined, when DRREPO_CDC_BIN names such a build), logical dumps (pg_dump -Fp and -Fc -Z0
# through --from-command) and a `pg_basebackup -Ft -X fetch | gzip` baseline (a new full copy
# per day, as plain compressed backups grow), against what changed: each day's data directory
# is compared with the previous day's page by page (bench/pg-pages.py), and the zstd size of the
# changed 8 KiB pages is what a page-level store would keep.
#
#   DR_TEST_PG_DSN=... DR_TEST_PG_BIN=... bench/pg-growth.sh [DAYS] [TX_PER_DAY] [SCALE]
#
# TX_PER_DAY is per client (2 clients). FORMS selects forms (default: all that can run).
# DRREPO_BIN is the drrepo measured (build/drrepo); DRREPO_CDC_BIN an earlier build for the
# content-defined forms pg-cdc and pg-cdc-64k; DRREPO_V1_BIN a build of writer policy
# relation-pages-v1 (32 KiB blocks listed in the tree, before chunk lists) for the form
# pg-pages-v1; PYTHON the interpreter for pg-pages.py (with python3-zstandard it is much
# faster).
#
# Uses a database of its own (dropped at the end) on the server DR_TEST_PG_DSN names
# (tools/test-servers.sh starts one); the base backups hold the whole cluster. Prints one TSV
# line per day and form: repository bytes, bytes added, and the bytes added over the zstd size
# of the changed pages (x_changed); then per day the page comparison: changed pages, their zstd
# size, the zstd size of the backup's WAL, and for each block size B the blocks that changed
# and their zstd size (each block compressed alone), to choose B by.
set -euo pipefail
days=${1:-4}
tx=${2:-1000}
scale=${3:-5}
: "${DR_TEST_PG_DSN:?set DR_TEST_PG_DSN (tools/test-servers.sh start)}"
PGB=${DR_TEST_PG_BIN:?set DR_TEST_PG_BIN}
here=$(cd "$(dirname "$0")" && pwd)
DRREPO=${DRREPO_BIN:-$here/../build/drrepo}
CDC=${DRREPO_CDC_BIN:-}
V1=${DRREPO_V1_BIN:-}
PY=${PYTHON:-python3}
W=$(mktemp -d "${TMPDIR:-/tmp}/pg-growth.XXXXXX")
export DRREPO_PASSWORD=bench DRREPO_CACHE_DIR="$W/cache"
db=pggrowth_$$
psql() { "$PGB/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
cleanup() { psql "$DR_TEST_PG_DSN" -c "drop database if exists $db" >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
psql "$DR_TEST_PG_DSN" -c "create database $db"
"$PGB/pgbench" -q -i -s "$scale" "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1

forms=${FORMS:-pg-pages pg-pages-64k ${V1:+pg-pages-v1} ${CDC:+pg-cdc pg-cdc-64k} dump-Fp dump-Fc-Z0 basebackup-gzip}
bin() { case $1 in pg-cdc*) echo "$CDC" ;; pg-pages-v1) echo "$V1" ;; *) echo "$DRREPO" ;; esac; }
for f in $forms; do
    case $f in
    basebackup-gzip) mkdir -p "$W/$f" ;;
    *-64k) "$(bin "$f")" -r "$W/$f" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 \
        --chunk-min 16K --chunk-avg 64K --chunk-max 256K >/dev/null 2>&1 ;;
    *) "$(bin "$f")" -r "$W/$f" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 >/dev/null 2>&1 ;;
    esac
done
size() { du -sb "$1" | cut -f1; }

# The day's data directory from a tar-format base backup, laid out as drrepo stores it:
# tablespace <oid>.tar under pg_tblspc/<oid>/ (a plain-format copy would write tablespaces to
# their original locations, on the server's own paths).
datadir() {
    local tars=$1 out=$2 t oid
    mkdir -p "$out"
    tar -C "$out" -xf "$tars/base.tar"
    for t in "$tars"/*.tar; do
        oid=$(basename "$t" .tar)
        [ "$oid" = base ] && continue
        rm -f "$out/pg_tblspc/$oid" && mkdir -p "$out/pg_tblspc/$oid" && tar -C "$out/pg_tblspc/$oid" -xf "$t"
    done
}

declare -A prev
pages_log="$W/pages.tsv"
printf 'day\tform\trepo_bytes\tadded_bytes\tx_changed\n'
for day in $(seq 1 "$days"); do
    if [ "$day" -gt 1 ]; then
        "$PGB/pgbench" -n -t "$tx" -c 2 "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1
    fi
    # what changed since yesterday, page by page, from a base backup of the same moment as
    # the snapshots (taken first; the snapshots follow at once)
    rm -rf "$W/tar"
    "$PGB/pg_basebackup" -d "$DR_TEST_PG_DSN" -D "$W/tar" -Ft -X fetch -c fast 2>/dev/null
    datadir "$W/tar" "$W/data.$day"
    changed_zstd=
    if [ "$day" -gt 1 ]; then
        "$PY" "$here/pg-pages.py" "$W/data.$((day - 1))" "$W/data.$day" 8192 16384 32768 65536 131072 262144 >"$W/pages"
        changed_zstd=$(sed -n 's/^changed_zstd=//p' "$W/pages")
        wal_zstd=$(cat "$W/data.$day"/pg_wal/0* 2>/dev/null | zstd -3 -q -c | wc -c)
        printf '%s\t%s\twal_zstd=%s\n' "$day" "$(tr '\n' ' ' <"$W/pages")" "$wal_zstd" >>"$pages_log"
        rm -rf "$W/data.$((day - 1))"
    fi
    for f in $forms; do
        case $f in
        pg-*) "$(bin "$f")" -r "$W/$f" snapshot --pg "$DR_TEST_PG_DSN" >/dev/null 2>&1 ;;
        dump-Fp) "$DRREPO" -r "$W/$f" snapshot --from-command --stdin-name db.sql -- \
            "$PGB/pg_dump" -Fp -d "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1 ;;
        dump-Fc-Z0) "$DRREPO" -r "$W/$f" snapshot --from-command --stdin-name db.dump -- \
            "$PGB/pg_dump" -Fc -Z0 -d "$DR_TEST_PG_DSN dbname=$db" >/dev/null 2>&1 ;;
        basebackup-gzip) cat "$W/tar"/*.tar | gzip -c >"$W/$f/day$day.tar.gz" ;;
        esac
        now=$(size "$W/$f")
        added=$((now - ${prev[$f]:-0}))
        x=-
        [ -n "$changed_zstd" ] && [ "$changed_zstd" -gt 0 ] && x=$(awk -v a="$added" -v c="$changed_zstd" 'BEGIN { printf "%.2f", a / c }')
        printf '%s\t%s\t%s\t%s\t%s\n' "$day" "$f" "$now" "$added" "$x"
        prev[$f]=$now
    done
done
printf '\n# pages changed per day (bench/pg-pages.py; wal_zstd: the WAL in the day'"'"'s backup)\n'
cat "$pages_log"
