#!/bin/bash
# t0220: partial data checks. --read-data-subset 1/3, 2/3 and 3/3 together read every pack
# exactly once, and a damaged pack is found by exactly the part that holds it; a percentage reads
# a reproducible sample (--seed); a size reads that many bytes of packs; --read-data-max-age reads
# only packs not verified recently; bad specifications are usage errors (exit 2).
# Not covered: a transient read failure (a re-read that succeeds) cannot be produced from a
# shell test without a faulty disk or a fault point in the backend's read path.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

C0="$T/cache-base"
R="$T/base" C="$C0"
dr_r() { DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "$@"; }
field() { dr_json_field "$1"; }
# check_json NAME ARGS...: runs check --json ARGS, must exit 0; sets $read (packs_read)
check_json() {
    local name=$1
    shift
    dr_expect_success "$name" dr_r check --json "$@"
    read=$(field packs_read)
}

DRREPO_CACHE_DIR="$C0" "$DRREPO" -r "$R" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 \
    --pack-size 1M --chunk-min 64K --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" \
    || dr_fail "init"
mkdir -p "$T/d1" "$T/d2" "$T/d3"
for i in 1 2 3 4 5 6; do "$TOOL" gen "$T/d1/f$i" 1500K "$i"; done
"$TOOL" gen "$T/d1/text" 2M 7 text
dr_expect_success "snapshot 1" dr_r snapshot "$T/d1"
for i in 1 2 3 4; do "$TOOL" gen "$T/d2/g$i" 1200K $((10 + i)); done
dr_expect_success "snapshot 2" dr_r snapshot "$T/d2"

check_json "full check --read-data" --read-data
n=$(field packs)
echo "# $n packs"
dr_check "setup: at least 12 packs ($n)" test "$n" -ge 12
dr_check "full check reads every pack" test "$read" -eq "$n"
cp -a "$T/base" "$T/pristine"
cp -a "$C0" "$T/cache-pristine"

# 1/3, 2/3, 3/3: disjoint parts that cover everything. A new cache first: its rebuilt index has
# no verification times, so that max-age can tell afterwards which packs the parts read.
rm -rf "$C0"
check_json "new cache: max-age 1h reads every pack" --read-data-max-age 1h
dr_check "a rebuilt index has no verification times ($read of $n read)" test "$read" -eq "$n"
rm -rf "$C0"
sum=0
for k in 1 2 3; do
    check_json "subset $k/3" --read-data-subset "$k/3"
    echo "# part $k/3 read $read packs"
    sum=$((sum + read))
done
dr_check "the three parts read $sum packs in all, one per pack ($n)" test "$sum" -eq "$n"
# every pack was just verified by one of the parts: none is older than an hour
check_json "max-age 1h after the three parts" --read-data-max-age 1h
dr_check "after the three parts no pack is left unverified ($read read)" test "$read" -eq 0

# a damaged pack is found by exactly the part that holds it
victim=$("$TOOL" packs "$R" | grep '^data/' | head -n 1 | cut -d' ' -f1)
"$TOOL" flip "$R/$victim" 2000
found=""
for k in 1 2 3; do
    dr_r check --read-data-subset "$k/3" >"$T/out" 2>"$T/err"
    rc=$?
    dr_check "damaged: part $k/3 exits 0 or 4 (exit $rc)" test "$rc" -eq 0 -o "$rc" -eq 4
    if [ "$rc" -eq 4 ]; then
        found="$found $k"
        dr_check "damaged: part $k/3 names the pack" grep -qF "$victim" "$T/err"
    fi
done
dr_check "damaged: exactly one part finds the damaged pack (parts:$found)" \
    test "$(echo "$found" | wc -w)" -eq 1
rm -rf "$T/base" "$C0"
cp -a "$T/pristine" "$T/base"
cp -a "$T/cache-pristine" "$C0"

# 50%: a sample, reproducible with --seed
check_json "subset 50% --seed 4242" --read-data-subset 50% --seed 4242
first=$read
echo "# 50% read $first of $n packs"
dr_check "50% reads some but not all packs ($first of $n)" test "$first" -ge 1 -a "$first" -lt "$n"
check_json "subset 50% --seed 4242 again" --read-data-subset 50% --seed 4242
dr_check "the same seed reads the same number of packs ($read, $first)" test "$read" -eq "$first"
check_json "subset 100%" --read-data-subset 100%
dr_check "100% reads every pack" test "$read" -eq "$n"

# SIZE: least recently verified packs up to that many bytes
check_json "subset 3M" --read-data-subset 3M
bytes=$(field bytes_read)
echo "# 3M read $read packs, $bytes bytes"
dr_check "3M reads at least 3 MiB ($bytes)" test "$bytes" -ge $((3 * 1024 * 1024))
# it stops at the first pack that reaches the budget; a pack file is at most about 2 MiB here
# (pack size 1M plus one record of up to chunk-max 1M)
dr_check "3M stops at the budget ($bytes)" test "$bytes" -lt $((5 * 1024 * 1024))
dr_check "3M reads a few packs, not all ($read of $n)" test "$read" -ge 2 -a "$read" -lt "$n"
big=$(($("$TOOL" packs "$R" | awk '{s += $2} END {print s}') + 1))
check_json "subset larger than the repository" --read-data-subset "$big"
dr_check "a size beyond the repository reads every pack" test "$read" -eq "$n"

# --read-data-max-age: nothing after a full check; then only the new packs
check_json "full check --read-data" --read-data
check_json "max-age 1h after a full check" --read-data-max-age 1h
dr_check "max-age 1h right after a full check reads 0 packs" test "$read" -eq 0
"$TOOL" packs "$R" | cut -d' ' -f1 | sort >"$T/p.before"
for i in 1 2 3; do "$TOOL" gen "$T/d3/h$i" 1M $((20 + i)); done
dr_expect_success "snapshot 3" dr_r snapshot "$T/d3"
"$TOOL" gen "$T/d3/h4" 1M 24
dr_expect_success "snapshot 4" dr_r snapshot "$T/d3"
"$TOOL" packs "$R" | cut -d' ' -f1 | sort >"$T/p.after"
new=$(comm -13 "$T/p.before" "$T/p.after" | wc -l)
dr_check "setup: the new snapshots wrote packs ($new)" test "$new" -ge 2
check_json "max-age 1h after new snapshots" --read-data-max-age 1h
dr_check "max-age 1h reads exactly the $new new packs ($read)" test "$read" -eq "$new"
check_json "max-age 1h once more" --read-data-max-age 1h
dr_check "max-age 1h then reads nothing ($read)" test "$read" -eq 0

# bad specifications
for spec in 0/3 4/3 3/0 0% 150% abc 0 -5 1/3x; do
    dr_must_fail 2 "--read-data-subset '$spec' is a usage error" \
        dr_r check --read-data-subset "$spec"
    dr_check "--read-data-subset '$spec': the message names it" grep -qF -- "'$spec'" "$T/err"
done
for age in abc 5 1x -1h; do
    dr_must_fail 2 "--read-data-max-age '$age' is a usage error" \
        dr_r check --read-data-max-age "$age"
done
dr_done
