#!/bin/bash
# t0200: the fault list of `drrepo check` and `drrepo repair`. For each fault, in a fresh copy of
# an intact repository and its cache: check exits 4 naming the damaged object (pack, blob,
# snapshot, key file, index) and the snapshots and paths it affects, nothing crashes, the
# appropriate repair runs, the unaffected snapshots restore byte-identical, a repaired snapshot
# restores every undamaged file identically (exit 4 only for its damaged files), and no repair
# removes a pack file.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
# some 150 runs (40 of them one per index page): no leak check at their exits (tests/README.md)
dr_no_leak_check

# Three snapshots of different trees, so that each has its own data packs and tree pack:
#   SA: dA (f1, sub/f2, t)          SB: dB (g1, g2, d1/x)          SC: dC (h1, small, s1/k1, s2/k2)
C0="$T/cache-base"
R="$T/base" C="$C0"
dr_r() { DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "$@"; }
objs() { (cd "$R" && find data tree snapshots keys -type f 2>/dev/null | sort); }
new_obj() { comm -13 "$1" "$2" | grep "^$3/"; }
packs_now() { (cd "$R" && find data tree -type f | sort); }

DRREPO_CACHE_DIR="$C0" "$DRREPO" -r "$R" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 \
    --pack-size 1M --chunk-min 64K --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" \
    || dr_fail "init"
mkdir -p "$T/dA/sub" "$T/dB/d1" "$T/dC/s1" "$T/dC/s2"
"$TOOL" gen "$T/dA/f1" 1500K 1
"$TOOL" gen "$T/dA/sub/f2" 700K 2
"$TOOL" gen "$T/dA/t" 300K 3 text
"$TOOL" gen "$T/dB/g1" 1200K 4
"$TOOL" gen "$T/dB/g2" 50K 5
"$TOOL" gen "$T/dB/d1/x" 200K 6
"$TOOL" gen "$T/dC/h1" 900K 7
echo "small" >"$T/dC/small"
"$TOOL" gen "$T/dC/s1/k1" 100K 8
"$TOOL" gen "$T/dC/s2/k2" 100K 9
objs >"$T/o0"
dr_expect_success "snapshot SA" dr_r snapshot "$T/dA"
objs >"$T/o1"
dr_expect_success "snapshot SB" dr_r snapshot "$T/dB"
objs >"$T/o2"
dr_expect_success "snapshot SC" dr_r snapshot "$T/dC"
objs >"$T/o3"
SA=$(new_obj "$T/o0" "$T/o1" snapshots | cut -d/ -f2)
SB=$(new_obj "$T/o1" "$T/o2" snapshots | cut -d/ -f2)
SC=$(new_obj "$T/o2" "$T/o3" snapshots | cut -d/ -f2)
PA=$(new_obj "$T/o0" "$T/o1" data | head -n 1)
PB=$(new_obj "$T/o1" "$T/o2" data | head -n 1)
PC=$(new_obj "$T/o2" "$T/o3" data | head -n 1)
TC=$(new_obj "$T/o2" "$T/o3" tree)
dr_check "setup: three snapshots" test -n "$SA" -a -n "$SB" -a -n "$SC"
dr_check "setup: each snapshot has its own data pack" test -n "$PA" -a -n "$PB" -a -n "$PC"
dr_check "setup: SC has one tree pack" test "$(printf '%s\n' "$TC" | grep -c .)" -eq 1
dr_check "setup: several packs" test "$(packs_now | wc -l)" -ge 8
K1=$(cd "$R/keys" && find . -type f -printf "%f\n")
DRREPO_NEW_PASSWORD=second-password dr_expect_success "setup: add a second key" dr_r key add
K2=$(cd "$R/keys" && find . -type f ! -name "$K1" -printf "%f\n")
dr_expect_success "setup: check --read-data of the intact repository" dr_r check --read-data
echo "# SA=${SA:0:8} SB=${SB:0:8} SC=${SC:0:8} PA=$PA PB=$PB PC=$PC TC=$TC"

# fresh copy of the pristine repository and its cache for one case
fresh() {
    R="$T/repo.$1" C="$T/cache.$1"
    rm -rf "$R" "$C" "$T/r"
    cp -a "$T/base" "$R"
    cp -a "$C0" "$C"
    packs_now >"$T/packs.before"
}
index_dir() { find "$C" -mindepth 2 -maxdepth 2 -type d -name index; }
# run NAME CMD...: runs CMD (status in $rc, output in $T/out, $T/err) and asserts it did not crash
run() {
    local name=$1
    shift
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ge 128 ] || grep -qE 'Sanitizer|runtime error' "$T/err"; then
        dr_fail "$name: crashed (exit $rc)"
    fi
}
# damage_run NAME CMD...: run, and it must exit 4
damage_run() {
    local name=$1
    run "$@"
    dr_check "$name: exits 4 (exit $rc)" test "$rc" -eq 4
}
# affected_paths SNAP: the paths the last check names for snapshot SNAP
affected_paths() {
    sed -n "s/^affected: snapshot ${1:0:8}: \(.*\) ([a-z]* [0-9a-f]*)\$/\1/p" "$T/err" | sort -u
}
affected_snaps() { sed -n 's/^affected: snapshot \([0-9a-f]\{8\}\): .*/\1/p' "$T/err" | sort -u; }
# the snapshot ids a repair wrote ("snapshot OLD repaired as NEW")
repaired_as() { sed -n "s/^snapshot ${1:0:8} repaired as \([0-9a-f]\{8\}\) .*/\1/p" "$T/out"; }
# the paths a repair marked damaged in snapshot SNAP
repair_paths() { sed -n "s/^snapshot ${1:0:8}: \(.*\): .*marked damaged\$/\1/p" "$T/out" | sort -u; }

restore_same() { # NAME SNAP SRC
    rm -rf "$T/r"
    dr_expect_success "$1: restore ${2:0:8}" dr_r restore "$2" --target "$T/r"
    dr_check "$1: ${2:0:8} identical" dr_same_tree "$3" "$T/r$3"
}
# same_except SRC DST PATH...: like dr_same_tree, but skips the given absolute paths of SRC (and
# what is below them); the restored damaged files are compared separately
same_except() {
    local src=$1 dst=$2 pat='^$' p
    shift 2
    for p in "$@"; do
        pat="$pat|^${p#"$src"/}( |/|$)"
    done
    local a b
    a=$(cd "$src" && find . -printf '%P %y %m %T@ %s %l\n' | sort | grep -Ev "$pat")
    b=$(cd "$dst" && find . -printf '%P %y %m %T@ %s %l\n' | sort | grep -Ev "$pat")
    if [ "$a" != "$b" ]; then
        echo "# metadata differs:"
        diff <(echo "$a") <(echo "$b") | head -n 10 | sed 's/^/#   /'
        return 1
    fi
    local f
    while read -r f; do
        cmp -s "$src/$f" "$dst/$f" || { echo "# differs: $f"; return 1; }
    done < <(cd "$src" && find . -type f -printf '%P\n' | grep -Ev "$pat")
}
# restore_repaired NAME SNAP SRC DAMAGED...: the repaired snapshot restores every intact file
# byte-identical and exits 4 only because of the damaged paths (files keep their size, the lost
# ranges are holes: at most chunk-max bytes per damaged chunk differ)
restore_repaired() {
    local name=$1 snap=$2 src=$3 p
    shift 3
    rm -rf "$T/r"
    run "$name: restore repaired ${snap:0:8}" dr_r restore "$snap" --target "$T/r"
    dr_check "$name: restoring the repaired snapshot exits 4 (exit $rc)" test "$rc" -eq 4
    for p in "$@"; do
        dr_check "$name: the restore names the damaged '$p'" grep -qF "'$p'" "$T/err"
        if [ -f "$p" ]; then
            dr_check "$name: damaged '$p' keeps its size" \
                test "$(stat -c %s "$p")" = "$(stat -c %s "$T/r$p" 2>/dev/null)"
        fi
    done
    dr_check "$name: every undamaged file of ${snap:0:8} identical" \
        same_except "$src" "$T/r$src" "$@"
}
# no_pack_lost NAME [REMOVED]: every pack file present before the repair is still there
no_pack_lost() {
    packs_now >"$T/packs.after"
    local lost
    lost=$(comm -23 "$T/packs.before" "$T/packs.after" | grep -vxF "${2:-/}")
    dr_check "$1: repair removed no pack${2:+ (besides $2, removed by the fault)}" test -z "$lost"
    [ -z "$lost" ] || echo "# packs gone: $lost"
}

# (a) one flipped bit in the record area of a data pack of SB: only --read-data sees it
fresh data
"$TOOL" flip "$R/$PB" 1000
run "data: check" dr_r check
dr_check "data: the structure check does not read the record area: exits 0 (exit $rc)" test "$rc" -eq 0
damage_run "data: check --read-data" dr_r check --read-data
dr_check "data: check names the pack" grep -qF "damage: pack-hash: $PB:" "$T/err"
dr_check "data: check names the damaged blob in that pack" \
    grep -qE "^damage: blob-damaged: blob [0-9a-f]{64}: in pack '$PB'" "$T/err"
dr_check "data: only SB is affected" test "$(affected_snaps)" = "${SB:0:8}"
affected_paths "$SB" >"$T/damaged"
dr_check "data: the affected paths are files of dB" \
    test -s "$T/damaged" -a -z "$(grep -v "^$T/dB/" "$T/damaged")"
dr_expect_success "data: repair snapshots" dr_r repair snapshots
NB=$(repaired_as "$SB")
dr_check "data: SB repaired" test -n "$NB"
repair_paths "$SB" >"$T/repaired"
dr_check "data: repair marks exactly the paths check named" dr_cmp "$T/damaged" "$T/repaired"
no_pack_lost "data"
# shellcheck disable=SC2046 # one argument per damaged path
restore_repaired "data" "$NB" "$T/dB" $(cat "$T/damaged")
restore_same "data" "$SA" "$T/dA"
restore_same "data" "$SC" "$T/dC"
run "data: check after repair" dr_r check --read-data
dr_check "data: the repaired snapshot is not affected" test -z "$(affected_paths "$NB")"

# (b) one flipped bit in SC's tree pack: the first tree written, a directory of dC
fresh tree
# both names of the tree pack (a damaged tree pack alone is read from its copy: t0240)
"$TOOL" flip "$R/$TC" 40
"$TOOL" flip "$R/tree-copy/${TC#tree/}" 40
damage_run "tree: check" dr_r check
dr_check "tree: check names the tree pack" grep -qF "pack '$TC'" "$T/err"
dr_check "tree: check names the damaged tree" grep -qE "^damage: tree: tree [0-9a-f]{64}:" "$T/err"
dr_check "tree: only SC is affected" test "$(affected_snaps)" = "${SC:0:8}"
affected_paths "$SC" >"$T/damaged"
dr_check "tree: the affected path is a directory of dC" \
    test "$(wc -l <"$T/damaged")" -eq 1 -a -d "$(cat "$T/damaged")"
damage_run "tree: check --read-data" dr_r check --read-data
dr_expect_success "tree: repair snapshots" dr_r repair snapshots
NC=$(repaired_as "$SC")
dr_check "tree: SC repaired" test -n "$NC"
repair_paths "$SC" >"$T/repaired"
dr_check "tree: repair marks exactly the directory check named" dr_cmp "$T/damaged" "$T/repaired"
no_pack_lost "tree"
# shellcheck disable=SC2046
restore_repaired "tree" "$NC" "$T/dC" $(cat "$T/damaged")
restore_same "tree" "$SA" "$T/dA"
restore_same "tree" "$SB" "$T/dB"

# (c) a data pack of SB cut in half: its size and trailer are wrong; the structure check sees it
fresh trunc
size=$(stat -c %s "$R/$PB")
"$TOOL" truncate "$R/$PB" $((size / 2))
damage_run "truncated: check" dr_r check
dr_check "truncated: check names the pack (size)" grep -qF "damage: pack-size: $PB:" "$T/err"
dr_check "truncated: check names the pack (header)" grep -qF "damage: pack-header: $PB:" "$T/err"
dr_check "truncated: only SB is affected" test "$(affected_snaps)" = "${SB:0:8}"
affected_paths "$SB" >"$T/damaged"
dr_check "truncated: affected paths are files of dB" \
    test -s "$T/damaged" -a -z "$(grep -v "^$T/dB/" "$T/damaged")"
# what check reported, repair snapshots must act on, without first being told to read data
run "truncated: repair snapshots --dry-run" dr_r repair snapshots --dry-run
dr_check "truncated: repair snapshots --dry-run would repair SB (exit $rc)" \
    grep -q "^3 snapshots checked, 1 would be repaired" "$T/out"
dr_expect_success "truncated: repair index" dr_r repair index
dr_expect_success "truncated: repair snapshots" dr_r repair snapshots
NB=$(repaired_as "$SB")
dr_check "truncated: SB repaired" test -n "$NB"
repair_paths "$SB" >"$T/repaired"
dr_check "truncated: repair marks exactly the paths check named" dr_cmp "$T/damaged" "$T/repaired"
no_pack_lost "truncated"
dr_check "truncated: the truncated pack is kept" test -f "$R/$PB"
# shellcheck disable=SC2046
restore_repaired "truncated" "$NB" "$T/dB" $(cat "$T/damaged")
restore_same "truncated" "$SA" "$T/dA"
restore_same "truncated" "$SC" "$T/dC"

# (d) a data pack of SB deleted
fresh missing
rm "$R/$PB"
damage_run "missing: check" dr_r check
dr_check "missing: check names the missing pack" grep -qF "$PB" "$T/err"
dr_check "missing: check names the missing blobs" \
    grep -qE "^damage: blob-missing: blob [0-9a-f]{64}:" "$T/err"
dr_check "missing: only SB is affected" test "$(affected_snaps)" = "${SB:0:8}"
affected_paths "$SB" >"$T/damaged"
dr_check "missing: affected paths are files of dB" \
    test -s "$T/damaged" -a -z "$(grep -v "^$T/dB/" "$T/damaged")"
dr_expect_success "missing: repair snapshots" dr_r repair snapshots
NB=$(repaired_as "$SB")
dr_check "missing: SB repaired" test -n "$NB"
repair_paths "$SB" >"$T/repaired"
dr_check "missing: repair marks exactly the paths check named" dr_cmp "$T/damaged" "$T/repaired"
no_pack_lost "missing" "$PB"
# shellcheck disable=SC2046
restore_repaired "missing" "$NB" "$T/dB" $(cat "$T/damaged")
restore_same "missing" "$SA" "$T/dA"
restore_same "missing" "$SC" "$T/dC"

# (e) SB's data pack renamed over SC's: SC's blobs are gone, SB's still readable under the
# wrong name (the rebuilt index finds them from the header)
fresh renamed
mv "$R/$PB" "$R/$PC"
damage_run "renamed: check" dr_r check
dr_check "renamed: check names SC's missing blobs" \
    grep -qE "^damage: blob-missing: blob [0-9a-f]{64}:" "$T/err"
dr_check "renamed: only SC is affected" test "$(affected_snaps)" = "${SC:0:8}"
affected_paths "$SC" >"$T/damaged"
dr_check "renamed: affected paths are files of dC" \
    test -s "$T/damaged" -a -z "$(grep -v "^$T/dC/" "$T/damaged")"
damage_run "renamed: check --read-data" dr_r check --read-data
dr_check "renamed: check --read-data names the pack whose content is not its name" \
    grep -qF "damage: pack-hash: $PC:" "$T/err"
dr_expect_success "renamed: repair snapshots" dr_r repair snapshots
NC=$(repaired_as "$SC")
dr_check "renamed: SC repaired" test -n "$NC"
dr_check "renamed: SB needs no repair" test -z "$(repaired_as "$SB")"
repair_paths "$SC" >"$T/repaired"
dr_check "renamed: repair marks exactly the paths check named" dr_cmp "$T/damaged" "$T/repaired"
no_pack_lost "renamed" "$PB"
# shellcheck disable=SC2046
restore_repaired "renamed" "$NC" "$T/dC" $(cat "$T/damaged")
restore_same "renamed" "$SA" "$T/dA"
restore_same "renamed" "$SB" "$T/dB"

# (f1) the local index deleted: every command rebuilds it; check passes
fresh noindex
rm -rf "$(index_dir)"
run "no index: check" dr_r check
dr_check "no index: check rebuilds the index and passes (exit $rc)" test "$rc" -eq 0
dr_check "no index: says it builds the index" grep -q "building it from the repository" "$T/err"
dr_check "no index: the index is back" test -f "$(index_dir)/data.mdb"
dr_expect_success "no index: check --read-data" dr_r check --read-data
no_pack_lost "no index"
restore_same "no index" "$SA" "$T/dA"
restore_same "no index" "$SB" "$T/dB"
restore_same "no index" "$SC" "$T/dC"

# (f2) the index's first pages overwritten with garbage: damage of the cache, exit 4
fresh badindex
IDX=$(index_dir)
"$TOOL" gen "$T/garbage" 16K 42
dd if="$T/garbage" of="$IDX/data.mdb" conv=notrunc status=none
damage_run "bad index: check" dr_r check
dr_check "bad index: check reports the index as damaged" grep -q "^damage: index: " "$T/err"
dr_check "bad index: check names the index directory" grep -qF "$IDX" "$T/err"
dr_check "bad index: check suggests 'repair index'" grep -qF "drrepo repair index" "$T/err"
dr_expect_success "bad index: repair index" dr_r repair index
dr_expect_success "bad index: check --read-data after repair index" dr_r check --read-data
no_pack_lost "bad index"
restore_same "bad index" "$SA" "$T/dA"
restore_same "bad index" "$SB" "$T/dB"
restore_same "bad index" "$SC" "$T/dC"

# (f3) garbage in one page of the index at a time (an LMDB page is 4 KiB): never a crash; either
# the page is unused (exit 0) or check reports the index (exit 4) and repair index fixes it.
# check and repair index write only the cache (the index is in it): every page gets a fresh copy
# of the cache, and the pages share one copy of the repository, which must be the pristine one
# byte for byte afterwards (a copy of both per page was 40 copies and removals of the packs).
fresh pages
npages=$(($(stat -c %s "$(index_dir)/data.mdb") / 4096))
[ "$npages" -le 40 ] || npages=40
bad_pages=""
for pg in $(seq 1 $((npages - 1))); do
    rm -rf "$C"
    cp -a "$C0" "$C"
    IDX=$(index_dir)
    "$TOOL" gen "$T/garbage" 4K "$pg"
    dd if="$T/garbage" of="$IDX/data.mdb" bs=4096 seek="$pg" conv=notrunc status=none
    dr_r check >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ge 128 ] || grep -qE 'Sanitizer|runtime error' "$T/err"; then
        bad_pages="$bad_pages $pg(crash:$rc)"
        continue
    fi
    if [ "$rc" -eq 4 ] && ! grep -qF "drrepo repair index" "$T/err"; then
        bad_pages="$bad_pages $pg(no-hint)"
    elif [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ]; then
        bad_pages="$bad_pages $pg(exit:$rc)"
    fi
    if [ "$rc" -ne 0 ]; then
        dr_r repair index >"$T/out" 2>"$T/err" && dr_r check >"$T/out" 2>"$T/err" \
            || bad_pages="$bad_pages $pg(not-repaired)"
    fi
done
dr_check "index pages: garbage in any of pages 1..$((npages - 1)) is reported or harmless" \
    test -z "$bad_pages"
[ -z "$bad_pages" ] || echo "# index pages that went wrong:$bad_pages"
dr_check "index pages: the shared repository is the pristine one" diff -r "$T/base" "$R"

# (g) a snapshot object of SB corrupted: check names it; the others restore
fresh snap
"$TOOL" flip "$R/snapshots/$SB" 60
damage_run "snapshot: check" dr_r check
dr_check "snapshot: check names the snapshot" grep -qF "damage: snapshot: snapshot $SB:" "$T/err"
dr_check "snapshot: no other damage" test "$(grep -c '^damage:' "$T/err")" -eq 1
dr_expect_success "snapshot: repair index" dr_r repair index
dr_expect_success "snapshot: repair snapshots" dr_r repair snapshots
dr_check "snapshot: nothing to repair in the readable snapshots" \
    grep -q "^2 snapshots checked, 0 repaired" "$T/out"
no_pack_lost "snapshot"
dr_check "snapshot: the damaged snapshot object is kept" test -f "$R/snapshots/$SB"
restore_same "snapshot" "$SA" "$T/dA"
restore_same "snapshot" "$SC" "$T/dC"

# (h) the second key file corrupted: check (opened with the first key) names it; removing that
# key is the repair
fresh key
"$TOOL" flip "$R/keys/$K2" 70
damage_run "key: check" dr_r check
dr_check "key: check names the key file" grep -qF "damage: key-file: keys/$K2:" "$T/err"
dr_check "key: no other damage" test "$(grep -c '^damage:' "$T/err")" -eq 1
dr_expect_success "key: remove the damaged key" dr_r key remove "${K2:0:12}"
dr_expect_success "key: check after removing it" dr_r check --read-data
dr_check "key: the intact key file is untouched" test -f "$R/keys/$K1"
no_pack_lost "key"
restore_same "key" "$SA" "$T/dA"
restore_same "key" "$SB" "$T/dB"
restore_same "key" "$SC" "$T/dC"

# (i) the index claims a blob that pack PA does not have
fresh claim
PAHEX=$(basename "$PA")
CLAIM=$("$TOOL" index-claim "$(index_dir)" "$PAHEX" 1)
dr_check "claim: dr-test-tool made a claim" test "${#CLAIM}" -eq 64
damage_run "claim: check" dr_r check
dr_check "claim: check names the blob and the pack" \
    grep -qE "^damage: index: blob $CLAIM: .*$PAHEX" "$T/err"
dr_check "claim: check suggests 'repair index'" grep -qF "drrepo repair index" "$T/err"
dr_check "claim: no snapshot is affected" test -z "$(affected_snaps)"
dr_expect_success "claim: repair index" dr_r repair index
dr_expect_success "claim: check after repair index" dr_r check --json
dr_check "claim: the claim is gone" test -z "$(grep -F "$CLAIM" "$T/out")"
no_pack_lost "claim"
restore_same "claim" "$SA" "$T/dA"
restore_same "claim" "$SB" "$T/dB"
restore_same "claim" "$SC" "$T/dC"

# (j) unknown files in the layout: warnings naming each, exit 0, left alone
fresh extra
mkdir -p "$R/data/zz"
echo "x" >"$R/data/zz/notapack"
echo "y" >"$R/stray.txt"
echo "z" >"$R/snapshots/notes.txt"
echo "w" >"$R/keys/old.bak"
run "extra: check" dr_r check
dr_check "extra: check exits 0 (exit $rc)" test "$rc" -eq 0
for f in data/zz/notapack stray.txt snapshots/notes.txt keys/old.bak; do
    dr_check "extra: warning names $f" grep -qF "warning: unknown-file: $f:" "$T/err"
done
dr_check "extra: no damage reported" test -z "$(grep '^damage:' "$T/err")"
run "extra: check --read-data --json" dr_r check --read-data --json
dr_check "extra: check --read-data exits 0 (exit $rc)" test "$rc" -eq 0
dr_check "extra: --json lists the 4 warnings" \
    test "$(grep -o '"kind":"unknown-file","warning":true' "$T/out" | wc -l)" -eq 4
dr_expect_success "extra: repair index" dr_r repair index
dr_expect_success "extra: repair snapshots" dr_r repair snapshots
dr_check "extra: nothing repaired" grep -q "^3 snapshots checked, 0 repaired" "$T/out"
dr_check "extra: the unknown files are left alone" test -f "$R/data/zz/notapack" \
    -a -f "$R/stray.txt" -a -f "$R/snapshots/notes.txt" -a -f "$R/keys/old.bak"
no_pack_lost "extra"
restore_same "extra" "$SA" "$T/dA"
restore_same "extra" "$SB" "$T/dB"
restore_same "extra" "$SC" "$T/dC"

# the pristine repository is untouched by all of this
R="$T/base" C="$C0"
dr_expect_success "base: check --read-data" dr_r check --read-data
dr_done
