#!/usr/bin/env bash
# bench/hardlinks.sh: a tree of many hard-linked files through snapshot, restore and tar output,
# for one or more drrepo binaries, runs interleaved; each name of a file with several links is
# looked up among the links seen (docs/PERFORMANCE.md, "Hard links").
#
#   bench/hardlinks.sh [-f FILES] [-r REPS] [-w WORKDIR] DRREPO [DRREPO...]
#
#   -f FILES   files of a few bytes, each with a second name in another directory (so 2 x FILES
#              names), in directories of 1,000                                  default 100000
#   -r REPS    runs per binary                                                   default 3
#   -w DIR     scratch dir (a tmpfs keeps the disk out)   default ${TMPDIR:-/tmp}/drrepo-hardlinks
#
# Prints wall and CPU seconds of each step and run (GNU time), and checks that every restore has
# as many linked names as the source.
set -euo pipefail

NFILES=100000
REPS=3
WORK=${TMPDIR:-/tmp}/drrepo-hardlinks
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
    -f) NFILES=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    -w) WORK=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    -*) usage 2 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || usage 2

rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
export DRREPO_PASSWORD=bench-password
unset DRREPO_REPOSITORY DRREPO_PASSWORD_FILE DRREPO_PASSWORD_COMMAND
DATA="$WORK/data"
python3 - "$DATA" "$NFILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = "%03d" % (i // 1000)
    if i % 1000 == 0:
        os.makedirs(os.path.join(root, "a", d))
        os.makedirs(os.path.join(root, "b", d))
    p = os.path.join(root, "a", d, "f%06d" % i)
    with open(p, "w") as f:
        f.write("file %d\n" % i)
    os.link(p, os.path.join(root, "b", d, "f%06d" % i))
PY
linked=$(find "$DATA" -type f -links +1 | wc -l)
echo "# $NFILES files, $linked names; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"

timed() { # LABEL BIN COMMAND...: one line of wall and CPU seconds
    local label=$1 bin=$2
    shift 2
    /usr/bin/time -f '%e %U %S' -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" ||
        { cat "$WORK/err" >&2; exit 1; }
    read -r wall user sys <"$WORK/t"
    printf '%s %-9s wall %6.2f s  cpu %6.2f s\n' "$bin" "$label" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')"
}

for _ in $(seq 1 "$REPS"); do
    i=0
    for bin in "$@"; do
        i=$((i + 1))
        repo=$WORK/repo-$i cache=$WORK/cache-$i out=$WORK/restore-$i
        rm -rf "$repo" "$cache" "$out"
        "$bin" -r "$repo" --cache-dir "$cache" init >/dev/null 2>&1
        d=("$bin" -r "$repo" --cache-dir "$cache")
        timed snapshot "$bin" "${d[@]}" snapshot "$DATA"
        timed restore "$bin" "${d[@]}" restore latest --target "$out"
        got=$(find "$out" -type f -links +1 | wc -l)
        [ "$got" = "$linked" ] || { echo "hardlinks.sh: $bin restored $got linked names, not $linked" >&2; exit 1; }
        rm -rf "$out"
        timed tar "$bin" "${d[@]}" dump latest "$DATA"
    done
done
