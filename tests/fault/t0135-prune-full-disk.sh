#!/bin/bash
# t0135: prune on a disk with 0 bytes free. A snapshot that ran out of space left packs that no
# snapshot references, and then the disk filled up completely. prune, the command that frees the
# space, must still run: its lock uses the space of the repository's reserve (format/
# repository.md "Reserve"), a repack that finds no room does not stop the deletion, and the
# reserve is written again once space is free. Other commands do not touch the reserve: a
# snapshot on the full disk fails cleanly and leaves it for prune. Needs root (mounts a tmpfs).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_mount_tmpfs 16m

REPO="$MNT/repo"
free_bytes() { df --output=avail -B1 "$MNT" | tail -n 1 | tr -d ' '; }
data_packs() { find "$REPO/data" -type f ! -name '.drrepo-tmp-*' | wc -l; }
restore_same() { # NAME SNAP SRC
    rm -rf "$T/r"
    dr_expect_success "$1: restore" drrepo restore "$2" --target "$T/r"
    dr_check "$1: identical" dr_same_tree "$3" "$T/r$3"
}

"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K \
    --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" || dr_fail "init on the tmpfs"
dr_check "init writes the reserve" test -f "$REPO/reserve"
dr_check "the reserve is 1 MiB" test "$(stat -c %s "$REPO/reserve" 2>/dev/null)" = 1048576

# two snapshots sharing f1a, f2a, f3a (3.6 MB); forgetting the first leaves the repack its
# candidates: packs more than 5% dead. The dead data is 15 files of 60 KB, one chunk each (below
# --chunk-min) and each over 5% of a 1 MiB pack, read between the live files, so that wherever
# the writer's random pack assignment puts them, nearly every pack is a candidate and the live data to copy (megabytes)
# needs new packs larger than the reserve. (With the dead data in a few large chunks, one run
# in several put them together in packs of little live data, and the repack fit.)
mkdir -p "$T/s1" "$T/s2"
for i in 1 2 3; do
    "$TOOL" gen "$T/s1/f${i}a" 1200K "$i"
    cp -p "$T/s1/f${i}a" "$T/s2/f${i}a"
    # named to be read between the live files, so that they are spread over the packs
    for j in 1 2 3 4 5; do "$TOOL" gen "$T/s1/f${i}b$j" 60K "$((i * 10 + j))"; done
done
dr_expect_success "snapshot s1" drrepo snapshot "$T/s1"
dr_expect_success "snapshot s2" drrepo snapshot "$T/s2"
first=$(drrepo snapshots --json | grep -o '"id":"[0-9a-f]*"' | head -n 1 | cut -d'"' -f4)
dr_expect_success "forget s1" drrepo forget "$first"

# a snapshot of incompressible data on the same disk runs out of space and leaves its packs
mkdir -p "$MNT/big"
"$TOOL" gen "$MNT/big/x" 4M 10
"$TOOL" gen "$MNT/big/y" 4M 11
dr_must_fail 1 "snapshot on a full disk: exit 1" drrepo snapshot "$MNT/big"
dr_check "full disk: the error says no space" grep -qi "no space" "$T/err"
# ... then the disk fills to the last byte (another program, a log file, ...)
dd if=/dev/zero of="$MNT/filler" bs=64k >/dev/null 2>&1
dd if=/dev/zero of="$MNT/filler2" bs=1 >/dev/null 2>&1
echo "# full disk: $(free_bytes) bytes free, $(data_packs) data packs"
dr_check "full disk: 0 bytes free" test "$(free_bytes)" = 0
packs_before=$(data_packs)

dr_must_fail 1 "full disk: a snapshot cannot take its lock" drrepo snapshot "$T/s2"
dr_check "full disk: the snapshot's error says no space" grep -qi "no space" "$T/err"
dr_check "full disk: the snapshot leaves the reserve alone" test -f "$REPO/reserve"
dr_check "full disk: the snapshot left no lock" test -z "$(find "$REPO/locks" -type f)"

dr_must_fail 1 "full disk: prune exits 1 (no room to repack)" drrepo prune --json
dr_check "prune: the error says what was freed and to run prune again" \
    grep -q "^drrepo: error: prune deleted [1-9][0-9]* packs .* no space to repack.*run prune again" "$T/err"
dr_check "prune: warns that it used the reserve" grep -q "warning: .*reserve" "$T/err"
dr_check "prune: warns that the repack found no room" grep -qi "warning: .*repack" "$T/err"
echo "# prune on the full disk: $(cat "$T/out")"
dr_check "prune: nothing repacked" test "$(dr_json_field blobs_repacked)" = 0
dr_check "prune: deleted the failed snapshot's packs" test "$(data_packs)" -lt "$packs_before"
dr_check "prune: no lock left" test -z "$(find "$REPO/locks" -type f)"
dr_check "prune: the reserve is back" test "$(stat -c %s "$REPO/reserve" 2>/dev/null)" = 1048576
dr_check "prune: no temporary files" test -z "$(find "$REPO" -name '.drrepo-tmp-*')"
dr_expect_success "after prune: check --read-data" drrepo check --read-data
restore_same "after prune: s2" latest "$T/s2"

# with the space back, a second prune does the repack the first one had no room for
rm -rf "$MNT/filler" "$MNT/filler2" "$MNT/big"
dr_expect_success "space freed: prune again" drrepo prune --json
dr_check "space freed: prune repacked" test "$(dr_json_field blobs_repacked)" -gt 0
dr_check "space freed: no warning about the reserve" test -z "$(grep -i reserve "$T/err")"
dr_expect_success "space freed: check --read-data" drrepo check --read-data
restore_same "space freed: s2" latest "$T/s2"
dr_expect_success "space freed: snapshot" drrepo snapshot "$T/s1"
restore_same "space freed: new snapshot" latest "$T/s1"

# a repository made before the reserve existed gets one from the next command that locks it
rm -f "$REPO/reserve"
dr_expect_success "old repository: snapshot" drrepo snapshot "$T/s1"
dr_check "old repository: the reserve was written" test -f "$REPO/reserve"
dr_expect_success "old repository: check (reserve is part of the layout)" drrepo check
dr_check "check: no warning about the reserve" test -z "$(grep -i reserve "$T/err")"
dr_done
