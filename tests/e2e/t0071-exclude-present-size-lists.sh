#!/usr/bin/env bash
# snapshot --exclude-if-present (plain and NAME:HEADER, nested), --exclude-larger-than (the
# boundary, suffixes, a bad size), and the lists of paths --files-from (comments, blank lines,
# standard input), --files-from-verbatim (a name starting with '#') and --files-from-raw (a
# name with a newline), with --iexclude applied below the paths they list; restored trees are
# compared with the source less what was excluded.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
S="$T/src"
mkdir -p "$S/keep/deep/tmp" "$S/cache/sub" "$S/tagged" "$S/faketag" "$S/sizes" "$T/other"
echo a > "$S/keep/a.txt"; echo z > "$S/keep/deep/z.txt"; echo y > "$S/keep/deep/tmp/y"
touch "$S/keep/deep/tmp/.nobackup"
touch "$S/cache/.nobackup"; echo big > "$S/cache/big.bin"; echo x > "$S/cache/sub/x"
sig="Signature: 8a477f597d28d172789f06886806bc55"
printf '%s\n# This file is a cache directory tag.\n' "$sig" > "$S/tagged/CACHEDIR.TAG"
echo t > "$S/tagged/f"
echo "not a tag" > "$S/faketag/CACHEDIR.TAG"; echo t > "$S/faketag/f"
head -c 1024 /dev/urandom > "$S/sizes/exact"; head -c 1025 /dev/urandom > "$S/sizes/over"
echo small > "$S/sizes/small"
echo o > "$T/other/o.txt"

# the markers and the size limit, restored and compared with the source less what they leave out
dr_expect_success "snapshot with --exclude-if-present and --exclude-larger-than" \
    drrepo snapshot "$S" --exclude-if-present .nobackup \
    --exclude-if-present "CACHEDIR.TAG:$sig" --exclude-larger-than 1K
dr_expect_success "restore it" drrepo restore latest --target "$T/rst"
cp -a "$S" "$T/want"
rm -rf "$T/want/cache" "$T/want/keep/deep/tmp" "$T/want/tagged" "$T/want/sizes/over"
dr_check "the restored tree is the source less the marked directories and the large file" \
    diff -r --no-dereference "$T/want" "$T/rst$S"
drrepo ls latest > "$T/ls"
dr_check "a marked directory is not stored itself" sh -c "! grep -q '^$S/cache' '$T/ls'"
dr_check "a nested marked directory is left out, its siblings kept" \
    sh -c "! grep -q '^$S/keep/deep/tmp' '$T/ls' && grep -qx '$S/keep/deep/z.txt' '$T/ls'"
dr_check "a marker whose header differs leaves its directory in" grep -qx "$S/faketag/f" "$T/ls"
dr_check "a file of exactly SIZE is kept, one byte more is not" \
    sh -c "grep -qx '$S/sizes/exact' '$T/ls' && ! grep -q '$S/sizes/over' '$T/ls'"

dr_expect_success "a path given that holds a marker is saved all the same" \
    drrepo snapshot "$S/cache" --exclude-if-present .nobackup
drrepo ls latest > "$T/ls"
dr_check "with what it holds" grep -qx "$S/cache/sub/x" "$T/ls"
dr_expect_success "--exclude-larger-than takes a lower-case suffix" \
    drrepo snapshot "$S/sizes" --exclude-larger-than 1k
drrepo ls latest > "$T/ls"
dr_check "and keeps the same boundary" \
    sh -c "grep -qx '$S/sizes/exact' '$T/ls' && ! grep -q '$S/sizes/over' '$T/ls'"
for bad in 1Q 1.5M -1 ''; do
    dr_must_fail 2 "--exclude-larger-than '$bad' is a usage error" \
        drrepo snapshot "$S" --exclude-larger-than "$bad"
    dr_check "named in one line ('$bad')" \
        sh -c "test \$(wc -l < '$T/err') -eq 1 && grep -q -- \"--exclude-larger-than takes a size.*'$bad'\" '$T/err'"
done
dr_must_fail 2 "--exclude-if-present takes a name, not a path" \
    drrepo snapshot "$S" --exclude-if-present sub/.nobackup

# --files-from: comments, blank lines and trailing blanks; combined with a path given
printf '# what to save\n\n%s/keep/a.txt  \n   \n  # indented: not a comment, a path that is not there\n' "$S" > "$T/list"
dr_must_fail 2 "a listed path that does not exist is refused, as one given is" \
    drrepo snapshot --files-from "$T/list"
printf '# what to save\n\n%s/keep/a.txt  \n   \n%s/sizes\n' "$S" "$S" > "$T/list"
dr_expect_success "snapshot --files-from with a path given" \
    drrepo snapshot --files-from "$T/list" "$T/other"
drrepo ls latest > "$T/ls"
printf '%s\n' "$T/other" "$T/other/o.txt" "$S" "$S/keep" "$S/keep/a.txt" "$S/sizes" \
    "$S/sizes/exact" "$S/sizes/over" "$S/sizes/small" > "$T/want-ls"
grep "^$T/" "$T/ls" > "$T/got-ls"
dr_check "the listed paths and the given one are saved, nothing else" dr_cmp "$T/want-ls" "$T/got-ls"
dr_expect_success "--files-from - reads standard input" \
    sh -c "printf '%s\n' '$S/keep' | '$DRREPO' -r '$REPO' snapshot --files-from - --iexclude '*.TXT' --exclude-if-present .nobackup"
drrepo ls latest > "$T/ls"
dr_check "with --iexclude and the markers applied below the listed path" \
    sh -c "grep -qx '$S/keep/deep' '$T/ls' && ! grep -q 'txt\$' '$T/ls' && ! grep -q '/deep/tmp' '$T/ls'"

# --files-from-verbatim: a name starting with '#' (a comment to --files-from)
mkdir -p "$T/hash" && echo h > "$T/hash/#name"
printf '#name\n' > "$T/hlist"
(cd "$T/hash" && dr_must_fail 2 "--files-from skips '#name' as a comment" drrepo snapshot --files-from "$T/hlist")
dr_check "and says the list names no path" grep -q "the --files-from lists name no path" "$T/err"
(cd "$T/hash" && dr_expect_success "--files-from-verbatim saves '#name'" drrepo snapshot --files-from-verbatim "$T/hlist")
drrepo ls latest > "$T/ls"
dr_check "it is in the snapshot" grep -qx "$T/hash/#name" "$T/ls"

# --files-from-raw: a name with a newline
mkdir -p "$T/nl" && nl="$T/nl/new
line"
echo n > "$nl"
printf '%s\0' "$nl" "$T/other/o.txt" > "$T/rawlist"
dr_expect_success "--files-from-raw saves a name with a newline" \
    drrepo snapshot --files-from-raw "$T/rawlist"
dr_expect_success "restore it" drrepo restore latest --target "$T/rst-raw"
dr_check "the file with a newline in its name is restored" cmp -s "$nl" "$T/rst-raw$nl"
dr_check "and the other listed one" cmp -s "$T/other/o.txt" "$T/rst-raw$T/other/o.txt"
printf '%s\0%s' "$nl" "$T/other/o.txt" > "$T/rawlist"
dr_must_fail 2 "a raw list whose last name has no NUL (cut short) is refused" \
    drrepo snapshot --files-from-raw "$T/rawlist"
dr_must_fail 2 "a text list that holds a NUL is refused" drrepo snapshot --files-from "$T/rawlist"

# a missing list: one line naming it, exit 2, nothing recorded
before=$(drrepo snapshots --json | grep -o '"id"' | wc -l)
dr_must_fail 2 "a missing --files-from file" drrepo snapshot --files-from "$T/no-such-list" "$S"
dr_check "is named in one line" \
    sh -c "test \$(wc -l < '$T/err') -eq 1 && grep -q -- \"--files-from: cannot open '$T/no-such-list'\" '$T/err'"
dr_must_fail 2 "a missing --files-from-raw file" drrepo snapshot --files-from-raw "$T/no-such-list"
dr_must_fail 2 "a missing --exclude-file too" drrepo snapshot --exclude-file "$T/no-such-list" "$S"
dr_check "is named in one line" \
    sh -c "test \$(wc -l < '$T/err') -eq 1 && grep -q -- \"--exclude-file: cannot open '$T/no-such-list'\" '$T/err'"
dr_check "no snapshot was recorded" test "$(drrepo snapshots --json | grep -o '"id"' | wc -l)" -eq "$before"
dr_must_fail 2 "--files-from cannot be combined with --stdin" \
    sh -c "echo x | '$DRREPO' -r '$REPO' snapshot --stdin --stdin-name x --files-from '$T/list'"
dr_done
