#!/usr/bin/env bash
# bench/mount-read.sh: reading through `drrepo mount` against `drrepo restore` and `restic mount`.
#
#   bench/mount-read.sh [-s SIZE] [-f FILES] [-w WORKDIR] [-d DRREPO] [-k]
#
#   -s SIZE   size of the large file read sequentially (MiB)          default 1024
#   -f FILES  small files in the snapshot besides it (a "large" tree)  default 20000
#   -w DIR    scratch dir (needs ~3x SIZE free)     default ${TMPDIR:-/tmp}/drrepo-mount-bench
#   -d PATH   drrepo binary    default build-m-rel/drrepo, else build-rel/drrepo, build/drrepo
#   -k        keep the scratch dir
#
# Measures, for drrepo and restic on the same data (random, incompressible):
#   - sequential read of the large file: `drrepo restore --include`, `cat` through `drrepo mount`,
#     `cat` through `restic mount`, and `restic restore --include`, in MiB/s;
#   - time to first byte: from a fresh mount being ready to the first byte of a file deep in
#     the snapshot (path resolution through the trees plus the first chunk).
# Everything is in the page cache (CPU-bound numbers). Needs root or fuse for the mounts; a tool
# that cannot mount is reported as "n/a". Results go to stdout as a table.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SIZE=1024
FILES=20000
WORK=${TMPDIR:-/tmp}/drrepo-mount-bench
KEEP=0
DRREPO=${DRREPO:-}
while [ $# -gt 0 ]; do
    case $1 in
    -s) SIZE=$2; shift 2 ;;
    -f) FILES=$2; shift 2 ;;
    -w) WORK=$2; shift 2 ;;
    -d) DRREPO=$2; shift 2 ;;
    -k) KEEP=1; shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$DRREPO" ]; then
    for b in build-m-rel build-rel build; do
        [ -x "$ROOT/$b/drrepo" ] && { DRREPO=$ROOT/$b/drrepo; break; }
    done
fi
[ -x "$DRREPO" ] || { echo "no drrepo binary (use -d)" >&2; exit 2; }

export DRREPO_PASSWORD=bench RESTIC_PASSWORD=bench
export DRREPO_CACHE_DIR=$WORK/dr-cache RESTIC_CACHE_DIR=$WORK/restic-cache
rm -rf "$WORK"
mkdir -p "$WORK/data/big" "$WORK/data/tree" "$WORK/mnt-dr" "$WORK/mnt-restic"
pids=()
cleanup() {
    fusermount3 -u -z "$WORK/mnt-dr" 2>/dev/null || true
    fusermount3 -u -z "$WORK/mnt-restic" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
rate() { echo "scale=0; $SIZE / $1" | bc -l; }

echo "# generating ${SIZE} MiB file and $FILES small files in $WORK/data" >&2
head -c "$((SIZE * 1024 * 1024))" /dev/urandom > "$WORK/data/big/file.bin"
python3 - "$WORK/data/tree" "$FILES" <<'PY'
import os, sys, random
root, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 50), "e%02d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.txt" % i), "wb") as f:
        f.write(random.randbytes(random.randint(100, 8000)))
PY
deep=$(find "$WORK/data/tree" -type f | sort | tail -n 1)

echo "# snapshot / backup" >&2
"$DRREPO" -r "$WORK/dr-repo" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 >/dev/null 2>&1
"$DRREPO" -r "$WORK/dr-repo" -q snapshot "$WORK/data"
restic -r "$WORK/restic-repo" init -q >/dev/null
restic -r "$WORK/restic-repo" backup -q "$WORK/data" >/dev/null

wait_mount() {
    for _ in $(seq 1 300); do grep -q " $1 fuse" /proc/mounts && return 0; sleep 0.05; done
    return 1
}

results=()
row() { results+=("$(printf '%-34s %12s' "$1" "$2")"); }

# drrepo restore of the large file
rm -rf "$WORK/out"
t0=$(now)
"$DRREPO" -r "$WORK/dr-repo" -q restore latest --target "$WORK/out" --include "$WORK/data/big/file.bin"
t1=$(now)
row "drrepo restore (MiB/s)" "$(rate "$(secs "$t0" "$t1")")"
rm -rf "$WORK/out"

t0=$(now)
restic -r "$WORK/restic-repo" restore -q latest --target "$WORK/out" --include "$WORK/data/big/file.bin"
t1=$(now)
row "restic restore (MiB/s)" "$(rate "$(secs "$t0" "$t1")")"
rm -rf "$WORK/out"

# drrepo mount: time to first byte on a fresh mount, then a cold sequential read
mount_dr() {
    "$DRREPO" -r "$WORK/dr-repo" -q mount "$WORK/mnt-dr" "$@" 2>"$WORK/dr-mount.log" &
    pids+=($!)
    wait_mount "$WORK/mnt-dr"
}
if mount_dr; then
    t0=$(now)
    head -c 1 "$WORK/mnt-dr/latest$deep" >/dev/null
    t1=$(now)
    row "drrepo mount first byte (ms)" "$(echo "scale=1; ($t1 - $t0) * 1000 / 1" | bc -l)"
    t0=$(now)
    dd if="$WORK/mnt-dr/latest$WORK/data/big/file.bin" of=/dev/null bs=1M 2>/dev/null
    t1=$(now)
    row "drrepo mount cat (MiB/s)" "$(rate "$(secs "$t0" "$t1")")"
    fusermount3 -u "$WORK/mnt-dr"
    sleep 1
    if mount_dr --readahead 0; then
        t0=$(now)
        dd if="$WORK/mnt-dr/latest$WORK/data/big/file.bin" of=/dev/null bs=1M 2>/dev/null
        t1=$(now)
        row "drrepo mount, no read-ahead (MiB/s)" "$(rate "$(secs "$t0" "$t1")")"
        fusermount3 -u "$WORK/mnt-dr"
        sleep 1
    fi
else
    row "drrepo mount" "n/a"
fi

# restic mount
restic -r "$WORK/restic-repo" mount "$WORK/mnt-restic" >"$WORK/restic-mount.log" 2>&1 &
pids+=($!)
if wait_mount "$WORK/mnt-restic"; then
    t0=$(now)
    snap=$(ls "$WORK/mnt-restic/snapshots" | grep -v latest | head -n 1)
    head -c 1 "$WORK/mnt-restic/snapshots/$snap$deep" >/dev/null
    t1=$(now)
    row "restic mount first byte (ms)" "$(echo "scale=1; ($t1 - $t0) * 1000 / 1" | bc -l)"
    t0=$(now)
    dd if="$WORK/mnt-restic/snapshots/$snap$WORK/data/big/file.bin" of=/dev/null bs=1M 2>/dev/null
    t1=$(now)
    row "restic mount cat (MiB/s)" "$(rate "$(secs "$t0" "$t1")")"
    fusermount3 -u "$WORK/mnt-restic"
else
    row "restic mount" "n/a"
fi

echo "# ${SIZE} MiB file, $FILES small files, $(nproc) cores, drrepo $("$DRREPO" version 2>/dev/null | head -n 1), $(restic version | cut -d' ' -f1-2)"
printf '%s\n' "${results[@]}"
