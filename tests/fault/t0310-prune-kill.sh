#!/bin/bash
# t0310: `forget --prune` and `prune` killed (SIGKILL) at 21 named fault points (with K
# variations: the K-th hit), and at random moments, never lose a kept snapshot's data (nor do
# injected "no space" errors at five of the points, among them the write of prune's epoch). After
# each kill: check passes on the repository as the crash left it (unreferenced data is fine),
# every kept snapshot restores byte-identical, a re-run completes, then check --read-data passes
# and the repository is within 10% of a fresh repository holding only the kept snapshots.
# Each case starts from the same pristine copy (repository and cache dir). Without a
# -DDR_FAULTS=ON build only the random kills run (and pass or fail as usual); the output says
# that the named points were not tried. The random delays come from a fixed seed (310);
# DR_TEST_SEED=N draws others. DR_KILL_ROUNDS=N (default 2) sets the number of random kills.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
# some 150 short drrepo runs: no leak check at their exits (tests/README.md, "ASan")
dr_no_leak_check

INIT_ARGS=(--insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K --chunk-avg 256K
    --chunk-max 1M)
POLICY=(--keep-last 2 --keep-tag keepme)

SRC="$T/src"
mkdir -p "$SRC/small" "$T/states"
declare -A SNAP STATE_OF

# state N: big (1.5 MB) owned by state N only, so forgetting it frees whole packs; shared, the
# same in all states; 16 small files (200 KB) of which four change per state, so packs die partly
# and prune repacks; a text file. The chunker key is new in every repository and records go to
# packs at random, so what prune copies varies from run to run: with 8 small files (two changing)
# it was 1.2-2.5 MB, one new pack in some runs, and the cases that kill at the second new pack
# found none; 16 small files double it
make_state() {
    local n=$1 k
    "$TOOL" gen "$SRC/big" 1536K $((1000 + n))
    [ -e "$SRC/shared" ] || "$TOOL" gen "$SRC/shared" 1M 7
    for k in $(seq 1 16); do
        if [ ! -e "$SRC/small/s$k" ] || [ $(((k + n) % 4)) -eq 0 ]; then
            "$TOOL" gen "$SRC/small/s$k" 200K $((100 * n + k))
        fi
    done
    "$TOOL" gen "$SRC/notes.txt" 30K $((5000 + n)) text
    rm -rf "$T/states/$n"
    cp -a "$SRC" "$T/states/$n"
}

# the pristine repositories and caches are named repo and cache, as the case's copies ($T/repo,
# $T/cache) and the crash-state copies ($T/copy/repo, $T/copy/cache) are, so that one cp -a makes
# both copies (one process fewer per copy, some 60 in all)
P0="$T/p0/repo" PC0="$T/p0/cache" # six snapshots, nothing forgotten
P1="$T/p1/repo" PC1="$T/p1/cache" # states 1, 3, 4 forgotten, not pruned
mkdir -p "$T/p0" "$T/p1" "$T/copy"
"$DRREPO" -r "$P0" init "${INIT_ARGS[@]}" >"$T/out" 2>"$T/err" || dr_fail "init"
for n in 1 2 3 4 5 6; do
    make_state "$n"
    extra=()
    [ "$n" -eq 2 ] && extra=(--tag keepme)
    DRREPO_CACHE_DIR="$PC0" "$DRREPO" -r "$P0" snapshot "$SRC" --json "${extra[@]}" >"$T/out" \
        2>"$T/err" || dr_fail "snapshot of state $n"
    SNAP[$n]=$(dr_json_field snapshot_id)
    STATE_OF[${SNAP[$n]}]=$n
done
KEPT="2 5 6"
cp -a "$P0" "$PC0" "$T/p1/"
DRREPO_CACHE_DIR="$PC1" dr_expect_success "pristine: forget ${POLICY[*]}" \
    "$DRREPO" -r "$P1" forget "${POLICY[@]}"

# the size of a fresh repository holding only the kept states
"$DRREPO" -r "$T/fresh" init "${INIT_ARGS[@]}" >"$T/out" 2>"$T/err" || dr_fail "init fresh"
for n in $KEPT; do
    rm -rf "$SRC"
    cp -a "$T/states/$n" "$SRC"
    DRREPO_CACHE_DIR="$T/fresh-cache" "$DRREPO" -r "$T/fresh" snapshot "$SRC" >"$T/out" \
        2>"$T/err" || dr_fail "fresh snapshot of state $n"
done
FRESH=$(du -sb "$T/fresh" | cut -f1)
rm -rf "$T/fresh" "$T/fresh-cache"
echo "# a fresh repository with states $KEPT: $FRESH bytes"

# what a full prune does, for the K values below
R="$T/probe" C="$T/probe-cache"
cp -a "$P1" "$R"
cp -a "$PC1" "$C"
DRREPO_CACHE_DIR="$C" dr_expect_success "probe: prune --json" "$DRREPO" -r "$R" prune --json
sed 's/^/# probe: /' "$T/out"
dr_check "probe: prune repacks (the K values below need it)" \
    test "$(dr_json_field packs_written)" -ge 2
dr_check "probe: prune deletes packs" test "$(dr_json_field packs_deleted)" -ge 6
rm -rf "$R" "$C"

R="$P1" C=''
dr_r() { DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "$@"; }
# the snapshot listings after kills read snapshots/ (dr_snap_ids, lib.sh)

dr_same_ids "pristine p1 (forgotten, not pruned)"
R="$P0"
dr_same_ids "pristine p0"
dr_check "pristine p0: six snapshots" test "$(dr_snap_ids | wc -l)" -eq 6

# after_kill NAME SHARED RERUN...: the checks once the killed run is gone; RERUN is the
# command to complete the job. SHARED (the second and later K of one fault point): the kept
# states are not restored from the crash state again; the first case of the point does that,
# and every case runs check on the crash state (every blob a kept snapshot references is in a
# pack) and check --read-data after the re-run, which reads every object they reference.
after_kill() {
    local name=$1 shared=$2 n id
    shift 2
    dr_snap_ids >"$T/ids"
    for n in $KEPT; do
        dr_check "$name: state $n is still there" grep -q "${SNAP[$n]}" "$T/ids"
    done
    for id in $(cat "$T/ids"); do
        [ -n "${STATE_OF[$id]:-}" ] || dr_fail "$name: unknown snapshot ${id:0:8}"
    done
    # check and restore the crash state from a copy: every command that locks removes a dead
    # writer's leftovers, and the re-run must see the crash state as the kill left it
    local left orig_r=$R orig_c=$C
    left=$(find "$R" -name '.drrepo-tmp-*' | sort)
    rm -rf "$T/copy/repo" "$T/copy/cache"
    cp -a "$R" "$C" "$T/copy/" # $R and $C are $T/repo and $T/cache
    R="$T/copy/repo" C="$T/copy/cache"
    dr_expect_success "$name: check right after the kill" dr_r check
    for n in $KEPT; do
        [ -z "$shared" ] || break
        rm -rf "$T/r"
        dr_expect_success "$name: restore state $n" dr_r restore "${SNAP[$n]}" --target "$T/r"
        dr_check "$name: state $n is identical" dr_same_tree "$T/states/$n" "$T/r$SRC"
    done
    rm -rf "$T/r"
    R=$orig_r C=$orig_c
    rm -rf "$T/copy/repo" "$T/copy/cache"
    dr_check "$name: the leftovers are still there for the re-run" \
        test "$(find "$R" -name '.drrepo-tmp-*' | sort)" = "$left"
    dr_expect_success "$name: re-run '$*' completes" dr_r "$@"
    dr_check "$name: the re-run removed the leftovers" test -z "$(find "$R" -name '.drrepo-tmp-*')"
    dr_snap_ids >"$T/ids"
    dr_check "$name: after the re-run, exactly states $KEPT remain" \
        test "$(cat "$T/ids" | tr '\n' ' ')" = "$(for n in $KEPT; do echo "${SNAP[$n]}"; done | sort | tr '\n' ' ')"
    dr_expect_success "$name: check --read-data after the re-run" dr_r check --read-data
    local a
    a=$(du -sb "$R" | cut -f1)
    dr_check "$name: size within 10% of a fresh repository ($a vs $FRESH)" \
        test $((a > FRESH ? a - FRESH : FRESH - a)) -le $((FRESH / 10))
}

# point, K ("-": the first hit), start (p0: forget --prune; p1: prune after the forget).
# forget.*: one index transaction for all the forgotten snapshots, then one object deletion
# per snapshot (3 in all). Prune writes 2+ new packs (before/after_pack_put, before_relocate_commit once per new
# pack), writes its epoch (format version 3) and commits the index once before deleting, then
# deletes 6+ packs (delete_pack per pack).
cases="
forget.before_commit          -  p0
forget.before_delete          -  p0
forget.before_delete          2  p0
forget.before_delete          3  p0
prune.before_pack_put         -  p1
prune.before_pack_put         2  p1
prune.after_pack_put          -  p1
prune.after_pack_put          2  p1
prune.before_relocate_commit  -  p1
prune.before_relocate_commit  2  p1
prune.before_index_commit     -  p1
prune.before_index_commit     -  p0
prune.before_epoch_put        -  p1
prune.delete_pack             -  p1
prune.delete_pack             3  p1
prune.delete_pack             6  p0
fs.before_rename              2  p1
fs.before_fsync               3  p1
index.commit                  2  p0
index.commit                  5  p0
index.commit                  2  p1
"
ncase=0
prev_point=''
if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# the named fault points need a build with -DDR_FAULTS=ON: only random kills run"
    cases=""
fi
while read -r point k start <&3; do
    [ -n "$point" ] || continue
    ncase=$((ncase + 1))
    spec="$point:kill"
    [ "$k" = - ] || spec="$spec:$k"
    R="$T/repo" C="$T/cache"
    rm -rf "$R" "$C"
    if [ "$start" = p0 ]; then
        cp -a "$P0" "$PC0" "$T/"
        cmd=(forget "${POLICY[@]}" --prune)
    else
        cp -a "$P1" "$PC1" "$T/"
        cmd=(prune)
    fi
    DR_FAULT="$spec" dr_r "${cmd[@]}" >"$T/out" 2>"$T/err"
    rc=$?
    dr_check "$spec (${cmd[0]}): killed (exit $rc)" test "$rc" -eq 137
    echo "# $spec: $(find "$R" \( -name '.drrepo-tmp-*' -printf 't\n' \) -o \( -type f \( -path "$R/data/*" -o -path "$R/tree/*" \) -printf 'p\n' \) |
        awk '{ n[$1]++ } END { printf "%d temporary files, %d packs", n["t"], n["p"] }')"
    shared=''
    [ "$point" = "$prev_point" ] && shared=shared
    prev_point=$point
    after_kill "$spec" "$shared" "${cmd[@]}"
done 3<<<"$cases"
[ "${DR_FAULTS_BUILT:-0}" != 1 ] || dr_check "21 named cases" test "$ncase" -eq 21

# The same points failing with "no space left on device" instead: exit 1 naming the cause,
# and the same guarantees.
enospc_cases="
prune.before_pack_put   2  p1
fs.before_rename        2  p1
prune.before_epoch_put  1  p1
prune.delete_pack       2  p1
forget.before_commit    1  p0
"
[ "${DR_FAULTS_BUILT:-0}" = 1 ] || enospc_cases=""
while read -r point k start <&3; do
    [ -n "$point" ] || continue
    spec="$point:enospc:$k"
    R="$T/repo" C="$T/cache"
    rm -rf "$R" "$C"
    if [ "$start" = p0 ]; then
        cp -a "$P0" "$PC0" "$T/"
        cmd=(forget "${POLICY[@]}" --prune)
    else
        cp -a "$P1" "$PC1" "$T/"
        cmd=(prune)
    fi
    DR_FAULT="$spec" dr_must_fail 1 "$spec (${cmd[0]}): exits 1" dr_r "${cmd[@]}"
    dr_check "$spec: the error says no space" grep -qi "no space" "$T/err"
    after_kill "$spec" "" "${cmd[@]}"
done 3<<<"$enospc_cases"

# Random-timing kills of a background prune / forget --prune.
seed=${DR_TEST_SEED:-310}
echo "# random kill seed: $seed (set DR_TEST_SEED to repeat)"
RANDOM=$seed
R="$T/repo" C="$T/cache"
declare -A MS
for start in p1 p0; do
    rm -rf "$R" "$C"
    cp -a "$T/$start/repo" "$T/$start/cache" "$T/"
    t0=$(date +%s%N)
    if [ "$start" = p0 ]; then
        dr_expect_success "$start: an uninterrupted forget --prune" dr_r forget "${POLICY[@]}" --prune
    else
        dr_expect_success "$start: an uninterrupted prune" dr_r prune
    fi
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "# $start: an uninterrupted run takes $ms ms"
    [ "$ms" -gt 20 ] || ms=20
    MS[$start]=$ms
done
rounds=${DR_KILL_ROUNDS:-2}
echo "# $rounds random kills (DR_KILL_ROUNDS=N for more)"
for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) -eq 0 ]; then start=p0; else start=p1; fi
    rm -rf "$R" "$C"
    if [ "$start" = p0 ]; then
        cp -a "$P0" "$PC0" "$T/"
        cmd=(forget "${POLICY[@]}" --prune)
        ms=${MS[p0]}
    else
        cp -a "$P1" "$PC1" "$T/"
        cmd=(prune)
        ms=${MS[p1]}
    fi
    delay=$((5 + RANDOM % (ms * 3 / 4)))
    # the binary itself, not a shell function, so that $! is drrepo's pid
    DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "${cmd[@]}" >"$T/out" 2>"$T/err" &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    echo "# random $round (${cmd[0]}): kill after ${delay} ms, exit $rc"
    dr_check "random $round: killed or finished (exit $rc)" test "$rc" -eq 137 -o "$rc" -eq 0
    after_kill "random $round" "" "${cmd[@]}"
done
dr_same_ids "after the last re-run"
if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# not tried: the named fault points and the injected errors (need -DDR_FAULTS=ON)"
fi
dr_done
