#!/bin/bash
# t0230: check at scale: a repository of 70,000 blobs (70,000 distinct files of 100 bytes in
# 70 directories, each below --chunk-min and so one blob). The structure check must pass and
# count every blob; its time is printed, not asserted. 70,000 is above 65,536, so a count or an
# index kept in 16 bits would wrap, and the blob index spans many LMDB pages on several levels.
# Needs about 320 MB of scratch space (each tiny file takes a block); the source tree is removed
# once it has been snapshotted. DR_SCALE_FILES=N changes the count. As root the source tree is
# made in a tmpfs of its own: its 70,000 creations and deletions then do not go through the
# journal of the file system that the tests running beside it fsync on (which made this test
# take minutes in the parallel suite); the repository stays in the scratch directory.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

NFILES=${DR_SCALE_FILES:-70000}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

SRC="$T/src"
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/srcfs" &&
    mount -t tmpfs -o size=$((NFILES / 200 + 40))m tmpfs "$T/srcfs" 2>/dev/null; then
    trap 'umount "$T/srcfs" 2>/dev/null || umount -l "$T/srcfs"; dr_cleanup' EXIT
    SRC="$T/srcfs/src"
    echo "# the source tree is in a tmpfs"
fi
t0=$(now)
awk -v n="$NFILES" -v root="$SRC" 'BEGIN {
    pad = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
    for (i = 0; i < n; i++) {
        if (i % 1000 == 0) {
            dir = sprintf("%s/d%03d", root, int(i / 1000))
            if (system("mkdir -p " dir) != 0) exit 1
        }
        f = sprintf("%s/f%06d", dir, i)
        printf "file %06d %s\n", i, substr(pad, 1, 87) > f
        close(f)
    }
}' || dr_fail "creating $NFILES files"
dr_check "setup: $NFILES files" test "$(find "$SRC" -type f | wc -l)" -eq "$NFILES"
echo "# created $NFILES files in $(since "$t0")s"

dr_init
t0=$(now)
dr_expect_success "snapshot of $NFILES files" drrepo snapshot "$SRC"
echo "# snapshot of $NFILES files took $(since "$t0")s"
t0=$(now)
rm -rf "$SRC"
echo "# removing the source tree took $(since "$t0")s"

t0=$(now)
dr_expect_success "check --json" drrepo check --json
echo "# check (structure) of $NFILES blobs took $(since "$t0")s" \
    "(check says $(dr_json_field duration_seconds)s)"
blobs=$(dr_json_field blobs)
trees=$(dr_json_field trees)
echo "# check counted $blobs blobs, $trees trees, $(dr_json_field packs) packs"
dr_check "check counts every blob ($blobs >= $NFILES)" test "${blobs:-0}" -ge "$NFILES"
dr_check "check counts every directory ($trees > $((NFILES / 1000)))" \
    test "${trees:-0}" -gt $((NFILES / 1000))
dr_check "check reports no problems" grep -q '"ok":true,"damage":0' "$T/out"

t0=$(now)
dr_expect_success "check --read-data" drrepo check --read-data
echo "# check --read-data took $(since "$t0")s"

t0=$(now)
dr_expect_success "repair index" drrepo repair index
echo "# repair index took $(since "$t0")s"
rblobs=$(sed -n 's/.*[0-9][0-9]* packs, \([0-9][0-9]*\) blobs.*/\1/p' "$T/out" | head -n 1)
dr_check "repair index counts every blob (${rblobs:-none} >= $NFILES)" test "${rblobs:-0}" -ge "$NFILES"
dr_expect_success "check after repair index" drrepo check --json
dr_check "after repair index check still counts every blob" \
    test "$(dr_json_field blobs)" -ge "$NFILES"
dr_done
