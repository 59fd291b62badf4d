#!/usr/bin/env bash
# t0810-s3-many-writers: many hosts into one repository on Ceph RGW. Four writers (processes with
# their own cache directories and host names) snapshot their own data, plus files they share,
# into one bucket at the same time, two rounds each. Afterwards check --read-data passes, every
# snapshot restores byte-identical to what its writer had, a fifth cache directory sees all
# eight, and no writer rebuilt its index from scratch once it had one (others' packs and
# snapshots are read incrementally: src/store/reconcile.c).
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/s3_lib.sh"
s3_require

R=$(s3_loc repo)
W="1 2 3 4"
dr_expect_success "init on S3" env DRREPO_CACHE_DIR="$T/cache0" "$DRREPO" -r "$R" init --insecure-kdf

# each writer: its own files, and the same shared files (dedup across writers)
mkdir -p "$T/shared"
"$TOOL" gen "$T/shared/common.bin" 3M 7
for i in $(seq 1 20); do "$TOOL" gen "$T/shared/s$i.txt" 5K $((500 + i)) text; done
for w in $W; do
    S="$T/w$w/src"
    mkdir -p "$S/own"
    cp -a "$T/shared" "$S/shared"
    "$TOOL" gen "$S/own/big" 2M $((10 * w))
    for i in $(seq 1 15); do "$TOOL" gen "$S/own/f$i" 9K $((1000 * w + i)) text; done
done

# snap W ROUND: one writer's snapshot; its id and its tree as it was go to $T/w$W/
snap() {
    local w=$1 round=$2
    DRREPO_CACHE_DIR="$T/cache$w" "$DRREPO" -r "$R" -v snapshot "$T/w$w/src" --host "host-$w" \
        --json >"$T/w$w/out$round" 2>"$T/w$w/err$round"
}

for round in 1 2; do
    pids=""
    for w in $W; do
        snap "$w" "$round" &
        pids="$pids $!"
    done
    n=0
    for p in $pids; do wait "$p" && n=$((n + 1)); done
    dr_check "round $round: the 4 concurrent snapshots succeed ($n did)" test "$n" -eq 4
    for w in $W; do
        S="$T/w$w/src"
        dr_json_field snapshot_id "$T/w$w/out$round" >"$T/w$w/id$round"
        rm -rf "$T/w$w/state$round"
        cp -a "$S" "$T/w$w/state$round"
        # the next round changes a file of its own and one it shares
        "$TOOL" gen "$S/own/f3" 11K $((7000 * w + round)) text
        "$TOOL" gen "$S/shared/s2.txt" 6K $((300 + round)) text
        # and a file that another writer stored in round 1: deduplicated in round 2 only if
        # this writer's index learned the other's packs
        [ "$round" = 2 ] || "$TOOL" gen "$S/own/neighbour" 2M $((10 * (w % 4 + 1)))
    done
done

for w in $W; do
    for round in 1 2; do
        test -n "$(cat "$T/w$w/id$round")" || dr_fail "writer $w round $round printed no snapshot id"
    done
    added=$(dr_json_field bytes_added "$T/w$w/out2")
    dr_check "writer $w: round 2 stores the other writer's file once ($added bytes added)" \
        test "${added:-99999999}" -lt 200000
    dr_check "writer $w: round 2 read the others' new objects without a full index rebuild" \
        sh -c "! grep -i 'rebuild\|building it from' '$T/w$w/err2'"
done
cat "$T"/w*/err2 >"$T/err"
dr_check "no lock conflict among shared locks" sh -c "! grep -qi 'locked' '$T/err'"

C5="$T/cache5"
s3() { DRREPO_CACHE_DIR="$C5" "$DRREPO" -r "$R" "$@"; }
dr_expect_success "a fifth cache directory lists the snapshots" s3 snapshots --json
dr_check "it sees all 8" test "$(grep -o '"id":"[0-9a-f]\{64\}"' "$T/out" | sort -u | wc -l)" -eq 8
for w in $W; do
    dr_check "writer $w's snapshots are listed with its host" \
        test "$(grep -o '"host":"host-'"$w"'"' "$T/out" | wc -l)" -eq 2
done
dr_expect_success "check --read-data" s3 check --read-data
dr_expect_success "stats" s3 stats --json

for w in $W; do
    for round in 1 2; do
        id=$(cat "$T/w$w/id$round")
        rm -rf "$T/r"
        dr_expect_success "restore writer $w round $round" s3 restore "$id" --target "$T/r"
        dr_check "writer $w round $round restores byte-identical" \
            dr_same_tree "$T/w$w/state$round" "$T/r$T/w$w/src"
    done
done
rm -rf "$T/r"
dr_done
