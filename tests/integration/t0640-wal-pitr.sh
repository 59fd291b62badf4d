#!/usr/bin/env bash
# t0640-wal-pitr.sh: continuous archiving and point-in-time recovery against a real PostgreSQL
# (docs/SOURCES.md "Continuous archiving"). A private cluster of the test servers' binaries
# (on a Unix socket only, so that archive settings never touch the shared server) archives with
# archive_command = 'drrepo wal push %p' (one process per segment, as issue 15 asks), switched
# after the first batch to 'drrepo wal push --spool DIR %p' (asynchronous) by a reload, so that
# both modes archive for a real server; after a base backup, batches of rows are committed at
# recorded times T1 < T2 < T3, each followed by pg_switch_wal(). A restore to a time between T2
# and T3 has exactly the rows up to T2, a restore to the latest point has all of them, a drill to
# T2 passes and is recorded, and a segment removed from the archive makes check report the gap
# and the drill fail. The server runs every archive and restore command as the postgres user,
# so the repository belongs to postgres and the test runs drrepo as postgres too.
. "${DR_SRC:?}/tests/e2e/lib.sh" || exit 1

. "$DR_SRC/tests/integration/pg_lib.sh"

PWF="$T/password"
echo "$DRREPO_PASSWORD" >"$PWF"
unset DRREPO_PASSWORD # every command, the server's included, reads the password file
W="$T/pg" # the postgres user's: clusters, restores, logs
mkdir -p "$T/pgcache" "$T/sock" "$REPO" "$W" && chown postgres: "$PWF" "$T/pgcache" "$T/sock" "$REPO" "$W" && chmod 600 "$PWF"
pgdr() {
    runuser -u postgres -- env DRREPO_CACHE_DIR="$T/pgcache" "$DRREPO" -r "$REPO" \
        --password-file "$PWF" "$@"
}
sock="$T/sock"
port=25631
SRCDSN="host=$sock port=$port user=postgres dbname=postgres"
q() { "$PGB/psql" -X -q -At -v ON_ERROR_STOP=1 "$1" -c "$2"; }

started=()
stop_cluster() { # DATADIR
    local pid
    [ -f "$1/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$1/postmaster.pid")
    kill -INT "$pid" 2>/dev/null
    for _ in $(seq 1 300); do dr_running "$pid" || break; sleep 0.1; done
}
cleanup_all() {
    local d
    for d in "${started[@]}"; do stop_cluster "$d"; done
    dr_cleanup
}
trap cleanup_all EXIT

# start_cluster DATADIR PORT [OPTIONS]: as postgres, on the private socket
start_cluster() {
    local dir=$1 p=$2
    shift 2
    started+=("$dir")
    runuser -u postgres -- "$PGB/pg_ctl" -D "$dir" -l "$dir.log" -w -t 300 \
        -o "-c listen_addresses= -k $sock -p $p $*" start >/dev/null 2>&1
}

pgdr init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 >"$T/out" 2>"$T/err" || {
    dr_fail "init (as postgres)"
    dr_done
}
runuser -u postgres -- "$PGB/initdb" -D "$W/src" -A trust -U postgres >/dev/null 2>&1 ||
    { dr_fail "initdb"; dr_done; }
cat >>"$W/src/postgresql.conf" <<EOF
archive_mode = on
archive_command = 'DRREPO_CACHE_DIR=$T/pgcache $DRREPO -r $REPO --password-file $PWF wal push %p'
EOF
start_cluster "$W/src" $port || { dr_fail "source cluster starts: $(tail -n 5 "$W/src.log")"; dr_done; }
dr_ok "source cluster archives with drrepo wal push"

q "$SRCDSN" "create table t (id serial primary key, batch int, at timestamptz default clock_timestamp())"
dr_expect_success "base backup (snapshot --pg)" pgdr snapshot --pg "$SRCDSN"

# batch N: 100 rows, then the time after their commit, then a segment switch
batch() {
    q "$SRCDSN" "insert into t (batch) select $1 from generate_series(1, 100)"
    q "$SRCDSN" "select clock_timestamp()"
    q "$SRCDSN" "select pg_switch_wal()" >/dev/null
}
T1=$(batch 1)
q "$SRCDSN" "select pg_switch_wal()" >/dev/null # a segment for the plain push before the switch
sync1=$(q "$SRCDSN" "select pg_walfile_name(pg_current_wal_lsn() - 1)")
for _ in $(seq 1 300); do
    [ "$(q "$SRCDSN" "select coalesce(last_archived_wal, '') >= '$sync1' from pg_stat_archiver")" = t ] && break
    sleep 0.1
done
dr_check "one process per segment archived through $sync1" \
    [ "$(q "$SRCDSN" "select coalesce(last_archived_wal, '') >= '$sync1' and failed_count = 0 from pg_stat_archiver")" = t ]
q "$SRCDSN" "alter system set archive_command = 'DRREPO_CACHE_DIR=$T/pgcache $DRREPO -r $REPO --password-file $PWF wal push --spool $W/spool %p'"
q "$SRCDSN" "select pg_reload_conf()" >/dev/null
sleep 1.2
T2=$(batch 2)
sleep 1.2
TMID=$(q "$SRCDSN" "select clock_timestamp()")
sleep 1.2
T3=$(batch 3)
echo "# T1=$T1 T2=$T2 between=$TMID T3=$T3"
last=$(q "$SRCDSN" "select pg_walfile_name(pg_current_wal_lsn() - 1)")
for _ in $(seq 1 300); do
    [ "$(q "$SRCDSN" "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] && break
    sleep 0.1
done
dr_check "the server archived through $last" [ "$(q "$SRCDSN" "select failed_count from pg_stat_archiver")" = 0 ]
dr_expect_success "wal list" pgdr wal list
dr_check "wal list shows the archive" grep -q "timeline 1: " "$T/out"
dr_check "wal list shows the recoverable window to the last segment ($last)" \
    grep -q "recoverable from .* to the end of $last" "$T/out"
dr_expect_success "wal list --json" pgdr wal list --json
dr_check "the JSON window names the last segment" grep -q "\"to_segment\":\"$last\"" "$T/out"

# recover_to NAME OPTIONS...: restore into $T/NAME, start it, wait for the end of recovery,
# print the batches it has
recover_to() {
    local name=$1 p=$2
    shift 2
    if ! pgdr restore --target "$W/$name" "$@" >"$T/out" 2>"$T/err"; then
        dr_fail "restore $name: $(tail -n 2 "$T/err")"
        return 1
    fi
        # archiving off: a recovered cluster would push its new timeline into the archive, and the
    # next recovery to "latest" would follow that timeline (PostgreSQL's default)
    start_cluster "$W/$name" "$p" -c archive_mode=off || { dr_fail "$name starts: $(tail -n 5 "$W/$name.log")"; return 1; }
    local dsn="host=$sock port=$p user=postgres dbname=postgres"
    for _ in $(seq 1 600); do
        [ "$(q "$dsn" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
        sleep 0.1
    done
    q "$dsn" "select batch || ':' || count(*) from t group by batch order by batch" | tr '\n' ' '
    stop_cluster "$W/$name"
}

got=$(recover_to between 25632 --pg-time "$TMID")
dr_check "restore --pg-time between T2 and T3 has exactly batches 1 and 2 ($got)" \
    [ "$got" = "1:100 2:100 " ]
dr_check "recovery settings written" grep -q "recovery_target_time = '$TMID'" "$W/between/postgresql.auto.conf"
dr_check "the restore_command prefetches through a spool in pg_wal" \
    grep -q "wal get --system-id [0-9]* --spool pg_wal/drrepo-spool %f %p" "$W/between/postgresql.auto.conf"
dr_check "recovery_end_command removes the spool after its worker" \
    grep -q "recovery_end_command = 'test ! -d pg_wal/drrepo-spool/[0-9]*/get || flock" \
    "$W/between/postgresql.auto.conf"
dr_check "the spool is gone once recovery ended (segments fetched past the target with it)" \
    test ! -e "$W/between/pg_wal/drrepo-spool"
dr_check "the archiver's pushes went through the spool's worker" \
    test -f "$(echo "$W"/spool/*/push/lock)"
got=$(recover_to latest 25633 --pg-latest)
dr_check "restore --pg-latest has all batches ($got)" [ "$got" = "1:100 2:100 3:100 " ]

dr_expect_success "check passes with the whole archive" pgdr check

# drills: recover in a scratch server, as root (the drill fetches the WAL itself)
drrepo() { "$DRREPO" -r "$REPO" --password-file "$PWF" "$@"; }
echo "select count(*) = 200 from t" >"$T/t2.sql"
dr_expect_success "drill --pg --pg-time T2 passes" drrepo drill --pg --pg-time "$T2" --check-sql "$T/t2.sql"
dr_check "the drill recovered from archived WAL" grep -q "archived WAL files fetched" "$T/out"
dr_expect_success "drill --pg --pg-latest passes" drrepo drill --pg --pg-latest

# no space for the WAL: a tmpfs with room for the restored base backup but not for the first
# 16 MiB segment the drill fetches: the drill cannot run on this host (exit 1, one line, no hint
# about the repository's disk, nothing recorded); skipped when the mount is refused
drills() { drrepo snapshots --json | jq '[.[].drills | length] | add'; }
MNT="$T/mnt"
mkdir -p "$MNT"
drrepo restore --pg-latest --target "$T/sized" >/dev/null 2>&1
kb=$(du -s --block-size=1K "$T/sized" | cut -f1)
rm -rf "$T/sized"
if mount -t tmpfs -o size=$((kb + 4096))k,mode=0755 tmpfs "$MNT" 2>"$T/mount.err"; then
    trap 'umount "$MNT" 2>/dev/null || umount -l "$MNT"; cleanup_all' EXIT
    before=$(drills)
    dr_must_fail 1 "no space for the WAL: drill exits 1" drrepo drill --pg --pg-latest --tmpdir "$MNT"
    dr_check "it says so" grep -q "^drrepo: error: the drill could not run: no space left to fetch the archived WAL .*--tmpdir" "$T/err"
    dr_check "in one line (WAL)" test "$(wc -l <"$T/err")" = 1
    dr_check "nothing recorded (no space for the WAL)" test "$(drills)" = "$before"
    dr_check "nothing left in the temporary directory (WAL)" test -z "$(ls -A "$MNT")"
    umount "$MNT"
    trap cleanup_all EXIT
else
    echo "# skip: no tmpfs for the no-space drill: $(cat "$T/mount.err")"
fi
dr_expect_success "snapshots --json" drrepo snapshots --json
echo "select count(*) = 300 from t" >"$T/t3.sql"
dr_must_fail 4 "drill --pg-latest with a --check-sql of the wrong count fails" \
    drrepo drill --pg --pg-latest --check-sql "$T/t2.sql"

# a segment lost from the archive between the base backup and T2
end=$(drrepo snapshots --json | sed -n 's/.*"pg.end_lsn":"\([^"]*\)".*/\1/p' | head -n 1)
seg=$(q "$SRCDSN" "select pg_walfile_name('$end'::pg_lsn + 16*1024*1024)")
obj=$(find "$REPO/wal" -name "$seg")
dr_check "the segment after the backup's end ($seg) is archived" test -n "$obj"
rm -f "$obj"
dr_must_fail 4 "check reports the gap" drrepo check
dr_check "check names the missing segment" grep -q "gap: $seg to $seg" "$T/out" "$T/err"
dr_must_fail 4 "drill --pg-time T2 fails with the segment gone" drrepo drill --pg --pg-time "$T2"
dr_must_fail 4 "drill --pg-latest fails with the segment gone" drrepo drill --pg --pg-latest
dr_check "the drill names the missing segment" grep -q "$seg" "$T/out" "$T/err"
dr_check "no drill server left running" sh -c "! pgrep -f 'drrepo-dril[l]' >/dev/null"

# retention: a second base backup; forget --keep-wal-within keeps the first while the window
# needs it; without it, forget --prune removes the first and the WAL before the second
b1_end=$(drrepo snapshots --json | sed -n 's/.*"pg.end_time":"\([^"]*\)".*/\1/p' | head -n 1)
sleep 1
dr_expect_success "second base backup" pgdr snapshot --pg "$SRCDSN"
q "$SRCDSN" "select pg_switch_wal()" >/dev/null
window=$(( $(date +%s) - $(date -d "$b1_end" +%s) - 1 ))
dr_expect_success "forget --keep-last 1 --keep-wal-within ${window}s --dry-run" \
    drrepo forget --keep-last 1 --keep-wal-within "${window}s" --dry-run
dr_check "the first backup is kept for the window" grep -q "wal-window" "$T/out"
dr_expect_success "forget --keep-last 1 --prune (waiting for a running wal push)" drrepo forget --keep-last 1 --prune --retry-lock 2m
dr_check "prune removed the WAL before the second backup" grep -q "removed [0-9]* archived WAL files" "$T/out"
dr_check "the lost segment is among it" test -z "$(find "$REPO/wal" -name 000000010000000000000002)"
dr_expect_success "check passes: the gap is before every base backup" drrepo check
dr_must_fail 1 "restore --pg-time T2 has no base backup before it now" \
    drrepo restore --target "$T/none" --pg-time "$T2"
dr_check "the message says so" grep -q "no PostgreSQL base backup" "$T/err"

dr_done
