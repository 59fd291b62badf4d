#!/usr/bin/env bash
# bench/prune-scale.sh: `forget --keep-last N/2 --prune` on a repository with ~100,000 blobs and
# N snapshots (default 1,000), drrepo against restic on the same data.
#
#   bench/prune-scale.sh [-n SNAPSHOTS] [-f FILES] [-c CHANGED] [-r REPS] [-w WORKDIR] [-d DRREPO] [-k]
#
#   -n SNAPSHOTS  snapshots to build (env PS_SNAPSHOTS)                     default 1000
#   -f FILES      files in the tree, in 40 directories (env PS_FILES)        default 4000
#   -c CHANGED    files rewritten between two snapshots (env PS_CHANGED)     default 100
#   -r REPS       timed runs, each on a fresh copy of both repositories (env PS_REPS) default 3
#   -w DIR        scratch dir (env PS_WORK)       default ${TMPDIR:-/tmp}/drrepo-prune-scale
#   -d PATH       drrepo binary (env DRREPO)      default build-bench/drrepo
#   -k            keep the scratch dir afterwards
#
# The data: FILES small files of 0.5-3 KB (each below every chunker minimum, so one blob per
# file in both tools) in 40 directories. Between two snapshots, CHANGED files in 3 directories
# picked at random (seeded) get new random content and an mtime of their own, so each snapshot
# adds CHANGED data blobs and 4 tree blobs: 4,000 + 999 x 100 = 103,900 data blobs plus ~4,000
# tree blobs by default. A file's content lives for about 40 snapshots, so forgetting the older
# half kills whole old packs and parts of packs at the boundary.
#
# Both repositories are built in one loop (drrepo snapshot, then restic backup of the same
# state), then `forget --keep-last N/2 --prune` is timed for each with /usr/bin/time, REPS times,
# each run on a fresh copy of the built repository and cache (the minimum and the median are
# printed; the last run's result is checked with each tool's `check`). Build
# drrepo as Release: cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DDR_TESTS=OFF
# Needs: python3 (data generator), restic, /usr/bin/time.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NSNAP=${PS_SNAPSHOTS:-1000}
NFILES=${PS_FILES:-4000}
NCHANGE=${PS_CHANGED:-100}
REPS=${PS_REPS:-3}
WORK=${PS_WORK:-${TMPDIR:-/tmp}/drrepo-prune-scale}
DRREPO=${DRREPO:-$ROOT/build-bench/drrepo}
KEEP=0

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
    -n) NSNAP=$2; shift 2 ;;
    -f) NFILES=$2; shift 2 ;;
    -c) NCHANGE=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    -w) WORK=$2; shift 2 ;;
    -d) DRREPO=$2; shift 2 ;;
    -k) KEEP=1; shift ;;
    -h | --help) usage 0 ;;
    *) usage 2 ;;
    esac
done

missing=""
for tool in python3 restic /usr/bin/time "$DRREPO"; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "prune-scale: missing:$missing" >&2
    exit 2
fi
if grep -q 'DR_SANITIZE:BOOL=ON\|CMAKE_BUILD_TYPE:STRING=Debug' \
    "$(dirname "$DRREPO")/CMakeCache.txt" 2>/dev/null; then
    echo "prune-scale: warning: $DRREPO is a sanitizer or debug build" >&2
fi

KEEPN=$((NSNAP / 2))
rm -rf "$WORK"
mkdir -p "$WORK"
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT

export DRREPO_PASSWORD=bench-password DRREPO_CACHE_DIR="$WORK/drrepo-cache"
export RESTIC_PASSWORD=bench-password RESTIC_CACHE_DIR="$WORK/restic-cache"
unset DRREPO_REPOSITORY DRREPO_PASSWORD_FILE DRREPO_PASSWORD_COMMAND RESTIC_REPOSITORY
DR="$WORK/drrepo-repo" RS="$WORK/restic-repo" DATA="$WORK/data"

echo "# drrepo $("$DRREPO" version 2>/dev/null | head -n 1); $(restic version)"
echo "# $NSNAP snapshots of $NFILES files, $NCHANGE rewritten between snapshots; forget --keep-last $KEEPN --prune"
"$DRREPO" -r "$DR" init -q >/dev/null
restic -r "$RS" init -q >/dev/null

# build both repositories from the same states
python3 - "$DATA" "$NSNAP" "$NFILES" "$NCHANGE" "$DRREPO" "$DR" "$RS" <<'EOF'
import os, random, subprocess, sys, time
data, nsnap, nfiles, nchange, drrepo, dr, rs = sys.argv[1:]
nsnap, nfiles, nchange = int(nsnap), int(nfiles), int(nchange)
rng = random.Random(1)
ndirs = 40
paths = [os.path.join(data, "d%02d" % (k % ndirs), "f%05d" % k) for k in range(nfiles)]
for d in range(ndirs):
    os.makedirs(os.path.join(data, "d%02d" % d), exist_ok=True)

def write(p, stamp):
    with open(p, "wb") as f:
        f.write(rng.randbytes(rng.randint(512, 3072)))
    os.utime(p, (stamp, stamp))

base = 1600000000
for p in paths:
    write(p, base)
t_dr = t_rs = 0.0
for i in range(1, nsnap + 1):
    if i > 1:
        # changes cluster in 3 directories, as real changes do (and so trees stay small)
        dirs = rng.sample(range(ndirs), 3)
        pool = [p for k, p in enumerate(paths) if k % ndirs in dirs]
        for p in rng.sample(pool, min(nchange, len(pool))):
            write(p, base + 60 * i)
    t = time.monotonic()
    subprocess.run([drrepo, "-r", dr, "-q", "snapshot", data], check=True)
    t_dr += time.monotonic() - t
    t = time.monotonic()
    subprocess.run(["restic", "-r", rs, "-q", "backup", "--host", "bench", data], check=True)
    t_rs += time.monotonic() - t
    if i % 100 == 0 or i == nsnap:
        print("# built %d snapshots: drrepo %.0f s, restic %.0f s" % (i, t_dr, t_rs), flush=True)
print("# building: drrepo %.1f s (%.0f ms a snapshot), restic %.1f s (%.0f ms a backup)"
      % (t_dr, 1000 * t_dr / nsnap, t_rs, 1000 * t_rs / nsnap))
EOF

dr_stats() { "$DRREPO" -r "$DR" stats --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print("%d snapshots, %d blobs, %d packs, %d bytes stored" % (s["snapshots"], s["blobs"], s["packs"], s["stored_bytes"]))'; }
rs_stats() { restic -r "$RS" stats --mode raw-data --json -q | python3 -c 'import json,sys; s=json.load(sys.stdin); print("%d snapshots, %d blobs, %d bytes stored" % (s.get("snapshots_count", 0), s.get("total_blob_count", 0), s.get("total_size", 0)))'; }
echo "# before: drrepo: $(dr_stats); du $(du -sb "$DR" | cut -f1)"
echo "# before: restic: $(rs_stats); du $(du -sb "$RS" | cut -f1)"

# timed FILE CMD...: /usr/bin/time's elapsed seconds and max RSS (KB) into FILE
timed() {
    local out=$1
    shift
    /usr/bin/time -f '%e %M' -o "$out" "$@" >"$out.log" 2>&1 || {
        echo "prune-scale: failed: $*" >&2
        tail -n 20 "$out.log" >&2
        exit 1
    }
}
# pristine copies: each timed run starts from the same state
mv "$DR" "$DR.0" && mv "$DRREPO_CACHE_DIR" "$DRREPO_CACHE_DIR.0"
mv "$RS" "$RS.0" && mv "$RESTIC_CACHE_DIR" "$RESTIC_CACHE_DIR.0"
: >"$WORK/times.drrepo"
: >"$WORK/times.restic"
for rep in $(seq 1 "$REPS"); do
    rm -rf "$DR" "$DRREPO_CACHE_DIR" "$RS" "$RESTIC_CACHE_DIR"
    cp -a "$DR.0" "$DR" && cp -a "$DRREPO_CACHE_DIR.0" "$DRREPO_CACHE_DIR"
    cp -a "$RS.0" "$RS" && cp -a "$RESTIC_CACHE_DIR.0" "$RESTIC_CACHE_DIR"
    sync
    timed "$WORK/t" "$DRREPO" -r "$DR" -q forget --keep-last "$KEEPN" --prune
    cat "$WORK/t" >>"$WORK/times.drrepo"
    echo "# run $rep: drrepo $(cut -d' ' -f1 "$WORK/t") s"
    timed "$WORK/t" restic -r "$RS" -q forget --keep-last "$KEEPN" --prune
    cat "$WORK/t" >>"$WORK/times.restic"
    echo "# run $rep: restic $(cut -d' ' -f1 "$WORK/t") s"
done

echo "# after: drrepo: $(dr_stats); du $(du -sb "$DR" | cut -f1)"
echo "# after: restic: $(rs_stats); du $(du -sb "$RS" | cut -f1)"
"$DRREPO" -r "$DR" -q check >/dev/null || { echo "prune-scale: drrepo check failed" >&2; exit 1; }
restic -r "$RS" -q check >/dev/null || { echo "prune-scale: restic check failed" >&2; exit 1; }
echo "# both repositories pass check"

# min and median of column 1, max of column 2 (RSS)
summary() { sort -n "$1" | awk '{ t[NR] = $1; if ($2 > m) m = $2 } END { printf "%s %s %d\n", t[1], t[int((NR + 1) / 2)], m / 1024 }'; }
read -r dr_min dr_med dr_mb < <(summary "$WORK/times.drrepo")
read -r rs_min rs_med rs_mb < <(summary "$WORK/times.restic")
printf '%-8s %10s %10s %12s\n' tool "min s" "median s" "max RSS MB"
printf '%-8s %10s %10s %12d\n' drrepo "$dr_min" "$dr_med" "$dr_mb"
printf '%-8s %10s %10s %12d\n' restic "$rs_min" "$rs_med" "$rs_mb"
awk -v d="$dr_med" -v r="$rs_med" 'BEGIN { if (d > 0) printf "ratio restic/drrepo (medians): %.2fx (drrepo takes %.0f%% of restic'"'"'s time)\n", r / d, 100 * d / r }'
