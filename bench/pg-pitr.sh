#!/usr/bin/env bash
# pg-pitr.sh: PostgreSQL continuous archiving (issue 15) against `cp` and pgBackRest, on a
# private cluster this script starts (Unix socket only, port 25701-25704, stopped by pid at the
# end) and fills with `pgbench -i -s SCALE` (~16 MiB per scale unit; 64 is ~1 GB):
#
#   1. archive_command throughput: N real 16 MiB WAL segments (written by that pgbench -i),
#      pushed in sequence, one process per segment as PostgreSQL runs them, by
#      `drrepo wal push` (repository at init's default Argon2id limits, and at the lowest ones),
#      by `cp %p DIR/%f && sync DIR/%f` and by `pgbackrest archive-push` (compress-type=zst);
#      then asynchronously with a backlog marked ready, `drrepo wal push --spool` against
#      `pgbackrest archive-push --archive-async`;
#   2. restore: `drrepo restore` of the base backup against `cp -a` of the same data directory
#      (warm cache), then a point-in-time restore to a time between two pgbench runs until the
#      server has promoted, drrepo (`restore --pg-time`) against pgBackRest
#      (`restore --type=time --target-action=promote`), both from their own base backup and
#      archive of the same WAL; then `drrepo drill --pg --pg-time` to the same time, and the
#      RTO its record holds;
#   3. repository growth: DAYS days of pgbench transactions (TX_PER_DAY in all, 2 clients) with
#      a base backup each day, drrepo `snapshot --pg` + `wal push` against pgBackRest full then
#      incremental backups + archive-push (compress-type=zst), repository bytes after each day.
#
#   DR_TEST_PG_BIN=/usr/lib/postgresql/15/bin bench/pg-pitr.sh [SCALE] [N] [DAYS] [TX_PER_DAY]
#
# Defaults: SCALE 64, N 64, DAYS 4, TX_PER_DAY 1100 (about 1% of pgbench_accounts' pages at
# scale 64). DRREPO_BIN is the drrepo measured (build-rel/drrepo); PARTS selects parts
# (default "push restore growth"); KDF holds init options for the repositories of parts 2
# and 3 (default: none, init's default Argon2id limits; the recovering server runs one
# `wal get` process per WAL file, and restore's restore_command prefetches through a spool, so
# that one worker derives the key for many). Run it as root (it re-runs itself as
# the postgres user, who owns the cluster, the repositories and every archive command) or as a
# user initdb accepts.
# Prints TSV: part, what, seconds (or bytes), and a derived figure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
    W=$(mktemp -d "${TMPDIR:-/tmp}/pg-pitr.XXXXXX")
    chown postgres: "$W"
    exec runuser -u postgres -- env PG_PITR_DIR="$W" DR_TEST_PG_BIN="${DR_TEST_PG_BIN:-}" \
        DRREPO_BIN="${DRREPO_BIN:-$here/../build-rel/drrepo}" PARTS="${PARTS:-}" KDF="${KDF:-}" "$0" "$@"
fi
scale=${1:-64}
nseg=${2:-64}
days=${3:-4}
tx=${4:-1100}
PGB=${DR_TEST_PG_BIN:?set DR_TEST_PG_BIN (the PostgreSQL bin directory)}
DRREPO=${DRREPO_BIN:-$here/../build-rel/drrepo}
parts=${PARTS:-push restore growth}
kdf=${KDF:-}
W=${PG_PITR_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pg-pitr.XXXXXX")}
command -v pgbackrest >/dev/null || { echo "pgbackrest is not installed" >&2; exit 1; }
sock="$W/sock"
port=25701
DSN="host=$sock port=$port dbname=postgres"
PWF="$W/password"
mkdir -p "$sock" "$W/segs" "$W/cache"
echo bench >"$PWF" && chmod 600 "$PWF"
export DRREPO_CACHE_DIR="$W/cache"
dr() { "$DRREPO" --password-file "$PWF" "$@"; }
q() { "$PGB/psql" -X -q -At -v ON_ERROR_STOP=1 "${2:-$DSN}" -c "$1"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
size() { du -sb "$1" | cut -f1; }

started=()
stop_cluster() { # DATADIR: by the pid in its postmaster.pid, and wait for it to go
    local pid
    [ -f "$1/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$1/postmaster.pid")
    kill -INT "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}
cleanup() {
    local d
    for d in "${started[@]}"; do stop_cluster "$d"; done
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
start_cluster() { # DATADIR PORT [OPTIONS]
    local dir=$1 p=$2
    shift 2
    started+=("$dir")
    "$PGB/pg_ctl" -D "$dir" -l "$dir.log" -w -t 600 \
        -o "-c listen_addresses= -k $sock -p $p $*" start >/dev/null
}
# wait_promoted PORT: until the server answers and is out of recovery
wait_promoted() {
    for _ in $(seq 1 60000); do
        [ "$(q "select pg_is_in_recovery()" "host=$sock port=$1 dbname=postgres" 2>/dev/null)" = f ] && return 0
        sleep 0.05
    done
    return 1
}
# wait_archived: every segment up to the current one has gone through archive_command
wait_archived() {
    local last
    last=$(q "select pg_walfile_name(pg_current_wal_lsn() - 1)")
    q "select pg_switch_wal()" >/dev/null
    for _ in $(seq 1 6000); do
        [ "$(q "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] && return 0
        sleep 0.1
    done
    echo "archiving is stuck: $(q "select * from pg_stat_archiver")" >&2
    return 1
}

# pgBackRest: one configuration; each part has a repository of its own (--repo1-path)
cat >"$W/pgbackrest.conf" <<EOF
[global]
repo1-path=$W/pgbr
repo1-retention-full=99
compress-type=zst
start-fast=y
log-level-console=error
log-level-file=off
lock-path=$W/pgbr-lock
spool-path=$W/pgbr-spool

[main]
pg1-path=$W/src
pg1-socket-path=$sock
pg1-port=$port
EOF
pgbr() { pgbackrest --config="$W/pgbackrest.conf" --stanza=main "$@"; }

echo "# $(uname -srm), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $("$PGB/postgres" --version); $(pgbackrest version); drrepo $("$DRREPO" --version 2>/dev/null | head -n 1)"
"$PGB/initdb" -D "$W/src" -A trust -U postgres >/dev/null
cat >>"$W/src/postgresql.conf" <<EOF
archive_mode = on
archive_command = 'cp %p $W/segs/%f'
max_wal_size = 4GB
checkpoint_timeout = 30min
EOF
start_cluster "$W/src" $port
t=$(now)
"$PGB/pgbench" -q -i -s "$scale" "$DSN" >/dev/null 2>&1
wait_archived
printf 'setup\tpgbench -i -s %s\t%s\t%s segments, data directory %s bytes\n' "$scale" "$(since "$t")" \
    "$(ls "$W/segs" | wc -l)" "$(size "$W/src")"

# --- 1. archive_command throughput ---
if [[ " $parts " == *" push "* ]]; then
    mapfile -t segs < <(ls "$W/segs" | grep -E '^[0-9A-F]{24}$' | head -n "$nseg")
    n=${#segs[@]}
    # push_run NAME COMMAND...: COMMAND run once per segment, %p and %f replaced as PostgreSQL does
    push_run() {
        local name=$1 s t c
        shift
        t=$(now)
        for s in "${segs[@]}"; do
            c=${*//%p/${segdir:-$W/segs}/$s}
            c=${c//%f/$s}
            (cd "$W/src" && eval "$c") || { echo "$name: $c failed" >&2; return 1; }
        done
        local el
        el=$(since "$t")
        printf 'push\t%s\t%s\t%s segments/s (%s segments, %s MiB/s)\n' "$name" "$el" \
            "$(awk -v n="$n" -v e="$el" 'BEGIN { printf "%.1f", n / e }')" "$n" \
            "$(awk -v n="$n" -v e="$el" 'BEGIN { printf "%.0f", n * 16 / e }')"
    }
    mkdir -p "$W/cpdest"
    push_run "cp + sync" "cp %p $W/cpdest/%f && sync $W/cpdest/%f"
    dr -r "$W/push-default" init >/dev/null
    push_run "drrepo wal push (default KDF)" "$DRREPO -r $W/push-default --password-file $PWF wal push %p"
    dr -r "$W/push-low" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 >/dev/null
    push_run "drrepo wal push (--kdf-memlimit 8K --kdf-opslimit 1)" \
        "$DRREPO -r $W/push-low --password-file $PWF wal push %p"
    pgbr --repo1-path="$W/pgbr-push" stanza-create
    push_run "pgbackrest archive-push (zst)" \
        "pgbackrest --config=$W/pgbackrest.conf --repo1-path=$W/pgbr-push --stanza=main archive-push %p"
    # asynchronous: a busy server has a backlog of segments marked ready (archive_status/*.ready),
    # which the background workers push ahead of the archive_command asking for each
    ready() { mkdir -p "$W/segs/archive_status" && for s in "${segs[@]}"; do : >"$W/segs/archive_status/$s.ready"; done; }
    dr -r "$W/push-async" init >/dev/null
    ready
    push_run "drrepo wal push --spool (default KDF)" \
        "$DRREPO -r $W/push-async --password-file $PWF wal push --pg-data $W/src --spool $W/dr-spool %p"
    pgbr --repo1-path="$W/pgbr-push-async" stanza-create
    rm -rf "$W/segs/archive_status" && ready
    # pgBackRest takes only files below the cluster's directory (pg1-path)
    mv "$W/segs" "$W/src/bench-segs"
    segdir=$W/src/bench-segs push_run "pgbackrest archive-push --archive-async (zst)" \
        "pgbackrest --config=$W/pgbackrest.conf --repo1-path=$W/pgbr-push-async --stanza=main --archive-async archive-push %p"
    mv "$W/src/bench-segs" "$W/segs"
    rm -rf "$W/segs/archive_status"
    # the fixed cost of a process (start, key derivation): `wal list` opens the repository and
    # lists its WAL
    for r in push-default push-low; do
        t=$(now)
        for _ in 1 2 3 4 5; do dr -r "$W/$r" wal list >/dev/null; done
        printf 'push\topen only (wal list), %s\t%s\tper process, mean of 5\n' "$r" \
            "$(awk -v e="$(since "$t")" 'BEGIN { printf "%.3f", e / 5 }')"
    done
    printf 'push\trepository bytes\t-\tcp %s, drrepo %s, pgbackrest %s\n' "$(size "$W/cpdest")" \
        "$(size "$W/push-low/wal")" "$(size "$W/pgbr-push/archive")"
    rm -rf "$W/cpdest" "$W/push-default" "$W/push-low" "$W/push-async" "$W/dr-spool" "$W/pgbr-push" "$W/pgbr-push-async"
fi
rm -rf "$W/segs"
mkdir -p "$W/segs"

# archive to drrepo and pgBackRest from here on (repositories REPO_D, REPO_P)
archive_to() { # REPO_D REPO_P
    local cmd="$DRREPO -r $1 --password-file $PWF wal push %p && pgbackrest --config=$W/pgbackrest.conf --repo1-path=$2 --stanza=main archive-push %p"
    q "alter system set archive_command = '$cmd'"
    q "select pg_reload_conf()" >/dev/null
    pgbr --repo1-path="$2" stanza-create
}

# --- 2. restore ---
if [[ " $parts " == *" restore "* ]]; then
    RD="$W/rd" RP="$W/rp"
    dr -r "$RD" init $kdf >/dev/null
    archive_to "$RD" "$RP"
    wait_archived
    dr -r "$RD" snapshot --pg "$DSN" >/dev/null
    pgbr --repo1-path="$RP" --type=full backup
    "$PGB/pgbench" -n -T 20 -c 2 "$DSN" >/dev/null 2>&1
    sleep 1
    T=$(q "select clock_timestamp()")
    sleep 1
    "$PGB/pgbench" -n -T 20 -c 2 "$DSN" >/dev/null 2>&1
    wait_archived
    want=$(q "select count(*) from pgbench_history where mtime <= '$T'")
    printf 'restore\ttarget time\t-\t%s (%s pgbench_history rows before it)\n' "$T" "$want"

    # the base backup alone, then cp -a of what it restored (both warm: a restore first warms)
    dr -r "$RD" restore latest --target "$W/r0" >/dev/null
    rm -rf "$W/r0"
    t=$(now)
    dr -r "$RD" restore latest --target "$W/r1" >/dev/null
    sync -f "$W/r1"
    el_dr=$(since "$t")
    t=$(now)
    cp -a "$W/r1" "$W/r2"
    sync -f "$W/r2"
    el_cp=$(since "$t")
    printf 'restore\tdrrepo restore (base backup, %s bytes)\t%s\t%s x cp -a\n' "$(size "$W/r1")" "$el_dr" \
        "$(awk -v a="$el_dr" -v b="$el_cp" 'BEGIN { printf "%.2f", a / b }')"
    printf 'restore\tcp -a of the restored data directory\t%s\t-\n' "$el_cp"
    rm -rf "$W/r1" "$W/r2"

    # point in time: restore, start, replay until promoted
    t=$(now)
    dr -r "$RD" restore --target "$W/pd" --pg-time "$T" >/dev/null
    el_r=$(since "$t")
    start_cluster "$W/pd" 25702 -c archive_mode=off
    wait_promoted 25702
    el_dr=$(since "$t")
    got=$(q "select count(*) from pgbench_history" "host=$sock port=25702 dbname=postgres")
    stop_cluster "$W/pd"
    printf 'restore\tdrrepo restore --pg-time + replay until promoted\t%s\trestore %s s; %s rows (want %s); %s WAL files fetched\n' \
        "$el_dr" "$el_r" "$got" "$want" "$(grep -c 'restored log file' "$W/pd.log")"
    rm -rf "$W/pd"

    mkdir -m 700 "$W/pp"
    t=$(now)
    pgbr --repo1-path="$RP" --pg1-path="$W/pp" --type=time --target="$T" --target-action=promote restore
    el_r=$(since "$t")
    start_cluster "$W/pp" 25703 -c archive_mode=off
    wait_promoted 25703
    el_p=$(since "$t")
    got=$(q "select count(*) from pgbench_history" "host=$sock port=25703 dbname=postgres")
    stop_cluster "$W/pp"
    printf 'restore\tpgbackrest restore --type=time + replay until promoted\t%s\trestore %s s; %s rows (want %s); %s WAL files fetched; drrepo/pgbackrest %s\n' \
        "$el_p" "$el_r" "$got" "$want" "$(grep -c 'restored log file' "$W/pp.log")" "$(awk -v a="$el_dr" -v b="$el_p" 'BEGIN { printf "%.2f", a / b }')"
    rm -rf "$W/pp"

    # the same recovery as a drill (restore, start, replay until promoted, row counts), and the
    # RTO it records
    t=$(now)
    dr -r "$RD" drill --pg --pg-time "$T" --tmpdir "$W" --json >"$W/drill.json" 2>"$W/drill.err" ||
        { cat "$W/drill.err" >&2; exit 1; }
    printf 'restore	drrepo drill --pg --pg-time	%s	ok %s; rto_seconds %s (the drill record)
' \
        "$(since "$t")" "$(jq -r .ok "$W/drill.json")" "$(jq -r .rto_seconds "$W/drill.json")"
    rm -rf "$RD" "$RP"
fi

# --- 3. repository growth ---
if [[ " $parts " == *" growth "* ]]; then
    GD="$W/gd" GP="$W/gp"
    dr -r "$GD" init $kdf >/dev/null
    archive_to "$GD" "$GP"
    wait_archived
    printf 'growth\tday\tdrrepo bytes\tpgbackrest bytes (added: drrepo, pgbackrest; ratio pgbackrest/drrepo)\n'
    pd=0 pp=0
    for day in $(seq 0 "$days"); do
        if [ "$day" -gt 0 ]; then
            "$PGB/pgbench" -n -t $((tx / 2)) -c 2 "$DSN" >/dev/null 2>&1
        fi
        t=$(now)
        dr -r "$GD" snapshot --pg "$DSN" >/dev/null
        td=$(since "$t")
        t=$(now)
        pgbr --repo1-path="$GP" --type="$([ "$day" = 0 ] && echo full || echo incr)" backup
        tp=$(since "$t")
        wait_archived
        d=$(size "$GD") p=$(size "$GP")
        printf 'growth\t%s\t%s\t%s\t+%s, +%s; %s (backup s: drrepo %s, pgbackrest %s)\n' "$day" "$d" "$p" \
            $((d - pd)) $((p - pp)) "$(awk -v a=$((p - pp)) -v b=$((d - pd)) 'BEGIN { printf "%.2f", a / b }')" "$td" "$tp"
        pd=$d pp=$p
    done
    printf 'growth\tWAL archived\t%s\t%s\n' "$(size "$GD/wal")" "$(size "$GP/archive")"
fi
