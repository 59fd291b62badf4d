#!/usr/bin/env bash
# A restored tree is identical to the source: content, modes, mtimes, symlinks, hard links,
# sparse files, empty files and directories, odd names.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
mkdir -p "$src/a/b/c" "$src/empty-dir" "$src/mode-dir"
echo "hello" > "$src/a/hello.txt"
: > "$src/a/empty"
head -c 3000000 /dev/urandom > "$src/a/b/random.bin"
"$TOOL" gen "$src/a/b/c/dump.sql" 5M 7 text
printf 'x' > "$src/name with spaces & 'quotes'"
printf 'y' > "$src/ünïcødé"
# a name of 250 bytes: the temporary name it is restored under must stay below NAME_MAX too
printf 'z' > "$src/$(printf 'n%.0s' $(seq 1 250))"
ln -s a/hello.txt "$src/link-rel"
ln -s /nonexistent/target "$src/link-dangling"
ln "$src/a/hello.txt" "$src/hard-1"
ln "$src/a/hello.txt" "$src/a/b/hard-2"
chmod 0750 "$src/mode-dir"; chmod 0600 "$src/a/empty"; chmod 4755 "$src/a/hello.txt" 2>/dev/null
truncate -s 64M "$src/sparse.img"
printf 'middle' | dd of="$src/sparse.img" bs=1 seek=33554432 conv=notrunc 2>/dev/null
mkfifo "$src/fifo"
touch -d '2020-01-02 03:04:05.123456789' "$src/a/b/random.bin"
find "$src" -exec touch -h -d '2021-06-07 08:09:10.5' {} + 2>/dev/null
touch -d '2020-01-02 03:04:05.123456789' "$src/a/b/random.bin"
if [ "$(id -u)" = 0 ]; then
    # owners other than the restoring user's: a set-id file (chown clears set-id bits, so the
    # mode must be set after the owner) and a plain one
    echo owned > "$src/a/other-setid"; chown 1234:5678 "$src/a/other-setid"; chmod 6755 "$src/a/other-setid"
    echo owned > "$src/a/other-plain"; chown 4321:8765 "$src/a/other-plain"; chmod 0640 "$src/a/other-plain"
fi

dr_init
dr_expect_success "snapshot a tree" drrepo snapshot "$src" --json
dr_check "json summary names a snapshot" test -n "$(dr_json_field snapshot_id)"
dr_check "json summary counts bytes read" test "$(dr_json_field bytes_read)" -gt 8000000
dr_expect_success "restore it" drrepo restore latest --target "$T/rst"
dr_check "restored tree is identical (content, modes, mtimes, links)" dr_same_tree "$src" "$T/rst$src"
dr_check "sparse file stays sparse" test "$(du -k "$T/rst$src/sparse.img" | cut -f1)" -lt 1024
dr_check "hard links are restored as links" \
    test "$(stat -c %i "$T/rst$src/hard-1")" = "$(stat -c %i "$T/rst$src/a/b/hard-2")"
dr_check "the fifo is restored" test -p "$T/rst$src/fifo"
if [ "$(id -u)" = 0 ]; then
    dr_check "a set-id file of another owner keeps owner and mode (1234:5678 6755)" \
        test "$(stat -c '%u:%g %a' "$T/rst$src/a/other-setid")" = "1234:5678 6755"
    dr_check "a plain file of another owner keeps owner and mode (4321:8765 640)" \
        test "$(stat -c '%u:%g %a' "$T/rst$src/a/other-plain")" = "4321:8765 640"
    dr_check "the restoring user's own files keep theirs (0:0 600)" \
        test "$(stat -c '%u:%g %a' "$T/rst$src/a/empty")" = "0:0 600"
fi

dr_must_fail 1 "restore refuses to overwrite existing files" drrepo restore latest --target "$T/rst"
dr_check "the refusal names the file and --overwrite" grep -q "overwrit" "$T/err"
echo changed > "$T/rst$src/a/hello.txt"
dr_expect_success "restore --overwrite replaces files" drrepo restore latest --target "$T/rst" --overwrite
dr_check "overwritten file has the snapshot's content" cmp -s "$src/a/hello.txt" "$T/rst$src/a/hello.txt"

dr_expect_success "restore --include one file" drrepo restore latest --target "$T/inc" --include "$src/a/b/c/dump.sql"
dr_check "the included file is restored" cmp -s "$src/a/b/c/dump.sql" "$T/inc$src/a/b/c/dump.sql"
dr_check "other files are not" test ! -e "$T/inc$src/a/hello.txt"
dr_expect_success "restore --exclude a pattern" drrepo restore latest --target "$T/exc" --exclude '*.bin'
dr_check "excluded files are left out" test ! -e "$T/exc$src/a/b/random.bin"
dr_check "the rest is restored" cmp -s "$src/a/b/c/dump.sql" "$T/exc$src/a/b/c/dump.sql"

dr_expect_success "ls lists the snapshot" drrepo ls latest
dr_check "ls shows a nested file" grep -qx "$src/a/b/c/dump.sql" "$T/out"
dr_expect_success "ls --long of a subdirectory" drrepo ls latest "$src/a" --long
dr_check "ls --long shows mode and symlink target" grep -q "^-rw------- " "$T/out"
if [ "$(stat -c %a "$src/a/hello.txt")" = 4755 ]; then
    dr_check "ls --long shows setuid as ls(1) does" grep -q "^-rwsr-xr-x .*hello.txt" "$T/out"
fi
dr_expect_success "dump one file to stdout" sh -c "'$DRREPO' -r '$REPO' dump latest '$src/a/b/c/dump.sql' > '$T/dumped'"
dr_check "dump output is the file" cmp -s "$src/a/b/c/dump.sql" "$T/dumped"
dr_must_fail 1 "dump of a missing path fails" drrepo dump latest /no/such/file
dr_expect_success "check --read-data passes" drrepo check --read-data
dr_done
