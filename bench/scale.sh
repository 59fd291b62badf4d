#!/usr/bin/env bash
# bench/scale.sh: drrepo's everyday commands on a repository of many snapshots and blobs
# (10,000 snapshots and 10 million blobs by default) against the same commands on a repository
# ten times smaller: does their time stay flat, and their memory bounded?
#
#   bench/scale.sh [-n SNAPSHOTS] [-b BLOBS_PER_SNAPSHOT] [-r REPS] [-w WORKDIR] [-d DRREPO]
#                  [-g DR_TEST_TOOL]
#
#   -n SNAPSHOTS  snapshots of the full-size repository (env SC_SNAPSHOTS)      default 10000
#   -b BLOBS      new blobs per snapshot (env SC_BLOBS)                          default 1000
#   -r REPS       timed runs of each command; the median is printed (env SC_REPS) default 3
#   -w DIR        scratch dir, kept: a repository already generated there is reused
#                 (env SC_WORK)                     default ${TMPDIR:-/tmp}/drrepo-scale
#   -d PATH       drrepo binary (env DRREPO)        default build-rel/drrepo
#   -g PATH       dr-test-tool of the same build (env DR_TEST_TOOL)
#                                                   default DRREPO's dir/tests/dr-test-tool
#
# Both repositories (SNAPSHOTS / 10 and SNAPSHOTS snapshots, BLOBS new 48-byte blobs each) are
# made by `dr-test-tool scale-gen` (tests/helper/dr-test-tool.c) through drrepo's own write path:
# real packs, index, reference counts and snapshot objects, without reading files. Each snapshot
# is a root of 2 x D directories of BLOBS / D files, D = BLOBS / 250 rounded up (8 of 250 by
# default), of which D are rewritten. The
# index of each repository stays in its cache directory, as a client's would.
# Then, on each, with /usr/bin/time -f '%e %M':
#   snapshot          `snapshot` of a small unchanged tree (100 files; one untimed snapshot of
#                     it first, so that the timed ones have a parent: the everyday case)
#   snapshots         `snapshots` (the list, to /dev/null)
#   forget-dry        `forget --keep-last 100 --dry-run`
#   prune-dry         `prune --dry-run` (the plan; nothing is forgotten, so nothing to delete)
#   check             `check` (structure, no --read-data)
# and prints command, median time at each size, their ratio, the peak RSS (largest of the runs)
# at each size, and its anonymous part (RssAnon sampled every 50 ms: the rest of the RSS is pages
# of the memory-mapped index that the command touched, page cache that grows with the index). The repository is built with the binaries given: build them as Release
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target drrepo dr-test-tool
# (dr-test-tool is a test helper: DR_TESTS must be ON, the default).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NSNAP=${SC_SNAPSHOTS:-10000}
NBLOB=${SC_BLOBS:-1000}
REPS=${SC_REPS:-3}
WORK=${SC_WORK:-${TMPDIR:-/tmp}/drrepo-scale}
DRREPO=${DRREPO:-$ROOT/build-rel/drrepo}
TOOL=${DR_TEST_TOOL:-}

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
    -n) NSNAP=$2; shift 2 ;;
    -b) NBLOB=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    -w) WORK=$2; shift 2 ;;
    -d) DRREPO=$2; shift 2 ;;
    -g) TOOL=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) usage 2 ;;
    esac
done
TOOL=${TOOL:-$(dirname "$DRREPO")/tests/dr-test-tool}
if [ "$NSNAP" -lt 10 ]; then
    echo "scale: -n must be at least 10 (the small repository has SNAPSHOTS / 10)" >&2
    exit 2
fi

missing=""
for tool in /usr/bin/time "$DRREPO" "$TOOL"; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "scale: missing:$missing" >&2
    exit 2
fi
if grep -q 'DR_SANITIZE:BOOL=ON\|CMAKE_BUILD_TYPE:STRING=Debug' \
    "$(dirname "$DRREPO")/CMakeCache.txt" 2>/dev/null; then
    echo "scale: warning: $DRREPO is a sanitizer or debug build" >&2
fi

mkdir -p "$WORK"
export DRREPO_PASSWORD=bench-password
unset DRREPO_REPOSITORY DRREPO_PASSWORD_FILE DRREPO_PASSWORD_COMMAND DRREPO_CACHE_DIR

# the small unchanged tree: 100 files of 1 KiB in 5 directories
SRC="$WORK/src"
if [ ! -d "$SRC" ]; then
    for d in 0 1 2 3 4; do
        mkdir -p "$SRC/d$d"
        for f in $(seq 0 19); do
            "$TOOL" gen "$SRC/d$d/f$f" 1K $((d * 100 + f + 1))
        done
    done
fi

# gen N: the repository of N snapshots (reused when complete); prints its directory
gen() {
    local n=$1 dir="$WORK/r-$1x$NBLOB"
    if [ ! -e "$dir/complete" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        DRREPO_CACHE_DIR="$dir/cache" "$DRREPO" -r "$dir/repo" init >/dev/null 2>"$dir/init.err"
        echo "# generating $n snapshots x $NBLOB blobs in $dir" >&2
        DRREPO_CACHE_DIR="$dir/cache" /usr/bin/time -f '%e %M' -o "$dir/gen.time" \
            "$TOOL" scale-gen "$dir/repo" "$n" "$NBLOB" >"$dir/gen.out"
        echo "# $(cat "$dir/gen.out"); $(awk '{ printf "%.1f s, peak RSS %d MiB", $1, $2 / 1024 }' "$dir/gen.time")" >&2
        DRREPO_CACHE_DIR="$dir/cache" "$DRREPO" -r "$dir/repo" snapshot "$SRC" >/dev/null
        touch "$dir/complete"
    fi
    echo "$dir"
}

CMDS="snapshot snapshots forget-dry prune-dry check"
args() {
    case $1 in
    snapshot) echo "snapshot $SRC" ;;
    snapshots) echo "snapshots" ;;
    forget-dry) echo "forget --keep-last 100 --dry-run" ;;
    prune-dry) echo "prune --dry-run" ;;
    check) echo "check" ;;
    esac
}

# anon_peak PID: the largest RssAnon (KiB) of PID's child (drrepo under /usr/bin/time), sampled
# every 50 ms until PID exits. The peak RSS of GNU time also counts the pages of the memory-mapped
# LMDB files (the index, a check's or prune's workset) that the command touched: page cache,
# which the kernel reclaims under pressure, and which grows with the index. The anonymous part
# is the process's own memory. A sample misses a peak shorter than 50 ms.
anon_peak() {
    local pid=$1 child="" max=0 a
    while kill -0 "$pid" 2>/dev/null; do
        [ -n "$child" ] || child=$(pgrep -P "$pid" | head -n 1 || true)
        if [ -n "$child" ]; then
            a=$(awk '/^RssAnon:/ { print $2 }' "/proc/$child/status" 2>/dev/null || true)
            [ -n "$a" ] && [ "$a" -gt "$max" ] && max=$a
        fi
        sleep 0.05
    done
    echo "$max"
}

# measure DIR CMD: "median_seconds max_rss_kib max_anon_kib" of REPS runs
measure() {
    local dir=$1 cmd=$2 i pid
    : >"$dir/$cmd.times"
    for i in $(seq "$REPS"); do
        # shellcheck disable=SC2046 # the arguments are words without spaces
        DRREPO_CACHE_DIR="$dir/cache" /usr/bin/time -f '%e %M' -o "$dir/$cmd.t" \
            "$DRREPO" -r "$dir/repo" $(args "$cmd") >/dev/null 2>"$dir/$cmd.err" &
        pid=$!
        anon_peak "$pid" >"$dir/$cmd.anon"
        wait "$pid" || { echo "scale: '$cmd' failed on $dir:" >&2; cat "$dir/$cmd.err" >&2; exit 1; }
        echo "$(tail -n 1 "$dir/$cmd.t") $(cat "$dir/$cmd.anon")" >>"$dir/$cmd.times"
    done
    sort -n "$dir/$cmd.times" | awk '{ t[NR] = $1; if ($2 > m) m = $2; if ($3 > a) a = $3 }
        END { print t[int((NR + 1) / 2)], m, a + 0 }'
}

SMALL=$(gen $((NSNAP / 10)))
FULL=$(gen "$NSNAP")
echo "# $("$DRREPO" version 2>/dev/null | head -n 1); $(nproc) cores; median of $REPS runs"
echo "# small: $((NSNAP / 10)) snapshots, $(awk '{ print $4 }' "$SMALL/gen.out") data blobs; full: $NSNAP snapshots, $(awk '{ print $4 }' "$FULL/gen.out") data blobs"
# rss: peak RSS (GNU time, largest of the runs); anon: its anonymous part (sampled, see anon_peak)
printf '%-11s %8s %8s %6s %10s %10s %11s %11s\n' command small_s full_s ratio \
    small_rss full_rss small_anon full_anon
for cmd in $CMDS; do
    read -r ts ms as <<<"$(measure "$SMALL" "$cmd")"
    read -r tf mf af <<<"$(measure "$FULL" "$cmd")"
    awk -v c="$cmd" -v ts="$ts" -v tf="$tf" -v ms="$ms" -v mf="$mf" -v as="$as" -v af="$af" 'BEGIN {
        printf "%-11s %8.2f %8.2f %6.1f %6.0f MiB %6.0f MiB %7.0f MiB %7.0f MiB\n", c, ts, tf,
            (ts > 0 ? tf / ts : 0), ms / 1024, mf / 1024, as / 1024, af / 1024 }'
done
