#!/bin/bash
# t0225: `check --read-data` holds no write transaction of the shared index (issue 12, point 4).
# A check on the same cache directory is paused half-way through reading packs (fault point
# check.read_data.recorded, after the first pack's result); while it is paused, `snapshots`,
# `snapshot` and `ls latest` on that cache run to completion, each while the check is still
# running (kill -0), and the check then finishes with exit 0. Before, the check's one write
# transaction kept `snapshot` waiting until the check ended (here: forever, so every command
# runs under `timeout` to turn that into a failure rather than a hang). Also: the check leaves
# no working set behind, and one left by a killed check is removed by the next check.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
[ "${DR_FAULTS_BUILT:-0}" = 1 ] || { echo "# skipped: needs a build with -DDR_FAULTS=ON"; exit 77; }
drrepo() { timeout 120 "$DRREPO" -r "$REPO" "$@"; }

"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M \
    --chunk-min 64K --chunk-avg 128K --chunk-max 512K >"$T/out" 2>"$T/err" || dr_fail "init"
mkdir -p "$T/src" "$T/src2"
for i in 1 2 3 4 5 6; do "$TOOL" gen "$T/src/f$i" 700K "$i"; done
"$TOOL" gen "$T/src2/g" 300K 50
dr_expect_success "first snapshot" drrepo snapshot "$T/src"
npacks=$(find "$REPO/data" -type f | wc -l)
dr_check "several packs to read ($npacks)" test "$npacks" -ge 3
workdirs() { find "$DRREPO_CACHE_DIR" -maxdepth 2 -name 'work.*' | wc -l; }

rm -f "$T/p.paused" "$T/p.go"
DR_FAULT=check.read_data.recorded:pause DR_FAULT_PAUSE="$T/p" \
    "$DRREPO" -r "$REPO" check --read-data >"$T/outC" 2>"$T/errC" &
checkpid=$!
for _ in $(seq 1 6000); do [ -e "$T/p.paused" ] && break; sleep 0.01; done
dr_check "the check paused after its first pack" test -e "$T/p.paused"
dr_check "its working set exists while it runs" test "$(workdirs)" -ge 1

dr_expect_success "snapshots beside the check" drrepo snapshots
dr_check "the check was still running when snapshots finished" kill -0 "$checkpid"
dr_expect_success "snapshot beside the check" drrepo snapshot "$T/src2"
dr_check "the check was still running when snapshot finished" kill -0 "$checkpid"
dr_expect_success "ls latest beside the check" drrepo ls latest
dr_check "ls latest shows the new snapshot's file" grep -q '/g$' "$T/out"
dr_check "the check was still running when ls finished" kill -0 "$checkpid"

touch "$T/p.go"
wait "$checkpid"
rc=$?
cp "$T/errC" "$T/err"
dr_check "the check finished with exit 0 (exit $rc)" test "$rc" -eq 0
dr_check "the check left no working set behind" test "$(workdirs)" -eq 0
dr_expect_success "a check after it passes too" drrepo check --read-data

# a check killed while paused leaves its working set; the next one removes it
rm -f "$T/p.paused" "$T/p.go"
DR_FAULT=check.read_data.recorded:pause DR_FAULT_PAUSE="$T/p" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    "$DRREPO" -r "$REPO" check --read-data >"$T/outC" 2>"$T/errC" &
checkpid=$!
for _ in $(seq 1 6000); do [ -e "$T/p.paused" ] && break; sleep 0.01; done
kill -KILL "$checkpid"
wait "$checkpid" 2>/dev/null
dr_check "the killed check left its working sets" test "$(workdirs)" -ge 1
dr_expect_success "the next check passes" drrepo check
dr_check "and removed the dead check's working sets" test "$(workdirs)" -eq 0
dr_done
