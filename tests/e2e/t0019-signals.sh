#!/usr/bin/env bash
# Signals (docs/exit-codes.md): SIGINT, SIGTERM and SIGHUP stop snapshot, check --read-data,
# prune, restore and dump at their next safe point with one line "drrepo: interrupted (SIG...)"
# and exit 130, 143 or 129; no lock and no temporary file is left, an interrupted snapshot records
# nothing, `check` passes afterwards and the next run completes. A second signal ends the process
# at once (its dead-process lock is removed by the next command). The deterministic stops pause
# at a fault point (DR_FAULT=...:pause, a build with DR_FAULTS) while the signal arrives; the
# stream stops use a source command that stays silent, which the read must not wait out.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
mkdir -p "$src/a" "$src/b"
for i in 1 2 3 4; do "$TOOL" gen "$src/a/f$i.bin" 400K "$i" bin; done
for i in 5 6 7 8; do "$TOOL" gen "$src/b/f$i.bin" 400K "$i" bin; done
big="$T/big.bin"
"$TOOL" gen "$big" 8M 42 bin

dr_init
dr_expect_success "first snapshot" drrepo snapshot "$src"

snaps() { find "$REPO/snapshots" -type f ! -name '.drrepo-tmp-*' | wc -l; }
no_leftovers() { # NAME: no lock and no temporary file in the repository
    dr_check "$1: no lock left" test -z "$(ls -A "$REPO/locks")"
    dr_check "$1: no temporary file left" test -z "$(find "$REPO" -name '.drrepo-tmp-*')"
}

# wait_paused PREFIX: until the run reached its fault point
wait_paused() {
    for _ in $(seq 1 1500); do [ -e "$1.paused" ] && return 0; sleep 0.02; done
    return 1
}

# a stream source that goes silent: SIGINT stops the read within a moment, nothing is recorded
nsnap=$(snaps)
"$DRREPO" -r "$REPO" snapshot --from-command --stdin-name x -- sh -c "cat '$big'; exec sleep 30" \
    >"$T/out" 2>"$T/err" &
pid=$!
sleep 1.5
start=$(date +%s)
kill -INT "$pid"
wait "$pid"
dr_check "snapshot, SIGINT: exit 130" test $? -eq 130
dr_check "snapshot, SIGINT: stopped within seconds" test $(($(date +%s) - start)) -le 5
dr_check "snapshot, SIGINT: one line says interrupted (SIGINT)" \
    grep -q '^drrepo: interrupted (SIGINT): snapshot: ' "$T/err"
dr_check "snapshot, SIGINT: no snapshot recorded" test "$(snaps)" -eq "$nsnap"
no_leftovers "snapshot, SIGINT"

dr_expect_success "check after the interrupted snapshot" drrepo check
dr_expect_success "the next snapshot completes" drrepo snapshot "$src"
dr_expect_success "a stream snapshot completes" \
    drrepo snapshot --from-command --stdin-name x -- cat "$big"

# dump into a pipe that nobody reads yet: SIGTERM ends the stream at the next write
{
    "$DRREPO" -r "$REPO" dump latest x 2>"$T/err" &
    echo $! >"$T/dump.pid"
    wait $!
    echo $? >"$T/dump.rc"
} | { sleep 2; cat >/dev/null; } &
pipeline=$!
for _ in $(seq 1 100); do [ -s "$T/dump.pid" ] && break; sleep 0.02; done
sleep 0.5
kill -TERM "$(cat "$T/dump.pid")"
wait "$pipeline"
dr_check "dump, SIGTERM: exit 143" test "$(cat "$T/dump.rc")" -eq 143
dr_check "dump, SIGTERM: says interrupted" grep -q 'interrupted (SIGTERM): dump' "$T/err"
no_leftovers "dump"

if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# the stops at fault points need a build with -DDR_FAULTS=ON"
    dr_done
fi
nsnap=$(snaps)

# a directory walk: SIGTERM while it reads a directory stops it before the next file
DR_FAULT=backup.readdir:pause:2 DR_FAULT_PAUSE="$T/w" \
    "$DRREPO" -r "$REPO" snapshot "$src" >"$T/out" 2>"$T/err" &
pid=$!
dr_check "the walk paused" wait_paused "$T/w"
kill -TERM "$pid"
touch "$T/w.go"
wait "$pid"
dr_check "snapshot, SIGTERM: exit 143" test $? -eq 143
dr_check "snapshot, SIGTERM: says interrupted (SIGTERM)" grep -q 'interrupted (SIGTERM)' "$T/err"
dr_check "snapshot, SIGTERM: no snapshot recorded" test "$(snaps)" -eq "$nsnap"
no_leftovers "snapshot, SIGTERM"

# just before the snapshot object would be written: still nothing recorded
DR_FAULT=writer.before_snapshot_put:pause:1 DR_FAULT_PAUSE="$T/c" \
    "$DRREPO" -r "$REPO" snapshot "$src" >"$T/out" 2>"$T/err" &
pid=$!
dr_check "the commit paused" wait_paused "$T/c"
kill -INT "$pid"
touch "$T/c.go"
wait "$pid"
dr_check "snapshot at its commit, SIGINT: exit 130" test $? -eq 130
dr_check "snapshot at its commit: no snapshot recorded" test "$(snaps)" -eq "$nsnap"
no_leftovers "snapshot at its commit"
dr_expect_success "check after the snapshots stopped at fault points" drrepo check

# check --read-data: stopped between packs
DR_FAULT=check.read_data.recorded:pause:1 DR_FAULT_PAUSE="$T/r" \
    "$DRREPO" -r "$REPO" check --read-data >"$T/out" 2>"$T/err" &
pid=$!
dr_check "the scrub paused" wait_paused "$T/r"
kill -INT "$pid"
touch "$T/r.go"
wait "$pid"
dr_check "check --read-data, SIGINT: exit 130" test $? -eq 130
dr_check "check --read-data, SIGINT: says interrupted" \
    grep -q 'interrupted (SIGINT): check' "$T/err"
no_leftovers "check --read-data"
dr_expect_success "check --read-data completes" drrepo check --read-data

# prune of forgotten snapshots: stopped before its index commit, nothing deleted
rm -rf "$src/a"
dr_expect_success "a snapshot without a/" drrepo snapshot "$src"
dr_expect_success "forget all but the last" drrepo forget --keep-last 1
packs_before=$(find "$REPO/data" -type f | wc -l)
DR_FAULT=prune.before_index_commit:pause:1 DR_FAULT_PAUSE="$T/p" \
    "$DRREPO" -r "$REPO" prune >"$T/out" 2>"$T/err" &
pid=$!
dr_check "the prune paused" wait_paused "$T/p"
kill -TERM "$pid"
touch "$T/p.go"
wait "$pid"
dr_check "prune, SIGTERM: exit 143" test $? -eq 143
dr_check "prune, SIGTERM: says interrupted" grep -q 'interrupted (SIGTERM): prune' "$T/err"
dr_check "prune, SIGTERM: no pack deleted" \
    test "$(find "$REPO/data" -type f | wc -l)" -ge "$packs_before"
no_leftovers "prune"
dr_expect_success "check after the interrupted prune" drrepo check
dr_expect_success "the next prune completes" drrepo prune
dr_expect_success "check after the prune" drrepo check --read-data

# restore: SIGHUP between files (SIGTERM: t0016-restore-policies.sh)
rst="$T/rst"
DR_FAULT=restore.file.renamed:pause:2 DR_FAULT_PAUSE="$T/h" \
    "$DRREPO" -r "$REPO" restore latest --target "$rst" >"$T/out" 2>"$T/err" &
pid=$!
dr_check "the restore paused" wait_paused "$T/h"
kill -HUP "$pid"
touch "$T/h.go"
wait "$pid"
dr_check "restore, SIGHUP: exit 129" test $? -eq 129
dr_check "restore, SIGHUP: says interrupted" grep -q 'interrupted (SIGHUP): restore' "$T/err"
dr_check "restore, SIGHUP: no temporary file in the target" \
    test -z "$(find "$rst" -name '.drrepo-tmp-*')"
no_leftovers "restore"

nsnap2=$(snaps)
# a second SIGINT ends the process at once, even where it does not check (a paused fault point);
# the lock it leaves belongs to a dead process, which the next command removes
DR_FAULT=writer.before_snapshot_put:pause:1 DR_FAULT_PAUSE="$T/d" \
    "$DRREPO" -r "$REPO" snapshot "$src" >"$T/out" 2>"$T/err" &
pid=$!
dr_check "the snapshot paused" wait_paused "$T/d"
kill -INT "$pid"
sleep 0.2
kill -INT "$pid"
wait "$pid"
dr_check "a second SIGINT: exit 130 at once" test $? -eq 130
dr_check "a second SIGINT: no snapshot recorded" test "$(snaps)" -eq "$nsnap2"
dr_expect_success "the next snapshot removes the dead lock and completes" drrepo snapshot "$src"
no_leftovers "after a second SIGINT"
dr_expect_success "check at the end" drrepo check

dr_done
