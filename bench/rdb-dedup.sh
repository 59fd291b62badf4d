#!/usr/bin/env bash
# rdb-dedup.sh: day-to-day repository growth for Redis RDB files (issue #7), drrepo (default:
# key records; and --no-rdb-records: plain chunks) beside restic, borg and the scripts' baseline
# (a gzip'd copy every day) on the same files.
#
#   bench/rdb-dedup.sh [-d DRREPO] [-k KEYS] [-n DAYS] [-t "TOOLS"] [-w WORKDIR]
#
# Starts a private redis-server on a Unix socket in WORKDIR, populates KEYS keys with
# bench/rdb-gen.py (every type, ~200-byte records), saves day 0, then for each day applies 3.5%
# updates + 0.5% new keys + 0.5% deletions spread over the key space, saves, and backs every
# day's dump.rdb up with each tool into its own repository. Prints one line per tool and day:
# RDB size, repository growth (bytes and % of the RDB) and wall time. The server is stopped on
# exit. Defaults: 600000 keys (~107 MB RDB), 3 days.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
DR=${DRREPO_BIN:-$here/../build-release/drrepo}
KEYS=600000
DAYS=3
W=$(mktemp -d /tmp/rdb-dedup.XXXXXX)
TOOLS="drrepo drrepo-plain restic borg gzip"
while getopts d:k:n:t:w: o; do
    case $o in
    d) DR=$OPTARG ;;
    k) KEYS=$OPTARG ;;
    n) DAYS=$OPTARG ;;
    t) TOOLS=$OPTARG ;;
    w) W=$OPTARG ;;
    *) exit 2 ;;
    esac
done
mkdir -p "$W"
SOCK=$W/redis.sock
PID=
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; return 0; }
trap stop EXIT
redis-server --port 0 --unixsocket "$SOCK" --dir "$W" --dbfilename dump.rdb --save "" \
    --appendonly no --daemonize yes --pidfile "$W/redis.pid" --logfile "$W/redis.log"
for _ in $(seq 1 100); do redis-cli -s "$SOCK" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
PID=$(cat "$W/redis.pid")
R="redis-cli -s $SOCK"

python3 "$here/rdb-gen.py" populate "$KEYS" | $R --pipe >/dev/null
$R save >/dev/null
cp "$W/dump.rdb" "$W/day0.rdb"
for d in $(seq 1 "$DAYS"); do
    python3 "$here/rdb-gen.py" day "$d" "$KEYS" | $R --pipe >/dev/null
    $R save >/dev/null
    cp "$W/dump.rdb" "$W/day$d.rdb"
done
echo "# zstd -3 of day0.rdb: $(zstd -3 -c "$W/day0.rdb" | wc -c) bytes of $(stat -c %s "$W/day0.rdb")"

export DRREPO_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export DRREPO_CACHE_DIR=$W/drcache RESTIC_CACHE_DIR=$W/restic-cache BORG_BASE_DIR=$W/borg-base
run_tool() { # TOOL
    local t=$1 repo=$W/repo-$1 prev=0
    rm -rf "$repo"
    case $t in
    drrepo | drrepo-plain) "$DR" -r "$repo" init >/dev/null ;;
    restic) restic -r "$repo" init -q >/dev/null ;;
    borg) borg init -e repokey-blake2 "$repo" ;;
    gzip) mkdir -p "$repo" ;;
    esac
    for d in $(seq 0 "$DAYS"); do
        mkdir -p "$W/src"
        cp "$W/day$d.rdb" "$W/src/dump.rdb"
        local t0 t1
        t0=$(date +%s.%N)
        case $t in
        # the default: stored by key records, relative to the previous day (format/rdb.md)
        drrepo) "$DR" -r "$repo" snapshot --stdin --stdin-name dump.rdb < "$W/src/dump.rdb" >/dev/null ;;
        # content-defined chunks only, as restic and borg store it
        drrepo-plain) "$DR" -r "$repo" snapshot --no-rdb-records --stdin --stdin-name dump.rdb \
            < "$W/src/dump.rdb" >/dev/null ;;
        restic) restic -r "$repo" backup -q --stdin --stdin-filename dump.rdb < "$W/src/dump.rdb" >/dev/null ;;
        borg) borg create --compression zstd,3 "$repo::day$d" - < "$W/src/dump.rdb" ;;
        # the seed scripts' way: `redis-cli --rdb` + gzip, a full compressed copy every day
        gzip) gzip -c "$W/src/dump.rdb" > "$repo/day$d.rdb.gz" ;;
        esac
        t1=$(date +%s.%N)
        local size inc rdb
        size=$(du -sb "$repo" | cut -f1)
        inc=$((size - prev))
        prev=$size
        rdb=$(stat -c %s "$W/day$d.rdb")
        printf '%-15s day %d  rdb %10d  growth %10d  %6.2f%%  %6.2f s  %6.1f MB/s\n' "$t" "$d" \
            "$rdb" "$inc" "$(echo "100*$inc/$rdb" | bc -l)" "$(echo "$t1-$t0" | bc -l)" \
            "$(echo "$rdb/1000000/($t1-$t0)" | bc -l)"
    done
    case $t in
    drrepo | drrepo-plain)
        "$DR" -r "$repo" dump latest dump.rdb | cmp - "$W/day$DAYS.rdb" && echo "# $t: last day restores byte-identical"
        ;;
    esac
}
for t in $TOOLS; do
    run_tool $t
done
rm -rf "$W"/repo-* "$W"/src
