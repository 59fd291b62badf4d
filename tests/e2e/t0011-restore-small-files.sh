#!/usr/bin/env bash
# restore of many small files (docs/ARCHITECTURE.md, "The read engine"): a file of one chunk is
# created under its temporary name by the worker that writes its chunk, and the entries of a
# directory the restore made are not looked up first. The tree mixes what that path must keep
# right: a thousand or so one-chunk files in fresh directories, a file of several chunks, a sparse
# file, an empty file, hard links (over a hundred, in groups of two and three names), modes and
# mtimes; then a restore into directories that already hold other files, and (with DR_FAULTS) a restore killed half-way and one stopped with
# SIGTERM while files of the batch are under temporary names, finished by --overwrite if-changed.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
for d in 1 2 3 4; do
    mkdir -p "$src/t/d$d/sub"
    # small files of assorted sizes, a few processes each: split by bytes and by lines
    "$TOOL" gen "$T/bin$d" "$((250 * 1024 + d))" "$d" bin
    "$TOOL" gen "$T/txt$d" 200K "$((d + 10))" text
    split -b 2011 -a 3 "$T/bin$d" "$src/t/d$d/f"
    split -l 30 -a 3 "$T/txt$d" "$src/t/d$d/sub/g"
done
nsmall=$(find "$src/t" -type f | wc -l)
"$TOOL" gen "$src/big.bin" 6M 5 bin
truncate -s 3M "$src/sparse.bin"
printf 'end' >> "$src/sparse.bin"
: > "$src/empty"
ln "$src/t/d1/faaa" "$src/t/d2/hard1"
ln "$src/big.bin" "$src/t/big-link"
# hard links past the engine's first table of them (64): a second name in another directory for
# every file of d3/sub, and a second and a third for d4/sub's first files
mkdir -p "$src/t/links"
for f in "$src"/t/d3/sub/g*; do ln "$f" "$src/t/links/${f##*/}"; done
for f in "$src"/t/d4/sub/gaa*; do
    ln "$f" "$src/t/links/3-${f##*/}"
    ln "$f" "$src/t/d1/3-${f##*/}"
done
nlinked=$(find "$src/t" -type f -links +1 | wc -l)
chmod 0640 "$src/t/d1/faab"
chmod 0751 "$src/t/d3"
find "$src" -exec touch -h -d '2022-03-04 05:06:07.25' {} +
touch -d '2020-01-01 00:00:00' "$src/t/d2/sub/gaac"

dr_init
dr_expect_success "snapshot" drrepo snapshot "$src"
dr_expect_success "restore into a new target" drrepo --json restore latest --target "$T/r1"
dr_check "identical: contents, modes, mtimes, hard links" dr_same_tree "$src" "$T/r1$src"
dr_check "every linked name is linked in the restore ($nlinked)" \
    test "$(find "$T/r1$src/t" -type f -links +1 | wc -l)" -eq "$nlinked"
dr_check "all files counted (the small ones, big, sparse, empty; links are links)" \
    test "$(dr_json_field files)" -eq "$((nsmall + 3))"
dr_check "no temporary file left" test -z "$(find "$T/r1" -name '.drrepo-tmp-*')"
dr_check "the sparse file keeps its hole" \
    test "$(stat -c '%b' "$T/r1$src/sparse.bin")" -lt 1000

# existing directories with other files in them: looked up as before, policies apply
r2="$T/r2$src"
mkdir -p "$r2/t/d1"
echo other > "$r2/t/d1/other"
echo old > "$r2/t/d1/faac"
dr_must_fail 1 "an existing file in an existing directory is refused" \
    drrepo restore latest --target "$T/r2"
dr_check "the refused file is left" grep -qx old "$r2/t/d1/faac"
dr_expect_success "--overwrite if-changed into existing directories" \
    drrepo restore latest --target "$T/r2" --overwrite if-changed
dr_check "the existing file is restored" cmp -s "$src/t/d1/faac" "$r2/t/d1/faac"
dr_check "the other file stays" grep -qx other "$r2/t/d1/other"
rm "$r2/t/d1/other"
touch -r "$src/t/d1" "$r2/t/d1" # the removal was ours, not the restore's
dr_check "then the tree is identical" dr_same_tree "$src" "$r2"

if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# the kill and signal cases need a build with -DDR_FAULTS=ON"
    dr_done
fi
dr_no_leak_check

# kill -9 at the 400th file: the files before it are in place, that one is a temporary
kil="$T/kil"
DR_FAULT=restore.file.created:kill:400 drrepo restore latest --target "$kil" >"$T/out" 2>"$T/err"
dr_check "the restore was killed" test $? -eq 137
dr_check "it left temporary files" test -n "$(find "$kil" -name '.drrepo-tmp-*' | head -n 1)"
find "$kil" -type f ! -name '.drrepo-tmp-*' -printf '%P\n' | sort > "$T/complete"
dr_check "every file under its own name is complete" \
    bash -c 'cd "$1" && while read -r p; do cmp -s "$p" "/$p" || exit 1; done < "$2"' _ \
    "$kil" "$T/complete"
dr_expect_success "--overwrite if-changed finishes the killed restore" \
    drrepo restore latest --target "$kil" --overwrite if-changed
dr_check "finished: identical" dr_same_tree "$src" "$kil$src"
dr_check "finished: no temporary file left" test -z "$(find "$kil" -name '.drrepo-tmp-*')"

# SIGTERM while a file is under its temporary name: nothing is left but complete files, exit 143
sig="$T/sig"
DR_FAULT=restore.file.created:pause:300 DR_FAULT_PAUSE="$T/p" \
    "$DRREPO" -r "$REPO" restore latest --target "$sig" >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 1 3000); do [ -e "$T/p.paused" ] && break; sleep 0.1; done
dr_check "the restore paused at its 300th file" test -e "$T/p.paused"
kill -TERM "$pid"
touch "$T/p.go"
wait "$pid"
dr_check "SIGTERM: exit 143" test $? -eq 143
dr_check "SIGTERM: no temporary file left" test -z "$(find "$sig" -name '.drrepo-tmp-*')"
dr_expect_success "--overwrite if-changed finishes the stopped restore" \
    drrepo restore latest --target "$sig" --overwrite if-changed
dr_check "finished after SIGTERM: identical" dr_same_tree "$src" "$sig$src"
dr_done
