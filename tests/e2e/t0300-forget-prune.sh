#!/bin/bash
# t0300: forget and prune end to end. Snapshots of a changing tree, where each snapshot owns a
# large file nobody else has (whole packs die) and small files that live for a few snapshots
# (packs die partly, so prune repacks). Forgetting by id and by policy (--dry-run first, text
# and --json), then pruning: every kept snapshot restores byte-identical, check --read-data
# passes, stats shows reclaimable bytes before prune and (about) none after, and the repository
# is within 10% of a fresh repository holding only the kept snapshots (made from the same source
# states). Also: prune --dry-run and forget --dry-run change nothing; forget without ids or
# policy exits 2; forget of an unknown id exits 1; `forget --prune --json` prints one JSON
# document.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

INIT_ARGS=(--insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K --chunk-avg 256K
    --chunk-max 1M)
# The sizes below are a third of what they were (with 4M packs): with 1M packs the big file of
# a state still fills whole packs of its own and the small files still share packs that die
# partly, so forget and prune face the same cases with a third of the bytes to write, read and
# restore. The size assertions are stated in BIG, the size of one state's big file.
BIG=$((1536 * 1024))
"$DRREPO" -r "$REPO" init "${INIT_ARGS[@]}" >"$T/out" 2>"$T/err" || dr_fail "init"

SRC="$T/src"
mkdir -p "$SRC/small" "$T/states"
declare -A SNAP STATE_OF # state number -> snapshot id; snapshot id -> state number

# make_state N: the source tree of state N. big: BIG (1.5 MB) owned by this state only; shared:
# the same in every state; small/sK: 16 files of 50 KB, four of them rewritten in each state, so
# each version lives for four states; notes.txt: text that changes a little.
make_state() {
    local n=$1 k
    "$TOOL" gen "$SRC/big" "$BIG" $((1000 + n))
    [ -e "$SRC/shared" ] || "$TOOL" gen "$SRC/shared" 1M 7
    for k in $(seq 1 16); do
        if [ ! -e "$SRC/small/s$k" ] || [ $(((k + n) % 4)) -eq 0 ]; then
            "$TOOL" gen "$SRC/small/s$k" 50K $((100 * n + k))
        fi
    done
    "$TOOL" gen "$SRC/notes.txt" 20K $((5000 + n)) text
    echo "state $n" >>"$SRC/notes.txt"
    if [ "$n" -eq 3 ]; then rm -f "$SRC/small/s16"; fi
    if [ "$n" -eq 4 ]; then mkdir -p "$SRC/sub" && "$TOOL" gen "$SRC/sub/new" 250K $((9000 + n)); fi
    rm -rf "$T/states/$n"
    cp -a "$SRC" "$T/states/$n"
}

# take N [ARGS]: make state N and snapshot it
take() {
    local n=$1
    shift
    make_state "$n"
    dr_expect_success "snapshot of state $n" drrepo snapshot "$SRC" --json "$@"
    SNAP[$n]=$(dr_json_field snapshot_id)
    STATE_OF[${SNAP[$n]}]=$n
}

snap_ids() { drrepo snapshots --json 2>/dev/null | grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4 | sort; }
listing() { (cd "$REPO" && find . -path ./locks -prune -o -printf '%y %P %s %T@\n' | sort); }
jq_file() { jq -e "$1" "$2" >/dev/null 2>&1; } # jq_file FILTER FILE: FILTER is true of FILE
stat_field() { drrepo stats --json >"$T/stats" 2>"$T/err" && dr_json_field "$1" "$T/stats"; }

# restore_all NAME: every remaining snapshot restores as the state it was taken of
restore_all() {
    local id n
    for id in $(snap_ids); do
        n=${STATE_OF[$id]:-}
        if [ -z "$n" ]; then
            dr_fail "$1: unknown snapshot ${id:0:8} in the repository"
            continue
        fi
        rm -rf "$T/r"
        dr_expect_success "$1: restore ${id:0:8} (state $n)" drrepo restore "$id" --target "$T/r"
        dr_check "$1: ${id:0:8} is identical to state $n" dr_same_tree "$T/states/$n" "$T/r$SRC"
    done
    rm -rf "$T/r"
}

# size_goal NAME STATES...: the repository is within 10% of a fresh one holding only STATES
size_goal() {
    local name=$1 n
    shift
    local fresh="$T/fresh"
    rm -rf "$fresh" "$T/fresh-cache"
    "$DRREPO" -r "$fresh" init "${INIT_ARGS[@]}" >"$T/out" 2>"$T/err" || dr_fail "$name: init fresh"
    for n in "$@"; do
        rm -rf "$SRC"
        cp -a "$T/states/$n" "$SRC"
        DRREPO_CACHE_DIR="$T/fresh-cache" "$DRREPO" -r "$fresh" snapshot "$SRC" >"$T/out" \
            2>"$T/err" || dr_fail "$name: fresh snapshot of state $n"
    done
    local a b
    a=$(du -sb "$REPO" | cut -f1)
    b=$(du -sb "$fresh" | cut -f1)
    echo "# $name: repository $a bytes, fresh repository with states $* $b bytes"
    dr_check "$name: size within 10% of a fresh repository ($a vs $b)" \
        test $((a > b ? a - b : b - a)) -le $((b / 10))
    rm -rf "$fresh" "$T/fresh-cache"
}

for n in 1 2 3 4 5 6; do
    if [ "$n" -eq 2 ]; then take "$n" --tag keepme; else take "$n"; fi
done
dr_check "six snapshots" test "$(snap_ids | grep -c .)" -eq 6
dr_check "no reclaimable bytes before any forget" test "$(stat_field reclaimable_bytes)" -eq 0

# ---- usage errors and unknown ids: nothing changes ----
listing >"$T/l0"
dr_must_fail 2 "forget with no ids and no policy exits 2" drrepo forget
dr_check "it says why" grep -qi "policy" "$T/err"
dr_must_fail 2 "forget --prune with no ids and no policy exits 2" drrepo forget --prune
dr_must_fail 2 "forget with ids and a policy exits 2" drrepo forget "${SNAP[1]}" --keep-last 1
dr_must_fail 2 "forget --keep-last with a non-number exits 2" drrepo forget --keep-last x
dr_must_fail 2 "forget --keep-within with a bad duration exits 2" drrepo forget --keep-within 3x
dr_must_fail 2 "forget --group-by with an unknown field exits 2" drrepo forget --keep-last 1 \
    --group-by host,colour
dr_must_fail 1 "forget of an unknown id exits 1" drrepo forget 0000000000000000000000000000000000000000000000000000000000000000
dr_check "it names the id" grep -q "0000000000000000" "$T/err"
dr_must_fail 1 "forget of an unknown id prefix exits 1" drrepo forget abcdef01
dr_must_fail 1 "forget of a known and an unknown id exits 1" drrepo forget "${SNAP[1]}" abcdef01
listing >"$T/l1"
dr_check "failed forgets changed nothing" dr_cmp "$T/l0" "$T/l1"
dr_check "still six snapshots" test "$(snap_ids | grep -c .)" -eq 6

# ---- forget by id ----
dr_expect_success "forget state 1 by id" drrepo forget "${SNAP[1]}"
dr_check "state 1 is gone" test -z "$(snap_ids | grep "${SNAP[1]}")"
dr_check "five snapshots left" test "$(snap_ids | grep -c .)" -eq 5
dr_check "its snapshot object is deleted" test ! -e "$REPO/snapshots/${SNAP[1]}"
r1=$(stat_field reclaimable_bytes)
echo "# reclaimable after forgetting state 1: $r1"
dr_check "stats: reclaimable bytes > BIG after forgetting state 1 (its big file)" \
    test "$r1" -gt "$BIG"
dr_must_fail 1 "forgetting it again exits 1" drrepo forget "${SNAP[1]}"

# ---- forget by policy: dry run first ----
listing >"$T/l0"
dr_expect_success "forget --keep-last 2 --keep-tag keepme --dry-run" \
    drrepo forget --keep-last 2 --keep-tag keepme --dry-run
cp "$T/out" "$T/dry.txt"
short() { echo "${SNAP[$1]:0:8}"; }
dr_check "dry run: keeps state 6 for 'last'" grep -q "^keep .*$(short 6) .* last " "$T/dry.txt"
dr_check "dry run: keeps state 5 for 'last'" grep -q "^keep .*$(short 5) .* last " "$T/dry.txt"
dr_check "dry run: keeps state 2 for 'tag'" grep -q "^keep .*$(short 2) .* tag " "$T/dry.txt"
dr_check "dry run: removes state 3" grep -q "^remove .*$(short 3) " "$T/dry.txt"
dr_check "dry run: removes state 4" grep -q "^remove .*$(short 4) " "$T/dry.txt"
dr_check "dry run: says 2 to remove" grep -q "dry run: 2 snapshots to remove" "$T/dry.txt"
dr_check "dry run: lists 5 snapshots" test "$(grep -c '^\(keep\|remove\) ' "$T/dry.txt")" -eq 5
listing >"$T/l1"
dr_check "forget --dry-run changed nothing" dr_cmp "$T/l0" "$T/l1"
dr_check "forget --dry-run: five snapshots left" test "$(snap_ids | grep -c .)" -eq 5

dr_expect_success "forget --dry-run --json" drrepo forget --keep-last 2 --keep-tag keepme \
    --dry-run --json
cp "$T/out" "$T/dry.json"
jq_ok() { jq -e "$1" "$T/dry.json" >/dev/null 2>&1; }
dr_check "json: one valid document of 5 entries" jq_ok 'length == 5'
dr_check "json: state 6 kept for last" \
    jq_ok "map(select(.id == \"${SNAP[6]}\"))[0] | .action == \"keep\" and .reasons == \"last\""
dr_check "json: state 2 kept for tag" \
    jq_ok "map(select(.id == \"${SNAP[2]}\"))[0] | .action == \"keep\" and .reasons == \"tag\""
dr_check "json: state 3 removed, no reason" \
    jq_ok "map(select(.id == \"${SNAP[3]}\"))[0] | .action == \"remove\" and .reasons == \"\""
dr_check "json: two removed" jq_ok '[.[] | select(.action == "remove")] | length == 2'
dr_check "json: one group" jq_ok 'map(.group) | unique == [0]'
listing >"$T/l1"
dr_check "forget --dry-run --json changed nothing" dr_cmp "$T/l0" "$T/l1"

dr_expect_success "forget --keep-last 2 --keep-tag keepme --json" \
    drrepo forget --keep-last 2 --keep-tag keepme --json
cp "$T/out" "$T/real.json"
dr_check "real run: the same decisions as the dry run" \
    test "$(jq -c 'sort_by(.id)' "$T/real.json")" = "$(jq -c 'sort_by(.id)' "$T/dry.json")"
snap_ids >"$T/ids"
printf '%s\n' "${SNAP[2]}" "${SNAP[5]}" "${SNAP[6]}" | sort >"$T/ids.want"
dr_check "states 2, 5, 6 remain" dr_cmp "$T/ids.want" "$T/ids"
r2=$(stat_field reclaimable_bytes)
stored=$(stat_field stored_bytes)
echo "# before prune: stored $stored, reclaimable $r2"
dr_check "stats: reclaimable grew after forgetting 3 and 4" test "$r2" -gt "$r1"

# ---- prune: dry run, then for real ----
listing >"$T/l0"
dr_expect_success "prune --dry-run --json" drrepo prune --dry-run --json
cp "$T/out" "$T/prune-dry.json"
dr_check "prune --dry-run: says dry_run" test "$(jq -r .dry_run "$T/prune-dry.json")" = true
dr_check "prune --dry-run: finds unused packs" test "$(jq -r .packs_unused "$T/prune-dry.json")" -gt 0
dr_check "prune --dry-run: deletes nothing" test "$(jq -r .packs_deleted "$T/prune-dry.json")" -eq 0
dr_expect_success "prune --dry-run (text)" drrepo prune --dry-run
dr_check "prune --dry-run says so" grep -q "dry run" "$T/out"
listing >"$T/l1"
dr_check "prune --dry-run changed nothing in the repository" dr_cmp "$T/l0" "$T/l1"
dr_check "prune --dry-run: reclaimable unchanged" test "$(stat_field reclaimable_bytes)" -eq "$r2"

dr_expect_success "prune --json" drrepo prune --json
cp "$T/out" "$T/prune.json"
sed 's/^/# prune: /' "$T/prune.json"
pj() { jq -r ".$1" "$T/prune.json"; }
dr_check "prune: deleted packs" test "$(pj packs_deleted)" -gt 0
dr_check "prune: freed bytes" test "$(pj bytes_freed)" -gt 0
dr_check "prune: repacked partly dead packs (packs_repack > 0)" test "$(pj packs_repack)" -gt 0
dr_check "prune: blobs_repacked > 0" test "$(pj blobs_repacked)" -gt 0
dr_check "prune: wrote new packs" test "$(pj packs_written)" -gt 0
r3=$(stat_field reclaimable_bytes)
stored3=$(stat_field stored_bytes)
echo "# after prune: stored $stored3, reclaimable $r3"
dr_check "stats: reclaimable is about 0 after prune (<= 5% of stored, the --max-unused)" \
    test $((r3 * 20)) -le "$stored3"
dr_check "stats: stored bytes shrank by at least the forgotten big files (3 x BIG, less 11%)" \
    test $((stored - stored3)) -gt $((3 * BIG * 89 / 100))
dr_check "no temporary files left" test -z "$(find "$REPO" -name '.drrepo-tmp-*')"
dr_check "no locks left" test -z "$(find "$REPO/locks" -type f)"
restore_all "after prune"
dr_expect_success "check --read-data after prune" drrepo check --read-data
dr_expect_success "a second prune" drrepo prune --json
dr_check "a second prune deletes nothing" test "$(jq -r .packs_deleted "$T/out")" -eq 0
# the repository as a fresh cache sees it
DRREPO_CACHE_DIR="$T/cache-new" dr_expect_success "check --read-data with a fresh cache" \
    "$DRREPO" -r "$REPO" check --read-data
size_goal "after forget and prune" 2 5 6

# ---- forget --prune in one go, --max-unused 0 ----
for n in 7 8 9; do take "$n"; done
dr_expect_success "forget --keep-last 1 --keep-tag keepme --prune --max-unused 0 --json" \
    drrepo forget --keep-last 1 --keep-tag keepme --prune --max-unused 0 --json
cp "$T/out" "$T/fp.json"
dr_check "forget --prune --json prints one JSON document" jq_file 'length == 6' "$T/fp.json"
snap_ids >"$T/ids"
printf '%s\n' "${SNAP[2]}" "${SNAP[9]}" | sort >"$T/ids.want"
dr_check "states 2 and 9 remain" dr_cmp "$T/ids.want" "$T/ids"
dr_check "stats: reclaimable is 0 after prune with --max-unused 0" \
    test "$(stat_field reclaimable_bytes)" -eq 0
restore_all "after forget --prune"
dr_expect_success "check --read-data after forget --prune" drrepo check --read-data
size_goal "after forget --prune" 2 9

# forgetting the last snapshots: prune leaves an (almost) empty repository that still works
dr_expect_success "forget the rest by id" drrepo forget "${SNAP[2]}" "${SNAP[9]}"
dr_expect_success "prune everything" drrepo prune
dr_check "no data packs left" test -z "$(find "$REPO/data" -type f)"
dr_expect_success "check --read-data on the emptied repository" drrepo check --read-data
take 10
restore_all "after emptying"

# ---- groups on the command line: host+paths by default, --host, --group-by ----
take 11 --host alpha
take 12 --host beta
take 13 --host alpha
js() { jq -e "$1" "$T/out" >/dev/null 2>&1; }
dr_expect_success "forget --keep-last 1 --dry-run --json over three hosts" \
    drrepo forget --keep-last 1 --dry-run --json
dr_check "three groups (one per host)" js 'map(.group) | unique | length == 3'
dr_check "only alpha's older snapshot is removed" \
    js "[.[] | select(.action == \"remove\") | .id] == [\"${SNAP[11]}\"]"
dr_expect_success "forget --keep-last 1 --host alpha --dry-run --json" \
    drrepo forget --keep-last 1 --host alpha --dry-run --json
dr_check "--host alpha: only alpha's two snapshots are considered" js 'length == 2'
dr_expect_success "forget --keep-last 1 --group-by '' --dry-run --json" \
    drrepo forget --keep-last 1 --group-by '' --dry-run --json
dr_check "--group-by '': one group, only the newest kept" \
    js "length == 4 and ([.[] | select(.action == \"keep\") | .id] == [\"${SNAP[13]}\"])"
dr_expect_success "forget --keep-last 1 --prune" drrepo forget --keep-last 1 --prune
snap_ids >"$T/ids"
printf '%s\n' "${SNAP[10]}" "${SNAP[12]}" "${SNAP[13]}" | sort >"$T/ids.want"
dr_check "one snapshot per host remains" dr_cmp "$T/ids.want" "$T/ids"
restore_all "per host"

# ---- the files cache and the parent snapshot name blobs that prune has deleted ----
make_state 14
sleep 1.1 # files changed within the last second are always read again: make the cache count
dr_expect_success "snapshot of state 14" drrepo snapshot "$SRC" --json
SNAP[14]=$(dr_json_field snapshot_id)
STATE_OF[${SNAP[14]}]=14
dr_expect_success "forget state 14 at once, and prune" \
    drrepo forget "${SNAP[14]}" --prune --max-unused 0
dr_expect_success "snapshot of the unchanged tree again" drrepo snapshot "$SRC" --json
again=$(dr_json_field snapshot_id)
STATE_OF[$again]=14
dr_check "it stores the pruned data again (bytes_added > BIG)" \
    test "$(dr_json_field bytes_added)" -gt "$BIG"
restore_all "after re-snapshotting pruned data"
dr_expect_success "check --read-data at the end" drrepo check --read-data
dr_done
