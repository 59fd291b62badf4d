#!/usr/bin/env bash
# `drrepo dump SNAP DIR` writes a pax/ustar stream that tar -x turns back into the directory:
# content, modes, owners, nanosecond mtimes, symlinks (long targets too), hard links, FIFOs,
# empty files and directories, and names longer than ustar's 100 and 255 bytes. A corrupted chunk
# still gives a valid stream (the file is completed with zeros) and a failing exit code.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

src="$T/src"
long=$(printf 'd%.0s' $(seq 1 120))
mkdir -p "$src/a/b" "$src/empty-dir" "$src/$long/$long"
echo hello > "$src/a/hello.txt"
: > "$src/a/empty"
"$TOOL" gen "$src/a/b/data.bin" 5M 3
"$TOOL" gen "$src/a/dump.sql" 1M 4 text
echo deep > "$src/$long/$long/$(printf 'f%.0s' $(seq 1 200))"
printf 'x' > "$src/name with spaces & 'quotes'"
printf 'y' > "$src/ünïcødé"
ln -s a/hello.txt "$src/link"
ln -s "/a/very/long/target/$long/$long" "$src/long-link"
ln "$src/a/hello.txt" "$src/hard-1"
ln "$src/a/hello.txt" "$src/a/b/hard-2"
mkfifo "$src/fifo"
chmod 0750 "$src/a/b"; chmod 0600 "$src/a/empty"; chmod 4755 "$src/a/hello.txt"
chown 1234:2345 "$src/a/dump.sql" 2>/dev/null
find "$src" -exec touch -h -d '2021-06-07 08:09:10.123456789' {} +
touch -d '1969-07-20 20:17:40.25' "$src/a/b/data.bin"

dr_init
dr_expect_success "snapshot the tree" drrepo snapshot "$src"
dr_expect_success "dump a directory as tar" sh -c "'$DRREPO' -r '$REPO' dump latest '$src' > '$T/out.tar'"
dr_check "tar lists it" tar -tf "$T/out.tar"
mkdir -p "$T/x"
dr_expect_success "tar -x reproduces it" tar -x -C "$T/x" -f "$T/out.tar"
dr_check "extracted tree equals the source (diff -r, modes, mtimes, links)" dr_same_tree "$src" "$T/x"
dr_check "owners are kept" test "$(stat -c %u:%g "$T/x/a/dump.sql")" = "$(stat -c %u:%g "$src/a/dump.sql")"
dr_check "hard links come back as links" \
    test "$(stat -c %i "$T/x/hard-1")" = "$(stat -c %i "$T/x/a/b/hard-2")"
dr_expect_success "dump | tar -x in a pipe" sh -c "mkdir -p '$T/y' && '$DRREPO' -r '$REPO' dump latest '$src/a' | tar -x -C '$T/y'"
dr_check "a subdirectory dumps alone" dr_same_tree "$src/a" "$T/y"
dr_expect_success "the snapshot root dumps too" sh -c "'$DRREPO' -r '$REPO' dump latest / | tar -t > '$T/list'"
dr_check "with absolute paths below ./" grep -q "^\./${src#/}/a/hello.txt$" "$T/list"
dr_expect_success "a file still dumps as its bytes" sh -c "'$DRREPO' -r '$REPO' dump latest '$src/a/dump.sql' > '$T/one'"
dr_check "the file dump is the file" cmp -s "$src/a/dump.sql" "$T/one"

# corrupt one data pack: the stream stays valid, the exit code says it is incomplete
pack=$(ls -S $(find "$REPO/data" -type f) | head -n 1)
"$TOOL" flip "$pack" $(($(stat -c %s "$pack") / 2))
dr_must_fail 1 "dump of a damaged directory fails" sh -c "'$DRREPO' -r '$REPO' dump latest '$src' > '$T/bad.tar'"
dr_check "the error names the pack" grep -q "pack 'data/" "$T/err"
dr_check "the damaged stream is still a valid tar" tar -tf "$T/bad.tar"
dr_done
