#!/usr/bin/env bash
# bench/pg-restore.sh: `drrepo restore` of a PostgreSQL base backup against `cp -a` of the data
# directory it restores (issue 15: at most 2x), warm cache, every copy followed by `sync -f` as
# in bench/pg-pitr.sh part 2, runs interleaved (each DRREPO, then cp -a) so that the load of a
# shared machine falls on all of them alike. Prints every run (wall, and the CPU seconds of the
# restore or cp without the sync) and the medians; pgBackRest is not needed.
#
#   DR_TEST_PG_BIN=/usr/lib/postgresql/15/bin bench/pg-restore.sh [-s SCALE] [-n REPS] [-w DIR] \
#       DRREPO [DRREPO...]
#
#   -s SCALE   pgbench -i -s SCALE (~16 MiB per unit; 64 is a ~1 GB base backup)   default 64
#   -n REPS    rounds                                                               default 5
#   -w DIR     scratch: cluster, repository, restores         default a new ${TMPDIR:-/tmp}/pg-restore.*
#
# A private cluster (Unix socket in the scratch directory, port 25705, stopped by pid) is filled
# by pgbench, backed up once by the first DRREPO (`snapshot --pg`, repository at init's default
# KDF limits, or KDF's init options) and stopped. Every binary restores that snapshot. Run it as
# root (it re-runs itself as the postgres user) or as a user initdb accepts.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then
    W=$(mktemp -d "${TMPDIR:-/tmp}/pg-restore.XXXXXX")
    chown postgres: "$W"
    exec runuser -u postgres -- env PG_RESTORE_DIR="$W" DR_TEST_PG_BIN="${DR_TEST_PG_BIN:-}" \
        KDF="${KDF:-}" KEEP="${KEEP:-}" "$0" "$@"
fi
SCALE=64
REPS=5
AB_DIR=${PG_RESTORE_DIR:-}
. "$(dirname "$0")/ab-lib.sh"
ab_opts pg-restore.sh 19 "$@"
set -- "${AB_BINS[@]}"
W=$AB_DIR
PGB=${DR_TEST_PG_BIN:?set DR_TEST_PG_BIN (the PostgreSQL bin directory)}
W=${W:-$(mktemp -d "${TMPDIR:-/tmp}/pg-restore.XXXXXX")}
mkdir -p "$W/sock" "$W/cache"
sock=$W/sock port=25705
DSN="host=$sock port=$port dbname=postgres"
PWF=$W/password
echo bench >"$PWF" && chmod 600 "$PWF"
export DRREPO_CACHE_DIR=$W/cache

cleanup() {
    if [ -f "$W/src/postmaster.pid" ]; then
        kill -INT "$(head -n 1 "$W/src/postmaster.pid")" 2>/dev/null || true
    fi
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

echo "# $(uname -srm), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $("$PGB/postgres" --version)"
"$PGB/initdb" -D "$W/src" -A trust -U postgres >/dev/null
"$PGB/pg_ctl" -D "$W/src" -l "$W/src.log" -w -t 600 \
    -o "-c listen_addresses= -k $sock -p $port -c max_wal_size=4GB" start >/dev/null
"$PGB/pgbench" -q -i -s "$SCALE" "$DSN" >/dev/null 2>&1
# shellcheck disable=SC2086 # KDF holds several options
"$1" -r "$W/repo" --password-file "$PWF" init ${KDF:-} >/dev/null
"$1" -r "$W/repo" --password-file "$PWF" snapshot --pg "$DSN" >/dev/null
"$PGB/pg_ctl" -D "$W/src" -w -t 600 stop >/dev/null
echo "# base backup of pgbench -i -s $SCALE: repository $(du -sb "$W/repo" | cut -f1) bytes"

# warm: the repository and the cache are read once before the first timed run
"$1" -r "$W/repo" --password-file "$PWF" restore latest --target "$W/r" >/dev/null
rm -rf "$W/r"

now() { date +%s.%N; }
# timed NAME COMMAND...: COMMAND under /usr/bin/time, then sync -f of the last argument;
# sets wall and cpu
timed() {
    local t0
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$W/time" "$@" >/dev/null
    sync -f "${@: -1}"
    wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
    cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$W/time")
}
# The binaries take turns at going first: a restore right after the previous round's trees
# were removed pays more for creating its files on some file systems (ext4 without a journal
# skips recently freed inodes, scanning past them at every create).
bins=("$@")
nb=${#bins[@]}
declare -A walls cpus ratios last
for rep in $(seq 1 "$REPS"); do
    line=""
    for k in $(seq 0 $((nb - 1))); do
        i=$(((rep - 1 + k) % nb + 1))
        rm -rf "$W/r"
        timed "${bins[$((i - 1))]}" -r "$W/repo" --password-file "$PWF" restore latest --target "$W/r"
        walls[$i]+="$wall " cpus[$i]+="$cpu " last[$i]=$wall
        line+="drrepo#$i $wall s (cpu $cpu), "
    done
    timed cp -a "$W/r" "$W/c"
    walls[cp]+="$wall " cpus[cp]+="$cpu "
    for i in $(seq 1 "$nb"); do
        ratios[$i]+="$(awk -v a="${last[$i]}" -v b="$wall" 'BEGIN { printf "%.2f", a / b }') "
    done
    printf 'run %d: %scp -a %s s (cpu %s); %s bytes; load %s\n' "$rep" "$line" "$wall" "$cpu" \
        "$(du -sb "$W/r" | cut -f1)" "$(cut -d' ' -f1 /proc/loadavg)"
    rm -rf "$W/r" "$W/c"
done
i=0
for bin in "$@"; do
    i=$((i + 1))
    echo "drrepo#$i $bin: median wall $(echo "${walls[$i]}" | median) s, cpu $(echo "${cpus[$i]}" | median) s; median of the runs' ratios to cp -a $(echo "${ratios[$i]}" | median)"
done
echo "cp -a: median wall $(echo "${walls[cp]}" | median) s, cpu $(echo "${cpus[cp]}" | median) s"
