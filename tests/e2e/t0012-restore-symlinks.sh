#!/usr/bin/env bash
# restore never follows a symlink that already stands inside the target (issue 17, item 2): a
# symlink at a file's place, at a directory's place, at an intermediate component (also one
# that --include only descends through), at a hard link's, a FIFO's and a symlink's place.
# Without --overwrite the existing entry is refused (exit 1, as for any existing file) and the
# link stays; with --overwrite the link itself is replaced. Either way nothing outside the
# target is written, created, chmod'ed or touched. The --target directory itself may be a
# symlink: that one is the user's choice and is followed.
#
# The other commands that read snapshots write nothing that a planted symlink could redirect:
# `dump` writes a file or a tar stream to stdout only (src/cmd/dump.c, src/restore/tarwrite.c), and
# `mount` serves a read-only FUSE file system whose operations are getattr, readlink, readdir,
# open, release, read and statfs only (src/mount/fuse.c); the one file it writes, the rebuilt
# copy of a record-encoded RDB, is an unlinked tmpfile(3). Neither creates anything below a
# directory of the user's, so they have no case here.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
out="$T/outside"
mkdir -p "$src/d" "$src/p/q/r" "$out/dir"
echo "snapshot file" >"$src/f"
echo one >"$src/d/one"
echo two >"$src/d/two"
echo deep >"$src/p/q/r/file"
echo linked >"$src/h1"
ln "$src/h1" "$src/h2"
mkfifo "$src/fifo"
ln -s "a target" "$src/lnk"
chmod 0600 "$src/f"; chmod 0750 "$src/d"
find "$src" -exec touch -h -d '2021-06-07 08:09:10.5' {} +
echo "victim" >"$out/victim"
echo "old" >"$out/dir/old"
chmod 0644 "$out/victim"; chmod 0755 "$out/dir"
find "$out" -exec touch -h -d '2001-02-03 04:05:06' {} +

# outside_state: everything that a write through a link would change outside the target
outside_state() {
    (cd "$out" && find . -printf '%P %y %m %T@ %s %n\n' | sort && cat victim dir/old)
}
outside_state >"$T/outside.before"
outside_same() { outside_state | cmp -s "$T/outside.before" -; }

dr_init
dr_expect_success "snapshot" drrepo snapshot "$src"

rst="$T/rst"
# plant REL LINK-TARGET: a fresh target holding only the parents of REL and a symlink at REL
plant() {
    rm -rf "$rst"
    mkdir -p "$(dirname "$rst$src/$1")"
    ln -s "$2" "$rst$src/$1"
}

# case NAME REL LINK-TARGET [restore options]
case_link() {
    local name=$1 rel=$2 to=$3
    shift 3
    plant "$rel" "$to"
    dr_must_fail 1 "$name: without --overwrite the restore refuses" \
        drrepo restore latest --target "$rst" "$@"
    dr_check "$name: the refusal names the entry and --overwrite" \
        grep -qF "'$rst$src/$rel' exists; not overwriting it (use --overwrite)" "$T/err"
    dr_check "$name: the link is left as it was" test -L "$rst$src/$rel"
    dr_check "$name: nothing outside the target changed" outside_same
    plant "$rel" "$to"
    dr_expect_success "$name: with --overwrite the restore succeeds" \
        drrepo restore latest --target "$rst" --overwrite "$@"
    dr_check "$name: nothing outside the target changed (overwrite)" outside_same
    dr_check "$name: the link was replaced" test ! -L "$rst$src/$rel"
}

case_link "file's place" f "$out/victim"
dr_check "file's place: the restored tree equals the source" dr_same_tree "$src" "$rst$src"
case_link "directory's place" d "$out/dir"
dr_check "directory's place: the restored tree equals the source" dr_same_tree "$src" "$rst$src"
case_link "intermediate component" p/q "$out/dir"
dr_check "intermediate component: the restored tree equals the source" dr_same_tree "$src" "$rst$src"
case_link "intermediate component of an --include" p "$out/dir" --include "$src/p/q/r/file"
dr_check "intermediate component of an --include: the file is restored" \
    cmp -s "$src/p/q/r/file" "$rst$src/p/q/r/file"
case_link "hard link's place" h2 "$out/victim"
dr_check "hard link's place: restored as a hard link" \
    test "$(stat -c %i "$rst$src/h1")" = "$(stat -c %i "$rst$src/h2")"
dr_check "hard link's place: the restored tree equals the source" dr_same_tree "$src" "$rst$src"
case_link "fifo's place" fifo "$out/victim"
dr_check "fifo's place: the fifo is restored" test -p "$rst$src/fifo"
# (a symlink that is replaced by a symlink: the case check of case_link does not apply)
plant lnk "$out/victim"
dr_expect_success "symlink's place: --overwrite replaces the link" \
    drrepo restore latest --target "$rst" --overwrite
dr_check "symlink's place: the link has the snapshot's target" \
    test "$(readlink "$rst$src/lnk")" = "a target"
dr_check "symlink's place: nothing outside the target changed" outside_same

# a parent of the snapshot's paths (the first component below the target) is a symlink
rm -rf "$rst"
mkdir -p "$rst"
top=${src#/}
top=${top%%/*}
ln -s "$out/dir" "$rst/$top"
dr_must_fail 1 "top component: without --overwrite the restore refuses" \
    drrepo restore latest --target "$rst"
dr_check "top component: nothing outside the target changed" outside_same
dr_expect_success "top component: with --overwrite the restore succeeds" \
    drrepo restore latest --target "$rst" --overwrite
dr_check "top component: nothing outside the target changed (overwrite)" outside_same
dr_check "top component: the restored tree equals the source" dr_same_tree "$src" "$rst$src"

# issue 17's report: snapshot A has x -> outside, snapshot B a directory x with files; restoring
# A and then B with --overwrite wrote B's files into the outside directory and chmod'ed it
s2="$T/s2"
mkdir -p "$s2"
ln -s "$out/dir" "$s2/x"
dr_expect_success "snapshot A (x is a symlink)" drrepo snapshot "$s2"
rm "$s2/x"
mkdir "$s2/x"
echo "from B" >"$s2/x/new"
chmod 0700 "$s2/x"
rm -rf "$rst"
dr_expect_success "restore A" drrepo restore latest --target "$rst"
dr_check "A's x is a symlink" test -L "$rst$s2/x"
dr_expect_success "snapshot B (x is a directory)" drrepo snapshot "$s2"
dr_expect_success "restore B over A with --overwrite" drrepo restore latest --target "$rst" --overwrite
dr_check "B's files are below the target" cmp -s "$s2/x/new" "$rst$s2/x/new"
dr_check "x is a directory now" test -d "$rst$s2/x" -a ! -L "$rst$s2/x"
dr_check "B's files are not in the outside directory" test ! -e "$out/dir/new"
dr_check "nothing outside the target changed (A then B)" outside_same

# the --target directory itself may be a symlink: it is followed, once
mkdir -p "$T/real"
ln -s "$T/real" "$T/tlink"
dr_expect_success "a symlink given as --target is followed" drrepo restore latest --target "$T/tlink"
dr_check "the files are in the directory it names" cmp -s "$s2/x/new" "$T/real$s2/x/new"
dr_done
