#!/usr/bin/env bash
# bench/snapshot-cpu.sh: CPU seconds and wall time of an initial snapshot, for one or more drrepo
# binaries on the same generated data, runs interleaved (A B A B ...) so that the load of a
# shared machine falls on all of them alike. Prints every run and the medians per binary.
#
#   bench/snapshot-cpu.sh [-s SCALE] [-n REPS] [-w DIR] DRREPO [DRREPO...]
#
#   -s SCALE   bench/gen-data.c's scale (1 = ~1 GB)                     default 0.5
#   -n REPS    runs per binary                                           default 3
#   -w DIR     scratch: data, repositories, caches     default ${TMPDIR:-/tmp}/drrepo-snapcpu
#
# Each run is a fresh repository (init is not timed) and one `snapshot` of the day-1 data, timed
# with /usr/bin/time: wall, user + sys (CPU), peak RSS. The data stays in the page cache, so this
# measures CPU per new byte, not the disk.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SCALE=0.5
REPS=3
AB_DIR=${TMPDIR:-/tmp}/drrepo-snapcpu
. "$HERE/ab-lib.sh"
ab_opts snapshot-cpu.sh 13 "$@"
set -- "${AB_BINS[@]}"
WORK=$AB_DIR

mkdir -p "$WORK"
if [ ! -f "$WORK/data-$SCALE.done" ]; then
    cc -O2 -o "$WORK/gen-data" "$HERE/gen-data.c" -lm
    rm -rf "$WORK/data-$SCALE"
    "$WORK/gen-data" day1 "$WORK/data-$SCALE" "$SCALE" 1
    touch "$WORK/data-$SCALE.done"
fi
DATA=$WORK/data-$SCALE
export DRREPO_PASSWORD=bench-password
echo "data: $DATA ($(du -sh "$DATA" | cut -f1)), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A walls cpus
for rep in $(seq 1 "$REPS"); do
    i=0
    for bin in "$@"; do
        i=$((i + 1))
        repo=$WORK/repo-$i cache=$WORK/cache-$i
        rm -rf "$repo" "$cache"
        "$bin" -r "$repo" --cache-dir "$cache" init >/dev/null 2>&1
        /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" \
            "$bin" -r "$repo" --cache-dir "$cache" snapshot --json "$DATA" >/dev/null \
            2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
        read -r wall user sys rss <"$WORK/time"
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
        printf '%s run %d: wall %.2f s, cpu %.2f s (user %.2f, sys %.2f), rss %d MiB, repo %s, load %s\n' \
            "$bin" "$rep" "$wall" "$cpu" "$user" "$sys" $((rss / 1024)) \
            "$(du -sh "$repo" | cut -f1)" "$(cut -d' ' -f1 /proc/loadavg)"
        walls[$i]+="$wall "
        cpus[$i]+="$cpu "
    done
done
i=0
for bin in "$@"; do
    i=$((i + 1))
    echo "$bin: median wall $(echo "${walls[$i]}" | median) s, median cpu $(echo "${cpus[$i]}" | median) s"
    rm -rf "$WORK/repo-$i" "$WORK/cache-$i"
done
