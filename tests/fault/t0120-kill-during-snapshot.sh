#!/bin/bash
# t0120: a snapshot killed (SIGKILL, as a crash or the OOM killer would) at each fault point of
# the write path, and at random moments, loses nothing: the earlier snapshot still restores
# byte-identical, check --read-data passes, the killed snapshot is either absent or complete
# (committed just before the kill), the next snapshot succeeds and restores, and the next run
# removes the killed process's temporary files and lock. The random kills use a fixed seed
# (120) for their delays and data; DR_TEST_SEED=N draws others. DR_KILL_ROUNDS=N (default 2)
# sets the number of random kills.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
# some 120 short drrepo runs, 20 of them killed: no leak check at their exits (tests/README.md)
dr_no_leak_check
if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# skipped: needs a build with -DDR_FAULTS=ON"
    exit 77
fi

# Small packs and chunks, so that one snapshot writes several packs and the K-th pack can be hit.
"$DRREPO" -r "$T/base" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M \
    --chunk-min 64K --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" || dr_fail "init"

# src1: the good snapshot that must survive; src2: what the killed snapshot writes
mkdir -p "$T/src1/dir" "$T/src2/dir"
"$TOOL" gen "$T/src1/big" 1200K 1
"$TOOL" gen "$T/src1/dir/dump.sql" 300K 2 text
echo "small" >"$T/src1/dir/small"
ln -s dir/small "$T/src1/link"
# files below --chunk-min are one chunk each, whatever the repository's chunker key, so the
# number of packs (and of hits of each fault point) is the same in every run
# (one generated stream cut into 70 files f01..f70 of 60K: one process instead of 70)
"$TOOL" gen "$T/f-all" 4200K 10
split -b 60K --numeric-suffixes=1 -a 2 "$T/f-all" "$T/src2/f" && rm "$T/f-all"
for i in 1 2 3; do "$TOOL" gen "$T/src2/dir/t$i.sql" 50K $((100 + i)) text; done
cp "$T/src1/dir/small" "$T/src2/dir/shared" # dedups against src1
echo "another" >"$T/src2/dir/small"

C0="$T/cache-base"
DRREPO_CACHE_DIR="$C0" dr_expect_success "first snapshot" "$DRREPO" -r "$T/base" snapshot "$T/src1"

# R and C: the repository and cache of the current case
R='' C=''
dr_r() { DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "$@"; }
# the snapshot listings after kills read snapshots/ (dr_snap_ids, lib.sh)
tmp_files() { find "$R" -name '.drrepo-tmp-*' | sed "s|^$R/||"; }
lock_files() { find "$R/locks" -type f 2>/dev/null | sed "s|^$R/||"; }

# restore_same NAME ID SRC: snapshot ID restores SRC byte-identical
restore_same() {
    local out="$T/restore.$$"
    rm -rf "$out"
    dr_expect_success "$1: restore ${2:0:8}" dr_r restore "$2" --target "$out"
    dr_check "$1: ${2:0:8} is identical to ${3#"$T"/}" dr_same_tree "$3" "$out$3"
    rm -rf "$out"
}

# after_crash NAME COMMITTED [SHARED]: the checks once the killed run is gone. COMMITTED: no,
# yes, either. SHARED (the second and later K of one fault point): the earlier snapshot is not
# restored a second time after the next snapshot; the first case of the point does that, and
# every case still restores it from its crash state and runs check --read-data after the next
# snapshot, which reads every object it references.
after_crash() {
    local name=$1 committed=$2 shared=${3:-}
    dr_snap_ids >"$T/ids.after"
    local added
    added=$(comm -13 "$T/ids.before" "$T/ids.after")
    local nadded
    nadded=$(printf '%s' "$added" | grep -c .)
    dr_check "$name: no snapshot lost" test -z "$(comm -23 "$T/ids.before" "$T/ids.after")"
    case $committed in
    no) dr_check "$name: the killed snapshot is not recorded" test "$nadded" -eq 0 ;;
    yes) dr_check "$name: the snapshot committed before the kill is recorded" test "$nadded" -eq 1 ;;
    either) dr_check "$name: at most one snapshot added" test "$nadded" -le 1 ;;
    esac
    # the crash state itself is valid: checked and restored from a copy (every command that
    # locks removes a dead writer's leftovers, so the original is kept as the crash left it for
    # the next snapshot, whose clean-up is checked below)
    local left orig_r=$R orig_c=$C
    left=$(tmp_files | sort)
    rm -rf "$T/copy" "$T/copy-cache"
    cp -a "$R" "$T/copy"
    cp -a "$C" "$T/copy-cache"
    R="$T/copy" C="$T/copy-cache"
    dr_expect_success "$name: check --read-data right after the crash" dr_r check --read-data
    restore_same "$name: earlier snapshot" "$S1" "$T/src1"
    if [ "$nadded" -eq 1 ]; then
        restore_same "$name: snapshot committed before the kill" "$added" "$T/src2"
    fi
    R=$orig_r C=$orig_c
    rm -rf "$T/copy" "$T/copy-cache"
    dr_check "$name: the killed run's leftovers are still there for the next snapshot" \
        test "$(tmp_files | sort)" = "$left"
    # the next snapshot, run on the repository exactly as the crash left it
    dr_expect_success "$name: next snapshot" dr_r snapshot "$T/src2"
    dr_check "$name: leftovers of the killed run removed" test -z "$(tmp_files)"
    dr_check "$name: lock of the killed run removed" test -z "$(lock_files)"
    dr_snap_ids >"$T/ids.next"
    local next
    next=$(comm -13 "$T/ids.after" "$T/ids.next")
    dr_check "$name: next snapshot recorded" test "$(printf '%s' "$next" | grep -c .)" -eq 1
    restore_same "$name: next snapshot" "$next" "$T/src2"
    dr_expect_success "$name: check --read-data after the next snapshot" dr_r check --read-data
    if [ -z "$shared" ]; then
        restore_same "$name: earlier snapshot again" "$S1" "$T/src1"
    fi
}

R="$T/base" C="$C0"
S1=$(dr_snap_ids)
dr_check "base: one snapshot" test "$(printf '%s\n' "$S1" | grep -c .)" -eq 1
dr_same_ids "base"

# point, K ("-": the first hit), whether the snapshot is committed when the kill happens.
# src2 writes 5 packs (4 data, then 1 tree) and 7 atomic files (lock, 5 packs, snapshot); the
# index commits 8 times, the last after the snapshot object is stored.
cases="
writer.before_pack_put  -  no
writer.before_pack_put  3  no
writer.before_pack_put  5  no
writer.after_pack_put   -  no
writer.after_pack_put   3  no
writer.after_pack_put   5  no
writer.before_snapshot_put - no
writer.after_snapshot_put  - yes
fs.before_rename        -  no
fs.before_rename        3  no
fs.before_rename        7  no
fs.before_fsync         -  no
fs.before_fsync         3  no
fs.before_fsync         7  no
index.commit            -  either
index.commit            4  either
index.commit            8  yes
"
n=0
prev_point=''
while read -r point k committed <&3; do
    [ -n "$point" ] || continue
    n=$((n + 1))
    spec="$point:kill"
    [ "$k" = - ] || spec="$spec:$k"
    R="$T/repo.$n" C="$T/cache.$n"
    cp -a "$T/base" "$R"
    cp -a "$C0" "$C"
    dr_snap_ids >"$T/ids.before"
    DR_FAULT="$spec" dr_r snapshot "$T/src2" >"$T/out" 2>"$T/err"
    rc=$?
    dr_check "$spec: the snapshot was killed (exit $rc)" test "$rc" -eq 137
    echo "# $spec: temporary files left by the kill: $(tmp_files | wc -l)"
    shared=''
    [ "$point" = "$prev_point" ] && shared=shared
    prev_point=$point
    after_crash "$spec" "$committed" $shared
    rm -rf "$R" "$C"
done 3<<<"$cases"

# Random-timing kills of a larger snapshot, one repository across the rounds. 5 MB with the
# repository's 1 MB packs is some 6 packs per snapshot, so a kill at a random moment still lands
# among pack writes; 20 MB (as before) made every round's check --read-data and three restores
# read 4 times as much for the same property.
seed=${DR_TEST_SEED:-120}
echo "# random kill seed: $seed (set DR_TEST_SEED to repeat)"
RANDOM=$seed
mkdir -p "$T/big/a" "$T/big/b"
for i in 1 2 3 4; do "$TOOL" gen "$T/big/a/r$i" 1M $((100 + seed + i)); done
for i in 1 2; do "$TOOL" gen "$T/big/b/t$i" 512K $((200 + seed + i)) text; done
R="$T/repo.random" C="$T/cache.random"
cp -a "$T/base" "$R"
cp -a "$C0" "$C"
start=$(date +%s%N)
dr_expect_success "random: a full snapshot to time it" dr_r snapshot "$T/big"
ms=$((($(date +%s%N) - start) / 1000000))
echo "# random: a full snapshot takes ${ms} ms"
[ "$ms" -gt 50 ] || ms=50
rounds=${DR_KILL_ROUNDS:-2}
echo "# $rounds random kills (DR_KILL_ROUNDS=N for more)"
for round in $(seq 1 "$rounds"); do
    # new content each round, so the kill lands while new packs are written
    for i in 1 2 3 4; do "$TOOL" gen "$T/big/a/r$i" 1M $((1000 * round + seed + i)); done
    delay=$((20 + RANDOM % (ms / 2)))
    dr_snap_ids >"$T/ids.before"
    # the binary itself, not a shell function, so that $! is drrepo's pid
    DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" snapshot "$T/big" >"$T/out" 2>"$T/err" &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    echo "# random round $round: kill after ${delay} ms, exit $rc, temporary files left: $(tmp_files | wc -l)"
    dr_snap_ids >"$T/ids.after"
    added=$(comm -13 "$T/ids.before" "$T/ids.after")
    dr_check "random $round: no snapshot lost" test -z "$(comm -23 "$T/ids.before" "$T/ids.after")"
    if [ "$rc" -eq 0 ]; then
        dr_check "random $round: finished before the kill and is recorded" \
            test "$(printf '%s' "$added" | grep -c .)" -eq 1
    else
        dr_check "random $round: killed (exit $rc)" test "$rc" -eq 137
        dr_check "random $round: at most one snapshot added" \
            test "$(printf '%s' "$added" | grep -c .)" -le 1
    fi
    # this time the next snapshot runs first (on the crash state as the kill left it: a restore
    # before it would remove the leftovers that the next snapshot must remove), then check
    dr_expect_success "random $round: next snapshot" dr_r snapshot "$T/big"
    dr_check "random $round: leftovers removed" test -z "$(tmp_files)"
    dr_check "random $round: lock of the killed run removed" test -z "$(lock_files)"
    dr_snap_ids >"$T/ids.next"
    next=$(comm -13 "$T/ids.after" "$T/ids.next")
    dr_check "random $round: next snapshot recorded" test "$(printf '%s' "$next" | grep -c .)" -eq 1
    dr_expect_success "random $round: check --read-data" dr_r check --read-data
    if [ -n "$added" ]; then
        restore_same "random $round: snapshot committed before the kill" "$added" "$T/big"
    fi
    restore_same "random $round: next snapshot" "$next" "$T/big"
    restore_same "random $round: earlier snapshot" "$S1" "$T/src1"
done
dr_same_ids "after the random kills"
dr_done
