#!/usr/bin/env bash
# bench/resnap.sh: the unchanged re-snapshot of a tree of many small files (drrepo alone), so
# that the cost of walking what did not change can be measured without the whole bench/run.sh.
#
#   bench/resnap.sh [-f FILES] [-s SNAPSHOTS] [-r REPS] [-w WORKDIR] [-d DRREPO] [-S] [-k]
#
#   -f FILES      files of 0.1-4 KB in 20 x 25 directories (env RS_FILES)    default 20000
#   -s SNAPSHOTS  snapshots in the repository before the timed runs, made of
#                 the same tree under other hosts (env RS_SNAPSHOTS)          default 1
#   -r REPS       timed unchanged re-snapshots (env RS_REPS)                  default 3
#   -w DIR        scratch dir (env RS_WORK)     default ${TMPDIR:-/tmp}/drrepo-resnap
#   -d PATH       drrepo binary (env DRREPO)    default build-bench/drrepo
#   -S            also print `strace -c -f` of one more re-snapshot (needs strace)
#   -k            keep the scratch dir afterwards
#
# Prints each run's wall, user and system time and their medians (GNU time: /usr/bin/time).
# The files get an mtime an hour in the past, so none falls in the files cache's racy window.
# Extra snapshots (-s) are of the same tree with --host other-N, so that they are not the
# parent: the re-snapshot should not slow down as the repository's snapshots grow.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NFILES=${RS_FILES:-20000}
NSNAP=${RS_SNAPSHOTS:-1}
REPS=${RS_REPS:-3}
WORK=${RS_WORK:-${TMPDIR:-/tmp}/drrepo-resnap}
DRREPO=${DRREPO:-$ROOT/build-bench/drrepo}
STRACE=0
KEEP=0

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
    -f) NFILES=$2; shift 2 ;;
    -s) NSNAP=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    -w) WORK=$2; shift 2 ;;
    -d) DRREPO=$2; shift 2 ;;
    -S) STRACE=1; shift ;;
    -k) KEEP=1; shift ;;
    -h | --help) usage 0 ;;
    *) usage 2 ;;
    esac
done
if grep -q 'DR_SANITIZE:BOOL=ON\|CMAKE_BUILD_TYPE:STRING=Debug' \
    "$(dirname "$DRREPO")/CMakeCache.txt" 2>/dev/null; then
    echo "resnap: warning: $DRREPO is a sanitizer or debug build" >&2
fi

rm -rf "$WORK"
mkdir -p "$WORK"
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT
export DRREPO_PASSWORD=bench-password DRREPO_CACHE_DIR="$WORK/cache"
unset DRREPO_REPOSITORY DRREPO_PASSWORD_FILE DRREPO_PASSWORD_COMMAND
REPO="$WORK/repo" DATA="$WORK/data"

python3 - "$DATA" "$NFILES" <<'EOF'
import os, random, sys, time
data, nfiles = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
stamp = time.time() - 3600
for k in range(nfiles):
    d = os.path.join(data, "d%02d" % (k % 20), "d%02d" % (k // 20 % 25))
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "f%05d.o" % k)
    with open(p, "wb") as f:
        f.write(rng.randbytes(rng.randint(100, 4000)))
    os.utime(p, (stamp, stamp))
EOF

"$DRREPO" -r "$REPO" init -q >/dev/null
for i in $(seq 2 "$NSNAP"); do
    "$DRREPO" -r "$REPO" -q snapshot --host "other-$i" "$DATA" >/dev/null
done
"$DRREPO" -r "$REPO" -q snapshot "$DATA" >/dev/null
echo "# $NFILES files, $NSNAP snapshot(s) in the repository; $("$DRREPO" version | head -n 1)"
: >"$WORK/times"
for rep in $(seq 1 "$REPS"); do
    /usr/bin/time -f '%e %U %S' -o "$WORK/t" "$DRREPO" -r "$REPO" -q snapshot "$DATA" >/dev/null
    cat "$WORK/t" >>"$WORK/times"
    read -r e u k <"$WORK/t"
    echo "# run $rep: $e s wall, $u s user, $k s system"
done
# medians of each column
for c in 1 2 3; do
    cut -d' ' -f$c "$WORK/times" | sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }'
done | paste -sd' ' | awk '{ printf "median: %s s wall, %s s user, %s s system\n", $1, $2, $3 }'
if [ "$STRACE" = 1 ]; then
    strace -c -f -o "$WORK/strace" "$DRREPO" -r "$REPO" -q snapshot "$DATA" >/dev/null
    head -n 14 "$WORK/strace"
    tail -n 1 "$WORK/strace"
fi
