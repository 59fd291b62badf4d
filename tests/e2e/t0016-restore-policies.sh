#!/usr/bin/env bash
# restore's policies for what is already in the target (docs/USAGE.md, "restore"):
# --overwrite never|if-changed|always (bare --overwrite is always; none refuses), --delete,
# --dry-run (text and --json), and the stops: a restore killed with kill -9 half-way is finished
# by `--overwrite if-changed` without rewriting a file that was complete (same inode and mtime),
# and SIGTERM leaves no temporary file in the target and no lock (exit 143). The stops need a
# build with DR_FAULTS: the fault point restore.file.created stops a restore once its K-th
# temporary file is created (a file of one chunk is created by the worker that writes it, so
# the files before it are in place or being written, and that one stands under its temporary
# name).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
mkdir -p "$src/d/e" "$src/keep"
for i in 1 2 3 4 5 6; do "$TOOL" gen "$src/f$i.bin" 300K "$i" bin; done
echo hello > "$src/d/hello.txt"
echo deep > "$src/d/e/deep.txt"
ln -s d/hello.txt "$src/link"
find "$src" -exec touch -h -d '2021-06-07 08:09:10.5' {} +

dr_init
dr_expect_success "snapshot" drrepo snapshot "$src"
rst="$T/rst"
dr_expect_success "restore" drrepo restore latest --target "$rst"
r="$rst$src"
dr_check "restored tree is identical" dr_same_tree "$src" "$r"

# no flag: an existing file is refused, as before
dr_must_fail 1 "no --overwrite: an existing file is refused" drrepo restore latest --target "$rst"
dr_check "the refusal names --overwrite" grep -q "use --overwrite" "$T/err"
dr_must_fail 2 "--overwrite with an unknown policy is a usage error" \
    drrepo restore latest --target "$rst" --overwrite=sometimes
dr_must_fail 2 "--verify-existing needs if-changed" \
    drrepo restore latest --target "$rst" --overwrite always --verify-existing

# never: existing files stay as they are
echo changed > "$r/d/hello.txt"
dr_expect_success "--overwrite never" drrepo --json restore latest --target "$rst" --overwrite never
dr_check "never: the changed file is left" grep -qx changed "$r/d/hello.txt"
dr_check "never: existing entries counted as skipped" test "$(dr_json_field skipped)" -eq 9
dr_check "never: nothing written" test "$(dr_json_field files)" -eq 0

# if-changed: only what differs (mtime or size) is rewritten; the rest keeps its inode
before=$(stat -c '%i %Y' "$r/f1.bin")
dr_expect_success "--overwrite if-changed" drrepo --json restore latest --target "$rst" --overwrite if-changed
dr_check "if-changed: the changed file is restored" cmp -s "$src/d/hello.txt" "$r/d/hello.txt"
dr_check "if-changed: one file overwritten" test "$(dr_json_field overwritten)" -eq 1
dr_check "if-changed: the others counted unchanged" test "$(dr_json_field unchanged)" -eq 8
dr_check "if-changed: an unchanged file keeps its inode and mtime" test "$(stat -c '%i %Y' "$r/f1.bin")" = "$before"
# the same size and mtime hide a change unless the content is compared
printf 'X' | dd of="$r/f2.bin" bs=1 seek=1000 conv=notrunc 2>/dev/null
touch -d '2021-06-07 08:09:10.5' "$r/f2.bin"
dr_expect_success "if-changed without --verify-existing" drrepo restore latest --target "$rst" --overwrite if-changed
differs() { ! cmp -s "$1" "$2"; }
dr_check "same size and mtime: left" differs "$src/f2.bin" "$r/f2.bin"
dr_expect_success "if-changed --verify-existing" drrepo restore latest --target "$rst" --overwrite if-changed --verify-existing
dr_check "--verify-existing: the content differed, rewritten" cmp -s "$src/f2.bin" "$r/f2.bin"
dr_check "after if-changed the tree is identical" dr_same_tree "$src" "$r"

# bare --overwrite is always: every file is replaced
dr_expect_success "bare --overwrite" drrepo --json restore latest --target "$rst" --overwrite
dr_check "bare --overwrite rewrites everything" test "$(dr_json_field overwritten)" -eq 9
dr_check "always: new inode" test "$(stat -c '%i %Y' "$r/f1.bin")" != "$before"

# --dry-run: nothing is created or changed, each action is listed
dr_expect_success "--dry-run into a new target" drrepo restore latest --target "$T/none" --dry-run
dr_check "dry run: the target is not created" test ! -e "$T/none"
dr_check "dry run: lists what it would write" grep -qx "would write $T/none$src/f1.bin" "$T/out"
echo extra > "$r/extra.txt"
mkdir -p "$r/old/dir"; echo x > "$r/old/dir/x"
echo changed > "$r/d/hello.txt"
dr_expect_success "--dry-run --delete --json" \
    drrepo --json restore latest --target "$rst" --overwrite if-changed --delete --dry-run
dr_check "dry run json: lists the overwrite" grep -qF "{\"action\":\"overwrite\",\"path\":\"$r/d/hello.txt\"}" "$T/out"
dr_check "dry run json: lists the deletes" grep -qF "{\"action\":\"delete\",\"path\":\"$r/extra.txt\"}" "$T/out"
dr_check "dry run json: counts the deletes (extra, old/dir/x, old/dir, old)" test "$(dr_json_field deleted)" -eq 4
dr_check "dry run: nothing was deleted" test -f "$r/extra.txt"
dr_check "dry run: nothing was overwritten" grep -qx changed "$r/d/hello.txt"

# --delete: what the snapshot does not have goes, within the selection; symlinks not followed
mkdir -p "$T/outside"; echo precious > "$T/outside/p"
ln -s "$T/outside" "$r/d/e/to-outside"
echo log > "$r/d/keep.log"
dr_expect_success "--delete --include /d" \
    drrepo restore latest --target "$rst" --overwrite if-changed --delete --include "$src/d" --exclude '*.log'
dr_check "--include: extra outside the include is kept" test -f "$r/extra.txt"
dr_check "--delete: the symlink is removed" test ! -L "$r/d/e/to-outside"
dr_check "--delete: never followed" test -f "$T/outside/p"
dr_check "--exclude: an excluded extra is kept" test -f "$r/d/keep.log"
rm "$r/d/keep.log"
dr_expect_success "--delete" drrepo restore latest --target "$rst" --overwrite if-changed --delete
dr_check "--delete: the extra file is gone" test ! -e "$r/extra.txt"
dr_check "--delete: the extra directory is gone" test ! -e "$r/old"
dr_check "after --delete the tree is identical" dr_same_tree "$src" "$r"

if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# the kill and signal cases need a build with -DDR_FAULTS=ON"
    dr_done
fi
dr_no_leak_check

# SIGTERM while files of the batch are under temporary names: removed, lock released, 130
sig="$T/sig"
DR_FAULT=restore.file.created:pause:2 DR_FAULT_PAUSE="$T/p" \
    "$DRREPO" -r "$REPO" restore latest --target "$sig" >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 1 3000); do [ -e "$T/p.paused" ] && break; sleep 0.1; done
dr_check "the restore paused at its second file" test -e "$T/p.paused"
dr_check "temporary files stand in the target while it is paused" \
    test -n "$(find "$sig" -name '.drrepo-tmp-*' | head -n 1)"
kill -TERM "$pid"
touch "$T/p.go"
wait "$pid"
dr_check "SIGTERM: exit 143" test $? -eq 143
dr_check "SIGTERM: the error says interrupted" grep -q "SIGTERM" "$T/err"
dr_check "SIGTERM: no temporary file left in the target" test -z "$(find "$sig" -name '.drrepo-tmp-*')"
dr_check "SIGTERM: no lock left" test -z "$(ls -A "$REPO/locks")"

# kill -9 at the sixth of its eight files: each worker has put the files it wrote before in
# place (at least four), the sixth is left as a temporary
kil="$T/kil"
DR_FAULT=restore.file.created:kill:6 drrepo restore latest --target "$kil" >"$T/out" 2>"$T/err"
dr_check "the restore was killed" test $? -eq 137
dr_check "the killed restore left temporary files" \
    test -n "$(find "$kil" -name '.drrepo-tmp-*' | head -n 1)"
find "$kil" ! -type d ! -name '.drrepo-tmp-*' -printf '%P\n' | sort > "$T/complete"
dr_check "some files were complete (4 and the symlink)" test "$(wc -l < "$T/complete")" -ge 3
(cd "$kil" && xargs -d '\n' stat -c '%n %i %Y' < "$T/complete") > "$T/before"
dr_expect_success "--overwrite if-changed finishes the killed restore" \
    drrepo --json restore latest --target "$kil" --overwrite if-changed
dr_check "finished: the tree is identical to the source" dr_same_tree "$src" "$kil$src"
dr_check "finished: no temporary file left" test -z "$(find "$kil" -name '.drrepo-tmp-*')"
(cd "$kil" && xargs -d '\n' stat -c '%n %i %Y' < "$T/complete") > "$T/after"
dr_check "files complete before the kill were not rewritten (inode, mtime)" dr_cmp "$T/before" "$T/after"
dr_check "they are counted unchanged" test "$(dr_json_field unchanged)" -eq "$(wc -l < "$T/complete")"
dr_done
