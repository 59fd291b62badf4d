#!/bin/bash
# t0245: every tree pack has an identical copy under tree-copy/ (format/repository.md "Tree pack
# copies"). One flipped byte in a tree pack, a deleted tree pack, and one flipped byte in a
# copy: every reading command (ls, diff, restore, dump, mount is not run here: it needs FUSE)
# still works, restores byte-identical and warns naming the damaged object; check exits 4 naming
# it and saying the other copy is good; `repair packs` rewrites it; check then passes. Also: a
# repository without copies (written before them) gets warnings only; prune deletes both names.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
mkdir -p "$src/a/b" "$src/c"
"$TOOL" gen "$src/a/f1" 200K 1
"$TOOL" gen "$src/a/b/f2" 50K 2
"$TOOL" gen "$src/c/f3" 10K 3
echo small >"$src/c/s"
dr_init
dr_expect_success "snapshot" drrepo snapshot "$src"
S=$(drrepo snapshots --json | grep -o '"id":"[0-9a-f]\{64\}"' | head -n 1 | cut -d'"' -f4)

TP=$(cd "$REPO" && find tree -type f)
CP="tree-copy/${TP#tree/}"
dr_check "setup: one tree pack" test "$(printf '%s\n' "$TP" | grep -c .)" -eq 1
dr_check "the tree pack has an identical copy" cmp -s "$REPO/$TP" "$REPO/$CP"
dr_check "init wrote the copies marker" test -e "$REPO/tree-copies"
dr_expect_success "clean check" drrepo check --read-data

# every_command LABEL OBJ: ls, diff, restore, dump work and restore byte-identical with a warning
# naming OBJ (the damaged name); check exits 4 naming OBJ and the good other copy
every_command() {
    local label=$1 obj=$2 other=$3 n=$4
    [ "$obj" = "$TP" ] && [ -e "$REPO/$TP" ] && rm -rf "$DRREPO_CACHE_DIR" # sync reads headers
    dr_expect_success "$label: ls" drrepo ls "$S"
    dr_check "$label: ls lists every file" grep -q "c/s" "$T/out"
    dr_check "$label: ls warns naming '$obj'" grep -qF "'$obj'" "$T/err"
    dr_expect_success "$label: diff" drrepo diff "$S" "$S"
    rm -rf "$T/r"
    dr_expect_success "$label: restore" drrepo restore "$S" --target "$T/r"
    dr_check "$label: restore warns naming '$obj'" grep -qF "'$obj'" "$T/err"
    dr_check "$label: restored byte-identical" dr_same_tree "$src" "$T/r$src"
    dr_expect_success "$label: dump" drrepo dump "$S" "$src/a/b/f2"
    dr_check "$label: dump byte-identical" cmp -s "$T/out" "$src/a/b/f2"
    dr_must_fail 4 "$label: check exits 4" drrepo check $5
    dr_check "$label: check names '$obj' as damage" grep -qE "^damage: [a-z-]+: $obj: " "$T/err"
    dr_check "$label: check says '$other' is good" grep -qF "'$other' is good" "$T/err"
    dr_check "$label: nothing else is damage" test "$(grep -c '^damage:' "$T/err")" -eq "$n"
    dr_expect_success "$label: repair packs" drrepo repair packs
    dr_check "$label: repair names what it wrote" grep -qF "$obj: written again" "$T/out"
    dr_check "$label: the two names are identical again" cmp -s "$REPO/$TP" "$REPO/$CP"
    dr_expect_success "$label: check --read-data passes after repair" drrepo check --read-data
    dr_check "$label: no warning after repair" test ! -s "$T/err"
}

# (a) a byte of a tree record in the pack (the first record starts at offset 16)
"$TOOL" flip "$REPO/$TP" 40
every_command "flip in the pack" "$TP" "$CP" 1 ""
# (b) the tree pack deleted (the index knows it: with no index, see (b2))
rm "$REPO/$TP"
every_command "deleted pack" "$TP" "$CP" 1 ""
# (b2) deleted, and no index: a lone copy the index does not know is also what a snapshot killed
# between writing the copy and the pack leaves, so the open finishes the write from the copy
rm "$REPO/$TP"
rm -rf "$DRREPO_CACHE_DIR"
dr_expect_success "deleted pack, no index: ls" drrepo ls "$S"
dr_check "deleted pack, no index: the open writes it again, saying so" \
    grep -qF "tree pack '$TP' was missing" "$T/err"
dr_check "deleted pack, no index: identical again" cmp -s "$REPO/$TP" "$REPO/$CP"
dr_expect_success "deleted pack, no index: check passes" drrepo check --read-data
# (c) a byte of a tree record in the copy: only --read-data reads the copy's records, so the
# reading commands do not notice; check --read-data reports it
"$TOOL" flip "$REPO/$CP" 40
dr_expect_success "flip in the copy: restore" drrepo restore "$S" --target "$T/rc"
dr_check "flip in the copy: restored byte-identical" dr_same_tree "$src" "$T/rc$src"
dr_must_fail 4 "flip in the copy: check --read-data exits 4" drrepo check --read-data
dr_check "flip in the copy: check names the copy" grep -qE "^damage: [a-z-]+: $CP: " "$T/err"
dr_check "flip in the copy: check says the pack is good" grep -qF "'$TP' is good" "$T/err"
dr_expect_success "flip in the copy: repair packs" drrepo repair packs
dr_expect_success "flip in the copy: check passes after repair" drrepo check --read-data
# (d) the copy's header (its last bytes) damaged: the structure check reads headers of both
sz=$(stat -c %s "$REPO/$CP")
"$TOOL" flip "$REPO/$CP" $((sz - 20))
dr_must_fail 4 "copy header: check exits 4" drrepo check
dr_check "copy header: check names the copy" grep -qE "^damage: [a-z-]+: $CP: " "$T/err"
dr_expect_success "copy header: repair packs" drrepo repair packs
dr_expect_success "copy header: check passes" drrepo check
# (e) both names damaged: no copy is good; restore loses the directories (exit 4) and says why
"$TOOL" flip "$REPO/$TP" 40
"$TOOL" flip "$REPO/$CP" 40
rm -rf "$DRREPO_CACHE_DIR"
dr_must_fail 4 "both damaged: check exits 4" drrepo check
dr_check "both damaged: the tree is named" grep -qE "^damage: tree: tree [0-9a-f]{64}:.*its copy is damaged too" "$T/err"
dr_must_fail 1 "both damaged: repair packs cannot mend it" drrepo repair packs
dr_check "both damaged: repair names the pack" grep -qF "$TP: no good copy" "$T/out"

# (f) a repository written before tree packs had copies: no marker, no copies
REPO="$T/old"
dr_init
dr_expect_success "old: snapshot" drrepo snapshot "$src"
rm -rf "$REPO/tree-copy" "$REPO/tree-copies"
dr_expect_success "old: check passes with a warning" drrepo check
dr_check "old: the missing copy is a warning" grep -qE "^warning: pack-missing: tree-copy/" "$T/err"
dr_expect_success "old: restore" drrepo restore latest --target "$T/ro"
dr_check "old: restored byte-identical" dr_same_tree "$src" "$T/ro$src"
dr_expect_success "old: repair packs writes the copies and the marker" drrepo repair packs
dr_check "old: copies written" test -n "$(find "$REPO/tree-copy" -type f)"
dr_check "old: marker written" test -e "$REPO/tree-copies"
dr_expect_success "old: check passes without warnings" drrepo check --read-data
dr_check "old: no warning" test ! -s "$T/err"

# (g) prune deletes both names; a lone copy (prune killed between the two deletions) is
# written back and indexed as an unreferenced pack by the next open, deleted by the next prune
dr_expect_success "prune: forget" drrepo forget latest
P=$(cd "$REPO" && find tree -type f | head -n 1)
DR_FAULT=prune.delete_tree_copy:kill dr_must_fail 137 "prune: killed between the deletions" \
    drrepo prune
dr_check "prune: a lone copy is left" test ! -e "$REPO/$P" -a -e "$REPO/tree-copy/${P#tree/}"
dr_expect_success "prune: check passes with a lone copy" drrepo check
dr_expect_success "prune: the next prune" drrepo prune
dr_check "prune: no tree pack or copy left" test -z "$(find "$REPO/tree" "$REPO/tree-copy" -type f 2>/dev/null)"
dr_expect_success "prune: check passes" drrepo check --read-data
dr_done
