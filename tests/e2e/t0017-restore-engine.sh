#!/usr/bin/env bash
# t0017: restore through the read engine (issue 12): a tree of 1,200 small files in 12
# directories (several batches, read while the walk goes on), hard links whose names fall in
# different batches, empty files, a sparse file, and a file of 10,000 chunks restore identical
# (content, modes, mtimes, links, holes kept); the backend gets of a full restore stay within
# 1.1 x the data packs and the bytes fetched within 1.1 x the bytes used (--json). Then a data
# pack in the middle of the large file is damaged: exit 4, one error line naming the file, its
# lost bytes and the pack, the file restored at its size with zeros exactly there, every other
# file identical.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
mkdir -p "$src"
for d in $(seq -w 0 11); do
    mkdir -p "$src/d$d"
    # 100 files of 200..3000 bytes from one generated stream, cut by split
    "$TOOL" gen "$T/stream" 160K "$((1$d))"
    split -b 1600 -a 3 "$T/stream" "$src/d$d/f"
done
rm -f "$T/stream"
dr_check "setup: 1,200 small files" test "$(find "$src" -type f | wc -l)" -ge 1200
# hard links: the first name in the first batch, the others in later ones
ln "$src/d00/faaa" "$src/d11/link-to-first"
ln "$src/d00/faaa" "$src/d06/link-to-first"
ln "$src/d05/faab" "$src/d10/link-mid"
: >"$src/d03/empty"
: >"$src/empty-top"
truncate -s 6M "$src/sparse"
printf 'data in the middle' | dd of="$src/sparse" bs=1 seek=3000000 conv=notrunc 2>/dev/null
# 10,000 chunks: 88 MiB at about 9 KiB a chunk (min 4K, avg 8K, max 10K)
"$TOOL" gen "$src/many-chunks" 88M 17
chmod 0640 "$src/d04/faac"
find "$src" -exec touch -h -d '2022-03-04 05:06:07.25' {} +

dr_expect_success "init with small chunks and 1 MiB packs" "$DRREPO" -r "$REPO" init \
    --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --chunk-min 4K --chunk-avg 8K \
    --chunk-max 10K --pack-size 1M
dr_expect_success "snapshot" drrepo snapshot "$src"
dr_expect_success "restore --json" drrepo --json restore latest --target "$T/r1"
packs=$(find "$REPO/data" -type f | wc -l)
gets=$(dr_json_field gets)
fetched=$(dr_json_field bytes_fetched)
used=$(dr_json_field bytes_used)
echo "# $packs data packs; $gets gets, $fetched bytes fetched, $used used"
dr_check "the tree is identical (content, modes, mtimes, hard links)" dr_same_tree "$src" "$T/r1$src"
dr_check "the hard links are links, across batches" \
    test "$(stat -c %h:%i "$T/r1$src/d00/faaa")" = "3:$(stat -c %i "$T/r1$src/d11/link-to-first")"
dr_check "the sparse file keeps its hole" \
    test "$(stat -c %s "$T/r1$src/sparse")" = 6291456 -a "$(du -k "$T/r1$src/sparse" | cut -f1)" -lt 100
dr_must_fail 2 "--read-concurrency 0 is a usage error" drrepo restore latest --target "$T/r0" \
    --read-concurrency 0
dr_check "it names the option" grep -q "read-concurrency takes a number of workers" "$T/err"
dr_expect_success "restore with one worker (--read-concurrency 1)" \
    drrepo --read-concurrency 1 restore latest --target "$T/r3" --include "$src/d07"
dr_check "one worker restores the same" dr_same_tree "$src/d07" "$T/r3$src/d07"
dr_expect_success "stats --json" drrepo --json stats
dr_check "many-chunks has 10,000 chunks at least" test "$(dr_json_field blobs)" -ge 10000
dr_check "gets at most 1.1 x the data packs" test "$gets" -ge 1 -a $((gets * 10)) -le $((packs * 11))
dr_check "bytes fetched at most 1.1 x the bytes used" test $((fetched * 10)) -le $((used * 11))

# damage a data pack in the middle of many-chunks: the walk stores files in name order, so
# many-chunks (~90 of the ~95 data packs) is followed only by 'sparse' (a pack or two); the
# 20th-newest pack is inside it
pack=$(ls -tr $(find "$REPO/data" -type f) | tail -n 40 | head -n 1)
psize=$(stat -c %s "$pack")
"$TOOL" flip "$pack" $((psize / 2)) >/dev/null
dr_must_fail 4 "damaged pack: restore exits 4" drrepo restore latest --target "$T/r2"
line=$(grep "^drrepo: error: file '$src/many-chunks'" "$T/err")
dr_check "one error line for the file" test "$(grep -c "file '$src/many-chunks'" "$T/err")" -eq 1
dr_check "it names the pack" grep -qF "in pack 'data/${pack##*/data/}'" "$T/err"
lost=$(echo "$line" | sed -n 's/.*: \([0-9]*\) bytes in [0-9]* chunks\{0,1\} lost, left as holes from byte \([0-9]*\):.*/\1 \2/p')
dr_check "it says how many bytes were lost and from where" test -n "$lost"
read -r nlost from <<<"${lost:-0 0}"
size=$(stat -c %s "$src/many-chunks")
dr_check "the file is restored at its size" test "$(stat -c %s "$T/r2$src/many-chunks")" = "$size"
dr_check "the bytes before the hole are intact" \
    cmp -s -n "$from" "$src/many-chunks" "$T/r2$src/many-chunks"
dr_check "the hole is zeros" test "$nlost" -gt 0 -a "$(dd if="$T/r2$src/many-chunks" bs=4096 iflag=skip_bytes,count_bytes \
    skip="$from" count="$nlost" 2>/dev/null | tr -d '\0' | wc -c)" -eq 0
dr_check "the bytes after the hole are intact" \
    cmp -s -i "$((from + nlost)):$((from + nlost))" "$src/many-chunks" "$T/r2$src/many-chunks"
rm "$T/r2$src/many-chunks" && cp -a "$src/many-chunks" "$T/r2$src/many-chunks" &&
    touch -h -d '2022-03-04 05:06:07.25' "$T/r2$src"
dr_check "every other file is identical" dr_same_tree "$src" "$T/r2$src"
dr_check "no sanitizer report" test -z "$(grep -E 'Sanitizer|runtime error' "$T/err")"
dr_done
