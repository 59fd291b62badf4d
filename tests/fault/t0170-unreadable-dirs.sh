#!/bin/bash
# t0170: directories that cannot be read, or not to the end, while a snapshot is taken. The
# snapshot exits 3 naming each; its tree marks the directory incomplete (format/tree.md flag
# INCOMPLETE), and ls, ls --long, diff and restore say so later instead of showing a normal
# empty directory. A snapshot whose paths could none be read at all (a directory that cannot be
# opened, a path that vanished) exits 1 and records nothing. Tests run as root, who reads any
# directory, so the failures are injected at the fault points backup.opendir, backup.readdir
# and backup.lstat (action "fail"; ":K" picks the K-th call).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# skipped: needs a build with -DDR_FAULTS=ON"
    exit 77
fi

dr_init
SRC="$T/src"
mkdir -p "$SRC/locked" "$SRC/partial" "$T/other"
echo a >"$SRC/a.txt"
echo x >"$SRC/locked/x"
echo y >"$SRC/locked/y"
for i in 1 2 3 4 5; do echo "$i" >"$SRC/partial/p$i"; done
echo z >"$SRC/z.txt"
echo o >"$T/other/o"
nsnaps() { drrepo snapshots --json 2>/dev/null | grep -o '"id":"' | wc -l; }

dr_expect_success "snapshot, all readable" drrepo snapshot "$SRC"
dr_check "a readable directory is not marked" test -z "$(drrepo ls --long latest | grep incomplete)"

# opendir calls, depth first in name order: src (1), src/locked (2), src/partial (3)
DR_FAULT=backup.opendir:fail:2 dr_must_fail 3 "unreadable directory: snapshot exits 3" \
    drrepo snapshot "$SRC"
dr_check "unreadable directory: the snapshot names it" \
    grep -q "cannot read directory '$SRC/locked'" "$T/err"
dr_expect_success "unreadable directory: ls" drrepo ls latest
dr_check "ls: the path is listed as before" grep -qx "$SRC/locked" "$T/out"
dr_check "ls: stdout has paths only" test -z "$(grep incomplete "$T/out")"
dr_check "ls: a warning names the directory" \
    grep -q "^drrepo: warning: directory '$SRC/locked' could not be read" "$T/err"
dr_check "ls: no other directory is named" test "$(grep -c warning "$T/err")" -eq 1
dr_expect_success "unreadable directory: ls --long" drrepo ls --long latest
dr_check "ls --long: marked [incomplete]" grep -q "^d.* $SRC/locked \[incomplete\]$" "$T/out"
dr_check "ls --long: only that one" test "$(grep -c incomplete "$T/out")" -eq 1
dr_expect_success "unreadable directory: ls of the directory itself" drrepo ls latest "$SRC/locked"
dr_check "ls DIR: a warning names it" grep -q "directory '$SRC/locked' could not be read" "$T/err"

dr_expect_success "unreadable directory: diff" drrepo diff "$(drrepo snapshots --json |
    grep -o '"id":"[0-9a-f]*"' | head -n 1 | cut -d'"' -f4)" latest
dr_check "diff: a ! line names it" grep -qx "! $SRC/locked/ \[incomplete in the second snapshot\]" "$T/out"
dr_check "diff: the summary counts it" grep -q "^0 added, 2 removed, 0 modified, 1 incomplete$" "$T/out"

rm -rf "$T/r"
dr_expect_success "unreadable directory: restore exits 0" drrepo restore latest --target "$T/r"
dr_check "restore: a warning names the directory" \
    grep -q "^drrepo: warning: directory '$SRC/locked' could not be read when the snapshot was taken" "$T/err"
dr_check "restore: it is restored, empty" test -d "$T/r$SRC/locked" -a -z "$(ls -A "$T/r$SRC/locked")"
dr_check "restore: the rest is restored" dr_cmp "$SRC/partial/p3" "$T/r$SRC/partial/p3"
rm -rf "$T/r"
dr_expect_success "restore --json" drrepo --json restore latest --target "$T/r"
dr_check "restore --json: incomplete 1" test "$(dr_json_field incomplete)" = 1
dr_expect_success "unreadable directory: check" drrepo check

# readdir calls: src has 6 entries with . and .. (7 calls with the end), locked 4 (calls 8-12),
# partial 7: failing call 16 leaves partial with 3 entries, of which 1 to 3 are files
DR_FAULT=backup.readdir:fail:16 dr_must_fail 3 "listing fails midway: snapshot exits 3" \
    drrepo snapshot "$SRC"
dr_check "midway: the snapshot names it" grep -q "cannot list directory '$SRC/partial'" "$T/err"
dr_expect_success "midway: ls --long" drrepo ls --long latest
dr_check "midway: marked [incomplete]" grep -q " $SRC/partial \[incomplete\]$" "$T/out"
n=$(grep -c "$SRC/partial/p" "$T/out")
dr_check "midway: the entries read are kept ($n of 5)" test "$n" -ge 1 -a "$n" -lt 5
rm -rf "$T/r"
dr_expect_success "midway: restore exits 0" drrepo restore latest --target "$T/r"
dr_check "midway: a warning names the directory" grep -q "directory '$SRC/partial' could not" "$T/err"
dr_check "midway: the entries read are restored" test "$(ls "$T/r$SRC/partial" | wc -l)" -eq "$n"

# the only path given cannot be read at all: no snapshot
before=$(nsnaps)
DR_FAULT=backup.opendir:fail dr_must_fail 1 "only path unreadable: exit 1" drrepo snapshot "$SRC/locked"
dr_check "only path unreadable: says no snapshot was recorded" \
    grep -q "^drrepo: error: '$SRC/locked' could not be read (see above); no snapshot was recorded" "$T/err"
dr_check "only path unreadable: no snapshot" test "$(nsnaps)" -eq "$before"
DR_FAULT=backup.lstat:fail:1 dr_must_fail 1 "only path vanished: exit 1" drrepo snapshot "$SRC/a.txt"
dr_check "only path vanished: names it" grep -q "cannot stat '$SRC/a.txt'" "$T/err"
dr_check "only path vanished: no snapshot" test "$(nsnaps)" -eq "$before"
DR_FAULT=backup.opendir:fail dr_must_fail 1 "no path readable: exit 1" \
    drrepo snapshot "$SRC/locked" "$T/other"
dr_check "no path readable: says so" grep -q "none of the 2 paths could be read" "$T/err"
dr_check "no path readable: no snapshot" test "$(nsnaps)" -eq "$before"

# one of two paths unreadable: saved, partial, marked (opendir 1 is $T/other, 2 is src/locked)
DR_FAULT=backup.opendir:fail:2 dr_must_fail 3 "one path of two unreadable: exit 3" \
    drrepo snapshot "$SRC/locked" "$T/other"
dr_check "one path of two: recorded" test "$(nsnaps)" -eq $((before + 1))
dr_expect_success "one path of two: ls --long" drrepo ls --long latest
dr_check "one path of two: marked" grep -q " $SRC/locked \[incomplete\]$" "$T/out"
dr_check "one path of two: the other is there" grep -q " $T/other/o$" "$T/out"
dr_expect_success "check at the end" drrepo check
dr_done
