#!/usr/bin/env bash
# bench/flips.sh: single-bit flips spread over every kind of repository object, one at a time
# in a fresh copy of an intact repository and its cache. For each flip:
#   - `check --read-data` must detect it (exit not 0) without crashing;
#   - `snapshots`, `ls latest` and `restore` of every snapshot must not crash (a signal or a
#     sanitizer report);
#   - survivable: after the repair for its kind (`repair config`, `repair keys`, `repair packs`
#     for tree packs, otherwise `repair index`), `check --read-data` passes and every snapshot
#     restores byte-identical. Every flip in the config, a key file or a tree pack (or their
#     copies) must be survivable.
# Prints a table per object kind: flips, detected, crashes, survivable.
#
#   bench/flips.sh [-n FLIPS] [-s SEED] [-d DRREPO] [-t DR_TEST_TOOL] [-w WORKDIR]
#
# Defaults: 1000 flips, seed 1, build-test/ binaries. Flips are stratified: a fifth each in the
# config (and its copy), the key files (and their copies), data packs, tree packs (and their
# copies) and snapshot objects; within a kind, uniform over the bytes of its files. Not the
# reserve (random bytes, never read), the empty tree-copies marker, nor locks.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=1000
SEED=1
DRREPO=$ROOT/build-test/drrepo
TOOL=$ROOT/build-test/tests/dr-test-tool
WORK=${TMPDIR:-/tmp}/drrepo-flips
while [ $# -gt 0 ]; do
    case $1 in
        -n) N=$2; shift 2 ;;
        -s) SEED=$2; shift 2 ;;
        -d) DRREPO=$2; shift 2 ;;
        -t) TOOL=$2; shift 2 ;;
        -w) WORK=$2; shift 2 ;;
        *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
export DRREPO_PASSWORD=flip-pw
rm -rf "$WORK"
mkdir -p "$WORK"
B=$WORK/base C0=$WORK/cache-base
r() { DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "$@"; }
R=$B C=$C0
r init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K \
    --chunk-avg 256K --chunk-max 1M >/dev/null || { echo "init failed"; exit 1; }
mkdir -p "$WORK/d1/sub" "$WORK/d2"
"$TOOL" gen "$WORK/d1/a" 1200K 11
"$TOOL" gen "$WORK/d1/sub/b" 400K 12 text
echo tiny >"$WORK/d1/sub/c"
r snapshot "$WORK/d1" >/dev/null 2>&1
"$TOOL" gen "$WORK/d1/a2" 600K 13
r snapshot "$WORK/d1" >/dev/null 2>&1
"$TOOL" gen "$WORK/d2/x" 900K 15
r snapshot "$WORK/d2" >/dev/null 2>&1
DRREPO_NEW_PASSWORD=second r key add >/dev/null 2>&1
r check --read-data >/dev/null 2>&1 || { echo "the intact repository does not check"; exit 1; }
mapfile -t SNAPS < <(r snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
for s in "${SNAPS[@]}"; do
    rm -rf "$WORK/ref.$s"
    r restore "$s" --target "$WORK/ref.$s" >/dev/null 2>&1 || { echo "restore $s failed"; exit 1; }
done

kind_of() {
    case $1 in
        config | copies/config) echo config ;;
        keys/* | copies/keys/*) echo key ;;
        data/*) echo data ;;
        tree/* | tree-copy/*) echo tree ;;
        snapshots/*) echo snapshot ;;
        *) echo other ;;
    esac
}
(cd "$B" && find . -type f -size +0 ! -path './locks/*' ! -path ./reserve -printf '%P %s\n' | sort) |
    while read -r f s; do echo "$(kind_of "$f") $f $s"; done >"$WORK/files"
kinds="config key data tree snapshot"
# the flips: N/5 per kind, uniform over the bytes of that kind's files; bit 0..7
awk -v seed="$SEED" -v n="$N" -v kinds="$kinds" '
    { k[NR] = $1; name[NR] = $2; size[NR] = $3; tot[$1] += $3 }
    END {
        srand(seed)
        nk = split(kinds, K, " ")
        for (j = 1; j <= nk; j++) {
            per = int(n / nk) + (j <= n % nk ? 1 : 0)
            for (i = 0; i < per; i++) {
                pos = int((int(rand() * 65536) * 65536 + int(rand() * 65536)) % tot[K[j]])
                bit = int(rand() * 8)
                for (m = 1; m <= NR; m++) {
                    if (k[m] != K[j]) continue
                    if (pos < size[m]) { print K[j], name[m], pos, bit; break }
                    pos -= size[m]
                }
            }
        }
    }' "$WORK/files" >"$WORK/flips"

crashed() { [ "$1" -ge 128 ] || grep -qE 'Sanitizer|runtime error' "$2"; }
declare -A n_flips n_det n_crash n_surv
for k in $kinds; do n_flips[$k]=0 n_det[$k]=0 n_crash[$k]=0 n_surv[$k]=0; done
i=0
while read -r kind file off bit; do
    i=$((i + 1))
    R=$WORK/repo C=$WORK/cache
    rm -rf "$R" "$C" "$WORK/r"
    cp -a "$B" "$R"
    cp -a "$C0" "$C"
    old=$(od -An -tu1 -j "$off" -N1 "$R/$file" | tr -d ' ')
    "$TOOL" setbyte "$R/$file" "$off" $((old ^ (1 << bit))) >/dev/null
    n_flips[$kind]=$((n_flips[$kind] + 1))
    crash=0
    r check --read-data >"$WORK/out" 2>"$WORK/err" </dev/null
    rc=$?
    crashed "$rc" "$WORK/err" && crash=1
    [ "$rc" -ne 0 ] && ! crashed "$rc" "$WORK/err" && n_det[$kind]=$((n_det[$kind] + 1))
    [ "$rc" -eq 0 ] && echo "# not detected: $file offset $off bit $bit"
    for cmd in "snapshots" "ls latest"; do
        # shellcheck disable=SC2086
        r $cmd >"$WORK/out" 2>"$WORK/err" </dev/null
        rc=$?
        crashed "$rc" "$WORK/err" && crash=1 && echo "# crash: $cmd after $file offset $off bit $bit"
    done
    for s in "${SNAPS[@]}"; do
        rm -rf "$WORK/r"
        r restore "$s" --target "$WORK/r" >"$WORK/out" 2>"$WORK/err" </dev/null
        rc=$?
        crashed "$rc" "$WORK/err" && crash=1 && echo "# crash: restore after $file offset $off bit $bit"
    done
    n_crash[$kind]=$((n_crash[$kind] + crash))
    # survivable: repair, then a clean check and every snapshot byte-identical
    surv=1
    case $kind in
        config) r repair config >"$WORK/out" 2>"$WORK/err" </dev/null || surv=0 ;;
        key) r repair keys >"$WORK/out" 2>"$WORK/err" </dev/null || surv=0 ;;
        tree) r repair packs >"$WORK/out" 2>"$WORK/err" </dev/null || surv=0 ;;
        *) r repair index >"$WORK/out" 2>"$WORK/err" </dev/null || surv=0 ;;
    esac
    if [ "$surv" = 1 ]; then
        r check --read-data >"$WORK/out" 2>"$WORK/err" </dev/null || surv=0
    fi
    if [ "$surv" = 1 ]; then
        for s in "${SNAPS[@]}"; do
            rm -rf "$WORK/r"
            if ! r restore "$s" --target "$WORK/r" >/dev/null 2>&1 ||
                ! diff -r "$WORK/ref.$s" "$WORK/r" >/dev/null; then
                surv=0
                break
            fi
        done
    fi
    n_surv[$kind]=$((n_surv[$kind] + surv))
    [ $((i % 50)) -eq 0 ] && echo "# $i of $N"
done <"$WORK/flips"

echo
echo "seed $SEED, $N single-bit flips, $(wc -l <"$WORK/files") files in the repository"
echo
echo "| object | flips | detected by check --read-data | commands crashed | survivable (repair, then every snapshot restores identical) |"
echo "|---|---|---|---|---|"
for k in $kinds; do
    echo "| $k | ${n_flips[$k]} | ${n_det[$k]} | ${n_crash[$k]} | ${n_surv[$k]} |"
done
