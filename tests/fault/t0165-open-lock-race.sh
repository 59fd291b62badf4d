#!/bin/bash
# t0165: a snapshot and another client's prune, with the snapshot paused between opening the
# repository and taking its lock (fault point cmd.before_lock). Each client has its own cache
# directory, so the snapshot's index knows blobs whose packs the prune deletes. Whatever the
# timing, the snapshot either commits a snapshot that restores byte-identical and passes
# check --read-data, or fails with nothing committed: never exit 0 with missing data.
# DR_RACE_ROUNDS sets the number of rounds (each with a new repository).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
[ "${DR_FAULTS_BUILT:-0}" = 1 ] || { echo "# skipped: needs a build with -DDR_FAULTS=ON"; exit 77; }
rounds=${DR_RACE_ROUNDS:-3}

mkdir -p "$T/src/sub"
for i in 1 2 3 4; do "$TOOL" gen "$T/src/f$i" 600K "$i"; done
"$TOOL" gen "$T/src/sub/t" 200K 9 text

for round in $(seq 1 "$rounds"); do
    REPO="$T/repo.$round"
    CA="$T/cacheA.$round" CB="$T/cacheB.$round"
    A() { DRREPO_CACHE_DIR="$CA" "$DRREPO" -r "$REPO" "$@"; }
    B() { DRREPO_CACHE_DIR="$CB" "$DRREPO" -r "$REPO" "$@"; }
    A init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K --chunk-avg 128K \
        --chunk-max 512K >"$T/out" 2>"$T/err" || dr_fail "round $round: init"
    # S1 of the tree through client A: A's index and files cache now know every blob
    A snapshot "$T/src" >"$T/out" 2>"$T/err" || dr_fail "round $round: first snapshot"
    S1=$(A snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
    # A's second snapshot of the same tree pauses after its open, before its lock
    rm -f "$T/p.paused" "$T/p.go"
    DR_FAULT=cmd.before_lock:pause DR_FAULT_PAUSE="$T/p" A snapshot "$T/src" \
        >"$T/outA" 2>"$T/errA" &
    pa=$!
    for _ in $(seq 1 3000); do [ -e "$T/p.paused" ] && break; sleep 0.01; done
    dr_check "round $round: the snapshot paused before its lock" test -e "$T/p.paused"
    # meanwhile client B forgets S1 and prunes: every pack of S1 is deleted
    B forget "$S1" --prune >"$T/out" 2>"$T/err"
    rc=$?
    dr_check "round $round: forget --prune by the other client succeeds (exit $rc)" test "$rc" -eq 0
    npacks=$(find "$REPO/data" -type f | wc -l)
    dr_check "round $round: the prune deleted every data pack ($npacks left)" test "$npacks" -eq 0
    touch "$T/p.go"
    wait "$pa"
    rca=$?
    nsnaps=$(find "$REPO/snapshots" -type f | wc -l)
    if [ "$rca" -eq 0 ] && ! grep -qE 'Sanitizer|runtime error' "$T/errA"; then
        dr_check "round $round: the snapshot exited 0 and is recorded" test "$nsnaps" -eq 1
        rm -rf "$T/r"
        dr_expect_success "round $round: it restores" B restore latest --target "$T/r"
        dr_check "round $round: restored tree identical" dr_same_tree "$T/src" "$T/r$T/src"
        dr_expect_success "round $round: check --read-data" B check --read-data
        dr_expect_success "round $round: check --read-data from its own cache" A check --read-data
    else
        cp "$T/errA" "$T/err"
        dr_check "round $round: a failing snapshot commits nothing (exit $rca)" \
            test "$nsnaps" -eq 0 -a "$rca" -lt 128
        dr_check "round $round: and fails with a message, not a crash" \
            test -z "$(grep -E 'Sanitizer|runtime error' "$T/errA")"
        echo "# round $round: the snapshot failed: $(head -n 1 "$T/errA")"
    fi
done
dr_done
