#!/bin/bash
# t0210: the acceptance test of `check --read-data`: 30 single-byte corruptions at positions
# chosen uniformly over every byte of every repository file (config, keys, data and tree packs,
# snapshots; not locks, nor the reserve, whose random bytes hold nothing and are never read:
# format/repository.md "Reserve"), each in a fresh copy of the intact repository and its cache,
# must all be detected: a non-zero exit that is not a crash. The seed is fixed (1);
# DR_TEST_SEED=N draws other positions, DR_FLIPS=N more of them (the first 30 of a seed's
# positions are the same whatever N is).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
# one check --read-data per flip: no leak check at their exits (tests/README.md)
dr_no_leak_check

N=${DR_FLIPS:-30}
SEED=${DR_TEST_SEED:-1}
echo "# seed $SEED (DR_TEST_SEED=$SEED reproduces this run)"

C0="$T/cache-base"
R="$T/base" C="$C0"
dr_r() { DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "$@"; }

DRREPO_CACHE_DIR="$C0" "$DRREPO" -r "$R" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 \
    --pack-size 1M --chunk-min 64K --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" \
    || dr_fail "init"
mkdir -p "$T/d1/sub" "$T/d2"
"$TOOL" gen "$T/d1/a" 1200K 11
"$TOOL" gen "$T/d1/sub/b" 400K 12 text
echo "tiny" >"$T/d1/sub/c"
dr_expect_success "snapshot 1" dr_r snapshot "$T/d1"
"$TOOL" gen "$T/d1/a2" 600K 13
"$TOOL" gen "$T/d1/sub/b" 500K 14 text
dr_expect_success "snapshot 2" dr_r snapshot "$T/d1"
"$TOOL" gen "$T/d2/x" 900K 15
"$TOOL" gen "$T/d2/y" 20K 16
dr_expect_success "snapshot 3" dr_r snapshot "$T/d2"
dr_expect_success "setup: check --read-data of the intact repository" dr_r check --read-data
dr_check "setup: several packs" test "$("$TOOL" packs "$R" | wc -l)" -ge 6

# every repository file but locks and the reserve, with its size
(cd "$R" && find . -type f ! -path './locks/*' ! -path ./reserve -printf '%P %s\n' | sort) \
    >"$T/files"
total=$(awk '{s += $2} END {print s}' "$T/files")
echo "# $(wc -l <"$T/files") files, $total bytes"

# N positions uniform over the concatenation of all files, and a non-zero XOR value for each
awk -v seed="$SEED" -v n="$N" -v total="$total" '
    { name[NR] = $1; size[NR] = $2 }
    END {
        srand(seed)
        for (i = 0; i < n; i++) {
            # two draws: rand() may have fewer bits than total needs
            pos = int((int(rand() * 65536) * 65536 + int(rand() * 65536)) % total)
            x = 1 + int(rand() * 255)
            for (k = 1; k <= NR; k++) {
                if (pos < size[k]) { print name[k], pos, x; break }
                pos -= size[k]
            }
        }
    }' "$T/files" >"$T/positions"
dr_check "setup: $N positions drawn" test "$(wc -l <"$T/positions")" -eq "$N"

detected=0
crashes=0
undetected=""
i=0
while read -r file off x; do
    i=$((i + 1))
    R="$T/repo" C="$T/cache"
    rm -rf "$R" "$C"
    cp -a "$T/base" "$R"
    cp -a "$C0" "$C"
    old=$(od -An -tu1 -j "$off" -N1 "$R/$file" | tr -d ' ')
    "$TOOL" setbyte "$R/$file" "$off" $((old ^ x)) || dr_fail "setbyte $file $off"
    dr_r check --read-data >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ "$rc" -ge 128 ] || grep -qE 'Sanitizer|runtime error' "$T/err"; then
        crashes=$((crashes + 1))
        undetected="$undetected
#   $file offset $off xor $x: crashed (exit $rc): $(grep -m1 -E 'ERROR|runtime error' "$T/err")"
    elif [ "$rc" -ne 0 ]; then
        detected=$((detected + 1))
    else
        undetected="$undetected
#   $file offset $off xor $x: check --read-data exited 0"
    fi
    echo "# $i: $file offset $off xor $x: exit $rc"
done <"$T/positions"

echo "# detected $detected of $N injected (seed $SEED)"
[ -z "$undetected" ] || echo "# not detected:$undetected"
dr_check "no crash in any of the $N runs" test "$crashes" -eq 0
dr_check "detected $detected of $N injected" test "$detected" -eq "$N"
dr_done
