#!/bin/bash
# t0150: concurrent snapshots into one repository, and locks held by others. Two snapshots at
# once both succeed (a snapshot takes a shared lock, and shared locks never conflict, so exit 11
# is a failure); every recorded snapshot restores byte-identical and check --read-data passes.
# A live exclusive lock of another host blocks with 11 naming the holder; a stale lock of this
# host (dead pid) is removed with a warning; `drrepo unlock` removes another host's live lock
# only with --remove-all.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K \
    --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" || dr_fail "init"

snap_ids() { drrepo snapshots --json 2>/dev/null | grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4 | sort; }
lock_files() { find "$REPO/locks" -type f 2>/dev/null; }
restore_same() { # NAME SNAP SRC
    rm -rf "$T/r"
    dr_expect_success "$1: restore ${2:0:8}" drrepo restore "$2" --target "$T/r"
    dr_check "$1: ${2:0:8} identical to ${3#"$T"/}" dr_same_tree "$3" "$T/r$3"
}
# the tree that snapshot ID was taken of, from its paths
snap_path() { drrepo snapshots --json 2>/dev/null | tr '{' '\n' | grep "\"id\":\"$1\"" |
    sed -n 's/.*"paths":\["\([^"]*\)".*/\1/p'; }

# two trees sharing some content, so that both runs store the same blobs at the same time
mkdir -p "$T/tA" "$T/tB"
for i in 1 2 3; do "$TOOL" gen "$T/tA/a$i" 1500K $((i)); done
for i in 1 2 3; do "$TOOL" gen "$T/tB/b$i" 1500K $((10 + i)); done
"$TOOL" gen "$T/tA/shared.sql" 2M 99 text
cp -p "$T/tA/shared.sql" "$T/tB/shared.sql"
"$TOOL" gen "$T/tA/shared.bin" 1M 98
cp -p "$T/tA/shared.bin" "$T/tB/shared.bin"

# concurrent ROUND X Y CACHE2: snapshots of X and Y at once; CACHE2 is the second run's cache
concurrent() {
    local round=$1 x=$2 y=$3 cache2=$4
    snap_ids >"$T/ids.before"
    "$DRREPO" -r "$REPO" snapshot "$x" >"$T/out1" 2>"$T/err1" &
    local p1=$!
    DRREPO_CACHE_DIR="$cache2" "$DRREPO" -r "$REPO" snapshot "$y" >"$T/out2" 2>"$T/err2" &
    local p2=$!
    wait "$p1"
    local rc1=$?
    wait "$p2"
    local rc2=$?
    echo "# $round: exits $rc1 and $rc2"
    dr_check "$round: first run succeeds (exit $rc1)" test "$rc1" -eq 0
    dr_check "$round: second run succeeds (exit $rc2)" test "$rc2" -eq 0
    local i rcs=("$rc1" "$rc2")
    for i in 1 2; do
        if [ "${rcs[i - 1]}" -ne 0 ]; then
            sed "s/^/#   run $i: /" "$T/err$i" | tail -n 5
        fi
        if grep -q 'Sanitizer\|runtime error' "$T/err$i"; then
            dr_fail "$round: run $i sanitizer report"
            sed 's/^/#   /' "$T/err$i" | head -n 30
        fi
    done
    snap_ids >"$T/ids.after"
    local expect=0
    [ "$rc1" -eq 0 ] && expect=$((expect + 1))
    [ "$rc2" -eq 0 ] && expect=$((expect + 1))
    dr_check "$round: $expect snapshots recorded" \
        test "$(comm -13 "$T/ids.before" "$T/ids.after" | grep -c .)" -eq "$expect"
    dr_check "$round: no snapshot lost" test -z "$(comm -23 "$T/ids.before" "$T/ids.after")"
    local id
    for id in $(comm -13 "$T/ids.before" "$T/ids.after"); do
        restore_same "$round" "$id" "$(snap_path "$id")"
    done
    dr_expect_success "$round: check --read-data" drrepo check --read-data
    dr_check "$round: no locks left" test -z "$(lock_files)"
    dr_check "$round: no temporary files left" test -z "$(find "$REPO" -name '.drrepo-tmp-*')"
}

concurrent "different trees, one cache" "$T/tA" "$T/tB" "$DRREPO_CACHE_DIR"
echo "changed" >"$T/tA/new"
concurrent "same tree, one cache" "$T/tA" "$T/tA" "$DRREPO_CACHE_DIR"
"$TOOL" gen "$T/tB/b1" 1500K 21
"$TOOL" gen "$T/tA/a1" 1500K 22
concurrent "different trees, two caches" "$T/tA" "$T/tB" "$T/cache2"
"$TOOL" gen "$T/tA/a2" 1500K 23
concurrent "same tree, two caches" "$T/tA" "$T/tA" "$T/cache3"
# a third run's cache that has never seen the repository reads it whole
DRREPO_CACHE_DIR="$T/cache4" dr_expect_success "fresh cache: check --read-data" \
    "$DRREPO" -r "$REPO" check --read-data

# a live exclusive lock of another host: exit 11 naming the holder, nothing written
"$TOOL" lock "$REPO" exclusive otherhost 1234 || dr_fail "dr-test-tool lock"
listing() { (cd "$REPO" && find . -printf '%y %P %s\n' | sort); }
listing >"$T/before"
snap_ids >"$T/ids.before"
dr_must_fail 11 "exclusive lock of otherhost: snapshot exits 11" drrepo snapshot "$T/tA"
dr_check "the lock error names the host" grep -q "otherhost" "$T/err"
dr_check "the lock error names the pid" grep -q "1234" "$T/err"
listing >"$T/after"
dr_check "locked: nothing written" dr_cmp "$T/before" "$T/after"
snap_ids >"$T/ids.after"
dr_check "locked: no snapshot recorded" dr_cmp "$T/ids.before" "$T/ids.after"
dr_must_fail 11 "exclusive lock of otherhost: check exits 11" drrepo check
dr_expect_success "locked: listing snapshots needs no lock" drrepo snapshots
dr_expect_success "unlock without --remove-all" drrepo unlock
dr_check "unlock keeps another host's live lock" test -f "$REPO/locks/testlock1234"
dr_must_fail 11 "still locked after a plain unlock" drrepo snapshot "$T/tA"
dr_expect_success "unlock --remove-all" drrepo unlock --remove-all
dr_check "unlock --remove-all removed it" test ! -e "$REPO/locks/testlock1234"
dr_expect_success "unlocked: snapshot works" drrepo snapshot "$T/tA"

# a shared lock of another host does not block a snapshot, and is left alone
"$TOOL" lock "$REPO" shared otherhost 4321 || dr_fail "dr-test-tool lock shared"
dr_expect_success "shared lock of otherhost: snapshot works" drrepo snapshot "$T/tB"
dr_check "the other host's shared lock is kept" test -f "$REPO/locks/testlock4321"
# ... but it blocks prune's exclusive phase, and the message reads as one sentence
dr_must_fail 11 "shared lock of otherhost: prune exits 11" drrepo prune
dr_check "the shared-lock message names the holder" \
    grep -q "repository is locked by pid 4321 on otherhost" "$T/err"
dr_check "the lock message has no double space" test -z "$(grep '^drrepo: error' "$T/err" | grep '  ')"
drrepo unlock --remove-all >/dev/null 2>&1

# a stale lock of this host: the pid is gone, so it is removed with a warning
sh -c 'exit 0' &
dead=$!
wait "$dead"
while kill -0 "$dead" 2>/dev/null; do dead=$((dead + 1)); done
"$TOOL" lock "$REPO" exclusive "$(hostname)" "$dead" || dr_fail "dr-test-tool lock stale"
snap_ids >"$T/ids.before"
dr_expect_success "stale lock of this host: snapshot works" drrepo snapshot "$T/tA"
dr_check "stale lock: a warning names it" grep -q "stale lock.*$dead" "$T/err"
dr_check "stale lock: removed" test ! -e "$REPO/locks/testlock$dead"
snap_ids >"$T/ids.after"
dr_check "stale lock: snapshot recorded" \
    test "$(comm -13 "$T/ids.before" "$T/ids.after" | grep -c .)" -eq 1
"$TOOL" lock "$REPO" exclusive "$(hostname)" "$dead" || dr_fail "dr-test-tool lock stale"
dr_expect_success "unlock removes a stale lock of this host" drrepo unlock
dr_check "unlock: the stale lock is gone" test ! -e "$REPO/locks/testlock$dead"
dr_check "unlock: says what it removed" grep -q "testlock$dead" "$T/out"
# a live process of this host: kept by a plain unlock
"$TOOL" lock "$REPO" exclusive "$(hostname)" $$ || dr_fail "dr-test-tool lock live"
dr_must_fail 11 "a live lock of this host blocks" drrepo snapshot "$T/tA"
dr_expect_success "unlock with a live lock of this host" drrepo unlock
dr_check "unlock keeps the live lock of this host" test -f "$REPO/locks/testlock$$"
dr_expect_success "unlock --remove-all removes it" drrepo unlock --remove-all
dr_check "live lock removed by --remove-all" test -z "$(lock_files)"

dr_expect_success "final check --read-data" drrepo check --read-data
dr_expect_success "final restore" drrepo restore latest --target "$T/final"
dr_check "final restore identical" dr_same_tree "$T/tA" "$T/final$T/tA"
dr_done
