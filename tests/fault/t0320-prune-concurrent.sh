#!/bin/bash
# t0320: snapshots running in a loop while forget and prune run in another loop, on one
# repository. The tree changes between snapshots (new files, deleted files, files that come back
# with the content of a file deleted earlier, so that new snapshots reuse blobs that forget has
# just made dead and prune is about to delete). forget/prune use --retry-lock 60s, so they wait
# for running snapshots instead of failing; a snapshot that meets prune's exclusive lock exits
# 11 and is retried. At the end every remaining snapshot restores and matches the source state it
# was taken of (copies keyed by the id `snapshot --json` printed), and check --read-data passes.
# Every fourth forget/prune run forgets the newest snapshot (likely the parent of the next one)
# and prunes at once. The loops are bounded in count and in time. Half of the forget/prune runs share the snapshot
# loop's cache (one index), the other half use their own (synced from the repository).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
# two loops of short runs racing each other: no leak check at their exits (tests/README.md)
dr_no_leak_check

NSNAP=${DR_T0320_SNAPSHOTS:-16}
NPRUNE=${DR_T0320_PRUNES:-30}
LIMIT_S=${DR_T0320_SECONDS:-180}

"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K \
    --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" || dr_fail "init"

SRC="$T/src"
mkdir -p "$SRC/keep" "$SRC/roll" "$T/states"
"$TOOL" gen "$SRC/keep/shared" 700K 1
"$TOOL" gen "$SRC/keep/notes.sql" 120K 2 text

# state I: roll/fI is new (random, 150-450 KB), roll files older than 3 states are deleted;
# every third state brings back (as back/rI) the content of roll/f(I-6), which only snapshots
# that keep-last 3 has forgotten had (its blobs are dead, prune may be deleting them); a text
# file changes a little each time
make_state() {
    local i=$1 old
    "$TOOL" gen "$SRC/roll/f$i" $((150 + (i * 37) % 300))K $((100 + i))
    old=$((i - 3))
    rm -f "$SRC/roll/f$old"
    if [ $((i % 3)) -eq 0 ] && [ "$i" -gt 6 ]; then
        rm -rf "$SRC/back"
        mkdir -p "$SRC/back"
        old=$((i - 6))
        "$TOOL" gen "$SRC/back/r$i" $((150 + (old * 37) % 300))K $((100 + old))
    fi
    "$TOOL" gen "$SRC/keep/notes.sql" 120K $((2 + i % 4)) text
    echo "state $i" >>"$SRC/keep/notes.sql"
}

start=$(date +%s)
deadline=$((start + LIMIT_S))

# the snapshot loop (in the background): its findings go to files
snapshot_loop() {
    local i rc id tries
    for i in $(seq 1 "$NSNAP"); do
        [ "$(date +%s)" -lt "$deadline" ] || break
        make_state "$i"
        rm -rf "$T/states/$i"
        cp -a "$SRC" "$T/states/$i"
        tries=0
        while :; do
            tries=$((tries + 1))
            "$DRREPO" -r "$REPO" snapshot "$SRC" --json >"$T/snap.out" 2>"$T/snap.err"
            rc=$?
            [ "$rc" -eq 11 ] && [ "$tries" -lt 120 ] || break
            echo "$i locked" >>"$T/snap.log"
            sleep 0.5
        done
        if [ "$rc" -ne 0 ]; then
            echo "snapshot of state $i: exit $rc: $(head -c 400 "$T/snap.err")" >>"$T/snap.fail"
            continue
        fi
        id=$(dr_json_field snapshot_id "$T/snap.out")
        echo "$id $i" >>"$T/manifest"
        echo "$i ok ${id:0:8} (tries $tries)" >>"$T/snap.log"
        if grep -q 'Sanitizer\|runtime error' "$T/snap.err"; then
            echo "snapshot of state $i: sanitizer report" >>"$T/snap.fail"
            cat "$T/snap.err" >>"$T/snap.fail"
        fi
        sleep "0.$((RANDOM % 3))"
    done
    echo finished >"$T/snap.done"
}

: >"$T/manifest"
snapshot_loop &
loop_pid=$!

# the forget/prune loop, in the foreground, once the first snapshot exists (before it, 'forget
# latest' rightly finds nothing to forget)
for _ in $(seq 1 600); do [ -s "$T/manifest" ] && break; sleep 0.1; done
p=0 nfail=0
while [ "$p" -lt "$NPRUNE" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    p=$((p + 1))
    cache="$DRREPO_CACHE_DIR"
    [ $((p % 2)) -eq 0 ] && cache="$T/cache-pruner"
    case $((p % 4)) in
    0) cmd=(forget --keep-last 3 --prune --max-unused 0) ;;
    1) cmd=(forget --keep-last 4) ;;
    2) cmd=(prune --max-unused 0) ;;
    # the newest snapshot, probably the parent of the next (or of a running) snapshot, and the
    # only one that had the newest roll file: its blobs go while the files cache still names them
    3) cmd=(forget latest --prune --max-unused 0) ;;
    esac
    DRREPO_CACHE_DIR="$cache" "$DRREPO" -r "$REPO" --retry-lock 60s "${cmd[@]}" >"$T/out" 2>"$T/err"
    rc=$?
    echo "# pruner $p: ${cmd[*]} ($( [ "$cache" = "$DRREPO_CACHE_DIR" ] && echo shared || echo own) cache): exit $rc"
    if [ "$rc" -eq 1 ] && [ "${cmd[1]}" = latest ] && grep -q "no snapshot matches 'latest'" "$T/err" &&
        ! grep -q 'Sanitizer\|runtime error' "$T/err"; then
        # an earlier 'forget latest' took the only snapshot and no new one has been committed
        # yet: there is nothing to forget, and saying so (exit 1) is right
        echo "# pruner $p: no snapshot at that moment"
    elif [ "$rc" -ne 0 ] || grep -q 'Sanitizer\|runtime error' "$T/err"; then
        nfail=$((nfail + 1))
        dr_fail "pruner $p: ${cmd[*]} exits 0 (exit $rc)"
    fi
    [ -e "$T/snap.done" ] && [ "$p" -ge 15 ] && break
    sleep "0.$((RANDOM % 5))"
done
wait "$loop_pid"
echo "# $(grep -c ' ok ' "$T/snap.log") snapshots, $(grep -c locked "$T/snap.log") lock retries, $p forget/prune runs in $(($(date +%s) - start)) s"
dr_check "no forget/prune run failed" test "$nfail" -eq 0
if [ -s "$T/snap.fail" ]; then
    sed 's/^/#   /' "$T/snap.fail" | head -n 30
fi
dr_check "every snapshot succeeded (exit 0, possibly after waiting out prune's lock)" \
    test ! -s "$T/snap.fail"
dr_check "at least 8 snapshots were taken" test "$(grep -c . "$T/manifest")" -ge 8
dr_check "at least 8 forget/prune runs" test "$p" -ge 8

# verify NAME: every remaining snapshot is one the loop took and restores as its state
verify() {
    local id n
    drrepo snapshots --json 2>/dev/null | grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4 \
        | sort >"$T/ids"
    dr_check "$1: snapshots remain" test -s "$T/ids"
    for id in $(cat "$T/ids"); do
        n=$(awk -v id="$id" '$1 == id {print $2}' "$T/manifest")
        if [ -z "$n" ]; then
            dr_fail "$1: snapshot ${id:0:8} is not one the loop took"
            continue
        fi
        rm -rf "$T/r"
        dr_expect_success "$1: restore ${id:0:8} (state $n)" drrepo restore "$id" --target "$T/r"
        dr_check "$1: ${id:0:8} is identical to state $n" dr_same_tree "$T/states/$n" "$T/r$SRC"
    done
    rm -rf "$T/r"
}
verify "after the loops"
dr_expect_success "check --read-data after the loops" drrepo check --read-data
# one more forget and prune with everything quiet
dr_expect_success "final forget --keep-last 3 --prune --max-unused 0" \
    drrepo --retry-lock 60s forget --keep-last 3 --prune --max-unused 0
verify "at the end"
dr_expect_success "check --read-data" drrepo check --read-data
DRREPO_CACHE_DIR="$T/cache-pruner" dr_expect_success "check --read-data with the pruner's cache" \
    "$DRREPO" -r "$REPO" check --read-data
dr_check "no locks left" test -z "$(find "$REPO/locks" -type f)"
dr_check "no temporary files left" test -z "$(find "$REPO" -name '.drrepo-tmp-*')"
dr_done
