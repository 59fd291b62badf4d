#!/bin/bash
# t0230: check at scale: a repository of 100,000 blobs (100,000 distinct files of 100 bytes in
# 100 directories, each below --chunk-min and so one blob). The structure check must pass and
# count every blob; its time is printed, not asserted. Needs about 450 MB of scratch space
# (each tiny file takes a block); the source tree is removed once it has been snapshotted.
. "$DR_SRC/tests/e2e/lib.sh"

NFILES=${DR_SCALE_FILES:-100000}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
awk -v n="$NFILES" -v root="$T/src" 'BEGIN {
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
dr_check "setup: $NFILES files" test "$(find "$T/src" -type f | wc -l)" -eq "$NFILES"
echo "# created $NFILES files in $(since "$t0")s"

dr_init
t0=$(now)
dr_expect_success "snapshot of $NFILES files" drrepo snapshot "$T/src"
echo "# snapshot of $NFILES files took $(since "$t0")s"
rm -rf "$T/src"

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
dr_check "repair index counts every blob" grep -qE "[0-9]+ packs, ($NFILES|[1-9][0-9]{5,}) blobs" \
    "$T/out"
dr_expect_success "check after repair index" drrepo check --json
dr_check "after repair index check still counts every blob" \
    test "$(dr_json_field blobs)" -ge "$NFILES"
dr_done
